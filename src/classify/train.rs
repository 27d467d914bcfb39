//! Training: labelled files and cached encoder outputs become a trained
//! [`Classifier`] with one tuned threshold per label, in three stages.
//!
//! 1. The lexical model: a class-weighted logistic regression per label over TF-IDF
//!    word, word-pair and character n-gram features, solved to convergence
//!    ([`super::linear`]).
//! 2. The transformer head over cached encoder token states: binary cross-entropy per
//!    label, weighted up for rare positives. With tuned layers ([`super::tuned`]) the
//!    cache holds the output of the frozen lower layers and each batch runs through the
//!    top layers first; the head's gradient with respect to their output (from candle)
//!    is passed down their hand-written backward pass, and both are updated. After every
//!    epoch the two models are mixed and scored on the dev files (stage 3); training
//!    stops when the dev score has not improved for `patience` epochs and the best epoch
//!    is kept.
//! 3. The mix: for each label with enough dev positives, a small logistic regression on
//!    the dev examples weighs the two logits (which also calibrates the probability the
//!    scorer uses); then each label's threshold is tuned on dev for F1, at no more than
//!    0.5 (the most a calibrated probability's F1-optimal cut can be). The mix is
//!    cross-fitted over two halves of dev, so the thresholds and the dev score that
//!    early stopping and model choice read come from probabilities of examples the mix
//!    was not fitted on. Epochs are compared by dev macro-F1 at each label's best cut
//!    ([`DevScore`]); the thresholds shipped are then tuned at no more than 0.5.
//!
//! Every loss is masked to the labels each example's file annotates (see
//! [`super::dataset::Dataset`]). Everything random draws from one seeded generator, and
//! a batch of the tuned layers is split into a fixed number of parts whatever the thread
//! count, so a seed fixes the result.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rayon::prelude::*;

use super::cache::{CacheError, StateCache};
use super::dataset::Dataset;
use super::head::{loss, make_batch, Batch, Head, HeadConfig, SplitMix};
use super::lexical::{Lexicon, Sparse};
use super::linear::{self, LinearOptions, Problem};
use super::metrics::best_threshold;
use super::model::{
    linear_features, sigmoid, Classifier, EncoderRef, LexicalModel, Meta, Mix, ModelError, FORMAT,
};
use super::tuned::{self, TunedLayers};
use crate::encode::bert::LayerWeights;

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
    /// Learning rate of the fine-tuned encoder layers (when any are tuned).
    pub tune_lr: f64,
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
            tune_lr: 5e-5,
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
    #[error("invalid training settings: {0}")]
    Settings(String),
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
    /// Dev macro-F1 at each label's best cut, however high (see [`DevScore`]): what
    /// picks the epoch kept.
    pub dev_best_f1: Option<f64>,
    pub seconds: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainLog {
    pub epochs: Vec<EpochLog>,
    pub best_epoch: usize,
    /// Dev macro-F1 of the model kept (mixed, at tuned thresholds); none without dev data.
    pub dev_macro_f1: Option<f64>,
    /// Dev macro-F1 at the best cuts of the model kept; none without dev data.
    pub dev_best_f1: Option<f64>,
    pub train_examples: usize,
    pub dev_examples: usize,
    pub seconds: f64,
}

/// How one epoch's mixed model does on dev, from out-of-fold probabilities, over the
/// labels with enough dev positives.
#[derive(Debug, Clone, Copy)]
struct DevScore {
    /// Macro-F1 at the thresholds shipped (tuned at or under [`MAX_THRESHOLD`]).
    macro_f1: f64,
    /// Macro-F1 at each label's best cut anywhere in [0, 1]: how well the epoch's
    /// probabilities separate each label, whatever cut is shipped. It picks the epoch;
    /// where to cut is decided apart, for the epoch kept.
    best_f1: f64,
}

/// Dev score (none without dev data), mix and thresholds of one head.
type Tuned = (Option<DevScore>, Vec<Mix>, Vec<f32>);

