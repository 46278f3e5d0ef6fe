//! W1-W4 of ../shared/BENCH.md between two real nodes: a posyandu (A, holds the
//! records, dials) and its pustu (B), with a relay between them that counts the UDP
//! bytes each way and, for W4, makes the link rural.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use simpul_model::{Date, FacilityPath, Klaster, RecordBody, Setting, Visit, VisitId};
use simpul_node::board::{PeerState, PeerStatus};
use simpul_store::{Store, StoreOptions};

use crate::procs::{Bench, Node, Relay, free_port, until};
use crate::stats::summarise;

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
pub(crate) const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

/// A link between the two nodes.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// Name in the output.
    pub(crate) name: &'static str,
    /// Relay flags.
    pub(crate) flags: Vec<String>,
    /// Link rate (bit/s) and one-way delay, for the link-bound minimum.
    pub(crate) rate_bps: Option<(f64, f64)>,
}

impl Link {
    pub(crate) fn loopback() -> Self {
        Self {
            name: "loopback",
            flags: Vec::new(),
            rate_bps: None,
        }
    }

    pub(crate) fn rural() -> Self {
        let flags = [
            "--delay-ms",
            "300",
            "--loss",
            "0.05",
            "--rate-kbit",
            "256",
            "--seed",
            "1",
        ];
        Self {
            name: "rural-256kbit-300ms-5%",
            flags: flags.iter().map(ToString::to_string).collect(),
            rate_bps: Some((256_000.0, 0.3)),
        }
    }
}

/// What one sync between the nodes measured.
struct Run {
    wall: Duration,
    sync_s: f64,
    startup: Duration,
    a_to_b: u64,
    b_to_a: u64,
    rounds: u32,
    rss_a: u64,
    rss_b: u64,
    idle_rss_a: u64,
    cpu: (f64, f64),
    plan: Value,
}

/// A store of `n` people generated (seed `seed`) for the node at `path`, made once and
/// kept in `work/cache-{key}-{n}-v{schema}`; returns the cached file.
pub(crate) fn generated(
    bench: &Bench,
    key: &str,
    path: &str,
    seed: u64,
    n: u64,
    extra: &[&str],
) -> Result<PathBuf> {
    // A store of an older schema would be migrated at every start of its copy.
    let schema = simpul_store::SCHEMA_VERSION;
    // g3: histories written a visit at a time by the facilities that saw each person,
    // snapshots stored without DEFLATE.
    let cache = bench.work.join(format!("cache-{key}-{n}-g3-v{schema}"));
    let file = cache.join("simpul.redb");
    if !file.exists() {
        let gen_name = format!("gen-{key}");
        let _ = std::fs::remove_dir_all(bench.work.join(&gen_name));
        bench.district(&[(gen_name.as_str(), path)])?;
        let started = Instant::now();
        // Written and sealed by the node, with ids bound to its key, as it would write them.
        let identity = format!("pki/{gen_name}");
        let (seed, n_text) = (seed.to_string(), n.to_string());
        let mut args = vec![
            "--data-dir",
            &gen_name,
            "gen",
            "--seed",
            &seed,
            "--patients",
            &n_text,
            "--no-activities",
            "--identity",
            &identity,
            "--ca",
            "pki/ca.crt",
            "--authors-ca",
            "pki",
        ];
        args.extend_from_slice(extra);
        bench.simpul(&args)?;
        eprintln!(
            "  generated {n} people for {path} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::create_dir_all(&cache)?;
        std::fs::rename(bench.work.join(&gen_name).join("simpul.redb"), &file)?;
    }
    Ok(file)
}

/// Prepares `work` with A holding `n` generated people (cached per n) and B empty.
pub(crate) fn prepare(bench: &Bench, n: u64) -> Result<Stored> {
    let cached = generated(bench, "py", PY, 1, n, &[])?;
    for name in ["py", "pu"] {
        let _ = std::fs::remove_dir_all(bench.work.join(name));
    }
    std::fs::create_dir_all(bench.work.join("py"))?;
    std::fs::copy(&cached, bench.work.join("py/simpul.redb"))?;
    // The cached store was made for the node "gen": same facility, its own certificate.
    std::fs::remove_dir_all(bench.work.join("pki/py")).ok();
    bench.district(&[("py", PY), ("pu", PUSTU)])?;
    stored_bytes(&bench.work.join("py"))
}

/// The record bytes a node holds: as stored, and as Automerge's compact save (with its
/// per-column DEFLATE) would make the same documents, the size round one's figures
/// were measured against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    /// Snapshots and change chunks as stored.
    pub(crate) bytes: u64,
    /// The same records saved compact (every record up to 200,000; beyond, every k-th
    /// scaled up).
    pub(crate) deflated: u64,
}

