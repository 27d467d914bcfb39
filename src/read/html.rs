//! HTML: a page becomes heading, paragraph, list item and table cell blocks; navigation,
//! page furniture and scripts are dropped, whitespace is collapsed and entities decoded.

use std::path::Path;

use scraper::{node::Element, Html, Node};

use super::{from_paragraphs, BlockKind, Document, Format};

/// Elements whose whole subtree is not contract text.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "head",
    "svg", "iframe", "object", "button", "select", "textarea",
];

/// ARIA roles that mark page furniture rather than content.
const DROPPED_ROLES: &[&str] = &["navigation", "banner", "contentinfo"];

/// Elements that end the current block when they open or close.
const BLOCK_LEVEL: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "hr",
    "html",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// True when the start of `text` looks like HTML: a doctype, an `<html>` tag or one of the
/// tags a page body starts with.
pub(super) fn looks_like_html(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(1024).collect::<String>().to_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        return true;
    }
    if !head.starts_with('<') {
        return false;
    }
    ["<html", "<head", "<body", "<meta ", "<title>", "<div", "<p>", "<h1", "<table"]
        .iter()
        .any(|tag| head.contains(tag))
}

/// Reads decoded HTML text.
pub(super) fn read(path: &Path, text: &str) -> Document {
    let html = Html::parse_document(text);
    let mut walker = Walker::default();
    // An explicit stack rather than recursion: hostile input may nest very deeply.
    let mut stack = vec![(html.tree.root(), false)];
    while let Some((node, closing)) = stack.pop() {
        if closing {
            if let Node::Element(el) = node.value() {
                walker.close(el.name());
            }
            continue;
        }
        match node.value() {
            Node::Text(t) => walker.push_text(t),
            Node::Element(el) if is_dropped(el) => continue,
            Node::Element(el) => walker.open(el.name()),
            _ => {}
        }
        stack.push((node, true));
        stack.extend(node.children().rev().map(|child| (child, false)));
    }
    walker.flush();
    from_paragraphs(path, Format::Html, walker.blocks.into_iter().map(|(k, t)| (k, t, None)))
}

fn is_dropped(el: &Element) -> bool {
    DROPPED.contains(&el.name())
        || el.attr("hidden").is_some()
        || el.attr("aria-hidden") == Some("true")
        || el.attr("role").is_some_and(|role| {
            role.split_whitespace().any(|r| DROPPED_ROLES.iter().any(|d| r.eq_ignore_ascii_case(d)))
        })
}

/// Collects text into blocks while walking the tree.
#[derive(Default)]
struct Walker {
    blocks: Vec<(BlockKind, String)>,
    /// Kinds of the open block-level elements; the innermost decides the current kind.
    kinds: Vec<BlockKind>,
    /// Depth of open `<pre>` elements, inside which line breaks are kept.
    pre: usize,
    buffer: String,
    pending_space: bool,
}

impl Walker {
    fn kind(&self) -> BlockKind {
        self.kinds.last().copied().unwrap_or(BlockKind::Paragraph)
    }

    fn open(&mut self, name: &str) {
        if name == "br" {
            self.buffer.push('\n');
            self.pending_space = false;
            return;
        }
        if !BLOCK_LEVEL.contains(&name) {
            return;
        }
        self.flush();
        let kind = match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => BlockKind::Heading,
            "li" => BlockKind::ListItem,
            "td" | "th" => BlockKind::TableCell,
            "caption" => BlockKind::Paragraph,
            // A paragraph inside a list item or cell still belongs to that item or cell.
            _ => self.kind(),
        };
        self.kinds.push(kind);
        if name == "pre" {
            self.pre += 1;
        }
    }

    fn close(&mut self, name: &str) {
        if !BLOCK_LEVEL.contains(&name) {
            return;
        }
        self.flush();
        self.kinds.pop();
        if name == "pre" {
            self.pre = self.pre.saturating_sub(1);
        }
    }

    fn push_text(&mut self, text: &str) {
        for c in text.chars() {
            if c == '\n' && self.pre > 0 {
                self.buffer.push('\n');
                self.pending_space = false;
            } else if c.is_whitespace() && c != '\u{A0}' {
                self.pending_space = true;
            } else {
                if self.pending_space && !self.buffer.is_empty() && !self.buffer.ends_with('\n') {
                    self.buffer.push(' ');
                }
                self.pending_space = false;
                self.buffer.push(if c == '\u{A0}' { ' ' } else { c });
            }
        }
    }

    fn flush(&mut self) {
        let text = std::mem::take(&mut self.buffer);
        self.pending_space = false;
        let text: Vec<&str> = text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect();
        if !text.is_empty() {
            self.blocks.push((self.kind(), text.join("\n")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_and_texts(html: &str) -> Vec<(BlockKind, String)> {
        let doc = read(Path::new("a.html"), html);
        doc.blocks.iter().map(|b| (b.kind, doc.block_text(b).to_string())).collect()
    }

    #[test]
    fn detects_html_by_content() {
        assert!(looks_like_html("\n  <!DOCTYPE html><p>x"));
        assert!(looks_like_html("<div class=a>Terms</div>"));
        assert!(!looks_like_html("Terms < Conditions"));
        assert!(!looks_like_html("# Title\n<p>inline html in markdown</p>"));
    }

    #[test]
    fn keeps_blocks_and_drops_page_furniture() {
        let html = r#"<html><head><title>T</title><style>p{}</style></head><body>
            <div role="navigation">Home | Pricing</div><header>Site</header>
            <h2>1.  Licence</h2>
            <p>The   Licensor&nbsp;grants &amp; <b>keeps</b>
               rights.<script>alert(1)</script></p>
            <ul><li>First <em>item</em><ul><li>Nested</li></ul></li></ul>
            <table><tr><th>Fee</th><td><p>€10</p></td></tr></table>
            <footer>© 2024</footer><div>Line one<br>line two</div></body></html>"#;
        use BlockKind::*;
        assert_eq!(
            kinds_and_texts(html),
            [
                (Heading, "1. Licence".to_string()),
                (Paragraph, "The Licensor grants & keeps rights.".to_string()),
                (ListItem, "First item".to_string()),
                (ListItem, "Nested".to_string()),
                (TableCell, "Fee".to_string()),
                (TableCell, "€10".to_string()),
                (Paragraph, "Line one\nline two".to_string()),
            ]
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let html = "<div>".repeat(10_000) + "deep" + &"</div>".repeat(10_000);
        assert_eq!(kinds_and_texts(&html), [(BlockKind::Paragraph, "deep".to_string())]);
    }
}
