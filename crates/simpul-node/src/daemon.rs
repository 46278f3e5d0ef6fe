//! The daemon: listens for peers, dials the configured ones with backoff and jitter, and
//! runs a sync session on every connection until told to stop.

use std::time::Duration;

use rand::RngExt;
use simpul_model::FacilityPath;
use simpul_net::{LinkTuning, NodeIdentity, connect, endpoint, set_revocations};

use crate::store_health::StoreHealth;
use simpul_store::{Store, StoreOptions, StoreTrust};
use simpul_sync::{Role, SessionConfig};
use simpul_trust::{Authority, Signer};
use tokio::sync::{broadcast, watch};
use tracing::Instrument;

use crate::admin;
use crate::admin::ops::chain;
use crate::admin::server::NodeHandle;
use crate::board::Board;
use crate::clock::{Clock, now_ms};
use crate::config::NodeConfig;
use crate::driver::{NodeLinks, SessionOptions, run_session};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The store could not be opened.
    #[error("could not open the store")]
    Store(#[from] simpul_store::OpenError),
    /// The store failed while the node ran (a full or failing disk): the node stops so
    /// that it is started again on a store opened afresh.
    #[error("the store failed: {0}")]
    StoreFailed(String),
    /// The certificate or CA could not be read.
    #[error("could not read the node's identity")]
    Identity(#[from] simpul_net::IdentityError),
    /// A file could not be read.
    #[error("could not read {0}")]
    Read(std::path::PathBuf, #[source] std::io::Error),
    /// The store, certificate and configuration disagree about who this node is.
    #[error("the configuration says {config}, but the {what} says {found}")]
    WrongNode {
        /// The configured path.
        config: FacilityPath,
        /// Which one disagrees.
        what: &'static str,
        /// What it says.
        found: FacilityPath,
    },
    /// The admin socket could not be created.
    #[error("could not open the admin socket {0}")]
    Admin(std::path::PathBuf, #[source] std::io::Error),
    /// The data API's address could not be bound.
    #[error("could not listen for the data API on {0}")]
    Api(std::net::SocketAddr, #[source] std::io::Error),
    /// The data API's certificate or key could not be used.
    #[error("the data API's TLS certificate or key: {0}")]
    ApiTls(String),
    /// The metrics endpoint's address could not be bound.
    #[error("could not listen for metrics on {0}")]
    Metrics(std::net::SocketAddr, #[source] std::io::Error),
    /// The endpoint could not be created.
    #[error("could not start the network endpoint")]
    Net(#[from] simpul_net::NetError),
    /// What was written without the node's key could not be sealed: nothing goes out
    /// unsealed (peers would refuse it), so the node does not start.
    #[error("could not seal what was written without the node's key")]
    Seal(#[source] simpul_store::WriteError),
    /// The CA, the node's certificate or its key is not usable for sealing.
    #[error("the node's certificate and key cannot seal records")]
    Trust(#[from] simpul_trust::TrustError),
}

/// How many local writes may wait for a slow session before it reconciles instead.
const LOCAL_CHANGE_BACKLOG: usize = 1024;

fn options(cfg: &NodeConfig) -> SessionOptions {
    SessionOptions {
        config: SessionConfig::default(),
        round_every: cfg.round_every,
        clock: Clock::system(),
    }
}

/// How long start-up waits for a CLI command that has the store open to finish.
const STORE_BUSY_WAIT: Duration = Duration::from_secs(15);

/// Opens the store, waiting a little while another process (a CLI command run on the
/// stopped node) still holds it.
async fn open_store(
    dir: &std::path::Path,
    trust: StoreTrust,
    page_cache_bytes: usize,
) -> Result<Store, DaemonError> {
    let deadline = tokio::time::Instant::now() + STORE_BUSY_WAIT;
    let mut told = false;
    loop {
        let d = dir.to_path_buf();
        let options = StoreOptions {
            trust: Some(trust.clone()),
            page_cache_bytes,
            ..StoreOptions::default()
        };
        let opened = tokio::task::spawn_blocking(move || Store::open(&d, options))
            .await
            .map_err(|e| DaemonError::Read(dir.to_path_buf(), std::io::Error::other(e)))?;
        match opened {
            Err(simpul_store::OpenError::Locked(_)) if tokio::time::Instant::now() < deadline => {
                if !told {
                    tracing::info!(dir = %dir.display(), "store in use by another process; waiting");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// The node's identity (its certificate, checked to be for the configured facility),
/// the district CA (PEM), and what its store trusts and signs with.
pub fn node_keys(cfg: &NodeConfig) -> Result<(NodeIdentity, String, StoreTrust), DaemonError> {
    let identity = NodeIdentity::load(&cfg.cert, &cfg.key)?;
    if identity.path != cfg.path {
        return Err(DaemonError::WrongNode {
            config: cfg.path.clone(),
            what: "certificate",
            found: identity.path,
        });
    }
    let ca_pem = std::fs::read_to_string(&cfg.ca_cert)
        .map_err(|e| DaemonError::Read(cfg.ca_cert.clone(), e))?;
    let authority = std::sync::Arc::new(Authority::from_pem(&ca_pem)?);
    let signer = Signer::from_pem(&authority, &identity.cert_pem, &identity.key_pem)?;
    let trust = StoreTrust {
        authority,
        signer: Some(std::sync::Arc::new(signer)),
    };
    Ok((identity, ca_pem, trust))
}

/// Runs the node until `stop` becomes true; then closes every session and returns.
pub async fn run(cfg: NodeConfig, stop: watch::Receiver<bool>) -> Result<(), DaemonError> {
    let (identity, ca_pem, trust) = node_keys(&cfg)?;
    let store = open_store(&cfg.data_dir, trust, cfg.store_cache_bytes).await?;
    if store.node().path != cfg.path {
        return Err(DaemonError::WrongNode {
            config: cfg.path,
            what: "store",
            found: store.node().path.clone(),
        });
    }
    // Writes made while the node was stopped, and history from before seals, are sealed
    // with the node's key before anything goes out (peers refuse what is not).
    let sealing = store.clone();
    let started = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || sealing.seal_pending(now_ms())).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::info!(
            records = n,
            seconds = started.elapsed().as_secs_f64(),
            "sealed what was written without the node's key"
        ),
        Ok(Err(e)) => return Err(DaemonError::Seal(e)),
        Err(e) => {
            return Err(DaemonError::Seal(simpul_store::WriteError::BatchFailed(
                e.to_string(),
            )));
        }
    }
    let held = store.revocations().map(std::sync::Arc::new);
    let tuning = LinkTuning::default();
    let endpoint = endpoint(
        cfg.listen,
        &identity,
        &ca_pem,
        &tuning,
        held.as_ref().map(|r| &*r.der),
    )?;
    let revocations = watch::channel(held).0;
    let admin = admin::server::bind(&cfg.data_dir)
        .map_err(|e| DaemonError::Admin(admin::socket_path(&cfg.data_dir), e))?;
    let api_tls = match &cfg.api_tls {
        Some((cert, key)) => {
            Some(crate::api::tls::server_config(cert, key).map_err(DaemonError::ApiTls)?)
        }
        None => None,
    };
    let api = match cfg.api_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| DaemonError::Api(addr, e))?,
        ),
        None => None,
    };
    let metrics = match cfg.metrics_listen {
        Some(addr) => Some(
            crate::metrics::bind(addr)
                .await
                .map_err(|e| DaemonError::Metrics(addr, e))?,
        ),
        None => None,
    };
    let node = NodeHandle {
        store: store.clone(),
        changes: broadcast::channel(LOCAL_CHANGE_BACKLOG).0,
        board: Board::new(
            cfg.path.clone(),
            cfg.peers
                .iter()
                .map(|(addr, path)| (path.clone(), addr.to_string())),
        ),
        rounds: broadcast::channel(16).0,
        started_ms: now_ms(),
        revocations,
        health: StoreHealth::new(),
    };
    let links = |node: &NodeHandle| NodeLinks {
        writes: node.changes.subscribe(),
        rounds: node.rounds.subscribe(),
        board: node.board.clone(),
        revocations: node.revocations.clone(),
    };
    tracing::info!(node = %cfg.path, listen = %endpoint.local_addr().map_or(cfg.listen, |a| a), peers = cfg.peers.len(), "node running");

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(admin::server::serve(admin, node.clone()));
    // A newer revocation list (from a peer or `simpul revocations add`) takes effect in
    // the handshakes at once; sessions with revoked peers end on their own.
    tasks.spawn({
        let (endpoint, identity, ca_pem) = (endpoint.clone(), identity.clone(), ca_pem.clone());
        let mut lists = node.revocations.subscribe();
        async move {
            while lists.changed().await.is_ok() {
                let list = lists.borrow_and_update().clone();
                if let Some(list) = list {
                    match set_revocations(&endpoint, &identity, &ca_pem, &tuning, &list.der) {
                        Ok(()) => tracing::info!(number = list.number, revoked = list.serials.len(), "revocation list in force"),
                        Err(e) => tracing::warn!(error = %chain(&e), "could not put the revocation list in force"),
                    }
                }
            }
        }
    });
    tasks.spawn(stored_backlogs(
        node.store.clone(),
        node.board.clone(),
        cfg.peers.iter().map(|(_, path)| path.clone()).collect(),
    ));
    if let Some(metrics) = metrics {
        tracing::info!(address = %metrics.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()), "metrics listening");
        tasks.spawn(crate::metrics::serve(
            metrics,
            crate::metrics::MetricsContext {
                node: node.clone(),
                cert_not_after: certificate_expiry(&identity.cert_pem),
                // Read once at start, like the certificate the listener serves.
                api_cert_not_after: cfg
                    .api_tls
                    .as_ref()
                    .and_then(|(cert, _)| std::fs::read_to_string(cert).ok())
                    .and_then(|pem| certificate_expiry(&pem)),
            },
        ));
    }
    if let Some(api) = api {
        let address = api
            .local_addr()
            .map_or_else(|e| e.to_string(), |a| a.to_string());
        match api_tls {
            Some(tls) => {
                tracing::info!(%address, "data API listening (HTTPS)");
                tasks.spawn(crate::api::tls::serve(api, node.clone(), tls));
            }
            None => {
                tracing::info!(%address, "data API listening (plain HTTP, loopback)");
                tasks.spawn(crate::api::serve(api, node.clone()));
            }
        }
    }
    if let Some(feed) = cfg.feed_postgres.clone() {
        tasks.spawn(feed_postgres(node.store.clone(), feed, stop.clone()));
    }
    if let Some(bridge) = cfg.satusehat.clone() {
        tasks.spawn(satusehat_bridge(node.store.clone(), bridge, stop.clone()));
    }
    let health = node.health.clone();
    tasks.spawn(crate::listener::serve(
        endpoint.clone(),
        crate::listener::Serve {
            store: node.store.clone(),
            options: Box::new({
                let cfg = cfg.clone();
                move || options(&cfg)
            }),
            links: Box::new({
                let node = node.clone();
                move || links(&node)
            }),
            stop: stop.clone(),
            health: health.clone(),
        },
    ));
    for (addr, peer) in cfg.peers.clone() {
        let (endpoint, node, cfg, mut stop, health) = (
            endpoint.clone(),
            node.clone(),
            cfg.clone(),
            stop.clone(),
            health.clone(),
        );
        let span = tracing::info_span!("peer", peer = %peer, %addr);
        tasks.spawn(
            async move {
                let mut delay = cfg.backoff.0;
                while !*stop.borrow() {
                    node.board.dialling(&peer);
                    let jitter = rand::rng().random_range(0.5..1.5);
                    match connect(&endpoint, addr, &peer).await {
                        Ok(conn) => {
                            delay = cfg.backoff.0;
                            let end = run_session(node.store.clone(), conn, Role::Initiator, options(&cfg), links(&node), stop.clone()).await;
                            tracing::info!(reason = %end.reason, error = end.error, sent = end.stats.records_sent,
                                received = end.stats.records_received, plan = ?end.stats.last_plan, "session ended");
                            health.note_session_end(&end);
                        }
                        Err(e) => {
                            let why = chain(&e);
                            let next = now_ms() + delay.mul_f64(jitter).as_millis() as u64;
                            // The status says so before the log does (readers of the log
                            // ask the status next).
                            node.board.dial_failed(&peer, why.clone(), e.is_refusal(), now_ms(), next);
                            tracing::warn!(error = %why, retry_in_ms = delay.as_millis() as u64, "dial failed");
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay.mul_f64(jitter)) => {}
                        _ = stop.changed() => {}
                    }
                    delay = (delay * 2).min(cfg.backoff.1);
                }
            }
            .instrument(span),
        );
    }
    tasks.spawn(crate::service::watchdog(node.store.clone(), health.clone()));
    crate::service::ready();
    let mut stop_wait = stop.clone();
    let failed = tokio::select! {
        _ = stop_wait.wait_for(|stopping| *stopping) => None,
        reason = health.wait_failed() => Some(reason),
    };
    match &failed {
        Some(reason) => {
            tracing::error!(%reason, "stopping: the store failed; start the node again to reopen it")
        }
        None => tracing::info!("stopping: closing sessions"),
    }
    crate::service::stopping();
    // Sessions see `stop` and say goodbye; give them a moment, then close the endpoint.
    tokio::time::sleep(Duration::from_millis(200)).await;
    endpoint.close(0u32.into(), b"node stopping");
    tasks.abort_all();
    endpoint.wait_idle().await;
    let _ = std::fs::remove_file(admin::socket_path(&cfg.data_dir));
    match failed {
        Some(reason) => Err(DaemonError::StoreFailed(reason)),
        None => Ok(()),
    }
}

/// How long a feed must have run before a failure counts as a new one (backoff from 1 s).
const FEED_HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Keeps the configured PostgreSQL database up to date until the node stops. A failure
/// (the database down, a refused write) is logged and retried with backoff; the node
/// itself runs on.
async fn feed_postgres(
    store: Store,
    cfg: crate::config::PostgresFeed,
    mut stop: watch::Receiver<bool>,
) {
    let options = simpul_feed::FeedOptions {
        batch: cfg.batch,
        pws_every: cfg.pws_every,
        ..simpul_feed::FeedOptions::default()
    };
    let mut delay = Duration::from_secs(1);
    while !*stop.borrow() {
        let mut until_stop = stop.clone();
        let stopping = async move {
            let _ = until_stop.wait_for(|s| *s).await;
        };
        let attempt = std::time::Instant::now();
        let outcome = match simpul_feed::Feed::connect(
            cfg.url.as_str(),
            store.clone(),
            options.clone(),
        )
        .await
        {
            Ok(mut feed) => {
                tracing::info!("analytics feed to PostgreSQL running");
                feed.follow(cfg.every, stopping).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            // A feed that ran a while before failing starts its backoff again; one that
            // fails at once (the database refuses every batch) waits longer each time.
            if attempt.elapsed() > FEED_HEALTHY_AFTER {
                delay = Duration::from_secs(1);
            }
            tracing::warn!(error = %e, retry_in_s = delay.as_secs(), "analytics feed stopped");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => {}
            }
            delay = (delay * 2).min(Duration::from_secs(300));
        }
    }
}

/// The SATUSEHAT bridge: every so often, gives the people this node holds their IHS
/// number from the platform and sends the visits of its subtree (docs/satusehat.md). A round the platform cuts short is
/// taken up where it stopped next time.
async fn satusehat_bridge(
    store: Store,
    cfg: crate::config::SatusehatBridge,
    mut stop: watch::Receiver<bool>,
) {
    let platform = match simpul_satusehat::Platform::new(cfg.platform, Default::default()) {
        Ok(p) => std::sync::Arc::new(p),
        Err(e) => {
            tracing::error!(error = %e, "SATUSEHAT bridge not started");
            return;
        }
    };
    tracing::info!(fhir = %platform.config().fhir_url, "SATUSEHAT bridge running");
    let codes = std::sync::Arc::new(cfg.codes.clone());
    while !*stop.borrow() {
        let (s, p, c) = (store.clone(), platform.clone(), codes.clone());
        let submit = cfg.submit;
        let round = tokio::task::spawn_blocking(move || {
            let matched = simpul_satusehat::match_round(&s, &p, crate::clock::today(), now_ms());
            let submitted = submit.then(|| {
                simpul_satusehat::submit_round(&s, &p, &c, crate::clock::today(), now_ms())
            });
            (matched, submitted)
        })
        .await;
        let mut again_at_once = false;
        match round {
            Ok((matched, submitted)) => {
                match matched {
                    Ok(report) => {
                        again_at_once = report.more_waiting();
                        if report.matched + report.not_found + report.ambiguous + report.skipped > 0
                        {
                            tracing::info!(
                                matched = report.matched,
                                not_found = report.not_found,
                                ambiguous = report.ambiguous,
                                skipped = report.skipped,
                                "SATUSEHAT: people matched"
                            );
                        }
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "SATUSEHAT: matching stopped; resumes next round"
                    ),
                }
                match submitted {
                    Some(Ok(report)) => {
                        again_at_once |= report.more_waiting();
                        if report.any() {
                            tracing::info!(
                                sent = report.sent,
                                withdrawn = report.withdrawn,
                                refused = report.refused,
                                waiting = report.waiting,
                                uncertain = report.uncertain,
                                "SATUSEHAT: visits submitted"
                            );
                        }
                    }
                    Some(Err(e)) => tracing::warn!(
                        error = %e,
                        "SATUSEHAT: submission stopped; resumes next round"
                    ),
                    None => {}
                }
            }
            Err(e) => tracing::error!(error = %e, "SATUSEHAT: the bridge's round failed"),
        }
        if again_at_once {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// When the certificate in `pem` expires (Unix seconds), if it can be read.
fn certificate_expiry(pem: &str) -> Option<i64> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// What the store says is left to move with each peer this node dials or was ever in
/// sync with, put on the board so that `status` is true from the start (after a
/// restart, and for writes made while the node was stopped) until this run reconciles
/// with the peer: to send, at most the records the peer should hold that changed since
/// the two were last in sync; to receive, what the last reconciliation left.
async fn stored_backlogs(store: Store, board: Board, dialled: Vec<FacilityPath>) {
    use crate::driver::{
        OPEN_MARK, SINCE_MARK, last_sync_mark, open_at_mark, open_mark, since_mark,
    };
    type Row = (FacilityPath, u64, u64, Option<u64>, Option<u64>);
    let read = tokio::task::spawn_blocking(move || -> Result<Vec<Row>, simpul_store::ReadError> {
        let mut peers: std::collections::BTreeSet<FacilityPath> = dialled.into_iter().collect();
        // The dialler keeps a since-mark; both sides keep what a session left open.
        for prefix in [SINCE_MARK, OPEN_MARK] {
            for (name, _) in store.marks(prefix)? {
                if let Ok(peer) = FacilityPath::parse(&name) {
                    peers.insert(peer);
                }
            }
        }
        peers
            .into_iter()
            .map(|peer| {
                let since = store.mark(&since_mark(&peer))?.unwrap_or(0);
                let to_send = store
                    .sync_items(&peer)?
                    .iter()
                    // Items at the watermark itself are not yet known to be in sync.
                    .filter(|item| item.time >= since)
                    .count() as u64;
                let to_receive = store.mark(&open_mark(&peer))?.unwrap_or(0);
                let at = store.mark(&open_at_mark(&peer))?;
                let last_sync = store.mark(&last_sync_mark(&peer))?;
                Ok((peer, to_send, to_receive, at, last_sync))
            })
            .collect()
    })
    .await;
    match read {
        Ok(Ok(rows)) => {
            let now = now_ms();
            for (peer, to_send, to_receive, at, last_sync) in rows {
                board.stored_backlog(&peer, to_send, to_receive, at, last_sync, now);
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reading the backlog with each peer"),
        Err(e) => tracing::warn!(error = %e, "reading the backlog with each peer"),
    }
}
