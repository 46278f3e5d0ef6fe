//! The change sequence, the records of each kind, and the counts a census reads (schema 7).
//!
//! Every store or removal of a record takes the next number of the store's change
//! sequence, in the transaction that writes it; the record's earlier entry goes, so the
//! sequence holds one entry per record ever held, in the order of their last change. A
//! reader that remembers the last number it handled (an analytics feed, an export that
//! resumes) asks for what changed after it and misses nothing: numbers are given in
//! commit order by the one writer thread.
//!
//! Alongside, the writer keeps each kind's records in id order (the pages of a patient
//! listing or a FHIR export, read without the other kinds) and the number of records per
//! kind and facility (a census without reading every record).

use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use simpul_model::RecordId;

use crate::error::ReadError;
use crate::meta::RecordMeta;
use crate::store::Store;
use crate::tables::{COUNTS, KINDS, SEQUENCE, SEQUENCE_OF};

/// What an entry of the sequence says happened to its record.
const STORED: u8 = 0;
const REMOVED: u8 = 1;

/// One entry of the change sequence ([`Store::changes_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    /// The entry's number: greater than every number given before it.
    pub seq: u64,
    /// The record.
    pub id: RecordId,
    /// True when the record was let go (moved away); false when it was stored or changed.
    pub removed: bool,
}

/// Files a store of record `id` (`old` is its metadata before, if it was held).
pub(crate) fn stored(
    txn: &WriteTransaction,
    id: RecordId,
    old: Option<&RecordMeta>,
    new: &RecordMeta,
) -> Result<(), redb::Error> {
    next_entry(txn, id, STORED)?;
    let mut counts = txn.open_table(COUNTS)?;
    if let Some(old) = old {
        if old.kind == new.kind && facility(old) == facility(new) {
            return Ok(());
        }
        add(&mut counts, old, -1)?;
    } else {
        txn.open_table(KINDS)?
            .insert((new.kind.as_str(), id.as_bytes()), ())?;
    }
    add(&mut counts, new, 1)
}

/// Files the removal of record `id`, whose last metadata was `old`.
pub(crate) fn removed(
    txn: &WriteTransaction,
    id: RecordId,
    old: &RecordMeta,
) -> Result<(), redb::Error> {
    next_entry(txn, id, REMOVED)?;
    txn.open_table(KINDS)?
        .remove((old.kind.as_str(), id.as_bytes()))?;
    add(&mut txn.open_table(COUNTS)?, old, -1)
}

/// Gives record `id` the next number, dropping its earlier entry.
fn next_entry(txn: &WriteTransaction, id: RecordId, op: u8) -> Result<(), redb::Error> {
    let mut sequence = txn.open_table(SEQUENCE)?;
    let mut of = txn.open_table(SEQUENCE_OF)?;
    let next = sequence.last()?.map_or(1, |(seq, _)| seq.value() + 1);
    if let Some(previous) = of.insert(id.as_bytes(), next)? {
        sequence.remove(previous.value())?;
    }
    let mut entry = [0u8; 17];
    entry[..16].copy_from_slice(id.as_bytes());
    entry[16] = op;
    sequence.insert(next, &entry)?;
    Ok(())
}

/// The facility a record is counted under: the first path of its scope.
fn facility(meta: &RecordMeta) -> &str {
    meta.scope.paths.first().map_or("", |p| p.as_str())
}

fn add(
    counts: &mut Table<(&'static str, &'static str), u64>,
    meta: &RecordMeta,
    delta: i64,
) -> Result<(), redb::Error> {
    let key = (meta.kind.as_str(), facility(meta));
    let now = counts.get(key)?.map_or(0, |v| v.value());
    match now.checked_add_signed(delta) {
        Some(0) | None => {
            counts.remove(key)?;
        }
        Some(n) => {
            counts.insert(key, n)?;
        }
    }
    Ok(())
}

