//! Records whose stored bytes fail their check: a disk that flipped a bit, a sector lost.
//! One such record must never stall the rest, so a reader that finds one marks it here;
//! from then on it is left out of sync (the peers keep their good copies, and an
//! ancestor's copy is what a technician restores from), and `verify` and `status` name
//! it.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use simpul_model::RecordId;

use crate::error::{ReadError, WriteError};
use crate::store::Store;
use crate::tables::DAMAGED;

/// Damaged records kept at most: beyond this the store itself is failing, and the
/// oldest marks are enough to say so.
pub const MAX_DAMAGED: u64 = 65_536;

/// A record found damaged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DamagedEntry {
    /// What the check found.
    pub reason: String,
    /// When it was found (Unix ms).
    pub at_ms: u64,
}

fn decode(bytes: &[u8]) -> Result<DamagedEntry, ReadError> {
    postcard::from_bytes(bytes).map_err(|e| ReadError::CorruptTable {
        table: "damaged",
        reason: e.to_string(),
    })
}

impl Store {
    /// Marks a record as damaged (the first finding is kept). Returns whether it was new.
    pub fn mark_damaged(&self, id: RecordId, reason: &str, at_ms: u64) -> Result<bool, WriteError> {
        let entry = DamagedEntry {
            reason: reason.to_string(),
            at_ms,
        };
        let bytes = postcard::to_stdvec(&entry)
            .unwrap_or_else(|e| unreachable!("postcard encodes DamagedEntry: {e}"));
        let txn = self.db().begin_write()?;
        let new = {
            let mut table = txn.open_table(DAMAGED)?;
            let new = table.get(id.as_bytes())?.is_none() && table.len()? < MAX_DAMAGED;
            if new {
                table.insert(id.as_bytes(), bytes.as_slice())?;
            }
            new
        };
        txn.commit()?;
        Ok(new)
    }

    /// Every record marked damaged, oldest finding first.
    pub fn damaged(&self) -> Result<Vec<(RecordId, DamagedEntry)>, ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(DAMAGED)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            out.push((RecordId::from_bytes(*key.value()), decode(value.value())?));
        }
        out.sort_by_key(|(_, e)| e.at_ms);
        Ok(out)
    }
}

/// The ids marked damaged, as of `txn` (few: read whole).
pub(crate) fn damaged_ids(
    txn: &redb::ReadTransaction,
) -> Result<std::collections::HashSet<RecordId>, ReadError> {
    let table = txn.open_table(DAMAGED)?;
    let mut ids = std::collections::HashSet::new();
    for row in table.iter()? {
        let (key, _) = row?;
        ids.insert(RecordId::from_bytes(*key.value()));
    }
    Ok(ids)
}
