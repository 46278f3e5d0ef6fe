//! The mapping of hand-made records, field by field.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use simpul_fhir::{Export, ExportError, ResourceType, resources};
use simpul_model::{
    Activity, ActivityKind, Address, Antigen, Date, ErrorMark, FacilityPath, Identifiers,
    Immunisation, Instrument, Klaster, Patient, Record, RecordBody, RecordId, Scope, Screening,
    ScreeningResult, Setting, Sex, Visit, VisitId,
};

const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn date(s: &str) -> Date {
    Date::parse(s).expect("date")
}

fn visit_id(n: u8) -> String {
    VisitId::from_bytes([n; 8]).to_string()
}

fn visit(day: &str) -> Visit {
    Visit::new(
        date(day),
        path(POSYANDU),
        Klaster::DewasaLansia,
        Setting::Posyandu,
        "kader-01",
    )
}

fn patient_record(id: u8, patient: Patient) -> Record {
    Record {
        id: RecordId::from_bytes([id; 16]),
        scope: Scope::up(path(POSYANDU)),
        body: RecordBody::Patient(patient),
    }
}

/// Siti, 36, with a full screening visit, a visit entered in error, and a visit
/// corrected by a later one.
fn siti() -> Record {
    let mut full = visit("2026-03-10");
    let m = &mut full.measurements;
    m.weight_kg = Some(61.5);
    m.height_cm = Some(155.2);
    m.waist_cm = Some(82.0);
    m.muac_cm = Some(27.5);
    m.systolic_mmhg = Some(128.0);
    m.diastolic_mmhg = Some(84.0);
    m.glucose_mg_dl = Some(110.0);
    m.hb_g_dl = Some(12.1);
    full.screenings.push(Screening {
        instrument: Instrument::Srq20,
        score: 7,
        result: ScreeningResult::Referred,
    });
    full.immunisations.push(Immunisation {
        antigen: Antigen::Td,
        dose: 2,
        lot: Some("T77".into()),
    });

    let mut wrong = visit("2026-04-10");
    wrong.measurements.weight_kg = Some(6.15);
    wrong.immunisations.push(Immunisation {
        antigen: Antigen::Td,
        dose: 3,
        lot: None,
    });
    wrong.entered_in_error = Some(ErrorMark {
        reason: "wrong patient".into(),
        by: "bidan-01".into(),
        at_ms: 1_780_000_000_000,
    });

    let mut typo = visit("2026-05-10");
    typo.measurements.systolic_mmhg = Some(12.0);
    let mut correction = visit("2026-05-10");
    correction.measurements.systolic_mmhg = Some(120.0);
    correction.supersedes = Some(visit_id(3));

    let mut home = visit("2026-06-01");
    home.setting = Setting::HomeVisit;

    patient_record(
        0xaa,
        Patient {
            identifiers: Identifiers {
                nik: Some("3273015208900003".into()),
                kk: Some("3273010101010001".into()),
                bpjs: Some("0001234567890".into()),
                ..Identifiers::default()
            },
            name: "Siti Aminah".into(),
            sex: Sex::Female,
            birth_date: date("1990-08-12"),
            address: Address {
                village: "3273012002".into(),
                rt: Some("003".into()),
                rw: Some("011".into()),
                line: Some("Jl. Melati No. 5".into()),
            },
            home_facility: path(POSYANDU),
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: BTreeMap::from([
                (visit_id(1), full),
                (visit_id(2), wrong),
                (visit_id(3), typo),
                (visit_id(4), correction),
                (visit_id(5), home),
            ]),
        },
    )
}

/// Siti's newborn, registered with her NIK and linked to her record.
fn baby() -> Record {
    let mut first = visit("2026-03-10");
    first.klaster = Klaster::IbuAnak;
    first.measurements.weight_kg = Some(3.4);
    first.measurements.length_cm = Some(50.1);
    first.measurements.head_circumference_cm = Some(34.5);
    first.immunisations = vec![
        Immunisation {
            antigen: Antigen::Hb0,
            dose: 1,
            lot: Some("H1234".into()),
        },
        Immunisation {
            antigen: Antigen::DptHbHib,
            dose: 1,
            lot: None,
        },
    ];
    patient_record(
        0xbb,
        Patient {
            identifiers: Identifiers {
                nik_ibu: Some("3273015208900003".into()),
                birth_order: Some(2),
                ..Identifiers::default()
            },
            name: "Bayi Ny. Siti".into(),
            sex: Sex::Male,
            birth_date: date("2026-03-09"),
            address: Address {
                village: "3273012002".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: path(POSYANDU),
            mother: Some(RecordId::from_bytes([0xaa; 16])),
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: BTreeMap::from([(visit_id(9), first)]),
        },
    )
}

fn of_type<'a>(all: &'a [Value], t: &str) -> Vec<&'a Value> {
    all.iter().filter(|r| r["resourceType"] == t).collect()
}

