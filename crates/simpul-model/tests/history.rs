//! History and conflicts read from the Automerge document, mapped to facilities.

mod common;

use common::*;
use simpul_model::history::{Settlement, conflicts, history, settle};
use simpul_model::*;

const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";
const PU: &str = "3273/P3273010201/3273010201-PU1";

fn rename(doc: &mut automerge::Automerge, name: &str, at_ms: u64) {
    let mut r = Record::from_document(doc).expect("read");
    let RecordBody::Patient(p) = &mut r.body else {
        unreachable!()
    };
    p.name = name.into();
    r.write_into(doc, today(), at_ms).expect("write");
}

#[test]
fn concurrent_renames_are_a_conflict_until_settled() {
    let record = record(1, patient());
    let mut base = record
        .create_document(node_actor(&path(PY), [1; 4]), today(), 1_000_000)
        .expect("create");
    let mut at_pustu = base.fork().with_actor(node_actor(&path(PU), [2; 4]));
    rename(&mut base, "Siti Rahayu Putri", 2_000_000);
    rename(&mut at_pustu, "Siti Rahaju", 3_000_000);
    base.merge(&mut at_pustu).expect("merge");

    let found = conflicts(&base);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "patient.name");
    let mut seen: Vec<(String, String, u64)> = found[0]
        .values
        .iter()
        .map(|v| {
            (
                v.value.clone(),
                v.facility
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                v.time_ms,
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("Siti Rahaju".to_string(), PU.to_string(), 3_000_000),
            ("Siti Rahayu Putri".to_string(), PY.to_string(), 2_000_000),
        ]
    );

    let log = history(&base);
    assert_eq!(log.len(), 3, "create + two renames");
    assert_eq!(
        log[0].facility.as_ref().map(ToString::to_string).as_deref(),
        Some(PY)
    );
    assert!(
        log[1..].iter().all(|c| c.fields == ["patient.name"]),
        "{log:?}"
    );

    // Readers see one of the two today, and it is marked.
    let shown: Vec<&str> = found[0]
        .values
        .iter()
        .filter(|v| v.shown)
        .map(|v| v.value.as_str())
        .collect();
    let read = Record::from_document(&base).expect("read");
    assert_eq!(
        shown,
        [read.patient().map(|p| p.name.as_str()).unwrap_or_default()]
    );

    let mut other_side = base.fork();
    // A value that is none of the competing ones is refused unless said to be new.
    let heads = base.get_heads();
    let err = settle(
        &mut base,
        "patient.name",
        "Siti R.",
        Settlement::OneOfThem,
        4_000_000,
    )
    .expect_err("not one of them");
    assert!(
        err.to_string().contains("none of the competing values"),
        "{err}"
    );
    assert_eq!(base.get_heads(), heads);
    let mut renamed = base.fork();
    settle(
        &mut renamed,
        "patient.name",
        "Siti R.",
        Settlement::New,
        4_000_000,
    )
    .expect("new");
    assert!(conflicts(&renamed).is_empty());
    settle(
        &mut base,
        "patient.name",
        "Siti Rahayu Putri",
        Settlement::OneOfThem,
        4_000_000,
    )
    .expect("settle");
    assert!(conflicts(&base).is_empty());
    let settled = Record::from_document(&base).expect("read");
    assert_eq!(
        settled.patient().map(|p| p.name.as_str()),
        Some("Siti Rahayu Putri")
    );
    // The settling change reaches the other side and clears it there too.
    other_side.merge(&mut base).expect("merge");
    assert!(conflicts(&other_side).is_empty());

    // Nothing to settle, a missing field, a value of the wrong type: refused, unchanged.
    let heads = base.get_heads();
    assert!(settle(&mut base, "patient.name", "x", Settlement::New, 5_000_000).is_err());
    assert!(
        settle(
            &mut base,
            "patient.nope.name",
            "x",
            Settlement::New,
            5_000_000
        )
        .is_err()
    );
    assert_eq!(base.get_heads(), heads);
}

