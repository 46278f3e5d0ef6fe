//! Reading records back: snapshot, then change chunks, checked against the stored digest.

use redb::ReadableTable;
use simpul_model::automerge::Automerge;
use simpul_model::{RecordId, heads_digest};

use crate::error::ReadError;
use crate::meta::RecordMeta;

/// The stored bytes of a record: its snapshot followed by its change chunks, in order.
/// Any Automerge implementation loads this concatenation as the whole document.
pub(crate) fn stored_bytes(
    snapshots: &impl ReadableTable<&'static [u8; 16], &'static [u8]>,
    changes: &impl ReadableTable<(&'static [u8; 16], u32), &'static [u8]>,
    id: RecordId,
    meta: &RecordMeta,
) -> Result<Vec<u8>, ReadError> {
    let key = id.as_bytes();
    let corrupt = |reason: String| ReadError::Corrupt { id, reason };
    let mut bytes = Vec::with_capacity(meta.stored_len() as usize);
    let snapshot = snapshots
        .get(key)?
        .ok_or_else(|| corrupt("snapshot is missing".into()))?;
    bytes.extend_from_slice(snapshot.value());
    let mut chunks = 0;
    for row in changes.range((key, 0)..=(key, u32::MAX))? {
        let (_, chunk) = row?;
        bytes.extend_from_slice(chunk.value());
        chunks += 1;
    }
    if chunks != meta.chunks {
        return Err(corrupt(format!(
            "{chunks} change chunks stored, metadata says {}",
            meta.chunks
        )));
    }
    Ok(bytes)
}

/// Loads a record's document and checks that its heads are the ones last stored.
pub(crate) fn load_document(
    snapshots: &impl ReadableTable<&'static [u8; 16], &'static [u8]>,
    changes: &impl ReadableTable<(&'static [u8; 16], u32), &'static [u8]>,
    id: RecordId,
    meta: &RecordMeta,
) -> Result<Automerge, ReadError> {
    let bytes = stored_bytes(snapshots, changes, id, meta)?;
    let doc = Automerge::load(&bytes).map_err(|e| ReadError::Corrupt {
        id,
        reason: format!("stored bytes do not load: {e}"),
    })?;
    if heads_digest(&doc.get_heads()) != meta.heads_digest {
        return Err(ReadError::Corrupt {
            id,
            reason: "document heads differ from the stored digest".into(),
        });
    }
    Ok(doc)
}