fn one<'a>(all: &'a [Value], t: &str) -> &'a Value {
    let found = of_type(all, t);
    assert_eq!(found.len(), 1, "{t}: {found:#?}");
    found[0]
}

fn by_id<'a>(all: &'a [Value], id: &str) -> &'a Value {
    all.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

fn identifier<'a>(r: &'a Value, system: &str) -> Option<&'a str> {
    r["identifier"]
        .as_array()?
        .iter()
        .find(|i| i["system"] == system)
        .and_then(|i| i["value"].as_str())
}

fn loinc(obs: &Value) -> &str {
    let coding = &obs["code"]["coding"][0];
    assert_eq!(coding["system"], "http://loinc.org");
    coding["code"].as_str().expect("code")
}

fn observation_with_code<'a>(all: &'a [Value], code: &str) -> &'a Value {
    let found: Vec<_> = of_type(all, "Observation")
        .into_iter()
        .filter(|o| o["code"]["coding"][0]["code"] == code)
        .collect();
    assert_eq!(found.len(), 1, "observations with code {code}");
    found[0]
}

#[test]
fn patient_identity_and_address() {
    let rec = siti();
    let all = resources(&rec);
    let p = one(&all, "Patient");
    assert_eq!(p["id"], rec.id.to_string());
    assert_eq!(
        identifier(p, "https://fhir.kemkes.go.id/id/nik"),
        Some("3273015208900003")
    );
    assert_eq!(
        identifier(p, "https://fhir.kemkes.go.id/id/kk"),
        Some("3273010101010001")
    );
    assert_eq!(
        identifier(p, "https://fhir.kemkes.go.id/id/bpjs"),
        Some("0001234567890")
    );
    assert_eq!(identifier(p, "https://fhir.kemkes.go.id/id/nik-ibu"), None);
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birthDate"], "1990-08-12");
    assert_eq!(p["name"][0]["text"], "Siti Aminah");
    assert_eq!(p["active"], true);
    assert!(p.get("link").is_none());
    assert!(p.get("multipleBirthInteger").is_none());

    let address = &p["address"][0];
    assert_eq!(address["line"][0], "Jl. Melati No. 5");
    let ext = &address["extension"][0];
    assert_eq!(
        ext["url"],
        "https://fhir.kemkes.go.id/r4/StructureDefinition/administrativeCode"
    );
    let codes: BTreeMap<&str, &str> = ext["extension"]
        .as_array()
        .expect("sub-extensions")
        .iter()
        .map(|e| {
            (
                e["url"].as_str().expect("url"),
                e["valueCode"].as_str().expect("valueCode"),
            )
        })
        .collect();
    assert_eq!(
        codes,
        BTreeMap::from([
            ("province", "32"),
            ("city", "3273"),
            ("district", "327301"),
            ("village", "3273012002"),
            ("rt", "003"),
            ("rw", "011"),
        ])
    );
    assert_eq!(
        p["managingOrganization"]["identifier"]["value"], POSYANDU,
        "home facility by path"
    );
}

#[test]
fn newborn_with_mothers_nik_and_mother_link() {
    let rec = baby();
    let all = resources(&rec);
    let p = one(&all, "Patient");
    assert_eq!(p["gender"], "male");
    assert_eq!(identifier(p, "https://fhir.kemkes.go.id/id/nik"), None);
    assert_eq!(
        identifier(p, "https://fhir.kemkes.go.id/id/nik-ibu"),
        Some("3273015208900003")
    );
    assert_eq!(p["multipleBirthInteger"], 2);

    let mother = one(&all, "RelatedPerson");
    assert_eq!(
        mother["patient"]["reference"],
        format!("Patient/{}", rec.id)
    );
    let role = &mother["relationship"][0]["coding"][0];
    assert_eq!(
        role["system"],
        "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
    );
    assert_eq!(role["code"], "MTH");
    assert_eq!(
        identifier(mother, "urn:simpul:record-id"),
        Some(RecordId::from_bytes([0xaa; 16]).to_string().as_str()),
        "the mother's own record"
    );
    assert_eq!(
        identifier(mother, "https://fhir.kemkes.go.id/id/nik"),
        Some("3273015208900003"),
        "nik-ibu is the mother's NIK"
    );
    assert!(of_type(&resources(&siti()), "RelatedPerson").is_empty());
}

