//! DOCX: the body of `word/document.xml` becomes paragraph, heading, list item and table
//! cell blocks in reading order, with automatic list numbers rendered as a reader sees
//! them (`1.`, `1.2.`, `(a)`, `iv.`). Headers, footers and footnotes live in other parts
//! of the archive and are not read.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use zip::result::ZipError;
use zip::ZipArchive;

use super::{find, from_paragraphs, BlockKind, Document, Format, ReadError, ReadOptions};

/// Most entries an archive may list; real DOCX files hold a few dozen.
const MAX_ENTRIES: usize = 10_000;
/// Ceiling on the unpacked size of one part, whatever `max_bytes` says.
const MAX_PART_BYTES: u64 = 200 * 1024 * 1024;
/// A part may unpack to this many times `max_bytes` (text compresses about 5-10x).
const EXPANSION_FACTOR: u64 = 20;

/// Reads a ZIP archive that should be a DOCX. `named_docx` says the file name ends in
/// `.docx`, so that a damaged archive is reported as a corrupt DOCX rather than a ZIP.
pub(super) fn read(
    path: &Path,
    bytes: &[u8],
    opts: &ReadOptions,
    named_docx: bool,
) -> Result<Document, ReadError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        if named_docx || find(bytes, b"word/document.xml").is_some() {
            corrupt(e)
        } else {
            ReadError::Unsupported(format!("a damaged ZIP archive: {e}"))
        }
    })?;
    if archive.len() > MAX_ENTRIES {
        return Err(ReadError::Corrupt {
            format: "DOCX",
            detail: format!("archive lists {} entries, more than {MAX_ENTRIES}", archive.len()),
        });
    }
    if archive.index_for_name("word/document.xml").is_none() {
        return Err(ReadError::Unsupported(
            "a ZIP archive that is not a Word document (no `word/document.xml`)".into(),
        ));
    }
    let limit = opts.max_bytes.saturating_mul(EXPANSION_FACTOR).min(MAX_PART_BYTES);
    let document = read_part(&mut archive, "word/document.xml", limit)?.unwrap_or_default();
    let numbering = match read_part(&mut archive, "word/numbering.xml", limit)? {
        Some(xml) => Numbering::parse(&xml)?,
        None => Numbering::default(),
    };
    let styles = match read_part(&mut archive, "word/styles.xml", limit)? {
        Some(xml) => parse_styles(&xml)?,
        None => HashMap::new(),
    };
    let blocks = parse_body(&document, numbering, &styles)?;
    Ok(from_paragraphs(path, Format::Docx, blocks.into_iter().map(|(k, t)| (k, t, None))))
}

fn corrupt(e: impl std::fmt::Display) -> ReadError {
    ReadError::Corrupt { format: "DOCX", detail: e.to_string() }
}

/// Unpacks one part as text, refusing parts that declare or turn out to exceed `limit`
/// bytes (zip bombs). A missing part is `None`.
fn read_part(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Option<String>, ReadError> {
    let file = match archive.by_name(name) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(corrupt(e)),
    };
    let too_large = || ReadError::ArchiveTooLarge { part: name.to_string(), limit };
    if file.size() > limit {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(file.size() as usize);
    // The declared size may lie: read through `take` so that at most one byte past the
    // limit is ever unpacked.
    file.take(limit + 1).read_to_end(&mut buf).map_err(corrupt)?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    let body = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(Some(text.to_string())),
        Err(_) => Err(corrupt(format!("part `{name}` is not UTF-8 XML"))),
    }
}

/// The value of the attribute with local name `key` (namespace prefixes ignored).
fn attr(e: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == key)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn xml_error(e: impl std::fmt::Display) -> ReadError {
    corrupt(format!("bad XML: {e}"))
}

/// What a paragraph style contributes: whether it is a heading, and list numbering.
#[derive(Debug, Default, Clone)]
struct Style {
    heading: bool,
    num_id: Option<String>,
    ilvl: Option<u8>,
}

