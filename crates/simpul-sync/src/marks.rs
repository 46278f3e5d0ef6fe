//! Names of the store marks sync keeps per peer, read by the daemon and by bundles.

use simpul_model::FacilityPath;

/// The mark holding the content time (seconds) up to which this node and `peer` were
/// last in sync.
pub fn since_mark(peer: &FacilityPath) -> String {
    format!("{SINCE_MARK}{peer}")
}

/// The prefix of [`since_mark`]s.
pub const SINCE_MARK: &str = "sync-since/";
