//! Exit codes, and how errors map onto them. Documented in `simpul --help`.

use simpul_node::admin::{CallError, Failure, FailureKind};
use simpul_store::{OpenError, WriteError};

/// Success.
#[allow(dead_code)]
pub(crate) const OK: u8 = 0;
/// Any failure not listed below.
pub(crate) const FAILURE: u8 = 1;
// 2 is clap's: the command line itself was wrong.
/// The data given was rejected (invalid value, out of scope, would rewrite history).
pub(crate) const REJECTED: u8 = 3;
/// The record asked for does not exist.
pub(crate) const NOT_FOUND: u8 = 4;
/// The store could not be used: missing, held by a running node, or too new.
pub(crate) const STORE_UNAVAILABLE: u8 = 5;
/// The command needs a running node and none runs on the data directory.
pub(crate) const NOT_RUNNING: u8 = 6;
/// `verify` found damage.
pub(crate) const DAMAGED: u8 = 7;

/// The text for `--help`.
pub(crate) const HELP: &str = "\
Exit status:
  0  success
  1  failure (the message says what failed)
  2  the command line is wrong
  3  the data was rejected: an invalid value, a record outside this node's scope,
     or a change that would rewrite clinical history; nothing was stored
  4  no such record
  5  the store is unavailable: not created, in use by a running node, or too new
  6  the command needs a running node (peers, sync, log) and none is running
  7  verify found damage (the report says where)";

/// A failure that carries its own exit code.
#[derive(Debug)]
pub(crate) struct Coded {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Builds an error with an exit code.
pub(crate) fn coded(code: u8, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        code,
        message: message.into(),
    })
}

/// The exit code for an error.
pub(crate) fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        let failure =
            cause
                .downcast_ref::<Failure>()
                .or_else(|| match cause.downcast_ref::<CallError>() {
                    Some(CallError::Failed(f)) => Some(f),
                    _ => None,
                });
        if let Some(f) = failure {
            return match f.kind {
                FailureKind::Rejected => REJECTED,
                FailureKind::NotFound => NOT_FOUND,
                FailureKind::NotRunning => NOT_RUNNING,
                FailureKind::BadRequest | FailureKind::Failed | FailureKind::StoreFailed => FAILURE,
            };
        }
        if let Some(e) = cause.downcast_ref::<WriteError>() {
            return match e {
                WriteError::Rejected(_)
                | WriteError::OutOfScope { .. }
                | WriteError::WrongId { .. }
                | WriteError::AlreadyExists(_) => REJECTED,
                WriteError::NotFound(_) => NOT_FOUND,
                _ => FAILURE,
            };
        }
        if let Some(e) = cause.downcast_ref::<OpenError>() {
            return match e {
                OpenError::Missing(_)
                | OpenError::Locked(_)
                | OpenError::TooNew { .. }
                | OpenError::AlreadyExists(_) => STORE_UNAVAILABLE,
                _ => FAILURE,
            };
        }
    }
    FAILURE
}

/// True when the error is a closed stdout (`simpul patient list | head`): not a failure
/// worth a message.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The whole chain on one line: "failed to X: because Y: because Z".
pub(crate) fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}
