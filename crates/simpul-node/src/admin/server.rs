//! The node's side of the admin socket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use simpul_model::automerge::ChangeHash;
use simpul_model::{FacilityPath, RecordId, Scope};
use simpul_store::{Store, WriteOutcome};
use simpul_trust::{KeyId, Revocations, Seal};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

use super::ops::execute_with;
use super::protocol::{
    Answer, Caller, Failure, FailureKind, MAX_LINE_BYTES, Progress, Reply, Request,
};
use super::socket_path;
use crate::board::{Board, PeerState};
use crate::clock::{now_ms, today};

/// A write made at this node, for the sessions to push to their peers.
#[derive(Debug, Clone)]
pub struct LocalChange {
    /// The record.
    pub id: RecordId,
    /// Its scope after the write.
    pub scope: Scope,
    /// The whole document when `created`, else the new changes.
    pub bytes: Arc<[u8]>,
    /// The document's heads after the write.
    pub heads: Vec<ChangeHash>,
    /// True when the record is new.
    pub created: bool,
    /// The record's seals after the write.
    pub seals: Arc<[Seal]>,
    /// The certificates of the seals' keys.
    pub certs: Arc<[(KeyId, Arc<[u8]>)]>,
}

impl LocalChange {
    /// The change a write made, if it made one.
    pub fn of(store: &Store, out: WriteOutcome) -> Option<Self> {
        out.changed.then(|| Self {
            id: out.id,
            scope: out.meta.scope,
            bytes: out.delta.into(),
            heads: out.heads,
            created: out.created,
            certs: store.certs_for(&out.seals).into(),
            seals: out.seals.into(),
        })
    }
}

/// Binds the admin socket in `data_dir`, readable and writable by the owner alone. A
/// socket left behind by a node that died is replaced; one a live node answers on is not.
pub fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    let path = socket_path(data_dir);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another node is answering on {}", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    // The data directory is the first fence (owner-only, set when the store is created);
    // the socket's own mode is the second.
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// What the admin socket reaches inside a running node.
#[derive(Clone)]
pub struct NodeHandle {
    /// The store.
    pub store: Store,
    /// Where stored writes are announced to the sessions.
    pub changes: broadcast::Sender<LocalChange>,
    /// Peer and session state.
    pub board: Board,
    /// Asks sessions to reconcile now: with one peer, or with all (`None`).
    pub rounds: broadcast::Sender<Option<FacilityPath>>,
    /// When the node started (Unix ms).
    pub started_ms: u64,
    /// The district revocation list the node holds; sessions and the endpoint follow it.
    pub revocations: tokio::sync::watch::Sender<Option<Arc<Revocations>>>,
    /// Whether the store still works; a request that finds it failed says so here.
    pub health: crate::store_health::StoreHealth,
}

impl NodeHandle {
    /// A request failed: if the store failed under it, the node stops (see
    /// [`crate::store_health`]).
    pub fn note_failure(&self, failure: &Failure) {
        if failure.kind == FailureKind::StoreFailed {
            self.health.failed(&failure.message);
        }
    }

    /// Tells the sessions about stored writes, to push them to the peers that should
    /// hold them. No session listening is fine: reconciliation carries them later.
    pub fn announce(&self, outcomes: Vec<WriteOutcome>, now_ms: u64) {
        let changes = outcomes
            .into_iter()
            .filter_map(|o| LocalChange::of(&self.store, o));
        for change in changes {
            self.board.note_write(
                change.id,
                &change.scope,
                change.bytes.len() as u64,
                None,
                now_ms,
            );
            let _ = self.changes.send(change);
        }
    }
}

/// Serves admin connections until the listener fails.
pub async fn serve(listener: UnixListener, node: NodeHandle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let node = node.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, node).await {
                        tracing::debug!(error = %e, "admin connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin socket failed; no more admin connections");
                return;
            }
        }
    }
}

async fn connection(stream: UnixStream, node: NodeHandle) -> std::io::Result<()> {
    // Only the owner can reach the socket; the trail still names the user connecting.
    let uid = stream.peer_cred().map_or(u32::MAX, |c| c.uid());
    let caller = Caller {
        who: format!("uid {uid}"),
        ..Caller::console()
    };
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') && n > MAX_LINE_BYTES {
            let failure = Failure::new(
                FailureKind::BadRequest,
                format!("request longer than {MAX_LINE_BYTES} bytes"),
            );
            return write_answer(&mut write, &Answer::Err(failure)).await;
        }
        let answer = match serde_json::from_slice::<Request>(&line) {
            Ok(request) => answer(&node, &caller, request, &mut write).await?,
            Err(e) => Answer::Err(Failure::new(
                FailureKind::BadRequest,
                format!("not a request: {e}"),
            )),
        };
        write_answer(&mut write, &answer).await?;
    }
}

