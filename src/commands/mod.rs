//! One file per command. Each turns its clap arguments into settings once and runs.

mod cache;
mod classify;
mod model;
mod score;
mod segment;
mod train;

use anyhow::Result;
use termscore::exit::ExitCode;

use crate::cli::{Cli, Command, ModelCommand};

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Segment(args) => segment::run(args),
        Command::Model(ModelCommand::Info(args)) => model::info(args),
        Command::Embed(args) => model::embed(args),
        Command::Cache(args) => cache::run(args),
        Command::Train(args) => train::run(args),
        Command::Eval(args) => classify::eval(args),
        Command::Classify(args) => classify::classify(args),
        Command::Score(args) => score::run(args, cli.global.color),
    }
}

/// Reads texts from a file or stdin: JSONL objects with a "text" key, or plain lines.
pub fn read_text_input(path: Option<&std::path::Path>) -> Result<Vec<String>> {
    use anyhow::Context;
    use std::io::Read;
    let (name, content) = match path {
        Some(p) if p != std::path::Path::new("-") => {
            let content = std::fs::read_to_string(p)
                .with_context(|| format!("failed to read `{}`", p.display()))?;
            (p.display().to_string(), content)
        }
        _ => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("failed to read stdin")?;
            ("<stdin>".to_string(), s)
        }
    };
    termscore::classify::dataset::parse_texts(&content)
        .map_err(|e| anyhow::anyhow!("`{name}`: {e}"))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Encodes the texts the cache lacks, with a progress bar; returns how many it encoded.
/// The encoder layers whose output a cache stores when the top `tune_layers` layers are
/// fine-tuned: `None` (the last layer) when none are.
pub fn cached_layers(
    encoder: &termscore::encode::Encoder,
    tune_layers: usize,
) -> Result<Option<usize>> {
    let total = encoder.info().layers;
    if tune_layers > total {
        anyhow::bail!("--tune-layers {tune_layers}: the encoder has only {total} layers");
    }
    Ok((tune_layers > 0).then(|| total - tune_layers))
}

pub fn fill_cache(
    cache: &mut termscore::classify::cache::StateCache,
    encoder: &termscore::encode::Encoder,
    texts: &[&str],
) -> Result<usize> {
    let bar = progress_bar("encoding");
    let encoded = cache.fill(encoder, texts, 1024, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(encoded)
}
