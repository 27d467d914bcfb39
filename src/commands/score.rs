//! `termscore score`: contract files become scored reports. Each file is scored on its
//! own; one bad file is reported and counted, and the rest still run.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use termscore::classify::model::write_atomic;
use termscore::classify::taxonomy::{Side, Taxonomy};
use termscore::exit::ExitCode;
use termscore::read::ReadOptions;
use termscore::report::{self, Format, Style};
use termscore::score::engine::Scorer;

use crate::cli::{ColorChoice, ScoreArgs, ScoreFormat, SideArg};

pub fn run(args: ScoreArgs, color: ColorChoice) -> Result<ExitCode> {
    let side = match args.side {
        SideArg::Provider => Side::Provider,
        SideArg::Client => Side::Client,
    };
    let format = match args.format {
        ScoreFormat::Text => Format::Text,
        ScoreFormat::Json => Format::Json,
        ScoreFormat::Markdown => Format::Markdown,
        ScoreFormat::Html => Format::Html,
    };
    let several = args.files.len() > 1;
    if let Some(out) = &args.output {
        if several {
            std::fs::create_dir_all(out)
                .with_context(|| format!("failed to create `{}`", out.display()))?;
        }
    }
    let loaded = super::classify::load(&args.classifier)?;
    let scorer = Scorer {
        classifier: loaded.classifier,
        encoder: loaded.encoder,
        taxonomy: Taxonomy::bundled(),
        read_options: ReadOptions { max_bytes: args.read.max_bytes },
    };
    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let style = Style { color: use_color(color, to_terminal) };
    let (mut failed, mut below) = (0usize, 0usize);
    for (i, file) in args.files.iter().enumerate() {
        let report = match scorer.score_path(file, side) {
            Ok(report) => report,
            Err(err) => {
                eprintln!("error: `{}`: {err}", file.display());
                failed += 1;
                continue;
            }
        };
        for warning in &report.warnings {
            eprintln!("warning: `{}`: {warning}", file.display());
        }
        let rendered = report::render(&report, format, &scorer.taxonomy, style);
        match &args.output {
            Some(out) => {
                let path = if several { out.join(report_name(file, format)) } else { out.clone() };
                write_atomic(&path, rendered.as_bytes())
                    .with_context(|| format!("failed to write `{}`", path.display()))?;
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                if several && i > 0 && format != Format::Json {
                    writeln!(stdout)?;
                }
                stdout.write_all(rendered.as_bytes())?;
                stdout.flush()?;
            }
        }
        if args.fail_under.is_some_and(|min| report.score < min) {
            eprintln!(
                "`{}`: score {} is below --fail-under {}",
                file.display(),
                report.score,
                args.fail_under.unwrap_or(0)
            );
            below += 1;
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} files could not be scored", args.files.len());
        return Ok(ExitCode::Error);
    }
    Ok(if below > 0 { ExitCode::BelowThreshold } else { ExitCode::Clean })
}

fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// `contract.pdf` -> `contract.pdf.html` (keeps reports of `a.pdf` and `a.docx` apart).
fn report_name(file: &Path, format: Format) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    PathBuf::from(format!("{name}.{}", format.extension()))
}
