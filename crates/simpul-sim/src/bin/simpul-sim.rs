//! Runs simulator seeds: `simpul-sim --seeds N [--from S]` or `simpul-sim --seed S`;
//! `--mem-store` runs the nodes on the simulator's own store instead of the real one.

use std::process::ExitCode;

use simpul_sim::{SimConfig, replay_command, run_seed};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let (from, count) = match (value("--seed"), value("--seeds")) {
        (Some(seed), _) => (seed, 1),
        (None, Some(n)) => (value("--from").unwrap_or(0), n),
        (None, None) => {
            eprintln!(
                "usage: simpul-sim --seeds N [--from S] | --seed S [--steps N] [--mem-store] [--bundle-only] [--no-faults] [--all]"
            );
            return ExitCode::from(2);
        }
    };
    let mut failed = 0u64;
    for seed in from..from + count {
        let mut cfg = SimConfig::new(seed);
        if let Some(steps) = value("--steps") {
            cfg.steps = steps as usize;
        }
        if args.iter().any(|a| a == "--mem-store") {
            cfg.mem_store = true;
        }
        if args.iter().any(|a| a == "--bundle-only") {
            cfg.bundle_only = true;
        }
        if args.iter().any(|a| a == "--no-faults") {
            cfg.loss = 0.0;
            cfg.duplication = 0.0;
        }
        let problems = run_seed(cfg);
        if !problems.is_empty() {
            failed += 1;
            eprintln!(
                "seed {seed} FAILED ({} problems); replay: {}",
                problems.len(),
                replay_command(seed)
            );
            for p in problems.iter().take(if args.iter().any(|a| a == "--all") {
                usize::MAX
            } else {
                10
            }) {
                eprintln!("  {p}");
            }
        }
    }
    println!("{} passed, {failed} failed", count - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
