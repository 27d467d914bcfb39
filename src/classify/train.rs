//! Training: labelled files and cached encoder outputs become a trained
//! [`Classifier`] with one tuned threshold per label, in three stages.
//!
//! 1. The lexical model: a class-weighted logistic regression per label over TF-IDF
//!    word, word-pair and character n-gram features, solved to convergence
//!    ([`super::linear`]).
//! 2. The transformer head over the frozen encoder's cached token states: binary
//!    cross-entropy per label, weighted up for rare positives. After every epoch the
//!    two models are mixed and scored on the dev files (stage 3); training stops when
//!    dev macro-F1 has not improved for `patience` epochs and the best epoch is kept.
//! 3. The mix: for each label with enough dev positives, a small logistic regression on
//!    the dev examples weighs the two logits (which also calibrates the probability the
//!    scorer uses); then each label's threshold is tuned on dev for F1.
//!
//! Every loss is masked to the labels each example's file annotates (see
//! [`super::dataset::Dataset`]). Everything random draws from one seeded generator, and
//! candle runs single-threaded, so a seed fixes the result.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::cache::{CacheError, StateCache};
use super::dataset::Dataset;
use super::head::{loss, make_batch, Head, HeadConfig, SplitMix};
use super::lexical::{Lexicon, Sparse};
use super::linear::{self, LinearOptions, Problem};
use super::metrics::best_threshold;
use super::model::{
    linear_features, sigmoid, Classifier, EncoderRef, LexicalModel, Meta, Mix, ModelError, FORMAT,
};

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
    /// The lexical model's solver settings.
    pub linear: LinearOptions,
    /// Length of the pooled embedding among the linear model's inputs (0: terms only).
    pub dense_scale: f32,
    /// Which of the two models to train and use (the others are ablations).
    pub components: Components,
}

/// The parts of the classifier a training run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Components {
    /// The lexical model and the transformer head, mixed per label (the default).
    Both,
    /// The lexical model alone (the head is left untrained and weighed 0).
    Lexical,
    /// The transformer head alone (the lexical model is left at zero and weighed 0).
    Head,
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
            linear: LinearOptions::default(),
            dense_scale: 0.0,
            components: Components::Both,
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
    /// The lexical model is solved (seconds taken, most iterations of a label).
    Lexical {
        seconds: f64,
        iterations: usize,
    },
    EpochStart {
        epoch: usize,
        batches: usize,
    },
    Batch {
        done: usize,
        loss: f32,
    },
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
    /// Dev macro-F1 of the model kept (mixed, at tuned thresholds); none without dev data.
    pub dev_macro_f1: Option<f64>,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub seconds: f64,
}

/// Dev macro-F1 (none without dev data), mix and thresholds of one head.
type Tuned = (Option<f64>, Vec<Mix>, Vec<f32>);

/// The best epoch so far: dev score, head tensors, mix, thresholds.
type Snapshot = (f64, Vec<(String, Tensor)>, Vec<Mix>, Vec<f32>);

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
    lexicon: &Lexicon,
    dense_scale: f32,
    cache: &mut StateCache,
    need_states: bool,
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
            if need_states {
                let states = cache
                    .get(&ex.text)?
                    .ok_or_else(|| TrainError::NotCached(ex.text.chars().take(60).collect()))?;
                p.lex.push(linear_features(lexicon, &ex.text, Some(&states), dense_scale)?);
                p.states.push(states);
            } else {
                p.lex.push(linear_features(lexicon, &ex.text, None, dense_scale)?);
            }
            p.targets.push(
                labels.iter().map(|l| if ex.labels.contains(l) { 1.0 } else { 0.0 }).collect(),
            );
            p.scope.push(scope);
        }
    }
    Ok(p)
}

