//! Concurrent edits of one record merge to the same state in either order, keeping
//! every visit.

mod common;

use common::*;
use proptest::prelude::*;
use simpul_model::automerge::Automerge;
use simpul_model::*;

#[derive(Debug, Clone)]
enum Edit {
    Rename(String),
    MoveRt(u16),
    SetBpjs(u64),
    AddVisit { key: u64, day: u8, weight: u8 },
    MarkError { nth: usize },
    Correct { nth: usize, key: u64, weight: u8 },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        "[A-Z][a-z]{2,10} [A-Z][a-z]{2,10}".prop_map(Edit::Rename),
        (1u16..999).prop_map(Edit::MoveRt),
        (0u64..9_999_999_999_999).prop_map(Edit::SetBpjs),
        (any::<u64>(), 1u8..28, 40u8..90).prop_map(|(key, day, weight)| Edit::AddVisit {
            key,
            day,
            weight
        }),
        (0usize..8).prop_map(|nth| Edit::MarkError { nth }),
        (0usize..8, any::<u64>(), 40u8..90).prop_map(|(nth, key, weight)| Edit::Correct {
            nth,
            key,
            weight
        }),
    ]
}

fn apply(doc: &mut Automerge, edit: &Edit, at_ms: u64) {
    let mut record = Record::from_document(doc).expect("readable");
    let RecordBody::Patient(p) = &mut record.body else {
        unreachable!()
    };
    match edit {
        Edit::Rename(name) => p.name = name.clone(),
        Edit::MoveRt(rt) => p.address.rt = Some(format!("{rt:03}")),
        Edit::SetBpjs(n) => p.identifiers.bpjs = Some(format!("{n:013}")),
        Edit::AddVisit { key, day, weight } => {
            let mut v = visit(&format!("2026-10-{day:02}"));
            v.measurements.weight_kg = Some(f64::from(*weight));
            p.visits
                .insert(VisitId::from_bytes(key.to_be_bytes()).to_string(), v);
        }
        Edit::MarkError { nth } => {
            let Some(v) = p
                .visits
                .values_mut()
                .filter(|v| v.entered_in_error.is_none())
                .nth(*nth)
            else {
                return;
            };
            v.entered_in_error = Some(ErrorMark {
                reason: "wrong child".into(),
                by: "bidan-1".into(),
                at_ms,
            });
        }
        Edit::Correct { nth, key, weight } => {
            let Some((old, v)) = p.visits.iter().nth(*nth) else {
                return;
            };
            let mut fixed = v.clone();
            fixed.supersedes = Some(old.clone());
            fixed.entered_in_error = None;
            fixed.measurements.weight_kg = Some(f64::from(*weight));
            p.visits
                .insert(VisitId::from_bytes(key.to_be_bytes()).to_string(), fixed);
        }
    }
    record.write_into(doc, today(), at_ms).expect("valid edit");
}

fn visit_keys(doc: &Automerge) -> Vec<String> {
    let record = Record::from_document(doc).expect("readable");
    record
        .patient()
        .expect("patient")
        .visits
        .keys()
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn concurrent_edits_converge_and_keep_every_visit(
        left in proptest::collection::vec(edit(), 0..8),
        right in proptest::collection::vec(edit(), 0..8),
    ) {
        let mut shared = patient();
        shared.visits.insert("0000000000000001".into(), visit("2026-09-01"));
        shared.visits.insert("0000000000000002".into(), visit("2026-09-15"));
        let base = record(1, shared)
            .create_document(node_actor(&path(POSYANDU), [0, 0, 0, 1]), today(), 1_000)
            .expect("created");
        let mut a = base.fork().with_actor(node_actor(&path(POSYANDU), [0, 0, 0, 2]));
        let mut b = base.fork().with_actor(node_actor(&path("3273/P3273010201"), [0, 0, 0, 3]));
        for (i, e) in left.iter().enumerate() {
            apply(&mut a, e, 2_000 + i as u64);
        }
        for (i, e) in right.iter().enumerate() {
            apply(&mut b, e, 3_000 + i as u64);
        }
        let mut expected_visits = visit_keys(&a);
        expected_visits.extend(visit_keys(&b));
        expected_visits.sort();
        expected_visits.dedup();

        let mut ab = a.fork();
        ab.merge(&mut b.fork()).expect("merge b into a");
        let mut ba = b.fork();
        ba.merge(&mut a.fork()).expect("merge a into b");

        let mut heads_ab = ab.get_heads();
        let mut heads_ba = ba.get_heads();
        heads_ab.sort();
        heads_ba.sort();
        prop_assert_eq!(heads_ab, heads_ba);
        let rab = Record::from_document(&ab).expect("merged record reads");
        let rba = Record::from_document(&ba).expect("merged record reads");
        prop_assert_eq!(&rab, &rba);
        prop_assert_eq!(visit_keys(&ab), expected_visits);
        prop_assert!(rab.validate(today()).is_ok());
        // Clinical history of both sides survives the merge.
        let before_a = Record::from_document(&a).expect("a");
        let before_b = Record::from_document(&b).expect("b");
        check_history(&before_a, &rab).expect("a's visits kept");
        check_history(&before_b, &rab).expect("b's visits kept");
    }
}

#[test]
fn edits_to_different_fields_both_survive() {
    let base = record(2, patient())
        .create_document(node_actor(&path(POSYANDU), [1; 4]), today(), 1_000)
        .expect("created");
    let mut a = base.fork().with_actor(node_actor(&path(POSYANDU), [2; 4]));
    let mut b = base.fork().with_actor(node_actor(&path(POSYANDU), [3; 4]));
    apply(&mut a, &Edit::Rename("Siti Rahayu Putri".into()), 2_000);
    apply(&mut b, &Edit::MoveRt(12), 2_000);
    a.merge(&mut b).expect("merge");
    let merged = Record::from_document(&a).expect("reads");
    let p = merged.patient().expect("patient");
    assert_eq!(p.name, "Siti Rahayu Putri");
    assert_eq!(p.address.rt.as_deref(), Some("012"));
}

