//! A peer that breaks the rules is disconnected with a reason, and nothing it sent is
//! handed to the store.

use simpul_model::{
    Address, Date, FacilityPath, Identifiers, Patient, Record, RecordBody, RecordId, Scope, Sex,
    node_actor,
};
use simpul_sync::{Effect, Message, Role, Session, SessionConfig};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

/// A responder session at the pustu talking to the posyandu PY04, hello exchanged.
fn pustu_session() -> Session {
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Responder,
        path(PUSTU),
        path(PY04),
    );
    s.handle_bytes(
        &Message::Hello {
            protocol: simpul_sync::PROTOCOL_VERSION,
            max_frame: 1 << 20,
            node: PY04.into(),
            revocations: 0,
        }
        .encode(),
    );
    drain(&mut s);
    s
}

/// PY04 sends record `[9; 16]` as `bytes`, unsealed; what the session does.
fn send_record(s: &mut Session, bytes: Vec<u8>) -> Vec<Effect> {
    s.handle_bytes(
        &Message::Record {
            id: [9; 16],
            bytes,
            seals: Vec::new(),
        }
        .encode(),
    );
    drain(s)
}

fn drain(s: &mut Session) -> Vec<Effect> {
    std::iter::from_fn(|| s.poll_effect()).collect()
}

fn closed_reason(effects: &[Effect]) -> Option<String> {
    effects.iter().find_map(|e| match e {
        Effect::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

fn no_store(effects: &[Effect]) -> bool {
    !effects.iter().any(|e| matches!(e, Effect::Store { .. }))
}

fn record_at(at: &str) -> Vec<u8> {
    let record = Record {
        id: RecordId::from_bytes([9; 16]),
        scope: Scope::up(path(at)),
        body: RecordBody::Patient(Patient {
            identifiers: Identifiers::default(),
            name: "Ani".into(),
            sex: Sex::Female,
            birth_date: Date::parse("2000-01-01").expect("date"),
            address: Address {
                village: "3273012001".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: path(at),
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: Default::default(),
        }),
    };
    let today = Date::parse("2026-10-31").expect("date");
    record
        .create_document(node_actor(&path(at), [1; 4]), today, 1)
        .expect("doc")
        .save()
}

#[test]
fn a_peer_claiming_another_path_is_refused() {
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Responder,
        path(PUSTU),
        path(PY04),
    );
    s.handle_bytes(
        &Message::Hello {
            protocol: simpul_sync::PROTOCOL_VERSION,
            max_frame: 1 << 20,
            node: PY05.into(),
            revocations: 0,
        }
        .encode(),
    );
    let reason = closed_reason(&drain(&mut s)).expect("closed");
    assert!(reason.contains("certificate"), "{reason}");
}

#[test]
fn a_record_from_another_posyandu_is_refused_and_not_stored() {
    let mut s = pustu_session();
    // PY04 sends a record that belongs to PY05: not its to send.
    let effects = send_record(&mut s, record_at(PY05));
    assert!(no_store(&effects));
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("out of scope"), "{reason}");
}

#[test]
fn a_record_of_its_own_is_accepted_for_storing() {
    let mut s = pustu_session();
    let effects = send_record(&mut s, record_at(PY04));
    assert!(closed_reason(&effects).is_none());
    assert!(!no_store(&effects), "a valid record goes to the store");
}

#[test]
fn asking_for_an_unshared_record_is_refused() {
    let mut s = pustu_session();
    s.handle_bytes(&Message::Want { ids: vec![[7; 16]] }.encode());
    let effects = drain(&mut s);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::ReadRecord { .. }))
    );
    assert!(
        closed_reason(&effects)
            .expect("closed")
            .contains("does not share")
    );
}

#[test]
fn garbage_and_oversized_frames_close_the_session() {
    let mut s = pustu_session();
    s.handle_bytes(&[0, 0, 0, 3, 1, 0xff, 0xff]);
    assert!(
        closed_reason(&drain(&mut s))
            .expect("closed")
            .contains("bad frame")
    );

    let mut s = pustu_session();
    s.handle_bytes(&(64u32 << 20).to_be_bytes());
    assert!(
        closed_reason(&drain(&mut s))
            .expect("closed")
            .contains("exceeds")
    );
}

