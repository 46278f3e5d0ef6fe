//! Moving records: whole documents, Automerge sync exchanges, live changes, and the
//! durable-store handshake that acknowledges them.

use simpul_model::automerge::sync::{Message as AmSync, State as AmState, SyncDoc};
use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{Incoming, Record, RecordId, Scope};

use super::{DocSync, Effect, Inbound, Session, StoreOutcome, wire};
use crate::error::SessionError;
use crate::message::Message;
use crate::rules::{check_incoming, shared};

impl Session {
    /// A record's stored bytes, read after [`Effect::ReadRecord`] (`None` if it is gone).
    pub fn handle_record_bytes(&mut self, id: RecordId, bytes: Option<Vec<u8>>) {
        if self.closed || !self.reading.remove(&id) {
            return;
        }
        let requested = self.requested.remove(&id);
        let unsent = match bytes {
            Some(bytes) if bytes.len() + 64 > self.peer_max_frame as usize => {
                self.stats.refused_here += 1;
                Some("larger than the peer's frame limit")
            }
            Some(bytes) => {
                self.unacked.insert(id);
                self.send(&Message::Record {
                    id: wire(id),
                    bytes,
                });
                None
            }
            None => Some("no longer held here"),
        };
        // A peer that asked for the record must not wait for it forever.
        if let (true, Some(reason)) = (requested, unsent) {
            self.send(&Message::Refused {
                id: wire(id),
                reason: reason.into(),
            });
        }
        self.pump();
    }

    pub(super) fn on_record(&mut self, id: RecordId, bytes: &[u8]) -> Result<(), SessionError> {
        self.awaiting.remove(&id);
        let doc = Automerge::load(bytes)
            .map_err(|e| SessionError::Protocol(format!("record {id} does not load: {e}")))?;
        // The envelope is enough to route and check scope; the store validates the rest.
        let record = Record::envelope(&doc)
            .map_err(|e| SessionError::Protocol(format!("record {id}: {e}")))?;
        if record.id != id {
            return Err(SessionError::Protocol(format!(
                "record sent as {id} is {}",
                record.id
            )));
        }
        if !self.cfg.trust_peer_scope {
            check_incoming(&record, &doc, &[], &self.local, &self.peer)?;
        }
        self.store(id, Incoming::Document(doc), Some(bytes.to_vec()));
        Ok(())
    }

    fn store(&mut self, id: RecordId, incoming: Incoming, saved: Option<Vec<u8>>) {
        let token = self.next_token;
        self.next_token += 1;
        self.storing.insert(token, id);
        self.effects.push_back(Effect::Store {
            token,
            id,
            incoming,
            saved,
        });
    }

