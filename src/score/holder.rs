//! Who holds a right: the party that "may terminate" or "may amend" decides whether a
//! termination or change clause threatens the side being scored or protects it.
//!
//! The taxonomy scores such labels for their usual holder (the client or platform that
//! wrote the terms). A clause where the other party holds the right reads the other way
//! round: "Licensor may terminate if Licensee breaches the AI restrictions" is the
//! creator's own remedy, not a risk to the creator. And a right given to either party
//! is not one-sided at all.
//!
//! Parties are recognised by the role words contracts name them with ("Licensor",
//! "Designer", "Client", "Agency", ...), which is how the operative clauses refer to
//! them. A clause whose subject is a company name, "we" or "you" has no known holder
//! and keeps the taxonomy's reading.

use std::sync::OnceLock;

use regex::Regex;

use crate::classify::lexical::negated_ranges;
use crate::classify::taxonomy::Side;

/// Who holds the right a clause grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// One side alone.
    Side(Side),
    /// Either party, each party or both parties.
    Mutual,
}

/// Role words that name the provider: the one who delivers work or grants rights.
const PROVIDER_ROLES: &[&str] = &[
    "licensor",
    "designer",
    "studio",
    "contractor",
    "consultant",
    "creator",
    "artist",
    "photographer",
    "author",
    "illustrator",
    "contributor",
    "vendor",
    "provider",
    "service provider",
    "supplier",
    "developer",
    "freelancer",
    "writer",
    "composer",
    "performer",
    "talent",
];

/// Role words that name the client: the one who receives the work or rights.
const CLIENT_ROLES: &[&str] = &[
    "licensee",
    "client",
    "customer",
    "company",
    "agency",
    "publisher",
    "buyer",
    "purchaser",
    "commissioner",
    "brand",
];

/// Every role word as a regex alternation, longest first so that "service provider" wins
/// over "provider".
fn role_alternation() -> String {
    let mut roles: Vec<&str> = PROVIDER_ROLES.iter().chain(CLIENT_ROLES).copied().collect();
    roles.sort_by_key(|r| std::cmp::Reverse(r.len()));
    roles.join("|").replace(' ', r"\s+")
}

fn subject_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let roles = role_alternation();
        // A subject followed by the verb phrase that grants it a right.
        let pattern = format!(
            r"(?i)\b(?P<subject>(?:either|each|both)\s+(?:party|parties)|{roles})(?:'s)?\s+(?:(?:alone|itself|shall|will|also)\s+)?(?:may|can|might|reserves?\s+the\s+right|(?:shall\s+)?(?:have|has)\s+the\s+right|(?:is|are|shall\s+be)\s+entitled)\b"
        );
        Regex::new(&pattern).unwrap_or_else(|e| panic!("holder pattern: {e}"))
    })
}

/// A known role as the subject of `verb_phrase` (a regex), captured as `subject`.
fn role_subject_regex(verb_phrase: &str) -> Regex {
    let pattern = format!(r"(?i)\b(?P<subject>{})\s+{verb_phrase}", role_alternation());
    Regex::new(&pattern).unwrap_or_else(|e| panic!("role pattern {verb_phrase}: {e}"))
}

/// The role a match captured as `subject`, lower-cased with single spaces.
fn subject_name(caps: &regex::Captures) -> Option<String> {
    let subject = caps.name("subject")?.as_str().to_lowercase();
    Some(subject.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The side of the role a match captured as `subject`.
fn subject_side(caps: &regex::Captures) -> Option<Side> {
    side_of_role(&subject_name(caps)?)
}

fn grantor_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The verb that grants a licence.
    RE.get_or_init(|| {
        role_subject_regex(
            r"(?:(?:hereby|also|shall|will|agrees\s+to)\s+){0,2}(?:grants?|licen[cs]es)\b",
        )
    })
}

/// The side that grants the first licence in a clause ("The Agency grants the Designer
/// a licence ..."), when its subject is a known role.
pub fn grantor_of(text: &str) -> Option<Side> {
    subject_side(&grantor_pattern().captures(text)?)
}

fn side_of_role(role: &str) -> Option<Side> {
    if PROVIDER_ROLES.contains(&role) {
        Some(Side::Provider)
    } else if CLIENT_ROLES.contains(&role) {
        Some(Side::Client)
    } else {
        None
    }
}

fn bound_pattern() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The subject of an obligation ("Provider shall", "Licensee agrees").
    RE.get_or_init(|| {
        role_subject_regex(
            r"(?:(?:also|itself|hereby)\s+)?(?:shall|will|must|may|agrees|undertakes|is\s+not|are\s+not)\b",
        )
    })
}

