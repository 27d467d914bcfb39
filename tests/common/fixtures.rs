//! Fixture generators: contract files of every supported format (and broken ones), built
//! in memory by code so that tests never depend on files from elsewhere.

use std::io::{Cursor, Write};

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Object, Stream};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// A ZIP archive holding `entries` (name, content), deflated.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    for (name, content) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(content).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// One paragraph of a generated DOCX body.
pub enum Para<'a> {
    /// A paragraph in style `Heading1`.
    Heading(&'a str),
    /// A plain paragraph.
    Text(&'a str),
    /// A paragraph in the shared numbered list (numId 1) at `level` (0-based): level 0
    /// renders `1.`, level 1 `1.1.`, level 2 `(a)`.
    Numbered(u8, &'a str),
    /// A table; each inner slice is a row of cell texts.
    Table(&'a [&'a [&'a str]]),
}

/// Text of the header part of every generated DOCX: it must never show up in the body.
pub const DOCX_HEADER_TEXT: &str = "DRAFT HEADER - NOT BODY TEXT";

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn run_paragraph(properties: &str, text: &str) -> String {
    format!(
        "<w:p><w:pPr>{properties}</w:pPr><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
        escape(text)
    )
}

/// `word/numbering.xml` with one three-level list: `%1.`, `%1.%2.`, `(%3)` lowerLetter.
pub fn docx_numbering_xml() -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:numbering xmlns:w="{W_NS}">
  <w:abstractNum w:abstractNumId="10">
    <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/>
      </w:lvl>
    <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2."/>
      </w:lvl>
    <w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="(%3)"/>
      </w:lvl>
  </w:abstractNum>
  <w:num w:numId="1"><w:abstractNumId w:val="10"/></w:num>
</w:numbering>"#
    )
}

/// `word/document.xml` for the given paragraphs.
pub fn docx_document_xml(paragraphs: &[Para<'_>]) -> String {
    let mut body = String::new();
    for para in paragraphs {
        match para {
            Para::Heading(text) => {
                body.push_str(&run_paragraph(r#"<w:pStyle w:val="Heading1"/>"#, text))
            }
            Para::Text(text) => body.push_str(&run_paragraph("", text)),
            Para::Numbered(level, text) => body.push_str(&run_paragraph(
                &format!(r#"<w:numPr><w:ilvl w:val="{level}"/><w:numId w:val="1"/></w:numPr>"#),
                text,
            )),
            Para::Table(rows) => {
                body.push_str("<w:tbl><w:tblPr/>");
                for row in rows.iter() {
                    body.push_str("<w:tr>");
                    for cell in row.iter() {
                        body.push_str("<w:tc><w:tcPr/>");
                        body.push_str(&run_paragraph("", cell));
                        body.push_str("</w:tc>");
                    }
                    body.push_str("</w:tr>");
                }
                body.push_str("</w:tbl>");
            }
        }
    }
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W_NS}"
  xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<w:body>{body}<w:sectPr><w:headerReference w:type="default" r:id="rIdHeader1"/></w:sectPr></w:body>
</w:document>"#
    )
}

/// A DOCX with the given body, the numbering of [`docx_numbering_xml`] and a header part
/// holding [`DOCX_HEADER_TEXT`].
pub fn docx(paragraphs: &[Para<'_>]) -> Vec<u8> {
    docx_with_document(&docx_document_xml(paragraphs))
}

/// A DOCX around a ready-made `word/document.xml`.
pub fn docx_with_document(document_xml: &str) -> Vec<u8> {
    let content_types = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/word/document.xml"
  ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1"
  Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
  Target="word/document.xml"/>
</Relationships>"#;
    let header = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:hdr xmlns:w="{W_NS}">{}</w:hdr>"#,
        run_paragraph("", DOCX_HEADER_TEXT)
    );
    zip(&[
        ("[Content_Types].xml", content_types.as_bytes()),
        ("_rels/.rels", rels.as_bytes()),
        ("word/document.xml", document_xml.as_bytes()),
        ("word/numbering.xml", docx_numbering_xml().as_bytes()),
        ("word/header1.xml", header.as_bytes()),
    ])
}

/// A DOCX whose `word/document.xml` unpacks to `size` bytes of spaces (about 1000x
/// compression): a zip bomb.
pub fn docx_bomb(size: usize) -> Vec<u8> {
    let mut document = format!(r#"<w:document xmlns:w="{W_NS}"><w:body>"#).into_bytes();
    document.resize(size, b' ');
    zip(&[("word/document.xml", &document)])
}

/// A PDF with one page per entry of `pages`; each page lists its lines from the top, and
/// an empty line leaves a paragraph gap. Text is Helvetica 11 pt on 14 pt leading.
pub fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    let contents: Vec<Vec<Operation>> = pages
        .iter()
        .map(|lines| {
            let mut ops = vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 11.into()]),
            ];
            let mut y = 760;
            for line in lines.iter() {
                if !line.is_empty() {
                    ops.push(Operation::new(
                        "Tm",
                        vec![1.into(), 0.into(), 0.into(), 1.into(), 72.into(), y.into()],
                    ));
                    ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
                }
                y -= 14;
            }
            ops.push(Operation::new("ET", vec![]));
            ops
        })
        .collect();
    pdf_from_contents(contents, None)
}

/// A PDF whose pages only paint rectangles (as a scan paints its image): no text layer.
pub fn pdf_image_only(pages: usize) -> Vec<u8> {
    let contents = (0..pages)
        .map(|_| {
            vec![
                Operation::new("re", vec![50.into(), 50.into(), 500.into(), 700.into()]),
                Operation::new("f", vec![]),
            ]
        })
        .collect();
    pdf_from_contents(contents, None)
}

/// A PDF whose trailer points at a standard security handler dictionary (RC4, 40-bit)
/// with a user password that is not empty: it cannot be read without the password.
pub fn pdf_encrypted() -> Vec<u8> {
    let encrypt = dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => Object::string_literal(vec![0x5Au8; 32]),
        "U" => Object::string_literal(vec![0xA5u8; 32]),
        "P" => -44,
    };
    let page = ["This text is locked away."];
    let contents = vec![vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 11.into()]),
        Operation::new("Td", vec![72.into(), 700.into()]),
        Operation::new("Tj", vec![Object::string_literal(page[0])]),
        Operation::new("ET", vec![]),
    ]];
    pdf_from_contents(contents, Some(encrypt))
}

