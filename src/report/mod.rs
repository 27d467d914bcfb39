//! Reports: a [`ScoreReport`] becomes text for a terminal, JSON, Markdown or a
//! self-contained HTML page.

mod html;
mod json;
mod markdown;
mod text;

use std::ops::Range;

use crate::classify::taxonomy::Taxonomy;
use crate::score::{RedFlag, ScoreReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Html => "html",
        }
    }
}

/// Presentation choices that do not change content.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colour (text format only).
    pub color: bool,
}

/// Renders a report; the output ends with a newline.
pub fn render(report: &ScoreReport, format: Format, taxonomy: &Taxonomy, style: Style) -> String {
    match format {
        Format::Text => text::render(report, taxonomy, style),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report, taxonomy),
        Format::Html => html::render(report, taxonomy),
    }
}

/// Points with at most two decimals and no trailing zeros: `16.74`, `20`, `0.6`.
fn points(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The score arithmetic in one line: `100 - risks 38.5 - missing 20 + protections 0.6`.
fn breakdown_line(report: &ScoreReport) -> String {
    let b = &report.breakdown;
    format!(
        "{} - risks {} - missing {} + protections {}",
        points(b.start),
        points(b.risk_points),
        points(b.missing_points),
        points(b.protection_points)
    )
}

/// Where a clause sits: `section 4.3, clause 7, page 2` (the clause index is 0-based, as in
/// the JSON report and the HTML anchors).
fn location(section: Option<&str>, clause_index: usize, page: Option<u32>) -> String {
    let mut parts = Vec::with_capacity(3);
    if let Some(section) = section.filter(|s| !s.trim().is_empty()) {
        parts.push(format!("section {}", section.trim()));
    }
    parts.push(format!("clause {clause_index}"));
    if let Some(page) = page {
        parts.push(format!("page {page}"));
    }
    parts.join(", ")
}

/// The display name of a label, or its id when the taxonomy does not know it.
fn label_name<'a>(taxonomy: &'a Taxonomy, id: &'a str) -> &'a str {
    taxonomy.get(id).map(|l| l.name.as_str()).unwrap_or(id)
}

/// A flag's evidence as byte ranges into its clause text.
fn evidence_ranges(flag: &RedFlag) -> Vec<Range<usize>> {
    flag.evidence.iter().map(|e| e.start..e.end).collect()
}

/// Splits `text` into pieces that are outside (`false`) or inside (`true`) the given byte
/// ranges. Ranges may overlap or come in any order; ranges that are empty, run past the end
/// or do not fall on character boundaries are ignored, so bad offsets never panic. The
/// pieces joined give back `text`.
fn highlight<'a>(text: &'a str, ranges: &[Range<usize>]) -> Vec<(&'a str, bool)> {
    let mut valid: Vec<Range<usize>> = ranges
        .iter()
        .filter(|r| {
            r.start < r.end
                && r.end <= text.len()
                && text.is_char_boundary(r.start)
                && text.is_char_boundary(r.end)
        })
        .cloned()
        .collect();
    valid.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(valid.len());
    for r in valid {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut pieces = Vec::with_capacity(merged.len() * 2 + 1);
    let mut at = 0;
    for r in merged {
        if r.start > at {
            pieces.push((&text[at..r.start], false));
        }
        pieces.push((&text[r.clone()], true));
        at = r.end;
    }
    if at < text.len() {
        pieces.push((&text[at..], false));
    }
    pieces
}

/// Byte ranges of the lines of `text` wrapped at `width` characters. Words are never
/// split; a word longer than `width` gets a line of its own. Whitespace between lines is
/// dropped.
fn wrap(text: &str, width: usize) -> Vec<Range<usize>> {
    let mut lines = Vec::new();
    let mut current: Option<(Range<usize>, usize)> = None;
    let mut pos = 0;
    for word in text.split_whitespace() {
        let start = pos + text[pos..].find(word).unwrap_or(0);
        let end = start + word.len();
        pos = end;
        let chars = word.chars().count();
        current = match current {
            Some((line, used)) if used + 1 + chars <= width => {
                Some((line.start..end, used + 1 + chars))
            }
            Some((line, _)) => {
                lines.push(line);
                Some((start..end, chars))
            }
            None => Some((start..end, chars)),
        };
    }
    if let Some((line, _)) = current {
        lines.push(line);
    }
    lines
}

/// Clips `ranges` to `line` and shifts them to be relative to its start.
fn clip(ranges: &[Range<usize>], line: &Range<usize>) -> Vec<Range<usize>> {
    ranges
        .iter()
        .filter(|r| r.start < line.end && r.end > line.start)
        .map(|r| r.start.max(line.start) - line.start..r.end.min(line.end) - line.start)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_drop_trailing_zeros() {
        assert_eq!(points(20.0), "20");
        assert_eq!(points(16.74), "16.74");
        assert_eq!(points(0.6), "0.6");
        assert_eq!(points(0.0), "0");
        assert_eq!(points(-0.001), "0");
    }

    #[test]
    fn location_names_what_is_known() {
        assert_eq!(location(Some("4.3"), 7, Some(2)), "section 4.3, clause 7, page 2");
        assert_eq!(location(None, 0, None), "clause 0");
        assert_eq!(location(Some("  "), 3, None), "clause 3");
    }

    #[test]
    fn highlight_merges_overlaps_and_rejoins_to_the_text() {
        let text = "grant for any purpose in any media now known";
        let pieces = highlight(text, &[29..34, 6..21, 10..17, 31..33]);
        let joined: String = pieces.iter().map(|(s, _)| *s).collect();
        assert_eq!(joined, text);
        let marked: Vec<&str> = pieces.iter().filter(|(_, on)| *on).map(|(s, _)| *s).collect();
        assert_eq!(marked, ["for any purpose", "media"]);
    }

    #[test]
    fn highlight_ignores_bad_offsets() {
        let text = "café rights";
        // 4 is inside the two-byte `é`; 5..99 runs past the end; 7..7 is empty.
        let pieces = highlight(text, &[2..4, 5..99, 7..7]);
        assert_eq!(pieces, [(text, false)]);
        let pieces = highlight(text, &[Range { start: 6, end: 12 }]);
        assert_eq!(pieces, [("café ", false), ("rights", true)]);
    }

    #[test]
    fn wrap_keeps_lines_within_width_and_words_whole() {
        let text = "the client may use the work for any purpose in any media now known or later";
        let lines = wrap(text, 20);
        assert!(lines.len() > 3);
        for line in &lines {
            assert!(text[line.clone()].chars().count() <= 20, "{:?}", &text[line.clone()]);
        }
        let words: Vec<&str> = lines.iter().flat_map(|l| text[l.clone()].split(' ')).collect();
        assert_eq!(words, text.split(' ').collect::<Vec<_>>());
        let long = wrap("a supercalifragilistic b", 5);
        assert_eq!(long, [0..1, 2..22, 23..24]);
        assert!(wrap("   ", 10).is_empty());
    }

    #[test]
    fn clip_shifts_ranges_into_the_line() {
        assert_eq!(clip(&[2..8, 12..15, 30..40], &(5..20)), [0..3, 7..10]);
    }
}

/// A small scored contract for the renderers' unit tests, built by the real scoring
/// engine from hand-chosen probabilities.
#[cfg(test)]
mod fixture {
    use std::path::Path;

    use crate::classify::taxonomy::{Side, Taxonomy};
    use crate::read::{self, BlockKind, Format};
    use crate::score::{engine, ScoreReport};
    use crate::segment::{self, SegmentOptions};

    const LABELS: [&str; 4] = [
        "license_grant",
        "irrevocable_or_perpetual_license",
        "license_broad_purpose",
        "cap_on_liability",
    ];

    /// Clause texts with their probabilities, in [`LABELS`] order.
    const CLAUSES: [(&str, [f32; 4]); 4] = [
        ("ILLUSTRATION AGREEMENT", [0.01, 0.0, 0.0, 0.0]),
        (
            "1. Licence. Designer grants Client a non-exclusive, perpetual and irrevocable licence \
             to use the Illustrations for any purpose in any media now known or hereafter devised.",
            [0.97, 0.88, 0.93, 0.02],
        ),
        (
            "2. Fees. Client pays the fees in <script>alert('x')</script> & \"cash\" within 30 \
             days.",
            [0.05, 0.01, 0.02, 0.03],
        ),
        (
            "3. Liability. Designer's total liability under this Agreement shall not exceed the \
             Fees paid.",
            [0.02, 0.01, 0.0, 0.81],
        ),
    ];

    pub(super) fn sample() -> (ScoreReport, Taxonomy) {
        let taxonomy = Taxonomy::bundled();
        let doc = read::from_paragraphs(
            Path::new("contracts/illustration.txt"),
            Format::Text,
            CLAUSES.iter().map(|(t, _)| (BlockKind::Paragraph, t.to_string(), None)),
        );
        let clauses = segment::segment(&doc, &SegmentOptions::default());
        // The title is a heading, never a clause: one clause per other paragraph.
        assert_eq!(clauses.len(), CLAUSES.len() - 1, "one clause per numbered paragraph");
        let probs: Vec<Vec<f32>> = CLAUSES[1..].iter().map(|(_, p)| p.to_vec()).collect();
        let labels: Vec<String> = LABELS.iter().map(|l| l.to_string()).collect();
        let report =
            engine::assemble(&doc, clauses, &probs, &labels, &[0.5; 4], &taxonomy, Side::Provider);
        (report, taxonomy)
    }
}
