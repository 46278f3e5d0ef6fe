//! Negentropy payloads from a peer, as each of the three reconcile messages carries them,
//! against the pustu's items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::session::{Rig, shared_store};
use simpul_sync::Message;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    let payload = payload.to_vec();
    let message = match kind % 3 {
        0 => Message::Reconcile { round: 0, payload },
        1 => Message::ReconcileRecent { since: 0, payload },
        _ => Message::ReconcileOlder {
            exclude: Vec::new(),
            payload,
        },
    };
    let mut rig = Rig::new(shared_store().clone());
    rig.feed(&message.encode());
});
