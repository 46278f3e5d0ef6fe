//! The simulated world: nodes with durable stores and sessions, links that partition
//! and heal, a network that loses, duplicates and reorders frames, and crashes. One
//! seeded random source drives all of it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simpul_model::automerge::ChangeHash;
use simpul_model::{
    Address, Audience, Date, FacilityPath, Identifiers, Incoming, Klaster, Patient, Record,
    RecordBody, RecordId, Scope, Setting, Sex, Visit, VisitId,
};
use simpul_sync::{Effect, Role, Session, SessionConfig, StoreOutcome};
use simpul_trust::signing_actor;

use crate::diskstore::DiskStore;
use crate::keys::keys;
use crate::memstore::{FromPeer, MemStore};
use crate::storage::Storage;
use crate::topology;

/// A deliberate bug, to show that the checkers catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nodes offer and accept records regardless of scope.
    SkipScopeFilter,
    /// Nodes acknowledge records without storing them.
    DropOnReceipt,
    /// Nodes acknowledge before the store is durable (a crash in between loses it).
    AckBeforePersist,
    /// The real store's disk reports syncs it never makes durable: a crash takes it back
    /// to the empty store, losing what the store acknowledged.
    LyingDisk,
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed: the whole run follows from it.
    pub seed: u64,
    /// Random steps before the final heal.
    pub steps: usize,
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is delivered twice.
    pub duplication: f64,
    /// A deliberate bug, or none.
    pub fault: Option<Fault>,
    /// One posyandu is Byzantine: it slips forged frames into its sessions at random
    /// during the faulty phase ([`crate::byzantine`]).
    pub byzantine: bool,
    /// Nodes keep their records in the simulator's [`MemStore`] instead of the real
    /// store (always so with a [`Fault`]: the real store cannot be made to break rules).
    pub mem_store: bool,
    /// One posyandu has no link at all and syncs with its pustu only by bundles
    /// ([`crate::bundles`]; the real store only).
    pub bundle_only: bool,
}

impl SimConfig {
    /// The default run for a seed.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            steps: 300,
            loss: 0.01,
            duplication: 0.01,
            fault: None,
            byzantine: true,
            mem_store: false,
            bundle_only: false,
        }
    }
}

pub(crate) struct Node {
    pub(crate) path: FacilityPath,
    pub(crate) store: Storage,
    pub(crate) up: bool,
    /// Effects waiting for this node's "disk": (link, epoch, side, effect).
    io: VecDeque<(usize, u64, usize, Effect)>,
    /// Acknowledged stores not yet performed (only under [`Fault::AckBeforePersist`]):
    /// the record, what arrived, its seals and certificates, and the sender.
    deferred: Vec<Deferred>,
    /// Per peer, the content time up to which this node (dialling) was last in sync with
    /// it; kept across crashes, as the real store keeps it.
    since: HashMap<FacilityPath, u64>,
}

type Deferred = (
    RecordId,
    simpul_model::Incoming,
    Vec<simpul_trust::Seal>,
    simpul_trust::KeyCerts,
    FacilityPath,
);

struct Conn {
    epoch: u64,
    sessions: [Session; 2],
    quiet_steps: u32,
}

pub(crate) struct Link {
    pub(crate) ends: [usize; 2],
    up: bool,
    conn: Option<Conn>,
}

struct Frame {
    link: usize,
    epoch: u64,
    to: usize,
    bytes: Vec<u8>,
}

/// A whole simulated district.
pub struct Sim {
    pub(crate) cfg: SimConfig,
    pub(crate) rng: ChaCha8Rng,
    /// The Byzantine node, when there is one.
    pub(crate) byzantine: Option<usize>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) links: Vec<Link>,
    frames: VecDeque<Frame>,
    next_epoch: u64,
    next_record: u64,
    pub(crate) today: Date,
    /// Makes the people the nodes register.
    people: simpul_gen::Generator,
    /// Writes acknowledged to their writer or to a sender: (node, record, heads).
    pub(crate) acked: Vec<(usize, RecordId, Vec<ChangeHash>)>,
    /// Problems the checkers found while running.
    pub(crate) violations: Vec<String>,
    /// Every record ever created.
    pub(crate) created: Vec<RecordId>,
    /// Offers of a moved record answered from a tombstone (multi-level moves).
    pub(crate) tombstone_answers: usize,
    /// Records purged after moving away: (node, record).
    pub(crate) purged: Vec<(usize, RecordId)>,
    /// Sessions found busy with nothing in flight while settling (a protocol bug).
    pub(crate) stalls: u64,
    /// Attacks the Byzantine node made.
    pub(crate) attacks: usize,
    /// Sessions an honest node closed because of what the peer sent (refused as forged
    /// or unauthorised).
    pub(crate) hostile_closes: usize,
    /// Connection epochs above this were made after the final heal.
    settle_epoch: u64,
    /// Kader trips made ([`crate::bundles`]).
    pub(crate) trips: usize,
    /// The last bundle a kader carried, to bring again.
    pub(crate) last_bundle: Option<Vec<u8>>,
}

