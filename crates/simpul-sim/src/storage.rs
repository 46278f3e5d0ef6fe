//! Where a simulated node keeps its records: the real store on a disk that crashes
//! ([`DiskStore`], the default), or [`MemStore`], which the fault-injection runs need (a
//! store made to skip scope or to acknowledge before it persists: bugs the real store
//! cannot be talked into, which the checkers must catch).

use std::collections::{BTreeMap, BTreeSet};

use simpul_model::automerge::Automerge;
use simpul_model::{Date, FacilityPath, Incoming, Record, RecordId};
use simpul_sync::{Effect, Item, Refused, Session, StoreOutcome};
use simpul_trust::{KeyCerts, Seal, Signer};

use crate::diskstore::DiskStore;
use crate::memstore::{FromPeer, MemStore, Stored};

/// A simulated node's storage.
pub enum Storage {
    /// The real store on a simulated disk.
    Disk(Box<DiskStore>),
    /// The simulator's own store.
    Mem(Box<MemStore>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Storage::Disk($s) => $e,
            Storage::Mem($s) => $e,
        }
    };
}

impl Storage {
    /// Every record held.
    pub fn records(&self) -> &BTreeMap<RecordId, Stored> {
        each!(self, s => s.records())
    }

    /// Records in which an equivocating change was set aside.
    pub fn quarantined(&self) -> &BTreeSet<RecordId> {
        each!(self, s => s.quarantined())
    }

    /// A record's document.
    pub fn load(&self, id: RecordId) -> Option<Automerge> {
        each!(self, s => s.load(id))
    }

    /// Stores a document the node wrote itself.
    pub fn put_local(
        &mut self,
        node: &FacilityPath,
        doc: &Automerge,
        record: Record,
        signer: &Signer,
    ) -> Result<(), String> {
        each!(self, s => s.put_local(node, doc, record, signer))
    }

    /// Merges what a peer sent, judged against what is held.
    pub fn merge(
        &mut self,
        node: &FacilityPath,
        id: RecordId,
        incoming: Incoming,
        from: FromPeer<'_>,
        today: Date,
    ) -> Result<StoreOutcome, Refused> {
        each!(self, s => s.merge(node, id, incoming, from, today))
    }

    /// An ancestor's evidence that a record moved away: let it go if it may.
    pub fn moved(
        &mut self,
        node: &FacilityPath,
        id: RecordId,
        digest: [u8; 32],
        evidence: Vec<u8>,
        from: FromPeer<'_>,
        today: Date,
    ) -> bool {
        each!(self, s => s.moved(node, id, digest, evidence, from, today))
    }

    /// A record's seals and their certificates.
    pub fn sealing(&self, id: RecordId) -> (Vec<Seal>, KeyCerts) {
        each!(self, s => s.sealing(id))
    }

    /// The items shared with `peer` (all of them unless `filter`).
    pub fn items_for(&self, peer: &FacilityPath, filter: bool) -> Vec<Item> {
        each!(self, s => s.items_for(peer, filter))
    }

    /// Answers a session's reads; hands any other effect back.
    pub fn answer_read(
        &self,
        peer: &FacilityPath,
        filter: bool,
        session: &mut Session,
        effect: Effect,
    ) -> Option<Effect> {
        each!(self, s => s.answer_read(peer, filter, session, effect))
    }

    /// The power goes and the node restarts: the real store keeps what was durable; the
    /// simulator's store keeps everything (it only ever holds what is durable).
    pub fn crash(&mut self) -> Result<(), String> {
        match self {
            Storage::Disk(s) => s.crash(),
            Storage::Mem(_) => Ok(()),
        }
    }

    /// The simulator's store, for the fault-injection runs that reach into it.
    pub fn as_mem_mut(&mut self) -> Option<&mut MemStore> {
        match self {
            Storage::Mem(s) => Some(s),
            Storage::Disk(_) => None,
        }
    }

    /// The simulator's store, for the fault-injection runs that reach into it.
    pub fn as_mem(&self) -> Option<&MemStore> {
        match self {
            Storage::Mem(s) => Some(s),
            Storage::Disk(_) => None,
        }
    }
}
