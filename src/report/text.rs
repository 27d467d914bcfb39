//! Terminal report: a [`ScoreReport`] becomes plain text for reading in a terminal, with
//! ANSI colour only when [`Style::color`] is set. Without colour, evidence phrases are
//! marked «like this» so they stand out in a pipe or a file.

use std::fmt::Write;

use super::{
    breakdown_line, clip, evidence_ranges, highlight, label_name, location, points, wrap, Style,
};
use crate::classify::taxonomy::Taxonomy;
use crate::score::ScoreReport;

/// Columns the clause text and advice are wrapped at.
const WIDTH: usize = 90;

/// ANSI styling that turns into nothing when colour is off.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn dim(self, s: &str) -> String {
        self.wrap("2", s)
    }
    fn red(self, s: &str) -> String {
        self.wrap("1;31", s)
    }
    fn green(self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(self, s: &str) -> String {
        self.wrap("33", s)
    }
    fn evidence(self, s: &str) -> String {
        if self.0 {
            self.wrap("1;31", s)
        } else {
            format!("«{s}»")
        }
    }
    fn grade(self, grade: char, s: &str) -> String {
        match grade {
            'A' | 'B' => self.wrap("1;32", s),
            'C' => self.wrap("1;33", s),
            _ => self.wrap("1;31", s),
        }
    }
}

