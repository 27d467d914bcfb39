//! Training: labelled files and cached encoder outputs become a trained
//! [`Classifier`] with one tuned threshold per label.
//!
//! The encoder stays frozen and its token states come from the cache, so an epoch only
//! runs the head. Loss is binary cross-entropy per label, weighted up for rare positives
//! and masked to the labels each file annotates (see [`super::dataset::Dataset`]).
//! After every epoch the head is scored on the dev files with per-label tuned
//! thresholds; training stops when dev macro-F1 has not improved for `patience` epochs
//! and the best epoch is kept. Everything random draws from one seeded generator, and
//! candle runs single-threaded, so a seed fixes the result.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::cache::{CacheError, StateCache};
use super::dataset::Dataset;
use super::head::{loss, make_batch, Head, HeadConfig, SparseAdam, SplitMix};
use super::lexical::{Idf, Sparse, DEFAULT_BUCKETS};
use super::metrics::best_threshold;
use super::model::{Classifier, EncoderRef, Meta, ModelError, FORMAT};

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainOptions {
    pub seed: u64,
    pub max_epochs: usize,
    pub patience: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub attn_dim: usize,
    pub max_tokens: usize,
    pub buckets: usize,
    /// The lexical table's learning rate, as a multiple of `lr`. Its inputs are
    /// L2-normalised TF-IDF weights (around 0.1 each), so a linear model over them needs
    /// weights in the tens, which Adam at the dense layers' rate would take thousands of
    /// steps to reach.
    pub lexical_lr_scale: f64,
    /// Epochs of the first stage, which fits the lexical layer alone (a TF-IDF logistic
    /// regression inside the model); the second stage then trains the transformer parts
    /// on top of it with the lexical layer fixed. 0 trains everything jointly.
    pub lexical_epochs: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            seed: 17,
            max_epochs: 12,
            patience: 2,
            batch_size: 32,
            lr: 2e-3,
            weight_decay: 1e-4,
            attn_dim: 128,
            max_tokens: 256,
            buckets: DEFAULT_BUCKETS,
            lexical_lr_scale: 30.0,
            lexical_epochs: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("training error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("`{0}` is not in the encoder cache; encode it first")]
    NotCached(String),
    #[error("no labels to train: the training files carry no labels")]
    NoLabels,
}

/// What training reports as it goes.
pub enum Event<'a> {
    EpochStart { epoch: usize, batches: usize },
    Batch { done: usize, loss: f32 },
    EpochEnd(&'a EpochLog),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f32,
    pub dev_macro_f1: Option<f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainLog {
    pub epochs: Vec<EpochLog>,
    pub best_epoch: usize,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub seconds: f64,
}

/// The best epoch so far: dev score, head tensors, thresholds.
type Snapshot = (f64, Vec<(String, Tensor)>, Vec<f32>);

/// Training or dev examples with their states, features, targets and scope masks.
struct Prepared {
    states: Vec<Tensor>,
    lex: Vec<Sparse>,
    targets: Vec<Vec<f32>>,
    scope: Vec<Vec<f32>>,
}

fn prepare(
    sets: &[Dataset],
    labels: &[String],
    idf: &Idf,
    cache: &mut StateCache,
) -> Result<Prepared, TrainError> {
    let mut p =
        Prepared { states: Vec::new(), lex: Vec::new(), targets: Vec::new(), scope: Vec::new() };
    for set in sets {
        for ex in &set.examples {
            let scope: Vec<f32> = labels
                .iter()
                .map(
                    |l| if set.scope.contains(l) || ex.extra_scope.contains(l) { 1.0 } else { 0.0 },
                )
                .collect();
            let states = cache
                .get(&ex.text)?
                .ok_or_else(|| TrainError::NotCached(ex.text.chars().take(60).collect()))?;
            p.states.push(states);
            p.lex.push(idf.features(&ex.text));
            p.targets.push(
                labels.iter().map(|l| if ex.labels.contains(l) { 1.0 } else { 0.0 }).collect(),
            );
            p.scope.push(scope);
        }
    }
    Ok(p)
}

/// The labels a model trained on `sets` predicts: `base` first (when continuing), then
/// every label annotated by a file, in taxonomy order.
pub fn model_labels(base: &[String], sets: &[Dataset], taxonomy_order: &[String]) -> Vec<String> {
    let mut labels: Vec<String> = base.to_vec();
    for id in taxonomy_order {
        if !labels.contains(id) && sets.iter().any(|s| s.scope.contains(id)) {
            labels.push(id.clone());
        }
    }
    labels
}

/// Trains a classifier. `init` continues from an existing model (its IDF table and
/// weights; labels it lacks are added with fresh weights).
#[allow(clippy::too_many_arguments)]
pub fn train(
    labels: Vec<String>,
    train_sets: &[Dataset],
    dev_sets: &[Dataset],
    cache: &mut StateCache,
    encoder: EncoderRef,
    init: Option<&Classifier>,
    opts: &TrainOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(Classifier, TrainLog), TrainError> {
    let started = Instant::now();
    if labels.is_empty() {
        return Err(TrainError::NoLabels);
    }
    let idf = match init {
        Some(model) => model.idf.clone(),
        None => Idf::fit(
            train_sets.iter().flat_map(|s| s.examples.iter().map(|e| e.text.as_str())),
            opts.buckets,
        ),
    };
    let data = prepare(train_sets, &labels, &idf, cache)?;
    let dev = prepare(dev_sets, &labels, &idf, cache)?;
    let n_labels = labels.len();
    let hidden = data.states.first().map(|s| s.dim(1)).transpose()?.unwrap_or(384);

    // Class weights and starting biases from the label frequencies in scope.
    let mut pos = vec![0f64; n_labels];
    let mut seen = vec![0f64; n_labels];
    for (t, s) in data.targets.iter().zip(&data.scope) {
        for l in 0..n_labels {
            pos[l] += (t[l] * s[l]) as f64;
            seen[l] += s[l] as f64;
        }
    }
    let pos_weight: Vec<f32> = (0..n_labels)
        .map(|l| ((seen[l] - pos[l]).max(1.0) / pos[l].max(1.0)).sqrt().clamp(1.0, 30.0) as f32)
        .collect();
    let prior: Vec<f32> =
        (0..n_labels).map(|l| (((pos[l] + 1.0) / (seen[l] - pos[l] + 1.0)).ln()) as f32).collect();
    let pos_weight_t = Tensor::from_slice(&pos_weight, n_labels, &Device::Cpu)?;

    // Continuing keeps the head shape of the model it continues from.
    let config = HeadConfig {
        hidden,
        attn_dim: init.map_or(opts.attn_dim, |m| m.meta.head.attn_dim),
        labels: n_labels,
        buckets: idf.buckets,
    };
    let head = match init {
        Some(model) => extend_head(model, &labels, config, opts.seed, &prior)?,
        None => Head::new(config, opts.seed, &prior)?,
    };
    let mut lexical = SparseAdam::new(
        head.lexical(),
        (opts.lr * opts.lexical_lr_scale) as f32,
        opts.weight_decay as f32,
    )?;
    let mut optimizer = AdamW::new(
        head.dense_vars(),
        ParamsAdamW { lr: opts.lr, weight_decay: opts.weight_decay, ..ParamsAdamW::default() },
    )?;

    let fallback_thresholds: Vec<f32> = labels
        .iter()
        .map(|l| init.and_then(|m| m.label_index(l).map(|i| m.meta.thresholds[i])).unwrap_or(0.5))
        .collect();
    let mut rng = SplitMix(opts.seed ^ 0x5eed);
    if opts.lexical_epochs > 0 {
        fit_lexical(&head, &mut lexical, &data, &pos_weight_t, opts, &mut rng, on_event)?;
    }
    let lexical_fixed = opts.lexical_epochs > 0;
    let mut log = TrainLog {
        epochs: Vec::new(),
        best_epoch: 0,
        train_examples: data.states.len(),
        dev_examples: dev.states.len(),
        seconds: 0.0,
    };
    let mut best: Option<Snapshot> = None;
    let mut since_best = 0;
    for epoch in 1..=opts.max_epochs {
        let epoch_start = Instant::now();
        let batches = plan_batches(&data.states, opts.batch_size, &mut rng);
        on_event(Event::EpochStart { epoch, batches: batches.len() });
        let mut total_loss = 0f64;
        for (done, batch_idx) in batches.iter().enumerate() {
            let states: Vec<&Tensor> = batch_idx.iter().map(|&i| &data.states[i]).collect();
            let lex: Vec<&Sparse> = batch_idx.iter().map(|&i| &data.lex[i]).collect();
            let batch = make_batch(&states, &lex, opts.max_tokens)?;
            let targets = rows_tensor(batch_idx.iter().map(|&i| &data.targets[i]), n_labels)?;
            let scope = rows_tensor(batch_idx.iter().map(|&i| &data.scope[i]), n_labels)?;
            let rows = Var::from_tensor(&lexical.gather(&batch.lex_id_list)?)?;
            let logits = head.forward_with_rows(&batch, rows.as_tensor())?;
            let l = loss(&logits, &targets, &scope, &pos_weight_t)?;
            let grads = l.backward()?;
            optimizer.step(&grads)?;
            if let Some(g) = grads.get(rows.as_tensor()).filter(|_| !lexical_fixed) {
                lexical.step(&batch.lex_id_list, g)?;
            }
            let l = l.to_scalar::<f32>()?;
            total_loss += l as f64;
            on_event(Event::Batch { done: done + 1, loss: l });
        }
        let train_loss = (total_loss / batches.len().max(1) as f64) as f32;
        head.set_lexical(&lexical.to_tensor()?)?;
        let (dev_f1, thresholds) = if dev.states.is_empty() {
            (None, fallback_thresholds.clone())
        } else {
            let probs = probabilities(&head, &dev, opts.max_tokens)?;
            let (f1, th) = tune_thresholds(&probs, &dev, &fallback_thresholds);
            (Some(f1), th)
        };
        let entry = EpochLog {
            epoch,
            train_loss,
            dev_macro_f1: dev_f1,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        on_event(Event::EpochEnd(&entry));
        log.epochs.push(entry);
        let score = dev_f1.unwrap_or(epoch as f64);
        if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
            let snapshot = head
                .tensors()
                .into_iter()
                .map(|(n, t)| Ok((n, t.copy()?)))
                .collect::<candle_core::Result<_>>()?;
            best = Some((score, snapshot, thresholds));
            log.best_epoch = epoch;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= opts.patience {
                break;
            }
        }
    }
    let (_, tensors, thresholds) = best.ok_or(TrainError::NoLabels)?;
    let head = Head::from_tensors(config, &tensors.into_iter().collect())?;
    log.seconds = started.elapsed().as_secs_f64();
    let meta = Meta {
        format: FORMAT,
        labels,
        thresholds,
        head: config,
        max_tokens: opts.max_tokens,
        encoder,
        training: serde_json::json!({
            "options": opts,
            "train_files": train_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "dev_files": dev_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "continued_from": init.and_then(|m| m.dir.as_ref()).map(|d| d.display().to_string()),
            "log": &log,
        }),
    };
    Ok((Classifier { meta, head, idf, dir: None }, log))
}

/// Stage one: the lexical layer and the label biases alone, as a logistic regression
/// over the TF-IDF features.
fn fit_lexical(
    head: &Head,
    lexical: &mut SparseAdam,
    data: &Prepared,
    pos_weight: &Tensor,
    opts: &TrainOptions,
    rng: &mut SplitMix,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), TrainError> {
    let n_labels = head.config.labels;
    let mut bias_opt = AdamW::new(
        vec![head.bias().clone()],
        ParamsAdamW { lr: opts.lr, weight_decay: 0.0, ..ParamsAdamW::default() },
    )?;
    for epoch in 1..=opts.lexical_epochs {
        let started = Instant::now();
        let batches = plan_batches(&data.states, opts.batch_size, rng);
        on_event(Event::EpochStart { epoch, batches: batches.len() });
        let mut total = 0f64;
        for (done, idx) in batches.iter().enumerate() {
            let lex: Vec<&Sparse> = idx.iter().map(|&i| &data.lex[i]).collect();
            let (weights, ids) = super::head::lexical_inputs(&lex)?;
            let rows = Var::from_tensor(&lexical.gather(&ids)?)?;
            let logits =
                weights.matmul(rows.as_tensor())?.broadcast_add(head.bias().as_tensor())?;
            let targets = rows_tensor(idx.iter().map(|&i| &data.targets[i]), n_labels)?;
            let scope = rows_tensor(idx.iter().map(|&i| &data.scope[i]), n_labels)?;
            let l = loss(&logits, &targets, &scope, pos_weight)?;
            let grads = l.backward()?;
            bias_opt.step(&grads)?;
            if let Some(g) = grads.get(rows.as_tensor()) {
                lexical.step(&ids, g)?;
            }
            let l = l.to_scalar::<f32>()?;
            total += l as f64;
            on_event(Event::Batch { done: done + 1, loss: l });
        }
        let entry = EpochLog {
            epoch,
            train_loss: (total / batches.len().max(1) as f64) as f32,
            dev_macro_f1: None,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_event(Event::EpochEnd(&entry));
    }
    head.set_lexical(&lexical.to_tensor()?)?;
    Ok(())
}

/// Shuffled batches of similar lengths: shuffle, cut into pools of 50 batches, sort
/// each pool by length, cut into batches, shuffle the batch order.
fn plan_batches(states: &[Tensor], batch_size: usize, rng: &mut SplitMix) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::new();
    for pool in order.chunks(batch_size * 50) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| states[i].dim(0).unwrap_or(0));
        batches.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

fn rows_tensor<'a>(
    rows: impl Iterator<Item = &'a Vec<f32>>,
    width: usize,
) -> candle_core::Result<Tensor> {
    let flat: Vec<f32> = rows.flat_map(|r| r.iter().copied()).collect();
    let n = flat.len() / width.max(1);
    Tensor::from_vec(flat, (n, width), &Device::Cpu)
}

fn probabilities(
    head: &Head,
    data: &Prepared,
    max_tokens: usize,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(data.states.len());
    let mut order: Vec<usize> = (0..data.states.len()).collect();
    order.sort_by_key(|&i| data.states[i].dim(0).unwrap_or(0));
    let mut by_index = vec![Vec::new(); data.states.len()];
    for chunk in order.chunks(64) {
        let states: Vec<&Tensor> = chunk.iter().map(|&i| &data.states[i]).collect();
        let lex: Vec<&Sparse> = chunk.iter().map(|&i| &data.lex[i]).collect();
        let probs = candle_nn::ops::sigmoid(
            &head.forward(&make_batch(&states, &lex, max_tokens)?)?.detach(),
        )?;
        for (&i, p) in chunk.iter().zip(probs.to_vec2::<f32>()?) {
            by_index[i] = p;
        }
    }
    out.extend(by_index);
    Ok(out)
}

/// Per-label thresholds tuned for F1 on the examples whose file annotates the label;
/// returns the macro-F1 over labels with dev positives and the thresholds.
/// Labels without dev positives keep `fallback` (0.5, or the threshold of the model
/// training continues from).
fn tune_thresholds(probs: &[Vec<f32>], dev: &Prepared, fallback: &[f32]) -> (f64, Vec<f32>) {
    let mut thresholds = fallback.to_vec();
    let mut f1s = Vec::new();
    for (l, threshold) in thresholds.iter_mut().enumerate() {
        let (mut p, mut g) = (Vec::new(), Vec::new());
        for (i, probs_i) in probs.iter().enumerate() {
            if dev.scope[i][l] > 0.0 {
                p.push(probs_i[l]);
                g.push(dev.targets[i][l] > 0.0);
            }
        }
        let positives = g.iter().filter(|&&x| x).count();
        if positives == 0 {
            continue;
        }
        let (t, f1) = best_threshold(&p, &g, 0.5);
        // One or two dev positives say little about where to cut: keep the fallback then,
        // and never cut so low that almost everything is predicted.
        if positives >= 3 {
            *threshold = t.clamp(0.05, 0.99);
        }
        f1s.push(f1);
    }
    let macro_f1 = if f1s.is_empty() { 0.0 } else { f1s.iter().sum::<f64>() / f1s.len() as f64 };
    (macro_f1, thresholds)
}

/// Copies an existing head into a head with `labels`, keeping learned rows of the
/// labels both share and starting new labels fresh.
fn extend_head(
    model: &Classifier,
    labels: &[String],
    config: HeadConfig,
    seed: u64,
    prior: &[f32],
) -> Result<Head, TrainError> {
    let fresh = Head::new(config, seed, prior)?;
    if model.meta.head.hidden != config.hidden
        || model.meta.head.attn_dim != config.attn_dim
        || model.idf.buckets != config.buckets
    {
        return Err(ModelError::Load {
            dir: model.dir.clone().unwrap_or_default(),
            detail: "its head shape differs from the requested training settings".into(),
        }
        .into());
    }
    let old = model.head.tensors();
    let mut new = fresh.tensors();
    for name in ["w_att", "b_att"] {
        new.insert(name.into(), old[name].clone());
    }
    // Label-indexed tensors: rows (or columns) per label.
    for (name, dim) in
        [("queries", 0), ("w_out", 0), ("b_out", 0), ("w_mean", 1), ("lexical", 1), ("bias", 0)]
    {
        let mut parts = Vec::with_capacity(labels.len());
        for (i, label) in labels.iter().enumerate() {
            let src = match model.label_index(label) {
                Some(j) => old[name].narrow(dim, j, 1)?,
                None => new[name].narrow(dim, i, 1)?,
            };
            parts.push(src.to_dtype(DType::F32)?);
        }
        new.insert(name.into(), Tensor::cat(&parts, dim)?);
    }
    Ok(Head::from_tensors(config, &new)?)
}
