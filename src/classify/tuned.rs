//! The encoder's top layers, fine-tuned for the task over cached outputs of the frozen
//! lower layers.
//!
//! A frozen encoder with a head on top loses to TF-IDF on contract clauses; the encoder
//! has to learn the task. Training all six layers costs seconds per batch on a laptop
//! CPU, so the lower layers stay frozen: their output is computed once per text and
//! cached ([`super::cache::StateCache::open_at`]), and only the top layers run, forward
//! and backward, on those states.
//!
//! The backward pass is written out over f32 slices, as the forward pass of
//! [`crate::encode::bert`] is: the forward pass keeps what the backward pass reads
//! (the normalised activations, the attention probabilities, the pre-activation of the
//! feed-forward layer) and every product goes to `gemm` through
//! [`kernels::matmul`]. This runs several times faster than recording each tensor
//! operation for automatic differentiation, and it needs no layer norm with a backward
//! pass from the tensor library. A finite-difference test checks every gradient.

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::encode::bert::{BertModel, LayerWeights};
use crate::encode::kernels::{self, MatRef};

/// Shape of the tuned layers and where they sit in the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TunedConfig {
    /// Encoder layers below the tuned ones: their output is the tuned layers' input.
    pub from_layer: usize,
    /// Number of tuned layers (they replace the encoder's layers `from_layer..`).
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub eps: f32,
}

/// Names of a layer's parameters, in the order [`params`] lists them (saved under
/// `tuned.<layer>.<name>`).
pub const PARAM_NAMES: [&str; 12] = [
    "qkv_w",
    "qkv_b",
    "attn_out_w",
    "attn_out_b",
    "attn_norm_g",
    "attn_norm_b",
    "inter_w",
    "inter_b",
    "out_w",
    "out_b",
    "out_norm_g",
    "out_norm_b",
];

/// Parameters that weight decay applies to: the four weight matrices.
const DECAYED: [bool; 12] =
    [true, false, true, false, false, false, true, false, true, false, false, false];

pub fn params(w: &LayerWeights) -> [&Vec<f32>; 12] {
    [
        &w.qkv_w,
        &w.qkv_b,
        &w.attn_out_w,
        &w.attn_out_b,
        &w.attn_norm_g,
        &w.attn_norm_b,
        &w.inter_w,
        &w.inter_b,
        &w.out_w,
        &w.out_b,
        &w.out_norm_g,
        &w.out_norm_b,
    ]
}

pub fn params_mut(w: &mut LayerWeights) -> [&mut Vec<f32>; 12] {
    [
        &mut w.qkv_w,
        &mut w.qkv_b,
        &mut w.attn_out_w,
        &mut w.attn_out_b,
        &mut w.attn_norm_g,
        &mut w.attn_norm_b,
        &mut w.inter_w,
        &mut w.inter_b,
        &mut w.out_w,
        &mut w.out_b,
        &mut w.out_norm_g,
        &mut w.out_norm_b,
    ]
}

/// A layer from its parameters in [`PARAM_NAMES`] order, each read by `read`.
pub fn layer_from<E>(mut read: impl FnMut(&str) -> Result<Vec<f32>, E>) -> Result<LayerWeights, E> {
    let mut w = LayerWeights::default();
    for (name, p) in PARAM_NAMES.iter().zip(params_mut(&mut w)) {
        *p = read(name)?;
    }
    Ok(w)
}

/// A layer of the same shape with every parameter zero (gradient and moment buffers).
pub fn zeros_like(w: &LayerWeights) -> LayerWeights {
    let mut z = w.clone();
    for p in params_mut(&mut z) {
        p.iter_mut().for_each(|v| *v = 0.0);
    }
    z
}

/// The tuned layers.
#[derive(Debug, Clone)]
pub struct TunedLayers {
    pub config: TunedConfig,
    pub layers: Vec<LayerWeights>,
}