#[test]
fn rewriting_or_removing_a_visit_is_refused() {
    let mut p = patient();
    p.visits
        .insert("00000000000000aa".into(), visit("2026-10-01"));
    let mut doc = record(3, p)
        .create_document(node_actor(&path(POSYANDU), [1; 4]), today(), 1_000)
        .expect("created");
    let before = doc.get_heads();

    let mut changed = Record::from_document(&doc).expect("reads");
    let RecordBody::Patient(p) = &mut changed.body else {
        unreachable!()
    };
    p.visits
        .get_mut("00000000000000aa")
        .expect("visit")
        .measurements
        .weight_kg = Some(70.0);
    let err = changed
        .write_into(&mut doc, today(), 2_000)
        .expect_err("must fail");
    assert!(matches!(err, RecordError::History(_)), "{err}");

    let mut removed = Record::from_document(&doc).expect("reads");
    let RecordBody::Patient(p) = &mut removed.body else {
        unreachable!()
    };
    p.visits.clear();
    let err = removed
        .write_into(&mut doc, today(), 2_000)
        .expect_err("must fail");
    assert!(err.to_string().contains("removed"), "{err}");
    assert_eq!(
        doc.get_heads(),
        before,
        "refused edits leave the document unchanged"
    );
}

#[test]
fn actors_name_their_facility() {
    let actor = node_actor(&path(POSYANDU), [0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(actor_facility(&actor), Some(path(POSYANDU)));
    assert_eq!(
        actor_facility(&simpul_model::automerge::ActorId::from([1u8; 16])),
        None
    );
}

#[test]
fn changes_with_missing_dependencies_are_refused_not_queued() {
    let base = record(4, patient())
        .create_document(node_actor(&path(POSYANDU), [1; 4]), today(), 1_000)
        .expect("created");
    let mut elsewhere = base.fork().with_actor(node_actor(&path(POSYANDU), [2; 4]));
    apply(&mut elsewhere, &Edit::Rename("Siti A".into()), 2_000);
    let middle = elsewhere.get_heads();
    apply(&mut elsewhere, &Edit::MoveRt(9), 3_000);
    // Only the second change: it depends on the first, which this node lacks.
    let second_only = elsewhere.save_after(&middle);
    let mut slot = Some(base.fork());
    let heads = elsewhere.get_heads();
    let changes = Incoming::Changes {
        bytes: second_only,
        heads: heads.clone(),
    };
    let err = merge_incoming(&mut slot, changes, today()).expect_err("must refuse");
    assert!(err.to_string().contains("depend"), "{err}");
    // Both changes together merge.
    let mut slot = Some(base.fork());
    let both = elsewhere.save_after(&base.get_heads());
    let merged = merge_incoming(&mut slot, Incoming::Changes { bytes: both, heads }, today())
        .expect("merges");
    assert_eq!(
        merged.patient().expect("patient").address.rt.as_deref(),
        Some("009")
    );
}

#[test]
fn every_patient_field_changed_by_an_edit_is_written() {
    let before = record(1, patient());
    let mut doc = before
        .create_document(node_actor(&path(POSYANDU), [0, 0, 0, 1]), today(), 1_000)
        .expect("create");
    let mut after = before.clone();
    if let RecordBody::Patient(p) = &mut after.body {
        p.name = "Siti R.".into();
        p.birth_date_estimated = true;
        p.kia_book = true;
        p.died_on = Some(date("2026-11-01"));
        p.moved_out_on = Some(date("2026-10-01"));
        p.mother = Some(RecordId::from_bytes([7; 16]));
        p.identifiers.bpjs = Some("0001234567890".into());
    }
    after
        .write_over(&before, &mut doc, today(), 2_000)
        .expect("written");
    let read = Record::from_document(&doc).expect("read");
    assert_eq!(read, after);
}

#[test]
fn a_peer_whose_oedema_is_not_a_flag_is_refused_and_the_stored_record_kept() {
    use simpul_model::automerge::{ROOT, ReadDoc, transaction::Transactable};
    let mut p = patient();
    p.visits
        .insert("0000000000000001".into(), weighing("2026-10-01", 61.0));
    let stored = record(4, p);
    let doc = stored
        .create_document(node_actor(&path(POSYANDU), [0, 0, 0, 4]), today(), 1_000)
        .expect("create");
    // A peer writes `oedema: "yes"` into the visit's measurements.
    let mut hostile = doc
        .fork()
        .with_actor(node_actor(&path(POSYANDU), [0, 0, 0, 5]));
    let obj = |d: &Automerge, at: &simpul_model::automerge::ObjId, key: &str| {
        d.get(at, key).expect("read").expect("present").1
    };
    let patient_obj = obj(&hostile, &ROOT, "patient");
    let visits = obj(&hostile, &patient_obj, "visits");
    let visit = obj(&hostile, &visits, "0000000000000001");
    let measurements = obj(&hostile, &visit, "measurements");
    let mut tx = hostile.transaction();
    tx.put(&measurements, "oedema", "yes").expect("put");
    tx.commit();
    let err = Record::from_document(&hostile).expect_err("not a flag");
    assert!(format!("{err:?}").contains("true or false"), "{err:?}");
    let mut slot = Some(doc.clone());
    let refused = merge_incoming(&mut slot, Incoming::Document(hostile), today());
    assert!(refused.is_err(), "refused");
    // The caller discards the half-merged slot; the stored document still reads.
    assert_eq!(Record::from_document(&doc).expect("stored"), stored);
}
