//! The public face of a node's store.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use simpul_model::automerge::{ActorId, Automerge};
use simpul_model::{Date, FacilityPath, Incoming, Record, RecordId, node_actor};
use simpul_trust::{Authority, KeyBook, KeyId, Purpose, Seal, Sealed, Signer, signing_actor};

use crate::error::{OpenError, ReadError, WriteError};
use crate::meta::RecordMeta;
use crate::migrate::migrate;
use crate::read::{load_in, read_meta, stored_bytes};
use crate::tables::{CHANGES, INDEX, META, MOVED, RECORDS, SNAPSHOTS, TOMBSTONES, meta_keys};
use crate::writer::{Created, FromPeer, Op, Request, WriteOutcome, Writer, WriterTrust};

/// The database file inside a node's data directory.
pub const DB_FILE: &str = "simpul.redb";

/// Write requests that may wait for the writer before senders block.
const QUEUE_DEPTH: usize = 4096;

/// What became of a record offered by a peer ([`Store::offer`]).
#[derive(Debug, Clone)]
pub enum Offered {
    /// Merged and durable.
    Stored(Box<WriteOutcome>),
    /// Not stored: this node let the record go after it moved away, and an ancestor has
    /// every change offered. The evidence of the move goes back to the sender.
    MovedAway(Box<Sealed>),
}

/// What came from a peer besides the record data: who sent it, the seals that came with
/// it, and certificates it sent in the session (checked against the district CA here).
#[derive(Debug, Clone)]
pub struct PeerData {
    /// The sender, from its certificate.
    pub peer: FacilityPath,
    /// Seals that came with the data.
    pub seals: Vec<Seal>,
    /// Certificates (DER) of the seals' keys, as the peer sent them.
    pub certs: simpul_trust::KeyCerts,
}

/// What a store trusts and signs with.
#[derive(Debug, Clone)]
pub struct StoreTrust {
    /// The district CA: every key and revocation list from a peer is checked against it.
    pub authority: Arc<Authority>,
    /// The node's key, to seal what it writes. Without it (a CLI command on a stopped
    /// node) writes are sealed when the node next starts.
    pub signer: Option<Arc<Signer>>,
}

/// [`Store::offer_queued`]'s answer: what became of the record, or the writer's commit
/// of it to wait for.
#[derive(Debug)]
pub enum Offer {
    /// Decided without the writer thread (moved away).
    Done(Offered),
    /// Queued for the writer thread: its outcome, once durable.
    Queued(oneshot::Receiver<Result<WriteOutcome, WriteError>>),
}

/// One record as reconciliation sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncItem {
    /// The record.
    pub id: RecordId,
    /// Its content time ([`simpul_model::content_time`]).
    pub time: u64,
    /// Its heads digest.
    pub digest: [u8; 32],
}

/// What a store holds, counted ([`Store::census`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Census {
    /// Records per kind (`patient`, `activity`).
    pub by_kind: std::collections::BTreeMap<String, u64>,
    /// Records per facility path.
    pub by_facility: std::collections::BTreeMap<String, u64>,
}

/// Tunables of an open store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Documents kept loaded by the writer (each costs tens of KB). Default 256.
    pub cache_docs: usize,
    /// redb page cache in bytes. Default 32 MiB.
    pub page_cache_bytes: usize,
    /// The district CA and the node's key. Without a CA the store takes nothing from
    /// peers. Default none.
    pub trust: Option<StoreTrust>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            cache_docs: 256,
            page_cache_bytes: 32 << 20,
            trust: None,
        }
    }
}

/// Who this node is, as recorded in its store.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node's facility path.
    pub path: FacilityPath,
    /// The Automerge actor the node writes with: bound to its key
    /// ([`simpul_trust::signing_actor`]) once the store knows its certificate, and before
    /// that the unbound [`node_actor`].
    pub actor: ActorId,
    /// The key the node's writes are sealed with, once known.
    pub key: Option<KeyId>,
}

/// A node's store: cheap to clone, safe to share between threads.
///
/// Reads run on the caller's thread in their own read transaction. Writes are sent to
/// the writer thread ([`crate::writer`]) and return once durably committed.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    db: Arc<Database>,
    file: PathBuf,
    node: NodeInfo,
    pub(crate) keys: Option<Arc<RwLock<KeyBook>>>,
    signer: Option<Arc<Signer>>,
    tx: Mutex<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    commits: Arc<crate::timings::CommitClock>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

