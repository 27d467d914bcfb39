//! Line classification: a line of contract text becomes a section number as
//! printed, a heading, a signature line, page furniture or plain text.

use std::sync::LazyLock;

use regex::Regex;

/// How a section number is written; decides whether a number carries on to the
/// unnumbered paragraphs that follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// "Article IV", "Section 12", "Sec. 2.3", "§ 4", "Clause 7", "Schedule 2".
    Word,
    /// "1.", "3.1", "3.1.2".
    Decimal,
    /// "(a)", "(iv)", "(A)", "(1)", "a)", "A.", "IV.".
    Letter,
    /// "•", "-", "*" and friends: a new item without a number.
    Bullet,
}

/// A section number found at the start of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// The number as printed, without a trailing period ("3.1", "(a)", "Article IV");
    /// `None` for bullets.
    pub printed: Option<String>,
    pub style: Style,
    /// Bytes of the line taken by the marker and the punctuation and spaces after it.
    pub len: usize,
}

static WORD_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(article|section|sec\.|clause|schedule|part|paragraph|exhibit|annex",
        r"|appendix|attachment)\s+([0-9]{1,3}(?:\.[0-9]{1,3})*|[ivxlc]{1,7}|[a-z])\b\.?",
    ))
    .expect("valid regex")
});
static SECTION_SIGN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^§{1,2}\s*([0-9]{1,3}(?:\.[0-9]{1,3})*[a-z]?)\.?").expect("valid regex")
});
static DECIMAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{1,3}(?:\.[0-9]{1,3}){0,5})(\.|\))?").expect("valid regex")
});
static PAREN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\((?:[a-z]{1,2}|[ivxlc]{1,6}|[A-Z]{1,2}|[IVXLC]{1,6}|[0-9]{1,2})\)")
        .expect("valid regex")
});
static HALF_PAREN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[a-z]|[ivx]{1,5}|[A-Z])\)").expect("valid regex"));
static LETTER_DOT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[IVX]{1,5}|[A-Z]|[a-z])\.").expect("valid regex"));

const BULLETS: &[char] = &['•', '●', '◦', '▪', '■', '□', '·', '‣', '∙', '*', '-', '–', '—', 'o'];

/// Reads the section number at the start of `line` (already trimmed at the start).
///
/// A number followed by a lowercase word ("3.1 of this Agreement", "Section 2 shall")
/// is a cross-reference carried over from the previous line, not a marker, except
/// for parenthesised letters ("(a) the Licensee ..."), which start items that way.
pub fn leading_marker(line: &str) -> Option<Marker> {
    if let Some(m) = WORD_MARKER.captures(line) {
        let whole = m.get(0).expect("match");
        if followed_by_text_start(&line[whole.end()..]) {
            let word = m.get(1).expect("group").as_str();
            let printed = format!("{} {}", word, m.get(2).expect("group").as_str());
            return Some(Marker {
                printed: Some(printed),
                style: Style::Word,
                len: skip_after(line, whole.end()),
            });
        }
        return None;
    }
    if let Some(m) = SECTION_SIGN.captures(line) {
        let whole = m.get(0).expect("match");
        let printed = format!("§ {}", m.get(1).expect("group").as_str());
        return Some(Marker {
            printed: Some(printed),
            style: Style::Word,
            len: skip_after(line, whole.end()),
        });
    }
    if let Some(m) = PAREN.find(line) {
        if ends_token(&line[m.end()..]) {
            return Some(Marker {
                printed: Some(m.as_str().to_string()),
                style: Style::Letter,
                len: skip_after(line, m.end()),
            });
        }
    }
    if let Some(m) = DECIMAL.captures(line) {
        let whole = m.get(0).expect("match");
        let number = m.get(1).expect("group").as_str();
        let punct = m.get(2).map(|p| p.as_str());
        let rest = &line[whole.end()..];
        let dotted = number.contains('.');
        let ok = ends_token(rest)
            && match punct {
                // "1." "3.1." "1)": a marker unless a lowercase word follows a bare
                // number (a sum or a date wrapped onto the line).
                Some(_) => !starts_lowercase_word(rest) || !dotted,
                // "3.1 Title": needs a dotted number and a capital or the end after it;
                // "12 Title" needs at most two digits and a capital word.
                None => {
                    (dotted || number.len() <= 2)
                        && (rest.trim().is_empty() && dotted || starts_upper(rest))
                }
            };
        if ok {
            let printed = if punct == Some(")") { format!("{number})") } else { number.into() };
            return Some(Marker {
                printed: Some(printed),
                style: Style::Decimal,
                len: skip_after(line, whole.end()),
            });
        }
        return None;
    }
    if let Some(m) = HALF_PAREN.find(line) {
        if ends_token(&line[m.end()..]) {
            return Some(Marker {
                printed: Some(m.as_str().to_string()),
                style: Style::Letter,
                len: skip_after(line, m.end()),
            });
        }
    }
    if let Some(m) = LETTER_DOT.find(line) {
        let rest = &line[m.end()..];
        // "A. Software", "IV. TERM": a capital word must follow, so initials in a
        // wrapped name ("J. Smith" is rare at a line start) are the only risk.
        if rest.starts_with(|c: char| c.is_whitespace()) && starts_upper(rest) {
            let printed = m.as_str().trim_end_matches('.').to_string();
            return Some(Marker {
                printed: Some(printed),
                style: Style::Letter,
                len: skip_after(line, m.end()),
            });
        }
    }
    let first = line.chars().next()?;
    if BULLETS.contains(&first) {
        let rest = &line[first.len_utf8()..];
        let spaced = rest.starts_with(|c: char| c.is_whitespace());
        // "o" and "-" only count as bullets when a space follows.
        if spaced || (!matches!(first, 'o' | '-' | '*') && !rest.is_empty()) {
            return Some(Marker {
                printed: None,
                style: Style::Bullet,
                len: skip_after(line, 1.max(first.len_utf8())),
            });
        }
    }
    None
}

