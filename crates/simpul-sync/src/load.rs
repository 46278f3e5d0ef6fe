//! Reading a record's bytes from a peer (a session's message, a bundle's entry) without
//! trusting them: bounded inflation, and a panic inside Automerge is a refusal.

use simpul_model::automerge::{Automerge, AutomergeError};
use simpul_model::inflation;

/// Why a peer's record bytes were not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes inflate beyond what any record does: hostile, not damaged.
    #[error("{0}")]
    Bomb(String),
    /// They do not parse or load (what a damaged disk at the sender makes).
    #[error("{0}")]
    Unreadable(String),
}

/// Loads `bytes` as one document.
pub fn load_record(bytes: &[u8]) -> Result<Automerge, LoadError> {
    match inflation::check(bytes, inflation::MAX_INFLATED) {
        Err(e @ inflation::InflationError::TooLarge { .. }) => Err(LoadError::Bomb(e.to_string())),
        Err(e) => Err(LoadError::Unreadable(e.to_string())),
        Ok(()) => {
            guarded(|| Automerge::load(bytes)).map_err(|e| LoadError::Unreadable(e.to_string()))
        }
    }
}

/// Runs an Automerge call, turning a panic in it into an error.
pub(crate) fn guarded<T>(
    f: impl FnOnce() -> Result<T, AutomergeError>,
) -> Result<T, AutomergeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(AutomergeError::Fail))
}
