//! The encoder-output cache: texts become stored token states, so that training and
//! evaluation run the encoder once per distinct text, ever. Only the first window
//! (256 tokens) of a text is stored: the classifier head reads no further.
//!
//! Layout: `<root>/<first 16 hex of the encoder's sha256>/shard-<first key>-<n>.safetensors`
//! for the encoder's last layer; `<root>/<16 hex>-layer<k>/...` for the states after its
//! first `k` layers (the input of a classifier that fine-tunes the layers above `k`).
//! Each shard holds `states` (`[tokens, hidden]`, f16) and `offsets` (`[texts + 1]`,
//! u32), and `keys` (`[texts, 20]`, u8: the sha256 prefix of each text). A
//! shard is written to a temporary name and renamed, so an interrupted run loses at
//! most the shard in progress and the next run resumes where it stopped.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use sha2::{Digest, Sha256};

use crate::encode::{EncodeError, Encoder};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("failed to use the cache at `{path}`: {detail}")]
    Io { path: PathBuf, detail: String },
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("cache error: {0}")]
    Candle(#[from] candle_core::Error),
}

fn io_err(path: &Path, detail: impl ToString) -> CacheError {
    CacheError::Io { path: path.to_path_buf(), detail: detail.to_string() }
}

const KEY_LEN: usize = 20;

/// Key of a text in the cache: the first 20 hex digits of its sha256.
pub fn text_key(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(KEY_LEN / 2).map(|b| format!("{b:02x}")).collect()
}

/// Token states of many texts, f16 in memory.
pub struct StateCache {
    dir: PathBuf,
    /// Encoder layers the stored states have passed through (`None`: all of them).
    layers: Option<usize>,
    index: HashMap<String, (usize, usize)>,
    shards: Vec<Shard>,
}

struct Shard {
    path: PathBuf,
    loaded: Option<(Tensor, Vec<u32>)>,
}

impl StateCache {
    /// Opens (or creates) the cache for the encoder whose weights hash is `encoder_sha256`.
    pub fn open(root: &Path, encoder_sha256: &str) -> Result<Self, CacheError> {
        Self::open_at(root, encoder_sha256, None)
    }

