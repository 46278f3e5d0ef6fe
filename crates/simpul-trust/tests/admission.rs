//! Admission against a hostile enrolled node: each attack of the trust issue, judged on
//! real documents, real seals and certificates of one test district.
#![allow(
    clippy::cloned_ref_to_slice_refs,
    reason = "`&[seal.clone()]` reads as the list it is"
)]

use simpul_model::automerge::transaction::Transactable;
use simpul_model::automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc};
use simpul_model::{
    Address, Date, FacilityPath, Identifiers, Incoming, Klaster, Patient, Record, RecordBody,
    RecordId, Scope, Setting, Sex, Visit, node_actor,
};
use simpul_trust::testing::{TestDistrict, TestNode};
use simpul_trust::{
    Admitted, Judge, KeyBook, Purpose, Refusal, Seal, SealKind, admit, evidence_of_move,
    signing_actor,
};

const PK: &str = "3273/P3273010201";
const PU1: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
const PU2_PY01: &str = "3273/P3273010201/3273010201-PU2/3273010201-PY01";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::parse("2026-11-23").expect("date")
}

struct District {
    ca: TestDistrict,
    district: TestNode,
    pk: TestNode,
    pu1: TestNode,
    py04: TestNode,
    py05: TestNode,
}

impl District {
    fn new() -> Self {
        let ca = TestDistrict::new("3273");
        District {
            district: ca.node(&path("3273")),
            pk: ca.node(&path(PK)),
            pu1: ca.node(&path(PU1)),
            py04: ca.node(&path(PY04)),
            py05: ca.node(&path(PY05)),
            ca,
        }
    }

    fn keys(&self) -> KeyBook {
        self.ca
            .keybook(&[&self.district, &self.pk, &self.pu1, &self.py04, &self.py05])
    }
}

fn actor(node: &TestNode) -> ActorId {
    signing_actor(&node.certified.facility, node.certified.key, [1, 0, 0, 0])
}

fn patient(home: &str, nik: &str) -> Patient {
    Patient {
        identifiers: Identifiers {
            nik: Some(nik.into()),
            ..Identifiers::default()
        },
        name: "Siti Rahayu".into(),
        sex: Sex::Female,
        birth_date: Date::parse("1990-08-12").expect("date"),
        address: Address {
            village: "3273010001".into(),
            rt: Some("003".into()),
            rw: Some("007".into()),
            line: None,
        },
        home_facility: path(home),
        mother: None,
        birth_date_estimated: false,
        kia_book: false,
        died_on: None,
        moved_out_on: None,
        merged_into: None,
        visits: Default::default(),
    }
}

fn record(id: u8, scope: Scope) -> Record {
    let home = scope.paths[0].to_string();
    Record {
        id: RecordId::from_bytes([id; 16]),
        scope,
        body: RecordBody::Patient(patient(&home, "3273015208900003")),
    }
}

/// A record created by `node`, and its author seal.
fn create(node: &TestNode, record: &Record) -> (Automerge, Seal) {
    let doc = record
        .create_document(actor(node), today(), 1_000_000)
        .expect("create");
    let seal = node
        .signer
        .seal(record.id, SealKind::Author, &doc.get_heads());
    (doc, seal)
}

/// `node` edits its copy of `doc` into `after` (one change), and seals it.
fn edit(node: &TestNode, doc: &Automerge, after: &Record) -> (Automerge, Seal) {
    let mut copy = doc.fork().with_actor(actor(node));
    let before = Record::from_document(&copy).expect("read");
    after
        .write_over(&before, &mut copy, today(), 2_000_000)
        .expect("write");
    let seal = node
        .signer
        .seal(after.id, SealKind::Author, &copy.get_heads());
    (copy, seal)
}