/// The best epoch so far: dev score, head tensors, mix, thresholds, tuned layers.
type Snapshot = (f64, Vec<(String, Tensor)>, Vec<Mix>, Vec<f32>, Option<TunedLayers>);

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
    tuned: Option<TunedLayers>,
    opts: &TrainOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(Classifier, TrainLog), TrainError> {
    let started = Instant::now();
    if labels.is_empty() {
        return Err(TrainError::NoLabels);
    }
    let mut tuned = tuned;
    if tuned.is_some() && (opts.dense_scale > 0.0 || opts.components == Components::Lexical) {
        return Err(TrainError::Settings(
            "tuned encoder layers need the transformer head and no embedding in the linear \
             model: use --dense-scale 0, or --tune-layers 0 for a frozen encoder"
                .into(),
        ));
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
        dev_best_f1: None,
        train_examples: data.lex.len(),
        dev_examples: dev.lex.len(),
        seconds: 0.0,
    };
    let mut best: Option<Snapshot> = None;
    let mut since_best = 0;
    let epochs = if opts.components == Components::Lexical { 0 } else { opts.max_epochs };
    // Stage 3 for a head: mix, thresholds, dev score.
    let mix_and_tune = |head: &Head, tuned: Option<&TunedLayers>| -> Result<Tuned, TrainError> {
        if dev.lex.is_empty() {
            return Ok((None, fallback_mix.clone(), fallback_thresholds.clone()));
        }
        let dev_head = if opts.components == Components::Lexical {
            vec![vec![0.0; n_labels]; dev.lex.len()]
        } else {
            let states = match tuned {
                // f16 halves the memory of a whole dev set's outputs.
                Some(t) => t.transform_tensors(&dev.states, opts.max_tokens, DType::F16)?,
                None => dev.states.clone(),
            };
            head_logits(head, &states, opts.max_tokens)?
        };
        let fit = |fallback: &[Mix], include: &dyn Fn(usize) -> bool| {
            let mut mix = fit_mix(&dev_lex, &dev_head, &dev, fallback, include);
            for m in &mut mix {
                match opts.components {
                    Components::Both => {}
                    Components::Lexical => m.head = 0.0,
                    Components::Head => m.lexical = 0.0,
                }
            }
            mix
        };
        // The mix is fitted on dev, so scoring it on the same examples would flatter a
        // model with more fitted weights. Cross-fit instead: each half of dev is scored
        // with the mix fitted on the other half, and thresholds are tuned on those
        // out-of-fold probabilities. The mix kept is fitted on all of dev; a label with
        // too few positives in a half keeps that mix there (the EVEN fallback would be
        // calibrated differently from the mix the thresholds are applied to).
        let full = fit(&fallback_mix, &|_| true);
        let mut probs = vec![Vec::new(); dev_lex.len()];
        for fold in 0..DEV_FOLDS {
            let mix = fit(&full, &|i| i % DEV_FOLDS != fold);
            for i in (fold..dev_lex.len()).step_by(DEV_FOLDS) {
                probs[i] = mixed_probabilities(&mix, &dev_lex[i..=i], &dev_head[i..=i]).remove(0);
            }
        }
        let (score, th) = score_and_tune(&probs, &dev, &fallback_thresholds);
        Ok((Some(score), full, th))
    };
    if epochs == 0 {
        let (dev_score, mix, thresholds) = mix_and_tune(&head, tuned.as_ref())?;
        log.dev_macro_f1 = dev_score.map(|d| d.macro_f1);
        log.dev_best_f1 = dev_score.map(|d| d.best_f1);
        best = Some((0.0, head.tensors().into_iter().collect(), mix, thresholds, tuned.clone()));
    }
    let mut layer_optimizer =
        tuned.as_ref().map(|t| tuned::AdamW::new(&t.layers, opts.weight_decay.max(0.01) as f32));
    let mut step = 0usize;
    for epoch in 1..=epochs {
        let epoch_start = Instant::now();
        let batches = plan_batches(&data.states, opts.batch_size, &mut rng);
        // The tuned layers warm up over the first tenth of the first epoch.
        let warmup = (batches.len() / 10).max(1);
        on_event(Event::EpochStart { epoch, batches: batches.len() });
        let mut total_loss = 0f64;
        for (done, batch_idx) in batches.iter().enumerate() {
            let targets = rows_tensor(batch_idx.iter().map(|&i| &data.targets[i]), n_labels)?;
            let scope = rows_tensor(batch_idx.iter().map(|&i| &data.scope[i]), n_labels)?;
            let l = match (tuned.as_mut(), layer_optimizer.as_mut()) {
                (Some(t), Some(layer_opt)) => {
                    step += 1;
                    let lr = opts.tune_lr * (step as f64 / warmup as f64).min(1.0);
                    let inputs: Vec<&Tensor> = batch_idx.iter().map(|&i| &data.states[i]).collect();
                    tuned_step(
                        t,
                        layer_opt,
                        lr as f32,
                        &head,
                        &mut optimizer,
                        &inputs,
                        opts.max_tokens,
                        &|logits| loss(logits, &targets, &scope, &pos_weight_t),
                    )?
                }
                _ => {
                    let states: Vec<&Tensor> = batch_idx.iter().map(|&i| &data.states[i]).collect();
                    let batch = make_batch(&states, opts.max_tokens)?;
                    let logits = head.forward(&batch)?;
                    let l = loss(&logits, &targets, &scope, &pos_weight_t)?;
                    optimizer.backward_step(&l)?;
                    l.to_scalar::<f32>()?
                }
            };
            total_loss += l as f64;
            on_event(Event::Batch { done: done + 1, loss: l });
        }
        let train_loss = (total_loss / batches.len().max(1) as f64) as f32;
        let (dev_score, mix, thresholds) = mix_and_tune(&head, tuned.as_ref())?;
        let entry = EpochLog {
            epoch,
            train_loss,
            dev_macro_f1: dev_score.map(|d| d.macro_f1),
            dev_best_f1: dev_score.map(|d| d.best_f1),
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        on_event(Event::EpochEnd(&entry));
        log.epochs.push(entry);
        // Without dev data the last epoch is kept.
        let score = dev_score.map_or(epoch as f64, |d| d.best_f1);
        if best.as_ref().is_none_or(|(b, ..)| score > *b) {
            let snapshot = head
                .tensors()
                .into_iter()
                .map(|(n, t)| Ok((n, t.copy()?)))
                .collect::<candle_core::Result<_>>()?;
            best = Some((score, snapshot, mix, thresholds, tuned.clone()));
            log.best_epoch = epoch;
            log.dev_macro_f1 = dev_score.map(|d| d.macro_f1);
            log.dev_best_f1 = dev_score.map(|d| d.best_f1);
            since_best = 0;
        } else {
            since_best += 1;
            if since_best >= opts.patience {
                break;
            }
        }
    }
    let (_, tensors, mix, thresholds, tuned) = best.ok_or(TrainError::NoLabels)?;
    let head = Head::from_tensors(config, &tensors.into_iter().collect())?;
    log.seconds = started.elapsed().as_secs_f64();
    let meta = Meta {
        format: FORMAT,
        labels,
        thresholds,
        head: config,
        max_tokens: opts.max_tokens,
        encoder,
        tuned: tuned.as_ref().map(|t| t.config),
        training: serde_json::json!({
            "options": opts,
            "lexicon_terms": lexicon.len(),
            "train_files": train_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "dev_files": dev_sets.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "continued_from": init.and_then(|m| m.dir.as_ref()).map(|d| d.display().to_string()),
            "log": &log,
        }),
    };
    Ok((Classifier { meta, head, tuned, lexicon, lexical, mix, dir: None }, log))
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

/// The highest threshold tuning may choose: the mix outputs calibrated probabilities, and
/// for those the F1-optimal threshold is half the best F1, so at most 0.5 (see
/// [`best_threshold`]).
const MAX_THRESHOLD: f32 = 0.5;

/// Folds of dev the mix is cross-fitted over (examples taken in turn).
const DEV_FOLDS: usize = 2;

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
    include: &dyn Fn(usize) -> bool,
) -> Vec<Mix> {
    let opts = LinearOptions { c: 1.0, balanced: false, ..LinearOptions::default() };
    fallback
        .iter()
        .enumerate()
        .map(|(l, fb)| {
            let mut rows = Vec::new();
            let mut positive = Vec::new();
            for i in (0..dev_lex.len()).filter(|&i| include(i)) {
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

/// One training step through the tuned layers and the head: the layers run forward on
/// the batch (split over the worker threads), the head's loss is differentiated by
/// candle down to the layers' output, and the layers' backward pass takes it from
/// there. Updates the head and the layers; returns the loss.
#[allow(clippy::too_many_arguments)]
fn tuned_step(
    t: &mut TunedLayers,
    layer_opt: &mut tuned::AdamW,
    lr: f32,
    head: &Head,
    head_opt: &mut AdamW,
    inputs: &[&Tensor],
    max_tokens: usize,
    loss_of: &dyn Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> candle_core::Result<f32> {
    const MAX_GRAD_NORM: f32 = 1.0;
    let h = t.config.hidden;
    let rows = inputs
        .iter()
        .map(|s| tuned::state_rows(s, max_tokens))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let lens: Vec<usize> = rows.iter().map(|r| r.len() / h).collect();
    // Contiguous parts of about equal tokens, run side by side. Their number is fixed
    // (not the thread count), so the summed gradients, and the trained model, are the
    // same on any machine.
    let parts = split_by_tokens(&lens, BATCH_PARTS);
    let forwards: Vec<tuned::Forward> = parts
        .par_iter()
        .map(|r| {
            let x: Vec<f32> = rows[r.clone()].iter().flat_map(|v| v.iter().copied()).collect();
            t.forward(x, &lens[r.clone()], true)
        })
        .collect();
    let mut seqs = Vec::with_capacity(lens.len());
    for (r, f) in parts.iter().zip(&forwards) {
        for v in tuned::split_rows(&f.output, &lens[r.clone()], h) {
            let n = v.len() / h;
            seqs.push(Tensor::from_vec(v, (n, h), &Device::Cpu)?);
        }
    }
    let refs: Vec<&Tensor> = seqs.iter().collect();
    let padded = make_batch(&refs, max_tokens)?;
    let states = Var::from_tensor(&padded.states)?;
    let batch = Batch { states: states.as_tensor().clone(), mask: padded.mask };
    let l = loss_of(&head.forward(&batch)?)?;
    let grads = l.backward()?;
    head_opt.step(&grads)?;
    let d_states = grads
        .get(states.as_tensor())
        .ok_or_else(|| candle_core::Error::Msg("no gradient reached the tuned layers".into()))?
        .to_vec3::<f32>()?;
    let part_grads: Vec<Vec<LayerWeights>> = parts
        .par_iter()
        .zip(&forwards)
        .map(|(r, f)| {
            let dy: Vec<f32> = r
                .clone()
                .flat_map(|i| d_states[i][..lens[i]].iter().flat_map(|row| row.iter().copied()))
                .collect();
            let mut g: Vec<LayerWeights> = t.layers.iter().map(tuned::zeros_like).collect();
            t.backward(f, dy, &mut g);
            g
        })
        .collect();
    let mut parts_iter = part_grads.into_iter();
    let mut total =
        parts_iter.next().unwrap_or_else(|| t.layers.iter().map(tuned::zeros_like).collect());
    for g in parts_iter {
        tuned::add_grads(&mut total, &g);
    }
    tuned::clip_grads(&mut total, MAX_GRAD_NORM);
    layer_opt.step(&mut t.layers, &total, lr);
    l.to_scalar::<f32>()
}

/// Parts a training batch of the tuned layers is split into, to run on up to this many
/// threads.
const BATCH_PARTS: usize = 4;

/// Splits sequences of `lens` into at most `parts` contiguous ranges of about equal
/// token counts (none empty).
fn split_by_tokens(lens: &[usize], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = lens.iter().sum();
    let parts = parts.clamp(1, lens.len().max(1));
    let mut out = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, &len) in lens.iter().enumerate() {
        acc += len;
        let remaining_parts = parts - out.len() - 1;
        // Cut after this sequence when taking the next one would overshoot the part's
        // share of the tokens by more than half of it.
        let next = lens.get(i + 1).copied().unwrap_or(0);
        let target = total * (out.len() + 1);
        if remaining_parts > 0
            && 2 * acc * parts + next * parts >= 2 * target
            && lens.len() - i > remaining_parts
        {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

fn head_logits(
    head: &Head,
    states: &[Tensor],
    max_tokens: usize,
) -> candle_core::Result<Vec<Vec<f32>>> {
    let mut order: Vec<usize> = (0..states.len()).collect();
    order.sort_by_key(|&i| states[i].dim(0).unwrap_or(0));
    let mut by_index = vec![Vec::new(); states.len()];
    for chunk in order.chunks(64) {
        let states: Vec<&Tensor> = chunk.iter().map(|&i| &states[i]).collect();
        let logits = head.forward(&make_batch(&states, max_tokens)?)?.detach();
        for (&i, z) in chunk.iter().zip(logits.to_vec2::<f32>()?) {
            by_index[i] = z;
        }
    }
    Ok(by_index)
}

/// Per-label thresholds tuned for F1 on the examples whose file annotates the label, and
/// the dev score ([`DevScore`]) over the labels with dev positives. Labels without dev
/// positives keep `fallback` (0.5, or the threshold of the model training continues
/// from).
fn score_and_tune(probs: &[Vec<f32>], dev: &Prepared, fallback: &[f32]) -> (DevScore, Vec<f32>) {
    let mut thresholds = fallback.to_vec();
    let (mut f1s, mut best_f1s) = (Vec::new(), Vec::new());
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
        let (t, f1) = best_threshold(&p, &g, 0.5, MAX_THRESHOLD);
        // One or two dev positives say little about where to cut: keep the fallback then,
        // and never cut so low that almost everything is predicted.
        if positives >= MIN_DEV_POSITIVES {
            *threshold = t.max(0.05);
        }
        f1s.push(f1);
        best_f1s.push(best_threshold(&p, &g, 0.5, 1.0).1);
    }
    let mean =
        |xs: &[f64]| if xs.is_empty() { 0.0 } else { xs.iter().sum::<f64>() / xs.len() as f64 };
    (DevScore { macro_f1: mean(&f1s), best_f1: mean(&best_f1s) }, thresholds)
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

#[cfg(test)]
mod tests {
    use super::split_by_tokens;

    #[test]
    fn batches_split_into_contiguous_parts_of_about_equal_tokens() {
        assert_eq!(split_by_tokens(&[3, 5], 2), vec![0..1, 1..2]);
        assert_eq!(split_by_tokens(&[10, 10, 10, 10], 2), vec![0..2, 2..4]);
        assert_eq!(split_by_tokens(&[40, 5, 5, 5, 5], 2), vec![0..1, 1..5]);
        assert_eq!(split_by_tokens(&[7], 2), vec![0..1]);
        assert_eq!(split_by_tokens(&[4, 4, 4], 1), vec![0..3]);
        // Every sequence lands in exactly one part, in order.
        let lens = [12, 3, 50, 7, 7, 9, 30, 2];
        let parts = split_by_tokens(&lens, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.first().map(|r| r.start), Some(0));
        assert_eq!(parts.last().map(|r| r.end), Some(lens.len()));
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start && !w[0].is_empty()));
    }
}
