//! Exit codes, stable across commands (README "Exit codes").

/// Success; for `plan --detailed-exitcode`: no changes.
pub const OK: u8 = 0;
/// Findings (`validate --strict` warnings), drift (`render --check`) or a
/// failed operation.
pub const FAILURE: u8 = 1;
/// Invalid input or usage: a topology that does not validate, a bad flag.
pub const INVALID: u8 = 2;

/// `plan --detailed-exitcode`: the plan has changes (errors are then 1).
pub const CHANGES: u8 = 2;
/// `--timeout` expired (the code of coreutils' `timeout`).
pub const TIMED_OUT: u8 = 124;
/// deploy/destroy stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
/// stdout or stderr was closed before oailb finished writing (`| head`):
/// 128 + SIGPIPE, as shells report it for `cat`. See [`crate::closed_output`].
pub const CLOSED_OUTPUT: u8 = 141;

/// An error that ends the command with a specific exit code. Other errors
/// exit with [`FAILURE`].
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ExitError {
    pub code: u8,
    pub message: String,
}

impl ExitError {
    pub fn usage(message: impl Into<String>) -> Self {
        ExitError {
            code: INVALID,
            message: message.into(),
        }
    }
}