fn with_visit(record: &Record, date: &str, at: &str) -> Record {
    let mut r = record.clone();
    if let RecordBody::Patient(p) = &mut r.body {
        let v = Visit::new(
            Date::parse(date).expect("date"),
            path(at),
            Klaster::DewasaLansia,
            Setting::Posyandu,
            "kader-01",
        );
        let n = p.visits.len() as u8 + date.as_bytes()[9];
        p.visits
            .insert(simpul_model::VisitId::from_bytes([n; 8]).to_string(), v);
    }
    r
}

fn judge<'a>(keys: &'a KeyBook, local: &'a FacilityPath, peer: &'a FacilityPath) -> Judge<'a> {
    Judge {
        keys,
        local,
        peer,
        today: today(),
        purpose: Purpose::Store,
    }
}

/// Admits a whole document into `stored` at `local`, as sent by `peer`.
fn offer(
    keys: &KeyBook,
    local: &str,
    peer: &str,
    stored: Option<&Automerge>,
    stored_seals: &[Seal],
    doc: &Automerge,
    seals: &[Seal],
) -> Result<(Admitted, Automerge), Refusal> {
    let (local, peer) = (path(local), path(peer));
    let id = Record::envelope(stored.unwrap_or(doc))
        .expect("envelope")
        .id;
    let mut slot = stored.map(Automerge::fork);
    let admitted = admit(
        &judge(keys, &local, &peer),
        id,
        &mut slot,
        stored_seals,
        Incoming::Document(doc.fork()),
        seals,
    )?;
    Ok((admitted, slot.expect("a document")))
}

#[test]
fn an_honest_record_and_its_visits_are_admitted_over_several_hops() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(1, Scope::up(path(PY04)));
    let (doc, seal) = create(&d.py04, &rec);
    // Posyandu -> pustu -> puskesmas -> district: each hop judges the author's seal.
    let (at_pu1, stored) =
        offer(&keys, PU1, PY04, None, &[], &doc, &[seal.clone()]).expect("pustu");
    assert_eq!(at_pu1.seals, vec![seal.clone()]);
    let (at_pk, _) = offer(&keys, PK, PU1, None, &[], &stored, &at_pu1.seals).expect("puskesmas");
    offer(&keys, "3273", PK, None, &[], &stored, &at_pk.seals).expect("district");
    // The pustu adds a visit; the puskesmas, holding the first version, takes it.
    let (visited, visit_seal) = edit(&d.pu1, &stored, &with_visit(&rec, "2026-11-02", PU1));
    let (after, merged) = offer(
        &keys,
        PK,
        PU1,
        Some(&stored),
        &[seal.clone()],
        &visited,
        &[seal.clone(), visit_seal.clone()],
    )
    .expect("visit");
    assert_eq!(after.new_changes, 1);
    assert_eq!(merged.get_heads(), visited.get_heads());
    assert!(after.seals.contains(&seal) && after.seals.contains(&visit_seal));
}

#[test]
fn changes_nobody_signed_or_signed_by_another_key_are_refused() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(2, Scope::up(path(PY04)));
    let (doc, _) = create(&d.py04, &rec);
    let err = offer(&keys, PU1, PY04, None, &[], &doc, &[]).expect_err("unsigned");
    assert!(matches!(err, Refusal::Unsigned { .. }), "{err}");
    // A second certificate of the same posyandu (another laptop) cannot sign for the first.
    let second = d.ca.node(&path(PY04));
    let keys = d.ca.keybook(&[&d.py04, &second]);
    let other = second
        .signer
        .seal(rec.id, SealKind::Author, &doc.get_heads());
    let err = offer(&keys, PU1, PY04, None, &[], &doc, &[other]).expect_err("other key");
    assert!(matches!(err, Refusal::Unsigned { .. }), "{err}");
}

