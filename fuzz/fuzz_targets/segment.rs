//! Arbitrary bytes read as a document and split into clauses with default options.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use termscore::read::{read_bytes, ReadOptions};
use termscore::segment::{segment, SegmentOptions};

const NAMES: &[&str] = &["in.txt", "in.md", "in.html", "in.docx", "in.pdf"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let opts = ReadOptions {
        max_bytes: 1024 * 1024,
    };
    if let Ok(doc) = read_bytes(Path::new(name), bytes, &opts) {
        for clause in segment(&doc, &SegmentOptions::default()) {
            assert!(
                doc.text.get(clause.span.clone()).is_some(),
                "clause span off the text"
            );
        }
    }
});
