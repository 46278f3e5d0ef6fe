//! A generated puskesmas exported with [`Export`], counted against the records, and
//! checked by an independent FHIR R4 validator (fhir.resources, Python).
//!
//! Needs python3 with venv; `scripts/fhir-validator-setup.sh` installs the validator
//! from PyPI into target/fhir-validator on first run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use simpul_fhir::{Counts, Export, resources};
use simpul_gen::Generator;
use simpul_model::{Date, ErrorMark, FacilityPath, Patient, Record, RecordBody, Sex, VisitId};

const SEED: u64 = 20_240_817;
const PATIENTS: u64 = 400;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn as_of() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

fn patient_mut(r: &mut Record) -> &mut Patient {
    match &mut r.body {
        RecordBody::Patient(p) => p,
        _ => panic!("not a patient"),
    }
}

/// Generated people of one puskesmas (three posyandu), with what generation leaves out
/// added: mother links, merged duplicates, visits entered in error and corrections.
fn dataset() -> Vec<Record> {
    let node = FacilityPath::parse("3273/P3273010201").expect("path");
    let generator = Generator::new(SEED, &node, PATIENTS, as_of());
    assert!(generator.posyandu().len() > 1, "spread over posyandu");
    let mut records: Vec<Record> = (0..PATIENTS).map(|i| generator.patient(i)).collect();

    let mothers: Vec<_> = records
        .iter()
        .filter_map(|r| {
            let p = r.patient()?;
            (p.sex == Sex::Female && (18 * 12..45 * 12).contains(&p.age_months(as_of())))
                .then_some(r.id)
        })
        .collect();
    assert!(!mothers.is_empty());
    let mut children = 0;
    for (i, r) in records.iter_mut().enumerate() {
        let p = patient_mut(r);
        if p.age_months(as_of()) < 60 {
            children += 1;
            // Most children get their mother's record; a few stay unlinked.
            if children % 4 != 0 {
                p.mother = Some(mothers[i % mothers.len()]);
            }
        }
    }
    // Duplicates, merged as simpul-node merges: record i becomes a second registration
    // of person i + 1 holding some of the visits, which the merge has copied (same
    // visit ids) into the survivor; then the duplicate is marked.
    for i in (7..records.len() - 1).step_by(50) {
        let into = records[i + 1].id;
        let mut duplicate = patient_mut(&mut records[i + 1]).clone();
        let mut n = 0;
        duplicate.visits.retain(|_, v| {
            n += 1;
            v.supersedes.is_none() && n % 2 == 1
        });
        duplicate.merged_into = Some(into);
        *patient_mut(&mut records[i]) = duplicate;
    }
    for (i, r) in records.iter_mut().enumerate() {
        let p = patient_mut(r);
        let keys: Vec<String> = p.visits.keys().cloned().collect();
        if i % 7 == 0 && keys.len() >= 2 {
            p.visits.get_mut(&keys[0]).expect("visit").entered_in_error = Some(ErrorMark {
                reason: "wrong child".into(),
                by: "bidan-01".into(),
                at_ms: 1_790_000_000_000,
            });
        }
        if i % 11 == 0
            && let Some(last) = keys.last()
        {
            let mut correction = p.visits[last].clone();
            if let Some(w) = correction.measurements.weight_kg.as_mut() {
                *w += 0.5;
            }
            correction.supersedes = Some(last.clone());
            let key = VisitId::from_bytes((i as u64 ^ 0xc0ffee).to_be_bytes()).to_string();
            p.visits.insert(key, correction);
        }
    }
    for r in &records {
        r.validate(as_of())
            .unwrap_or_else(|e| panic!("record {}: {e}", r.id));
    }
    // Activities export nothing; they are in the input all the same.
    let ids: Vec<_> = records.iter().take(5).map(|r| r.id).collect();
    records.push(generator.hari_buka(0, 1, &ids));
    records.push(generator.hari_buka(1, 2, &ids));
    records
}

/// What the export must hold, counted from the records themselves.
#[derive(Debug, Default)]
struct Expected {
    counts: Counts,
    encounters_in_error: u64,
}