fn ends_token(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace())
}

fn followed_by_text_start(rest: &str) -> bool {
    let t = rest.trim_start();
    t.is_empty()
        || t.starts_with(|c: char| {
            c.is_uppercase() || matches!(c, ':' | '-' | '–' | '—' | '.' | '(' | '"' | '“')
        })
}

fn starts_upper(rest: &str) -> bool {
    rest.trim_start().starts_with(|c: char| c.is_uppercase() || c == '"' || c == '“')
}

fn starts_lowercase_word(rest: &str) -> bool {
    rest.trim_start().starts_with(|c: char| c.is_lowercase())
}

/// Moves past punctuation and spaces that follow a marker ("1. ", "Article IV - ").
fn skip_after(line: &str, mut i: usize) -> usize {
    let bytes = line.as_bytes();
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'.' | b':') {
        i += 1;
    }
    i
}

static FURNITURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:
            [-–—\s]*(?:page\s+)?[0-9]{1,3}(?:\s+of\s+[0-9]{1,3})?[-–—\s]*
          | [-–—\s]*[ivxl]{1,6}[-–—\s]*
          | [\[(]?\s*(?:signature\s+pages?\s+follows?|signatures?\s+on\s+following\s+page
              |(?:the\s+)?remainder\s+of\s+(?:this\s+)?page\s+(?:is\s+)?
                (?:intentionally\s+)?left\s+blank[^\])]*
              |(?:this\s+)?page\s+(?:is\s+)?intentionally\s+left\s+blank)\s*\.?\s*[\])]?
          | source:\s.{0,120},\s*[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}.*
          | .*(?:\.\s?){4,}\s*[0-9ivx]{0,4}
          | table\s+of\s+contents
          | exhibit\s+[0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]+)?
          | \[\*+\]\s*=?\s*confidential\s+treatment\s+requested.*
          | confidential(?:\s+treatment)?
          | -{3,}|_{3,}\s*|\*{3,}|=+|--
        )$",
    )
    .expect("valid regex")
});

/// Page furniture: page numbers, "Page 3 of 10", "[Signature page follows]",
/// table-of-contents lines with dot leaders, filing footers, rules.
pub fn is_furniture(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || FURNITURE.is_match(line) || is_lone_marker(line)
}

/// A line that holds nothing but a section number ("(a)", "3.1.").
pub fn is_lone_marker(line: &str) -> bool {
    leading_marker(line).is_some_and(|m| m.len >= line.len() && m.style != Style::Word)
}

static SIGNATURE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)^(?:by|name|title|date|its|signature|signed|print(?:ed)?\s+name|witness",
        r"|attest|per)\s*:|^_{5,}|^/s/|^\(?signature\)?$",
    ))
    .expect("valid regex")
});

