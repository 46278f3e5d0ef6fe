//! A visit as one SATUSEHAT transaction Bundle: the Encounter and what was recorded at
//! it (Observations of the measurements, Immunizations, a Condition per diagnosis),
//! linked by `urn:uuid`
//! references, each resource carrying a business identifier in the platform's
//! facility-scoped system so that a retry is recognised instead of duplicated.
//!
//! The resources start from the FHIR export (`simpul-fhir`) and are given what the
//! platform asks for on top (docs/satusehat.md has the table): its ids for the patient,
//! practitioner, location and organization, `statusHistory`, the participant, the
//! Ministry's vaccine and reason codes.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use simpul_fhir::encounter::VisitContext;
use simpul_fhir::{immunization, observation, systems};
use simpul_model::pws::schedule::{Dose, TargetAge, target_age};
use simpul_model::{Antigen, Date, Sex};

use super::codes::SubmissionCodes;

/// HL7 participation types (`ATND`, attender).
const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";

/// ICD-10, as SATUSEHAT takes diagnoses.
pub const ICD_10: &str = "http://hl7.org/fhir/sid/icd-10";

/// HL7 condition categories (`encounter-diagnosis`).
const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";

/// HL7 condition clinical status (`active`).
const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";

/// HL7 condition verification status (`entered-in-error`).
const CONDITION_VERIFICATION: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

/// HL7 diagnosis roles (`DD`, discharge diagnosis, as the platform's examples use).
const DIAGNOSIS_ROLE: &str = "http://terminology.hl7.org/CodeSystem/diagnosis-role";

/// The Ministry's immunization reasons (`IM-Rutin`, `IM-WUS`, ...).
pub const IMMUNIZATION_REASON: &str =
    "http://terminology.kemkes.go.id/CodeSystem/immunization-reason";

/// The Ministry's timing of a routine dose (`IM-Ideal`, `IM-Kejar`).
pub const ROUTINE_TIMING: &str =
    "http://terminology.kemkes.go.id/CodeSystem/immunization-routine-timing";

/// The platform's ids and names a visit's resources point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties<'a> {
    /// The patient's IHS number.
    pub ihs: &'a str,
    /// The patient's name (a reference's display).
    pub patient_name: &'a str,
    /// The patient's birth date and sex (a dose's timing, a Td dose's reason).
    pub birth_date: Date,
    /// Ditto.
    pub sex: Sex,
    /// The Organization of the puskesmas the visit belongs to.
    pub organization: &'a str,
    /// The Location the visit took place at, and its name.
    pub location: &'a str,
    /// Ditto.
    pub location_name: &'a str,
    /// The Practitioner who attended.
    pub practitioner: &'a str,
}

/// A visit's Bundle, and the business identifier each of its resources is found by.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitBundle {
    /// The transaction Bundle.
    pub bundle: Value,
    /// Per entry, in order (the Encounter first).
    pub entries: Vec<Identified>,
}

/// A resource's type and business identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// `Encounter`, `Observation`, `Immunization`.
    pub kind: &'static str,
    /// The identifier's system (`http://sys-ids.kemkes.go.id/{kind}/{org}`).
    pub system: String,
    /// Its value (`<visit>` for the Encounter, `<visit>-<suffix>` for the others).
    pub value: String,
}

