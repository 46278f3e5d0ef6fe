//! FHIR R4 (4.0.1) export of simpul records, shaped for SATUSEHAT, the Indonesian
//! national FHIR platform, and written as NDJSON (one file per resource type).
//!
//! This crate owns the mapping from a [`Record`] to FHIR resources and the NDJSON files
//! they are written to. It reads no clock, no randomness and no store: a record in,
//! JSON out, the same every time. It must not touch records (export is read-only) and
//! does not talk to SATUSEHAT; sending is another component's job.
//!
//! | record content                  | resources                                          |
//! |---------------------------------|----------------------------------------------------|
//! | patient                         | one `Patient` ([`patient`])                        |
//! | `patient.mother` set            | one `RelatedPerson` (the mother, role `MTH`)       |
//! | each visit                      | one `Encounter` ([`encounter`])                    |
//! | each measurement, BP as a panel | one `Observation` ([`observation`])                |
//! | each screening                  | one `Observation`, category `survey`               |
//! | each immunisation               | one `Immunization` ([`immunization`])              |
//! | activity and audit records      | nothing (no clean FHIR mapping yet)                |
//!
//! Not exported: vitamin A (a MedicationAdministration), ANC number and gestational
//! age, visit notes, the klaster and who recorded a visit.
//!
//! Rules that hold across resources:
//! - **Ids** are deterministic: the record id (`Patient`), `<record>-<visit>`
//!   (`Encounter`), `<record>-<visit>-<suffix>` for what hangs off a visit, and
//!   `<record>-mother` (`RelatedPerson`). Anything that would not be a valid FHIR id
//!   (`[A-Za-z0-9\-.]{1,64}`) becomes the SHA-256 of the joined parts in hex
//!   ([`ids::resource_id`]); references are built with the same function.
//! - **Times**: a visit has only a date. It is exported as local midnight at the
//!   facility, converted to UTC as SATUSEHAT asks ([`datetime::local_midnight_utc`]).
//! - **Corrections**: a visit marked entered in error, and a visit that another visit
//!   `supersedes`, are exported with status `entered-in-error`, and so is everything
//!   recorded at them. The correcting visit is an ordinary `finished` encounter.
//! - **Merged duplicates** (`merged_into` set) give only their `Patient`, with
//!   `active: false` and a `replaced-by` link to the survivor. Merging copies the
//!   duplicate's visits (same visit ids) and mother link into the survivor, which
//!   exports them; exporting them twice would give two encounters with the same
//!   SATUSEHAT identifier. As in PWS counts, the survivor speaks for the person.
//!
//! [`Export`] writes the files; [`resources`] gives one record's resources as JSON.

pub mod datetime;
pub mod encounter;
pub mod ids;
pub mod immunization;
mod ndjson;
pub mod observation;
pub mod patient;
pub mod systems;

use serde_json::Value;
use simpul_model::{Record, RecordBody};

pub use ndjson::{CHECKPOINT_FILE, Checkpoint, Counts, Export, ExportError, ResourceType};

/// The FHIR resources one record maps to, as JSON objects with `resourceType` set:
/// the patient, the mother link, then per visit (in visit-id order) its encounter,
/// observations and immunizations. A merged duplicate gives its patient only. Other kinds of record (activities, audit logs) give
/// nothing.
pub fn resources(record: &Record) -> Vec<Value> {
    typed_resources(record)
        .into_iter()
        .map(|(_, json)| json)
        .collect()
}

/// [`resources`] with each resource's type, as [`Export`] files them.
pub fn typed_resources(record: &Record) -> Vec<(ResourceType, Value)> {
    let RecordBody::Patient(p) = &record.body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.push((ResourceType::Patient, patient::patient(record.id, p)));
    if p.merged_into.is_some() {
        return out;
    }
    if let Some(mother) = patient::mother(record.id, p) {
        out.push((ResourceType::RelatedPerson, mother));
    }
    for visit in encounter::visits(record.id, p) {
        out.push((ResourceType::Encounter, encounter::encounter(&visit)));
        for obs in observation::observations(&visit) {
            out.push((ResourceType::Observation, obs));
        }
        for imm in immunization::immunizations(&visit) {
            out.push((ResourceType::Immunization, imm));
        }
    }
    out
}
