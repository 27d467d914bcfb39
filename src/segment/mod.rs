//! Clause segmentation: a [`Document`] becomes a list of [`Clause`]s, each with its
//! printed section number, the heading it sits under, its span in the document
//! text and its page.

use std::ops::Range;

use crate::read::Document;

/// Most encoder tokens a clause may hold (all-MiniLM-L6-v2 was trained at 256).
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// What part of a contract a clause belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClauseKind {
    /// An operative provision.
    Clause,
    /// A definition ("X" means ...).
    Definition,
    /// A recital (WHEREAS ..., Background).
    Recital,
    /// Signature block (IN WITNESS WHEREOF, By:, Name:, Title:).
    Signature,
    /// Text inside an exhibit, schedule or annex.
    Exhibit,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Clause {
    /// 0-based position in the document.
    pub index: usize,
    /// Section number as printed ("3.1", "(a)", "Article IV", "Section 12").
    pub section: Option<String>,
    /// The heading the clause sits under.
    pub heading: Option<String>,
    pub kind: ClauseKind,
    pub text: String,
    /// Byte range in [`Document::text`]; `text` is that range with whitespace normalised.
    pub span: Range<usize>,
    /// 1-based page, where the format has pages.
    pub page: Option<u32>,
}

/// Counts encoder tokens of a text, so the segmenter can keep clauses under the limit.
pub trait TokenCounter: Sync {
    fn count(&self, text: &str) -> usize;
}

/// Cheap upper-bound estimate used when no tokenizer is at hand: WordPiece splits
/// rarely yield more than ~1.6 tokens per whitespace word in contract English.
pub struct ApproxTokens;

impl TokenCounter for ApproxTokens {
    fn count(&self, text: &str) -> usize {
        text.split_whitespace().map(|w| 1 + w.len() / 6).sum::<usize>() + 2
    }
}

pub struct SegmentOptions<'a> {
    pub max_tokens: usize,
    pub counter: &'a dyn TokenCounter,
}

impl Default for SegmentOptions<'_> {
    fn default() -> Self {
        Self { max_tokens: DEFAULT_MAX_TOKENS, counter: &ApproxTokens }
    }
}

/// Splits a document into clauses.
pub fn segment(doc: &Document, _opts: &SegmentOptions<'_>) -> Vec<Clause> {
    // NOTE: placeholder (one clause per block), replaced by the real segmenter.
    doc.blocks
        .iter()
        .enumerate()
        .map(|(index, b)| Clause {
            index,
            section: None,
            heading: None,
            kind: ClauseKind::Clause,
            text: doc.block_text(b).to_string(),
            span: b.span.clone(),
            page: b.page,
        })
        .collect()
}