/// Steps a session may go without traffic while busy before its connection times out.
const IDLE_TIMEOUT_STEPS: u32 = 60;
/// Bound on events while settling after the final heal.
const SETTLE_LIMIT: usize = 200_000;
/// Bound on whole-district reconciliation rounds while settling.
const SETTLE_ROUNDS: usize = 50;

impl Sim {
    /// A district with empty stores, every link up.
    pub fn new(cfg: SimConfig) -> Self {
        let today = Date::from_ymd(2026, 10, 31).unwrap_or_else(|| unreachable!("date exists"));
        let seed = cfg.seed;
        let paths = topology::district();
        let offline = paths
            .iter()
            .position(|p| cfg.bundle_only && p.as_str() == crate::bundles::BUNDLE_ONLY);
        let links = topology::links(&paths)
            .into_iter()
            .filter(|(a, b)| offline.is_none_or(|o| o != *a && o != *b))
            .map(|(a, b)| Link {
                ends: [a, b],
                up: true,
                conn: None,
            })
            .collect();
        let nodes: Vec<Node> = paths
            .into_iter()
            .enumerate()
            .map(|(n, path)| {
                let own = &keys().nodes[n];
                let store = if cfg.mem_store || cfg.fault.is_some_and(|f| f != Fault::LyingDisk) {
                    let mut book = simpul_trust::KeyBook::new(keys().district.authority.clone());
                    book.insert(own.certified.clone());
                    let mut store = MemStore::new(book);
                    store.enforce_scope = cfg.fault != Some(Fault::SkipScopeFilter);
                    Storage::Mem(Box::new(store))
                } else {
                    let authority = keys().district.authority.clone();
                    let store =
                        DiskStore::create(&path, instance(n), authority, own.signer.clone())
                            .unwrap_or_else(|e| panic!("simulated node {n}: {e}"));
                    assert_eq!(
                        store.actor(),
                        &node_actor(n),
                        "the real store writes with the simulator's actor for node {n}"
                    );
                    if cfg.fault == Some(Fault::LyingDisk) {
                        store.lie_about_syncs();
                    }
                    Storage::Disk(Box::new(store))
                };
                Node {
                    path,
                    store,
                    up: true,
                    io: VecDeque::new(),
                    deferred: Vec::new(),
                    since: HashMap::new(),
                }
            })
            .collect();
        let byzantine = cfg
            .byzantine
            .then(|| {
                nodes
                    .iter()
                    .position(|n: &Node| n.path.as_str() == crate::byzantine::BYZANTINE)
            })
            .flatten();
        Self {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            byzantine,
            cfg,
            nodes,
            links,
            frames: VecDeque::new(),
            next_epoch: 0,
            next_record: 0,
            today,
            people: simpul_gen::Generator::new(seed, &topology::district()[0], 64, today),
            acked: Vec::new(),
            violations: Vec::new(),
            created: Vec::new(),
            stalls: 0,
            attacks: 0,
            hostile_closes: 0,
            purged: Vec::new(),
            tombstone_answers: 0,
            settle_epoch: u64::MAX,
            trips: 0,
            last_bundle: None,
        }
    }

    /// Runs the random phase, heals everything and settles. Returns the problems found.
    pub fn run(&mut self) -> Vec<String> {
        for _ in 0..self.cfg.steps {
            self.step();
        }
        self.settle();
        crate::check::final_checks(self);
        std::mem::take(&mut self.violations)
    }

    /// How many records were purged from nodes they had moved away from.
    pub fn purges(&self) -> usize {
        self.purged.len()
    }

