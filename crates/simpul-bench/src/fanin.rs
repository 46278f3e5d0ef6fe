//! W7: one load process plays 300 facility peers, each with its own certificate, store
//! and QUIC endpoint, holding 10 new records; all reconnect to one district node at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use simpul_model::{Date, FacilityPath};
use simpul_net::{DistrictCa, LinkTuning, connect, endpoint};
use simpul_node::board::Board;
use simpul_node::{NodeLinks, SessionOptions, run_session};
use simpul_store::{Store, StoreOptions};
use simpul_sync::{Role, SessionConfig};
use tokio::sync::{broadcast, watch};

use crate::procs::{Bench, free_port, until};
use crate::workloads::round3;

const DISTRICT: &str = "3273";

/// The 300 posyandu paths: 10 pustu of 30 posyandu each, under one puskesmas.
fn facility(i: usize) -> FacilityPath {
    let path = format!(
        "3273/P3273010201/3273010201-PU{}/3273010201-PY{:02}",
        1 + i / 30,
        1 + i % 30
    );
    FacilityPath::parse(&path).unwrap_or_else(|e| unreachable!("{path}: {e}"))
}

/// One simulated facility: its store with `records` new people, and its identity.
struct Facility {
    path: FacilityPath,
    store: Store,
    identity: simpul_net::NodeIdentity,
}

fn prepare(bench: &Bench, peers: usize, records: u64, today: Date) -> Result<Vec<Facility>> {
    let ca = DistrictCa::load(&bench.work.join("pki"))?;
    let root = bench.work.join("w7-peers");
    let _ = std::fs::remove_dir_all(&root);
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let authority = std::sync::Arc::new(simpul_trust::Authority::from_pem(&ca.cert_pem)?);
    (0..peers)
        .map(|i| {
            let path = facility(i);
            let identity = ca.issue(&path, now, 30)?;
            // Each facility seals what it writes with its own key, as a node does.
            let signer =
                simpul_trust::Signer::from_pem(&authority, &identity.cert_pem, &identity.key_pem)?;
            let options = StoreOptions {
                trust: Some(simpul_store::StoreTrust {
                    authority: authority.clone(),
                    signer: Some(std::sync::Arc::new(signer)),
                }),
                ..StoreOptions::default()
            };
            let store = Store::create(
                &root.join(i.to_string()),
                &path,
                (i as u32).to_be_bytes(),
                options,
            )?;
            let generator = simpul_gen::Generator::new(7_000 + i as u64, &path, records, today);
            for j in 0..records {
                store.insert_record(generator.patient(j), today, 1_000 + j)?;
            }
            Ok(Facility {
                path,
                store,
                identity,
            })
        })
        .collect()
}

/// A refused dial is tried again after a node's first backoff (`backoff_min_secs`), as
/// a node's dialer does: the district refuses handshakes beyond its limit at once.
const REDIAL_AFTER: Duration = Duration::from_secs(2);

/// Dials a peer makes before it gives up.
const DIALS: usize = 5;

/// Dials the district as `f`, reconciles, and returns the time until this peer's
/// records were all acknowledged (the board's first completed sync), or `None`, with the
/// number of dials that were refused.
async fn play(
    f: Facility,
    district: SocketAddr,
    ca_pem: String,
    started: Instant,
    stop: watch::Receiver<bool>,
) -> Result<(Option<Duration>, usize)> {
    let bind: SocketAddr = "127.0.0.1:0".parse()?;
    let endpoint = endpoint(bind, &f.identity, &ca_pem, &LinkTuning::default(), None)?;
    let expected = FacilityPath::parse(DISTRICT)?;
    let mut refused = 0;
    let conn = loop {
        match connect(&endpoint, district, &expected).await {
            Ok(conn) => break conn,
            Err(_) if refused + 1 < DIALS => {
                refused += 1;
                tokio::time::sleep(REDIAL_AFTER).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let board = Board::new(f.path.clone(), [(expected.clone(), district.to_string())]);
    let (_writes_tx, writes) = broadcast::channel(1);
    let (_rounds_tx, rounds) = broadcast::channel(1);
    let links = NodeLinks {
        writes,
        rounds,
        board: board.clone(),
        revocations: watch::channel(None).0,
    };
    let options = SessionOptions {
        config: SessionConfig::default(),
        round_every: Duration::from_secs(3600),
        clock: simpul_node::clock::Clock::system(),
    };
    let session = tokio::spawn(run_session(
        f.store,
        conn,
        Role::Initiator,
        options,
        links,
        stop,
    ));
    let mut done = None;
    while done.is_none() && !session.is_finished() {
        if board.peers().iter().any(|p| p.last_sync_ms.is_some()) {
            done = Some(started.elapsed());
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok((done, refused))
}

/// W7 with `peers` facilities of `records` new records each.
pub(crate) fn fan_in(
    bench: &Bench,
    peers: usize,
    records: u64,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let name = "w7";
    let _ = std::fs::remove_dir_all(bench.work.join(name));
    bench.district(&[(name, DISTRICT)])?;
    let port = free_port()?;
    bench.config(name, DISTRICT, port, None)?;
    let today = simpul_node::clock::today();
    eprintln!("  preparing {peers} facilities with {records} records each");
    let facilities = prepare(bench, peers, records, today)?;
    let ca_pem = std::fs::read_to_string(bench.work.join("pki/ca.crt"))?;
    let mut district = bench.start(name)?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stop_tx, stop) = watch::channel(false);
    let started = Instant::now();
    let total = peers as u64 * records;
    let (per_peer, refused, stored_s) = runtime.block_on(async {
        let tasks: Vec<_> = facilities
            .into_iter()
            .map(|f| tokio::spawn(play(f, addr, ca_pem.clone(), started, stop.clone())))
            .collect();
        let (mut per_peer, mut refused) = (Vec::new(), 0);
        for t in tasks {
            if let Ok(Ok((done, r))) = t.await {
                per_peer.extend(done);
                refused += r;
            }
        }
        (per_peer, refused, started.elapsed())
    });
    // Every peer acknowledged means every record durable at the district; check it.
    let mut held = 0;
    until(Duration::from_secs(60), || {
        let status: Value =
            serde_json::from_str(&bench.simpul(&["--data-dir", name, "status", "--json"])?)?;
        held = status["records"]["by_kind"]["patient"]
            .as_u64()
            .unwrap_or(0);
        Ok(held >= total)
    })?;
    let _ = stop_tx.send(true);
    drop(runtime);
    let mut sorted = per_peer.clone();
    sorted.sort();
    let p = |q: f64| {
        sorted
            .get(((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| round3(d.as_secs_f64()))
    };
    out(json!({
        "workload": "W7", "peers": peers, "records_per_peer": records,
        "peers_done": per_peer.len(), "stored_at_district": held, "dials_refused": refused,
        "all_stored_s": round3(stored_s.as_secs_f64()),
        "p50_peer_s": p(0.5), "p99_peer_s": p(0.99), "max_peer_s": p(1.0),
        "district_peak_rss_kb": district.peak_rss_kb(),
        "district_cpu_s": round3(district.cpu_s()),
        "district_connected": district.peers().context("district peers")?.len(),
    }));
    district.stop()
}
