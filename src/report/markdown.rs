//! (placeholder, replaced by the full renderer)

use crate::score::ScoreReport;

pub fn render(report: &ScoreReport) -> String {
    format!("{} score {} ({})\n", report.file.display(), report.score, report.grade)
}