impl Stored {
    /// `wire` as a share of the stored and of the compact bytes, for a line.
    pub(crate) fn ratios(&self, wire: u64) -> Value {
        json!({
            "stored_bytes": self.bytes, "deflated_bytes": self.deflated,
            "wire_over_stored": round3(wire as f64 / self.bytes.max(1) as f64),
            "wire_over_deflated": round3(wire as f64 / self.deflated.max(1) as f64),
        })
    }
}

pub(crate) fn stored_bytes(dir: &Path) -> Result<Stored> {
    let store = Store::open(dir, StoreOptions::default())?;
    let list = store.list()?;
    let bytes = list
        .iter()
        .map(|(_, m)| u64::from(m.snapshot_len) + u64::from(m.changes_len))
        .sum();
    let step = (list.len() / 200_000).max(1);
    let mut sampled = 0u64;
    let mut deflated = 0u64;
    for (id, _) in list.iter().step_by(step) {
        if let Some((_, doc)) = store.load(*id)? {
            deflated += doc.save().len() as u64;
            sampled += 1;
        }
    }
    let deflated = deflated * list.len() as u64 / sampled.max(1);
    Ok(Stored { bytes, deflated })
}

pub(crate) fn count(dir: &Path) -> Result<u64> {
    Ok(Store::open(dir, StoreOptions::default())?.count()?)
}

/// B (the pustu) started, then a relay over `link`, then A (the posyandu) dialling
/// through it; `t0` is when A was spawned.
struct Pair {
    a: Node,
    b: Node,
    relay: Relay,
    t0: Instant,
}

fn start_pair(bench: &Bench, link: &Link) -> Result<Pair> {
    let (pu_port, relay_port, py_port) = (free_port()?, free_port()?, free_port()?);
    bench.config("pu", PUSTU, pu_port, None)?;
    bench.config("py", PY, py_port, Some((relay_port, PUSTU)))?;
    let b = bench.start("pu")?;
    let relay = bench.relay(relay_port, pu_port, &link.flags)?;
    let t0 = Instant::now();
    let a = bench.start("py")?;
    Ok(Pair { a, b, relay, t0 })
}

/// Waits until A's row for the pustu shows a finished sync; returns the row.
fn wait_synced(a: &mut Node, limit: Duration) -> Result<PeerStatus> {
    wait_synced_with(a, &FacilityPath::parse(PUSTU)?, limit)
}

/// Waits until `node`'s row for `peer` shows a sync finished since the node was spawned
/// (one from before a restart does not count); returns the row.
pub(crate) fn wait_synced_with(
    node: &mut Node,
    peer: &FacilityPath,
    limit: Duration,
) -> Result<PeerStatus> {
    let mut row = None;
    let since = node.spawned_ms;
    let done = until(limit, || {
        let r = node.peers()?.into_iter().find(|p| p.path == *peer);
        let finished = r
            .as_ref()
            .is_some_and(|r| r.last_sync_ms.is_some_and(|t| t >= since));
        row = r;
        Ok(finished)
    })?;
    let row = row.context("no row for the peer")?;
    if !done {
        bail!("not in sync after {limit:?}: {row:?}");
    }
    Ok(row)
}