    /// The result of an [`Effect::Store`]: the record's scope once the merge is durable,
    /// or why the store refused it.
    pub fn handle_stored(&mut self, token: u64, result: Result<StoreOutcome, String>) {
        let Some(id) = self.storing.remove(&token) else {
            return;
        };
        if self.closed {
            return;
        }
        let descendant = self.local.is_ancestor_or_self(&self.peer) && self.local != self.peer;
        match result {
            Ok(StoreOutcome::Stored { scope }) => {
                self.stats.records_received += 1;
                // A descendant sent a version of a record that has since moved out of its
                // subtree: tell it, so it can purge its copy (we hold it durably now).
                let moved_away = !shared(&scope, &self.local, &self.peer)
                    && scope.held_by(&self.local)
                    && descendant;
                if moved_away {
                    self.send(&Message::Moved { id: wire(id) });
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
                if let Some(sync) = self.syncs.get_mut(&id) {
                    sync.storing = false;
                }
                self.step_sync(id);
            }
            Ok(StoreOutcome::MovedAway) => {
                // This node let the record go after an ancestor took all of it; what the
                // descendant offers is covered: it may let go too.
                self.syncs.remove(&id);
                if descendant {
                    self.send(&Message::Moved { id: wire(id) });
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
            }
            Err(reason) => {
                self.stats.refused_here += 1;
                self.syncs.remove(&id);
                self.send(&Message::Refused {
                    id: wire(id),
                    reason,
                });
            }
        }
        self.pump();
    }

    /// Starts an Automerge sync exchange for `id`. The side that opens it (after
    /// reconciliation) speaks first; the other opens one when the first message arrives.
    pub(super) fn open_sync(&mut self, id: RecordId) {
        self.syncs.insert(
            id,
            DocSync {
                doc: None,
                state: AmState::new(),
                inbox: Default::default(),
                stored_heads: Vec::new(),
                storing: false,
                we_done: false,
                peer_done: false,
                rounds: 0,
            },
        );
        self.effects.push_back(Effect::LoadDocument { id });
    }

    pub(super) fn inbound(&mut self, id: RecordId, msg: Inbound) {
        if !self.syncs.contains_key(&id) {
            self.open_sync(id);
        }
        if let Some(sync) = self.syncs.get_mut(&id) {
            sync.inbox.push_back(msg);
            sync.peer_done = false;
        }
        self.step_sync(id);
    }

    /// A record's document, loaded after [`Effect::LoadDocument`] (`None` if this node
    /// does not hold it).
    pub fn handle_document(&mut self, id: RecordId, doc: Option<Automerge>) {
        if self.closed {
            return;
        }
        if !self.syncs.contains_key(&id) {
            return;
        }
        // A record the peer should not hold is not synced with it, whoever asked: the
        // Automerge sync protocol would send its changes.
        let not_shared = doc.as_ref().is_some_and(|d| {
            Record::envelope(d).map_or(true, |e| !shared(&e.scope, &self.local, &self.peer))
        });
        if not_shared {
            self.syncs.remove(&id);
            self.stats.refused_here += 1;
            self.send(&Message::Refused {
                id: wire(id),
                reason: "not shared with you".into(),
            });
            self.pump();
            return;
        }
        let Some(sync) = self.syncs.get_mut(&id) else {
            return;
        };
        match doc {
            Some(doc) => {
                sync.stored_heads = doc.get_heads();
                sync.doc = Some(doc);
                self.step_sync(id);
            }
            None => {
                // We do not hold it: the peer should send it whole (reconciliation will).
                let had_inbox = !sync.inbox.is_empty();
                self.syncs.remove(&id);
                if had_inbox {
                    self.send(&Message::Refused {
                        id: wire(id),
                        reason: "not held here; send it whole".into(),
                    });
                }
            }
        }
        self.pump();
    }

    /// Applies what has arrived for a record, stores anything new, and answers.
    pub(super) fn step_sync(&mut self, id: RecordId) {
        let (local, peer) = (self.local.clone(), self.peer.clone());
        let trust = self.cfg.trust_peer_scope;
        let Some(sync) = self.syncs.get_mut(&id) else {
            return;
        };
        if sync.storing {
            return;
        }
        let Some(doc) = sync.doc.as_mut() else { return };
        let mut outgoing = Vec::new();
        let mut failure = None;
        let mut abandon = None;
        while let Some(msg) = sync.inbox.pop_front() {
            let applied = match msg {
                Inbound::Sync(bytes) => AmSync::decode(&bytes)
                    .map_err(|e| format!("bad automerge sync message: {e}"))
                    .and_then(|m| {
                        doc.receive_sync_message(&mut sync.state, m)
                            .map_err(|e| e.to_string())
                    }),
                Inbound::Changes(bytes, heads) => {
                    match doc.load_incremental(&bytes) {
                        // Pushed changes that need changes this node lacks do not apply:
                        // refuse them; reconciliation brings the rest.
                        Ok(_)
                            if heads
                                .iter()
                                .any(|h| doc.get_change_meta_by_hash(h).is_none()) =>
                        {
                            abandon = Some("changes depend on changes this node does not have");
                            break;
                        }
                        Ok(_) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            if let Err(e) = applied {
                failure = Some(SessionError::Protocol(format!("record {id}: {e}")));
                break;
            }
            sync.we_done = false;
        }
        if let Some(reason) = abandon {
            return self.abandon_sync(id, reason);
        }
        if failure.is_none() && doc.get_heads() != sync.stored_heads {
            let checked = Record::envelope(doc)
                .map_err(|e| SessionError::Protocol(format!("record {id}: {e}")))
                .and_then(|r| {
                    if trust {
                        return Ok(());
                    }
                    Ok(check_incoming(&r, doc, &sync.stored_heads, &local, &peer)?)
                });
            match checked {
                Ok(()) => {
                    let bytes = doc.save_after(&sync.stored_heads);
                    let heads = doc.get_heads();
                    sync.stored_heads = heads.clone();
                    sync.storing = true;
                    return self.store(id, Incoming::Changes { bytes, heads }, None);
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            return self.close(e);
        }
        if !sync.we_done {
            match doc.generate_sync_message(&mut sync.state) {
                Some(_) if sync.rounds >= crate::session::MAX_SYNC_ROUNDS => {
                    abandon = Some("sync exchange did not converge");
                }
                Some(m) => {
                    sync.rounds += 1;
                    outgoing.push(Message::SyncRecord {
                        id: wire(id),
                        msg: m.encode(),
                    });
                }
                None => {
                    sync.we_done = true;
                    outgoing.push(Message::SyncDone { id: wire(id) });
                }
            }
        }
        if let Some(reason) = abandon {
            return self.abandon_sync(id, reason);
        }
        for m in outgoing {
            self.send(&m);
        }
        self.finish_sync_if_done(id);
    }

    /// Drops a record's exchange (and its copy of the document) and tells the peer why.
    fn abandon_sync(&mut self, id: RecordId, reason: &str) {
        self.syncs.remove(&id);
        self.stats.refused_here += 1;
        self.send(&Message::Refused {
            id: wire(id),
            reason: reason.into(),
        });
    }

    pub(super) fn finish_sync_if_done(&mut self, id: RecordId) {
        let done = self.syncs.get(&id).is_some_and(|s| {
            s.we_done && s.peer_done && !s.storing && s.inbox.is_empty() && s.doc.is_some()
        });
        if done {
            self.syncs.remove(&id);
            self.pump();
        }
    }

    /// A change this node just stored durably. Pushed to the peer if both should hold
    /// the record: `bytes` is the whole saved document when `created`, else the change,
    /// and `heads` the document's heads after it.
    pub fn handle_local_change(
        &mut self,
        id: RecordId,
        scope: &Scope,
        bytes: Vec<u8>,
        heads: &[ChangeHash],
        created: bool,
    ) {
        if self.closed || !self.hello_received || !shared(scope, &self.local, &self.peer) {
            return;
        }
        if bytes.len() + 64 > self.peer_max_frame as usize {
            return;
        }
        self.unacked.insert(id);
        if created {
            self.send(&Message::Record {
                id: wire(id),
                bytes,
            });
        } else {
            let heads = heads.iter().map(|h| h.0).collect();
            self.send(&Message::Changes {
                id: wire(id),
                bytes,
                heads,
            });
        }
    }
}
