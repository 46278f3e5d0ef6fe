//! W6: records written through the data API, each acknowledged once durable (the
//! record and its audit entry), by several concurrent clients.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::procs::{Bench, free_port, free_tcp_port};
use crate::workloads::{PY, round3};

/// One kader app's requests: `count` registrations; returns each one's latency.
fn client(url: &str, token: &str, first: u64, count: u64) -> Result<Vec<Duration>> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut latencies = Vec::with_capacity(count as usize);
    for i in first..first + count {
        let body = json!({
            "name": format!("Bench Person {i}"),
            "sex": if i % 2 == 0 { "F" } else { "M" },
            "birth_date": format!("{}-{:02}-{:02}", 1950 + i % 70, 1 + i % 12, 1 + i % 28),
            "village": "3273010001",
            "rt": format!("{:03}", 1 + i % 9),
        });
        let started = Instant::now();
        let response = agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(&body)
            .with_context(|| format!("registration {i}"))?;
        latencies.push(started.elapsed());
        if response.status() != 201 {
            bail!("registration {i}: status {}", response.status());
        }
    }
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    round3(sorted[i].as_secs_f64() * 1000.0)
}

/// W6: `n` registrations through a posyandu node's data API from `clients` threads.
pub(crate) fn api_writes(
    bench: &Bench,
    n: u64,
    clients: u64,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let name = "w6";
    let _ = std::fs::remove_dir_all(bench.work.join(name));
    bench.district(&[(name, PY)])?;
    let api_port = free_tcp_port()?;
    let config = bench.config(name, PY, free_port()?, None)?;
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        format!("api_listen = \"127.0.0.1:{api_port}\"\n{text}"),
    )?;
    let node = bench.start(name)?;
    let token = bench.token(name, "kader", "bench")?;
    let url = format!("http://127.0.0.1:{api_port}/api/v1/patients");
    let per_client = n / clients;
    let started = Instant::now();
    let results: Vec<Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (url, token) = (&url, &token);
                s.spawn(move || client(url, token, c * per_client, per_client))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| bail!("client thread panicked")))
            .collect()
    });
    let wall = started.elapsed();
    let mut latencies = Vec::new();
    for r in results {
        latencies.extend(r?);
    }
    latencies.sort();
    let written = latencies.len() as u64;
    let status: Value =
        serde_json::from_str(&bench.simpul(&["--data-dir", name, "status", "--json"])?)?;
    out(json!({
        "workload": "W6", "n": written, "clients": clients,
        "wall_s": round3(wall.as_secs_f64()),
        "records_per_s": round3(written as f64 / wall.as_secs_f64()),
        "p50_ms": percentile(&latencies, 0.50), "p99_ms": percentile(&latencies, 0.99),
        "max_ms": percentile(&latencies, 1.0),
        "stored_patients": status["records"]["by_kind"]["patient"],
        "audit_records": status["records"]["by_kind"]["audit"],
        "peak_rss_kb": node.peak_rss_kb(), "cpu_s": round3(node.cpu_s()),
    }));
    node.stop()
}