/// Whether a training run with these settings reads encoder outputs: all but the lexical
/// model alone over TF-IDF terms do.
pub fn needs_states(components: Components, dense_scale: f32) -> bool {
    components != Components::Lexical || dense_scale > 0.0
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

/// Trains a classifier. `init` continues from an existing model: its lexicon, and for
/// the labels it has, its weights (as the starting point and, for the lexical model, the
/// centre of the regularisation), mix and thresholds; labels it lacks start fresh.
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
    let lexicon = match init {
        Some(model) => model.lexicon.clone(),
        None => {
            Lexicon::fit(train_sets.iter().flat_map(|s| s.examples.iter().map(|e| e.text.as_str())))
        }
    };
    // Continuing keeps the embedding scale of the model it continues from.
    let dense_scale = init.map_or(opts.dense_scale, |m| m.lexical.dense_scale);
    // The lexical model alone, without embedding inputs, reads no encoder outputs.
    let need_states = needs_states(opts.components, dense_scale);
    let data = prepare(train_sets, &labels, &lexicon, dense_scale, cache, need_states)?;
    let dev = prepare(dev_sets, &labels, &lexicon, dense_scale, cache, need_states)?;
    let n_labels = labels.len();
    let hidden = data.states.first().map(|s| s.dim(1)).transpose()?.unwrap_or(384);
    let dense_dim = if dense_scale > 0.0 { hidden } else { 0 };
    if let Some(m) = init {
        if m.lexical.dense_dim != dense_dim {
            return Err(ModelError::Load {
                dir: m.dir.clone().unwrap_or_default(),
                detail: format!(
                    "its linear model reads {} embedding dimensions, the cache holds {dense_dim}",
                    m.lexical.dense_dim
                ),
            }
            .into());
        }
    }
    let init_index: Vec<Option<usize>> =
        labels.iter().map(|l| init.and_then(|m| m.label_index(l))).collect();

    // Stage 1: the lexical model.
    let lexical_started = Instant::now();
    let lexical = if opts.components == Components::Head {
        let zeros = LexicalModel {
            weights: vec![vec![0.0; lexicon.len() + dense_dim]; n_labels],
            bias: vec![0.0; n_labels],
            dense_scale,
            dense_dim,
        };
        (zeros, 0)
    } else {
        fit_lexical(&data, lexicon.len() + dense_dim, init, &init_index, &opts.linear)
    };
    let lexical = (LexicalModel { dense_scale, dense_dim, ..lexical.0 }, lexical.1);
    on_event(Event::Lexical {
        seconds: lexical_started.elapsed().as_secs_f64(),
        iterations: lexical.1,
    });
    let lexical = lexical.0;
    let dev_lex: Vec<Vec<f32>> = dev.lex.iter().map(|f| lexical.logits(f)).collect();

    // Stage 2: the transformer head. Class weights and starting biases from the label
    // frequencies in scope.
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
    };
    let head = match init {
        Some(model) => extend_head(model, &labels, config, opts.seed, &prior)?,
        None => Head::new(config, opts.seed, &prior)?,
    };
    let mut optimizer = AdamW::new(
        head.vars(),
        ParamsAdamW { lr: opts.lr, weight_decay: opts.weight_decay, ..ParamsAdamW::default() },
    )?;

    let fallback_thresholds: Vec<f32> = init_index
        .iter()
        .map(|i| init.zip(*i).map_or(0.5, |(m, i)| m.meta.thresholds[i]))
        .collect();
    let fallback_mix: Vec<Mix> =
        init_index.iter().map(|i| init.zip(*i).map_or(Mix::EVEN, |(m, i)| m.mix[i])).collect();
    let mut rng = SplitMix(opts.seed ^ 0x5eed);
    let mut log = TrainLog {
        epochs: Vec::new(),
        best_epoch: 0,
        dev_macro_f1: None,
        train_examples: data.lex.len(),
        dev_examples: dev.lex.len(),
        seconds: 0.0,
    };
    let mut best: Option<Snapshot> = None;
    let mut since_best = 0;
    let epochs = if opts.components == Components::Lexical { 0 } else { opts.max_epochs };
    // Stage 3 for a head: mix, thresholds, dev score.
    let mix_and_tune = |head: &Head| -> Result<Tuned, TrainError> {
        if dev.lex.is_empty() {
            return Ok((None, fallback_mix.clone(), fallback_thresholds.clone()));
        }
        let dev_head = if opts.components == Components::Lexical {
            vec![vec![0.0; n_labels]; dev.lex.len()]
        } else {
            head_logits(head, &dev, opts.max_tokens)?
        };
        let mut mix = fit_mix(&dev_lex, &dev_head, &dev, &fallback_mix);
        for m in &mut mix {
            match opts.components {
                Components::Both => {}
                Components::Lexical => m.head = 0.0,
                Components::Head => m.lexical = 0.0,
            }
        }
        let probs = mixed_probabilities(&mix, &dev_lex, &dev_head);
        let (f1, th) = tune_thresholds(&probs, &dev, &fallback_thresholds);
        Ok((Some(f1), mix, th))
    };
    if epochs == 0 {
        let (dev_f1, mix, thresholds) = mix_and_tune(&head)?;
        log.dev_macro_f1 = dev_f1;
        best = Some((0.0, head.tensors().into_iter().collect(), mix, thresholds));
    }
    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        let batches = plan_batches(&data.states, opts.batch_size, &mut rng);
        on_event(Event::EpochStart { epoch, batches: batches.len() });
        let mut total_loss = 0f64;
        for (done, batch_idx) in batches.iter().enumerate() {
            let states: Vec<&Tensor> = batch_idx.iter().map(|&i| &data.states[i]).collect();
            let batch = make_batch(&states, opts.max_tokens)?;
            let targets = rows_tensor(batch_idx.iter().map(|&i| &data.targets[i]), n_labels)?;
            let scope = rows_tensor(batch_idx.iter().map(|&i| &data.scope[i]), n_labels)?;
            let logits = head.forward(&batch)?;
            let l = loss(&logits, &targets, &scope, &pos_weight_t)?;
            optimizer.backward_step(&l)?;
            let l = l.to_scalar::<f32>()?;
            total_loss += l as f64;
            on_event(Event::Batch { done: done + 1, loss: l });
        }
        let train_loss = (total_loss / batches.len().max(1) as f64) as f32;
        let (dev_f1, mix, thresholds) = mix_and_tune(&head)?;
        let entry = EpochLog {
            epoch,
            train_loss,
            dev_macro_f1: dev_f1,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        on_event(Event::EpochEnd(&entry));
        log.epochs.push(entry);
        let score = dev_f1.unwrap_or(epoch as f64);
        if best.as_ref().is_none_or(|(b, ..)| score > *b) {
            let snapshot = head
                .tensors()
                .into_iter()
                .map(|(n, t)| Ok((n, t.copy()?)))
                .collect::<candle_core::Result<_>>()?;
            best = Some((score, snapshot, mix, thresholds));
            log.best_epoch = epoch;
            log.dev_macro_f1 = dev_f1;
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= opts.patience {
                break;
            }
        }
    }
    let (_, tensors, mix, thresholds) = best.ok_or(TrainError::NoLabels)?;
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
            "lexicon_terms": lexicon.len(),
            "train_files": train_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "dev_files": dev_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "continued_from": init.and_then(|m| m.dir.as_ref()).map(|d| d.display().to_string()),
            "log": &log,
        }),
    };
    Ok((Classifier { meta, head, lexicon, lexical, mix, dir: None }, log))
}

