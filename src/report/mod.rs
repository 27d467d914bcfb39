//! Reports: a [`ScoreReport`] becomes text for a terminal, JSON, Markdown or a
//! self-contained HTML page.

mod html;
mod json;
mod markdown;
mod text;

use crate::classify::taxonomy::Taxonomy;
use crate::score::ScoreReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Markdown => "md",
            Format::Html => "html",
        }
    }
}

/// Presentation choices that do not change content.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// ANSI colour (text format only).
    pub color: bool,
}

/// Renders a report; the output ends with a newline.
pub fn render(report: &ScoreReport, format: Format, taxonomy: &Taxonomy, style: Style) -> String {
    match format {
        Format::Text => text::render(report, style),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report, taxonomy),
    }
}
