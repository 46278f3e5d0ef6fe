//! One sync session over one QUIC connection: bytes from the stream and timer ticks go
//! into the [`Session`]; its effects are carried out against the store (on the blocking
//! pool) and its frames written to the stream.

use std::sync::Arc;
use std::time::Duration;

use quinn::SendStream;

use crate::codec::{BATCH_BYTES, Deflate, Inflate};
use simpul_model::{FacilityPath, Incoming, RecordId};
use simpul_net::PeerConnection;
use simpul_store::{Offer, Offered, PeerData, Store};
use simpul_sync::{
    Effect, HeldRevocations, Item, Refused, Role, SealedDoc, Session, SessionConfig, SessionStats,
    StoreOutcome,
};
use simpul_trust::{Revocations, Sealed};
use tokio::sync::{broadcast, watch};

use crate::admin::LocalChange;
use crate::board::Board;
use crate::clock::Clock;

/// How a session runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Protocol limits.
    pub config: SessionConfig,
    /// Reconcile again this often while connected (the dialler).
    pub round_every: Duration,
    /// The time: today's date, for validating what arrives, and the time written into
    /// stored records' metadata, both read when they are used.
    pub clock: Clock,
}

/// How a session ended.
#[derive(Debug, Clone)]
pub struct SessionEnd {
    /// Why it ended.
    pub reason: String,
    /// True when it ended on an error (ours, the peer's or the connection's).
    pub error: bool,
    /// Its counters.
    pub stats: SessionStats,
    /// It ended because this node's store failed under it (the node must reopen it).
    pub store_failed: bool,
}

/// How a session is tied to the rest of the node.
#[derive(Debug)]
pub struct NodeLinks {
    /// Writes made at this node, to push to the peer at once.
    pub writes: broadcast::Receiver<LocalChange>,
    /// Requests to reconcile now, with one peer or with all (`None`).
    pub rounds: broadcast::Receiver<Option<FacilityPath>>,
    /// Where the session reports its progress.
    pub board: Board,
    /// The district revocation list the node holds, as it changes: a session whose peer
    /// it revokes ends, and one that learns a newer list passes it here.
    pub revocations: watch::Sender<Option<Arc<Revocations>>>,
}

/// Runs a session with `conn.peer` until it closes, the connection drops, or `stop`
/// becomes true, reporting to the board as it goes. The dialler (`Role::Initiator`)
/// opens the stream and reconciles.
pub async fn run_session(
    store: Store,
    conn: PeerConnection,
    role: Role,
    options: SessionOptions,
    links: NodeLinks,
    stop: watch::Receiver<bool>,
) -> SessionEnd {
    let (peer, board) = (conn.peer.clone(), links.board.clone());
    let clock = options.clock.clone();
    board.session_started(&peer, role, clock.now_ms());
    let end = contained(drive(store.clone(), conn, role, options, links, stop)).await;
    board.session_ended(
        &peer,
        role,
        &end.stats,
        &end.reason,
        end.error,
        clock.now_ms(),
    );
    if end.stats.last_plan.is_some() {
        keep_open_backlog(store, &board, &peer).await;
    }
    end
}

pub use simpul_sync::marks::{SINCE_MARK, since_mark};

/// The mark holding what the last reconciliation with `peer` left to receive.
pub fn open_mark(peer: &FacilityPath) -> String {
    format!("sync-open/{peer}")
}

/// The prefix of [`open_mark`]s (kept by both sides of a session).
pub const OPEN_MARK: &str = "sync-open/";

/// The mark holding when that reconciliation was (Unix ms).
pub fn open_at_mark(peer: &FacilityPath) -> String {
    format!("sync-open-at/{peer}")
}

/// The mark holding when this node and `peer` were last in sync (Unix ms).
pub fn last_sync_mark(peer: &FacilityPath) -> String {
    format!("sync-last/{peer}")
}

