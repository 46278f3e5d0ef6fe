//! What the store keeps about each record besides its document.

use serde::{Deserialize, Serialize};
use simpul_model::{Record, RecordBody, RecordKind, Scope};

/// The row of the records table: enough to list, index and sync a record without
/// loading its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Patient or activity.
    pub kind: RecordKind,
    /// Who holds it.
    pub scope: Scope,
    /// SHA-256 of the document's sorted heads ([`simpul_model::heads_digest`]).
    pub heads_digest: [u8; 32],
    /// The document's latest change time ([`simpul_model::content_time`]), the same on
    /// every node holding the same version: the reconciliation order.
    pub content_time: u64,
    /// When this node first stored it (Unix ms).
    pub created_ms: u64,
    /// When this node last stored a change to it (Unix ms).
    pub modified_ms: u64,
    /// Bytes of the compacted snapshot.
    pub snapshot_len: u32,
    /// Bytes of the incremental change chunks written since.
    pub changes_len: u32,
    /// Number of incremental change chunks.
    pub chunks: u32,
    /// Sequence number of the next change chunk.
    pub next_seq: u32,
    /// A short description for listings.
    pub summary: Summary,
}

/// What a listing shows of a record without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// A patient's name, or an activity's kind.
    pub label: String,
    /// A patient's sex, or empty.
    pub sex: String,
    /// A patient's birth date or an activity's date.
    pub date: String,
    /// Visits (patients) or attendees (activities).
    pub entries: u32,
}

impl Summary {
    /// Summarises a record.
    pub fn of(record: &Record) -> Self {
        match &record.body {
            RecordBody::Patient(p) => Self {
                label: p.name.clone(),
                sex: p.sex.to_string(),
                date: p.birth_date.to_string(),
                entries: p.visits.len() as u32,
            },
            RecordBody::Activity(a) => Self {
                label: a.kind.to_string(),
                sex: String::new(),
                date: a.date.to_string(),
                entries: a.attendance.len() as u32,
            },
            RecordBody::Audit(a) => Self {
                label: format!("audit {}", a.facility.code()),
                sex: String::new(),
                date: a.date.to_string(),
                entries: a.entries.len() as u32,
            },
            RecordBody::Facility(f) => Self {
                label: f.name.clone(),
                sex: String::new(),
                date: String::new(),
                entries: 0,
            },
            RecordBody::Submission(l) => Self {
                label: format!("satusehat {}", l.patient),
                sex: String::new(),
                date: String::new(),
                entries: l.visits.len() as u32,
            },
        }
    }
}

impl RecordMeta {
    /// Stored bytes of the record (snapshot plus change chunks).
    pub fn stored_len(&self) -> u64 {
        u64::from(self.snapshot_len) + u64::from(self.changes_len)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self)
            .unwrap_or_else(|e| unreachable!("postcard encodes RecordMeta: {e}"))
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|e| format!("record metadata does not decode: {e}"))
    }
}

/// The scope keys of a scope: `"up:<path>"` or `"down:<path>"`, one per path.
pub(crate) fn scope_keys(scope: &Scope) -> impl Iterator<Item = String> + '_ {
    scope
        .paths
        .iter()
        .map(move |p| format!("{}:{p}", scope.audience))
}
