//! Lexical features: a clause becomes a sparse TF-IDF vector over a vocabulary fitted on
//! the training texts, in two blocks of equal weight:
//! - words and word pairs (tokens of two or more letters or digits, lower-cased), kept
//!   when at least two training texts contain them;
//! - character 3- to 5-grams inside each whitespace-separated word, padded with a space
//!   at both ends, kept when at least three training texts contain them. These catch
//!   inflections and spellings a word vocabulary splits ("licence", "licensed",
//!   "sub-license") and numbering or punctuation habits of a clause type.
//!
//! Both kinds of term also count a second time, marked, when they fall inside a negation
//! ("shall not ...", "nothing in this Agreement ..."; see [`term_counts`]).
//!
//! Each block is sublinear TF-IDF (`1 + ln tf` times the smoothed idf), L2-normalised and
//! scaled by `1/sqrt(2)`, so a clause's vector has unit length. The classifier fits a
//! logistic regression per label over these (see [`super::linear`]), so exact legal
//! phrasing ("hereafter devised", "work made for hire") counts even where the encoder
//! blurs it.

use std::collections::HashMap;

/// Minimum document frequency of a word or word-pair term.
pub const WORD_MIN_DF: u32 = 2;
/// Minimum document frequency of a character n-gram.
pub const CHAR_MIN_DF: u32 = 3;
/// Most character n-grams kept (the most frequent).
pub const CHAR_MAX_TERMS: usize = 150_000;

/// Sparse features of one text: term ids (ascending) and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    pub ids: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Lower-cased word tokens: runs of two or more letters or digits.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut push = |cur: &mut String| {
        if cur.chars().nth(1).is_some() {
            out.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '_' {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            push(&mut cur);
        }
    }
    if !cur.is_empty() {
        push(&mut cur);
    }
    out
}

/// Words that open a negation: the terms after one, up to the end of the sentence or
/// [`NEGATION_SCOPE`] words, are kept apart from the same terms outside it.
const NEGATION_CUES: [&str; 8] =
    ["not", "no", "never", "nor", "neither", "nothing", "none", "cannot"];
/// Most words a negation reaches.
pub const NEGATION_SCOPE: usize = 12;
/// Prefix of a term inside a negation.
pub const NEGATED: char = '¬';

/// Whether a whitespace-separated word (its tokens given) opens a negation.
fn opens_negation(word: &str, word_tokens: &[String]) -> bool {
    word.ends_with("n't")
        || word.ends_with("n’t")
        || word_tokens.iter().any(|t| NEGATION_CUES.contains(&t.as_str()))
}

fn ends_sentence(word: &str) -> bool {
    word.ends_with(['.', ';', ':', '!', '?'])
}

/// Byte ranges of `text` inside a negation: the words after a negation cue, up to the end
/// of the sentence or [`NEGATION_SCOPE`] words, as [`term_counts`] marks them.
pub fn negated_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut negation_left = 0usize;
    for word in text.split_whitespace() {
        let start = word.as_ptr() as usize - text.as_ptr() as usize;
        if negation_left > 0 {
            let range = start..start + word.len();
            match out.last_mut() {
                Some(last) if text[last.end..range.start].trim().is_empty() => last.end = range.end,
                _ => out.push(range),
            }
        }
        negation_left = negation_left.saturating_sub(1);
        if ends_sentence(word) {
            negation_left = 0;
        } else if opens_negation(&word.to_lowercase(), &tokens(word)) {
            negation_left = NEGATION_SCOPE;
        }
    }
    out
}

