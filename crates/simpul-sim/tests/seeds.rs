//! CI runs 500 simulator seeds (in four tests, so two cores share them). A failure names
//! its seed and the command that replays it. Run more with
//! `cargo run -p simpul-sim --release -- --seeds 10000`.

use simpul_sim::{SimConfig, replay_command, run_seed};

fn run_range(from: u64, to: u64) {
    let mut failures = Vec::new();
    for seed in from..to {
        let problems = run_seed(SimConfig::new(seed));
        if !problems.is_empty() {
            failures.push(format!(
                "seed {seed}: {} (replay: {})",
                problems[0],
                replay_command(seed)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn seeds_0_to_125() {
    run_range(0, 125);
}

#[test]
fn seeds_125_to_250() {
    run_range(125, 250);
}

#[test]
fn seeds_250_to_375() {
    run_range(250, 375);
}

#[test]
fn seeds_375_to_500() {
    run_range(375, 500);
}
