//! BERT-family encoder in candle: token ids become contextual token states.
//!
//! Sequences are packed without padding: the projections and feed-forward layers,
//! which hold almost all of the arithmetic, run once over the concatenated tokens of
//! a whole batch, and only attention runs per sequence. Weight names follow the
//! Hugging Face `BertModel` checkpoints (`embeddings.*`, `encoder.layer.N.*`), with or
//! without a leading `bert.`.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

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

/// A dense layer `x W^T + b`, in f32 or quantised form.
#[derive(Debug, Clone)]
struct Dense {
    weight: DenseWeight,
    bias: Tensor,
}

#[derive(Debug, Clone)]
enum DenseWeight {
    /// Stored transposed (`[in, out]`, contiguous) so the product needs no copy.
    F32(Tensor),
    Quantized(QMatMul),
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor, precision: Precision) -> Result<Self> {
        let weight = match precision {
            Precision::F32 => DenseWeight::F32(weight.t()?.contiguous()?),
            Precision::Int8 => DenseWeight::Quantized(QMatMul::from_qtensor(QTensor::quantize(
                &weight,
                GgmlDType::Q8_0,
            )?)?),
        };
        Ok(Self { weight, bias })
    }

    fn load(vb: VarBuilder, in_dim: usize, out_dim: usize, precision: Precision) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Self::new(weight, bias, precision)
    }

    /// `xs` is `[tokens, in]`.
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let ys = match &self.weight {
            DenseWeight::F32(w) => xs.matmul(w)?,
            DenseWeight::Quantized(q) => q.forward(xs)?,
        };
        ys.broadcast_add(&self.bias)
    }
}

struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> Result<Self> {
        let h = cfg.hidden_size;
        Ok(Self {
            word: candle_nn::embedding(cfg.vocab_size, h, vb.pp("word_embeddings"))?,
            position: candle_nn::embedding(
                cfg.max_position_embeddings,
                h,
                vb.pp("position_embeddings"),
            )?,
            token_type: candle_nn::embedding(
                cfg.type_vocab_size,
                h,
                vb.pp("token_type_embeddings"),
            )?,
            norm: candle_nn::layer_norm(h, cfg.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// `ids` and `positions` are `[tokens]` (u32); all token types are 0.
    fn forward(&self, ids: &Tensor, positions: &Tensor) -> Result<Tensor> {
        let words = self.word.forward(ids)?;
        let pos = self.position.forward(positions)?;
        let types = self.token_type.embeddings().get(0)?;
        let xs = words.add(&pos)?.broadcast_add(&types)?;
        self.norm.forward(&xs)
    }
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    out_norm: LayerNorm,
    heads: usize,
    head_dim: usize,
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &BertConfig, precision: Precision) -> Result<Self> {
        let h = cfg.hidden_size;
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
            attn_norm: candle_nn::layer_norm(
                h,
                cfg.layer_norm_eps,
                att.pp("output").pp("LayerNorm"),
            )?,
            intermediate: Dense::load(
                vb.pp("intermediate").pp("dense"),
                h,
                cfg.intermediate_size,
                precision,
            )?,
            output: Dense::load(vb.pp("output").pp("dense"), cfg.intermediate_size, h, precision)?,
            out_norm: candle_nn::layer_norm(
                h,
                cfg.layer_norm_eps,
                vb.pp("output").pp("LayerNorm"),
            )?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// `xs` is `[tokens, hidden]` holding the packed sequences whose lengths are `lens`.
    fn forward(&self, xs: &Tensor, lens: &[usize]) -> Result<Tensor> {
        let hidden = self.heads * self.head_dim;
        let qkv = self.qkv.forward(xs)?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut contexts = Vec::with_capacity(lens.len());
        let mut start = 0;
        for &len in lens {
            // [len, 3 * hidden] -> [3, heads, len, head_dim]
            let seq = qkv
                .narrow(0, start, len)?
                .reshape((len, 3, self.heads, self.head_dim))?
                .permute((1, 2, 0, 3))?;
            let q = (seq.get(0)?.contiguous()? * scale)?;
            let k = seq.get(1)?.contiguous()?;
            let v = seq.get(2)?.contiguous()?;
            let weights = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
            let ctx = weights.matmul(&v)?.transpose(0, 1)?.reshape((len, hidden))?;
            contexts.push(ctx);
            start += len;
        }
        let ctx = Tensor::cat(&contexts, 0)?;
        let xs = self.attn_norm.forward(&(self.attn_out.forward(&ctx)? + xs)?)?;
        let inner = self.intermediate.forward(&xs)?.gelu_erf()?;
        self.out_norm.forward(&(self.output.forward(&inner)? + xs)?)
    }
}

/// The encoder stack without the pooler.
pub struct BertModel {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    pub config: BertConfig,
    pub precision: Precision,
    device: Device,
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
        Ok(Self {
            embeddings,
            layers,
            config: config.clone(),
            precision,
            device: vb.device().clone(),
        })
    }

    /// Runs packed sequences (each already framed with `[CLS]`/`[SEP]` and no longer
    /// than `max_position_embeddings`) and returns the last hidden states
    /// `[sum(lens), hidden]`, in the same packed order.
    pub fn forward_packed(&self, ids: &[u32], lens: &[usize]) -> Result<Tensor> {
        let positions: Vec<u32> = lens.iter().flat_map(|&l| 0..l as u32).collect();
        let n = ids.len();
        let ids = Tensor::from_slice(ids, n, &self.device)?;
        let positions = Tensor::from_slice(&positions, n, &self.device)?;
        let mut xs = self.embeddings.forward(&ids, &positions)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, lens)?;
        }
        Ok(xs)
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
