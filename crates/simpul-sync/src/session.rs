//! One sync session between two nodes, as a state machine without IO.
//!
//! # Driving loop
//!
//! ```text
//! let mut s = Session::new(config, role, local_path, peer_path_from_certificate);
//! loop {
//!     while let Some(effect) = s.poll_effect() {
//!         match effect {
//!             Effect::Transmit(frame)          => send frame to the peer,
//!             Effect::ReadItems                => s.handle_items(store.sync_items(peer)),
//!             Effect::ReadRecord { id }        => s.handle_record_bytes(id, store.outgoing(id)),
//!             Effect::LoadDocument { id }      => s.handle_document(id, store.load_sealed(id)),
//!             Effect::Store { token, id, incoming, seals, certs, .. } =>
//!                 s.handle_stored(token, store.admit(id, incoming, seals, certs)), // once durable
//!             Effect::Moved { id, digest, evidence, .. } => store.moved(id, digest, evidence),
//!             Effect::Revocations { der }      => keep the newer list, drop revoked peers,
//!             Effect::Closed { .. }            => stop,
//!         }
//!     }
//!     wait for bytes from the peer (s.handle_bytes), a local change
//!     (s.handle_local_change), or a timer (s.start_round) ...
//! }
//! ```
//!
//! Every request the session makes (`ReadItems`, `ReadRecord`, `LoadDocument`, `Store`)
//! is answered by exactly one `handle_*` call, in any order. The session never reads a
//! clock or a random source.
//!
//! # Protocol
//!
//! Both sides send `Hello`. The initiator reads its shared items and reconciles them
//! with the responder's by Negentropy rounds; at the end it knows which records only it
//! holds (sent whole), which only the peer holds (asked for with `Want`) and which both
//! hold in different versions. Where the peer's version (its item carries a heads digest)
//! is a past version of its own, it sends the changes after it at once. Otherwise it
//! sends its heads (`Heads`); the peer answers with the changes after them (`Changes`)
//! if it knows those heads, and its own heads (`HeadsReply`); the initiator sends back
//! whatever the peer's heads lack. One round trip, and only the changes themselves on
//! the wire. Where both sides changed a record, neither knows the other's heads: the
//! initiator sends its changes counted from the heads it knows (at worst the whole
//! document) and asks again, a second round trip. When the initiator knows when the two
//! were last in sync, reconciliation goes in two parts ([`Session::set_since`]). A
//! receiver checks every record against the scope rules before asking for it to be
//! stored, and acknowledges it with `Stored` only once the store reports it durable.
//!
//! Records and changes travel with the seals of their authors (`docs/trust.md`); each
//! certificate a seal names goes to the peer once per session (`Cert`), before the first
//! seal that needs it. The store judges what arrives against what it holds
//! (`simpul_trust::admit`): the session routes, the store decides.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use negentropy::{Id, Negentropy, NegentropyStorageVector};
use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{FacilityPath, Incoming, RecordId};
use simpul_trust::{KeyCerts, KeyId, Seal, Sealed};

use crate::error::SessionError;
use crate::item::Item;
use crate::message::{DEFAULT_MAX_FRAME, FrameReader, Message, PROTOCOL_VERSION, WireId};

/// Limits of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Largest frame accepted, and the most this side sends.
    pub max_frame: u32,
    /// Records sent whole and not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// Records in a heads exchange that this side opened, at most.
    pub max_syncing: usize,
    /// Largest Negentropy message (bytes); bigger sets take more rounds.
    pub reconcile_frame: u64,
    /// Ids per `Want` message.
    pub want_batch: usize,
    /// Skips the scope checks on incoming records. Only for the simulator's
    /// fault-injection tests, which show that the checkers catch the resulting leak.
    #[doc(hidden)]
    pub trust_peer_scope: bool,
    /// The district revocation list this node holds, named in its hello and sent to a
    /// peer that holds an older one.
    pub revocations: Option<HeldRevocations>,
}

/// A revocation list as a session carries it.
#[derive(Debug, Clone)]
pub struct HeldRevocations {
    /// Its CRL number.
    pub number: u64,
    /// The list (DER).
    pub der: Arc<[u8]>,
}