/// Keeps what the session's last reconciliation left to receive, and when the two were
/// last in sync, so that `status` and the metrics after a restart still say it (the
/// records to send are counted from the store).
async fn keep_open_backlog(store: Store, board: &Board, peer: &FacilityPath) {
    let Some(row) = board.peers().into_iter().find(|p| p.path == *peer) else {
        return;
    };
    let Some(at) = row.last_reconciled_ms else {
        return;
    };
    let (open, open_at, last) = (open_mark(peer), open_at_mark(peer), last_sync_mark(peer));
    let kept = blocking(move || {
        store.set_mark(&open, row.to_receive.records)?;
        store.set_mark(&open_at, at)?;
        match row.last_sync_ms {
            Some(synced) => store.set_mark(&last, synced),
            None => Ok(()),
        }
    })
    .await;
    if let Err(e) = kept {
        tracing::warn!(error = %e, "keeping what is left to receive");
    }
}

/// Runs a session on a task of its own: a panic inside it (a bug; nothing a peer sends
/// should cause one) ends that session with the panic's message, logged, instead of
/// taking down the caller (a dialler's loop, which then redials as after any error).
async fn contained(session: impl Future<Output = SessionEnd> + Send + 'static) -> SessionEnd {
    match tokio::spawn(session).await {
        Ok(end) => end,
        Err(e) => {
            let why = match e.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into()),
                Err(e) => e.to_string(),
            };
            tracing::error!(reason = %why, "the session panicked");
            end(
                format!("the session panicked: {why}"),
                true,
                SessionStats::default(),
            )
        }
    }
}

