//! What the node knows about each peer and its recent sessions: what `simpul status`,
//! `peers` and `log` show. Sessions and diallers write it; the admin socket reads it.
//!
//! "To send" is computed, not guessed: the writes stored here since the last completed
//! sync with the peer that the peer should hold and has not acknowledged, plus what the
//! current session still has queued.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use simpul_model::{FacilityPath, RecordId, Scope};
use simpul_sync::{Progress, Role, SessionStats, shared};

/// Sessions kept for `simpul log`.
const LOG_LENGTH: usize = 200;

/// Where a peer stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PeerState {
    /// A session is running.
    Connected {
        /// Since when (Unix ms).
        since_ms: u64,
        /// Who dialled: `initiator` means this node.
        role: String,
    },
    /// This node is dialling it now.
    Dialling,
    /// The last dial failed; the next attempt is at `next_attempt_ms`.
    BackingOff {
        /// When this node dials again (Unix ms).
        next_attempt_ms: u64,
    },
    /// The peer (or this node) refused the connection: a certificate or identity problem
    /// that retrying will not fix by itself.
    Refused {
        /// Why.
        reason: String,
        /// When this node tries again (Unix ms).
        next_attempt_ms: u64,
    },
    /// Not connected, and this node does not dial it (it dials us).
    Disconnected,
}

/// Records and bytes waiting to move.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    /// Records.
    pub records: u64,
    /// Bytes, where known.
    pub bytes: u64,
}

/// The plan of a reconciliation, from this node's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Records only this node held.
    pub sending: u32,
    /// Records only the peer held.
    pub wanting: u32,
    /// Records both held in different versions.
    pub differing: u32,
}

/// One row of `simpul status` / `simpul peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's facility.
    pub path: FacilityPath,
    /// The address this node dials, if it dials the peer.
    pub address: Option<String>,
    /// Where it stands.
    #[serde(flatten)]
    pub state: PeerState,
    /// When a session last ended a reconciliation with nothing left to move (Unix ms).
    pub last_sync_ms: Option<u64>,
    /// When the last reconciliation ran (Unix ms).
    pub last_reconciled_ms: Option<u64>,
    /// What that reconciliation found.
    pub last_plan: Option<Plan>,
    /// Still to send: writes here the peer has not acknowledged, and queued transfers;
    /// before this process has reconciled with the peer, at most the records changed
    /// since the two were last in sync, read from the store at start-up (see
    /// `backlog_from_store`).
    pub to_send: Backlog,
    /// Still to receive, as of the last reconciliation (one before a restart included).
    pub to_receive: Backlog,
    /// True while the backlog figures come from the store (written by an earlier run or
    /// while the node was stopped) rather than from a reconciliation of this run.
    #[serde(default)]
    pub backlog_from_store: bool,
    /// When the backlog figures were established (Unix ms): the last reconciliation,
    /// or the store read at start-up.
    #[serde(default)]
    pub backlog_as_of_ms: Option<u64>,
    /// Records sent and not yet acknowledged by the peer as stored.
    pub awaiting_ack: u64,
    /// How long the latest pushed write took to be acknowledged by the peer (ms).
    pub push_lag_ms: Option<u64>,
    /// Bytes received from the peer, over every session since this node started.
    pub bytes_in: u64,
    /// Bytes sent to the peer, likewise.
    pub bytes_out: u64,
    /// Records received and stored, likewise.
    pub records_in: u64,
    /// Records sent and acknowledged, likewise.
    pub records_out: u64,
    /// Round-trip time of the current connection (ms).
    pub rtt_ms: Option<u64>,
    /// The latest error (dial, handshake or session) and when (Unix ms).
    pub last_error: Option<(u64, String)>,
    /// Errors since this node started, by kind: `dial` (unreachable), `refused` (a
    /// certificate or identity the other side or this one would not take), `session`
    /// (a session that ended in error).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Sessions since this node started.
    pub sessions: u64,
    /// Reconciliation messages this node sent in the current (or last) session.
    pub rounds: u32,
}

