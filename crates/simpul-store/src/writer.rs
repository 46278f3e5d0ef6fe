//! The one thread that owns writes to the database.
//!
//! Requests arrive over a channel; the writer takes every request already queued (up to
//! [`MAX_BATCH`]) into one write transaction and commits it durably before any of them
//! is answered. A request is acknowledged only once its commit has returned, so an
//! acknowledged write survives a crash at any instant after. A burst of writes costs one
//! fsync, not one per record.

use std::num::NonZeroUsize;

use simpul_model::automerge::ActorId;
use std::sync::Arc;
use std::sync::mpsc::Receiver;

use lru::LruCache;
use redb::{Database, Durability, ReadableTable, WriteTransaction};
use simpul_model::automerge::Automerge;
use simpul_model::{
    FacilityPath, Record, RecordBody, RecordError, RecordId, content_time, heads_digest,
};

use crate::error::{ReadError, WriteError};
use crate::meta::{RecordMeta, Summary, scope_keys};
use crate::read::load_document;
use crate::tables::{CHANGES, INDEX, LOOKUP, LOOKUP_KEYS, RECORDS, SNAPSHOTS, TOMBSTONES};

/// Most requests committed in one transaction. A crash loses only unacknowledged
/// requests, whatever this is; it bounds how long the first request of a burst waits.
pub const MAX_BATCH: usize = 512;

/// A record is compacted (changes folded into a new snapshot) once it has this many
/// change chunks, or once its chunks outweigh its snapshot.
pub const COMPACT_AFTER_CHUNKS: u32 = 32;

/// A change to one record, run on the writer thread with the record's current document
/// (`None` if the store does not have it). It may create, replace or modify the document,
/// and returns the record as the document now stands (which it has at hand, so the
/// writer need not read the document again). Returning an error discards whatever it did.
pub type WriteFn = Box<dyn FnOnce(&mut Option<Automerge>) -> Result<Record, WriteError> + Send>;

/// What a successful write did.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The record written.
    pub id: RecordId,
    /// The document's heads after the write.
    pub heads: Vec<simpul_model::automerge::ChangeHash>,
    /// The record's metadata after the write.
    pub meta: RecordMeta,
    /// False when the write produced no new change (the store already had it all).
    pub changed: bool,
    /// True when the record was new to this store.
    pub created: bool,
    /// What brings a holder of the previous version up to this one: the whole saved
    /// document when the record is new, the new changes otherwise; empty when nothing
    /// changed. What a live push sends.
    pub delta: Vec<u8>,
}

/// What a request does to its record.
pub(crate) enum Op {
    /// Run a write function.
    Write(WriteFn),
    /// Run a write function that creates the record from a document already saved (and
    /// validated) by the caller: the writer stores these bytes instead of saving again.
    /// If the record exists by the time it runs, the function merges as usual.
    Create(WriteFn, Vec<u8>),
    /// Delete the record, leaving a tombstone, if its heads digest is still this one.
    Purge([u8; 32]),
}

pub(crate) struct Request {
    pub(crate) id: RecordId,
    pub(crate) at_ms: u64,
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

pub(crate) struct Writer {
    pub(crate) db: Arc<Database>,
    pub(crate) node: FacilityPath,
    /// This node's actor: every change written here carries it, whatever actor the
    /// document had when it was loaded or received.
    pub(crate) actor: ActorId,
    pub(crate) cache: LruCache<RecordId, Automerge>,
    pub(crate) rx: Receiver<Request>,
}

impl Writer {
    pub(crate) fn new(
        db: Arc<Database>,
        node: &crate::NodeInfo,
        cache_docs: usize,
        rx: Receiver<Request>,
    ) -> Self {
        let cap = NonZeroUsize::new(cache_docs.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            db,
            node: node.path.clone(),
            actor: node.actor.clone(),
            cache: LruCache::new(cap),
            rx,
        }
    }