async fn drive(
    store: Store,
    conn: PeerConnection,
    role: Role,
    options: SessionOptions,
    links: NodeLinks,
    mut stop: watch::Receiver<bool>,
) -> SessionEnd {
    let local = store.node().path.clone();
    let streams = match role {
        Role::Initiator => conn.connection.open_bi().await,
        Role::Responder => conn.connection.accept_bi().await,
    };
    let (mut send, mut recv) = match streams {
        Ok(s) => s,
        Err(e) => return end(format!("no stream: {e}"), true, SessionStats::default()),
    };
    let codecs =
        Deflate::new(conn.compressed).and_then(|d| Ok((d, Inflate::new(conn.compressed)?)));
    let (mut deflate, mut inflate) = match codecs {
        Ok(c) => c,
        Err(e) => return end(format!("no codec: {e}"), true, SessionStats::default()),
    };
    let NodeLinks {
        writes,
        rounds,
        board,
        revocations,
    } = links;
    let peer_cert = PeerCert::of(&conn.certificate);
    let mut revoked = revocations.subscribe();
    let mut config = options.config.clone();
    config.revocations = revoked.borrow().as_ref().map(|r| HeldRevocations {
        number: r.number,
        der: r.der.clone(),
    });
    if let Some(list) = revoked.borrow_and_update().as_ref()
        && peer_cert.revoked_by(list)
    {
        conn.connection.close(2u32.into(), b"certificate revoked");
        return end(
            "the peer's certificate is revoked".into(),
            true,
            SessionStats::default(),
        );
    }
    let mut session = Session::new(config, role, local, conn.peer.clone());
    let since_mark = since_mark(&conn.peer);
    if role == Role::Initiator {
        let (store, mark) = (store.clone(), since_mark.clone());
        match blocking(move || store.mark(&mark)).await {
            Ok(since) => session.set_since(since.unwrap_or(0)),
            Err(e) => tracing::warn!(error = %e, "reading when this peer was last in sync"),
        }
    }
    let mut ticker = tokio::time::interval(options.round_every);
    ticker.tick().await;
    let mut rounds_logged = 0;
    let (mut writes, mut rounds) = (Some(writes), Some(rounds));
    // The session ends when the peer's certificate does.
    let expiry = tokio::time::sleep(peer_cert.until_expiry(options.clock.now_ms()));
    tokio::pin!(expiry);
    // Reads and stores run concurrently on the blocking pool (the store's writer then
    // commits many records at once); their results come back here.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(CONCURRENT_EFFECTS));
    loop {
        let effects = Effects {
            store: &store,
            options: &options,
            done: &done_tx,
            slots: &slots,
            revocations: &revocations,
            peer: &conn.peer,
        };
        let mut wire = Wire {
            send: &mut send,
            deflate: &mut deflate,
        };
        if let Some(ended) = carry_out(&mut session, &effects, &mut wire).await {
            // The reason goes in the close frame too: closing discards stream data not yet
            // delivered, the goodbye among it.
            let code = if ended.error { 1u32 } else { 0 };
            conn.connection
                .close(code.into(), close_reason(&ended.reason).as_bytes());
            return ended;
        }
        if let Some(watermark) = session.take_watermark() {
            // A record dated in the future must not push the next recent part past now
            // (content times are Automerge change times: seconds).
            let since = watermark.min(options.clock.now_ms() / 1000);
            session.set_since(since);
            // Not awaited: the write waits for the writer's commit, the session need not.
            let (store, mark) = (store.clone(), since_mark.clone());
            tokio::spawn(async move {
                if let Err(e) = blocking(move || store.set_mark(&mark, since)).await {
                    tracing::warn!(error = %e, "keeping when this peer was last in sync");
                }
            });
        }
        let acked = session.drain_acknowledged();
        let in_sync = session.stats().last_plan.is_some() && session.is_idle();
        if in_sync && let Some(ended) = wire.rest(session.stats()).await {
            conn.connection
                .close(1u32.into(), close_reason(&ended.reason).as_bytes());
            return ended;
        }
        let rtt = conn.connection.rtt().as_millis() as u64;
        board.session_progress(
            &conn.peer,
            session.stats(),
            session.progress(),
            rtt,
            &acked,
            in_sync,
            options.clock.now_ms(),
        );
        let stats = session.stats();
        if stats.reconcile_rounds != rounds_logged
            && let Some((sending, wanting, differing)) = stats.last_plan
            && session.progress() == Default::default()
        {
            rounds_logged = stats.reconcile_rounds;
            if sending + wanting + differing == 0 {
                tracing::info!("in sync: nothing to move");
            } else {
                tracing::info!(sending, wanting, differing, "reconciled and moved");
            }
        }
        tokio::select! {
            // Chunks as the connection holds them: no read buffer per session.
            read = recv.read_chunk(READ_CHUNK, true) => match read {
                Ok(Some(chunk)) => {
                    if let Err(e) = inflate.feed(&chunk.bytes, &mut |bytes| session.handle_bytes(bytes)) {
                        conn.connection.close(1u32.into(), b"undecodable compressed stream");
                        let reason = format!("undecodable compressed stream: {e}");
                        return end(reason, true, session.stats().clone());
                    }
                }
                Ok(None) => return end("peer finished the stream".into(), false, session.stats().clone()),
                Err(e) => return stream_failed(&e, session.stats().clone()),
            },
            Some(done) = done_rx.recv() => match done {
                Done::Read { id, record } => session.handle_record_bytes(id, record),
                Done::Failed(reason) => return store_failed(reason, session.stats().clone()),
                Done::Stored { token, id, result } => {
                    let outcome = result.map(|(outcome, write)| {
                        if let Some((scope, bytes)) = write {
                            board.note_write(id, &scope, bytes, Some(session.peer()), options.clock.now_ms());
                        }
                        outcome
                    });
                    session.handle_stored(token, outcome);
                }
            },
            _ = ticker.tick() => session.start_round(),
            round = next(&mut rounds) => match round {
                Ok(Some(p)) if p != conn.peer => {}
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => session.start_round(),
                Err(broadcast::error::RecvError::Closed) => rounds = None,
            },
            change = next(&mut writes) => match change {
                Ok(c) => session.handle_local_change(c.id, &c.scope, c.bytes.to_vec(), &c.heads, c.created, &c.seals, &c.certs),
                // Too many writes to push one by one: reconcile instead.
                Err(broadcast::error::RecvError::Lagged(_)) => session.start_round(),
                Err(broadcast::error::RecvError::Closed) => writes = None,
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    session.shutdown("node is stopping");
                }
            }
            Ok(()) = revoked.changed() => {
                let list = revoked.borrow_and_update().clone();
                if let Some(list) = list && peer_cert.revoked_by(&list) {
                    tracing::warn!(peer = %conn.peer, "the peer's certificate is revoked: ending the session");
                    session.shutdown("your certificate is revoked");
                    conn.connection.close(2u32.into(), b"certificate revoked");
                    return end("the peer's certificate is revoked".into(), true, session.stats().clone());
                }
            }
            () = &mut expiry => {
                session.shutdown("your certificate has expired");
                conn.connection.close(3u32.into(), b"certificate expired");
                return end("the peer's certificate has expired".into(), true, session.stats().clone());
            }
        }
    }
}

