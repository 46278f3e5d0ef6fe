//! Bytes and round trips of reconciliation between two real sessions, in memory.
//!
//! `cargo run --release -p simpul-sync --example reconcile_bench` prints one JSON line
//! per case: N records on both sides, d of them changed on one side, either clustered
//! (changed records carry a newer content time, as they do in simpul) or scattered
//! (changed records keep their place in the order). Then the wire bytes of sending
//! generated records whole to an empty peer, divided by their stored bytes.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures wall time; the crate itself never reads the clock"
)]

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simpul_model::{Date, FacilityPath, Incoming, Record, RecordId, heads_digest, node_actor};
use simpul_sync::{Effect, Item, Message, Role, Session, SessionConfig, StoreOutcome};

struct Wire {
    bytes: [u64; 2],
    rounds: u32,
}

/// Runs sessions until both are idle. `read` answers ReadRecord on each side.
fn drive(
    mut a: Session,
    mut b: Session,
    items: [Vec<Item>; 2],
    read: &dyn Fn(usize, RecordId) -> Option<Vec<u8>>,
    stop_at_plan: bool,
) -> Wire {
    let mut items = [Some(items[0].clone()), Some(items[1].clone())];
    let mut wire = Wire {
        bytes: [0, 0],
        rounds: 0,
    };
    loop {
        let mut moved = false;
        for (side, side_items) in items.iter_mut().enumerate() {
            let (me, other) = if side == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            while let Some(effect) = me.poll_effect() {
                moved = true;
                match effect {
                    Effect::Transmit(frame) => {
                        wire.bytes[side] += frame.len() as u64;
                        let decoded = Message::decode(&frame[4..], u32::MAX);
                        if side == 0 && matches!(decoded, Ok(Message::Reconcile { .. })) {
                            wire.rounds += 1;
                        }
                        let plan = matches!(
                            Message::decode(&frame[4..], u32::MAX),
                            Ok(Message::Reconciled { .. })
                        );
                        other.handle_bytes(&frame);
                        if plan && stop_at_plan {
                            // Count the Want that follows the plan, then stop.
                            while let Some(Effect::Transmit(f)) = me.poll_effect() {
                                wire.bytes[side] += f.len() as u64;
                            }
                            return wire;
                        }
                    }
                    Effect::ReadItems => me.handle_items(side_items.take().unwrap_or_default()),
                    Effect::ReadRecord { id } => me.handle_record_bytes(
                        id,
                        read(side, id).map(|bytes| simpul_trust::Sealed {
                            bytes,
                            ..Default::default()
                        }),
                    ),
                    Effect::LoadDocument { id } => me.handle_document(id, None),
                    Effect::Store {
                        token, incoming, ..
                    } => {
                        let scope = match &incoming {
                            Incoming::Document(doc) => {
                                Record::from_document(doc).map(|r| r.scope).ok()
                            }
                            Incoming::Changes { .. } => None,
                        };
                        let outcome = scope.map(|scope| StoreOutcome::Stored {
                            scope,
                            moved: None,
                            set_aside: 0,
                        });
                        me.handle_stored(
                            token,
                            outcome.ok_or_else(|| "no scope".to_string().into()),
                        )
                    }
                    Effect::Moved { .. }
                    | Effect::Revocations { .. }
                    | Effect::CheckRecord { .. } => {}
                    Effect::Closed { reason, .. } => panic!("session closed: {reason}"),
                }
            }
        }
        if !moved && a.is_idle() && b.is_idle() {
            return wire;
        }
    }
}

fn sessions() -> (Session, Session) {
    let district = FacilityPath::parse("3273").unwrap_or_else(|e| panic!("{e}"));
    let pkm = FacilityPath::parse("3273/P3273010201").unwrap_or_else(|e| panic!("{e}"));
    let cfg = SessionConfig::default();
    (
        Session::new(cfg.clone(), Role::Initiator, pkm.clone(), district.clone()),
        Session::new(cfg, Role::Responder, district, pkm),
    )
}

fn reconcile_case(n: usize, d: usize, clustered: bool) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64 ^ d as u64);
    let base: Vec<Item> = (0..n)
        .map(|i| Item {
            time: 1_700_000_000 + i as u64,
            id: RecordId::from_bytes(rng.random()),
            digest: rng.random(),
        })
        .collect();
    let mut changed = base.clone();
    for k in 0..d {
        let i = if clustered {
            n - 1 - k
        } else {
            rng.random_range(0..n)
        };
        changed[i].digest = rng.random();
        if clustered {
            changed[i].time += n as u64;
        }
    }
    let (a, b) = sessions();
    let started = Instant::now();
    let wire = drive(a, b, [changed, base], &|_, _| None, true);
    println!(
        "{{\"bench\":\"reconcile\",\"records\":{n},\"differences\":{d},\"order\":\"{}\",\"bytes_initiator\":{},\"bytes_responder\":{},\"bytes_total\":{},\"reconcile_round_trips\":{},\"ms\":{}}}",
        if clustered { "clustered" } else { "scattered" },
        wire.bytes[0],
        wire.bytes[1],
        wire.bytes[0] + wire.bytes[1],
        wire.rounds,
        started.elapsed().as_millis()
    );
}

fn transfer_case(n: u64) {
    let node = FacilityPath::parse("3273/P3273010201").unwrap_or_else(|e| panic!("{e}"));
    let today = Date::from_ymd(2026, 10, 31).unwrap_or_else(|| panic!("date"));
    let generator = simpul_gen::Generator::new(3, &node, n, today);
    let mut stored = std::collections::HashMap::new();
    let mut items = Vec::new();
    for i in 0..n {
        let record = generator.patient(i);
        let doc = record
            .create_document(
                node_actor(&record.scope.paths[0], [0, 0, 0, 1]),
                today,
                1_000,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        items.push(Item {
            time: 1,
            id: record.id,
            digest: heads_digest(&doc.get_heads()),
        });
        stored.insert(record.id, doc.save());
    }
    let stored_bytes: usize = stored.values().map(Vec::len).sum();
    let district = FacilityPath::parse("3273").unwrap_or_else(|e| panic!("{e}"));
    let cfg = SessionConfig::default();
    let a = Session::new(cfg.clone(), Role::Initiator, node.clone(), district.clone());
    let b = Session::new(cfg, Role::Responder, district, node);
    let wire = drive(
        a,
        b,
        [items, Vec::new()],
        &|side, id| {
            if side == 0 {
                stored.get(&id).cloned()
            } else {
                None
            }
        },
        false,
    );
    let total = wire.bytes[0] + wire.bytes[1];
    println!(
        "{{\"bench\":\"transfer_to_empty\",\"records\":{n},\"stored_bytes\":{stored_bytes},\"wire_bytes\":{total},\"wire_over_stored\":{:.3},\"reconcile_round_trips\":{}}}",
        total as f64 / stored_bytes as f64,
        wire.rounds
    );
}

fn main() {
    for d in [0, 10, 1_000, 10_000] {
        reconcile_case(100_000, d, true);
    }
    for d in [1_000, 10_000] {
        reconcile_case(100_000, d, false);
    }
    for d in [0, 10] {
        reconcile_case(1_000_000, d, true);
    }
    transfer_case(2_000);
}
