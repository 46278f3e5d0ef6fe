//! The store on a disk that fails: a power cut at any fsync keeps every write that was
//! acknowledged by then, a full disk refuses writes as a failure of the store (not of
//! what was written) and loses nothing, and a failing read is an error, never an empty
//! answer. redb refuses everything after an I/O error until it is opened again; these
//! tests show what a reopened store holds.

mod common;

use common::*;
use simpul_model::RecordBody;
use simpul_store::faults::Disk;
use simpul_store::{Store, StoreOptions};

fn create_on(disk: &Disk) -> Store {
    Store::create_with_backend(
        disk.backend(),
        &path(POSYANDU),
        [7; 4],
        StoreOptions::default(),
    )
    .expect("create")
}

/// New records and visits, in an order fixed by `n`; what was acknowledged, each with
/// the number of completed syncs at its acknowledgement.
fn workload(store: &Store, disk: &Disk, n: u64) -> Vec<(simpul_model::RecordId, usize, u64)> {
    let mut acked: Vec<(simpul_model::RecordId, usize, u64)> = Vec::new();
    let mut visits = std::collections::BTreeMap::new();
    for i in 0..n {
        if i % 3 == 2 {
            // A visit on an earlier record: appended as a change chunk, then compacted.
            let id = acked[(i as usize * 7) % acked.len()].0;
            let count = visits.entry(id).or_insert(0usize);
            *count += 1;
            let key = visit_key(i as u32);
            store
                .update_record(id, today(), i + 1, move |r| {
                    let RecordBody::Patient(p) = &mut r.body else {
                        unreachable!("patients only")
                    };
                    p.visits.insert(key, visit(i as u32));
                    Ok(())
                })
                .expect("update");
            acked.push((id, *count, disk.syncs()));
        } else {
            let outcome = store
                .insert_record(record(i, POSYANDU), today(), i + 1)
                .expect("insert");
            acked.push((outcome.id, 0, disk.syncs()));
        }
    }
    acked
}

#[test]
fn a_power_cut_at_any_fsync_keeps_every_write_acknowledged_by_then() {
    let total = {
        let disk = Disk::new();
        let store = create_on(&disk);
        workload(&store, &disk, 30);
        disk.syncs()
    };
    assert!(total > 30, "{total} syncs");
    for frozen in (1..=total).step_by(3) {
        let disk = Disk::new();
        let store = create_on(&disk);
        disk.freeze_after(frozen);
        let acked = workload(&store, &disk, 30);
        drop(store);
        disk.power_cut();
        let store = Store::open_with_backend(disk.backend(), StoreOptions::default())
            .unwrap_or_else(|e| panic!("reopens after a cut at sync {frozen}: {e}"));
        let report = store.verify(&|_, _| true).expect("verify");
        assert!(
            report.problems.is_empty(),
            "cut at sync {frozen}: {:?}",
            report.problems
        );
        for (id, visits, syncs_at_ack) in acked.iter().filter(|(_, _, s)| *s <= frozen) {
            let (_, record) = store.record(*id).expect("reads").unwrap_or_else(|| {
                panic!("record {id} acknowledged at sync {syncs_at_ack} of {frozen} is gone")
            });
            let RecordBody::Patient(p) = record.body else {
                unreachable!("patients only")
            };
            assert!(
                p.visits.len() >= *visits,
                "record {id}: {} visits, {visits} acknowledged by sync {frozen}",
                p.visits.len()
            );
        }
    }
}

#[test]
fn a_full_disk_refuses_writes_as_the_stores_failure_and_loses_nothing() {
    let disk = Disk::new();
    let store = create_on(&disk);
    let acked = workload(&store, &disk, 10);
    disk.fail_writes(true);
    let err = store
        .insert_record(record(100, POSYANDU), today(), 200)
        .expect_err("the disk is full");
    assert!(err.is_store_failure(), "{err}");
    // Reads go on.
    for (id, _, _) in &acked {
        assert!(store.record(*id).expect("reads").is_some());
    }
    // Space comes back; the node reopens its store (as it does after a failure) and
    // writes again, with everything acknowledged before still there.
    disk.fail_writes(false);
    drop(store);
    let store = Store::open_with_backend(disk.backend(), StoreOptions::default()).expect("reopens");
    store
        .insert_record(record(100, POSYANDU), today(), 300)
        .expect("writes again");
    for (id, _, _) in &acked {
        assert!(store.record(*id).expect("reads").is_some());
    }
    assert!(
        store
            .verify(&|_, _| true)
            .expect("verify")
            .problems
            .is_empty()
    );
}

#[test]
fn a_failing_read_is_an_error_not_an_empty_store() {
    let disk = Disk::new();
    let store = create_on(&disk);
    workload(&store, &disk, 6);
    // Reopened, so that what is read next comes from the disk, not redb's cache.
    drop(store);
    let store = Store::open_with_backend(disk.backend(), StoreOptions::default()).expect("reopens");
    disk.fail_reads(true);
    let err = store
        .sync_items(&path("3273/P3273010201/3273010201-PU1"))
        .expect_err("the disk fails");
    assert!(!err.is_record_damage(), "{err}");
    assert!(store.list().is_err());
    // redb keeps refusing after an I/O error until the database is opened again: the
    // store has failed, and the node must reopen it (or stop), never carry on.
    disk.fail_reads(false);
    assert!(store.list().is_err(), "the failure is latched");
    drop(store);
    let store = Store::open_with_backend(disk.backend(), StoreOptions::default()).expect("reopens");
    assert_eq!(store.list().expect("reads again").len(), 4);
}
