//! Errors, one enum per operation.

use std::path::PathBuf;

use simpul_model::{RecordError, RecordId};

/// Why a store could not be created or opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// `create` found a store already there.
    #[error("a store already exists at {0}")]
    AlreadyExists(PathBuf),
    /// `open` found no store.
    #[error("no store at {0} (create one with `simpul init`)")]
    Missing(PathBuf),
    /// The data directory could not be made or read.
    #[error("data directory {path}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process (a running node?) holds the store.
    #[error("store {0} is in use by another process (is the node running?)")]
    Locked(PathBuf),
    /// The file was written by a newer version of simpul.
    #[error("store schema version {found} is newer than this simpul supports ({supported})")]
    TooNew {
        /// Version in the file.
        found: u32,
        /// Newest version this code knows.
        supported: u32,
    },
    /// The node metadata is missing or malformed.
    #[error("store metadata is damaged: {0}")]
    Corrupt(String),
    /// The writer thread could not be started.
    #[error("could not start the store writer thread")]
    Thread(#[source] std::io::Error),
    /// The node's certificate names another facility than the store.
    #[error("the store belongs to {store}, but the certificate names {certificate}")]
    WrongCertificate {
        /// The store's facility.
        store: simpul_model::FacilityPath,
        /// The certificate's.
        certificate: simpul_model::FacilityPath,
    },
    /// redb failed.
    #[error("database")]
    Db(#[from] redb::Error),
}

/// Why a write did not happen. Nothing of a failed write is stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The change was refused: invalid content, or it would rewrite clinical history.
    #[error(transparent)]
    Rejected(#[from] RecordError),
    /// A new record's id is already taken.
    #[error("record {0} already exists")]
    AlreadyExists(RecordId),
    /// The record to update does not exist.
    #[error("no record {0}")]
    NotFound(RecordId),
    /// The document's own id differs from the id it is stored under.
    #[error("document says it is record {found}, not {expected}")]
    WrongId {
        /// The id written to.
        expected: RecordId,
        /// The id inside the document.
        found: RecordId,
    },
    /// The record's scope does not include this node: it must not be stored here.
    #[error("record {id} is outside the scope of this node ({node})")]
    OutOfScope {
        /// The record.
        id: RecordId,
        /// This node's facility path.
        node: simpul_model::FacilityPath,
    },
    /// The batch this write was part of failed to commit; nothing of it was stored.
    #[error("database write failed, nothing of it was stored: {0}")]
    BatchFailed(String),
    /// The stored record could not be loaded to apply the change.
    #[error("could not load the stored record")]
    Read(#[from] Box<ReadError>),
    /// redb failed; the whole batch was rolled back.
    #[error("database (nothing of this write was stored)")]
    Db(#[from] redb::Error),
    /// The writer thread is gone (the store is closing).
    #[error("store is closed")]
    Closed,
    /// What a peer sent was refused: unsigned, outside its author's rights, or not for
    /// this node (see `docs/trust.md`).
    #[error(transparent)]
    Refused(#[from] simpul_trust::Refusal),
    /// A certificate or revocation list that the district CA did not issue.
    #[error("untrusted: {0}")]
    Untrusted(simpul_trust::TrustError),
    /// The store was opened without the district CA: it takes nothing from peers.
    #[error("this store was opened without the district CA; it takes nothing from peers")]
    NoAuthority,
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The stored bytes do not load as an Automerge document.
    #[error("record {id} is damaged: {reason}")]
    Corrupt {
        /// The record.
        id: RecordId,
        /// What is wrong.
        reason: String,
    },
    /// A row of a table other than the records does not decode.
    #[error("the {table} table is damaged: {reason}")]
    CorruptTable {
        /// The table.
        table: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// redb failed.
    #[error("database")]
    Db(#[from] redb::Error),
    /// The caller asked to stop (its progress callback said so): nothing was changed.
    #[error("stopped before the end: nothing was changed; run it again")]
    Stopped,
}

impl ReadError {
    /// True when one record is damaged and the rest of the store reads: leave that record
    /// out. Any other read error is the store's own (a disk failing, a table damaged):
    /// nothing read from it can be taken as complete, so whoever asked must stop, not
    /// carry on as if the store held nothing.
    pub fn is_record_damage(&self) -> bool {
        matches!(self, ReadError::Corrupt { .. })
    }
}

impl WriteError {
    /// True when the data was refused as no honest peer would send it (a forged or
    /// unauthorised change): the session that brought it ends.
    pub fn is_hostile(&self) -> bool {
        matches!(self, WriteError::Refused(r) if r.is_hostile())
    }

    /// True when the store itself failed (the disk, the database, the writer thread),
    /// not a judgement of what was written: the write may succeed later, and whoever
    /// sent it must not be told it was refused.
    pub fn is_store_failure(&self) -> bool {
        match self {
            WriteError::Db(_) | WriteError::BatchFailed(_) | WriteError::Closed => true,
            WriteError::Read(e) => !e.is_record_damage(),
            _ => false,
        }
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for OpenError { fn from(e: $t) -> Self { OpenError::Db(e.into()) } }
        impl From<$t> for WriteError { fn from(e: $t) -> Self { WriteError::Db(e.into()) } }
        impl From<$t> for ReadError { fn from(e: $t) -> Self { ReadError::Db(e.into()) } }
    )*};
}
redb_from!(
    redb::TableError,
    redb::StorageError,
    redb::TransactionError,
    redb::CommitError
);
