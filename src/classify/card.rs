//! Model cards: a trained classifier and its training log become a Markdown card.
//! The held-out results are appended by `termscore eval --card`.

use std::fmt::Write;

use super::dataset::Dataset;
use super::metrics::{four_places, Report};
use super::model::Classifier;
use super::train::TrainLog;

/// Where the training data of the shipped classifier comes from, with the attribution
/// its licences require.
const ATTRIBUTION: &str = "\
## Data and attribution

- **CUAD**: Contract Understanding Atticus Dataset (CUAD) v1, The Atticus Project, Inc.,
  licensed under CC BY 4.0; paper: \"CUAD: An Expert-Annotated NLP Dataset for Legal
  Contract Review\", NeurIPS Datasets and Benchmarks, 2021. Changed: `training/prepare_data.py` cuts the 510 contracts into
  paragraphs, keeps 35 of the 41 categories, samples unlabelled training paragraphs, and
  uses a contract-level split (unofficial; by a hash of the file name).
- **CLAUDETTE** (English part of the multilingual unfair-clause corpus): CC BY 4.0;
  paper: \"Unfair clause detection in terms of service across multiple languages\",
  Artificial Intelligence and Law, 2024. Changed: levels 2
  and 3 (potentially and clearly unfair) become labels, choice_of_law is renamed
  governing_law, privacy_included is dropped; fold 0 is the test set and a quarter of the
  training documents are dev.
- **ACORD**: Atticus Clause Retrieval Dataset, The Atticus Project, CC BY 4.0. Changed:
  clauses rated 3 stars or more for an indemnification query are positives for
  `indemnification`.
- **Project annotations** (`data/annotations/`, Apache-2.0): clauses written for the
  project for the ten creator and AI labels; the test part was written separately.
- Unlabelled CUAD and CLAUDETTE training and dev rows also serve as negatives for the ten
  project labels, except for a label whose cue words the row contains (for example a
  \"perpetual licence to use\" your posts is left out of `license_broad_purpose`),
  since nobody annotated those rows for it.

";

/// The training part of a model card.
pub fn training_card(
    model: &Classifier,
    log: &TrainLog,
    train: &[Dataset],
    dev: &[Dataset],
) -> String {
    let mut s = String::new();
    let m = &model.meta;
    let _ = writeln!(s, "# TermScore clause classifier\n");
    let _ = writeln!(
        s,
        "Multi-label classifier over {} clause labels (see `data/taxonomy.toml`). Two models \
         are trained apart and mixed per label: (1) a class-weighted logistic regression per \
         label over TF-IDF features of the clause ({} terms: words and word pairs seen in at \
         least two training texts, character 3- to 5-grams inside words seen in at least \
         three; terms inside a negation kept apart), solved to convergence with L-BFGS \
         (C = {}); (2) a head over the token \
         states of the encoder `{}` (weights sha256 `{}`): label-wise attention \
         (attention size {}) plus a linear layer over the mean-pooled embedding, trained with \
         AdamW and early stopping on dev. For each label with at least three dev positives a \
         logistic regression on the dev examples weighs the two logits, which also \
         calibrates the probability; each label's threshold is then tuned on dev for F1, at no \
         more than 0.5.\n",
        m.labels.len(),
        model.lexicon.len(),
        m.training["options"]["linear"]["c"].as_f64().unwrap_or(f64::NAN),
        m.encoder.name,
        &m.encoder.sha256[..12.min(m.encoder.sha256.len())],
        m.head.attn_dim,
    );
    if let Some(t) = &m.tuned {
        let _ = writeln!(
            s,
            "The encoder is not frozen all the way up: its top {} layers (of {}) were \
             fine-tuned with the head (AdamW, learning rate {}, gradients clipped to norm 1), \
             over cached outputs of its first {} layers, and ship in `head.safetensors` \
             (`tuned.*`). At prediction time the encoder runs its first {} layers and the \
             tuned layers run above them.\n",
            t.layers,
            t.from_layer + t.layers,
            m.training["options"]["tune_lr"].as_f64().unwrap_or(f64::NAN),
            t.from_layer,
            t.from_layer,
        );
    }
    s.push_str(ATTRIBUTION);
    let _ = writeln!(s, "## Training\n");
    let _ = writeln!(s, "| file | examples | labels annotated |\n|---|---|---|");
    for set in train.iter().chain(dev) {
        let role = if train.iter().any(|t| std::ptr::eq(t, set)) { "train" } else { "dev" };
        let _ = writeln!(
            s,
            "| `{}` ({role}) | {} | {} |",
            set.path.display(),
            set.examples.len(),
            set.scope.len()
        );
    }
    let _ = writeln!(
        s,
        "\n{} training and {} dev examples; best epoch {} of {} by dev macro-F1 at each \
         label's best cut (out of fold; of the mixed model kept: {}, and {} at the thresholds \
         shipped, tuned at no more than 0.5), {:.0} s in all. Settings: `{}`.\n",
        log.train_examples,
        log.dev_examples,
        log.best_epoch,
        log.epochs.len(),
        four_places(log.dev_best_f1),
        four_places(log.dev_macro_f1),
        log.seconds,
        m.training.get("options").map(|o| o.to_string()).unwrap_or_default()
    );
    let _ = writeln!(
        s,
        "| epoch | train loss | dev macro-F1, best cuts | dev macro-F1 | seconds |\n|---|---|---|---|---|"
    );
    for e in &log.epochs {
        let _ = writeln!(
            s,
            "| {} | {:.4} | {} | {} | {:.0} |",
            e.epoch,
            e.train_loss,
            four_places(e.dev_best_f1),
            four_places(e.dev_macro_f1),
            e.seconds
        );
    }
    s
}

/// A Markdown table of an evaluation report.
pub fn report_table(title: &str, report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "### {title}\n");
    let _ = writeln!(
        s,
        "{} examples; micro-F1 {:.3}, macro-F1 {:.3} over {} labels{}.\n",
        report.examples,
        report.micro_f1,
        report.macro_f1,
        report.per_label.len(),
        if report.left_out.is_empty() {
            String::new()
        } else {
            format!(
                " with at least {} test positives (left out: {})",
                report.min_support,
                report.left_out.join(", ")
            )
        }
    );
    let _ = writeln!(s, "| label | precision | recall | F1 | support |\n|---|---|---|---|---|");
    for (label, r) in &report.per_label {
        let _ = writeln!(
            s,
            "| {label} | {:.3} | {:.3} | {:.3} | {} |",
            r.precision, r.recall, r.f1, r.support
        );
    }
    s
}