/// One ended session, for `simpul log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The peer.
    pub peer: FacilityPath,
    /// `initiator` when this node dialled.
    pub role: String,
    /// When it started and ended (Unix ms).
    pub started_ms: u64,
    /// When it ended.
    pub ended_ms: u64,
    /// Records sent (acknowledged) and received (stored).
    pub records_out: u64,
    /// Records received and stored.
    pub records_in: u64,
    /// Bytes each way.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// The last reconciliation's plan.
    pub plan: Option<Plan>,
    /// How it ended.
    pub reason: String,
    /// True when it ended on an error.
    pub error: bool,
}

#[derive(Debug)]
struct Peer {
    status: PeerStatus,
    /// Writes stored here since the last completed sync that the peer should hold:
    /// record -> (bytes, when written).
    pending: HashMap<RecordId, (u64, u64)>,
    /// Counters of the current session, added to the totals when it ends.
    current: Option<SessionStats>,
    started_ms: u64,
    queued: Backlog,
    received_at_plan: u64,
    /// The backlog read from the store at start-up, until a reconciliation replaces it.
    stored: Option<StoredBacklog>,
}

/// A peer's backlog as the store had it at start-up.
#[derive(Debug, Clone, Copy)]
struct StoredBacklog {
    to_send: u64,
    to_receive: u64,
    as_of_ms: u64,
    /// When the "to receive" figure was reconciled (by an earlier run).
    received_as_of_ms: Option<u64>,
}

impl Peer {
    fn new(path: FacilityPath, address: Option<String>) -> Self {
        let state = if address.is_some() {
            PeerState::Dialling
        } else {
            PeerState::Disconnected
        };
        Self {
            status: PeerStatus {
                path,
                address,
                state,
                last_sync_ms: None,
                last_reconciled_ms: None,
                last_plan: None,
                to_send: Backlog::default(),
                to_receive: Backlog::default(),
                backlog_from_store: false,
                backlog_as_of_ms: None,
                awaiting_ack: 0,
                push_lag_ms: None,
                bytes_in: 0,
                bytes_out: 0,
                records_in: 0,
                records_out: 0,
                rtt_ms: None,
                last_error: None,
                errors: BTreeMap::new(),
                sessions: 0,
                rounds: 0,
            },
            pending: HashMap::new(),
            current: None,
            started_ms: 0,
            queued: Backlog::default(),
            received_at_plan: 0,
            stored: None,
        }
    }

    fn view(&self) -> PeerStatus {
        let mut s = self.status.clone();
        let pending_bytes: u64 = self.pending.values().map(|(b, _)| b).sum();
        s.to_send = Backlog {
            records: self.pending.len() as u64 + self.queued.records,
            bytes: pending_bytes + self.queued.bytes,
        };
        s.backlog_as_of_ms = s.last_reconciled_ms;
        if let Some(stored) = self.stored {
            // Writes since start-up may be among those counted already: "at most".
            s.to_send.records += stored.to_send;
            s.to_receive.records = stored.to_receive;
            s.backlog_from_store = true;
            s.backlog_as_of_ms = Some(stored.received_as_of_ms.unwrap_or(stored.as_of_ms));
        }
        if let Some(c) = &self.current {
            s.bytes_in += c.bytes_in;
            s.bytes_out += c.bytes_out;
            s.records_in += c.records_received;
            s.records_out += c.records_sent;
        }
        s
    }
}

#[derive(Debug)]
struct Inner {
    local: FacilityPath,
    peers: BTreeMap<FacilityPath, Peer>,
    log: VecDeque<SessionRecord>,
}

/// The shared board. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Board {
    inner: Arc<Mutex<Inner>>,
}

fn role_name(role: Role) -> String {
    match role {
        Role::Initiator => "initiator".into(),
        Role::Responder => "responder".into(),
    }
}

