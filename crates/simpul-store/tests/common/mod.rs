//! Fixtures for the store's tests.
#![allow(dead_code, missing_docs, unreachable_pub)]

use simpul_model::*;
use simpul_store::{Store, StoreOptions};

pub const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

pub fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("test path")
}

pub fn today() -> Date {
    Date::parse("2026-11-23").expect("date")
}

pub fn create(dir: &std::path::Path, node: &str) -> Store {
    Store::create(dir, &path(node), [7, 7, 7, 7], StoreOptions::default()).expect("create store")
}

pub fn record(n: u64, at: &str) -> Record {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    Record {
        id: RecordId::from_bytes(id),
        scope: Scope::up(path(at)),
        body: RecordBody::Patient(Patient::example(&format!("Pasien {n}"), &path(at))),
    }
}

pub fn visit(day: u32) -> Visit {
    let date = Date::parse("2026-01-01")
        .expect("date")
        .add_days(i64::from(day % 300));
    let mut v = Visit::new(
        date,
        path(POSYANDU),
        Klaster::DewasaLansia,
        Setting::Posyandu,
        "kader-01",
    );
    v.measurements.weight_kg = Some(50.0 + f64::from(day % 20));
    v
}

pub fn visit_key(n: u32) -> String {
    VisitId::from_bytes(u64::from(n).to_be_bytes()).to_string()
}

/// A store for `node` that trusts `district` and seals with the node's key.
pub fn trusted(
    dir: &std::path::Path,
    district: &simpul_trust::testing::TestDistrict,
    node: &simpul_trust::testing::TestNode,
) -> Store {
    let options = StoreOptions {
        trust: Some(simpul_store::StoreTrust {
            authority: district.authority.clone(),
            signer: Some(node.signer.clone()),
        }),
        ..StoreOptions::default()
    };
    let facility = node.certified.facility.clone();
    if dir.join(simpul_store::DB_FILE).exists() {
        Store::open(dir, options).expect("open store")
    } else {
        Store::create(dir, &facility, [7, 7, 7, 7], options).expect("create store")
    }
}

/// What `node` sends with its records: its seals and its certificate.
pub fn from(
    node: &simpul_trust::testing::TestNode,
    seals: Vec<simpul_trust::Seal>,
) -> simpul_store::PeerData {
    simpul_store::PeerData {
        peer: node.certified.facility.clone(),
        seals,
        certs: vec![(node.certified.key, node.certified.der.clone())],
    }
}