#[test]
fn a_forged_actor_of_a_sibling_or_of_the_district_is_refused() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(3, Scope::up(path(PY04)));
    let (doc, seal) = create(&d.py04, &rec);
    // PY05 writes a visit on PY04's patient under PY04's actor, then under the
    // district's, sealing with its own key: no seal of those keys covers the change.
    for victim in [&d.py04, &d.district] {
        let mut forged = doc.fork().with_actor(actor(victim));
        let before = Record::from_document(&forged).expect("read");
        with_visit(&rec, "2026-11-03", PY05)
            .write_over(&before, &mut forged, today(), 3_000_000)
            .expect("write");
        let own = d
            .py05
            .signer
            .seal(rec.id, SealKind::Author, &forged.get_heads());
        let err = offer(
            &keys,
            PU1,
            PY05,
            Some(&doc),
            &[seal.clone()],
            &forged,
            &[seal.clone(), own],
        )
        .expect_err("forged actor");
        assert!(matches!(err, Refusal::Unsigned { .. }), "{err}");
    }
}

#[test]
fn a_fresh_document_for_a_known_id_does_not_take_the_record_over() {
    let d = District::new();
    let keys = d.keys();
    let victim = record(4, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &victim);
    // PY05 builds its own document for PY04's record id, scoped to itself, and signs it.
    let mut attack = victim.clone();
    attack.scope = Scope::up(path(PY05));
    let (fresh, fresh_seal) = create(&d.py05, &attack);
    let err = offer(
        &keys,
        PU1,
        PY05,
        Some(&stored),
        &[seal],
        &fresh,
        &[fresh_seal],
    )
    .expect_err("takeover");
    assert!(matches!(err, Refusal::SecondCreation { .. }), "{err}");
}

