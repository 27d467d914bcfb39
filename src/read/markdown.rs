//! Markdown: decoded text becomes heading, list item, table cell and paragraph blocks with
//! the markup (emphasis, links, code fences) stripped to the plain text a reader sees.
//!
//! This is a line-based reader for the Markdown contracts are written in, not a full
//! CommonMark parser: nested block quotes and HTML blocks are read as text.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::{from_paragraphs, BlockKind, Document, Format};

static ATX_HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$").unwrap());
static SETEXT_UNDERLINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^ {0,3}(=+|-+)[ \t]*$").unwrap());
static RULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$").unwrap()
});
static BULLET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[ \t]*[-*+][ \t]+(.*)$").unwrap());
static ORDERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[ \t]*(\d{1,9})([.)])[ \t]+(.*)$").unwrap());
static FENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ {0,3}(`{3,}|~{3,})").unwrap());
static LINK_DEFINITION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^ {0,3}\[[^\]]+\]:[ \t]*\S+"#).unwrap());
static TABLE_DIVIDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$").unwrap()
});

/// Reads decoded Markdown text.
pub(super) fn read(path: &Path, text: &str) -> Document {
    from_paragraphs(path, Format::Markdown, blocks(text).into_iter().map(|(k, t)| (k, t, None)))
}

/// Splits Markdown into blocks of plain text.
fn blocks(text: &str) -> Vec<(BlockKind, String)> {
    let mut out: Vec<(BlockKind, String)> = Vec::new();
    let mut current: Option<(BlockKind, String)> = None;
    let mut fence: Option<String> = None;
    let flush = |current: &mut Option<(BlockKind, String)>, out: &mut Vec<(BlockKind, String)>| {
        if let Some((kind, text)) = current.take() {
            out.push((kind, inline(&text)));
        }
    };
    for line in text.lines() {
        if let Some(marker) = &fence {
            // Inside a code fence the text is kept as is, without the fence lines.
            if line.trim_start().starts_with(marker.as_str()) {
                fence = None;
                if let Some((kind, text)) = current.take() {
                    out.push((kind, text));
                }
            } else {
                let (_, body) = current.get_or_insert((BlockKind::Paragraph, String::new()));
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(line.trim_end());
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut current, &mut out);
            continue;
        }
        if let Some(caps) = FENCE.captures(line) {
            flush(&mut current, &mut out);
            fence = Some(caps[1].to_string());
            continue;
        }
        if let Some(caps) = ATX_HEADING.captures(line) {
            flush(&mut current, &mut out);
            let title = caps.get(2).map_or("", |m| m.as_str());
            out.push((BlockKind::Heading, inline(title)));
            continue;
        }
        // A line of `===` or `---` under paragraph text makes that text a heading.
        if SETEXT_UNDERLINE.is_match(line) {
            if let Some((BlockKind::Paragraph, text)) = &current {
                out.push((BlockKind::Heading, inline(text)));
                current = None;
                continue;
            }
        }
        if RULE.is_match(line) || LINK_DEFINITION.is_match(line) {
            flush(&mut current, &mut out);
            continue;
        }
        if trimmed.starts_with('|') && trimmed.len() > 1 {
            flush(&mut current, &mut out);
            if !TABLE_DIVIDER.is_match(line) {
                let row = trimmed.trim_start_matches('|').trim_end_matches('|');
                for cell in row.split('|') {
                    out.push((BlockKind::TableCell, inline(cell.trim())));
                }
            }
            continue;
        }
        let quoted = trimmed.trim_start_matches('>').trim_start();
        if let Some(caps) = BULLET.captures(line) {
            flush(&mut current, &mut out);
            current = Some((BlockKind::ListItem, caps[1].to_string()));
            continue;
        }
        if let Some(caps) = ORDERED.captures(line) {
            // An ordered item keeps its number: in a contract it is the section number.
            flush(&mut current, &mut out);
            current = Some((BlockKind::ListItem, format!("{}{} {}", &caps[1], &caps[2], &caps[3])));
            continue;
        }
        match &mut current {
            Some((_, text)) => {
                text.push('\n');
                text.push_str(quoted);
            }
            None => current = Some((BlockKind::Paragraph, quoted.to_string())),
        }
    }
    flush(&mut current, &mut out);
    out.retain(|(_, text)| !text.trim().is_empty());
    out
}

static IMAGE_OR_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])").unwrap());
static AUTOLINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<((?:https?|mailto):[^>\s]+)>").unwrap());
static HTML_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>").unwrap());
static CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(`+)([^`]+?)(`+)").unwrap());
static STRONG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\*\*|__)(\S(?:.*?\S)?)(\*\*|__)").unwrap());
static STRIKE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"~~(\S(?:.*?\S)?)~~").unwrap());
static EM_STAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\*(\S(?:[^*]*?\S)?)\*").unwrap());
// Underscore emphasis only at word edges, so `snake_case_names` stay as they are.
static EM_UNDERSCORE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(^|[^\w])_(\S(?:[^_]*?\S)?)_($|[^\w])").unwrap());
static ESCAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\\([\\`*_{}\[\]()#+\-.!|~<>])").unwrap());

/// Strips inline markup: links and images to their text, code spans to their content,
/// emphasis and strike-through markers dropped, backslash escapes resolved.
fn inline(text: &str) -> String {
    // Escaped characters are set aside first so that no rule below treats them as markup.
    let mut escaped = Vec::new();
    let text = ESCAPE.replace_all(text, |caps: &regex::Captures<'_>| {
        escaped.push(caps[1].to_string());
        format!("\u{E000}{}\u{E001}", escaped.len() - 1)
    });
    let text = CODE.replace_all(&text, "$2");
    let text = IMAGE_OR_LINK.replace_all(&text, "$1");
    let text = AUTOLINK.replace_all(&text, "$1");
    let text = HTML_TAG.replace_all(&text, "");
    let text = STRONG.replace_all(&text, "$2");
    let text = STRIKE.replace_all(&text, "$1");
    let text = EM_STAR.replace_all(&text, "$1");
    let text = EM_UNDERSCORE.replace_all(&text, "$1$2$3");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_ref();
    while let Some(start) = rest.find('\u{E000}') {
        out.push_str(&rest[..start]);
        let after = &rest[start + '\u{E000}'.len_utf8()..];
        match after.find('\u{E001}') {
            Some(end) => {
                let index: usize = after[..end].parse().unwrap_or(usize::MAX);
                out.push_str(escaped.get(index).map_or("", String::as_str));
                rest = &after[end + '\u{E001}'.len_utf8()..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_texts(markdown: &str) -> Vec<(BlockKind, String)> {
        let doc = read(Path::new("a.md"), markdown);
        doc.blocks.iter().map(|b| (b.kind, doc.block_text(b).to_string())).collect()
    }

    #[test]
    fn headings_lists_and_paragraphs() {
        let md = "# Master *Services* Agreement #\n\nThis **Agreement** is made\nbetween the \
                  parties.\n\n## 1. Fees\n\n- Fees are due in [30 days](https://x.test/terms).\n\
                  - Late fees apply\n  at 2% a month.\n\n1. First term\n2) Second term\n\n\
                  Payment\n-------\n";
        use BlockKind::*;
        assert_eq!(
            kinds_and_texts(md),
            [
                (Heading, "Master Services Agreement".to_string()),
                (Paragraph, "This Agreement is made\nbetween the parties.".to_string()),
                (Heading, "1. Fees".to_string()),
                (ListItem, "Fees are due in 30 days.".to_string()),
                (ListItem, "Late fees apply\nat 2% a month.".to_string()),
                (ListItem, "1. First term".to_string()),
                (ListItem, "2) Second term".to_string()),
                (Heading, "Payment".to_string()),
            ]
        );
    }

    #[test]
    fn code_fences_keep_content_without_markers() {
        let md = "Before\n\n```text\nline one\n  line two\n```\n\nAfter";
        let blocks = kinds_and_texts(md);
        assert_eq!(blocks[1], (BlockKind::Paragraph, "line one\n  line two".to_string()));
        assert_eq!(blocks.len(), 3);
    }

    #[test]
    fn inline_markup_is_stripped_but_escapes_and_snake_case_survive() {
        assert_eq!(
            inline("_Licensee_ shall *not* use `api_key` or ~~this~~"),
            "Licensee shall not use api_key or this"
        );
        assert_eq!(
            inline(r"a \*literal\* star and snake_case_name"),
            "a *literal* star and snake_case_name"
        );
        assert_eq!(inline("![logo](l.png) see <https://x.test>"), "logo see https://x.test");
        assert_eq!(inline("__Term__ and <b>bold</b>"), "Term and bold");
    }

    #[test]
    fn tables_become_cells_and_link_definitions_vanish() {
        use BlockKind::*;
        let md = "| Party | Role |\n|---|:---:|\n| Acme | Vendor |\n\n[ref]: https://x.test\n";
        assert_eq!(
            kinds_and_texts(md),
            [
                (TableCell, "Party".to_string()),
                (TableCell, "Role".to_string()),
                (TableCell, "Acme".to_string()),
                (TableCell, "Vendor".to_string()),
            ]
        );
    }
}
