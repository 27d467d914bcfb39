//! PDF: the text layer of each page becomes paragraph blocks tagged with their page, with
//! running headers, footers and page numbers removed, wrapped lines joined and words
//! broken at line ends put back together.
//!
//! lopdf loads the file (and tells an encrypted one apart); pdf-extract lays out the text
//! of each page. pdf-extract indexes and unwraps freely and panics on some malformed
//! files, so every call into it runs under `catch_unwind` and a panic is reported as a
//! corrupt file. The default panic hook still prints the panic message to stderr: the hook
//! is process-wide, and swapping it from library code would race with other threads.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{find, from_paragraphs, BlockKind, Document, Format, ReadError};

/// Fewer letters and digits than this per page, on average, means there is no usable
/// text layer (a scan, or only stamped page numbers).
const MIN_CHARS_PER_PAGE: usize = 20;
/// How many non-blank lines at the top and at the bottom of a page may be furniture.
const FURNITURE_ZONE: usize = 2;

/// Reads PDF bytes.
pub(super) fn read(path: &Path, bytes: &[u8]) -> Result<Document, ReadError> {
    let (pages, warnings) = extract_pages(bytes)?;
    let chars: usize =
        pages.iter().map(|p| p.chars().filter(|c| c.is_alphanumeric()).count()).sum();
    if chars < MIN_CHARS_PER_PAGE * pages.len() {
        return Err(ReadError::NoTextLayer);
    }
    let mut lines: Vec<Vec<String>> =
        pages.iter().map(|page| page.lines().map(normalise_line).collect()).collect();
    remove_furniture(&mut lines);
    let blocks = join_blocks(&lines);
    let mut doc = from_paragraphs(
        path,
        Format::Pdf,
        blocks.into_iter().map(|(page, text)| (BlockKind::Paragraph, text, Some(page))),
    );
    doc.warnings = warnings;
    Ok(doc)
}

fn corrupt(detail: impl Into<String>) -> ReadError {
    ReadError::Corrupt { format: "PDF", detail: detail.into() }
}

/// Loads the document and returns the text of each page, in page order, with warnings for
/// pages whose text could not be extracted.
fn extract_pages(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), ReadError> {
    let loaded = catch_unwind(|| lopdf::Document::load_mem(bytes))
        .map_err(|_| corrupt("the PDF parser failed on this file"))?;
    let doc = match loaded {
        Ok(doc) => doc,
        // lopdf refuses some encryption dictionaries outright; the trailer still says why.
        Err(_) if find(bytes, b"/Encrypt").is_some() => return Err(ReadError::Encrypted),
        Err(e) => return Err(corrupt(e.to_string())),
    };
    // lopdf opens files whose user password is empty by itself; anything else is locked.
    if doc.is_encrypted() && !doc.was_encrypted() {
        return Err(ReadError::Encrypted);
    }
    let page_numbers: Vec<u32> = catch_unwind(AssertUnwindSafe(|| doc.get_pages()))
        .map_err(|_| corrupt("the page tree is damaged"))?
        .into_keys()
        .collect();
    if page_numbers.is_empty() {
        return Err(corrupt("the document has no pages"));
    }
    let mut pages = Vec::with_capacity(page_numbers.len());
    let mut warnings = Vec::new();
    for number in page_numbers {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut text = String::new();
            let mut output = pdf_extract::PlainTextOutput::new(&mut text);
            pdf_extract::output_doc_page(&doc, &mut output, number).map(|()| text)
        }));
        match result {
            Ok(Ok(text)) => pages.push(text),
            Ok(Err(e)) => {
                warnings.push(format!("page {number}: could not extract its text ({e})"));
                pages.push(String::new());
            }
            Err(_) => return Err(corrupt(format!("text extraction failed on page {number}"))),
        }
    }
    Ok((pages, warnings))
}

