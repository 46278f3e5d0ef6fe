//! Moving records: whole documents, heads exchanges, live changes, and the durable-store
//! handshake that acknowledges them. Everything sent goes with its seals; everything
//! received goes to the store with the seals and certificates that came with it.

use std::sync::Arc;

use simpul_model::automerge::{Automerge, AutomergeError, ChangeHash};
use simpul_model::{Incoming, Record, RecordId, Scope, inflation};

use crate::load::guarded;
use simpul_trust::{KeyId, Seal, Sealed};

use super::{
    Effect, Exchange, Inbound, Refused, SealedDoc, Session, StoreOutcome, wire, wire_heads,
};
use crate::error::SessionError;
use crate::message::Message;
use crate::rules::{check_incoming, shared};

/// Why a heads exchange refuses what the peer sent about a record it may not hold, or one
/// this node does not have: the same words either way, so a refusal does not tell the
/// peer whether the record exists.
const NOT_HERE: &str = "not held here for you";

/// How a refusal of a record's bytes that do not load begins.
const UNREADABLE: &str = "the record's bytes do not load";

impl Session {
    /// A record as read after [`Effect::ReadRecord`]: its stored bytes, seals and their
    /// keys' certificates (`None` if it is gone).
    pub fn handle_record_bytes(&mut self, id: RecordId, record: Option<Sealed>) {
        if self.closed || !self.reading.remove(&id) {
            return;
        }
        let requested = self.requested.remove(&id);
        let unsent = match record {
            Some(r) if r.bytes.len() + 64 + seals_len(&r.seals) > self.peer_max_frame as usize => {
                self.stats.refused_here += 1;
                Some("larger than the peer's frame limit")
            }
            Some(r) => {
                self.unacked.insert(id);
                self.send_certs(&r.seals, &r.certs);
                self.send(&Message::Record {
                    id: wire(id),
                    bytes: r.bytes,
                    seals: r.seals,
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

    pub(super) fn on_record(
        &mut self,
        id: RecordId,
        bytes: &[u8],
        seals: Vec<Seal>,
    ) -> Result<(), SessionError> {
        self.awaiting.remove(&id);
        // Bytes that do not parse or load are what a damaged disk at the sender makes:
        // that record is refused (the sender checks its copy) and the session goes on
        // with the rest. A bomb, or bytes that load into something other than the record
        // named, close it.
        let loaded = match crate::load::load_record(bytes) {
            Err(crate::load::LoadError::Bomb(e)) => {
                return Err(SessionError::Protocol(format!("record {id}: {e}")));
            }
            Err(crate::load::LoadError::Unreadable(e)) => Err(e),
            Ok(doc) => Ok(doc),
        };
        let doc = match loaded {
            Ok(doc) => doc,
            Err(e) => {
                self.stats.refused_here += 1;
                self.send(&Message::Refused {
                    id: wire(id),
                    reason: format!("{UNREADABLE}: {e}"),
                });
                return Ok(());
            }
        };
        // The envelope is enough to route and check scope; the store judges the rest
        // against what it holds.
        let record = Record::envelope(&doc)
            .map_err(|e| SessionError::Protocol(format!("record {id}: {e}")))?;
        if record.id != id {
            return Err(SessionError::Protocol(format!(
                "record sent as {id} is {}",
                record.id
            )));
        }
        if !self.cfg.trust_peer_scope {
            check_incoming(&record, &self.local, &self.peer)?;
        }
        let heads = doc.get_heads();
        self.store(
            id,
            Incoming::Document(doc),
            Some(bytes.to_vec()),
            heads,
            seals,
        );
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
        seals: Vec<Seal>,
    ) {
        let token = self.next_token;
        self.next_token += 1;
        self.storing.insert(token, (id, sent));
        let certs = self.certs_for(&seals);
        self.effects.push_back(Effect::Store {
            token,
            id,
            incoming,
            saved,
            seals,
            certs,
        });
    }

    /// Tells a descendant that the record moved away from it, with the evidence.
    fn send_moved(&mut self, id: RecordId, sent: &[ChangeHash], evidence: Sealed) {
        self.send_certs(&evidence.seals, &evidence.certs);
        self.send(&Message::Moved {
            id: wire(id),
            heads: wire_heads(sent),
            evidence: evidence.bytes,
            seals: evidence.seals,
        });
    }

    /// The result of an [`Effect::Store`]: the record's scope once the merge is durable,
    /// or why the store refused it. A refusal that no honest peer could cause ends the
    /// session.
    pub fn handle_stored(&mut self, token: u64, result: Result<StoreOutcome, Refused>) {
        let Some((id, sent)) = self.storing.remove(&token) else {
            return;
        };
        if self.closed {
            return;
        }
        let descendant = self.local.is_ancestor_or_self(&self.peer) && self.local != self.peer;
        match result {
            Ok(StoreOutcome::Stored {
                scope,
                moved,
                set_aside,
            }) => {
                self.stats.records_received += 1;
                // A descendant sent a version of a record that has since moved out of its
                // subtree: tell it, with the evidence, so it can let its copy go.
                let moved_away = !shared(&scope, &self.local, &self.peer)
                    && scope.held_by(&self.local)
                    && descendant;
                if set_aside > 0 {
                    self.send(&Message::Refused {
                        id: wire(id),
                        reason: format!(
                            "{set_aside} change(s) set aside: another change has the same \
                             actor and sequence number (equivocation)"
                        ),
                    });
                } else if let (true, Some(evidence)) = (moved_away, moved) {
                    self.send_moved(id, &sent, evidence);
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
                let forwarded = self.syncs.get_mut(&id).is_some_and(|ex| {
                    ex.storing = false;
                    ex.ack = false;
                    std::mem::take(&mut ex.forwarded)
                });
                if set_aside > 0 || forwarded {
                    // The document in memory differs from what was stored (it holds what
                    // was set aside, or lacks what went to the store as it came).
                    self.reload(id);
                }
                self.step_exchange(id);
            }
            Ok(StoreOutcome::MovedAway(evidence)) => {
                // This node let the record go after an ancestor took all of it; what the
                // descendant offers is covered: it may let go too.
                self.drop_exchange(id);
                if descendant {
                    self.send_moved(id, &sent, evidence);
                } else {
                    self.send(&Message::Stored {
                        ids: vec![wire(id)],
                    });
                }
            }
            Err(Refused { reason, hostile }) => {
                self.stats.refused_here += 1;
                self.send(&Message::Refused {
                    id: wire(id),
                    reason: reason.clone(),
                });
                if hostile {
                    return self.close(SessionError::Refused(reason));
                }
                // The document in memory holds what the store refused: start again from
                // what is stored, and go on answering the peer.
                self.reload(id);
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

    pub(super) fn inbound(&mut self, id: RecordId, msg: Inbound) -> Result<(), SessionError> {
        // A reply to heads this side did not send (or gave up on) asks nothing.
        if matches!(msg, Inbound::Reply(_)) && !self.syncs.get(&id).is_some_and(|e| e.asked) {
            return Ok(());
        }
        // Each exchange holds a loaded document: the peer may open only so many at once,
        // and queue only so much for one before it has loaded.
        if !self.syncs.contains_key(&id) && self.syncs.len() >= MAX_EXCHANGES {
            return Err(SessionError::Protocol(format!(
                "more than {MAX_EXCHANGES} records in exchange at once"
            )));
        }
        let ex = self.exchange(id);
        if ex.inbox.len() >= MAX_INBOX {
            return Err(SessionError::Protocol(format!(
                "more than {MAX_INBOX} messages for record {id} before it was read"
            )));
        }
        ex.inbox.push_back(msg);
        self.step_exchange(id);
        Ok(())
    }

    /// Forgets the record's document and loads it again from the store (after the store
    /// refused, or set aside part of, what the document in memory holds).
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
                reason: NOT_HERE.into(),
            });
        }
    }

    /// A record's document with its seals, loaded after [`Effect::LoadDocument`] (`None`
    /// if this node does not hold it).
    pub fn handle_document(&mut self, id: RecordId, doc: Option<SealedDoc>) {
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
        // answer would carry its changes. It is refused in the same words as a record
        // this node does not have.
        let held = doc.filter(|d| {
            Record::envelope(&d.doc).is_ok_and(|e| shared(&e.scope, &self.local, &self.peer))
        });
        match held {
            Some(SealedDoc { doc, seals, certs }) => {
                ex.stored_heads = doc.get_heads();
                ex.doc = Some(doc);
                ex.seals = seals;
                ex.certs = certs;
                self.step_exchange(id);
            }
            None => {
                let answer = ex.inbox.iter().any(|m| !matches!(m, Inbound::Reply(_)));
                let asked = ex.ask || ex.asked;
                self.syncs.remove(&id);
                if answer || asked {
                    self.stats.refused_here += 1;
                    self.send(&Message::Refused {
                        id: wire(id),
                        reason: NOT_HERE.into(),
                    });
                }
            }
        }
        self.pump();
    }

    /// Applies what has arrived for a record, answers the peer, and stores anything new.
    pub(super) fn step_exchange(&mut self, id: RecordId) {
        let local = self.local.clone();
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
        // Changes this document cannot take as they are (another change has one of their
        // actors' sequence numbers): the store sorts them out.
        let mut unsorted = None;
        while let Some(msg) = ex.inbox.pop_front() {
            match msg {
                Inbound::Changes(bytes, heads, seals) => {
                    ex.peer_seals.extend(seals);
                    if let Err(e) = inflation::check(&bytes, inflation::MAX_INFLATED) {
                        failure = Some(SessionError::Protocol(format!("record {id}: {e}")));
                        break;
                    }
                    match guarded(|| doc.load_incremental(&bytes)) {
                        Ok(_) => {}
                        Err(AutomergeError::DuplicateSeqNumber(..)) => {
                            unsorted = Some((bytes, heads));
                            break;
                        }
                        Err(e) => {
                            failure = Some(SessionError::Protocol(format!("record {id}: {e}")));
                            break;
                        }
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
                        outgoing.extend(changes_after(id, doc, &known, &ex.seals, peer_max_frame));
                    }
                    outgoing.push(Message::HeadsReply {
                        id: wire(id),
                        heads: wire_heads(&doc.get_heads()),
                    });
                }
                Inbound::Reply(heads) => {
                    ex.asked = false;
                    let (known, all) = known_heads(doc, &heads);
                    outgoing.extend(changes_after(id, doc, &known, &ex.seals, peer_max_frame));
                    // Both changed the record: what was just sent counts from what both
                    // know (at worst the whole document); asking again, after it, brings
                    // exactly the peer's changes.
                    if !all && ex.asks < MAX_ASKS {
                        ex.ask = true;
                    }
                }
            }
        }
        if ex.ask && refused.is_none() && unsorted.is_none() {
            ex.ask = false;
            match ex.peer_version.take().and_then(|v| past_version(doc, &v)) {
                // The peer holds a past version of ours (the common case: we changed
                // the record since): send what it lacks, without asking.
                Some(head) => {
                    outgoing.extend(changes_after(id, doc, &[head], &ex.seals, peer_max_frame));
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
        if let Some((bytes, heads)) = unsorted {
            ex.storing = true;
            ex.forwarded = true;
            ex.peer_heads = heads.clone();
            store = Some(Incoming::Changes { bytes, heads });
        } else if failure.is_none() && refused.is_none() && doc.get_heads() != ex.stored_heads {
            // A quick look before the store judges it for real: nothing the merge would
            // make this node not hold goes further.
            let checked = Record::envelope(doc)
                .map_err(|e| SessionError::Protocol(format!("record {id}: {e}")))
                .and_then(|r| {
                    if trust || r.scope.held_by(&local) {
                        return Ok(());
                    }
                    Err(SessionError::Protocol(format!(
                        "record {id}: the peer's changes take it out of this node's scope"
                    )))
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
        let certs = ex.certs.clone();
        let peer_seals = if store.is_some() {
            std::mem::take(&mut ex.peer_seals)
        } else {
            Vec::new()
        };
        for m in outgoing {
            if let Message::Changes { seals: sent, .. } = &m {
                self.unacked.insert(id);
                self.send_certs(sent, &certs);
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
                self.store(id, incoming, None, sent, peer_seals)
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
    /// `heads` the document's heads after it, and `seals` the record's seals (with their
    /// keys' certificates).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_local_change(
        &mut self,
        id: RecordId,
        scope: &Scope,
        bytes: Vec<u8>,
        heads: &[ChangeHash],
        created: bool,
        seals: &[Seal],
        certs: &[(KeyId, Arc<[u8]>)],
    ) {
        if self.closed || !self.hello_received || !shared(scope, &self.local, &self.peer) {
            return;
        }
        if bytes.len() + 64 + seals_len(seals) > self.peer_max_frame as usize {
            return;
        }
        self.unacked.insert(id);
        if created {
            self.send_certs(seals, certs);
            self.send(&Message::Record {
                id: wire(id),
                bytes,
                seals: seals.to_vec(),
            });
        } else {
            // The write is this node's one change: the seal over the heads it leads to
            // covers it; seals of older versions cover what the peer holds already.
            let seals: Vec<Seal> = seals
                .iter()
                .filter(|s| s.heads.iter().any(|h| heads.iter().any(|n| n.0 == *h)))
                .cloned()
                .collect();
            self.send_certs(&seals, certs);
            let heads = wire_heads(heads);
            self.send(&Message::Changes {
                id: wire(id),
                bytes,
                heads,
                seals,
            });
        }
    }
}

/// Runs an Automerge call on a peer's bytes, turning a panic (Automerge has some on
/// crafted input) into an error.
/// Bytes the seals add to a message, at most.
fn seals_len(seals: &[Seal]) -> usize {
    seals
        .iter()
        .map(|s| 16 + 32 * s.heads.len() + s.signature.len())
        .sum()
}

/// Heads sent by one side in a heads exchange, at most: once, and once more where both
/// changed the record.
const MAX_ASKS: u8 = 2;

/// Records in exchange at once in one session: this side's own (at most
/// `SessionConfig::max_syncing`, 32 by default) and those the peer opened. Each holds a
/// loaded document (tens of KB).
pub const MAX_EXCHANGES: usize = 256;

/// Messages (heads, changes, replies) queued for one record while its document loads: an
/// exchange needs a few; a burst of live edits to one record a few dozen.
pub const MAX_INBOX: usize = 64;

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
/// `Changes` message with the seals that cover them (`None` if it lacks none). A seal
/// all of whose heads the holder has covers only what it has: it stays behind.
fn changes_after(
    id: RecordId,
    doc: &Automerge,
    known: &[ChangeHash],
    seals: &[Seal],
    max_frame: usize,
) -> Option<Message> {
    let bytes = doc.save_after(known);
    let heads = wire_heads(&doc.get_heads());
    let new: std::collections::HashSet<[u8; 32]> = doc
        .get_changes_meta(known)
        .iter()
        .map(|c| c.hash.0)
        .collect();
    let seals: Vec<Seal> = seals
        .iter()
        .filter(|s| s.heads.iter().any(|h| new.contains(h)))
        .cloned()
        .collect();
    if bytes.is_empty() || bytes.len() + 64 + 32 * heads.len() + seals_len(&seals) > max_frame {
        return None;
    }
    Some(Message::Changes {
        id: wire(id),
        bytes,
        heads,
        seals,
    })
}
