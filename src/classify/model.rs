//! A trained classifier on disk and in memory: clause texts become per-label
//! probabilities and the labels above each label's tuned threshold.
//!
//! A clause's probability for a label combines two models trained apart: a logistic
//! regression over the clause's TF-IDF features ([`super::linear`]) and the transformer
//! head over its encoder token states ([`super::head`]). Their logits are mixed per label
//! with weights fitted on dev data ([`Mix`]), which also calibrates the probabilities.
//! A model may carry fine-tuned copies of the encoder's top layers ([`super::tuned`]):
//! the encoder then runs only the layers below them, and the tuned layers run on top.
//!
//! A model folder holds `head.safetensors` (head weights, tuned layers, lexical weights,
//! idf and mix),
//! `lexicon.json` (the vocabulary), `classifier.json` (labels, thresholds, head shape, the
//! encoder it was trained on, training settings), `metrics.json` and a model card
//! `README.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::head::{make_batch, Head, HeadConfig};
use super::lexical::{Lexicon, Sparse};
use super::linear;
use super::tuned::{self, TunedConfig, TunedLayers};
use crate::encode::{EncodeError, Encoder};

/// Folder name of the shipped classifier under `models/`.
pub const SHIPPED_NAME: &str = "termscore-clauses";

/// Bump when the folder layout or the meaning of a saved weight changes (3: negated
/// terms also count plain; optional tuned encoder layers).
pub const FORMAT: u32 = 3;

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
    /// The encoder's top layers as fine-tuned for this model, when they were: the head
    /// then reads their output, and the encoder runs only the layers below them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuned: Option<TunedConfig>,
    /// Free-form record of how it was trained (files, seed, epochs, timings).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Per-label logistic regression over a clause's linear features: its TF-IDF terms and,
/// after them, its mean-pooled encoder embedding (see [`linear_features`]).
#[derive(Debug, Clone)]
pub struct LexicalModel {
    /// One weight vector per label: the lexicon's terms, then `dense_dim` embedding
    /// dimensions.
    pub weights: Vec<Vec<f32>>,
    pub bias: Vec<f32>,
    /// Length the L2-normalised embedding is scaled to (0: the embedding is not used).
    pub dense_scale: f32,
    /// Embedding dimensions at the end of each weight vector.
    pub dense_dim: usize,
}

impl LexicalModel {
    /// Logits of one clause, per label.
    pub fn logits(&self, f: &Sparse) -> Vec<f32> {
        self.weights.iter().zip(&self.bias).map(|(w, &b)| linear::logit(w, b, f)).collect()
    }
}

/// The linear model's input for one clause: its TF-IDF features (unit length) followed by
/// its mean-pooled token states, L2-normalised and scaled to `dense_scale`, at term ids
/// `lexicon.len()..`. The embedding carries meaning the exact wording misses; the scale
/// sets how strongly the shared regulariser holds its weights against the terms'.
pub fn linear_features(
    lexicon: &Lexicon,
    text: &str,
    states: Option<&Tensor>,
    dense_scale: f32,
) -> candle_core::Result<Sparse> {
    let mut f = lexicon.features(text);
    if let Some(states) = states.filter(|_| dense_scale > 0.0) {
        let mean = states.to_dtype(DType::F32)?.mean(0)?.to_vec1::<f32>()?;
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            let base = lexicon.len() as u32;
            f.ids.extend((0..mean.len() as u32).map(|d| base + d));
            f.weights.extend(mean.iter().map(|v| v * dense_scale / norm));
        }
    }
    Ok(f)
}

/// How a label's two logits combine: `p = sigmoid(lexical * z_lex + head * z_head + bias)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    pub lexical: f32,
    pub head: f32,
    pub bias: f32,
}

impl Mix {
    /// Equal weights, used before a label has dev data to fit its mix on.
    pub const EVEN: Mix = Mix { lexical: 0.5, head: 0.5, bias: 0.0 };

