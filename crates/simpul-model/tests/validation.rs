//! Every validation rule rejects what it must, names the field, and accepts good values.

mod common;

use common::*;
use simpul_model::validate::{check_nik_agreement, validate_patient};
use simpul_model::*;

fn rejected(p: &Patient, field: &str) -> String {
    let errors = validate_patient(p, today()).expect_err("should be rejected");
    assert!(
        errors.has_field(field),
        "expected an error on {field}, got: {errors}"
    );
    errors.to_string()
}

#[test]
fn a_good_patient_passes() {
    let mut p = patient();
    p.visits
        .insert("0000000000000001".into(), visit("2026-10-01"));
    validate_patient(&p, today()).expect("valid");
    check_nik_agreement(&p).expect("NIK agrees");
}

#[test]
fn nik_structure() {
    for nik in [
        "123",
        "3273015208900003x",
        "9973015208900003",
        "3273015213900003",
        "3273015208900000",
    ] {
        let mut p = patient();
        p.identifiers.nik = Some(nik.into());
        rejected(&p, "identifiers.nik");
    }
}

#[test]
fn nik_must_agree_with_sex_and_birth_date() {
    let mut p = patient();
    p.sex = Sex::Male;
    let err = check_nik_agreement(&p).expect_err("sex disagrees");
    assert!(
        err.has_field("identifiers.nik") && err.to_string().contains("sex"),
        "{err}"
    );

    let mut p = patient();
    p.birth_date = date("1990-08-13");
    let err = check_nik_agreement(&p).expect_err("date disagrees");
    assert!(err.to_string().contains("birth date"), "{err}");

    let mut p = patient();
    p.birth_date = date("1991-08-12");
    assert!(check_nik_agreement(&p).is_err(), "year disagrees");
}

#[test]
fn nik_ibu_and_birth_order() {
    let mut p = patient();
    p.identifiers.nik = None;
    p.identifiers.nik_ibu = Some("3273011208900003".into()); // a man's NIK
    p.identifiers.birth_order = Some(1);
    rejected(&p, "identifiers.nik_ibu");

    p.identifiers.nik_ibu = Some("3273015208900003".into());
    p.identifiers.birth_order = Some(0);
    rejected(&p, "identifiers.birth_order");

    p.identifiers.nik_ibu = None;
    p.identifiers.birth_order = Some(2);
    rejected(&p, "identifiers.birth_order");
}

#[test]
fn other_cards() {
    let mut p = patient();
    p.identifiers.kk = Some("12345".into());
    p.identifiers.bpjs = Some("12".into());
    rejected(&p, "identifiers.kk");
    rejected(&p, "identifiers.bpjs");
}

#[test]
fn area_codes_have_the_right_shape() {
    for village in ["", "32730100", "9973010001", "3273000001", "32.73.01.01"] {
        let mut p = patient();
        p.address.village = village.into();
        rejected(&p, "address.village");
    }
    let mut p = patient();
    p.address.rt = Some("3".into());
    let msg = rejected(&p, "address.rt");
    assert!(msg.contains("\"003\""), "{msg}");
    p.address.rw = Some("1000".into());
    rejected(&p, "address.rw");
}

#[test]
fn dates_are_real_and_not_in_the_future() {
    let mut p = patient();
    p.birth_date = date("2026-11-24");
    let msg = rejected(&p, "birth_date");
    assert!(msg.contains("future"), "{msg}");
    p.birth_date = date("1899-12-31");
    rejected(&p, "birth_date");

    let mut p = patient();
    p.visits
        .insert("0000000000000001".into(), visit("2026-12-01"));
    rejected(&p, "visits.0000000000000001.date");
    let mut p = patient();
    p.visits
        .insert("0000000000000001".into(), visit("1980-01-01"));
    let msg = rejected(&p, "visits.0000000000000001.date");
    assert!(msg.contains("before"), "visit before birth: {msg}");
    assert!(Date::parse("2026-02-30").is_err());
}

