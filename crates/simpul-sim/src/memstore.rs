//! A node's durable storage in the simulator: saved bytes per record, merged through the
//! same model checks as the real store. What is here survives a simulated crash.

use std::collections::{BTreeMap, BTreeSet};

use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{
    Date, FacilityPath, Incoming, Record, RecordId, content_time, heads_digest, merge_incoming,
};
use simpul_sync::{Effect, Item, Session, StoreOutcome};

/// One stored record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Saved document bytes (what a disk would hold).
    pub bytes: Vec<u8>,
    /// The record as of those bytes.
    pub record: Record,
    /// Heads of those bytes.
    pub heads: Vec<ChangeHash>,
}

/// A simulated node's records.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    records: BTreeMap<RecordId, Stored>,
    /// Records let go after moving away: every change hash the node had, which an
    /// ancestor had acknowledged.
    tombstones: BTreeMap<RecordId, BTreeSet<ChangeHash>>,
    /// When false (an injected fault), records outside the node's scope are stored too.
    pub enforce_scope: bool,
}

impl MemStore {
    /// An empty store that refuses out-of-scope records.
    pub fn new() -> Self {
        Self {
            records: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            enforce_scope: true,
        }
    }

    /// Every record.
    pub fn records(&self) -> &BTreeMap<RecordId, Stored> {
        &self.records
    }

    /// Loads a record's document.
    pub fn load(&self, id: RecordId) -> Option<Automerge> {
        self.records
            .get(&id)
            .and_then(|s| Automerge::load(&s.bytes).ok())
    }

    /// Merges data into a record, as the real store's writer does. A whole record this
    /// node let go after it moved away, offered again with no change the node had not
    /// already handed up, is not stored: [`StoreOutcome::MovedAway`].
    pub fn merge(
        &mut self,
        node: &FacilityPath,
        id: RecordId,
        incoming: Incoming,
        today: Date,
    ) -> Result<StoreOutcome, String> {
        if let (Incoming::Document(doc), Some(gone), false) = (
            &incoming,
            self.tombstones.get(&id),
            self.records.contains_key(&id),
        ) && doc
            .get_changes_meta(&[])
            .iter()
            .all(|c| gone.contains(&c.hash))
        {
            return Ok(StoreOutcome::MovedAway);
        }
        let mut slot = self.load(id);
        let record = merge_incoming(&mut slot, incoming, today).map_err(|e| e.to_string())?;
        let doc = slot.ok_or("no document")?;
        if record.id != id {
            return Err(format!("document is record {}, not {id}", record.id));
        }
        if self.enforce_scope && !record.scope.held_by(node) {
            return Err(format!("record {id} is outside the scope of {node}"));
        }
        let heads = doc.get_heads();

        self.records.insert(
            id,
            Stored {
                bytes: doc.save(),
                record: record.clone(),
                heads,
            },
        );
        Ok(StoreOutcome::Stored {
            scope: record.scope,
        })
    }

    /// Deletes a record if its heads digest is still `digest`, leaving a tombstone of its
    /// change hashes; returns whether it did.
    pub fn purge_if(&mut self, id: RecordId, digest: [u8; 32]) -> bool {
        match self.records.get(&id) {
            Some(s) if heads_digest(&s.heads) == digest => {
                if let Some(doc) = self.load(id) {
                    let hashes = doc.get_changes_meta(&[]).into_iter().map(|c| c.hash);
                    self.tombstones.entry(id).or_default().extend(hashes);
                }
                self.records.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Stores a document this node created or changed itself (refused, like the real
    /// store refuses it, when the record is outside the node's scope).
    pub fn put_local(
        &mut self,
        node: &FacilityPath,
        doc: &Automerge,
        record: Record,
    ) -> Result<(), String> {
        if self.enforce_scope && !record.scope.held_by(node) {
            return Err(format!(
                "node {node} wrote record {}, outside its own scope",
                record.id
            ));
        }
        let heads = doc.get_heads();
        self.records.insert(
            record.id,
            Stored {
                bytes: doc.save(),
                record,
                heads,
            },
        );
        Ok(())
    }

    /// Answers a session's reads from this store (its items for `peer`, filtered by scope
    /// when `filter`; saved bytes; documents); hands any other effect back.
    pub fn answer_read(
        &self,
        peer: &FacilityPath,
        filter: bool,
        session: &mut Session,
        effect: Effect,
    ) -> Option<Effect> {
        match effect {
            Effect::ReadItems => session.handle_items(self.items_for(peer, filter)),
            Effect::ReadRecord { id } => {
                let bytes = self.records.get(&id).map(|s| s.bytes.clone());
                session.handle_record_bytes(id, bytes);
            }
            Effect::LoadDocument { id } => session.handle_document(id, self.load(id)),
            other => return Some(other),
        }
        None
    }

    /// The items a peer at `peer` should share with this node.
    pub fn items_for(&self, peer: &FacilityPath, filter: bool) -> Vec<Item> {
        self.records
            .iter()
            .filter(|(_, s)| !filter || s.record.scope.held_by(peer))
            .filter_map(|(id, s)| {
                let doc = Automerge::load(&s.bytes).ok()?;
                Some(Item {
                    time: content_time(&doc),
                    id: *id,
                    digest: heads_digest(&s.heads),
                })
            })
            .collect()
    }
}