/// Stage 1: one logistic regression per label over the examples in its scope. Returns
/// the model and the most iterations any label took.
fn fit_lexical(
    data: &Prepared,
    dim: usize,
    init: Option<&Classifier>,
    init_index: &[Option<usize>],
    opts: &LinearOptions,
) -> (LexicalModel, usize) {
    let problems: Vec<Problem<'_>> = (0..init_index.len())
        .map(|l| {
            let mut p = Problem { rows: Vec::new(), positive: Vec::new() };
            for i in 0..data.lex.len() {
                if data.scope[i][l] > 0.0 {
                    p.rows.push(&data.lex[i]);
                    p.positive.push(data.targets[i][l] > 0.0);
                }
            }
            p
        })
        .collect();
    let start: Vec<(Vec<f32>, f32)> = init_index
        .iter()
        .map(|i| match init.zip(*i) {
            Some((m, i)) => (m.lexical.weights[i].clone(), m.lexical.bias[i]),
            None => (vec![0.0; dim], 0.0),
        })
        .collect();
    let solved = linear::fit_all(&problems, &start, dim, opts);
    let iterations = solved.iter().map(|s| s.iterations).max().unwrap_or(0);
    let (weights, bias) = solved.into_iter().map(|s| (s.weights, s.bias)).unzip();
    (LexicalModel { weights, bias, dense_scale: 0.0, dense_dim: 0 }, iterations)
}