    pub fn logit(&self, z_lex: f32, z_head: f32) -> f32 {
        self.lexical * z_lex + self.head * z_head + self.bias
    }
}

pub struct Classifier {
    pub meta: Meta,
    pub head: Head,
    /// The fine-tuned top encoder layers (see [`Meta::tuned`]).
    pub tuned: Option<TunedLayers>,
    pub lexicon: Lexicon,
    pub lexical: LexicalModel,
    pub mix: Vec<Mix>,
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
        let vec1 = |name: &str| -> Result<Vec<f32>, ModelError> {
            tensors
                .get(name)
                .ok_or_else(|| fail(format!("`head.safetensors` lacks `{name}`")))?
                .to_dtype(DType::F32)
                .and_then(|t| t.flatten_all()?.to_vec1::<f32>())
                .map_err(|e| fail(format!("`head.safetensors`: `{name}`: {e}")))
        };
        let lex_path = dir.join("lexicon.json");
        let terms: Vec<String> = std::fs::read_to_string(&lex_path)
            .map_err(|e| fail(format!("`lexicon.json`: {e}")))
            .and_then(|t| {
                serde_json::from_str(&t).map_err(|e| fail(format!("`lexicon.json`: {e}")))
            })?;
        let lexicon = Lexicon::from_parts(terms, vec1("idf")?)
            .ok_or_else(|| fail("`lexicon.json` and the idf table differ in length".into()))?;
        let n_labels = meta.labels.len();
        let quantised = tensors
            .get("lex_q")
            .ok_or_else(|| fail("`head.safetensors` lacks `lex_q`".into()))?
            .to_vec2::<u8>()
            .map_err(|e| fail(format!("`lex_q`: {e}")))?;
        let scale = vec1("lex_scale")?;
        let bias = vec1("lex_bias")?;
        let mix_flat = vec1("mix")?;
        let dense = tensors
            .get("lex_dense")
            .ok_or_else(|| fail("`head.safetensors` lacks `lex_dense`".into()))?
            .to_dtype(DType::F32)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(|e| fail(format!("`lex_dense`: {e}")))?;
        let dense_scale = vec1("lex_dense_scale")?.first().copied().unwrap_or(0.0);
        let dense_dim = dense.first().map_or(0, Vec::len);
        if quantised.len() != n_labels
            || quantised.iter().any(|q| q.len() != lexicon.len())
            || scale.len() != n_labels
            || bias.len() != n_labels
            || dense.len() != n_labels
            || mix_flat.len() != 3 * n_labels
        {
            return Err(fail("the lexical weights do not match the labels or lexicon".into()));
        }
        let weights = quantised
            .iter()
            .zip(&scale)
            .zip(&dense)
            .map(|((q, &s), d)| {
                q.iter().map(|&v| (v as f32 - 128.0) * s).chain(d.iter().copied()).collect()
            })
            .collect();
        let mix =
            mix_flat.chunks(3).map(|c| Mix { lexical: c[0], head: c[1], bias: c[2] }).collect();
        let tuned = match meta.tuned {
            None => None,
            Some(config) => {
                let mut layers = Vec::with_capacity(config.layers);
                for i in 0..config.layers {
                    let w = tuned::layer_from(|name| vec1(&format!("tuned.{i}.{name}")))?;
                    let (h, m) = (config.hidden, config.intermediate);
                    if w.qkv_w.len() != 3 * h * h
                        || w.inter_w.len() != h * m
                        || w.out_w.len() != m * h
                    {
                        return Err(fail(format!("tuned layer {i} does not match its config")));
                    }
                    layers.push(w);
                }
                Some(TunedLayers { config, layers })
            }
        };
        Ok(Self {
            meta,
            head,
            tuned,
            lexicon,
            lexical: LexicalModel { weights, bias, dense_scale, dense_dim },
            mix,
            dir: Some(dir.to_path_buf()),
        })
    }

    /// Writes `head.safetensors` and `classifier.json` into `dir` (created if needed);
    /// files are written under temporary names and renamed, so a crash never leaves a
    /// half-written model.
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let fail = |detail: String| ModelError::Save { dir: dir.to_path_buf(), detail };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let mut tensors: HashMap<String, Tensor> = self.head.tensors();
        // The lexical weights are stored as 8-bit integers with one scale per label
        // (a quarter of the f32 size); the rounding moves a clause's logit by about 0.01.
        let cpu = &Device::Cpu;
        // Term weights as 8-bit levels; the few embedding weights stay f32.
        let (rows, cols) = (self.lexical.weights.len(), self.lexicon.len());
        let (terms, dense): (Vec<Vec<f32>>, Vec<f32>) =
            self.lexical.weights.iter().map(|w| (w[..cols].to_vec(), w[cols..].to_vec())).fold(
                (Vec::new(), Vec::new()),
                |(mut t, mut d), (a, b)| {
                    t.push(a);
                    d.extend(b);
                    (t, d)
                },
            );
        let (quantised, scale) = quantise(&terms);
        tensors.insert("lex_q".into(), Tensor::from_vec(quantised, (rows, cols), cpu)?);
        let dense_dim = self.lexical.dense_dim;
        tensors.insert("lex_dense".into(), Tensor::from_vec(dense, (rows, dense_dim), cpu)?);
        tensors.insert(
            "lex_dense_scale".into(),
            Tensor::from_slice(&[self.lexical.dense_scale], 1, cpu)?,
        );
        tensors.insert("lex_scale".into(), Tensor::from_slice(&scale, rows, cpu)?);
        let bias = &self.lexical.bias;
        tensors.insert("lex_bias".into(), Tensor::from_slice(bias, bias.len(), cpu)?);
        let idf = self.lexicon.idf();
        tensors.insert("idf".into(), Tensor::from_slice(idf, idf.len(), cpu)?);
        // Tuned layers are stored in f16, as the encoder's own weights are: half the
        // size, and the outputs move by about 1e-3.
        if let Some(t) = &self.tuned {
            for (i, layer) in t.layers.iter().enumerate() {
                for (name, p) in tuned::PARAM_NAMES.iter().zip(tuned::params(layer)) {
                    let tensor = Tensor::from_slice(p, p.len(), cpu)?.to_dtype(DType::F16)?;
                    tensors.insert(format!("tuned.{i}.{name}"), tensor);
                }
            }
        }
        let mix: Vec<f32> = self.mix.iter().flat_map(|m| [m.lexical, m.head, m.bias]).collect();
        tensors.insert("mix".into(), Tensor::from_slice(&mix, mix.len(), cpu)?);
        let terms = serde_json::to_string(self.lexicon.terms()).map_err(|e| fail(e.to_string()))?;
        write_atomic(&dir.join("lexicon.json"), terms.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
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

    /// Logits of the transformer head, per clause and label.
    pub fn head_logits(&self, states: &[Tensor]) -> Result<Vec<Vec<f32>>, ModelError> {
        const BATCH: usize = 64;
        let mut out = Vec::with_capacity(states.len());
        for s in states.chunks(BATCH) {
            let s: Vec<&Tensor> = s.iter().collect();
            let batch = make_batch(&s, self.meta.max_tokens)?;
            out.extend(self.head.forward(&batch)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// Whether predictions read the encoder's token states. A model whose mix weighs the
    /// head 0 for every label and whose linear model takes no embedding (one trained with
    /// `--components lexical`) reads the text alone, and its callers may skip the encoder.
    pub fn needs_states(&self) -> bool {
        self.lexical.dense_scale > 0.0 || self.mix.iter().any(|m| m.head != 0.0)
    }

    /// The encoder layers whose output [`Self::predict_states`] reads: `None` for the
    /// last layer, `Some(k)` for a model that fine-tuned the layers above `k`.
    pub fn input_layers(&self) -> Option<usize> {
        self.tuned.as_ref().map(|t| t.config.from_layer)
    }

    /// The states the head reads, from the encoder states at [`Self::input_layers`]:
    /// those states themselves, or the tuned layers' output over their first
    /// `max_tokens` tokens.
    pub fn head_states(&self, states: &[Tensor]) -> Result<Vec<Tensor>, ModelError> {
        let Some(t) = &self.tuned else {
            return Ok(states.to_vec());
        };
        Ok(t.transform_tensors(states, self.meta.max_tokens, DType::F32)?)
    }

    /// Probabilities from token states (`[tokens, hidden]` each, from the encoder layer
    /// [`Self::input_layers`] names) of the given texts. `states` may be empty when
    /// [`Self::needs_states`] is false.
    pub fn predict_states(
        &self,
        states: &[Tensor],
        texts: &[&str],
    ) -> Result<Vec<Prediction>, ModelError> {
        let head = if self.needs_states() {
            if states.len() != texts.len() {
                return Err(ModelError::Candle(candle_core::Error::Msg(format!(
                    "{} texts but {} encoder outputs",
                    texts.len(),
                    states.len()
                ))));
            }
            self.head_logits(&self.head_states(states)?)?
        } else {
            vec![vec![0.0; self.meta.labels.len()]; texts.len()]
        };
        let mut out = Vec::with_capacity(texts.len());
        for (i, (text, z_head)) in texts.iter().zip(head).enumerate() {
            let f = linear_features(&self.lexicon, text, states.get(i), self.lexical.dense_scale)?;
            let z_lex = self.lexical.logits(&f);
            let probabilities = self
                .mix
                .iter()
                .zip(z_lex.iter().zip(&z_head))
                .map(|(m, (&a, &b))| sigmoid(m.logit(a, b)))
                .collect();
            out.push(Prediction { probabilities });
        }
        Ok(out)
    }

    /// Runs the encoder and the head over texts, in input order.
    pub fn predict(
        &self,
        encoder: &Encoder,
        texts: &[&str],
    ) -> Result<Vec<Prediction>, ModelError> {
        let states: Vec<Tensor> = if self.needs_states() {
            let states = match self.input_layers() {
                None => encoder.token_states(texts)?,
                Some(k) => encoder.first_window_states_at(texts, k)?,
            };
            states.into_iter().map(|s| s.states).collect()
        } else {
            Vec::new()
        };
        encoder.install(|| self.predict_states(&states, texts))
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

/// Rounds each label's weights to 255 levels around zero, stored as `u8` offset by 128;
/// returns the flat levels and the scale per label.
pub fn quantise(weights: &[Vec<f32>]) -> (Vec<u8>, Vec<f32>) {
    let mut levels = Vec::with_capacity(weights.iter().map(Vec::len).sum());
    let mut scales = Vec::with_capacity(weights.len());
    for w in weights {
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        levels.extend(w.iter().map(|v| ((v / scale).round().clamp(-127.0, 127.0) + 128.0) as u8));
        scales.push(scale);
    }
    (levels, scales)
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_weights_round_to_within_half_a_level() {
        let weights =
            vec![vec![0.0, 2.54, -1.0, 0.013, -2.54, 0.3], vec![0.0; 4], vec![-0.002, 0.001]];
        let (levels, scales) = quantise(&weights);
        assert_eq!(levels.len(), 12);
        let mut at = 0;
        for (w, &scale) in weights.iter().zip(&scales) {
            for &v in w {
                let back = (levels[at] as f32 - 128.0) * scale;
                assert!((back - v).abs() <= scale / 2.0 + 1e-7, "{v} came back as {back}");
                // Zero stays exactly zero and no weight changes sign.
                assert!(v != 0.0 || back == 0.0);
                assert!(back * v >= 0.0);
                at += 1;
            }
        }
        // The largest weight of a row maps to the extreme level.
        assert_eq!(levels[1], 255);
        assert_eq!(levels[4], 1);
        assert_eq!(scales[1], 1.0);
    }
}