#[test]
fn a_change_outside_the_authors_subtree_is_refused_where_it_was_made() {
    let d = District::new();
    let keys = d.keys();
    let victim = record(5, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &victim);
    // PY05 writes on top of PY04's record (it knows the heads) with its own actor.
    let (attack, attack_seal) = edit(&d.py05, &stored, &with_visit(&victim, "2026-11-04", PY05));
    let err = offer(
        &keys,
        PU1,
        PY05,
        Some(&stored),
        &[seal.clone()],
        &attack,
        &[seal.clone(), attack_seal],
    )
    .expect_err("outside");
    match err {
        Refusal::NotAuthorised { author, what, .. } => {
            assert_eq!(author, path(PY05));
            assert!(what.starts_with("write a record of up"), "{what}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn only_a_node_above_both_ends_moves_a_record_and_its_move_outranks_a_stale_one() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(6, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &rec);
    // The posyandu widening its own record to a sibling: refused.
    let mut widened = rec.clone();
    widened.scope.paths.push(path(PY05));
    let (wide, wide_seal) = edit(&d.py04, &stored, &widened);
    let err = offer(
        &keys,
        PU1,
        PY04,
        Some(&stored),
        &[seal.clone()],
        &wide,
        &[seal.clone(), wide_seal],
    )
    .expect_err("widening");
    assert!(
        matches!(&err, Refusal::NotAuthorised { what, .. } if what.starts_with("move")),
        "{err}"
    );
    // The pustu moving it to PY05: taken at the puskesmas.
    let mut moved = rec.clone();
    moved.scope = Scope::up(path(PY05));
    let (to_py05, move_seal) = edit(&d.pu1, &stored, &moved);
    let (_, merged) = offer(
        &keys,
        PK,
        PU1,
        Some(&stored),
        &[seal.clone()],
        &to_py05,
        &[seal.clone(), move_seal.clone()],
    )
    .expect("move by the pustu");
    assert_eq!(
        Record::envelope(&merged).expect("env").scope,
        Scope::up(path(PY05))
    );
    // Concurrently, the puskesmas moved it to a posyandu of another pustu. Whatever the
    // op counters, the puskesmas's scope wins the conflict everywhere.
    let mut elsewhere = rec.clone();
    elsewhere.scope = Scope::up(path(PU2_PY01));
    let (to_pu2, pk_seal) = edit(&d.pk, &stored, &elsewhere);
    let (_, both) = offer(
        &keys,
        "3273",
        PK,
        Some(&merged),
        &[seal.clone(), move_seal],
        &to_pu2,
        &[seal, pk_seal],
    )
    .expect("both moves");
    assert_eq!(
        Record::envelope(&both).expect("env").scope,
        Scope::up(path(PU2_PY01))
    );
}

#[test]
fn editing_a_scope_in_place_or_the_envelope_is_refused() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(7, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &rec);
    let edit_raw = |f: &dyn Fn(&mut simpul_model::automerge::transaction::Transaction<'_>)| {
        let mut copy = stored.fork().with_actor(actor(&d.pu1));
        let mut tx = copy.transaction();
        f(&mut tx);
        tx.commit();
        let s = d
            .pu1
            .signer
            .seal(rec.id, SealKind::Author, &copy.get_heads());
        (copy, s)
    };
    // The pustu appends PY05 to the paths list in place.
    let (inplace, s1) = edit_raw(&|tx| {
        let (_, scope) = tx.get(ROOT, "scope").expect("get").expect("scope");
        let (_, paths) = tx.get(&scope, "paths").expect("get").expect("paths");
        tx.insert(&paths, 1, PY05).expect("insert");
    });
    let err = offer(
        &keys,
        PK,
        PU1,
        Some(&stored),
        &[seal.clone()],
        &inplace,
        &[seal.clone(), s1],
    )
    .expect_err("in place");
    assert!(
        matches!(&err, Refusal::NotAuthorised { what, .. } if what.contains("in place")),
        "{err}"
    );
    // The pustu turns the patient into an activity by rewriting `kind`.
    let (kind, s2) = edit_raw(&|tx| {
        tx.put(ROOT, "kind", "activity").expect("put");
    });
    assert!(
        offer(
            &keys,
            PK,
            PU1,
            Some(&stored),
            &[seal.clone()],
            &kind,
            &[seal.clone(), s2]
        )
        .is_err()
    );
    // A new scope map holding a bad path is not a scope at all.
    let (bad, s3) = edit_raw(&|tx| {
        let scope = tx.put_object(ROOT, "scope", ObjType::Map).expect("map");
        tx.put(&scope, "audience", "up").expect("put");
        let paths = tx.put_object(&scope, "paths", ObjType::List).expect("list");
        tx.insert(&paths, 0, "nowhere").expect("insert");
    });
    assert!(
        offer(
            &keys,
            PK,
            PU1,
            Some(&stored),
            &[seal.clone()],
            &bad,
            &[seal, s3]
        )
        .is_err()
    );
}

#[test]
fn equivocating_changes_are_set_aside_and_the_rest_is_taken() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(8, Scope::up(path(PY04)));
    let (base, seal) = create(&d.py04, &rec);
    // PY04 wrote visit A (seq 2); restored from an old backup, it writes visit B as seq 2
    // again. The puskesmas meanwhile wrote on the base.
    let (a, seal_a) = edit(&d.py04, &base, &with_visit(&rec, "2026-11-05", PY04));
    let (b, seal_b) = edit(&d.py04, &base, &with_visit(&rec, "2026-11-06", PY04));
    let (b_pk, seal_pk) = edit(&d.pk, &b, &{
        let mut r = Record::from_document(&b).expect("read");
        r = with_visit(&r, "2026-11-07", PK);
        r
    });
    let (c, seal_c) = edit(&d.district, &base, &with_visit(&rec, "2026-11-08", "3273"));
    let mut incoming = b_pk.fork();
    incoming.merge(&mut c.fork()).expect("merge");
    let seals = [seal.clone(), seal_b.clone(), seal_pk, seal_c];
    let (admitted, merged) = offer(
        &keys,
        PU1,
        PY04,
        Some(&a),
        &[seal.clone(), seal_a],
        &incoming,
        &seals,
    )
    .expect("the rest is taken");
    assert_eq!(admitted.quarantined.len(), 1);
    let q = &admitted.quarantined[0];
    assert_eq!(q.seq, 2);
    assert_eq!(q.kept, a.get_heads()[0]);
    assert_eq!(q.refused, b.get_heads()[0]);
    assert_eq!(q.set_aside.len(), 2, "B and the change built on it");
    // C, which does not depend on B, was taken.
    assert!(merged.get_change_meta_by_hash(&c.get_heads()[0]).is_some());
    assert!(merged.get_change_meta_by_hash(&b.get_heads()[0]).is_none());
}

#[test]
fn a_revoked_key_signs_nothing_new_but_what_it_signed_stays() {
    let d = District::new();
    let mut keys = d.keys();
    let rec = record(9, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &rec);
    let (visit, visit_seal) = edit(&d.py04, &stored, &with_visit(&rec, "2026-11-09", PY04));
    keys.set_revocations(d.ca.revoke(1, &[&d.py04.certified]));
    let err = offer(
        &keys,
        PU1,
        PY04,
        Some(&stored),
        &[seal.clone()],
        &visit,
        &[seal.clone(), visit_seal],
    )
    .expect_err("revoked");
    assert!(matches!(err, Refusal::Revoked { .. }), "{err}");
    // What is stored still syncs: nothing new, nothing refused.
    let (same, _) = offer(
        &keys,
        PU1,
        PY04,
        Some(&stored),
        &[seal.clone()],
        &stored,
        &[seal],
    )
    .expect("nothing new");
    assert_eq!(same.new_changes, 0);
}

#[test]
fn a_seal_that_does_not_verify_is_refused() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(10, Scope::up(path(PY04)));
    let (doc, mut seal) = create(&d.py04, &rec);
    seal.signature[0] ^= 1;
    let err = offer(&keys, PU1, PY04, None, &[], &doc, &[seal]).expect_err("bad seal");
    assert!(matches!(err, Refusal::BadSeal { .. }), "{err}");
}

