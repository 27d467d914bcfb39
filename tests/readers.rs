//! The document readers on generated files of every format, and on broken input.

mod common;

use std::path::{Path, PathBuf};

use common::fixtures::{self, Para};
use termscore::read::{read_path, BlockKind, Document, Format, ReadError, ReadOptions};

/// Writes `bytes` to `name` in a fresh temporary directory and reads it back.
fn read_file(name: &str, bytes: &[u8]) -> Result<Document, ReadError> {
    read_file_with(name, bytes, &ReadOptions::default())
}

fn read_file_with(name: &str, bytes: &[u8], opts: &ReadOptions) -> Result<Document, ReadError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    read_path(&path, opts)
}

/// (kind, text, page) of every block, after checking each span points at its text and the
/// blocks are laid out in order, separated by blank lines.
fn blocks(doc: &Document) -> Vec<(BlockKind, &str, Option<u32>)> {
    let mut expected_start = 0;
    for block in &doc.blocks {
        assert_eq!(block.span.start, expected_start, "blocks must tile the text");
        let text = &doc.text[block.span.clone()];
        assert_eq!(text, text.trim(), "block text is trimmed");
        assert!(!text.is_empty());
        expected_start = block.span.end + 2;
    }
    assert_eq!(doc.text.len() + 2, expected_start.max(2));
    doc.blocks.iter().map(|b| (b.kind, doc.block_text(b), b.page)).collect()
}

use BlockKind::{Heading, ListItem, Paragraph, TableCell};

#[test]
fn docx_numbering_heading_table_and_no_header() {
    let bytes = fixtures::docx(&[
        Para::Heading("Services Agreement"),
        Para::Text("This agreement is between Acme Ltd and Beta LLC."),
        Para::Numbered(0, "Definitions"),
        Para::Numbered(1, "\"Services\" means the work in Schedule 1."),
        Para::Numbered(1, "\"Fees\" means the charges."),
        Para::Numbered(2, "including expenses; and"),
        Para::Numbered(2, "excluding taxes."),
        Para::Numbered(0, "Payment"),
        Para::Numbered(1, "Invoices are due in 30 days."),
        Para::Table(&[&["Item", "Price"], &["Support", "$100 & up"]]),
        Para::Numbered(0, "Term"),
    ]);
    let doc = read_file("contract.docx", &bytes).unwrap();
    assert_eq!(doc.format, Format::Docx);
    assert!(doc.warnings.is_empty());
    assert_eq!(
        blocks(&doc),
        [
            (Heading, "Services Agreement", None),
            (Paragraph, "This agreement is between Acme Ltd and Beta LLC.", None),
            (ListItem, "1. Definitions", None),
            (ListItem, "1.1. \"Services\" means the work in Schedule 1.", None),
            (ListItem, "1.2. \"Fees\" means the charges.", None),
            (ListItem, "(a) including expenses; and", None),
            (ListItem, "(b) excluding taxes.", None),
            (ListItem, "2. Payment", None),
            (ListItem, "2.1. Invoices are due in 30 days.", None),
            (TableCell, "Item", None),
            (TableCell, "Price", None),
            (TableCell, "Support", None),
            (TableCell, "$100 & up", None),
            (ListItem, "3. Term", None),
        ]
    );
    assert!(!doc.text.contains(fixtures::DOCX_HEADER_TEXT));
}

#[test]
fn docx_is_detected_by_content_whatever_the_name() {
    let bytes = fixtures::docx(&[Para::Text("Governing law is England.")]);
    let doc = read_file("download.bin", &bytes).unwrap();
    assert_eq!(doc.format, Format::Docx);
    assert_eq!(doc.text, "Governing law is England.");
}

/// Three pages, each with a running header, a page number and body text; page 1 ends in
/// a word hyphenated across the line break and a compound that keeps its hyphen.
fn three_page_pdf() -> Vec<u8> {
    fixtures::pdf(&[
        &[
            "ACME SERVICES AGREEMENT",
            "",
            "1. The Supplier grants the Customer a non-",
            "exclusive licence under this agree-",
            "ment to use the Software.",
            "",
            "2. Fees are payable monthly.",
            "",
            "Page 1 of 3",
        ],
        &["ACME SERVICES AGREEMENT", "", "3. Either party may terminate on notice.", "", "- 2 -"],
        &[
            "ACME SERVICES AGREEMENT",
            "",
            "4. This agreement is governed by the laws of England.",
            "",
            "3",
        ],
    ])
}

