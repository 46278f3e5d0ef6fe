//! Records holding competing values: the [`CONFLICTS`] table, kept by the writer in the
//! transaction that stores the record, and the paged list read from it.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use simpul_model::RecordId;
use simpul_model::automerge::Automerge;

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::CONFLICTS;

/// Files or unfiles record `id` after a write. A record whose whole history is one line
/// of changes (`in_line`) holds no competing values; any other is walked, so a record
/// that ever merged concurrent changes is walked at every write (rare: two facilities
/// wrote it while apart). The same rule as [`count_of`], so `verify` agrees.
pub(crate) fn file(
    txn: &WriteTransaction,
    id: RecordId,
    doc: &Automerge,
    in_line: bool,
) -> Result<(), redb::Error> {
    let mut table = txn.open_table(CONFLICTS)?;
    let listed = table.get(id.as_bytes())?.is_some();
    if in_line && !listed {
        return Ok(());
    }
    let count = simpul_model::history::conflict_count(doc);
    if count == 0 {
        if listed {
            table.remove(id.as_bytes())?;
        }
    } else {
        table.insert(id.as_bytes(), u32::try_from(count).unwrap_or(u32::MAX))?;
    }
    Ok(())
}

/// Removes record `id` from the list (it was let go).
pub(crate) fn unfile(txn: &WriteTransaction, id: RecordId) -> Result<(), redb::Error> {
    txn.open_table(CONFLICTS)?.remove(id.as_bytes())?;
    Ok(())
}

/// How many fields of `doc` compete, as a back-fill and `verify` judge it: none when
/// its whole history is one line (see [`file`]), else a walk of the document.
pub(crate) fn count_of(doc: &Automerge) -> u32 {
    let changes = doc.get_changes_meta(&[]);
    if simpul_model::history::extends_in_line(&[], &changes) {
        return 0;
    }
    u32::try_from(simpul_model::history::conflict_count(doc)).unwrap_or(u32::MAX)
}

impl Store {
    /// Up to `limit` records holding competing values, in id order after `after`, with
    /// how many fields compete in each.
    pub fn conflicted(
        &self,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<Vec<(RecordId, u32)>, ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CONFLICTS)?;
        let rows = match after {
            Some(after) => table.range::<&[u8; 16]>((
                std::ops::Bound::Excluded(after.as_bytes()),
                std::ops::Bound::Unbounded,
            ))?,
            None => table.range::<&[u8; 16]>(..)?,
        };
        let mut page = Vec::with_capacity(limit.min(1024));
        for row in rows.take(limit) {
            let (key, count) = row?;
            page.push((RecordId::from_bytes(*key.value()), count.value()));
        }
        Ok(page)
    }
}
