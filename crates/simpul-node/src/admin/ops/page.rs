//! Pages of a list: the limit a request may ask for, and where the next page starts.

use super::super::protocol::{DEFAULT_PAGE, MAX_PAGE};
use super::{Failure, FailureKind};

/// The rows a page holds: `requested`, or [`DEFAULT_PAGE`]; refused outside 1 to
/// [`MAX_PAGE`].
pub(super) fn limit(requested: Option<u32>) -> Result<usize, Failure> {
    match requested.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n as usize),
        n => Err(Failure::new(
            FailureKind::Rejected,
            format!("limit: {n} is not between 1 and {MAX_PAGE}"),
        )),
    }
}

/// Where the page after `keys` starts: its last key when the page is full (more may
/// follow), none when it ended the list.
pub(super) fn next<K: Clone>(keys: &[K], limit: usize) -> Option<K> {
    (keys.len() == limit)
        .then(|| keys.last().cloned())
        .flatten()
}