#[test]
fn a_history_is_one_line_until_two_places_write_apart() {
    use simpul_model::history::{conflict_count, extends_in_line};
    let record = record(1, patient());
    let mut doc = record
        .create_document(node_actor(&path(PY), [1; 4]), today(), 1_000_000)
        .expect("create");
    let all = |d: &automerge::Automerge| {
        d.get_changes_meta(&[])
            .into_iter()
            .map(|c| c.into_owned())
            .collect::<Vec<_>>()
    };
    assert!(extends_in_line(&[], &all(&doc)), "one change");
    let created = doc.get_heads();
    rename(&mut doc, "Siti Rahayu Putri", 2_000_000);
    rename(&mut doc, "Siti Rahayu", 2_500_000);
    assert!(
        extends_in_line(&[], &all(&doc)),
        "each change saw the one before"
    );
    let later: Vec<_> = doc
        .get_changes_meta(&created)
        .into_iter()
        .map(|c| c.into_owned())
        .collect();
    assert!(extends_in_line(&created, &later));
    assert!(!extends_in_line(&[], &later), "not from nothing");

    // Written in turn at two places, each seeing the other's last change: still one
    // line, though the second place's change also names its own earlier one.
    let mut turns = doc.fork().with_actor(node_actor(&path(PU), [3; 4]));
    rename(&mut turns, "Siti R", 2_600_000);
    let mut turns = turns.fork().with_actor(node_actor(&path(PY), [1; 4]));
    rename(&mut turns, "Siti Rahayu", 2_700_000);
    let named = turns.get_changes_meta(&[]);
    assert!(
        named.last().is_some_and(|c| c.deps.len() == 2),
        "its actor's last change too"
    );
    assert!(extends_in_line(&[], &all(&turns)), "turns at two places");
    assert!(
        extends_in_line(&created, &all(&turns)[1..]),
        "from the creation"
    );

    // Written apart and merged: no longer one line, and the walk finds the two names.
    let mut apart = doc.fork().with_actor(node_actor(&path(PU), [2; 4]));
    rename(&mut doc, "Siti R.", 3_000_000);
    rename(&mut apart, "S. Rahayu", 3_000_000);
    doc.merge(&mut apart).expect("merge");
    assert!(!extends_in_line(&[], &all(&doc)));
    assert_eq!(conflict_count(&doc), 1);
    // A change that sees both settles the name, but the history stays two-branched.
    rename(&mut doc, "Siti Rahayu", 4_000_000);
    assert!(!extends_in_line(&[], &all(&doc)));
    assert_eq!(conflict_count(&doc), 0);
}

#[test]
fn a_number_or_a_null_is_settled_as_the_very_value_chosen() {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
    let competing = |a: ScalarValue, b: ScalarValue| {
        let mut doc = Automerge::new().with_actor(ActorId::from([1u8; 16]));
        let mut tx = doc.transaction();
        tx.put_object(ROOT, "m", ObjType::Map).expect("map");
        tx.commit();
        let mut other = doc.fork().with_actor(ActorId::from([2u8; 16]));
        let put = |d: &mut Automerge, v: ScalarValue| {
            let m = d.get(ROOT, "m").expect("get").expect("m").1;
            let mut tx = d.transaction();
            tx.put(&m, "w", v).expect("put");
            tx.commit();
        };
        put(&mut doc, a);
        put(&mut other, b);
        doc.merge(&mut other).expect("merge");
        doc
    };
    fn settled(doc: &Automerge) -> Vec<ScalarValue> {
        let m = doc.get(ROOT, "m").expect("get").expect("m").1;
        doc.get_all(&m, "w")
            .expect("all")
            .into_iter()
            .filter_map(|(v, _)| match v {
                automerge::Value::Scalar(s) => Some(s.into_owned()),
                automerge::Value::Object(_) => None,
            })
            .collect()
    }

    // A weight: listed in its short form, and "12.40" names it too.
    let mut doc = competing(ScalarValue::F64(12.4), ScalarValue::F64(12.5));
    let listed: Vec<String> = conflicts(&doc)[0]
        .values
        .iter()
        .map(|v| v.value.clone())
        .collect();
    assert!(listed.contains(&"12.4".to_string()), "{listed:?}");
    settle(&mut doc, "m.w", "12.40", Settlement::OneOfThem, 1_000).expect("settle");
    let left = settled(&doc);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0], ScalarValue::F64(12.4));

    // A cleared field against a text: "null" keeps the null, not the text "null".
    let mut doc = competing(ScalarValue::Null, ScalarValue::Str("Jl. Melati".into()));
    settle(&mut doc, "m.w", "null", Settlement::OneOfThem, 1_000).expect("settle");
    let left = settled(&doc);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0], ScalarValue::Null, "{left:?}");
}
