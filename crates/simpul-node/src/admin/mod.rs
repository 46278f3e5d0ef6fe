//! The admin API: a Unix socket in the data directory through which the CLI reads and
//! writes a running node's store and asks about its sync. Only the node's owner can reach
//! it; nothing of it is on the network.
//!
//! Requests are carried out by [`ops::execute`], which the CLI also calls directly on a
//! stopped node's store, so a command behaves the same either way.

pub mod client;
pub mod ops;
pub mod protocol;
pub mod queries;
pub mod server;

use std::path::{Path, PathBuf};

pub use client::{AdminClient, CallError};
pub use protocol::{
    Answer, BundlePeer, BundleWritten, Caller, DEFAULT_PAGE, FacilityHeard, Failure, FailureKind,
    MAX_PAGE, NodeStatus, NodeSummary, PatientEdit, Progress, RecordConflicts, RecordHistory,
    Reply, Request, RevocationsView, StoredRecord, TrustStatus, Via, Written,
};
pub use server::LocalChange;

/// The socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "admin.sock";

/// Where the admin socket of the node on `data_dir` lives.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}
