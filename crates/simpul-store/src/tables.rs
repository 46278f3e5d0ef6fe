//! The redb schema. Every table name carries a version; a layout change gets a new name
//! and a migration in [`crate::migrate`].
//!
//! Record ids are the 16 raw bytes of a [`simpul_model::RecordId`].

use redb::{MultimapTableDefinition, TableDefinition};

/// Node metadata. Key: a name from [`meta_keys`]. Value: bytes whose layout the key names.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta-1");

/// Names of the rows of [`META`].
pub(crate) mod meta_keys {
    /// Store schema version, `u32` little-endian. Absent in a store not yet migrated.
    pub(crate) const SCHEMA_VERSION: &str = "schema_version";
    /// The node's facility path, UTF-8.
    pub(crate) const NODE_PATH: &str = "node_path";
    /// Four random bytes that, with the path, form this node's Automerge actor id.
    pub(crate) const ACTOR_INSTANCE: &str = "actor_instance";
    /// The certificate (DER) the node last ran with (schema 4), for people.
    pub(crate) const NODE_CERT: &str = "node_cert";
    /// The newest district revocation list this node holds (DER, schema 4).
    pub(crate) const REVOCATIONS: &str = "revocations";
    /// The district CA certificate (DER) the node last ran with (schema 4), so that a CLI
    /// command on the stopped node checks certificates and revocation lists against it.
    pub(crate) const CA_CERT: &str = "ca_cert";

    /// The row of a mark ([`crate::Store::mark`]), `u64` little-endian.
    pub(crate) fn mark(name: &str) -> String {
        format!("mark:{name}")
    }
}

/// One row per record. Key: record id. Value: a postcard-encoded [`crate::RecordMeta`]
/// (kind, scope, heads digest, timestamps, sizes, a short summary for listings).
pub(crate) const RECORDS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("records-1");

/// The compacted document. Key: record id. Value: `Automerge::save()` output.
pub(crate) const SNAPSHOTS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("snapshots-1");

/// Incremental changes written since the snapshot. Key: (record id, sequence number from
/// 0). Value: `Automerge::save_after(previous heads)` output. Loading a record reads its
/// snapshot followed by these chunks in key order. Folded into the snapshot and deleted
/// when the record is compacted.
pub(crate) const CHANGES: TableDefinition<(&[u8; 16], u32), &[u8]> =
    TableDefinition::new("changes-1");

/// The reconciliation index. Key: (scope key, record id), one row per path of the
/// record's scope, where the scope key is `"up:<path>"` or `"down:<path>"`, so a
/// facility's subtree is one key range. Value: 40 bytes, the record's content time
/// ([`simpul_model::content_time`], `u64` big-endian) then its heads digest (32 bytes).
pub(crate) const INDEX: TableDefinition<(&str, &[u8; 16]), &[u8; 40]> =
    TableDefinition::new("index-1");

/// Records this node let go after they moved out of its subtree (added in schema 2).
/// Key: record id. Value: the 32-byte hashes of every change the node held, all of which
/// an ancestor that holds the record had acknowledged. A whole record offered again whose
/// changes are all listed here is answered "moved away" without being stored.
pub(crate) const TOMBSTONES: TableDefinition<&[u8; 16], &[u8]> =
    TableDefinition::new("tombstones-1");

/// Patients by identifier and place (added in schema 3). Key: a
/// [`simpul_model::Patient::lookup_keys`] key (`nik:…`, `ibu:…`, `village:…`; the
/// candidates `near:…`, `mother:…` from schema 6; for search `born:…` and `word:…` from
/// schema 10). Values: the record ids under it; two under one identity key are a
/// duplicate.
pub(crate) const LOOKUP: MultimapTableDefinition<&str, &[u8; 16]> =
    MultimapTableDefinition::new("lookup-1");

/// The keys each patient is filed under in [`LOOKUP`] (schema 3), to unfile them when
/// the record changes. Key: record id. Value: the keys joined by `\n`.
pub(crate) const LOOKUP_KEYS: TableDefinition<&[u8; 16], &str> =
    TableDefinition::new("lookup-keys-1");

/// Data API tokens (schema 3). Key: SHA-256 of the token; the token itself is never
/// stored. Value: a postcard-encoded [`crate::TokenInfo`].
pub(crate) const TOKENS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("tokens-1");

/// Seals beside each record (schema 4): signatures by node keys over a set of the
/// record's heads ([`simpul_trust::Seal`]). Key: record id. Value:
/// [`simpul_trust::encode_seals`] output. Written in the transaction that stores the
/// record; sent with it.
pub(crate) const SEALS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("seals-1");

/// Node certificates whose keys seal stored records (schema 4), each checked against the
/// district CA when it arrived. Key: key id ([`simpul_trust::KeyId`], 8 bytes). Value:
/// the certificate (DER).
pub(crate) const CERTS: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("certs-1");

/// Changes set aside as equivocating (schema 4): another change with the same actor and
/// sequence number was here first. Key: (record id, hash of the change set aside). Value:
/// a postcard-encoded [`crate::QuarantineEntry`]. At most [`crate::MAX_QUARANTINE`] rows.
pub(crate) const QUARANTINE: TableDefinition<(&[u8; 16], &[u8; 32]), &[u8]> =
    TableDefinition::new("quarantine-1");

