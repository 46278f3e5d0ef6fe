//! A simulated node's storage on the real store: `simpul_store::Store` (its writer
//! thread, batches, change chunks and compaction, index key ranges, tombstones, the
//! new-record path) on a disk in memory that a crash cuts back to what was last made
//! durable. It answers the session's effects as the node's driver does, and keeps a view
//! of what it holds, read back from the store after every write and after every crash,
//! for the checkers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use simpul_model::automerge::Automerge;
use simpul_model::{Date, FacilityPath, Incoming, Record, RecordId};
use simpul_store::faults::Disk;
use simpul_store::{Offered, PeerData, Store, StoreOptions, StoreTrust, WriteError, WriteOutcome};
use simpul_sync::{Effect, Item, Refused, SealedDoc, Session, StoreOutcome};
use simpul_trust::{Authority, KeyCerts, Seal, Sealed, Signer};

use crate::memstore::{FromPeer, Stored};

/// A node's real store on a simulated disk.
pub struct DiskStore {
    disk: Disk,
    options: StoreOptions,
    /// The open store (none only while a crash swaps it).
    store: Option<Store>,
    /// What the store holds, read back from it.
    view: BTreeMap<RecordId, Stored>,
    quarantined: BTreeSet<RecordId>,
    /// The time writes are stamped with (ms), advancing by one each write.
    clock_ms: u64,
}

/// Why a simulated node's store could not be made or reopened (a simulator bug).
pub type Broken = String;

impl DiskStore {
    /// An empty store for the node at `path`, sealing with `signer` and writing with the
    /// actor of `instance` (the simulator's own actor for the node).
    pub fn create(
        path: &FacilityPath,
        instance: [u8; 4],
        authority: Arc<Authority>,
        signer: Arc<Signer>,
    ) -> Result<Self, Broken> {
        let disk = Disk::new();
        let options = StoreOptions {
            // Few documents cached: the simulator's writes go to disk and back.
            cache_docs: 4,
            page_cache_bytes: 1 << 20,
            trust: Some(StoreTrust {
                authority,
                signer: Some(signer),
            }),
        };
        let store = Store::create_with_backend(disk.backend(), path, instance, options.clone())
            .map_err(|e| format!("store for {path}: {e}"))?;
        Ok(Self {
            disk,
            options,
            store: Some(store),
            view: BTreeMap::new(),
            quarantined: BTreeSet::new(),
            clock_ms: 1,
        })
    }

    /// From now on the disk reports syncs without making them durable (until the next
    /// crash): a fault the durability checker must catch.
    pub fn lie_about_syncs(&self) {
        self.disk.freeze_after(self.disk.syncs());
    }

    /// The actor the store writes with.
    pub fn actor(&self) -> &simpul_model::automerge::ActorId {
        &self.store().node().actor
    }

    /// Every record, as the store holds it.
    pub fn records(&self) -> &BTreeMap<RecordId, Stored> {
        &self.view
    }

    /// Records in which the store set an equivocating change aside.
    pub fn quarantined(&self) -> &BTreeSet<RecordId> {
        &self.quarantined
    }

    /// Loads a record's document from the store.
    pub fn load(&self, id: RecordId) -> Option<Automerge> {
        self.store().load(id).ok().flatten().map(|(_, doc)| doc)
    }

    /// The power goes: the disk keeps what the last completed sync made durable, and the
    /// store is opened on it again, as the node restarts.
    pub fn crash(&mut self) -> Result<(), Broken> {
        // The old store's writer thread lets go of the disk first.
        drop(self.store.take());
        self.disk.power_cut();
        let store = Store::open_with_backend(self.disk.backend(), self.options.clone())
            .map_err(|e| format!("reopening after a crash: {e}"))?;
        self.store = Some(store);
        self.reread_all()
    }

    /// The real store, for what the simulator does to it beside sessions (bundles).
    pub fn store_ref(&self) -> &Store {
        self.store()
    }

    /// The clock writes are stamped with (ms).
    pub fn now_ms(&self) -> u64 {
        self.clock_ms
    }

    /// Reads back everything held, after writes made beside the simulator's own.
    pub fn refresh(&mut self) -> Result<(), Broken> {
        self.reread_all()
    }

    fn store(&self) -> &Store {
        self.store
            .as_ref()
            .unwrap_or_else(|| unreachable!("the store is reopened before crash() returns"))
    }

    fn tick(&mut self) -> u64 {
        self.clock_ms += 1;
        self.clock_ms
    }

    fn reread_all(&mut self) -> Result<(), Broken> {
        self.view.clear();
        let ids: Vec<RecordId> = self
            .store()
            .list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for id in ids {
            self.reread(id);
        }
        let (entries, _) = self
            .store()
            .quarantine(usize::MAX)
            .map_err(|e| e.to_string())?;
        self.quarantined = entries.into_iter().map(|(id, _)| id).collect();
        Ok(())
    }

    /// Reads record `id` back from the store into the view (or drops it, if gone).
    fn reread(&mut self, id: RecordId) {
        match self.store().load_sealed(id) {
            Ok(Some((_, doc, seals))) => {
                let Ok(record) = Record::from_document(&doc) else {
                    self.view.remove(&id);
                    return;
                };
                self.view.insert(
                    id,
                    Stored {
                        bytes: doc.save(),
                        record,
                        heads: doc.get_heads(),
                        seals,
                    },
                );
            }
            _ => {
                self.view.remove(&id);
            }
        }
    }