fn plan_of(stats: &SessionStats) -> Option<Plan> {
    stats.last_plan.map(|(sending, wanting, differing)| Plan {
        sending,
        wanting,
        differing,
    })
}

impl Board {
    /// A board for the node at `local` that dials `peers` (path, address).
    pub fn new(
        local: FacilityPath,
        peers: impl IntoIterator<Item = (FacilityPath, String)>,
    ) -> Self {
        let peers = peers
            .into_iter()
            .map(|(path, addr)| (path.clone(), Peer::new(path, Some(addr))))
            .collect();
        Self {
            inner: Arc::new(Mutex::new(Inner {
                local,
                peers,
                log: VecDeque::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take status down with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_peer(&self, peer: &FacilityPath, f: impl FnOnce(&mut Peer)) {
        let mut inner = self.lock();
        let entry = inner
            .peers
            .entry(peer.clone())
            .or_insert_with(|| Peer::new(peer.clone(), None));
        f(entry);
    }

    /// This node starts dialling `peer`.
    pub fn dialling(&self, peer: &FacilityPath) {
        self.with_peer(peer, |p| p.status.state = PeerState::Dialling);
    }

    /// A dial failed; the next is at `next_attempt_ms`. `refused` marks certificate and
    /// identity failures.
    pub fn dial_failed(
        &self,
        peer: &FacilityPath,
        error: String,
        refused: bool,
        now_ms: u64,
        next_attempt_ms: u64,
    ) {
        self.with_peer(peer, |p| {
            p.status.state = if refused {
                PeerState::Refused {
                    reason: error.clone(),
                    next_attempt_ms,
                }
            } else {
                PeerState::BackingOff { next_attempt_ms }
            };
            p.status.last_error = Some((now_ms, error));
            let kind = if refused { "refused" } else { "dial" };
            *p.status.errors.entry(kind.into()).or_default() += 1;
        });
    }

    /// A session with `peer` began.
    pub fn session_started(&self, peer: &FacilityPath, role: Role, now_ms: u64) {
        self.with_peer(peer, |p| {
            p.status.state = PeerState::Connected {
                since_ms: now_ms,
                role: role_name(role),
            };
            p.status.sessions += 1;
            p.started_ms = now_ms;
            p.current = Some(SessionStats::default());
            p.received_at_plan = 0;
        });
    }

    /// The session's latest state. `acked` are records the peer acknowledged since the
    /// last update; `in_sync` is true when a reconciliation has run and nothing is under
    /// way.
    #[allow(clippy::too_many_arguments)]
    pub fn session_progress(
        &self,
        peer: &FacilityPath,
        stats: &SessionStats,
        progress: Progress,
        rtt_ms: u64,
        acked: &[RecordId],
        in_sync: bool,
        now_ms: u64,
    ) {
        self.with_peer(peer, |p| {
            let plan = plan_of(stats);
            if plan.is_some() && plan != p.status.last_plan
                || stats.reconcile_rounds > p.current.as_ref().map_or(0, |c| c.reconcile_rounds)
            {
                p.status.last_reconciled_ms = Some(now_ms);
                p.received_at_plan = stats.records_received;
            }
            if plan.is_some() {
                p.status.last_plan = plan;
                // Reconciled in this run: the live figures take over.
                p.stored = None;
            }
            for id in acked {
                if let Some((_, written)) = p.pending.remove(id) {
                    p.status.push_lag_ms = Some(now_ms.saturating_sub(written));
                }
            }
            p.queued = Backlog {
                records: (progress.to_send + progress.to_sync + progress.syncing) as u64,
                bytes: 0,
            };
            p.status.awaiting_ack = progress.unacknowledged as u64;
            let expected = plan.map_or(0, |pl| u64::from(pl.wanting) + u64::from(pl.differing));
            let received = stats.records_received.saturating_sub(p.received_at_plan);
            p.status.to_receive = Backlog {
                records: expected.saturating_sub(received),
                bytes: 0,
            };
            if in_sync {
                p.pending.clear();
                p.status.to_receive = Backlog::default();
                p.status.last_sync_ms = Some(now_ms);
            }
            p.status.rtt_ms = Some(rtt_ms);
            p.status.rounds = stats.reconcile_rounds;
            p.current = Some(stats.clone());
        });
    }

    /// The session with `peer` ended.
    pub fn session_ended(
        &self,
        peer: &FacilityPath,
        role: Role,
        stats: &SessionStats,
        reason: &str,
        error: bool,
        now_ms: u64,
    ) {
        let mut inner = self.lock();
        let Some(p) = inner.peers.get_mut(peer) else {
            return;
        };
        p.current = None;
        p.queued = Backlog::default();
        p.status.bytes_in += stats.bytes_in;
        p.status.bytes_out += stats.bytes_out;
        p.status.records_in += stats.records_received;
        p.status.records_out += stats.records_sent;
        p.status.rtt_ms = None;
        // A peer this node dials goes back to its dialler; one that dials us waits for it.
        p.status.state = if p.status.address.is_some() {
            PeerState::Dialling
        } else {
            PeerState::Disconnected
        };
        if error {
            p.status.last_error = Some((now_ms, reason.to_string()));
            *p.status.errors.entry("session".into()).or_default() += 1;
        }
        let record = SessionRecord {
            peer: peer.clone(),
            role: role_name(role),
            started_ms: p.started_ms,
            ended_ms: now_ms,
            records_out: stats.records_sent,
            records_in: stats.records_received,
            bytes_out: stats.bytes_out,
            bytes_in: stats.bytes_in,
            plan: plan_of(stats),
            reason: reason.to_string(),
            error,
        };
        inner.log.push_back(record);
        while inner.log.len() > LOG_LENGTH {
            inner.log.pop_front();
        }
    }

    /// A write was stored here (`bytes` is what it adds): every peer that should hold
    /// the record, except the one it came from, now has it to receive.
    pub fn note_write(
        &self,
        id: RecordId,
        scope: &Scope,
        bytes: u64,
        from: Option<&FacilityPath>,
        now_ms: u64,
    ) {
        let mut inner = self.lock();
        let local = inner.local.clone();
        for (path, p) in inner.peers.iter_mut() {
            if Some(path) != from && shared(scope, &local, path) {
                let entry = p.pending.entry(id).or_insert((0, now_ms));
                entry.0 += bytes;
            }
        }
    }

    /// The backlog with `peer` as the store had it at start-up: `to_send` records
    /// changed since the two were last in sync, `to_receive` what the last
    /// reconciliation (of an earlier run) left to receive, and when that was; and when
    /// the two were last in sync (an earlier run's). Shown until
    /// this run reconciles with the peer; a peer this node does not dial gets a row.
    pub fn stored_backlog(
        &self,
        peer: &FacilityPath,
        to_send: u64,
        to_receive: u64,
        received_as_of_ms: Option<u64>,
        last_sync_ms: Option<u64>,
        now_ms: u64,
    ) {
        self.with_peer(peer, |p| {
            if p.status.last_sync_ms.is_none() {
                p.status.last_sync_ms = last_sync_ms;
            }
            if p.status.last_plan.is_none() {
                p.stored = Some(StoredBacklog {
                    to_send,
                    to_receive,
                    as_of_ms: now_ms,
                    received_as_of_ms,
                });
            }
        });
    }

    /// Every peer's row.
    pub fn peers(&self) -> Vec<PeerStatus> {
        self.lock().peers.values().map(Peer::view).collect()
    }

    /// The most recent sessions, newest last.
    pub fn log(&self) -> Vec<SessionRecord> {
        self.lock().log.iter().cloned().collect()
    }
}