#[test]
fn a_descendant_adding_to_a_record_moved_away_from_it_is_told_moved() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(11, Scope::up(path(PY04)));
    let (base, seal) = create(&d.py04, &rec);
    let mut moved = rec.clone();
    moved.scope = Scope::up(path(PY05));
    let (at_pu1, move_seal) = edit(&d.pu1, &base, &moved);
    // Offline, PY04 recorded a visit on the version before the move.
    let (visit, visit_seal) = edit(&d.py04, &base, &with_visit(&rec, "2026-11-10", PY04));
    let (admitted, merged) = offer(
        &keys,
        PU1,
        PY04,
        Some(&at_pu1),
        &[seal.clone(), move_seal],
        &visit,
        &[seal, visit_seal],
    )
    .expect("the visit is kept");
    assert!(admitted.moved_from_peer);
    assert_eq!(
        Record::envelope(&merged).expect("env").scope,
        Scope::up(path(PY05))
    );
}

#[test]
fn history_from_before_keys_needs_an_endorsement_and_after_signed_history_its_own() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(12, Scope::up(path(PY04)));
    let legacy = rec
        .create_document(node_actor(&path(PY04), [9, 9, 9, 9]), today(), 1_000_000)
        .expect("legacy");
    let err = offer(&keys, PK, PU1, None, &[], &legacy, &[]).expect_err("unendorsed");
    assert!(matches!(err, Refusal::Unsigned { .. }), "{err}");
    let endorsement = d
        .pu1
        .signer
        .seal(rec.id, SealKind::Endorsement, &legacy.get_heads());
    offer(&keys, PK, PU1, None, &[], &legacy, &[endorsement.clone()]).expect("endorsed");
    // A sibling's endorsement does not count: it may not create a record of PY04.
    let sibling = d
        .py05
        .signer
        .seal(rec.id, SealKind::Endorsement, &legacy.get_heads());
    assert!(offer(&keys, PK, PY05, None, &[], &legacy, &[sibling]).is_err());
    // An unbound change made after signed history (a CLI write on a stopped node) is
    // vouched for only by its own facility: another's endorsement could name anyone.
    let (signed, signed_seal) = edit(&d.pu1, &legacy, &with_visit(&rec, "2026-11-11", PU1));
    let mut late = signed
        .fork()
        .with_actor(node_actor(&path(PY04), [9, 9, 9, 9]));
    let before = Record::from_document(&late).expect("read");
    let mut after = before.clone();
    after = with_visit(&after, "2026-11-12", PY04);
    after
        .write_over(&before, &mut late, today(), 4_000_000)
        .expect("write");
    let late_endorsement = d
        .pu1
        .signer
        .seal(rec.id, SealKind::Endorsement, &late.get_heads());
    let err = offer(
        &keys,
        PK,
        PU1,
        Some(&signed),
        &[endorsement.clone(), signed_seal.clone()],
        &late,
        &[endorsement.clone(), signed_seal.clone(), late_endorsement],
    )
    .expect_err("late unbound change vouched for by another");
    assert!(
        matches!(err, Refusal::Unsigned { legacy: false, .. }),
        "{err}"
    );
    assert!(err.is_hostile(), "no honest node relays it");
    let own = d
        .py04
        .signer
        .seal(rec.id, SealKind::Endorsement, &late.get_heads());
    let (_, merged) = offer(
        &keys,
        PK,
        PY04,
        Some(&signed),
        &[endorsement.clone(), signed_seal.clone()],
        &late,
        &[endorsement.clone(), signed_seal.clone(), own.clone()],
    )
    .expect("its own node's endorsement vouches for it");
    assert_eq!(merged.get_heads(), late.get_heads());
    assert!(
        simpul_trust::unsealed(&keys, rec.id, &merged, &[endorsement, signed_seal, own]).is_empty()
    );
}

