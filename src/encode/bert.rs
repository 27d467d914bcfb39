//! BERT-family encoder in candle: token ids become contextual token states.
//!
//! Sequences are packed without padding: the projections and feed-forward layers,
//! which hold almost all of the arithmetic, run once over the concatenated tokens of
//! a whole batch, and only attention runs per sequence. Weight names follow the
//! Hugging Face `BertModel` checkpoints (`embeddings.*`, `encoder.layer.N.*`), with or
//! without a leading `bert.`.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::VarBuilder;
use serde::Deserialize;

use super::kernels::{self, MatRef, NormParams};

/// The fields of a Hugging Face `config.json` this encoder needs.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// How the weights of the dense layers are held at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f32 weights, f32 arithmetic.
    F32,
    /// Dense-layer weights quantised to 8 bits (GGML Q8_0: blocks of 32 with one f16
    /// scale), activations quantised on the fly; embeddings and norms stay f32.
    Int8,
}

/// A dense layer `x W^T + b`, in f32 or quantised form. The product and the bias are
/// applied apart: the bias goes in with the fused kernel that follows each product.
#[derive(Debug, Clone)]
struct Dense {
    weight: DenseWeight,
    bias: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
}

#[derive(Debug, Clone)]
enum DenseWeight {
    /// Stored transposed (`[in, out]`, row-major) so the product reads it row by row.
    F32(Vec<f32>),
    Quantized(QMatMul),
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self> {
        let (out_dim, in_dim) = weight.dims2()?;
        let weight = match precision {
            Precision::F32 => DenseWeight::F32(weight.t()?.flatten_all()?.to_vec1()?),
            Precision::Int8 => DenseWeight::Quantized(QMatMul::from_qtensor(QTensor::quantize(
                &weight,
                GgmlDType::Q8_0,
            )?)?),
        };
        Ok(Self { weight, bias: bias.to_vec1()?, in_dim, out_dim })
    }

    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize, precision: Precision) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Self::new(weight, bias, precision)
    }

    /// `out = xs W^T`, or `out += xs W^T` when `accumulate`, for `xs` `[rows, in]` and
    /// `out` `[rows, out]`, both row-major. The bias is not added.
    fn product(&self, xs: &[f32], out: &mut [f32], accumulate: bool) -> Result<()> {
        let rows = xs.len() / self.in_dim;
        let out = &mut out[..rows * self.out_dim];
        match &self.weight {
            DenseWeight::F32(w) => kernels::matmul(
                out,
                self.out_dim,
                MatRef::dense(xs, rows, self.in_dim),
                MatRef::dense(w, self.in_dim, self.out_dim),
                1.0,
                accumulate,
            ),
            DenseWeight::Quantized(q) => {
                let xs = Tensor::from_slice(xs, (rows, self.in_dim), &Device::Cpu)?;
                let ys = q.forward(&xs)?.flatten_all()?.to_vec1::<f32>()?;
                if accumulate {
                    out.iter_mut().zip(&ys).for_each(|(o, y)| *o += y);
                } else {
                    out.copy_from_slice(&ys);
                }
            }
        }
        Ok(())
    }
}

fn layer_norm(vb: VarBuilder, size: usize, eps: f64) -> Result<NormParams> {
    Ok(NormParams {
        gamma: vb.get(size, "weight")?.to_vec1()?,
        beta: vb.get(size, "bias")?.to_vec1()?,
        eps: eps as f32,
    })
}

struct Embeddings {
    /// `[vocab, hidden]` and `[max_positions, hidden]`, row-major.
    word: Vec<f32>,
    position: Vec<f32>,
    /// The row of token type 0, the only type used; added as a bias before the norm.
    token_type: Vec<f32>,
    norm: NormParams,
    hidden: usize,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        let table = |name: &str, rows: usize| -> Result<Vec<f32>> {
            vb.pp(name).get((rows, h), "weight")?.flatten_all()?.to_vec1()
        };
        let token_types = table("token_type_embeddings", cfg.type_vocab_size)?;
        Ok(Self {
            word: table("word_embeddings", cfg.vocab_size)?,
            position: table("position_embeddings", cfg.max_position_embeddings)?,
            token_type: token_types[..h].to_vec(),
            norm: layer_norm(vb.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            hidden: h,
        })
    }

