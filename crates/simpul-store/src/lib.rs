//! A node's durable store: every record it holds, in one redb file.
//!
//! This crate owns the file format ([`tables`](crate::tables) documents every table) and
//! the rules that keep it consistent: a record's document, its metadata and its rows in
//! the reconciliation index change in one transaction; a write is acknowledged only
//! after it is durable; one thread owns all writes and batches them ([`writer`]);
//! documents are loaded on demand, never all at start-up. It does not know about
//! networks, peers or sessions, and it never decides what a record means beyond
//! reading its envelope (id, kind, scope) from the model.
//!
//! Storage format: see `docs/storage.md` at the repository root.

mod audit_index;
mod conflicts;
mod damaged;
mod duplicates;
mod error;
mod exchanges;
mod facts;
#[cfg(any(test, feature = "testing"))]
pub mod faults;
mod heard;
mod lookup;
mod maintenance;
mod marks;
mod meta;
mod migrate;
mod read;
mod registry;
mod sequence;
mod store;
mod tables;
mod timings;
mod tokens;
mod trust;
pub mod writer;

pub use audit_index::{AuditCursor, AuditFilter, AuditHit};
pub use damaged::{DamagedEntry, MAX_DAMAGED};
pub use duplicates::DuplicateGroup;
pub use error::{OpenError, ReadError, WriteError};
pub use exchanges::BundleState;
pub use heard::Heard;
pub use maintenance::{BackupError, VerifyReport, compact};
pub use meta::{RecordMeta, Summary};
pub use migrate::SCHEMA_VERSION;
pub use sequence::Sequenced;
pub use store::{
    Census, DB_FILE, NodeInfo, Offer, Offered, PeerData, Store, StoreOptions, StoreTrust, SyncItem,
};
pub use timings::{COMMIT_BUCKETS, CommitTimings};
pub use tokens::{TokenInfo, token_hash};
pub use trust::{MAX_QUARANTINE, QuarantineEntry};
pub use writer::{COMPACT_AFTER_CHUNKS, MAX_BATCH, WriteFn, WriteOutcome};
