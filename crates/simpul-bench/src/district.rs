//! W5: a district node holding the generated district of W8 (1,000,000 people and a
//! year of audit by default): its start-up time and idle memory; W1, W3 and W2 (k = 10)
//! against one of its puskesmas, which reconciles its share of the records; and the
//! same between the district server and its standby, a second node of the district
//! that first receives the whole district (W1 of every record) and then holds it all.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use simpul_model::FacilityPath;
use simpul_node::board::PeerStatus;
use simpul_store::{Store, StoreOptions};

use crate::procs::{Bench, Node, free_port};
use crate::stats::summarise;
use crate::workloads::{count, generated, round3, stored_bytes, touch, wait_synced_with};

const DISTRICT: &str = "3273";

/// The puskesmas holding the most of the district's records, and how many.
fn largest_puskesmas(bench: &Bench) -> Result<(FacilityPath, u64)> {
    let census = Store::open(&bench.work.join("d1"), StoreOptions::default())?.census()?;
    let mut by_puskesmas = std::collections::BTreeMap::<String, u64>::new();
    for (facility, n) in census.by_facility {
        let puskesmas: Vec<&str> = facility.split('/').take(2).collect();
        *by_puskesmas.entry(puskesmas.join("/")).or_default() += n;
    }
    let (path, n) = by_puskesmas
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .context("no records")?;
    Ok((FacilityPath::parse(&path)?, n))
}

/// One connection of node `name` (the puskesmas d2 or the standby d3) to the district
/// (d1) through a counting relay, until it has finished a reconciliation: its line.
fn reconnect(
    bench: &Bench,
    (name, workload): (&str, &str),
    (d1_port, relay_port): (u16, u16),
    d1: &Node,
    k: u64,
) -> Result<Value> {
    let district = FacilityPath::parse(DISTRICT)?;
    let relay = bench.relay(relay_port, d1_port, &[])?;
    let started = Instant::now();
    let mut node = bench.start(name)?;
    let row: PeerStatus = wait_synced_with(&mut node, &district, Duration::from_secs(3 * 3600))?;
    let wall = started.elapsed();
    let (rss, cpu) = (node.peak_rss_kb(), node.cpu_s());
    node.stop()?;
    let (up, down) = relay.stop()?;
    Ok(json!({
        "workload": workload, "k": k, "wall_s": round3(wall.as_secs_f64()),
        "wire_bytes_to_district": up, "wire_bytes_from_district": down,
        "wire_bytes": up + down, "round_trips": row.rounds,
        "plan": row.last_plan, "records_in": row.records_in,
        "peak_rss_kb": {name: rss, "district": d1.peak_rss_kb()},
        "cpu_s": {name: round3(cpu), "district": round3(d1.cpu_s())},
    }))
}

/// An empty store for node `name` at `path`.
fn empty(bench: &Bench, name: &str, path: &str) -> Result<()> {
    let _ = std::fs::remove_dir_all(bench.work.join(name));
    bench.district(&[(name, path)])
}

