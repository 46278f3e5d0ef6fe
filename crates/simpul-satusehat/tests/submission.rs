//! Submitting a real store's visits to the stand-in: a generated puskesmas of about a
//! thousand visits sent through injected faults ends with each visit on the platform
//! exactly once, with the right references, every Bundle valid FHIR R4 (checked by an
//! independent validator); what is missing or refused is said, and a visit corrected
//! after it was sent is withdrawn.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use simpul_gen::Generator;
use simpul_model::{
    Antigen, Date, ErrorMark, FacilityEntry, FacilityPath, Level, PlatformIds, Record, RecordBody,
    RecordId, SubmissionLedger, SubmissionStatus,
};
use simpul_satusehat::standin::{CLIENT_ID, CLIENT_SECRET, Fault, Person, StandIn};
use simpul_satusehat::{
    Platform, PlatformConfig, RetryPolicy, Secret, SubmissionCodes, submit_round,
};
use simpul_store::{Store, StoreOptions};

const PK: &str = "3273/P3273010201";
const ORG: &str = "10000004";
/// A sandbox practitioner (dr. Olivia Kirana) and her id there.
const BIDAN_NIK: &str = "3217040109800006";
const BIDAN_ID: &str = "10002074224";

fn district() -> FacilityPath {
    FacilityPath::parse("3273").expect("path")
}

fn today() -> Date {
    Date::parse("2026-10-31").expect("date")
}

fn platform(standin: &StandIn) -> Platform {
    Platform::new(
        PlatformConfig {
            auth_url: standin.auth_url(),
            fhir_url: standin.fhir_url(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            organization: ORG.into(),
            register_newborns: true,
        },
        RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(5),
            timeout: Duration::from_secs(5),
        },
    )
    .expect("platform")
}

fn codes() -> SubmissionCodes {
    let mut codes = SubmissionCodes::default();
    for (n, antigen) in Antigen::ALL.iter().enumerate() {
        codes.vaccines.insert(*antigen, format!("930010{n:02}"));
    }
    codes
}

/// The location id the test registers for a facility.
fn location_of(path: &FacilityPath) -> String {
    let digest = simpul_model::registry::registry_id(path, None).to_string();
    format!(
        "{}-{}-4{}-8{}-{}",
        &digest[..8],
        &digest[8..12],
        &digest[13..16],
        &digest[17..20],
        &digest[20..32]
    )
}

/// Registers `paths` in the store's registry (as the district would have, replicated
/// down) and on the stand-in: the puskesmas' Organization, each place's Location, and
/// the bidan responsible for each.
fn register(store: &Store, standin: &StandIn, paths: &BTreeSet<FacilityPath>) {
    standin.add_organizations(&[ORG]);
    for path in paths.iter().filter(|p| p.level() != Level::District) {
        let location = location_of(path);
        standin.add_locations(&[&location]);
        let entry = FacilityEntry {
            path: path.clone(),
            name: format!("Fasilitas {}", path.code()),
            satusehat: PlatformIds {
                organization: (path.level() == Level::Puskesmas).then(|| ORG.to_string()),
                location: Some(location),
                practitioner_nik: Some(BIDAN_NIK.into()),
            },
        };
        store
            .insert_record(
                Record {
                    id: simpul_model::registry::registry_id(path, None),
                    scope: entry.scope(),
                    body: RecordBody::Facility(entry),
                },
                today(),
                1_000,
            )
            .expect("registry entry");
    }
}

fn ledger(store: &Store, patient: RecordId) -> Option<SubmissionLedger> {
    let node = store.node().path.clone();
    // Found without the node's key (a renewed certificate keeps finding it).
    let id = simpul_model::submission::ledger_id(patient, &node, None);
    match store.record(id).expect("read")?.1.body {
        RecordBody::Submission(l) => Some(l),
        _ => None,
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Every Bundle through the independent FHIR R4 validator (fhir.resources).
fn validate_bundles(bundles: &[serde_json::Value]) {
    let root = root();
    let setup = Command::new("bash")
        .arg(root.join("scripts/fhir-validator-setup.sh"))
        .output()
        .expect("bash");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let lines: Vec<String> = bundles.iter().map(|b| b.to_string()).collect();
    std::fs::write(dir.path().join("Bundle.ndjson"), lines.join("\n") + "\n").expect("write");
    let out = Command::new(root.join("target/fhir-validator/bin/python"))
        .arg(root.join("scripts/fhir_validate.py"))
        .arg(dir.path())
        .output()
        .expect("validator");
    assert!(
        out.status.success(),
        "the validator refused the Bundles:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains(&format!("\"Bundle\": {}", bundles.len())),
        "{summary}"
    );
}