/// Expands typographic ligatures, turns no-break spaces into spaces and trims the end.
fn normalise_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{A0}' => out.push(' '),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

static PAGE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^\s*(?:
            (?:page|p\.)\s*(?:\d{1,5}|[ivxlcdm]{1,8})(?:\s*(?:of|/)\s*\d{1,5})?
          | [-\u{2013}\u{2014}\[(]?\s*\d{1,5}\s*[-\u{2013}\u{2014}\])]?
          | \d{1,5}\s*(?:of|/)\s*\d{1,5}
        )\s*$",
    )
    .unwrap()
});

/// True for a line that is only a page number: `3`, `- 3 -`, `[3]`, `Page 3 of 10`, `3/10`.
fn is_page_number(line: &str) -> bool {
    PAGE_NUMBER.is_match(line)
}

/// A line's identity for spotting running headers: case folded, digits replaced (page
/// numbers and dates change from page to page), whitespace collapsed.
fn furniture_key(line: &str) -> String {
    let mut key = String::new();
    let mut in_digits = false;
    for word in line.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        for c in word.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    key.push('#');
                }
                in_digits = true;
            } else {
                in_digits = false;
                key.extend(c.to_lowercase());
            }
        }
        in_digits = false;
    }
    key
}

/// Indices of the first and last [`FURNITURE_ZONE`] non-blank lines of a page.
fn zones(lines: &[String]) -> (Vec<usize>, Vec<usize>) {
    let filled: Vec<usize> = (0..lines.len()).filter(|&i| !lines[i].trim().is_empty()).collect();
    let top = filled.iter().take(FURNITURE_ZONE).copied().collect();
    let bottom = filled.iter().rev().take(FURNITURE_ZONE).copied().collect();
    (top, bottom)
}

/// Blanks running headers and footers (a line at the top or bottom of a page whose
/// [`furniture_key`] recurs at the same edge of more than half of the pages, and of at
/// least two) and page numbers at either edge.
fn remove_furniture(pages: &mut [Vec<String>]) {
    let mut top_counts: HashMap<String, usize> = HashMap::new();
    let mut bottom_counts: HashMap<String, usize> = HashMap::new();
    let page_zones: Vec<(Vec<usize>, Vec<usize>)> = pages.iter().map(|p| zones(p)).collect();
    for (lines, (top, bottom)) in pages.iter().zip(&page_zones) {
        let mut seen_top: Vec<String> = top.iter().map(|&i| furniture_key(&lines[i])).collect();
        seen_top.dedup();
        for key in seen_top {
            *top_counts.entry(key).or_default() += 1;
        }
        let mut seen_bottom: Vec<String> =
            bottom.iter().map(|&i| furniture_key(&lines[i])).collect();
        seen_bottom.dedup();
        for key in seen_bottom {
            *bottom_counts.entry(key).or_default() += 1;
        }
    }
    let page_count = pages.len();
    let running = |count: Option<&usize>| count.is_some_and(|&c| c >= 2 && c * 2 > page_count);
    for (lines, (top, bottom)) in pages.iter_mut().zip(page_zones) {
        for i in top {
            if is_page_number(&lines[i]) || running(top_counts.get(&furniture_key(&lines[i]))) {
                lines[i].clear();
            }
        }
        for i in bottom {
            let key = furniture_key(&lines[i]);
            if is_page_number(&lines[i]) || running(bottom_counts.get(&key)) {
                lines[i].clear();
            }
        }
    }
}

static STARTS_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^(?:
            \d{1,3}(?:\.\d{1,3})*\.\s          # 1.  2.3.
          | \d{1,3}(?:\.\d{1,3})+\s            # 2.3
          | \(\s?[a-zA-Z0-9]{1,4}\s?\)\s       # (a) (iv) (12)
          | [a-z]\)\s                          # a)
          | [\u{2022}\u{25AA}\u{25E6}\u{00B7}*]\s
          | (?i:article|section|schedule|exhibit|annex|appendix)\s+[0-9IVXivx]
        )",
    )
    .unwrap()
});

