//! Plain text: raw bytes become Unicode text (BOM, UTF-8, or a guessed legacy encoding)
//! and the text becomes blocks, one per run of non-blank lines.

use std::path::Path;

use super::{from_paragraphs, BlockKind, Document, Format, ReadError};

/// Share of control bytes (other than tab, line breaks, form feed and escape) above which
/// BOM-less input is taken for binary data rather than text.
const MAX_CONTROL_SHARE: f64 = 0.05;

/// Decodes bytes to text. Returns the text (line breaks normalised to `\n`, form feeds and
/// other control characters removed) and warnings for the user.
///
/// UTF-8 (with or without BOM) and UTF-16 with a BOM are decoded directly. Anything else
/// is guessed with chardetng and decoded with encoding_rs, and a warning names the guess,
/// so that a wrong guess is never silent.
pub(super) fn decode(bytes: &[u8]) -> Result<(String, Vec<String>), ReadError> {
    let mut warnings = Vec::new();
    let text = if let Some((encoding, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = encoding.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors {
            warnings.push(format!(
                "text has a {} byte order mark but invalid sequences; they were replaced by \
                 U+FFFD",
                encoding.name()
            ));
        }
        text.into_owned()
    } else {
        if looks_binary(bytes) {
            return Err(ReadError::Unsupported("binary data, not text".into()));
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_string(),
            Err(_) => {
                let mut detector =
                    chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                detector.feed(bytes, true);
                let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
                let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
                warnings.push(format!(
                    "text is not UTF-8; decoded it as {} (a guess: check the output, or \
                     convert the file to UTF-8)",
                    encoding.name()
                ));
                if had_errors {
                    warnings.push(format!(
                        "some bytes are invalid in {}; they were replaced by U+FFFD",
                        encoding.name()
                    ));
                }
                text.into_owned()
            }
        }
    };
    Ok((normalise(&text), warnings))
}

/// True when the bytes hold NULs or many control bytes: binary data, or UTF-16 without a
/// BOM (which TermScore does not guess).
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64 * 1024)];
    if sample.contains(&0) {
        return true;
    }
    let controls = sample
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1B)) || b == 0x7F)
        .count();
    controls as f64 > sample.len() as f64 * MAX_CONTROL_SHARE
}

/// Turns CRLF and CR into LF, a form feed (a page break in text dumps) into a line break,
/// and drops the remaining control characters except tab.
pub(super) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{0C}' => out.push('\n'),
            '\n' | '\t' => out.push(c),
            '\u{FEFF}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Splits normalised text into runs of non-blank lines. Line breaks inside a run are kept
/// (trailing spaces trimmed): the segmenter decides whether a line starting with a section
/// number opens a new clause.
pub(super) fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Builds a plain-text document from decoded text.
pub(super) fn read(path: &Path, text: &str) -> Document {
    let blocks = paragraphs(text).into_iter().map(|p| (BlockKind::Paragraph, p, None));
    from_paragraphs(path, Format::Text, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_bom_is_stripped_and_crlf_normalised() {
        let (text, warnings) = decode(b"\xEF\xBB\xBFone\r\ntwo\rthree").unwrap();
        assert_eq!(text, "one\ntwo\nthree");
        assert!(warnings.is_empty());
    }

    #[test]
    fn utf16_with_bom_decodes_both_byte_orders() {
        let words = "Caf\u{e9} \u{2014} terms";
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(words.encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(words.encode_utf16().flat_map(|u| u.to_be_bytes()))
            .collect();
        assert_eq!(decode(&le).unwrap().0, words);
        assert_eq!(decode(&be).unwrap().0, words);
    }

    #[test]
    fn legacy_encoding_is_guessed_with_a_warning() {
        // "Der Käufer zahlt die Gebühr" in windows-1252 / Latin-1.
        let bytes = b"Der K\xE4ufer zahlt die Geb\xFChr f\xFCr die \xC4nderung.";
        let (text, warnings) = decode(bytes).unwrap();
        assert_eq!(text, "Der K\u{e4}ufer zahlt die Geb\u{fc}hr f\u{fc}r die \u{c4}nderung.");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("windows-1252"), "{warnings:?}");
    }

    #[test]
    fn binary_data_is_refused() {
        let err = decode(b"\x00\x01\x02\x03abc\x00\x00\x10").unwrap_err();
        assert!(matches!(err, ReadError::Unsupported(_)), "{err:?}");
        let controls: Vec<u8> = (0..200u8).map(|i| if i % 4 == 0 { 0x01 } else { b'a' }).collect();
        assert!(decode(&controls).is_err());
    }

    #[test]
    fn form_feeds_and_controls_are_removed() {
        assert_eq!(normalise("end of page\u{0C}Next\u{7}"), "end of page\nNext");
    }

    #[test]
    fn blocks_are_runs_of_non_blank_lines() {
        let doc = read(Path::new("a.txt"), "1. Term\n1.1 The term is one year.  \n \n\n2. Fees\n");
        let texts: Vec<&str> = doc.blocks.iter().map(|b| doc.block_text(b)).collect();
        assert_eq!(texts, ["1. Term\n1.1 The term is one year.", "2. Fees"]);
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Paragraph && b.page.is_none()));
        assert_eq!(doc.text, "1. Term\n1.1 The term is one year.\n\n2. Fees");
    }
}
