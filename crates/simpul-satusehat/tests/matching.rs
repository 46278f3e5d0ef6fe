//! Matching a real store's patients against the stand-in: what a broken or failing
//! platform leaves behind (nothing wrong stored, nothing lost for the next round).

use std::time::Duration;

use simpul_model::{
    Address, Date, FacilityPath, Identifiers, Patient, Record, RecordBody, RecordId, Scope, Sex,
};
use simpul_satusehat::standin::{CLIENT_ID, CLIENT_SECRET, Fault, Person, StandIn};
use simpul_satusehat::{Platform, PlatformConfig, RetryPolicy, Secret, match_round};
use simpul_store::{Store, StoreOptions};

const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

fn today() -> Date {
    Date::parse("2026-12-06").expect("date")
}

fn patient(nik: &str, name: &str) -> Record {
    let home = FacilityPath::parse(PY).expect("path");
    Record {
        id: RecordId::from_bytes(rand::random()),
        scope: Scope::up(home.clone()),
        body: RecordBody::Patient(Patient {
            identifiers: Identifiers {
                nik: Some(nik.into()),
                ..Identifiers::default()
            },
            name: name.into(),
            sex: Sex::Female,
            birth_date: Date::parse("1990-08-12").expect("date"),
            address: Address {
                village: "3273010001".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: home,
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: Default::default(),
        }),
    }
}

fn ihs(store: &Store, id: RecordId) -> Option<String> {
    match store.record(id).expect("read").expect("held").1.body {
        RecordBody::Patient(p) => p.identifiers.ihs,
        _ => None,
    }
}

#[test]
fn a_bad_answer_stores_nothing_and_a_failing_platform_loses_no_one() {
    let standin = StandIn::start(vec![
        // The platform answers with an id that is no FHIR id: not written.
        Person {
            ihs: "P 0247/8375538".into(),
            nik: Some("3273015208900003".into()),
            nik_ibu: None,
            birth_date: "1990-08-12".into(),
        },
        Person {
            ihs: "P02478375538".into(),
            nik: Some("9271060312000001".into()),
            nik_ibu: None,
            birth_date: "1992-01-09".into(),
        },
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let node = FacilityPath::parse("3273/P3273010201").expect("path");
    let store =
        Store::create(dir.path(), &node, [1, 2, 3, 4], StoreOptions::default()).expect("store");
    let bad = store
        .insert_record(patient("3273015208900003", "Siti Rahayu"), today(), 1_000)
        .expect("insert")
        .id;
    let good = store
        .insert_record(
            patient("9271060312000001", "Ardianto Putra"),
            today(),
            1_000,
        )
        .expect("insert")
        .id;
    let heads_before = store.meta(bad).expect("meta").expect("held").heads_digest;
    let platform = Platform::new(
        PlatformConfig {
            auth_url: standin.auth_url(),
            fhir_url: standin.fhir_url(),
            client_id: CLIENT_ID.into(),
            client_secret: Secret::new(CLIENT_SECRET),
            organization: "10000004".into(),
            register_newborns: true,
        },
        RetryPolicy {
            attempts: 2,
            first_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(10),
            timeout: Duration::from_secs(5),
        },
    )
    .expect("platform");

    // The platform down throughout: the round stops, and nobody is passed over.
    standin.inject(&[Fault::Unavailable; 2]);
    let err = match_round(&store, &platform, today(), 2_000).expect_err("unavailable");
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert_eq!((ihs(&store, bad), ihs(&store, good)), (None, None));

    let report = match_round(&store, &platform, today(), 3_000).expect("round");
    assert_eq!((report.matched, report.skipped), (1, 1), "{report:?}");
    assert_eq!(ihs(&store, good).as_deref(), Some("P02478375538"));
    // The bad id was refused by the record's own checks: the record is as it was.
    assert_eq!(ihs(&store, bad), None);
    assert_eq!(
        store.meta(bad).expect("meta").expect("held").heads_digest,
        heads_before
    );
}
