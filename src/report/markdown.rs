//! (placeholder, replaced by the full renderer)

use crate::classify::taxonomy::Taxonomy;
use crate::score::ScoreReport;

pub fn render(report: &ScoreReport, _taxonomy: &Taxonomy) -> String {
    format!("{} score {} ({})\n", report.file.display(), report.score, report.grade)
}
