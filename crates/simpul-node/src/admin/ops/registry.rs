//! The facility registry: the district registers its facilities (with their SATUSEHAT
//! ids); every node of the district holds the entries and reads them.

use simpul_model::registry::registry_id;
use simpul_model::{FacilityEntry, Level, Record, RecordBody, RecordError, RecordKind};
use simpul_store::{Store, WriteError, WriteOutcome};

use super::audit::key_prefix;
use super::{read_failure, write_failure};
use crate::admin::protocol::{Failure, FailureKind};

/// The most registry entries listed: a district has a few thousand facilities.
const MAX_ENTRIES: usize = 100_000;

/// Registers `entry`, or replaces the entry held for its facility. Only a district
/// node may (every node would refuse the entry from anyone else).
pub(super) fn set(
    store: &Store,
    entry: FacilityEntry,
    today: simpul_model::Date,
    now_ms: u64,
) -> Result<WriteOutcome, Failure> {
    let node = store.node().path.clone();
    let rejected = |message: String| Failure::new(FailureKind::Rejected, message);
    if node.level() != Level::District {
        return Err(rejected(format!(
            "only the district registers facilities: this node is {node}, a {}",
            node.level()
        )));
    }
    if entry.path.district() != node.district() {
        return Err(rejected(format!(
            "facility {} is not in district {}",
            entry.path,
            node.district()
        )));
    }
    entry.check().map_err(rejected)?;
    let id = registry_id(&entry.path, key_prefix(store));
    let actor = store.node().actor.clone();
    store
        .write(id, now_ms, move |doc| {
            let record = Record {
                id,
                scope: entry.scope(),
                body: RecordBody::Facility(entry),
            };
            match doc {
                None => *doc = Some(record.create_document(actor, today, now_ms)?),
                Some(doc) => {
                    let before = Record::from_document(doc)?;
                    if before.kind() != RecordKind::Facility {
                        return Err(WriteError::Rejected(RecordError::Shape(format!(
                            "record {id} should be a registry entry"
                        ))));
                    }
                    record.write_over(&before, doc, today, now_ms)?;
                }
            }
            Ok(record)
        })
        .map_err(write_failure)
}

/// Every registry entry this node holds, in path order.
pub(super) fn list(store: &Store) -> Result<Vec<FacilityEntry>, Failure> {
    let ids = store
        .ids_of_kind(RecordKind::Facility, None, MAX_ENTRIES)
        .map_err(read_failure)?;
    let mut entries = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some((
            _,
            Record {
                body: RecordBody::Facility(entry),
                ..
            },
        )) = store.record(id).map_err(read_failure)?
        {
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}