#[test]
fn names_and_text() {
    let mut p = patient();
    p.name = "  ".into();
    rejected(&p, "name");
    p.name = "a\u{7}b".into();
    rejected(&p, "name");
    p.name = "x".repeat(201);
    rejected(&p, "name");
}

fn with_measure(birth: &str, visit_date: &str, f: impl FnOnce(&mut Measurements)) -> Patient {
    let mut p = patient();
    p.identifiers.nik = None;
    p.birth_date = date(birth);
    let mut v = visit(visit_date);
    v.measurements = Measurements::default();
    f(&mut v.measurements);
    p.visits.insert("0000000000000001".into(), v);
    p
}

#[test]
fn measurements_are_plausible_for_the_age() {
    let f = "visits.0000000000000001.measurements.";
    // A 12-month-old weighing 60 kg is a typing error; an adult weighing 60 kg is not.
    let p = with_measure("2025-10-01", "2026-10-01", |m| m.weight_kg = Some(60.0));
    rejected(&p, &format!("{f}weight_kg"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.weight_kg = Some(60.0));
    validate_patient(&p, today()).expect("adult weight");
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.weight_kg = Some(f64::NAN));
    rejected(&p, &format!("{f}weight_kg"));
    // Lying length is for small children.
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.length_cm = Some(100.0));
    rejected(&p, &format!("{f}length_cm"));
    let p = with_measure("2025-10-01", "2026-10-01", |m| m.length_cm = Some(300.0));
    rejected(&p, &format!("{f}length_cm"));
    let p = with_measure("2025-10-01", "2026-10-01", |m| {
        m.head_circumference_cm = Some(5.0)
    });
    rejected(&p, &format!("{f}head_circumference_cm"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.muac_cm = Some(80.0));
    rejected(&p, &format!("{f}muac_cm"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.waist_cm = Some(10.0));
    rejected(&p, &format!("{f}waist_cm"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| {
        m.systolic_mmhg = Some(80.0);
        m.diastolic_mmhg = Some(120.0);
    });
    rejected(&p, &format!("{f}diastolic_mmhg"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| {
        m.systolic_mmhg = Some(120.0)
    });
    rejected(&p, &format!("{f}systolic_mmhg"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| {
        m.glucose_mg_dl = Some(5000.0)
    });
    rejected(&p, &format!("{f}glucose_mg_dl"));
    let p = with_measure("1990-08-12", "2026-10-01", |m| m.hb_g_dl = Some(40.0));
    rejected(&p, &format!("{f}hb_g_dl"));
}

#[test]
fn immunisation_screening_and_anc() {
    let prefix = "visits.0000000000000001.";
    let mut p = patient();
    let mut v = visit("2026-10-01");
    v.immunisations.push(Immunisation {
        antigen: Antigen::Td,
        dose: 9,
        lot: None,
    });
    v.screenings.push(Screening {
        instrument: Instrument::Srq20,
        score: 21,
        result: ScreeningResult::Positive,
    });
    p.visits.insert("0000000000000001".into(), v);
    rejected(&p, &format!("{prefix}immunisations.0.dose"));
    rejected(&p, &format!("{prefix}screenings.0.score"));

    let mut p = patient();
    p.sex = Sex::Male;
    p.identifiers.nik = None;
    let mut v = visit("2026-10-01");
    v.anc_number = Some(1);
    p.visits.insert("0000000000000001".into(), v);
    rejected(&p, &format!("{prefix}anc_number"));
}

#[test]
fn a_correction_must_point_at_an_existing_visit() {
    let mut p = patient();
    let mut v = visit("2026-10-01");
    v.supersedes = Some("00000000000000ff".into());
    p.visits.insert("0000000000000001".into(), v);
    rejected(&p, "visits.0000000000000001.supersedes");
}

#[test]
fn corrections_and_error_marks_hide_but_keep_visits() {
    let mut p = patient();
    p.visits
        .insert("0000000000000001".into(), visit("2026-09-01"));
    let mut fixed = visit("2026-09-01");
    fixed.supersedes = Some("0000000000000001".into());
    p.visits.insert("0000000000000002".into(), fixed);
    let mut wrong = visit("2026-10-01");
    wrong.entered_in_error = Some(ErrorMark {
        reason: "other child".into(),
        by: "bidan".into(),
        at_ms: 1,
    });
    p.visits.insert("0000000000000003".into(), wrong);
    let current: Vec<&str> = p.current_visits().into_iter().map(|(id, _)| id).collect();
    assert_eq!(current, ["0000000000000002"]);
    assert_eq!(p.visits.len(), 3);
}

#[test]
fn a_record_document_with_a_bad_value_is_not_created() {
    let mut p = patient();
    p.address.village = "nowhere".into();
    let err = record(1, p)
        .create_document(node_actor(&path(POSYANDU), [1; 4]), today(), 0)
        .expect_err("rejected");
    assert!(
        matches!(err, RecordError::Invalid(ref e) if e.has_field("address.village")),
        "{err}"
    );
}

#[test]
fn a_replica_checks_structure_not_plausibility() {
    use simpul_model::validate::{Check, validate_patient_as};
    // Implausible, but well-formed: a 12-month-old of 60 kg, a visit dated tomorrow,
    // antenatal care for a man (the visit helper also weighs him at 61.5 kg, too
    // much at 13 months). Refused at entry; stored by a replica.
    let mut p = with_measure("2025-10-01", "2026-10-01", |m| m.weight_kg = Some(60.0));
    let mut tomorrow = visit("2026-11-24");
    tomorrow.anc_number = Some(2);
    p.sex = Sex::Male;
    p.visits.insert("0000000000000002".into(), tomorrow);
    let entry = validate_patient(&p, today()).expect_err("implausible");
    assert_eq!(entry.0.len(), 4, "{entry}");
    validate_patient_as(&p, today(), Check::Structure).expect("structure is fine");
    // A malformed value is refused at both levels.
    let mut broken = p.clone();
    broken.address.village = "nowhere".into();
    let structure = validate_patient_as(&broken, today(), Check::Structure).expect_err("bad");
    assert!(structure.has_field("address.village"), "{structure}");
    assert_eq!(
        structure.0.len(),
        1,
        "only the structural error: {structure}"
    );
    // And a document a peer sends with such values merges.
    let record = record(3, p);
    let doc = record
        .create_document(node_actor(&path(POSYANDU), [0, 0, 0, 3]), today(), 1_000)
        .expect("stored as the writer confirmed it");
    let mut slot = None;
    let merged = merge_incoming(&mut slot, Incoming::Document(doc), today()).expect("merged");
    assert_eq!(merged, record);
}

#[test]
fn diagnoses_are_icd10_codes_each_once() {
    let f = "visits.0000000000000001.diagnoses";
    let with = |codes: &[&str]| {
        let mut p = with_measure("1990-08-12", "2026-10-01", |_| {});
        if let Some(v) = p.visits.values_mut().next() {
            v.diagnoses = codes.iter().map(|c| c.to_string()).collect();
        }
        p
    };
    validate_patient(&with(&["A15.0", "E11.9", "O80", "Z23"]), today()).expect("ICD-10");
    for bad in [
        "a15.0",
        "A1",
        "A15.",
        "A15.00000",
        "15.0",
        "A15-0",
        " A15.0",
    ] {
        let msg = rejected(&with(&[bad]), &format!("{f}.0"));
        assert!(msg.contains("ICD-10"), "{bad}: {msg}");
    }
    rejected(&with(&["A15.0", "A15.0"]), &format!("{f}.1"));
    let many: Vec<String> = (10..=(10 + validate::MAX_DIAGNOSES))
        .map(|n| format!("A{n}"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    rejected(&with(&many), f);
}
