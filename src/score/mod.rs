//! Contract scoring: labelled clauses become a 0-100 score for one side, red flags with
//! evidence, present and missing protections and negotiation notes.
//!
//! The formula (also in docs/scoring.md), for side S, where a label counts when a clause
//! carries it above its threshold and P is the highest such probability in the contract:
//!
//! ```text
//! score = 100
//!       - sum over risk labels (risk < 0 for S)        of 6 * |risk| * P
//!       - sum over missing protections for S            of 5
//!       + min(15, sum over protective labels (risk > 0) of 2 * risk * P)
//! clamped to 0..=100; grade A >= 85, B >= 70, C >= 55, D >= 40, else F.
//! ```
//!
//! A label counts once however many clauses carry it, so a long contract is not punished
//! for repeating itself. Recitals and signature blocks are never flagged.

pub mod engine;
pub mod holder;

use std::path::PathBuf;

use serde::Serialize;

use crate::classify::taxonomy::Side;
use crate::segment::ClauseKind;

/// Points taken per unit of risk of a present risk label, at probability 1.
pub const RISK_POINTS: f64 = 6.0;
/// Points taken per missing protection.
pub const MISSING_POINTS: f64 = 5.0;
/// Points given per unit of protection of a present protective label, at probability 1.
pub const PROTECTION_POINTS: f64 = 2.0;
/// Most points protections can add.
pub const PROTECTION_CAP: f64 = 15.0;
/// Least probability at which a clause carries a label in a report, whatever the
/// label's threshold. Thresholds are tuned for F1 on dev data and can sit far below
/// even odds for rare labels; a reader is shown only what the (calibrated) classifier
/// finds more likely than not.
pub const MIN_PROBABILITY: f32 = 0.5;

/// A label on a clause.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClauseLabel {
    pub label: String,
    pub probability: f32,
    /// Who benefits, when the clause names the parties by role (see [`holder`]): for a
    /// right one party holds (to terminate, to change the terms), the side the clause
    /// gives it to; for a licence, its licensee; for an AI restriction, the side it
    /// protects (the other side from the one it binds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_by: Option<Side>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoredClause {
    pub index: usize,
    pub section: Option<String>,
    pub heading: Option<String>,
    pub kind: ClauseKind,
    pub page: Option<u32>,
    /// Byte range in the document text.
    pub span: std::ops::Range<usize>,
    pub text: String,
    /// Labels above their thresholds, most probable first.
    pub labels: Vec<ClauseLabel>,
}

/// A phrase in a clause that carries a label's risk: byte offsets into the clause text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RedFlag {
    pub label: String,
    pub name: String,
    pub group: String,
    /// Risk for the chosen side, -3..-1.
    pub risk: i8,
    pub clause_index: usize,
    pub section: Option<String>,
    pub page: Option<u32>,
    pub probability: f32,
    pub text: String,
    pub evidence: Vec<Evidence>,
    pub why: String,
    pub suggestion: String,
    /// Points this flag takes off the score (0 when another clause already counted
    /// for the same label).
    pub points: f64,
}

/// A protective label found in the contract.
#[derive(Debug, Clone, Serialize)]
pub struct Protection {
    pub label: String,
    pub name: String,
    pub clause_index: usize,
    pub probability: f32,
    pub points: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissingProtection {
    pub id: String,
    /// The protective label whose absence is reported (the first of the rule's list).
    pub label: String,
    pub why: String,
    pub suggestion: String,
    pub points: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NegotiationNote {
    pub id: String,
    pub text: String,
    /// The labels present that triggered the note.
    pub because_of: Vec<String>,
}

/// Risk per taxonomy group, for the chart.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryRisk {
    pub group: String,
    pub name: String,
    /// Points lost to red flags in this group.
    pub points_lost: f64,
    pub flags: usize,
}

/// How the score was reached, term by term.
#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    pub start: f64,
    pub risk_points: f64,
    pub missing_points: f64,
    pub protection_points: f64,
}

/// The scored contract. Field names are the stable JSON schema (docs/report-schema.md).
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    pub file: PathBuf,
    pub format: crate::read::Format,
    pub side: Side,
    pub score: u32,
    pub grade: char,
    pub breakdown: Breakdown,
    pub clauses: Vec<ScoredClause>,
    pub red_flags: Vec<RedFlag>,
    pub protections: Vec<Protection>,
    pub missing_protections: Vec<MissingProtection>,
    pub notes: Vec<NegotiationNote>,
    pub categories: Vec<CategoryRisk>,
    pub warnings: Vec<String>,
    /// The document text the clause spans point into.
    #[serde(skip)]
    pub document_text: String,
}

/// Letter grade of a score.
pub fn grade(score: u32) -> char {
    match score {
        85.. => 'A',
        70..=84 => 'B',
        55..=69 => 'C',
        40..=54 => 'D',
        _ => 'F',
    }
}
