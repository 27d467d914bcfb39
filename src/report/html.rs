//! HTML report: a [`ScoreReport`] becomes one self-contained page (inline CSS, an inline
//! SVG chart, no scripts and no external resources): the score and grade, risk by
//! category, missing protections and notes, then the whole contract with flagged clauses
//! highlighted, evidence in `<mark>` and the explanations beside each clause.
//!
//! Stable anchors for tools and tests: `#score`, `#chart`, `#flags`, `#missing`,
//! `#notes`, `#protections`, `#clauses`, and `#clause-N` (with `data-clause-index="N"`) for
//! every clause, where N is the 0-based clause index of the JSON report.

use std::fmt::Write;

use super::{breakdown_line, evidence_ranges, highlight, label_name, location, points};
use crate::classify::taxonomy::Taxonomy;
use crate::score::{CategoryRisk, ScoreReport, ScoredClause};
use crate::segment::ClauseKind;

const CSS: &str = r#"
:root{--ink:#1d2330;--muted:#5b6474;--line:#dde1e8;--bg:#f6f7f9;--card:#fff;
--red:#b3261e;--redbg:#fdeceb;--amber:#9a6700;--green:#1a7f37;--greenbg:#e9f6ec;--mark:#ffe08a}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header.top{display:flex;gap:2rem;align-items:center;justify-content:space-between;
padding:1.5rem 2rem;background:var(--card);border-bottom:1px solid var(--line)}
h1{margin:0;font-size:1.5rem}h2{font-size:1.15rem;margin:0 0 .75rem}
h3{font-size:1rem;margin:0 0 .35rem}h4{font-size:.95rem;margin:0 0 .25rem}
.file{margin:.25rem 0 0;font-family:ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
.meta{margin:.25rem 0 0;color:var(--muted);font-size:.9rem}
#score{display:grid;grid-template-columns:auto auto;align-items:center;column-gap:1rem;
padding:1rem 1.5rem;border-radius:12px;border:2px solid currentColor;min-width:16rem}
#score .value{font-size:3.2rem;font-weight:700;line-height:1}
#score .value span{font-size:1.2rem;font-weight:400;color:var(--muted)}
#score .grade{font-size:2.6rem;font-weight:800;width:3.6rem;height:3.6rem;border-radius:50%;
display:flex;align-items:center;justify-content:center;color:#fff;background:var(--accent)}
#score .breakdown{grid-column:1/3;margin:.5rem 0 0;font-size:.85rem;color:var(--muted)}
.grade-good{--accent:var(--green)}.grade-fair{--accent:var(--amber)}.grade-poor{--accent:var(--red)}
#score{color:var(--accent)}
main{max-width:1280px;margin:0 auto;padding:1.5rem 2rem 3rem}
section{margin:0 0 1.5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem}
.summary{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1.5rem}
#chart svg{width:100%;height:auto;display:block}
#chart text{font:13px system-ui,"DejaVu Sans",sans-serif;fill:var(--ink)}
#chart .bar{fill:var(--red)}#chart .count{fill:var(--muted)}
ol.flags{margin:0;padding-left:1.25rem}ol.flags li{margin:.2rem 0}
ol.flags a{color:var(--red);font-weight:600;text-decoration:none}
ol.flags .where{color:var(--muted);font-size:.85rem}
.missing-list{display:grid;gap:1rem;
grid-template-columns:repeat(auto-fill,minmax(min(26rem,100%),1fr))}
.missing{border-left:4px solid var(--amber);padding:.25rem 0 .25rem 1rem}
.missing p{margin:.25rem 0}
.missing .id{color:var(--muted);font-size:.85rem;font-weight:400}
.tag{display:block;font-size:.8rem;font-weight:600;text-transform:uppercase;
letter-spacing:.04em;color:var(--muted);margin:.5rem 0 .2rem}
blockquote{margin:0;padding:.5rem .75rem;background:var(--bg);border-left:3px solid var(--line)}
ul.notes{margin:0;padding-left:1.25rem;font-size:.92rem}ul.notes li{margin:0 0 .6rem}
.because{color:var(--muted);font-size:.85rem}
ul.protections{margin:0;padding-left:1.25rem}
.clause{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:1.25rem;
padding:.6rem 1rem;border-radius:8px;margin:0 0 .4rem}
.clause .text p{margin:0}
.clause .num{display:inline-block;min-width:2.2rem;color:var(--muted);font-size:.8rem}
.clause .sec{font-weight:600;margin-right:.35rem}
.clause.flagged{background:var(--redbg);border-left:4px solid var(--red)}
.clause.protective{background:var(--greenbg);border-left:4px solid var(--green)}
.clause.kind-recital,.clause.kind-signature{color:var(--muted)}
mark{background:var(--mark);padding:0 .1em;border-radius:2px}
.explain{font-size:.9rem}
.note{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:.6rem .8rem;margin:0 0 .5rem}
.note.risk h4{color:var(--red)}.note.protect h4{color:var(--green)}
.note .meta{margin:0 0 .35rem;font-size:.8rem}.note p{margin:.25rem 0}
h3.heading{margin:1.2rem 0 .4rem;font-size:1rem}
footer{color:var(--muted);font-size:.85rem;text-align:center;padding:0 2rem 2rem}
@media (max-width:820px){header.top{flex-direction:column;align-items:flex-start;padding:1rem}
main{padding:1rem}.summary,.clause{grid-template-columns:minmax(0,1fr)}}
@media print{body{background:#fff}.clause{break-inside:avoid}}
"#;

pub fn render(report: &ScoreReport, taxonomy: &Taxonomy) -> String {
    let mut out = String::with_capacity(report.document_text.len() * 2 + 16 * 1024);
    let o = &mut out;
    let file = esc(&report.file.display().to_string());
    // Writing to a String cannot fail; the results are ignored throughout.
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"TermScore\">\n\
         <title>TermScore: {file} \u{2014} {}/100 ({})</title>\n\
         <style>{CSS}</style>\n</head>\n<body>\n",
        report.score, report.grade
    );
    header(o, report, &file);
    let _ = writeln!(o, "<main>\n<div class=\"summary\">");
    chart(o, &report.categories);
    flag_list(o, report);
    let _ = writeln!(o, "</div>");
    missing(o, report, taxonomy);
    notes(o, report, taxonomy);
    protections(o, report);
    clauses(o, report);
    let _ = writeln!(
        o,
        "</main>\n<footer>Generated by TermScore. Labels and probabilities come from a \
         classifier: read the clauses themselves before you sign.</footer>\n</body>\n</html>"
    );
    out
}

fn header(o: &mut String, report: &ScoreReport, file: &str) {
    let class = match report.grade {
        'A' | 'B' => "grade-good",
        'C' => "grade-fair",
        _ => "grade-poor",
    };
    let _ = write!(
        o,
        "<header class=\"top\">\n<div>\n<h1>TermScore report</h1>\n<p class=\"file\">{file}</p>\n\
         <p class=\"meta\">Scored for the <strong>{}</strong> side \u{b7} {} clauses \u{b7} \
         {} red flags \u{b7} {} missing protections</p>\n",
        report.side.as_str(),
        report.clauses.len(),
        report.red_flags.len(),
        report.missing_protections.len()
    );
    for warning in &report.warnings {
        let _ = writeln!(o, "<p class=\"meta warning\">Warning: {}</p>", esc(warning));
    }
    let _ = write!(
        o,
        "</div>\n<section id=\"score\" class=\"{class}\" data-score=\"{score}\" \
         data-grade=\"{grade}\" aria-label=\"Score {score} out of 100, grade {grade}\">\n\
         <div class=\"value\">{score}<span>/100</span></div>\n\
         <div class=\"grade\"><span>{grade}</span></div>\n<p class=\"breakdown\">{}</p>\n\
         </section>\n</header>\n",
        esc(&breakdown_line(report).replace(" - ", " \u{2212} ")),
        score = report.score,
        grade = report.grade,
    );
}

/// Horizontal bars of points lost per category, as inline SVG.
fn chart(o: &mut String, categories: &[CategoryRisk]) {
    let _ = writeln!(o, "<section id=\"chart\" class=\"card\">\n<h2>Risk by category</h2>");
    if categories.is_empty() {
        let _ = writeln!(o, "<p>No red flags, so no points lost.</p>\n</section>");
        return;
    }
    const ROW: f64 = 30.0;
    const LABEL: f64 = 240.0;
    const BAR: f64 = 300.0;
    const VALUE: f64 = 140.0;
    let max = categories.iter().map(|c| c.points_lost).fold(0.0_f64, f64::max).max(1.0);
    let height = ROW * categories.len() as f64 + 8.0;
    let _ = writeln!(
        o,
        "<svg viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" role=\"img\" \
         aria-labelledby=\"chart-title\"><title id=\"chart-title\">Points lost per category\
         </title>",
        w = LABEL + BAR + VALUE
    );
    for (i, c) in categories.iter().enumerate() {
        let y = ROW * i as f64 + 4.0;
        let width = (BAR * c.points_lost / max).max(2.0);
        let name = esc(&c.name);
        let flags = format!("{} flag{}", c.flags, if c.flags == 1 { "" } else { "s" });
        let _ = writeln!(
            o,
            "<g data-group=\"{group}\"><title>{name}: {lost} points lost, {flags}</title>\
             <text x=\"0\" y=\"{ty}\">{name}</text>\
             <rect class=\"bar\" x=\"{LABEL}\" y=\"{y}\" width=\"{width:.1}\" height=\"{bh}\" \
             rx=\"3\"/>\
             <text class=\"count\" x=\"{tx:.1}\" y=\"{ty}\">\u{2212}{lost} ({flags})</text></g>",
            group = esc(&c.group),
            lost = points(c.points_lost),
            ty = y + 15.0,
            bh = ROW - 10.0,
            tx = LABEL + width + 6.0,
        );
    }
    let _ = writeln!(o, "</svg>\n</section>");
}

fn flag_list(o: &mut String, report: &ScoreReport) {
    let _ = writeln!(
        o,
        "<section id=\"flags\" class=\"card\">\n<h2>Red flags ({})</h2>",
        report.red_flags.len()
    );
    if report.red_flags.is_empty() {
        let _ = writeln!(o, "<p>None found.</p>\n</section>");
        return;
    }
    let _ = writeln!(o, "<ol class=\"flags\">");
    for flag in &report.red_flags {
        let _ = writeln!(
            o,
            "<li><a href=\"#clause-{i}\">{}</a> <span class=\"where\">{} \u{b7} p {:.2} \u{b7} \
             \u{2212}{} points</span></li>",
            esc(&flag.name),
            esc(&location(flag.section.as_deref(), flag.clause_index, flag.page)),
            flag.probability,
            points(flag.points),
            i = flag.clause_index,
        );
    }
    let _ = writeln!(o, "</ol>\n</section>");
}

fn missing(o: &mut String, report: &ScoreReport, taxonomy: &Taxonomy) {
    let _ = writeln!(
        o,
        "<section id=\"missing\" class=\"card\">\n<h2>Missing protections ({})</h2>",
        report.missing_protections.len()
    );
    if report.missing_protections.is_empty() {
        let _ = writeln!(o, "<p>None: every protection expected for this side is there.</p>");
    }
    let _ = writeln!(o, "<div class=\"missing-list\">");
    for m in &report.missing_protections {
        let _ = writeln!(
            o,
            "<article class=\"missing\" data-rule=\"{id}\"><h3>No clause: {} \
             <span class=\"id\">{id} \u{b7} \u{2212}{} points</span></h3>\n<p>{}</p>\n\
             <span class=\"tag\">Clause to add</span><blockquote>{}</blockquote></article>",
            esc(label_name(taxonomy, &m.label)),
            points(m.points),
            esc(&m.why),
            esc(&m.suggestion),
            id = esc(&m.id),
        );
    }
    let _ = writeln!(o, "</div>\n</section>");
}

fn notes(o: &mut String, report: &ScoreReport, taxonomy: &Taxonomy) {
    if report.notes.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "<section id=\"notes\" class=\"card\">\n<h2>Negotiation notes</h2>\n<ul class=\"notes\">"
    );
    for note in &report.notes {
        let because: Vec<String> =
            note.because_of.iter().map(|l| esc(label_name(taxonomy, l))).collect();
        let _ = writeln!(
            o,
            "<li data-note=\"{}\"><span class=\"because\">Because of: {}</span><br>{}</li>",
            esc(&note.id),
            because.join(", "),
            esc(&note.text)
        );
    }
    let _ = writeln!(o, "</ul>\n</section>");
}