/// Most certificates a peer may send in one session (far more than a district's nodes).
pub const MAX_SESSION_CERTS: usize = 4096;

/// A record's document as a heads exchange uses it: with the seals that vouch for it and
/// their keys' certificates, to send with the changes the peer lacks.
#[derive(Debug)]
pub struct SealedDoc {
    /// The document.
    pub doc: Automerge,
    /// Its seals.
    pub seals: Vec<Seal>,
    /// The certificates of the seals' keys.
    pub certs: Vec<(KeyId, Arc<[u8]>)>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            max_in_flight: 128,
            max_syncing: 32,
            reconcile_frame: 500_000,
            want_batch: 4096,
            trust_peer_scope: false,
            revocations: None,
        }
    }
}

/// Which side started the session (the dialler reconciles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Runs reconciliation.
    Initiator,
    /// Answers it.
    Responder,
}

/// What the session asks of its driver.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "effects are moved once from the queue to the driver; boxing only adds an allocation"
)]
pub enum Effect {
    /// Send this frame to the peer.
    Transmit(Vec<u8>),
    /// Read the shared items ([`Item`]); answer with [`Session::handle_items`].
    ReadItems,
    /// Read a record's stored bytes; answer with [`Session::handle_record_bytes`].
    ReadRecord {
        /// The record.
        id: RecordId,
    },
    /// Load a record's document; answer with [`Session::handle_document`].
    LoadDocument {
        /// The record.
        id: RecordId,
    },
    /// Merge into the store, judged against what it holds; answer with
    /// [`Session::handle_stored`] once durable.
    Store {
        /// Echoed in the answer.
        token: u64,
        /// The record.
        id: RecordId,
        /// What to merge.
        incoming: Incoming,
        /// For a whole record, the bytes it arrived as (`Automerge::save` output): the
        /// store can keep them instead of saving the document again.
        saved: Option<Vec<u8>>,
        /// The seals that came with it.
        seals: Vec<Seal>,
        /// The certificates (DER) the peer sent for those seals' keys.
        certs: KeyCerts,
    },
    /// An ancestor that holds the record durably says it moved away from this node, and
    /// sends the changes that show it: merge them and, if the record is then no longer
    /// this node's to hold and its heads digest is still `digest` (a change made since
    /// must reach the ancestor first), let it go.
    Moved {
        /// The record.
        id: RecordId,
        /// The heads digest the record must still have.
        digest: [u8; 32],
        /// The changes up to the move.
        evidence: Vec<u8>,
        /// Their seals.
        seals: Vec<Seal>,
        /// The certificates the peer sent for those seals' keys.
        certs: KeyCerts,
    },
    /// The peer refused a record this side sent whole: check the stored copy against its
    /// digest, and mark it damaged if it fails (no answer is expected).
    CheckRecord {
        /// The record.
        id: RecordId,
    },
    /// The peer's revocation list, newer than the one this node named: check it against
    /// the district CA and keep it (and end sessions with nodes it revokes).
    Revocations {
        /// The list (DER).
        der: Vec<u8>,
    },
    /// The session is over.
    Closed {
        /// Why.
        reason: String,
        /// True when it ended on an error (ours or the peer's).
        error: bool,
    },
}

/// What the store did with an [`Effect::Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The merge is durable; this is the record's scope now.
    Stored {
        /// The record's scope after the merge.
        scope: simpul_model::Scope,
        /// The record moved out of the (descendant) peer's subtree: the changes up to
        /// the move, which it is told (`Moved`) so that it can let its copy go.
        moved: Option<Sealed>,
        /// Changes set aside as equivocating (not stored).
        set_aside: usize,
    },
    /// Nothing was stored: this node let the record go when it moved away, after an
    /// ancestor acknowledged every change that is offered now (a tombstone covers it).
    /// The evidence of the move goes back.
    MovedAway(Sealed),
}