/// Starts B, then (through a fresh relay) A, and waits until A has finished a
/// reconciliation with B and moved everything.
fn sync_once(bench: &Bench, link: &Link, limit: Duration) -> Result<Run> {
    let Pair {
        mut a,
        b,
        relay,
        t0,
    } = start_pair(bench, link)?;
    let row = wait_synced(&mut a, limit)?;
    let wall = t0.elapsed();
    let since = match row.state {
        PeerState::Connected { since_ms, .. } => since_ms,
        _ => 0,
    };
    let run = Run {
        wall,
        sync_s: row.last_sync_ms.unwrap_or(0).saturating_sub(since) as f64 / 1000.0,
        startup: a.startup,
        a_to_b: 0,
        b_to_a: 0,
        rounds: row.rounds,
        rss_a: a.peak_rss_kb(),
        rss_b: b.peak_rss_kb(),
        idle_rss_a: a.rss_kb(),
        cpu: (a.cpu_s(), b.cpu_s()),
        plan: serde_json::to_value(row.last_plan)?,
    };
    a.stop()?;
    b.stop()?;
    let (a_to_b, b_to_a) = relay.stop()?;
    Ok(Run {
        a_to_b,
        b_to_a,
        ..run
    })
}

/// One run's line. `stream`: the compressed bytes each way the nodes have to move (W4's
/// W1: measured on loopback), for the link-bound minimum.
fn line(
    workload: &str,
    (n, k): (u64, u64),
    link: &Link,
    stored: Stored,
    run: &Run,
    stream: Option<(u64, u64)>,
) -> Value {
    let wire = run.a_to_b + run.b_to_a;
    let mut v = json!({
        "workload": workload, "n": n, "k": k, "link": link.name,
        "wall_s": round3(run.wall.as_secs_f64()),
        "sync_s": round3(run.sync_s),
        "startup_s": round3(run.startup.as_secs_f64()),
        "wire_bytes_a_to_b": run.a_to_b, "wire_bytes_b_to_a": run.b_to_a,
        "mean_record_bytes": stored.bytes / n.max(1),
        "round_trips": run.rounds,
        "peak_rss_kb": {"a": run.rss_a, "b": run.rss_b},
        // Read from /proc the moment A's status first showed the sync finished.
        "rss_at_sync_end_kb": {"a": run.idle_rss_a},
        "cpu_s": {"a": round3(run.cpu.0), "b": round3(run.cpu.1)},
        "plan": run.plan,
    });
    if let (Value::Object(line), Value::Object(ratios)) = (&mut v, stored.ratios(wire)) {
        line.extend(ratios);
    }
    if workload.starts_with("W1") {
        v["records_per_s"] = json!(round3(n as f64 / run.wall.as_secs_f64()));
        // What the receiver spent per record, all of it (checking, storing, the stream).
        v["receiver_cpu_us_per_record"] = json!(round3(run.cpu.1 * 1e6 / n.max(1) as f64));
    }
    if let Some((rate, delay)) = link.rate_bps {
        // Link-bound minimum: each direction is its own link of `rate`, so the busier
        // direction's bytes at the link rate, plus the handshake's and the
        // reconciliation's round trips. The bytes: the compressed stream once when it is
        // known, else what the relay delivered (retransmissions of lost packets included).
        let busier = match stream {
            Some((a, b)) => {
                v["stream_bytes_a_to_b"] = json!(a);
                v["stream_bytes_b_to_a"] = json!(b);
                a.max(b)
            }
            None => run.a_to_b.max(run.b_to_a),
        };
        let minimum = link_time(busier, rate) + 2.0 * delay * f64::from(2 + run.rounds);
        v["link_bound_min_s"] = json!(round3(minimum));
        v["wall_over_min"] = json!(round3(run.wall.as_secs_f64() / minimum));
    }
    v
}