#[test]
fn a_record_that_inflates_past_the_budget_closes_the_session_unread() {
    // 64 KiB on the wire, 64 MiB once inflated: refused before Automerge inflates it.
    let bomb = simpul_model::inflation::testing::inflation_bomb(64 << 20);
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    let mut s = pustu_session();
    let effects = send_record(&mut s, bomb.clone());
    assert!(no_store(&effects));
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("inflate to more than"), "{reason}");
}

#[test]
fn messages_before_hello_are_refused() {
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Responder,
        path(PUSTU),
        path(PY04),
    );
    s.handle_bytes(&Message::Want { ids: vec![] }.encode());
    assert!(
        closed_reason(&drain(&mut s))
            .expect("closed")
            .contains("before hello")
    );
}

#[test]
fn only_an_ancestor_may_say_a_record_moved_away() {
    // The pustu is PY04's responder peer here; from PY04's side, the pustu is an ancestor.
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Responder,
        path(PUSTU),
        path(PY04),
    );
    s.handle_bytes(
        &Message::Hello {
            protocol: simpul_sync::PROTOCOL_VERSION,
            max_frame: 1 << 20,
            node: PY04.into(),
            revocations: 0,
        }
        .encode(),
    );
    drain(&mut s);
    // The posyandu (a descendant) tells the pustu to purge: refused.
    s.handle_bytes(
        &Message::Moved {
            id: [9; 16],
            heads: Vec::new(),
            evidence: Vec::new(),
            seals: Vec::new(),
        }
        .encode(),
    );
    let effects = drain(&mut s);
    assert!(!effects.iter().any(|e| matches!(e, Effect::Moved { .. })));
    assert!(
        closed_reason(&effects)
            .expect("closed")
            .contains("not an ancestor")
    );
}

/// What a pustu answers PY04's `Heads` for record 9, given what it holds of it.
fn answer_to_heads(held: Option<&str>) -> Vec<Message> {
    let mut s = pustu_session();
    s.handle_bytes(
        &Message::Heads {
            id: [9; 16],
            heads: Vec::new(),
        }
        .encode(),
    );
    let asked = drain(&mut s);
    assert!(
        asked
            .iter()
            .any(|e| matches!(e, Effect::LoadDocument { .. }))
    );
    let doc = held.map(|at| simpul_sync::SealedDoc {
        doc: simpul_model::automerge::Automerge::load(&record_at(at)).expect("doc"),
        seals: Vec::new(),
        certs: Vec::new(),
    });
    s.handle_document(RecordId::from_bytes([9; 16]), doc);
    drain(&mut s)
        .iter()
        .filter_map(|e| match e {
            Effect::Transmit(frame) => Message::decode(&frame[4..], 1 << 20).ok(),
            _ => None,
        })
        .collect()
}

#[test]
fn heads_asked_for_an_unshared_record_send_nothing_of_it_and_read_as_for_no_record() {
    // PY04 asks the pustu for the changes of record 9, which the pustu holds for another
    // posyandu: one refusal, nothing of the record.
    let other = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
    let sent = answer_to_heads(Some(other));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(&sent[0], Message::Refused { .. }), "{sent:?}");
    // No oracle: the same bytes as when the pustu has no record 9 at all.
    assert_eq!(sent, answer_to_heads(None));
}

#[test]
fn certificates_and_revocations_are_checked_for_shape_and_order() {
    let mut s = pustu_session();
    s.handle_bytes(
        &Message::Cert {
            der: b"not a certificate".to_vec(),
        }
        .encode(),
    );
    let reason = closed_reason(&drain(&mut s)).expect("closed");
    assert!(reason.contains("does not parse"), "{reason}");
    // A revocation list nobody announced in its hello.
    let mut s = pustu_session();
    s.handle_bytes(&Message::Revocations { der: vec![1, 2, 3] }.encode());
    let effects = drain(&mut s);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Revocations { .. }))
    );
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("no newer list"), "{reason}");
}

