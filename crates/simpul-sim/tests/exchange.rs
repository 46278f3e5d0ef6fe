//! A record both nodes hold in different versions costs at most one round trip of heads
//! (none when the answerer holds a past version of the dialler's), and only the changes
//! one side lacks cross the wire. After an earlier sync, reconciliation finds the changed
//! records without searching the set for their older versions, and any starting time
//! gives the same plan.

use std::collections::{BTreeMap, VecDeque};
use std::sync::OnceLock;

use simpul_model::automerge::Automerge;
use simpul_model::{
    Address, Date, FacilityPath, Identifiers, Klaster, Patient, Record, RecordBody, RecordId,
    Scope, Setting, Sex, Visit, VisitId,
};
use simpul_sim::memstore::MemStore;
use simpul_sync::{Effect, Message, Role, Session, SessionConfig};
use simpul_trust::signing_actor;
use simpul_trust::testing::{TestDistrict, TestNode};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::parse("2026-10-31").expect("date")
}

/// The district's CA and the two nodes' keys.
fn keys() -> &'static (TestDistrict, TestNode, TestNode) {
    static KEYS: OnceLock<(TestDistrict, TestNode, TestNode)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let district = TestDistrict::seeded("3273", 7);
        let py04 = district.node(&path(PY04));
        let pustu = district.node(&path(PUSTU));
        (district, py04, pustu)
    })
}

fn key_of(at: &FacilityPath) -> &'static TestNode {
    let (_, py04, pustu) = keys();
    if *at == py04.certified.facility {
        py04
    } else {
        pustu
    }
}

#[derive(Clone)]
struct Node {
    path: FacilityPath,
    store: MemStore,
}

impl Node {
    fn new(at: &str) -> Self {
        let mut book = simpul_trust::KeyBook::new(keys().0.authority.clone());
        book.insert(key_of(&path(at)).certified.clone());
        Self {
            path: path(at),
            store: MemStore::new(book),
        }
    }

    fn doc(&self, id: RecordId) -> Automerge {
        self.store.load(id).expect("held")
    }

    /// Records a visit here (a local edit by this node's actor); returns the change.
    fn add_visit(&mut self, id: RecordId, weight: f64, tick: u64) -> Vec<u8> {
        self.add_visit_at(id, weight, tick, tick)
    }

    /// [`Node::add_visit`] written at `at_ms`.
    fn add_visit_at(&mut self, id: RecordId, weight: f64, tick: u64, at_ms: u64) -> Vec<u8> {
        let doc = self.doc(id);
        let before = Record::from_document(&doc).expect("record");
        let mut after = before.clone();
        if let RecordBody::Patient(p) = &mut after.body {
            let mut visit = Visit::new(
                today(),
                self.path.clone(),
                Klaster::DewasaLansia,
                Setting::Posyandu,
                "test",
            );
            visit.measurements.weight_kg = Some(weight);
            p.visits
                .insert(VisitId::from_bytes([tick as u8; 8]).to_string(), visit);
        }
        let heads = doc.get_heads();
        let key = key_of(&self.path);
        let actor = signing_actor(&self.path, key.certified.key, [tick as u8, 0, 0, 0]);
        let mut local = doc.with_actor(actor);
        after
            .write_over(&before, &mut local, today(), at_ms)
            .expect("edit");
        self.store
            .put_local(&self.path, &local, after, &key.signer)
            .expect("stored");
        local.save_after(&heads)
    }
}

/// A patient of PY04, held by both the posyandu and its pustu.
fn shared_patient(posyandu: &mut Node, pustu: &mut Node) -> RecordId {
    patient_at(RecordId::from_bytes([7; 16]), 1, &mut [posyandu, pustu])
}

