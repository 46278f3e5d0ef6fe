//! What this node knows of each peer it exchanges bundles with (the bundle crate's
//! state, kept in the meta table): the peer's latest summary, when bundles last went
//! each way, and which bundles were applied (so none is applied twice).

use redb::{Durability, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use simpul_model::FacilityPath;

use crate::error::{ReadError, WriteError};
use crate::store::Store;
use crate::tables::META;

/// Bundles exchanged with one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleState {
    /// The newest summary the peer sent of what it holds (opaque here), and when the
    /// peer made it (Unix ms, its clock).
    pub summary: Option<(serde_bytes::ByteBuf, u64)>,
    /// When this node last made a bundle for the peer (Unix ms).
    pub last_created_ms: Option<u64>,
    /// When this node last applied one from it (Unix ms).
    pub last_applied_ms: Option<u64>,
    /// Bundles made for it, and applied from it.
    pub created: u64,
    /// Bundles applied from it.
    pub applied: u64,
    /// The certificate (DER) its last applied bundle was signed with: what the answer
    /// and the next bundle are encrypted to (a bundle with no records teaches the key
    /// book nothing that lasts).
    #[serde(default)]
    pub cert: Option<serde_bytes::ByteBuf>,
}

fn state_key(peer: &FacilityPath) -> String {
    format!("bundle-peer/{peer}")
}

fn applied_key(peer: &FacilityPath, id: &[u8; 16]) -> String {
    let mut hex = String::with_capacity(32);
    for b in id {
        hex.push_str(&format!("{b:02x}"));
    }
    format!("bundle-applied/{peer}/{hex}")
}

const STATE_PREFIX: &str = "bundle-peer/";

fn decode(bytes: &[u8], key: &str) -> Result<BundleState, ReadError> {
    postcard::from_bytes(bytes).map_err(|e| ReadError::CorruptTable {
        table: "meta",
        reason: format!("{key}: {e}"),
    })
}

impl Store {
    /// What this node knows of bundles exchanged with `peer`.
    pub fn bundle_state(&self, peer: &FacilityPath) -> Result<Option<BundleState>, ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let key = state_key(peer);
        meta.get(key.as_str())?
            .map(|v| decode(v.value(), &key))
            .transpose()
    }

    /// Every peer bundles were exchanged with.
    pub fn bundle_states(&self) -> Result<Vec<(FacilityPath, BundleState)>, ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let mut out = Vec::new();
        for row in meta.range(STATE_PREFIX..)? {
            let (key, value) = row?;
            let Some(peer) = key.value().strip_prefix(STATE_PREFIX) else {
                break;
            };
            if let Ok(peer) = FacilityPath::parse(peer) {
                out.push((peer, decode(value.value(), key.value())?));
            }
        }
        Ok(out)
    }

    /// When bundle `id` from `peer` was applied here, if it was.
    pub fn bundle_applied(
        &self,
        peer: &FacilityPath,
        id: &[u8; 16],
    ) -> Result<Option<u64>, ReadError> {
        let txn = self.db().begin_read()?;
        let meta = txn.open_table(META)?;
        let key = applied_key(peer, id);
        Ok(meta
            .get(key.as_str())?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes)))
    }

    /// Notes that bundle `id` from `peer` was applied at `at_ms` (durably: a replay is
    /// refused by it), with the peer's summary made at `made_ms`, which replaces the
    /// one held.
    pub fn note_bundle_applied(
        &self,
        peer: &FacilityPath,
        id: &[u8; 16],
        at_ms: u64,
        summary: Vec<u8>,
        made_ms: u64,
        cert: &[u8],
    ) -> Result<(), WriteError> {
        self.update_bundle_state(
            peer,
            |state| {
                state.applied += 1;
                state.last_applied_ms = Some(state.last_applied_ms.unwrap_or(0).max(at_ms));
                // The last applied, whatever its maker's clock says: an older summary
                // only makes the next bundle carry more than needed, never less.
                state.summary = Some((serde_bytes::ByteBuf::from(summary), made_ms));
                state.cert = Some(serde_bytes::ByteBuf::from(cert.to_vec()));
            },
            Some((applied_key(peer, id), at_ms)),
        )
    }

    /// Notes that a bundle for `peer` was made at `at_ms`.
    pub fn note_bundle_created(&self, peer: &FacilityPath, at_ms: u64) -> Result<(), WriteError> {
        self.update_bundle_state(
            peer,
            |state| {
                state.created += 1;
                state.last_created_ms = Some(at_ms);
            },
            None,
        )
    }

    fn update_bundle_state(
        &self,
        peer: &FacilityPath,
        change: impl FnOnce(&mut BundleState),
        also: Option<(String, u64)>,
    ) -> Result<(), WriteError> {
        let mut txn = self.db().begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(redb::Error::from)?;
        {
            let mut meta = txn.open_table(META)?;
            let key = state_key(peer);
            let mut state = match meta.get(key.as_str())? {
                Some(v) => postcard::from_bytes(v.value()).unwrap_or_default(),
                None => BundleState::default(),
            };
            change(&mut state);
            let bytes = postcard::to_allocvec(&state)
                .map_err(|e| WriteError::BatchFailed(e.to_string()))?;
            meta.insert(key.as_str(), bytes.as_slice())?;
            if let Some((key, value)) = also {
                meta.insert(key.as_str(), value.to_le_bytes().as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}
