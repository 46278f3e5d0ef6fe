//! Patients by identifier and place: the [`LOOKUP`] index, kept by the writer in the
//! transaction that stores the record, and the reads that use it (search by NIK, by
//! village; people registered twice).

use redb::{MultimapTable, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table};
use simpul_model::RecordId;

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::{LOOKUP, LOOKUP_KEYS};

/// Files record `id` under `keys`, unfiling it from the keys it had before.
pub(crate) fn file(
    lookup: &mut MultimapTable<&'static str, &'static [u8; 16]>,
    filed: &mut Table<&'static [u8; 16], &'static str>,
    id: RecordId,
    keys: &[String],
) -> Result<(), redb::Error> {
    let joined = keys.join("\n");
    let old = filed.get(id.as_bytes())?.map(|v| v.value().to_string());
    if old.as_deref() == Some(joined.as_str()) {
        return Ok(());
    }
    if let Some(old) = old {
        for key in old.split('\n') {
            lookup.remove(key, id.as_bytes())?;
        }
    }
    for key in keys {
        lookup.insert(key.as_str(), id.as_bytes())?;
    }
    filed.insert(id.as_bytes(), joined.as_str())?;
    Ok(())
}

/// Removes record `id` from the index.
pub(crate) fn unfile(
    lookup: &mut MultimapTable<&'static str, &'static [u8; 16]>,
    filed: &mut Table<&'static [u8; 16], &'static str>,
    id: RecordId,
) -> Result<(), redb::Error> {
    if let Some(old) = filed.remove(id.as_bytes())? {
        for key in old.value().split('\n') {
            lookup.remove(key, id.as_bytes())?;
        }
    }
    Ok(())
}

impl Store {
    /// The patients filed under `key` (see [`simpul_model::Patient::lookup_keys`]).
    pub fn find(&self, key: &str) -> Result<Vec<RecordId>, ReadError> {
        let txn = self.db().begin_read()?;
        let lookup = txn.open_multimap_table(LOOKUP)?;
        let mut ids = Vec::new();
        for value in lookup.get(key)? {
            ids.push(RecordId::from_bytes(*value?.value()));
        }
        Ok(ids)
    }

    /// The patients filed under any key starting with `prefix` (`ibu:<NIK>:` finds
    /// every child registered by its mother's NIK).
    pub fn find_prefix(&self, prefix: &str) -> Result<Vec<RecordId>, ReadError> {
        let txn = self.db().begin_read()?;
        let lookup = txn.open_multimap_table(LOOKUP)?;
        let mut ids = Vec::new();
        for row in lookup.range(prefix..)? {
            let (key, values) = row?;
            if !key.value().starts_with(prefix) {
                break;
            }
            for value in values {
                ids.push(RecordId::from_bytes(*value?.value()));
            }
        }
        Ok(ids)
    }

    /// How many patients the index holds (a check for `verify` and tests).
    pub fn filed_patients(&self) -> Result<u64, ReadError> {
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(LOOKUP_KEYS)?.len()?)
    }
}