/// A patient of PY04 written at `at_ms`, held by `nodes`.
fn patient_at(id: RecordId, at_ms: u64, nodes: &mut [&mut Node]) -> RecordId {
    let record = Record {
        id,
        scope: Scope::up(path(PY04)),
        body: RecordBody::Patient(Patient {
            identifiers: Identifiers::default(),
            name: "Siti Aminah".into(),
            sex: Sex::Female,
            birth_date: Date::parse("1990-01-01").expect("date"),
            address: Address {
                village: "3273012001".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: path(PY04),
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: BTreeMap::new(),
        }),
    };
    let author = &keys().1;
    let actor = signing_actor(&path(PY04), author.certified.key, [1; 4]);
    let doc = record.create_document(actor, today(), at_ms).expect("doc");
    for node in nodes {
        node.store
            .put_local(&node.path, &doc, record.clone(), &author.signer)
            .expect("stored");
    }
    id
}

/// Runs one session, the posyandu dialling its pustu, until both are idle; returns every
/// message after reconciliation, with the index of the side that sent it (0 = posyandu).
fn sync(posyandu: &mut Node, pustu: &mut Node) -> Vec<(usize, Message)> {
    let (sent, _) = sync_since(posyandu, pustu, 0);
    sent.into_iter()
        .filter(|(_, m)| {
            !is_reconciliation(m) && !matches!(m, Message::Hello { .. } | Message::Cert { .. })
        })
        .collect()
}

fn is_reconciliation(m: &Message) -> bool {
    matches!(
        m,
        Message::Reconcile { .. }
            | Message::ReconcileRecent { .. }
            | Message::ReconcileOlder { .. }
            | Message::Held { .. }
            | Message::Reconciled { .. }
    )
}

/// [`sync`] with the posyandu starting from `since` (when it was last in sync); returns
/// every message and the watermark the posyandu's session reports at the end.
fn sync_since(
    posyandu: &mut Node,
    pustu: &mut Node,
    since: u64,
) -> (Vec<(usize, Message)>, Option<u64>) {
    sync_with(posyandu, pustu, since, SessionConfig::default())
}

/// [`sync_since`] with both sessions under `cfg`.
fn sync_with(
    posyandu: &mut Node,
    pustu: &mut Node,
    since: u64,
    cfg: SessionConfig,
) -> (Vec<(usize, Message)>, Option<u64>) {
    let mut dialler = Session::new(
        cfg.clone(),
        Role::Initiator,
        posyandu.path.clone(),
        pustu.path.clone(),
    );
    dialler.set_since(since);
    let mut sessions = [
        dialler,
        Session::new(
            cfg,
            Role::Responder,
            pustu.path.clone(),
            posyandu.path.clone(),
        ),
    ];
    let mut nodes = [posyandu, pustu];
    let mut wire: VecDeque<(usize, Vec<u8>)> = VecDeque::new();
    let mut sent = Vec::new();
    for _ in 0..10_000 {
        let mut busy = false;
        for side in 0..2 {
            let peer = nodes[1 - side].path.clone();
            let node = &mut nodes[side];
            let session = &mut sessions[side];
            while let Some(effect) = session.poll_effect() {
                busy = true;
                match node
                    .store
                    .carry_out(&node.path, &peer, session, effect, today())
                {
                    Some(Effect::Transmit(frame)) => {
                        let msg = Message::decode(&frame[4..], u32::MAX).expect("frame");
                        sent.push((side, msg));
                        wire.push_back((1 - side, frame));
                    }
                    Some(Effect::Closed { reason, .. }) => panic!("session closed: {reason}"),
                    _ => {}
                }
            }
        }
        while let Some((to, frame)) = wire.pop_front() {
            busy = true;
            sessions[to].handle_bytes(&frame);
        }
        if !busy && sessions.iter().all(Session::is_idle) {
            return (sent, sessions[0].take_watermark());
        }
    }
    panic!("the sessions did not settle");
}

fn kinds(sent: &[(usize, Message)]) -> Vec<(usize, &'static str)> {
    sent.iter().map(|(side, m)| (*side, m.kind())).collect()
}

fn changes_bytes(sent: &[(usize, Message)], from: usize) -> Vec<&[u8]> {
    sent.iter()
        .filter_map(|(side, m)| match m {
            Message::Changes { bytes, .. } if *side == from => Some(bytes.as_slice()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_made_by_the_dialler_goes_up_alone_without_asking() {
    // Reconciliation showed the pustu's version, a past version of the posyandu's: the
    // change goes up at once, with no heads asked for.
    let (mut posyandu, mut pustu) = (Node::new(PY04), Node::new(PUSTU));
    let id = shared_patient(&mut posyandu, &mut pustu);
    let change = posyandu.add_visit(id, 61.5, 2);
    let sent = sync(&mut posyandu, &mut pustu);
    assert_eq!(kinds(&sent), [(0, "changes"), (1, "stored")]);
    assert_eq!(changes_bytes(&sent, 0), [change.as_slice()]);
    assert_eq!(pustu.doc(id).get_heads(), posyandu.doc(id).get_heads());
}

#[test]
fn a_change_made_by_the_answerer_comes_down_with_its_reply() {
    let (mut posyandu, mut pustu) = (Node::new(PY04), Node::new(PUSTU));
    let id = shared_patient(&mut posyandu, &mut pustu);
    let change = pustu.add_visit(id, 58.0, 3);
    let sent = sync(&mut posyandu, &mut pustu);
    assert_eq!(
        kinds(&sent),
        [
            (0, "heads"),
            (1, "changes"),
            (1, "heads-reply"),
            (0, "stored")
        ]
    );
    assert_eq!(changes_bytes(&sent, 1), [change.as_slice()]);
    assert_eq!(pustu.doc(id).get_heads(), posyandu.doc(id).get_heads());
}

#[test]
fn changes_made_on_both_sides_meet_and_both_visits_survive() {
    let (mut posyandu, mut pustu) = (Node::new(PY04), Node::new(PUSTU));
    let id = shared_patient(&mut posyandu, &mut pustu);
    posyandu.add_visit(id, 61.5, 2);
    pustu.add_visit(id, 58.0, 3);
    let sent = sync(&mut posyandu, &mut pustu);
    // Neither knows the other's heads: the answer counts from what they share, and the
    // asker sends back what the answerer lacks; one round trip, each side's changes once.
    assert_eq!(
        kinds(&sent).iter().filter(|(_, k)| *k == "changes").count(),
        2,
        "{:?}",
        kinds(&sent)
    );
    let heads = posyandu.doc(id).get_heads();
    assert_eq!(pustu.doc(id).get_heads(), heads);
    assert_eq!(heads.len(), 2, "two concurrent edits, two heads");
    let RecordBody::Patient(p) = Record::from_document(&pustu.doc(id)).expect("record").body else {
        panic!("not a patient");
    };
    assert_eq!(p.visits.len(), 2);
}

/// Bytes of the reconciliation messages (the frames, as the session sends them).
fn reconciliation_bytes(sent: &[(usize, Message)]) -> usize {
    sent.iter()
        .filter(|(_, m)| is_reconciliation(m))
        .map(|(_, m)| m.encode().len())
        .sum()
}

fn plan(sent: &[(usize, Message)]) -> (u32, u32, u32) {
    sent.iter()
        .find_map(|(_, m)| match m {
            Message::Reconciled {
                sending,
                wanting,
                differing,
            } => Some((*sending, *wanting, *differing)),
            _ => None,
        })
        .expect("a plan")
}

fn heads_of(node: &Node) -> Vec<(RecordId, Vec<simpul_model::automerge::ChangeHash>)> {
    node.store
        .records()
        .iter()
        .map(|(id, s)| (*id, s.heads.clone()))
        .collect()
}

/// A posyandu and its pustu both holding `n` patients of the posyandu, written at 1..=n
/// seconds (ids spread over the id space), not yet synced.
fn shared_patients(n: u64) -> (Node, Node, Vec<RecordId>) {
    let (mut posyandu, mut pustu) = (Node::new(PY04), Node::new(PUSTU));
    let ids = (1..=n)
        .map(|t| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&t.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
            patient_at(
                RecordId::from_bytes(bytes),
                t * 1000,
                &mut [&mut posyandu, &mut pustu],
            )
        })
        .collect();
    (posyandu, pustu, ids)
}

/// 300 patients written at 1..=300 s and synced; then the posyandu records visits to
/// 6 of them, the pustu to 6 others, both to 2 more, and each registers 3 patients of
/// its own. Returns the nodes and the watermark of the first sync.
fn drifted_apart() -> (Node, Node, u64) {
    let (mut posyandu, mut pustu, ids) = shared_patients(300);
    let (sent, watermark) = sync_since(&mut posyandu, &mut pustu, 0);
    assert_eq!(plan(&sent), (0, 0, 0));
    let watermark = watermark.expect("in sync after the first session");
    assert_eq!(watermark, 301, "just after the newest item");
    for (i, id) in ids.iter().step_by(37).enumerate() {
        let (tick, at_ms) = (10 + i as u64, (1000 + i as u64) * 1000);
        match i % 3 {
            0 => {
                posyandu.add_visit_at(*id, 60.0, tick, at_ms);
            }
            1 => {
                pustu.add_visit_at(*id, 55.0, tick, at_ms);
            }
            _ => {
                posyandu.add_visit_at(*id, 60.0, tick, at_ms);
                pustu.add_visit_at(*id, 55.0, tick + 100, at_ms + 500);
            }
        }
    }
    for i in 0..3u8 {
        patient_at(
            RecordId::from_bytes([0xA0 + i; 16]),
            2_000_000,
            &mut [&mut posyandu],
        );
        patient_at(
            RecordId::from_bytes([0xB0 + i; 16]),
            2_000_000,
            &mut [&mut pustu],
        );
    }
    (posyandu, pustu, watermark)
}

#[test]
fn catching_up_after_a_sync_finds_the_changes_without_a_search() {
    let (mut posyandu, mut pustu, watermark) = drifted_apart();
    let (mut whole_a, mut whole_b) = (posyandu.clone(), pustu.clone());
    let (two_parts, _) = sync_since(&mut posyandu, &mut pustu, watermark);
    let (whole, _) = sync_since(&mut whole_a, &mut whole_b, 0);
    assert!(
        two_parts
            .iter()
            .any(|(_, m)| matches!(m, Message::ReconcileOlder { .. })),
        "reconciled in two parts"
    );
    assert!(
        two_parts
            .iter()
            .any(|(_, m)| matches!(m, Message::Held { .. }))
    );
    assert_eq!(plan(&two_parts), plan(&whole));
    assert_eq!(plan(&whole), (3, 3, 9));
    let (cheap, searched) = (
        reconciliation_bytes(&two_parts),
        reconciliation_bytes(&whole),
    );
    assert!(
        cheap * 2 < searched,
        "two parts {cheap} B, one part {searched} B"
    );
    assert_eq!(heads_of(&posyandu), heads_of(&pustu));
    assert_eq!(heads_of(&posyandu), heads_of(&whole_a));
    assert_eq!(heads_of(&whole_a), heads_of(&whole_b));
}

#[test]
fn any_starting_time_gives_the_same_plan_and_the_same_records() {
    let (posyandu, pustu, watermark) = drifted_apart();
    let (mut a, mut b) = (posyandu.clone(), pustu.clone());
    let (sent, _) = sync_since(&mut a, &mut b, 0);
    let (expected_plan, expected) = (plan(&sent), heads_of(&a));
    assert_eq!(heads_of(&b), expected);
    for since in [
        1,
        150,
        watermark - 1,
        watermark,
        1001,
        1005,
        2000,
        2001,
        u64::MAX,
    ] {
        let (mut a, mut b) = (posyandu.clone(), pustu.clone());
        let (sent, _) = sync_since(&mut a, &mut b, since);
        assert_eq!(plan(&sent), expected_plan, "since {since}");
        assert_eq!(heads_of(&a), expected, "since {since}");
        assert_eq!(heads_of(&b), expected, "since {since}");
    }
}

#[test]
fn more_changed_records_than_a_frame_can_name_are_found_by_the_search() {
    // 16 KiB frames: `Held` names at most ~500 records, so of 600 changed by the dialler
    // some are left in the older part and found there; every frame stays in the limit.
    let (mut posyandu, mut pustu, ids) = shared_patients(700);
    let cfg = SessionConfig {
        max_frame: 16 << 10,
        reconcile_frame: 4096,
        ..SessionConfig::default()
    };
    let (_, watermark) = sync_with(&mut posyandu, &mut pustu, 0, cfg.clone());
    for (i, id) in ids.iter().take(600).enumerate() {
        posyandu.add_visit_at(*id, 60.0, 10 + i as u64, 1_000_000 + i as u64 * 1000);
    }
    let (sent, _) = sync_with(
        &mut posyandu,
        &mut pustu,
        watermark.expect("in sync"),
        cfg.clone(),
    );
    assert_eq!(plan(&sent), (0, 0, 600));
    let held: usize = sent
        .iter()
        .map(|(_, m)| match m {
            Message::Held { versions } => versions.len(),
            _ => 0,
        })
        .sum();
    assert!(held > 0 && held < 600, "{held} named in Held");
    for (_, m) in &sent {
        assert!(m.encode().len() <= cfg.max_frame as usize, "{}", m.kind());
    }
    assert_eq!(heads_of(&posyandu), heads_of(&pustu));
}
