//! Scoring rules that read the clause beyond the classifier's labels: rights one party
//! holds (to terminate, to change the terms) are read for the party the clause gives them
//! to, and a clause that only denies a right does not carry it. Built from a short
//! licence written for this test, with hand-chosen classifier probabilities.

use std::path::Path;

use termscore::classify::taxonomy::{Side, Taxonomy};
use termscore::read::{self, BlockKind, Format as DocFormat};
use termscore::score::{engine, ScoreReport};
use termscore::segment::{self, SegmentOptions};

const LABELS: [&str; 5] = [
    "unilateral_termination",
    "termination_for_convenience",
    "governing_law",
    "derivative_works",
    "license_broad_purpose",
];

const CLAUSES: [(&str, [f32; 5]); 8] = [
    (
        "1. Client may terminate this Agreement at any time, for any reason, without notice.",
        [0.92, 0.80, 0.01, 0.01, 0.01],
    ),
    (
        "2. Licensor may terminate this Agreement immediately by written notice if Licensee \
         uploads the Images to any artificial intelligence service in breach of clause 4.",
        [0.88, 0.02, 0.01, 0.01, 0.01],
    ),
    (
        "3. Either party may terminate this Agreement at any time on thirty (30) days' \
         written notice to the other party.",
        [0.75, 0.90, 0.01, 0.01, 0.01],
    ),
    (
        "4. This Agreement is governed by the laws of England and Wales.",
        [0.01, 0.01, 0.95, 0.01, 0.01],
    ),
    (
        "5. Licensee may crop the Images. Licensee shall not otherwise alter, retouch or \
         create derivative works of the Images without Licensor's written approval.",
        [0.01, 0.01, 0.01, 0.90, 0.01],
    ),
    (
        "6. Licensee may adapt, translate and create derivative works of the Images for its \
         future campaigns.",
        [0.01, 0.01, 0.01, 0.90, 0.01],
    ),
    (
        "7. Licensee shall use the Images for the Campaign and for no other purpose.",
        [0.01, 0.01, 0.01, 0.01, 0.85],
    ),
    (
        "8. Licensee may use the Images for any purpose whatsoever, in all media.",
        [0.01, 0.01, 0.01, 0.01, 0.85],
    ),
];

fn report(side: Side) -> ScoreReport {
    let taxonomy = Taxonomy::bundled();
    let doc = read::from_paragraphs(
        Path::new("contracts/holder-test.txt"),
        DocFormat::Text,
        CLAUSES.iter().map(|(text, _)| (BlockKind::Paragraph, text.to_string(), None)),
    );
    let clauses = segment::segment(&doc, &SegmentOptions::default());
    assert_eq!(clauses.len(), CLAUSES.len(), "one clause per paragraph");
    let probs: Vec<Vec<f32>> = clauses
        .iter()
        .map(|c| {
            CLAUSES
                .iter()
                .find(|(text, _)| c.text.trim() == *text)
                .unwrap_or_else(|| panic!("clause {:?} is not from the contract", c.text))
                .1
                .to_vec()
        })
        .collect();
    let labels: Vec<String> = LABELS.iter().map(|l| l.to_string()).collect();
    engine::assemble(&doc, clauses, &probs, &labels, &[0.5; 5], &taxonomy, side)
}

/// (section, label, held_by) of every label on every clause.
fn clause_labels(r: &ScoreReport) -> Vec<(String, String, Option<Side>)> {
    r.clauses
        .iter()
        .flat_map(|c| {
            let section = c.section.clone().unwrap_or_default();
            c.labels.iter().map(move |l| (section.clone(), l.label.clone(), l.held_by))
        })
        .collect()
}

#[test]
fn a_termination_right_counts_against_the_side_that_does_not_hold_it() {
    let provider = report(Side::Provider);
    let labels = clause_labels(&provider);
    let has =
        |section: &str, label: &str| labels.iter().find(|(s, l, _)| s == section && l == label);
    // Clause 1: the client's right to end at will, a red flag for the provider.
    assert_eq!(has("1", "unilateral_termination").map(|x| x.2), Some(Some(Side::Client)));
    // Clause 2: the licensor's own remedy for breach of the AI clause.
    assert_eq!(has("2", "unilateral_termination").map(|x| x.2), Some(Some(Side::Provider)));
    // Clause 3: a right for either party is not one-sided, but is still termination
    // for convenience.
    assert!(has("3", "unilateral_termination").is_none(), "{labels:?}");
    assert!(has("3", "termination_for_convenience").is_some(), "{labels:?}");

    let flagged: Vec<(String, &str)> = provider
        .red_flags
        .iter()
        .map(|f| (f.section.clone().unwrap_or_default(), f.label.as_str()))
        .collect();
    assert!(flagged.contains(&("1".into(), "unilateral_termination")), "{flagged:?}");
    assert!(!flagged.contains(&("2".into(), "unilateral_termination")), "{flagged:?}");
    assert!(
        provider
            .protections
            .iter()
            .any(|p| p.label == "unilateral_termination" && p.clause_index == 1),
        "the licensor's termination right protects the provider: {:?}",
        provider.protections
    );

    // For the client the licensor's right is the threat: flagged with the provider-side
    // risk of the usual reading.
    let client = report(Side::Client);
    let flag = client
        .red_flags
        .iter()
        .find(|f| f.label == "unilateral_termination")
        .expect("the client sees the licensor's termination right as a red flag");
    assert_eq!(flag.section.as_deref(), Some("2"));
    assert_eq!(flag.risk, -2);
}

#[test]
fn a_clause_that_denies_a_right_does_not_carry_it() {
    let provider = report(Side::Provider);
    let labels = clause_labels(&provider);
    let on = |section: &str| -> Vec<&str> {
        labels.iter().filter(|(s, ..)| s == section).map(|(_, l, _)| l.as_str()).collect()
    };
    assert!(on("5").is_empty(), "a ban on derivative works is not the right: {:?}", on("5"));
    assert_eq!(on("6"), ["derivative_works"]);
    let flagged: Vec<&str> = provider
        .red_flags
        .iter()
        .filter(|f| f.label == "derivative_works")
        .map(|f| f.section.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(flagged, ["6"]);
    // A licence for any purpose is defined by its phrases: "for no other purpose" has
    // none of them.
    assert!(on("7").is_empty(), "{:?}", on("7"));
    assert_eq!(on("8"), ["license_broad_purpose"]);
}