#[test]
fn pdf_pages_headers_footers_and_hyphens() {
    let doc = read_file("contract.pdf", &three_page_pdf()).unwrap();
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(
        blocks(&doc),
        [
            (
                Paragraph,
                "1. The Supplier grants the Customer a non-exclusive licence under this \
                 agreement to use the Software.",
                Some(1)
            ),
            (Paragraph, "2. Fees are payable monthly.", Some(1)),
            (Paragraph, "3. Either party may terminate on notice.", Some(2)),
            (Paragraph, "4. This agreement is governed by the laws of England.", Some(3)),
        ]
    );
    assert!(!doc.text.contains("ACME SERVICES AGREEMENT"));
}

#[test]
fn pdf_single_page_keeps_its_text_but_drops_the_page_number() {
    let bytes =
        fixtures::pdf(&[&["NOTICE OF TERMINATION", "", "The contract ends today.", "", "1"]]);
    let doc = read_file("notice.pdf", &bytes).unwrap();
    assert_eq!(
        blocks(&doc),
        [
            (Paragraph, "NOTICE OF TERMINATION", Some(1)),
            (Paragraph, "The contract ends today.", Some(1)),
        ]
    );
}

#[test]
fn html_blocks_without_navigation_or_scripts() {
    let doc = read_file("terms.html", fixtures::html_contract().as_bytes()).unwrap();
    assert_eq!(doc.format, Format::Html);
    assert_eq!(
        blocks(&doc),
        [
            (Heading, "Terms of Service", None),
            (Paragraph, "These terms govern your use of the service & its \"Content\".", None),
            (Heading, "1. Termination", None),
            (ListItem, "We may suspend your account at any time.", None),
            (ListItem, "You may cancel with 30 days\u{2019} notice.", None),
            (TableCell, "Plan", None),
            (TableCell, "Fee", None),
            (TableCell, "Basic", None),
            (TableCell, "$10", None),
        ]
    );
    for dropped in ["Home", "Example Cloud", "tracking", "font-family", "JavaScript"] {
        assert!(!doc.text.contains(dropped), "{dropped} should be dropped");
    }
}

#[test]
fn html_is_detected_by_content_in_a_txt_file() {
    let doc = read_file("saved.txt", b"<html><body><p>Clause one.</p></body></html>").unwrap();
    assert_eq!(doc.format, Format::Html);
    assert_eq!(doc.text, "Clause one.");
}

#[test]
fn markdown_by_extension() {
    let md = "# Privacy Policy\n\nWe **never** sell [your data](https://x.test).\n\n\
              * Access\n* Deletion\n";
    let doc = read_file("policy.md", md.as_bytes()).unwrap();
    assert_eq!(doc.format, Format::Markdown);
    assert_eq!(
        blocks(&doc),
        [
            (Heading, "Privacy Policy", None),
            (Paragraph, "We never sell your data.", None),
            (ListItem, "Access", None),
            (ListItem, "Deletion", None),
        ]
    );
}

#[test]
fn utf16_text_both_byte_orders() {
    let text = "1. Le pr\u{ea}teur \u{2014} \u{ab}Lender\u{bb}\r\n\r\n2. \u{5951}\u{7d04}";
    for little_endian in [true, false] {
        let doc = read_file("contract.txt", &fixtures::utf16(text, little_endian)).unwrap();
        assert_eq!(doc.format, Format::Text);
        assert!(doc.warnings.is_empty());
        assert_eq!(
            blocks(&doc),
            [
                (Paragraph, "1. Le pr\u{ea}teur \u{2014} \u{ab}Lender\u{bb}", None),
                (Paragraph, "2. \u{5951}\u{7d04}", None),
            ]
        );
    }
}

#[test]
fn latin1_text_is_decoded_with_a_warning() {
    let first = "Der K\u{e4}ufer tr\u{e4}gt die Geb\u{fc}hren.\n\
                 Zahlung in \u{c4}gypten m\u{f6}glich.";
    let text = format!("{first}\n\n\u{a7} 2 Haftung");
    let doc = read_file("vertrag.txt", &fixtures::latin1(&text)).unwrap();
    assert_eq!(blocks(&doc), [(Paragraph, first, None), (Paragraph, "\u{a7} 2 Haftung", None),]);
    assert_eq!(doc.warnings.len(), 1, "{:?}", doc.warnings);
    assert!(doc.warnings[0].contains("windows-1252"), "{:?}", doc.warnings);
}