    /// Normalised word + position + type embeddings of packed sequences, `[tokens, hidden]`.
    fn forward(&self, ids: &[u32], lens: &[usize]) -> Result<Vec<f32>> {
        let h = self.hidden;
        let (vocab, max_len) = (self.word.len() / h, self.position.len() / h);
        let mut xs = Vec::with_capacity(ids.len() * h);
        let mut ids = ids.iter();
        for &len in lens {
            if len > max_len {
                candle_core::bail!("sequence of {len} tokens exceeds {max_len} positions");
            }
            for (pos, &id) in ids.by_ref().take(len).enumerate() {
                let id = id as usize;
                if id >= vocab {
                    candle_core::bail!("token id {id} outside the vocabulary of {vocab}");
                }
                let word = &self.word[id * h..(id + 1) * h];
                let position = &self.position[pos * h..(pos + 1) * h];
                xs.extend(word.iter().zip(position).map(|(w, p)| w + p));
            }
        }
        kernels::bias_layer_norm(&mut xs, &self.token_type, &self.norm);
        Ok(xs)
    }
}

/// Buffers a batch reuses from layer to layer.
#[derive(Default)]
struct Scratch {
    qkv: Vec<f32>,
    context: Vec<f32>,
    intermediate: Vec<f32>,
    scores: Vec<f32>,
}

fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: NormParams,
    intermediate: Dense,
    output: Dense,
    out_norm: NormParams,
    heads: usize,
    head_dim: usize,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &BertConfig, precision: Precision) -> Result<Self> {
        let h = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let att = vb.pp("attention");
        let sa = att.pp("self");
        // Query, key and value share one product: concatenate their weights once at load.
        let (mut ws, mut bs) = (Vec::new(), Vec::new());
        for name in ["query", "key", "value"] {
            ws.push(sa.pp(name).get((h, h), "weight")?);
            bs.push(sa.pp(name).get(h, "bias")?);
        }
        let qkv = Dense::new(Tensor::cat(&ws, 0)?, Tensor::cat(&bs, 0)?, precision)?;
        Ok(Self {
            qkv,
            attn_out: Dense::load(att.pp("output").pp("dense"), h, h, precision)?,
            attn_norm: layer_norm(att.pp("output").pp("LayerNorm"), h, eps)?,
            intermediate: Dense::load(
                vb.pp("intermediate").pp("dense"),
                h,
                cfg.intermediate_size,
                precision,
            )?,
            output: Dense::load(vb.pp("output").pp("dense"), cfg.intermediate_size, h, precision)?,
            out_norm: layer_norm(vb.pp("output").pp("LayerNorm"), h, eps)?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// Updates `xs`, `[tokens, hidden]` holding the packed sequences whose lengths are
    /// `lens`, in place.
    fn forward(&self, xs: &mut [f32], lens: &[usize], scratch: &mut Scratch) -> Result<()> {
        let hidden = self.heads * self.head_dim;
        let tokens = xs.len() / hidden;
        let qkv = sized(&mut scratch.qkv, tokens * 3 * hidden);
        self.qkv.product(xs, qkv, false)?;
        kernels::add_bias(qkv, &self.qkv.bias);
        let context = sized(&mut scratch.context, tokens * hidden);
        self.attention(qkv, lens, context, &mut scratch.scores);
        // The residual stream takes the product on top of itself; bias and norm follow.
        self.attn_out.product(context, xs, true)?;
        kernels::bias_layer_norm(xs, &self.attn_out.bias, &self.attn_norm);
        let inner = sized(&mut scratch.intermediate, tokens * self.intermediate.out_dim);
        self.intermediate.product(xs, inner, false)?;
        kernels::bias_gelu(inner, &self.intermediate.bias);
        self.output.product(inner, xs, true)?;
        kernels::bias_layer_norm(xs, &self.output.bias, &self.out_norm);
        Ok(())
    }

    /// Self-attention of each packed sequence, head by head: the heads are read in place
    /// from the `[tokens, 3 * hidden]` query/key/value rows and written in place into
    /// the `[tokens, hidden]` context rows.
    fn attention(&self, qkv: &[f32], lens: &[usize], context: &mut [f32], scores: &mut Vec<f32>) {
        let (d, hidden) = (self.head_dim, self.heads * self.head_dim);
        let scale = 1.0 / (d as f32).sqrt();
        let mut start = 0;
        for &len in lens {
            let rows = &qkv[start * 3 * hidden..(start + len) * 3 * hidden];
            let scores = sized(scores, len * len);
            for head in 0..self.heads {
                // part 0: queries, 1: keys, 2: values.
                let view = |part: usize| MatRef {
                    data: &rows[part * hidden + head * d..],
                    rows: len,
                    cols: d,
                    row_stride: 3 * hidden,
                    col_stride: 1,
                };
                kernels::matmul(scores, len, view(0), view(1).t(), scale, false);
                kernels::softmax_rows(scores, len);
                let out = &mut context[start * hidden + head * d..];
                kernels::matmul(out, hidden, MatRef::dense(scores, len, len), view(2), 1.0, false);
            }
            start += len;
        }
    }
}

/// One layer's parameters as plain f32 vectors. Dense weights are stored transposed,
/// `[in, out]` row-major, as the forward pass reads them: `qkv_w` is `[hidden, 3 * hidden]`
/// (query, key and value side by side), `inter_w` `[hidden, intermediate]`, `out_w`
/// `[intermediate, hidden]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerWeights {
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub attn_out_w: Vec<f32>,
    pub attn_out_b: Vec<f32>,
    pub attn_norm_g: Vec<f32>,
    pub attn_norm_b: Vec<f32>,
    pub inter_w: Vec<f32>,
    pub inter_b: Vec<f32>,
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub out_norm_g: Vec<f32>,
    pub out_norm_b: Vec<f32>,
}

/// The encoder stack without the pooler. It runs on the CPU, on the calling thread.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pub config: BertConfig,
    pub precision: Precision,
}

