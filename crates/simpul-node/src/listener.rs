//! Incoming connections. Each handshake runs on a task of its own with a deadline, so a
//! client that starts one and goes silent delays nobody; and everything a stranger can
//! make the node hold is bounded: handshakes in progress, sessions in all, sessions with
//! one peer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use quinn::{Endpoint, VarInt};
use simpul_model::FacilityPath;
use simpul_net::{HANDSHAKE_DEADLINE, PeerConnection, handshake, incoming};
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::admin::ops::chain;
use crate::driver::{NodeLinks, SessionOptions, run_session};
use crate::store_health::StoreHealth;
use simpul_store::Store;
use simpul_sync::Role;

/// Handshakes in progress at once; an attempt beyond is refused at once (a QUIC refusal,
/// which the client retries after its backoff). A handshake costs one task and a few
/// KB until it finishes or [`HANDSHAKE_DEADLINE`] passes; a district's facilities all
/// reconnecting after an outage (hundreds) fit.
pub const MAX_HANDSHAKES: usize = 512;

/// Sessions at once, all peers together: a district office serves its puskesmas (tens)
/// and, in the bench's fan-in, hundreds of posyandu; each session holds at most a few MB.
pub const MAX_SESSIONS: usize = 1024;

/// Sessions at once with one peer: its current one, and one more while a restarted
/// peer's old connection is still being closed.
pub const MAX_SESSIONS_PER_PEER: usize = 2;

/// Application close code for a connection over a limit.
const CLOSE_BUSY: u32 = 3;

/// What each responder session needs.
pub(crate) struct Serve {
    pub(crate) store: Store,
    pub(crate) options: Box<dyn Fn() -> SessionOptions + Send + Sync>,
    pub(crate) links: Box<dyn Fn() -> NodeLinks + Send + Sync>,
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) health: StoreHealth,
}

/// Accepts connections until the endpoint closes.
pub(crate) async fn serve(endpoint: Endpoint, serve: Serve) {
    let serve = Arc::new(serve);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let sessions = Arc::new(Semaphore::new(MAX_SESSIONS));
    let per_peer: Arc<Mutex<HashMap<FacilityPath, usize>>> = Arc::default();
    while let Some(attempt) = incoming(&endpoint).await {
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(remote = %attempt.remote_address(), "refused a connection: too many handshakes in progress");
            attempt.refuse();
            continue;
        };
        let (serve, sessions, per_peer) = (serve.clone(), sessions.clone(), per_peer.clone());
        tokio::spawn(async move {
            let remote = attempt.remote_address();
            let conn = handshake(attempt, HANDSHAKE_DEADLINE).await;
            drop(permit);
            match conn {
                Ok(conn) => respond(conn, &serve, &sessions, &per_peer).await,
                Err(e) => {
                    tracing::warn!(%remote, error = %chain(&e), "refused an incoming connection")
                }
            }
        });
    }
}

/// Runs a responder session on `conn`, if the limits allow.
async fn respond(
    conn: PeerConnection,
    serve: &Serve,
    sessions: &Arc<Semaphore>,
    per_peer: &Arc<Mutex<HashMap<FacilityPath, usize>>>,
) {
    let peer = conn.peer.clone();
    let Ok(_session) = sessions.clone().try_acquire_owned() else {
        tracing::warn!(%peer, "refused a session: {MAX_SESSIONS} sessions already");
        conn.connection
            .close(VarInt::from_u32(CLOSE_BUSY), b"too many sessions");
        return;
    };
    let Some(_slot) = PeerSlot::take(per_peer, &peer) else {
        tracing::warn!(%peer, "refused a session: {MAX_SESSIONS_PER_PEER} open with this peer");
        conn.connection.close(
            VarInt::from_u32(CLOSE_BUSY),
            b"too many sessions with this node",
        );
        return;
    };
    let span = tracing::info_span!("session", peer = %peer, role = "responder");
    let end = run_session(
        serve.store.clone(),
        conn,
        Role::Responder,
        (serve.options)(),
        (serve.links)(),
        serve.stop.clone(),
    )
    .instrument(span.clone())
    .await;
    span.in_scope(|| {
        tracing::info!(reason = %end.reason, error = end.error, received = end.stats.records_received, "session ended");
    });
    serve.health.note_session_end(&end);
}

/// One of a peer's session slots, given back when dropped.
struct PeerSlot {
    counts: Arc<Mutex<HashMap<FacilityPath, usize>>>,
    peer: FacilityPath,
}

impl PeerSlot {
    fn take(
        counts: &Arc<Mutex<HashMap<FacilityPath, usize>>>,
        peer: &FacilityPath,
    ) -> Option<Self> {
        let mut held = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(peer.clone()).or_insert(0);
        if *n >= MAX_SESSIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            counts: counts.clone(),
            peer: peer.clone(),
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.peer);
            }
        }
    }
}
