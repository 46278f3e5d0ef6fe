//! Bundles from a stick: a file as found, an inside encrypted to the pustu's key (which
//! anyone holding its certificate can make), or a body under a header the posyandu
//! signed (what an enrolled node can send). Each is applied to a pustu's store as `bundle
//! apply` does: a bad one is an error that names what is wrong; nothing panics or hangs.

use std::sync::Mutex;

use sha2::{Digest, Sha256};
use simpul_bundle::format::{self, Header};
use simpul_store::faults::Disk;
use simpul_store::{Store, StoreOptions, StoreTrust};

use crate::{POSYANDU, PUSTU, keys, path, today};

/// The tests' now: the day [`today`] names.
pub const NOW_MS: u64 = 1_793_404_800_000;

/// Inputs applied to one store before it is replaced.
const INPUTS_PER_STORE: u32 = 256;

/// A header from the posyandu to the pustu, its id drawn from `data` (so that one input
/// is not refused as a replay of another).
pub fn header(data: &[u8]) -> Header {
    let k = keys();
    let digest = Sha256::digest(data);
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Header {
        id,
        set: id,
        part: 1,
        parts: 1,
        from: POSYANDU.into(),
        from_cert: k.posyandu.certified.der.to_vec(),
        to: PUSTU.into(),
        to_key: k.pustu.certified.key,
        created_ms: NOW_MS,
        answers: None,
        records: 0,
        body_sha256: [0; 32],
    }
}

/// A pustu's items: 300 records, some in two versions' worth of digests.
fn items() -> Vec<simpul_store::SyncItem> {
    (0..300u64)
        .map(|n| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&n.to_be_bytes());
            simpul_store::SyncItem {
                id: simpul_model::RecordId::from_bytes(id),
                time: 1_790_000_000 + n * 37 % 1000,
                digest: Sha256::digest(n.to_le_bytes()).into(),
            }
        })
        .collect()
}

fn store() -> Store {
    let k = keys();
    let options = StoreOptions {
        trust: Some(StoreTrust {
            authority: k.district.authority.clone(),
            signer: Some(k.pustu.signer.clone()),
        }),
        ..StoreOptions::default()
    };
    Store::create_with_backend(Disk::new().backend(), &path(PUSTU), [0xb0; 4], options)
        .expect("a store in memory")
}

/// Applies one input. The first byte says what the rest is: 0, a body the posyandu
/// signed (its record count taken from the input's second byte); 1, the whole inside;
/// 3, a summary alone, worked out against the pustu's items; else, a file.
///
/// # Panics
/// When applying fails without saying why.
pub fn apply(data: &[u8]) {
    static STORE: Mutex<Option<(Store, u32)>> = Mutex::new(None);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let k = keys();
    if mode == 3 {
        // A summary as a peer sends it, worked out against a set of this node's items:
        // it ends, and says no more than the items held.
        if let Ok(summary) = postcard::from_bytes::<simpul_bundle::Summary>(rest)
            && summary.check().is_ok()
        {
            let told = summary.lacking(&items());
            assert!(told.records.len() <= items().len());
        }
        return;
    }
    let file = match mode {
        0 => {
            let mut h = header(data);
            h.records = u32::from(rest.first().copied().unwrap_or(0));
            format::seal_body_raw(
                h,
                rest.get(1..).unwrap_or_default(),
                &k.posyandu.signer,
                &k.pustu.certified,
            )
        }
        1 => format::seal_raw(rest, &k.pustu.certified),
        _ => Ok(rest.to_vec()),
    };
    let Ok(file) = file else {
        return;
    };
    let mut guard = STORE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|(_, n)| *n >= INPUTS_PER_STORE) {
        *guard = Some((store(), 0));
    }
    let (store, inputs) = guard.as_mut().expect("set above");
    *inputs += 1;
    if let Err(e) = simpul_bundle::apply(store, &file, today(), NOW_MS) {
        assert!(!e.to_string().is_empty(), "a refusal says why");
    }
}