/// What one layer's forward pass keeps for its backward pass (all row-major, packed
/// tokens first).
struct LayerActs {
    x_in: Vec<f32>,
    /// `[tokens, 3 * hidden]`, biases added.
    qkv: Vec<f32>,
    /// Attention probabilities, per sequence then head, `len * len` each.
    probs: Vec<f32>,
    context: Vec<f32>,
    xhat1: Vec<f32>,
    rstd1: Vec<f32>,
    h1: Vec<f32>,
    /// Feed-forward pre-activation `[tokens, intermediate]` and its GELU.
    u: Vec<f32>,
    g: Vec<f32>,
    xhat2: Vec<f32>,
    rstd2: Vec<f32>,
}

/// A forward pass over packed sequences, with what the backward pass needs.
pub struct Forward {
    lens: Vec<usize>,
    acts: Vec<LayerActs>,
    /// The last tuned layer's output, `[tokens, hidden]`.
    pub output: Vec<f32>,
}

impl TunedLayers {
    /// A copy of the encoder's layers `from..`: the starting point of fine-tuning, and
    /// until trained the same function as those layers.
    pub fn from_encoder(model: &BertModel, from: usize) -> candle_core::Result<Self> {
        let cfg = &model.config;
        let layers = (from..model.num_layers())
            .map(|i| model.layer_weights(i))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            config: TunedConfig {
                from_layer: from,
                layers: layers.len(),
                hidden: cfg.hidden_size,
                heads: cfg.num_attention_heads,
                intermediate: cfg.intermediate_size,
                eps: cfg.layer_norm_eps as f32,
            },
            layers,
        })
    }

    /// Runs packed sequences (`x`: `[sum(lens), hidden]`, the frozen layers' output)
    /// through the tuned layers. `keep` keeps the activations a backward pass needs.
    pub fn forward(&self, x: Vec<f32>, lens: &[usize], keep: bool) -> Forward {
        let mut acts = Vec::new();
        let mut x = x;
        for w in &self.layers {
            let (y, a) = layer_forward(w, &self.config, x, lens);
            if keep {
                acts.push(a);
            }
            x = y;
        }
        Forward { lens: lens.to_vec(), acts, output: x }
    }

    /// Adds the gradients of the loss with respect to every parameter into `grads` (one
    /// buffer per layer, shaped as the layers), given `dy`, the gradient with respect to
    /// the output of [`Self::forward`] (run with `keep`).
    pub fn backward(&self, f: &Forward, dy: Vec<f32>, grads: &mut [LayerWeights]) {
        assert_eq!(f.acts.len(), self.layers.len(), "forward pass run without `keep`");
        let mut dy = dy;
        for (i, ((w, a), g)) in
            self.layers.iter().zip(&f.acts).zip(grads.iter_mut()).enumerate().rev()
        {
            // The frozen layers below take no gradient: the lowest tuned layer skips the
            // product that would pass one down.
            dy = layer_backward(w, &self.config, a, &f.lens, &dy, g, i > 0);
        }
    }

    /// Runs many sequences through the tuned layers for prediction, in batches of about
    /// `batch_tokens` tokens spread over the current rayon pool; returns each sequence's
    /// output in input order.
    pub fn transform(&self, inputs: &[Vec<f32>], batch_tokens: usize) -> Vec<Vec<f32>> {
        let h = self.config.hidden;
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut tokens = 0;
        for (i, x) in inputs.iter().enumerate() {
            let len = x.len() / h;
            if batches.is_empty() || (tokens + len > batch_tokens && tokens > 0) {
                batches.push(Vec::new());
                tokens = 0;
            }
            tokens += len;
            batches.last_mut().unwrap_or_else(|| unreachable!()).push(i);
        }
        let outputs: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|batch| {
                let lens: Vec<usize> = batch.iter().map(|&i| inputs[i].len() / h).collect();
                let x: Vec<f32> = batch.iter().flat_map(|&i| inputs[i].iter().copied()).collect();
                let f = self.forward(x, &lens, false);
                split_rows(&f.output, &lens, h)
            })
            .collect();
        outputs.into_iter().flatten().collect()
    }
}

