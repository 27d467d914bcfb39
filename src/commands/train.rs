//! `termscore train`: labelled files become a trained classifier folder with metrics
//! and a model card.

use std::io::Write;

use anyhow::{bail, Context, Result};
use termscore::classify::cache::StateCache;
use termscore::classify::dataset::{self, Dataset};
use termscore::classify::linear::LinearOptions;
use termscore::classify::metrics::four_places;
use termscore::classify::model::{Classifier, EncoderRef};
use termscore::classify::taxonomy::Taxonomy;
use termscore::classify::train::{self, Components, Event, TrainOptions};
use termscore::classify::tuned::TunedLayers;
use termscore::encode::{resolve, Encoder, EncoderOptions};
use termscore::exit::ExitCode;

use crate::cli::{ComponentsArg, TrainArgs};

pub fn read_sets(paths: &[std::path::PathBuf], taxonomy: &Taxonomy) -> Result<Vec<Dataset>> {
    paths
        .iter()
        .map(|p| {
            dataset::read_labelled(p, &|id| taxonomy.contains(id)).map_err(anyhow::Error::from)
        })
        .collect()
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    let taxonomy = Taxonomy::bundled();
    let train_sets = read_sets(&args.data, &taxonomy)?;
    let dev_sets = read_sets(&args.dev, &taxonomy)?;
    let init = args.init.as_deref().map(Classifier::load).transpose()?;
    if args.out.exists() && !args.out.is_dir() {
        bail!("`{}` exists and is not a folder", args.out.display());
    }

    let resolved = resolve::resolve(args.encoder.as_deref())?;
    let encoder = Encoder::load(
        &resolved,
        EncoderOptions { threads: args.threads, ..EncoderOptions::default() },
    )
    .with_context(|| format!("failed to load the encoder in `{}`", resolved.dir.display()))?;
    if let Some(model) = &init {
        model.check_encoder(&encoder)?;
    }
    let components = match args.components {
        ComponentsArg::Both => Components::Both,
        ComponentsArg::Lexical => Components::Lexical,
        ComponentsArg::Head => Components::Head,
    };
    // Continuing keeps the model's shape: its tuned layers, or none. A fresh model tunes
    // `--tune-layers` of the encoder, unless it has no transformer head to tune them for.
    let tuned = match &init {
        Some(m) => m.tuned.clone(),
        None if args.tune_layers > 0 && components != Components::Lexical => {
            let from = super::cached_layers(&encoder, args.tune_layers)?.unwrap_or(0);
            Some(
                TunedLayers::from_encoder(encoder.model(), from)
                    .context("failed to copy the encoder layers to fine-tune")?,
            )
        }
        None => None,
    };
    let layers = tuned.as_ref().map(|t| t.config.from_layer);
    let mut cache = StateCache::open_at(&args.cache, &encoder.info().sha256, layers)?;
    let texts: Vec<&str> = train_sets
        .iter()
        .chain(&dev_sets)
        .flat_map(|s| s.examples.iter().map(|e| e.text.as_str()))
        .collect();
    if train::needs_states(components, args.dense_scale) {
        let encoded = super::fill_cache(&mut cache, &encoder, &texts)?;
        eprintln!("encoder: {encoded} new texts encoded, {} cached", cache.len());
    }

    let order: Vec<String> = taxonomy.ids().map(str::to_string).collect();
    let base = init.as_ref().map(|m| m.meta.labels.clone()).unwrap_or_default();
    let labels = train::model_labels(&base, &train_sets, &order);
    let opts = TrainOptions {
        seed: args.seed,
        max_epochs: args.epochs,
        patience: args.patience,
        lr: args.lr,
        weight_decay: args.weight_decay,
        attn_dim: args.attn_dim,
        linear: LinearOptions { c: args.lexical_c, ..LinearOptions::default() },
        dense_scale: args.dense_scale,
        components,
        tune_lr: args.tune_lr,
        ..TrainOptions::default()
    };
    // Training runs the head only: give candle's matmul the encoder's worker threads.
    termscore::encode::set_tensor_threads(encoder.info().threads);
    let encoder_ref =
        EncoderRef { name: encoder_name(&encoder), sha256: encoder.info().sha256.clone() };
    let bar = super::progress_bar("training");
    let (mut model, log) = encoder.install(|| {
        train::train(
            labels,
            &train_sets,
            &dev_sets,
            &mut cache,
            encoder_ref,
            init.as_ref(),
            tuned,
            &opts,
            &mut |event| match event {
                Event::Lexical { seconds, iterations } => {
                    let line = format!(
                        "lexical model: solved in {seconds:.0}s (at most {iterations} iterations \
                         per label)"
                    );
                    if bar.is_hidden() {
                        eprintln!("{line}");
                    } else {
                        bar.println(line);
                    }
                }
                Event::EpochStart { epoch, batches } => {
                    bar.set_message(format!("epoch {epoch}"));
                    bar.set_length(batches as u64);
                    bar.set_position(0);
                }
                Event::Batch { done, .. } => bar.set_position(done as u64),
                Event::EpochEnd(e) => {
                    let line = format!(
                        "epoch {}: train loss {:.4}, dev macro-F1 {} at best cuts, {} shipped, \
                         {:.0}s",
                        e.epoch,
                        e.train_loss,
                        four_places(e.dev_best_f1),
                        four_places(e.dev_macro_f1),
                        e.seconds
                    );
                    // A hidden bar (stderr is not a terminal) prints nothing itself.
                    if bar.is_hidden() {
                        eprintln!("{line}");
                    } else {
                        bar.println(line);
                    }
                }
            },
        )
    })?;
    bar.finish_and_clear();
    model.save(&args.out)?;
    model.dir = Some(args.out.clone());
    let metrics = serde_json::json!({ "log": log, "labels": model.meta.labels, "thresholds": model.meta.thresholds });
    termscore::classify::model::write_atomic(
        &args.out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    let card = termscore::classify::card::training_card(&model, &log, &train_sets, &dev_sets);
    termscore::classify::model::write_atomic(&args.out.join("README.md"), card.as_bytes())?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "wrote `{}`: {} labels, best epoch {} of {}, dev macro-F1 {} at best cuts, {} shipped, \
         {:.0}s",
        args.out.display(),
        model.meta.labels.len(),
        log.best_epoch,
        log.epochs.len(),
        four_places(log.dev_best_f1),
        four_places(log.dev_macro_f1),
        log.seconds
    )?;
    Ok(ExitCode::Clean)
}

fn encoder_name(encoder: &Encoder) -> String {
    match &encoder.info().upstream {
        Some(up) => up.clone(),
        None => encoder
            .info()
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}
