//! The `termscore` binary: parses the command line and dispatches to a command.

use clap::Parser;

mod cli;
mod commands;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli::init_logging(&cli.global);
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                termscore::exit::ExitCode::Clean
            } else {
                eprintln!("error: {err:#}");
                termscore::exit::ExitCode::Error
            }
        }
    };
    code.into()
}

/// A reader that closed our stdout early (`| head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
