//! Segmentation on CUAD: reads the 510 contract texts, segments them with the
//! bundled WordPiece tokenizer, and measures how many lawyer-marked spans of at
//! most 60 words fall inside a single clause, plus clause sizes and throughput.
//!
//! Run with `cargo bench --bench segment_eval` (or `--profile dev` for a quick
//! build). `TERMSCORE_SHARED` overrides the shared folder (default `../shared`);
//! `TERMSCORE_SEG_EXAMPLES=N` prints N spans that straddle clauses to stderr.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use termscore::read::{read_path, ReadOptions};
use termscore::segment::{segment, Clause, ClauseKind, SegmentOptions, WordPieceCounter};

/// Longest lawyer-marked span counted, in words.
const MAX_SPAN_WORDS: usize = 60;
/// Shortest part of a discontiguous (`<omitted>`) span counted on its own.
const MIN_PART_WORDS: usize = 5;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

struct Span {
    text: String,
    label: String,
    /// A part of a discontiguous (`<omitted>`) span.
    part: bool,
}

fn run() -> Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = std::env::var_os("TERMSCORE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared"));
    let cuad = shared.join("data/cuad");
    let txt_dir = cuad.join("raw/full_contract_txt");
    let examples: usize =
        std::env::var("TERMSCORE_SEG_EXAMPLES").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let tokenizer = root.join("models/all-MiniLM-L6-v2/tokenizer.json");
    let counter = WordPieceCounter::from_file(&tokenizer)?;
    let opts = SegmentOptions { max_tokens: 256, counter: &counter };

    let mut files: Vec<PathBuf> = std::fs::read_dir(&txt_dir)
        .with_context(|| format!("failed to list `{}`", txt_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no contract texts in `{}`", txt_dir.display());
    }
    let spans = load_spans(&cuad.join("cuad_clauses.jsonl"), &files)?;

    let mut read_time = Duration::ZERO;
    let mut seg_time = Duration::ZERO;
    let (mut clauses_total, mut over, mut under4, mut failed) = (0usize, 0usize, 0usize, 0usize);
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let (mut n_spans, mut parts_from_omitted, mut unlocated) = (0usize, 0usize, 0usize);
    let (mut inside_any, mut inside_first) = (0usize, 0usize);
    let mut misses_by_label: BTreeMap<String, usize> = BTreeMap::new();
    let mut shown = 0;
    for path in &files {
        let t0 = Instant::now();
        let doc = match read_path(path, &ReadOptions::default()) {
            Ok(doc) => doc,
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let t1 = Instant::now();
        let clauses = segment(&doc, &opts);
        let t2 = Instant::now();
        read_time += t1 - t0;
        seg_time += t2 - t1;

        clauses_total += clauses.len();
        for c in &clauses {
            if counter_count(&counter, &c.text) > 256 {
                over += 1;
            }
            if c.text.split_whitespace().count() < 4 {
                under4 += 1;
            }
            *kinds.entry(format!("{:?}", c.kind)).or_default() += 1;
        }
        let index = Squashed::new(&doc.text);
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        for span in spans.get(&name).into_iter().flatten() {
            if span.part {
                parts_from_omitted += 1;
            }
            n_spans += 1;
            let found = index.find_all(&span.text);
            if found.is_empty() {
                unlocated += 1;
                continue;
            }
            let holds = |r: &Range<usize>| clauses.iter().any(|c| within(c, r));
            if holds(&found[0]) {
                inside_first += 1;
            }
            if found.iter().any(holds) {
                inside_any += 1;
            } else {
                *misses_by_label.entry(span.label.clone()).or_default() += 1;
                if shown < examples {
                    shown += 1;
                    show_miss(&name, &doc.text, &found[0], &clauses);
                }
            }
        }
    }

    let docs = files.len() - failed;
    let located = n_spans - unlocated;
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    println!("| measure | value |");
    println!("|---|---|");
    println!("| contracts segmented | {docs} (unreadable: {failed}) |");
    println!(
        "| clauses | {clauses_total} ({:.1} per contract) |",
        clauses_total as f64 / docs as f64
    );
    println!("| clauses over 256 tokens | {over} ({:.2}%) |", pct(over, clauses_total));
    println!("| clauses under 4 words | {under4} ({:.2}%) |", pct(under4, clauses_total));
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("| clause kinds | {} |", kinds.join(", "));
    println!(
        "| spans of <= {MAX_SPAN_WORDS} words | {n_spans} ({parts_from_omitted} are parts of \
         `<omitted>` spans) |"
    );
    println!("| spans not located in the text | {unlocated} ({:.2}%) |", pct(unlocated, n_spans));
    println!(
        "| located spans inside one clause (any occurrence) | {inside_any} / {located} ({:.2}%) |",
        pct(inside_any, located)
    );
    println!(
        "| located spans inside one clause (first occurrence) | {inside_first} / {located} \
         ({:.2}%) |",
        pct(inside_first, located)
    );
    println!(
        "| contracts per second, segmentation only | {:.1} |",
        docs as f64 / seg_time.as_secs_f64()
    );
    println!(
        "| contracts per second, reading + segmentation | {:.1} |",
        docs as f64 / (seg_time + read_time).as_secs_f64()
    );
    let mut misses: Vec<(String, usize)> = misses_by_label.into_iter().collect();
    misses.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = misses.iter().take(8).map(|(l, n)| format!("{l} {n}")).collect();
    println!("| spans straddling clauses, by label (top 8) | {} |", top.join(", "));
    Ok(())
}

fn counter_count(counter: &WordPieceCounter, text: &str) -> usize {
    use termscore::segment::TokenCounter;
    counter.count(text)
}

fn within(c: &Clause, r: &Range<usize>) -> bool {
    c.span.start <= r.start && r.end <= c.span.end
}

fn show_miss(name: &str, text: &str, r: &Range<usize>, clauses: &[Clause]) {
    eprintln!("--- {name}");
    eprintln!("SPAN: {}", squash(&text[r.clone()]));
    for c in clauses.iter().filter(|c| c.span.start < r.end && r.start < c.span.end) {
        let kind = match c.kind {
            ClauseKind::Clause => "clause",
            ClauseKind::Definition => "definition",
            ClauseKind::Recital => "recital",
            ClauseKind::Signature => "signature",
            ClauseKind::Exhibit => "exhibit",
        };
        eprintln!("  CLAUSE {} [{kind}] {:?} {:?}: {}", c.index, c.section, c.heading, c.text);
    }
    if !clauses.iter().any(|c| c.span.start < r.end && r.start < c.span.end) {
        eprintln!("  (in no clause)");
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lawyer-marked spans per contract text file name; `<omitted>` spans become their
/// parts of at least [`MIN_PART_WORDS`] words. Only spans of at most
/// [`MAX_SPAN_WORDS`] words are kept.
fn load_spans(path: &Path, files: &[PathBuf]) -> Result<HashMap<String, Vec<Span>>> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect();
    let by_key: HashMap<String, &String> = names.iter().map(|n| (name_key(n), n)).collect();
    let mut out: HashMap<String, Vec<Span>> = HashMap::new();
    let mut unmatched = 0;
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("`{}` line {}: bad JSON", path.display(), i + 1))?;
        let (Some(text), Some(source)) = (v["text"].as_str(), v["source"].as_str()) else {
            bail!("`{}` line {}: missing `text` or `source`", path.display(), i + 1);
        };
        let label = v["labels"][0].as_str().unwrap_or("?").to_string();
        let pdf = source.trim_start_matches("cuad_v1:");
        let Some(name) = by_key.get(&name_key(pdf)) else {
            unmatched += 1;
            continue;
        };
        let parts: Vec<&str> = if text.contains("<omitted>") {
            text.split("<omitted>")
                .filter(|p| p.split_whitespace().count() >= MIN_PART_WORDS)
                .collect()
        } else {
            vec![text]
        };
        for p in parts {
            let words = p.split_whitespace().count();
            if words > 0 && words <= MAX_SPAN_WORDS {
                let part = text.contains("<omitted>");
                let span = Span { text: p.to_string(), label: label.clone(), part };
                out.entry((*name).clone()).or_default().push(span);
            }
        }
    }
    if unmatched > 0 {
        eprintln!("warning: {unmatched} spans name a contract with no text file");
    }
    Ok(out)
}

