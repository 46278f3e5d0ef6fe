//! Bundles between real stores with real certificates: the round trip converges the pair,
//! and every hostile or broken bundle is refused by name with nothing stored changed.

use simpul_bundle::exchange::{Basis, BundleError};
use simpul_bundle::format::{self, Body, Carried, Header};
use simpul_bundle::{Summary, apply, create, show};
use simpul_model::*;
use simpul_store::{Store, StoreOptions, StoreTrust};
use simpul_trust::SealKind;
use simpul_trust::testing::{TestDistrict, TestNode};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
const OTHER_PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
/// 2026-12-06, the tests' now.
const NOW: u64 = 1_796_515_200_000;

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::parse("2026-12-06").expect("date")
}

fn store(dir: &std::path::Path, district: &TestDistrict, node: &TestNode) -> Store {
    let options = StoreOptions {
        trust: Some(StoreTrust {
            authority: district.authority.clone(),
            signer: Some(node.signer.clone()),
        }),
        ..StoreOptions::default()
    };
    Store::create(dir, &node.certified.facility, [3; 4], options).expect("store")
}

/// Patient `n` of `at`, its id bound to the posyandu's key as the store binds it.
fn patient(n: u64, at: &str) -> Record {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    Record {
        id: RecordId::from_bytes(id),
        scope: Scope::up(path(at)),
        body: RecordBody::Patient(Patient::example(&format!("Pasien {n}"), &path(at))),
    }
}

/// What `store` holds that it shares with `peer`: (id, digest) pairs.
fn shared(store: &Store, peer: &str) -> Vec<(RecordId, [u8; 32])> {
    let mut items: Vec<_> = store
        .sync_items(&path(peer))
        .expect("items")
        .into_iter()
        .map(|i| (i.id, i.digest))
        .collect();
    items.sort();
    items
}

/// The id the posyandu's store gives patient `n`.
fn bound(p: &Pair, n: u64) -> RecordId {
    let k = p.py_node.certified.key.0;
    patient(n, PY).id.bind([k[0], k[1], k[2], k[3]])
}

