//! `Encounter`: one per visit, and the per-visit context the other resources share.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use simpul_model::{Patient, RecordId, Setting, Visit};

use crate::datetime::local_midnight_utc;
use crate::ids::resource_id;
use crate::systems;

/// One visit of a record, with what every resource made from it needs.
#[derive(Debug, Clone)]
pub struct VisitContext<'a> {
    /// The record id (hex), which is also the `Patient` id.
    pub record: String,
    /// The visit's key in the record (its visit id).
    pub key: &'a str,
    /// The visit.
    pub visit: &'a Visit,
    /// True when the visit no longer counts: marked entered in error, or superseded by
    /// a correcting visit. Its resources then carry status `entered-in-error`.
    pub in_error: bool,
    /// The `Encounter` id: `<record>-<visit>`.
    pub encounter_id: String,
    /// The visit's time as a UTC `dateTime` ([`local_midnight_utc`]).
    pub time: String,
}

impl VisitContext<'_> {
    /// `{"reference": "Patient/<record>"}`.
    pub fn subject(&self) -> Value {
        json!({"reference": format!("Patient/{}", self.record)})
    }

    /// `{"reference": "Encounter/<encounter id>"}`.
    pub fn encounter_ref(&self) -> Value {
        json!({"reference": format!("Encounter/{}", self.encounter_id)})
    }

    /// The id of a resource recorded at this visit: `<record>-<visit>-<suffix>`.
    pub fn child_id(&self, suffix: &str) -> String {
        resource_id(&[&self.record, self.key, suffix])
    }
}

/// Every visit of the patient in record `id`, in visit-id order, superseded and
/// erroneous ones included (marked [`VisitContext::in_error`]).
pub fn visits(id: RecordId, p: &Patient) -> Vec<VisitContext<'_>> {
    let record = id.to_string();
    let superseded: BTreeSet<&str> = p
        .visits
        .values()
        .filter_map(|v| v.supersedes.as_deref())
        .collect();
    p.visits
        .iter()
        .map(|(key, visit)| VisitContext {
            encounter_id: resource_id(&[&record, key]),
            record: record.clone(),
            key,
            visit,
            in_error: visit.entered_in_error.is_some() || superseded.contains(key.as_str()),
            time: local_midnight_utc(visit.date, &visit.facility),
        })
        .collect()
}

/// The `Encounter` for a visit: status `finished` (or `entered-in-error`), class `AMB`
/// (ambulatory; `HH`, home health, for a home visit), the visit's local midnight as
/// `period.start`, the recording facility as `serviceProvider` (by path) and the visit
/// id as identifier in SATUSEHAT's encounter system for that facility.
pub fn encounter(v: &VisitContext<'_>) -> Value {
    let (class, class_name) = match v.visit.setting {
        Setting::HomeVisit => ("HH", "home health"),
        Setting::Posyandu | Setting::Pustu | Setting::Puskesmas => ("AMB", "ambulatory"),
    };
    let facility = &v.visit.facility;
    json!({
        "resourceType": "Encounter",
        "id": v.encounter_id,
        "identifier": [{
            "system": systems::sys_ids("encounter", facility),
            "value": v.key,
        }],
        "status": if v.in_error { "entered-in-error" } else { "finished" },
        "class": {"system": systems::V3_ACT_CODE, "code": class, "display": class_name},
        "subject": v.subject(),
        "period": {"start": v.time},
        "serviceProvider": {
            "identifier": {"system": systems::FACILITY_PATH, "value": facility.as_str()},
            "display": facility.code(),
        },
    })
}