/// Seconds to move `bytes` at `rate` bit/s.
fn link_time(bytes: u64, rate: f64) -> f64 {
    bytes as f64 * 8.0 / rate
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Adds one visit to every `n/k`-th record of node `name` (offline) held by `within`
/// (all if `None`), as `k` writes made at `facility`.
pub(crate) fn touch(
    bench: &Bench,
    name: &str,
    facility: &str,
    (k, round): (u64, u8),
    within: Option<&FacilityPath>,
) -> Result<()> {
    // With the node's key, as the running node writes a visit entered while it has no
    // link: sealed at once. (Opened without it, the writes wait to be sealed when the
    // node starts, and W2 timed sealing them as well as syncing them.)
    let config = simpul_node::config::NodeConfig::load(&bench.work.join(format!("{name}.toml")))?;
    let (_, _, trust) = simpul_node::daemon::node_keys(&config)?;
    let options = StoreOptions {
        trust: Some(trust),
        ..StoreOptions::default()
    };
    let store = Store::open(&bench.work.join(name), options)?;
    // Written now, as a visit entered after the last sync is (and later than the
    // generated records, which are dated at midnight).
    let now = simpul_node::clock::now_ms();
    let ids: Vec<_> = store
        .list()?
        .into_iter()
        .filter(|(_, m)| m.kind == simpul_model::RecordKind::Patient)
        .filter(|(_, m)| within.is_none_or(|w| m.scope.held_by(w)))
        .map(|(id, _)| id)
        .collect();
    let step = (ids.len() as u64 / k.max(1)).max(1) as usize;
    let date = Date::from_ymd(2026, 10, 30).context("date")?;
    let path = FacilityPath::parse(facility)?;
    let pending: Vec<_> = ids
        .iter()
        .step_by(step)
        .take(k as usize)
        .enumerate()
        .map(|(i, id)| {
            let mut visit = Visit::new(
                date,
                path.clone(),
                Klaster::DewasaLansia,
                Setting::Posyandu,
                "bench",
            );
            visit.measurements.systolic_mmhg = Some(120.0);
            visit.measurements.diastolic_mmhg = Some(80.0);
            // A visit of its own in every round, so that each round changes the records.
            let key = VisitId::from_bytes([(i % 251) as u8, (i / 251) as u8, round, 7, 7, 7, 7, 7])
                .to_string();
            store.write_queued(*id, now, move |doc| {
                let doc = doc.as_mut().ok_or(simpul_store::WriteError::NotFound(
                    simpul_model::RecordId::from_bytes([0; 16]),
                ))?;
                let before = simpul_model::Record::from_document(doc)?;
                let mut after = before.clone();
                if let RecordBody::Patient(p) = &mut after.body {
                    p.visits.insert(key, visit);
                }
                after.write_over(&before, doc, simpul_node::clock::today(), now)?;
                Ok(after)
            })
        })
        .collect();
    for rx in pending {
        rx.recv().context("writer gone")??;
    }
    Ok(())
}

/// W1 (initial), W2 (k = 1% changed), W3 (idle) for `n` records over `link`, each run
/// `bench.runs` times from a fresh copy (one line each: the medians).
pub(crate) fn pair(
    bench: &Bench,
    n: u64,
    link: &Link,
    stream: Option<(u64, u64)>,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let limit = Duration::from_secs(if link.rate_bps.is_some() { 3600 } else { 600 });
    let tag = |w: &str| {
        if link.rate_bps.is_some() {
            format!("W4/{w}")
        } else {
            w.to_string()
        }
    };
    let k = (n / 100).max(1);
    let (mut initial, mut changed, mut idle) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..bench.runs {
        let stored = prepare(bench, n)?;
        let run = sync_once(bench, link, limit)?;
        if count(&bench.work.join("pu"))? != n {
            bail!("W1: the pustu does not hold all {n} records");
        }
        initial.push(line(&tag("W1"), (n, 0), link, stored, &run, stream));

        touch(bench, "py", PY, (k, round as u8), None)?;
        let run = sync_once(bench, link, limit)?;
        changed.push(line(&tag("W2"), (n, k), link, stored, &run, None));

        if link.rate_bps.is_none() {
            let run = sync_once(bench, link, limit)?;
            idle.push(line("W3", (n, 0), link, stored, &run, None));
        }
    }
    for runs in [initial, changed, idle] {
        if !runs.is_empty() {
            out(summarise(&runs));
        }
    }
    Ok(())
}

/// The bytes each way of W1 for `n` records on loopback: the compressed stream the
/// nodes have to move, once, without loss (the median of three runs).
pub(crate) fn stream_bytes(bench: &Bench, n: u64) -> Result<(u64, u64)> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        prepare(bench, n)?;
        let run = sync_once(bench, &Link::loopback(), Duration::from_secs(600))?;
        runs.push(json!({"a": run.a_to_b, "b": run.b_to_a}));
    }
    let line = summarise(&runs);
    Ok((
        line["a"].as_u64().unwrap_or(0),
        line["b"].as_u64().unwrap_or(0),
    ))
}

