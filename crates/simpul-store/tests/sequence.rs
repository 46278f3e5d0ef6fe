//! The change sequence, the kinds' lists and the census counts agree with the records
//! after any run of writes, and a store from schema 6 gets them when opened.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use simpul_model::{RecordBody, RecordId, RecordKind, Scope};
use simpul_store::{Store, StoreOptions};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const POSYANDUS: [&str; 3] = [
    "3273/P3273010201/3273010201-PU1/3273010201-PY04",
    "3273/P3273010201/3273010201-PU1/3273010201-PY05",
    "3273/P3273010201/3273010201-PU1/3273010201-PY06",
];

/// Every page of the patient list, `limit` at a time.
fn paged(store: &Store, limit: usize) -> Vec<RecordId> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .ids_of_kind(RecordKind::Patient, after, limit)
            .expect("page");
        assert!(page.len() <= limit);
        let Some(last) = page.last().copied() else {
            return all;
        };
        all.extend(page);
        after = Some(last);
    }
}

/// What the derived tables must say of `store`, whose records were last changed in the
/// order `order`.
fn assert_agrees(store: &Store, order: &[RecordId], seed: u64) {
    assert_eq!(
        store.census().expect("census"),
        store.census_scanned().expect("scan"),
        "seed {seed}: the kept census is the counted one"
    );
    let log = store.changes_after(0, usize::MAX).expect("log");
    let logged: Vec<RecordId> = log.iter().map(|e| e.id).collect();
    assert_eq!(
        logged, order,
        "seed {seed}: one entry per record, last change last"
    );
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(
        store.last_sequence().expect("last"),
        log.last().map_or(0, |e| e.seq)
    );
    // Reading on from any entry gives exactly what follows it.
    if let Some(mid) = log.get(log.len() / 2) {
        let rest = store.changes_after(mid.seq, 3).expect("rest");
        assert_eq!(
            rest,
            log[log.len() / 2 + 1..]
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
        );
    }
    let mut ids = order.to_vec();
    ids.sort();
    for limit in [1, 2, 7] {
        assert_eq!(paged(store, limit), ids, "seed {seed}: pages of {limit}");
    }
    let report = store.verify(&|_, _| true).expect("verify");
    assert!(
        report.problems.is_empty(),
        "seed {seed}: {:?}",
        report.problems
    );
}

#[test]
fn the_sequence_lists_and_counts_follow_every_write() {
    for seed in 0..6u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = create(dir.path(), PUSTU);
        let mut order: Vec<RecordId> = Vec::new();
        let touch = |order: &mut Vec<RecordId>, id: RecordId| {
            order.retain(|o| *o != id);
            order.push(id);
        };
        for step in 0..60u32 {
            match rng.random_range(0..10) {
                0..=3 => {
                    let n = rng.random_range(0..1_000u64);
                    let at = POSYANDUS[rng.random_range(0..3)];
                    let rec = record(n, at);
                    if store.meta(rec.id).expect("meta").is_none() {
                        store
                            .insert_record(rec.clone(), today(), 1_000)
                            .expect("insert");
                        touch(&mut order, rec.id);
                    }
                }
                4..=6 if !order.is_empty() => {
                    let id = order[rng.random_range(0..order.len())];
                    store
                        .update_record(id, today(), 2_000, move |r| {
                            let RecordBody::Patient(p) = &mut r.body else {
                                unreachable!()
                            };
                            p.visits.insert(visit_key(step), visit(step));
                            Ok(())
                        })
                        .expect("update");
                    touch(&mut order, id);
                }
                7..=8 if !order.is_empty() => {
                    // Moves between posyandu of this pustu: counted under the new one.
                    let id = order[rng.random_range(0..order.len())];
                    let to = path(POSYANDUS[rng.random_range(0..3)]);
                    let out = store
                        .update_record(id, today(), 3_000, move |r| {
                            r.scope = Scope::up(to.clone());
                            if let RecordBody::Patient(p) = &mut r.body {
                                p.home_facility = to;
                            }
                            Ok(())
                        })
                        .expect("move");
                    if out.changed {
                        touch(&mut order, id);
                    }
                }
                _ => {
                    drop(store);
                    store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
                }
            }
        }
        assert_agrees(&store, &order, seed);
    }
}

#[test]
fn a_schema_6_store_gets_its_sequence_lists_counts_and_report_facts_when_opened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), PUSTU);
    let mut ids = Vec::new();
    for n in 0..25u64 {
        let rec = record(n * 7919 % 1000, POSYANDUS[(n % 3) as usize]);
        store
            .insert_record(rec.clone(), today(), 1_000)
            .expect("insert");
        ids.push(rec.id);
    }
    let census = store.census().expect("census");
    drop(store);
    {
        let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        for name in [
            "sequence-1",
            "sequence-of-1",
            "kinds-1",
            "counts-1",
            "report-facts-1",
        ] {
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
            assert!(txn.delete_table(table).expect("delete"), "{name} existed");
        }
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        txn.open_table(meta)
            .expect("meta")
            .insert("schema_version", 6u32.to_le_bytes().as_slice())
            .expect("version");
        txn.commit().expect("commit");
    }
    let store = Store::open(dir.path(), StoreOptions::default()).expect("migrate");
    assert_eq!(store.census().expect("census"), census);
    // Filed in id order, from the metadata; report facts from the documents (verify,
    // in assert_agrees, compares them with each document).
    ids.sort();
    assert_agrees(&store, &ids, 0);
    assert_eq!(store.each_report_facts(|_, _| {}).expect("facts"), 25);
}