#[test]
fn measurements_have_their_loinc_codes_and_units() {
    let all = resources(&siti());
    let full: Vec<&Value> = of_type(&all, "Observation")
        .into_iter()
        .filter(|o| {
            o["encounter"]["reference"]
                .as_str()
                .is_some_and(|r| r.ends_with(&visit_id(1)))
        })
        .collect();
    let quantities: BTreeMap<&str, (f64, &str, &str)> = full
        .iter()
        .filter(|o| o.get("valueQuantity").is_some())
        .map(|o| {
            let q = &o["valueQuantity"];
            assert_eq!(q["system"], "http://unitsofmeasure.org");
            (
                loinc(o),
                (
                    q["value"].as_f64().expect("value"),
                    q["code"].as_str().expect("unit"),
                    o["category"][0]["coding"][0]["code"]
                        .as_str()
                        .expect("category"),
                ),
            )
        })
        .collect();
    assert_eq!(
        quantities,
        BTreeMap::from([
            ("29463-7", (61.5, "kg", "vital-signs")),
            ("8302-2", (155.2, "cm", "vital-signs")),
            ("8280-0", (82.0, "cm", "vital-signs")),
            ("56072-2", (27.5, "cm", "vital-signs")),
            ("2339-0", (110.0, "mg/dL", "laboratory")),
            ("718-7", (12.1, "g/dL", "laboratory")),
        ])
    );
    // 6 quantities, the blood pressure panel, one screening.
    assert_eq!(full.len(), 8);

    let baby = resources(&baby());
    assert_eq!(
        observation_with_code(&baby, "8306-3")["valueQuantity"]["value"],
        50.1
    );
    assert_eq!(
        observation_with_code(&baby, "9843-4")["valueQuantity"]["value"],
        34.5
    );
}

#[test]
fn blood_pressure_is_a_panel_with_two_components() {
    let all = resources(&siti());
    let bp: Vec<&Value> = of_type(&all, "Observation")
        .into_iter()
        .filter(|o| o["code"]["coding"][0]["code"] == "85354-9")
        .collect();
    assert_eq!(bp.len(), 3, "full visit, typo and correction");
    let full = bp
        .iter()
        .find(|o| o["component"].as_array().map(Vec::len) == Some(2))
        .expect("panel with both pressures");
    assert_eq!(loinc(full), "85354-9");
    assert!(full.get("valueQuantity").is_none());
    let components: BTreeMap<&str, (f64, &str)> = full["component"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| {
            assert_eq!(c["code"]["coding"][0]["system"], "http://loinc.org");
            (
                c["code"]["coding"][0]["code"].as_str().expect("code"),
                (
                    c["valueQuantity"]["value"].as_f64().expect("value"),
                    c["valueQuantity"]["code"].as_str().expect("unit"),
                ),
            )
        })
        .collect();
    assert_eq!(
        components,
        BTreeMap::from([("8480-6", (128.0, "mm[Hg]")), ("8462-4", (84.0, "mm[Hg]"))])
    );
}

#[test]
fn screening_is_a_survey_observation() {
    let all = resources(&siti());
    let s: Vec<&Value> = of_type(&all, "Observation")
        .into_iter()
        .filter(|o| o["category"][0]["coding"][0]["code"] == "survey")
        .collect();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["code"]["coding"][0]["code"], "srq-20");
    assert_eq!(s[0]["valueInteger"], 7);
    assert_eq!(s[0]["interpretation"][0]["coding"][0]["code"], "POS");
    assert_eq!(s[0]["interpretation"][0]["text"], "referred");
}