/// Why the store refused what a peer sent ([`Session::handle_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Why, in words the peer is told.
    pub reason: String,
    /// No honest peer sends this (a forged or unauthorised change): the session ends,
    /// its close reason naming what was refused.
    pub hostile: bool,
}

impl From<String> for Refused {
    fn from(reason: String) -> Self {
        Self {
            reason,
            hostile: false,
        }
    }
}

/// Counters of one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames and bytes sent.
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Reconciliation messages this side sent.
    pub reconcile_rounds: u32,
    /// Records sent whole, or changes pushed, and acknowledged as stored by the peer.
    pub records_sent: u64,
    /// Records (whole, synced or changed) this side stored durably from the peer.
    pub records_received: u64,
    /// Records the peer refused.
    pub refused_by_peer: u64,
    /// Records this side refused.
    pub refused_here: u64,
    /// From the last reconciliation: records to send, to fetch, and differing.
    pub last_plan: Option<(u32, u32, u32)>,
}

/// What a session has under way ([`Session::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// A reconciliation is running.
    pub reconciling: bool,
    /// A reconciliation will start once the peer's hello arrives.
    pub round_wanted: bool,
    /// Records waiting to be sent whole.
    pub to_send: usize,
    /// Records sent and not yet acknowledged.
    pub unacknowledged: usize,
    /// Records waiting for a heads exchange.
    pub to_sync: usize,
    /// Records in a heads exchange now.
    pub syncing: usize,
    /// Records being stored here.
    pub storing: usize,
}

/// One record's heads exchange, from this side: the document (loaded on demand), what
/// the peer sent for it, and what this side still waits for.
#[derive(Default)]
struct Exchange {
    doc: Option<Automerge>,
    inbox: VecDeque<Inbound>,
    /// Heads of what the store holds (what changes are new relative to).
    stored_heads: Vec<ChangeHash>,
    storing: bool,
    /// This side is to send its heads once the document is loaded.
    ask: bool,
    /// This side sent its heads and waits for the `HeadsReply`.
    asked: bool,
    /// Heads this side sent in this exchange.
    asks: u8,
    /// Changes from the peer were applied: acknowledge them once stored.
    ack: bool,
    /// The peer's heads after the last changes it sent.
    peer_heads: Vec<ChangeHash>,
    /// The peer's version as reconciliation saw it (its heads digest, first 16 bytes).
    peer_version: Option<[u8; 16]>,
    /// The seals of the stored version and their keys' certificates (sent with changes).
    seals: Vec<Seal>,
    certs: Vec<(KeyId, Arc<[u8]>)>,
    /// Seals that came from the peer with its changes in this exchange.
    peer_seals: Vec<Seal>,
    /// The peer's changes went to the store as they came (this document could not take
    /// them): reload once stored.
    forwarded: bool,
}

enum Inbound {
    /// The peer's changes, its heads after them, and their seals.
    Changes(Vec<u8>, Vec<ChangeHash>, Vec<Seal>),
    /// The peer's heads: it asks for what it lacks.
    Heads(Vec<ChangeHash>),
    /// The peer's heads, answering ours.
    Reply(Vec<ChangeHash>),
}

struct Reconciliation {
    neg: Negentropy<'static, NegentropyStorageVector>,
    /// What the initiator holds and the responder lacks, over every part so far.
    have: Vec<Id>,
    /// What the responder holds and the initiator lacks, over every part so far.
    need: Vec<Id>,
    round: u32,
    part: Part,
}

/// Which items a reconciliation covers. With no time when the two were last in sync, one
/// part covers them all; with one (`since`), the recent part goes first, and the older
/// part leaves out the records the recent part found, so that their older versions,
/// scattered through the set, never have to be searched for.
#[derive(Debug)]
enum Part {
    /// Every shared item.
    Whole,
    /// Items with content time at or after `since`.
    Recent { since: u64 },
    /// Items before `since`, less the records the recent part found. The initiator
    /// expects `Held` only for the records in `excluded` (those it asked the responder
    /// to leave out).
    Older {
        since: u64,
        excluded: HashSet<RecordId>,
    },
}

