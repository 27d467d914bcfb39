//! `termscore model info` and `termscore embed`: the encoder on its own.

use std::io::Write;

use anyhow::{Context, Result};
use termscore::encode::{self, resolve, Encoder, EncoderOptions, Precision};
use termscore::exit::ExitCode;
use termscore::segment::{ApproxTokens, TokenCounter};

use crate::cli::{EmbedArgs, EncoderArgs, ModelInfoArgs, PrecisionArg};

pub fn encoder_options(args: &EncoderArgs) -> EncoderOptions {
    EncoderOptions {
        precision: match args.precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Int8 => Precision::Int8,
        },
        threads: args.threads,
        ..EncoderOptions::default()
    }
}

pub fn load_encoder(args: &EncoderArgs) -> Result<Encoder> {
    let resolved = resolve::resolve(args.model.as_deref())?;
    tracing::debug!(source = %resolved.source, dir = %resolved.dir.display(), "encoder resolved");
    let encoder = Encoder::load(&resolved, encoder_options(args))
        .with_context(|| format!("failed to load the encoder in `{}`", resolved.dir.display()))?;
    Ok(encoder)
}

/// Token counter for segmentation: the bundled tokenizer, or an estimate if absent.
pub fn bundled_token_counter() -> Box<dyn TokenCounter> {
    let path = resolve::models_dir().join(resolve::BUNDLED_NAME).join("tokenizer.json");
    match encode::load_tokenizer(&path) {
        Ok(tok) => Box::new(WordPieces(tok)),
        Err(err) => {
            tracing::warn!("{err}; clause lengths are estimated");
            Box::new(ApproxTokens)
        }
    }
}

struct WordPieces(tokenizers::Tokenizer);

impl TokenCounter for WordPieces {
    fn count(&self, text: &str) -> usize {
        self.0.encode(text, false).map(|e| e.get_ids().len()).unwrap_or(0) + 2
    }
}

pub fn info(args: ModelInfoArgs) -> Result<ExitCode> {
    let encoder = load_encoder(&args.encoder)?;
    let info = encoder.info();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, info)?;
        writeln!(out)?;
        return Ok(ExitCode::Clean);
    }
    writeln!(out, "source:      {}", info.source)?;
    writeln!(out, "folder:      {}", info.dir.display())?;
    if let Some(up) = &info.upstream {
        writeln!(out, "upstream:    {up}")?;
    }
    writeln!(out, "revision:    {}", info.revision.as_deref().unwrap_or("unknown"))?;
    writeln!(
        out,
        "size:        {:.1}M parameters, {:.1} MB on disk",
        info.parameters as f64 / 1e6,
        info.file_bytes as f64 / 1e6
    )?;
    writeln!(out, "stored as:   {}", info.stored_dtype)?;
    writeln!(out, "runs as:     {:?}", info.precision)?;
    writeln!(out, "layers:      {} x {} hidden", info.layers, info.hidden_size)?;
    writeln!(out, "threads:     {}", info.threads)?;
    writeln!(out, "sha256:      {}", info.sha256)?;
    Ok(ExitCode::Clean)
}

pub fn embed(args: EmbedArgs) -> Result<ExitCode> {
    let texts = super::read_text_input(args.input.as_deref())?;
    let encoder = load_encoder(&args.encoder)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = encoder.embed(&refs, !args.no_normalize)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for v in vectors {
        serde_json::to_writer(&mut out, &serde_json::json!({ "embedding": v }))?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}
