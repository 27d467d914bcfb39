//! Clause segmentation: a [`Document`] becomes a list of [`Clause`]s, each with its
//! printed section number, the heading it sits under, its span in the document
//! text and its page.

use std::ops::Range;

use crate::read::Document;

mod fit;
pub mod numbering;
pub mod sentences;
pub mod tokens;
mod units;

use numbering::Style;
pub use tokens::{TokenizerError, WordPieceCounter};

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
///
/// The segmenter relies on two bounds that WordPiece meets: a text has at least one
/// token per whitespace-separated word and at most one per non-whitespace character,
/// plus the special tokens (`count("")`).
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

/// A clause before its text is filled in.
struct Piece {
    span: Range<usize>,
    section: Option<String>,
    heading: Option<String>,
    kind: ClauseKind,
    page: Option<u32>,
    /// A heading lies between this piece and the previous one.
    after_heading: bool,
}

/// Fewer words than this make a fragment, merged into a neighbour or dropped.
const MIN_WORDS: usize = 4;

/// Splits a document into clauses.
///
/// Provisions are found line by line (see [`units`]): a line that starts with a
/// section number starts a provision, a heading line names the provisions after
/// it, signature lines and page furniture are recognised, and every other line
/// continues the provision before it. A provision is kept together with its
/// sub-items while the whole fits `opts.max_tokens`; otherwise it is cut at its
/// sub-items, then at sentences, then at ";", ":" and ", and", then between words,
/// packing the parts greedily so that as few cuts as possible are made. Fragments
/// under four words are merged into a neighbour, or dropped when they are page
/// furniture. Title lines printed before the first provision (name, parties,
/// date) are part of the first clause rather than a heading alone.
///
/// `section` is the number as printed on the provision itself ("3.1", "(a)",
/// "Article IV"); unnumbered text and the parts of a cut provision carry the
/// provision's number, or the last article, section or decimal number above them.
/// NOTE: sub-clauses do not carry the full path ("3.1(a)"): lettered and roman
/// items are ambiguous ("(i)" the letter or the numeral) and building the path
/// would need a numbering-style stack with look-ahead.
pub fn segment(doc: &Document, opts: &SegmentOptions<'_>) -> Vec<Clause> {
    let fitter =
        fit::Fitter { text: &doc.text, max_tokens: opts.max_tokens, counter: opts.counter };
    let units = units::units(doc);
    let mut pieces: Vec<Piece> = Vec::new();
    for run in runs(&doc.text, &units) {
        let run = &units[run];
        let ranges = if run.len() == 1 {
            fitter.fit(run[0].span.clone())
        } else {
            fitter.fit_run(run.iter().map(|u| u.span.clone()).collect())
        };
        let head = &run[0];
        for (i, r) in ranges.into_iter().enumerate() {
            let unit = run.iter().rev().find(|u| u.span.start <= r.start).unwrap_or(head);
            let section = if r.start > unit.span.start {
                match numbering::leading_marker(&doc.text[r.clone()]) {
                    Some(m) if m.style != Style::Bullet => m.printed.or(unit.section.clone()),
                    _ => unit.section.clone(),
                }
            } else {
                unit.section.clone()
            };
            let mut kind = unit.kind;
            if kind == ClauseKind::Clause && head.kind == ClauseKind::Definition {
                kind = ClauseKind::Definition;
            } else if kind == ClauseKind::Clause && r.start > unit.span.start {
                // A part cut from a list of definitions may start a new definition.
                let body = &doc.text[r.clone()];
                let strip = numbering::leading_marker(body).map_or(0, |m| m.len);
                if numbering::is_definition(&body[strip..]) {
                    kind = ClauseKind::Definition;
                }
            }
            pieces.push(Piece {
                kind,
                span: r,
                section,
                heading: unit.heading.clone(),
                page: unit.page,
                after_heading: i == 0 && head.after_heading,
            });
        }
    }
    let pieces = merge_fragments(&doc.text, pieces, opts);
    pieces
        .into_iter()
        .enumerate()
        .map(|(index, p)| Clause {
            index,
            section: p.section,
            heading: p.heading,
            kind: p.kind,
            text: units::squash(&doc.text[p.span.clone()]),
            span: p.span,
            page: p.page,
        })
        .collect()
}