    /// Attacks the Byzantine node made, sessions closed on forged or unauthorised
    /// changes, and records in which an honest node set an equivocating change aside.
    pub fn byzantine_outcome(&self) -> (usize, usize, usize) {
        let quarantined = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(n, _)| Some(*n) != self.byzantine)
            .map(|(_, node)| node.store.quarantined().len())
            .sum();
        (self.attacks, self.hostile_closes, quarantined)
    }

    /// Kader trips made (bundle-only runs).
    pub fn trips(&self) -> usize {
        self.trips
    }

    /// How many offers of a moved record were answered from a tombstone.
    pub fn tombstone_answers(&self) -> usize {
        self.tombstone_answers
    }

    /// A digest of every node's records (ids and heads), to compare runs.
    pub fn fingerprints(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| crate::check::fingerprint(&n.store))
            .collect()
    }

    /// The actor node `n` writes with: bound to its key.
    fn actor(&self, n: usize) -> simpul_model::automerge::ActorId {
        node_actor(n)
    }

    fn session_config(&self) -> SessionConfig {
        SessionConfig {
            trust_peer_scope: self.cfg.fault == Some(Fault::SkipScopeFilter),
            max_in_flight: 8,
            max_syncing: 4,
            ..SessionConfig::default()
        }
    }

    fn step(&mut self) {
        self.connect_links();
        let roll = self.rng.random_range(0..100);
        match roll {
            0..20 => self.random_write(),
            20..55 => self.deliver_random_frame(true),
            55..85 => self.random_io(),
            85..90 => {
                let l = self.rng.random_range(0..self.links.len());
                self.start_round(l);
            }
            90..95 => {
                let l = self.rng.random_range(0..self.links.len());
                self.links[l].up = !self.links[l].up;
                if !self.links[l].up {
                    self.disconnect(l, "partition");
                }
            }
            95..97 if self.cfg.bundle_only && self.rng.random_bool(0.5) => self.kader_trip(false),
            95..97 => self.byzantine_attack(),
            _ => {
                let n = self.rng.random_range(0..self.nodes.len());
                if self.nodes[n].up {
                    self.crash(n)
                } else {
                    self.restart(n)
                }
            }
        }
        self.time_out_quiet_connections();
    }

    fn connect_links(&mut self) {
        for l in 0..self.links.len() {
            let [a, b] = self.links[l].ends;
            if self.links[l].conn.is_none()
                && self.links[l].up
                && self.nodes[a].up
                && self.nodes[b].up
            {
                let cfg = self.session_config();
                let (pa, pb) = (self.nodes[a].path.clone(), self.nodes[b].path.clone());
                let mut initiator =
                    Session::new(cfg.clone(), Role::Initiator, pa.clone(), pb.clone());
                initiator.set_since(self.since(a, &pb));
                self.next_epoch += 1;
                self.links[l].conn = Some(Conn {
                    epoch: self.next_epoch,
                    sessions: [initiator, Session::new(cfg, Role::Responder, pb, pa)],
                    quiet_steps: 0,
                });
                self.drain(l);
            }
        }
    }

    /// When node `n` was last in sync with `peer`, as it kept it; now and then none, or
    /// the content time of one of its records, to show that any value is correct.
    fn since(&mut self, n: usize, peer: &FacilityPath) -> u64 {
        match self.rng.random_range(0..10) {
            0 => 0,
            1 => {
                let times: Vec<u64> = self.nodes[n]
                    .store
                    .items_for(peer, false)
                    .iter()
                    .map(|i| i.time)
                    .collect();
                if times.is_empty() {
                    0
                } else {
                    times[self.rng.random_range(0..times.len())]
                }
            }
            _ => self.nodes[n].since.get(peer).copied().unwrap_or(0),
        }
    }

    /// The links of node `n` with an open connection.
    pub(crate) fn open_links_of(&self, n: usize) -> Vec<usize> {
        (0..self.links.len())
            .filter(|&l| self.links[l].ends.contains(&n) && self.links[l].conn.is_some())
            .collect()
    }

    /// Puts `msgs` on link `l`'s connection as if node `from` sent them (past its
    /// session: what a Byzantine node does).
    pub(crate) fn inject(&mut self, l: usize, from: usize, msgs: Vec<simpul_sync::Message>) {
        let Some(side) = self.links[l].ends.iter().position(|&e| e == from) else {
            return;
        };
        let Some(conn) = self.links[l].conn.as_ref() else {
            return;
        };
        let epoch = conn.epoch;
        for m in msgs {
            self.frames.push_back(Frame {
                link: l,
                epoch,
                to: 1 - side,
                bytes: m.encode()[4..].to_vec(),
            });
        }
    }

    fn disconnect(&mut self, l: usize, _why: &str) {
        if let Some(conn) = self.links[l].conn.take() {
            self.frames
                .retain(|f| !(f.link == l && f.epoch == conn.epoch));
            for (side, _) in conn.sessions.iter().enumerate() {
                let node = self.links[l].ends[side];
                self.nodes[node]
                    .io
                    .retain(|(link, epoch, _, _)| !(*link == l && *epoch == conn.epoch));
            }
        }
    }

    fn crash(&mut self, n: usize) {
        self.nodes[n].up = false;
        if let Err(e) = self.nodes[n].store.crash() {
            self.violations.push(format!("node {n}: {e}"));
        }
        self.nodes[n].io.clear();
        self.nodes[n].deferred.clear();
        for l in 0..self.links.len() {
            if self.links[l].ends.contains(&n) {
                self.disconnect(l, "crash");
            }
        }
    }

    fn restart(&mut self, n: usize) {
        self.nodes[n].up = true;
        // What it acknowledged must have survived the crash.
        for (node, id, heads) in &self.acked {
            if *node == n
                && !self.purged.contains(&(n, *id))
                && !crate::check::holds(&self.nodes[n].store, *id, heads)
            {
                self.violations.push(format!(
                    "node {} lost acknowledged record {id} in a crash",
                    self.nodes[n].path
                ));
            }
        }
    }

    /// Moves a session's effects: frames onto the network, IO requests onto its node.
    fn drain(&mut self, l: usize) {
        let ends = self.links[l].ends;
        let Some(conn) = self.links[l].conn.as_mut() else {
            return;
        };
        let epoch = conn.epoch;
        let mut closed = false;
        for (side, session) in conn.sessions.iter_mut().enumerate() {
            while let Some(effect) = session.poll_effect() {
                match effect {
                    Effect::Transmit(bytes) => {
                        if std::env::var_os("SIMPUL_SIM_TRACE").is_some()
                            && let Ok(m) = simpul_sync::Message::decode(&bytes[4..], u32::MAX)
                        {
                            eprintln!(
                                "link {l} {side}->{}: {:?}",
                                1 - side,
                                match &m {
                                    simpul_sync::Message::Reconcile { round, payload } =>
                                        format!("reconcile {round} {}B", payload.len()),
                                    simpul_sync::Message::Record { id, bytes, .. } =>
                                        format!("record {} {}B", hex(id), bytes.len()),
                                    simpul_sync::Message::Changes { id, bytes, .. } =>
                                        format!("changes {} {}B", hex(id), bytes.len()),
                                    other => format!("{other:?}").chars().take(300).collect(),
                                }
                            );
                        }
                        self.frames.push_back(Frame {
                            link: l,
                            epoch,
                            to: 1 - side,
                            bytes: bytes[4..].to_vec(),
                        });
                        conn.quiet_steps = 0;
                    }
                    Effect::Closed { reason, error } => {
                        if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
                            eprintln!("link {l} side {side} closed (error {error}): {reason}");
                        }
                        if reason.starts_with("refused: ") {
                            self.hostile_closes += 1;
                        }
                        closed = true;
                    }
                    other => {
                        self.nodes[ends[side]].io.push_back((l, epoch, side, other));
                    }
                }
            }
            if let Some(watermark) = session.take_watermark() {
                session.set_since(watermark);
                let peer = self.nodes[ends[1 - side]].path.clone();
                self.nodes[ends[side]].since.insert(peer, watermark);
            }
        }
        if closed {
            self.disconnect(l, "closed");
        }
    }

    /// Delivers one frame. Frames keep their order within a connection direction (a QUIC
    /// stream does) and interleave freely across connections. With faults on, a lost
    /// frame kills its connection (the transport gives up) and a duplicated one arrives
    /// twice (the session must stay safe, or close).
    fn deliver_random_frame(&mut self, faults: bool) {
        if self.frames.is_empty() {
            return;
        }
        let pick = if faults {
            self.rng.random_range(0..self.frames.len())
        } else {
            0
        };
        let (link, to) = (self.frames[pick].link, self.frames[pick].to);
        let Some(i) = self
            .frames
            .iter()
            .position(|f| f.link == link && f.to == to)
        else {
            return;
        };
        let Some(frame) = self.frames.remove(i) else {
            return;
        };
        if faults && self.rng.random_bool(self.cfg.loss) {
            self.disconnect(frame.link, "frame lost");
            return;
        }
        let times = if faults && self.rng.random_bool(self.cfg.duplication) {
            2
        } else {
            1
        };
        for _ in 0..times {
            let Some(conn) = self.links[frame.link].conn.as_mut() else {
                return;
            };
            if conn.epoch != frame.epoch {
                return;
            }
            let mut framed = (frame.bytes.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&frame.bytes);
            conn.sessions[frame.to].handle_bytes(&framed);
            conn.quiet_steps = 0;
            self.drain(frame.link);
        }
    }

    fn random_io(&mut self) {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| !self.nodes[n].io.is_empty())
            .collect();
        if candidates.is_empty() {
            return;
        }
        let n = candidates[self.rng.random_range(0..candidates.len())];
        let ready = ready_io(&self.nodes[n].io);
        let pick = ready[self.rng.random_range(0..ready.len())];
        self.perform_io(n, pick);
    }

    /// Performs pending IO request `i` of node `n` and answers its session.
    fn perform_io(&mut self, n: usize, i: usize) {
        let Some((l, epoch, side, effect)) = self.nodes[n].io.remove(i) else {
            return;
        };
        let peer = self.nodes[self.links[l].ends[1 - side]].path.clone();
        let filter = self.cfg.fault != Some(Fault::SkipScopeFilter);
        let path = self.nodes[n].path.clone();
        let today = self.today;
        let fault = self.cfg.fault;
        let node = &mut self.nodes[n];
        let mut newly_acked = None;
        let mut purged = None;
        let mut covered_by_tombstone = false;
        let Some(conn) = self.links[l].conn.as_mut().filter(|c| c.epoch == epoch) else {
            return;
        };
        let session = &mut conn.sessions[side];
        match node.store.answer_read(&peer, filter, session, effect) {
            None => {}
            Some(Effect::Store {
                token,
                id,
                incoming,
                seals,
                certs,
                ..
            }) => match fault {
                Some(Fault::DropOnReceipt) => {
                    let scope = match &incoming {
                        Incoming::Document(d) => Record::from_document(d).map(|r| r.scope).ok(),
                        Incoming::Changes { .. } => node
                            .store
                            .records()
                            .get(&id)
                            .map(|s| s.record.scope.clone()),
                    };
                    match scope {
                        Some(scope) => session.handle_stored(
                            token,
                            Ok(StoreOutcome::Stored {
                                scope,
                                moved: None,
                                set_aside: 0,
                            }),
                        ),
                        None => session.handle_stored(token, Err("unknown".to_string().into())),
                    }
                }
                Some(Fault::AckBeforePersist) => {
                    // Acknowledge what the store would hold, then persist "later".
                    let mut scratch = node
                        .store
                        .as_mem()
                        .unwrap_or_else(|| unreachable!("fault runs use the MemStore"))
                        .clone();
                    let from = FromPeer {
                        peer: &peer,
                        seals: seals.clone(),
                        certs: certs.clone(),
                    };
                    let outcome = scratch.merge(&path, id, incoming.clone(), from, today);
                    if let (Ok(StoreOutcome::Stored { .. }), Some(s)) =
                        (&outcome, scratch.records().get(&id))
                    {
                        newly_acked = Some((n, id, s.heads.clone()));
                        node.deferred
                            .push((id, incoming, seals, certs, peer.clone()));
                    }
                    session.handle_stored(token, outcome);
                }
                _ => {
                    let from = FromPeer {
                        peer: &peer,
                        seals,
                        certs,
                    };
                    let outcome = node.store.merge(&path, id, incoming, from, today);
                    if matches!(outcome, Ok(StoreOutcome::MovedAway(_))) {
                        covered_by_tombstone = true;
                    }
                    if let (Ok(StoreOutcome::Stored { .. }), Some(s)) =
                        (&outcome, node.store.records().get(&id))
                    {
                        newly_acked = Some((n, id, s.heads.clone()));
                    }
                    session.handle_stored(token, outcome);
                }
            },
            Some(Effect::Moved {
                id,
                digest,
                evidence,
                seals,
                certs,
            }) => {
                let from = FromPeer {
                    peer: &peer,
                    seals,
                    certs,
                };
                let done = node.store.moved(&path, id, digest, evidence, from, today);
                if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
                    eprintln!("node {n} purge {id} digest {:x?}: {done}", &digest[..4]);
                }
                if done {
                    purged = Some((n, id));
                }
            }
            Some(_) => {}
        }
        if let Some(ack) = newly_acked {
            self.acked.push(ack);
        }
        if covered_by_tombstone {
            self.tombstone_answers += 1;
        }
        if let Some(p) = purged {
            self.purged.push(p);
        }
        self.drain(l);
        // A deferred (acknowledged!) store happens some time later, if no crash comes first.
        if fault == Some(Fault::AckBeforePersist) && self.rng.random_bool(0.3) {
            let node = &mut self.nodes[n];
            for (id, incoming, seals, certs, peer) in std::mem::take(&mut node.deferred) {
                let from = FromPeer {
                    peer: &peer,
                    seals,
                    certs,
                };
                let _ = node.store.merge(&path, id, incoming, from, today);
            }
        }
    }

    fn start_round(&mut self, l: usize) {
        if let Some(conn) = self.links[l].conn.as_mut() {
            conn.sessions[0].start_round();
            self.drain(l);
        }
    }

    fn time_out_quiet_connections(&mut self) {
        let mut stale = Vec::new();
        for (l, link) in self.links.iter_mut().enumerate() {
            if let Some(conn) = link.conn.as_mut() {
                let busy = conn.sessions.iter().any(|s| !s.is_idle());
                conn.quiet_steps = if busy { conn.quiet_steps + 1 } else { 0 };
                if conn.quiet_steps > IDLE_TIMEOUT_STEPS {
                    stale.push(l);
                }
            }
        }
        for l in stale {
            self.disconnect(l, "idle timeout");
        }
    }

    fn random_write(&mut self) {
        let n = self.rng.random_range(0..self.nodes.len());
        if !self.nodes[n].up {
            return;
        }
        let held: Vec<RecordId> = self.nodes[n]
            .store
            .records()
            .iter()
            .filter(|(_, s)| {
                s.record.scope.writable_by(&self.nodes[n].path) && s.record.patient().is_some()
            })
            .map(|(id, _)| *id)
            .collect();
        if !held.is_empty() && self.rng.random_bool(0.1) {
            let id = held[self.rng.random_range(0..held.len())];
            self.move_record(n, id);
        } else if !held.is_empty() && self.rng.random_bool(0.5) {
            let id = held[self.rng.random_range(0..held.len())];
            self.add_visit(n, id);
        } else {
            self.create_record(n);
        }
    }

    fn create_record(&mut self, n: usize) {
        let node_path = self.nodes[n].path.clone();
        let below: Vec<FacilityPath> = self
            .nodes
            .iter()
            .map(|x| x.path.clone())
            .filter(|p| node_path.is_ancestor_or_self(p))
            .collect();
        let audience = if self.rng.random_bool(0.1) {
            Audience::Down
        } else {
            Audience::Up
        };
        // An `up` record belongs to a facility at or below the writer; a `down` record
        // (a target list, a registry entry) is issued by the writer for its own subtree.
        let home = match audience {
            Audience::Up => below[self.rng.random_range(0..below.len())].clone(),
            Audience::Down => node_path.clone(),
        };
        self.next_record += 1;
        // Bound to the creating node's key, as a node with a key makes them.
        let mut unique = [0u8; 9];
        unique[..4].copy_from_slice(&(self.cfg.seed as u32).to_be_bytes());
        unique[4..].copy_from_slice(&self.next_record.to_be_bytes()[3..]);
        let key = keys().nodes[n].certified.key.0;
        let id = RecordId::bound([key[0], key[1], key[2], key[3]], unique);
        // A person as simpul-gen makes them (NIK, family card, a history of visits),
        // registered at `home`.
        let mut record = self.people.patient(self.next_record);
        record.id = id;
        record.scope = Scope::up(home.clone());
        record.scope.audience = audience;
        if let RecordBody::Patient(p) = &mut record.body {
            p.home_facility = home;
        }
        let Ok(doc) = record.create_document(self.actor(n), self.today, self.next_record * 1000)
        else {
            return self
                .violations
                .push(format!("generated record {} is invalid", record.id));
        };
        let bytes = doc.save();
        let signer = &keys().nodes[n].signer;
        if let Err(e) = self.nodes[n]
            .store
            .put_local(&node_path, &doc, record.clone(), signer)
        {
            return self.violations.push(e);
        }
        self.acked.push((n, record.id, doc.get_heads()));
        self.created.push(record.id);
        self.push_live(n, record.id, &record.scope, bytes, &doc.get_heads(), true);
    }

    fn add_visit(&mut self, n: usize, id: RecordId) {
        let node_path = self.nodes[n].path.clone();
        let Some(doc) = self.nodes[n].store.load(id) else {
            return;
        };
        let Ok(before) = Record::from_document(&doc) else {
            return;
        };
        let mut after = before.clone();
        // Now and then a visit recorded in error is marked so (kept, no longer counted).
        if self.rng.random_bool(0.15)
            && let RecordBody::Patient(p) = &mut after.body
            && let Some(visit) = p.visits.values_mut().find(|v| v.entered_in_error.is_none())
        {
            visit.entered_in_error = Some(simpul_model::ErrorMark {
                reason: "salah pasien".into(),
                by: node_path.to_string(),
                at_ms: self.next_record * 1000,
            });
            return self.commit_local_edit(n, doc, &before, after, 3);
        }
        let key = VisitId::from_bytes(self.rng.random()).to_string();
        if let RecordBody::Patient(p) = &mut after.body {
            let mut v = Visit::new(
                self.today,
                node_path.clone(),
                Klaster::DewasaLansia,
                Setting::Posyandu,
                "sim",
            );
            v.measurements.weight_kg = Some(f64::from(self.rng.random_range(40..90)));
            p.visits.insert(key, v);
        }
        self.commit_local_edit(n, doc, &before, after, 1);
    }

    /// A family moves: node `n` re-registers a record of its subtree at another facility
    /// of the same level in its subtree. The old holders below `n` must let it go.
    fn move_record(&mut self, n: usize, id: RecordId) {
        let node_path = self.nodes[n].path.clone();
        let Some(stored) = self.nodes[n].store.records().get(&id) else {
            return;
        };
        let before = stored.record.clone();
        let [old] = before.scope.paths.as_slice() else {
            return;
        };
        if before.scope.audience != Audience::Up
            || old == &node_path
            || !node_path.is_ancestor_or_self(old)
        {
            return;
        }
        let candidates: Vec<FacilityPath> = self
            .nodes
            .iter()
            .map(|x| x.path.clone())
            .filter(|p| node_path.is_ancestor_or_self(p) && p.depth() == old.depth() && p != old)
            .collect();
        if candidates.is_empty() {
            return;
        }
        let new = candidates[self.rng.random_range(0..candidates.len())].clone();
        let Some(doc) = self.nodes[n].store.load(id) else {
            return;
        };
        let mut after = before.clone();
        after.scope.paths = vec![new.clone()];
        if let RecordBody::Patient(p) = &mut after.body {
            p.home_facility = new;
        }
        self.commit_local_edit(n, doc, &before, after, 2);
    }

    /// Writes `after` over `before` in node `n`'s copy `doc` as the node's own change,
    /// stores it durably, records the acknowledgement and pushes it to connected peers.
    fn commit_local_edit(
        &mut self,
        n: usize,
        doc: simpul_model::automerge::Automerge,
        before: &Record,
        after: Record,
        tick: u64,
    ) {
        let node_path = self.nodes[n].path.clone();
        let before_heads = doc.get_heads();
        let mut local = doc.with_actor(self.actor(n));
        if after
            .write_over(
                before,
                &mut local,
                self.today,
                self.next_record * 1000 + tick,
            )
            .is_err()
        {
            return;
        }
        let change = local.save_after(&before_heads);
        if let Err(e) = self.nodes[n].store.put_local(
            &node_path,
            &local,
            after.clone(),
            &keys().nodes[n].signer,
        ) {
            return self.violations.push(e);
        }
        let heads = local.get_heads();
        self.acked.push((n, after.id, heads.clone()));
        self.push_live(n, after.id, &after.scope, change, &heads, false);
    }

    fn push_live(
        &mut self,
        n: usize,
        id: RecordId,
        scope: &Scope,
        bytes: Vec<u8>,
        heads: &[ChangeHash],
        created: bool,
    ) {
        if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
            let digest = simpul_model::heads_digest(heads);
            eprintln!(
                "node {n} local change {id} created {created} digest {:x?}",
                &digest[..4]
            );
        }
        for l in 0..self.links.len() {
            let Some(side) = self.links[l].ends.iter().position(|&e| e == n) else {
                continue;
            };
            if let Some(conn) = self.links[l].conn.as_mut() {
                let (seals, certs) = self.nodes[n].store.sealing(id);
                conn.sessions[side].handle_local_change(
                    id,
                    scope,
                    bytes.clone(),
                    heads,
                    created,
                    &seals,
                    &certs,
                );
                self.drain(l);
            }
        }
    }

    /// Heals every partition, restarts every node, switches faults off, and runs until
    /// every link has reconciled with nothing left to move.
    fn settle(&mut self) {
        self.settle_epoch = self.next_epoch;
        if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
            eprintln!("== final heal");
        }
        for n in 0..self.nodes.len() {
            if !self.nodes[n].up {
                self.restart(n);
            }
        }
        for link in &mut self.links {
            link.up = true;
        }
        let mut clean_rounds = 0;
        self.run_until_quiet();
        for _ in 0..SETTLE_ROUNDS {
            // Quiet: one more reconciliation on every link; done when it moves nothing.
            let before: Vec<u64> = self
                .nodes
                .iter()
                .map(|n| crate::check::fingerprint(&n.store))
                .collect();
            for l in 0..self.links.len() {
                self.start_round(l);
            }
            self.run_until_quiet();
            self.kader_trip(true);
            let after: Vec<u64> = self
                .nodes
                .iter()
                .map(|n| crate::check::fingerprint(&n.store))
                .collect();
            if std::env::var_os("SIMPUL_SIM_TRACE").is_some() {
                let conns = self.links.iter().filter(|l| l.conn.is_some()).count();
                let ups = self.nodes.iter().filter(|n| n.up).count();
                eprintln!(
                    "settle round: {conns} connections, {ups} nodes up, changed: {}",
                    before != after
                );
                for (l, link) in self.links.iter().enumerate() {
                    if let Some(c) = &link.conn {
                        eprintln!(
                            "  link {l}: closed {} {:?} / {:?}",
                            c.sessions[0].is_closed(),
                            c.sessions[0].progress(),
                            c.sessions[1].progress()
                        );
                    }
                }
            }
            clean_rounds = if before == after { clean_rounds + 1 } else { 0 };
            if clean_rounds >= 2 {
                return;
            }
        }
        self.violations.push(format!(
            "seed {}: still moving records after {SETTLE_ROUNDS} rounds on every link",
            self.cfg.seed
        ));
    }

    fn run_until_quiet(&mut self) {
        for _ in 0..SETTLE_LIMIT {
            self.connect_links();
            if !self.frames.is_empty() {
                self.deliver_random_frame(false);
            } else if let Some(n) = (0..self.nodes.len()).find(|&n| !self.nodes[n].io.is_empty()) {
                let ready = ready_io(&self.nodes[n].io);
                let pick = ready[self.rng.random_range(0..ready.len())];
                self.perform_io(n, pick);
            } else {
                // Nothing in flight: a session still busy is stalled and times out.
                let stalled: Vec<usize> = (0..self.links.len())
                    .filter(|&l| {
                        self.links[l]
                            .conn
                            .as_ref()
                            .is_some_and(|c| c.sessions.iter().any(|s| !s.is_idle()))
                    })
                    .collect();
                if stalled.is_empty() {
                    return;
                }
                for l in stalled {
                    // Connections made after the faults stopped must never stall.
                    if self.links[l]
                        .conn
                        .as_ref()
                        .is_some_and(|c| c.epoch > self.settle_epoch)
                    {
                        self.violations.push(format!(
                            "link {l} stalled after the final heal (a protocol bug)"
                        ));
                    }
                    self.stalls += 1;
                    if std::env::var_os("SIMPUL_SIM_TRACE").is_some()
                        && let Some(c) = &self.links[l].conn
                    {
                        eprintln!(
                            "stalled link {l}: {:?} / {:?}",
                            c.sessions[0].progress(),
                            c.sessions[1].progress()
                        );
                    }
                    self.disconnect(l, "stalled");
                }
            }
        }
    }
}