    /// Serves requests until every sender is dropped.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            self.process(batch);
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        let txn = match self.db.begin_write() {
            Ok(mut txn) => {
                if let Err(e) = txn.set_durability(Durability::Immediate) {
                    return fail_all(batch, &format!("{e}"));
                }
                txn
            }
            Err(e) => return fail_all(batch, &format!("{e}")),
        };
        let mut replies = Vec::with_capacity(batch.len());
        let mut touched = Vec::with_capacity(batch.len());
        for req in batch {
            touched.push(req.id);
            let result = match req.op {
                Op::Write(op) => self.apply(&txn, req.id, req.at_ms, op, None),
                Op::Create(op, saved) => self.apply(&txn, req.id, req.at_ms, op, Some(saved)),
                Op::Purge(digest) => self.purge(&txn, req.id, digest),
            };
            if let Err(WriteError::Db(e)) = &result {
                // The transaction may be half-written: abandon the whole batch.
                let reason = e.to_string();
                drop(txn);
                self.evict(&touched);
                let _ = req.reply.send(Err(WriteError::BatchFailed(reason.clone())));
                for (reply, _) in replies {
                    Self::send(reply, Err(WriteError::BatchFailed(reason.clone())));
                }
                return;
            }
            replies.push((req.reply, result));
        }
        match txn.commit() {
            Ok(()) => {
                for (reply, result) in replies {
                    Self::send(reply, result);
                }
            }
            Err(e) => {
                self.evict(&touched);
                let reason = e.to_string();
                for (reply, _) in replies {
                    Self::send(reply, Err(WriteError::BatchFailed(reason.clone())));
                }
            }
        }
    }

    fn send(
        reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
        result: Result<WriteOutcome, WriteError>,
    ) {
        // The requester may have given up waiting; the write stands either way.
        let _ = reply.send(result);
    }

    fn evict(&mut self, ids: &[RecordId]) {
        for id in ids {
            self.cache.pop(id);
        }
    }

    /// Deletes a record whose digest is still `digest`, recording its change hashes as a
    /// tombstone. The outcome's `changed` says whether it was deleted.
    fn purge(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
        digest: [u8; 32],
    ) -> Result<WriteOutcome, WriteError> {
        let key = id.as_bytes();
        let meta = {
            let records = txn.open_table(RECORDS)?;
            let row = records.get(key)?.ok_or(WriteError::NotFound(id))?;
            RecordMeta::decode(row.value())
                .map_err(|reason| WriteError::Read(Box::new(ReadError::Corrupt { id, reason })))?
        };
        if meta.heads_digest != digest {
            return Ok(WriteOutcome {
                id,
                heads: Vec::new(),
                meta,
                changed: false,
                created: false,
                delta: Vec::new(),
            });
        }
        let doc = match self.cache.pop(&id) {
            Some(doc) => doc,
            None => {
                let snapshots = txn.open_table(SNAPSHOTS)?;
                let changes = txn.open_table(CHANGES)?;
                load_document(&snapshots, &changes, id, &meta).map_err(Box::new)?
            }
        };
        let mut tombstones = txn.open_table(TOMBSTONES)?;
        let mut hashes: Vec<u8> = tombstones
            .get(key)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        for change in doc.get_changes_meta(&[]) {
            hashes.extend_from_slice(&change.hash.0);
        }
        tombstones.insert(key, hashes.as_slice())?;
        txn.open_table(RECORDS)?.remove(key)?;
        txn.open_table(SNAPSHOTS)?.remove(key)?;
        txn.open_table(CHANGES)?
            .retain_in((key, 0)..=(key, u32::MAX), |_, _| false)?;
        let mut index = txn.open_table(INDEX)?;
        for scope_key in scope_keys(&meta.scope) {
            index.remove((scope_key.as_str(), key))?;
        }
        crate::lookup::unfile(
            &mut txn.open_multimap_table(LOOKUP)?,
            &mut txn.open_table(LOOKUP_KEYS)?,
            id,
        )?;
        Ok(WriteOutcome {
            id,
            heads: Vec::new(),
            meta,
            changed: true,
            created: false,
            delta: Vec::new(),
        })
    }

