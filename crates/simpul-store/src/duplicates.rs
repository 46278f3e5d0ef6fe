//! People registered more than once: each patient not merged away is filed under its
//! identity and candidate keys in [`DUPLICATE_MEMBERS`], and a key with two or more
//! records under it is listed in [`DUPLICATES`], all by the writer in the transaction
//! that stores the record. A page of groups is read from that list, never from the
//! whole lookup index.

use std::collections::BTreeSet;

use redb::{ReadableDatabase, ReadableMultimapTable, ReadableTable, WriteTransaction};
use simpul_model::{Patient, RecordId, is_candidate_key, is_identity_key};

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::{DUPLICATE_KEYS_OF, DUPLICATE_MEMBERS, DUPLICATES};

/// The keys `patient` is filed under: its identity and candidate keys, none once it is
/// merged into another record.
pub(crate) fn keys_of(patient: &Patient) -> Vec<String> {
    among(patient, &patient.lookup_keys())
}

/// The keys of `lookup_keys` (the patient's [`Patient::lookup_keys`]) it is filed
/// under.
fn among(patient: &Patient, lookup_keys: &[String]) -> Vec<String> {
    if patient.merged_into.is_some() {
        return Vec::new();
    }
    lookup_keys
        .iter()
        .filter(|k| is_identity_key(k) || is_candidate_key(k))
        .cloned()
        .collect()
}

/// Files patient `id` under its keys (from `lookup_keys`, its
/// [`Patient::lookup_keys`]), unfiling the keys it had before, and recounts every key
/// that gained or lost it.
pub(crate) fn file(
    txn: &WriteTransaction,
    id: RecordId,
    patient: &Patient,
    lookup_keys: &[String],
) -> Result<(), redb::Error> {
    let keys = among(patient, lookup_keys);
    let mut members = txn.open_multimap_table(DUPLICATE_MEMBERS)?;
    let mut keys_of = txn.open_table(DUPLICATE_KEYS_OF)?;
    let old: Vec<String> = keys_of
        .get(id.as_bytes())?
        .map(|v| v.value().split('\n').map(str::to_string).collect())
        .unwrap_or_default();
    if old == keys {
        return Ok(());
    }
    crate::lookup::file(&mut members, &mut keys_of, id, &keys)?;
    if keys.is_empty() {
        keys_of.remove(id.as_bytes())?;
    }
    let touched: BTreeSet<&str> = old.iter().chain(&keys).map(String::as_str).collect();
    recount(txn, &members, touched)
}

/// Removes patient `id` from every key it is filed under (it was let go).
pub(crate) fn unfile(txn: &WriteTransaction, id: RecordId) -> Result<(), redb::Error> {
    let mut members = txn.open_multimap_table(DUPLICATE_MEMBERS)?;
    let mut keys_of = txn.open_table(DUPLICATE_KEYS_OF)?;
    let Some(old) = keys_of.get(id.as_bytes())?.map(|v| v.value().to_string()) else {
        return Ok(());
    };
    crate::lookup::unfile(&mut members, &mut keys_of, id)?;
    recount(txn, &members, old.split('\n'))
}

/// Lists each of `keys` in [`DUPLICATES`] when two or more records are under it, and
/// unlists it otherwise.
fn recount<'k>(
    txn: &WriteTransaction,
    members: &redb::MultimapTable<&'static str, &'static [u8; 16]>,
    keys: impl IntoIterator<Item = &'k str>,
) -> Result<(), redb::Error> {
    let mut listed = txn.open_table(DUPLICATES)?;
    for key in keys {
        if key.is_empty() {
            continue;
        }
        let count = members.get(key)?.len();
        if count >= 2 {
            listed.insert(key, count)?;
        } else {
            listed.remove(key)?;
        }
    }
    Ok(())
}

/// Records filed under one identity key (the same person registered more than once) or
/// one candidate key (probably: a bidan decides).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DuplicateGroup {
    /// The shared key (`nik:…`, `ibu:…`; candidates `near:…`, `mother:…`).
    pub key: String,
    /// The records, in id order.
    pub records: Vec<RecordId>,
}

/// A group is shown under the first of the keys its records all share, identity keys
/// before candidate keys: a pair found both by NIK and by name is shown once, by NIK.
fn rank(key: &str) -> (bool, &str) {
    (!is_identity_key(key), key)
}

impl Store {
    /// Up to `limit` groups of people registered more than once (two or more records not
    /// merged away under one identity or candidate key), in key order after the key
    /// `after`, and the key to continue after when there may be more.
    pub fn duplicate_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<DuplicateGroup>, Option<String>), ReadError> {
        let txn = self.db().begin_read()?;
        let listed = txn.open_table(DUPLICATES)?;
        let members = txn.open_multimap_table(DUPLICATE_MEMBERS)?;
        let keys_of = txn.open_table(DUPLICATE_KEYS_OF)?;
        let records_under = |key: &str| -> Result<Vec<RecordId>, ReadError> {
            let mut ids = Vec::new();
            for value in members.get(key)? {
                ids.push(RecordId::from_bytes(*value?.value()));
            }
            Ok(ids)
        };
        let rows = match after {
            Some(after) => listed
                .range::<&str>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))?,
            None => listed.range::<&str>(..)?,
        };
        let mut groups = Vec::new();
        for row in rows {
            let (key, _) = row?;
            let key = key.value();
            if groups.len() == limit {
                let next = groups.last().map(|g: &DuplicateGroup| g.key.clone());
                return Ok((groups, next));
            }
            let records = records_under(key)?;
            let Some(first) = records.first() else {
                continue;
            };
            // Shown under another key of the same records that ranks first?
            let others = keys_of
                .get(first.as_bytes())?
                .map(|v| v.value().to_string())
                .unwrap_or_default();
            let mut shown_elsewhere = false;
            for other in others.split('\n') {
                if !other.is_empty() && rank(other) < rank(key) && records_under(other)? == records
                {
                    shown_elsewhere = true;
                    break;
                }
            }
            if !shown_elsewhere {
                groups.push(DuplicateGroup {
                    key: key.to_string(),
                    records,
                });
            }
        }
        Ok((groups, None))
    }
}
