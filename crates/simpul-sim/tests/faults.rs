//! The simulator catches bugs: with a deliberate fault injected, its checkers report it.

use simpul_sim::{Fault, SimConfig, run_seed};

/// Runs seeds with `fault` until one reports a problem containing `expected`.
fn caught(fault: Fault, expected: &str) {
    for seed in 0..20 {
        let mut cfg = SimConfig::new(seed);
        cfg.fault = Some(fault);
        let problems = run_seed(cfg);
        if problems.iter().any(|p| p.contains(expected)) {
            return;
        }
    }
    panic!("{fault:?} went unnoticed in 20 seeds (expected a report containing {expected:?})");
}

#[test]
fn skipping_the_scope_filter_is_caught() {
    caught(Fault::SkipScopeFilter, "outside its scope");
}

#[test]
fn dropping_records_on_receipt_is_caught() {
    caught(Fault::DropOnReceipt, "is missing record");
}

#[test]
fn acknowledging_before_persisting_is_caught() {
    caught(Fault::AckBeforePersist, "lost acknowledged");
}

#[test]
fn a_disk_that_lies_about_syncs_is_caught_on_the_real_store() {
    caught(Fault::LyingDisk, "lost acknowledged");
}

#[test]
fn a_healthy_run_reports_nothing() {
    assert_eq!(run_seed(SimConfig::new(7)), Vec::<String>::new());
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let run = |seed| {
        let mut sim = simpul_sim::Sim::new(SimConfig::new(seed));
        sim.run();
        sim.fingerprints()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn records_that_move_away_are_purged_from_their_old_holder() {
    // Moves are rare events; run seeds until both kinds of letting go were seen (a
    // purge, and a tombstone answering a descendant two levels down), with every
    // checker (exact scope at every node) passing in each.
    let (mut purges, mut tombstones) = (0, 0);
    for seed in 0..300 {
        let mut sim = simpul_sim::Sim::new(SimConfig::new(seed));
        assert_eq!(sim.run(), Vec::<String>::new(), "seed {seed}");
        purges += sim.purges();
        tombstones += sim.tombstone_answers();
        if purges > 0 && tombstones > 0 {
            eprintln!("seeds 0..={seed}: {purges} purges, {tombstones} tombstone answers");
            return;
        }
    }
    panic!("in 300 seeds: {purges} purges, {tombstones} tombstone answers (both must occur)");
}

#[test]
fn a_byzantine_node_is_refused_and_its_equivocation_contained() {
    // One posyandu slips forged frames into its sessions at random; run seeds until its
    // attacks got sessions closed and an equivocation was set aside, with every checker
    // (every stored change signed by its author, exact scope, convergence elsewhere)
    // passing in each.
    let (mut attacks, mut closes, mut quarantined) = (0, 0, 0);
    for seed in 0..200 {
        let mut sim = simpul_sim::Sim::new(SimConfig::new(seed));
        assert_eq!(sim.run(), Vec::<String>::new(), "seed {seed}");
        let (a, c, q) = sim.byzantine_outcome();
        (attacks, closes, quarantined) = (attacks + a, closes + c, quarantined + q);
        if closes > 0 && quarantined > 0 {
            eprintln!(
                "seeds 0..={seed}: {attacks} attacks, {closes} sessions closed, \
                 {quarantined} records with an equivocation set aside"
            );
            return;
        }
    }
    panic!("in 200 seeds: {attacks} attacks, {closes} closes, {quarantined} quarantined");
}
