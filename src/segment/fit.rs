//! The token limit: a provision's span becomes one or more spans that each fit in
//! `max_tokens`, cut at sentences first, then at ";", ":" and ", and", then between
//! words, and only where needed.

use std::ops::Range;

use super::numbering::{self, Style};
use super::sentences::sentences;
use super::TokenCounter;

/// Cuts ranges of one text so each fits the limit.
pub struct Fitter<'a> {
    pub text: &'a str,
    pub max_tokens: usize,
    pub counter: &'a dyn TokenCounter,
}

/// How finely a range is being cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Sentences,
    Phrases,
    Words,
    Chars,
}

impl Level {
    fn finer(self) -> Self {
        match self {
            Level::Sentences => Level::Phrases,
            Level::Phrases => Level::Words,
            Level::Words | Level::Chars => Level::Chars,
        }
    }
}

/// Longest piece of a single over-long word, in bytes (a byte is at most one token
/// plus the special tokens, so this always fits a sane limit).
const CHAR_CHUNK: usize = 64;

impl Fitter<'_> {
    fn count(&self, r: &Range<usize>) -> usize {
        self.counter.count(&self.text[r.clone()])
    }

    /// Whether `r` fits, using the bounds of [`TokenCounter`] to avoid counting
    /// where they decide.
    fn fits(&self, r: &Range<usize>) -> bool {
        let s = &self.text[r.clone()];
        let special = self.counter.count("");
        if s.split_whitespace().count() + special > self.max_tokens {
            return false;
        }
        let chars = s.chars().filter(|c| !c.is_whitespace()).count();
        chars + special <= self.max_tokens || self.count(r) <= self.max_tokens
    }

    /// Splits `r` into pieces that each fit, or returns it whole when it fits.
    pub fn fit(&self, r: Range<usize>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        if self.fits(&r) {
            out.push(r);
        } else {
            self.cut(r, Level::Sentences, &mut out);
        }
        out
    }

    /// Fits a run of provisions (a provision and its sub-items) given as ranges in
    /// order: whole when the run fits, else packed provision by provision.
    pub fn fit_run(&self, items: Vec<Range<usize>>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return out;
        };
        let whole = first.start..last.end;
        if self.fits(&whole) {
            out.push(whole);
        } else {
            self.pack(items.into_iter().map(|r| (r, false)).collect(), Level::Sentences, &mut out);
        }
        out
    }

    /// Cuts an over-long `r` at `level` and packs the parts greedily.
    fn cut(&self, r: Range<usize>, level: Level, out: &mut Vec<Range<usize>>) {
        if level == Level::Chars {
            self.cut_chars(r, out);
            return;
        }
        let items = self.items(r.clone(), level);
        if items.len() <= 1 {
            self.cut(r, level.finer(), out);
            return;
        }
        self.pack(items, level.finer(), out);
    }

    /// Packs `items` greedily into chunks that fit; an item or chunk that does not
    /// fit is cut at level `finer`. A `true` flag forces a new chunk at that item.
    fn pack(&self, items: Vec<(Range<usize>, bool)>, finer: Level, out: &mut Vec<Range<usize>>) {
        let special = self.counter.count("");
        // A chunk is its range, its estimated cost, and how many items it holds.
        let mut chunk: Option<(Range<usize>, usize, usize)> = None;
        // Each chunk with whether it still needs checking (`Some(true)`), is known to
        // fit (`Some(false)`) or is a single item known not to fit (`None`).
        let mut chunks: Vec<(Range<usize>, Option<bool>)> = Vec::new();
        let done = |items: usize| Some(items > 1);
        for (item, forced) in items {
            let cost = self.count(&item).saturating_sub(special);
            if cost + special > self.max_tokens {
                if let Some((c, _, n)) = chunk.take() {
                    chunks.push((c, done(n)));
                }
                chunks.push((item, None));
                continue;
            }
            chunk = match chunk.take() {
                Some((c, sum, n)) if !forced && sum + cost + special <= self.max_tokens => {
                    Some((c.start..item.end, sum + cost, n + 1))
                }
                Some((c, _, n)) => {
                    chunks.push((c, done(n)));
                    Some((item, cost, 1))
                }
                None => Some((item, cost, 1)),
            };
        }
        if let Some((c, _, n)) = chunk {
            chunks.push((c, done(n)));
        }
        for (c, check) in chunks {
            // Counts add up across whitespace for WordPiece; multi-item chunks are
            // checked anyway.
            match check {
                Some(false) => out.push(c),
                Some(true) if self.count(&c) <= self.max_tokens => out.push(c),
                _ => self.cut(c, finer, out),
            }
        }
    }

    /// The parts of `r` at `level`, each with whether a new provision starts there.
    fn items(&self, r: Range<usize>, level: Level) -> Vec<(Range<usize>, bool)> {
        let s = &self.text[r.clone()];
        let shift = |x: Range<usize>| r.start + x.start..r.start + x.end;
        match level {
            Level::Sentences => sentences(s)
                .into_iter()
                .enumerate()
                .map(|(i, x)| {
                    let starts_provision = i > 0
                        && numbering::leading_marker(&s[x.clone()])
                            .is_some_and(|m| matches!(m.style, Style::Word | Style::Decimal));
                    (shift(x), starts_provision)
                })
                .collect(),
            Level::Phrases => phrases(s).into_iter().map(|x| (shift(x), false)).collect(),
            Level::Words => words(s).into_iter().map(|x| (shift(x), false)).collect(),
            Level::Chars => vec![(r, false)],
        }
    }

    fn cut_chars(&self, r: Range<usize>, out: &mut Vec<Range<usize>>) {
        let s = &self.text[r.clone()];
        let mut start = 0;
        while start < s.len() {
            let mut end = (start + CHAR_CHUNK).min(s.len());
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            if end == start {
                end = start + s[start..].chars().next().map_or(1, char::len_utf8);
            }
            let piece = r.start + start..r.start + end;
            let trimmed = trim(self.text, piece);
            if !trimmed.is_empty() {
                out.push(trimmed);
            }
            start = end;
        }
    }
}

