//! Record bytes from a peer (a whole document, changes, or the evidence of a move)
//! through the session's own path: inflation bound, Automerge load, admission, merge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::keys;
use simpul_fuzz::session::{Rig, sealed_record, shared_store};
use simpul_sync::Message;
use simpul_trust::Seal;
use std::sync::OnceLock;

/// A record's id, heads and seals, as the posyandu wrote it.
type Written = ([u8; 16], Vec<[u8; 32]>, Vec<Seal>);

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    // The id and seals of a record the posyandu really wrote: the fuzzer varies the bytes.
    static WRITTEN: OnceLock<Written> = OnceLock::new();
    let (id, heads, seals) = WRITTEN
        .get_or_init(|| {
            let (record, doc, seals) = sealed_record(&keys().posyandu.signer, 1);
            let heads = doc.get_heads().iter().map(|h| h.0).collect();
            (*record.id.as_bytes(), heads, seals)
        })
        .clone();
    let bytes = bytes.to_vec();
    let message = match kind % 3 {
        0 => Message::Record { id, bytes, seals },
        1 => Message::Changes {
            id,
            bytes,
            heads,
            seals,
        },
        _ => Message::Moved {
            id,
            heads,
            evidence: bytes,
            seals,
        },
    };
    let mut rig = Rig::new(shared_store().clone());
    rig.feed(&message.encode());
});