#[test]
fn the_record_must_be_for_both_nodes() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(13, Scope::up(path(PY04)));
    let (doc, seal) = create(&d.py04, &rec);
    // PY05's node is not PY04's ancestor: it never takes PY04's record.
    let err = offer(&keys, PY05, PU1, None, &[], &doc, &[seal.clone()]).expect_err("not ours");
    assert!(matches!(err, Refusal::OutOfScope { .. }), "{err}");
    // A sibling relaying a record it should not hold.
    let err = offer(&keys, PU1, PY05, None, &[], &doc, &[seal]).expect_err("not the sender's");
    assert!(matches!(err, Refusal::OutOfScope { .. }), "{err}");
}

#[test]
fn the_record_keeps_reading_after_a_scope_conflict_between_equals() {
    // Two concurrent moves by one level resolve to Automerge's winner, the same everywhere.
    let d = District::new();
    let rec = record(14, Scope::up(path(PY04)));
    let (base, _) = create(&d.py04, &rec);
    let mut one = rec.clone();
    one.scope = Scope::up(path(PY05));
    let (a, _) = edit(&d.pu1, &base, &one);
    let second = d.ca.node(&path(PU1));
    let mut two = rec.clone();
    two.scope = Scope::up(path(PY04));
    two.scope.paths.push(path(PY05));
    let (b, _) = edit(&second, &base, &two);
    let mut ab = a.fork();
    ab.merge(&mut b.fork()).expect("merge");
    let mut ba = b.fork();
    ba.merge(&mut a.fork()).expect("merge");
    let (x, y) = (
        Record::envelope(&ab).expect("ab"),
        Record::envelope(&ba).expect("ba"),
    );
    assert_eq!(x.scope, y.scope);
    assert_eq!(ab.get_all(ROOT, "scope").expect("all").len(), 2);
}

