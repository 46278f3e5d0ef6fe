//! A posyandu with no link at all, syncing with its pustu only by bundles a kader
//! carries (some answers lost, old bundles brought again), converges with the district
//! like every other node, on the real store, under the usual partitions, crashes and the
//! Byzantine posyandu.

use simpul_sim::{Sim, SimConfig, replay_command};

#[test]
fn a_posyandu_that_only_ever_exchanges_bundles_converges() {
    let mut failures = Vec::new();
    let mut trips = 0;
    for seed in 0..30 {
        let mut sim = Sim::new(SimConfig {
            bundle_only: true,
            ..SimConfig::new(seed)
        });
        let problems = sim.run();
        trips += sim.trips();
        if let Some(first) = problems.first() {
            failures.push(format!(
                "seed {seed}: {first} (replay: {} --bundle-only)",
                replay_command(seed)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(trips >= 30 * 3, "only {trips} kader trips in 30 seeds");
}
