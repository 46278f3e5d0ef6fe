//! `simpul-bench`: the workloads of ../shared/BENCH.md on real `simpul run` processes
//! over real QUIC on loopback, one JSON line per run on stdout. Run it through
//! `scripts/bench.sh`, which builds everything in release first.

mod costs;
mod district;
mod fanin;
mod procs;
mod queries;
mod stats;
mod workloads;
mod writes;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use crate::procs::Bench;
use crate::workloads::{Link, pair};

/// Benchmarks on real processes.
#[derive(Debug, Parser)]
struct Args {
    /// A small subset (N = 1,000 and 10,000; W4 at N = 200) that runs in a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Record counts for W1-W3.
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<u64>>,
    /// Records for W4 (through the rural relay).
    #[arg(long)]
    rural: Option<u64>,
    /// People at the district node for W5 (0 skips it): the district of W8, with a year
    /// of audit (generated once and cached).
    #[arg(long)]
    district: Option<u64>,
    /// Runs of W5's W1 of the whole district to an empty standby (default: --runs; 0
    /// skips the standby).
    #[arg(long)]
    standby_runs: Option<usize>,
    /// People at the district node for W8, the district at scale (0 skips it; generated
    /// once with a year of audit, and cached).
    #[arg(long)]
    w8: Option<u64>,
    /// Days of audit records in W8's district.
    #[arg(long, default_value_t = 365)]
    w8_audit_days: u32,
    /// Registrations through the data API for W6 (0 skips it).
    #[arg(long)]
    writes: Option<u64>,
    /// Concurrent API clients for W6.
    #[arg(long, default_value_t = 8)]
    clients: u64,
    /// Facility peers for W7, each with 10 new records (0 skips it).
    #[arg(long)]
    fan_in: Option<usize>,
    /// Patients for the per-record cost breakdown (load, envelope, whole read,
    /// validation; 0 skips it).
    #[arg(long)]
    record_costs: Option<u64>,
    /// Runs of each workload: every line is the median of them, with the min and max
    /// of each wall-time figure.
    #[arg(long)]
    runs: Option<usize>,
    /// Records of the posyandu whose idle memory is read (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    idle: u64,
    /// Working directory (generated stores are cached here between runs).
    #[arg(long, default_value = "target/bench")]
    work: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin = std::env::current_exe()?
        .parent()
        .context("binary directory")?
        .to_path_buf();
    std::fs::create_dir_all(&args.work)?;
    let bench = Bench {
        bin,
        work: std::path::absolute(&args.work)?,
        runs: args.runs.unwrap_or(if args.quick { 2 } else { 5 }).max(1),
    };
    let sizes = args.sizes.clone().unwrap_or(if args.quick {
        vec![1_000, 10_000]
    } else {
        vec![1_000, 10_000, 100_000]
    });
    let costs = args.record_costs.unwrap_or(2_000);
    let mut verify_us = None;
    if costs > 0 {
        eprintln!("record costs, {costs} generated patients");
        verify_us = Some(costs::record_costs(costs, &mut |v| println!("{v}"))?);
    }
    // A W1 line also says what share of the receiver's CPU per record checking the
    // author's seal is (the seal check timed in-process above).
    let mut print = |mut v: serde_json::Value| {
        if let (Some(verify), Some(cpu)) = (verify_us, v["receiver_cpu_us_per_record"].as_f64())
            && cpu > 0.0
        {
            v["verify_share"] = serde_json::json!((verify / cpu * 1000.0).round() / 1000.0);
        }
        println!("{v}");
    };
    for n in sizes.into_iter().filter(|n| *n > 0) {
        eprintln!("W1-W3, N = {n}");
        pair(&bench, n, &Link::loopback(), None, &mut print)?;
    }
    if args.idle > 0 {
        eprintln!("a posyandu of {} records, idle", args.idle);
        workloads::posyandu_idle(&bench, args.idle, &mut print)?;
    }
    let district_n = args
        .district
        .unwrap_or(if args.quick { 0 } else { 1_000_000 });
    if district_n > 0 {
        eprintln!("W5, a district node with {district_n} records");
        let standby_runs = args.standby_runs.unwrap_or(bench.runs);
        district::district(&bench, district_n, standby_runs, &mut print)?;
    }
    let w8 = args.w8.unwrap_or(if args.quick { 0 } else { 1_000_000 });
    if w8 > 0 {
        eprintln!(
            "W8, the district at scale: {w8} people, {} days of audit",
            args.w8_audit_days
        );
        queries::district_queries(&bench, w8, args.w8_audit_days, &mut print)?;
    }
    let writes = args.writes.unwrap_or(if args.quick { 800 } else { 4_000 });
    if writes > 0 {
        eprintln!("W6, {writes} registrations through the data API");
        repeated(bench.runs, &mut print, |out| {
            writes::api_writes(&bench, writes, args.clients.max(1), out)
        })?;
    }
    let fan_in = args.fan_in.unwrap_or(if args.quick { 50 } else { 300 });
    if fan_in > 0 {
        eprintln!("W7, {fan_in} facilities reconnecting to the district at once");
        repeated(bench.runs, &mut print, |out| {
            fanin::fan_in(&bench, fan_in, 10, out)
        })?;
    }
    let rural = args.rural.unwrap_or(if args.quick { 200 } else { 1_000 });
    if rural > 0 {
        eprintln!("W4, N = {rural}, through the rural relay");
        let stream = workloads::stream_bytes(&bench, rural)?;
        pair(&bench, rural, &Link::rural(), Some(stream), &mut print)?;
        workloads::interrupted(&bench, rural, &Link::rural(), stream, &mut print)?;
    }
    Ok(())
}

/// Runs a workload that prints its own lines `runs` times, then prints each line as the
/// medians over the runs ([`stats::summarise`]).
fn repeated(
    runs: usize,
    print: &mut dyn FnMut(serde_json::Value),
    mut run: impl FnMut(&mut dyn FnMut(serde_json::Value)) -> Result<()>,
) -> Result<()> {
    let mut lines: Vec<Vec<serde_json::Value>> = Vec::new();
    for _ in 0..runs {
        let mut i = 0;
        run(&mut |v| {
            if lines.len() <= i {
                lines.push(Vec::new());
            }
            lines[i].push(v);
            i += 1;
        })?;
    }
    for same in lines {
        print(stats::summarise(&same));
    }
    Ok(())
}
