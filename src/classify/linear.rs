//! L2-regularised, class-weighted logistic regression over sparse features, one binary
//! problem per label, solved to convergence with L-BFGS on the full batch.
//!
//! This is the lexical half of the classifier. Minibatch Adam on a table of a hundred
//! thousand rows either barely moves the rare rows or memorises the frequent ones; a
//! full-batch quasi-Newton solve reaches the same optimum as a linear-model library
//! would, deterministically, in seconds per label.
//!
//! For label `l` over the examples `i` in its scope, with `s_i = +1` for a positive and
//! `-1` otherwise, the objective is
//!
//! ```text
//! f(w, b) = 0.5 * |w - w0|^2 + C * sum_i c_i * ln(1 + exp(-s_i * (w . x_i + b)))
//! ```
//!
//! where `c_i` weighs each class to half the total (`n / (2 n_class)`; or 1 when not
//! balanced), and `w0` is the
//! starting point: zero for a fresh model, the previous weights when training continues,
//! so a few new examples adjust a trained model instead of replacing it.

use rayon::prelude::*;

use super::lexical::Sparse;

/// Settings of the solver.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct LinearOptions {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Iteration cap per label.
    pub max_iter: usize,
    /// Stop when the gradient norm falls below this fraction of its starting value.
    pub tolerance: f64,
    /// Weigh each class to half the total (as for rare labels); otherwise every example
    /// weighs 1, which keeps the probabilities calibrated.
    pub balanced: bool,
}

impl Default for LinearOptions {
    fn default() -> Self {
        Self { c: 16.0, max_iter: 400, tolerance: 1e-5, balanced: true }
    }
}

/// One label's training problem: the examples in its scope and their targets.
pub struct Problem<'a> {
    pub rows: Vec<&'a Sparse>,
    pub positive: Vec<bool>,
}

/// Solved weights of one label.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub weights: Vec<f32>,
    pub bias: f32,
    pub iterations: usize,
}

/// Solves every label's problem (in parallel over labels, each deterministic), starting
/// from `start` (`(weights, bias)` per label, or zeros) with `dim` features.
pub fn fit_all(
    problems: &[Problem<'_>],
    start: &[(Vec<f32>, f32)],
    dim: usize,
    opts: &LinearOptions,
) -> Vec<Solution> {
    problems
        .par_iter()
        .zip(start.par_iter())
        .map(|(p, (w0, b0))| fit(p, w0, *b0, dim, opts))
        .collect()
}

/// Solves one label's problem.
pub fn fit(p: &Problem<'_>, w0: &[f32], b0: f32, dim: usize, opts: &LinearOptions) -> Solution {
    let n_pos = p.positive.iter().filter(|&&x| x).count();
    let n_neg = p.positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        // Nothing to separate: keep the starting point.
        return Solution { weights: w0.to_vec(), bias: b0, iterations: 0 };
    }
    let n = p.positive.len() as f64;
    let class_weight = |pos: bool| match (opts.balanced, pos) {
        (false, _) => opts.c,
        (true, true) => opts.c * n / (2.0 * n_pos as f64),
        (true, false) => opts.c * n / (2.0 * n_neg as f64),
    };
    let objective = Objective {
        rows: Csr::new(&p.rows),
        sign: p.positive.iter().map(|&y| if y { 1.0 } else { -1.0 }).collect(),
        weight: p.positive.iter().map(|&y| class_weight(y)).collect(),
        w0: w0.iter().map(|&x| x as f64).chain(std::iter::once(0.0)).collect(),
        dim,
    };
    let mut x: Vec<f64> = w0.iter().map(|&v| v as f64).chain(std::iter::once(b0 as f64)).collect();
    let iterations = lbfgs(&objective, &mut x, opts);
    let bias = x[dim] as f32;
    x.truncate(dim);
    Solution { weights: x.into_iter().map(|v| v as f32).collect(), bias, iterations }
}

/// Rows packed into contiguous arrays, so a pass over the data streams through memory.
struct Csr {
    start: Vec<usize>,
    ids: Vec<u32>,
    values: Vec<f64>,
}

impl Csr {
    fn new(rows: &[&Sparse]) -> Self {
        let mut csr = Csr { start: vec![0], ids: Vec::new(), values: Vec::new() };
        for r in rows {
            csr.ids.extend_from_slice(&r.ids);
            csr.values.extend(r.weights.iter().map(|&v| v as f64));
            csr.start.push(csr.ids.len());
        }
        csr
    }

    fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.start[i], self.start[i + 1]);
        (&self.ids[a..b], &self.values[a..b])
    }
}

/// The objective over `x = [w; b]` (the bias is the last coordinate, unregularised).
struct Objective {
    rows: Csr,
    sign: Vec<f64>,
    weight: Vec<f64>,
    w0: Vec<f64>,
    dim: usize,
}

impl Objective {
    /// Value and gradient at `x`.
    fn eval(&self, x: &[f64], grad: &mut [f64]) -> f64 {
        let mut f = 0.0;
        for (g, (xi, x0)) in grad.iter_mut().zip(x.iter().zip(&self.w0)).take(self.dim) {
            let d = xi - x0;
            f += 0.5 * d * d;
            *g = d;
        }
        grad[self.dim] = 0.0;
        for (i, (&s, &c)) in self.sign.iter().zip(&self.weight).enumerate() {
            let (ids, values) = self.rows.row(i);
            let z =
                x[self.dim] + ids.iter().zip(values).map(|(&j, &v)| x[j as usize] * v).sum::<f64>();
            let m = s * z;
            // ln(1 + e^-m) and its derivative -sigmoid(-m), without overflow.
            let (loss, dl) = if m > 0.0 {
                let e = (-m).exp();
                (e.ln_1p(), -e / (1.0 + e))
            } else {
                let e = m.exp();
                (-m + e.ln_1p(), -1.0 / (1.0 + e))
            };
            f += c * loss;
            let coef = c * dl * s;
            for (&j, &v) in ids.iter().zip(values) {
                grad[j as usize] += coef * v;
            }
            grad[self.dim] += coef;
        }
        f
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `obj` from `x` in place with L-BFGS (memory 10) and a backtracking line
/// search; returns the iterations used.
fn lbfgs(obj: &Objective, x: &mut [f64], opts: &LinearOptions) -> usize {
    const MEMORY: usize = 10;
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut f = obj.eval(x, &mut g);
    let g0 = dot(&g, &g).sqrt();
    if g0 == 0.0 {
        return 0;
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho: Vec<f64> = Vec::new();
    let mut x_new = vec![0.0; n];
    let mut g_new = vec![0.0; n];
    let mut dir = vec![0.0; n];
    let mut stalled = 0;
    for iter in 1..=opts.max_iter {
        // Two-loop recursion: dir = -H g.
        dir.copy_from_slice(&g);
        let mut alpha = vec![0.0; s_hist.len()];
        for k in (0..s_hist.len()).rev() {
            alpha[k] = rho[k] * dot(&s_hist[k], &dir);
            for (d, y) in dir.iter_mut().zip(&y_hist[k]) {
                *d -= alpha[k] * y;
            }
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            _ => 1.0 / g0,
        };
        for d in dir.iter_mut() {
            *d *= gamma;
        }
        for k in 0..s_hist.len() {
            let beta = rho[k] * dot(&y_hist[k], &dir);
            for (d, s) in dir.iter_mut().zip(&s_hist[k]) {
                *d += s * (alpha[k] - beta);
            }
        }
        for d in dir.iter_mut() {
            *d = -*d;
        }
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            for (d, gi) in dir.iter_mut().zip(&g) {
                *d = -gi / g0;
            }
            slope = dot(&g, &dir);
        }
        // Backtracking line search with the Armijo condition.
        let mut step = 1.0;
        let mut f_new;
        loop {
            for ((xn, xi), d) in x_new.iter_mut().zip(x.iter()).zip(&dir) {
                *xn = xi + step * d;
            }
            f_new = obj.eval(&x_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = x_new.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.copy_from_slice(&x_new);
        g.copy_from_slice(&g_new);
        let decrease = f - f_new;
        f = f_new;
        if sy > 1e-12 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        // Converged, or the objective has stopped moving: three steps in a row each
        // changed it by under one part in 10^9 (a single small step can be a poor
        // curvature estimate, not the optimum).
        if decrease.abs() <= 1e-9 * f.abs().max(1.0) {
            stalled += 1;
        } else {
            stalled = 0;
        }
        if dot(&g, &g).sqrt() <= opts.tolerance * g0 || stalled == 3 {
            return iter;
        }
    }
    opts.max_iter
}

/// The logit of one example: `w . x + b`.
pub fn logit(weights: &[f32], bias: f32, row: &Sparse) -> f32 {
    bias + row.ids.iter().zip(&row.weights).map(|(&j, &v)| weights[j as usize] * v).sum::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(u32, f32)]) -> Sparse {
        Sparse {
            ids: pairs.iter().map(|p| p.0).collect(),
            weights: pairs.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn the_solution_separates_a_learnable_problem_and_zeroes_the_gradient() {
        // Feature 0 marks positives, feature 1 negatives, feature 2 is noise on both.
        let rows: Vec<Sparse> = (0..40)
            .map(|i| {
                let noise = (i % 3) as f32 * 0.2;
                if i % 4 == 0 {
                    row(&[(0, 1.0), (2, noise)])
                } else {
                    row(&[(1, 1.0), (2, noise)])
                }
            })
            .collect();
        let positive: Vec<bool> = (0..40).map(|i| i % 4 == 0).collect();
        let p = Problem { rows: rows.iter().collect(), positive: positive.clone() };
        let opts = LinearOptions { c: 1.0, max_iter: 200, tolerance: 1e-8, balanced: true };
        let sol = fit(&p, &[0.0; 3], 0.0, 3, &opts);
        for (r, &y) in rows.iter().zip(&positive) {
            assert_eq!(logit(&sol.weights, sol.bias, r) > 0.0, y);
        }
        assert!(sol.weights[0] > 1.0 && sol.weights[1] < -1.0, "{:?}", sol.weights);
        // At the optimum the gradient has all but vanished.
        let obj = Objective {
            rows: Csr::new(&p.rows),
            sign: positive.iter().map(|&y| if y { 1.0 } else { -1.0 }).collect(),
            weight: positive.iter().map(|&y| if y { 40.0 / 20.0 } else { 40.0 / 60.0 }).collect(),
            w0: vec![0.0; 4],
            dim: 3,
        };
        let mut x: Vec<f64> = sol.weights.iter().map(|&v| v as f64).collect();
        x.push(sol.bias as f64);
        let mut g = vec![0.0; 4];
        obj.eval(&x, &mut g);
        let mut g_start = vec![0.0; 4];
        obj.eval(&[0.0; 4], &mut g_start);
        assert!(dot(&g, &g).sqrt() < 1e-3 * dot(&g_start, &g_start).sqrt(), "gradient {g:?}");
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let rows = [row(&[(0, 0.6), (1, 0.8)]), row(&[(1, 1.0)]), row(&[(0, 0.3), (2, 0.9)])];
        let obj = Objective {
            rows: Csr::new(&[&rows[0], &rows[1], &rows[2]]),
            sign: vec![1.0, -1.0, 1.0],
            weight: vec![2.0, 0.5, 1.5],
            w0: vec![0.1, -0.2, 0.0, 0.0],
            dim: 3,
        };
        let x = [0.4, -0.7, 1.3, 0.2];
        let mut g = vec![0.0; 4];
        let f = obj.eval(&x, &mut g);
        for k in 0..4 {
            let mut xp = x;
            xp[k] += 1e-6;
            let fp = obj.eval(&xp, &mut [0.0; 4]);
            assert!(((fp - f) / 1e-6 - g[k]).abs() < 1e-4, "coordinate {k}");
        }
    }

    #[test]
    fn a_stronger_prior_keeps_continued_weights_near_the_start() {
        let rows = [row(&[(0, 1.0)]), row(&[(1, 1.0)])];
        let p = Problem { rows: rows.iter().collect(), positive: vec![false, true] };
        // The start says feature 0 is positive; one example says otherwise.
        let start = [3.0f32, 0.0];
        let weak = fit(&p, &start, 0.0, 2, &LinearOptions { c: 100.0, ..Default::default() });
        let strong = fit(&p, &start, 0.0, 2, &LinearOptions { c: 0.01, ..Default::default() });
        assert!(weak.weights[0] < 0.0);
        assert!((strong.weights[0] - 3.0).abs() < 0.1);
    }

    #[test]
    fn a_label_with_one_class_keeps_its_start() {
        let rows = [row(&[(0, 1.0)])];
        let p = Problem { rows: rows.iter().collect(), positive: vec![true] };
        let sol = fit(&p, &[0.5], 0.25, 1, &LinearOptions::default());
        assert_eq!((sol.weights, sol.bias, sol.iterations), (vec![0.5], 0.25, 0));
    }
}
