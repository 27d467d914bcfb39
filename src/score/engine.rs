//! The scoring engine: a document, its clauses and their label probabilities become a
//! [`ScoreReport`]. [`Scorer`] holds the loaded models, so a bulk scan or a server loads
//! them once and scores many documents.

use std::cell::LazyCell;
use std::collections::BTreeMap;
use std::path::Path;

use super::holder::{self, Holder};
use super::*;
use crate::classify::model::{Classifier, ModelError};
use crate::classify::taxonomy::{LabelDef, Side, Taxonomy};
use crate::encode::Encoder;
use crate::read::{self, Document, ReadError, ReadOptions};
use crate::segment::{self, Clause, SegmentOptions, TokenCounter};

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("no clauses found in the document")]
    NoClauses,
}

/// Loaded models and settings for scoring many documents.
pub struct Scorer {
    pub classifier: Classifier,
    pub encoder: Encoder,
    pub taxonomy: Taxonomy,
    pub read_options: ReadOptions,
}

/// Counts tokens with the encoder's own tokenizer.
struct EncoderTokens<'a>(&'a Encoder);

impl TokenCounter for EncoderTokens<'_> {
    fn count(&self, text: &str) -> usize {
        self.0.count_tokens(text)
    }
}

impl Scorer {
    /// Reads, segments, classifies and scores one file.
    pub fn score_path(&self, path: &Path, side: Side) -> Result<ScoreReport, ScoreError> {
        let doc = read::read_path(path, &self.read_options)?;
        self.score_document(&doc, side)
    }

    pub fn score_document(&self, doc: &Document, side: Side) -> Result<ScoreReport, ScoreError> {
        let counter = EncoderTokens(&self.encoder);
        let opts = SegmentOptions { counter: &counter, ..SegmentOptions::default() };
        let clauses = segment::segment(doc, &opts);
        if clauses.is_empty() {
            return Err(ScoreError::NoClauses);
        }
        let texts: Vec<&str> = clauses.iter().map(|c| c.text.as_str()).collect();
        let predictions = self.classifier.predict(&self.encoder, &texts)?;
        let probs: Vec<Vec<f32>> = predictions.into_iter().map(|p| p.probabilities).collect();
        Ok(assemble(
            doc,
            clauses,
            &probs,
            &self.classifier.meta.labels,
            &self.classifier.meta.thresholds,
            &self.taxonomy,
            side,
        ))
    }
}

/// The labels one clause carries: those at or above their threshold (and
/// [`super::MIN_PROBABILITY`]), less those the taxonomy's rules deny from the clause's
/// own words, read for who holds a right, and sorted by probability.
fn clause_labels(
    clause: &Clause,
    p: &[f32],
    labels: &[String],
    thresholds: &[f32],
    taxonomy: &Taxonomy,
) -> Vec<ClauseLabel> {
    let mut on: Vec<ClauseLabel> = labels
        .iter()
        .zip(thresholds)
        .zip(p)
        .filter(|((_, &t), &prob)| prob >= t.max(super::MIN_PROBABILITY))
        .map(|((l, _), &prob)| ClauseLabel { label: l.clone(), probability: prob, held_by: None })
        .collect();
    // Rights one party holds: who holds this one? A right given to either party is
    // not one-sided; one given to the side that usually bears it reads the other way
    // round (see `effective_risk`). Each reading of the parties runs only for a clause
    // with a label that needs it.
    let holder = LazyCell::new(|| holder::holder_of(&clause.text));
    let grantor = LazyCell::new(|| holder::grantor_of(&clause.text));
    let bound = LazyCell::new(|| holder::bound_by(&clause.text));
    on.retain_mut(|cl| {
        let Some(index) = taxonomy.index(&cl.label) else {
            return true;
        };
        // A clause that only denies a right ("shall not create derivative works") is
        // the ban, whatever the classifier makes of its words.
        if taxonomy.denied(index, &clause.text) {
            return false;
        }
        let def = &taxonomy.labels[index];
        if def.granted {
            // A licence is held by the side it is granted to.
            cl.held_by = (*grantor).map(Side::other);
            return true;
        }
        if def.binds_client {
            // A restriction protects the side it does not bind.
            cl.held_by = (*bound).map(Side::other);
            return true;
        }
        if !def.held_right {
            return true;
        }
        match *holder {
            Some(Holder::Mutual) => !def.one_sided,
            Some(Holder::Side(s)) => {
                cl.held_by = Some(s);
                true
            }
            None => true,
        }
    });
    // A definition only defines a term: the clauses that use it grant or ban. Its
    // labels count only where the taxonomy says the definition itself carries the
    // risk (e.g. "Work Product" sweeping in every draft).
    if clause.kind == ClauseKind::Definition {
        on.retain(|cl| {
            taxonomy.index(&cl.label).is_some_and(|i| taxonomy.labels[i].counts_in_definitions)
        });
    }
    on.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(a.label.cmp(&b.label)));
    on
}