impl Store {
    /// The number of the newest entry of the change sequence (0 for a store that never
    /// held a record).
    pub fn last_sequence(&self) -> Result<u64, ReadError> {
        let txn = self.db().begin_read()?;
        let sequence = txn.open_table(SEQUENCE)?;
        Ok(sequence.last()?.map_or(0, |(seq, _)| seq.value()))
    }

    /// What tells this store's sequence apart from another's: the node's actor instance,
    /// renewed when a store is restored from a backup (which numbers on from the backup's
    /// last entry, reusing numbers). A reader of the sequence keeps this with its place
    /// and reads again from the start when it changes.
    pub fn sequence_epoch(&self) -> Result<[u8; 4], ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(crate::tables::META)?;
        let instance = meta
            .get(crate::tables::meta_keys::ACTOR_INSTANCE)?
            .and_then(|v| v.value().try_into().ok())
            .unwrap_or([0; 4]);
        Ok(instance)
    }

    /// Up to `limit` entries of the change sequence numbered after `after`, in order.
    pub fn changes_after(&self, after: u64, limit: usize) -> Result<Vec<Sequenced>, ReadError> {
        let txn = self.db().begin_read()?;
        let sequence = txn.open_table(SEQUENCE)?;
        let mut out = Vec::with_capacity(limit.min(4096));
        for row in sequence.range(after.saturating_add(1)..)?.take(limit) {
            let (seq, entry) = row?;
            let entry = entry.value();
            let mut id = [0u8; 16];
            id.copy_from_slice(&entry[..16]);
            out.push(Sequenced {
                seq: seq.value(),
                id: RecordId::from_bytes(id),
                removed: entry[16] == REMOVED,
            });
        }
        Ok(out)
    }

    /// Up to `limit` records of `kind` with ids after `after` (from the first without
    /// one), in id order: a page read from the kind's own list, whatever else is stored.
    pub fn ids_of_kind(
        &self,
        kind: simpul_model::RecordKind,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<Vec<RecordId>, ReadError> {
        let txn = self.db().begin_read()?;
        let kinds = txn.open_table(KINDS)?;
        let kind = kind.as_str();
        let start = after.map_or([0u8; 16], |id| *id.as_bytes());
        let mut out = Vec::with_capacity(limit.min(4096));
        for row in kinds.range((kind, &start)..)? {
            let (key, _) = row?;
            let (k, id) = key.value();
            if k != kind {
                break;
            }
            let id = RecordId::from_bytes(*id);
            if Some(id) == after {
                continue;
            }
            out.push(id);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// Records per kind and per facility, from the counts the writer keeps.
    pub fn census(&self) -> Result<crate::Census, ReadError> {
        census_in(&self.db().begin_read()?)
    }
}

/// The census kept in `txn`'s snapshot.
pub(crate) fn census_in(txn: &redb::ReadTransaction) -> Result<crate::Census, ReadError> {
    let counts = txn.open_table(COUNTS)?;
    let mut census = crate::Census::default();
    for row in counts.iter()? {
        let (key, n) = row?;
        let (kind, facility) = key.value();
        *census.by_kind.entry(kind.to_string()).or_default() += n.value();
        *census.by_facility.entry(facility.to_string()).or_default() += n.value();
    }
    Ok(census)
}

/// Schema 7: files every record already held, in id order, from its metadata alone,
/// over whatever the tables held (the step may run again on a store whose version row
/// was set back).
pub(crate) fn backfill(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.delete_table(SEQUENCE)?;
    txn.delete_table(SEQUENCE_OF)?;
    txn.delete_table(KINDS)?;
    txn.delete_table(COUNTS)?;
    txn.open_table(SEQUENCE)?;
    txn.open_table(SEQUENCE_OF)?;
    txn.open_table(KINDS)?;
    txn.open_table(COUNTS)?;
    let records = txn.open_table(crate::tables::RECORDS)?;
    for row in records.iter()? {
        let (key, value) = row?;
        let id = RecordId::from_bytes(*key.value());
        let Ok(meta) = RecordMeta::decode(value.value()) else {
            continue; // `simpul verify` reports it.
        };
        stored(txn, id, None, &meta)?;
    }
    Ok(())
}