/// A session's end reason as a QUIC close reason (which must fit one packet).
fn close_reason(reason: &str) -> &str {
    const MAX: usize = 900;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The next message from the node; never, once the node has stopped sending them.
async fn next<T: Clone>(
    rx: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// How a failed read or write ends the session: a peer that closed the connection on
/// purpose (code 0: it stopped or finished) is a clean end, anything else an error.
fn stream_failed(e: &(impl std::fmt::Display + StreamError), stats: SessionStats) -> SessionEnd {
    if let Some(quinn::ConnectionError::ApplicationClosed(close)) = e.connection_error()
        && close.error_code == quinn::VarInt::from_u32(0)
    {
        let reason = String::from_utf8_lossy(&close.reason);
        return end(
            format!("peer closed the connection: {reason}"),
            false,
            stats,
        );
    }
    end(format!("stream: {e}"), true, stats)
}

/// Stream errors that may carry the connection's end.
trait StreamError {
    fn connection_error(&self) -> Option<&quinn::ConnectionError>;
}

impl StreamError for quinn::ReadError {
    fn connection_error(&self) -> Option<&quinn::ConnectionError> {
        match self {
            quinn::ReadError::ConnectionLost(c) => Some(c),
            _ => None,
        }
    }
}

impl StreamError for quinn::WriteError {
    fn connection_error(&self) -> Option<&quinn::ConnectionError> {
        match self {
            quinn::WriteError::ConnectionLost(c) => Some(c),
            _ => None,
        }
    }
}

fn end(reason: String, error: bool, stats: SessionStats) -> SessionEnd {
    SessionEnd {
        reason,
        error,
        stats,
        store_failed: false,
    }
}

/// The peer's certificate, as the session needs it: its serial (for revocation) and
/// when it expires.
struct PeerCert {
    serial: Vec<u8>,
    not_after: Option<i64>,
}

impl PeerCert {
    fn of(der: &[u8]) -> Self {
        use x509_parser::prelude::{FromDer, X509Certificate};
        match X509Certificate::from_der(der) {
            Ok((_, cert)) => Self {
                serial: cert.raw_serial().to_vec(),
                not_after: Some(cert.validity().not_after.timestamp()),
            },
            Err(_) => Self {
                serial: Vec::new(),
                not_after: None,
            },
        }
    }

    fn revoked_by(&self, list: &Revocations) -> bool {
        list.serials.contains(&self.serial)
    }

    /// Time left at `now_ms` before the certificate expires (a long time if it could not be read:
    /// the handshake checked it).
    fn until_expiry(&self, now_ms: u64) -> Duration {
        let now = (now_ms / 1000) as i64;
        match self.not_after {
            Some(t) => Duration::from_secs(t.saturating_sub(now).max(0) as u64),
            None => Duration::from_secs(365 * 24 * 3600),
        }
    }
}

/// What the effects of a session need.
struct Effects<'a> {
    store: &'a Store,
    options: &'a SessionOptions,
    done: &'a tokio::sync::mpsc::UnboundedSender<Done>,
    /// Bounds the reads and stores under way: enough to keep both cores and the writer's
    /// batches busy, few enough that documents in flight stay a few megabytes.
    slots: &'a std::sync::Arc<tokio::sync::Semaphore>,
    revocations: &'a watch::Sender<Option<Arc<Revocations>>>,
    peer: &'a FacilityPath,
}

/// Reads and stores a session runs at once.
const CONCURRENT_EFFECTS: usize = 64;

/// The most taken from the stream at once (quinn hands over the chunks it received).
const READ_CHUNK: usize = 64 << 10;

/// A read or store that finished on the blocking pool.
enum Done {
    Read {
        id: RecordId,
        record: Option<Sealed>,
    },
    /// The store failed (not one damaged record): the session ends.
    Failed(String),
    Stored {
        token: u64,
        id: RecordId,
        result: Result<(StoreOutcome, Option<(simpul_model::Scope, u64)>), Refused>,
    },
}

/// The session's outgoing stream: frames are batched (and compressed, if agreed) and
/// sent before the session waits for anything.
struct Wire<'a> {
    send: &'a mut SendStream,
    deflate: &'a mut Deflate,
}

