//! Numbered, idempotent migrations, run when a store is opened.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use crate::error::OpenError;
use simpul_model::automerge::Automerge;
use simpul_model::{Record, RecordBody, RecordId, RecordKind};

use crate::meta::RecordMeta;
use crate::read::load_document;
use crate::tables::{
    CERTS, CHANGES, DAMAGED, INDEX, LOOKUP, LOOKUP_KEYS, META, MOVED, PENDING_SEALS, QUARANTINE,
    RECORDS, SEALS, SNAPSHOTS, TOKENS, TOMBSTONES, meta_keys,
};

/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: u32 = 13;

type Migration = fn(&WriteTransaction) -> Result<(), redb::Error>;

/// How often a migration that reads every document logs how far it has got.
const MIGRATION_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// `MIGRATIONS[i]` takes a store from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    create_tables_v1,
    add_tombstones_v2,
    add_lookup_and_tokens_v3,
    add_seals_v4,
    add_damaged_v5,
    refile_candidates_v6,
    add_sequence_v7,
    add_report_facts_v8,
    index_audit_v9,
    refile_for_search_v10,
    add_homes_v11,
    index_duplicates_and_conflicts_v12,
    add_heard_v13,
];

fn create_tables_v1(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(RECORDS)?;
    tx.open_table(SNAPSHOTS)?;
    tx.open_table(CHANGES)?;
    tx.open_table(INDEX)?;
    Ok(())
}

fn add_tombstones_v2(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(TOMBSTONES)?;
    Ok(())
}

/// Files every patient already stored under its lookup keys: loads each patient's
/// document once (minutes for a million records, once per store).
fn add_lookup_and_tokens_v3(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(TOKENS)?;
    file_every_patient(tx)
}

/// Duplicate candidates (schema 6): every patient is filed again, under the `near:`
/// and `mother:` keys as well.
fn refile_candidates_v6(tx: &WriteTransaction) -> Result<(), redb::Error> {
    file_every_patient(tx)
}

/// The change sequence, the kinds' lists and the census counts (schema 7), filed for
/// every record held from its metadata (no document is loaded).
fn add_sequence_v7(tx: &WriteTransaction) -> Result<(), redb::Error> {
    crate::sequence::backfill(tx)
}

/// Report facts (schema 8) of every patient held.
fn add_report_facts_v8(tx: &WriteTransaction) -> Result<(), redb::Error> {
    crate::facts::backfill(tx)
}

/// The audit trail indexed by time, record and who (schema 9).
fn index_audit_v9(tx: &WriteTransaction) -> Result<(), redb::Error> {
    crate::audit_index::backfill(tx)
}

/// Search by name and birth date (schema 10): every patient is filed again, under
/// `word:` and `born:` keys as well.
fn refile_for_search_v10(tx: &WriteTransaction) -> Result<(), redb::Error> {
    file_every_patient(tx)
}

/// Patients by home facility (schema 11), from their report facts.
fn add_homes_v11(tx: &WriteTransaction) -> Result<(), redb::Error> {
    crate::facts::backfill_homes(tx)
}

/// People registered more than once, and records holding competing values (schema
/// 12): every document is loaded once, and walked only if its history is not one line.
fn index_duplicates_and_conflicts_v12(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(crate::tables::DUPLICATES)?;
    tx.open_table(crate::tables::DUPLICATE_KEYS_OF)?;
    tx.open_multimap_table(crate::tables::DUPLICATE_MEMBERS)?;
    tx.open_table(crate::tables::CONFLICTS)?;
    let mut conflicts = Vec::new();
    each_document(tx, None, |id, _, doc| {
        let count = crate::conflicts::count_of(doc);
        if count > 0 {
            conflicts.push((id, count));
        }
        if let Ok(Record {
            body: RecordBody::Patient(p),
            ..
        }) = Record::from_document(doc)
        {
            crate::duplicates::file(tx, id, &p, &p.lookup_keys())?;
        }
        Ok(())
    })?;
    let mut table = tx.open_table(crate::tables::CONFLICTS)?;
    for (id, count) in conflicts {
        table.insert(id.as_bytes(), count)?;
    }
    Ok(())
}

/// When each facility was last heard from (schema 13): every document is loaded once.
fn add_heard_v13(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(crate::tables::HEARD)?;
    each_document(tx, None, |_, meta, doc| {
        crate::heard::backfill_one(tx, doc, meta.modified_ms)
    })
}

