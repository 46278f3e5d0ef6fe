//! Reconciliation items: one per record, ordered so that recent changes sit together.

use negentropy::{Id, NegentropyStorageVector};
use simpul_model::RecordId;

/// One record as reconciliation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item {
    /// Content time ([`simpul_model::content_time`]): equal on every node holding the
    /// same version, and the primary sort key, so recently changed records are adjacent
    /// and their differences cost a few bytes each.
    pub time: u64,
    /// The record.
    pub id: RecordId,
    /// Its heads digest ([`simpul_model::heads_digest`]).
    pub digest: [u8; 32],
}

impl Item {
    /// The 32-byte Negentropy id: the record id, then the first 16 bytes of the heads
    /// digest. Two versions of one record are two different items with the same prefix.
    pub(crate) fn negentropy_id(&self) -> Id {
        let mut bytes = [0u8; 32];
        bytes[..16].copy_from_slice(self.id.as_bytes());
        bytes[16..].copy_from_slice(&self.digest[..16]);
        Id::from_byte_array(bytes)
    }
}

/// The record id inside a Negentropy id.
pub(crate) fn record_of(id: &Id) -> RecordId {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&id.as_bytes()[..16]);
    RecordId::from_bytes(bytes)
}

/// Builds sealed Negentropy storage from items.
pub(crate) fn storage(items: &[Item]) -> Result<NegentropyStorageVector, negentropy::Error> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for item in items {
        storage.insert(item.time, item.negentropy_id())?;
    }
    storage.seal()?;
    Ok(storage)
}
