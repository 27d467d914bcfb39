//! (placeholder, replaced by the full renderer)

use crate::score::ScoreReport;

pub fn render(report: &ScoreReport, _style: super::Style) -> String {
    format!("{} score {} ({})\n", report.file.display(), report.score, report.grade)
}
