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
        .import_document(&hostile, today(), 3_000)
        .expect_err("must fail");
    assert!(err.to_string().contains("removed"), "{err}");
    assert_eq!(store.stored_bytes(rec.id).expect("read"), before);

    // The same document without the deletion imports as a no-op.
    let out = store.import_document(&doc, today(), 4_000).expect("import");
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
fn a_record_that_moved_away_is_let_go_only_on_evidence_and_its_tombstone_answers_offers() {
    use simpul_store::Offered;
    use simpul_trust::SealKind;
    use simpul_trust::testing::TestDistrict;
    let district = TestDistrict::new("3273");
    let py04 = district.node(&path(POSYANDU));
    let pu1 = district.node(&path("3273/P3273010201/3273010201-PU1"));
    let pk = district.node(&path("3273/P3273010201"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = trusted(dir.path(), &district, &pu1);
    // The posyandu's record reaches its pustu.
    let rec = record(7, POSYANDU);
    let actor = |n: &simpul_trust::testing::TestNode| {
        simpul_trust::signing_actor(&n.certified.facility, n.certified.key, [1, 0, 0, 0])
    };
    let doc = rec
        .create_document(actor(&py04), today(), 1_000_000)
        .expect("create");
    let seal = py04.signer.seal(rec.id, SealKind::Author, &doc.get_heads());
    store
        .offer(
            doc.fork(),
            None,
            from(&py04, vec![seal.clone()]),
            today(),
            1_000,
        )
        .expect("offer");
    let meta = store.meta(rec.id).expect("meta").expect("stored");
    // The puskesmas moves the family to a posyandu of another pustu.
    let mut moved = doc.fork().with_actor(actor(&pk));
    let mut after = rec.clone();
    after.scope = simpul_model::Scope::up(path("3273/P3273010201/3273010201-PU2/3273010201-PY01"));
    after
        .write_over(&rec, &mut moved, today(), 2_000_000)
        .expect("move");
    let move_seal = pk.signer.seal(rec.id, SealKind::Author, &moved.get_heads());
    let evidence = moved.save_after(&doc.get_heads());
    let pk_data = || from(&pk, vec![seal.clone(), move_seal.clone()]);

    // A stale digest (a change made since) keeps the record.
    assert!(
        !store
            .moved(rec.id, [0; 32], evidence.clone(), pk_data(), today(), 3_000)
            .expect("moved")
    );
    // Evidence that does not move it (no changes) keeps it too.
    assert!(
        !store
            .moved(
                rec.id,
                meta.heads_digest,
                Vec::new(),
                pk_data(),
                today(),
                3_000
            )
            .expect("moved")
    );
    assert!(store.meta(rec.id).expect("meta").is_some());
    assert!(
        store
            .moved(
                rec.id,
                meta.heads_digest,
                evidence.clone(),
                pk_data(),
                today(),
                3_000
            )
            .expect("moved")
    );
    assert!(store.meta(rec.id).expect("meta").is_none());
    assert!(
        store.sync_items(&path("3273")).expect("items").is_empty(),
        "index rows are gone"
    );
    // The change sequence says it went (an analytics feed deletes its rows); the census
    // and the patient list no longer count it.
    let log = store.changes_after(0, usize::MAX).expect("log");
    assert_eq!(log.len(), 1);
    assert!(log[0].removed && log[0].id == rec.id);
    assert_eq!(store.census().expect("census"), Default::default());
    assert!(
        store
            .ids_of_kind(simpul_model::RecordKind::Patient, None, 10)
            .expect("list")
            .is_empty()
    );

    // The same version offered again (by the posyandu below) is covered: not stored, and
    // the evidence of the move goes back.
    match store
        .offer(
            doc.fork(),
            None,
            from(&py04, vec![seal.clone()]),
            today(),
            4_000,
        )
        .expect("offer")
    {
        Offered::MovedAway(evidence) => {
            assert!(!evidence.bytes.is_empty());
            assert!(evidence.seals.contains(&move_seal));
        }
        other => panic!("{other:?}"),
    }
    assert!(store.meta(rec.id).expect("meta").is_none());

    // A version with a change the ancestor never saw is stored, to be handed up.
    let mut newer = doc.fork().with_actor(actor(&py04));
    let mut r = rec.clone();
    if let RecordBody::Patient(p) = &mut r.body {
        p.visits.insert(visit_key(2), visit(2));
    }
    r.write_over(&rec, &mut newer, today(), 5_000_000)
        .expect("new change");
    let newer_seal = py04
        .signer
        .seal(rec.id, SealKind::Author, &newer.get_heads());
    assert!(matches!(
        store
            .offer(newer, None, from(&py04, vec![newer_seal]), today(), 5_000)
            .expect("offer"),
        Offered::Stored(_)
    ));
    drop(store);
    let store = trusted(dir.path(), &district, &pu1);
    assert!(store.meta(rec.id).expect("meta").is_some());
}

#[test]
fn changes_made_here_are_sealed_with_this_nodes_key_even_on_records_from_elsewhere() {
    const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
    let district = simpul_trust::testing::TestDistrict::new("3273");
    let (py04, pu1) = (district.node(&path(POSYANDU)), district.node(&path(PUSTU)));
    let dir = tempfile::tempdir().expect("tempdir");
    let pustu = trusted(&dir.path().join("pu"), &district, &pu1);
    let posyandu = trusted(&dir.path().join("py"), &district, &py04);
    let mut rec = record(1, POSYANDU);
    rec.id = posyandu
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert")
        .id;
    assert_eq!(
        rec.id.bound_key(),
        Some([
            py04.certified.key.0[0],
            py04.certified.key.0[1],
            py04.certified.key.0[2],
            py04.certified.key.0[3]
        ]),
        "a node with a key binds the ids of what it creates"
    );
    let sealed = posyandu.outgoing(rec.id).expect("read").expect("present");
    assert_eq!(sealed.seals.len(), 1);
    assert_eq!(sealed.certs.len(), 1, "its key's certificate goes with it");
    // Received whole at the pustu (its own load gives the document a random actor)...
    let received = simpul_model::automerge::Automerge::load(&sealed.bytes).expect("bytes");
    let data = simpul_store::PeerData {
        peer: path(POSYANDU),
        seals: sealed.seals.clone(),
        certs: sealed.certs.clone(),
    };
    pustu
        .offer(received, Some(sealed.bytes.clone()), data, today(), 2_000)
        .expect("offer");
    // ...then changed there.
    let out = pustu
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
        simpul_trust::classify(&last),
        simpul_trust::ActorKind::Keyed {
            facility: path(PUSTU),
            key: pu1.certified.key
        }
    );
    // Both authors' seals travel with it.
    let keys: Vec<_> = out.seals.iter().map(|s| s.key).collect();
    assert!(keys.contains(&py04.certified.key) && keys.contains(&pu1.certified.key));
}

#[test]
fn backup_holds_every_table() {
    let district = simpul_trust::testing::TestDistrict::new("3273");
    let node = district.node(&path(POSYANDU));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = trusted(&dir.path().join("node"), &district, &node);
    store
        .insert_record(record(1, POSYANDU), today(), 1_000)
        .expect("insert");
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).expect("dir");
    store
        .backup(&copy.join(simpul_store::DB_FILE))
        .expect("backup");
    let names = store.table_names().expect("tables");
    drop(store);
    let restored = Store::open(&copy, StoreOptions::default()).expect("open the backup");
    assert_eq!(restored.table_names().expect("tables"), names);
    assert!(names.len() >= 14, "{names:?}");
    // The seals came along: the backup verifies, seals included.
    let report = restored.verify(&|_, _| true).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn a_backup_is_owner_only_and_never_written_through_what_is_already_there() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(&dir.path().join("node"), POSYANDU);
    store
        .insert_record(record(1, POSYANDU), today(), 1_000)
        .expect("insert");
    let out = dir.path().join("backup.redb");
    store.backup(&out).expect("backup");
    let mode = std::fs::metadata(&out).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert!(matches!(
        store.backup(&out),
        Err(simpul_store::BackupError::Exists(_))
    ));
    // A link planted where the backup goes (a check that the path is free would pass: it
    // points nowhere yet) must not lead the backup to a file of someone else's choosing.
    let planted = dir.path().join("elsewhere.redb");
    let link = dir.path().join("planted.redb");
    std::os::unix::fs::symlink(&planted, &link).expect("symlink");
    assert!(matches!(
        store.backup(&link),
        Err(simpul_store::BackupError::Exists(_))
    ));
    assert!(!planted.exists(), "the backup followed the link");
}