/// Words written with a hyphen in contracts even when the hyphen falls at a line end
/// ("non-exclusive", "self-employed", "third-party"): a break after one of these keeps its
/// hyphen. Prefixes that are also common first syllables ("ex", "re", "pre", "sub",
/// "multi") are left out on purpose: hyphenation splits "ex-clusive", "re-sponsible" and
/// "sub-ject" far more often than those prefixes form compounds.
const HYPHENATED_PREFIXES: &[&str] = &["non", "self", "third", "cross", "well", "semi", "quasi"];

/// How a line ending in a hyphen joins the next line.
#[derive(Debug, PartialEq, Eq)]
enum HyphenJoin {
    /// The hyphen was set by the line break: drop it and join the halves ("agree-|ment").
    Drop,
    /// The hyphen belongs to the word: keep it and join without a space ("non-|exclusive").
    Keep,
    /// Not a word break (a dash, or no hyphen): join with a space.
    Space,
}

/// The de-hyphenation rule. A line-final hyphen directly after a letter, followed by a
/// line that starts with a lowercase letter, is a break hyphen and is dropped, unless the
/// fragment before it already holds a hyphen (a compound in progress, "third-party-") or
/// is one of [`HYPHENATED_PREFIXES`]: then it is kept. A hyphen before a line starting
/// with a capital or digit ("Non-|Disclosure", "Schedule-|2") is kept. A hyphen after a
/// space is a dash, and the lines are joined with a space.
fn hyphen_join(prev: &str, next: &str) -> HyphenJoin {
    let Some(before) = prev.strip_suffix(['-', '\u{AD}']) else {
        return HyphenJoin::Space;
    };
    let fragment = before
        .rsplit(|c: char| c.is_whitespace() || "(/\"'\u{201C}".contains(c))
        .next()
        .unwrap_or("");
    if !fragment.chars().last().is_some_and(char::is_alphabetic) {
        return HyphenJoin::Space;
    }
    if prev.ends_with('\u{AD}') {
        // A soft hyphen is only ever a break.
        return HyphenJoin::Drop;
    }
    let Some(first) = next.chars().next() else {
        return HyphenJoin::Space;
    };
    if !first.is_lowercase() {
        return HyphenJoin::Keep;
    }
    let lower = fragment.to_lowercase();
    if fragment.contains('-') || HYPHENATED_PREFIXES.contains(&lower.as_str()) {
        HyphenJoin::Keep
    } else {
        HyphenJoin::Drop
    }
}

/// Appends `line` to a paragraph being joined.
fn join_line(out: &mut String, line: &str) {
    let line = line.trim();
    if out.is_empty() {
        out.push_str(line);
        return;
    }
    match hyphen_join(out, line) {
        HyphenJoin::Drop => {
            out.pop();
            out.push_str(line);
        }
        HyphenJoin::Keep => out.push_str(line),
        HyphenJoin::Space if STARTS_ITEM.is_match(line) => {
            // Keep the break before a numbered or bulleted line: the segmenter uses it.
            out.push('\n');
            out.push_str(line);
        }
        HyphenJoin::Space => {
            out.push(' ');
            out.push_str(line);
        }
    }
}