/// The f32 rows of a `[tokens, hidden]` state tensor, at most `max_tokens` of them.
pub fn state_rows(states: &Tensor, max_tokens: usize) -> candle_core::Result<Vec<f32>> {
    let n = states.dim(0)?.min(max_tokens);
    states.narrow(0, 0, n)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

impl TunedLayers {
    /// [`Self::transform`] over state tensors (each `[tokens, hidden]`, at most the first
    /// `max_tokens` read), returned as tensors of `dtype` in input order. Works through a
    /// few thousand texts at a time to bound the f32 copies held at once.
    pub fn transform_tensors(
        &self,
        states: &[Tensor],
        max_tokens: usize,
        dtype: DType,
    ) -> candle_core::Result<Vec<Tensor>> {
        let h = self.config.hidden;
        let mut out = Vec::with_capacity(states.len());
        for chunk in states.chunks(2048) {
            let inputs = chunk
                .iter()
                .map(|s| state_rows(s, max_tokens))
                .collect::<candle_core::Result<Vec<_>>>()?;
            for v in self.transform(&inputs, crate::encode::DEFAULT_BATCH_TOKENS) {
                let n = v.len() / h;
                out.push(Tensor::from_vec(v, (n, h), &Device::Cpu)?.to_dtype(dtype)?);
            }
        }
        Ok(out)
    }
}

/// Cuts packed rows back into one vector per sequence.
pub fn split_rows(packed: &[f32], lens: &[usize], hidden: usize) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(lens.len());
    let mut start = 0;
    for &len in lens {
        out.push(packed[start * hidden..(start + len) * hidden].to_vec());
        start += len;
    }
    out
}

fn layer_forward(
    w: &LayerWeights,
    cfg: &TunedConfig,
    x: Vec<f32>,
    lens: &[usize],
) -> (Vec<f32>, LayerActs) {
    let (h, inter) = (cfg.hidden, cfg.intermediate);
    let t = x.len() / h;
    let mut qkv = vec![0.0; t * 3 * h];
    dense_forward(&x, &w.qkv_w, &w.qkv_b, h, &mut qkv, false);
    let (probs, context) = attention_forward(&qkv, lens, cfg);
    // Each block adds its output to the residual stream, then normalises.
    let mut z1 = x.clone();
    dense_forward(&context, &w.attn_out_w, &w.attn_out_b, h, &mut z1, true);
    let (xhat1, rstd1, h1) = layer_norm(&z1, &w.attn_norm_g, &w.attn_norm_b, cfg.eps);
    let mut u = vec![0.0; t * inter];
    dense_forward(&h1, &w.inter_w, &w.inter_b, h, &mut u, false);
    let g: Vec<f32> = u.iter().map(|&v| gelu(v)).collect();
    let mut z2 = h1.clone();
    dense_forward(&g, &w.out_w, &w.out_b, inter, &mut z2, true);
    let (xhat2, rstd2, y) = layer_norm(&z2, &w.out_norm_g, &w.out_norm_b, cfg.eps);
    (y, LayerActs { x_in: x, qkv, probs, context, xhat1, rstd1, h1, u, g, xhat2, rstd2 })
}

/// Self-attention of each packed sequence; returns the probabilities (per sequence,
/// then head) and the context rows.
fn attention_forward(qkv: &[f32], lens: &[usize], cfg: &TunedConfig) -> (Vec<f32>, Vec<f32>) {
    let (h, heads) = (cfg.hidden, cfg.heads);
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let tokens: usize = lens.iter().sum();
    let mut probs = vec![0.0; lens.iter().map(|l| l * l).sum::<usize>() * heads];
    let mut context = vec![0.0; tokens * h];
    let (mut start, mut at) = (0, 0);
    for &len in lens {
        let rows = &qkv[start * 3 * h..(start + len) * 3 * h];
        for head in 0..heads {
            let view = |part: usize| head_view(rows, part, head, len, d, h);
            let scores = &mut probs[at..at + len * len];
            kernels::matmul(scores, len, view(0), view(1).t(), scale, false);
            kernels::softmax_rows(scores, len);
            let out = &mut context[start * h + head * d..];
            kernels::matmul(out, h, MatRef::dense(scores, len, len), view(2), 1.0, false);
            at += len * len;
        }
        start += len;
    }
    (probs, context)
}