/// Reads `word/styles.xml`: paragraph style id to [`Style`]. A style is a heading when its
/// id or name is `Heading1`..`Heading9` / `heading 1`.. or `Title`, or it sets an outline
/// level.
// NOTE: `w:basedOn` inheritance is not followed; a custom style based on a heading style
// is read as a paragraph. Resolving the chain here would fix it.
fn parse_styles(xml: &str) -> Result<HashMap<String, Style>, ReadError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut styles = HashMap::new();
    let mut current: Option<(String, Style)> = None;
    loop {
        let event = reader.read_event().map_err(xml_error)?;
        match &event {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"style" => {
                    let id = attr(e, b"styleId").unwrap_or_default();
                    let heading = is_heading_name(&id);
                    current = Some((id, Style { heading, ..Style::default() }));
                }
                b"name" => {
                    if let (Some((_, style)), Some(name)) = (&mut current, attr(e, b"val")) {
                        style.heading |= is_heading_name(&name);
                    }
                }
                b"outlineLvl" => {
                    if let Some((_, style)) = &mut current {
                        let level = attr(e, b"val").and_then(|v| v.parse::<u8>().ok());
                        style.heading |= level.is_some_and(|l| l < 9);
                    }
                }
                b"numId" => {
                    if let Some((_, style)) = &mut current {
                        style.num_id = attr(e, b"val");
                    }
                }
                b"ilvl" => {
                    if let Some((_, style)) = &mut current {
                        style.ilvl = attr(e, b"val").and_then(|v| v.parse().ok());
                    }
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"style" => {
                if let Some((id, style)) = current.take() {
                    styles.insert(id, style);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(styles)
}

fn is_heading_name(name: &str) -> bool {
    let squashed: String =
        name.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    squashed == "title"
        || squashed
            .strip_prefix("heading")
            .is_some_and(|n| n.len() == 1 && n.as_bytes()[0].is_ascii_digit() && n != "0")
}

/// How a list level writes its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumFormat {
    Decimal,
    DecimalZero,
    LowerLetter,
    UpperLetter,
    LowerRoman,
    UpperRoman,
    Bullet,
    None,
}

impl NumFormat {
    fn parse(value: &str) -> Self {
        match value {
            "decimalZero" => Self::DecimalZero,
            "lowerLetter" => Self::LowerLetter,
            "upperLetter" => Self::UpperLetter,
            "lowerRoman" => Self::LowerRoman,
            "upperRoman" => Self::UpperRoman,
            "bullet" => Self::Bullet,
            "none" => Self::None,
            // Other formats (ordinal, chicago, Asian counting systems) fall back to digits.
            _ => Self::Decimal,
        }
    }

    fn render(self, n: u32) -> String {
        match self {
            Self::Decimal | Self::Bullet => n.to_string(),
            Self::DecimalZero => format!("{n:02}"),
            Self::LowerLetter => letters(n),
            Self::UpperLetter => letters(n).to_uppercase(),
            Self::LowerRoman => roman(n),
            Self::UpperRoman => roman(n).to_uppercase(),
            Self::None => String::new(),
        }
    }
}

/// Word's letter numbering: a..z, then aa..zz, aaa.. (the letter repeats).
fn letters(n: u32) -> String {
    if n == 0 {
        return "0".into();
    }
    let letter = char::from(b'a' + ((n - 1) % 26) as u8);
    std::iter::repeat_n(letter, ((n - 1) / 26 + 1).min(50) as usize).collect()
}

fn roman(mut n: u32) -> String {
    if n == 0 || n >= 4000 {
        return n.to_string();
    }
    const TABLE: &[(u32, &str)] = &[
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let mut out = String::new();
    for &(value, digits) in TABLE {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

/// One level of an abstract numbering definition.
#[derive(Debug, Clone)]
struct Level {
    start: u32,
    format: NumFormat,
    text: String,
}

impl Default for Level {
    fn default() -> Self {
        Self { start: 1, format: NumFormat::Decimal, text: String::new() }
    }
}

/// A `w:num`: which abstract definition it uses and its start overrides.
#[derive(Debug, Default, Clone)]
struct Num {
    abstract_id: String,
    start_overrides: HashMap<u8, u32>,
}

/// List numbering from `word/numbering.xml`, with the running counters.
#[derive(Debug, Default)]
struct Numbering {
    abstracts: HashMap<String, HashMap<u8, Level>>,
    nums: HashMap<String, Num>,
    /// Current value per numId and level; `None` until the level is first used (or after
    /// a shallower level advanced).
    counters: HashMap<String, [Option<u32>; 9]>,
}

impl Numbering {
    fn parse(xml: &str) -> Result<Self, ReadError> {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut numbering = Numbering::default();
        let mut abstract_id: Option<String> = None;
        let mut level: Option<(u8, Level)> = None;
        let mut num: Option<(String, Num)> = None;
        let mut override_level: Option<u8> = None;
        loop {
            let event = reader.read_event().map_err(xml_error)?;
            match &event {
                Event::Start(e) | Event::Empty(e) => {
                    let val = || attr(e, b"val");
                    match e.local_name().as_ref() {
                        b"abstractNum" => abstract_id = attr(e, b"abstractNumId"),
                        b"lvl" if abstract_id.is_some() => {
                            let ilvl = attr(e, b"ilvl").and_then(|v| v.parse().ok()).unwrap_or(0);
                            level = Some((ilvl, Level::default()));
                        }
                        b"start" => {
                            if let (Some((_, l)), Some(v)) = (&mut level, val()) {
                                l.start = v.parse().unwrap_or(1);
                            }
                        }
                        b"numFmt" => {
                            if let (Some((_, l)), Some(v)) = (&mut level, val()) {
                                l.format = NumFormat::parse(&v);
                            }
                        }
                        b"lvlText" => {
                            if let (Some((_, l)), Some(v)) = (&mut level, val()) {
                                l.text = v;
                            }
                        }
                        b"num" => {
                            num = attr(e, b"numId").map(|id| (id, Num::default()));
                        }
                        b"abstractNumId" => {
                            if let (Some((_, n)), Some(v)) = (&mut num, val()) {
                                n.abstract_id = v;
                            }
                        }
                        b"lvlOverride" => {
                            override_level = attr(e, b"ilvl").and_then(|v| v.parse().ok());
                        }
                        b"startOverride" => {
                            if let (Some((_, n)), Some(ilvl), Some(v)) =
                                (&mut num, override_level, val())
                            {
                                n.start_overrides.insert(ilvl, v.parse().unwrap_or(1));
                            }
                        }
                        _ => {}
                    }
                    // An empty `<w:lvl/>` or `<w:num/>` closes at once.
                    if matches!(event, Event::Empty(_)) {
                        numbering.close(
                            e.local_name().as_ref(),
                            &mut abstract_id,
                            &mut level,
                            &mut num,
                        );
                    }
                }
                Event::End(e) => {
                    numbering.close(e.local_name().as_ref(), &mut abstract_id, &mut level, &mut num)
                }
                Event::Eof => break,
                _ => {}
            }
        }
        Ok(numbering)
    }

    fn close(
        &mut self,
        name: &[u8],
        abstract_id: &mut Option<String>,
        level: &mut Option<(u8, Level)>,
        num: &mut Option<(String, Num)>,
    ) {
        match name {
            b"lvl" => {
                if let (Some(id), Some((ilvl, l))) = (abstract_id.as_ref(), level.take()) {
                    self.abstracts.entry(id.clone()).or_default().insert(ilvl, l);
                }
            }
            b"abstractNum" => *abstract_id = None,
            b"num" => {
                if let Some((id, n)) = num.take() {
                    self.nums.insert(id, n);
                }
            }
            _ => {}
        }
    }

    /// Advances the counter of `num_id` at `ilvl` and renders the label a reader sees,
    /// e.g. lvlText `%1.%2.` with counters 3 and 2 gives `3.2.`. `None` when the paragraph
    /// is not numbered (numId 0 or unknown).
    fn next_label(&mut self, num_id: &str, ilvl: u8) -> Option<String> {
        let num = self.nums.get(num_id)?;
        let levels = self.abstracts.get(&num.abstract_id)?;
        let ilvl = ilvl.min(8);
        let level = levels.get(&ilvl)?;
        let start = |l: u8| {
            num.start_overrides
                .get(&l)
                .copied()
                .unwrap_or_else(|| levels.get(&l).map_or(1, |lv| lv.start))
        };
        let counters = self.counters.entry(num_id.to_string()).or_insert([None; 9]);
        let i = usize::from(ilvl);
        counters[i] = Some(match counters[i] {
            Some(n) => n.saturating_add(1),
            None => start(ilvl),
        });
        for deeper in counters.iter_mut().skip(i + 1) {
            *deeper = None;
        }
        match level.format {
            NumFormat::None => return Some(String::new()),
            NumFormat::Bullet => return Some(bullet(&level.text)),
            _ => {}
        }
        let mut label = String::new();
        let mut chars = level.text.chars().peekable();
        while let Some(c) = chars.next() {
            let digit = chars.peek().and_then(|d| d.to_digit(10)).filter(|d| (1..=9).contains(d));
            match (c, digit) {
                ('%', Some(d)) => {
                    chars.next();
                    let l = (d - 1) as u8;
                    let value = counters[usize::from(l)].unwrap_or_else(|| start(l));
                    let format = levels.get(&l).map_or(NumFormat::Decimal, |lv| lv.format);
                    label.push_str(&format.render(value));
                }
                _ => label.push(c),
            }
        }
        Some(label)
    }
}

/// A bullet's text; symbol-font glyphs (private use area) become a plain bullet.
fn bullet(text: &str) -> String {
    if text.is_empty() || text.chars().any(|c| ('\u{E000}'..='\u{F8FF}').contains(&c)) {
        "\u{2022}".into()
    } else {
        text.to_string()
    }
}

/// A paragraph being read.
#[derive(Debug, Default)]
struct Para {
    text: String,
    style: Option<String>,
    num_id: Option<String>,
    ilvl: Option<u8>,
}

/// Walks the body of `word/document.xml` and returns its blocks in order.
fn parse_body(
    xml: &str,
    mut numbering: Numbering,
    styles: &HashMap<String, Style>,
) -> Result<Vec<(BlockKind, String)>, ReadError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut blocks = Vec::new();
    let mut paras: Vec<Para> = Vec::new();
    // Text of the open table cells, innermost last.
    let mut cells: Vec<String> = Vec::new();
    let mut in_text = 0usize;
    let mut in_run = 0usize;
    // Depth inside an `mc:Fallback`, which repeats the content of its `mc:Choice`.
    let mut skipping = 0usize;
    loop {
        let event = reader.read_event().map_err(xml_error)?;
        match &event {
            Event::Start(_) if skipping > 0 => skipping += 1,
            Event::End(_) if skipping > 0 => skipping -= 1,
            _ if skipping > 0 => {}
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().as_ref() {
                    b"Fallback" if !empty => skipping = 1,
                    b"p" if !empty => paras.push(Para::default()),
                    b"t" if !empty => in_text += 1,
                    b"r" if !empty => in_run += 1,
                    b"tc" if !empty => cells.push(String::new()),
                    b"tbl" => {
                        // A table nested in a cell: what the cell held so far comes first.
                        if let Some(cell) = cells.last_mut() {
                            let text = std::mem::take(cell);
                            blocks.push((BlockKind::TableCell, text));
                        }
                    }
                    b"pStyle" => {
                        if let Some(p) = paras.last_mut() {
                            p.style = attr(e, b"val");
                        }
                    }
                    b"numId" => {
                        if let Some(p) = paras.last_mut() {
                            p.num_id = attr(e, b"val");
                        }
                    }
                    b"ilvl" => {
                        if let Some(p) = paras.last_mut() {
                            p.ilvl = attr(e, b"val").and_then(|v| v.parse().ok());
                        }
                    }
                    name if in_run > 0 => {
                        if let Some(p) = paras.last_mut() {
                            match name {
                                b"tab" => p.text.push('\t'),
                                b"br" | b"cr" => p.text.push('\n'),
                                b"noBreakHyphen" => p.text.push('-'),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(e) if in_text > 0 => {
                if let Some(p) = paras.last_mut() {
                    p.text.push_str(&e.xml10_content().map_err(xml_error)?);
                }
            }
            Event::CData(e) if in_text > 0 => {
                if let Some(p) = paras.last_mut() {
                    p.text.push_str(&e.decode().map_err(xml_error)?);
                }
            }
            Event::GeneralRef(e) if in_text > 0 => {
                let c = match e.resolve_char_ref().map_err(xml_error)? {
                    Some(c) => c,
                    None => match e.decode().map_err(xml_error)?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(xml_error(format!("unknown entity `&{other};`"))),
                    },
                };
                if let Some(p) = paras.last_mut() {
                    p.text.push(c);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = in_text.saturating_sub(1),
                b"r" => in_run = in_run.saturating_sub(1),
                b"p" => {
                    if let Some(p) = paras.pop() {
                        let (kind, text) = finish_paragraph(p, &mut numbering, styles);
                        match cells.last_mut() {
                            Some(cell) => {
                                if !text.trim().is_empty() {
                                    if !cell.is_empty() {
                                        cell.push('\n');
                                    }
                                    cell.push_str(text.trim());
                                }
                            }
                            None => blocks.push((kind, text)),
                        }
                    }
                }
                b"tc" => {
                    if let Some(cell) = cells.pop() {
                        blocks.push((BlockKind::TableCell, cell));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(blocks)
}

/// Decides a paragraph's kind and prefixes its list label.
fn finish_paragraph(
    p: Para,
    numbering: &mut Numbering,
    styles: &HashMap<String, Style>,
) -> (BlockKind, String) {
    let style = p.style.as_ref().and_then(|s| styles.get(s));
    let heading =
        style.is_some_and(|s| s.heading) || p.style.as_deref().is_some_and(is_heading_name);
    let text = p.text.trim();
    let num_id = p.num_id.as_ref().or(style.and_then(|s| s.num_id.as_ref()));
    let ilvl = p.ilvl.or(style.and_then(|s| s.ilvl)).unwrap_or(0);
    // Empty paragraphs do not advance the list counters: Word shows no number for them
    // only when they carry no numbering, and a blank numbered line is rare enough to skip.
    let label = match num_id {
        Some(id) if !text.is_empty() => numbering.next_label(id, ilvl),
        _ => None,
    };
    let kind = if heading {
        BlockKind::Heading
    } else if label.is_some() {
        BlockKind::ListItem
    } else {
        BlockKind::Paragraph
    };
    let text = match label {
        Some(label) if !label.is_empty() => format!("{label} {text}"),
        _ => text.to_string(),
    };
    (kind, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERING: &str = r#"<w:numbering xmlns:w="w">
      <w:abstractNum w:abstractNumId="0">
        <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/>
          </w:lvl>
        <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/>
          <w:lvlText w:val="%1.%2"/></w:lvl>
        <w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/>
          <w:lvlText w:val="(%3)"/></w:lvl>
        <w:lvl w:ilvl="3"><w:start w:val="1"/><w:numFmt w:val="lowerRoman"/>
          <w:lvlText w:val="%4)"/></w:lvl>
      </w:abstractNum>
      <w:abstractNum w:abstractNumId="1">
        <w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/><w:lvlText w:val="&#xF0B7;"/></w:lvl>
      </w:abstractNum>
      <w:abstractNum w:abstractNumId="2">
        <w:lvl w:ilvl="0"><w:start w:val="3"/><w:numFmt w:val="upperRoman"/>
          <w:lvlText w:val="Article %1"/></w:lvl>
      </w:abstractNum>
      <w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num>
      <w:num w:numId="2"><w:abstractNumId w:val="1"/></w:num>
      <w:num w:numId="3"><w:abstractNumId w:val="2"/></w:num>
      <w:num w:numId="4"><w:abstractNumId w:val="0"/>
        <w:lvlOverride w:ilvl="0"><w:startOverride w:val="7"/></w:lvlOverride></w:num>
    </w:numbering>"#;

    #[test]
    fn nested_counters_reset_and_render() {
        let mut n = Numbering::parse(NUMBERING).unwrap();
        let labels: Vec<String> = [0, 1, 1, 2, 3, 3, 2, 1, 0, 1, 2]
            .iter()
            .map(|&l| n.next_label("1", l).unwrap())
            .collect();
        assert_eq!(
            labels,
            ["1.", "1.1", "1.2", "(a)", "i)", "ii)", "(b)", "1.3", "2.", "2.1", "(a)"]
        );
        assert_eq!(n.next_label("2", 0).unwrap(), "\u{2022}");
        assert_eq!(n.next_label("3", 0).unwrap(), "Article III");
        assert_eq!(n.next_label("3", 0).unwrap(), "Article IV");
        // numId 4 shares the definition of 1 but has its own counters and a start override.
        assert_eq!(n.next_label("4", 0).unwrap(), "7.");
        assert_eq!(n.next_label("4", 1).unwrap(), "7.1");
        assert_eq!(n.next_label("0", 0), None);
    }

    #[test]
    fn letters_and_romans() {
        assert_eq!(letters(1), "a");
        assert_eq!(letters(26), "z");
        assert_eq!(letters(27), "aa");
        assert_eq!(roman(1994), "mcmxciv");
        assert_eq!(NumFormat::UpperLetter.render(3), "C");
        assert_eq!(NumFormat::DecimalZero.render(4), "04");
    }

    #[test]
    fn body_paragraphs_tables_and_headings() {
        let xml = r#"<w:document xmlns:w="w" xmlns:mc="mc"><w:body>
          <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Terms &amp; Conditions</w:t>
            </w:r></w:p>
          <w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr>
            <w:r><w:t xml:space="preserve">Fees </w:t></w:r><w:r><w:instrText>PAGE</w:instrText>
              <w:t>apply</w:t></w:r></w:p>
          <w:p/>
          <w:tbl><w:tr><w:tc><w:p><w:r><w:t>A</w:t></w:r></w:p><w:p><w:r><w:t>B</w:t></w:r></w:p>
            </w:tc>
            <w:tc><w:p><w:r><w:t>C</w:t><w:tab/><w:t>D</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
          <w:p><w:r><mc:AlternateContent><mc:Choice><w:t>shown</w:t></mc:Choice>
            <mc:Fallback><w:t>repeat</w:t></mc:Fallback></mc:AlternateContent></w:r></w:p>
          <w:sectPr><w:pgSz/></w:sectPr></w:body></w:document>"#;
        let n = Numbering::parse(NUMBERING).unwrap();
        let blocks = parse_body(xml, n, &HashMap::new()).unwrap();
        use BlockKind::*;
        assert_eq!(
            blocks,
            [
                (Heading, "Terms & Conditions".to_string()),
                (ListItem, "1. Fees apply".to_string()),
                (TableCell, "A\nB".to_string()),
                (TableCell, "C\tD".to_string()),
                (Paragraph, "shown".to_string()),
            ]
        );
    }

    #[test]
    fn styles_mark_headings_by_name_and_carry_numbering() {
        let xml = r#"<w:styles xmlns:w="w">
          <w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style>
          <w:style w:type="paragraph" w:styleId="Clause"><w:name w:val="Clause"/>
            <w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="1"/></w:numPr></w:pPr></w:style>
        </w:styles>"#;
        let styles = parse_styles(xml).unwrap();
        assert!(styles["berschrift1"].heading);
        assert!(!styles["Clause"].heading);
        let body = r#"<w:document xmlns:w="w"><w:body>
          <w:p><w:pPr><w:pStyle w:val="Clause"/></w:pPr><w:r><w:t>Scope</w:t></w:r></w:p>
        </w:body></w:document>"#;
        let blocks = parse_body(body, Numbering::parse(NUMBERING).unwrap(), &styles).unwrap();
        assert_eq!(blocks, [(BlockKind::ListItem, "1.1 Scope".to_string())]);
    }

    #[test]
    fn malformed_xml_is_corrupt() {
        let err = parse_body("<w:body><w:p></w:body>", Numbering::default(), &HashMap::new());
        assert!(matches!(err, Err(ReadError::Corrupt { format: "DOCX", .. })), "{err:?}");
    }
}