#[test]
fn entered_in_error_and_superseded_visits() {
    let rec = siti();
    let all = resources(&rec);
    let encounter = |n: u8| by_id(&all, &format!("{}-{}", rec.id, visit_id(n)));
    assert_eq!(encounter(1)["status"], "finished");
    assert_eq!(
        encounter(2)["status"],
        "entered-in-error",
        "marked in error"
    );
    assert_eq!(encounter(3)["status"], "entered-in-error", "superseded");
    assert_eq!(encounter(4)["status"], "finished", "the correction counts");
    assert_eq!(encounter(5)["status"], "finished");

    // Everything recorded at a visit shares its status.
    for r in &all {
        let Some(reference) = r["encounter"]["reference"].as_str() else {
            continue;
        };
        let enc = by_id(&all, reference.trim_start_matches("Encounter/"));
        let expected = match (r["resourceType"].as_str(), enc["status"].as_str()) {
            (_, Some("entered-in-error")) => "entered-in-error",
            (Some("Observation"), _) => "final",
            (Some("Immunization"), _) => "completed",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(r["status"], expected, "{}", r["id"]);
    }
    let wrong_dose = of_type(&all, "Immunization")
        .into_iter()
        .find(|i| i["protocolApplied"][0]["doseNumberPositiveInt"] == 3)
        .expect("dose 3");
    assert_eq!(wrong_dose["status"], "entered-in-error");
}

#[test]
fn encounter_class_identifier_and_provider() {
    let rec = siti();
    let all = resources(&rec);
    let enc = by_id(&all, &format!("{}-{}", rec.id, visit_id(1)));
    assert_eq!(
        enc["class"]["system"],
        "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    );
    assert_eq!(enc["class"]["code"], "AMB");
    assert_eq!(enc["subject"]["reference"], format!("Patient/{}", rec.id));
    assert_eq!(
        identifier(enc, "http://sys-ids.kemkes.go.id/encounter/3273010201-PY04"),
        Some(visit_id(1).as_str())
    );
    assert_eq!(enc["serviceProvider"]["identifier"]["value"], POSYANDU);
    let home = by_id(&all, &format!("{}-{}", rec.id, visit_id(5)));
    assert_eq!(home["class"]["code"], "HH");
}

#[test]
fn times_are_local_midnight_in_utc() {
    let rec = siti();
    let all = resources(&rec);
    let enc = by_id(&all, &format!("{}-{}", rec.id, visit_id(1)));
    // 2026-03-10 00:00 WIB (+07:00) in Bandung.
    assert_eq!(enc["period"]["start"], "2026-03-09T17:00:00Z");
    for r in &all {
        let time = r
            .get("effectiveDateTime")
            .or_else(|| r.get("occurrenceDateTime"))
            .or_else(|| r.get("period").map(|p| &p["start"]));
        if let Some(time) = time {
            let t = time.as_str().expect("string");
            assert_eq!(t.len(), 20, "{t}");
            assert!(t.ends_with(":00:00Z") && t.as_bytes()[10] == b'T', "{t}");
        }
    }
}

#[test]
fn immunizations_use_cvx_codes() {
    let rec = baby();
    let all = resources(&rec);
    let imms = of_type(&all, "Immunization");
    assert_eq!(imms.len(), 2);
    let hb0 = imms
        .iter()
        .find(|i| i["vaccineCode"]["text"] == "HB0")
        .expect("HB0");
    assert_eq!(
        hb0["vaccineCode"]["coding"][0]["system"],
        "http://hl7.org/fhir/sid/cvx"
    );
    assert_eq!(hb0["vaccineCode"]["coding"][0]["code"], "08");
    assert_eq!(hb0["lotNumber"], "H1234");
    assert_eq!(hb0["protocolApplied"][0]["doseNumberPositiveInt"], 1);
    assert_eq!(hb0["patient"]["reference"], format!("Patient/{}", rec.id));
    assert_eq!(hb0["occurrenceDateTime"], "2026-03-09T17:00:00Z");
    let penta = imms
        .iter()
        .find(|i| i["vaccineCode"]["text"] == "DPT-HB-Hib")
        .expect("pentavalent");
    assert_eq!(penta["vaccineCode"]["coding"][0]["code"], "198");
    assert!(penta.get("lotNumber").is_none());

    let expected = [
        (Antigen::Hb0, "08"),
        (Antigen::Bcg, "19"),
        (Antigen::Opv, "178"),
        (Antigen::Ipv, "10"),
        (Antigen::DptHbHib, "198"),
        (Antigen::Pcv, "152"),
        (Antigen::Rv, "122"),
        (Antigen::Mr, "04"),
        (Antigen::Je, "129"),
        (Antigen::Hpv, "137"),
        (Antigen::Td, "139"),
        (Antigen::Dt, "28"),
    ];
    assert_eq!(expected.len(), Antigen::ALL.len(), "every antigen listed");
    for (antigen, code) in expected {
        assert_eq!(simpul_fhir::immunization::cvx(antigen).0, code, "{antigen}");
    }
}

#[test]
fn merged_duplicate_is_inactive_replaced_and_without_visits() {
    let mut rec = baby();
    let survivor = RecordId::from_bytes([0xcc; 16]);
    if let RecordBody::Patient(p) = &mut rec.body {
        p.merged_into = Some(survivor);
    }
    let all = resources(&rec);
    assert_eq!(all.len(), 1, "the survivor carries the visits: {all:#?}");
    let p = one(&all, "Patient");
    assert_eq!(p["active"], false);
    assert_eq!(p["link"][0]["type"], "replaced-by");
    assert_eq!(
        p["link"][0]["other"]["reference"],
        format!("Patient/{survivor}")
    );
}

#[test]
fn ids_are_valid_unique_deterministic_and_references_resolve() {
    for rec in [siti(), baby()] {
        let all = resources(&rec);
        assert_eq!(all, resources(&rec), "same record, same resources");
        let mut ids = BTreeSet::new();
        for r in &all {
            let id = r["id"].as_str().expect("id");
            assert!(simpul_fhir::ids::is_fhir_id(id), "{id}");
            let key = format!("{}/{id}", r["resourceType"].as_str().expect("type"));
            assert!(ids.insert(key), "duplicate {id}");
        }
        for r in &all {
            for field in ["subject", "patient", "encounter"] {
                if let Some(reference) = r[field]["reference"].as_str() {
                    assert!(ids.contains(reference), "{reference} from {}", r["id"]);
                }
            }
        }
    }
}

#[test]
fn activities_map_to_nothing() {
    let rec = Record {
        id: RecordId::from_bytes([1; 16]),
        scope: Scope::up(path(POSYANDU)),
        body: RecordBody::Activity(Activity {
            kind: ActivityKind::HariBuka,
            facility: path(POSYANDU),
            date: date("2026-03-10"),
            attendance: BTreeMap::new(),
            note: None,
        }),
    };
    assert!(resources(&rec).is_empty());
}

#[test]
fn export_writes_one_file_per_type_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fhir");
    let mut export = Export::create(&out).expect("create");
    export.add(&siti()).expect("add");
    export.add(&baby()).expect("add");
    let counts = export.finish().expect("finish");
    let expected: usize = resources(&siti()).len() + resources(&baby()).len();
    assert_eq!(counts.total(), expected as u64);
    assert_eq!(counts.patient, 2);
    assert_eq!(counts.related_person, 1);
    for t in ResourceType::ALL {
        let text = std::fs::read_to_string(out.join(t.file_name())).expect("file");
        assert_eq!(text.lines().count() as u64, counts.get(t), "{t}");
        for line in text.lines() {
            assert!(
                line.starts_with(&format!("{{\"resourceType\":\"{t}\",")),
                "{line}"
            );
            let v: Value = serde_json::from_str(line).expect("json line");
            assert_eq!(v["resourceType"], t.as_str());
        }
    }
    let json = serde_json::to_value(counts).expect("counts serialise");
    assert_eq!(json["RelatedPerson"], 1);

    let before = std::fs::read(out.join("Patient.ndjson")).expect("read");
    let err = Export::create(&out).expect_err("files exist");
    assert!(
        matches!(&err, ExportError::Exists { path } if path.ends_with("Patient.ndjson")),
        "{err:?}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(out.join("Patient.ndjson")).expect("read"),
        before,
        "untouched"
    );

    // A directory holding only one of the files is refused too, and nothing is created.
    let partial = dir.path().join("partial");
    std::fs::create_dir(&partial).expect("mkdir");
    std::fs::write(partial.join("Observation.ndjson"), "").expect("write");
    assert!(matches!(
        Export::create(&partial),
        Err(ExportError::Exists { .. })
    ));
    assert!(!partial.join("Patient.ndjson").exists());
}

#[test]
fn transcribed_doses_are_not_primary_source_and_a_death_is_stated() {
    let mut rec = baby();
    let RecordBody::Patient(p) = &mut rec.body else {
        panic!("a patient");
    };
    p.died_on = Some(date("2026-04-02"));
    let mut copied = visit("2026-03-09");
    copied.transcribed = true;
    copied.immunisations = vec![Immunisation {
        antigen: Antigen::Bcg,
        dose: 1,
        lot: None,
    }];
    p.visits.insert(visit_id(8), copied);
    let all = resources(&rec);
    assert_eq!(one(&all, "Patient")["deceasedDateTime"], "2026-04-02");
    let doses = of_type(&all, "Immunization");
    let origin = |antigen: &str| {
        let dose = doses
            .iter()
            .find(|i| i["vaccineCode"]["text"] == antigen)
            .expect("dose");
        (
            dose["primarySource"].clone(),
            dose["reportOrigin"]["coding"][0]["code"].clone(),
        )
    };
    assert_eq!(origin("BCG"), (Value::Bool(false), Value::from("record")));
    assert_eq!(origin("HB0"), (Value::Bool(true), Value::Null));
}

/// The five files of an export in `dir`, as bytes.
fn files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    ResourceType::ALL
        .iter()
        .map(|t| std::fs::read(dir.join(t.file_name())).expect("file"))
        .collect()
}