/// One head's queries (`part` 0), keys (1) or values (2) of a sequence, read in place
/// from its `[len, 3 * hidden]` rows.
fn head_view(rows: &[f32], part: usize, head: usize, len: usize, d: usize, h: usize) -> MatRef<'_> {
    MatRef {
        data: &rows[part * h + head * d..],
        rows: len,
        cols: d,
        row_stride: 3 * h,
        col_stride: 1,
    }
}

fn layer_backward(
    w: &LayerWeights,
    cfg: &TunedConfig,
    a: &LayerActs,
    lens: &[usize],
    dy: &[f32],
    g: &mut LayerWeights,
    need_dx: bool,
) -> Vec<f32> {
    let (h, inter) = (cfg.hidden, cfg.intermediate);
    let t = dy.len() / h;
    // Output norm, then the feed-forward block: z2 = h1 + gelu(h1 W_i + b_i) W_o + b_o.
    let (gamma, dgamma, dbeta) = (&w.out_norm_g, &mut g.out_norm_g, &mut g.out_norm_b);
    let dz2 = layer_norm_backward(dy, &a.xhat2, &a.rstd2, gamma, dgamma, dbeta);
    let mut du = vec![0.0; t * inter];
    let (gw, gb) = (&mut g.out_w, &mut g.out_b);
    dense_backward(&a.g, &w.out_w, &dz2, inter, gw, gb, Some((&mut du, false)));
    du.iter_mut().zip(&a.u).for_each(|(d, &u)| *d *= gelu_grad(u));
    let mut dh1 = dz2;
    let (gw, gb) = (&mut g.inter_w, &mut g.inter_b);
    dense_backward(&a.h1, &w.inter_w, &du, h, gw, gb, Some((&mut dh1, true)));
    // Attention norm, then the attention block: z1 = x + context W_ao + b_ao.
    let (gamma, dgamma, dbeta) = (&w.attn_norm_g, &mut g.attn_norm_g, &mut g.attn_norm_b);
    let dz1 = layer_norm_backward(&dh1, &a.xhat1, &a.rstd1, gamma, dgamma, dbeta);
    let mut dcontext = vec![0.0; t * h];
    let (gw, gb) = (&mut g.attn_out_w, &mut g.attn_out_b);
    dense_backward(&a.context, &w.attn_out_w, &dz1, h, gw, gb, Some((&mut dcontext, false)));
    let dqkv = attention_backward(&a.qkv, &a.probs, &dcontext, lens, cfg);
    // The residual passes dz1 straight down; the projections add their share.
    let mut dx = dz1;
    let (gw, gb) = (&mut g.qkv_w, &mut g.qkv_b);
    dense_backward(&a.x_in, &w.qkv_w, &dqkv, h, gw, gb, need_dx.then_some((&mut dx, true)));
    dx
}

/// A dense layer `x W + b`, for `x` `[tokens, inp]` and `W` `[inp, out]` (out =
/// `b.len()`), written into `y`, or added to it when `accumulate`.
fn dense_forward(x: &[f32], w: &[f32], b: &[f32], inp: usize, y: &mut [f32], accumulate: bool) {
    let out = b.len();
    let t = x.len() / inp;
    kernels::matmul(y, out, MatRef::dense(x, t, inp), MatRef::dense(w, inp, out), 1.0, accumulate);
    kernels::add_bias(y, b);
}

/// Backward pass of a dense layer `y = x W + b`, for `x` `[tokens, inp]` and `W`
/// `[inp, out]` (out = `b.len()`): adds `x^T dy` into `gw` and the column sums of `dy`
/// into `gb`; when `dx` is given, writes `dy W^T` into it (adds, when its flag is set).
fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    inp: usize,
    gw: &mut [f32],
    gb: &mut [f32],
    dx: Option<(&mut [f32], bool)>,
) {
    let out = gb.len();
    let t = dy.len() / out;
    add_column_sums(gb, dy);
    let (x, dy_m) = (MatRef::dense(x, t, inp), MatRef::dense(dy, t, out));
    kernels::matmul(gw, out, x.t(), dy_m, 1.0, true);
    if let Some((dx, accumulate)) = dx {
        kernels::matmul(dx, inp, dy_m, MatRef::dense(w, inp, out).t(), 1.0, accumulate);
    }
}