fn expect_err(result: Result<Document, ReadError>) -> ReadError {
    match result {
        Ok(doc) => panic!("expected an error, read {:?}", doc.text),
        Err(e) => e,
    }
}

#[test]
fn empty_and_blank_files() {
    assert!(matches!(expect_err(read_file("empty.txt", b"")), ReadError::Empty));
    assert!(matches!(expect_err(read_file("blank.txt", b" \n\t\r\n")), ReadError::Empty));
}

#[test]
fn binary_garbage_is_unsupported() {
    let garbage: Vec<u8> =
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let err = expect_err(read_file("garbage.txt", &garbage));
    assert!(matches!(err, ReadError::Unsupported(_)), "{err:?}");
    assert_eq!(err.to_string(), "not a document TermScore can read (binary data, not text)");
}

#[test]
fn zip_that_is_not_a_docx_is_unsupported() {
    let bytes = fixtures::zip(&[("readme.txt", b"hello".as_slice())]);
    let err = expect_err(read_file("archive.docx", &bytes));
    assert!(
        matches!(err, ReadError::Unsupported(ref m) if m.contains("not a Word document")),
        "{err:?}"
    );
}

#[test]
fn truncated_docx_is_corrupt() {
    let bytes = fixtures::docx(&[Para::Text("Some text that will be cut off.")]);
    let err = expect_err(read_file("cut.docx", &bytes[..bytes.len() / 2]));
    assert!(matches!(err, ReadError::Corrupt { format: "DOCX", .. }), "{err:?}");
}

#[test]
fn docx_zip_bomb_is_refused() {
    // 64 MB of spaces packed into about 64 KB; with a 1 MB input limit a part may unpack
    // to 20 MB at most.
    let bytes = fixtures::docx_bomb(64 * 1024 * 1024);
    assert!(bytes.len() < 1024 * 1024, "fixture is {} bytes", bytes.len());
    let opts = ReadOptions { max_bytes: 1024 * 1024 };
    let err = expect_err(read_file_with("bomb.docx", &bytes, &opts));
    assert!(
        matches!(
            err,
            ReadError::ArchiveTooLarge { ref part, limit }
                if part == "word/document.xml" && limit == 20 * 1024 * 1024
        ),
        "{err:?}"
    );
}

#[test]
fn truncated_pdf_is_corrupt() {
    let bytes = three_page_pdf();
    let err = expect_err(read_file("cut.pdf", &bytes[..bytes.len() / 3]));
    assert!(matches!(err, ReadError::Corrupt { format: "PDF", .. }), "{err:?}");
}

#[test]
fn encrypted_pdf_is_reported() {
    let err = expect_err(read_file("locked.pdf", &fixtures::pdf_encrypted()));
    assert!(matches!(err, ReadError::Encrypted), "{err:?}");
}

#[test]
fn image_only_pdf_needs_ocr() {
    let err = expect_err(read_file("scan.pdf", &fixtures::pdf_image_only(2)));
    assert!(matches!(err, ReadError::NoTextLayer), "{err:?}");
}

#[test]
fn file_over_the_limit_is_refused() {
    let opts = ReadOptions { max_bytes: 10 };
    let err = expect_err(read_file_with("long.txt", b"This file has more than ten bytes.", &opts));
    assert!(matches!(err, ReadError::TooLarge { size: 34, limit: 10 }), "{err:?}");
}

#[test]
fn missing_path_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing: PathBuf = dir.path().join("nope.pdf");
    let err = expect_err(read_path(&missing, &ReadOptions::default()));
    assert!(matches!(err, ReadError::NotFound), "{err:?}");
    let err = expect_err(read_path(dir.path(), &ReadOptions::default()));
    assert!(matches!(err, ReadError::IsDirectory), "{err:?}");
}

#[test]
fn pdf_extension_without_pdf_content_is_corrupt() {
    let err = expect_err(read_file("fake.pdf", b"just some words"));
    assert!(matches!(err, ReadError::Corrupt { format: "PDF", .. }), "{err:?}");
    assert!(!err.to_string().contains(Path::new("fake.pdf").to_str().unwrap()));
}
