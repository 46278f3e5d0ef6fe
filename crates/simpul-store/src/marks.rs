//! Marks: small named numbers that other layers keep across restarts (the sync layer
//! keeps, per peer, the content time up to which the two were last in sync). The store
//! does not interpret them.

use redb::{Durability, ReadableDatabase};

use crate::error::{ReadError, WriteError};
use crate::store::Store;
use crate::tables::{META, meta_keys};

impl Store {
    /// The mark called `name`, if one was set.
    pub fn mark(&self, name: &str) -> Result<Option<u64>, ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(row) = meta.get(meta_keys::mark(name).as_str())? else {
            return Ok(None);
        };
        let bytes: [u8; 8] = row
            .value()
            .try_into()
            .map_err(|_| ReadError::CorruptTable {
                table: "meta",
                reason: format!("mark {name:?} is not 8 bytes"),
            })?;
        Ok(Some(u64::from_le_bytes(bytes)))
    }

    /// Every mark whose name starts with `prefix`, with the rest of its name, in name
    /// order (the sync layer finds the peers it was ever in sync with this way).
    pub fn marks(&self, prefix: &str) -> Result<Vec<(String, u64)>, ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let start = meta_keys::mark(prefix);
        let mut out = Vec::new();
        for row in meta.range(start.as_str()..)? {
            let (key, value) = row?;
            let Some(rest) = key.value().strip_prefix(start.as_str()) else {
                break;
            };
            let bytes: [u8; 8] = value
                .value()
                .try_into()
                .map_err(|_| ReadError::CorruptTable {
                    table: "meta",
                    reason: format!("mark {:?} is not 8 bytes", key.value()),
                })?;
            out.push((rest.to_string(), u64::from_le_bytes(bytes)));
        }
        Ok(out)
    }

    /// Sets the mark called `name`. Not flushed on its own: a mark is a hint, made durable
    /// by the next durable commit; losing it in a crash costs only work.
    pub fn set_mark(&self, name: &str, value: u64) -> Result<(), WriteError> {
        let mut txn = self.db().begin_write()?;
        txn.set_durability(Durability::None)
            .map_err(redb::Error::from)?;
        txn.open_table(META)?.insert(
            meta_keys::mark(name).as_str(),
            value.to_le_bytes().as_slice(),
        )?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use simpul_model::FacilityPath;

    use crate::{Store, StoreOptions};

    #[test]
    fn marks_survive_reopening_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = FacilityPath::parse("3273/P3273010201").expect("path");
        let store =
            Store::create(dir.path(), &path, [1; 4], StoreOptions::default()).expect("create");
        assert_eq!(store.mark("sync-since/a").expect("read"), None);
        store.set_mark("sync-since/a", 42).expect("set");
        store.set_mark("sync-since/b", 7).expect("set");
        store.set_mark("sync-since/a", 43).expect("set");
        store.set_mark("sync-sincere", 1).expect("set");
        assert_eq!(
            store.marks("sync-since/").expect("list"),
            [("a".to_string(), 43), ("b".to_string(), 7)]
        );
        drop(store);
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open");
        assert_eq!(store.mark("sync-since/a").expect("read"), Some(43));
        assert_eq!(store.mark("sync-since/b").expect("read"), Some(7));
        {
            let txn = store.db().begin_write().expect("txn");
            txn.open_table(crate::tables::META)
                .expect("meta")
                .insert("mark:broken", [1u8, 2, 3].as_slice())
                .expect("insert");
            txn.commit().expect("commit");
        }
        let err = store
            .mark("broken")
            .expect_err("three bytes are not a mark");
        assert!(err.to_string().contains("broken"), "{err}");
    }
}
