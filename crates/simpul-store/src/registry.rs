//! Reading the facility registry a node holds (the district writes it; every node of
//! the district holds it).

use std::collections::BTreeMap;

use simpul_model::{FacilityEntry, FacilityPath, RecordBody, RecordId, RecordKind};

use crate::error::ReadError;
use crate::store::Store;

/// The most registry entries read: a district has a few thousand facilities.
const MAX_ENTRIES: usize = 100_000;

impl Store {
    /// Every registry entry held, with its record id, one per facility (the one changed
    /// last when two district nodes, a server and its standby, each made one), in path
    /// order. A damaged entry is left out (the store's `damaged` list names it).
    pub fn facility_registry(&self) -> Result<Vec<(RecordId, FacilityEntry)>, ReadError> {
        let ids = self.ids_of_kind(RecordKind::Facility, None, MAX_ENTRIES)?;
        let mut newest: BTreeMap<FacilityPath, (u64, RecordId, FacilityEntry)> = BTreeMap::new();
        for id in ids {
            let (meta, record) = match self.record(id) {
                Ok(Some(found)) => found,
                Ok(None) => continue,
                Err(e) if e.is_record_damage() => continue,
                Err(e) => return Err(e),
            };
            if let RecordBody::Facility(entry) = record.body {
                let seen = newest.get(&entry.path).map(|(at, ..)| *at);
                if seen.is_none_or(|at| meta.modified_ms > at) {
                    newest.insert(entry.path.clone(), (meta.modified_ms, id, entry));
                }
            }
        }
        Ok(newest.into_values().map(|(_, id, e)| (id, e)).collect())
    }

    /// The bytes of this node's key that bind the ids it derives ([`RecordId::derived`]),
    /// when it has a key.
    pub fn key_prefix(&self) -> Option<[u8; 4]> {
        self.node().key.map(|k| [k.0[0], k.0[1], k.0[2], k.0[3]])
    }
}