pub fn render(report: &ScoreReport, taxonomy: &Taxonomy, style: Style) -> String {
    let p = Paint(style.color);
    let mut out = String::new();
    let o = &mut out;
    // Writing to a String cannot fail; the results are ignored throughout.
    let _ = writeln!(o, "{}", p.bold(&format!("TermScore report: {}", report.file.display())));
    let _ = writeln!(
        o,
        "Side: {}    Score: {}",
        report.side.as_str(),
        p.grade(report.grade, &format!("{}/100 (grade {})", report.score, report.grade))
    );
    let _ = writeln!(o, "Breakdown: {}", breakdown_line(report));
    if !report.categories.is_empty() {
        let lost: Vec<String> = report
            .categories
            .iter()
            .map(|c| {
                format!(
                    "{} -{} ({} flag{})",
                    c.name,
                    points(c.points_lost),
                    c.flags,
                    plural(c.flags)
                )
            })
            .collect();
        paragraph(o, "By category: ", &lost.join("; "), "");
    }
    for warning in &report.warnings {
        let _ = writeln!(o, "{}", p.yellow(&format!("Warning: {warning}")));
    }

    section(o, p, &format!("RED FLAGS ({})", report.red_flags.len()));
    if report.red_flags.is_empty() {
        let _ = writeln!(o, "  None found.");
    }
    for (n, flag) in report.red_flags.iter().enumerate() {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "  {}. {}  {}",
            n + 1,
            p.red(&flag.name),
            p.dim(&format!("[{}, risk {}]", flag.label, flag.risk))
        );
        let _ = writeln!(
            o,
            "     {}, probability {:.2}, -{} points",
            location(flag.section.as_deref(), flag.clause_index, flag.page),
            flag.probability,
            points(flag.points)
        );
        let ranges = evidence_ranges(flag);
        for line in wrap(&flag.text, WIDTH - 7) {
            let text = &flag.text[line.clone()];
            let marked: String = highlight(text, &clip(&ranges, &line))
                .into_iter()
                .map(|(s, on)| if on { p.evidence(s) } else { s.to_string() })
                .collect();
            let _ = writeln!(o, "     | {marked}");
        }
        if !flag.why.is_empty() {
            paragraph(o, "     Why: ", &flag.why, "          ");
        }
        if !flag.suggestion.is_empty() {
            let _ = writeln!(o, "     {}", p.bold("Suggested replacement:"));
            paragraph(o, "       ", &flag.suggestion, "       ");
        }
    }

    section(o, p, &format!("PROTECTIONS PRESENT ({})", report.protections.len()));
    if report.protections.is_empty() {
        let _ = writeln!(o, "  None found.");
    }
    for prot in &report.protections {
        let _ = writeln!(
            o,
            "  {} {} (clause {}, probability {:.2}, +{} points)",
            p.green("+"),
            p.green(&prot.name),
            prot.clause_index,
            prot.probability,
            points(prot.points)
        );
    }

    section(o, p, &format!("MISSING PROTECTIONS ({})", report.missing_protections.len()));
    if report.missing_protections.is_empty() {
        let _ =
            writeln!(o, "  None: every protection the taxonomy expects for this side is there.");
    }
    for missing in &report.missing_protections {
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "  {} {}  {}",
            p.yellow("-"),
            p.yellow(&format!("No clause: {}", label_name(taxonomy, &missing.label))),
            p.dim(&format!("[{}, -{} points]", missing.id, points(missing.points)))
        );
        paragraph(o, "    Why: ", &missing.why, "         ");
        let _ = writeln!(o, "    {}", p.bold("Clause to add:"));
        paragraph(o, "      ", &missing.suggestion, "      ");
    }

    if !report.notes.is_empty() {
        section(o, p, "NEGOTIATION NOTES");
        for note in &report.notes {
            let because: Vec<&str> =
                note.because_of.iter().map(|l| label_name(taxonomy, l)).collect();
            let _ = writeln!(o);
            let _ = writeln!(o, "  * {}", p.dim(&format!("because of: {}", because.join(", "))));
            paragraph(o, "    ", &note.text, "    ");
        }
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn section(o: &mut String, p: Paint, title: &str) {
    let _ = writeln!(o);
    let _ = writeln!(o, "{}", p.bold(title));
}

/// Writes `text` wrapped to [`WIDTH`], the first line after `first`, the others after
/// `rest`.
fn paragraph(o: &mut String, first: &str, text: &str, rest: &str) {
    let width = WIDTH.saturating_sub(first.chars().count().max(rest.chars().count())).max(20);
    for (i, line) in wrap(text, width).into_iter().enumerate() {
        let lead = if i == 0 { first } else { rest };
        let _ = writeln!(o, "{lead}{}", &text[line]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> (ScoreReport, String) {
        let (report, taxonomy) = super::super::fixture::sample();
        let out = render(&report, &taxonomy, Style { color: false });
        (report, out)
    }

    #[test]
    fn plain_text_has_no_escape_codes_and_marks_evidence() {
        let (report, out) = plain();
        assert!(!out.contains('\x1b'), "{out}");
        assert!(out.contains(&format!("Score: {}/100 (grade {})", report.score, report.grade)));
        assert!(out.contains("«for any purpose»"), "{out}");
        // A phrase broken over two lines is marked on each; joined, it reads whole.
        let quoted: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("     | ")).collect();
        let joined = quoted.join(" ").replace("» «", " ");
        let at = joined.find("now known or hereafter devised»").expect("phrase marked");
        let before = &joined[..at];
        assert!(before.rfind('«') > before.rfind('»'), "{joined}");
        assert_eq!(out.matches('«').count(), out.matches('»').count());
        assert!(out.contains("«perpetual»") && out.contains("«irrevocable»"), "{out}");
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn plain_text_lists_every_section() {
        let (report, out) = plain();
        assert!(!report.red_flags.is_empty() && !report.missing_protections.is_empty());
        for flag in &report.red_flags {
            assert!(out.contains(&flag.name), "{} missing", flag.name);
            // The suggestion is wrapped, so compare its first words.
            let start: String = flag.suggestion.split(' ').take(6).collect::<Vec<_>>().join(" ");
            assert!(out.contains(&start), "{start}");
        }
        for prot in &report.protections {
            assert!(out.contains(&prot.name));
        }
        for missing in &report.missing_protections {
            assert!(out.contains(&missing.id));
        }
        assert!(out.contains("NEGOTIATION NOTES"));
        assert!(out.contains(&format!("Breakdown: {}", breakdown_line(&report))));
    }

    #[test]
    fn lines_stay_near_the_wrap_width() {
        let (_, out) = plain();
        for line in out.lines().filter(|l| l.starts_with("     |")) {
            // Markers add up to two characters per evidence phrase on a line.
            assert!(line.chars().count() <= WIDTH + 8, "{line}");
        }
    }

    #[test]
    fn colour_uses_ansi_codes_and_keeps_the_content() {
        let (report, taxonomy) = super::super::fixture::sample();
        let out = render(&report, &taxonomy, Style { color: true });
        assert!(out.contains("\x1b[1;31mfor any purpose\x1b[0m"), "{out}");
        assert!(!out.contains('«'));
        let stripped = strip_ansi(&out);
        for flag in &report.red_flags {
            assert!(stripped.contains(&flag.name));
        }
    }

    fn strip_ansi(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
