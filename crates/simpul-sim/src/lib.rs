//! A deterministic simulator of a whole district of simpul nodes.
//!
//! Fourteen nodes (a district office, two puskesmas, four pustu, eight posyandu) run the
//! real [`simpul_sync::Session`] over a simulated network that partitions, loses,
//! duplicates and reorders frames, with node crashes and restarts, all from one seed.
//! Each node keeps its records in the real store ([`diskstore::DiskStore`]: redb on a disk
//! in memory, which a crash cuts back to what was last made durable), and the effects
//! the node's driver runs concurrently (record reads and merges) complete in a seeded
//! random order. The fault-injection runs use [`memstore::MemStore`] instead, a store
//! that can be made to break the rules ([`storage`]). Every node seals what it writes
//! with its own key (certificates of one seeded test district). With
//! [`SimConfig::bundle_only`] one posyandu has no link and syncs by bundles a kader
//! carries (`bundles`). After a final heal the checkers verify convergence, scope and
//! durability ([`check`]).
//!
//! `cargo run -p simpul-sim --release -- --seeds 1000` runs many seeds;
//! `cargo run -p simpul-sim -- --seed S` replays one.

mod bundles;
mod byzantine;
pub mod check;
pub mod diskstore;
mod keys;
pub mod memstore;
pub mod storage;
pub mod topology;
mod world;

pub use world::{Fault, Sim, SimConfig};

/// Runs one seed and returns the problems found (empty when all invariants hold).
pub fn run_seed(cfg: SimConfig) -> Vec<String> {
    Sim::new(cfg).run()
}

/// The command that replays a seed.
pub fn replay_command(seed: u64) -> String {
    format!("cargo run -p simpul-sim -- --seed {seed}")
}
