//! A node's durable storage in the simulator: saved bytes and seals per record, judged
//! through the same admission as the real store. What is here survives a simulated crash.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{
    Date, FacilityPath, Incoming, Record, RecordId, content_time, heads_digest, merge_incoming,
};
use simpul_sync::{Effect, Item, Refused, SealedDoc, Session, StoreOutcome};
use simpul_trust::{
    Judge, KeyBook, KeyCerts, KeyId, Purpose, Seal, SealKind, Sealed, Signer, admit,
    evidence_of_move,
};

/// One stored record.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Saved document bytes (what a disk would hold).
    pub bytes: Vec<u8>,
    /// The record as of those bytes.
    pub record: Record,
    /// Heads of those bytes.
    pub heads: Vec<ChangeHash>,
    /// The seals kept beside it.
    pub seals: Vec<Seal>,
}

/// What a peer sent with record data.
pub struct FromPeer<'a> {
    /// The sender.
    pub peer: &'a FacilityPath,
    /// The seals that came with it.
    pub seals: Vec<Seal>,
    /// Certificates the peer sent for their keys.
    pub certs: KeyCerts,
}

/// A simulated node's records.
#[derive(Debug, Clone)]
pub struct MemStore {
    records: BTreeMap<RecordId, Stored>,
    /// Records let go after moving away: every change hash the node had, which an
    /// ancestor had acknowledged, and the evidence of the move.
    tombstones: BTreeMap<RecordId, (BTreeSet<ChangeHash>, Sealed)>,
    /// The keys this node knows (certificates arrive from peers, checked against the CA).
    keys: KeyBook,
    /// Records in which this node set an equivocating change aside.
    quarantined: BTreeSet<RecordId>,
    /// When false (an injected fault), records outside the node's scope are stored too,
    /// without admission.
    pub enforce_scope: bool,
}

impl MemStore {
    /// An empty store that judges what peers send with `keys`.
    pub fn new(keys: KeyBook) -> Self {
        Self {
            records: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            keys,
            quarantined: BTreeSet::new(),
            enforce_scope: true,
        }
    }

    /// Every record.
    pub fn records(&self) -> &BTreeMap<RecordId, Stored> {
        &self.records
    }

    /// The keys this node knows.
    pub fn keys(&self) -> &KeyBook {
        &self.keys
    }

    /// Records in which this node set an equivocating change aside.
    pub fn quarantined(&self) -> &BTreeSet<RecordId> {
        &self.quarantined
    }

    /// Loads a record's document.
    pub fn load(&self, id: RecordId) -> Option<Automerge> {
        self.records
            .get(&id)
            .and_then(|s| Automerge::load(&s.bytes).ok())
    }

    fn certs_for(&self, seals: &[Seal]) -> Vec<(KeyId, Arc<[u8]>)> {
        let mut out: Vec<(KeyId, Arc<[u8]>)> = Vec::new();
        for s in seals {
            if let Some(c) = self.keys.get(&s.key)
                && !out.iter().any(|(k, _)| *k == s.key)
            {
                out.push((s.key, c.der.clone()));
            }
        }
        out
    }

