//! The one thread that owns writes to the database.
//!
//! Requests arrive over a channel; the writer takes every request already queued (up to
//! [`MAX_BATCH`]) into one write transaction and commits it durably before any of them
//! is answered. A request is acknowledged only once its commit has returned, so an
//! acknowledged write survives a crash at any instant after. A burst of writes costs one
//! fsync, not one per record.
//!
//! The writer also keeps each record's seals: it seals this node's own writes with the
//! node's key in the write's transaction, and judges what peers send against what is
//! stored ([`simpul_trust::admit`]) before storing it.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};

use lru::LruCache;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, WriteTransaction};
use simpul_model::automerge::{ActorId, Automerge, ChangeHash};
use simpul_model::{
    Date, FacilityPath, Incoming, Record, RecordBody, RecordError, RecordId, content_time,
    heads_digest,
};
use simpul_trust::{
    Admitted, Judge, KeyBook, KeyId, Purpose, Quarantined, Seal, SealKind, Signer, admit,
    decode_seals, encode_seals,
};

use crate::error::{ReadError, WriteError};
use crate::meta::{RecordMeta, Summary, scope_keys};
use crate::read::load_document;
use crate::tables::{
    CERTS, CHANGES, INDEX, LOOKUP, LOOKUP_KEYS, MOVED, PENDING_SEALS, QUARANTINE, RECORDS, SEALS,
    SNAPSHOTS, TOMBSTONES,
};
use crate::trust::{MAX_QUARANTINE, QuarantineEntry};

/// Most requests committed in one transaction. A crash loses only unacknowledged
/// requests, whatever this is; it bounds how long the first request of a burst waits.
pub const MAX_BATCH: usize = 512;

/// A record's snapshot as stored and sent: Automerge's document format without its
/// per-column DEFLATE. Deflated columns differ from record to record, so the session's
/// zstd stream found little to share between them (W1 on generated records: 0.45 of the
/// deflated bytes after zstd; the same documents undeflated: 0.23). Costs ~1.8x the
/// disk; loads as fast.
pub(crate) fn snapshot_bytes(doc: &Automerge) -> Vec<u8> {
    doc.save_nocompress()
}

/// A record is compacted (changes folded into a new snapshot) once it has this many
/// change chunks, or once its chunks outweigh its snapshot.
pub const COMPACT_AFTER_CHUNKS: u32 = 32;

/// A change to one record by this node, run on the writer thread with the record's
/// current document (`None` if the store does not have it). It may create, replace or
/// modify the document, and returns the record as the document now stands (which it has
/// at hand, so the writer need not read the document again). Returning an error discards
/// whatever it did. The writer seals the result with the node's key.
pub type WriteFn = Box<dyn FnOnce(&mut Option<Automerge>) -> Result<Record, WriteError> + Send>;

/// What a successful write did.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The record written.
    pub id: RecordId,
    /// The document's heads after the write.
    pub heads: Vec<ChangeHash>,
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
    /// The record's seals after the write (what a push sends with the delta).
    pub seals: Vec<Seal>,
    /// Changes from a peer set aside as equivocating.
    pub quarantined: Vec<Quarantined>,
    /// The peer the data came from (none for this node's own writes).
    pub from: Option<FacilityPath>,
    /// For data from a descendant: the record has moved out of its subtree, and these
    /// are the changes that show it (up to the move; see
    /// [`simpul_trust::evidence_of_move`]).
    pub moved_from_peer: Option<Vec<u8>>,
}

impl WriteOutcome {
    /// A write that left the record as it was.
    fn unchanged(id: RecordId, heads: Vec<ChangeHash>, meta: RecordMeta, seals: Vec<Seal>) -> Self {
        WriteOutcome {
            id,
            heads,
            meta,
            changed: false,
            created: false,
            delta: Vec::new(),
            seals,
            quarantined: Vec::new(),
            moved_from_peer: None,
            from: None,
        }
    }
}

/// Data from a peer, and what to judge it by.
pub(crate) struct FromPeer {
    pub(crate) incoming: Incoming,
    pub(crate) seals: Vec<Seal>,
    pub(crate) peer: FacilityPath,
    pub(crate) today: Date,
}