impl Wire<'_> {
    /// Sends the batch; on failure, how the session ends.
    async fn flush(&mut self, stats: &SessionStats) -> Option<SessionEnd> {
        let bytes = self.deflate.take();
        self.send(bytes, stats).await
    }

    /// Ends the stream's full-table frame, for peers in sync again ([`Deflate::rest`]).
    async fn rest(&mut self, stats: &SessionStats) -> Option<SessionEnd> {
        let bytes = self.deflate.rest();
        self.send(bytes, stats).await
    }

    async fn send(
        &mut self,
        bytes: std::io::Result<Vec<u8>>,
        stats: &SessionStats,
    ) -> Option<SessionEnd> {
        match bytes {
            Err(e) => Some(end(
                format!("compressing the stream: {e}"),
                true,
                stats.clone(),
            )),
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => self
                .send
                .write_all(&bytes)
                .await
                .err()
                .map(|e| stream_failed(&e, stats.clone())),
        }
    }
}

async fn carry_out(
    session: &mut Session,
    effects: &Effects<'_>,
    wire: &mut Wire<'_>,
) -> Option<SessionEnd> {
    let ended = carry_out_effects(session, effects, wire).await;
    let flushed = wire.flush(session.stats()).await;
    ended.or(flushed)
}

async fn carry_out_effects(
    session: &mut Session,
    effects: &Effects<'_>,
    wire: &mut Wire<'_>,
) -> Option<SessionEnd> {
    let (store, options) = (effects.store, effects.options);
    while let Some(effect) = session.poll_effect() {
        // Whatever waits below, the peer must not wait for frames already made.
        let waits = !matches!(
            effect,
            Effect::Transmit(_) | Effect::ReadRecord { .. } | Effect::Store { .. }
        );
        if (waits || wire.deflate.waiting() >= BATCH_BYTES)
            && let Some(ended) = wire.flush(session.stats()).await
        {
            return Some(ended);
        }
        match effect {
            Effect::Transmit(frame) => {
                if let Err(e) = wire.deflate.push(&frame) {
                    tracing::warn!(error = %e, "compressing the stream failed");
                    return Some(end(
                        format!("compressing: {e}"),
                        true,
                        session.stats().clone(),
                    ));
                }
            }
            Effect::ReadItems => {
                let (store, peer) = (store.clone(), session.peer().clone());
                // An empty set read from a failing store would have the peer resend
                // everything: the session ends instead.
                let now = options.clock.now_ms();
                let items = match read(&store, now, move |s| s.sync_items(&peer).map(Some)).await {
                    Ok(items) => items.unwrap_or_default(),
                    Err(reason) => {
                        let reason = format!("reading what to sync: {reason}");
                        return Some(store_failed(reason, session.stats().clone()));
                    }
                };
                let items = items.into_iter().map(|i| Item {
                    time: i.time,
                    id: i.id,
                    digest: i.digest,
                });
                session.handle_items(items.collect());
            }
            Effect::ReadRecord { id } => {
                let (store, done) = (store.clone(), effects.done.clone());
                let (slots, now) = (effects.slots.clone(), options.clock.now_ms());
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let result = match read(&store, now, move |s| s.outgoing(id)).await {
                        Ok(record) => Done::Read { id, record },
                        Err(reason) => Done::Failed(reason),
                    };
                    let _ = done.send(result);
                });
            }
            Effect::LoadDocument { id } => {
                let loaded = read(store, options.clock.now_ms(), move |store| {
                    store.load_sealed(id).map(|loaded| {
                        loaded.map(|(_, doc, seals)| {
                            let certs = store.certs_for(&seals);
                            SealedDoc { doc, seals, certs }
                        })
                    })
                })
                .await;
                match loaded {
                    Ok(doc) => session.handle_document(id, doc),
                    Err(reason) => return Some(store_failed(reason, session.stats().clone())),
                }
            }
            Effect::Store {
                token,
                id,
                incoming,
                saved,
                seals,
                certs,
            } => {
                let (store, today, now) =
                    (store.clone(), options.clock.today(), options.clock.now_ms());
                let (done, slots) = (effects.done.clone(), effects.slots.clone());
                let from = PeerData {
                    peer: effects.peer.clone(),
                    seals,
                    certs,
                };
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await;
                    let for_outcome = store.clone();
                    let offered = tokio::task::spawn_blocking(move || match incoming {
                        // A new record is read and judged on the blocking pool (and
                        // changes queued there: the queue may be full); the commit is
                        // awaited here, not by a pool thread.
                        Incoming::Document(doc) => {
                            store.offer_queued(id, doc, saved, from, today, now)
                        }
                        changes => store
                            .merge_queued(id, changes, from, today, now)
                            .map(Offer::Queued),
                    })
                    .await;
                    let stored = |w| stored(&for_outcome, w);
                    let result = match offered {
                        Ok(Ok(Offer::Queued(commit))) => match commit.await {
                            Ok(outcome) => outcome.map(stored),
                            Err(_) => Err(simpul_store::WriteError::Closed),
                        },
                        Ok(Ok(Offer::Done(Offered::Stored(w)))) => Ok(stored(*w)),
                        Ok(Ok(Offer::Done(Offered::MovedAway(evidence)))) => {
                            Ok((StoreOutcome::MovedAway(*evidence), None))
                        }
                        Ok(Err(e)) => Err(e),
                        Err(e) => {
                            let _ = done.send(Done::Failed(format!("store task failed: {e}")));
                            return;
                        }
                    };
                    // A failing store is this node's trouble, not a judgement of what the
                    // peer sent: the session ends, and the peer is not told it was refused.
                    let done_with = match result {
                        Err(e) if e.is_store_failure() => {
                            Done::Failed(format!("the store failed: {e}"))
                        }
                        // The stored copy is damaged: marked and left out of sync; the
                        // peer's copy is refused, not judged.
                        Err(simpul_store::WriteError::Read(e)) if e.is_record_damage() => {
                            let reason = e.to_string();
                            let mark = reason.clone();
                            let _ = tokio::task::spawn_blocking(move || {
                                note_damaged(&for_outcome, id, &mark, now);
                            })
                            .await;
                            Done::Stored {
                                token,
                                id,
                                result: Err(Refused {
                                    reason,
                                    hostile: false,
                                }),
                            }
                        }
                        result => Done::Stored {
                            token,
                            id,
                            result: result.map_err(refused),
                        },
                    };
                    let _ = done.send(done_with);
                });
            }
            Effect::Moved {
                id,
                digest,
                evidence,
                seals,
                certs,
            } => {
                let (store, today, now) =
                    (store.clone(), options.clock.today(), options.clock.now_ms());
                let from = PeerData {
                    peer: effects.peer.clone(),
                    seals,
                    certs,
                };
                match blocking(move || store.moved(id, digest, evidence, from, today, now)).await {
                    Ok(true) => {
                        tracing::info!(%id, "let a record go: it moved out of this node's subtree")
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(%id, error = %e, "could not let a moved record go"),
                }
            }
            Effect::CheckRecord { id } => {
                // A load marks the record damaged if it fails its check; a store that
                // fails here shows in the next read.
                let check = read(store, options.clock.now_ms(), move |s| {
                    s.load(id).map(|_| None::<()>)
                });
                let _ = check.await;
            }
            Effect::Revocations { der } => {
                let store = store.clone();
                match blocking(move || store.take_revocations(&der)).await {
                    Ok((list, true)) => {
                        tracing::info!(
                            number = list.number,
                            revoked = list.serials.len(),
                            "took a newer revocation list from the peer"
                        );
                        effects.revocations.send_replace(Some(Arc::new(list)));
                    }
                    Ok((_, false)) => {}
                    Err(e) => tracing::warn!(error = %e, "the peer's revocation list was refused"),
                }
            }
            Effect::Closed { reason, error } => {
                let _ = wire.send.finish();
                return Some(end(reason, error, session.stats().clone()));
            }
        }
    }
    None
}