/// Groups provisions into runs that are kept together when they fit: a provision
/// with its lettered or bulleted items, its deeper decimal sub-sections ("14.1.1"
/// under "14.1"), and the lines that follow a lead-in ending with ":".
fn runs(text: &str, units: &[units::Unit]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let joins = out.last().is_some_and(|run| {
            let head = &units[run.start];
            let prev = &units[i - 1];
            let compatible = u.kind == head.kind
                || (head.kind == ClauseKind::Definition && u.kind == ClauseKind::Clause);
            let deeper = u.style == Some(Style::Decimal)
                && match (&head.section, &u.section) {
                    (Some(h), Some(s)) => {
                        s.len() > h.len()
                            && s.starts_with(h.as_str())
                            && s[h.len()..].starts_with('.')
                    }
                    _ => false,
                };
            let item = matches!(u.style, Some(Style::Letter | Style::Bullet));
            let lead_in = text[prev.span.clone()].ends_with(':')
                && !matches!(u.style, Some(Style::Word | Style::Decimal));
            !u.after_heading && compatible && (item || deeper || lead_in)
        });
        match out.last_mut() {
            Some(run) if joins => run.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

/// Merges pieces under [`MIN_WORDS`] words into the previous piece (or else the
/// next) when no heading lies between and the result fits; drops furniture.
fn merge_fragments(text: &str, pieces: Vec<Piece>, opts: &SegmentOptions<'_>) -> Vec<Piece> {
    let short = |p: &Piece| text[p.span.clone()].split_whitespace().count() < MIN_WORDS;
    let fits = |r: Range<usize>| opts.counter.count(&text[r]) <= opts.max_tokens;
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    let mut carry: Option<Piece> = None;
    for mut p in pieces {
        if let Some(c) = carry.take() {
            // A fragment waiting to join the start of this piece.
            if !p.after_heading && c.kind == p.kind && fits(c.span.start..p.span.end) {
                p.span.start = c.span.start;
                p.section = c.section.or(p.section);
                p.after_heading = c.after_heading;
            } else {
                out.push(c);
            }
        }
        if !short(&p) {
            out.push(p);
            continue;
        }
        if numbering::is_furniture(&units::squash(&text[p.span.clone()])) {
            continue;
        }
        match out.last_mut() {
            Some(prev)
                if !p.after_heading && prev.kind == p.kind && fits(prev.span.start..p.span.end) =>
            {
                prev.span.end = p.span.end;
            }
            _ => carry = Some(p),
        }
    }
    out.extend(carry);
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::read::{from_paragraphs, BlockKind, Format};

    fn doc_of(blocks: &[&str]) -> Document {
        let blocks = blocks.iter().map(|b| (BlockKind::Paragraph, b.to_string(), None));
        from_paragraphs(Path::new("test.txt"), Format::Text, blocks)
    }

    fn bundled() -> WordPieceCounter {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2/tokenizer.json");
        WordPieceCounter::from_file(&path).expect("bundled tokenizer loads")
    }

    /// Spans are ordered, disjoint, and `text` is the whitespace-collapsed slice.
    fn check_spans(doc: &Document, clauses: &[Clause]) {
        let mut end = 0;
        for (i, c) in clauses.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.span.start >= end, "clause {i} overlaps the one before");
            assert_eq!(units::squash(&doc.text[c.span.clone()]), c.text, "clause {i}");
            assert_eq!(doc.text[c.span.clone()].trim(), &doc.text[c.span.clone()]);
            end = c.span.end;
        }
    }

    const SUPPLY: &[&str] = &[
        "MASTER SUPPLY AGREEMENT",
        "This Master Supply Agreement is made on 1 March 2024 between Northwind Tools Ltd. \
         (\"Supplier\") and Harbor Build Inc. (\"Buyer\").",
        "RECITALS",
        "WHEREAS, the Supplier makes hand tools; and",
        "WHEREAS, the Buyer wishes to buy them for resale.",
        "NOW, THEREFORE, the parties agree as follows:",
        "1. DEFINITIONS",
        "\"Goods\" means the hand tools listed in Exhibit A.",
        "\"Term\" shall mean the period set out in Section 5.",
        "2. Supply",
        "2.1 The Supplier shall deliver the Goods to the\nBuyer's warehouse within ten days of \
         each order.\n2.2 The Buyer shall pay each invoice within 30 days.\n(a) Late payments \
         bear interest at 1.5% per month.\n(b) Disputed amounts may be withheld in good faith.",
        "Page 2 of 4",
        "5. Termination. Either party may terminate this Agreement on ninety days' written \
         notice to the other party.",
        "Section 6. Governing Law. This Agreement is governed by the laws of the State of New \
         York.",
        "IN WITNESS WHEREOF, the parties have signed this Agreement on the date first written \
         above.",
        "NORTHWIND TOOLS LTD.\nBy: ____________\nName: Sam Sample\nTitle: Director",
        "[Signature page follows]",
        "EXHIBIT A",
        "The Goods are hammers, saws and chisels of the grades listed in the catalogue.",
    ];

    #[test]
    fn segments_a_plain_text_contract() {
        let doc = doc_of(SUPPLY);
        let clauses = segment(&doc, &SegmentOptions::default());
        check_spans(&doc, &clauses);
        let got: Vec<(Option<&str>, Option<&str>, ClauseKind, &str)> = clauses
            .iter()
            .map(|c| {
                let start: &str = c.text.split_whitespace().next().unwrap_or("");
                (c.section.as_deref(), c.heading.as_deref(), c.kind, start)
            })
            .collect();
        use ClauseKind::*;
        let want: Vec<(Option<&str>, Option<&str>, ClauseKind, &str)> = vec![
            (None, Some("MASTER SUPPLY AGREEMENT"), Clause, "MASTER"),
            (None, Some("RECITALS"), Recital, "WHEREAS,"),
            (None, Some("RECITALS"), Recital, "WHEREAS,"),
            (None, Some("RECITALS"), Clause, "NOW,"),
            (Some("1"), Some("DEFINITIONS"), Definition, "\"Goods\""),
            (Some("1"), Some("DEFINITIONS"), Definition, "\"Term\""),
            (Some("2.1"), Some("Supply"), Clause, "2.1"),
            (Some("2.2"), Some("Supply"), Clause, "2.2"),
            (Some("5"), Some("Termination"), Clause, "5."),
            (Some("Section 6"), Some("Governing Law"), Clause, "Section"),
            (Some("Section 6"), Some("Governing Law"), Signature, "IN"),
            (Some("EXHIBIT A"), Some("EXHIBIT A"), Exhibit, "The"),
        ];
        assert_eq!(got, want);
        // The title opens the preamble; the hard-wrapped provision is one clause; the
        // lettered items stay with their provision; page furniture is gone.
        assert!(clauses[0].text.starts_with("MASTER SUPPLY AGREEMENT This Master"));
        assert!(clauses[6].text.ends_with("within ten days of each order."));
        assert!(clauses[7].text.ends_with("may be withheld in good faith."));
        // The signature block is one clause, party name included.
        assert!(clauses[10].text.ends_with(
            "NORTHWIND TOOLS LTD. By: ____________ Name: Sam Sample \
                                             Title: Director"
        ));
        assert!(clauses.iter().all(|c| !c.text.contains("Page 2 of 4")));
        assert!(clauses.iter().all(|c| !c.text.contains("Signature page")));
    }

    #[test]
    fn heading_blocks_and_inline_numbers() {
        let blocks = vec![
            (BlockKind::Heading, "Article IV Confidentiality".to_string(), Some(3)),
            (
                BlockKind::Paragraph,
                "Each party shall keep the other party's information secret. \
                 This duty lasts five years."
                    .to_string(),
                Some(3),
            ),
            (BlockKind::Heading, "ARTICLE V".to_string(), Some(4)),
            (BlockKind::Heading, "PAYMENT".to_string(), Some(4)),
            (BlockKind::ListItem, "a) Fees are due monthly in arrears.".to_string(), Some(4)),
            (BlockKind::ListItem, "§ 7 Notices must be in writing and signed.".to_string(), None),
        ];
        let doc = from_paragraphs(Path::new("t.html"), Format::Html, blocks);
        let clauses = segment(&doc, &SegmentOptions::default());
        check_spans(&doc, &clauses);
        assert_eq!(clauses.len(), 3, "{clauses:#?}");
        assert_eq!(clauses[0].section.as_deref(), Some("Article IV"));
        assert_eq!(clauses[0].heading.as_deref(), Some("Confidentiality"));
        assert_eq!(clauses[0].page, Some(3));
        assert_eq!(clauses[1].section.as_deref(), Some("a)"));
        assert_eq!(clauses[1].heading.as_deref(), Some("PAYMENT"));
        assert_eq!(clauses[1].page, Some(4));
        assert_eq!(clauses[2].section.as_deref(), Some("§ 7"));
    }

    #[test]
    fn headings_and_furniture_are_never_clauses() {
        let doc = doc_of(&[
            "TABLE OF CONTENTS",
            "1. Scope ........ 2\n2. Fees ......... 3",
            "- 1 -",
            "ARTICLE 1\nSCOPE",
            "The Contractor shall perform the Services described in the statement of work.",
            "3",
            "Confidentiality",
            "(a)",
            "Neither party shall disclose the terms of this Agreement.",
        ]);
        let clauses = segment(&doc, &SegmentOptions::default());
        check_spans(&doc, &clauses);
        assert_eq!(clauses.len(), 2, "{clauses:#?}");
        assert_eq!(clauses[0].section.as_deref(), Some("ARTICLE 1"));
        assert_eq!(clauses[0].heading.as_deref(), Some("SCOPE"));
        assert_eq!(clauses[1].heading.as_deref(), Some("Confidentiality"));
        // The lone "(a)" is carried to the text printed after it.
        assert_eq!(clauses[1].section.as_deref(), Some("(a)"));
    }

    #[test]
    fn long_provisions_are_cut_at_their_items() {
        let doc = doc_of(&[
            "8.1 Either party may end this Agreement at once by notice if the other party:\n\
             (a) fails to pay any amount due under it within thirty days of the due date;\n\
             (b) commits a material breach that it does not remedy within sixty days;\n\
             (c) becomes insolvent or makes an arrangement with its creditors; or\n\
             (d) ceases to carry on its business in the ordinary course.",
            "8.2 Termination does not affect rights that accrued before it.",
        ]);
        let opts = SegmentOptions { max_tokens: 45, counter: &ApproxTokens };
        let clauses = segment(&doc, &opts);
        check_spans(&doc, &clauses);
        let sections: Vec<Option<&str>> = clauses.iter().map(|c| c.section.as_deref()).collect();
        // Whole items are packed: the lead-in with (a), then (b) with (c), then (d).
        assert_eq!(sections, vec![Some("8.1"), Some("(b)"), Some("(d)"), Some("8.2")]);
        assert!(clauses[0].text.ends_with("the due date;"));
        assert!(clauses.iter().all(|c| ApproxTokens.count(&c.text) <= 45));
        // With room to spare, the provision and its items stay one clause.
        let whole = segment(&doc, &SegmentOptions::default());
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].section.as_deref(), Some("8.1"));
    }

    #[test]
    fn short_fragments_join_a_neighbour() {
        let doc = doc_of(&[
            "4.1 The Licensee may use the Software for:\n(i) internal purposes;\n(ii) backups;\
             \n(iii) testing.",
        ]);
        let clauses = segment(&doc, &SegmentOptions::default());
        check_spans(&doc, &clauses);
        assert_eq!(clauses.len(), 1, "{clauses:#?}");
        assert_eq!(clauses[0].section.as_deref(), Some("4.1"));
        assert!(clauses[0].text.ends_with("(iii) testing."));
    }

    #[test]
    fn cross_references_at_a_line_start_continue_the_sentence() {
        let doc = doc_of(&[
            "7.2 Any claim under Section\n7.1 of this Agreement must be made within one year \
             of the breach.",
        ]);
        let clauses = segment(&doc, &SegmentOptions::default());
        assert_eq!(clauses.len(), 1, "{clauses:#?}");
        assert_eq!(clauses[0].section.as_deref(), Some("7.2"));
    }

    #[test]
    fn long_provisions_fit_the_wordpiece_limit() {
        let counter = bundled();
        let opts = SegmentOptions { max_tokens: DEFAULT_MAX_TOKENS, counter: &counter };
        let sentences: Vec<String> = (1..=60)
            .map(|i| {
                format!(
                    "The Supplier shall keep policy No. {i} with an insurer rated A- or better \
                     by A.M. Best, e.g. Northwind Mutual Co., for {i} years."
                )
            })
            .collect();
        let run_on = "and the Licensee shall indemnify the Licensor against loss ".repeat(60);
        let doc = doc_of(&[&format!("9.1 Insurance. {}", sentences.join(" ")), &run_on]);
        let clauses = segment(&doc, &opts);
        check_spans(&doc, &clauses);
        assert!(clauses.len() > 4, "{}", clauses.len());
        for c in &clauses {
            let n = counter.count(&c.text);
            assert!(n <= DEFAULT_MAX_TOKENS, "clause {} has {n} tokens", c.index);
            assert!(c.text.split_whitespace().count() >= MIN_WORDS);
        }
        // Cuts fall between sentences: every clause of the provision ends a sentence.
        let provision: Vec<&Clause> =
            clauses.iter().filter(|c| c.span.end <= doc.blocks[0].span.end).collect();
        assert!(provision.iter().all(|c| c.text.ends_with("years.")));
        assert!(provision.iter().all(|c| c.section.as_deref() == Some("9.1")));
        assert!(provision.iter().all(|c| c.heading.as_deref() == Some("Insurance")));
        // The run-on text without stops is cut between words, and nothing is lost.
        let rest: Vec<&str> = clauses[provision.len()..].iter().map(|c| c.text.as_str()).collect();
        assert_eq!(rest.join(" "), units::squash(&run_on));
    }
}
