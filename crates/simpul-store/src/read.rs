//! Reading records back: snapshot, then change chunks, checked against the stored digest.

use redb::ReadableTable;
use simpul_model::automerge::Automerge;
use simpul_model::{RecordId, heads_digest};

use crate::error::ReadError;
use crate::meta::RecordMeta;
use crate::tables::{CHANGES, RECORDS, SNAPSHOTS};

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

/// A record's metadata, as of `txn`.
pub(crate) fn read_meta(
    txn: &redb::ReadTransaction,
    id: RecordId,
) -> Result<Option<RecordMeta>, ReadError> {
    let records = txn.open_table(RECORDS)?;
    let row = records.get(id.as_bytes())?;
    row.map(|v| RecordMeta::decode(v.value()).map_err(|reason| ReadError::Corrupt { id, reason }))
        .transpose()
}

/// A record's metadata and document, as of `txn`, checked against its stored digest.
pub(crate) fn load_in(
    txn: &redb::ReadTransaction,
    id: RecordId,
) -> Result<Option<(RecordMeta, Automerge)>, ReadError> {
    let Some(meta) = read_meta(txn, id)? else {
        return Ok(None);
    };
    let doc = load_document(
        &txn.open_table(SNAPSHOTS)?,
        &txn.open_table(CHANGES)?,
        id,
        &meta,
    )?;
    Ok(Some((meta, doc)))
}
