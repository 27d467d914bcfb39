//! `termscore cache`: labelled or plain text files become cached encoder outputs.

use anyhow::Result;
use termscore::classify::cache::StateCache;
use termscore::exit::ExitCode;

use crate::cli::CacheArgs;

pub fn run(args: CacheArgs) -> Result<ExitCode> {
    let mut texts = Vec::new();
    for file in &args.files {
        texts.extend(super::read_text_input(Some(file))?);
    }
    let encoder = super::model::load_encoder(&args.encoder)?;
    let layers = super::cached_layers(&encoder, args.tune_layers)?;
    let mut cache = StateCache::open_at(&args.cache, &encoder.info().sha256, layers)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encoded = super::fill_cache(&mut cache, &encoder, &refs)?;
    eprintln!("{encoded} texts encoded, {} texts in the cache", cache.len());
    Ok(ExitCode::Clean)
}
