//! A record both nodes hold in different versions costs at most one round trip of heads
//! (none when the answerer holds a past version of the dialler's), and only the changes
//! one side lacks cross the wire.

use std::collections::{BTreeMap, VecDeque};

use simpul_model::automerge::Automerge;
use simpul_model::{
    Address, Date, FacilityPath, Identifiers, Klaster, Patient, Record, RecordBody, RecordId,
    Scope, Setting, Sex, Visit, VisitId, node_actor,
};
use simpul_sim::memstore::MemStore;
use simpul_sync::{Effect, Message, Role, Session, SessionConfig};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::parse("2026-10-31").expect("date")
}

struct Node {
    path: FacilityPath,
    store: MemStore,
}

impl Node {
    fn new(at: &str) -> Self {
        Self {
            path: path(at),
            store: MemStore::new(),
        }
    }

    fn doc(&self, id: RecordId) -> Automerge {
        self.store.load(id).expect("held")
    }

    /// Records a visit here (a local edit by this node's actor); returns the change.
    fn add_visit(&mut self, id: RecordId, weight: f64, tick: u64) -> Vec<u8> {
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
        let mut local = doc.with_actor(node_actor(&self.path, [tick as u8, 0, 0, 0]));
        after
            .write_over(&before, &mut local, today(), tick)
            .expect("edit");
        self.store
            .put_local(&self.path, &local, after)
            .expect("stored");
        local.save_after(&heads)
    }
}

/// A patient of PY04, held by both the posyandu and its pustu.
fn shared_patient(posyandu: &mut Node, pustu: &mut Node) -> RecordId {
    let id = RecordId::from_bytes([7; 16]);
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
            merged_into: None,
            visits: BTreeMap::new(),
        }),
    };
    let doc = record
        .create_document(node_actor(&path(PY04), [1; 4]), today(), 1)
        .expect("doc");
    for node in [posyandu, pustu] {
        node.store
            .put_local(&node.path, &doc, record.clone())
            .expect("stored");
    }
    id
}

/// Runs one session, the posyandu dialling its pustu, until both are idle; returns every
/// message after reconciliation, with the index of the side that sent it (0 = posyandu).
fn sync(posyandu: &mut Node, pustu: &mut Node) -> Vec<(usize, Message)> {
    let cfg = SessionConfig::default();
    let mut sessions = [
        Session::new(
            cfg.clone(),
            Role::Initiator,
            posyandu.path.clone(),
            pustu.path.clone(),
        ),
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
                match effect {
                    Effect::Transmit(frame) => {
                        let msg = Message::decode(&frame[4..], u32::MAX).expect("frame");
                        sent.push((side, msg));
                        wire.push_back((1 - side, frame));
                    }
                    Effect::ReadItems | Effect::ReadRecord { .. } | Effect::LoadDocument { .. } => {
                        node.store.answer_read(&peer, true, session, effect);
                    }
                    Effect::Store {
                        token,
                        id,
                        incoming,
                        ..
                    } => {
                        let outcome = node.store.merge(&node.path, id, incoming, today());
                        session.handle_stored(token, outcome);
                    }
                    Effect::Purge { id, digest } => {
                        node.store.purge_if(id, digest);
                    }
                    Effect::Closed { reason, .. } => panic!("session closed: {reason}"),
                }
            }
        }
        while let Some((to, frame)) = wire.pop_front() {
            busy = true;
            sessions[to].handle_bytes(&frame);
        }
        if !busy && sessions.iter().all(Session::is_idle) {
            return sent
                .into_iter()
                .filter(|(_, m)| {
                    !matches!(
                        m,
                        Message::Hello { .. }
                            | Message::Reconcile { .. }
                            | Message::Reconciled { .. }
                    )
                })
                .collect();
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