    fn learn(&mut self, certs: &[(KeyId, Arc<[u8]>)]) -> Result<(), String> {
        for (_, der) in certs {
            self.keys.learn(der).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Merges data from a peer into a record, as the real store's writer does: judged by
    /// admission against what is stored. A whole record this node let go after it moved
    /// away, offered again with no change the node had not already handed up, is not
    /// stored: [`StoreOutcome::MovedAway`], with the evidence.
    pub fn merge(
        &mut self,
        node: &FacilityPath,
        id: RecordId,
        incoming: Incoming,
        from: FromPeer<'_>,
        today: Date,
    ) -> Result<StoreOutcome, Refused> {
        self.learn(&from.certs)?;
        if let (Incoming::Document(doc), Some((gone, evidence)), false) = (
            &incoming,
            self.tombstones.get(&id),
            self.records.contains_key(&id),
        ) && doc
            .get_changes_meta(&[])
            .iter()
            .all(|c| gone.contains(&c.hash))
        {
            return Ok(StoreOutcome::MovedAway(evidence.clone()));
        }
        let mut slot = self.load(id);
        let sent = match &incoming {
            Incoming::Document(d) => d.get_heads(),
            Incoming::Changes { heads, .. } => heads.clone(),
        };
        let stored_seals = self
            .records
            .get(&id)
            .map(|s| s.seals.clone())
            .unwrap_or_default();
        let (record, seals, set_aside, moved) = if self.enforce_scope {
            let judge = Judge {
                keys: &self.keys,
                local: node,
                peer: from.peer,
                today,
                purpose: Purpose::Store,
            };
            let a = admit(&judge, id, &mut slot, &stored_seals, incoming, &from.seals).map_err(
                |e| Refused {
                    hostile: e.is_hostile(),
                    reason: e.to_string(),
                },
            )?;
            (a.record, a.seals, a.quarantined.len(), a.moved_from_peer)
        } else {
            let record = merge_incoming(&mut slot, incoming, today).map_err(|e| e.to_string())?;
            (record, from.seals, 0, false)
        };
        let doc = slot.ok_or_else(|| "no document".to_string())?;
        if record.id != id {
            return Err(format!("document is record {}, not {id}", record.id).into());
        }
        if self.enforce_scope && !record.scope.held_by(node) {
            return Err(format!("record {id} is outside the scope of {node}").into());
        }
        let moved = moved.then(|| Sealed {
            bytes: evidence_of_move(&doc, &sent),
            seals: seals.clone(),
            certs: self.certs_for(&seals),
        });
        let scope = record.scope.clone();
        if set_aside > 0 {
            self.quarantined.insert(id);
        }
        self.records.insert(
            id,
            Stored {
                bytes: doc.save(),
                record,
                heads: doc.get_heads(),
                seals,
            },
        );
        Ok(StoreOutcome::Stored {
            scope,
            moved,
            set_aside,
        })
    }

    /// An ancestor's evidence that a record moved away: if the record still has the heads
    /// digest `digest` and, merged with the evidence, is no longer this node's to hold,
    /// it is deleted, leaving a tombstone of its change hashes and the evidence. Returns
    /// whether it was.
    pub fn moved(
        &mut self,
        node: &FacilityPath,
        id: RecordId,
        digest: [u8; 32],
        evidence: Vec<u8>,
        from: FromPeer<'_>,
        today: Date,
    ) -> bool {
        if self.learn(&from.certs).is_err() {
            return false;
        }
        let Some(stored) = self.records.get(&id) else {
            return false;
        };
        if heads_digest(&stored.heads) != digest {
            return false;
        }
        let mut slot = self.load(id);
        let judge = Judge {
            keys: &self.keys,
            local: node,
            peer: from.peer,
            today,
            purpose: Purpose::Evidence,
        };
        let incoming = Incoming::Changes {
            bytes: evidence,
            heads: Vec::new(),
        };
        let Ok(admitted) = admit(&judge, id, &mut slot, &stored.seals, incoming, &from.seals)
        else {
            return false;
        };
        let Some(merged) = slot.filter(|_| !admitted.held_here) else {
            return false;
        };
        let hashes = merged.get_changes_meta(&[]).into_iter().map(|c| c.hash);
        let certs = self.certs_for(&admitted.seals);
        let entry = self.tombstones.entry(id).or_default();
        entry.0.extend(hashes);
        entry.1 = Sealed {
            bytes: merged.save(),
            seals: admitted.seals,
            certs,
        };
        self.records.remove(&id);
        true
    }

    /// Stores a document this node created or changed itself, sealed with its key
    /// (refused, like the real store refuses it, when the record is outside the node's
    /// scope).
    pub fn put_local(
        &mut self,
        node: &FacilityPath,
        doc: &Automerge,
        record: Record,
        signer: &Signer,
    ) -> Result<(), String> {
        if self.enforce_scope && !record.scope.held_by(node) {
            return Err(format!(
                "node {node} wrote record {}, outside its own scope",
                record.id
            ));
        }
        let heads = doc.get_heads();
        let mut seals = self
            .records
            .get(&record.id)
            .map(|s| s.seals.clone())
            .unwrap_or_default();
        seals.retain(|s| !(s.key == signer.key() && s.kind == SealKind::Author));
        seals.push(signer.seal(record.id, SealKind::Author, &heads));
        self.records.insert(
            record.id,
            Stored {
                bytes: doc.save(),
                record,
                heads,
                seals,
            },
        );
        Ok(())
    }

    /// A record's seals and their keys' certificates, as a push sends them.
    pub fn sealing(&self, id: RecordId) -> (Vec<Seal>, KeyCerts) {
        let seals = self
            .records
            .get(&id)
            .map(|s| s.seals.clone())
            .unwrap_or_default();
        let certs = self.certs_for(&seals);
        (seals, certs)
    }

    /// Answers a session's reads from this store (its items for `peer`, filtered by scope
    /// when `filter`; sealed bytes; sealed documents); hands any other effect back.
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
                let record = self.records.get(&id).map(|s| Sealed {
                    bytes: s.bytes.clone(),
                    seals: s.seals.clone(),
                    certs: self.certs_for(&s.seals),
                });
                session.handle_record_bytes(id, record);
            }
            Effect::LoadDocument { id } => {
                let doc = self.load(id).map(|doc| {
                    let (seals, certs) = self.sealing(id);
                    SealedDoc { doc, seals, certs }
                });
                session.handle_document(id, doc)
            }
            other => return Some(other),
        }
        None
    }

    /// Carries out `effect` of `session` (at `node`, talking to `peer`) as a node's
    /// driver does: reads answered, merges judged and their outcome handed back, moves
    /// applied. Hands back what is the driver's own business: frames to send, the end,
    /// revocation lists, checks of its copy.
    pub fn carry_out(
        &mut self,
        node: &FacilityPath,
        peer: &FacilityPath,
        session: &mut Session,
        effect: Effect,
        today: Date,
    ) -> Option<Effect> {
        match self.answer_read(peer, true, session, effect)? {
            Effect::Store {
                token,
                id,
                incoming,
                seals,
                certs,
                ..
            } => {
                let from = FromPeer { peer, seals, certs };
                let outcome = self.merge(node, id, incoming, from, today);
                session.handle_stored(token, outcome);
                None
            }
            Effect::Moved {
                id,
                digest,
                evidence,
                seals,
                certs,
            } => {
                let from = FromPeer { peer, seals, certs };
                self.moved(node, id, digest, evidence, from, today);
                None
            }
            other => Some(other),
        }
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
