//! JSON report: the [`ScoreReport`] fields as documented in docs/report-schema.md.

use crate::score::ScoreReport;

pub fn render(report: &ScoreReport) -> String {
    let mut s =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