/// W4's interrupted W1: the receiving pustu is killed (SIGKILL) halfway through the
/// transfer over `link` and restarted; reports the whole wall time against the
/// link-bound minimum of moving `stream` (the compressed bytes each way of an
/// uninterrupted W1 on loopback) once, and whether the resumed sync re-sent only what
/// was not stored. Run `bench.runs` times.
pub(crate) fn interrupted(
    bench: &Bench,
    n: u64,
    link: &Link,
    stream: (u64, u64),
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let mut runs = Vec::new();
    for _ in 0..bench.runs {
        runs.push(interrupted_once(bench, n, link, stream)?);
    }
    out(summarise(&runs));
    Ok(())
}

fn interrupted_once(bench: &Bench, n: u64, link: &Link, stream: (u64, u64)) -> Result<Value> {
    let stored = prepare(bench, n)?;
    let Pair {
        mut a,
        b,
        relay,
        t0,
    } = start_pair(bench, link)?;
    let pustu = FacilityPath::parse(PUSTU)?;
    let limit = Duration::from_secs(3600);
    let halfway = until(limit, || {
        Ok(a.peers()?
            .iter()
            .any(|p| p.path == pustu && p.records_out >= n / 2))
    })?;
    drop(b); // SIGKILL, as a power cut would
    if !halfway {
        bail!("the transfer never got halfway");
    }
    let kept = count(&bench.work.join("pu"))?;
    let b = bench.start("pu")?;
    let row = wait_synced(&mut a, limit)?;
    let wall = t0.elapsed();
    a.stop()?;
    b.stop()?;
    let (a_to_b, b_to_a) = relay.stop()?;
    if count(&bench.work.join("pu"))? != n {
        bail!("after the resume the pustu does not hold all {n} records");
    }
    let resent = row.last_plan.map_or(0, |p| u64::from(p.sending));
    let mut v = json!({
        "workload": "W4/W1-interrupted", "n": n, "link": link.name,
        "kept_at_kill": kept, "sent_after_restart": resent, "not_yet_stored": n - kept,
        "wall_s": round3(wall.as_secs_f64()),
        "wire_bytes_a_to_b": a_to_b, "wire_bytes_b_to_a": b_to_a,
        "stream_bytes_a_to_b": stream.0, "stream_bytes_b_to_a": stream.1,
    });
    if let (Value::Object(line), Value::Object(ratios)) = (&mut v, stored.ratios(a_to_b + b_to_a)) {
        line.extend(ratios);
    }
    if let Some((rate, delay)) = link.rate_bps {
        // The compressed stream once over the busier direction, plus two connections'
        // handshakes and reconciliations.
        let minimum = link_time(stream.0.max(stream.1), rate) + 2.0 * delay * 6.0;
        v["link_bound_min_s"] = json!(round3(minimum));
        v["wall_over_min"] = json!(round3(wall.as_secs_f64() / minimum));
    }
    Ok(v)
}

/// How long a posyandu node idles before its memory is read.
const IDLE_READ_AFTER: Duration = Duration::from_secs(10);

/// A posyandu node holding `n` records, idle after its first sync with the pustu: its
/// resident memory [`IDLE_READ_AFTER`] after its status showed the sync finished.
pub(crate) fn posyandu_idle(bench: &Bench, n: u64, out: &mut dyn FnMut(Value)) -> Result<()> {
    let mut runs = Vec::new();
    for _ in 0..bench.runs {
        prepare(bench, n)?;
        let Pair {
            mut a, b, relay, ..
        } = start_pair(bench, &Link::loopback())?;
        wait_synced(&mut a, Duration::from_secs(600))?;
        let at_sync_end = a.rss_kb();
        std::thread::sleep(IDLE_READ_AFTER);
        runs.push(json!({
            "workload": "posyandu-idle", "n": n,
            "rss_kb": a.rss_kb(), "rss_read_after_sync_s": IDLE_READ_AFTER.as_secs(),
            "rss_at_sync_end_kb": at_sync_end, "peak_rss_kb": a.peak_rss_kb(),
        }));
        a.stop()?;
        b.stop()?;
        relay.stop()?;
    }
    out(summarise(&runs));
    Ok(())
}
