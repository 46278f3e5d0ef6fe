//! Why a session ended badly.

use crate::message::DecodeError;
use crate::rules::ScopeViolation;

/// A reason to close a session. Nothing from a session that ends this way is stored
/// beyond what was already acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// A frame did not decode.
    #[error("bad frame from peer: {0}")]
    Decode(#[from] DecodeError),
    /// The peer broke the protocol's order or rules.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer sent or asked for a record outside the shared scope.
    #[error("out of scope: {0}")]
    Scope(#[from] ScopeViolation),
    /// Set reconciliation failed.
    #[error("reconciliation failed: {0}")]
    Reconcile(String),
    /// The peer sent what no honest node sends (a forged or unauthorised change); the
    /// store refused it and nothing of it was stored.
    #[error("refused: {0}")]
    Refused(String),
    /// The peer ended the session.
    #[error("peer closed the session: {0}")]
    PeerClosed(String),
}
