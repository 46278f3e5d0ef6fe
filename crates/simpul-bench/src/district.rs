//! W5: a district node holding 1,000,000 generated records: its start-up time and idle
//! memory, then W3 and W2 (k = 10) against one of its puskesmas, which first receives
//! its share of the records (a W1 of about a fifth of them).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use simpul_model::FacilityPath;
use simpul_node::board::PeerStatus;
use simpul_store::{Store, StoreOptions};

use crate::procs::{Bench, Node, free_port};
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

/// One reconnection of the puskesmas (d2) to the district (d1) through a counting
/// relay, until it has finished a reconciliation: its line of figures.
fn reconnect(
    bench: &Bench,
    workload: &str,
    (d1_port, relay_port): (u16, u16),
    d1: &Node,
    k: u64,
) -> Result<Value> {
    let district = FacilityPath::parse(DISTRICT)?;
    let relay = bench.relay(relay_port, d1_port, &[])?;
    let started = Instant::now();
    let mut d2 = bench.start("d2")?;
    let row: PeerStatus = wait_synced_with(&mut d2, &district, Duration::from_secs(3600))?;
    let wall = started.elapsed();
    let (rss, cpu) = (d2.peak_rss_kb(), d2.cpu_s());
    d2.stop()?;
    let (up, down) = relay.stop()?;
    Ok(json!({
        "workload": workload, "k": k, "wall_s": round3(wall.as_secs_f64()),
        "wire_bytes_puskesmas_to_district": up, "wire_bytes_district_to_puskesmas": down,
        "wire_bytes": up + down, "round_trips": row.rounds,
        "plan": row.last_plan, "records_in": row.records_in,
        "peak_rss_kb": {"puskesmas": rss, "district": d1.peak_rss_kb()},
        "cpu_s": {"puskesmas": round3(cpu), "district": round3(d1.cpu_s())},
    }))
}

/// W5 with `n` records at the district (generated once, cached).
pub(crate) fn district(bench: &Bench, n: u64, out: &mut dyn FnMut(Value)) -> Result<()> {
    let cached = generated(bench, "district", DISTRICT, 5, n, &[])?;
    for name in ["d1", "d2"] {
        let _ = std::fs::remove_dir_all(bench.work.join(name));
    }
    std::fs::create_dir_all(bench.work.join("d1"))?;
    std::fs::copy(&cached, bench.work.join("d1/simpul.redb"))?;
    bench.district(&[("d1", DISTRICT)])?;
    let stored = stored_bytes(&bench.work.join("d1"))?;
    let (puskesmas, share) = largest_puskesmas(bench)?;
    // A certificate left from another run may name another facility.
    let _ = std::fs::remove_dir_all(bench.work.join("pki/d2"));
    bench.district(&[("d2", puskesmas.as_str())])?;

    // Start-up and idle memory of the district node alone.
    let (d1_port, relay_port) = (free_port()?, free_port()?);
    bench.config("d1", DISTRICT, d1_port, None)?;
    bench.config(
        "d2",
        puskesmas.as_str(),
        free_port()?,
        Some((relay_port, DISTRICT)),
    )?;
    let d1 = bench.start("d1")?;
    std::thread::sleep(Duration::from_secs(3));
    out(json!({
        "workload": "W5/start", "n": n, "startup_s": round3(d1.startup.as_secs_f64()),
        "idle_rss_kb": d1.rss_kb(), "stored_bytes": stored,
        "file_bytes": std::fs::metadata(bench.work.join("d1/simpul.redb"))?.len(),
    }));

    // The puskesmas takes its share (a W1), then reconnects with nothing changed (W3).
    let ports = (d1_port, relay_port);
    let mut first = reconnect(bench, "W5/W1-puskesmas-share", ports, &d1, 0)?;
    first["n"] = json!(share);
    out(first);
    if count(&bench.work.join("d2"))? != share {
        bail!("the puskesmas does not hold its {share} records");
    }
    let mut idle = reconnect(bench, "W5/W3", ports, &d1, 0)?;
    idle["n"] = json!(n);
    out(idle);

    // Ten records of the puskesmas change at the district (offline), then W2.
    d1.stop()?;
    touch(bench, "d1", DISTRICT, 10, Some(&puskesmas))?;
    let d1 = bench.start("d1")?;
    let mut changed = reconnect(bench, "W5/W2", ports, &d1, 10)?;
    changed["n"] = json!(n);
    out(changed);
    d1.stop()
}
