//! The encoder runtime against reference vectors, batching order, model resolution from
//! every source, and bad model folders.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use termscore::encode::resolve::{self, ModelSource, Origin};
use termscore::encode::{Encoder, EncoderOptions, Precision};

/// Tests take this lock: some change process environment variables, and loading an
/// encoder sets candle's thread variables.
static ENV: Mutex<()> = Mutex::new(());

fn bundled_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/all-MiniLM-L6-v2")
}

fn load(precision: Precision, threads: usize) -> Encoder {
    let resolved = resolve::bundled().expect("the bundled encoder ships in models/");
    Encoder::load(&resolved, EncoderOptions { precision, threads, ..EncoderOptions::default() })
        .expect("loads")
}

struct Reference {
    texts: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

/// tests/data/reference_embeddings.json was produced once by
/// `training/reference_embeddings.py`: sentence-transformers on PyTorch, the original fp32
/// weights of all-MiniLM-L6-v2 (revision 1110a243), mean pooling, L2-normalised, for
/// the clause texts in tests/data/reference_clauses.jsonl (written for the project).
fn reference() -> Reference {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let texts = termscore::classify::dataset::parse_texts(
        &std::fs::read_to_string(root.join("reference_clauses.jsonl")).unwrap(),
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("reference_embeddings.json")).unwrap(),
    )
    .unwrap();
    let vectors: Vec<Vec<f32>> = json["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect())
        .collect();
    assert_eq!(texts.len(), vectors.len());
    assert!(texts.len() >= 50, "the reference set needs at least 50 texts");
    Reference { texts, vectors }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn check_against_reference(precision: Precision, min_cosine: f32) {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let r = reference();
    let encoder = load(precision, 2);
    let refs: Vec<&str> = r.texts.iter().map(String::as_str).collect();
    let got = encoder.embed(&refs, true).unwrap();
    let mut worst = (1.0f32, 0usize);
    for (i, (g, want)) in got.iter().zip(&r.vectors).enumerate() {
        let c = cosine(g, want);
        if c < worst.0 {
            worst = (c, i);
        }
    }
    eprintln!("{precision:?}: lowest cosine {:.6} over {} texts", worst.0, got.len());
    assert!(
        worst.0 >= min_cosine,
        "{precision:?}: cosine {} < {min_cosine} for text {}: {:?}",
        worst.0,
        worst.1,
        r.texts[worst.1]
    );
}

#[test]
fn bundled_f16_weights_match_the_fp32_reference() {
    check_against_reference(Precision::F32, 0.999);
}

#[test]
fn int8_path_stays_close_to_the_fp32_reference() {
    check_against_reference(Precision::Int8, 0.99);
}

#[test]
fn results_come_back_in_input_order_whatever_the_batching() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let encoder = load(Precision::F32, 2);
    let texts = [
        "The Licensee shall pay all fees within thirty (30) days of invoice.",
        "Governing law: England and Wales.",
        "Neither party may assign this Agreement without the prior written consent of the other party, \
         which consent shall not be unreasonably withheld, conditioned or delayed.",
        "Term.",
        "Client shall not use the Deliverables to train any machine learning model.",
    ];
    let together = encoder.embed(&texts, true).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = encoder.embed(&[t], true).unwrap();
        assert!(cosine(&alone[0], &together[i]) > 0.9999, "text {i} moved or changed in a batch");
    }
    // Reversed input gives the reversed output.
    let mut reversed = texts;
    reversed.reverse();
    let back = encoder.embed(&reversed, true).unwrap();
    for i in 0..texts.len() {
        assert!(cosine(&back[texts.len() - 1 - i], &together[i]) > 0.9999);
    }
}

#[test]
fn long_inputs_are_windowed_not_cut() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let encoder = load(Precision::F32, 1);
    let sentence =
        "The Supplier shall indemnify the Customer against all losses arising from any breach. ";
    let long = sentence.repeat(40);
    assert!(encoder.count_tokens(&long) > 256);
    let states = encoder.token_states(&[&long]).unwrap();
    assert!(states[0].windows >= 2, "a text over 256 tokens is split into windows");
    assert_eq!(
        states[0].states.dim(0).unwrap(),
        encoder.count_tokens(&long) - 2 + 2 * states[0].windows
    );
}

/// Lays out a Hugging Face cache (`models--ORG--NAME/{blobs,refs,snapshots}`) holding
/// the bundled files, as a download would.
fn fake_hub_cache(root: &Path, repo: &str, commit: &str) {
    let base = root.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = base.join("snapshots").join(commit);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(base.join("blobs")).unwrap();
    std::fs::create_dir_all(base.join("refs")).unwrap();
    for (i, f) in resolve::REQUIRED_FILES.iter().enumerate() {
        let blob = base.join("blobs").join(format!("blob{i}"));
        std::fs::copy(bundled_dir().join(f), &blob).unwrap();
        std::os::unix::fs::symlink(&blob, snapshot.join(f)).unwrap();
    }
    std::fs::write(base.join("refs").join("main"), commit).unwrap();
}

