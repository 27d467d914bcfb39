//! The label taxonomy: `data/taxonomy.toml` becomes the list of clause labels with their
//! definitions, risk for each side, evidence patterns and advice, plus the rules for
//! missing protections and negotiation notes.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;

/// The side of the contract a score is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The freelancer, studio or licensor who delivers work or grants rights.
    Provider,
    /// The agency or company receiving the work or rights.
    Client,
}

impl Side {
    /// The other side of the contract.
    pub fn other(self) -> Side {
        match self {
            Side::Provider => Side::Client,
            Side::Client => Side::Provider,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Provider => "provider",
            Side::Client => "client",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
pub struct Risk {
    pub provider: i8,
    pub client: i8,
}

impl Risk {
    pub fn for_side(&self, side: Side) -> i8 {
        match side {
            Side::Provider => self.provider,
            Side::Client => self.client,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelDef {
    pub id: String,
    pub name: String,
    pub group: String,
    pub source: String,
    pub definition: String,
    pub risk: Risk,
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Whether a definition ("X" means ...) can carry this label for scoring. A
    /// definition grants, bans and allocates nothing by itself, so by default its labels
    /// neither flag nor protect; a label about the scope of a defined term (a "Permitted
    /// Use", a "Work Product" that sweeps in every draft) sets this.
    #[serde(default)]
    pub counts_in_definitions: bool,
    /// Whether the label is a right one party holds (to terminate, to change the terms).
    /// Its `risk` is written for the usual holder, the side the right benefits; a clause
    /// that gives the right to the other side is scored the other way round.
    #[serde(default)]
    pub held_right: bool,
    /// Whether the label describes a licence, read for who grants it. Its `risk` is
    /// written for the usual grantor, the provider; a licence the client grants (a
    /// licence back to the designer for its portfolio) scores nothing, and is neither the
    /// provider's purpose limitation nor a grant of the provider's work.
    #[serde(default)]
    pub granted: bool,
    /// Whether the label is a restriction on using the provider's work, read for the
    /// party it binds. Its `risk` is written for the client it usually binds; a clause
    /// that binds the provider (a vendor promising not to train models on the customer's
    /// data) restricts use of the client's material, scores nothing, and is not the
    /// provider's protection.
    #[serde(default)]
    pub binds_client: bool,
    /// Whether the label means one party alone holds the right, so that a clause giving
    /// it to either party is not this label.
    #[serde(default)]
    pub one_sided: bool,
    /// Whether a clause that denies the right is not this label: when every piece of
    /// evidence for it sits inside a negation ("shall not create derivative works", "are
    /// not works made for hire"), the clause is the ban, not the grant.
    #[serde(default)]
    pub negation_reverses: bool,
    /// Whether the label is defined by its phrases ("for any purpose", "in all media now
    /// known or hereafter devised"), so that a clause with no evidence for it does not
    /// carry it: "for no other purpose" is not a licence for any purpose.
    #[serde(default)]
    pub needs_evidence: bool,
    /// Words that define the label, one of which a clause must contain to carry it:
    /// whom a non-solicitation protects (employees, not clients), or the carve-out that
    /// leaves a liability uncapped, the promise that makes an indemnity. Patterns as for
    /// `evidence`; a match of any counts, and the clause's evidence alone does not.
    #[serde(default)]
    pub requires: Vec<String>,
    /// Conditions that make a clause something else unless its evidence says otherwise:
    /// a right to terminate on the other side's breach is termination for cause, not for
    /// convenience. A clause matching one of these, with no evidence for the label
    /// outside the match, does not carry the label.
    #[serde(default)]
    pub not_when: Vec<String>,
    /// For a label a definition can carry (`counts_in_definitions`): the labels a clause
    /// using the defined term must carry for the definition to keep it. A definition of
    /// drafts that the only clause naming them leaves with the creator transfers nothing.
    #[serde(default)]
    pub definition_used_by: Vec<String>,
    pub why_provider: Option<String>,
    pub suggest_provider: Option<String>,
    pub why_client: Option<String>,
    pub suggest_client: Option<String>,
}

impl LabelDef {
    pub fn why(&self, side: Side) -> Option<&str> {
        match side {
            Side::Provider => self.why_provider.as_deref(),
            Side::Client => self.why_client.as_deref(),
        }
    }

    pub fn suggestion(&self, side: Side) -> Option<&str> {
        match side {
            Side::Provider => self.suggest_provider.as_deref(),
            Side::Client => self.suggest_client.as_deref(),
        }
    }
}

/// A protection the whole contract should contain for one side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MissingRule {
    pub id: String,
    pub side: Side,
    /// Present if any of these labels is present.
    pub protective_labels: Vec<String>,
    /// The rule applies only when one of these labels is present (empty: always).
    #[serde(default)]
    pub when_any: Vec<String>,
    pub why: String,
    pub suggestion: String,
}

/// Advice shown when a label appears.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub id: String,
    pub side: Side,
    pub when_any: Vec<String>,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    #[serde(default)]
    group: Vec<Group>,
    label: Vec<LabelDef>,
    #[serde(default)]
    missing: Vec<MissingRule>,
    #[serde(default)]
    note: Vec<Note>,
}

#[derive(Debug, thiserror::Error)]
pub enum TaxonomyError {
    #[error("failed to read `{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{path}` is not a valid taxonomy: {detail}")]
    Invalid { path: PathBuf, detail: String },
}

/// The parsed taxonomy with compiled evidence patterns.
#[derive(Debug, Clone)]
pub struct Taxonomy {
    pub groups: Vec<Group>,
    pub labels: Vec<LabelDef>,
    pub missing: Vec<MissingRule>,
    pub notes: Vec<Note>,
    evidence: Vec<Vec<Regex>>,
    requires: Vec<Vec<Regex>>,
    not_when: Vec<Vec<Regex>>,
    by_id: BTreeMap<String, usize>,
}

/// The taxonomy bundled with the binary (data/taxonomy.toml at build time).
pub const BUNDLED: &str = include_str!("../../data/taxonomy.toml");

impl Taxonomy {
    pub fn bundled() -> Self {
        Self::parse(BUNDLED, Path::new("data/taxonomy.toml"))
            .unwrap_or_else(|e| panic!("the bundled taxonomy is checked by tests: {e}"))
    }

    pub fn load(path: &Path) -> Result<Self, TaxonomyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TaxonomyError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, TaxonomyError> {
        let invalid = |detail: String| TaxonomyError::Invalid { path: path.to_path_buf(), detail };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if file.version != 1 {
            return Err(invalid(format!("unsupported version {}", file.version)));
        }
        let mut by_id = BTreeMap::new();
        let groups: HashSet<&str> = file.group.iter().map(|g| g.id.as_str()).collect();
        let mut evidence = Vec::with_capacity(file.label.len());
        let mut requires = Vec::with_capacity(file.label.len());
        let mut not_when = Vec::with_capacity(file.label.len());
        for (i, label) in file.label.iter().enumerate() {
            if by_id.insert(label.id.clone(), i).is_some() {
                return Err(invalid(format!("label `{}` is defined twice", label.id)));
            }
            if !groups.is_empty() && !groups.contains(label.group.as_str()) {
                return Err(invalid(format!(
                    "label `{}` names unknown group `{}`",
                    label.id, label.group
                )));
            }
            for side in [Side::Provider, Side::Client] {
                if label.risk.for_side(side) < 0
                    && (label.why(side).is_none() || label.suggestion(side).is_none())
                {
                    return Err(invalid(format!(
                        "label `{}` is a risk for the {} but lacks why_{} or suggest_{}",
                        label.id,
                        side.as_str(),
                        side.as_str(),
                        side.as_str()
                    )));
                }
            }
            let compile = |field: &str, patterns: &[String]| {
                patterns
                    .iter()
                    .map(|p| {
                        Regex::new(p).map_err(|e| {
                            invalid(format!("label `{}`: bad {field} pattern: {e}", label.id))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            };
            evidence.push(compile("evidence", &label.evidence)?);
            requires.push(compile("requires", &label.requires)?);
            not_when.push(compile("not_when", &label.not_when)?);
        }
        let known = |id: &str| by_id.contains_key(id);
        for label in &file.label {
            if let Some(id) = label.definition_used_by.iter().find(|id| !known(id)) {
                return Err(invalid(format!(
                    "label `{}`: definition_used_by names unknown label `{id}`",
                    label.id
                )));
            }
        }
        for rule in &file.missing {
            for id in rule.protective_labels.iter().chain(&rule.when_any) {
                if !known(id) {
                    return Err(invalid(format!(
                        "missing-protection rule `{}` names unknown label `{id}`",
                        rule.id
                    )));
                }
            }
        }
        for note in &file.note {
            for id in &note.when_any {
                if !known(id) {
                    return Err(invalid(format!("note `{}` names unknown label `{id}`", note.id)));
                }
            }
        }
        Ok(Self {
            groups: file.group,
            labels: file.label,
            missing: file.missing,
            notes: file.note,
            evidence,
            requires,
            not_when,
            by_id,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&LabelDef> {
        self.index(id).map(|i| &self.labels[i])
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|l| l.id.as_str())
    }

    /// Whether the clause does not carry the label whatever the classifier says: the
    /// label `needs_evidence` and the clause has none; it `requires` words the clause
    /// lacks; the clause matches a `not_when` condition and has no evidence outside it;
    /// or the label is `negation_reverses` and every piece of its evidence starts inside
    /// a negation.
    pub fn denied(&self, label: usize, text: &str) -> bool {
        let def = &self.labels[label];
        let required = &self.requires[label];
        let excluding = &self.not_when[label];
        if !def.negation_reverses
            && !def.needs_evidence
            && required.is_empty()
            && excluding.is_empty()
        {
            return false;
        }
        let mut spans = self.evidence_spans(label, text);
        if !excluding.is_empty() {
            // Evidence inside an excluding condition is part of it ("modify the scope of
            // work" is an amendment, not a right to adapt the work).
            let excluded: Vec<_> =
                excluding.iter().flat_map(|re| re.find_iter(text).map(|m| m.range())).collect();
            if !excluded.is_empty() {
                spans.retain(|s| !excluded.iter().any(|e| e.start <= s.start && s.start < e.end));
                if spans.is_empty() {
                    return true;
                }
            }
        }
        if !required.is_empty() && !required.iter().any(|re| re.is_match(text)) {
            return true;
        }
        if spans.is_empty() {
            return def.needs_evidence;
        }
        if !def.negation_reverses {
            return false;
        }
        let negated = crate::classify::lexical::negated_ranges(text);
        spans.iter().all(|s| negated.iter().any(|n| n.start <= s.start && s.start < n.end))
    }

    /// Byte ranges in `text` where the label's evidence patterns match, merged and sorted.
    pub fn evidence_spans(&self, label: usize, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut spans: Vec<std::ops::Range<usize>> = self.evidence[label]
            .iter()
            .flat_map(|re| re.find_iter(text).map(|m| m.range()))
            .collect();
        spans.sort_by_key(|r| (r.start, r.end));
        let mut merged: Vec<std::ops::Range<usize>> = Vec::new();
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
                _ => merged.push(span),
            }
        }
        merged
    }
}