fn pdf_from_contents(pages: Vec<Vec<Operation>>, encrypt: Option<lopdf::Dictionary>) -> Vec<u8> {
    let mut doc = lopdf::Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for operations in pages {
        let content = Content { operations };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(Object::from(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if let Some(encrypt) = encrypt {
        let encrypt_id = doc.add_object(encrypt);
        doc.trailer.set("Encrypt", encrypt_id);
        let id = Object::string_literal(vec![0x11u8; 16]);
        doc.trailer.set("ID", vec![id.clone(), id]);
    }
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// `text` encoded as UTF-16 with a byte order mark, little- or big-endian.
pub fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
    let mut out = if little_endian { vec![0xFF, 0xFE] } else { vec![0xFE, 0xFF] };
    for unit in text.encode_utf16() {
        out.extend(if little_endian { unit.to_le_bytes() } else { unit.to_be_bytes() });
    }
    out
}

/// `text` encoded as Latin-1 (ISO 8859-1); every char must be below U+0100.
pub fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(u32::from(c)).expect("Latin-1 character")).collect()
}

/// An HTML contract page wrapped in navigation, scripts, styles and a footer.
pub fn html_contract() -> String {
    r#"<!DOCTYPE html>
<html lang="en"><head><title>Terms of Service</title>
<style>body { font-family: serif; }</style>
<script>window.track = function () { return "tracking code"; };</script></head>
<body>
<nav><a href="/">Home</a> <a href="/pricing">Pricing</a></nav>
<div role="banner">Example Cloud Inc.</div>
<main>
  <h1>Terms of   Service</h1>
  <p>These terms govern your use of the
     service &amp; its &quot;Content&quot;.</p>
  <h2>1. Termination</h2>
  <ul>
    <li>We may suspend your account at any time.</li>
    <li>You may cancel with 30&nbsp;days&#8217; notice.</li>
  </ul>
  <table><tr><th>Plan</th><th>Fee</th></tr><tr><td>Basic</td><td>$10</td></tr></table>
  <noscript>Enable JavaScript to continue.</noscript>
</main>
<footer>Copyright Example Cloud Inc.</footer>
</body></html>"#
        .to_string()
}