#[test]
fn a_newer_revocation_list_goes_to_the_driver_once_and_an_older_peer_gets_ours() {
    // The posyandu's hello names list 3; the pustu holds list 2: it takes the posyandu's.
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Responder,
        path(PUSTU),
        path(PY04),
    );
    let announce = |n| Message::Hello {
        protocol: simpul_sync::PROTOCOL_VERSION,
        max_frame: 1 << 20,
        node: PY04.into(),
        revocations: n,
    };
    s.handle_bytes(&announce(3).encode());
    s.handle_bytes(&Message::Revocations { der: vec![7; 10] }.encode());
    let effects = drain(&mut s);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::Revocations { der } if der == &vec![7; 10]))
    );
    s.handle_bytes(&Message::Revocations { der: vec![7; 10] }.encode());
    assert!(
        closed_reason(&drain(&mut s)).is_some(),
        "one list per session"
    );
    // A pustu holding list 5 sends it to a posyandu that named 3.
    let cfg = SessionConfig {
        revocations: Some(simpul_sync::HeldRevocations {
            number: 5,
            der: std::sync::Arc::from(vec![5u8; 20]),
        }),
        ..SessionConfig::default()
    };
    let mut s = Session::new(cfg, Role::Responder, path(PUSTU), path(PY04));
    s.handle_bytes(&announce(3).encode());
    let sent: Vec<Message> = drain(&mut s)
        .iter()
        .filter_map(|e| match e {
            Effect::Transmit(frame) => Message::decode(&frame[4..], 1 << 20).ok(),
            _ => None,
        })
        .collect();
    assert!(
        sent.iter()
            .any(|m| matches!(m, Message::Hello { revocations: 5, .. }))
    );
    assert!(sent.contains(&Message::Revocations { der: vec![5; 20] }));
}

/// An initiator at PY04 dialling its pustu, hello exchanged.
fn posyandu_session() -> Session {
    let mut s = Session::new(
        SessionConfig::default(),
        Role::Initiator,
        path(PY04),
        path(PUSTU),
    );
    s.handle_bytes(
        &Message::Hello {
            protocol: simpul_sync::PROTOCOL_VERSION,
            max_frame: 1 << 20,
            node: PUSTU.into(),
            revocations: 0,
        }
        .encode(),
    );
    drain(&mut s);
    s
}

#[test]
fn a_reconciliation_in_two_parts_out_of_order_closes_the_session() {
    // The older part names no recent part before it.
    let mut s = pustu_session();
    s.handle_bytes(
        &Message::ReconcileOlder {
            exclude: vec![[9; 16]],
            payload: vec![0x61],
        }
        .encode(),
    );
    let effects = drain(&mut s);
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("without a recent part"), "{reason}");
    assert!(!effects.iter().any(|e| matches!(e, Effect::Transmit(f)
        if matches!(Message::decode(&f[4..], u32::MAX), Ok(Message::Held { .. })))));

    // Only the initiator's side starts parts, and only the responder names held versions.
    let mut s = posyandu_session();
    s.handle_bytes(
        &Message::ReconcileRecent {
            since: 5,
            payload: vec![0x61],
        }
        .encode(),
    );
    let reason = closed_reason(&drain(&mut s)).expect("closed");
    assert!(reason.contains("sent to the initiator"), "{reason}");

    let mut s = posyandu_session();
    s.handle_bytes(
        &Message::Held {
            versions: vec![([9; 16], [1; 16])],
        }
        .encode(),
    );
    let effects = drain(&mut s);
    assert!(no_store(&effects));
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("held"), "{reason}");
}

fn frames(effects: &[Effect]) -> Vec<Vec<u8>> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Transmit(frame) => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_responder_naming_a_held_version_twice_is_refused() {
    // The posyandu changed record 9 since its last sync (at second 5); the pustu holds an
    // older version. The two parts run honestly until the pustu names its version twice.
    let id = RecordId::from_bytes([9; 16]);
    let item = |time, digest| simpul_sync::Item {
        time,
        id,
        digest: [digest; 32],
    };
    // The dialler asked for its items when the hello arrived.
    let mut posyandu = posyandu_session();
    posyandu.set_since(5);
    posyandu.handle_items(vec![item(10, 2)]);
    let mut pustu = pustu_session();
    for frame in frames(&drain(&mut posyandu)) {
        pustu.handle_bytes(&frame);
    }
    assert!(
        drain(&mut pustu)
            .iter()
            .any(|e| matches!(e, Effect::ReadItems))
    );
    pustu.handle_items(vec![item(3, 1)]);
    for frame in frames(&drain(&mut pustu)) {
        posyandu.handle_bytes(&frame);
    }
    let older = frames(&drain(&mut posyandu));
    assert!(older.iter().any(|f| matches!(
        Message::decode(&f[4..], u32::MAX),
        Ok(Message::ReconcileOlder { ref exclude, .. }) if exclude == &vec![[9; 16]]
    )));
    let held = Message::Held {
        versions: vec![([9; 16], [1; 16])],
    }
    .encode();
    posyandu.handle_bytes(&held);
    assert_eq!(
        closed_reason(&drain(&mut posyandu)),
        None,
        "named once: fine"
    );
    posyandu.handle_bytes(&held);
    let reason = closed_reason(&drain(&mut posyandu)).expect("closed");
    assert!(reason.contains("named it twice"), "{reason}");
}