/// What a store call reports to the session, and what it changed (scope, bytes) for
/// the other peers' backlogs.
fn stored(
    store: &Store,
    w: simpul_store::WriteOutcome,
) -> (StoreOutcome, Option<(simpul_model::Scope, u64)>) {
    let changed = w
        .changed
        .then(|| (w.meta.scope.clone(), w.delta.len() as u64));
    for q in &w.quarantined {
        tracing::warn!(
            record = %w.id,
            actor = %String::from_utf8_lossy(q.actor.to_bytes()),
            seq = q.seq,
            kept = %q.kept,
            set_aside = %q.refused,
            "equivocation: two changes with one actor and sequence number; the second is quarantined"
        );
    }
    let moved = w.moved_from_peer.map(|bytes| {
        let certs = store.certs_for(&w.seals);
        Sealed {
            bytes,
            seals: w.seals.clone(),
            certs,
        }
    });
    (
        StoreOutcome::Stored {
            scope: w.meta.scope,
            moved,
            set_aside: w.quarantined.len(),
        },
        changed,
    )
}

/// Puts a revocation list in force for the node, unless a newer one already is (two
/// sessions may bring lists at once).
pub fn advance(lists: &watch::Sender<Option<Arc<Revocations>>>, list: Revocations) {
    lists.send_if_modified(|held| {
        if held.as_ref().is_some_and(|h| h.number >= list.number) {
            return false;
        }
        *held = Some(Arc::new(list));
        true
    });
}