/// Dev positives a label needs before its mix is fitted or its threshold tuned; with
/// fewer, the fallback (even mix, 0.5, or the continued model's) stays.
const MIN_DEV_POSITIVES: usize = 3;

/// Stage 3: per label, a logistic regression of the gold label on the two logits over
/// the dev examples in scope (unweighted, so the result is a calibrated probability),
/// regularised toward `fallback`.
fn fit_mix(
    dev_lex: &[Vec<f32>],
    dev_head: &[Vec<f32>],
    dev: &Prepared,
    fallback: &[Mix],
) -> Vec<Mix> {
    let opts = LinearOptions { c: 1.0, balanced: false, ..LinearOptions::default() };
    fallback
        .iter()
        .enumerate()
        .map(|(l, fb)| {
            let mut rows = Vec::new();
            let mut positive = Vec::new();
            for i in 0..dev_lex.len() {
                if dev.scope[i][l] > 0.0 {
                    rows.push(Sparse {
                        ids: vec![0, 1],
                        weights: vec![dev_lex[i][l], dev_head[i][l]],
                    });
                    positive.push(dev.targets[i][l] > 0.0);
                }
            }
            if positive.iter().filter(|&&p| p).count() < MIN_DEV_POSITIVES {
                return *fb;
            }
            let p = Problem { rows: rows.iter().collect(), positive };
            let s = linear::fit(&p, &[fb.lexical, fb.head], fb.bias, 2, &opts);
            Mix { lexical: s.weights[0], head: s.weights[1], bias: s.bias }
        })
        .collect()
}

fn mixed_probabilities(mix: &[Mix], lex: &[Vec<f32>], head: &[Vec<f32>]) -> Vec<Vec<f32>> {
    lex.iter()
        .zip(head)
        .map(|(zl, zh)| {
            mix.iter().zip(zl.iter().zip(zh)).map(|(m, (&a, &b))| sigmoid(m.logit(a, b))).collect()
        })
        .collect()
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

fn head_logits(
    head: &Head,
    data: &Prepared,
    max_tokens: usize,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..data.states.len()).collect();
    order.sort_by_key(|&i| data.states[i].dim(0).unwrap_or(0));
    let mut by_index = vec![Vec::new(); data.states.len()];
    for chunk in order.chunks(64) {
        let states: Vec<&Tensor> = chunk.iter().map(|&i| &data.states[i]).collect();
        let logits = head.forward(&make_batch(&states, max_tokens)?)?.detach();
        for (&i, z) in chunk.iter().zip(logits.to_vec2::<f32>()?) {
            by_index[i] = z;
        }
    }
    Ok(by_index)
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
        if positives >= MIN_DEV_POSITIVES {
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
    if model.meta.head.hidden != config.hidden || model.meta.head.attn_dim != config.attn_dim {
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
    for (name, dim) in [("queries", 0), ("w_out", 0), ("b_out", 0), ("w_mean", 1), ("bias", 0)] {
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