#[test]
fn the_evidence_of_a_move_stops_at_the_move() {
    let d = District::new();
    let rec = record(15, Scope::up(path(PY04)));
    let (base, _) = create(&d.py04, &rec);
    let (visited, _) = edit(&d.py04, &base, &with_visit(&rec, "2026-11-12", PY04));
    let mut moved = Record::from_document(&visited).expect("read");
    moved.scope = Scope::up(path(PY05));
    let (at_pu1, _) = edit(&d.pu1, &visited, &moved);
    // After the move, PY05's visit: the old holder must not see it.
    let (later, _) = edit(&d.py05, &at_pu1, &with_visit(&moved, "2026-11-13", PY05));
    let evidence = evidence_of_move(&later, &base.get_heads());
    let mut old = base.fork();
    old.load_incremental(&evidence).expect("apply");
    assert_eq!(
        old.get_heads(),
        at_pu1.get_heads(),
        "the visit and the move, nothing after"
    );
    assert_eq!(
        Record::envelope(&old).expect("env").scope,
        Scope::up(path(PY05))
    );
    assert!(evidence_of_move(&later, &later.get_heads()).is_empty());
}

#[test]
fn an_op_counter_chosen_to_win_every_conflict_is_refused() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(16, Scope::up(path(PY04)));
    let (stored, seal) = create(&d.py04, &rec);
    // PY04's honest next change (a name correction: no new objects), re-encoded with a
    // first op far past its history.
    let mut renamed = rec.clone();
    if let RecordBody::Patient(p) = &mut renamed.body {
        p.name = "Siti Rahayu Putri".into();
    }
    let (honest, _) = edit(&d.py04, &stored, &renamed);
    let change = honest
        .get_change_by_hash(&honest.get_heads()[0])
        .expect("change");
    let mut expanded = change.decode();
    expanded.start_op = std::num::NonZeroU64::new(1 << 30).expect("nonzero");
    expanded.hash = None;
    let inflated = simpul_model::automerge::Change::from(expanded);
    let mut forged = stored.fork();
    forged.apply_changes([inflated]).expect("applies");
    let forged_seal = d
        .py04
        .signer
        .seal(rec.id, SealKind::Author, &forged.get_heads());
    let err = offer(
        &keys,
        PU1,
        PY04,
        Some(&stored),
        &[seal.clone()],
        &forged,
        &[seal.clone(), forged_seal],
    )
    .expect_err("inflated counter");
    assert!(matches!(err, Refusal::OpCounter { .. }), "{err}");
    assert!(err.is_hostile());
    // Past 2^32 (where Automerge's own counters end): refused all the same, no panic.
    let mut expanded = change.decode();
    expanded.start_op = std::num::NonZeroU64::new(1 << 40).expect("nonzero");
    expanded.hash = None;
    let mut huge = simpul_model::automerge::Change::from(expanded);
    let bytes = huge.bytes().to_vec();
    let (local, peer) = (path(PU1), path(PY04));
    let mut slot = Some(stored.fork());
    let err = admit(
        &judge(&keys, &local, &peer),
        rec.id,
        &mut slot,
        &[seal.clone()],
        Incoming::Changes {
            bytes,
            heads: vec![huge.hash()],
        },
        &[seal],
    )
    .expect_err("a change past 2^32 ops");
    assert!(err.to_string().contains("apply"), "{err}");
}

