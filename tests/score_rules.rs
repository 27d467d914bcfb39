//! Scoring rules that read the clause beyond the classifier's labels: rights one party
//! holds (to terminate, to change the terms) are read for the party the clause gives them
//! to, a clause that only denies a right does not carry it, and a label defined by its
//! words needs them. Built from a short licence written for this test, with hand-chosen
//! classifier probabilities, and from single clauses.

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
    let clauses: Vec<(&str, Vec<f32>)> = CLAUSES.iter().map(|(t, p)| (*t, p.to_vec())).collect();
    report_of(&clauses, &LABELS, side)
}

/// Scores a contract of one clause per paragraph, with the given probabilities for
/// `labels` (threshold 0.5 each).
fn report_of(clauses: &[(&str, Vec<f32>)], labels: &[&str], side: Side) -> ScoreReport {
    let taxonomy = Taxonomy::bundled();
    let doc = read::from_paragraphs(
        Path::new("contracts/holder-test.txt"),
        DocFormat::Text,
        clauses.iter().map(|(text, _)| (BlockKind::Paragraph, text.to_string(), None)),
    );
    let segmented = segment::segment(&doc, &SegmentOptions::default());
    assert_eq!(segmented.len(), clauses.len(), "one clause per paragraph");
    let probs: Vec<Vec<f32>> = segmented
        .iter()
        .map(|c| {
            clauses
                .iter()
                .find(|(text, _)| c.text.trim() == *text)
                .unwrap_or_else(|| panic!("clause {:?} is not from the contract", c.text))
                .1
                .clone()
        })
        .collect();
    let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
    let thresholds = vec![0.5; labels.len()];
    engine::assemble(&doc, segmented, &probs, &labels, &thresholds, &taxonomy, side)
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

#[test]
fn labels_defined_by_their_words_need_them() {
    let taxonomy = Taxonomy::bundled();
    let denied = |label: &str, text: &str| {
        taxonomy.denied(taxonomy.index(label).expect("label in the taxonomy"), text)
    };
    // `requires`: whom a non-solicitation protects.
    let customers = "Contributor shall not solicit or accept work from any client, customer or \
                     business partner of Company.";
    assert!(denied("no_solicit_of_employees", customers));
    assert!(!denied(
        "no_solicit_of_employees",
        "Neither party shall solicit for employment any employee of the other party."
    ));
    // `requires`: a carve-out, or liability said to be unlimited.
    assert!(denied(
        "uncapped_liability",
        "IN NO EVENT SHALL EITHER PARTY BE LIABLE FOR ANY INDIRECT, INCIDENTAL OR CONSEQUENTIAL \
         DAMAGES ARISING OUT OF THIS AGREEMENT."
    ));
    assert!(!denied(
        "uncapped_liability",
        "EXCEPT FOR A PARTY'S INDEMNIFICATION OBLIGATIONS, IN NO EVENT SHALL EITHER PARTY BE \
         LIABLE FOR ANY INDIRECT DAMAGES."
    ));
    assert!(!denied(
        "uncapped_liability",
        "The limitation in Section 8.2 shall not apply to a party's indemnification obligations."
    ));
    // `not_when`: a right to end the contract on the other side's breach is for cause,
    // unless the clause also gives a right without one.
    let for_cause = "Either party may terminate this Agreement if the other party materially \
                     breaches it and fails to cure the breach within thirty (30) days after \
                     written notice.";
    assert!(denied("termination_for_convenience", for_cause));
    assert!(!denied(
        "termination_for_convenience",
        "Either party may terminate this Agreement for convenience on thirty days' notice, or \
         immediately if the other party materially breaches it."
    ));
    assert!(!denied(
        "termination_for_convenience",
        "Client may terminate this Agreement on fourteen (14) days' written notice."
    ));
    // A clause that lifts every limit is no cap, unless it caps something too.
    let no_limit = "Contributor's liability under this Agreement shall be without any limit as \
                    to amount and shall not be subject to any limitation or exclusion of \
                    liability.";
    assert!(denied("cap_on_liability", no_limit));
    assert!(denied("limitation_of_liability", no_limit));
    assert!(!denied(
        "cap_on_liability",
        "Each party's total liability shall not exceed the fees paid, but a party's liability \
         for its indemnities shall be without any limit as to amount."
    ));
    // `requires`: an indemnity is a promise; its procedure, or a cap over it, gives none.
    assert!(denied(
        "indemnification",
        "Each indemnity applies only if the indemnified party gives prompt written notice of \
         the claim and allows the indemnifying party to control its defense."
    ));
    assert!(!denied(
        "indemnification",
        "Designer shall indemnify the Agency against any third-party claim that the Final \
         Designs infringe that party's copyright."
    ));
    assert!(!denied(
        "indemnification",
        "Each Member will be indemnified and held harmless by the Venture from any and all \
         damages relating to the Member's participation in Venture affairs."
    ));
    // Labels without such rules are left to the classifier.
    assert!(!denied("governing_law", customers));
}

#[test]
fn a_bad_rule_pattern_is_an_error_naming_the_label() {
    let toml = r#"
version = 1
[[label]]
id = "uncapped_liability"
name = "Uncapped liability"
group = "liability"
source = "cuad"
definition = "No ceiling."
risk = { provider = 0, client = 0 }
requires = ['(unclosed']
"#;
    let err = Taxonomy::parse(toml, Path::new("custom/taxonomy.toml")).unwrap_err().to_string();
    assert!(err.contains("custom/taxonomy.toml"), "{err}");
    assert!(err.contains("uncapped_liability") && err.contains("requires"), "{err}");
}

#[test]
fn a_definition_counts_only_through_a_clause_that_transfers_its_term() {
    let labels = ["data_ownership_broad", "ip_retained_by_creator", "ip_ownership_assignment"];
    let clauses = [
        (
            "1. \"Preliminary Works\" means sketches, alternative concepts and working files that \
             are not part of the Final Deliverables.",
            vec![0.90, 0.01, 0.01],
        ),
        (
            "2. \"Work Product\" means all drafts, data, concepts and materials created under \
             this Agreement, whether or not delivered.",
            vec![0.90, 0.01, 0.01],
        ),
        ("3. The Preliminary Works remain the property of the Designer.", vec![0.01, 0.90, 0.01]),
        (
            "4. The Designer hereby assigns to the Client all right, title and interest in the \
             Work Product.",
            vec![0.01, 0.01, 0.90],
        ),
    ];
    let r = report_of(&clauses, &labels, Side::Provider);
    let on: Vec<(String, String)> =
        clause_labels(&r).into_iter().map(|(section, label, _)| (section, label)).collect();
    // The drafts the designer keeps transfer nothing; the Work Product that is assigned
    // sweeps in every draft.
    assert!(!on.contains(&("1".into(), "data_ownership_broad".into())), "{on:?}");
    assert!(on.contains(&("2".into(), "data_ownership_broad".into())), "{on:?}");
    let flagged: Vec<&str> = r
        .red_flags
        .iter()
        .filter(|f| f.label == "data_ownership_broad")
        .map(|f| f.section.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(flagged, ["2"]);
}

#[test]
fn a_licence_the_client_grants_is_not_the_providers_purpose_limitation() {
    let labels = ["license_grant", "license_limited_purpose", "license_broad_purpose"];
    let grant = (
        "1. The Designer grants the Agency a non-exclusive licence to use the Designs for any \
         purpose in all media.",
        vec![0.95, 0.01, 0.90],
    );
    let licence_back = (
        "2. The Agency grants the Designer a non-exclusive licence to display the Designs in \
         its portfolio and for no other purpose.",
        vec![0.90, 0.85, 0.01],
    );
    let missing = |r: &ScoreReport| -> Vec<String> {
        r.missing_protections.iter().map(|m| m.id.clone()).collect()
    };
    let r = report_of(&[grant.clone(), licence_back.clone()], &labels, Side::Provider);
    let on = clause_labels(&r);
    // The licence back is held by the designer it is granted to, and scores nothing.
    assert!(
        on.contains(&("2".into(), "license_limited_purpose".into(), Some(Side::Provider))),
        "{on:?}"
    );
    assert!(on.contains(&("1".into(), "license_grant".into(), Some(Side::Client))), "{on:?}");
    assert!(r.protections.iter().all(|p| p.clause_index != r.clauses[1].index), "{r:?}");
    assert!(r.red_flags.iter().all(|f| f.section.as_deref() != Some("2")), "{:?}", r.red_flags);
    // So the designer's own licence still lacks a purpose limitation...
    assert!(missing(&r).contains(&"no_purpose_limitation".to_string()), "{:?}", missing(&r));
    // ...which a limit on the licence the designer grants supplies.
    let limited = (
        "3. The Designer's licence to the Agency is limited to the Spring campaign.",
        vec![0.01, 0.90, 0.01],
    );
    let r = report_of(&[grant, licence_back, limited], &labels, Side::Provider);
    assert!(!missing(&r).contains(&"no_purpose_limitation".to_string()), "{:?}", missing(&r));
}

#[test]
fn an_ai_ban_that_binds_the_provider_is_not_the_providers_protection() {
    let labels = ["license_grant", "ai_training_prohibited"];
    let grant = (
        "1. Provider grants Customer a non-exclusive right to use the Platform.",
        vec![0.95, 0.01],
    );
    let vendor_promise = (
        "2. Provider shall process Customer Data only to provide the Platform and shall not use \
         it to train any machine learning model.",
        vec![0.01, 0.95],
    );
    let missing = |r: &ScoreReport| -> Vec<String> {
        r.missing_protections.iter().map(|m| m.id.clone()).collect()
    };
    let r = report_of(&[grant.clone(), vendor_promise], &labels, Side::Provider);
    let on = clause_labels(&r);
    // The ban protects the customer, whose data it keeps out of models, and scores nothing.
    assert!(
        on.contains(&("2".into(), "ai_training_prohibited".into(), Some(Side::Client))),
        "{on:?}"
    );
    assert!(r.protections.is_empty(), "{:?}", r.protections);
    assert!(missing(&r).contains(&"no_ai_training_exclusion".to_string()), "{:?}", missing(&r));
    // The same ban on the customer's use of the provider's work is the exclusion.
    let customer_ban = (
        "3. Customer shall not use the Platform's outputs to train any machine learning model.",
        vec![0.01, 0.95],
    );
    let r = report_of(&[grant, customer_ban], &labels, Side::Provider);
    assert!(r.protections.iter().any(|p| p.label == "ai_training_prohibited"), "{r:?}");
    assert!(!missing(&r).contains(&"no_ai_training_exclusion".to_string()), "{:?}", missing(&r));
}