/// Term keys of a text with their counts: `w:` words and word pairs, `c:` character
/// n-grams.
///
/// A term inside a negation counts twice: as itself, and with the prefix [`NEGATED`].
/// The plain term keeps what the words say about the clause type (a clause that limits
/// the provider's right to "terminate" is still about termination); the marked term lets
/// a linear model weigh "shall not create derivative works" apart from "may create
/// derivative works", since near-misses that deny a right are the commonest false alarm
/// of a keyword model. (Marking alone, which drops the plain term, scored lower on dev:
/// it hid the clause type of negated unfair-terms clauses.)
pub fn term_counts(text: &str) -> HashMap<String, u32> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    let lower = text.to_lowercase();
    let mut toks: Vec<(String, bool)> = Vec::new();
    let mut negation_left = 0usize;
    for word in lower.split_whitespace() {
        let negated = negation_left > 0;
        let mark = if negated { NEGATED.to_string() } else { String::new() };
        let word_tokens = tokens(word);
        toks.extend(word_tokens.iter().map(|t| (t.clone(), negated)));
        let padded: Vec<char> =
            std::iter::once(' ').chain(word.chars()).chain(std::iter::once(' ')).collect();
        for n in 3..=5 {
            if padded.len() < n {
                break;
            }
            for start in 0..=padded.len() - n {
                let gram: String = padded[start..start + n].iter().collect();
                if negated {
                    *counts.entry(format!("c:{gram}")).or_default() += 1;
                }
                *counts.entry(format!("c:{mark}{gram}")).or_default() += 1;
            }
        }
        negation_left = negation_left.saturating_sub(1);
        if ends_sentence(word) {
            negation_left = 0;
        } else if opens_negation(word, &word_tokens) {
            negation_left = NEGATION_SCOPE;
        }
    }
    let show = |(t, negated): &(String, bool)| {
        if *negated {
            format!("{NEGATED}{t}")
        } else {
            t.clone()
        }
    };
    for (i, tok) in toks.iter().enumerate() {
        *counts.entry(format!("w:{}", show(tok))).or_default() += 1;
        if tok.1 {
            *counts.entry(format!("w:{}", tok.0)).or_default() += 1;
        }
        if let Some(next) = toks.get(i + 1) {
            *counts.entry(format!("w:{} {}", show(tok), show(next))).or_default() += 1;
            if tok.1 || next.1 {
                *counts.entry(format!("w:{} {}", tok.0, next.0)).or_default() += 1;
            }
        }
    }
    counts
}

/// The fitted vocabulary and inverse document frequencies.
#[derive(Debug, Clone)]
pub struct Lexicon {
    terms: Vec<String>,
    index: HashMap<String, u32>,
    idf: Vec<f32>,
}