/// Joins each page's runs of non-blank lines into paragraphs tagged with the page number.
/// A paragraph that runs over a page break (it ends without closing punctuation and the
/// next page starts in lowercase) is joined into one block on its first page.
fn join_blocks(pages: &[Vec<String>]) -> Vec<(u32, String)> {
    let mut blocks: Vec<(u32, String)> = Vec::new();
    for (index, lines) in pages.iter().enumerate() {
        let page = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let mut current = String::new();
        let mut first_on_page = true;
        let mut push = |current: &mut String, first_on_page: &mut bool| {
            if current.is_empty() {
                return;
            }
            let text = std::mem::take(current);
            let continues = *first_on_page
                && text.starts_with(|c: char| c.is_lowercase())
                && blocks.last().is_some_and(|(p, prev)| {
                    *p + 1 == page && !prev.ends_with(['.', ':', ';', '!', '?'])
                });
            *first_on_page = false;
            match blocks.last_mut() {
                Some((_, prev)) if continues => {
                    for line in text.split('\n') {
                        join_line(prev, line);
                    }
                }
                _ => blocks.push((page, text)),
            }
        };
        for line in lines {
            if line.trim().is_empty() {
                push(&mut current, &mut first_on_page);
            } else {
                join_line(&mut current, line);
            }
        }
        push(&mut current, &mut first_on_page);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn page_numbers_in_their_usual_shapes() {
        for line in
            ["3", " - 3 - ", "Page 3 of 10", "page iv", "[12]", "3/10", "\u{2013} 7 \u{2013}"]
        {
            assert!(is_page_number(line), "{line}");
        }
        for line in ["3. Fees", "Page Setup", "30 days", "Section 3"] {
            assert!(!is_page_number(line), "{line}");
        }
    }

    #[test]
    fn hyphen_rule() {
        assert_eq!(hyphen_join("the agree-", "ment"), HyphenJoin::Drop);
        assert_eq!(hyphen_join("a non-", "exclusive licence"), HyphenJoin::Keep);
        assert_eq!(hyphen_join("the third-party-", "owned"), HyphenJoin::Keep);
        assert_eq!(hyphen_join("the Non-", "Disclosure"), HyphenJoin::Keep);
        assert_eq!(hyphen_join("fees -", "payable"), HyphenJoin::Space);
        assert_eq!(hyphen_join("ex-", "clusive"), HyphenJoin::Drop);
        assert_eq!(hyphen_join("pay\u{AD}", "ment"), HyphenJoin::Drop);
        assert_eq!(hyphen_join("no hyphen", "here"), HyphenJoin::Space);
    }

    #[test]
    fn running_headers_footers_and_page_numbers_go() {
        let mut pages = vec![
            page(&["ACME MASTER AGREEMENT", "", "First page text.", "", "Page 1 of 3"]),
            page(&["ACME MASTER AGREEMENT", "", "Second page text.", "", "Page 2 of 3"]),
            page(&["ACME MASTER AGREEMENT", "", "Third page text.", "", "Confidential", "- 3 -"]),
        ];
        remove_furniture(&mut pages);
        let blocks = join_blocks(&pages);
        assert_eq!(
            blocks,
            [
                (1, "First page text.".to_string()),
                (2, "Second page text.".to_string()),
                (3, "Third page text.".to_string()),
                (3, "Confidential".to_string()),
            ]
        );
    }

    #[test]
    fn wrapped_lines_join_and_numbered_lines_keep_their_break() {
        let pages = vec![page(&[
            "The Customer shall pay the fees with-",
            "in thirty days of a non-",
            "exclusive invoice.",
            "2.1 Late payment",
            "(a) accrues interest",
        ])];
        assert_eq!(
            join_blocks(&pages),
            [(
                1,
                "The Customer shall pay the fees within thirty days of a non-exclusive invoice.\n\
                 2.1 Late payment\n(a) accrues interest"
                    .to_string()
            )]
        );
    }

    #[test]
    fn paragraph_running_over_a_page_break_stays_one_block() {
        let pages =
            vec![page(&["The licence is grant-"]), page(&["ed for one year.", "", "Next."])];
        assert_eq!(
            join_blocks(&pages),
            [(1, "The licence is granted for one year.".to_string()), (2, "Next.".to_string())]
        );
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let err = read(Path::new("x.pdf"), b"%PDF-1.4\n1 0 obj << /Type /Catalog").unwrap_err();
        assert!(matches!(err, ReadError::Corrupt { format: "PDF", .. }), "{err:?}");
    }
}