impl Reconciliation {
    /// Round 0 of `part`, nothing found yet.
    fn new(neg: Negentropy<'static, NegentropyStorageVector>, part: Part) -> Self {
        Self {
            neg,
            have: Vec::new(),
            need: Vec::new(),
            round: 0,
            part,
        }
    }
}

impl Part {
    /// Whether an item with content time `time` falls in this part.
    fn covers(&self, time: u64) -> bool {
        match self {
            Part::Whole => true,
            Part::Recent { since } => time >= *since,
            Part::Older { since, .. } => time < *since,
        }
    }
}

/// A reconciliation's round 0 that reached the responder before its items were read.
enum Query {
    Whole(Vec<u8>),
    Recent { since: u64, payload: Vec<u8> },
}

/// A sync session. See the module documentation for the driving loop.
pub struct Session {
    cfg: SessionConfig,
    role: Role,
    local: FacilityPath,
    peer: FacilityPath,
    reader: FrameReader,
    peer_max_frame: u32,
    hello_received: bool,
    closed: bool,
    effects: VecDeque<Effect>,
    stats: SessionStats,
    // Reconciliation.
    items_requested: bool,
    shared_items: HashMap<RecordId, Item>,
    recon: Option<Reconciliation>,
    stashed_query: Option<Query>,
    round_wanted: bool,
    /// The initiator's content time up to which this pair was last in sync (0: unknown);
    /// reconciliation goes in two parts around it.
    since: u64,
    /// Just after the newest content time of the last reconciliation's items: once its
    /// plan is carried out, the pair is in sync before it.
    watermark: Option<u64>,
    // Transfer.
    send_queue: VecDeque<RecordId>,
    reading: HashSet<RecordId>,
    unacked: HashSet<RecordId>,
    /// Records this initiator asked for (`Want`) that have neither arrived nor been
    /// refused: a session waiting for them is not idle.
    awaiting: HashSet<RecordId>,
    /// Records the peer asked for that this responder has not sent yet: one it cannot
    /// send is refused, so the peer stops waiting for it.
    requested: HashSet<RecordId>,
    /// Records the peer acknowledged since the driver last asked.
    acknowledged: Vec<RecordId>,
    sync_queue: VecDeque<RecordId>,
    /// The peer's version of each record in `sync_queue`, from reconciliation.
    peer_versions: HashMap<RecordId, [u8; 16]>,
    syncs: HashMap<RecordId, Exchange>,
    /// Stores under way: the record, and the heads of the version the peer sent.
    storing: HashMap<u64, (RecordId, Vec<ChangeHash>)>,
    next_token: u64,
    // Trust.
    /// Keys whose certificates went to the peer in this session.
    certs_sent: HashSet<KeyId>,
    /// Certificates the peer sent in this session, by key.
    certs_received: HashMap<KeyId, Arc<[u8]>>,
    /// The CRL number the peer's hello named.
    peer_revocations: u64,
}

fn wire(id: RecordId) -> WireId {
    *id.as_bytes()
}

fn wire_heads(heads: &[ChangeHash]) -> Vec<[u8; 32]> {
    heads.iter().map(|h| h.0).collect()
}

impl Session {
    /// A new session with `peer`, whose facility path comes from its certificate.
    pub fn new(cfg: SessionConfig, role: Role, local: FacilityPath, peer: FacilityPath) -> Self {
        let mut s = Self {
            reader: FrameReader::new(cfg.max_frame),
            peer_max_frame: DEFAULT_MAX_FRAME,
            cfg,
            role,
            local,
            peer,
            hello_received: false,
            closed: false,
            effects: VecDeque::new(),
            stats: SessionStats::default(),
            items_requested: false,
            shared_items: HashMap::new(),
            recon: None,
            stashed_query: None,
            round_wanted: false,
            since: 0,
            watermark: None,
            send_queue: VecDeque::new(),
            reading: HashSet::new(),
            unacked: HashSet::new(),
            awaiting: HashSet::new(),
            requested: HashSet::new(),
            acknowledged: Vec::new(),
            sync_queue: VecDeque::new(),
            peer_versions: HashMap::new(),
            syncs: HashMap::new(),
            storing: HashMap::new(),
            next_token: 0,
            certs_sent: HashSet::new(),
            certs_received: HashMap::new(),
            peer_revocations: 0,
        };
        let hello = Message::Hello {
            protocol: PROTOCOL_VERSION,
            max_frame: s.cfg.max_frame,
            node: s.local.to_string(),
            revocations: s.cfg.revocations.as_ref().map_or(0, |r| r.number),
        };
        s.send(&hello);
        if role == Role::Initiator {
            s.round_wanted = true;
        }
        s
    }

