//! `Patient` and the mother's `RelatedPerson`.

use serde_json::{Value, json};
use simpul_model::{Address, Patient, RecordId, Sex, VillageCode};

use crate::ids::resource_id;
use crate::systems;

/// FHIR administrative gender for a recorded sex.
pub fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::Female => "female",
        Sex::Male => "male",
    }
}

/// The `Patient` for record `id`.
///
/// - `id` is the record id; an identifier in [`systems::RECORD_ID`] repeats it.
/// - Identifiers: NIK, nik-ibu, KK and BPJS in their [`systems`]. A newborn registered
///   with its mother's NIK carries it under `nik-ibu`, and its birth order (1, 2 for
///   twins...) as `multipleBirthInteger`, as SATUSEHAT's newborn registration does.
/// - The address carries the Kemendagri codes in SATUSEHAT's `administrativeCode`
///   extension: province (2 digits), city (4), district (6, the kecamatan), village
///   (10), and RT/RW as stored (3 digits).
/// - `managingOrganization` names the home facility by path.
/// - A record merged into another is `active: false` with a `replaced-by` link to the
///   surviving `Patient` (and is exported without its visits: see the crate docs).
pub fn patient(id: RecordId, p: &Patient) -> Value {
    let id = id.to_string();
    let ids = &p.identifiers;
    let mut identifier =
        vec![json!({"use": "secondary", "system": systems::RECORD_ID, "value": id})];
    let listed = [
        (systems::NIK, &ids.nik),
        (systems::NIK_IBU, &ids.nik_ibu),
        (systems::KK, &ids.kk),
        (systems::BPJS, &ids.bpjs),
        (systems::IHS_NUMBER, &ids.ihs),
    ];
    for (system, value) in listed {
        if let Some(value) = value {
            let official = system == systems::NIK;
            identifier.push(if official {
                json!({"use": "official", "system": system, "value": value})
            } else {
                json!({"system": system, "value": value})
            });
        }
    }
    let mut out = json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": identifier,
        "active": p.merged_into.is_none(),
        "name": [{"use": "official", "text": p.name}],
        "gender": gender(p.sex),
        "birthDate": p.birth_date.to_string(),
        "address": [address(&p.address)],
        "managingOrganization": {
            "identifier": {"system": systems::FACILITY_PATH, "value": p.home_facility.as_str()},
            "display": p.home_facility.code(),
        },
    });
    if let Some(died) = p.died_on {
        out["deceasedDateTime"] = json!(died.to_string());
    }
    if let (Some(order), Some(_)) = (ids.birth_order, &ids.nik_ibu) {
        out["multipleBirthInteger"] = json!(order);
    }
    if let Some(survivor) = p.merged_into {
        out["link"] = json!([{
            "other": {"reference": format!("Patient/{survivor}")},
            "type": "replaced-by",
        }]);
    }
    out
}

fn address(a: &Address) -> Value {
    let mut codes = Vec::new();
    match VillageCode::parse(&a.village) {
        Ok(v) => {
            let d = v.as_str();
            for (url, len) in [
                ("province", 2),
                ("city", 4),
                ("district", 6),
                ("village", 10),
            ] {
                codes.push(json!({"url": url, "valueCode": &d[..len]}));
            }
        }
        // Not a village code we understand: pass it on as it is, without parents.
        Err(_) => codes.push(json!({"url": "village", "valueCode": a.village})),
    }
    for (url, value) in [("rt", &a.rt), ("rw", &a.rw)] {
        if let Some(value) = value {
            codes.push(json!({"url": url, "valueCode": value}));
        }
    }
    let mut out = json!({
        "use": "home",
        "country": "ID",
        "extension": [{"url": systems::ADMINISTRATIVE_CODE, "extension": codes}],
    });
    if let Some(line) = &a.line {
        out["line"] = json!([line]);
    }
    out
}

/// The `RelatedPerson` for the mother of the child in record `child`, when the record
/// links one (`patient.mother`); id `<child>-mother`.
///
/// Its `patient` is the child. FHIR R4 has no element linking a `RelatedPerson` to the
/// `Patient` who is the same person, so the mother's record id goes in an identifier
/// ([`systems::RECORD_ID`]): her `Patient` is `Patient/<that id>` in the same export.
/// When the child was registered with its mother's NIK (`nik_ibu`), that NIK is the
/// mother's own and is listed under [`systems::NIK`].
pub fn mother(child: RecordId, p: &Patient) -> Option<Value> {
    let mother = p.mother?;
    let child = child.to_string();
    let mut identifier = vec![
        json!({"use": "secondary", "system": systems::RECORD_ID, "value": mother.to_string()}),
    ];
    if let Some(nik) = &p.identifiers.nik_ibu {
        identifier.push(json!({"use": "official", "system": systems::NIK, "value": nik}));
    }
    Some(json!({
        "resourceType": "RelatedPerson",
        "id": resource_id(&[&child, "mother"]),
        "identifier": identifier,
        "active": true,
        "patient": {"reference": format!("Patient/{child}")},
        "relationship": [{
            "coding": [{"system": systems::V3_ROLE_CODE, "code": "MTH", "display": "mother"}],
        }],
        "gender": "female",
    }))
}