/// A definition matters through the clauses that use its term: a label marked
/// `definition_used_by` stays on a definition only when some other clause that names
/// the defined term carries one of the listed labels. "Preliminary Works" means every
/// sketch and working file, but if the only clause naming them says they stay with the
/// designer, the definition hands the client nothing. A definition whose term cannot be
/// found (no quoted term) keeps its labels.
fn drop_unused_definitions(
    mut labelled: Vec<(Clause, Vec<ClauseLabel>)>,
    taxonomy: &Taxonomy,
) -> Vec<(Clause, Vec<ClauseLabel>)> {
    for i in 0..labelled.len() {
        if labelled[i].0.kind != ClauseKind::Definition || labelled[i].1.is_empty() {
            continue;
        }
        let Some(term) = defined_term(&labelled[i].0.text) else { continue };
        let used_with = |wanted: &[String]| {
            labelled.iter().enumerate().any(|(j, (c, on))| {
                j != i
                    && c.kind != ClauseKind::Definition
                    && c.text.contains(term)
                    && on.iter().any(|cl| wanted.contains(&cl.label))
            })
        };
        let unused: Vec<String> = labelled[i]
            .1
            .iter()
            .filter(|cl| {
                taxonomy.get(&cl.label).is_some_and(|d| {
                    !d.definition_used_by.is_empty() && !used_with(&d.definition_used_by)
                })
            })
            .map(|cl| cl.label.clone())
            .collect();
        labelled[i].1.retain(|cl| !unused.contains(&cl.label));
    }
    labelled
}

/// The term a definition defines: its first quoted phrase ("Work Product" means ...).
fn defined_term(text: &str) -> Option<&str> {
    let open = text.find(['"', '\u{201c}'])?;
    let rest = &text[open..];
    let first = rest.chars().next()?.len_utf8();
    let close = rest[first..].find(['"', '\u{201d}'])?;
    let term = rest[first..first + close].trim();
    (!term.is_empty() && term.len() <= 80).then_some(term)
}