    /// The next request to the driver.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// The peer's facility path.
    pub fn peer(&self) -> &FacilityPath {
        &self.peer
    }

    /// Counters so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// What is under way, for status displays and diagnosis.
    pub fn progress(&self) -> Progress {
        Progress {
            reconciling: self.recon.is_some()
                || self.items_requested
                || self.stashed_query.is_some(),
            round_wanted: self.round_wanted,
            to_send: self.send_queue.len() + self.reading.len(),
            unacknowledged: self.unacked.len(),
            to_sync: self.sync_queue.len(),
            syncing: self.syncs.len(),
            storing: self.storing.len(),
        }
    }

    /// The records the peer acknowledged as stored since the last call (for status: what
    /// is no longer waiting to reach the peer).
    pub fn drain_acknowledged(&mut self) -> Vec<RecordId> {
        std::mem::take(&mut self.acknowledged)
    }

    /// True once the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True when nothing is under way: no reconciliation, nothing to send, store or
    /// acknowledge. A quiescent pair of sessions holds the same shared records.
    pub fn is_idle(&self) -> bool {
        self.recon.is_none()
            && !self.items_requested
            && !self.round_wanted
            && self.stashed_query.is_none()
            && self.send_queue.is_empty()
            && self.reading.is_empty()
            && self.unacked.is_empty()
            && self.awaiting.is_empty()
            && self.sync_queue.is_empty()
            && self.syncs.is_empty()
            && self.storing.is_empty()
    }

    /// Sets the content time up to which this pair was last in sync (from
    /// [`Session::take_watermark`] of an earlier session): the initiator then reconciles
    /// what changed since first, and the rest without the records that part found. Any
    /// value is correct; the right one makes catching up cost a few bytes per change.
    pub fn set_since(&mut self, since: u64) {
        self.since = since;
    }

    /// Once a reconciliation's plan has been carried out (the session is idle), the
    /// content time just after the newest it covered: the pair is in sync before it.
    /// Returns it once, for the driver to keep (per peer) and pass to
    /// [`Session::set_since`], in this session and the next.
    pub fn take_watermark(&mut self) -> Option<u64> {
        if !self.is_idle() {
            return None;
        }
        self.watermark.take()
    }

    /// Starts another reconciliation (the initiator does so on connect; call this
    /// periodically). Ignored by a responder or while one is running.
    pub fn start_round(&mut self) {
        if self.role == Role::Initiator
            && !self.closed
            && self.recon.is_none()
            && !self.items_requested
        {
            self.round_wanted = true;
            self.pump();
        }
    }

