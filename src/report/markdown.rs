//! Markdown report: a [`ScoreReport`] becomes a Markdown document with a summary table,
//! a table of risk by category, each red flag's clause quoted with its evidence in bold,
//! and the missing protections and negotiation notes. Contract text is escaped so it can
//! never turn into Markdown or HTML markup.

use std::fmt::Write;

use super::{breakdown_line, evidence_ranges, highlight, label_name, location, points};
use crate::classify::taxonomy::Taxonomy;
use crate::score::ScoreReport;

pub fn render(report: &ScoreReport, taxonomy: &Taxonomy) -> String {
    let mut out = String::new();
    let o = &mut out;
    // Writing to a String cannot fail; the results are ignored throughout.
    let _ = writeln!(o, "# TermScore report: {}\n", escape(&report.file.display().to_string()));
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| File | {} |", escape(&report.file.display().to_string()));
    let _ = writeln!(o, "| Side | {} |", report.side.as_str());
    let _ = writeln!(o, "| Score | **{}/100** (grade **{}**) |", report.score, report.grade);
    let _ = writeln!(o, "| Breakdown | {} |", escape(&breakdown_line(report)));
    let _ = writeln!(o, "| Red flags | {} |", report.red_flags.len());
    let _ = writeln!(o, "| Protections present | {} |", report.protections.len());
    let _ = writeln!(o, "| Missing protections | {} |", report.missing_protections.len());
    for warning in &report.warnings {
        let _ = writeln!(o, "\n> **Warning:** {}", escape(warning));
    }

    let _ = writeln!(o, "\n## Risk by category\n");
    if report.categories.is_empty() {
        let _ = writeln!(o, "No red flags.");
    } else {
        let _ = writeln!(o, "| Category | Red flags | Points lost |\n|---|--:|--:|");
        for c in &report.categories {
            let _ =
                writeln!(o, "| {} | {} | {} |", escape(&c.name), c.flags, points(c.points_lost));
        }
    }

    let _ = writeln!(o, "\n## Red flags\n");
    if report.red_flags.is_empty() {
        let _ = writeln!(o, "None found.");
    }
    for (n, flag) in report.red_flags.iter().enumerate() {
        let _ = writeln!(o, "### {}. {}\n", n + 1, escape(&flag.name));
        let _ = writeln!(
            o,
            "*{}; probability {:.2}; risk {}; \u{2212}{} points* (`{}`)\n",
            escape(&location(flag.section.as_deref(), flag.clause_index, flag.page)),
            flag.probability,
            flag.risk,
            points(flag.points),
            flag.label
        );
        let _ = writeln!(o, "> {}\n", quote(&flag.text, &evidence_ranges(flag)));
        if !flag.why.is_empty() {
            let _ = writeln!(o, "**Why it matters:** {}\n", escape(&flag.why));
        }
        if !flag.suggestion.is_empty() {
            let _ = writeln!(o, "**Suggested replacement:**\n\n> {}\n", escape(&flag.suggestion));
        }
    }

    let _ = writeln!(o, "## Protections present\n");
    if report.protections.is_empty() {
        let _ = writeln!(o, "None found.\n");
    } else {
        let _ = writeln!(o, "| Protection | Clause | Probability | Points |\n|---|--:|--:|--:|");
        for p in &report.protections {
            let _ = writeln!(
                o,
                "| {} | {} | {:.2} | +{} |",
                escape(&p.name),
                p.clause_index,
                p.probability,
                points(p.points)
            );
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## Missing protections\n");
    if report.missing_protections.is_empty() {
        let _ = writeln!(o, "None: every protection expected for this side is there.\n");
    }
    for m in &report.missing_protections {
        let _ = writeln!(
            o,
            "### No clause: {}\n\n*`{}`; \u{2212}{} points*\n",
            escape(label_name(taxonomy, &m.label)),
            m.id,
            points(m.points)
        );
        let _ = writeln!(o, "**Why it matters:** {}\n", escape(&m.why));
        let _ = writeln!(o, "**Clause to add:**\n\n> {}\n", escape(&m.suggestion));
    }

    if !report.notes.is_empty() {
        let _ = writeln!(o, "## Negotiation notes\n");
        for note in &report.notes {
            let because: Vec<String> =
                note.because_of.iter().map(|l| escape(label_name(taxonomy, l))).collect();
            let _ = writeln!(o, "- **{}:** {}", because.join(", "), escape(&note.text));
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Clause text for a blockquote, evidence in bold. Whitespace at the edges of a phrase is
/// kept outside the `**` so the emphasis is recognised.
fn quote(text: &str, evidence: &[std::ops::Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, (piece, on)) in highlight(text, evidence).into_iter().enumerate() {
        if !on {
            out.push_str(&escape_at(piece, i == 0));
            continue;
        }
        let trimmed = piece.trim();
        if trimmed.is_empty() {
            out.push_str(piece);
            continue;
        }
        let lead = &piece[..piece.len() - piece.trim_start().len()];
        let tail = &piece[piece.trim_end().len()..];
        // NOTE: CommonMark does not close `**` between punctuation and a letter (`**a,**b`);
        // evidence patterns end at word boundaries, so this does not arise in practice.
        let _ = write!(out, "{lead}**{}**{tail}", escape_at(trimmed, i == 0 && lead.is_empty()));
    }
    out
}

/// Escapes text so it renders literally inside a paragraph, table cell or blockquote line.
fn escape(text: &str) -> String {
    escape_at(text, true)
}

/// Escapes Markdown and HTML syntax. Newlines become spaces so a value stays on its line;
/// at the start of a line, list and heading markers are escaped too.
fn escape_at(text: &str, line_start: bool) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            // An entity such as `&copy;` would otherwise render as a symbol.
            '&' if looks_like_entity(&chars[i + 1..]) => out.push_str("\\&"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    if line_start {
        let first = out.chars().next();
        if matches!(first, Some('-' | '+' | '=')) {
            out.insert(0, '\\');
        } else if let Some(digits) = out.find(|c: char| !c.is_ascii_digit()) {
            // `1. ` or `1) ` starts an ordered list.
            let rest = &out[digits..];
            if digits > 0 && (rest.starts_with(". ") || rest.starts_with(") ") || rest.len() == 1) {
                out.insert(digits, '\\');
            }
        }
    }
    out
}

fn looks_like_entity(rest: &[char]) -> bool {
    let name: Vec<&char> =
        rest.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '#').collect();
    !name.is_empty() && rest.get(name.len()) == Some(&';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("a*b_c `d` [e](f) <g> | h"),
            "a\\*b\\_c \\`d\\` \\[e\\](f) \\<g\\> \\| h"
        );
        assert_eq!(escape("1. Licence"), "1\\. Licence");
        assert_eq!(escape("12) Fees"), "12\\) Fees");
        assert_eq!(escape("- item"), "\\- item");
        assert_eq!(escape("# title"), "\\# title");
        assert_eq!(escape("3.1 Licence and 10. later"), "3.1 Licence and 10. later");
        assert_eq!(escape("Smith & Co &copy; two\nlines"), "Smith & Co \\&copy; two lines");
    }

    #[test]
    fn quote_bolds_evidence_without_inner_spaces() {
        let text = "use it for any purpose whatsoever, in all media";
        assert_eq!(
            quote(text, &[10..33, 34..47]),
            "use it for **any purpose whatsoever**, **in all media**"
        );
        assert_eq!(
            quote("1. Grant for any use", &[std::ops::Range { start: 0, end: 8 }]),
            "**1\\. Grant** for any use"
        );
    }

    #[test]
    fn report_has_all_sections_and_escapes_contract_text() {
        let (report, taxonomy) = super::super::fixture::sample();
        let out = render(&report, &taxonomy);
        for heading in [
            "# TermScore report: contracts/illustration.txt",
            "## Risk by category",
            "## Red flags",
            "## Protections present",
            "## Missing protections",
            "## Negotiation notes",
        ] {
            assert!(out.contains(heading), "{heading} missing:\n{out}");
        }
        assert!(out.contains(&format!(
            "| Score | **{}/100** (grade **{}**) |",
            report.score, report.grade
        )));
        assert!(
            out.contains("**for any purpose** **in any media** **now known or hereafter devised**"),
            "{out}"
        );
        for flag in &report.red_flags {
            assert!(out.contains(&format!(". {}\n", flag.name)));
        }
        for m in &report.missing_protections {
            assert!(out.contains(&format!("`{}`", m.id)));
        }
        assert!(out.contains("| IP licences | 2 | 27.3 |"), "{out}");
        assert!(out.ends_with(".\n") || out.ends_with("|\n"), "{out}");
        assert!(!out.contains("<script>"));
    }
}