impl BertModel {
    pub fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> Result<Self> {
        if !config.hidden_act.starts_with("gelu") {
            candle_core::bail!("unsupported hidden_act `{}` (only gelu)", config.hidden_act);
        }
        if config.hidden_size % config.num_attention_heads != 0 {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let embeddings = Embeddings::load(vb.pp("embeddings"), config)?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config, precision))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { embeddings, layers, config: config.clone(), precision })
    }

    /// Runs packed sequences (each already framed with `[CLS]`/`[SEP]` and no longer
    /// than `max_position_embeddings`) and returns the last hidden states
    /// `[sum(lens), hidden]`, in the same packed order.
    pub fn forward_packed(&self, ids: &[u32], lens: &[usize]) -> Result<Tensor> {
        self.forward_packed_until(ids, lens, self.layers.len())
    }

    /// As [`Self::forward_packed`], but stops after the first `layers` layers (all of
    /// them when `layers` is larger): the input of the layers a classifier fine-tunes.
    pub fn forward_packed_until(
        &self,
        ids: &[u32],
        lens: &[usize],
        layers: usize,
    ) -> Result<Tensor> {
        let tokens: usize = lens.iter().sum();
        if tokens != ids.len() {
            candle_core::bail!("{} token ids for sequences of {tokens} tokens", ids.len());
        }
        let mut xs = self.embeddings.forward(ids, lens)?;
        let mut scratch = Scratch::default();
        for layer in self.layers.iter().take(layers) {
            layer.forward(&mut xs, lens, &mut scratch)?;
        }
        Tensor::from_vec(xs, (tokens, self.config.hidden_size), &Device::Cpu)
    }

    /// An f32 copy of layer `index`'s parameters, the starting point of fine-tuning.
    /// Fails for int8 weights, which cannot be trained.
    pub fn layer_weights(&self, index: usize) -> Result<LayerWeights> {
        let layer = self
            .layers
            .get(index)
            .ok_or_else(|| candle_core::Error::Msg(format!("the encoder has no layer {index}")))?;
        let dense = |d: &Dense| -> Result<(Vec<f32>, Vec<f32>)> {
            match &d.weight {
                DenseWeight::F32(w) => Ok((w.clone(), d.bias.clone())),
                DenseWeight::Quantized(_) => {
                    candle_core::bail!("int8 encoder weights cannot be fine-tuned; load f32")
                }
            }
        };
        let (qkv_w, qkv_b) = dense(&layer.qkv)?;
        let (attn_out_w, attn_out_b) = dense(&layer.attn_out)?;
        let (inter_w, inter_b) = dense(&layer.intermediate)?;
        let (out_w, out_b) = dense(&layer.output)?;
        Ok(LayerWeights {
            qkv_w,
            qkv_b,
            attn_out_w,
            attn_out_b,
            attn_norm_g: layer.attn_norm.gamma.clone(),
            attn_norm_b: layer.attn_norm.beta.clone(),
            inter_w,
            inter_b,
            out_w,
            out_b,
            out_norm_g: layer.out_norm.gamma.clone(),
            out_norm_b: layer.out_norm.beta.clone(),
        })
    }

    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }
}

/// Mean of each packed sequence's token states: `[sum(lens), h]` -> `[lens.len(), h]`.
pub fn mean_pool_packed(states: &Tensor, lens: &[usize]) -> Result<Tensor> {
    let mut out = Vec::with_capacity(lens.len());
    let mut start = 0;
    for &len in lens {
        out.push(states.narrow(0, start, len)?.mean(0)?);
        start += len;
    }
    Tensor::stack(&out, 0)
}

/// Scales each row to unit L2 norm.
pub fn l2_normalize(xs: &Tensor) -> Result<Tensor> {
    let norm = xs.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    xs.broadcast_div(&norm)
}

/// The dtype weights are converted to when loaded.
pub const COMPUTE_DTYPE: DType = DType::F32;