    /// The certificates the peer sent for these seals' keys.
    fn certs_for(&self, seals: &[Seal]) -> KeyCerts {
        let mut keys: Vec<KeyId> = seals.iter().map(|s| s.key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.iter()
            .filter_map(|k| self.certs_received.get(k).map(|c| (*k, c.clone())))
            .collect()
    }

    /// Sends the certificate of each key `seals` name that the peer has not had from this
    /// session yet (the peer checks a seal only against a certificate it holds).
    fn send_certs(&mut self, seals: &[Seal], certs: &[(KeyId, Arc<[u8]>)]) {
        for seal in seals {
            if self.certs_sent.contains(&seal.key) {
                continue;
            }
            if let Some((_, der)) = certs.iter().find(|(k, _)| *k == seal.key) {
                self.certs_sent.insert(seal.key);
                self.send(&Message::Cert { der: der.to_vec() });
            }
        }
    }

    fn send(&mut self, msg: &Message) {
        let frame = msg.encode();
        self.stats.frames_out += 1;
        self.stats.bytes_out += frame.len() as u64;
        self.effects.push_back(Effect::Transmit(frame));
    }

    fn close(&mut self, err: SessionError) {
        if self.closed {
            return;
        }
        let reason = err.to_string();
        if !matches!(err, SessionError::PeerClosed(_)) {
            self.send(&Message::Bye {
                reason: reason.clone(),
            });
        }
        self.closed = true;
        self.effects.push_back(Effect::Closed {
            reason,
            error: true,
        });
    }

    /// Ends the session on purpose (shutdown, or the driver's own error).
    pub fn shutdown(&mut self, reason: &str) {
        if self.closed {
            return;
        }
        self.send(&Message::Bye {
            reason: reason.to_string(),
        });
        self.closed = true;
        self.effects.push_back(Effect::Closed {
            reason: reason.to_string(),
            error: false,
        });
    }

    /// Bytes received from the peer's stream.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.stats.bytes_in += bytes.len() as u64;
        self.reader.push(bytes);
        loop {
            match self.reader.next_message() {
                Ok(Some(msg)) => {
                    if let Err(e) = self.handle_message(msg) {
                        self.close(e);
                    }
                    if self.closed {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => return self.close(e.into()),
            }
        }
        self.pump();
    }

    fn handle_message(&mut self, msg: Message) -> Result<(), SessionError> {
        if !self.hello_received && !matches!(msg, Message::Hello { .. } | Message::Bye { .. }) {
            return Err(SessionError::Protocol(format!(
                "{} before hello",
                msg.kind()
            )));
        }
        match msg {
            Message::Hello {
                protocol,
                max_frame,
                node,
                revocations,
            } => {
                if self.hello_received {
                    return Err(SessionError::Protocol("second hello".into()));
                }
                if protocol != PROTOCOL_VERSION {
                    return Err(SessionError::Protocol(format!(
                        "peer speaks protocol {protocol}, this node {PROTOCOL_VERSION}"
                    )));
                }
                if node != self.peer.as_str() {
                    return Err(SessionError::Protocol(format!(
                        "peer says it is {node:?} but its certificate says {}",
                        self.peer
                    )));
                }
                self.hello_received = true;
                self.peer_max_frame = max_frame.min(self.cfg.max_frame);
                self.peer_revocations = revocations;
                // The peer holds an older revocation list (or none): it gets ours.
                if let Some(held) = self.cfg.revocations.clone()
                    && held.number > revocations
                    && held.der.len() + 64 <= self.peer_max_frame as usize
                {
                    self.send(&Message::Revocations {
                        der: held.der.to_vec(),
                    });
                }
            }
            Message::Revocations { der } => {
                let ours = self.cfg.revocations.as_ref().map_or(0, |r| r.number);
                if self.peer_revocations <= ours {
                    return Err(SessionError::Protocol(
                        "revocations sent by a peer that named no newer list".into(),
                    ));
                }
                // One list per session: the driver checks it against the CA.
                self.peer_revocations = 0;
                self.effects.push_back(Effect::Revocations { der });
            }
            Message::Cert { der } => {
                let key = KeyId::of_cert(&der).ok_or_else(|| {
                    SessionError::Protocol("a certificate the peer sent does not parse".into())
                })?;
                if self.certs_received.len() >= MAX_SESSION_CERTS
                    && !self.certs_received.contains_key(&key)
                {
                    return Err(SessionError::Protocol(format!(
                        "more than {MAX_SESSION_CERTS} certificates in one session"
                    )));
                }
                self.certs_received.insert(key, Arc::from(der));
            }
            Message::Reconcile { round, payload } => self.on_reconcile(round, payload)?,
            Message::ReconcileRecent { since, payload } => {
                if self.role == Role::Initiator {
                    return Err(SessionError::Protocol(
                        "reconcile-recent sent to the initiator".into(),
                    ));
                }
                self.on_round_zero(Query::Recent { since, payload });
            }
            Message::ReconcileOlder { exclude, payload } => {
                self.on_reconcile_older(exclude, &payload)?
            }
            Message::Held { versions } => self.on_held(versions)?,
            Message::Reconciled {
                sending,
                wanting,
                differing,
            } => {
                if self.role == Role::Initiator {
                    return Err(SessionError::Protocol(
                        "reconciled sent to the initiator".into(),
                    ));
                }
                // The initiator's plan ends the reconciliation on this side too; from the
                // responder's view it receives what the initiator sends and sends what it wants.
                self.recon = None;
                self.stats.last_plan = Some((wanting, sending, differing));
            }
            Message::Want { ids } => {
                if self.role == Role::Initiator {
                    return Err(SessionError::Protocol("want sent to the initiator".into()));
                }
                for w in ids {
                    let id = RecordId::from_bytes(w);
                    if !self.shared_items.contains_key(&id) {
                        return Err(SessionError::Protocol(format!(
                            "peer asked for record {id}, which it does not share"
                        )));
                    }
                    // Asked again while it is queued, being read or unacknowledged: one
                    // read is enough.
                    let pending = self.reading.contains(&id) || self.unacked.contains(&id);
                    if self.requested.insert(id) && !pending {
                        self.send_queue.push_back(id);
                    }
                }
            }
            Message::Record { id, bytes, seals } => {
                self.on_record(RecordId::from_bytes(id), &bytes, seals)?
            }
            Message::Heads { id, heads } => self.inbound(
                RecordId::from_bytes(id),
                Inbound::Heads(heads.into_iter().map(ChangeHash).collect()),
            )?,
            Message::HeadsReply { id, heads } => self.inbound(
                RecordId::from_bytes(id),
                Inbound::Reply(heads.into_iter().map(ChangeHash).collect()),
            )?,
            Message::Changes {
                id,
                bytes,
                heads,
                seals,
            } => {
                let heads = heads.into_iter().map(ChangeHash).collect();
                self.inbound(
                    RecordId::from_bytes(id),
                    Inbound::Changes(bytes, heads, seals),
                )?
            }
            Message::Stored { ids } => {
                for w in ids {
                    let id = RecordId::from_bytes(w);
                    if self.unacked.remove(&id) {
                        self.stats.records_sent += 1;
                        self.acknowledged.push(id);
                    }
                }
            }
            Message::Moved {
                id,
                heads,
                evidence,
                seals,
            } => {
                let id = RecordId::from_bytes(id);
                if !self.peer.is_ancestor_or_self(&self.local) || self.peer == self.local {
                    return Err(SessionError::Protocol(format!(
                        "moved from {}, which is not an ancestor",
                        self.peer
                    )));
                }
                if self.unacked.remove(&id) {
                    self.stats.records_sent += 1;
                }
                // Only the version the ancestor stored may go: not one changed since, nor
                // one whose later changes the ancestor has yet to take (or refused); and
                // only if the evidence shows, by this node's rules, that it moved.
                let heads: Vec<ChangeHash> = heads.into_iter().map(ChangeHash).collect();
                let certs = self.certs_for(&seals);
                self.effects.push_back(Effect::Moved {
                    id,
                    digest: simpul_model::heads_digest(&heads),
                    evidence,
                    seals,
                    certs,
                });
            }
            Message::Refused { id, .. } => {
                let id = RecordId::from_bytes(id);
                // A record this side sent whole that the peer refused may be damaged
                // here: the driver checks the stored copy.
                if self.unacked.remove(&id) {
                    self.effects.push_back(Effect::CheckRecord { id });
                }
                self.awaiting.remove(&id);
                self.stats.refused_by_peer += 1;
                // No answer to our heads will come; what the peer sent is still answered.
                if let Some(ex) = self.syncs.get_mut(&id) {
                    ex.ask = false;
                    ex.asked = false;
                }
                self.finish_exchange_if_done(id);
            }
            Message::Bye { reason } => return Err(SessionError::PeerClosed(reason)),
        }
        Ok(())
    }
}

mod reconcile;
mod transfer;

pub use transfer::{MAX_EXCHANGES, MAX_INBOX};