/// Carries out `request`, writing its progress lines to `write` as it goes; returns
/// its answer. Fails only when the connection does (whoever asked went away: a long
/// request is told to stop).
async fn answer(
    node: &NodeHandle,
    caller: &Caller,
    request: Request,
    write: &mut tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<Answer> {
    let now = now_ms();
    Ok(match request {
        Request::Log => Answer::Ok(Reply::Log {
            sessions: node.board.log(),
        }),
        Request::Peers => Answer::Ok(Reply::Peers {
            peers: node.board.peers(),
        }),
        Request::Sync { peer } => {
            let peers: Vec<FacilityPath> = node
                .board
                .peers()
                .into_iter()
                .filter(|p| matches!(&p.state, PeerState::Connected { role, .. } if role == "initiator"))
                .filter(|p| peer.as_ref().is_none_or(|wanted| *wanted == p.path))
                .map(|p| p.path)
                .collect();
            // No session listening means no peer to reconcile with: the reply says so.
            let _ = node.rounds.send(peer);
            Answer::Ok(Reply::SyncStarted { peers, at_ms: now })
        }
        request => {
            let is_status = matches!(request, Request::Status);
            let store = node.store.clone();
            let caller = caller.clone();
            let (sender, mut progress) = tokio::sync::mpsc::channel(4);
            let task = tokio::task::spawn_blocking(move || {
                let report = ProgressReport::new(sender);
                execute_with(&store, request, &caller, today(), now, &|p| report.send(p))
            });
            // Progress lines until the request ends (its sender dropped with it). If
            // the connection fails, the receiver goes and the request stops.
            let mut gone = None;
            while let Some(p) = progress.recv().await {
                if let Err(e) = write_answer(write, &Answer::Progress(p)).await {
                    gone = Some(e);
                    break;
                }
            }
            drop(progress);
            let result = task.await;
            if let Some(e) = gone {
                if let Ok(Ok((_, outcomes))) = result {
                    node.announce(outcomes, now);
                }
                return Err(e);
            }
            match result {
                Ok(Ok((Reply::Revocations { held, taken }, _))) => {
                    if taken && let Some(list) = node.store.revocations() {
                        crate::driver::advance(&node.revocations, list);
                    }
                    Answer::Ok(Reply::Revocations { held, taken })
                }
                Ok(Ok((Reply::Status(mut status), _))) if is_status => {
                    status.running = true;
                    status.started_ms = Some(node.started_ms);
                    status.peers = node.board.peers();
                    Answer::Ok(Reply::Status(status))
                }
                Ok(Ok((reply, outcomes))) => {
                    // A bundle may carry a newer district revocation list: in force at
                    // once, as `revocations add` puts it.
                    if let Reply::BundleApplied { applied, .. } = &reply
                        && applied.iter().any(|a| a.revocations_taken)
                        && let Some(list) = node.store.revocations()
                    {
                        crate::driver::advance(&node.revocations, list);
                    }
                    node.announce(outcomes, now);
                    Answer::Ok(reply)
                }
                Ok(Err(failure)) => {
                    node.note_failure(&failure);
                    Answer::Err(failure)
                }
                Err(e) => Answer::Err(Failure::new(
                    FailureKind::Failed,
                    format!("request task failed: {e}"),
                )),
            }
        }
    })
}

/// Passes a long request's progress to its connection, at most every
/// [`PROGRESS_EVERY`], from the blocking thread it runs on.
struct ProgressReport {
    sender: tokio::sync::mpsc::Sender<Progress>,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often progress lines are written, at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl ProgressReport {
    fn new(sender: tokio::sync::mpsc::Sender<Progress>) -> Self {
        Self {
            sender,
            last: std::sync::Mutex::new(None),
        }
    }

    /// Sends `p` unless one went out less than [`PROGRESS_EVERY`] ago (or the line
    /// before is still being written); `false` once the connection is gone.
    fn send(&self, p: Progress) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < PROGRESS_EVERY) && p.done < p.total {
            return !self.sender.is_closed();
        }
        *last = Some(std::time::Instant::now());
        match self.sender.try_send(p) {
            Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => true,
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

async fn write_answer(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    answer: &Answer,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(answer).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}