/// What the session tells the peer of a store's refusal, and whether no honest peer could
/// have caused it (then the session ends).
fn refused(e: simpul_store::WriteError) -> Refused {
    let hostile = e.is_hostile();
    if hostile {
        tracing::warn!(error = %e, "refused a forged or unauthorised change");
    }
    Refused {
        reason: e.to_string(),
        hostile,
    }
}

/// How a session ends when the store fails under it: an error, logged loudly (the node
/// reports the store's state; a session cannot mend it).
fn store_failed(reason: String, stats: SessionStats) -> SessionEnd {
    tracing::error!(%reason, "ending the session: the store failed");
    SessionEnd {
        store_failed: true,
        ..end(reason, true, stats)
    }
}

/// Runs a store read on the blocking pool: what it read; `Ok(None)` for a record that
/// is damaged (reported, and left out of this session like one that is not held);
/// `Err` when the store itself failed.
async fn read<T: Send + 'static>(
    store: &Store,
    at_ms: u64,
    f: impl FnOnce(&Store) -> Result<Option<T>, simpul_store::ReadError> + Send + 'static,
) -> Result<Option<T>, String> {
    let store = store.clone();
    let task = tokio::task::spawn_blocking(move || {
        let result = f(&store);
        if let Err(simpul_store::ReadError::Corrupt { id, reason }) = &result {
            note_damaged(&store, *id, reason, at_ms);
        }
        result
    });
    match task.await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) if e.is_record_damage() => Ok(None),
        Ok(Err(e)) => Err(format!("the store failed: {e}")),
        Err(e) => Err(format!("store task failed: {e}")),
    }
}

/// A record that fails its check is marked, so that it is left out of sync from now on
/// and `verify` and `status` name it; every other record still moves.
fn note_damaged(store: &Store, id: RecordId, reason: &str, at_ms: u64) {
    tracing::warn!(record = %id, %reason, "a damaged record is left out of sync");
    if let Err(e) = store.mark_damaged(id, reason, at_ms) {
        tracing::warn!(record = %id, error = %e, "marking a damaged record failed");
    }
}

/// Runs a store call on the blocking pool (redb never runs on a worker thread).
async fn blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(e) => Err(format!("store task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_session_ends_that_session_with_its_message() {
        let end = contained(async {
            if std::hint::black_box(true) {
                panic!("index out of bounds in a crafted frame");
            }
            end(String::new(), false, SessionStats::default())
        })
        .await;
        assert!(end.error);
        assert_eq!(
            end.reason,
            "the session panicked: index out of bounds in a crafted frame"
        );
        // The caller goes on (a dialler redials).
        let next = contained(async { end_ok() }).await;
        assert!(!next.error);
    }

    fn end_ok() -> SessionEnd {
        end("done".into(), false, SessionStats::default())
    }
}
