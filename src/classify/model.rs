//! A trained classifier on disk and in memory: clause texts become per-label
//! probabilities and the labels above each label's tuned threshold.
//!
//! A model folder holds `head.safetensors` (head weights and IDF table),
//! `classifier.json` (labels, thresholds, head shape, the encoder it was trained on,
//! training settings), `metrics.json` and a model card `README.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::head::{make_batch, Head, HeadConfig};
use super::lexical::{Idf, Sparse};
use crate::encode::{EncodeError, Encoder};

/// Folder name of the shipped classifier under `models/`.
pub const SHIPPED_NAME: &str = "termscore-clauses";

/// Bump when the folder layout changes.
pub const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("failed to read the classifier in `{dir}`: {detail}")]
    Load { dir: PathBuf, detail: String },
    #[error("failed to write the classifier to `{dir}`: {detail}")]
    Save { dir: PathBuf, detail: String },
    #[error(
        "the classifier in `{dir}` was trained on encoder weights {expected} but the loaded \
         encoder is {found}; use the encoder it was trained with, or retrain"
    )]
    EncoderMismatch { dir: PathBuf, expected: String, found: String },
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("classifier error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The encoder a head was trained on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EncoderRef {
    pub name: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub labels: Vec<String>,
    pub thresholds: Vec<f32>,
    pub head: HeadConfig,
    /// Tokens of each clause the head looks at.
    pub max_tokens: usize,
    pub encoder: EncoderRef,
    /// Free-form record of how it was trained (files, seed, epochs, timings).
    #[serde(default)]
    pub training: serde_json::Value,
}

pub struct Classifier {
    pub meta: Meta,
    pub head: Head,
    pub idf: Idf,
    pub dir: Option<PathBuf>,
}

/// Probabilities of one clause, in the classifier's label order.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub probabilities: Vec<f32>,
}

impl Classifier {
    /// Loads a model folder.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let fail = |detail: String| ModelError::Load { dir: dir.to_path_buf(), detail };
        if !dir.is_dir() {
            return Err(fail("no such folder".into()));
        }
        let meta_path = dir.join("classifier.json");
        let meta_text = std::fs::read_to_string(&meta_path)
            .map_err(|e| fail(format!("`classifier.json`: {e}")))?;
        let meta: Meta = serde_json::from_str(&meta_text)
            .map_err(|e| fail(format!("`classifier.json`: {e}")))?;
        if meta.format != FORMAT {
            return Err(fail(format!(
                "format {} is not supported (expected {FORMAT})",
                meta.format
            )));
        }
        if meta.labels.len() != meta.thresholds.len() || meta.labels.len() != meta.head.labels {
            return Err(fail("labels, thresholds and head sizes disagree".into()));
        }
        let weights = dir.join("head.safetensors");
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .map_err(|e| fail(format!("`head.safetensors`: {e}")))?;
        let head = Head::from_tensors(meta.head, &tensors)
            .map_err(|e| fail(format!("`head.safetensors`: {e}")))?;
        let idf = tensors
            .get("idf")
            .ok_or_else(|| fail("`head.safetensors` lacks `idf`".into()))?
            .to_dtype(DType::F32)
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| fail(e.to_string()))?;
        if idf.len() != meta.head.buckets {
            return Err(fail("idf size differs from the head's bucket count".into()));
        }
        Ok(Self { idf: Idf { buckets: idf.len(), idf }, meta, head, dir: Some(dir.to_path_buf()) })
    }

    /// Writes `head.safetensors` and `classifier.json` into `dir` (created if needed);
    /// files are written under temporary names and renamed, so a crash never leaves a
    /// half-written model.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let fail = |detail: String| ModelError::Save { dir: dir.to_path_buf(), detail };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in self.head.tensors() {
            // The lexical table is by far the largest: f16 halves the file.
            let t = if name == "lexical" { t.to_dtype(DType::F16)? } else { t };
            tensors.insert(name, t);
        }
        tensors.insert(
            "idf".into(),
            Tensor::from_slice(&self.idf.idf, self.idf.idf.len(), &Device::Cpu)?,
        );
        let tmp = dir.join("head.safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp).map_err(|e| fail(e.to_string()))?;
        let meta = serde_json::to_string_pretty(&self.meta).map_err(|e| fail(e.to_string()))?;
        write_atomic(&dir.join("classifier.json"), meta.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&tmp, dir.join("head.safetensors")).map_err(|e| fail(e.to_string()))?;
        Ok(())
    }

    /// Checks that `encoder` is the one the head was trained on.
    pub fn check_encoder(&self, encoder: &Encoder) -> Result<(), ModelError> {
        let found = &encoder.info().sha256;
        if *found != self.meta.encoder.sha256 {
            return Err(ModelError::EncoderMismatch {
                dir: self.dir.clone().unwrap_or_default(),
                expected: format!(
                    "{} ({})",
                    self.meta.encoder.name,
                    short(&self.meta.encoder.sha256)
                ),
                found: short(found).to_string(),
            });
        }
        Ok(())
    }

    pub fn label_index(&self, id: &str) -> Option<usize> {
        self.meta.labels.iter().position(|l| l == id)
    }

    /// Probabilities from token states (`[tokens, hidden]` each) of the given texts.
    pub fn predict_states(
        &self,
        states: &[Tensor],
        texts: &[&str],
    ) -> Result<Vec<Prediction>, ModelError> {
        const BATCH: usize = 64;
        let features: Vec<Sparse> = texts.iter().map(|t| self.idf.features(t)).collect();
        let mut out = Vec::with_capacity(texts.len());
        for (s, f) in states.chunks(BATCH).zip(features.chunks(BATCH)) {
            let s: Vec<&Tensor> = s.iter().collect();
            let f: Vec<&Sparse> = f.iter().collect();
            let batch = make_batch(&s, &f, self.meta.max_tokens)?;
            let probs = candle_nn::ops::sigmoid(&self.head.forward(&batch)?)?.to_vec2::<f32>()?;
            out.extend(probs.into_iter().map(|probabilities| Prediction { probabilities }));
        }
        Ok(out)
    }

    /// Runs the encoder and the head over texts, in input order.
    pub fn predict(
        &self,
        encoder: &Encoder,
        texts: &[&str],
    ) -> Result<Vec<Prediction>, ModelError> {
        let states: Vec<Tensor> =
            encoder.token_states(texts)?.into_iter().map(|s| s.states).collect();
        self.predict_states(&states, texts)
    }

    /// Labels at or above their thresholds.
    pub fn labels_of(&self, p: &Prediction) -> Vec<String> {
        self.meta
            .labels
            .iter()
            .zip(&self.meta.thresholds)
            .zip(&p.probabilities)
            .filter(|((_, &t), &prob)| prob >= t)
            .map(|((l, _), _)| l.clone())
            .collect()
    }
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// Writes a file under a temporary name, then renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
