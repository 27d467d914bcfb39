//! The transformer head: encoder token states of a batch of clauses become one logit
//! per label.
//!
//! Two parts are summed:
//! - label-wise attention: each label has a query that attends over the clause's token
//!   states (through a small tanh projection), and scores the attended vector with its
//!   own output weights; this lets a label look for its own phrases in context, which a
//!   single mean-pooled vector cannot;
//! - a linear layer over the mean-pooled sentence embedding.
//!
//! The lexical model ([`super::linear`]) is trained apart and the two are combined per
//! label afterwards (see [`super::model::Mix`]).

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var, D};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    pub hidden: usize,
    pub attn_dim: usize,
    pub labels: usize,
}

/// Parameter names, in a fixed order (saved under these names).
const NAMES: [&str; 7] = ["w_att", "b_att", "queries", "w_out", "b_out", "w_mean", "bias"];

/// The head's parameters as trainable variables.
pub struct Head {
    pub config: HeadConfig,
    vars: Vec<Var>,
}

/// A padded batch ready for the head.
pub struct Batch {
    /// `[B, T, hidden]` f32, zero past each clause's length.
    pub states: Tensor,
    /// `[B, T]` f32, 1 for real tokens.
    pub mask: Tensor,
}

/// Small deterministic generator (splitmix64) for initialisation and shuffling, so a
/// seed fixes a training run.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            xs.swap(i, j);
        }
    }

    fn uniform_tensor(&mut self, shape: &[usize], scale: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| (self.next_f32() * 2.0 - 1.0) * scale).collect();
        Tensor::from_vec(data, shape, &Device::Cpu)
    }
}

impl Head {
    /// Fresh parameters (Glorot-style uniform), from `seed`. `label_bias` sets the
    /// starting bias of each label (log prior odds), which speeds up training.
    pub fn new(config: HeadConfig, seed: u64, label_bias: &[f32]) -> Result<Self> {
        let mut rng = SplitMix(seed);
        let (h, a, l) = (config.hidden, config.attn_dim, config.labels);
        let glorot = |fan_in: usize, fan_out: usize| (6.0 / (fan_in + fan_out) as f32).sqrt();
        let zeros = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu);
        let tensors = [
            rng.uniform_tensor(&[h, a], glorot(h, a))?,
            zeros(&[a])?,
            rng.uniform_tensor(&[l, a], glorot(a, 1))?,
            rng.uniform_tensor(&[l, h], glorot(h, 1) * 0.1)?,
            zeros(&[l])?,
            rng.uniform_tensor(&[h, l], glorot(h, l) * 0.1)?,
            Tensor::from_slice(label_bias, l, &Device::Cpu)?,
        ];
        let vars = tensors.iter().map(Var::from_tensor).collect::<Result<Vec<_>>>()?;
        Ok(Self { config, vars })
    }

    /// Parameters loaded from saved tensors.
    pub fn from_tensors(config: HeadConfig, tensors: &HashMap<String, Tensor>) -> Result<Self> {
        let vars = NAMES
            .iter()
            .map(|n| {
                let t = tensors
                    .get(*n)
                    .ok_or_else(|| candle_core::Error::Msg(format!("head lacks `{n}`")))?;
                Var::from_tensor(&t.to_dtype(DType::F32)?)
            })
            .collect::<Result<Vec<_>>>()?;
        let head = Self { config, vars };
        let expect: [&[usize]; 7] = [
            &[config.hidden, config.attn_dim],
            &[config.attn_dim],
            &[config.labels, config.attn_dim],
            &[config.labels, config.hidden],
            &[config.labels],
            &[config.hidden, config.labels],
            &[config.labels],
        ];
        for ((name, var), shape) in NAMES.iter().zip(&head.vars).zip(expect) {
            if var.dims() != shape {
                candle_core::bail!(
                    "head tensor `{name}` has shape {:?}, expected {shape:?}",
                    var.dims()
                );
            }
        }
        Ok(head)
    }

    pub fn vars(&self) -> Vec<Var> {
        self.vars.clone()
    }

    /// The per-label bias.
    pub fn bias(&self) -> &Var {
        &self.vars[NAMES.len() - 1]
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        NAMES.iter().zip(&self.vars).map(|(n, v)| (n.to_string(), v.as_tensor().clone())).collect()
    }

    /// Logits `[B, labels]`.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        let [w_att, b_att, queries, w_out, b_out, w_mean, bias] = &self.vars[..] else {
            unreachable!("a head always has seven parameters")
        };
        let (b, t, h) = batch.states.dims3()?;
        let states = &batch.states;
        // Label-wise attention.
        let proj = states
            .reshape((b * t, h))?
            .matmul(w_att.as_tensor())?
            .broadcast_add(b_att.as_tensor())?
            .tanh()?;
        let scores = proj
            .matmul(&queries.as_tensor().t()?)?
            .reshape((b, t, self.config.labels))?
            .transpose(1, 2)?;
        let pad_bias = ((batch.mask.clone() - 1.0)? * 1e4)?.unsqueeze(1)?;
        // NOTE: candle-nn's fused softmax_last_dim has no backward pass; the composed
        // softmax does, and the head is trained through it.
        let weights = candle_nn::ops::softmax(&scores.broadcast_add(&pad_bias)?, D::Minus1)?;
        let attended = weights.matmul(states)?; // [B, L, h]
        let att_logits =
            attended.broadcast_mul(&w_out.as_tensor().unsqueeze(0)?)?.sum(D::Minus1)?;
        // Mean-pooled embedding.
        let lens = batch.mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
        let mean = states.broadcast_mul(&batch.mask.unsqueeze(2)?)?.sum(1)?.broadcast_div(&lens)?;
        let mean_logits = mean.matmul(w_mean.as_tensor())?;
        att_logits
            .broadcast_add(b_out.as_tensor())?
            .add(&mean_logits)?
            .broadcast_add(bias.as_tensor())
    }
}