/// The transaction Bundle that creates `v` on the platform, or what is missing to build
/// it (a vaccine code the node's config does not give).
pub(super) fn create(
    v: &VisitContext<'_>,
    parties: &Parties<'_>,
    codes: &SubmissionCodes,
) -> Result<VisitBundle, String> {
    let encounter_uuid = uuid(v, "encounter");
    let encounter_ref = json!({"reference": format!("urn:uuid:{encounter_uuid}")});
    let org = parties.organization;
    let mut identified = vec![Identified {
        kind: "Encounter",
        system: format!("{}/{org}", sys_ids("encounter")),
        value: v.key.to_string(),
    }];
    let mut entries = vec![entry(
        &encounter_uuid,
        encounter(v, parties, codes),
        &identified[0],
    )];
    for mut obs in observation::observations(v) {
        // Screenings carry simpl's own instrument codes, which the platform would not
        // take: only LOINC-coded measurements are sent.
        if obs["code"]["coding"][0]["system"] != systems::LOINC {
            continue;
        }
        let what = relink(
            &mut obs,
            "Observation",
            "subject",
            parties,
            &encounter_ref,
            org,
        );
        obs["performer"] = json!([practitioner_ref(parties)]);
        add(&mut entries, &mut identified, v, obs, what);
    }
    for (mut imm, given) in immunization::immunizations(v)
        .into_iter()
        .zip(&v.visit.immunisations)
    {
        let what = relink(
            &mut imm,
            "Immunization",
            "patient",
            parties,
            &encounter_ref,
            org,
        );
        imm["vaccineCode"] = vaccine_code(given.antigen, codes)?;
        imm["performer"] = json!([{"actor": practitioner_ref(parties)}]);
        imm["location"] = location_ref(parties);
        imm["reasonCode"] = reason(
            Dose {
                antigen: given.antigen,
                number: given.dose,
            },
            parties,
            v.visit.date,
        );
        add(&mut entries, &mut identified, v, imm, what);
    }
    let mut diagnoses = Vec::new();
    for (n, code) in v.visit.diagnoses.iter().enumerate() {
        let what = Identified {
            kind: "Condition",
            system: format!("{}/{org}", sys_ids("condition")),
            value: format!("{}-c{n}", v.key),
        };
        let id = uuid(v, &what.value);
        let mut condition = json!({
            "resourceType": "Condition",
            "identifier": [{"system": what.system, "value": what.value}],
            "category": [{"coding": [{
                "system": CONDITION_CATEGORY, "code": "encounter-diagnosis",
                "display": "Encounter Diagnosis",
            }]}],
            "code": {"coding": [{"system": ICD_10, "code": code}]},
            "subject": patient_ref(parties),
            "encounter": encounter_ref.clone(),
            "recordedDate": v.time,
        });
        // FHIR (con-5): an entered-in-error Condition carries no clinical status.
        if v.in_error {
            condition["verificationStatus"] = json!({"coding": [{
                "system": CONDITION_VERIFICATION, "code": "entered-in-error",
                "display": "Entered in Error",
            }]});
        } else {
            condition["clinicalStatus"] = json!({"coding": [{
                "system": CONDITION_CLINICAL, "code": "active", "display": "Active",
            }]});
        }
        diagnoses.push(json!({
            "condition": {"reference": format!("urn:uuid:{id}")},
            "use": {"coding": [{"system": DIAGNOSIS_ROLE, "code": "DD", "display": "Discharge diagnosis"}]},
            "rank": n + 1,
        }));
        add(&mut entries, &mut identified, v, condition, what);
    }
    if !diagnoses.is_empty() {
        entries[0]["resource"]["diagnosis"] = json!(diagnoses);
    }
    Ok(VisitBundle {
        bundle: json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}),
        entries: identified,
    })
}