    /// Opens (or creates) the cache of the states after the encoder's first `layers`
    /// layers; `None` means the last layer, as [`Self::open`].
    pub fn open_at(
        root: &Path,
        encoder_sha256: &str,
        layers: Option<usize>,
    ) -> Result<Self, CacheError> {
        let short = &encoder_sha256[..16.min(encoder_sha256.len())];
        let dir = match layers {
            None => root.join(short),
            Some(k) => root.join(format!("{short}-layer{k}")),
        };
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| io_err(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".safetensors"))
            })
            .collect();
        paths.sort();
        let mut index = HashMap::new();
        let mut shards = Vec::new();
        for path in paths {
            let keys = match read_keys(&path) {
                Ok(keys) => keys,
                Err(detail) => {
                    tracing::warn!(
                        "skipping unreadable cache shard `{}`: {detail}",
                        path.display()
                    );
                    continue;
                }
            };
            let shard = shards.len();
            for (i, key) in keys.into_iter().enumerate() {
                index.insert(key, (shard, i));
            }
            shards.push(Shard { path, loaded: None });
        }
        Ok(Self { dir, layers, index, shards })
    }

    /// Encoder layers the stored states have passed through (`None`: all of them).
    pub fn layers(&self) -> Option<usize> {
        self.layers
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.index.contains_key(&text_key(text))
    }

    /// Encodes every text not cached yet, `chunk` texts per shard, calling `progress`
    /// with the number of texts done after each shard. Returns how many were encoded.
    pub fn fill(
        &mut self,
        encoder: &Encoder,
        texts: &[&str],
        chunk: usize,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<usize, CacheError> {
        let mut seen = HashSet::new();
        let todo: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| {
                let key = text_key(t);
                !self.index.contains_key(&key) && seen.insert(key)
            })
            .collect();
        let total = todo.len();
        let mut done = 0;
        progress(done, total);
        for part in todo.chunks(chunk.max(1)) {
            let states = match self.layers {
                None => encoder.first_window_states(part)?,
                Some(k) => encoder.first_window_states_at(part, k)?,
            };
            let mut offsets = vec![0u32];
            let mut tensors = Vec::with_capacity(part.len());
            for s in states {
                let n = s.states.dim(0)? as u32;
                offsets.push(offsets.last().copied().unwrap_or(0) + n);
                tensors.push(s.states);
            }
            let stacked = Tensor::cat(&tensors, 0)?.to_dtype(DType::F16)?;
            let keys: Vec<String> = part.iter().map(|t| text_key(t)).collect();
            let shard = self.shards.len();
            // Named after its first text, so that two processes filling the same cache
            // never write to the same file.
            let path = self.dir.join(format!("shard-{}-{}.safetensors", keys[0], keys.len()));
            write_shard(&path, &stacked, &offsets, &keys)?;
            for (i, key) in keys.into_iter().enumerate() {
                self.index.insert(key, (shard, i));
            }
            self.shards.push(Shard { path, loaded: Some((stacked, offsets)) });
            done += part.len();
            progress(done, total);
        }
        Ok(total)
    }

    /// The token states of a cached text, `[tokens, hidden]` f16.
    pub fn get(&mut self, text: &str) -> Result<Option<Tensor>, CacheError> {
        let Some(&(shard, i)) = self.index.get(&text_key(text)) else {
            return Ok(None);
        };
        let entry = &mut self.shards[shard];
        if entry.loaded.is_none() {
            entry.loaded = Some(read_shard(&entry.path)?);
        }
        let (states, offsets) = entry.loaded.as_ref().unwrap_or_else(|| unreachable!());
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        Ok(Some(states.narrow(0, start, end - start).map_err(EncodeError::from)?))
    }
}

fn write_shard(
    path: &Path,
    states: &Tensor,
    offsets: &[u32],
    keys: &[String],
) -> Result<(), CacheError> {
    let dev = &Device::Cpu;
    let offsets_t = Tensor::from_slice(offsets, offsets.len(), dev).map_err(EncodeError::from)?;
    let key_bytes: Vec<u8> = keys.iter().flat_map(|k| k.bytes()).collect();
    let keys_t =
        Tensor::from_vec(key_bytes, (keys.len(), KEY_LEN), dev).map_err(EncodeError::from)?;
    let tmp = path.with_extension("safetensors.tmp");
    let tensors: HashMap<String, Tensor> = [
        ("states".to_string(), states.clone()),
        ("offsets".to_string(), offsets_t),
        ("keys".to_string(), keys_t),
    ]
    .into_iter()
    .collect();
    candle_core::safetensors::save(&tensors, &tmp).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

fn read_keys(path: &Path) -> Result<Vec<String>, String> {
    // SAFETY: shards are only ever written whole under a temporary name and renamed,
    // and this process does not modify them while the map is alive.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
        .map_err(|e| e.to_string())?;
    let keys = st.load("keys", &Device::Cpu).map_err(|e| e.to_string())?;
    let rows = keys.to_vec2::<u8>().map_err(|e| e.to_string())?;
    rows.into_iter().map(|r| String::from_utf8(r).map_err(|e| e.to_string())).collect()
}

fn read_shard(path: &Path) -> Result<(Tensor, Vec<u32>), CacheError> {
    let tensors =
        candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| io_err(path, e))?;
    let states = tensors.get("states").ok_or_else(|| io_err(path, "no `states` tensor"))?.clone();
    let offsets = tensors
        .get("offsets")
        .ok_or_else(|| io_err(path, "no `offsets` tensor"))?
        .to_vec1::<u32>()
        .map_err(|e| io_err(path, e))?;
    Ok((states, offsets))
}
