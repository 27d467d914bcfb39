//! The encoder runtime: clause texts become contextual token states and sentence
//! embeddings, batched and run in parallel on the CPU.
//!
//! Threads: this layer owns them. [`Encoder`] holds one rayon pool of `threads`
//! workers; each worker runs a whole batch on its own thread: the f32 products call
//! `gemm` single-threaded, and the int8 products go through candle, whose matmul reads
//! `RAYON_NUM_THREADS` and whose element-wise pool reads `CANDLE_NUM_THREADS`, so the
//! encoder sets both to 1 when it loads. On two cores, two batches side by side beat
//! one batch on two threads because small matrices split badly. Texts are tokenized
//! serially inside the workers, so the tokenizer's own parallelism is unused.
//!
//! Long inputs are never cut: a text over `max_window` tokens is split into consecutive
//! windows of at most `max_window` tokens, each framed by `[CLS]`/`[SEP]`; token states
//! of all windows are returned together and the embedding is their token-weighted mean.

pub mod bert;
pub mod kernels;
pub mod resolve;

use std::path::{Path, PathBuf};
use std::sync::Once;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

pub use bert::{BertConfig, BertModel, Precision};
pub use resolve::{ModelSource, ResolvedModel};

/// Longest window the encoder runs, in tokens including `[CLS]` and `[SEP]`.
pub const DEFAULT_MAX_WINDOW: usize = 256;
/// Tokens per batch: sequences are grouped by length until their sum reaches this.
/// Small enough that a batch's buffers (the widest, `[tokens, intermediate]`, is 6 MiB
/// for MiniLM) stay in cache while two batches run side by side: on the 2-core
/// benchmark machine 1,024 tokens ran 112 clauses/s against 85 at 4,096 (docs/benchmarks.md).
pub const DEFAULT_BATCH_TOKENS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error(transparent)]
    Resolve(#[from] resolve::ResolveError),
    #[error("failed to read `{path}`: {detail}")]
    BadFile { path: PathBuf, detail: String },
    #[error("model error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("failed to tokenize: {0}")]
    Tokenize(String),
}

/// Run-time choices for the encoder.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    pub precision: Precision,
    /// Worker threads; 0 means all cores (or `RAYON_NUM_THREADS` when set).
    pub threads: usize,
    pub max_window: usize,
    pub batch_tokens: usize,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        Self {
            precision: Precision::F32,
            threads: 0,
            max_window: DEFAULT_MAX_WINDOW,
            batch_tokens: DEFAULT_BATCH_TOKENS,
        }
    }
}

/// What was loaded, for `termscore model info` and for recording beside trained heads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub source: ModelSource,
    /// Hub id and revision the weights came from, when the folder records it.
    pub upstream: Option<String>,
    pub revision: Option<String>,
    pub parameters: usize,
    pub file_bytes: u64,
    /// dtype of the weights on disk (they are converted to f32 or quantised when loaded).
    pub stored_dtype: String,
    pub precision: Precision,
    pub hidden_size: usize,
    pub layers: usize,
    pub threads: usize,
    /// sha256 of `model.safetensors`, so cached states and trained heads can be tied
    /// to the exact weights.
    pub sha256: String,
}

/// The token states of one text: `[tokens, hidden]` f32, windows concatenated.
pub struct TokenStates {
    pub states: Tensor,
    pub windows: usize,
}

pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    pool: rayon::ThreadPool,
    opts: EncoderOptions,
    info: ModelInfo,
    cls: u32,
    sep: u32,
}

static SINGLE_THREADED_CANDLE: Once = Once::new();

/// The worker count `--threads 0` means: `RAYON_NUM_THREADS` if the user set it, else
/// all cores.
pub fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

fn bad_file(path: &Path, detail: impl ToString) -> EncodeError {
    EncodeError::BadFile { path: path.to_path_buf(), detail: detail.to_string() }
}

/// Loads the tokenizer of a model folder with truncation and padding turned off (the
/// shipped `tokenizer.json` truncates and pads to 128; windows are handled here).
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer, EncodeError> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| bad_file(path, e))?;
    tokenizer.with_truncation(None).map_err(|e| bad_file(path, e))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}

