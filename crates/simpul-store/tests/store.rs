//! The store keeps what it acknowledged, refuses what it must, and changes nothing when
//! it refuses.

mod common;

use common::*;
use simpul_model::{RecordBody, RecordError};
use simpul_store::{COMPACT_AFTER_CHUNKS, OpenError, Store, StoreOptions, WriteError};

#[test]
fn records_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let rec = record(1, POSYANDU);
    let out = store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    assert!(out.created && out.changed);
    drop(store);

    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(store.node().path.as_str(), POSYANDU);
    let (meta, back) = store.record(rec.id).expect("read").expect("present");
    assert_eq!(back, rec);
    assert_eq!(meta.summary.label, "Pasien 1");
    assert_eq!(store.count().expect("count"), 1);
}

#[test]
fn updates_append_changes_and_compact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let rec = record(2, POSYANDU);
    store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    let mut saw_chunks = false;
    for n in 0..(COMPACT_AFTER_CHUNKS * 2) {
        let out = store
            .update_record(rec.id, today(), 2_000 + u64::from(n), move |r| {
                let RecordBody::Patient(p) = &mut r.body else {
                    unreachable!()
                };
                p.visits.insert(visit_key(n), visit(n));
                Ok(())
            })
            .expect("update");
        assert!(out.meta.chunks < COMPACT_AFTER_CHUNKS);
        saw_chunks |= out.meta.chunks > 0;
    }
    assert!(saw_chunks, "small updates are stored as change chunks");
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    let (_, back) = store.record(rec.id).expect("read").expect("present");
    assert_eq!(
        back.patient().expect("patient").visits.len(),
        (COMPACT_AFTER_CHUNKS * 2) as usize
    );
}

#[test]
fn refused_writes_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let rec = record(3, POSYANDU);
    store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    let before = store.stored_bytes(rec.id).expect("read").expect("present");

    // Invalid value.
    let err = store
        .update_record(rec.id, today(), 2_000, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.name = String::new();
            Ok(())
        })
        .expect_err("must fail");
    assert!(
        matches!(err, WriteError::Rejected(RecordError::Invalid(ref e)) if e.has_field("name")),
        "{err}"
    );
    // Same id again.
    assert!(matches!(
        store.insert_record(rec.clone(), today(), 3_000),
        Err(WriteError::AlreadyExists(_))
    ));
    // A record of another posyandu does not belong here.
    let other = record(4, "3273/P3273010201/3273010201-PU1/3273010201-PY05");
    assert!(matches!(
        store.insert_record(other.clone(), today(), 3_000),
        Err(WriteError::OutOfScope { .. })
    ));
    assert!(store.record(other.id).expect("read").is_none());
    // Updating a missing record.
    assert!(matches!(
        store.update_record(other.id, today(), 3_000, |_| Ok(())),
        Err(WriteError::NotFound(_))
    ));

    assert_eq!(
        store.stored_bytes(rec.id).expect("read").expect("present"),
        before
    );
    assert_eq!(store.count().expect("count"), 1);
}

#[test]
fn a_merge_that_would_erase_a_visit_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let rec = record(5, POSYANDU);
    store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    store
        .update_record(rec.id, today(), 2_000, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.visits.insert(visit_key(1), visit(1));
            Ok(())
        })
        .expect("add visit");
    let (_, doc) = store.load(rec.id).expect("read").expect("present");

    // Elsewhere, someone deletes the visit key directly in the document.
    let mut hostile = doc.fork();
    {
        use simpul_model::automerge::ReadDoc;
        use simpul_model::automerge::transaction::Transactable;
        let mut tx = hostile.transaction();
        let (_, patient) = tx
            .get(simpul_model::automerge::ROOT, "patient")
            .expect("get")
            .expect("patient");
        let (_, visits) = tx.get(&patient, "visits").expect("get").expect("visits");
        tx.delete(&visits, visit_key(1).as_str()).expect("delete");
        tx.commit();
    }
    let before = store.stored_bytes(rec.id).expect("read");
    let err = store
        .merge_document(hostile, today(), 3_000)
        .expect_err("must fail");
    assert!(err.to_string().contains("removed"), "{err}");
    assert_eq!(store.stored_bytes(rec.id).expect("read"), before);

    // The same document without the deletion merges as a no-op.
    let out = store.merge_document(doc, today(), 4_000).expect("merge");
    assert!(!out.changed);
}

#[test]
fn opening_twice_or_missing_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(OpenError::Missing(_))
    ));
    let store = create(dir.path(), POSYANDU);
    let second = Store::open(dir.path(), StoreOptions::default());
    assert!(
        matches!(second, Err(OpenError::Locked(_))),
        "{:?}",
        second.err()
    );
    assert!(matches!(
        Store::create(dir.path(), &path(POSYANDU), [0; 4], StoreOptions::default()),
        Err(OpenError::AlreadyExists(_))
    ));
    drop(store);
}

