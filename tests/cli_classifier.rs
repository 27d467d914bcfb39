//! The `train`, `eval` and `classify` commands, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_termscore"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `termscore eval --format json` of a model on a labelled file, parsed.
fn eval_json(model: &Path, data: &Path, cache: &Path) -> serde_json::Value {
    let o = run(bin()
        .args(["eval", "--format", "json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--cache")
        .arg(cache));
    assert!(o.status.success(), "eval failed: {}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// A small labelled file cut from the project's own annotations: `n` examples with
/// each of two labels and `n` without either.
fn small_training_file(dir: &Path, name: &str, skip: usize, n: usize) -> PathBuf {
    let text =
        std::fs::read_to_string(root().join("data/annotations/ai_terms.train.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let has =
        |r: &serde_json::Value, l: &str| r["labels"].as_array().unwrap().iter().any(|x| x == l);
    let pick = |f: &dyn Fn(&serde_json::Value) -> bool| -> Vec<serde_json::Value> {
        rows.iter().filter(|r| f(r)).skip(skip).take(n).cloned().collect()
    };
    let mut out = Vec::new();
    out.extend(pick(&|r| has(r, "ai_training_prohibited")));
    out.extend(pick(&|r| has(r, "third_party_ai_prohibited") && !has(r, "ai_training_prohibited")));
    out.extend(pick(&|r| r["labels"].as_array().unwrap().is_empty()));
    let lines: Vec<String> = out
        .iter()
        .map(|r| {
            let labels: Vec<&serde_json::Value> = r["labels"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|l| *l == "ai_training_prohibited" || *l == "third_party_ai_prohibited")
                .collect();
            serde_json::json!({"text": r["text"], "labels": labels}).to_string()
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn train_is_deterministic_for_a_seed_and_eval_reads_back_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let train = small_training_file(tmp.path(), "train.jsonl", 0, 12);
    let dev = small_training_file(tmp.path(), "dev.jsonl", 12, 5);
    let cache = tmp.path().join("cache");
    let train_to = |out: &str| {
        let o = run(bin()
            .args(["train", "--data"])
            .arg(&train)
            .arg("--dev")
            .arg(&dev)
            .args(["--epochs", "3", "--seed", "5", "--threads", "2", "--cache"])
            .arg(&cache)
            .arg("--out")
            .arg(tmp.path().join(out)));
        assert!(o.status.success(), "train failed: {}", stderr(&o));
        o
    };
    let first = train_to("a");
    assert!(stderr(&first).contains("new texts encoded"), "{}", stderr(&first));
    // The second run re-encodes nothing: every text is in the cache.
    let second = train_to("b");
    assert!(stderr(&second).contains("encoder: 0 new texts encoded"), "{}", stderr(&second));
    let weights = |m: &str| std::fs::read(tmp.path().join(m).join("head.safetensors")).unwrap();
    assert!(
        weights("a") == weights("b"),
        "head weights differ between two runs with the same seed"
    );
    let meta_of = |m: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(tmp.path().join(m).join("classifier.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let meta = meta_of("a");
    assert_eq!(meta["thresholds"], meta_of("b")["thresholds"]);
    let labels: Vec<&str> =
        meta["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(labels, ["ai_training_prohibited", "third_party_ai_prohibited"]);
    assert!(tmp.path().join("a/README.md").exists() && tmp.path().join("a/metrics.json").exists());

    // Continuing from the model keeps its head shape and labels, whatever the flags say.
    let o = run(bin()
        .args(["train", "--epochs", "1", "--attn-dim", "32", "--init"])
        .arg(tmp.path().join("a"))
        .arg("--data")
        .arg(&dev)
        .arg("--cache")
        .arg(&cache)
        .arg("--out")
        .arg(tmp.path().join("c")));
    assert!(o.status.success(), "continue failed: {}", stderr(&o));
    let continued = meta_of("c");
    assert_eq!(continued["labels"], meta["labels"]);
    assert_eq!(continued["head"], meta["head"]);

    // eval --format json on the training file: the keys are the documented ones.
    let report = eval_json(&tmp.path().join("a"), &train, &cache);
    for key in ["micro_f1", "macro_f1", "per_label"] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    let per = &report["per_label"]["ai_training_prohibited"];
    assert_eq!(per["support"], 12);
    for k in ["precision", "recall", "f1"] {
        let v = per[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v));
    }
    // Fitting 36 examples for three epochs learns the training set well.
    assert!(report["macro_f1"].as_f64().unwrap() > 0.6, "{report}");
}

#[test]
fn the_lexical_model_alone_trains_and_evaluates_without_encoding_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let train = small_training_file(tmp.path(), "train.jsonl", 0, 20);
    let held_out = small_training_file(tmp.path(), "held_out.jsonl", 20, 8);
    let cache = tmp.path().join("cache");
    let model = tmp.path().join("lex");
    let o = run(bin()
        .args(["train", "--components", "lexical", "--data"])
        .arg(&train)
        .arg("--dev")
        .arg(&held_out)
        .arg("--cache")
        .arg(&cache)
        .arg("--out")
        .arg(&model));
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    assert!(stderr(&o).contains("lexical model: solved"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("new texts encoded"), "{}", stderr(&o));
    let report = eval_json(&model, &held_out, &cache);
    // Neither training nor evaluation wrote an encoder output.
    let shards: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    assert!(shards.is_empty(), "the lexical model alone needs no encoder outputs: {shards:?}");
    // Clauses written separately from the training ones: the words that mark an AI
    // training ban or an outside-AI ban carry over.
    assert_eq!(report["per_label"]["ai_training_prohibited"]["support"], 8);
    assert!(report["macro_f1"].as_f64().unwrap() > 0.5, "{report}");
}

#[test]
fn unknown_labels_and_bad_lines_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"a\", \"labels\": [\"not_a_label\", \"also_not\"]}\n")
        .unwrap();
    let o = run(bin().args(["train", "--data"]).arg(&bad).arg("--out").arg(tmp.path().join("m")));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("unknown label ids: also_not, not_a_label") && err.contains("bad.jsonl"),
        "{err}"
    );

    std::fs::write(&bad, "{\"text\": \"a\"}\nnot json\n").unwrap();
    let o = run(bin().args(["eval", "--data"]).arg(&bad));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));

    let o = run(bin().args(["classify", "--model", "/no/such/model"]).arg(&bad));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/model"), "{}", stderr(&o));
}

#[test]
fn classify_prints_one_line_per_input_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let texts = [
        "The Client shall not use the Deliverables, in whole or in part, to train, fine-tune or improve any machine learning or artificial intelligence model.",
        "This Agreement shall be governed by the laws of the State of New York.",
        "Contractor shall not upload, submit or input the Client Materials into any third-party generative AI tool or platform.",
    ];
    let body: Vec<String> =
        texts.iter().map(|t| serde_json::json!({"text": t, "id": 1}).to_string()).collect();
    std::fs::write(&input, body.join("\n")).unwrap();
    let o = run(bin().arg("classify").arg(&input));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    let labels = |i: usize| -> Vec<String> {
        lines[i]["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    assert!(labels(0).contains(&"ai_training_prohibited".to_string()), "{:?}", lines[0]);
    assert!(labels(1).contains(&"governing_law".to_string()), "{:?}", lines[1]);
    assert!(labels(2).contains(&"third_party_ai_prohibited".to_string()), "{:?}", lines[2]);
    // Probabilities for every label, and the listed labels are the ones above threshold.
    assert!(lines[0]["probabilities"].as_object().unwrap().len() >= 40);

    // Plain lines on stdin work the same.
    let mut child = bin()
        .args(["classify", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n\n{}\n", texts[1], texts[0]).as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("governing_law") && lines[1].contains("ai_training_prohibited"));
}

#[test]
fn fine_tuned_top_layers_train_deterministically_and_ship_with_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let train = small_training_file(tmp.path(), "train.jsonl", 0, 12);
    let dev = small_training_file(tmp.path(), "dev.jsonl", 12, 5);
    let cache = tmp.path().join("cache");
    let train_to = |out: &str, threads: &str| {
        let o = run(bin()
            .args(["train", "--tune-layers", "2", "--epochs", "2", "--seed", "5", "--data"])
            .arg(&train)
            .arg("--dev")
            .arg(&dev)
            .args(["--threads", threads, "--cache"])
            .arg(&cache)
            .arg("--out")
            .arg(tmp.path().join(out)));
        assert!(o.status.success(), "train failed: {}", stderr(&o));
    };
    train_to("one", "1");
    train_to("two", "2");
    let weights = |m: &str| std::fs::read(tmp.path().join(m).join("head.safetensors")).unwrap();
    assert!(weights("one") == weights("two"), "the thread count changed the trained model");

    // The model records and carries its two tuned layers, and they moved in training.
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("one/classifier.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["tuned"]["from_layer"], 4);
    assert_eq!(meta["tuned"]["layers"], 2);
    let tensors = candle_core::safetensors::load(
        tmp.path().join("one/head.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let encoder = candle_core::safetensors::load(
        root().join("models/all-MiniLM-L6-v2/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let tuned = tensors["tuned.1.out_b"]
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let base = encoder
        .iter()
        .find(|(n, _)| n.ends_with("encoder.layer.5.output.dense.bias"))
        .map(|(_, t)| t.to_dtype(candle_core::DType::F32).unwrap().to_vec1::<f32>().unwrap())
        .expect("the encoder has a sixth layer");
    assert_eq!(tuned.len(), base.len());
    let moved = tuned.iter().zip(&base).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-5, "the tuned layer is still the encoder's ({moved})");
    // Its cache holds the states of the four frozen layers, and only those.
    let dirs: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(dirs.len() == 1 && dirs[0].ends_with("-layer4"), "{dirs:?}");

    // The saved model predicts what it learned, through eval and classify alike.
    let report = eval_json(&tmp.path().join("one"), &train, &cache);
    assert!(report["macro_f1"].as_f64().unwrap() > 0.6, "{report}");
    let line = std::fs::read_to_string(&train).unwrap().lines().next().unwrap().to_string();
    let mut child = bin()
        .args(["classify", "--format", "jsonl", "--model"])
        .arg(tmp.path().join("one"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(format!("{line}\n").as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let gold: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(out["labels"], gold["labels"], "{out}");
}