/// A file name reduced to lowercase ASCII letters and digits, without extension:
/// absorbs the case, accent and stray-quote differences between CSV and file names.
fn name_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| match c {
            'É' | 'é' | 'È' | 'è' | 'Ê' | 'ê' => 'e',
            c => c,
        })
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let stem = key.strip_suffix("pdf").or_else(|| key.strip_suffix("txt"));
    stem.map(str::to_string).unwrap_or(key)
}

/// The document text without whitespace, with each kept character's byte range.
struct Squashed {
    text: String,
    /// Byte offset in the original text of each byte of `text`.
    origin: Vec<usize>,
    orig_len: Vec<usize>,
}

impl Squashed {
    fn new(s: &str) -> Self {
        let mut text = String::with_capacity(s.len());
        let mut origin = Vec::with_capacity(s.len());
        let mut orig_len = Vec::with_capacity(s.len());
        for (i, c) in s.char_indices() {
            if c.is_whitespace() {
                continue;
            }
            text.push(c);
            for _ in 0..c.len_utf8() {
                origin.push(i);
                orig_len.push(c.len_utf8());
            }
        }
        Self { text, origin, orig_len }
    }

    /// Every occurrence of `needle` (whitespace ignored) as a byte range of the
    /// original text.
    fn find_all(&self, needle: &str) -> Vec<Range<usize>> {
        let n: String = needle.chars().filter(|c| !c.is_whitespace()).collect();
        if n.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(p) = self.text[from..].find(&n) {
            let start = from + p;
            let last = start + n.len() - 1;
            out.push(self.origin[start]..self.origin[last] + self.orig_len[last]);
            from = start + n.chars().next().map_or(1, char::len_utf8);
        }
        out
    }
}
