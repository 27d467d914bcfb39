//! Provisions: the lines of a [`Document`]'s blocks become provisions (a numbered
//! or unnumbered run of text), each with its section number, heading and kind,
//! while headings, signature lines and page furniture are recognised on the way.

use std::ops::Range;

use super::numbering::{self, Style};
use super::ClauseKind;
use crate::read::{BlockKind, Document};

/// One provision: a span of the document text that the splitter may cut further.
#[derive(Debug, Clone)]
pub struct Unit {
    pub span: Range<usize>,
    pub section: Option<String>,
    pub heading: Option<String>,
    pub kind: ClauseKind,
    pub page: Option<u32>,
    /// A heading lies between this provision and the previous one.
    pub after_heading: bool,
    /// How its own section number is written, if it has one.
    pub style: Option<Style>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Body,
    Recitals,
    Signature,
    Exhibit,
}

/// Walks the blocks line by line.
struct Walker<'d> {
    text: &'d str,
    units: Vec<Unit>,
    /// Index of the unit that the next plain line would continue, if any.
    open: Option<usize>,
    mode: Mode,
    heading: Option<String>,
    /// A heading printed inline with its provision ("5. Termination. ..."), valid
    /// until the next numbered provision or heading.
    sub_heading: Option<String>,
    /// Last article, section or decimal number seen; unnumbered text inherits it.
    section: Option<String>,
    /// A number printed alone on the line before its text.
    pending: Option<String>,
    /// Heading lines seen since the last provision, joined into one heading.
    heading_run: bool,
    /// The current heading is only a number ("ARTICLE IV"); the next heading line
    /// replaces it rather than joining it.
    heading_is_number: bool,
    after_heading: bool,
    operative: usize,
    /// Page furniture was skipped since the open unit's last line.
    furniture: bool,
    /// Start of the title lines printed before the first provision.
    title: Option<usize>,
    /// A section number has been seen.
    numbered: bool,
}

/// Title lines are looked for among the first this many provisions (a cover page
/// may carry addresses or share counts before the title).
const TITLE_UNITS: usize = 6;
/// Cover-page lines before the title are shorter than this many words.
const COVER_WORDS: usize = 15;

/// Words after which a number at the start of the next line is a cross-reference.
const REFERENCE_WORDS: &[&str] = &[
    "section",
    "sections",
    "article",
    "articles",
    "clause",
    "clauses",
    "paragraph",
    "paragraphs",
    "subsection",
    "subsections",
    "§",
    "no.",
    "and",
    "or",
    "of",
    "to",
    "in",
    "under",
    "with",
    "per",
    "than",
    "exhibit",
    "schedule",
    "annex",
    "appendix",
    "item",
    "items",
    "sub-section",
    "subparagraph",
    "sub-paragraph",
    "pursuant",
    "see",
];

pub fn units(doc: &Document) -> Vec<Unit> {
    let mut w = Walker {
        text: &doc.text,
        units: Vec::new(),
        open: None,
        mode: Mode::Body,
        heading: None,
        sub_heading: None,
        section: None,
        pending: None,
        heading_run: false,
        heading_is_number: false,
        after_heading: false,
        operative: 0,
        furniture: false,
        title: None,
        numbered: false,
    };
    for block in &doc.blocks {
        let span = block.span.clone();
        if span.end > doc.text.len() || !doc.text.is_char_boundary(span.start) {
            continue;
        }
        match block.kind {
            BlockKind::Heading => {
                w.close();
                let line = trim_range(&doc.text, span);
                if !line.is_empty() && !numbering::is_furniture(&doc.text[line.clone()]) {
                    w.heading_line(line, block.page);
                }
            }
            BlockKind::TableCell => {
                w.close();
                w.block(span, block.page);
                w.close();
            }
            BlockKind::Paragraph | BlockKind::ListItem => w.block(span, block.page),
        }
    }
    w.units
}

fn trim_range(text: &str, r: Range<usize>) -> Range<usize> {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if lead == s.len() {
        return r.start..r.start;
    }
    r.start + lead..r.end - trail
}

