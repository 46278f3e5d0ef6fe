//! The facility registry: the district registers its facilities (with their SATUSEHAT
//! ids); every node of the district holds the entries and reads them.

use simpul_model::registry::registry_id;
use simpul_model::{FacilityEntry, Level, Record, RecordBody, RecordError, RecordId, RecordKind};
use simpul_store::{Store, WriteError, WriteOutcome};

use super::{read_failure, write_failure};
use crate::admin::protocol::{Failure, FailureKind};

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
    // The entry held for this facility, whoever made it (a district server and its
    // standby have keys of their own, so ids of their own), else a new one.
    let id = match held(store)?.into_iter().find(|(_, e)| e.path == entry.path) {
        Some((id, _)) => id,
        None => registry_id(&entry.path, store.key_prefix()),
    };
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
    Ok(held(store)?.into_iter().map(|(_, e)| e).collect())
}

/// The entries held with their record ids, one per facility, in path order.
fn held(store: &Store) -> Result<Vec<(RecordId, FacilityEntry)>, Failure> {
    store.facility_registry().map_err(read_failure)
}