/// Builds the report from clauses and their probabilities (`probs[clause][label]`, labels
/// in `labels` order with `thresholds`). Pure: the same inputs give the same report.
pub fn assemble(
    doc: &Document,
    clauses: Vec<Clause>,
    probs: &[Vec<f32>],
    labels: &[String],
    thresholds: &[f32],
    taxonomy: &Taxonomy,
    side: Side,
) -> ScoreReport {
    // The labels each clause carries after the rules that read its own text.
    let labelled: Vec<(Clause, Vec<ClauseLabel>)> = clauses
        .into_iter()
        .zip(probs)
        .map(|(clause, p)| {
            let on = clause_labels(&clause, p, labels, thresholds, taxonomy);
            (clause, on)
        })
        .collect();
    let labelled = drop_unused_definitions(labelled, taxonomy);

    let mut scored = Vec::with_capacity(labelled.len());
    // Highest probability per label over clauses that may carry risk, and where.
    // Keyed by label and whether it is read the other way round (a right held by the
    // side it usually burdens counts apart from the same right held by its usual holder).
    let mut present: BTreeMap<(&str, bool), (f32, usize)> = BTreeMap::new();
    // Labels present in their usual reading (a right held by its usual holder): what the
    // missing-protection rules and the negotiation notes are written for.
    let mut usual: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for (clause, on) in labelled {
        let counts = !matches!(clause.kind, ClauseKind::Recital | ClauseKind::Signature);
        if counts {
            for cl in &on {
                let swapped = is_swapped(taxonomy, cl);
                if !swapped {
                    usual.insert(cl.label.clone());
                }
                let label =
                    labels.iter().find(|l| **l == cl.label).map(String::as_str).unwrap_or("");
                let entry =
                    present.entry((label, swapped)).or_insert((cl.probability, clause.index));
                if cl.probability > entry.0 {
                    *entry = (cl.probability, clause.index);
                }
            }
        }
        scored.push(ScoredClause {
            index: clause.index,
            section: clause.section,
            heading: clause.heading,
            kind: clause.kind,
            page: clause.page,
            span: clause.span,
            text: clause.text,
            labels: if counts { on } else { Vec::new() },
        });
    }

    let mut red_flags = Vec::new();
    let mut protections = Vec::new();
    let mut risk_points = 0.0;
    let mut protection_raw = 0.0;
    let mut categories: BTreeMap<String, CategoryRisk> = BTreeMap::new();
    for clause in &scored {
        for cl in &clause.labels {
            let Some(label_idx) = taxonomy.index(&cl.label) else { continue };
            let def = &taxonomy.labels[label_idx];
            let risk = effective_risk(def, cl.held_by, side);
            let (best_p, best_clause) = present[&(cl.label.as_str(), is_swapped(taxonomy, cl))];
            let counted = best_clause == clause.index && best_p == cl.probability;
            if risk < 0 {
                let points = if counted {
                    RISK_POINTS * (-risk) as f64 * cl.probability as f64
                } else {
                    0.0
                };
                risk_points += points;
                let evidence = taxonomy
                    .evidence_spans(label_idx, &clause.text)
                    .into_iter()
                    .map(|r| Evidence {
                        start: r.start,
                        end: r.end,
                        text: clause.text[r].to_string(),
                    })
                    .collect();
                let group = categories.entry(def.group.clone()).or_insert_with(|| CategoryRisk {
                    group: def.group.clone(),
                    name: taxonomy
                        .groups
                        .iter()
                        .find(|g| g.id == def.group)
                        .map(|g| g.name.clone())
                        .unwrap_or_else(|| def.group.clone()),
                    points_lost: 0.0,
                    flags: 0,
                });
                group.points_lost += points;
                group.flags += 1;
                red_flags.push(RedFlag {
                    label: def.id.clone(),
                    name: def.name.clone(),
                    group: def.group.clone(),
                    risk,
                    clause_index: clause.index,
                    section: clause.section.clone(),
                    page: clause.page,
                    probability: cl.probability,
                    text: clause.text.clone(),
                    evidence,
                    why: def.why(side).unwrap_or_default().to_string(),
                    suggestion: def.suggestion(side).unwrap_or_default().to_string(),
                    points: round2(points),
                });
            } else if risk > 0 && counted {
                let points = PROTECTION_POINTS * risk as f64 * cl.probability as f64;
                protection_raw += points;
                protections.push(Protection {
                    label: def.id.clone(),
                    name: def.name.clone(),
                    clause_index: clause.index,
                    probability: cl.probability,
                    points: round2(points),
                });
            }
        }
    }
    red_flags.sort_by(|a, b| {
        b.points
            .total_cmp(&a.points)
            .then(a.risk.cmp(&b.risk))
            .then(a.clause_index.cmp(&b.clause_index))
            .then(a.label.cmp(&b.label))
    });

    let has = |id: &str| usual.contains(id);
    let mut missing = Vec::new();
    for rule in taxonomy.missing.iter().filter(|r| r.side == side) {
        let applies = rule.when_any.is_empty() || rule.when_any.iter().any(|l| has(l));
        let protected = rule.protective_labels.iter().any(|l| has(l));
        if applies && !protected {
            missing.push(MissingProtection {
                id: rule.id.clone(),
                label: rule.protective_labels.first().cloned().unwrap_or_default(),
                why: rule.why.clone(),
                suggestion: rule.suggestion.clone(),
                points: MISSING_POINTS,
            });
        }
    }
    let notes = taxonomy
        .notes
        .iter()
        .filter(|n| n.side == side)
        .filter_map(|n| {
            let because: Vec<String> = n.when_any.iter().filter(|l| has(l)).cloned().collect();
            (!because.is_empty()).then(|| NegotiationNote {
                id: n.id.clone(),
                text: n.text.clone(),
                because_of: because,
            })
        })
        .collect();

    let missing_points = MISSING_POINTS * missing.len() as f64;
    let protection_points = protection_raw.min(PROTECTION_CAP);
    let raw = 100.0 - risk_points - missing_points + protection_points;
    let score = raw.clamp(0.0, 100.0).round() as u32;
    let mut categories: Vec<CategoryRisk> = categories.into_values().collect();
    for c in &mut categories {
        c.points_lost = round2(c.points_lost);
    }
    categories.sort_by(|a, b| b.points_lost.total_cmp(&a.points_lost).then(a.group.cmp(&b.group)));
    ScoreReport {
        file: doc.path.clone(),
        format: doc.format,
        side,
        score,
        grade: grade(score),
        breakdown: Breakdown {
            start: 100.0,
            risk_points: round2(risk_points),
            missing_points,
            protection_points: round2(protection_points),
        },
        clauses: scored,
        red_flags,
        protections,
        missing_protections: missing,
        notes,
        categories,
        warnings: doc.warnings.clone(),
        document_text: doc.text.clone(),
    }
}

/// A label's risk for `side`, read for who holds the right: the taxonomy's risk when
/// the holder is unknown or usual, the mirror image when the clause gives a right to the
/// side it usually burdens, and none for a licence the client grants or a restriction
/// that binds the provider: the taxonomy scores the use of the provider's work, not of
/// the client's material.
fn effective_risk(def: &LabelDef, held_by: Option<Side>, side: Side) -> i8 {
    if !reads_reversed(def, held_by) {
        def.risk.for_side(side)
    } else if def.granted || def.binds_client {
        0
    } else {
        def.risk.for_side(side.other())
    }
}

/// Whether a clause turns a label round: a right given to the side it usually burdens,
/// a licence granted to the provider rather than by it, or a restriction that binds the
/// provider rather than the client.
fn reads_reversed(def: &LabelDef, held_by: Option<Side>) -> bool {
    match held_by {
        Some(holder) if def.granted => holder == Side::Provider,
        Some(holder) if def.binds_client => holder == Side::Client,
        Some(holder) if def.held_right => def.risk.for_side(holder) < 0,
        _ => false,
    }
}

fn is_swapped(taxonomy: &Taxonomy, cl: &ClauseLabel) -> bool {
    taxonomy.index(&cl.label).is_some_and(|i| reads_reversed(&taxonomy.labels[i], cl.held_by))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