struct Pair {
    district: TestDistrict,
    py_node: TestNode,
    pu_node: TestNode,
    py: Store,
    pu: Store,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn pair(records: u64) -> Pair {
    let district = TestDistrict::new("3273");
    let py_node = district.node(&path(PY));
    let pu_node = district.node(&path(PUSTU));
    let (a, b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let py = store(a.path(), &district, &py_node);
    let pu = store(b.path(), &district, &pu_node);
    for n in 0..records {
        py.insert_record(patient(n, PY), today(), NOW - 86_400_000)
            .expect("insert");
    }
    Pair {
        district,
        py_node,
        pu_node,
        py,
        pu,
        _dirs: (a, b),
    }
}

impl Pair {
    /// The posyandu's bundle for its pustu (it has never synced: the certificate given).
    fn bundle_of_py(&self) -> Vec<u8> {
        let created = create(
            &self.py,
            &path(PUSTU),
            Some(&self.pu_node.certified.der),
            None,
            None,
            NOW,
        )
        .expect("create");
        assert_eq!(created.files.len(), 1);
        created.files.into_iter().next().expect("file")
    }

    /// Asserts that applying `file` at the pustu is refused as `expected` says, and that
    /// nothing the pustu holds changed.
    fn refused_at_pu(&self, file: &[u8], expected: impl Fn(&BundleError) -> bool, what: &str) {
        let before = (
            shared(&self.pu, PY),
            self.pu.bundle_states().expect("states"),
        );
        match apply(&self.pu, file, today(), NOW) {
            Err(e) => assert!(expected(&e), "{what}: refused for the wrong reason: {e}"),
            Ok((a, _)) => panic!("{what}: applied {a:?}"),
        }
        let after = (
            shared(&self.pu, PY),
            self.pu.bundle_states().expect("states"),
        );
        assert_eq!(before, after, "{what}: something stored changed");
    }
}

/// A header as `from` would write it for the pustu, made at `created_ms`.
fn header_for_pu(p: &Pair, id: u8, from: &TestNode, created_ms: u64, records: u32) -> Header {
    Header {
        id: [id; 16],
        set: [id; 16],
        part: 1,
        parts: 1,
        from: from.certified.facility.to_string(),
        from_cert: from.certified.der.to_vec(),
        to: PUSTU.into(),
        to_key: p.pu_node.certified.key,
        created_ms,
        answers: None,
        records,
        body_sha256: [0; 32],
    }
}

/// Patient `n` of `at` written by the posyandu's key, sealed by it or not.
fn carried_by_py(p: &Pair, n: u64, at: &str, sealed: bool) -> Carried {
    let actor = simpul_trust::signing_actor(&path(PY), p.py_node.certified.key, [1; 4]);
    let mut rec = patient(n, at);
    let k = p.py_node.certified.key.0;
    rec.id = rec.id.bind([k[0], k[1], k[2], k[3]]);
    let doc = rec.create_document(actor, today(), NOW).expect("doc");
    let seals = if sealed {
        vec![
            p.py_node
                .signer
                .seal(rec.id, SealKind::Author, &doc.get_heads()),
        ]
    } else {
        Vec::new()
    };
    Carried {
        bytes: doc.save(),
        seals,
    }
}

/// A bundle body of `records` with an empty summary.
fn body_of(records: Vec<Carried>) -> Body {
    Body {
        records,
        certs: Vec::new(),
        summary: Summary::of(&[]),
        revocations: None,
    }
}

#[test]
fn a_round_trip_converges_the_pair_and_the_next_bundle_carries_exactly_what_is_new() {
    let p = pair(40);
    let file = p.bundle_of_py();
    let shown = show(&p.pu, &file, NOW).expect("show");
    assert_eq!((shown.records.len(), shown.applied_ms), (40, None));
    assert!(shown.records.iter().all(|r| !r.held && r.facility == PY));

    let (applied, _) = apply(&p.pu, &file, today(), NOW).expect("apply");
    assert_eq!((applied.records, applied.changed), (40, 40));
    assert_eq!(shared(&p.pu, PY), shared(&p.py, PUSTU));

    // The pustu corrects one record; its answer carries exactly that one.
    let corrected = bound(&p, 7);
    p.pu.update_record(corrected, today(), NOW + 1_000, |r| {
        if let RecordBody::Patient(pt) = &mut r.body {
            pt.kia_book = true;
        }
        Ok(())
    })
    .expect("correct");
    let answer = create(
        &p.pu,
        &path(PY),
        None,
        None,
        Some(applied.raw_id),
        NOW + 2_000,
    )
    .expect("answer");
    assert_eq!((answer.records, answer.basis), (1, Basis::Exact));
    let shown = show(&p.py, &answer.files[0], NOW + 3_000).expect("show answer");
    assert_eq!(shown.records[0].id, corrected.to_string());
    assert!(shown.answers.is_some());
    let (back, _) = apply(&p.py, &answer.files[0], today(), NOW + 3_000).expect("apply answer");
    assert_eq!(back.changed, 1);
    assert_eq!(shared(&p.pu, PY), shared(&p.py, PUSTU), "converged");

    // Nothing new: the next bundle carries nothing and is small.
    let next = create(&p.py, &path(PUSTU), None, None, None, NOW + 4_000).expect("next");
    assert_eq!((next.records, next.basis), (0, Basis::Exact));
    assert!(next.files[0].len() < 8_000, "{} bytes", next.files[0].len());
    // A new registration at the posyandu: exactly it goes next.
    p.py.insert_record(patient(100, PY), today(), NOW + 5_000)
        .expect("insert");
    let next = create(&p.py, &path(PUSTU), None, None, None, NOW + 6_000).expect("next");
    assert_eq!((next.records, next.basis), (1, Basis::Exact));
    let state = p.pu.bundle_state(&path(PY)).expect("state").expect("held");
    assert_eq!((state.applied, state.created), (1, 1));
    assert!(state.summary.is_some());
}

#[test]
fn an_empty_answer_is_enough_to_know_whom_to_write_to_next_time() {
    let p = pair(2);
    let (applied, _) = apply(&p.pu, &p.bundle_of_py(), today(), NOW).expect("apply");
    let answer = create(&p.pu, &path(PY), None, None, Some(applied.raw_id), NOW).expect("answer");
    assert_eq!(answer.records, 0);
    apply(&p.py, &answer.files[0], today(), NOW).expect("apply answer");
    // A later command opens the store afresh: the pustu's certificate is still known.
    let Pair {
        py,
        py_node,
        district,
        _dirs,
        ..
    } = p;
    drop(py);
    let reopened = Store::open(
        _dirs.0.path(),
        StoreOptions {
            trust: Some(StoreTrust {
                authority: district.authority.clone(),
                signer: Some(py_node.signer.clone()),
            }),
            ..StoreOptions::default()
        },
    )
    .expect("reopen");
    let next = create(&reopened, &path(PUSTU), None, None, None, NOW + 1).expect("next");
    assert_eq!(next.basis, Basis::Exact);
}

#[test]
fn the_pustus_answer_carries_the_districts_revocation_list_to_the_posyandu() {
    let p = pair(1);
    let stolen = p.district.node(&path(OTHER_PY));
    let list = p.district.revoke(3, &[&stolen.certified]);
    p.pu.take_revocations(&list.der)
        .expect("the pustu holds the list");
    let (applied, _) = apply(&p.pu, &p.bundle_of_py(), today(), NOW).expect("apply");
    assert!(
        !applied.revocations_taken,
        "the posyandu had no list to give"
    );
    let answer = create(&p.pu, &path(PY), None, None, Some(applied.raw_id), NOW).expect("answer");
    assert!(p.py.revocations().is_none());
    let (back, _) = apply(&p.py, &answer.files[0], today(), NOW).expect("apply answer");
    assert!(back.revocations_taken);
    assert_eq!(p.py.revocations().map(|r| r.number), Some(3));
}

#[test]
fn a_bundle_applied_twice_is_refused_and_an_older_one_after_a_newer_changes_nothing() {
    let p = pair(5);
    let first = p.bundle_of_py();
    let rec = bound(&p, 2);
    p.py.update_record(rec, today(), NOW - 1_000, |r| {
        if let RecordBody::Patient(pt) = &mut r.body {
            pt.name = "Pasien Dua Dikoreksi".into();
        }
        Ok(())
    })
    .expect("correct");
    let second = p.bundle_of_py();
    apply(&p.pu, &second, today(), NOW).expect("the newer first");
    p.refused_at_pu(
        &second,
        |e| matches!(e, BundleError::Replayed { .. }),
        "a replay",
    );
    // The older one still applies (it is not a replay), and loses nothing: the newer
    // version stays.
    let (older, _) = apply(&p.pu, &first, today(), NOW).expect("the older after");
    assert_eq!(older.changed, 0);
    let (_, held) = p.pu.record(rec).expect("read").expect("held");
    let RecordBody::Patient(pt) = held.body else {
        panic!("a patient")
    };
    assert_eq!(pt.name, "Pasien Dua Dikoreksi");
    p.refused_at_pu(
        &first,
        |e| matches!(e, BundleError::Replayed { .. }),
        "the older again",
    );
}

#[test]
fn tampered_truncated_foreign_misaddressed_stale_and_revoked_bundles_change_nothing() {
    let p = pair(6);
    let file = p.bundle_of_py();
    // One changed byte anywhere past the header: it does not open.
    for at in [17, 40, 49, 60, file.len() / 2, file.len() - 1] {
        let mut t = file.clone();
        t[at] ^= 0x01;
        p.refused_at_pu(
            &t,
            |e| matches!(e, BundleError::Damaged),
            &format!("byte {at} flipped"),
        );
    }
    let mut t = file.clone();
    t[0] = b'X';
    p.refused_at_pu(&t, |e| matches!(e, BundleError::NotABundle), "not a bundle");
    let mut t = file.clone();
    t[8] = 9;
    p.refused_at_pu(
        &t,
        |e| matches!(e, BundleError::Version(9)),
        "a newer format",
    );
    // The addressee's key id changed: for another node (and it would not open either).
    let mut t = file.clone();
    t[10] ^= 0xff;
    p.refused_at_pu(
        &t,
        |e| matches!(e, BundleError::NotForUs { .. }),
        "key id changed",
    );
    for cut in [10, 60, file.len() - 1] {
        p.refused_at_pu(
            &file[..cut],
            |e| matches!(e, BundleError::Damaged | BundleError::NotABundle),
            &format!("cut at {cut}"),
        );
    }
    // For the pustu, applied at another posyandu: not for it.
    let other = p.district.node(&path(OTHER_PY));
    let dir = tempfile::tempdir().expect("dir");
    let other_store = store(dir.path(), &p.district, &other);
    let err = apply(&other_store, &file, today(), NOW).expect_err("not for it");
    assert!(matches!(err, BundleError::NotForUs { .. }), "{err}");
    assert!(err.to_string().contains("for another node"), "{err}");
    // The pustu passes the posyandu's signed bundle on, encrypted to the other posyandu:
    // it opens there, and is refused by the addressee it was signed for.
    let passed_on = format::reseal(&file, &p.pu_node.signer, &other.certified).expect("reseal");
    let err = apply(&other_store, &passed_on, today(), NOW).expect_err("passed on");
    assert!(
        matches!(&err, BundleError::Addressee { reason } if reason.contains("signed for key")),
        "{err}"
    );
    assert!(other_store.bundle_states().expect("states").is_empty());

    // Made by hand: a sender of another district; one claiming to be the posyandu but
    // signed by another key; too old; from the future.
    let body = body_of(Vec::new());
    let header = |from: &TestNode, created_ms| header_for_pu(&p, 9, from, created_ms, 0);
    let foreign_district = TestDistrict::new("3204");
    let foreign = foreign_district.node(&path("3204/P3204010101"));
    let forged = format::seal(
        header(&foreign, NOW),
        &body,
        &foreign.signer,
        &p.pu_node.certified,
    )
    .expect("seal");
    p.refused_at_pu(
        &forged,
        |e| matches!(e, BundleError::Sender { reason } if reason.contains("not one of this district's")),
        "a foreign district's node",
    );
    let pk = p.district.node(&path("3273/P3273010201"));
    let impostor = format::seal(
        header(&p.py_node, NOW),
        &body,
        &pk.signer,
        &p.pu_node.certified,
    )
    .expect("seal");
    p.refused_at_pu(
        &impostor,
        |e| matches!(e, BundleError::BadSignature { .. }),
        "signed by another key than the sender's",
    );
    for (created, what) in [
        (NOW - 401 * 86_400_000, "older than 400 days"),
        (NOW + 2 * 86_400_000, "from the future"),
    ] {
        let stale = format::seal(
            header(&p.py_node, created),
            &body,
            &p.py_node.signer,
            &p.pu_node.certified,
        )
        .expect("seal");
        p.refused_at_pu(&stale, |e| matches!(e, BundleError::Stale { .. }), what);
    }

    // The district revokes the posyandu's key: its bundle is refused.
    let list = p.district.revoke(1, &[&p.py_node.certified]);
    p.pu.take_revocations(&list.der).expect("revocations");
    p.refused_at_pu(
        &file,
        |e| matches!(e, BundleError::Sender { reason } if reason.contains("revoked")),
        "a revoked signer",
    );
}

#[test]
fn a_signed_bundle_carrying_a_record_its_sender_may_not_hold_stores_nothing() {
    let p = pair(3);
    // A good record and one of another posyandu, sealed by this posyandu's key.
    let body = body_of(vec![
        carried_by_py(&p, 50, PY, true),
        carried_by_py(&p, 51, OTHER_PY, true),
    ]);
    let header = header_for_pu(&p, 5, &p.py_node, NOW, 2);
    let file = format::seal(header, &body, &p.py_node.signer, &p.pu_node.certified).expect("seal");
    p.refused_at_pu(
        &file,
        |e| matches!(e, BundleError::Refused { reason, .. } if reason.contains("outside what the sender")),
        "a record outside the sender's scope",
    );
    assert!(
        p.pu.meta(bound(&p, 50)).expect("meta").is_none(),
        "not even the good one"
    );
}

#[test]
fn a_record_the_store_refuses_is_reported_and_the_rest_of_the_bundle_is_taken() {
    let p = pair(0);
    let body = body_of(vec![
        carried_by_py(&p, 60, PY, true),
        carried_by_py(&p, 61, PY, false),
    ]);
    let header = header_for_pu(&p, 6, &p.py_node, NOW, 2);
    let file = format::seal(header, &body, &p.py_node.signer, &p.pu_node.certified).expect("seal");
    let (applied, _) = apply(&p.pu, &file, today(), NOW).expect("applied, with a refusal");
    assert_eq!(
        (applied.changed, applied.refused.len()),
        (1, 1),
        "{applied:?}"
    );
    assert!(p.pu.meta(bound(&p, 60)).expect("meta").is_some());
    assert!(p.pu.meta(bound(&p, 61)).expect("meta").is_none());
    // Applied (and its summary kept): the next time is a replay, not a retry.
    assert!(matches!(
        apply(&p.pu, &file, today(), NOW),
        Err(BundleError::Replayed { .. })
    ));
}

#[test]
fn a_cap_splits_a_bundle_into_parts_each_applicable_alone() {
    let p = pair(120);
    let created = create(
        &p.py,
        &path(PUSTU),
        Some(&p.pu_node.certified.der),
        Some(40 * 1024),
        None,
        NOW,
    )
    .expect("create");
    assert!(created.files.len() > 1, "{} parts", created.files.len());
    assert!(created.files.iter().all(|f| f.len() <= 40 * 1024));
    let mut total = 0;
    // Applied in reverse order: each stands alone.
    for f in created.files.iter().rev() {
        total += apply(&p.pu, f, today(), NOW).expect("part").0.changed;
    }
    assert_eq!(total, 120);
    assert_eq!(shared(&p.pu, PY), shared(&p.py, PUSTU));
}