fn db_file(dir: &Path) -> PathBuf {
    dir.join(DB_FILE)
}

fn open_db(file: &Path, options: &StoreOptions, create: bool) -> Result<Database, OpenError> {
    let mut builder = Database::builder();
    builder.set_cache_size(options.page_cache_bytes);
    let result = if create {
        builder.create(file)
    } else {
        builder.open(file)
    };
    result.map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => OpenError::Locked(file.to_path_buf()),
        other => OpenError::Db(other.into()),
    })
}

/// What [`Store::file`] names for a store on a backend other than a file.
const IN_BACKEND: &str = "(storage backend)";

fn backend_db(
    backend: impl redb::StorageBackend,
    options: &StoreOptions,
) -> Result<Database, OpenError> {
    let mut builder = Database::builder();
    builder.set_cache_size(options.page_cache_bytes);
    builder
        .create_with_backend(backend)
        .map_err(|e| OpenError::Db(e.into()))
}

/// Writes a new store's schema and identity.
fn init(db: &Database, path: &FacilityPath, instance: [u8; 4]) -> Result<(), OpenError> {
    let txn = db.begin_write()?;
    migrate(&txn)?;
    {
        let mut meta = txn.open_table(META)?;
        meta.insert(meta_keys::NODE_PATH, path.as_str().as_bytes())?;
        meta.insert(meta_keys::ACTOR_INSTANCE, instance.as_slice())?;
    }
    txn.commit()?;
    Ok(())
}

impl Store {
    /// Creates a new store for the node at `path` in `dir` (made owner-only if new).
    /// `instance` tells this installation's actor id apart from earlier ones.
    pub fn create(
        dir: &Path,
        path: &FacilityPath,
        instance: [u8; 4],
        options: StoreOptions,
    ) -> Result<Store, OpenError> {
        let file = db_file(dir);
        if file.exists() {
            return Err(OpenError::AlreadyExists(file));
        }
        let dir_err = |source| OpenError::Dir {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(dir_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(dir_err)?;
        }
        let db = open_db(&file, &options, true)?;
        init(&db, path, instance)?;
        drop(db);
        Self::open(dir, options)
    }

    /// Opens the store in `dir`, running any pending migrations. Reads only metadata:
    /// no record is loaded.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, OpenError> {
        let file = db_file(dir);
        if !file.exists() {
            return Err(OpenError::Missing(file));
        }
        let db = open_db(&file, &options, false)?;
        Self::on(db, file, options)
    }

    /// A new store on `backend` instead of a file (the simulator, and tests that make
    /// the disk fail or lose power). Maintenance that works on the file (backup,
    /// compaction, the file's size) is not available.
    pub fn create_with_backend(
        backend: impl redb::StorageBackend,
        path: &FacilityPath,
        instance: [u8; 4],
        options: StoreOptions,
    ) -> Result<Store, OpenError> {
        let db = backend_db(backend, &options)?;
        init(&db, path, instance)?;
        Self::on(db, PathBuf::from(IN_BACKEND), options)
    }

