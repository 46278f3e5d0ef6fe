//! Finding and changing a patient's submission ledger.

use std::collections::BTreeMap;

use simpul_model::submission::ledger_id;
use simpul_model::{
    Date, FacilityPath, Record, RecordBody, RecordError, RecordId, SubmissionLedger,
};
use simpul_store::{ReadError, Store, WriteError};

/// Where this node keeps its ledger of `patient`: the id, and the ledger held there (none
/// yet). The id does not depend on the node's key (a renewed certificate or a new
/// machine keeps finding it); should another record hold it (a hostile node's), the id
/// bound to this node's key is used instead. `None` when both are taken.
pub(crate) fn find(
    store: &Store,
    patient: RecordId,
) -> Result<Option<(RecordId, Option<SubmissionLedger>)>, ReadError> {
    let node = &store.node().path;
    let mut free = None;
    for id in [
        ledger_id(patient, node, None),
        ledger_id(patient, node, store.key_prefix()),
    ] {
        match store.record(id) {
            Ok(None) => {
                free.get_or_insert(id);
            }
            Ok(Some((
                _,
                Record {
                    body: RecordBody::Submission(l),
                    ..
                },
            ))) if l.patient == patient && l.submitter == *node => return Ok(Some((id, Some(l)))),
            Ok(Some(_)) => {
                tracing::warn!(record = %id, patient = %patient, "SATUSEHAT: the ledger's place holds another record");
            }
            Err(e) if e.is_record_damage() => {
                tracing::warn!(record = %id, error = %e, "SATUSEHAT: a damaged ledger is passed over");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(free.map(|id| (id, None)))
}

/// Changes ledger `id` of `patient` on the writer thread, on the record as it stands
/// then (a retry asked meanwhile is not lost): `edit` gets the ledger, a new empty one
/// when none is stored.
pub fn update_ledger(
    store: &Store,
    id: RecordId,
    patient: RecordId,
    today: Date,
    now_ms: u64,
    edit: impl FnOnce(&mut SubmissionLedger) + Send + 'static,
) -> Result<(), WriteError> {
    let submitter: FacilityPath = store.node().path.clone();
    let actor = store.node().actor.clone();
    store.write(id, now_ms, move |doc| {
        let before = match doc.as_ref() {
            None => None,
            Some(doc) => Some(Record::from_document(doc)?),
        };
        let mut ledger = match &before {
            None => SubmissionLedger {
                patient,
                submitter: submitter.clone(),
                visits: BTreeMap::new(),
            },
            Some(Record {
                body: RecordBody::Submission(l),
                ..
            }) if l.patient == patient && l.submitter == submitter => l.clone(),
            Some(other) => {
                return Err(WriteError::Rejected(RecordError::Shape(format!(
                    "record {id} should be this node's submission ledger of {patient}, \
                     and is a {} record",
                    other.kind()
                ))));
            }
        };
        edit(&mut ledger);
        let record = Record {
            id,
            scope: ledger.scope(),
            body: RecordBody::Submission(ledger),
        };
        if let (Some(stored), Some(before)) = (doc.as_mut(), before.as_ref()) {
            record.write_over(before, stored, today, now_ms)?;
        } else {
            *doc = Some(record.create_document(actor, today, now_ms)?);
        }
        Ok(record)
    })?;
    Ok(())
}
