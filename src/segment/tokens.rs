//! Exact token counts: a `tokenizer.json` becomes a [`TokenCounter`] that counts
//! what the encoder will see, special tokens included.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::TokenCounter;

/// Why a tokenizer could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("failed to load tokenizer `{path}`: {detail}")]
    Load { path: PathBuf, detail: String },
}

/// Counts WordPiece tokens with the encoder's own tokenizer, with truncation and
/// padding turned off so long texts are counted in full.
pub struct WordPieceCounter {
    tokenizer: Tokenizer,
}

impl WordPieceCounter {
    /// Loads `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let load_err = |detail: String| TokenizerError::Load { path: path.to_path_buf(), detail };
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| load_err(e.to_string()))?;
        tokenizer.with_truncation(None).map_err(|e| load_err(e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(Self { tokenizer })
    }
}

impl TokenCounter for WordPieceCounter {
    fn count(&self, text: &str) -> usize {
        match self.tokenizer.encode(text, true) {
            Ok(encoding) => encoding.get_ids().len(),
            // NOTE: encoding fails only on tokenizer-internal errors; fall back to the
            // cheap upper-bound estimate rather than panic.
            Err(_) => super::ApproxTokens.count(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> WordPieceCounter {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2/tokenizer.json");
        WordPieceCounter::from_file(&path).expect("bundled tokenizer loads")
    }

    #[test]
    fn counts_special_tokens_and_wordpieces() {
        let counter = bundled();
        // [CLS] and [SEP] alone.
        assert_eq!(counter.count(""), 2);
        // "the buyer shall pay ." are single vocabulary entries.
        assert_eq!(counter.count("The Buyer shall pay."), 2 + 5);
        // A long text is not truncated at 128 or 512.
        let long = "payment ".repeat(600);
        assert_eq!(counter.count(&long), 602);
    }

    #[test]
    fn missing_file_is_an_error_naming_the_path() {
        let err = WordPieceCounter::from_file(Path::new("/nonexistent/tokenizer.json"))
            .err()
            .expect("error");
        assert!(err.to_string().contains("`/nonexistent/tokenizer.json`"), "{err}");
    }
}