#[test]
fn resolution_order_flag_env_hub_bundled() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let commit = "1110a243c4d5e6f708192a3b4c5d6e7f80912345";
    fake_hub_cache(tmp.path(), "sentence-transformers/all-MiniLM-L6-v2", commit);
    std::env::set_var("HF_HUB_CACHE", tmp.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    std::env::remove_var(resolve::MODEL_ENV);

    // Nothing set: the bundled default.
    assert_eq!(resolve::resolve(None).unwrap().source, ModelSource::Bundled);

    // The environment names a hub id: resolved through the offline cache, by branch...
    std::env::set_var(resolve::MODEL_ENV, "hf:sentence-transformers/all-MiniLM-L6-v2");
    let r = resolve::resolve(None).unwrap();
    assert!(
        matches!(&r.source, ModelSource::Hub { commit: c, origin: Origin::Env, .. } if c == commit)
    );
    assert!(r.dir.ends_with(format!("snapshots/{commit}")));
    // ... and by commit prefix.
    std::env::set_var(resolve::MODEL_ENV, "hf:sentence-transformers/all-MiniLM-L6-v2@1110a243");
    assert!(matches!(resolve::resolve(None).unwrap().source, ModelSource::Hub { .. }));

    // A flag wins over the environment.
    let flag = bundled_dir();
    let r = resolve::resolve(Some(flag.to_str().unwrap())).unwrap();
    assert_eq!(r.source, ModelSource::Local { origin: Origin::Flag });

    // A model the cache lacks is a clear error when offline.
    std::env::set_var(resolve::MODEL_ENV, "hf:someone/else");
    let err = resolve::resolve(None).unwrap_err().to_string();
    assert!(err.contains("hf:someone/else@main") && err.contains("HF_HUB_OFFLINE"), "{err}");

    // The hub copy loads and is the same model as the bundled one.
    std::env::set_var(resolve::MODEL_ENV, "hf:sentence-transformers/all-MiniLM-L6-v2");
    let hub = Encoder::load(&resolve::resolve(None).unwrap(), EncoderOptions::default()).unwrap();
    assert_eq!(hub.info().sha256, load(Precision::F32, 1).info().sha256);

    // HF_HOME is honoured when HF_HUB_CACHE is not set.
    std::env::remove_var("HF_HUB_CACHE");
    let home = tempfile::tempdir().unwrap();
    fake_hub_cache(&home.path().join("hub"), "sentence-transformers/all-MiniLM-L6-v2", commit);
    std::env::set_var("HF_HOME", home.path());
    assert!(resolve::resolve(None).unwrap().dir.starts_with(home.path()));

    for var in ["HF_HOME", "HF_HUB_OFFLINE", resolve::MODEL_ENV] {
        std::env::remove_var(var);
    }
}

#[test]
fn bad_model_folders_name_what_is_missing() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(bundled_dir().join("config.json"), dir.join("config.json")).unwrap();
    std::fs::write(dir.join("pytorch_model.bin"), b"pickle").unwrap();
    let err = resolve::resolve_spec(dir.to_str().unwrap(), Origin::Flag).unwrap_err().to_string();
    assert!(err.contains("`tokenizer.json`") && err.contains("`model.safetensors`"), "{err}");
    assert!(err.contains("pickle weights are refused"), "{err}");

    // All three files present but the weights are garbage.
    std::fs::copy(bundled_dir().join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    std::fs::write(dir.join("model.safetensors"), b"not a safetensors file").unwrap();
    let resolved = resolve::resolve_spec(dir.to_str().unwrap(), Origin::Flag).unwrap();
    let err = Encoder::load(&resolved, EncoderOptions::default())
        .err()
        .expect("garbage weights fail")
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");

    // A config that is not JSON.
    std::fs::write(dir.join("config.json"), b"{ not json").unwrap();
    let err = Encoder::load(&resolved, EncoderOptions::default())
        .err()
        .expect("bad config fails")
        .to_string();
    assert!(err.contains("config.json"), "{err}");

    let err = resolve::resolve_spec("/no/such/model/dir", Origin::Flag).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
    let err = resolve::resolve_spec("hf:not a repo", Origin::Flag).unwrap_err().to_string();
    assert!(err.contains("not a hub id"), "{err}");
}

#[test]
fn tuned_layers_copied_from_the_encoder_reproduce_its_top_layers() {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let encoder = load(Precision::F32, 2);
    let reference = reference();
    let texts: Vec<&str> = reference.texts.iter().take(12).map(String::as_str).collect();
    let full = encoder.first_window_states(&texts).unwrap();
    let lower = encoder.first_window_states_at(&texts, 4).unwrap();
    let top = termscore::classify::tuned::TunedLayers::from_encoder(encoder.model(), 4).unwrap();
    assert_eq!(top.layers.len(), 2);
    let inputs: Vec<Vec<f32>> =
        lower.iter().map(|s| s.states.flatten_all().unwrap().to_vec1().unwrap()).collect();
    // A small token budget makes several batches, as a dev set does.
    let outputs = top.transform(&inputs, 64);
    let mut worst = 0f32;
    for (want, got) in full.iter().zip(&outputs) {
        let want: Vec<f32> = want.states.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(want.len(), got.len());
        worst = want.iter().zip(got).fold(worst, |m, (a, b)| m.max((a - b).abs()));
    }
    assert!(worst < 2e-4, "tuned copy differs from the encoder by up to {worst}");
    // The states after four layers are not the last layer's: the copy did the work.
    let (a, b) = (&lower[0].states, &full[0].states);
    let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(gap > 0.5, "layer-4 states equal the output ({gap})");
}