/// Gradient with respect to the `[tokens, 3 * hidden]` query/key/value rows, given the
/// gradient with respect to the context rows.
fn attention_backward(
    qkv: &[f32],
    probs: &[f32],
    dcontext: &[f32],
    lens: &[usize],
    cfg: &TunedConfig,
) -> Vec<f32> {
    let (h, heads) = (cfg.hidden, cfg.heads);
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut dqkv = vec![0.0; qkv.len()];
    let mut dp = Vec::new();
    let (mut start, mut at) = (0, 0);
    for &len in lens {
        let rows = &qkv[start * 3 * h..(start + len) * 3 * h];
        if dp.len() < len * len {
            dp.resize(len * len, 0.0);
        }
        let dp = &mut dp[..len * len];
        for head in 0..heads {
            let view = |part: usize| head_view(rows, part, head, len, d, h);
            let p = &probs[at..at + len * len];
            let dctx = MatRef {
                data: &dcontext[start * h + head * d..],
                rows: len,
                cols: d,
                row_stride: h,
                col_stride: 1,
            };
            let base = start * 3 * h + head * d;
            // context = P V: dV = P^T dcontext, dP = dcontext V^T.
            kernels::matmul(
                &mut dqkv[base + 2 * h..],
                3 * h,
                MatRef::dense(p, len, len).t(),
                dctx,
                1.0,
                false,
            );
            kernels::matmul(dp, len, dctx, view(2).t(), 1.0, false);
            // Softmax: dS = P (dP - rowsum(P dP)).
            for (dp_row, p_row) in dp.chunks_mut(len).zip(p.chunks(len)) {
                let dot: f32 = dp_row.iter().zip(p_row).map(|(a, b)| a * b).sum();
                dp_row.iter_mut().zip(p_row).for_each(|(x, &pv)| *x = pv * (*x - dot));
            }
            // S = scale Q K^T: dQ = scale dS K, dK = scale dS^T Q.
            kernels::matmul(
                &mut dqkv[base..],
                3 * h,
                MatRef::dense(dp, len, len),
                view(1),
                scale,
                false,
            );
            kernels::matmul(
                &mut dqkv[base + h..],
                3 * h,
                MatRef::dense(dp, len, len).t(),
                view(0),
                scale,
                false,
            );
            at += len * len;
        }
        start += len;
    }
    dqkv
}

/// Layer norm over rows of `gamma.len()`; returns the normalised rows, the reciprocal
/// standard deviation of each row, and the output.
fn layer_norm(z: &[f32], gamma: &[f32], beta: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let h = gamma.len();
    let mut xhat = vec![0.0; z.len()];
    let mut rstd = Vec::with_capacity(z.len() / h);
    let mut y = vec![0.0; z.len()];
    for ((row, xr), yr) in z.chunks(h).zip(xhat.chunks_mut(h)).zip(y.chunks_mut(h)) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let r = 1.0 / (var + eps).sqrt();
        for j in 0..h {
            xr[j] = (row[j] - mean) * r;
            yr[j] = xr[j] * gamma[j] + beta[j];
        }
        rstd.push(r);
    }
    (xhat, rstd, y)
}

fn layer_norm_backward(
    dy: &[f32],
    xhat: &[f32],
    rstd: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) -> Vec<f32> {
    let h = gamma.len();
    let mut dz = vec![0.0; dy.len()];
    let mut dxhat = vec![0.0; h];
    for (((dyr, xr), &r), dzr) in dy.chunks(h).zip(xhat.chunks(h)).zip(rstd).zip(dz.chunks_mut(h)) {
        let (mut m1, mut m2) = (0.0, 0.0);
        for j in 0..h {
            dgamma[j] += dyr[j] * xr[j];
            dbeta[j] += dyr[j];
            dxhat[j] = dyr[j] * gamma[j];
            m1 += dxhat[j];
            m2 += dxhat[j] * xr[j];
        }
        let (m1, m2) = (m1 / h as f32, m2 / h as f32);
        for j in 0..h {
            dzr[j] = r * (dxhat[j] - m1 - xr[j] * m2);
        }
    }
    dz
}