/// Collapses whitespace runs to one space.
pub fn squash(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn ends_sentence(s: &str) -> bool {
    s.trim_end().ends_with(['.', ';', ':', '!', '?', '"', '”', ')'])
}

fn heading_value(s: &str) -> String {
    let dashes = ['.', ':', '-', '–', '—'];
    squash(s.trim().trim_start_matches(dashes).trim_end_matches(dashes).trim())
}

impl Walker<'_> {
    fn close(&mut self) {
        self.open = None;
    }

    /// Processes one paragraph or list item, line by line.
    fn block(&mut self, span: Range<usize>, page: Option<u32>) {
        let text = self.text;
        let mut lines = Vec::new();
        let mut pos = span.start;
        for line in text[span.clone()].split('\n') {
            let r = trim_range(text, pos..pos + line.len());
            pos += line.len() + 1;
            if !r.is_empty() {
                lines.push(r);
            }
        }
        let single = lines.len() == 1;
        for (i, r) in lines.into_iter().enumerate() {
            self.line(r, page, i == 0, single);
        }
    }

    /// The text of the open unit's last line, if a plain line could continue it.
    fn open_tail(&self) -> Option<&str> {
        let u = &self.units[self.open?];
        let s = &self.text[u.span.clone()];
        Some(s.rsplit('\n').next().unwrap_or(s))
    }

    fn line(&mut self, r: Range<usize>, page: Option<u32>, first_in_block: bool, single: bool) {
        let line = &self.text[r.clone()];
        // A paragraph broken by a page break goes on in the next block in lowercase.
        if first_in_block {
            // After a page number or footer, a capital may carry on too ("... either
            // directly or indirectly, [page break] Develop, Manufacture ...").
            let carries_on = self.open.is_some_and(|i| {
                let u = &self.units[i];
                !self.after_heading
                    && u.kind != ClauseKind::Signature
                    && !ends_sentence(&self.text[u.span.clone()])
                    && (line.starts_with(|c: char| c.is_lowercase())
                        || self.furniture
                            && numbering::leading_marker(line).is_none()
                            && !numbering::is_heading_text(line, 12))
            });
            if !carries_on {
                self.open = None;
            }
        }
        if numbering::is_signature_line(line) {
            self.signature_line(r, page);
            return;
        }
        if numbering::is_lone_marker(line) {
            let m = numbering::leading_marker(line).expect("lone marker");
            self.close();
            self.pending = m.printed;
            return;
        }
        if numbering::is_furniture(line) {
            self.furniture = true;
            return;
        }
        self.furniture = false;
        // Inside a signature block, party names in capitals belong to the block.
        if self.mode == Mode::Signature
            && numbering::leading_marker(line).is_none()
            && !numbering::is_exhibit_heading(line)
            && numbering::is_heading_text(line, 12)
        {
            self.signature_line(r, page);
            return;
        }
        let continuing = self.open_tail().map(|tail| !ends_sentence(tail));
        let mut marker = numbering::leading_marker(line);
        if let (Some(m), Some(tail)) = (&marker, self.open_tail()) {
            let mut words = tail.split_whitespace().rev();
            let last = words.next().unwrap_or("").to_lowercase();
            // "...; or" and "..., and" end list items; "Sections 3.1 and" refers on.
            let list_joint = matches!(last.as_str(), "and" | "or")
                && words.next().is_some_and(|w| w.ends_with([';', ',']));
            if m.style != Style::Bullet && REFERENCE_WORDS.contains(&last.as_str()) && !list_joint {
                marker = None;
            }
        }
        if let Some(m) = marker {
            let rest = &line[m.len..];
            let numbered_heading = match m.style {
                Style::Word | Style::Decimal => {
                    rest.trim().is_empty()
                        || numbering::is_heading_text(rest, 12)
                        || (rest.trim_end().ends_with('.')
                            && numbering::is_heading_text(rest.trim_end_matches('.'), 8))
                }
                Style::Letter => {
                    numbering::is_heading_text(rest, 8) && !rest.chars().any(char::is_lowercase)
                }
                Style::Bullet => false,
            };
            if numbered_heading {
                self.numbered_heading(m.printed, m.style, r, m.len);
                return;
            }
            self.start_marked(m, r, page);
            return;
        }
        let max_words = if single { 12 } else { 8 };
        if continuing != Some(true) && numbering::is_heading_text(line, max_words) {
            self.heading_line(r, page);
            return;
        }
        if let Some(i) = self.open {
            self.units[i].span.end = r.end;
            return;
        }
        let section = self.pending.take().or_else(|| self.section.clone());
        self.push(r, section, 0, None, page);
    }

    fn signature_line(&mut self, r: Range<usize>, page: Option<u32>) {
        // Signature lines join the signature block before them, across blank lines.
        if let Some(last) = self.units.last_mut() {
            if last.kind == ClauseKind::Signature && !self.after_heading {
                last.span.end = r.end;
                self.open = Some(self.units.len() - 1);
                return;
            }
        }
        let section = self.section.clone();
        self.push(r, section, 0, None, page);
        let i = self.units.len() - 1;
        if self.units[i].kind != ClauseKind::Exhibit {
            self.units[i].kind = ClauseKind::Signature;
        }
    }

    /// A heading on a line (or block) of its own, with or without a number.
    fn heading_line(&mut self, r: Range<usize>, _page: Option<u32>) {
        let line = &self.text[r];
        match numbering::leading_marker(line) {
            Some(m) if m.printed.is_some() && m.style != Style::Bullet => {
                self.set_heading(m.printed, m.style, &line[m.len..], line);
            }
            _ => self.set_heading(None, Style::Bullet, line, line),
        }
    }

    fn numbered_heading(
        &mut self,
        printed: Option<String>,
        style: Style,
        r: Range<usize>,
        len: usize,
    ) {
        let line = &self.text[r];
        self.set_heading(printed, style, &line[len..], line);
    }

    /// Records a heading: `number` as printed, `rest` its words, `whole` the line.
    fn set_heading(&mut self, number: Option<String>, style: Style, rest: &str, whole: &str) {
        self.close();
        let cover = self.units.len() < TITLE_UNITS
            && !self.numbered
            && !numbering::is_recital_heading(rest)
            && self
                .units
                .iter()
                .all(|u| self.text[u.span.clone()].split_whitespace().nth(COVER_WORDS).is_none());
        if cover {
            // Title lines on the cover (name, parties, date) open the preamble; a
            // section number or a provision of some length means the body has begun.
            self.title = match number {
                None => self.title.or(Some(self.offset_of(whole))),
                Some(_) => None,
            };
        }
        if number.is_some() {
            self.numbered = true;
        }
        let value = heading_value(rest);
        let join = self.heading_run && number.is_none() && !self.heading_is_number;
        let joined = match (&self.heading, join) {
            (Some(prev), true) if !value.is_empty() && prev.split(' ').count() < 16 => {
                format!("{prev} {value}")
            }
            _ if value.is_empty() => number.clone().unwrap_or_default(),
            _ => value.clone(),
        };
        if let Some(n) = number.filter(|_| matches!(style, Style::Word | Style::Decimal)) {
            self.section = Some(n);
            self.pending = None;
        } else if !self.heading_run {
            self.section = None;
        }
        let exhibit = numbering::is_exhibit_heading(whole);
        if exhibit && self.operative >= 3 {
            self.mode = Mode::Exhibit;
        } else if self.mode != Mode::Exhibit {
            if numbering::is_recital_heading(&joined) {
                self.mode = Mode::Recitals;
            } else if self.mode == Mode::Recitals
                || (self.mode == Mode::Signature && style != Style::Bullet)
            {
                self.mode = Mode::Body;
            }
        }
        self.heading_is_number = value.is_empty();
        self.heading = (!joined.is_empty()).then_some(joined);
        self.sub_heading = None;
        self.heading_run = true;
        self.after_heading = true;
    }

    fn offset_of(&self, part: &str) -> usize {
        part.as_ptr() as usize - self.text.as_ptr() as usize
    }

    fn start_marked(&mut self, m: numbering::Marker, r: Range<usize>, page: Option<u32>) {
        let line = &self.text[r.clone()];
        let rest = &line[m.len..];
        let mut lead = m.len;
        let mut inline = None;
        if m.style != Style::Bullet {
            if let Some((head, text_at)) = numbering::inline_heading(rest) {
                inline = Some(heading_value(head));
                lead += text_at;
            }
        }
        if matches!(m.style, Style::Word | Style::Decimal) {
            self.numbered = true;
            self.title = None;
        }
        let section = match (m.style, m.printed) {
            (Style::Word | Style::Decimal, Some(p)) => {
                self.section = Some(p.clone());
                self.sub_heading = None;
                Some(p)
            }
            (_, Some(p)) => Some(p),
            (_, None) => self.section.clone(),
        };
        if inline.is_some() {
            self.sub_heading = inline.clone();
        }
        self.pending = None;
        self.push(r, section, lead, inline, page);
        if let Some(u) = self.units.last_mut() {
            u.style = Some(m.style);
        }
    }

    fn push(
        &mut self,
        r: Range<usize>,
        section: Option<String>,
        lead: usize,
        inline: Option<String>,
        page: Option<u32>,
    ) {
        let body = &self.text[r.start + lead..r.end];
        let upper: String = body.chars().take(24).collect::<String>().to_uppercase();
        let mut kind = ClauseKind::Clause;
        if self.mode == Mode::Exhibit {
            kind = ClauseKind::Exhibit;
        } else if upper.starts_with("IN WITNESS") {
            self.mode = Mode::Signature;
            kind = ClauseKind::Signature;
        } else if self.mode == Mode::Signature {
            kind = ClauseKind::Signature;
        } else if upper.starts_with("WHEREAS") {
            kind = ClauseKind::Recital;
        } else if upper.starts_with("NOW, THEREFORE") || upper.starts_with("NOW THEREFORE") {
            self.mode = Mode::Body;
        } else if self.mode == Mode::Recitals {
            kind = ClauseKind::Recital;
        } else if numbering::is_definition(body) {
            kind = ClauseKind::Definition;
        }
        if kind == ClauseKind::Clause {
            self.operative += 1;
        }
        let heading = inline.or_else(|| self.sub_heading.clone()).or_else(|| self.heading.clone());
        let mut r = r;
        let mut after_heading = self.after_heading;
        if let Some(start) = self.title.take() {
            // The title block joins the preamble so its words sit in a clause.
            r.start = start;
            after_heading = false;
        }
        self.units.push(Unit { span: r, section, heading, kind, page, after_heading, style: None });
        self.open = Some(self.units.len() - 1);
        self.heading_run = false;
        self.after_heading = false;
    }
}