/// A record new here, already admitted on the caller's thread.
pub(crate) struct Created {
    pub(crate) admitted: Admitted,
    pub(crate) doc: Automerge,
    pub(crate) saved: Vec<u8>,
    /// Who sent it and its seals, to judge it again (the document as incoming) if the
    /// record was stored meanwhile.
    pub(crate) from: FromPeer,
}

/// What a request does to its record.
pub(crate) enum Op {
    /// A write by this node.
    Write(WriteFn),
    /// Data from a peer, judged against what is stored.
    Admit(Box<FromPeer>),
    /// A record new here, admitted by the caller: stored with its saved bytes if it is
    /// still new; judged like [`Op::Admit`] if it was stored meanwhile.
    Create(Box<Created>),
    /// An ancestor's evidence that the record moved away: if the record still has the
    /// heads digest given and, with the evidence merged, is no longer this node's to
    /// hold, it is let go (a tombstone and the evidence are kept).
    Moved([u8; 32], Box<FromPeer>),
    /// Seal what this node wrote without its key, and endorse history from before seals.
    Seal,
}

pub(crate) struct Request {
    pub(crate) id: RecordId,
    pub(crate) at_ms: u64,
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// What the writer knows about trust: the keys it judges by and the one it signs with.
#[derive(Clone, Default)]
pub(crate) struct WriterTrust {
    pub(crate) keys: Option<Arc<RwLock<KeyBook>>>,
    pub(crate) signer: Option<Arc<Signer>>,
}

pub(crate) struct Writer {
    pub(crate) db: Arc<Database>,
    pub(crate) node: FacilityPath,
    /// This node's actor: every change written here carries it, whatever actor the
    /// document had when it was loaded or received.
    pub(crate) actor: ActorId,
    pub(crate) trust: WriterTrust,
    /// Keys whose certificates are in the certs table.
    pub(crate) persisted_keys: HashSet<KeyId>,
    pub(crate) cache: LruCache<RecordId, Automerge>,
    pub(crate) rx: Receiver<Request>,
    /// Commit durations, for the metrics.
    pub(crate) commits: Arc<crate::timings::CommitClock>,
}

/// How a record was changed, for [`Writer::apply`].
enum Change {
    /// By this node (sealed after).
    Local(WriteFn),
    /// By a peer, judged by admission.
    Peer(Box<FromPeer>),
    /// New from a peer, admitted before: (document, admission).
    New(Box<Created>),
}

/// What [`Writer::apply`] ended with, before persisting.
struct Applied {
    record: Record,
    /// `None` for a local write (the writer seals it).
    seals: Option<Vec<Seal>>,
    quarantined: Vec<Quarantined>,
    /// The heads of the version the peer sent, when the record has moved away from it.
    moved_from_peer: Option<Vec<ChangeHash>>,
    /// The peer the data came from.
    from: Option<FacilityPath>,
    /// The record's whole history is one line: it holds no competing values (`None`
    /// for a local write, judged after it is made).
    in_line: Option<bool>,
}

impl Writer {
    pub(crate) fn new(
        db: Arc<Database>,
        node: &crate::NodeInfo,
        trust: WriterTrust,
        persisted_keys: HashSet<KeyId>,
        cache_docs: usize,
        rx: Receiver<Request>,
        commits: Arc<crate::timings::CommitClock>,
    ) -> Self {
        let cap = NonZeroUsize::new(cache_docs.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            db,
            node: node.path.clone(),
            actor: node.actor.clone(),
            trust,
            persisted_keys,
            cache: LruCache::new(cap),
            rx,
            commits,
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
            self.commits.busy();
            self.process(batch);
            self.commits.idle();
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        let started = std::time::Instant::now();
        let writes = batch.len();
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
        let mut new_keys = Vec::new();
        for req in batch {
            touched.push(req.id);
            let result = match req.op {
                Op::Write(op) => self.apply(&txn, req.id, req.at_ms, Change::Local(op)),
                Op::Admit(from) => self.apply(&txn, req.id, req.at_ms, Change::Peer(from)),
                Op::Create(created) => self.apply(&txn, req.id, req.at_ms, Change::New(created)),
                Op::Moved(digest, from) => self.moved(&txn, req.id, digest, *from),
                Op::Seal => self.seal_pending(&txn, req.id),
            };
            let result = result.and_then(|outcome| {
                self.persist_trust(&txn, &outcome, req.at_ms, &mut new_keys)?;
                Ok(outcome)
            });
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
                self.commits.record(started.elapsed(), writes);
                self.persisted_keys.extend(new_keys);
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

    /// The certificates of the outcome's seal keys not stored yet, and its quarantined
    /// changes.
    fn persist_trust(
        &self,
        txn: &WriteTransaction,
        outcome: &WriteOutcome,
        at_ms: u64,
        new_keys: &mut Vec<KeyId>,
    ) -> Result<(), WriteError> {
        if let Some(book) = &self.trust.keys {
            let missing: Vec<KeyId> = outcome
                .seals
                .iter()
                .map(|s| s.key)
                .filter(|k| !self.persisted_keys.contains(k) && !new_keys.contains(k))
                .collect();
            if !missing.is_empty() {
                let book = book.read().map_err(|_| poisoned())?;
                let mut certs = txn.open_table(CERTS)?;
                for key in missing {
                    if let Some(cert) = book.get(&key) {
                        certs.insert(&key.0, &*cert.der)?;
                        new_keys.push(key);
                    }
                }
            }
        }
        if !outcome.quarantined.is_empty() {
            let mut table = txn.open_table(QUARANTINE)?;
            for q in &outcome.quarantined {
                if table.len()? >= MAX_QUARANTINE {
                    break;
                }
                let entry = QuarantineEntry::new(q, at_ms, outcome.from.as_ref());
                table.insert(
                    (outcome.id.as_bytes(), &q.refused.0),
                    entry.encode().as_slice(),
                )?;
            }
        }
        Ok(())
    }

    fn judge_with<T>(
        &self,
        peer: &FacilityPath,
        today: Date,
        purpose: Purpose,
        f: impl FnOnce(&Judge<'_>) -> Result<T, WriteError>,
    ) -> Result<T, WriteError> {
        let book = self.trust.keys.as_ref().ok_or(WriteError::NoAuthority)?;
        let book = book.read().map_err(|_| poisoned())?;
        f(&Judge {
            keys: &book,
            local: &self.node,
            peer,
            today,
            purpose,
        })
    }

    /// Loads the record's stored metadata, document and seals.
    fn load(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
    ) -> Result<Option<(RecordMeta, Automerge, Vec<Seal>)>, WriteError> {
        let key = id.as_bytes();
        let meta = {
            let records = txn.open_table(RECORDS)?;
            let row = records.get(key)?;
            match row {
                None => return Ok(None),
                Some(bytes) => RecordMeta::decode(bytes.value()).map_err(|reason| {
                    WriteError::Read(Box::new(ReadError::Corrupt { id, reason }))
                })?,
            }
        };
        let doc = match self.cache.pop(&id) {
            Some(doc) => doc,
            None => {
                let snapshots = txn.open_table(SNAPSHOTS)?;
                let changes = txn.open_table(CHANGES)?;
                load_document(&snapshots, &changes, id, &meta).map_err(Box::new)?
            }
        };
        let seals = read_seals(txn, id)?;
        Ok(Some((meta, doc, seals)))
    }

    fn apply(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
        at_ms: u64,
        change: Change,
    ) -> Result<WriteOutcome, WriteError> {
        let (old_meta, mut doc, old_seals) = match self.load(txn, id)? {
            Some((meta, doc, seals)) => (Some(meta), Some(doc), seals),
            None => (None, None, Vec::new()),
        };
        if let Some(d) = doc.as_mut() {
            d.set_actor(self.actor.clone());
        }
        let before_heads = doc.as_ref().map(|d| d.get_heads());
        let mut saved = None;
        let arrived_whole = matches!(change, Change::New(_));
        let applied = match change {
            Change::Local(op) => {
                let record = op(&mut doc)?;
                Applied {
                    record,
                    seals: None,
                    quarantined: Vec::new(),
                    moved_from_peer: None,
                    from: None,
                    in_line: None,
                }
            }
            Change::Peer(from) => self.admit(&mut doc, id, &old_seals, *from)?,
            Change::New(created) if doc.is_none() => {
                let Created {
                    admitted,
                    doc: new,
                    saved: bytes,
                    ..
                } = *created;
                doc = Some(new);
                saved = Some(bytes);
                Applied {
                    record: admitted.record,
                    seals: Some(admitted.seals),
                    quarantined: admitted.quarantined,
                    moved_from_peer: None,
                    from: Some(created.from.peer.clone()),
                    in_line: Some(admitted.in_line),
                }
            }
            // Stored meanwhile by another session: judge it against what is stored.
            Change::New(created) => {
                let Created { doc: new, from, .. } = *created;
                let from = FromPeer {
                    incoming: Incoming::Document(new),
                    ..from
                };
                self.admit(&mut doc, id, &old_seals, from)?
            }
        };
        let Some(mut doc) = doc else {
            return Err(WriteError::Rejected(RecordError::Shape(
                "the write left no document".into(),
            )));
        };
        let record = applied.record;
        debug_assert_eq!(
            Record::from_document(&doc).ok().as_ref(),
            Some(&record),
            "a write returned a record its document does not hold"
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
        let in_line = match applied.in_line {
            Some(in_line) => in_line,
            // This node's own write is judged by the rules a peer judges it by: what a
            // peer would refuse (as hostile, ending the session) is not written here.
            None => simpul_trust::authorise_local(id, &doc, before_heads.as_deref(), &self.node)?,
        };
        // A document that arrived whole from a peer still has the actor it was loaded with.
        doc.set_actor(self.actor.clone());
        let heads = doc.get_heads();
        let changed = before_heads.as_ref() != Some(&heads);
        let seals = match applied.seals {
            Some(seals) => seals,
            None if changed => self.seal_local(txn, id, &heads, old_seals.clone())?,
            None => old_seals.clone(),
        };
        let moved_from_peer = applied
            .moved_from_peer
            .map(|sent| simpul_trust::evidence_of_move(&doc, &sent));
        if seals != old_seals {
            txn.open_table(SEALS)?
                .insert(id.as_bytes(), encode_seals(&seals).as_slice())?;
        }
        let (meta, delta) = match (&old_meta, changed) {
            (Some(meta), false) => (meta.clone(), Vec::new()),
            _ => self.persist(
                txn,
                id,
                at_ms,
                &doc,
                &record,
                old_meta.as_ref(),
                before_heads.as_deref(),
                saved.filter(|_| old_meta.is_none()),
                in_line,
            )?,
        };
        // A record that arrived whole and new (a first sync brings thousands) is seldom
        // written again soon: caching it would only evict one that is, and hold memory.
        if old_meta.is_some() || !arrived_whole {
            self.cache.put(id, doc);
        }
        Ok(WriteOutcome {
            id,
            heads,
            meta,
            changed,
            created: old_meta.is_none(),
            delta,
            seals,
            quarantined: applied.quarantined,
            moved_from_peer,
            from: applied.from,
        })
    }

    fn admit(
        &self,
        doc: &mut Option<Automerge>,
        id: RecordId,
        stored_seals: &[Seal],
        from: FromPeer,
    ) -> Result<Applied, WriteError> {
        let FromPeer {
            incoming,
            seals,
            peer,
            today,
        } = from;
        let sent = match &incoming {
            Incoming::Document(d) => d.get_heads(),
            Incoming::Changes { heads, .. } => heads.clone(),
        };
        let admitted = self.judge_with(&peer, today, Purpose::Store, |judge| {
            Ok(admit(judge, id, doc, stored_seals, incoming, &seals)?)
        })?;
        Ok(Applied {
            record: admitted.record,
            seals: Some(admitted.seals),
            quarantined: admitted.quarantined,
            moved_from_peer: admitted.moved_from_peer.then_some(sent),
            from: Some(peer),
            in_line: Some(admitted.in_line),
        })
    }

    /// Seals a write of this node over `heads` (its own earlier author seals are covered
    /// by the new one and go); without a key, marks the record to seal later.
    fn seal_local(
        &self,
        txn: &WriteTransaction,
        id: RecordId,
        heads: &[ChangeHash],
        mut seals: Vec<Seal>,
    ) -> Result<Vec<Seal>, WriteError> {
        match &self.trust.signer {
            Some(signer) => {
                seals.retain(|s| !(s.key == signer.key() && s.kind == SealKind::Author));
                seals.push(signer.seal(id, SealKind::Author, heads));
                seals.sort_by_key(Seal::identity);
                if seals.len() > simpul_trust::MAX_SEALS {
                    return Err(simpul_trust::Refusal::TooManySeals {
                        id,
                        seals: seals.len(),
                    }
                    .into());
                }
            }
            None => {
                let mut pending = txn.open_table(PENDING_SEALS)?;
                let flags = pending.get(id.as_bytes())?.map_or(0, |v| v.value());
                pending.insert(id.as_bytes(), flags | crate::trust::pending::AUTHOR)?;
            }
        }
        Ok(seals)
    }

    /// Seals a record this node wrote while it had no key, and endorses history from
    /// before seals existed that it holds and may move.
    fn seal_pending(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
    ) -> Result<WriteOutcome, WriteError> {
        let signer = self.trust.signer.clone().ok_or(WriteError::NoAuthority)?;
        txn.open_table(PENDING_SEALS)?.remove(id.as_bytes())?;
        let Some((meta, doc, old)) = self.load(txn, id)? else {
            return Err(WriteError::NotFound(id));
        };
        let heads = doc.get_heads();
        let mut seals = old.clone();
        let (mut own, mut unbound) = (false, false);
        for change in doc.get_changes_meta(&[]) {
            match simpul_trust::classify(&change.actor) {
                simpul_trust::ActorKind::Keyed { facility, key } => {
                    own |= key == signer.key() && facility == self.node;
                }
                simpul_trust::ActorKind::Unbound { .. } => unbound = true,
                simpul_trust::ActorKind::Foreign => {}
            }
        }
        let mut reseal = |kind: SealKind| {
            seals.retain(|s| !(s.key == signer.key() && s.kind == kind));
            seals.push(signer.seal(id, kind, &heads));
        };
        if own {
            reseal(SealKind::Author);
        }
        // An endorsement vouches for changes this node may make itself (its own writes
        // without a key; history from before seals); admission judges each vouched change
        // as the endorser too.
        if unbound && meta.scope.writable_by(&self.node) {
            reseal(SealKind::Endorsement);
        }
        seals.sort_by_key(Seal::identity);
        if seals.len() > simpul_trust::MAX_SEALS {
            return Err(simpul_trust::Refusal::TooManySeals {
                id,
                seals: seals.len(),
            }
            .into());
        }
        if seals != old {
            txn.open_table(SEALS)?
                .insert(id.as_bytes(), encode_seals(&seals).as_slice())?;
        }
        self.cache.put(id, doc);
        Ok(WriteOutcome::unchanged(id, heads, meta, seals))
    }

    /// Checks an ancestor's evidence that a record moved away and, if it did, lets the
    /// record go: a tombstone of its change hashes, and the evidence, are kept. The
    /// outcome's `changed` says whether it was let go.
    fn moved(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
        digest: [u8; 32],
        from: FromPeer,
    ) -> Result<WriteOutcome, WriteError> {
        let Some((meta, doc, seals)) = self.load(txn, id)? else {
            return Err(WriteError::NotFound(id));
        };
        // Changed since it was sent: the change must reach the ancestor first.
        if meta.heads_digest != digest {
            let outcome = WriteOutcome::unchanged(id, doc.get_heads(), meta, seals);
            self.cache.put(id, doc);
            return Ok(outcome);
        }
        let mut slot = Some(doc.fork());
        let FromPeer {
            incoming,
            seals: evidence_seals,
            peer,
            today,
        } = from;
        let admitted = self.judge_with(&peer, today, Purpose::Evidence, |judge| {
            Ok(admit(
                judge,
                id,
                &mut slot,
                &seals,
                incoming,
                &evidence_seals,
            )?)
        });
        let merged = match (admitted, slot) {
            (Ok(a), Some(merged)) if !a.held_here => (a, merged),
            // Still this node's by its own rules (or the evidence does not hold): keep it.
            (Ok(_), _) | (Err(_), _) => {
                let outcome = WriteOutcome::unchanged(id, doc.get_heads(), meta, seals);
                self.cache.put(id, doc);
                return Ok(outcome);
            }
        };
        let (admitted, merged) = merged;
        let key = id.as_bytes();
        let mut tombstones = txn.open_table(TOMBSTONES)?;
        let mut hashes: Vec<u8> = tombstones
            .get(key)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        for change in merged.get_changes_meta(&[]) {
            hashes.extend_from_slice(&change.hash.0);
        }
        tombstones.insert(key, hashes.as_slice())?;
        let evidence = postcard::to_stdvec(&(merged.save(), encode_seals(&admitted.seals)))
            .map_err(|e| WriteError::Rejected(RecordError::Shape(e.to_string())))?;
        txn.open_table(MOVED)?.insert(key, evidence.as_slice())?;
        // An audit record's entries leave the audit index with it (the version let go
        // holds every entry the stored one did: entries are append-only).
        crate::audit_index::unfile(txn, id, &admitted.record)?;
        self.remove(txn, id, &meta)?;
        Ok(WriteOutcome {
            id,
            heads: Vec::new(),
            meta,
            changed: true,
            created: false,
            delta: Vec::new(),
            seals: Vec::new(),
            quarantined: admitted.quarantined,
            moved_from_peer: None,
            from: Some(peer),
        })
    }

    /// Deletes a record's rows (document, metadata, seals, index, lookup).
    fn remove(
        &mut self,
        txn: &WriteTransaction,
        id: RecordId,
        meta: &RecordMeta,
    ) -> Result<(), WriteError> {
        let key = id.as_bytes();
        self.cache.pop(&id);
        txn.open_table(RECORDS)?.remove(key)?;
        crate::sequence::removed(txn, id, meta)?;
        crate::facts::unfile(txn, id)?;
        txn.open_table(SNAPSHOTS)?.remove(key)?;
        txn.open_table(SEALS)?.remove(key)?;
        txn.open_table(PENDING_SEALS)?.remove(key)?;
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
        crate::duplicates::unfile(txn, id)?;
        crate::conflicts::unfile(txn, id)?;
        Ok(())
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
        before_heads: Option<&[ChangeHash]>,
        saved: Option<Vec<u8>>,
        in_line: bool,
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
            let snapshot = saved.unwrap_or_else(|| snapshot_bytes(doc));
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
        crate::sequence::stored(txn, id, old, &meta)?;
        crate::heard::file(txn, doc, before_heads, at_ms)?;
        crate::facts::file(txn, id, record)?;
        crate::audit_index::file(
            txn,
            id,
            record,
            old.map_or(0, |m| m.summary.entries as usize),
        )?;
        crate::conflicts::file(txn, id, doc, in_line)?;
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
            let keys = p.lookup_keys();
            crate::lookup::file(&mut lookup, &mut filed, id, &keys)?;
            crate::duplicates::file(txn, id, p, &keys)?;
        }
        Ok((meta, delta))
    }
}

/// A record's stored seals.
pub(crate) fn read_seals(txn: &impl SealsTable, id: RecordId) -> Result<Vec<Seal>, WriteError> {
    txn.seals_row(id)
}

/// Reading the seals table in a read or a write transaction.
pub(crate) trait SealsTable {
    /// The record's seals.
    fn seals_row(&self, id: RecordId) -> Result<Vec<Seal>, WriteError>;
}

impl SealsTable for WriteTransaction {
    fn seals_row(&self, id: RecordId) -> Result<Vec<Seal>, WriteError> {
        let table = self.open_table(SEALS)?;
        let row = table.get(id.as_bytes())?;
        decode_row(id, row.as_ref().map(|v| v.value()))
    }
}

impl SealsTable for redb::ReadTransaction {
    fn seals_row(&self, id: RecordId) -> Result<Vec<Seal>, WriteError> {
        let table = self.open_table(SEALS)?;
        let row = table.get(id.as_bytes())?;
        decode_row(id, row.as_ref().map(|v| v.value()))
    }
}

fn decode_row(id: RecordId, bytes: Option<&[u8]>) -> Result<Vec<Seal>, WriteError> {
    match bytes {
        None => Ok(Vec::new()),
        Some(b) => decode_seals(b).map_err(|reason| {
            WriteError::Read(Box::new(ReadError::Corrupt {
                id,
                reason: format!("seals: {reason}"),
            }))
        }),
    }
}

fn poisoned() -> WriteError {
    WriteError::Closed
}

fn fail_all(batch: Vec<Request>, reason: &str) {
    for req in batch {
        let _ = req
            .reply
            .send(Err(WriteError::BatchFailed(reason.to_string())));
    }
}