#[test]
fn a_thousand_visits_reach_the_platform_once_each_through_faults() {
    // The district holds the credentials here (any node may): it writes the registry
    // and submits for every puskesmas below it.
    let node = FacilityPath::parse(PK).expect("path");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(
        dir.path(),
        &district(),
        [7, 7, 7, 7],
        StoreOptions::default(),
    )
    .expect("store");
    let generator = Generator::new(20_261_206, &node, 400, today());
    let mut people = Vec::new();
    let mut expected: BTreeMap<String, (RecordId, String, FacilityPath, usize)> = BTreeMap::new();
    let mut places = BTreeSet::from([node.clone()]);
    let mut i = 0;
    while expected.len() < 1_000 {
        let mut record = generator.patient(i);
        let ihs = format!("P{:011}", 50_000 + i);
        i += 1;
        let RecordBody::Patient(p) = &mut record.body else {
            continue;
        };
        p.identifiers.ihs = Some(ihs.clone());
        people.push(Person {
            ihs: ihs.clone(),
            nik: p.identifiers.nik.clone(),
            nik_ibu: None,
            birth_date: p.birth_date.to_string(),
        });
        for c in simpul_fhir::encounter::visits(record.id, p) {
            places.insert(c.visit.facility.clone());
            if let Some(parent) = c.visit.facility.parent() {
                places.insert(parent);
            }
            // Corrected, erroneous and transcribed visits are not sent.
            if !c.visit.transcribed && !c.in_error {
                let measured = simpul_fhir::observation::observations(&c)
                    .iter()
                    .filter(|o| o["code"]["coding"][0]["system"] == "http://loinc.org")
                    .count();
                expected.insert(
                    c.key.to_string(),
                    (
                        record.id,
                        ihs.clone(),
                        c.visit.facility.clone(),
                        1 + measured + c.visit.immunisations.len(),
                    ),
                );
            }
        }
        store.insert_record(record, today(), 2_000).expect("insert");
    }
    let standin = StandIn::start(people);
    register(&store, &standin, &places);
    let platform = platform(&standin);

    // Rounds with one request in six meeting a fault, until a clean round has
    // nothing left to do.
    let faults = [
        Fault::Unavailable,
        Fault::RateLimited,
        Fault::Dropped,
        Fault::Lost,
    ];
    standin.random_faults(1.0 / 6.0, &faults, 7);
    let mut stopped = 0;
    for round in 0.. {
        assert!(round < 2_000, "the submission never finished");
        if round == 200 {
            standin.clear_faults();
        }
        match submit_round(&store, &platform, &codes(), today(), 10_000 + round) {
            Ok(report) if round >= 200 && !report.any() && !report.more_waiting() => break,
            Ok(_) => {}
            Err(e) => {
                assert!(e.to_string().contains("unavailable"), "{e}");
                stopped += 1;
            }
        }
    }
    assert!(stopped > 10, "the faults stopped rounds: {stopped}");

    // Each visit exactly once, pointing at the right patient, place and practitioner.
    let encounters = standin.held("Encounter");
    assert_eq!(encounters.len(), expected.len(), "one Encounter per visit");
    let mut seen = BTreeSet::new();
    for e in &encounters {
        let r = &e.resource;
        let key = r["identifier"][0]["value"].as_str().expect("identifier");
        assert_eq!(
            r["identifier"][0]["system"],
            format!("http://sys-ids.kemkes.go.id/encounter/{ORG}")
        );
        assert!(seen.insert(key.to_string()), "visit {key} twice");
        let (patient, ihs, facility, _) = &expected[key];
        assert_eq!(r["subject"]["reference"], format!("Patient/{ihs}"));
        assert_eq!(
            r["location"][0]["location"]["reference"],
            format!("Location/{}", location_of(facility))
        );
        assert_eq!(
            r["participant"][0]["individual"]["reference"],
            format!("Practitioner/{BIDAN_ID}")
        );
        assert_eq!(
            r["serviceProvider"]["reference"],
            format!("Organization/{ORG}")
        );
        let ledger = ledger(&store, *patient).expect("ledger");
        let entry = &ledger.visits[key];
        assert_eq!(entry.status, SubmissionStatus::Sent, "{key}: {entry:?}");
        assert_eq!(entry.platform_ids[0], format!("Encounter/{}", e.id));
    }
    // What hangs off each visit, once, pointing at its encounter.
    let children: Vec<_> = ["Observation", "Immunization"]
        .iter()
        .flat_map(|k| standin.held(k))
        .collect();
    let wanted: usize = expected.values().map(|(.., n)| n - 1).sum();
    assert_eq!(children.len(), wanted);
    let identifiers: BTreeSet<String> = children
        .iter()
        .map(|h| h.resource["identifier"][0]["value"].to_string())
        .collect();
    assert_eq!(identifiers.len(), children.len(), "no resource twice");
    let encounter_ids: BTreeSet<String> = encounters
        .iter()
        .map(|e| format!("Encounter/{}", e.id))
        .collect();
    for c in &children {
        let encounter = c.resource["encounter"]["reference"].as_str().expect("ref");
        assert!(encounter_ids.contains(encounter), "{encounter}");
    }
    validate_bundles(&standin.bundles());
}