fn protections(o: &mut String, report: &ScoreReport) {
    let _ = writeln!(
        o,
        "<section id=\"protections\" class=\"card\">\n<h2>Protections present ({})</h2>",
        report.protections.len()
    );
    if report.protections.is_empty() {
        let _ = writeln!(o, "<p>None found.</p>\n</section>");
        return;
    }
    let _ = writeln!(o, "<ul class=\"protections\">");
    for p in &report.protections {
        let _ = writeln!(
            o,
            "<li><a href=\"#clause-{}\">{}</a> <span class=\"because\">clause {} \u{b7} p {:.2} \
             \u{b7} +{} points</span></li>",
            p.clause_index,
            esc(&p.name),
            p.clause_index,
            p.probability,
            points(p.points)
        );
    }
    let _ = writeln!(o, "</ul>\n</section>");
}

/// The whole contract, clause by clause, with the explanations beside flagged clauses.
fn clauses(o: &mut String, report: &ScoreReport) {
    let _ = writeln!(o, "<section id=\"clauses\" class=\"card\">\n<h2>Contract text</h2>");
    let mut heading: Option<&str> = None;
    for clause in &report.clauses {
        if let Some(h) = clause.heading.as_deref().filter(|h| Some(*h) != heading) {
            let _ = writeln!(o, "<h3 class=\"heading\">{}</h3>", esc(h));
        }
        heading = clause.heading.as_deref().or(heading);
        clause_block(o, report, clause);
    }
    let _ = writeln!(o, "</section>");
}