/// "By:", "Name:", "Title:", "Date:" lines and lines of underscores for signing.
pub fn is_signature_line(line: &str) -> bool {
    SIGNATURE_LINE.is_match(line.trim_start())
}

/// Words that stay lowercase in a title-case heading.
const SMALL_WORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "the", "to",
    "with", "upon", "under", "its", "per", "vs", "between", "other", "than", "not",
];

/// Whether `text` (a whole line, without its section number) reads as a heading:
/// ALL CAPS, or a short title-case phrase without a final period.
pub fn is_heading_text(text: &str, max_words: usize) -> bool {
    let text = text.trim();
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || words.len() > max_words || text.len() > 120 {
        return false;
    }
    if text.ends_with([',', ';']) || is_signature_line(text) {
        return false;
    }
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters < 2 {
        return false;
    }
    if !text.chars().any(|c| c.is_lowercase()) {
        // ALL CAPS: a final period is allowed ("DEFINITIONS.").
        return true;
    }
    if text.ends_with(['.', ':', '!', '?']) && words.len() > 1 || words.len() > 10 {
        return false;
    }
    if text.ends_with(['.', ':']) && !starts_upper(text) {
        return false;
    }
    title_case(&words)
}

fn title_case(words: &[&str]) -> bool {
    let mut first = true;
    for w in words {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        if w.is_empty() {
            continue;
        }
        let c = w.chars().next().expect("non-empty");
        let small = SMALL_WORDS.contains(&w.to_lowercase().as_str());
        if c.is_lowercase() && (first || !small) {
            return false;
        }
        first = false;
    }
    true
}

/// A heading printed on the same line as its text ("Termination. Either party may
/// ..."): returns the heading and the byte offset in `rest` where the text starts.
pub fn inline_heading(rest: &str) -> Option<(&str, usize)> {
    let candidates = [". ", ": ", " - ", " – ", " — ", ".\t"];
    let cut = candidates.iter().filter_map(|c| rest.find(c)).min()?;
    let head = rest[..cut].trim();
    let words = head.split_whitespace().count();
    if words == 0 || words > 8 || head.len() > 80 {
        return None;
    }
    let after = rest[cut..].trim_start_matches(|c: char| ".:-–— \t".contains(c));
    if after.split_whitespace().count() < 2 {
        return None;
    }
    let upper = !head.chars().any(|c| c.is_lowercase());
    let words: Vec<&str> = head.split_whitespace().collect();
    if !(upper || title_case(&words)) || !head.starts_with(|c: char| c.is_uppercase()) {
        return None;
    }
    Some((head, rest.len() - after.len()))
}

static EXHIBIT_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:exhibit|schedule|annex|appendix|attachment|addendum)(?:\s|$)")
        .expect("valid regex")
});

/// A heading that opens an exhibit, schedule, annex or appendix.
pub fn is_exhibit_heading(heading: &str) -> bool {
    EXHIBIT_HEADING.is_match(heading.trim())
}

static RECITAL_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:recitals?|background|preliminary\s+statements?|witnesseth)\s*[:.]?$")
        .expect("valid regex")
});

/// A heading that opens the recitals.
pub fn is_recital_heading(heading: &str) -> bool {
    RECITAL_HEADING.is_match(heading.trim())
}

static DEFINITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // An optional number or lead-in, the quoted term (or two), an optional
        // parenthesis, then the defining verb.
        r#"^(?:[^"“”]{0,40}\s)?["“][^"“”]{1,80}["”]"#,
        r#"(?:\s*(?:or|and)\s*["“][^"“”]{1,80}["”])?\s*(?:\([^)]{0,60}\)\s*)?[,:]?\s*"#,
        r"(?:shall\s+)?(?:means?|mean:|has\s+the\s+meaning|have\s+the\s+meanings?",
        r"|shall\s+have\s+the\s+meanings?|refers?\s+to|includes?|is\s+defined",
        r"|shall\s+be\s+deemed|is\s+as\s+defined)\b",
    ))
    .expect("valid regex")
});

