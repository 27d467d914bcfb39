//! Lexical features: a clause becomes a sparse, L2-normalised TF-IDF vector over hashed
//! word unigrams and bigrams. The classifier adds a linear layer over these to the
//! transformer features, so exact legal phrasing ("hereafter devised", "work made for
//! hire") counts even where the frozen encoder blurs it.

use std::collections::HashMap;

/// Number of hash buckets for unigrams and bigrams.
pub const DEFAULT_BUCKETS: usize = 1 << 17;

/// Sparse features of one text: bucket ids and weights (L2-normalised).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    pub ids: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Lower-cased words: runs of letters and digits (apostrophes inside words kept).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || (c == '\'' && !cur.is_empty()) {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur).trim_end_matches('\'').to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur.trim_end_matches('\'').to_string());
    }
    out
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0x20;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in p.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Term counts per bucket for a text.
pub fn term_counts(text: &str, buckets: usize) -> HashMap<u32, u32> {
    let ws = words(text);
    let mut counts = HashMap::new();
    for (i, w) in ws.iter().enumerate() {
        *counts.entry((fnv1a(&[w]) % buckets as u64) as u32).or_insert(0) += 1;
        if let Some(next) = ws.get(i + 1) {
            *counts.entry((fnv1a(&[w, next]) % buckets as u64) as u32).or_insert(0) += 1;
        }
    }
    counts
}

/// Inverse document frequencies fitted on a corpus.
#[derive(Debug, Clone)]
pub struct Idf {
    pub buckets: usize,
    pub idf: Vec<f32>,
}

impl Idf {
    /// Smoothed idf: ln((1 + n) / (1 + df)) + 1.
    pub fn fit<'a>(texts: impl IntoIterator<Item = &'a str>, buckets: usize) -> Self {
        let mut df = vec![0u32; buckets];
        let mut n = 0usize;
        for t in texts {
            n += 1;
            for id in term_counts(t, buckets).into_keys() {
                df[id as usize] += 1;
            }
        }
        let idf = df.iter().map(|&d| (((1 + n) as f32) / ((1 + d) as f32)).ln() + 1.0).collect();
        Self { buckets, idf }
    }

    /// Sublinear TF-IDF features of a text, L2-normalised, sorted by bucket.
    pub fn features(&self, text: &str) -> Sparse {
        let mut pairs: Vec<(u32, f32)> = term_counts(text, self.buckets)
            .into_iter()
            .map(|(id, c)| (id, (1.0 + (c as f32).ln()) * self.idf[id as usize]))
            .collect();
        pairs.sort_by_key(|p| p.0);
        let norm = pairs.iter().map(|p| p.1 * p.1).sum::<f32>().sqrt().max(1e-12);
        Sparse {
            ids: pairs.iter().map(|p| p.0).collect(),
            weights: pairs.iter().map(|p| p.1 / norm).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_split_on_punctuation() {
        assert_eq!(
            words("Client's use, \"for ANY purpose\"."),
            vec!["client's", "use", "for", "any", "purpose"]
        );
    }

    #[test]
    fn features_are_unit_length_and_rare_terms_weigh_more() {
        let corpus = ["the work is licensed", "the work is assigned", "the work made for hire"];
        let idf = Idf::fit(corpus.iter().copied(), 1 << 12);
        let f = idf.features("the work made for hire");
        let norm: f32 = f.weights.iter().map(|w| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        let weight_of = |w: &str| {
            let id = (fnv1a(&[w]) % (1 << 12)) as u32;
            f.weights[f.ids.iter().position(|&i| i == id).unwrap()]
        };
        assert!(weight_of("hire") > weight_of("the"));
    }
}