    fn apply(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
        at_ms: u64,
        op: WriteFn,
        saved: Option<Vec<u8>>,
    ) -> Result<WriteOutcome, WriteError> {
        let key = id.as_bytes();
        let old_meta = {
            let records = txn.open_table(RECORDS)?;
            let row = records.get(key)?;
            match row {
                None => None,
                Some(bytes) => Some(RecordMeta::decode(bytes.value()).map_err(|reason| {
                    WriteError::Read(Box::new(ReadError::Corrupt { id, reason }))
                })?),
            }
        };
        let mut doc = match (self.cache.pop(&id), &old_meta) {
            (Some(doc), Some(_)) => Some(doc),
            (_, Some(meta)) => {
                let snapshots = txn.open_table(SNAPSHOTS)?;
                let changes = txn.open_table(CHANGES)?;
                Some(load_document(&snapshots, &changes, id, meta).map_err(Box::new)?)
            }
            (_, None) => None,
        };
        if let Some(d) = doc.as_mut() {
            d.set_actor(self.actor.clone());
        }
        let before_heads = doc.as_ref().map(|d| d.get_heads());
        let record = op(&mut doc)?;
        let Some(mut doc) = doc else {
            return Err(WriteError::Rejected(RecordError::Shape(
                "the write left no document".into(),
            )));
        };
        debug_assert_eq!(
            Record::from_document(&doc).ok().as_ref(),
            Some(&record),
            "a write op returned a record its document does not hold"
        );
        if record.id != id {
            return Err(WriteError::WrongId {
                expected: id,
                found: record.id,
            });
        }
        if !record.scope.held_by(&self.node) {
            return Err(WriteError::OutOfScope {
                id,
                node: self.node.clone(),
            });
        }
        // A document that arrived whole from a peer still has the actor it was loaded with.
        doc.set_actor(self.actor.clone());
        let heads = doc.get_heads();
        if let (Some(meta), Some(before)) = (&old_meta, &before_heads)
            && *before == heads
        {
            let meta = meta.clone();
            self.cache.put(id, doc);
            return Ok(WriteOutcome {
                id,
                heads,
                meta,
                changed: false,
                created: false,
                delta: Vec::new(),
            });
        }
        let (meta, delta) = self.persist(
            txn,
            id,
            at_ms,
            &doc,
            &record,
            old_meta.as_ref(),
            before_heads.as_deref(),
            saved.filter(|_| old_meta.is_none()),
        )?;
        self.cache.put(id, doc);
        Ok(WriteOutcome {
            id,
            heads,
            meta,
            changed: true,
            created: old_meta.is_none(),
            delta,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn persist(
        &self,
        txn: &WriteTransaction,
        id: RecordId,
        at_ms: u64,
        doc: &Automerge,
        record: &Record,
        old: Option<&RecordMeta>,
        before_heads: Option<&[simpul_model::automerge::ChangeHash]>,
        saved: Option<Vec<u8>>,
    ) -> Result<(RecordMeta, Vec<u8>), WriteError> {
        let key = id.as_bytes();
        let mut snapshots = txn.open_table(SNAPSHOTS)?;
        let mut changes = txn.open_table(CHANGES)?;
        let (mut snapshot_len, mut changes_len, mut chunks, mut next_seq) = match old {
            Some(m) => (m.snapshot_len, m.changes_len, m.chunks, m.next_seq),
            None => (0, 0, 0, 0),
        };
        let incremental = match (old, before_heads) {
            (Some(_), Some(before)) => Some(doc.save_after(before)),
            _ => None,
        };
        let compact = match &incremental {
            None => true,
            Some(bytes) => {
                chunks + 1 >= COMPACT_AFTER_CHUNKS
                    || changes_len as usize + bytes.len() > snapshot_len as usize
            }
        };
        let delta = if compact {
            let snapshot = saved.unwrap_or_else(|| doc.save());
            snapshots.insert(key, snapshot.as_slice())?;
            if chunks > 0 {
                changes.retain_in((key, 0)..=(key, u32::MAX), |_, _| false)?;
            }
            snapshot_len = snapshot.len() as u32;
            changes_len = 0;
            chunks = 0;
            incremental.unwrap_or(snapshot)
        } else {
            let bytes = incremental.unwrap_or_default();
            changes.insert((key, next_seq), bytes.as_slice())?;
            changes_len += bytes.len() as u32;
            chunks += 1;
            next_seq += 1;
            bytes
        };
        let meta = RecordMeta {
            kind: record.kind(),
            scope: record.scope.clone(),
            heads_digest: heads_digest(&doc.get_heads()),
            content_time: content_time(doc),
            created_ms: old.map_or(at_ms, |m| m.created_ms),
            modified_ms: at_ms,
            snapshot_len,
            changes_len,
            chunks,
            next_seq,
            summary: Summary::of(record),
        };
        let mut records = txn.open_table(RECORDS)?;
        records.insert(key, meta.encode().as_slice())?;
        let mut index = txn.open_table(INDEX)?;
        if let Some(old) = old {
            for scope_key in scope_keys(&old.scope) {
                index.remove((scope_key.as_str(), key))?;
            }
        }
        let mut entry = [0u8; 40];
        entry[..8].copy_from_slice(&meta.content_time.to_be_bytes());
        entry[8..].copy_from_slice(&meta.heads_digest);
        for scope_key in scope_keys(&meta.scope) {
            index.insert((scope_key.as_str(), key), &entry)?;
        }
        if let RecordBody::Patient(p) = &record.body {
            let mut lookup = txn.open_multimap_table(LOOKUP)?;
            let mut filed = txn.open_table(LOOKUP_KEYS)?;
            crate::lookup::file(&mut lookup, &mut filed, id, &p.lookup_keys())?;
        }
        Ok((meta, delta))
    }
}

fn fail_all(batch: Vec<Request>, reason: &str) {
    for req in batch {
        let _ = req
            .reply
            .send(Err(WriteError::BatchFailed(reason.to_string())));
    }
}