#[test]
fn an_export_stopped_anywhere_goes_on_from_its_checkpoint_and_equals_one_run() {
    let node = path("3273/P3273010201");
    let generator = simpul_gen::Generator::new(5, &node, 60, date("2026-11-20"));
    let records: Vec<_> = (0..60).map(|i| generator.patient(i)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let whole = dir.path().join("whole");
    let mut export = Export::create(&whole).expect("create");
    for r in &records {
        export.add(r).expect("add");
    }
    let counts = export.finish().expect("finish");
    assert!(!whole.join(simpul_fhir::CHECKPOINT_FILE).exists());

    for stop in [0, 1, 17, 40, 59] {
        let out = dir.path().join(format!("stopped-{stop}"));
        {
            // Checkpointed after `stop` records; more written after it, then the
            // process dies (the export is dropped without finishing).
            let mut export = Export::create(&out).expect("create");
            for r in &records[..stop] {
                export.add(r).expect("add");
            }
            let at = (stop > 0).then(|| stop.to_string());
            export.checkpoint(at.as_deref()).expect("checkpoint");
            for r in records.iter().skip(stop).take(5) {
                export.add(r).expect("add past the checkpoint");
            }
            // While it writes, another export of the same directory is refused.
            assert!(matches!(
                Export::resume_or_create(&out, ""),
                Err(ExportError::Busy { .. })
            ));
        }
        let (mut export, after) = Export::resume_or_create(&out, "").expect("resume");
        assert_eq!(after, (stop > 0).then(|| stop.to_string()), "stop {stop}");
        for r in &records[stop..] {
            export.add(r).expect("add");
        }
        assert_eq!(export.finish().expect("finish"), counts, "stop {stop}");
        assert_eq!(files(&out), files(&whole), "stop {stop}");
        // Finished: a new run refuses to write over it.
        assert!(matches!(
            Export::resume_or_create(&out, ""),
            Err(ExportError::Exists { .. })
        ));
    }

    // A checkpoint the files do not fit (they were cut) is refused, naming it, and
    // nothing is changed.
    let out = dir.path().join("cut");
    let mut export = Export::create(&out).expect("create");
    export.add(&records[0]).expect("add");
    export.checkpoint(Some("0")).expect("checkpoint");
    drop(export);
    std::fs::write(out.join("Patient.ndjson"), "").expect("cut");
    let err = Export::resume_or_create(&out, "").expect_err("cut files");
    assert!(
        matches!(&err, ExportError::Checkpoint { .. })
            && err.to_string().contains("Patient.ndjson"),
        "{err}"
    );
    assert!(out.join(simpul_fhir::CHECKPOINT_FILE).exists());

    // A stopped export of another source is not gone on with.
    let out = dir.path().join("other");
    let mut export = Export::create(&out).expect("create");
    export.checkpoint(None).expect("checkpoint");
    drop(export);
    let err = Export::resume_or_create(&out, "3273#0a0b0c0d").expect_err("another source");
    assert!(err.to_string().contains("3273#0a0b0c0d"), "{err}");

    // A checkpoint that is not one (edited, or garbage) is refused naming it; the files
    // beside it are left as they were.
    let before = files(&out);
    std::fs::write(out.join(simpul_fhir::CHECKPOINT_FILE), "{\"after\": 7").expect("garble");
    let err = Export::resume_or_create(&out, "").expect_err("garbled checkpoint");
    assert!(
        matches!(&err, ExportError::Checkpoint { .. })
            && err.to_string().contains("not a checkpoint"),
        "{err}"
    );
    assert_eq!(files(&out), before);
}
