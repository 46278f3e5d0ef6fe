//! The audit trail: who read, wrote, corrected, merged or exported what, when, at which
//! node (UU PDP 27/2022 asks for a record of every processing of health data).
//!
//! Each node keeps one audit record per day ([`audit_log_id`]): an append-only map of
//! entries scoped to the node with upward audience, so every ancestor up to the district
//! holds the trail of the facilities below it. Entries are keyed by time and sequence, so
//! appending writes one entry and nothing ever rewrites one ([`check_audit_history`]).

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::date::Date;
use crate::facility::FacilityPath;
use crate::ids::RecordId;

crate::string_enum! {
    /// Who is acting, by role (Permenkes 24/2022: input, correct, view).
    pub enum Role {
        /// Community health volunteer: registers people and records visits.
        Kader => "kader",
        /// Midwife or nurse: input, and corrections (patient details, visits in error,
        /// merges of duplicates).
        Bidan => "bidan",
        /// Reads only (data managers, supervisors).
        Viewer => "viewer",
        /// Someone at the node's own console, through the CLI or its admin socket.
        Technician => "technician",
    }
}

crate::string_enum! {
    /// What a role may do.
    pub enum Permission {
        /// Read records and reports.
        View => "view",
        /// Register people and add visits.
        Input => "input",
        /// Correct details, mark visits in error, merge duplicates.
        Correct => "correct",
    }
}

impl Role {
    /// True when this role holds `permission`.
    pub fn may(self, permission: Permission) -> bool {
        match self {
            Role::Technician | Role::Bidan => true,
            Role::Kader => matches!(permission, Permission::View | Permission::Input),
            Role::Viewer => permission == Permission::View,
        }
    }
}

crate::string_enum! {
    /// What was done.
    pub enum AuditAction {
        /// One record was read.
        Read => "read",
        /// Records were searched or listed.
        Search => "search",
        /// A record was created.
        Create => "create",
        /// A visit was added.
        AddVisit => "add-visit",
        /// Details were corrected or a visit superseded.
        Correct => "correct",
        /// A visit was marked as entered in error.
        MarkError => "mark-error",
        /// A duplicate was merged into another record.
        Merge => "merge",
        /// A conflict was settled.
        Settle => "settle",
        /// A document was imported.
        Import => "import",
        /// Records left the node as a file (FHIR, Automerge, backup).
        Export => "export",
        /// A report was drawn from the records.
        Report => "report",
        /// A data API token was issued or revoked.
        Token => "token",
    }
}

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// When (Unix milliseconds, UTC).
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u64",
        reconcile = "crate::number::reconcile_u64"
    )]
    pub at_ms: u64,
    /// Who: the name a token was issued to, or the console user.
    pub who: String,
    /// Their role.
    pub role: Role,
    /// What they did.
    pub action: AuditAction,
    /// The record concerned, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub record: Option<RecordId>,
    /// Details: a search's terms, an export's size, a merge's survivor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub detail: Option<String>,
    /// Through what: `api` or `cli`.
    pub via: String,
}

/// The most entries one audit record holds; the day goes on in a new part. Appending
/// reads the part, so this bounds what each audited request costs.
pub const MAX_ENTRIES_PER_PART: u32 = 64;

/// A part of a node's audit trail for one day.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLog {
    /// The node that kept it.
    pub facility: FacilityPath,
    /// The day (UTC).
    pub date: Date,
    /// Which part of the day's trail (from 0; see [`MAX_ENTRIES_PER_PART`]).
    #[serde(default)]
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u32",
        reconcile = "crate::number::reconcile_u32"
    )]
    pub part: u32,
    /// Entries keyed by [`entry_key`]: time order.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub entries: BTreeMap<String, AuditEntry>,
}

impl AuditLog {
    /// Appends `entry` under the next free key for its time.
    pub fn append(&mut self, entry: AuditEntry) {
        let mut seq = 0;
        while self.entries.contains_key(&entry_key(entry.at_ms, seq)) {
            seq += 1;
        }
        self.entries.insert(entry_key(entry.at_ms, seq), entry);
    }
}

/// The key of an entry: the time, zero-padded so keys sort in time order, and a
/// sequence number for entries of the same millisecond.
pub fn entry_key(at_ms: u64, seq: u32) -> String {
    format!("{at_ms:015}-{seq:04}")
}

/// The id of part `part` of `facility`'s audit trail for `date`: the same on every
/// node, so the day's records are found without an index. Bound to the node's key when it
/// has one (`key_prefix`), so that no other node can create it first.
pub fn audit_log_id(
    facility: &FacilityPath,
    key_prefix: Option<[u8; 4]>,
    date: Date,
    part: u32,
) -> RecordId {
    let digest = Sha256::new()
        .chain_update(b"simpul-audit\0")
        .chain_update(facility.as_str().as_bytes())
        .chain_update(b"\0")
        .chain_update(date.to_string().as_bytes())
        .chain_update(part.to_be_bytes())
        .finalize();
    RecordId::derived(&digest, key_prefix)
}

/// Checks that `after` keeps every entry of `before` unchanged.
pub fn check_audit_history(before: &AuditLog, after: &AuditLog) -> Result<(), String> {
    if before.facility != after.facility || before.date != after.date || before.part != after.part {
        return Err("an audit record's facility, day and part never change".into());
    }
    for (key, entry) in &before.entries {
        match after.entries.get(key) {
            None => return Err(format!("audit entry {key} was removed")),
            Some(e) if e != entry => return Err(format!("audit entry {key} was rewritten")),
            Some(_) => {}
        }
    }
    Ok(())
}