    /// The store already on `backend` ([`Store::create_with_backend`]), as a node
    /// restarting on it would open it.
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        options: StoreOptions,
    ) -> Result<Store, OpenError> {
        let db = backend_db(backend, &options)?;
        Self::on(db, PathBuf::from(IN_BACKEND), options)
    }

    /// The store on an open database: migrations, the node's identity, the writer.
    fn on(db: Database, file: PathBuf, options: StoreOptions) -> Result<Store, OpenError> {
        let txn = db.begin_write()?;
        migrate(&txn)?;
        let node = {
            let mut meta = txn.open_table(META)?;
            let path = meta
                .get(meta_keys::NODE_PATH)?
                .ok_or_else(|| OpenError::Corrupt("node path is missing".into()))?
                .value()
                .to_vec();
            let path = std::str::from_utf8(&path)
                .ok()
                .and_then(|p| FacilityPath::parse(p).ok())
                .ok_or_else(|| OpenError::Corrupt("node path is not a facility path".into()))?;
            let instance: [u8; 4] = meta
                .get(meta_keys::ACTOR_INSTANCE)?
                .and_then(|v| v.value().try_into().ok())
                .ok_or_else(|| OpenError::Corrupt("actor instance is missing".into()))?;
            let signer = options.trust.as_ref().and_then(|t| t.signer.as_ref());
            if let Some(signer) = signer {
                let certified = signer.certified();
                if certified.facility != path {
                    return Err(OpenError::WrongCertificate {
                        store: path,
                        certificate: certified.facility.clone(),
                    });
                }
                let held = meta.get(meta_keys::NODE_CERT)?.map(|v| v.value().to_vec());
                if held.as_deref() != Some(&*certified.der) {
                    meta.insert(meta_keys::NODE_CERT, &*certified.der)?;
                }
            }
            if let Some(trust) = &options.trust
                && meta
                    .get(meta_keys::CA_CERT)?
                    .map(|v| v.value().to_vec())
                    .as_deref()
                    != Some(trust.authority.der())
            {
                meta.insert(meta_keys::CA_CERT, trust.authority.der())?;
            }
            // With its key, the node writes as its key-bound actor; without (a CLI command
            // on a stopped node) as its unbound one, endorsed when the node next starts
            // (the key may have been renewed meanwhile: a key-bound actor of a key the
            // node no longer holds could never be sealed).
            let key = signer.map(|s| s.key());
            let actor = match key {
                Some(key) => signing_actor(&path, key, instance),
                None => node_actor(&path, instance),
            };
            NodeInfo { actor, path, key }
        };
        // Without a CA from the caller, the one the node last ran with (a CLI command on a
        // stopped node): it can check, not sign.
        let trust = match options.trust.clone() {
            Some(trust) => Some(trust),
            None => crate::trust::stored_authority(&txn)?.map(|authority| StoreTrust {
                authority,
                signer: None,
            }),
        };
        let book = match &trust {
            Some(trust) => Some(crate::trust::load_keybook(&txn, trust)?),
            None => None,
        };
        txn.commit()?;
        let persisted: HashSet<KeyId> = book
            .as_ref()
            .map(|b| crate::trust::persisted_keys(&db, b))
            .transpose()?
            .unwrap_or_default();
        let keys = book.map(|b| Arc::new(RwLock::new(b)));
        let db = Arc::new(db);
        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let writer_trust = WriterTrust {
            keys: keys.clone(),
            signer: options.trust.as_ref().and_then(|t| t.signer.clone()),
        };
        let commits = Arc::new(crate::timings::CommitClock::default());
        let writer = Writer::new(
            db.clone(),
            &node,
            writer_trust,
            persisted,
            options.cache_docs,
            rx,
            commits.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("simpul-store-writer".into())
            .spawn(move || writer.run())
            .map_err(OpenError::Thread)?;
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                file,
                node,
                keys,
                signer: options.trust.as_ref().and_then(|t| t.signer.clone()),
                tx: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(handle)),
                commits,
            }),
        })
    }

    /// How long the writer's durable commits have taken since the store was opened.
    pub fn commit_timings(&self) -> crate::CommitTimings {
        self.inner.commits.snapshot()
    }

    /// The node's signing key, when the store was opened with it (a running node, or a
    /// command given the node's config).
    pub fn signer(&self) -> Option<&Arc<Signer>> {
        self.inner.signer.as_ref()
    }

    /// The district CA the store checks keys against, when it knows one.
    pub fn authority(&self) -> Option<Arc<simpul_trust::Authority>> {
        let keys = self.inner.keys.as_ref()?;
        let book = keys.read().ok()?;
        Some(book.authority().clone())
    }

    /// How long the writer has been at its batch in hand (writes, then the durable
    /// commit); None while it waits for work. A disk that hangs in `fsync` shows here: a
    /// read still answers from the last snapshot, a write does not.
    pub fn writer_busy_for(&self) -> Option<std::time::Duration> {
        self.inner.commits.busy_for()
    }

    /// This node's identity.
    pub fn node(&self) -> &NodeInfo {
        &self.inner.node
    }

    /// The database file.
    pub fn file(&self) -> &Path {
        &self.inner.file
    }

    /// Size of the database file in bytes.
    pub fn file_size(&self) -> std::io::Result<u64> {
        std::fs::metadata(&self.inner.file).map(|m| m.len())
    }

    /// Queues a write and returns a receiver for its outcome (a blocking `recv()` or an
    /// awaitable future). The outcome arrives once the write is durable or refused.
    pub fn write_queued(
        &self,
        id: RecordId,
        at_ms: u64,
        op: impl FnOnce(&mut Option<Automerge>) -> Result<Record, WriteError> + Send + 'static,
    ) -> oneshot::Receiver<Result<WriteOutcome, WriteError>> {
        self.queue(id, at_ms, Op::Write(Box::new(op)))
    }

    pub(crate) fn queue_op(
        &self,
        id: RecordId,
        at_ms: u64,
        op: Op,
    ) -> oneshot::Receiver<Result<WriteOutcome, WriteError>> {
        self.queue(id, at_ms, op)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    fn queue(
        &self,
        id: RecordId,
        at_ms: u64,
        op: Op,
    ) -> oneshot::Receiver<Result<WriteOutcome, WriteError>> {
        let (reply, outcome) = oneshot::channel();
        let request = Request {
            id,
            at_ms,
            op,
            reply,
        };
        let sender = self.inner.tx.lock().ok().and_then(|tx| tx.clone());
        if let Some(sender) = sender {
            // If the writer is gone, the dropped reply makes the receiver report it.
            let _ = sender.send(request);
        }
        outcome
    }

    /// Runs `op` on record `id` on the writer thread and waits until its result is
    /// durable. See [`crate::WriteFn`].
    pub fn write(
        &self,
        id: RecordId,
        at_ms: u64,
        op: impl FnOnce(&mut Option<Automerge>) -> Result<Record, WriteError> + Send + 'static,
    ) -> Result<WriteOutcome, WriteError> {
        self.write_queued(id, at_ms, op)
            .recv()
            .map_err(|_| WriteError::Closed)?
    }

    /// Stores a new record, validated, written by this node's actor. A node with a key
    /// binds the record's id to it ([`RecordId::bound`]: the outcome names the id stored).
    pub fn insert_record(
        &self,
        record: Record,
        today: Date,
        at_ms: u64,
    ) -> Result<WriteOutcome, WriteError> {
        let record = match self.node().key {
            Some(key) => Record {
                id: record.id.bind([key.0[0], key.0[1], key.0[2], key.0[3]]),
                ..record
            },
            None => record,
        };
        let actor = self.node().actor.clone();
        self.write(record.id, at_ms, move |doc| {
            if doc.is_some() {
                return Err(WriteError::AlreadyExists(record.id));
            }
            *doc = Some(record.create_document(actor, today, at_ms)?);
            Ok(record)
        })
    }

    /// Changes a stored record: `edit` gets its current content; the result is validated,
    /// checked against clinical history, and written as field-level changes.
    pub fn update_record(
        &self,
        id: RecordId,
        today: Date,
        at_ms: u64,
        edit: impl FnOnce(&mut Record) -> Result<(), WriteError> + Send + 'static,
    ) -> Result<WriteOutcome, WriteError> {
        self.write(id, at_ms, move |doc| {
            let doc = doc.as_mut().ok_or(WriteError::NotFound(id))?;
            let before = Record::from_document(doc)?;
            let mut record = before.clone();
            edit(&mut record)?;
            record.write_over(&before, doc, today, at_ms)?;
            Ok(record)
        })
    }

    /// Takes in a record from outside (a file another node or app wrote) as this node's
    /// own write: stored if new, or written over the stored record as field-level
    /// changes if not. Either way it is validated, must keep every clinical fact already
    /// held, and is sealed by this node, which vouches for what it imports.
    pub fn import_document(
        &self,
        incoming: &Automerge,
        today: Date,
        at_ms: u64,
    ) -> Result<WriteOutcome, WriteError> {
        let imported = Record::from_document(incoming)?;
        let actor = self.node().actor.clone();
        self.write(imported.id, at_ms, move |slot| {
            match slot.as_mut() {
                None => {
                    *slot = Some(imported.create_document(actor, today, at_ms)?);
                }
                Some(doc) => {
                    let before = Record::from_document(doc)?;
                    imported.write_over(&before, doc, today, at_ms)?;
                }
            }
            Ok(imported)
        })
    }

    /// The certificate of `facility` known here (from a session, a bundle or a seal)
    /// that expires last, of those not revoked.
    pub fn certificate_of(&self, facility: &FacilityPath) -> Option<simpul_trust::Certified> {
        let keys = self.inner.keys.as_ref()?;
        let book = keys.read().ok()?;
        book.newest_of(facility).cloned()
    }

    /// Checks certificates against the district CA and keeps them.
    pub fn remember_certificates(&self, certs: &[(KeyId, Arc<[u8]>)]) -> Result<(), WriteError> {
        self.learn(certs)
    }

    /// Checks the certificates a peer sent against the district CA and keeps them (those
    /// already known, the common case, cost a look-up).
    fn learn(&self, certs: &[(KeyId, Arc<[u8]>)]) -> Result<(), WriteError> {
        if certs.is_empty() {
            return Ok(());
        }
        let keys = self.inner.keys.as_ref().ok_or(WriteError::NoAuthority)?;
        let known = |book: &KeyBook, (key, der): &(KeyId, Arc<[u8]>)| {
            book.get(key).is_some_and(|c| c.der == *der)
        };
        {
            let book = keys.read().map_err(|_| WriteError::Closed)?;
            if certs.iter().all(|c| known(&book, c)) {
                return Ok(());
            }
        }
        let mut book = keys.write().map_err(|_| WriteError::Closed)?;
        for cert in certs {
            if !known(&book, cert) {
                book.learn(&cert.1).map_err(WriteError::Untrusted)?;
            }
        }
        Ok(())
    }

    /// Merges data from a peer into record `id`, judged against what is stored
    /// ([`simpul_trust::admit`]); the writer's outcome, once durable.
    pub fn merge_queued(
        &self,
        id: RecordId,
        incoming: Incoming,
        from: PeerData,
        today: Date,
        at_ms: u64,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome, WriteError>>, WriteError> {
        self.learn(&from.certs)?;
        let op = Op::Admit(Box::new(FromPeer {
            incoming,
            seals: from.seals,
            peer: from.peer,
            today,
        }));
        Ok(self.queue(id, at_ms, op))
    }

    /// Takes in a whole record offered by a peer. If this node let the record go after it
    /// moved away and every change offered is one it had handed to an ancestor, nothing
    /// is stored and the answer is [`Offered::MovedAway`]; otherwise it is merged.
    pub fn offer(
        &self,
        incoming: Automerge,
        saved: Option<Vec<u8>>,
        from: PeerData,
        today: Date,
        at_ms: u64,
    ) -> Result<Offered, WriteError> {
        let id = Record::envelope(&incoming)?.id;
        match self.offer_queued(id, incoming, saved, from, today, at_ms)? {
            Offer::Done(offered) => Ok(offered),
            Offer::Queued(commit) => commit
                .recv()
                .map_err(|_| WriteError::Closed)?
                .map(|outcome| Offered::Stored(Box::new(outcome))),
        }
    }

    /// [`Store::offer`] without waiting for the writer thread: judges a record new here
    /// on this thread (the expensive part: reading it whole, checking its seals), queues
    /// it for the writer, and returns the commit to wait for (which an async caller can
    /// await without holding a thread). `id` is the record the sender named; a document
    /// that is another record is refused when judged.
    pub fn offer_queued(
        &self,
        id: RecordId,
        incoming: Automerge,
        saved: Option<Vec<u8>>,
        from: PeerData,
        today: Date,
        at_ms: u64,
    ) -> Result<Offer, WriteError> {
        self.learn(&from.certs)?;
        let make_from = |incoming: Incoming, from: &PeerData| FromPeer {
            incoming,
            seals: from.seals.clone(),
            peer: from.peer.clone(),
            today,
        };
        if self.meta(id).map_err(Box::new)?.is_some() {
            let op = Op::Admit(Box::new(make_from(Incoming::Document(incoming), &from)));
            return Ok(Offer::Queued(self.queue(id, at_ms, op)));
        }
        if let Some(evidence) = self.moved_away(id, &incoming)? {
            return Ok(Offer::Done(Offered::MovedAway(Box::new(evidence))));
        }
        // New here (the common case of a first sync): judge it, and keep the bytes it
        // arrived as, on this thread, so the writer thread only checks it is still new
        // and commits.
        let keys = self.inner.keys.as_ref().ok_or(WriteError::NoAuthority)?;
        let mut slot = None;
        let admitted = {
            let book = keys.read().map_err(|_| WriteError::Closed)?;
            let judge = simpul_trust::Judge {
                keys: &book,
                local: &self.inner.node.path,
                peer: &from.peer,
                today,
                purpose: Purpose::Store,
            };
            simpul_trust::admit(
                &judge,
                id,
                &mut slot,
                &[],
                Incoming::Document(incoming),
                &from.seals,
            )?
        };
        let doc = slot.ok_or(WriteError::Closed)?;
        let saved = saved.unwrap_or_else(|| crate::writer::snapshot_bytes(&doc));
        let created = Created {
            admitted,
            doc,
            saved,
            from: make_from(
                Incoming::Changes {
                    bytes: Vec::new(),
                    heads: Vec::new(),
                },
                &from,
            ),
        };
        Ok(Offer::Queued(self.queue(
            id,
            at_ms,
            Op::Create(Box::new(created)),
        )))
    }

    /// The evidence of the move, when this node let `id` go after it moved away and an
    /// ancestor has every change of `incoming`.
    fn moved_away(&self, id: RecordId, incoming: &Automerge) -> Result<Option<Sealed>, WriteError> {
        let txn = self.inner.db.begin_read()?;
        let tombstones = txn.open_table(TOMBSTONES)?;
        let Some(row) = tombstones.get(id.as_bytes())? else {
            return Ok(None);
        };
        let gone: HashSet<&[u8]> = row.value().chunks(32).collect();
        let covered = incoming
            .get_changes_meta(&[])
            .iter()
            .all(|c| gone.contains(&c.hash.0[..]));
        if !covered {
            return Ok(None);
        }
        let moved = txn.open_table(MOVED)?;
        let evidence = match moved.get(id.as_bytes())? {
            Some(row) => {
                let (bytes, seals): (Vec<u8>, Vec<u8>) = postcard::from_bytes(row.value())
                    .map_err(|e| ReadError::Corrupt {
                        id,
                        reason: format!("move evidence: {e}"),
                    })
                    .map_err(Box::new)?;
                let seals = simpul_trust::decode_seals(&seals).unwrap_or_default();
                let certs = self.certs_for(&seals);
                Sealed {
                    bytes,
                    seals,
                    certs,
                }
            }
            None => Sealed::default(),
        };
        Ok(Some(evidence))
    }

    /// An ancestor's evidence that record `id` moved away from this node (changes up to
    /// the move, with their seals): if the record still has the heads digest `digest`
    /// and, with the evidence merged through admission, is no longer this node's to hold
    /// by its own rules, it is let go, leaving a tombstone and the evidence. Returns
    /// whether it was let go.
    pub fn moved(
        &self,
        id: RecordId,
        digest: [u8; 32],
        evidence: Vec<u8>,
        from: PeerData,
        today: Date,
        at_ms: u64,
    ) -> Result<bool, WriteError> {
        self.learn(&from.certs)?;
        let op = Op::Moved(
            digest,
            Box::new(FromPeer {
                incoming: Incoming::Changes {
                    bytes: evidence,
                    heads: Vec::new(),
                },
                seals: from.seals,
                peer: from.peer,
                today,
            }),
        );
        match self
            .queue(id, at_ms, op)
            .recv()
            .map_err(|_| WriteError::Closed)?
        {
            Ok(outcome) => Ok(outcome.changed),
            Err(WriteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The record's metadata, if stored.
    pub fn meta(&self, id: RecordId) -> Result<Option<RecordMeta>, ReadError> {
        read_meta(&self.inner.db.begin_read()?, id)
    }

    /// The record's document, loaded from disk and checked against its stored digest.
    pub fn load(&self, id: RecordId) -> Result<Option<(RecordMeta, Automerge)>, ReadError> {
        load_in(&self.inner.db.begin_read()?, id)
    }

    /// The record's content.
    pub fn record(&self, id: RecordId) -> Result<Option<(RecordMeta, Record)>, ReadError> {
        let Some((meta, doc)) = self.load(id)? else {
            return Ok(None);
        };
        let record = Record::from_document(&doc).map_err(|e| ReadError::Corrupt {
            id,
            reason: e.to_string(),
        })?;
        Ok(Some((meta, record)))
    }

    /// The record's stored bytes (snapshot then change chunks), loadable by any
    /// Automerge implementation as one document.
    pub fn stored_bytes(&self, id: RecordId) -> Result<Option<Vec<u8>>, ReadError> {
        let txn = self.inner.db.begin_read()?;
        let Some(meta) = read_meta(&txn, id)? else {
            return Ok(None);
        };
        stored_bytes(
            &txn.open_table(SNAPSHOTS)?,
            &txn.open_table(CHANGES)?,
            id,
            &meta,
        )
        .map(Some)
    }

    /// Every record's id and metadata, in id order. Loads no document.
    pub fn list(&self) -> Result<Vec<(RecordId, RecordMeta)>, ReadError> {
        let txn = self.inner.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let mut out = Vec::with_capacity(records.len()? as usize);
        for row in records.iter()? {
            let (key, value) = row?;
            let id = RecordId::from_bytes(*key.value());
            let meta = RecordMeta::decode(value.value())
                .map_err(|reason| ReadError::Corrupt { id, reason })?;
            out.push((id, meta));
        }
        Ok(out)
    }

    /// The records this node holds that `peer` should hold too, as reconciliation items,
    /// in id order. Read from the index by key ranges: the `up` records of the peer's
    /// subtree and the `down` records of the peer and its ancestors; records marked
    /// damaged are left out. Loads no document.
    pub fn sync_items(&self, peer: &FacilityPath) -> Result<Vec<SyncItem>, ReadError> {
        let txn = self.inner.db.begin_read()?;
        let index = txn.open_table(INDEX)?;
        let damaged = crate::damaged::damaged_ids(&txn)?;
        let mut items = std::collections::BTreeMap::new();
        let mut add = |range: redb::Range<
            '_,
            (&'static str, &'static [u8; 16]),
            &'static [u8; 40],
        >|
         -> Result<(), ReadError> {
            for row in range {
                let (key, value) = row?;
                let id = RecordId::from_bytes(*key.value().1);
                if damaged.contains(&id) {
                    continue;
                }
                let v = value.value();
                let time = u64::from_be_bytes(v[..8].try_into().unwrap_or_default());
                let digest: [u8; 32] = v[8..].try_into().unwrap_or_default();
                items.insert(id, SyncItem { id, time, digest });
            }
            Ok(())
        };
        let (lo, hi) = ([0u8; 16], [0xffu8; 16]);
        let exact = format!("up:{peer}");
        add(index.range((exact.as_str(), &lo)..=(exact.as_str(), &hi))?)?;
        // '0' follows '/' in ASCII: this range is exactly the keys "up:<peer>/...".
        let below = format!("up:{peer}/");
        let end = format!("up:{peer}0");
        add(index.range((below.as_str(), &lo)..(end.as_str(), &lo))?)?;
        let mut ancestor = Some(peer.clone());
        while let Some(a) = ancestor {
            let key = format!("down:{a}");
            add(index.range((key.as_str(), &lo)..=(key.as_str(), &hi))?)?;
            ancestor = a.parent();
        }
        Ok(items.into_values().collect())
    }

    /// Records by kind and by the facility they belong to (the first path of their
    /// scope), counted in one pass over the metadata without collecting it: what
    /// [`Store::census`] reads from its counts, for `verify` and tests to compare.
    pub fn census_scanned(&self) -> Result<Census, ReadError> {
        let txn = self.inner.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let mut census = Census::default();
        for row in records.iter()? {
            let (key, value) = row?;
            let id = RecordId::from_bytes(*key.value());
            let meta = RecordMeta::decode(value.value())
                .map_err(|reason| ReadError::Corrupt { id, reason })?;
            *census.by_kind.entry(meta.kind.to_string()).or_default() += 1;
            let facility = meta
                .scope
                .paths
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
            *census.by_facility.entry(facility).or_default() += 1;
        }
        Ok(census)
    }

    pub(crate) fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Number of records stored.
    pub fn count(&self) -> Result<u64, ReadError> {
        let txn = self.inner.db.begin_read()?;
        Ok(txn.open_table(RECORDS)?.len()?)
    }
}