fn messages(effects: &[Effect]) -> Vec<Message> {
    frames(effects)
        .iter()
        .filter_map(|f| Message::decode(&f[4..], u32::MAX).ok())
        .collect()
}

#[test]
fn repeated_round_zeros_and_wants_cost_one_read_each() {
    // A genuine round 0, from an initiator that holds nothing.
    let mut py = posyandu_session();
    py.start_round();
    drain(&mut py);
    py.handle_items(Vec::new());
    let round_zero = messages(&drain(&mut py))
        .into_iter()
        .find(|m| matches!(m, Message::Reconcile { round: 0, .. }))
        .expect("round 0")
        .encode();

    let mut s = pustu_session();
    for _ in 0..50 {
        s.handle_bytes(&round_zero);
    }
    let effects = drain(&mut s);
    assert!(closed_reason(&effects).is_none());
    let reads = effects
        .iter()
        .filter(|e| matches!(e, Effect::ReadItems))
        .count();
    assert_eq!(reads, 1, "one read of the items, however many round 0s");

    let held = RecordId::from_bytes([7; 16]);
    s.handle_items(vec![simpul_sync::Item {
        time: 1,
        id: held,
        digest: [1; 32],
    }]);
    drain(&mut s);
    for _ in 0..100 {
        s.handle_bytes(&Message::Want { ids: vec![[7; 16]] }.encode());
    }
    let effects = drain(&mut s);
    assert!(closed_reason(&effects).is_none());
    let reads = effects
        .iter()
        .filter(|e| matches!(e, Effect::ReadRecord { id } if *id == held))
        .count();
    assert_eq!(reads, 1, "one read of a record wanted again and again");
}

#[test]
fn exchanges_and_their_queues_are_bounded() {
    // Heads for more records at once than a session holds in exchange.
    let mut s = pustu_session();
    for n in 0..=simpul_sync::MAX_EXCHANGES as u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        s.handle_bytes(
            &Message::Heads {
                id,
                heads: vec![[1; 32]],
            }
            .encode(),
        );
    }
    let effects = drain(&mut s);
    let loads = effects
        .iter()
        .filter(|e| matches!(e, Effect::LoadDocument { .. }))
        .count();
    assert_eq!(loads, simpul_sync::MAX_EXCHANGES);
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("in exchange at once"), "{reason}");

    // Changes piling up for one record whose document has not loaded yet.
    let mut s = pustu_session();
    for _ in 0..=simpul_sync::MAX_INBOX {
        s.handle_bytes(
            &Message::Changes {
                id: [9; 16],
                bytes: vec![1, 2, 3],
                heads: vec![[1; 32]],
                seals: Vec::new(),
            }
            .encode(),
        );
    }
    let effects = drain(&mut s);
    assert!(no_store(&effects));
    let reason = closed_reason(&effects).expect("closed");
    assert!(reason.contains("before it was read"), "{reason}");
}

#[test]
fn a_record_whose_bytes_do_not_load_is_refused_alone_and_the_session_goes_on() {
    let mut s = pustu_session();
    // A bit flipped on the sender's disk, and bytes that were never Automerge: both are
    // refused alone (the sender checks its copy), and neither is stored.
    let mut damaged = record_at(PY04);
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x5a;
    let mut effects = Vec::new();
    for bytes in [damaged, b"not automerge".to_vec()] {
        effects.extend(send_record(&mut s, bytes));
    }
    assert!(no_store(&effects));
    assert_eq!(closed_reason(&effects), None, "{effects:?}");
    let refused = messages(&effects)
        .into_iter()
        .filter(|m| matches!(m, Message::Refused { id, reason } if *id == [9; 16] && reason.contains("do not load")))
        .count();
    assert_eq!(refused, 2, "{effects:?}");
    // The rest still moves: a good record after it goes to the store.
    assert!(!no_store(&send_record(&mut s, record_at(PY04))));
}
