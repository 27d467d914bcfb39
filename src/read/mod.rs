//! Reading documents: a contract file (text, Markdown, HTML, DOCX, PDF) becomes
//! one [`Document`]: its extracted text plus the blocks (paragraphs, headings,
//! list items, table cells) that text is made of, with page numbers where known.

mod docx;
mod html;
mod markdown;
mod pdf;
mod text;

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Default largest input file accepted, in bytes (50 MB).
pub const DEFAULT_MAX_BYTES: u64 = 50 * 1024 * 1024;

/// The format a document was read as, detected from content first, extension second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Markdown,
    Html,
    Docx,
    Pdf,
}

/// What a block of text is in the source layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Heading,
    Paragraph,
    ListItem,
    TableCell,
}

/// One block of the document. `span` is a byte range into [`Document::text`] and
/// `text == document.text[span]` always holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Block {
    pub kind: BlockKind,
    pub span: Range<usize>,
    /// 1-based page number, for paged formats (PDF).
    pub page: Option<u32>,
}

/// A document read from a file: the extracted text and its blocks, in reading order.
/// Blocks are separated in `text` by a blank line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Document {
    pub path: PathBuf,
    pub format: Format,
    pub text: String,
    pub blocks: Vec<Block>,
    /// Things the user should know about the reading (e.g. a legacy encoding was guessed).
    pub warnings: Vec<String>,
}

impl Document {
    pub fn block_text(&self, block: &Block) -> &str {
        &self.text[block.span.clone()]
    }
}

/// Limits and choices for reading.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Files larger than this are refused.
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self { max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// Why a file could not be read. Display strings are lowercase, name no path (the
/// caller prefixes `path: `) and say what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("no such file")]
    NotFound,
    #[error("is a directory, not a file")]
    IsDirectory,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("file is empty")]
    Empty,
    #[error("file is {size} bytes, over the limit of {limit} bytes (raise it with --max-bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("not a document TermScore can read ({0})")]
    Unsupported(String),
    #[error("corrupt {format} file: {detail}")]
    Corrupt { format: &'static str, detail: String },
    #[error("PDF is encrypted; decrypt it first (for example `qpdf --decrypt in.pdf out.pdf`)")]
    Encrypted,
    #[error("PDF has no text layer (a scanned image?); run OCR on it first, e.g. `ocrmypdf`")]
    NoTextLayer,
    #[error("document contains no text")]
    NoText,
    #[error("archive part `{part}` unpacks to more than {limit} bytes; refusing it (a zip bomb?)")]
    ArchiveTooLarge { part: String, limit: u64 },
}

/// Reads a file from disk. See [`read_bytes`].
pub fn read_path(path: &Path, opts: &ReadOptions) -> Result<Document, ReadError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadError::NotFound),
        Err(e) => return Err(ReadError::Io(e)),
    };
    if meta.is_dir() {
        return Err(ReadError::IsDirectory);
    }
    if meta.len() > opts.max_bytes {
        return Err(ReadError::TooLarge { size: meta.len(), limit: opts.max_bytes });
    }
    let bytes = std::fs::read(path)?;
    read_bytes(path, &bytes, opts)
}

/// Reads a document from memory; `path` is used for the extension hint and reporting.
pub fn read_bytes(path: &Path, bytes: &[u8], opts: &ReadOptions) -> Result<Document, ReadError> {
    if bytes.len() as u64 > opts.max_bytes {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, limit: opts.max_bytes });
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ReadError::Empty);
    }
    let mut doc = match sniff(path, bytes)? {
        Sniffed::Pdf => pdf::read(path, bytes)?,
        Sniffed::Zip => docx::read(path, bytes, opts, has_extension(path, &["docx"]))?,
        Sniffed::Text => {
            let (text, warnings) = text::decode(bytes)?;
            let format = detect_text_format(path, &text);
            let mut doc = match format {
                Format::Html => html::read(path, &text),
                Format::Markdown => markdown::read(path, &text),
                _ => text::read(path, &text),
            };
            doc.warnings.splice(0..0, warnings);
            doc
        }
    };
    if doc.blocks.is_empty() {
        return Err(ReadError::NoText);
    }
    doc.path = path.to_path_buf();
    Ok(doc)
}

/// What the first bytes of a file say it is, before any decoding.
#[derive(Debug, PartialEq, Eq)]
enum Sniffed {
    Pdf,
    Zip,
    Text,
}

/// Looks at magic numbers. Formats TermScore cannot read but users often try (legacy Word,
/// images, archives) get an [`ReadError::Unsupported`] saying what they are.
fn sniff(path: &Path, bytes: &[u8]) -> Result<Sniffed, ReadError> {
    // The PDF header may follow a little junk (some generators prepend bytes), so look at
    // the first kilobyte, as viewers do.
    let head = &bytes[..bytes.len().min(1024)];
    if find(head, b"%PDF-").is_some() {
        return Ok(Sniffed::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Ok(Sniffed::Zip);
    }
    const KNOWN: &[(&[u8], &str)] = &[
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "a legacy Office file (.doc); save it as .docx or PDF",
        ),
        (b"{\\rtf", "an RTF file; save it as .docx or PDF"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"\x7FELF", "an executable"),
    ];
    for (magic, what) in KNOWN {
        if bytes.starts_with(magic) {
            return Err(ReadError::Unsupported((*what).to_string()));
        }
    }
    if has_extension(path, &["pdf"]) {
        return Err(ReadError::Corrupt { format: "PDF", detail: "no `%PDF-` header".into() });
    }
    if has_extension(path, &["docx"]) {
        return Err(ReadError::Corrupt { format: "DOCX", detail: "not a ZIP archive".into() });
    }
    Ok(Sniffed::Text)
}

/// Chooses among the text formats: HTML by its tags, then the extension.
fn detect_text_format(path: &Path, text: &str) -> Format {
    if html::looks_like_html(text) {
        return Format::Html;
    }
    if has_extension(path, &["md", "markdown"]) {
        Format::Markdown
    } else if has_extension(path, &["htm", "html", "xhtml"]) {
        Format::Html
    } else {
        Format::Text
    }
}

fn has_extension(path: &Path, wanted: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| wanted.iter().any(|w| e.eq_ignore_ascii_case(w)))
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Builds a [`Document`] from blocks in reading order, joining them with blank lines.
pub fn from_paragraphs(
    path: &Path,
    format: Format,
    blocks: impl IntoIterator<Item = (BlockKind, String, Option<u32>)>,
) -> Document {
    let mut text = String::new();
    let mut out = Vec::new();
    for (kind, block, page) in blocks {
        let block = block.trim();
        if block.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let start = text.len();
        text.push_str(block);
        out.push(Block { kind, span: start..text.len(), page });
    }
    Document { path: path.to_path_buf(), format, text, blocks: out, warnings: Vec::new() }
}