fn expected(records: &[Record]) -> Expected {
    let mut e = Expected::default();
    for r in records {
        let Some(p) = r.patient() else { continue };
        e.counts.patient += 1;
        if p.merged_into.is_some() {
            continue; // its visits are exported with the survivor
        }
        e.counts.related_person += u64::from(p.mother.is_some());
        let superseded: BTreeSet<&String> = p
            .visits
            .values()
            .filter_map(|v| v.supersedes.as_ref())
            .collect();
        for (key, v) in &p.visits {
            e.counts.encounter += 1;
            e.encounters_in_error +=
                u64::from(v.entered_in_error.is_some() || superseded.contains(key));
            let m = &v.measurements;
            let quantities = [
                m.weight_kg,
                m.length_cm,
                m.height_cm,
                m.head_circumference_cm,
                m.muac_cm,
                m.waist_cm,
                m.glucose_mg_dl,
                m.hb_g_dl,
            ];
            let blood_pressure = m.systolic_mmhg.is_some() || m.diastolic_mmhg.is_some();
            e.counts.observation += quantities.iter().filter(|q| q.is_some()).count() as u64
                + u64::from(blood_pressure)
                + v.screenings.len() as u64;
            e.counts.immunization += v.immunisations.len() as u64;
        }
    }
    e
}

fn setup_validator() -> PathBuf {
    let root = root();
    let out = Command::new("bash")
        .arg(root.join("scripts/fhir-validator-setup.sh"))
        .output()
        .expect("bash must be installed");
    assert!(
        out.status.success(),
        "fhir-validator-setup.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let python = root.join("target/fhir-validator/bin/python");
    assert!(python.exists(), "{} missing after setup", python.display());
    python
}

fn validate(python: &Path, dir: &Path) -> Output {
    Command::new(python)
        .arg(root().join("scripts/fhir_validate.py"))
        .arg("--resolve-references")
        .arg(dir)
        .output()
        .expect("run fhir_validate.py")
}

#[test]
fn generated_puskesmas_exports_valid_fhir_r4() {
    let records = dataset();
    let want = expected(&records);
    assert!(want.counts.related_person > 0 && want.encounters_in_error > 0);
    assert!(want.counts.observation > 0 && want.counts.immunization > 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let mut export = Export::create(dir.path()).expect("create export");
    for r in &records {
        export.add(r).expect("add");
    }
    let counts = export.finish().expect("finish");
    assert_eq!(counts, want.counts);

    let encounters =
        std::fs::read_to_string(dir.path().join("Encounter.ndjson")).expect("encounters");
    let in_error = encounters
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|e| e["status"] == "entered-in-error")
        .count() as u64;
    assert_eq!(in_error, want.encounters_in_error);
    let merged = std::fs::read_to_string(dir.path().join("Patient.ndjson"))
        .expect("patients")
        .lines()
        .filter(|l| l.contains("\"replaced-by\""))
        .count();
    assert_eq!(merged, (7..PATIENTS as usize - 1).step_by(50).count());

    let python = setup_validator();
    let out = validate(&python, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "validator found errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in stdout.lines().filter(|l| l.ends_with(" errors")) {
        assert!(line.ends_with(", 0 errors"), "{line}");
    }
    let last = stdout.lines().last().expect("summary line");
    let validated: Counts = serde_json::from_str(last).expect("counts line");
    assert_eq!(validated, counts, "the validator read every resource");
}

#[test]
fn the_validator_rejects_broken_resources() {
    let records = dataset();
    let good = resources(&records[0]);
    let mut patient = good
        .iter()
        .find(|r| r["resourceType"] == "Patient")
        .expect("patient")
        .clone();
    let mut lines = vec![patient.to_string()];
    patient["id"] = "broken".into();
    patient["birthDate"] = "2024-13-45".into();
    patient["gender"] = "x".into();
    patient["address"][0]["extension"][0]
        .as_object_mut()
        .expect("administrativeCode extension")
        .remove("url");
    lines.push(patient.to_string());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Patient.ndjson"), lines.join("\n") + "\n").expect("write");

    let mut observation = resources(&records[0])
        .into_iter()
        .find(|r| r["resourceType"] == "Observation")
        .unwrap_or_else(|| {
            serde_json::json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
        });
    observation["effectiveDateTime"] = "2026-03-09T17:00:00".into();
    observation["encounter"] = serde_json::json!({"reference": "Encounter/"});
    std::fs::write(
        dir.path().join("Observation.ndjson"),
        observation.to_string() + "\n",
    )
    .expect("write");

    let python = setup_validator();
    let out = validate(&python, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(!stdout.contains("Patient.ndjson:1:"), "{stdout}");
    assert!(stdout.contains("Patient.ndjson:2: birthDate"), "{stdout}");
    assert!(
        stdout.contains("Patient.ndjson:2: Patient.gender: 'x'"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Patient.ndjson:2: Patient.address[0].extension[0]: an extension needs a url"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Observation.ndjson:1:"), "{stdout}");
    assert!(stdout.contains("no time zone"), "{stdout}");
    assert!(stdout.contains("Type/id"), "{stdout}");
    let counts: BTreeMap<String, u64> =
        serde_json::from_str(stdout.lines().last().expect("summary")).expect("counts line");
    assert_eq!(counts["Patient"], 2);
}