#[test]
fn sync_items_are_exactly_what_the_peer_should_hold() {
    use simpul_model::{Activity, ActivityKind, Date, RecordBody, Scope};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), "3273");
    let at = |n: u64, p: &str| {
        let r = record(n, p);
        store
            .insert_record(r.clone(), today(), 1_000)
            .expect("insert");
        r.id
    };
    let py04 = at(1, POSYANDU);
    let py05 = at(2, "3273/P3273010201/3273010201-PU1/3273010201-PY05");
    let pu1 = at(3, "3273/P3273010201/3273010201-PU1");
    let pu12 = at(4, "3273/P3273010201/3273010201-PU12");
    let other_pkm = at(5, "3273/P3273010202");
    let mut registry = record(6, "3273");
    registry.scope = Scope::down(path("3273"));
    registry.body = RecordBody::Activity(Activity {
        kind: ActivityKind::FollowUp,
        facility: path("3273"),
        date: Date::parse("2026-11-01").expect("date"),
        attendance: Default::default(),
        note: Some("target list".into()),
    });
    store
        .insert_record(registry.clone(), today(), 1_000)
        .expect("insert");

    let ids = |peer: &str| -> Vec<simpul_model::RecordId> {
        let mut v: Vec<_> = store
            .sync_items(&path(peer))
            .expect("items")
            .into_iter()
            .map(|i| i.id)
            .collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<simpul_model::RecordId>| {
        v.sort();
        v
    };
    assert_eq!(
        ids("3273/P3273010201/3273010201-PU1"),
        sorted(vec![py04, py05, pu1, registry.id])
    );
    assert_eq!(ids(POSYANDU), sorted(vec![py04, registry.id]));
    assert_eq!(
        ids("3273/P3273010202"),
        sorted(vec![other_pkm, registry.id])
    );
    assert_eq!(
        ids("3273/P3273010201"),
        sorted(vec![py04, py05, pu1, pu12, registry.id])
    );
    assert_eq!(ids("3273").len(), 6);
    let item = store
        .sync_items(&path(POSYANDU))
        .expect("items")
        .into_iter()
        .find(|i| i.id == py04)
        .expect("item");
    assert_eq!(
        Some(item.digest),
        store.meta(py04).expect("meta").map(|m| m.heads_digest)
    );
}

#[test]
fn a_record_that_moved_away_is_purged_and_its_tombstone_answers_offers() {
    use simpul_store::Offered;
    let dir = tempfile::tempdir().expect("tempdir");
    let pustu = "3273/P3273010201/3273010201-PU1";
    let store = create(dir.path(), pustu);
    let rec = record(7, POSYANDU);
    store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    store
        .update_record(rec.id, today(), 2_000, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.visits.insert(visit_key(1), visit(1));
            Ok(())
        })
        .expect("visit");
    let (meta, old_doc) = store.load(rec.id).expect("read").expect("present");

    // A stale digest (a change made since) keeps the record.
    assert!(!store.purge_if(rec.id, [0; 32], 3_000).expect("purge"));
    assert!(store.meta(rec.id).expect("meta").is_some());

    assert!(
        store
            .purge_if(rec.id, meta.heads_digest, 3_000)
            .expect("purge")
    );
    assert!(store.meta(rec.id).expect("meta").is_none());
    assert!(
        store.sync_items(&path("3273")).expect("items").is_empty(),
        "index rows are gone"
    );
    assert!(
        !store
            .purge_if(rec.id, meta.heads_digest, 3_000)
            .expect("purge again"),
        "nothing left to purge"
    );

    // The same version offered again (by a posyandu below) is covered: not stored.
    assert!(matches!(
        store
            .offer(old_doc.fork(), None, today(), 4_000)
            .expect("offer"),
        Offered::MovedAway
    ));
    assert!(store.meta(rec.id).expect("meta").is_none());

    // A version with a change the ancestor never saw is stored, to be handed up.
    let mut newer = old_doc.fork();
    let mut r = simpul_model::Record::from_document(&newer).expect("record");
    let before = r.clone();
    if let RecordBody::Patient(p) = &mut r.body {
        p.visits.insert(visit_key(2), visit(2));
    }
    r.write_over(&before, &mut newer, today(), 5_000)
        .expect("new change");
    assert!(matches!(
        store.offer(newer, None, today(), 5_000).expect("offer"),
        Offered::Stored(_)
    ));
    assert_eq!(
        store
            .record(rec.id)
            .expect("read")
            .expect("present")
            .1
            .patient()
            .expect("patient")
            .visits
            .len(),
        2
    );
    drop(store);
    // Reopening keeps everything (schema 2 with the tombstone table).
    let store = simpul_store::Store::open(dir.path(), simpul_store::StoreOptions::default())
        .expect("reopen");
    assert!(store.meta(rec.id).expect("meta").is_some());
}

#[test]
fn changes_made_here_carry_this_nodes_actor_even_on_records_from_elsewhere() {
    const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
    let dir = tempfile::tempdir().expect("tempdir");
    let pustu = create(&dir.path().join("pu"), PUSTU);
    let posyandu = create(&dir.path().join("py"), POSYANDU);
    let rec = record(1, POSYANDU);
    posyandu
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    let (_, doc) = posyandu.load(rec.id).expect("load").expect("present");
    // Received whole at the pustu (its own load gives the document a random actor)...
    let received = simpul_model::automerge::Automerge::load(&doc.save()).expect("bytes");
    pustu
        .merge_document(received, today(), 2_000)
        .expect("merge");
    // ...then changed there.
    pustu
        .update_record(rec.id, today(), 3_000, |r| {
            if let RecordBody::Patient(p) = &mut r.body {
                p.visits.insert(visit_key(1), visit(1));
            }
            Ok(())
        })
        .expect("update");
    let (_, doc) = pustu.load(rec.id).expect("load").expect("present");
    let last = doc
        .get_changes(&[])
        .last()
        .map(|c| c.actor_id().clone())
        .expect("a change");
    assert_eq!(last, pustu.node().actor, "the visit is the pustu's change");
    assert_eq!(
        simpul_model::actor_facility(&last)
            .map(|p| p.to_string())
            .as_deref(),
        Some(PUSTU)
    );
}
