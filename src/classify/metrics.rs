//! Evaluation: predicted probabilities and gold labels become per-label precision,
//! recall and F1, micro and macro F1, and tuned decision thresholds.

use std::collections::BTreeMap;

/// Scores of one label.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabelScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold positives.
    pub support: usize,
}

/// The `eval` report. JSON keys are part of the interface.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub micro_f1: f64,
    pub macro_f1: f64,
    pub per_label: BTreeMap<String, LabelScores>,
    /// Examples evaluated.
    pub examples: usize,
    /// Labels scored need at least this many gold positives.
    #[serde(default = "one")]
    pub min_support: usize,
    /// Labels of the file with fewer positives, not scored.
    #[serde(default)]
    pub left_out: Vec<String>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn scores(self) -> LabelScores {
        let p = ratio(self.tp, self.tp + self.fp);
        let r = ratio(self.tp, self.tp + self.fn_);
        LabelScores { precision: p, recall: r, f1: f1(p, r), support: self.tp + self.fn_ }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// Evaluates `predicted` label sets against `gold`, over the labels in `labels` (the
/// labels that occur in the gold file). Macro-F1 averages those labels equally.
pub fn evaluate(labels: &[String], gold: &[Vec<String>], predicted: &[Vec<String>]) -> Report {
    let mut counts: BTreeMap<&str, Counts> =
        labels.iter().map(|l| (l.as_str(), Counts::default())).collect();
    for (g, p) in gold.iter().zip(predicted) {
        for (label, c) in counts.iter_mut() {
            let in_gold = g.iter().any(|x| x == label);
            let in_pred = p.iter().any(|x| x == label);
            match (in_gold, in_pred) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (false, false) => {}
            }
        }
    }
    let total = counts.values().fold(Counts::default(), |a, c| Counts {
        tp: a.tp + c.tp,
        fp: a.fp + c.fp,
        fn_: a.fn_ + c.fn_,
    });
    let per_label: BTreeMap<String, LabelScores> =
        counts.iter().map(|(l, c)| (l.to_string(), c.scores())).collect();
    let macro_f1 = if per_label.is_empty() {
        0.0
    } else {
        per_label.values().map(|s| s.f1).sum::<f64>() / per_label.len() as f64
    };
    Report {
        micro_f1: total.scores().f1,
        macro_f1,
        per_label,
        examples: gold.len(),
        min_support: 1,
        left_out: Vec::new(),
    }
}

/// An optional score with four decimals, or "-" when there is none (no dev data).
pub fn four_places(score: Option<f64>) -> String {
    score.map_or_else(|| "-".to_string(), |f| format!("{f:.4}"))
}

/// The threshold on `probs` that maximises F1 against `gold` (booleans), searched over
/// the observed probabilities at or below `ceiling`; ties go to the threshold in the
/// middle of the best run, and `fallback` is used when there are no positives.
///
/// For calibrated probabilities the F1-optimal threshold is half the best F1 reachable,
/// so never above 0.5; a cut found above that on a few dev examples fits the gap between
/// them rather than the label, and the ceiling keeps it out.
pub fn best_threshold(probs: &[f32], gold: &[bool], fallback: f32, ceiling: f32) -> (f32, f64) {
    let positives = gold.iter().filter(|&&g| g).count();
    if positives == 0 {
        return (fallback, 0.0);
    }
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut best = (fallback, -1.0f64);
    for (rank, &i) in order.iter().enumerate() {
        if gold[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // Cut only between distinct probabilities, and only where a cut at or below the
        // ceiling separates the same examples.
        let next = order.get(rank + 1).map(|&j| probs[j]);
        if next == Some(probs[i]) {
            continue;
        }
        let lower = next.unwrap_or(0.0);
        if lower >= ceiling {
            continue;
        }
        let p = tp as f64 / (tp + fp) as f64;
        let r = tp as f64 / positives as f64;
        let score = f1(p, r);
        if score > best.1 {
            best = (((probs[i] + lower) / 2.0).min(ceiling), score);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn per_label_micro_and_macro_scores() {
        let labels = v(&["a", "b"]);
        let gold = vec![v(&["a"]), v(&["a", "b"]), v(&[]), v(&["b"])];
        let pred = vec![v(&["a"]), v(&["b"]), v(&["a"]), v(&[])];
        let r = evaluate(&labels, &gold, &pred);
        let a = r.per_label["a"];
        assert_eq!((a.precision, a.recall, a.support), (0.5, 0.5, 2));
        let b = r.per_label["b"];
        assert_eq!((b.precision, b.recall, b.support), (1.0, 0.5, 2));
        assert!((r.macro_f1 - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // micro: tp 2, fp 1, fn 2
        assert!((r.micro_f1 - 2.0 * (2.0 / 3.0) * 0.5 / (2.0 / 3.0 + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn threshold_separates_when_it_can() {
        let probs = [0.9, 0.8, 0.35, 0.3, 0.1];
        let gold = [true, true, true, false, false];
        let (t, f) = best_threshold(&probs, &gold, 0.5, 1.0);
        assert!((t - 0.325).abs() < 1e-6, "{t}");
        assert_eq!(f, 1.0);
        assert_eq!(best_threshold(&probs, &[false; 5], 0.5, 1.0), (0.5, 0.0));
    }

    #[test]
    fn threshold_stays_at_or_under_the_ceiling() {
        // Unbounded, the best cut (F1 0.8) sits in the gap between 0.9 and a negative at 0.8.
        let probs = [0.95, 0.9, 0.8, 0.6, 0.4, 0.3];
        let gold = [true, true, false, false, true, false];
        let (t, f) = best_threshold(&probs, &gold, 0.5, 1.0);
        assert!((t - 0.85).abs() < 1e-6 && (f - 0.8).abs() < 1e-12, "{t} {f}");
        // Under a ceiling of 0.5 the best cut is the one between 0.4 and 0.3.
        let (t, f) = best_threshold(&probs, &gold, 0.5, 0.5);
        assert!((t - 0.35).abs() < 1e-6 && (f - 0.75).abs() < 1e-12, "{t} {f}");
        // A gap that straddles the ceiling is cut at the ceiling, which splits it the same way.
        let (t, f) = best_threshold(&[0.9, 0.8, 0.3], &[true, true, false], 0.5, 0.5);
        assert_eq!((t, f), (0.5, 1.0));
    }
}