/// The transaction Bundle that marks a sent visit `entered-in-error`: each resource of
/// `built` (the visit's Bundle, built from the visit as it stands: in error) that the
/// platform holds (`found`, `Type/id` per entry, found by business identifier) written
/// again (`PUT`) with that status, its references pointing at the platform's ids.
pub(super) fn withdraw(built: &VisitBundle, found: &[Option<String>], base: &str) -> Value {
    let sent: Vec<Value> = built.bundle["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut text = serde_json::to_string(&sent).unwrap_or_default();
    for (e, platform) in sent.iter().zip(found) {
        if let (Some(urn), Some(platform)) = (e["fullUrl"].as_str(), platform) {
            text = text.replace(&format!("\"{urn}\""), &format!("\"{platform}\""));
        }
    }
    let relinked: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
    let entries: Vec<Value> = relinked
        .into_iter()
        .zip(found)
        .filter_map(|(mut e, platform)| {
            let platform = platform.as_ref()?;
            let id = platform.split_once('/').map(|(_, id)| id)?;
            e["resource"]["id"] = json!(id);
            Some(json!({
                "fullUrl": format!("{base}/{platform}"),
                "resource": e["resource"].take(),
                "request": {"method": "PUT", "url": platform},
            }))
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn sys_ids(kind: &str) -> String {
    format!("http://sys-ids.kemkes.go.id/{kind}")
}

/// A Bundle entry creating `resource`, conditional on its identifier (a platform that
/// honours `ifNoneExist` answers with what it holds; one that does not refuses the
/// duplicate, and the bridge looks it up: see the module docs of `submission`).
fn entry(uuid: &str, mut resource: Value, what: &Identified) -> Value {
    if let Some(o) = resource.as_object_mut() {
        o.remove("id");
    }
    json!({
        "fullUrl": format!("urn:uuid:{uuid}"),
        "resource": resource,
        "request": {
            "method": "POST",
            "url": what.kind,
            "ifNoneExist": format!("identifier={}|{}", what.system, what.value),
        },
    })
}

/// The export's identifier value of a resource made at a visit (`<visit>-<suffix>`).
fn local_identifier(resource: &Value) -> String {
    resource["identifier"][0]["value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Points a resource of the export (a `kind`) at the platform's patient and the
/// Bundle's encounter, under the platform's identifier system for `org`; returns that
/// identifier.
fn relink(
    resource: &mut Value,
    kind: &'static str,
    patient_field: &str,
    parties: &Parties<'_>,
    encounter: &Value,
    org: &str,
) -> Identified {
    let value = local_identifier(resource);
    let system = format!("{}/{org}", sys_ids(&kind.to_ascii_lowercase()));
    resource[patient_field] = patient_ref(parties);
    resource["encounter"] = encounter.clone();
    resource["identifier"] = json!([{"system": system, "value": value}]);
    Identified {
        kind,
        system,
        value,
    }
}

/// Adds a resource of the visit to the Bundle's entries, under its stable UUID.
fn add(
    entries: &mut Vec<Value>,
    identified: &mut Vec<Identified>,
    v: &VisitContext<'_>,
    resource: Value,
    what: Identified,
) {
    let id = uuid(v, &what.value);
    entries.push(entry(&id, resource, &what));
    identified.push(what);
}

fn patient_ref(p: &Parties<'_>) -> Value {
    json!({"reference": format!("Patient/{}", p.ihs), "display": p.patient_name})
}

fn practitioner_ref(p: &Parties<'_>) -> Value {
    json!({"reference": format!("Practitioner/{}", p.practitioner)})
}

fn location_ref(p: &Parties<'_>) -> Value {
    json!({"reference": format!("Location/{}", p.location), "display": p.location_name})
}

/// The Encounter as SATUSEHAT's outpatient guide asks: `statusHistory` arrived,
/// in-progress, finished (a visit records a date only: each at the visit's local
/// midnight, the time the export uses), participant ATND, location, serviceProvider,
/// and the ANC contact (K1-K6) as a second identifier.
fn encounter(v: &VisitContext<'_>, p: &Parties<'_>, codes: &SubmissionCodes) -> Value {
    let mut out = simpul_fhir::encounter::encounter(v);
    let t = &v.time;
    let mut identifiers = vec![json!({
        "system": format!("{}/{}", sys_ids("encounter"), p.organization),
        "value": v.key,
    })];
    if let Some(k) = v.visit.anc_number.filter(|k| (1..=6).contains(k)) {
        // K1 is sent as K1M (murni: first contact in the first trimester) when the
        // pregnancy was at 12 weeks or less, else as K1A (akses).
        let value = match (k, v.visit.gestational_weeks) {
            (1, Some(w)) if w <= 12 => "K1M".to_string(),
            (1, _) => "K1A".to_string(),
            (k, _) => format!("K{k}"),
        };
        identifiers.push(json!({"system": codes.anc_system, "value": value}));
    }
    out["identifier"] = json!(identifiers);
    out["subject"] = patient_ref(p);
    out["participant"] = json!([{
        "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": "ATND", "display": "attender"}]}],
        "individual": practitioner_ref(p),
    }]);
    out["period"] = json!({"start": t, "end": t});
    out["location"] = json!([{"location": location_ref(p)}]);
    out["statusHistory"] = json!(
        ["arrived", "in-progress", "finished"]
            .map(|s| json!({"status": s, "period": {"start": t, "end": t}}))
    );
    out["serviceProvider"] = json!({"reference": format!("Organization/{}", p.organization)});
    out
}

/// The vaccine: the Ministry's KFA code from the node's config, and the CVX code the
/// export uses.
fn vaccine_code(antigen: Antigen, codes: &SubmissionCodes) -> Result<Value, String> {
    let kfa = codes.vaccines.get(&antigen).ok_or_else(|| {
        format!(
            "no KFA vaccine code for {antigen}: set satusehat.vaccines.\"{antigen}\" in the \
             node's config (the code SATUSEHAT's KFA browser gives the product used)"
        )
    })?;
    let (cvx, cvx_name) = immunization::cvx(antigen);
    Ok(json!({
        "coding": [
            {"system": codes.vaccine_system, "code": kfa, "display": antigen.as_str()},
            {"system": systems::CVX, "code": cvx, "display": cvx_name},
        ],
        "text": antigen.as_str(),
    }))
}

/// Why a dose was given, in the Ministry's codes: a dose of the child schedule is
/// routine (`IM-Rutin`), on time (`IM-Ideal`) in its target age and catching up
/// (`IM-Kejar`) outside it; Td for a woman of 15 or more is `IM-WUS`; Td, DT and HPV
/// otherwise are given at school (`IM-SD`, the BIAS programme).
fn reason(dose: Dose, p: &Parties<'_>, given: Date) -> Value {
    let days = p.birth_date.days_until(given);
    let months = p.birth_date.months_until(given);
    let code = |system: &str, code: &str, display: &str| json!({"system": system, "code": code, "display": display});
    match target_age(dose) {
        Some(TargetAge::Any) | None
            if matches!(dose.antigen, Antigen::Td | Antigen::Dt | Antigen::Hpv) =>
        {
            if dose.antigen == Antigen::Td && p.sex == Sex::Female && months >= 15 * 12 {
                json!([{"coding": [code(IMMUNIZATION_REASON, "IM-WUS", "Imunisasi Wanita Usia Subur")]}])
            } else {
                json!([{"coding": [code(IMMUNIZATION_REASON, "IM-SD", "Imunisasi Anak Sekolah")]}])
            }
        }
        target => {
            let on_time = target.is_some_and(|t| t.contains(days, months));
            let timing = if on_time {
                code(ROUTINE_TIMING, "IM-Ideal", "Imunisasi Ideal")
            } else {
                code(ROUTINE_TIMING, "IM-Kejar", "Imunisasi Kejar")
            };
            json!([{"coding": [code(IMMUNIZATION_REASON, "IM-Rutin", "Imunisasi Program Rutin"), timing]}])
        }
    }
}

/// A stable UUID for a resource of a visit (the same on every attempt, so a Bundle sent
/// again is the same Bundle): SHA-256 of record, visit and resource, laid out as an
/// RFC 9562 version 8 (custom) UUID.
fn uuid(v: &VisitContext<'_>, what: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"simpul-satusehat\0")
        .chain_update(v.record.as_bytes())
        .chain_update(b"\0")
        .chain_update(v.key.as_bytes())
        .chain_update(b"\0")
        .chain_update(what.as_bytes())
        .finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
