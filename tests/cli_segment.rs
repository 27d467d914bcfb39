//! `termscore segment` on DOCX, PDF, HTML and text contracts that the tests generate, and
//! on bad input: clause counts, section numbers, spans, errors and exit codes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fixtures::{self, Para};
use serde_json::Value;

fn segment(path: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_termscore"))
        .arg("segment")
        .args(extra)
        .arg(path)
        .output()
        .expect("the binary runs")
}

/// Runs `segment --format json` and returns the clauses, checking that every span points
/// at the clause text (whitespace collapsed) in the document text the JSON does not
/// carry, by re-reading through the library.
fn clauses(path: &Path) -> Vec<Value> {
    let o = segment(path, &["--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let doc = termscore::read::read_path(path, &Default::default()).unwrap();
    let clauses = json["clauses"].as_array().unwrap().clone();
    for (i, c) in clauses.iter().enumerate() {
        assert_eq!(c["index"].as_u64().unwrap() as usize, i);
        let (s, e) = (
            c["span"]["start"].as_u64().unwrap() as usize,
            c["span"]["end"].as_u64().unwrap() as usize,
        );
        let squashed: Vec<&str> = doc.text[s..e].split_whitespace().collect();
        assert_eq!(squashed.join(" "), c["text"].as_str().unwrap(), "span of clause {i}");
    }
    clauses
}

fn sections(clauses: &[Value]) -> Vec<String> {
    clauses.iter().map(|c| c["section"].as_str().unwrap_or("-").to_string()).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn docx_numbering_becomes_section_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let docx = fixtures::docx(&[
        Para::Heading("Design Services Agreement"),
        Para::Numbered(0, "Services. The Designer shall prepare the logo described in the brief."),
        Para::Numbered(1, "The Designer shall deliver two rounds of concepts within ten days."),
        Para::Numbered(2, "Each round includes up to three revisions requested in writing."),
        Para::Numbered(0, "Fees. The Client shall pay the fee within thirty days of invoice."),
        Para::Table(&[&["Milestone", "Fee"], &["Concepts", "USD 1,000"]]),
    ]);
    let path = write(tmp.path(), "agreement.docx", &docx);
    let c = clauses(&path);
    // A provision keeps its numbered sub-items while it fits the token limit; the list
    // numbers Word would show are rendered in the text.
    assert_eq!(sections(&c), ["1", "2"], "{c:#?}");
    assert_eq!(
        c[0]["text"],
        "1. Services. The Designer shall prepare the logo described in the brief. 1.1. The \
         Designer shall deliver two rounds of concepts within ten days. (a) Each round \
         includes up to three revisions requested in writing."
    );
    assert_eq!(c[1]["heading"], "Fees");
    assert!(c.iter().all(|x| !x["text"].as_str().unwrap().contains(fixtures::DOCX_HEADER_TEXT)));
}

#[test]
fn pdf_clauses_keep_their_pages_without_running_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let pdf = fixtures::pdf(&[
        &[
            "MASTER LICENCE AGREEMENT",
            "1. Grant. The Licensor grants the Licensee a licence to display the",
            "Artwork in the Licensee's stores during the Term.",
            "2. Term. This Agreement lasts for two years from the Effective Date.",
            "Page 1 of 2",
        ],
        &[
            "MASTER LICENCE AGREEMENT",
            "3. Termination. Either party may terminate this Agreement on ninety days'",
            "written notice to the other party.",
            "Page 2 of 2",
        ],
    ]);
    let path = write(tmp.path(), "licence.pdf", &pdf);
    let c = clauses(&path);
    assert_eq!(sections(&c), ["1", "2", "3"], "{c:#?}");
    let pages: Vec<u64> = c.iter().map(|x| x["page"].as_u64().unwrap()).collect();
    assert_eq!(pages, [1, 1, 2]);
    for x in &c {
        let text = x["text"].as_str().unwrap();
        assert!(!text.contains("Page 1") && !text.contains("Page 2"), "{text}");
    }
    assert!(c[0]["text"].as_str().unwrap().ends_with("during the Term."));
}

#[test]
fn html_and_text_contracts() {
    let tmp = tempfile::tempdir().unwrap();
    let html = write(tmp.path(), "terms.html", fixtures::html_contract().as_bytes());
    let c = clauses(&html);
    let all: String = c.iter().map(|x| x["text"].as_str().unwrap()).collect::<Vec<_>>().join(" | ");
    assert!(all.contains("We may suspend your account at any time."), "{all}");
    assert!(!all.contains("tracking code") && !all.contains("Pricing"), "{all}");

    let text = "CONSULTING AGREEMENT\n\n\
        1. DEFINITIONS\n\n\
        1.1 \"Services\" means the consulting services in Schedule 1.\n\n\
        2. PAYMENT\n\n\
        2.1 The Client shall pay each invoice within 30 days. Late payments bear interest at \
        1% per month.\n\
        (a) Invoices are sent monthly.\n\
        (b) Disputed amounts are paid within 10 days of resolution.\n\n\
        IN WITNESS WHEREOF, the parties have signed this Agreement.\n\n\
        By: ______________\n";
    let path = write(tmp.path(), "consulting.txt", text.as_bytes());
    let c = clauses(&path);
    let kinds: Vec<&str> = c.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(c[0]["section"], "1.1");
    assert_eq!(c[0]["kind"], "definition");
    assert_eq!(c[0]["heading"], "DEFINITIONS");
    assert_eq!(c[1]["section"], "2.1");
    assert_eq!(c[1]["heading"], "PAYMENT");
    assert_eq!(kinds.last(), Some(&"signature"), "{kinds:?}");
    // Headings never stand alone as clauses.
    assert!(c.iter().all(|x| x["text"] != "PAYMENT" && x["text"] != "2. PAYMENT"));
}

/// Every bad input: one line on stderr naming the file, exit code 2, no panic.
#[test]
fn bad_input_is_one_clear_line_and_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let mut truncated = fixtures::pdf(&[&["1. Grant. Text of the grant."]]);
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(PathBuf, &str, Vec<&str>)> = vec![
        (write(d, "empty.txt", b""), "empty", vec![]),
        (
            write(d, "garbage.bin", &[0u8, 159, 146, 150, 0, 1, 2, 3, 0, 0, 255].repeat(50)),
            "binary",
            vec![],
        ),
        (write(d, "truncated.pdf", &truncated), "PDF", vec![]),
        (write(d, "encrypted.pdf", &fixtures::pdf_encrypted()), "encrypted", vec![]),
        (write(d, "scan.pdf", &fixtures::pdf_image_only(2)), "OCR", vec![]),
        (
            write(d, "bomb.docx", &fixtures::docx_bomb(64 << 20)),
            "zip bomb",
            vec!["--max-bytes", "1000000"],
        ),
        (
            write(d, "big.txt", "1. A clause of text.\n".repeat(100).as_bytes()),
            "over the limit",
            vec!["--max-bytes", "100"],
        ),
        (d.join("does-not-exist.pdf"), "no such file", vec![]),
        (d.to_path_buf(), "directory", vec![]),
    ];
    for (path, needle, extra) in cases {
        let o = segment(&path, &extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", path.display());
        assert!(o.stdout.is_empty(), "{}: nothing on stdout", path.display());
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{}: one line, got {err:?}", path.display());
        assert!(
            lines[0].contains(&path.display().to_string()),
            "{}: names the file: {err}",
            path.display()
        );
        assert!(
            lines[0].to_lowercase().contains(&needle.to_lowercase()),
            "{}: says {needle:?}: {err}",
            path.display()
        );
    }
}