/// Pads token states (each `[tokens, hidden]`, any float dtype) into a [`Batch`],
/// keeping at most `max_tokens` tokens of each clause.
pub fn make_batch(states: &[&Tensor], max_tokens: usize) -> Result<Batch> {
    let dev = Device::Cpu;
    let t = states.iter().map(|s| s.dim(0).unwrap_or(0).min(max_tokens)).max().unwrap_or(1).max(1);
    let mut padded = Vec::with_capacity(states.len());
    let mut mask = Vec::with_capacity(states.len() * t);
    for s in states {
        let n = s.dim(0)?.min(max_tokens);
        let s = s.narrow(0, 0, n)?.to_dtype(DType::F32)?;
        padded.push(if n < t { s.pad_with_zeros(0, 0, t - n)? } else { s });
        mask.extend((0..t).map(|i| if i < n { 1f32 } else { 0f32 }));
    }
    let states = Tensor::stack(&padded, 0)?;
    let mask = Tensor::from_vec(mask, (states.dim(0)?, t), &dev)?;
    Ok(Batch { states, mask })
}

/// Masked, class-weighted binary cross-entropy with logits.
/// `targets` and `scope` are `[B, L]` (scope 1 where the example's file annotates the
/// label); `pos_weight` is `[L]`.
pub fn loss(
    logits: &Tensor,
    targets: &Tensor,
    scope: &Tensor,
    pos_weight: &Tensor,
) -> Result<Tensor> {
    // softplus(z) = max(z, 0) + ln(1 + e^-|z|), computed without overflow.
    let softplus =
        |z: &Tensor| -> Result<Tensor> { z.relu()?.add(&((z.abs()?.neg()?.exp()? + 1.0)?.log()?)) };
    let pos = softplus(&logits.neg()?)?.mul(targets)?.broadcast_mul(pos_weight)?;
    let neg = softplus(logits)?.mul(&(targets.neg()? + 1.0)?)?;
    let per = pos.add(&neg)?.mul(scope)?;
    let denom = scope.sum_all()?.clamp(1.0, f64::MAX)?;
    per.sum_all()?.div(&denom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_does_not_change_a_clause_logits() {
        let cfg = HeadConfig { hidden: 8, attn_dim: 4, labels: 3 };
        let head = Head::new(cfg, 7, &[0.0, 0.1, -0.1]).unwrap();
        let mut rng = SplitMix(1);
        let short = rng.uniform_tensor(&[3, 8], 1.0).unwrap();
        let long = rng.uniform_tensor(&[9, 8], 1.0).unwrap();
        let alone = head.forward(&make_batch(&[&short], 256).unwrap()).unwrap();
        let together = head.forward(&make_batch(&[&short, &long], 256).unwrap()).unwrap();
        let diff = (alone.get(0).unwrap() - together.get(0).unwrap()).unwrap().abs().unwrap();
        assert!(diff.max(0).unwrap().to_scalar::<f32>().unwrap() < 1e-4);
    }

    #[test]
    fn loss_ignores_labels_outside_the_scope_and_gradients_reach_every_part() {
        let cfg = HeadConfig { hidden: 8, attn_dim: 4, labels: 2 };
        let head = Head::new(cfg, 3, &[0.0, 0.0]).unwrap();
        let mut rng = SplitMix(2);
        let x = rng.uniform_tensor(&[5, 8], 1.0).unwrap();
        let batch = make_batch(&[&x], 256).unwrap();
        let logits = head.forward(&batch).unwrap();
        let dev = Device::Cpu;
        let targets = Tensor::new(&[[1f32, 0.0]], &dev).unwrap();
        let pw = Tensor::new(&[1f32, 1.0], &dev).unwrap();
        let only_first =
            loss(&logits, &targets, &Tensor::new(&[[1f32, 0.0]], &dev).unwrap(), &pw).unwrap();
        let flipped = Tensor::new(&[[1f32, 1.0]], &dev).unwrap();
        let other =
            loss(&logits, &flipped, &Tensor::new(&[[1f32, 0.0]], &dev).unwrap(), &pw).unwrap();
        // The second label's target is outside the scope: changing it changes nothing.
        assert_eq!(only_first.to_scalar::<f32>().unwrap(), other.to_scalar::<f32>().unwrap());
        let grads = only_first.backward().unwrap();
        for (name, var) in NAMES.iter().zip(head.vars()) {
            let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "zero gradient for {name}");
        }
    }
}
