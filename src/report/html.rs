//! (placeholder, replaced by the full renderer)

use crate::classify::taxonomy::Taxonomy;
use crate::score::ScoreReport;

pub fn render(report: &ScoreReport, _taxonomy: &Taxonomy) -> String {
    format!("<!doctype html><title>{}</title><p>{}</p>\n", report.file.display(), report.score)
}
