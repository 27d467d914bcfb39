//! Process exit codes, one meaning each.

/// What the process tells its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything ran and nothing fell below a requested threshold.
    Clean = 0,
    /// A scored file fell below `--fail-under`.
    BelowThreshold = 1,
    /// A file, a model or the command line was bad; the message says which.
    Error = 2,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}
