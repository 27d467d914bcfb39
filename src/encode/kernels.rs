//! f32 kernels of the encoder's forward pass: row-major slices in, the same slices out.
//!
//! Each element-wise kernel fuses what would otherwise be separate tensor ops (bias add,
//! activation, residual, normalisation) into one pass over rows that are still in cache,
//! without allocating. The bodies are plain loops written so the compiler can vectorise
//! them: no branches per element, and reductions kept in [`LANES`] independent partial
//! sums. On x86-64 each kernel is compiled twice, once for the baseline target and once
//! with AVX2 and FMA enabled, and the second is picked at run time when the CPU has them.
//!
//! Matrix products go to the `gemm` crate (the one candle's CPU backend uses) through
//! [`matmul`], which takes strides, so attention reads each head straight out of the
//! packed query/key/value rows without a transposed copy.

/// Partial sums kept side by side in reductions: one 256-bit register of f32.
const LANES: usize = 8;

/// Beyond this `|x|`, erf(x) rounds to ±1 in f32 (1 - erf(3.92) is about 5e-8).
const ERF_SATURATION: f32 = 3.92;

/// erf(x) = x P(x²) / Q(x²) on `|x| <= ERF_SATURATION`, coefficients lowest power first.
/// The rational function was fitted for this project by iterated weighted least squares
/// toward the smallest largest absolute error against 30-digit erf on [0, 3.92]: about
/// 8e-8 in exact arithmetic, under 4e-7 evaluated in f32 (see the tests). The leading
/// coefficient is erf'(0) = 2/sqrt(pi), the value the fit lands on.
const ERF_P: [f32; 6] = [
    std::f32::consts::FRAC_2_SQRT_PI,
    0.185_494_94,
    0.052_201_346,
    0.003_583_822,
    0.000_285_824_27,
    2.153_437e-6,
];
const ERF_Q: [f32; 6] =
    [1.0, 0.497_723_43, 0.112_172_24, 0.014_599_884, 0.001_127_898_7, 3.921_238_4e-5];

/// ln 2 split so that `n * LN2_HI` is exact for the `n` that [`exp`] meets.
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding 1.5 * 2^23 rounds an f32 of magnitude below 2^22 to an integer held in the
/// low mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// `a * b + c`, fused into one instruction in the FMA build.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn horner<const FMA: bool>(coeffs: &[f32], z: f32) -> f32 {
    coeffs.iter().rev().fold(0.0, |acc, &c| madd::<FMA>(acc, z, c))
}

#[inline(always)]
fn erf_body<const FMA: bool>(x: f32) -> f32 {
    let x = x.clamp(-ERF_SATURATION, ERF_SATURATION);
    let z = x * x;
    x * horner::<FMA>(&ERF_P, z) / horner::<FMA>(&ERF_Q, z)
}

/// e^x for the `x <= 0` that softmax feeds it (valid on [-87, 88]; clamped outside):
/// x = n ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to degree 7 (truncation
/// below 1e-8 relative), and 2^n put straight into the exponent bits.
#[inline(always)]
fn exp_body<const FMA: bool>(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let shifted = madd::<FMA>(x, std::f32::consts::LOG2_E, ROUND_MAGIC);
    let n = shifted - ROUND_MAGIC;
    let r = madd::<FMA>(n, -LN2_LO, madd::<FMA>(n, -LN2_HI, x));
    let mut p = 1.0 / 5040.0;
    for c in [1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = madd::<FMA>(p, r, c);
    }
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

#[inline(always)]
fn gelu_body<const FMA: bool>(x: f32) -> f32 {
    0.5 * x * (1.0 + erf_body::<FMA>(x * std::f32::consts::FRAC_1_SQRT_2))
}

fn row_sum(row: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

fn row_max(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m });
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = if x > *a { x } else { *a };
        }
    }
    acc.iter().fold(tail, |m, &x| if x > m { x } else { m })
}

/// Defines a public kernel that runs `$body` compiled for AVX2 + FMA when the CPU has
/// them, and for the baseline target otherwise.
macro_rules! multiversion {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident;) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) {
                    $body::<true>($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features `fast` is compiled for were detected just above.
                    return unsafe { fast($($arg),*) };
                }
            }
            $body::<false>($($arg),*)
        }
    };
}

#[inline(always)]
fn add_bias_body<const FMA: bool>(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x += b;
        }
    }
}

multiversion! {
    /// Adds `bias` to every row of `rows` (row-major, `bias.len()` columns).
    pub fn add_bias(rows: &mut [f32], bias: &[f32]) => add_bias_body;
}

