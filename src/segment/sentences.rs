//! Legal-aware sentence splitting: a paragraph becomes the byte ranges of its
//! sentences, without breaking at abbreviations ("U.S.", "Inc.", "No.", "e.g."),
//! initials, section numbers ("3.1", "(a)") or inside quotes and parentheses.

use std::ops::Range;

/// Words that end with a period without ending a sentence (compared lowercase,
/// without the final period).
const ABBREVIATIONS: &[&str] = &[
    "inc", "ltd", "co", "corp", "llc", "l.l.c", "lp", "l.p", "plc", "n.a", "s.a", "b.v", "n.v",
    "no", "nos", "sec", "secs", "art", "arts", "para", "paras", "cl", "sch", "ch", "pt", "vol",
    "e.g", "i.e", "etc", "vs", "v", "viz", "cf", "et al", "al", "mr", "mrs", "ms", "dr", "prof",
    "jr", "sr", "st", "ave", "blvd", "rd", "fig", "approx", "dept", "est", "u.s", "u.s.a", "u.k",
    "e.u", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "min", "max", "incl", "excl", "ref", "resp", "hon", "gov", "govt", "assn", "bros", "int'l",
    "intl", "mfg", "mgmt", "ph", "tel", "fax", "p", "pp", "c.f.r", "u.s.c", "seq",
];

/// Longest span a pair of quotes or parentheses may cover and still shield the
/// periods inside it; an unmatched or very distant closer shields nothing.
const MAX_QUOTE: usize = 400;
const MAX_PAREN: usize = 600;

/// Splits `text` into sentences. Ranges are byte offsets into `text`, trimmed of
/// surrounding whitespace, in order and non-overlapping; their union covers every
/// non-space character of `text`.
pub fn sentences(text: &str) -> Vec<Range<usize>> {
    let shields = shielded(text);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if matches!(b, b'.' | b'!' | b'?') {
            // Move past repeated terminators and closing quotes or brackets.
            let mut end = i + 1;
            loop {
                let rest = &text[end..];
                let step =
                    rest.chars().next().filter(|c| ".!?\"”’')]".contains(*c)).map(char::len_utf8);
                match step {
                    Some(n) => end += n,
                    None => break,
                }
            }
            if is_boundary(text, start, i, end, &shields) {
                push_trimmed(text, start..end, &mut out);
                start = end;
            }
            i = end;
            continue;
        }
        i += 1;
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, r: Range<usize>, out: &mut Vec<Range<usize>>) {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if lead + trail < s.len() {
        out.push(r.start + lead..r.end - trail);
    }
}

/// Whether the terminator at `dot` (with closers up to `end`) ends the sentence
/// that began at `start`.
fn is_boundary(text: &str, start: usize, dot: usize, end: usize, shields: &[Range<usize>]) -> bool {
    let after = &text[end..];
    // Must be followed by whitespace (or the end).
    let next_ws = after.chars().next();
    if let Some(c) = next_ws {
        if !c.is_whitespace() {
            return false;
        }
    } else {
        return false;
    }
    let next = after.trim_start();
    let Some(first) = next.chars().next() else {
        return false;
    };
    // The next sentence starts with a capital, a digit, a quote, a bracket or a bullet.
    if !(first.is_uppercase()
        || first.is_ascii_digit()
        || matches!(first, '"' | '“' | '\'' | '‘' | '(' | '[' | '•' | '§' | '*'))
    {
        return false;
    }
    if shields.iter().any(|r| r.start < end && end < r.end) {
        return false;
    }
    if text.as_bytes()[dot] != b'.' {
        return true;
    }
    // The word that the period closes, and that word without opening brackets.
    let before = &text[start..dot];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(p, c)| p + c.len_utf8());
    let raw = &before[word_start..];
    let first_word = before[..word_start].trim().is_empty();
    let word = raw.trim_start_matches(['(', '[', '"', '“', '\'', '‘']);
    if word.is_empty() {
        return false;
    }
    let lower = word.to_lowercase();
    if ABBREVIATIONS.contains(&lower.as_str()) {
        return false;
    }
    // "et al." with a space inside the abbreviation.
    if lower == "al" && before[..word_start].trim_end().to_lowercase().ends_with("et") {
        return false;
    }
    // Dotted abbreviations ("U.S.", "e.g.", "C.F.R.") and initials ("J.").
    if word.contains('.') && word.chars().all(|c| c.is_alphabetic() || c == '.') {
        return false;
    }
    let mut chars = word.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        if c.is_uppercase() {
            return false;
        }
    }
    // A number right at the start of the sentence is its section number ("1.6."),
    // as is "(a)." or "IV.".
    let is_number = raw.chars().all(|c| c.is_ascii_digit() || c == '.')
        || (raw.starts_with('(') && raw.ends_with(')'))
        || raw.chars().all(|c| "IVXLC".contains(c));
    if is_number && first_word {
        return false;
    }
    true
}