fn trim(text: &str, r: Range<usize>) -> Range<usize> {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    if lead == s.len() {
        return r.start..r.start;
    }
    let trail = s.len() - s.trim_end().len();
    r.start + lead..r.end - trail
}

/// Splits after ";" and ":" and before ", and" / ", or", keeping each part trimmed.
fn phrases(s: &str) -> Vec<Range<usize>> {
    let mut cuts = Vec::new();
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let ws_after = bytes.get(i + 1).is_some_and(|c| c.is_ascii_whitespace());
        if matches!(b, b';' | b':') && ws_after {
            cuts.push(i + 1);
        } else if b == b',' && ws_after {
            let next = s[i + 1..].trim_start();
            if next.starts_with("and ") || next.starts_with("or ") {
                cuts.push(i + 1);
            }
        }
    }
    pieces(s, cuts)
}

fn words(s: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                out.push(st..i);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push(st..s.len());
    }
    out
}

fn pieces(s: &str, cuts: Vec<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(s.len())) {
        let r = trim(s, start..cut);
        if !r.is_empty() {
            out.push(r);
        }
        start = cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::ApproxTokens;

    struct Words;
    impl TokenCounter for Words {
        fn count(&self, text: &str) -> usize {
            text.split_whitespace().count() + 2
        }
    }

    fn fit<'a>(text: &'a str, max: usize, counter: &'a dyn TokenCounter) -> Vec<&'a str> {
        let f = Fitter { text, max_tokens: max, counter };
        f.fit(0..text.len()).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn keeps_text_that_fits_whole() {
        assert_eq!(fit("One two three. Four five.", 10, &Words), vec!["One two three. Four five."]);
    }

    #[test]
    fn packs_sentences_greedily() {
        let text = "A b c. D e f. G h i. J k l.";
        assert_eq!(fit(text, 8, &Words), vec!["A b c. D e f.", "G h i. J k l."]);
    }

    #[test]
    fn cuts_at_phrases_then_words() {
        let text = "Alpha beta gamma; delta epsilon, and zeta eta theta iota kappa lambda mu";
        let got = fit(text, 6, &Words);
        assert_eq!(got[0], "Alpha beta gamma;");
        assert_eq!(got[1], "delta epsilon,");
        assert!(got.iter().all(|p| Words.count(p) <= 6), "{got:?}");
        assert_eq!(got.join(" "), text);
    }

    #[test]
    fn breaks_before_numbered_provisions() {
        let text = "1.1 Alpha beta. 1.2 Gamma delta. More words here now.";
        assert_eq!(
            fit(text, 9, &Words),
            vec!["1.1 Alpha beta.", "1.2 Gamma delta. More words here now."]
        );
    }

    #[test]
    fn splits_one_huge_word() {
        let text = "x".repeat(1000);
        let got = fit(&text, 100, &ApproxTokens);
        assert!(got.len() >= 10);
        assert!(got.iter().all(|p| ApproxTokens.count(p) <= 100));
        assert_eq!(got.concat(), text);
    }
}
