//! Arbitrary bytes through the readers: any input must give a document or an error,
//! never a panic, and every block must point at its own text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use termscore::read::{read_bytes, ReadOptions};

/// File names whose extensions steer format detection when the content does not.
const NAMES: &[&str] = &["in.txt", "in.md", "in.html", "in.docx", "in.pdf", "in"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    let opts = ReadOptions {
        max_bytes: 1024 * 1024,
    };
    if let Ok(doc) = read_bytes(Path::new(name), bytes, &opts) {
        for block in &doc.blocks {
            assert!(
                doc.text.get(block.span.clone()).is_some(),
                "span off a char boundary"
            );
        }
    }
});