/// W5 with `people` generated at the district (and a year of audit; cached), each
/// workload run `bench.runs` times, W1 to the standby `standby_runs` times.
pub(crate) fn district(
    bench: &Bench,
    people: u64,
    standby_runs: usize,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let cached = generated(
        bench,
        "district-audit",
        DISTRICT,
        8,
        people,
        &["--audit-days", "365"],
    )?;
    let _ = std::fs::remove_dir_all(bench.work.join("d1"));
    std::fs::create_dir_all(bench.work.join("d1"))?;
    std::fs::copy(&cached, bench.work.join("d1/simpul.redb"))?;
    bench.district(&[("d1", DISTRICT)])?;
    let stored = stored_bytes(&bench.work.join("d1"))?;
    let records = count(&bench.work.join("d1"))?;
    let (puskesmas, share) = largest_puskesmas(bench)?;
    // Certificates left from another run may name other facilities.
    for name in ["d2", "d3"] {
        let _ = std::fs::remove_dir_all(bench.work.join("pki").join(name));
    }

    // Start-up and idle memory of the district node alone.
    let (d1_port, relay_port) = (free_port()?, free_port()?);
    bench.config("d1", DISTRICT, d1_port, None)?;
    bench.config(
        "d2",
        puskesmas.as_str(),
        free_port()?,
        Some((relay_port, DISTRICT)),
    )?;
    bench.config("d3", DISTRICT, free_port()?, Some((relay_port, DISTRICT)))?;
    let file_bytes = std::fs::metadata(bench.work.join("d1/simpul.redb"))?.len();
    let mut starts = Vec::new();
    for _ in 0..bench.runs {
        let d1 = bench.start("d1")?;
        std::thread::sleep(Duration::from_secs(3));
        starts.push(json!({
            "workload": "W5/start", "people": people, "records": records,
            "startup_s": round3(d1.startup.as_secs_f64()),
            // Read from /proc 3 s after the admin socket first answered.
            "idle_rss_kb": d1.rss_kb(), "idle_rss_read_after_start_s": 3,
            "stored_bytes": stored.bytes, "deflated_bytes": stored.deflated,
            "file_bytes": file_bytes,
        }));
        d1.stop()?;
    }
    out(summarise(&starts));

    let ports = (d1_port, relay_port);
    let labels = |mut v: Value, n: u64| {
        v["n"] = json!(n);
        v["district_records"] = json!(records);
        v
    };
    // The puskesmas takes its share (W1), then reconnects with nothing changed (W3), then
    // after ten of its records changed at the district (W2).
    let d1 = bench.start("d1")?;
    let mut share_runs = Vec::new();
    for _ in 0..bench.runs {
        empty(bench, "d2", puskesmas.as_str())?;
        let run = reconnect(bench, ("d2", "W5/W1-puskesmas-share"), ports, &d1, 0)?;
        if count(&bench.work.join("d2"))? != share {
            bail!("the puskesmas does not hold its {share} records");
        }
        share_runs.push(labels(run, share));
    }
    out(summarise(&share_runs));
    let mut round = 0u8;
    let d1 = idle_then_changed(
        bench,
        ("d2", "W5"),
        ports,
        d1,
        (Some(&puskesmas), share, records),
        &mut round,
        out,
    )?;

    // The standby: the whole district to an empty node (W1), then W3 and W2 between two
    // nodes holding it all (skipped with no runs of W1).
    if standby_runs == 0 {
        return d1.stop();
    }
    let mut initial = Vec::new();
    for _ in 0..standby_runs {
        empty(bench, "d3", DISTRICT)?;
        let mut run = reconnect(bench, ("d3", "W5/standby-W1"), ports, &d1, 0)?;
        let held = count(&bench.work.join("d3"))?;
        if held != records {
            bail!("the standby holds {held} of the district's {records} records");
        }
        let wall = run["wall_s"].as_f64().unwrap_or(0.0);
        run["records_per_s"] = json!(round3(records as f64 / wall.max(1e-9)));
        let ratios = stored.ratios(run["wire_bytes"].as_u64().unwrap_or(0));
        if let (Value::Object(line), Value::Object(ratios)) = (&mut run, ratios) {
            line.extend(ratios);
        }
        initial.push(labels(run, records));
    }
    out(summarise(&initial));
    let d1 = idle_then_changed(
        bench,
        ("d3", "W5/standby"),
        ports,
        d1,
        (None, records, records),
        &mut round,
        out,
    )?;
    d1.stop()
}

/// W3, then W2 after ten records (of `within`, all if `None`) changed at the district
/// while it was stopped, between the district d1 and node `name`, each `bench.runs`
/// times; lines named `{prefix}-W3`/`{prefix}-W2` (`W5/W3` for the bare prefix `W5`)
/// and labelled with the `n` records reconciled of the district's `records`. Returns
/// the district running.
fn idle_then_changed(
    bench: &Bench,
    (name, prefix): (&str, &str),
    ports: (u16, u16),
    d1: Node,
    (within, n, records): (Option<&FacilityPath>, u64, u64),
    round: &mut u8,
    out: &mut dyn FnMut(Value),
) -> Result<Node> {
    let workload = |w: &str| match prefix {
        "W5" => format!("W5/{w}"),
        p => format!("{p}-{w}"),
    };
    let label = |mut v: Value| {
        v["n"] = json!(n);
        v["district_records"] = json!(records);
        v
    };
    let idle = repeat(bench, || {
        Ok(label(reconnect(
            bench,
            (name, &workload("W3")),
            ports,
            &d1,
            0,
        )?))
    })?;
    out(idle);
    let mut d1 = Some(d1);
    let changed = repeat(bench, || {
        if let Some(d1) = d1.take() {
            d1.stop()?;
        }
        *round += 1;
        touch(bench, "d1", DISTRICT, (10, *round), within)?;
        let node = d1.insert(bench.start("d1")?);
        Ok(label(reconnect(
            bench,
            (name, &workload("W2")),
            ports,
            node,
            10,
        )?))
    })?;
    out(changed);
    d1.context("district node")
}

/// `bench.runs` runs of `run`, summarised.
fn repeat(bench: &Bench, mut run: impl FnMut() -> Result<Value>) -> Result<Value> {
    let runs = (0..bench.runs).map(|_| run()).collect::<Result<Vec<_>>>()?;
    Ok(summarise(&runs))
}
