//! `simpul export fhir` of a generated district: every resource valid FHIR R4 in an
//! independent validator (fhir.resources, Python), and as many resources of each kind
//! as the records hold.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The resource types of an export, one NDJSON file each.
const KINDS: [&str; 5] = [
    "Patient",
    "RelatedPerson",
    "Encounter",
    "Observation",
    "Immunization",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The validator's Python, installed from PyPI on first use.
fn validator() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/fhir-validator-setup.sh"))
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "validator setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    root().join("target/fhir-validator/bin/python")
}

#[test]
fn a_generated_district_exports_valid_fhir_with_a_resource_per_fact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = dir.path().join("district");
    ok(&node, &["init", "--path", "3273"]);
    ok(&node, &["gen", "--seed", "11", "--patients", "1500"]);

    // What the records hold, counted from the records themselves.
    let people: Vec<Value> = ok(&node, &["patient", "list", "--all", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let visits: u64 = people
        .iter()
        .map(|p| p["visits"].as_u64().expect("visits"))
        .sum();
    let facilities: std::collections::BTreeSet<&str> = people
        .iter()
        .filter_map(|p| p["facility"].as_str())
        .collect();
    assert!(
        facilities.len() > 3,
        "people of several posyandu: {facilities:?}"
    );

    let out = dir.path().join("fhir");
    let printed = ok(
        &node,
        &["export", "fhir", "--out", out.to_str().expect("utf-8")],
    );
    let counts: Value = serde_json::from_str(printed.trim()).expect("counts json");
    assert_eq!(counts["Patient"], people.len() as u64, "{counts}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(out.join("Patient.ndjson"))
            .expect("stat")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "exports are owner-only: {mode:o}");
    assert_eq!(
        counts["Encounter"], visits,
        "one encounter per visit: {counts}"
    );
    let lines = |file: &str| {
        std::fs::read_to_string(out.join(file))
            .expect("ndjson")
            .lines()
            .count() as u64
    };
    for kind in KINDS {
        assert_eq!(
            Some(lines(&format!("{kind}.ndjson"))),
            counts[kind].as_u64(),
            "{kind}"
        );
    }
    assert!(
        counts["Observation"].as_u64() > Some(visits / 2),
        "{counts}"
    );
    assert!(counts["Immunization"].as_u64() > Some(0), "{counts}");

    // An export never overwrites another.
    fails(
        &node,
        &["export", "fhir", "--out", out.to_str().expect("utf-8")],
        1,
    );

    // The independent validator: zero errors, the same counts.
    let run = Command::new(validator())
        .arg(root().join("scripts/fhir_validate.py"))
        .arg("--resolve-references")
        .arg(&out)
        .output()
        .expect("run validator");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "validator found errors:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let last: Value = serde_json::from_str(stdout.lines().last().expect("summary")).expect("json");
    for kind in KINDS {
        assert_eq!(
            last[kind], counts[kind],
            "validator saw every {kind}: {stdout}"
        );
    }

    // The export is in the audit trail.
    let trail = ok(&node, &["audit", "--json"]);
    assert!(
        trail.contains("\"action\":\"export\"") && trail.contains("fhir to"),
        "{trail}"
    );
}