impl Lexicon {
    /// Fits the vocabulary on a corpus. Smoothed idf: `ln((1 + n) / (1 + df)) + 1`.
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut n = 0usize;
        for t in texts {
            n += 1;
            for term in term_counts(t).into_keys() {
                *df.entry(term).or_default() += 1;
            }
        }
        let mut words: Vec<(String, u32)> = Vec::new();
        let mut chars: Vec<(String, u32)> = Vec::new();
        for (term, d) in df {
            if term.starts_with("w:") && d >= WORD_MIN_DF {
                words.push((term, d));
            } else if term.starts_with("c:") && d >= CHAR_MIN_DF {
                chars.push((term, d));
            }
        }
        // Most frequent first, ties by term, so the vocabulary is deterministic.
        let by_df = |a: &(String, u32), b: &(String, u32)| b.1.cmp(&a.1).then(a.0.cmp(&b.0));
        words.sort_by(by_df);
        chars.sort_by(by_df);
        chars.truncate(CHAR_MAX_TERMS);
        let mut all = words;
        all.extend(chars);
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let idf =
            all.iter().map(|(_, d)| (((1 + n) as f32) / ((1 + d) as f32)).ln() + 1.0).collect();
        let terms: Vec<String> = all.into_iter().map(|(t, _)| t).collect();
        Self::from_parts(terms, idf).expect("terms and idf have one entry each")
    }

    /// A lexicon from saved terms and idf values; `None` if their lengths differ.
    pub fn from_parts(terms: Vec<String>, idf: Vec<f32>) -> Option<Self> {
        if terms.len() != idf.len() {
            return None;
        }
        let index = terms.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        Some(Self { terms, index, idf })
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    pub fn idf(&self) -> &[f32] {
        &self.idf
    }

    /// The features of a text, sorted by term id.
    pub fn features(&self, text: &str) -> Sparse {
        let mut words: Vec<(u32, f32)> = Vec::new();
        let mut chars: Vec<(u32, f32)> = Vec::new();
        for (term, count) in term_counts(text) {
            if let Some(&id) = self.index.get(&term) {
                let w = (1.0 + (count as f32).ln()) * self.idf[id as usize];
                if term.starts_with("w:") {
                    words.push((id, w));
                } else {
                    chars.push((id, w));
                }
            }
        }
        for block in [&mut words, &mut chars] {
            // In term order, so the norm's rounding does not depend on hash order.
            block.sort_unstable_by_key(|p| p.0);
            let norm = block.iter().map(|p| p.1 * p.1).sum::<f32>().sqrt();
            if norm > 0.0 {
                for p in block.iter_mut() {
                    p.1 *= std::f32::consts::FRAC_1_SQRT_2 / norm;
                }
            }
        }
        let mut pairs = words;
        pairs.extend(chars);
        pairs.sort_by_key(|p| p.0);
        Sparse {
            ids: pairs.iter().map(|p| p.0).collect(),
            weights: pairs.iter().map(|p| p.1).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercased_and_single_characters_dropped() {
        assert_eq!(
            tokens("Client's use, (a) \"for ANY purpose\"."),
            vec!["client", "use", "for", "any", "purpose"]
        );
    }

    #[test]
    fn character_grams_are_taken_inside_padded_words() {
        let counts = term_counts("Hire");
        for g in ["c: hi", "c:hir", "c:ire", "c:re ", "c: hire", "c:hire "] {
            assert_eq!(counts.get(g), Some(&1), "{g}");
        }
        assert!(!counts.contains_key("c: hire ") && counts.contains_key("w:hire"));
    }

    #[test]
    fn terms_after_a_negation_are_kept_apart_until_the_sentence_ends() {
        let denied = term_counts(
            "Licensee shall not alter, retouch or create derivative works. It may crop.",
        );
        assert!(denied.contains_key("w:¬derivative ¬works") && denied.contains_key("w:¬alter"));
        assert!(denied.contains_key("c:¬deriv"));
        // Each negated term also counts as itself, once.
        assert_eq!(denied.get("w:derivative works"), Some(&1));
        assert_eq!(denied.get("w:alter"), Some(&1));
        assert_eq!(denied.get("c:deriv"), Some(&1));
        // The cue itself and the next sentence are plain.
        assert!(denied.contains_key("w:not") && denied.contains_key("w:may crop"));
        let granted = term_counts("Licensee may create derivative works");
        assert!(granted.contains_key("w:derivative works"));
        assert!(!granted.keys().any(|k| k.contains(NEGATED)));
        // A scope ends after NEGATION_SCOPE words.
        let long = format!("no {} tail", "word ".repeat(NEGATION_SCOPE));
        assert!(term_counts(&long).contains_key("w:tail"));
        assert!(term_counts("it isn't licensed").contains_key("w:¬licensed"));
    }

    #[test]
    fn negated_ranges_cover_the_words_a_cue_reaches() {
        let text = "Licensee shall not alter or create derivative works. It may crop them.";
        let ranges = negated_ranges(text);
        let covered: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(covered, ["alter or create derivative works."]);
        assert!(negated_ranges("Licensee may create derivative works.").is_empty());
        let text = "The Images are not works made for hire";
        assert_eq!(negated_ranges(text), vec![text.find("works").unwrap()..text.len()]);
    }

    #[test]
    fn rare_terms_are_dropped_and_features_have_unit_length() {
        let corpus = [
            "the work is licensed",
            "the work is assigned",
            "the work made for hire",
            "work made for hire only",
        ];
        let lex = Lexicon::fit(corpus.iter().copied());
        assert!(lex.index.contains_key("w:made for"));
        // "licensed" occurs once: below the word minimum.
        assert!(!lex.index.contains_key("w:licensed"));
        let f = lex.features("the work made for hire");
        let norm: f32 = f.weights.iter().map(|w| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(f.ids.windows(2).all(|w| w[0] < w[1]));
        let weight_of = |t: &str| f.weights[f.ids.iter().position(|&i| i == lex.index[t]).unwrap()];
        // "the" is in three texts, "hire" in two: the rarer term weighs more.
        assert!(weight_of("w:hire") > weight_of("w:the"));
        assert!(lex.features("zzz qqq").ids.is_empty());
    }
}