/// A definition: a quoted term followed by "means", "shall mean", "has the meaning".
pub fn is_definition(text: &str) -> bool {
    DEFINITION.is_match(text.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(line: &str) -> Option<String> {
        leading_marker(line).and_then(|m| m.printed)
    }

    #[test]
    fn reads_printed_numbers() {
        assert_eq!(printed("1. Definitions").as_deref(), Some("1"));
        assert_eq!(printed("3.1 The Supplier shall").as_deref(), Some("3.1"));
        assert_eq!(printed("3.1.2 Fees").as_deref(), Some("3.1.2"));
        assert_eq!(printed("(a) the Buyer").as_deref(), Some("(a)"));
        assert_eq!(printed("(iv) any loss").as_deref(), Some("(iv)"));
        assert_eq!(printed("(A) Notices").as_deref(), Some("(A)"));
        assert_eq!(printed("a) the Buyer").as_deref(), Some("a)"));
        assert_eq!(printed("Article IV").as_deref(), Some("Article IV"));
        assert_eq!(printed("ARTICLE 5 - TERM").as_deref(), Some("ARTICLE 5"));
        assert_eq!(printed("Section 12. Notices.").as_deref(), Some("Section 12"));
        assert_eq!(printed("Sec. 2.3 Payment").as_deref(), Some("Sec. 2.3"));
        assert_eq!(printed("§ 4 Liability").as_deref(), Some("§ 4"));
        assert_eq!(printed("Clause 7: Assignment").as_deref(), Some("Clause 7"));
        assert_eq!(printed("Schedule 2").as_deref(), Some("Schedule 2"));
        assert_eq!(printed("B. Payment Schedule").as_deref(), Some("B"));
        let m = leading_marker("2.1  Licence. The").expect("marker");
        assert_eq!(&"2.1  Licence. The"[m.len..], "Licence. The");
    }

    #[test]
    fn cross_references_are_not_markers() {
        assert_eq!(leading_marker("3.1 of this Agreement, the"), None);
        assert_eq!(leading_marker("Section 2 shall apply"), None);
        assert_eq!(leading_marker("2004 and thereafter"), None);
        assert_eq!(leading_marker("30 days after notice"), None);
        assert_eq!(leading_marker("J.Smith"), None);
        assert_eq!(leading_marker("order to"), None);
        assert!(leading_marker("• the Services").is_some_and(|m| m.style == Style::Bullet));
    }

    #[test]
    fn furniture_lines() {
        for line in [
            "3",
            "- 12 -",
            "Page 3 of 10",
            "[Signature page follows]",
            "[Remainder of page intentionally left blank]",
            "1.1 Definitions ........ 4",
            "(b)",
            "12.",
            "Source: ACME CORP, 10-K, 3/1/2001",
        ] {
            assert!(is_furniture(line), "{line}");
        }
        for line in ["1.1 The Term is one year.", "Payment", "By: ______"] {
            assert!(!is_furniture(line), "{line}");
        }
    }

    #[test]
    fn headings() {
        assert!(is_heading_text("DEFINITIONS", 12));
        assert!(is_heading_text("TERM AND TERMINATION.", 12));
        assert!(is_heading_text("Limitation of Liability", 12));
        assert!(!is_heading_text("The Supplier shall deliver the Goods.", 12));
        assert!(!is_heading_text("Name: Jane Doe", 12));
        assert!(!is_heading_text("and the parties agree", 12));
        assert_eq!(
            inline_heading("Termination. Either party may end it."),
            Some(("Termination", 13))
        );
        assert_eq!(inline_heading("LICENSE. Subject to the terms"), Some(("LICENSE", 9)));
        assert_eq!(inline_heading("The Supplier shall. Deliver it"), None);
    }

    #[test]
    fn definitions_and_kinds() {
        assert!(is_definition("\"Affiliate\" means any entity controlling a party."));
        assert!(is_definition("“Territory” shall mean the United States."));
        assert!(is_definition("(c) \"Products\" has the meaning set out in Schedule 1."));
        assert!(!is_definition("The Licensee shall pay the \"Fee\" within 30 days."));
        assert!(is_exhibit_heading("EXHIBIT A"));
        assert!(is_exhibit_heading("Schedule 2 - Fees"));
        assert!(!is_exhibit_heading("Exhibits to be delivered"));
        assert!(is_recital_heading("RECITALS"));
        assert!(is_recital_heading("Background:"));
        assert!(is_signature_line("By: _________"));
        assert!(is_signature_line("Title: Chief Executive Officer"));
        assert!(is_signature_line("____________________"));
    }
}
