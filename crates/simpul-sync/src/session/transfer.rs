//! Moving records: whole documents, heads exchanges, live changes, and the durable-store
//! handshake that acknowledges them.

use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{Incoming, Record, RecordId, Scope};

use super::{Effect, Exchange, Inbound, Session, StoreOutcome, wire, wire_heads};
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
        let heads = doc.get_heads();
        self.store(id, Incoming::Document(doc), Some(bytes.to_vec()), heads);
        Ok(())
    }

    /// Asks the driver to store what the peer sent (`sent`: the heads of the peer's
    /// version, which a `Moved` answer names).
    fn store(
        &mut self,
        id: RecordId,
        incoming: Incoming,
        saved: Option<Vec<u8>>,
        sent: Vec<ChangeHash>,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        self.storing.insert(token, (id, sent));
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
        let Some((id, sent)) = self.storing.remove(&token) else {
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
                    self.send(&Message::Moved {
                        id: wire(id),
                        heads: wire_heads(&sent),
                    });
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
                if let Some(ex) = self.syncs.get_mut(&id) {
                    ex.storing = false;
                    ex.ack = false;
                }
                self.step_exchange(id);
            }
            Ok(StoreOutcome::MovedAway) => {
                // This node let the record go after an ancestor took all of it; what the
                // descendant offers is covered: it may let go too.
                self.drop_exchange(id);
                if descendant {
                    self.send(&Message::Moved {
                        id: wire(id),
                        heads: wire_heads(&sent),
                    });
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
            }
            Err(reason) => {
                self.stats.refused_here += 1;
                // The document in memory holds what the store refused: start again from
                // what is stored, and go on answering the peer.
                self.reload(id);
                self.send(&Message::Refused {
                    id: wire(id),
                    reason,
                });
            }
        }
        self.pump();
    }

    /// Opens a heads exchange for `id` from this side (reconciliation found it differing):
    /// once the document is loaded, its heads go to the peer.
    pub(super) fn open_exchange(&mut self, id: RecordId) {
        let version = self.peer_versions.remove(&id);
        let ex = self.exchange(id);
        if !ex.asked {
            ex.ask = true;
            ex.peer_version = version;
        }
        self.step_exchange(id);
    }

    /// The record's exchange, opened (and its document asked for) if there is none.
    fn exchange(&mut self, id: RecordId) -> &mut Exchange {
        if !self.syncs.contains_key(&id) {
            self.effects.push_back(Effect::LoadDocument { id });
        }
        self.syncs.entry(id).or_default()
    }

    pub(super) fn inbound(&mut self, id: RecordId, msg: Inbound) {
        // A reply to heads this side did not send (or gave up on) asks nothing.
        if matches!(msg, Inbound::Reply(_)) && !self.syncs.get(&id).is_some_and(|e| e.asked) {
            return;
        }
        self.exchange(id).inbox.push_back(msg);
        self.step_exchange(id);
    }

    /// Forgets the record's document and loads it again from the store (after the store
    /// refused what the document in memory holds).
    fn reload(&mut self, id: RecordId) {
        if let Some(ex) = self.syncs.get_mut(&id) {
            ex.doc = None;
            ex.storing = false;
            ex.ack = false;
            self.effects.push_back(Effect::LoadDocument { id });
        }
    }

    /// Ends the record's exchange; a peer still waiting for our answer is told there will
    /// be none.
    fn drop_exchange(&mut self, id: RecordId) {
        let Some(ex) = self.syncs.remove(&id) else {
            return;
        };
        if ex.inbox.iter().any(|m| matches!(m, Inbound::Heads(_))) {
            self.stats.refused_here += 1;
            self.send(&Message::Refused {
                id: wire(id),
                reason: "no longer held here".into(),
            });
        }
    }

    /// A record's document, loaded after [`Effect::LoadDocument`] (`None` if this node
    /// does not hold it).
    pub fn handle_document(&mut self, id: RecordId, doc: Option<Automerge>) {
        if self.closed {
            return;
        }
        let Some(ex) = self.syncs.get_mut(&id) else {
            return;
        };
        if ex.doc.is_some() {
            return;
        }
        // A record the peer should not hold is not exchanged with it, whoever asked: the
        // answer would carry its changes.
        let not_shared = doc.as_ref().is_some_and(|d| {
            Record::envelope(d).map_or(true, |e| !shared(&e.scope, &self.local, &self.peer))
        });
        match doc {
            Some(doc) if !not_shared => {
                ex.stored_heads = doc.get_heads();
                ex.doc = Some(doc);
                self.step_exchange(id);
            }
            _ => {
                // Not held here (the peer should send it whole; reconciliation will), or
                // not the peer's to hold.
                let reason = if not_shared {
                    "not shared with you"
                } else {
                    "not held here; send it whole"
                };
                let answer = ex.inbox.iter().any(|m| !matches!(m, Inbound::Reply(_)));
                self.syncs.remove(&id);
                if answer || not_shared {
                    self.stats.refused_here += 1;
                    self.send(&Message::Refused {
                        id: wire(id),
                        reason: reason.into(),
                    });
                }
            }
        }
        self.pump();
    }

    /// Applies what has arrived for a record, answers the peer, and stores anything new.
    pub(super) fn step_exchange(&mut self, id: RecordId) {
        let (local, peer) = (self.local.clone(), self.peer.clone());
        let trust = self.cfg.trust_peer_scope;
        let peer_max_frame = self.peer_max_frame as usize;
        let Some(ex) = self.syncs.get_mut(&id) else {
            return;
        };
        if ex.storing {
            return;
        }
        let Some(doc) = ex.doc.as_mut() else { return };
        let mut outgoing = Vec::new();
        let mut refused = None;
        let mut failure = None;
        while let Some(msg) = ex.inbox.pop_front() {
            match msg {
                Inbound::Changes(bytes, heads) => {
                    if let Err(e) = doc.load_incremental(&bytes) {
                        failure = Some(SessionError::Protocol(format!("record {id}: {e}")));
                        break;
                    }
                    // Changes that need changes this node lacks do not apply: refuse them
                    // (reconciliation brings the rest) and start again from the store.
                    if heads
                        .iter()
                        .any(|h| doc.get_change_meta_by_hash(h).is_none())
                    {
                        refused = Some("changes depend on changes this node does not have");
                        break;
                    }
                    ex.ack = true;
                    ex.peer_heads = heads;
                }
                Inbound::Heads(heads) => {
                    // Heads this node does not know are changes it lacks: the peer is
                    // ahead or both changed the record; the peer learns it from the reply.
                    if let (known, true) = known_heads(doc, &heads) {
                        outgoing.extend(changes_after(id, doc, &known, peer_max_frame));
                    }
                    outgoing.push(Message::HeadsReply {
                        id: wire(id),
                        heads: wire_heads(&doc.get_heads()),
                    });
                }
                Inbound::Reply(heads) => {
                    ex.asked = false;
                    let (known, all) = known_heads(doc, &heads);
                    outgoing.extend(changes_after(id, doc, &known, peer_max_frame));
                    // Both changed the record: what was just sent counts from what both
                    // know (at worst the whole document); asking again, after it, brings
                    // exactly the peer's changes.
                    if !all && ex.asks < MAX_ASKS {
                        ex.ask = true;
                    }
                }
            }
        }
        if ex.ask && refused.is_none() {
            ex.ask = false;
            match ex.peer_version.take().and_then(|v| past_version(doc, &v)) {
                // The peer holds a past version of ours (the common case: we changed
                // the record since): send what it lacks, without asking.
                Some(head) => {
                    outgoing.extend(changes_after(id, doc, &[head], peer_max_frame));
                }
                None => {
                    ex.asked = true;
                    ex.asks += 1;
                    outgoing.push(Message::Heads {
                        id: wire(id),
                        heads: wire_heads(&doc.get_heads()),
                    });
                }
            }
        }
        let mut store = None;
        if failure.is_none() && refused.is_none() && doc.get_heads() != ex.stored_heads {
            let checked = Record::envelope(doc)
                .map_err(|e| SessionError::Protocol(format!("record {id}: {e}")))
                .and_then(|r| {
                    if trust {
                        return Ok(());
                    }
                    Ok(check_incoming(&r, doc, &ex.stored_heads, &local, &peer)?)
                });
            match checked {
                Ok(()) => {
                    let bytes = doc.save_after(&ex.stored_heads);
                    let heads = doc.get_heads();
                    ex.stored_heads = heads.clone();
                    ex.storing = true;
                    store = Some(Incoming::Changes { bytes, heads });
                }
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            return self.close(e);
        }
        let ack = store.is_none() && refused.is_none() && std::mem::take(&mut ex.ack);
        for m in outgoing {
            if matches!(m, Message::Changes { .. }) {
                self.unacked.insert(id);
            }
            self.send(&m);
        }
        if let Some(reason) = refused {
            self.stats.refused_here += 1;
            self.send(&Message::Refused {
                id: wire(id),
                reason: reason.into(),
            });
            self.reload(id);
            return;
        }
        if ack {
            // Nothing new to store: what arrived is already durable here.
            self.send(&Message::Stored {
                ids: vec![wire(id)],
            });
        }
        match store {
            Some(incoming) => {
                let sent = self
                    .syncs
                    .get(&id)
                    .map(|ex| ex.peer_heads.clone())
                    .unwrap_or_default();
                self.store(id, incoming, None, sent)
            }
            None => self.finish_exchange_if_done(id),
        }
    }

    pub(super) fn finish_exchange_if_done(&mut self, id: RecordId) {
        let done = self.syncs.get(&id).is_some_and(|ex| {
            !ex.ask && !ex.asked && !ex.storing && ex.inbox.is_empty() && ex.doc.is_some()
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
            let heads = wire_heads(heads);
            self.send(&Message::Changes {
                id: wire(id),
                bytes,
                heads,
            });
        }
    }
}

/// Heads sent by one side in a heads exchange, at most: once, and once more where both
/// changed the record.
const MAX_ASKS: u8 = 2;

/// The change of `doc` whose single-head version has the heads digest `version` (its
/// first 16 bytes, as reconciliation items carry it), newest first. A peer's version with
/// several heads, or one `doc` has not seen, is not found: the exchange then asks.
fn past_version(doc: &Automerge, version: &[u8; 16]) -> Option<ChangeHash> {
    doc.get_changes_meta(&[])
        .iter()
        .rev()
        .map(|c| c.hash)
        .find(|h| simpul_model::heads_digest(&[*h])[..16] == version[..])
}

/// The heads of `heads` that `doc` holds, and whether it holds them all.
fn known_heads(doc: &Automerge, heads: &[ChangeHash]) -> (Vec<ChangeHash>, bool) {
    let known: Vec<ChangeHash> = heads
        .iter()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect();
    let all = known.len() == heads.len();
    (known, all)
}

/// The changes of `doc` that a holder of `known` (heads `doc` holds) lacks, as a
/// `Changes` message (`None` if it lacks none).
fn changes_after(
    id: RecordId,
    doc: &Automerge,
    known: &[ChangeHash],
    max_frame: usize,
) -> Option<Message> {
    let bytes = doc.save_after(known);
    let heads = wire_heads(&doc.get_heads());
    if bytes.is_empty() || bytes.len() + 64 + 32 * heads.len() > max_frame {
        return None;
    }
    Some(Message::Changes {
        id: wire(id),
        bytes,
        heads,
    })
}
