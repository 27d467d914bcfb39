//! `termscore segment`: a contract file becomes its list of clauses.

use std::io::Write;

use anyhow::Result;
use termscore::exit::ExitCode;
use termscore::read::{self, ReadOptions};
use termscore::segment::{self, SegmentOptions};

use crate::cli::{SegmentArgs, SegmentFormat};

pub fn run(args: SegmentArgs) -> Result<ExitCode> {
    let opts = ReadOptions { max_bytes: args.read.max_bytes };
    let doc = match read::read_path(&args.file, &opts) {
        Ok(doc) => doc,
        Err(err) => {
            eprintln!("error: `{}`: {err}", args.file.display());
            return Ok(ExitCode::Error);
        }
    };
    for warning in &doc.warnings {
        eprintln!("warning: `{}`: {warning}", args.file.display());
    }
    let counter = super::model::bundled_token_counter();
    let seg_opts = SegmentOptions { counter: counter.as_ref(), ..SegmentOptions::default() };
    let clauses = segment::segment(&doc, &seg_opts);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        SegmentFormat::Json => {
            let value = serde_json::json!({
                "file": args.file.display().to_string(),
                "format": doc.format,
                "clauses": clauses,
            });
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        SegmentFormat::Text => {
            for c in &clauses {
                let section = c.section.as_deref().unwrap_or("-");
                let page = c.page.map(|p| format!(" p.{p}")).unwrap_or_default();
                let heading = c.heading.as_deref().map(|h| format!(" [{h}]")).unwrap_or_default();
                writeln!(out, "#{} {section}{page}{heading} ({:?})", c.index, c.kind)?;
                writeln!(out, "    {}", c.text)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::Clean)
}