#[test]
fn a_visit_is_marked_in_error_but_never_rewritten_by_any_change() {
    let d = District::new();
    let keys = d.keys();
    let rec = with_visit(&record(17, Scope::up(path(PY04))), "2026-11-15", PY04);
    let (stored, seal) = create(&d.py04, &rec);
    let key = rec
        .patient()
        .expect("patient")
        .visits
        .keys()
        .next()
        .expect("visit")
        .clone();
    // The pustu marks it entered in error: taken.
    let mut marked = Record::from_document(&stored).expect("record");
    if let RecordBody::Patient(p) = &mut marked.body {
        p.visits.get_mut(&key).expect("visit").entered_in_error = Some(simpul_model::ErrorMark {
            reason: "salah pasien".into(),
            by: "bidan".into(),
            at_ms: 3_000_000,
        });
    }
    let (mark, mark_seal) = edit(&d.pu1, &stored, &marked);
    offer(
        &keys,
        PK,
        PU1,
        Some(&stored),
        &[seal.clone()],
        &mark,
        &[seal.clone(), mark_seal.clone()],
    )
    .expect("a mark is taken");
    // A new holder (no stored copy to compare with) also takes it.
    offer(&keys, PK, PU1, None, &[], &mark, &[seal.clone(), mark_seal]).expect("new holder");
    // The pustu changes the visit's weight in place: refused by a node that holds the
    // record and by one that does not (judged on the change itself).
    let mut copy = stored.fork().with_actor(actor(&d.pu1));
    {
        let mut tx = copy.transaction();
        let (_, patient) = tx.get(ROOT, "patient").expect("get").expect("patient");
        let (_, visits) = tx.get(&patient, "visits").expect("get").expect("visits");
        let (_, visit) = tx.get(&visits, key.as_str()).expect("get").expect("visit");
        let (_, m) = tx
            .get(&visit, "measurements")
            .expect("get")
            .expect("measurements");
        tx.put(&m, "weight_kg", 99.0).expect("put");
        tx.commit();
    }
    let rewrite_seal = d
        .pu1
        .signer
        .seal(rec.id, SealKind::Author, &copy.get_heads());
    for held in [Some(&stored), None] {
        let held_seals = if held.is_some() {
            vec![seal.clone()]
        } else {
            Vec::new()
        };
        let err = offer(
            &keys,
            PK,
            PU1,
            held,
            &held_seals,
            &copy,
            &[seal.clone(), rewrite_seal.clone()],
        )
        .expect_err("rewrite");
        assert!(err.to_string().contains("rewrit"), "{err}");
    }
}

#[test]
fn changes_whose_dependencies_are_missing_are_refused_not_kept() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(18, Scope::up(path(PY04)));
    let (base, seal) = create(&d.py04, &rec);
    let (one, _) = edit(&d.py04, &base, &with_visit(&rec, "2026-11-16", PY04));
    let (two, two_seal) = edit(
        &d.py04,
        &one,
        &with_visit(&Record::from_document(&one).expect("r"), "2026-11-17", PY04),
    );
    // The whole document, then only the second change: Automerge queues it, unapplied.
    let mut bytes = base.save();
    bytes.extend(two.save_after(&one.get_heads()));
    let doc = Automerge::load(&bytes).expect("loads with a queued change");
    let err = offer(&keys, PU1, PY04, None, &[], &doc, &[seal, two_seal]).expect_err("queued");
    assert!(err.to_string().contains("depend on changes"), "{err}");
}

#[test]
fn history_from_before_seals_is_judged_as_its_author_and_its_endorser() {
    let d = District::new();
    let keys = d.keys();
    let rec = record(19, Scope::up(path(PY04)));
    let legacy = rec
        .create_document(node_actor(&path(PY04), [9, 9, 9, 9]), today(), 1_000_000)
        .expect("legacy");
    // A legacy change named as PY05's (a sibling, who may not write the record), vouched
    // for by the pustu (who may): refused, and not held against the sender.
    let mut by_sibling = legacy
        .fork()
        .with_actor(node_actor(&path(PY05), [5, 5, 5, 5]));
    with_visit(&rec, "2026-11-18", PY05)
        .write_over(&rec, &mut by_sibling, today(), 2_000_000)
        .expect("write");
    let endorsement = d
        .pu1
        .signer
        .seal(rec.id, SealKind::Endorsement, &by_sibling.get_heads());
    let err = offer(&keys, PK, PU1, None, &[], &by_sibling, &[endorsement]).expect_err("sibling");
    assert!(matches!(err, Refusal::Unvouched { .. }), "{err}");
    assert!(!err.is_hostile());
}