/// The side a clause's first prohibition binds: the role that is the subject of an
/// obligation with a negation (as [`negated_ranges`] reads them) before the next role
/// subject or the end of the sentence ("Provider shall process Customer Data only to
/// provide the Platform and shall not use it to train ..." binds the provider). None when
/// no known role is so bound.
pub fn bound_by(text: &str) -> Option<Side> {
    let subjects: Vec<_> = bound_pattern().captures_iter(text).collect();
    if subjects.is_empty() {
        return None;
    }
    let negated = negated_ranges(text);
    for (k, caps) in subjects.iter().enumerate() {
        let whole = caps.get(0)?;
        let end = subjects.get(k + 1).and_then(|c| c.get(0)).map_or(text.len(), |m| m.start());
        let scope = &text[whole.start()..end];
        let scope_end = whole.start() + sentence_end(scope, whole.len());
        // A negated range starts just after its cue, so a cue inside the scope opens a
        // range that starts after the subject and no later than the scope's end.
        if negated.iter().any(|r| whole.start() < r.start && r.start <= scope_end) {
            return subject_side(caps);
        }
    }
    None
}

/// The end of the sentence that starts `scope`, looking from byte `from` on: a full stop
/// or semicolon followed by a space (so "U.K." and "1.2" do not end it).
fn sentence_end(scope: &str, from: usize) -> usize {
    let bytes = scope.as_bytes();
    (from..bytes.len())
        .find(|&i| {
            matches!(bytes[i], b'.' | b';')
                && bytes.get(i + 1).is_none_or(|b| b.is_ascii_whitespace())
        })
        .unwrap_or(scope.len())
}

/// The holder of the first right a clause grants, when its subject is a known role.
pub fn holder_of(text: &str) -> Option<Holder> {
    let subject = subject_name(&subject_pattern().captures(text)?)?;
    if subject.contains("part") {
        return Some(Holder::Mutual);
    }
    side_of_role(&subject).map(Holder::Side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prohibition_binds_the_role_that_is_its_subject() {
        let cases = [
            (
                "4.1 As between the parties, Customer owns all Customer Data. Provider shall \
                 process Customer Data only to provide the Platform and shall not use it to \
                 train any machine learning model offered to other customers.",
                Some(Side::Provider),
            ),
            (
                "4.1 No Training. Licensee shall not use the Images, or any part of them, to \
                 train, fine-tune, test or improve any AI System.",
                Some(Side::Client),
            ),
            (
                "Licensee shall pay the fee on signature. Contractor shall never upload the \
                 Client's drawings to an AI service.",
                Some(Side::Provider),
            ),
            ("The Agency agrees not to input the Artwork into any AI tool.", Some(Side::Client)),
            // A possessive names the work, not the party bound.
            ("The Photographer's frames must not be sent to any AI service.", None),
            ("The Images may not be used to train any model.", None),
        ];
        for (text, want) in cases {
            assert_eq!(bound_by(text), want, "{text}");
        }
    }

    #[test]
    fn the_subject_of_the_granting_verb_grants_the_licence() {
        let cases = [
            (
                "4.4 Licence Back. The Agency grants the Designer a non-exclusive licence to \
                 display the Final Deliverables in its portfolio.",
                Some(Side::Client),
            ),
            (
                "5.1 Contributor hereby grants to Company and its Affiliates an exclusive, \
                 perpetual license.",
                Some(Side::Provider),
            ),
            ("The Licensor shall grant the Licensee a licence.", Some(Side::Provider)),
            ("Customer hereby licenses to Provider the Customer Data.", Some(Side::Client)),
            ("The licence is granted solely in connection with the Products.", None),
            ("Acme Corp grants the Client a licence.", None),
        ];
        for (text, want) in cases {
            assert_eq!(grantor_of(text), want, "{text}");
        }
    }

    #[test]
    fn the_subject_of_the_first_granted_right_holds_it() {
        let cases = [
            (
                "9.2 Licensor may terminate this Agreement immediately by written notice if \
                 Licensee breaches Section 4.",
                Some(Holder::Side(Side::Provider)),
            ),
            (
                "7.2 The Agency may terminate this Agreement for convenience at any time on ten \
                 (10) days' written notice.",
                Some(Holder::Side(Side::Client)),
            ),
            (
                "10.1 Company may terminate this Agreement at any time. Contributor may \
                 terminate only upon ninety (90) days' written notice.",
                Some(Holder::Side(Side::Client)),
            ),
            (
                "Either party may terminate this Agreement if the other party materially \
                 breaches it.",
                Some(Holder::Mutual),
            ),
            (
                "The Service Provider reserves the right to suspend the Services.",
                Some(Holder::Side(Side::Provider)),
            ),
            (
                "Customer shall be entitled to end the subscription.",
                Some(Holder::Side(Side::Client)),
            ),
            ("We may suspend your account at any time without notice.", None),
            ("This Agreement may be amended only in writing signed by both parties.", None),
        ];
        for (text, want) in cases {
            assert_eq!(holder_of(text), want, "{text}");
        }
    }
}