#[test]
fn verify_reports_a_change_no_seal_covers() {
    use simpul_trust::testing::TestDistrict;
    let district = TestDistrict::new("3273");
    let (py04, other) = (
        district.node(&path(POSYANDU)),
        district.node(&path(POSYANDU)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = trusted(dir.path(), &district, &py04);
    let mut rec = record(2, POSYANDU);
    rec.id = store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert")
        .id;
    assert!(
        store
            .verify(&|_, _| true)
            .expect("verify")
            .problems
            .is_empty()
    );
    drop(store);
    // Reopened with another key of the same facility, the node writes under a new actor;
    // its old seal is replaced by hand with one of the new key (as a damaged or tampered
    // seals table would be).
    let store = trusted(dir.path(), &district, &other);
    let (_, doc) = store.load(rec.id).expect("load").expect("present");
    drop(store);
    let wrong = other
        .signer
        .seal(rec.id, simpul_trust::SealKind::Author, &doc.get_heads());
    {
        const SEALS: redb::TableDefinition<&[u8; 16], &[u8]> =
            redb::TableDefinition::new("seals-1");
        let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        txn.open_table(SEALS)
            .expect("seals")
            .insert(
                rec.id.as_bytes(),
                simpul_trust::encode_seals(&[wrong]).as_slice(),
            )
            .expect("insert");
        txn.commit().expect("commit");
    }
    let store = trusted(dir.path(), &district, &other);
    let problems = store.verify(&|_, _| true).expect("verify").problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("not covered by a seal of its author"),
        "{problems:?}"
    );
}

/// Turns the store in `dir` into one written by schema 3 (before seals): its version
/// row says 3 and the tables schema 4 added are gone.
fn make_schema_3(dir: &std::path::Path) {
    let db = redb::Database::open(dir.join(simpul_store::DB_FILE)).expect("db");
    let txn = db.begin_write().expect("txn");
    for name in [
        "seals-1",
        "certs-1",
        "quarantine-1",
        "pending-seals-1",
        "moved-1",
        "damaged-1",
    ] {
        let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
        txn.delete_table(table).expect("delete");
    }
    {
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        let mut meta = txn.open_table(meta).expect("meta");
        meta.insert("schema_version", 3u32.to_le_bytes().as_slice())
            .expect("version");
        meta.remove("node_cert").expect("cert");
    }
    txn.commit().expect("commit");
}

#[test]
fn history_from_before_seals_is_endorsed_at_the_first_start_and_reaches_a_new_node() {
    use simpul_trust::testing::TestDistrict;
    const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
    const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
    let district = TestDistrict::new("3273");
    let (py04, pu1, py05) = (
        district.node(&path(POSYANDU)),
        district.node(&path(PUSTU)),
        district.node(&path(PY05)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let legacy_dir = dir.path().join("py04");
    // A posyandu's store from before seals: records written by its unbound actor.
    let legacy = create(&legacy_dir, POSYANDU);
    let rec = record(3, POSYANDU);
    legacy
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    legacy
        .update_record(rec.id, today(), 2_000, |r| {
            if let RecordBody::Patient(p) = &mut r.body {
                p.visits.insert(visit_key(1), visit(1));
            }
            Ok(())
        })
        .expect("visit");
    drop(legacy);
    make_schema_3(&legacy_dir);

    // First start on this version, with the node's key: the migration marks every record,
    // and the node endorses them.
    let posyandu = trusted(&legacy_dir, &district, &py04);
    assert_eq!(posyandu.pending_seals().expect("pending"), 1);
    assert_eq!(posyandu.seal_pending(3_000).expect("seal"), 1);
    assert_eq!(posyandu.pending_seals().expect("pending"), 0);
    let sealed = posyandu.outgoing(rec.id).expect("read").expect("present");
    assert_eq!(sealed.seals.len(), 1);
    assert_eq!(sealed.seals[0].kind, simpul_trust::SealKind::Endorsement);
    assert!(
        posyandu
            .verify(&|_, _| true)
            .expect("verify")
            .problems
            .is_empty()
    );

    // A pustu that never held the record takes its history, vouched for by the posyandu.
    let pustu = trusted(&dir.path().join("pu"), &district, &pu1);
    let data = |from: &str, s: &simpul_trust::Sealed| simpul_store::PeerData {
        peer: path(from),
        seals: s.seals.clone(),
        certs: s.certs.clone(),
    };
    let doc = simpul_model::automerge::Automerge::load(&sealed.bytes).expect("load");
    pustu
        .offer(doc.fork(), None, data(POSYANDU, &sealed), today(), 4_000)
        .expect("endorsed history is taken");

    // A sibling posyandu's endorsement does not vouch for it: it may not move the record.
    let other = trusted(&dir.path().join("pu2"), &district, &pu1);
    let forged = simpul_trust::Sealed {
        seals: vec![py05.signer.seal(
            rec.id,
            simpul_trust::SealKind::Endorsement,
            &doc.get_heads(),
        )],
        certs: vec![(py05.certified.key, py05.certified.der.clone())],
        bytes: Vec::new(),
    };
    let err = other
        .offer(doc.fork(), None, data(POSYANDU, &forged), today(), 4_000)
        .expect_err("not vouched for");
    assert!(err.to_string().contains("may not create a record"), "{err}");
    assert!(other.meta(rec.id).expect("meta").is_none());

    // A record sent under another record's id is refused, and stored under neither.
    let elsewhere = simpul_model::RecordId::from_bytes([7; 16]);
    let err = match other.offer_queued(
        elsewhere,
        doc.fork(),
        None,
        data(POSYANDU, &sealed),
        today(),
        4_000,
    ) {
        Err(err) => err,
        Ok(_) => panic!("a document under another id must be refused"),
    };
    assert!(
        err.to_string().contains(&format!("not {elsewhere}")),
        "{err}"
    );
    assert!(other.meta(elsewhere).expect("meta").is_none());
    assert!(other.meta(rec.id).expect("meta").is_none());
}

#[test]
fn a_merge_of_concurrent_corrections_is_listed_with_competing_values_until_settled() {
    use simpul_trust::SealKind;
    use simpul_trust::testing::TestDistrict;
    let district = TestDistrict::new("3273");
    let py04 = district.node(&path(POSYANDU));
    let pu1 = district.node(&path("3273/P3273010201/3273010201-PU1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = trusted(dir.path(), &district, &pu1);
    let rec = record(7, POSYANDU);
    let actor = simpul_trust::signing_actor(&py04.certified.facility, py04.certified.key, [1; 4]);
    let doc = rec
        .create_document(actor.clone(), today(), 1_000_000)
        .expect("create");
    let created = py04.signer.seal(rec.id, SealKind::Author, &doc.get_heads());
    store
        .offer(
            doc.fork(),
            None,
            from(&py04, vec![created.clone()]),
            today(),
            1_000,
        )
        .expect("offer");
    let listed = |store: &Store| store.conflicted(None, 10).expect("conflicted");
    assert!(listed(&store).is_empty());

    // The pustu corrects the name while the posyandu, offline, corrects it too.
    store
        .update_record(rec.id, today(), 2_000, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.name = "Ayu Lestari".into();
            Ok(())
        })
        .expect("correct here");
    assert!(
        listed(&store).is_empty(),
        "one line of changes competes with nothing"
    );
    let mut there = doc.fork().with_actor(actor);
    let mut corrected = rec.clone();
    if let RecordBody::Patient(p) = &mut corrected.body {
        p.name = "Ayu Lestary".into();
    }
    corrected
        .write_over(&rec, &mut there, today(), 2_500_000)
        .expect("correct there");
    let edited = py04
        .signer
        .seal(rec.id, SealKind::Author, &there.get_heads());
    store
        .offer(
            there,
            None,
            from(&py04, vec![created, edited]),
            today(),
            3_000,
        )
        .expect("merge");
    assert_eq!(
        listed(&store),
        vec![(rec.id, 1)],
        "the merge left two names"
    );
    let (_, merged) = store.load(rec.id).expect("load").expect("held");
    let conflicts = simpul_model::history::conflicts(&merged);
    assert_eq!(conflicts.len(), 1);
    let report = store.verify(&|_, _| true).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // A store from before the list (schema 11) gets it when opened.
    drop(store);
    {
        let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("conflicts-1");
        assert!(txn.delete_table(table).expect("delete"));
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        txn.open_table(meta)
            .expect("meta")
            .insert("schema_version", 11u32.to_le_bytes().as_slice())
            .expect("version");
        txn.commit().expect("commit");
    }
    let store = trusted(dir.path(), &district, &pu1);
    assert_eq!(listed(&store), vec![(rec.id, 1)], "filed when migrated");
    assert!(store.conflicted(Some(rec.id), 10).expect("page").is_empty());

    // A later write elsewhere in the record leaves the two names competing: still listed.
    store
        .update_record(rec.id, today(), 3_500, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.address.rt = Some("004".into());
            Ok(())
        })
        .expect("another correction");
    assert_eq!(listed(&store), vec![(rec.id, 1)], "still two names");

    // Settled on one value: no longer listed, and the list survives a reopen.
    let field = conflicts[0].field.clone();
    store
        .write(rec.id, 4_000, move |doc| {
            let doc = doc.as_mut().ok_or(WriteError::NotFound(rec.id))?;
            simpul_model::history::settle(
                doc,
                &field,
                "Ayu Lestari",
                simpul_model::history::Settlement::New,
                4_000,
            )?;
            Ok(simpul_model::Record::from_document(doc)?)
        })
        .expect("settle");
    assert!(listed(&store).is_empty());
    drop(store);
    let store = trusted(dir.path(), &district, &pu1);
    assert!(listed(&store).is_empty());
    let report = store.verify(&|_, _| true).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[test]
fn the_store_keeps_when_it_last_heard_from_each_facility_and_a_migration_fills_it() {
    use simpul_store::Heard;
    use simpul_trust::SealKind;
    use simpul_trust::testing::TestDistrict;
    let district = TestDistrict::new("3273");
    let py04 = district.node(&path(POSYANDU));
    let pu1 = district.node(&path("3273/P3273010201/3273010201-PU1"));
    let dir = tempfile::tempdir().expect("tempdir");
    let store = trusted(dir.path(), &district, &pu1);
    let actor = simpul_trust::signing_actor(&py04.certified.facility, py04.certified.key, [1; 4]);
    let rec = record(9, POSYANDU);
    let doc = rec
        .create_document(actor.clone(), today(), 1_000_000)
        .expect("create");
    // The posyandu writes again at `clock_ms`; the pustu stores it at `at_ms`.
    let offer_change = |doc: &simpul_model::automerge::Automerge, name: &str, clock_ms, at_ms| {
        let mut next = doc.fork().with_actor(actor.clone());
        let mut after = rec.clone();
        if let RecordBody::Patient(p) = &mut after.body {
            p.name = name.into();
        }
        after
            .write_over(&rec, &mut next, today(), clock_ms)
            .expect("write");
        let seal = py04
            .signer
            .seal(rec.id, SealKind::Author, &next.get_heads());
        store
            .offer(next.fork(), None, from(&py04, vec![seal]), today(), at_ms)
            .expect("offer");
        next
    };
    let seal = py04.signer.seal(rec.id, SealKind::Author, &doc.get_heads());
    store
        .offer(doc.fork(), None, from(&py04, vec![seal]), today(), 1_000)
        .expect("offer");
    let py = path(POSYANDU);
    let pu = pu1.certified.facility.clone();
    let heard = |store: &Store| store.heard().expect("heard");
    assert_eq!(
        heard(&store).get(&py),
        Some(&Heard {
            written_s: 1_000,
            stored_ms: 1_000
        })
    );
    // The pustu's own change names the pustu, and leaves the posyandu's row as it was.
    store
        .update_record(rec.id, today(), 5_000, |r| {
            if let RecordBody::Patient(p) = &mut r.body {
                p.kia_book = true;
            }
            Ok(())
        })
        .expect("update");
    assert_eq!(heard(&store).get(&pu).map(|h| h.stored_ms), Some(5_000));
    assert_eq!(heard(&store)[&py].stored_ms, 1_000);
    // A change from a posyandu whose clock is behind is still news of it (its newest
    // time stays); one ahead moves both; one absurdly ahead is believed a day at most.
    let doc = offer_change(&doc, "Pasien lambat", 500_000, 6_000);
    assert_eq!(
        heard(&store)[&py],
        Heard {
            written_s: 1_000,
            stored_ms: 6_000
        }
    );
    let doc = offer_change(&doc, "Pasien baru", 2_000_000, 7_000);
    assert_eq!(
        heard(&store)[&py],
        Heard {
            written_s: 2_000,
            stored_ms: 7_000
        }
    );
    offer_change(&doc, "Pasien masa depan", 4_000_000_000_000, 8_000);
    let before = heard(&store);
    assert_eq!(
        before[&py],
        Heard {
            written_s: 8 + 86_400,
            stored_ms: 8_000
        }
    );
    assert_eq!(before.len(), 2, "{before:?}");
    drop(store);

    // A store of schema 12 gets the table when opened, from its documents: when each
    // change arrived is not known, so the record's last store stands for it.
    {
        let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        let table: redb::TableDefinition<&str, (u64, u64)> = redb::TableDefinition::new("heard-1");
        assert!(txn.delete_table(table).expect("delete"));
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        txn.open_table(meta)
            .expect("meta")
            .insert("schema_version", 12u32.to_le_bytes().as_slice())
            .expect("version");
        txn.commit().expect("commit");
    }
    let store = trusted(dir.path(), &district, &pu1);
    let after = heard(&store);
    assert_eq!(after[&py].written_s, 8 + 86_400);
    assert_eq!(after[&py].stored_ms, 8_000, "the record's last store");
    assert_eq!(after[&pu].written_s, 5);
}

#[test]
fn the_writer_says_how_long_it_has_been_at_its_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let rec = record(3, POSYANDU);
    store
        .insert_record(rec.clone(), today(), 1_000)
        .expect("insert");
    // A write that hangs (as a disk stuck in fsync would hang the commit).
    let (entered, wait) = std::sync::mpsc::channel();
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let writing = {
        let store = store.clone();
        std::thread::spawn(move || {
            store.update_record(rec.id, today(), 2_000, move |r| {
                entered.send(()).expect("entered");
                hold.recv().expect("released");
                if let RecordBody::Patient(p) = &mut r.body {
                    p.kia_book = true;
                }
                Ok(())
            })
        })
    };
    wait.recv().expect("the write began");
    std::thread::sleep(std::time::Duration::from_millis(150));
    let busy = store.writer_busy_for();
    // Reads still answer from the last snapshot meanwhile.
    let read = store.meta(rec.id).expect("read").is_some();
    release.send(()).expect("release");
    writing.join().expect("join").expect("update");
    assert!(
        busy.is_some_and(|b| b >= std::time::Duration::from_millis(150)),
        "{busy:?}"
    );
    assert!(read);
    // Idle again once the batch is done (the reply goes out just before).
    let idle = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        store.writer_busy_for().is_none()
    });
    assert!(idle, "{:?}", store.writer_busy_for());
}
