//! One sync session over one QUIC connection: bytes from the stream and timer ticks go
//! into the [`Session`]; its effects are carried out against the store (on the blocking
//! pool) and its frames written to the stream.

use std::time::Duration;

use quinn::SendStream;
use simpul_model::{Date, Incoming};
use simpul_net::PeerConnection;
use simpul_store::{Offered, Store};
use simpul_sync::{Effect, Item, Role, Session, SessionConfig, SessionStats, StoreOutcome};
use tokio::sync::{broadcast, watch};

use crate::admin::LocalChange;

/// How a session runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Protocol limits.
    pub config: SessionConfig,
    /// Reconcile again this often while connected (the dialler).
    pub round_every: Duration,
    /// Today's date, for validating what arrives.
    pub today: Date,
    /// The time written into stored records' metadata (Unix ms).
    pub now_ms: u64,
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
}

/// Runs a session with `conn.peer` until it closes, the connection drops, or `stop`
/// becomes true. The dialler (`Role::Initiator`) opens the stream and reconciles. Writes
/// made at this node arrive on `writes` and are pushed to the peer at once.
pub async fn run_session(
    store: Store,
    conn: PeerConnection,
    role: Role,
    options: SessionOptions,
    writes: broadcast::Receiver<LocalChange>,
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
    let mut session = Session::new(options.config.clone(), role, local, conn.peer.clone());
    let mut ticker = tokio::time::interval(options.round_every);
    ticker.tick().await;
    let mut buf = vec![0u8; 64 * 1024];
    let mut rounds_logged = 0;
    let mut writes = Some(writes);
    loop {
        if let Some(ended) = carry_out(&mut session, &store, &options, &mut send).await {
            conn.connection.close(0u32.into(), b"session over");
            return ended;
        }
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
            read = recv.read(&mut buf) => match read {
                Ok(Some(n)) => session.handle_bytes(&buf[..n]),
                Ok(None) => return end("peer finished the stream".into(), false, session.stats().clone()),
                Err(e) => return stream_failed(&e, session.stats().clone()),
            },
            _ = ticker.tick() => session.start_round(),
            change = next_change(&mut writes) => match change {
                Ok(c) => session.handle_local_change(c.id, &c.scope, c.bytes.to_vec(), &c.heads, c.created),
                // Too many writes to push one by one: reconcile instead.
                Err(broadcast::error::RecvError::Lagged(_)) => session.start_round(),
                Err(broadcast::error::RecvError::Closed) => writes = None,
            },
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    session.shutdown("node is stopping");
                }
            }
        }
    }
}

/// The next local write; never, once the node has stopped announcing them.
async fn next_change(
    local: &mut Option<broadcast::Receiver<LocalChange>>,
) -> Result<LocalChange, broadcast::error::RecvError> {
    match local {
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
    }
}

/// Carries out every pending effect. Returns how the session ended, if it did.
async fn carry_out(
    session: &mut Session,
    store: &Store,
    options: &SessionOptions,
    send: &mut SendStream,
) -> Option<SessionEnd> {
    while let Some(effect) = session.poll_effect() {
        match effect {
            Effect::Transmit(frame) => {
                if let Err(e) = send.write_all(&frame).await {
                    return Some(stream_failed(&e, session.stats().clone()));
                }
            }
            Effect::ReadItems => {
                let (store, peer) = (store.clone(), session.peer().clone());
                let items = blocking(move || store.sync_items(&peer)).await;
                let items = items.unwrap_or_default().into_iter().map(|i| Item {
                    time: i.time,
                    id: i.id,
                    digest: i.digest,
                });
                session.handle_items(items.collect());
            }
            Effect::ReadRecord { id } => {
                let store = store.clone();
                let bytes = blocking(move || store.stored_bytes(id))
                    .await
                    .unwrap_or(None);
                session.handle_record_bytes(id, bytes);
            }
            Effect::LoadDocument { id } => {
                let store = store.clone();
                let doc = blocking(move || store.load(id))
                    .await
                    .unwrap_or(None)
                    .map(|(_, doc)| doc);
                session.handle_document(id, doc);
            }
            Effect::Store {
                token,
                id,
                incoming,
            } => {
                let (store, today, now) = (store.clone(), options.today, options.now_ms);
                let outcome = blocking(move || match incoming {
                    Incoming::Document(doc) => store.offer(doc, today, now).map(|o| match o {
                        Offered::Stored(w) => StoreOutcome::Stored {
                            scope: w.meta.scope,
                        },
                        Offered::MovedAway => StoreOutcome::MovedAway,
                    }),
                    changes => store
                        .merge(id, changes, today, now)
                        .map(|w| StoreOutcome::Stored {
                            scope: w.meta.scope,
                        }),
                })
                .await;
                session.handle_stored(token, outcome.map_err(|e| e.to_string()));
            }
            Effect::Purge { id, digest } => {
                let (store, now) = (store.clone(), options.now_ms);
                let _ = blocking(move || store.purge_if(id, digest, now)).await;
            }
            Effect::Closed { reason, error } => {
                let _ = send.finish();
                return Some(end(reason, error, session.stats().clone()));
            }
        }
    }
    None
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