#[test]
fn what_is_missing_or_refused_is_said_and_a_corrected_visit_is_withdrawn() {
    let node = FacilityPath::parse(PK).expect("path");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::create(
        dir.path(),
        &district(),
        [9, 9, 9, 9],
        StoreOptions::default(),
    )
    .expect("store");
    let generator = Generator::new(5, &node, 50, today());
    // A child with immunisations and several visits.
    let mut record = (0..50)
        .map(|i| generator.patient(i))
        .find(|r| {
            r.patient().is_some_and(|p| {
                p.visits.len() >= 3
                    && p.visits
                        .values()
                        .any(|v| !v.immunisations.is_empty() && !v.transcribed)
                    && p.visits.values().all(|v| v.entered_in_error.is_none())
            })
        })
        .expect("a child with doses");
    let id = record.id;
    let RecordBody::Patient(p) = &mut record.body else {
        unreachable!()
    };
    // The visit with doses also records diagnoses (a Condition each).
    if let Some(v) = p
        .visits
        .values_mut()
        .find(|v| !v.immunisations.is_empty() && !v.transcribed)
    {
        v.diagnoses = vec!["Z23".into(), "J06.9".into()];
    }
    let people = vec![Person {
        ihs: "P00000000042".into(),
        nik: p.identifiers.nik.clone(),
        nik_ibu: None,
        birth_date: p.birth_date.to_string(),
    }];
    let places: BTreeSet<FacilityPath> = p
        .visits
        .values()
        .flat_map(|v| [Some(v.facility.clone()), v.facility.parent()])
        .flatten()
        .chain([node.clone()])
        .collect();
    store
        .insert_record(record.clone(), today(), 2_000)
        .expect("insert");
    let standin = StandIn::start(people);
    let platform = platform(&standin);
    let status = |key: &str| {
        let entry = ledger(&store, id).expect("ledger").visits[key].clone();
        (entry.status, entry.error.unwrap_or_default())
    };
    let first = record
        .patient()
        .and_then(|p| p.visits.keys().next().cloned())
        .expect("visit");

    // Nothing registered: the visits wait, saying what to fix.
    submit_round(&store, &platform, &codes(), today(), 3_000).expect("round");
    let (s, why) = status(&first);
    assert_eq!(s, SubmissionStatus::Waiting);
    assert!(why.contains("--organization"), "{why}");

    // A retry is asked through the ledger (what `simpul satusehat retry` writes).
    let retry = |at: u64| {
        let lid = simpul_model::submission::ledger_id(id, &district(), None);
        simpul_satusehat::submission::update_ledger(&store, lid, id, today(), at, |l| {
            for s in l.visits.values_mut() {
                if matches!(
                    s.status,
                    SubmissionStatus::Waiting | SubmissionStatus::Refused
                ) {
                    s.status = SubmissionStatus::Retry;
                }
            }
        })
        .expect("retry");
    };
    // Registered (a registry entry is no patient change: a retry is asked); no IHS
    // number yet.
    register(&store, &standin, &places);
    retry(4_000);
    submit_round(&store, &platform, &codes(), today(), 5_000).expect("round");
    let (s, why) = status(&first);
    assert_eq!(s, SubmissionStatus::Waiting);
    assert!(why.contains("no IHS number"), "{why}");
    assert!(standin.bundles().is_empty(), "nothing sent while waiting");

    // The IHS number found (the record changes), but no vaccine codes: visits with
    // doses wait naming the key; the others are sent.
    store
        .update_record(id, today(), 6_000, |r| {
            if let RecordBody::Patient(p) = &mut r.body {
                p.identifiers.ihs = Some("P00000000042".into());
            }
            Ok(())
        })
        .expect("ihs");
    let dose_visit = record
        .patient()
        .and_then(|p| {
            p.visits
                .iter()
                .find(|(_, v)| !v.immunisations.is_empty() && !v.transcribed)
        })
        .map(|(k, _)| k.clone())
        .expect("dose");
    submit_round(
        &store,
        &platform,
        &SubmissionCodes::default(),
        today(),
        7_000,
    )
    .expect("round");
    let (s, why) = status(&dose_visit);
    assert_eq!(s, SubmissionStatus::Waiting);
    assert!(why.contains("satusehat.vaccines"), "{why}");

    // The platform refuses one Bundle: the visit says why, and stays refused until a
    // retry is asked; then it is sent.
    retry(8_000);
    standin.inject_at_transactions(&[Fault::Invalid]);
    submit_round(&store, &platform, &codes(), today(), 9_000).expect("round");
    let refused: Vec<(String, String)> = ledger(&store, id)
        .expect("ledger")
        .visits
        .into_iter()
        .filter(|(_, s)| s.status == SubmissionStatus::Refused)
        .map(|(k, s)| (k, s.error.unwrap_or_default()))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].1.contains("Encounter.serviceProvider"),
        "{refused:?}"
    );
    submit_round(&store, &platform, &codes(), today(), 10_000).expect("round");
    assert_eq!(status(&refused[0].0).0, SubmissionStatus::Refused);
    retry(11_000);
    submit_round(&store, &platform, &codes(), today(), 12_000).expect("round");
    let held = ledger(&store, id).expect("ledger");
    assert!(
        held.visits
            .values()
            .all(|s| matches!(s.status, SubmissionStatus::Sent | SubmissionStatus::NotSent)),
        "{held:?}"
    );

    // The visit with doses marked entered in error here: the platform first refuses the
    // withdrawal (kept, not sent again round after round), then takes it on a retry:
    // the Encounter and everything recorded at it are entered-in-error there.
    let sent = standin.held("Encounter").len();
    let marked = dose_visit.clone();
    store
        .update_record(id, today(), 13_000, move |r| {
            if let RecordBody::Patient(p) = &mut r.body
                && let Some(v) = p.visits.get_mut(&marked)
            {
                v.entered_in_error = Some(ErrorMark {
                    reason: "wrong child".into(),
                    by: "bidan-01".into(),
                    at_ms: 13_000,
                });
            }
            Ok(())
        })
        .expect("mark");
    standin.inject_at_transactions(&[Fault::Invalid]);
    submit_round(&store, &platform, &codes(), today(), 14_000).expect("round");
    let (s, why) = status(&dose_visit);
    assert_eq!(s, SubmissionStatus::WithdrawalRefused);
    assert!(why.contains("serviceProvider"), "{why}");
    let bundles = standin.bundles().len();
    for at in [15_000, 16_000] {
        submit_round(&store, &platform, &codes(), today(), at).expect("round");
    }
    assert_eq!(
        standin.bundles().len(),
        bundles,
        "a refused withdrawal waits for a retry"
    );
    let retry_withdrawal = |at: u64| {
        let lid = simpul_model::submission::ledger_id(id, &district(), None);
        simpul_satusehat::submission::update_ledger(&store, lid, id, today(), at, |l| {
            for s in l.visits.values_mut() {
                if s.status == SubmissionStatus::WithdrawalRefused {
                    s.status = SubmissionStatus::Retry;
                }
            }
        })
        .expect("retry");
    };
    retry_withdrawal(17_000);
    submit_round(&store, &platform, &codes(), today(), 18_000).expect("round");
    assert_eq!(status(&dose_visit).0, SubmissionStatus::Withdrawn);
    let of_visit = |kind: &str| -> Vec<serde_json::Value> {
        standin
            .held(kind)
            .into_iter()
            .map(|h| h.resource)
            .filter(|r| {
                r["identifier"][0]["value"]
                    .as_str()
                    .is_some_and(|v| v.starts_with(dose_visit.as_str()))
            })
            .collect()
    };
    let withdrawn: Vec<_> = ["Encounter", "Observation", "Immunization", "Condition"]
        .iter()
        .flat_map(|k| of_visit(k))
        .collect();
    assert!(withdrawn.len() >= 4, "{} withdrawn", withdrawn.len());
    assert!(
        withdrawn.iter().all(|r| r["status"] == "entered-in-error"
            || r["verificationStatus"]["coding"][0]["code"] == "entered-in-error"),
        "not all withdrawn"
    );
    assert_eq!(
        standin.held("Encounter").len(),
        sent,
        "nothing created by it"
    );
    let conditions = of_visit("Condition");
    assert_eq!(conditions.len(), 2, "{conditions:?}");
    assert!(
        conditions
            .iter()
            .all(
                |c| c["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
                    && c.get("clinicalStatus").is_none()
            ),
        "{conditions:?}"
    );
    validate_bundles(&standin.bundles());
    assert_eq!(
        sent,
        held.visits
            .values()
            .filter(|s| s.status == SubmissionStatus::Sent)
            .count()
    );
}