/// Ranges covered by matched quotes and parentheses (opener to closer inclusive).
fn shielded(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut open_paren: Vec<usize> = Vec::new();
    let mut open_curly: Option<usize> = None;
    let mut open_straight: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => open_paren.push(i),
            ')' | ']' => {
                if let Some(o) = open_paren.pop() {
                    if i - o <= MAX_PAREN {
                        out.push(o..i + 1);
                    }
                }
            }
            '“' => open_curly = Some(i),
            '”' => {
                if let Some(o) = open_curly.take() {
                    if i - o <= MAX_QUOTE {
                        out.push(o..i + c.len_utf8());
                    }
                }
            }
            '"' => match open_straight.take() {
                Some(o) if i - o <= MAX_QUOTE => out.push(o..i + 1),
                Some(_) => open_straight = Some(i),
                None => open_straight = Some(i),
            },
            '\n' if text[i + 1..].trim_start_matches([' ', '\t']).starts_with('\n') => {
                // A blank line closes everything.
                open_paren.clear();
                open_curly = None;
                open_straight = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn splits_plain_sentences() {
        assert_eq!(
            split("The Term is one year. Either party may renew it! Is that clear? Yes."),
            vec!["The Term is one year.", "Either party may renew it!", "Is that clear?", "Yes."]
        );
    }

    #[test]
    fn keeps_abbreviations_together() {
        let cases = [
            "Acme Inc. shall pay the fee. Beta Ltd. shall not.",
            "It is a U.S. company. It files with the S.E.C. Each year it reports.",
            "See Sec. 2 and No. 5 of the list. Then stop.",
            "Costs, e.g. Travel, are due. Other costs, i.e. Shipping, are not.",
            "Paper, pens, etc. Are supplies. The buyer pays.",
            "Acme vs. Beta was settled. Mr. Jones agreed.",
            "Beta Co. and Gamma Corp. agree. They sign.",
        ];
        let expected = [
            vec!["Acme Inc. shall pay the fee.", "Beta Ltd. shall not."],
            vec!["It is a U.S. company.", "It files with the S.E.C. Each year it reports."],
            vec!["See Sec. 2 and No. 5 of the list.", "Then stop."],
            vec!["Costs, e.g. Travel, are due.", "Other costs, i.e. Shipping, are not."],
            vec!["Paper, pens, etc. Are supplies.", "The buyer pays."],
            vec!["Acme vs. Beta was settled.", "Mr. Jones agreed."],
            vec!["Beta Co. and Gamma Corp. agree.", "They sign."],
        ];
        for (text, want) in cases.iter().zip(expected) {
            assert_eq!(split(text), want, "{text}");
        }
    }

    #[test]
    fn keeps_numbers_initials_and_items() {
        assert_eq!(
            split("As set out in Section 3.1 the fee is 4.5 percent. J. Smith signs for Acme."),
            vec!["As set out in Section 3.1 the fee is 4.5 percent.", "J. Smith signs for Acme."]
        );
        assert_eq!(
            split("1.6. \"Products\" means the goods. 1.7. \"Term\" means one year."),
            vec!["1.6. \"Products\" means the goods.", "1.7. \"Term\" means one year."]
        );
        assert_eq!(
            split("(a). The first item. (b) The second item."),
            vec!["(a). The first item.", "(b) The second item."]
        );
        assert_eq!(
            split("The fee is due under Section 3. The buyer pays it."),
            vec!["The fee is due under Section 3.", "The buyer pays it."]
        );
    }

    #[test]
    fn respects_quotes_and_parentheses() {
        assert_eq!(
            split("It is called the \"Plan. Version Two.\" It runs a year."),
            vec!["It is called the \"Plan. Version Two.\"", "It runs a year."]
        );
        assert_eq!(
            split("The fee (as agreed. See Annex B.) is due. Pay it."),
            vec!["The fee (as agreed. See Annex B.) is due.", "Pay it."]
        );
        assert_eq!(
            split("This is the “Agreement.” It binds both parties."),
            vec!["This is the “Agreement.”", "It binds both parties."]
        );
        // An unmatched quote shields nothing.
        assert_eq!(
            split("He wrote \"yes. Then he left. Then he came back."),
            vec!["He wrote \"yes.", "Then he left.", "Then he came back."]
        );
    }

    #[test]
    fn does_not_break_before_lowercase_or_inside_tokens() {
        assert_eq!(split("Pay approx. ten units. Done."), vec!["Pay approx. ten units.", "Done."]);
        assert_eq!(
            split("Visit www.acme.com today. Done."),
            vec!["Visit www.acme.com today.", "Done."]
        );
        assert_eq!(split("Ends here."), vec!["Ends here."]);
        assert_eq!(split("   "), Vec::<&str>::new());
        assert_eq!(split("no final stop"), vec!["no final stop"]);
        // Wide whitespace before the word that a stop closes.
        assert_eq!(split("Paid to\u{a0}Acme. Done."), vec!["Paid to\u{a0}Acme.", "Done."]);
    }

    #[test]
    fn ranges_cover_all_text() {
        let text = "  First one.  Second (with a. dot) one.\n\nThird \"quoted. text\" here.  ";
        let got = sentences(text);
        let joined: String = got.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>().join(" ");
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squash(&joined), squash(text));
        assert_eq!(got.len(), 3);
    }
}