fn add_column_sums(dst: &mut [f32], rows: &[f32]) {
    for row in rows.chunks(dst.len()) {
        dst.iter_mut().zip(row).for_each(|(d, v)| *d += v);
    }
}

/// GELU with the exact erf, as BERT's `gelu`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + kernels::erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// d/dx of [`gelu`]: Phi(x) + x phi(x).
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + kernels::erf(x * std::f32::consts::FRAC_1_SQRT_2));
    let pdf = (-0.5 * x * x).exp()
        * (0.5 * std::f32::consts::FRAC_2_SQRT_PI * std::f32::consts::FRAC_1_SQRT_2);
    cdf + x * pdf
}

/// AdamW over the tuned layers' parameters.
pub struct AdamW {
    m: Vec<LayerWeights>,
    v: Vec<LayerWeights>,
    step: i32,
    pub weight_decay: f32,
}

impl AdamW {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-6;

    pub fn new(layers: &[LayerWeights], weight_decay: f32) -> Self {
        Self {
            m: layers.iter().map(zeros_like).collect(),
            v: layers.iter().map(zeros_like).collect(),
            step: 0,
            weight_decay,
        }
    }

    /// One update with learning rate `lr`; weight decay applies to the weight matrices.
    pub fn step(&mut self, layers: &mut [LayerWeights], grads: &[LayerWeights], lr: f32) {
        self.step += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.step);
        let c2 = 1.0 - Self::BETA2.powi(self.step);
        for (((w, g), m), v) in layers.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            let (ws, gs, ms, vs) = (params_mut(w), params(g), params_mut(m), params_mut(v));
            for (k, (((w, g), m), v)) in ws.into_iter().zip(gs).zip(ms).zip(vs).enumerate() {
                let decay = if DECAYED[k] { 1.0 - lr * self.weight_decay } else { 1.0 };
                for (((w, &g), m), v) in
                    w.iter_mut().zip(g.iter()).zip(m.iter_mut()).zip(v.iter_mut())
                {
                    *m = Self::BETA1 * *m + (1.0 - Self::BETA1) * g;
                    *v = Self::BETA2 * *v + (1.0 - Self::BETA2) * g * g;
                    *w = *w * decay - lr * (*m / c1) / ((*v / c2).sqrt() + Self::EPS);
                }
            }
        }
    }
}

/// Adds `src` into `dst`, parameter by parameter.
pub fn add_grads(dst: &mut [LayerWeights], src: &[LayerWeights]) {
    for (d, s) in dst.iter_mut().zip(src) {
        for (d, s) in params_mut(d).into_iter().zip(params(s)) {
            d.iter_mut().zip(s.iter()).for_each(|(a, b)| *a += b);
        }
    }
}