#[inline(always)]
fn bias_gelu_body<const FMA: bool>(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x = gelu_body::<FMA>(*x + b);
        }
    }
}

multiversion! {
    /// `x <- gelu(x + bias)` on every row, with the exact (erf) form of GELU.
    pub fn bias_gelu(rows: &mut [f32], bias: &[f32]) => bias_gelu_body;
}

/// Parameters of a layer normalisation over the last dimension.
#[derive(Debug, Clone)]
pub struct NormParams {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

#[inline(always)]
fn bias_layer_norm_body<const FMA: bool>(rows: &mut [f32], bias: &[f32], norm: &NormParams) {
    let width = bias.len();
    let inv_width = 1.0 / width as f32;
    for row in rows.chunks_exact_mut(width) {
        for (x, &b) in row.iter_mut().zip(bias) {
            *x += b;
        }
        let mean = row_sum(row) * inv_width;
        let mut acc = [0.0f32; LANES];
        let chunks = row.chunks_exact(LANES);
        let tail: f32 = chunks.remainder().iter().map(|&x| (x - mean) * (x - mean)).sum();
        for chunk in chunks {
            for (a, &x) in acc.iter_mut().zip(chunk) {
                *a = madd::<FMA>(x - mean, x - mean, *a);
            }
        }
        let var = (acc.iter().sum::<f32>() + tail) * inv_width;
        let inv_std = 1.0 / (var + norm.eps).sqrt();
        for ((x, &g), &b) in row.iter_mut().zip(&norm.gamma).zip(&norm.beta) {
            *x = madd::<FMA>((*x - mean) * inv_std, g, b);
        }
    }
}

multiversion! {
    /// `x <- layer_norm(x + bias)` on every row (`bias.len()` columns): the residual
    /// stream after a dense layer whose product was accumulated onto it.
    pub fn bias_layer_norm(rows: &mut [f32], bias: &[f32], norm: &NormParams) => bias_layer_norm_body;
}

#[inline(always)]
fn softmax_rows_body<const FMA: bool>(rows: &mut [f32], width: usize) {
    for row in rows.chunks_exact_mut(width) {
        let max = row_max(row);
        for x in row.iter_mut() {
            *x = exp_body::<FMA>(*x - max);
        }
        let inv_sum = 1.0 / row_sum(row);
        for x in row.iter_mut() {
            *x *= inv_sum;
        }
    }
}

multiversion! {
    /// Softmax over each row of `width` values.
    pub fn softmax_rows(rows: &mut [f32], width: usize) => softmax_rows_body;
}

/// erf(x) in f32, the same function [`bias_gelu`] uses (absolute error under 4e-7).
pub fn erf(x: f32) -> f32 {
    erf_body::<false>(x)
}

/// e^x in f32 as [`softmax_rows`] computes it (relative error under 3e-7 on [-87, 88]).
pub fn exp(x: f32) -> f32 {
    exp_body::<false>(x)
}

/// A read-only matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix with `cols` columns stored contiguously.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The same elements read as the transpose.
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = scale * lhs rhs`, or `dst += scale * lhs rhs` when `accumulate`; `dst` is
/// row-major with `dst_row_stride` between rows. Runs on the calling thread.
///
/// # Panics
/// When the shapes disagree or a view reaches outside its slice.
pub fn matmul(
    dst: &mut [f32],
    dst_row_stride: usize,
    lhs: MatRef,
    rhs: MatRef,
    scale: f32,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert!(lhs.in_bounds() && rhs.in_bounds(), "operand view outside its slice");
    let out = MatRef { data: dst, rows: m, cols: n, row_stride: dst_row_stride, col_stride: 1 };
    assert!(out.in_bounds() && dst_row_stride >= n, "destination view outside its slice");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above keep every element gemm reads or writes inside the slices,
    // and `dst` is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 to about 1e-16 (the libm routine candle's own `erf` op uses).
    fn erf_f64(x: f64) -> f64 {
        let t = candle_core::Tensor::new(&[x], &candle_core::Device::Cpu).unwrap();
        t.erf().unwrap().to_vec1::<f64>().unwrap()[0]
    }

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn erf_stays_within_4e_7_of_a_double_precision_reference() {
        let xs: Vec<f64> = grid(-6.0, 6.0, 24_000).map(f64::from).collect();
        let t = candle_core::Tensor::new(xs.as_slice(), &candle_core::Device::Cpu).unwrap();
        let want = t.erf().unwrap().to_vec1::<f64>().unwrap();
        let mut worst = (0.0f64, 0.0f64);
        for (&x, &w) in xs.iter().zip(&want) {
            let err = (f64::from(erf(x as f32)) - w).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 < 4e-7, "erf error {:e} at x = {}", worst.0, worst.1);
        assert_eq!(erf(0.0), 0.0);
        assert_eq!(erf(-1.5), -erf(1.5));
        assert!(erf(100.0) <= 1.0 && erf(100.0) > 0.999_999);
        assert!((f64::from(erf(1.0)) - erf_f64(1.0)).abs() < 2e-7);
    }

    #[test]
    fn exp_has_relative_error_under_3e_7() {
        for x in grid(-87.0, 88.0, 40_000) {
            let want = f64::from(x).exp();
            let rel = (f64::from(exp(x)) - want).abs() / want;
            assert!(rel < 3e-7, "exp({x}) = {} vs {want}: relative error {rel:e}", exp(x));
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), exp(-87.0));
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol, "{what}[{i}]: {g} vs {w}");
        }
    }

    /// Deterministic values in [-scale, scale) without a random number crate.
    fn values(n: usize, seed: u32, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    #[test]
    fn bias_gelu_matches_candle_gelu_erf() {
        let (rows, cols) = (7, 37);
        let xs = values(rows * cols, 1, 6.0);
        let bias = values(cols, 2, 1.0);
        let t =
            candle_core::Tensor::from_slice(&xs, (rows, cols), &candle_core::Device::Cpu).unwrap();
        let b = candle_core::Tensor::from_slice(&bias, cols, &candle_core::Device::Cpu).unwrap();
        let want = t.broadcast_add(&b).unwrap().gelu_erf().unwrap();
        let mut got = xs.clone();
        bias_gelu(&mut got, &bias);
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_close(&got, &want, 2e-6, "gelu");
    }

    #[test]
    fn bias_layer_norm_matches_candle_layer_norm() {
        let (rows, cols) = (5, 384);
        let xs = values(rows * cols, 3, 4.0);
        let bias = values(cols, 4, 0.5);
        let norm =
            NormParams { gamma: values(cols, 5, 2.0), beta: values(cols, 6, 1.0), eps: 1e-12 };
        let dev = candle_core::Device::Cpu;
        let t = candle_core::Tensor::from_slice(&xs, (rows, cols), &dev).unwrap();
        let b = candle_core::Tensor::from_slice(&bias, cols, &dev).unwrap();
        let ln = candle_nn::LayerNorm::new(
            candle_core::Tensor::from_slice(&norm.gamma, cols, &dev).unwrap(),
            candle_core::Tensor::from_slice(&norm.beta, cols, &dev).unwrap(),
            1e-12,
        );
        let want = candle_core::Module::forward(&ln, &t.broadcast_add(&b).unwrap()).unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut got = xs.clone();
        bias_layer_norm(&mut got, &bias, &norm);
        assert_close(&got, &want, 1e-5, "layer norm");
    }

    #[test]
    fn softmax_rows_match_candle_softmax() {
        let (rows, cols) = (6, 45);
        let xs = values(rows * cols, 7, 12.0);
        let t =
            candle_core::Tensor::from_slice(&xs, (rows, cols), &candle_core::Device::Cpu).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&t).unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut got = xs.clone();
        softmax_rows(&mut got, cols);
        assert_close(&got, &want, 1e-6, "softmax");
        for row in got.chunks(cols) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn matmul_reads_strided_views_and_accumulates() {
        // lhs is the left 3 columns of a 4x5 block, rhs is read transposed.
        let (m, k, n) = (4, 3, 2);
        let block = values(4 * 5, 8, 1.0);
        let rhs_t = values(n * k, 9, 1.0); // [n, k] row-major, used as [k, n]
        let lhs = MatRef { data: &block, rows: m, cols: k, row_stride: 5, col_stride: 1 };
        let rhs = MatRef::dense(&rhs_t, n, k).t();
        let mut want = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f32 = (0..k).map(|p| block[i * 5 + p] * rhs_t[j * k + p]).sum();
                want[i * n + j] = 10.0 + 0.5 * dot;
            }
        }
        let mut got = vec![10.0f32; m * n];
        matmul(&mut got, n, lhs, rhs, 0.5, true);
        assert_close(&got, &want, 1e-5, "matmul");
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn matmul_refuses_a_view_past_its_slice() {
        let data = vec![0.0f32; 6];
        let mut dst = vec![0.0f32; 9];
        let too_tall = MatRef { data: &data, rows: 3, cols: 3, row_stride: 3, col_stride: 1 };
        matmul(&mut dst, 3, too_tall, MatRef::dense(&data, 3, 2), 1.0, false);
    }
}