/// Files every patient stored under its current lookup keys (unfiling old ones).
fn file_every_patient(tx: &WriteTransaction) -> Result<(), redb::Error> {
    let mut lookup = tx.open_multimap_table(LOOKUP)?;
    let mut filed = tx.open_table(LOOKUP_KEYS)?;
    each_record(tx, RecordKind::Patient, |id, record| {
        if let RecordBody::Patient(p) = &record.body {
            crate::lookup::file(&mut lookup, &mut filed, id, &p.lookup_keys())?;
        }
        Ok(())
    })
}

/// Calls `each` with every record of `kind` held, loaded from its document. Records that
/// do not load are passed over (`simpul verify` reports them).
pub(crate) fn each_record(
    tx: &WriteTransaction,
    kind: RecordKind,
    mut each: impl FnMut(RecordId, &Record) -> Result<(), redb::Error>,
) -> Result<(), redb::Error> {
    each_document(tx, Some(kind), |id, _, doc| {
        match Record::from_document(doc) {
            Ok(record) => each(id, &record),
            Err(_) => Ok(()),
        }
    })
}

/// Calls `each` with the document of every record held (of `kind`, if given). Records
/// that do not load are passed over (`simpul verify` reports them).
fn each_document(
    tx: &WriteTransaction,
    kind: Option<RecordKind>,
    mut each: impl FnMut(RecordId, &RecordMeta, &Automerge) -> Result<(), redb::Error>,
) -> Result<(), redb::Error> {
    let records = tx.open_table(RECORDS)?;
    let snapshots = tx.open_table(SNAPSHOTS)?;
    let changes = tx.open_table(CHANGES)?;
    let total = records.len()?;
    let mut seen = 0u64;
    let mut said = std::time::Instant::now();
    for row in records.iter()? {
        let (key, value) = row?;
        seen += 1;
        // Minutes for a million records: say how far it has got (a migration is one
        // transaction: stopped, it leaves the store as it was, and starts again).
        if said.elapsed() >= MIGRATION_REPORT_EVERY {
            tracing::info!(records = seen, of = total, "migrating the store");
            said = std::time::Instant::now();
        }
        let id = RecordId::from_bytes(*key.value());
        let Ok(meta) = RecordMeta::decode(value.value()) else {
            continue;
        };
        if kind.is_some_and(|k| meta.kind != k) {
            continue;
        }
        let Ok(doc) = load_document(&snapshots, &changes, id, &meta) else {
            continue;
        };
        each(id, &meta, &doc)?;
    }
    Ok(())
}

/// Seals (schema 4). Every record already held was written before changes were sealed:
/// it is marked for the node's endorsement (and its own author seal), made at the next
/// start with the node's key (`docs/trust.md`, the migration rule).
fn add_seals_v4(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(SEALS)?;
    tx.open_table(CERTS)?;
    tx.open_table(QUARANTINE)?;
    tx.open_table(MOVED)?;
    let mut pending = tx.open_table(PENDING_SEALS)?;
    let records = tx.open_table(RECORDS)?;
    for row in records.iter()? {
        let (key, _) = row?;
        pending.insert(
            key.value(),
            crate::trust::pending::AUTHOR | crate::trust::pending::ENDORSE,
        )?;
    }
    Ok(())
}

/// Damaged records (schema 5): found as they are read, kept out of sync.
fn add_damaged_v5(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(DAMAGED)?;
    Ok(())
}

/// Reads the stored schema version (0 for a new file).
pub(crate) fn stored_version(tx: &WriteTransaction) -> Result<u32, OpenError> {
    let meta = tx.open_table(META).map_err(redb::Error::from)?;
    let version = match meta
        .get(meta_keys::SCHEMA_VERSION)
        .map_err(redb::Error::from)?
    {
        None => 0,
        Some(v) => {
            let bytes: [u8; 4] = v
                .value()
                .try_into()
                .map_err(|_| OpenError::Corrupt("schema version is not 4 bytes".into()))?;
            u32::from_le_bytes(bytes)
        }
    };
    Ok(version)
}

/// Brings the store to [`SCHEMA_VERSION`] inside `tx`. Returns the version found.
pub(crate) fn migrate(tx: &WriteTransaction) -> Result<u32, OpenError> {
    let found = stored_version(tx)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        if found > 0 {
            tracing::info!(from, to = from + 1, "migrating the store");
        }
        step(tx)?;
        let to = from as u32 + 1;
        let mut meta = tx.open_table(META).map_err(redb::Error::from)?;
        meta.insert(meta_keys::SCHEMA_VERSION, to.to_le_bytes().as_slice())
            .map_err(redb::Error::from)?;
    }
    Ok(found)
}