/// Scales the gradients down so that their global L2 norm is at most `max_norm`;
/// returns the norm before scaling.
pub fn clip_grads(grads: &mut [LayerWeights], max_norm: f32) -> f32 {
    let norm = grads
        .iter()
        .flat_map(|g| params(g).into_iter().flat_map(|p| p.iter()))
        .map(|v| (*v as f64) * (*v as f64))
        .sum::<f64>()
        .sqrt() as f32;
    if norm > max_norm {
        let s = max_norm / norm;
        for g in grads.iter_mut() {
            for p in params_mut(g) {
                p.iter_mut().for_each(|v| *v *= s);
            }
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::head::SplitMix;

    fn random_layer(cfg: &TunedConfig, rng: &mut SplitMix) -> LayerWeights {
        let (h, i) = (cfg.hidden, cfg.intermediate);
        let mut r = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
            (0..n).map(|_| offset + (rng.next_f32() * 2.0 - 1.0) * scale).collect()
        };
        LayerWeights {
            qkv_w: r(h * 3 * h, 0.4, 0.0),
            qkv_b: r(3 * h, 0.1, 0.0),
            attn_out_w: r(h * h, 0.4, 0.0),
            attn_out_b: r(h, 0.1, 0.0),
            attn_norm_g: r(h, 0.2, 1.0),
            attn_norm_b: r(h, 0.1, 0.0),
            inter_w: r(h * i, 0.4, 0.0),
            inter_b: r(i, 0.1, 0.0),
            out_w: r(i * h, 0.4, 0.0),
            out_b: r(h, 0.1, 0.0),
            out_norm_g: r(h, 0.2, 1.0),
            out_norm_b: r(h, 0.1, 0.0),
        }
    }

    /// A loss with a gradient that differs for every output element: sum of c * y.
    fn loss(out: &[f32], coeffs: &[f32]) -> f64 {
        out.iter().zip(coeffs).map(|(&y, &c)| (y as f64) * (c as f64)).sum()
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // (layer, parameter) index several structures
    fn gradients_match_finite_differences() {
        let cfg = TunedConfig {
            from_layer: 0,
            layers: 2,
            hidden: 8,
            heads: 2,
            intermediate: 12,
            eps: 1e-6,
        };
        let mut rng = SplitMix(3);
        let model = TunedLayers {
            config: cfg,
            layers: vec![random_layer(&cfg, &mut rng), random_layer(&cfg, &mut rng)],
        };
        let lens = [3, 5];
        let x: Vec<f32> = (0..8 * 8).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let coeffs: Vec<f32> = (0..8 * 8).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let f = model.forward(x.clone(), &lens, true);
        let mut grads: Vec<LayerWeights> = model.layers.iter().map(zeros_like).collect();
        model.backward(&f, coeffs.clone(), &mut grads);
        let eps = 1e-2f32;
        let mut checked = 0;
        for layer in 0..2 {
            for k in 0..12 {
                let n = params(&model.layers[layer])[k].len();
                // A few entries of every parameter, spread over it.
                for idx in [0, n / 3, n / 2, n - 1] {
                    let mut plus = model.clone();
                    params_mut(&mut plus.layers[layer])[k][idx] += eps;
                    let mut minus = model.clone();
                    params_mut(&mut minus.layers[layer])[k][idx] -= eps;
                    let numeric = (loss(&plus.forward(x.clone(), &lens, false).output, &coeffs)
                        - loss(&minus.forward(x.clone(), &lens, false).output, &coeffs))
                        / (2.0 * eps as f64);
                    let analytic = params(&grads[layer])[k][idx] as f64;
                    let tol = 2e-2 * numeric.abs().max(analytic.abs()).max(0.05);
                    assert!(
                        (numeric - analytic).abs() <= tol,
                        "layer {layer} {}[{idx}]: numeric {numeric:.5}, analytic {analytic:.5}",
                        PARAM_NAMES[k]
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 96);
    }

    #[test]
    fn adamw_moves_a_parameter_against_its_gradient() {
        let cfg = TunedConfig {
            from_layer: 0,
            layers: 1,
            hidden: 4,
            heads: 1,
            intermediate: 4,
            eps: 1e-6,
        };
        let mut rng = SplitMix(5);
        let mut layers = vec![random_layer(&cfg, &mut rng)];
        let before = layers.clone();
        let mut grads = vec![zeros_like(&layers[0])];
        grads[0].qkv_b[1] = 2.0;
        grads[0].out_w[0] = -3.0;
        let mut opt = AdamW::new(&layers, 0.0);
        opt.step(&mut layers, &grads, 0.01);
        assert!((layers[0].qkv_b[1] - (before[0].qkv_b[1] - 0.01)).abs() < 1e-5);
        assert!((layers[0].out_w[0] - (before[0].out_w[0] + 0.01)).abs() < 1e-5);
        assert_eq!(layers[0].inter_w, before[0].inter_w);
        assert_eq!(clip_grads(&mut grads, 1.0), 13f32.sqrt());
        assert!((clip_grads(&mut grads, 1.0) - 1.0).abs() < 1e-6);
    }
}