fn clause_block(o: &mut String, report: &ScoreReport, clause: &ScoredClause) {
    let flags: Vec<_> =
        report.red_flags.iter().filter(|f| f.clause_index == clause.index).collect();
    let prots: Vec<_> =
        report.protections.iter().filter(|p| p.clause_index == clause.index).collect();
    let mut class = String::from("clause");
    if !flags.is_empty() {
        class.push_str(" flagged");
    } else if !prots.is_empty() {
        class.push_str(" protective");
    }
    class.push_str(match clause.kind {
        ClauseKind::Clause => "",
        ClauseKind::Definition => " kind-definition",
        ClauseKind::Recital => " kind-recital",
        ClauseKind::Signature => " kind-signature",
        ClauseKind::Exhibit => " kind-exhibit",
    });
    let i = clause.index;
    let labels: Vec<&str> = clause.labels.iter().map(|l| l.label.as_str()).collect();
    let _ = write!(
        o,
        "<div class=\"{class}\" id=\"clause-{i}\" data-clause-index=\"{i}\" data-labels=\"{}\">\
         \n<div class=\"text\"><p><span class=\"num\" title=\"clause index\">{i}</span>",
        esc(&labels.join(" "))
    );
    if let Some(section) = clause.section.as_deref().filter(|s| !clause.text.starts_with(*s)) {
        let _ = write!(o, "<span class=\"sec\">{}</span>", esc(section));
    }
    // Evidence of every flag on this clause; the offsets point into the clause text.
    let ranges: Vec<_> = flags.iter().flat_map(|f| evidence_ranges(f)).collect();
    for (piece, on) in highlight(&clause.text, &ranges) {
        if on {
            let _ = write!(o, "<mark>{}</mark>", esc(piece));
        } else {
            o.push_str(&esc(piece));
        }
    }
    let _ = writeln!(o, "</p></div>\n<aside class=\"explain\">");
    for flag in &flags {
        let _ = writeln!(
            o,
            "<div class=\"note risk\" data-label=\"{}\"><h4>{}</h4>\n<p class=\"meta\">\
             probability {:.2} \u{b7} risk {} \u{b7} \u{2212}{} points{}</p>\n<p>{}</p>\n\
             <span class=\"tag\">Suggested replacement</span><blockquote>{}</blockquote></div>",
            esc(&flag.label),
            esc(&flag.name),
            flag.probability,
            flag.risk,
            points(flag.points),
            flag.page.map(|p| format!(" \u{b7} page {p}")).unwrap_or_default(),
            esc(&flag.why),
            esc(&flag.suggestion),
        );
    }
    for p in &prots {
        let _ = writeln!(
            o,
            "<div class=\"note protect\" data-label=\"{}\"><h4>{}</h4>\n<p class=\"meta\">\
             protection \u{b7} probability {:.2} \u{b7} +{} points</p></div>",
            esc(&p.label),
            esc(&p.name),
            p.probability,
            points(p.points)
        );
    }
    let _ = writeln!(o, "</aside>\n</div>");
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn page_is_self_contained_and_escapes_contract_text() {
        let (report, taxonomy) = super::super::fixture::sample();
        let out = render(&report, &taxonomy);
        assert!(out.starts_with("<!doctype html>") && out.ends_with("</html>\n"));
        assert!(!out.contains("<script"), "contract text must not become a script");
        assert!(
            out.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;cash&quot;")
        );
        for attr in ["src=", "http:", "https:", "url(", "@import"] {
            assert!(!out.contains(attr), "{attr} found");
        }
        assert_eq!(out.matches("<html").count(), 1);
    }

    #[test]
    fn every_clause_has_an_anchor_and_flagged_ones_carry_their_notes() {
        let (report, taxonomy) = super::super::fixture::sample();
        let out = render(&report, &taxonomy);
        assert!(out.contains("<section id=\"score\""));
        assert!(out.contains(&format!("data-score=\"{}\"", report.score)));
        for id in ["chart", "missing", "clauses", "flags", "notes", "protections"] {
            assert!(out.contains(&format!("id=\"{id}\"")), "#{id} missing");
        }
        for c in &report.clauses {
            assert_eq!(out.matches(&format!("id=\"clause-{}\"", c.index)).count(), 1);
        }
        let flagged = "<div class=\"clause flagged\" id=\"clause-0\" data-clause-index=\"0\"";
        assert!(out.contains(flagged), "{out}");
        assert!(out.contains("<div class=\"clause protective\" id=\"clause-2\""));
        assert!(out.contains("<mark>for any purpose</mark> <mark>in any media</mark>"));
        assert!(out.contains("<mark>perpetual</mark> and <mark>irrevocable</mark>"));
        // The explanations sit inside the flagged clause's block, before the next clause.
        let block = &out[out.find(flagged).unwrap_or(0)..out.find("id=\"clause-1\"").unwrap_or(0)];
        for flag in &report.red_flags {
            assert!(block.contains(&esc(&flag.name)) && block.contains(&esc(&flag.why)));
            assert!(block.contains(&esc(&flag.suggestion)));
        }
    }

    #[test]
    fn chart_has_one_bar_per_category_scaled_to_the_largest() {
        let cats = vec![
            CategoryRisk { group: "a".into(), name: "A & B".into(), points_lost: 20.0, flags: 2 },
            CategoryRisk { group: "b".into(), name: "C".into(), points_lost: 5.0, flags: 1 },
        ];
        let mut out = String::new();
        chart(&mut out, &cats);
        assert_eq!(out.matches("<rect").count(), 2);
        assert!(out.contains("width=\"300.0\"") && out.contains("width=\"75.0\""), "{out}");
        assert!(out.contains(">A &amp; B</text>"));
        let mut empty = String::new();
        chart(&mut empty, &[]);
        assert!(!empty.contains("<svg") && empty.contains("id=\"chart\""));
    }
}