    fn after_write(&mut self, outcome: &WriteOutcome) {
        if !outcome.quarantined.is_empty() {
            self.quarantined.insert(outcome.id);
        }
        self.reread(outcome.id);
    }

    /// Stores a document the node wrote (its own actor's changes on what it holds).
    pub fn put_local(
        &mut self,
        node: &FacilityPath,
        doc: &Automerge,
        record: Record,
        _signer: &Signer,
    ) -> Result<(), String> {
        let at_ms = self.tick();
        let (doc, id) = (doc.clone(), record.id);
        let outcome = self
            .store()
            .write(id, at_ms, move |slot| {
                *slot = Some(doc);
                Ok(record)
            })
            .map_err(|e| format!("node {node} could not write record {id}: {e}"))?;
        self.after_write(&outcome);
        Ok(())
    }

    /// Merges what a peer sent, judged by the store against what it holds, and answers
    /// as the node's driver answers the session.
    pub fn merge(
        &mut self,
        _node: &FacilityPath,
        id: RecordId,
        incoming: Incoming,
        from: FromPeer<'_>,
        today: Date,
    ) -> Result<StoreOutcome, Refused> {
        let at_ms = self.tick();
        let from = PeerData {
            peer: from.peer.clone(),
            seals: from.seals,
            certs: from.certs,
        };
        let result = match incoming {
            Incoming::Document(doc) => self.store().offer(doc, None, from, today, at_ms),
            changes => self
                .store()
                .merge_queued(id, changes, from, today, at_ms)
                .and_then(|commit| {
                    commit
                        .recv()
                        .map_err(|_| WriteError::Closed)?
                        .map(|w| Offered::Stored(Box::new(w)))
                }),
        };
        match result {
            Ok(Offered::Stored(w)) => {
                self.after_write(&w);
                Ok(self.stored(*w))
            }
            Ok(Offered::MovedAway(evidence)) => Ok(StoreOutcome::MovedAway(*evidence)),
            Err(e) => {
                let hostile = e.is_hostile();
                Err(Refused {
                    reason: e.to_string(),
                    hostile,
                })
            }
        }
    }

    /// What the session is told of a durable merge (as the node's driver tells it).
    fn stored(&self, w: WriteOutcome) -> StoreOutcome {
        let moved = w.moved_from_peer.map(|bytes| Sealed {
            certs: self.store().certs_for(&w.seals),
            bytes,
            seals: w.seals.clone(),
        });
        StoreOutcome::Stored {
            scope: w.meta.scope,
            moved,
            set_aside: w.quarantined.len(),
        }
    }

    /// An ancestor's evidence that a record moved away: let it go if it may.
    pub fn moved(
        &mut self,
        _node: &FacilityPath,
        id: RecordId,
        digest: [u8; 32],
        evidence: Vec<u8>,
        from: FromPeer<'_>,
        today: Date,
    ) -> bool {
        let at_ms = self.tick();
        let from = PeerData {
            peer: from.peer.clone(),
            seals: from.seals,
            certs: from.certs,
        };
        let done = self
            .store()
            .moved(id, digest, evidence, from, today, at_ms)
            .unwrap_or(false);
        self.reread(id);
        done
    }

    /// A record's seals and their keys' certificates, as a push sends them.
    pub fn sealing(&self, id: RecordId) -> (Vec<Seal>, KeyCerts) {
        let seals = self.store().seals(id).unwrap_or_default();
        let certs = self.store().certs_for(&seals);
        (seals, certs)
    }

    /// The items a peer at `peer` should share with this node, from the store's index
    /// (`filter` false: every record, for the simulator's own choices).
    pub fn items_for(&self, peer: &FacilityPath, filter: bool) -> Vec<Item> {
        if filter {
            return self
                .store()
                .sync_items(peer)
                .unwrap_or_default()
                .into_iter()
                .map(|i| Item {
                    time: i.time,
                    id: i.id,
                    digest: i.digest,
                })
                .collect();
        }
        self.view
            .iter()
            .filter_map(|(id, s)| {
                let doc = Automerge::load(&s.bytes).ok()?;
                Some(Item {
                    time: simpul_model::content_time(&doc),
                    id: *id,
                    digest: simpul_model::heads_digest(&s.heads),
                })
            })
            .collect()
    }

    /// Answers a session's reads from the store, as the driver does; hands any other
    /// effect back.
    pub fn answer_read(
        &self,
        peer: &FacilityPath,
        _filter: bool,
        session: &mut Session,
        effect: Effect,
    ) -> Option<Effect> {
        match effect {
            Effect::ReadItems => session.handle_items(self.items_for(peer, true)),
            Effect::ReadRecord { id } => {
                session.handle_record_bytes(id, self.store().outgoing(id).ok().flatten());
            }
            Effect::LoadDocument { id } => {
                let doc = self
                    .store()
                    .load_sealed(id)
                    .ok()
                    .flatten()
                    .map(|(_, doc, seals)| {
                        let certs = self.store().certs_for(&seals);
                        SealedDoc { doc, seals, certs }
                    });
                session.handle_document(id, doc);
            }
            other => return Some(other),
        }
        None
    }
}