/// Records whose stored bytes fail their check (schema 5): they do not load, or load to
/// other heads than the stored digest. Left out of sync and reported by `verify` and
/// `status`; every other record still moves. Key: record id. Value: a postcard-encoded
/// [`crate::DamagedEntry`].
pub(crate) const DAMAGED: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("damaged-1");

/// Records holding this node's own changes that still need its seal (schema 4): written
/// while the store had no signing key (a CLI write on a stopped node), or held when the
/// store was migrated from schema 3 (history written before seals existed, which this node
/// endorses). Key: record id. Value: `AUTHOR | ENDORSE` flags (`crate::trust::pending`).
pub(crate) const PENDING_SEALS: TableDefinition<&[u8; 16], u8> =
    TableDefinition::new("pending-seals-1");

/// Evidence of a move, kept by a node that let a record go (schema 4), so that it can
/// show a descendant offering the record again why it moved. Key: record id. Value: a
/// postcard-encoded `(saved document, encoded seals)` of the version that moved away.
pub(crate) const MOVED: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("moved-1");

/// The change sequence (schema 7, [`crate::sequence`]). Key: the entry's number, from 1,
/// given in commit order. Value: the record id (16 bytes) then what happened to it (0
/// stored or changed, 1 let go). One entry per record: its latest.
pub(crate) const SEQUENCE: TableDefinition<u64, &[u8; 17]> = TableDefinition::new("sequence-1");

/// Each record's entry in [`SEQUENCE`] (schema 7). Key: record id. Value: the number.
pub(crate) const SEQUENCE_OF: TableDefinition<&[u8; 16], u64> =
    TableDefinition::new("sequence-of-1");

/// The records of each kind in id order (schema 7). Key: (kind as stored, record id).
pub(crate) const KINDS: TableDefinition<(&str, &[u8; 16]), ()> = TableDefinition::new("kinds-1");

/// Records held per kind and facility (schema 7): the census. Key: (kind, the first path
/// of the record's scope). Value: how many; a row at zero is removed.
pub(crate) const COUNTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("counts-1");

/// When this node last heard from each facility (schema 13, [`crate::heard`]). Key: the
/// facility path named by a change's actor. Value: (the newest such change's own clock,
/// Unix s; when it was stored here, Unix ms).
pub(crate) const HEARD: TableDefinition<&str, (u64, u64)> = TableDefinition::new("heard-1");

/// What the monthly reports need of each patient (schema 8): a postcard-encoded
/// [`simpul_model::pws::ReportFacts`], written in the transaction that stores the
/// patient. A district's PWS reads this table, not a million documents.
pub(crate) const REPORT_FACTS: TableDefinition<&[u8; 16], &[u8]> =
    TableDefinition::new("report-facts-1");

/// Every audit entry of the audit records held, by time (schema 9). Key: (when, Unix ms;
/// the audit record's id; the entry's key in it). Value: a postcard-encoded
/// `crate::audit_index::Filed` (the entry and the node that kept it). Filed by the
/// writer in the transaction that stores the audit record; entries are append-only.
pub(crate) const AUDIT_BY_TIME: TableDefinition<(u64, &[u8; 16], &str), &[u8]> =
    TableDefinition::new("audit-by-time-1");

/// Audit entries by the record they concern (schema 9). Key: (record id, when, audit
/// record id, entry key).
pub(crate) const AUDIT_BY_RECORD: TableDefinition<AuditByRecordKey, ()> =
    TableDefinition::new("audit-by-record-1");

/// The key of [`AUDIT_BY_RECORD`].
pub(crate) type AuditByRecordKey = (&'static [u8; 16], u64, &'static [u8; 16], &'static str);

/// Audit entries by who acted (schema 9). Key: (who, when, audit record id, entry key).
pub(crate) const AUDIT_BY_WHO: TableDefinition<(&str, u64, &[u8; 16], &str), ()> =
    TableDefinition::new("audit-by-who-1");

/// Patients by home facility (schema 11). Key: (the home facility's path, record id).
/// A facility's people are one key range (its path, then paths below it): due lists
/// read them without touching the rest of the district.
pub(crate) const HOMES: TableDefinition<(&str, &[u8; 16]), ()> = TableDefinition::new("homes-1");

/// Patients not merged away, by identity and candidate key (schema 12): the
/// [`LOOKUP`] keys two registrations of one person share. Key: `nik:…`, `ibu:…`,
/// `near:…`, `mother:…`. Values: the record ids under it.
pub(crate) const DUPLICATE_MEMBERS: MultimapTableDefinition<&str, &[u8; 16]> =
    MultimapTableDefinition::new("duplicate-members-1");

/// The keys each patient is filed under in [`DUPLICATE_MEMBERS`] (schema 12), joined by
/// `\n`, to unfile them when the record changes.
pub(crate) const DUPLICATE_KEYS_OF: TableDefinition<&[u8; 16], &str> =
    TableDefinition::new("duplicate-keys-of-1");

/// The keys of [`DUPLICATE_MEMBERS`] with two or more records under them (schema 12):
/// people registered more than once. Value: how many records.
pub(crate) const DUPLICATES: TableDefinition<&str, u64> = TableDefinition::new("duplicates-1");

/// Records holding competing values (schema 12), written when a merge leaves them and
/// removed when they are settled. Value: how many fields compete.
pub(crate) const CONFLICTS: TableDefinition<&[u8; 16], u32> = TableDefinition::new("conflicts-1");
