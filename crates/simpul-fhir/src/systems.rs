//! Identifier systems, code systems and extension URLs used in the export.
//!
//! SATUSEHAT's own systems where it defines one; `urn:simpul:*` for simpul's own
//! identifiers, which stay recognisable after a server assigns its own resource ids.

use simpul_model::FacilityPath;

/// NIK (national identity number), SATUSEHAT's patient identifier system.
pub const NIK: &str = "https://fhir.kemkes.go.id/id/nik";

/// The mother's NIK, for a newborn registered before it has a NIK of its own.
pub const NIK_IBU: &str = "https://fhir.kemkes.go.id/id/nik-ibu";

/// The IHS number: a person's id on SATUSEHAT (also its `Patient.id` there).
pub const IHS_NUMBER: &str = "https://fhir.kemkes.go.id/id/ihs-number";

/// Kartu Keluarga (family card) number.
pub const KK: &str = "https://fhir.kemkes.go.id/id/kk";

/// BPJS Kesehatan card number. SATUSEHAT documents no patient identifier system for
/// it that we could confirm; this URI follows the pattern of its NIK and KK systems and
/// may need changing when SATUSEHAT publishes one.
pub const BPJS: &str = "https://fhir.kemkes.go.id/id/bpjs";

/// SATUSEHAT's address extension carrying Kemendagri codes, with sub-extensions
/// `province`, `city`, `district`, `village`, `rt` and `rw` as `valueCode`.
pub const ADMINISTRATIVE_CODE: &str =
    "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode";

/// A simpul record id (32 hex digits). The `Patient` id is the same value.
pub const RECORD_ID: &str = "urn:simpul:record-id";

/// A simpul facility path (`3273/P3273010201/...`): facilities have no SATUSEHAT
/// organisation id in simpul yet, so they are named by path.
pub const FACILITY_PATH: &str = "urn:simpul:facility-path";

/// simpul's screening instruments (`srq-20`, `puma`, `skilas`, `tb-symptoms`, `kpsp`).
pub const SCREENING_INSTRUMENT: &str = "urn:simpul:screening-instrument";

/// LOINC.
pub const LOINC: &str = "http://loinc.org";

/// UCUM units.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// CDC vaccine codes (CVX).
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";

/// HL7 v3 RoleCode (`MTH`: mother).
pub const V3_ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";

/// HL7 v3 ActCode (encounter classes `AMB`, `HH`).
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

/// HL7 v3 ObservationInterpretation (`N`, `POS`).
pub const V3_OBSERVATION_INTERPRETATION: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

/// FHIR observation categories (`vital-signs`, `laboratory`, `survey`).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

/// SATUSEHAT's facility-scoped identifier system for `kind` (`encounter`,
/// `observation`, `immunization`) at `facility`:
/// `http://sys-ids.kemkes.go.id/<kind>/<facility code>`. SATUSEHAT puts its
/// organisation id there; simpul has none yet and uses the facility's own code (the
/// last path segment, e.g. `3273010201-PY04`).
pub fn sys_ids(kind: &str, facility: &FacilityPath) -> String {
    format!("http://sys-ids.kemkes.go.id/{kind}/{}", facility.code())
}