impl Encoder {
    /// Loads the model in `resolved.dir`.
    pub fn load(resolved: &ResolvedModel, opts: EncoderOptions) -> Result<Self, EncodeError> {
        let threads = if opts.threads == 0 { default_threads() } else { opts.threads };
        SINGLE_THREADED_CANDLE.call_once(|| {
            // NOTE: set before any candle work starts; the encoder's pool provides the
            // parallelism (see the module docs).
            std::env::set_var("RAYON_NUM_THREADS", "1");
            std::env::set_var("CANDLE_NUM_THREADS", "1");
            std::env::set_var("TOKENIZERS_PARALLELISM", "false");
        });
        let dir = &resolved.dir;
        resolve::check_folder(dir)?;
        let config_path = dir.join("config.json");
        let config_text =
            std::fs::read_to_string(&config_path).map_err(|e| bad_file(&config_path, e))?;
        let config: BertConfig =
            serde_json::from_str(&config_text).map_err(|e| bad_file(&config_path, e))?;
        if let Some(kind) = config.model_type.as_deref() {
            if !matches!(kind, "bert" | "roberta" | "xlm-roberta") {
                return Err(bad_file(
                    &config_path,
                    format!("model_type `{kind}` is not a BERT-family encoder"),
                ));
            }
        }
        let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;
        let weights_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|e| bad_file(&weights_path, e))?;
        let sha256 = format!("{:x}", Sha256::digest(&bytes));
        let (parameters, stored_dtype) =
            describe_weights(&bytes).map_err(|e| bad_file(&weights_path, e))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|e| bad_file(&weights_path, e))?;
        let model =
            BertModel::load(vb, &config, opts.precision).map_err(|e| bad_file(&weights_path, e))?;
        let token_id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| bad_file(&dir.join("tokenizer.json"), format!("no `{t}` token")))
        };
        let (cls, sep) = (token_id("[CLS]")?, token_id("[SEP]")?);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("termscore-encoder-{i}"))
            .build()
            .map_err(|e| EncodeError::Tokenize(e.to_string()))?;
        let provenance = read_provenance(dir);
        let max_window = opts.max_window.min(config.max_position_embeddings).max(8);
        let info = ModelInfo {
            dir: dir.clone(),
            source: resolved.source.clone(),
            upstream: provenance.as_ref().and_then(|p| p.get("upstream").cloned()),
            revision: provenance.as_ref().and_then(|p| p.get("revision").cloned()),
            parameters,
            file_bytes: std::fs::metadata(&weights_path).map(|m| m.len()).unwrap_or(0),
            stored_dtype,
            precision: opts.precision,
            hidden_size: config.hidden_size,
            layers: config.num_hidden_layers,
            threads,
            sha256,
        };
        tracing::debug!(threads, precision = ?opts.precision, dir = %dir.display(), "encoder loaded");
        Ok(Self {
            model,
            tokenizer,
            pool,
            opts: EncoderOptions { threads, max_window, ..opts },
            info,
            cls,
            sep,
        })
    }

    /// Runs `f` inside the encoder's thread pool, so that candle's parallel matmul (see
    /// [`set_tensor_threads`]) uses the same workers instead of a second pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn hidden_size(&self) -> usize {
        self.model.hidden_size()
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokens the text takes as one sequence, `[CLS]` and `[SEP]` included.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode(text, false).map(|e| e.get_ids().len()).unwrap_or(0) + 2
    }

    /// Splits a text's token ids into framed windows.
    fn windows(&self, text: &str) -> Result<Vec<Vec<u32>>, EncodeError> {
        let enc =
            self.tokenizer.encode(text, false).map_err(|e| EncodeError::Tokenize(e.to_string()))?;
        let ids = enc.get_ids();
        let body = self.opts.max_window - 2;
        let frame = |chunk: &[u32]| {
            let mut w = Vec::with_capacity(chunk.len() + 2);
            w.push(self.cls);
            w.extend_from_slice(chunk);
            w.push(self.sep);
            w
        };
        if ids.is_empty() {
            return Ok(vec![frame(&[])]);
        }
        Ok(ids.chunks(body).map(frame).collect())
    }

    /// Token states for each text, in input order.
    pub fn token_states(&self, texts: &[&str]) -> Result<Vec<TokenStates>, EncodeError> {
        self.states_of(texts, usize::MAX, usize::MAX)
    }

    /// Token states of at most the first window of each text: all that a classifier
    /// reading `max_window` tokens uses, for a fraction of the work on long texts.
    pub fn first_window_states(&self, texts: &[&str]) -> Result<Vec<TokenStates>, EncodeError> {
        self.states_of(texts, 1, usize::MAX)
    }

    /// As [`Self::first_window_states`], but the states after the first `layers` layers:
    /// the input of a classifier that fine-tunes the layers above them.
    pub fn first_window_states_at(
        &self,
        texts: &[&str],
        layers: usize,
    ) -> Result<Vec<TokenStates>, EncodeError> {
        self.states_of(texts, 1, layers)
    }

    /// The encoder's model, for reading its weights.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    fn states_of(
        &self,
        texts: &[&str],
        max_windows: usize,
        layers: usize,
    ) -> Result<Vec<TokenStates>, EncodeError> {
        let windows: Vec<Vec<Vec<u32>>> = self.pool.install(|| {
            texts
                .par_iter()
                .map(|t| {
                    let mut w = self.windows(t)?;
                    w.truncate(max_windows);
                    Ok(w)
                })
                .collect::<Result<_, EncodeError>>()
        })?;
        // Flatten to (text, window) sequences, longest first, then cut into batches
        // under the token budget.
        let mut seqs: Vec<(usize, &[u32])> = windows
            .iter()
            .enumerate()
            .flat_map(|(i, ws)| ws.iter().map(move |w| (i, w.as_slice())))
            .collect();
        seqs.sort_by_key(|(_, w)| std::cmp::Reverse(w.len()));
        let batches = batches_under_budget(&seqs, self.opts.batch_tokens);
        let results: Vec<Vec<(usize, Tensor)>> = self.pool.install(|| {
            batches
                .par_iter()
                .map(|batch| self.run_batch(batch, layers))
                .collect::<Result<Vec<_>, EncodeError>>()
        })?;
        let mut per_text: Vec<Vec<Tensor>> = (0..texts.len()).map(|_| Vec::new()).collect();
        // The sort is stable and a text's last window is its shortest, so each text's
        // windows come back in their original order; number them as they arrive.
        let mut ordered: Vec<(usize, usize, Tensor)> = Vec::new();
        let mut seen = vec![0usize; texts.len()];
        for (text, t) in results.into_iter().flatten() {
            ordered.push((text, seen[text], t));
            seen[text] += 1;
        }
        ordered.sort_by_key(|(text, n, _)| (*text, *n));
        for (text, _, t) in ordered {
            per_text[text].push(t);
        }
        per_text
            .into_iter()
            .map(|mut ts| {
                let windows = ts.len();
                // Almost every clause is one window: keep its tensor rather than copy it.
                let states = match ts.pop() {
                    Some(only) if ts.is_empty() => only,
                    Some(last) => {
                        ts.push(last);
                        Tensor::cat(&ts, 0)?
                    }
                    None => Tensor::cat(&ts, 0)?,
                };
                Ok(TokenStates { states, windows })
            })
            .collect()
    }

    fn run_batch(
        &self,
        batch: &[(usize, &[u32])],
        layers: usize,
    ) -> Result<Vec<(usize, Tensor)>, EncodeError> {
        let lens: Vec<usize> = batch.iter().map(|(_, w)| w.len()).collect();
        let ids: Vec<u32> = batch.iter().flat_map(|(_, w)| w.iter().copied()).collect();
        let states = self.model.forward_packed_until(&ids, &lens, layers)?;
        let mut out = Vec::with_capacity(batch.len());
        let mut start = 0;
        for (text, w) in batch {
            out.push((*text, states.narrow(0, start, w.len())?));
            start += w.len();
        }
        Ok(out)
    }

    /// Sentence embeddings (mean over tokens), optionally L2-normalised, in input order.
    pub fn embed(&self, texts: &[&str], normalize: bool) -> Result<Vec<Vec<f32>>, EncodeError> {
        let states = self.token_states(texts)?;
        let mut out = Vec::with_capacity(states.len());
        for s in states {
            let mut v = s.states.mean(0)?;
            if normalize {
                v = bert::l2_normalize(&v.unsqueeze(0)?)?.squeeze(0)?;
            }
            out.push(v.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// Greedy batches over sequences sorted longest first: each batch holds sequences whose
/// lengths sum to at most `budget` (a longer single sequence gets a batch of its own).
fn batches_under_budget<'a>(
    seqs: &[(usize, &'a [u32])],
    budget: usize,
) -> Vec<Vec<(usize, &'a [u32])>> {
    let mut batches = Vec::new();
    let mut current: Vec<(usize, &[u32])> = Vec::new();
    let mut tokens = 0;
    for &(i, w) in seqs {
        if !current.is_empty() && tokens + w.len() > budget {
            batches.push(std::mem::take(&mut current));
            tokens = 0;
        }
        tokens += w.len();
        current.push((i, w));
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Parameter count and dtype(s) of a safetensors file, read from its header.
fn describe_weights(bytes: &[u8]) -> Result<(usize, String), String> {
    // The header alone: shapes and dtypes, without converting any tensor data.
    let st = candle_core::safetensors::SliceSafetensors::new(bytes).map_err(|e| e.to_string())?;
    let views = st.tensors();
    let mut dtypes: Vec<String> =
        views.iter().map(|(_, v)| format!("{:?}", v.dtype()).to_lowercase()).collect();
    dtypes.sort();
    dtypes.dedup();
    let params = views.iter().map(|(_, v)| v.shape().iter().product::<usize>()).sum();
    Ok((params, dtypes.join("+")))
}

/// `termscore-source.json` in a model folder: where the weights came from.
fn read_provenance(dir: &Path) -> Option<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("termscore-source.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Sets the threads candle's own matmul may use. The encoder sets this to 1 and runs
/// batches side by side; training, which runs one batch at a time, raises it.
pub fn set_tensor_threads(n: usize) {
    std::env::set_var("RAYON_NUM_THREADS", n.max(1).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_token_budget_and_keep_every_sequence() {
        let data: Vec<Vec<u32>> =
            [300, 120, 100, 90, 60, 10, 5].iter().map(|&n| vec![0u32; n]).collect();
        let seqs: Vec<(usize, &[u32])> =
            data.iter().enumerate().map(|(i, d)| (i, d.as_slice())).collect();
        let batches = batches_under_budget(&seqs, 200);
        let sizes: Vec<Vec<usize>> =
            batches.iter().map(|b| b.iter().map(|(_, w)| w.len()).collect()).collect();
        assert_eq!(sizes, vec![vec![300], vec![120], vec![100, 90], vec![60, 10, 5]]);
    }
}
