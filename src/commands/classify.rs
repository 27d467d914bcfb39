//! `termscore classify` and `termscore eval`: the classifier over texts and over
//! labelled files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use termscore::classify::cache::StateCache;
use termscore::classify::dataset;
use termscore::classify::metrics;
use termscore::classify::model::{Classifier, SHIPPED_NAME};
use termscore::classify::taxonomy::Taxonomy;
use termscore::encode::{resolve, Encoder, EncoderOptions, Precision};
use termscore::exit::ExitCode;

use crate::cli::{
    ClassifierArgs, ClassifyArgs, ClassifyFormat, EvalArgs, PrecisionArg, ReportFormat,
};

/// A classifier and the encoder it was trained on, loaded once.
pub struct Loaded {
    pub classifier: Classifier,
    pub encoder: Encoder,
}

pub fn classifier_dir(args: &ClassifierArgs) -> PathBuf {
    args.model.clone().unwrap_or_else(|| resolve::models_dir().join(SHIPPED_NAME))
}

pub fn load(args: &ClassifierArgs) -> Result<Loaded> {
    let dir = classifier_dir(args);
    let classifier = Classifier::load(&dir)?;
    let resolved = resolve::resolve(None)?;
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::Int8 => Precision::Int8,
    };
    let encoder = Encoder::load(
        &resolved,
        EncoderOptions { threads: args.threads, precision, ..EncoderOptions::default() },
    )
    .with_context(|| format!("failed to load the encoder in `{}`", resolved.dir.display()))?;
    classifier.check_encoder(&encoder)?;
    Ok(Loaded { classifier, encoder })
}

pub fn classify(args: ClassifyArgs) -> Result<ExitCode> {
    let texts = super::read_text_input(args.input.as_deref())?;
    let loaded = load(&args.classifier)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let predictions = loaded.classifier.predict(&loaded.encoder, &refs)?;
    let labels = &loaded.classifier.meta.labels;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (text, p) in texts.iter().zip(&predictions) {
        let above = loaded.classifier.labels_of(p);
        match args.format {
            ClassifyFormat::Jsonl => {
                let probabilities: serde_json::Map<String, serde_json::Value> = labels
                    .iter()
                    .zip(&p.probabilities)
                    .map(|(l, &prob)| (l.clone(), serde_json::json!((prob * 1e4).round() / 1e4)))
                    .collect();
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({ "labels": above, "probabilities": probabilities }),
                )?;
                writeln!(out)?;
            }
            ClassifyFormat::Text => {
                let shown: Vec<String> = above
                    .iter()
                    .map(|l| {
                        let i = loaded.classifier.label_index(l).unwrap_or(0);
                        format!("{l} ({:.2})", p.probabilities[i])
                    })
                    .collect();
                let snippet: String = text.chars().take(80).collect();
                writeln!(
                    out,
                    "{}\t{snippet}",
                    if shown.is_empty() { "-".into() } else { shown.join(", ") }
                )?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}

pub fn eval(args: EvalArgs) -> Result<ExitCode> {
    let taxonomy = Taxonomy::bundled();
    let set = dataset::read_labelled(&args.data, &|id| taxonomy.contains(id))?;
    let loaded = load(&args.classifier)?;
    let texts: Vec<&str> = set.examples.iter().map(|e| e.text.as_str()).collect();
    // Reuse cached encoder outputs where present (the cache is keyed by encoder weights).
    // A lexical-only model reads no encoder outputs.
    let mut states = Vec::with_capacity(texts.len());
    if loaded.classifier.needs_states() {
        let layers = loaded.classifier.input_layers();
        let mut cache = StateCache::open_at(&args.cache, &loaded.encoder.info().sha256, layers)?;
        super::fill_cache(&mut cache, &loaded.encoder, &texts)?;
        for t in &texts {
            states.push(cache.get(t)?.context("encoder output missing from the cache")?);
        }
    }
    // Tuned layers run in the encoder's worker pool.
    let predictions =
        loaded.encoder.install(|| loaded.classifier.predict_states(&states, &texts))?;
    let predicted: Vec<Vec<String>> =
        predictions.iter().map(|p| loaded.classifier.labels_of(p)).collect();
    let gold: Vec<Vec<String>> = set.examples.iter().map(|e| e.labels.clone()).collect();
    let support = |l: &String| gold.iter().filter(|g| g.contains(l)).count();
    let (labels, left_out): (Vec<String>, Vec<String>) =
        set.scope.iter().cloned().partition(|l| support(l) >= args.min_support.max(1));
    let mut report = metrics::evaluate(&labels, &gold, &predicted);
    report.left_out = left_out;
    report.min_support = args.min_support.max(1);
    if let Some(title) = &args.card {
        let card_path = classifier_dir(&args.classifier).join("README.md");
        let mut card = std::fs::read_to_string(&card_path).unwrap_or_default();
        card.push('\n');
        card.push_str(&termscore::classify::card::report_table(
            &format!("{title} (`{}`)", args.data.display()),
            &report,
        ));
        termscore::classify::model::write_atomic(&card_path, card.as_bytes())
            .with_context(|| format!("failed to write `{}`", card_path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Text => {
            writeln!(
                out,
                "{:<36} {:>9} {:>7} {:>7} {:>8}",
                "label", "precision", "recall", "f1", "support"
            )?;
            for (label, r) in &report.per_label {
                writeln!(
                    out,
                    "{label:<36} {:>9.3} {:>7.3} {:>7.3} {:>8}",
                    r.precision, r.recall, r.f1, r.support
                )?;
            }
            writeln!(
                out,
                "\nmicro-F1 {:.4}  macro-F1 {:.4}  ({} examples, {} labels)",
                report.micro_f1,
                report.macro_f1,
                report.examples,
                report.per_label.len()
            )?;
            if !report.left_out.is_empty() {
                writeln!(
                    out,
                    "left out (under {} positives): {}",
                    report.min_support,
                    report.left_out.join(", ")
                )?;
            }
        }
    }
    Ok(ExitCode::Clean)
}