/// The IO requests of a node that may complete next, as the node's driver runs them: it
/// takes a session's effects in order, carries out some inline (reading the shared items,
/// loading a document: the session waits for them) and starts record reads and merges
/// as tasks that finish in any order. So a read or merge may complete before anything
/// queued after it by its session, and an inline effect only once it is the first
/// inline effect of its session and every effect before it has started.
fn ready_io(io: &VecDeque<(usize, u64, usize, Effect)>) -> Vec<usize> {
    let mut blocked: Vec<(usize, u64, usize)> = Vec::new();
    let mut ready = Vec::new();
    for (i, (l, epoch, side, effect)) in io.iter().enumerate() {
        let session = (*l, *epoch, *side);
        if blocked.contains(&session) {
            continue;
        }
        ready.push(i);
        if !matches!(effect, Effect::ReadRecord { .. } | Effect::Store { .. }) {
            blocked.push(session);
        }
    }
    ready
}

/// The instance of node `n`'s actor.
fn instance(n: usize) -> [u8; 4] {
    [n as u8, 0, 0, 0]
}

/// The actor node `n` writes with: bound to its key.
fn node_actor(n: usize) -> simpul_model::automerge::ActorId {
    let cert = &keys().nodes[n].certified;
    signing_actor(&cert.facility, cert.key, instance(n))
}

/// A patient record `id` of `home` with no visits.
pub(crate) fn blank_patient(id: RecordId, home: FacilityPath, today: Date) -> Record {
    Record {
        id,
        scope: Scope::up(home.clone()),
        body: RecordBody::Patient(Patient {
            identifiers: Identifiers::default(),
            name: "Warga".into(),
            sex: Sex::Female,
            birth_date: Date::from_ymd(1990, 1, 1).unwrap_or(today),
            address: Address {
                village: "3273012001".into(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: home,
            mother: None,
            birth_date_estimated: false,
            kia_book: false,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: BTreeMap::new(),
        }),
    }
}

/// A record id in hex, as the checkers print it (for traces).
fn hex(id: &[u8; 16]) -> String {
    RecordId::from_bytes(*id).to_string()
}
