//! Crash consistency with real processes: a child process writes records through the
//! store and prints each acknowledged write; the test kills it with SIGKILL at random
//! moments, reopens the store, and checks that every acknowledged write is there.
//!
//! The child is this same test binary, re-executed with `SIMPUL_CRASH_CHILD` set.
//! Replay a failure with `SIMPUL_CRASH_SEED=<seed> cargo test -p simpul-store --test crash`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use simpul_model::automerge::ChangeHash;
use simpul_model::{RecordBody, RecordId};
use simpul_store::{Store, StoreOptions};

const CHILD_ENV: &str = "SIMPUL_CRASH_CHILD";
const KILLS: usize = 24;

/// In the child: write forever from three threads, printing `ACK <id> <heads...>` after
/// each acknowledged write.
fn child(dir: &str, seed: u64) -> ! {
    let dir = std::path::Path::new(dir);
    let store = match Store::open(dir, StoreOptions::default()) {
        Ok(s) => s,
        Err(_) => create(dir, POSYANDU),
    };
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let known: Arc<Mutex<Vec<RecordId>>> = Arc::new(Mutex::new(
        store
            .list()
            .expect("list")
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    ));
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let (store, out, known) = (store.clone(), out.clone(), known.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (t << 32));
                loop {
                    let existing = {
                        let known = known.lock().expect("lock");
                        (!known.is_empty() && rng.random_bool(0.6))
                            .then(|| known[rng.random_range(0..known.len())])
                    };
                    let at = rng.random_range(1..u64::MAX / 2);
                    let outcome = match existing {
                        Some(id) => {
                            let n: u32 = rng.random();
                            store.update_record(id, today(), at, move |r| {
                                let RecordBody::Patient(p) = &mut r.body else {
                                    unreachable!()
                                };
                                p.visits.insert(visit_key(n), visit(n));
                                Ok(())
                            })
                        }
                        None => {
                            let rec = record(rng.random(), POSYANDU);
                            let id = rec.id;
                            let out = store.insert_record(rec, today(), at);
                            known.lock().expect("lock").push(id);
                            out
                        }
                    };
                    let outcome = outcome.expect("write succeeds");
                    let heads: Vec<String> = outcome.heads.iter().map(|h| h.to_string()).collect();
                    let mut out = out.lock().expect("lock");
                    writeln!(out, "ACK {} {}", outcome.id, heads.join(" ")).expect("stdout");
                    out.flush().expect("flush");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(0)
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let seed = std::env::var("SIMPUL_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        child(&dir, seed);
    }
    let seed: u64 = std::env::var("SIMPUL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!(
        "crash test seed {seed} (replay: SIMPUL_CRASH_SEED={seed} cargo test -p simpul-store --test crash)"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    // Every acknowledged (record, heads) pair ever printed.
    let mut acked: BTreeMap<RecordId, Vec<Vec<ChangeHash>>> = BTreeMap::new();
    let mut total_acks = 0usize;

    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "acknowledged_writes_survive_sigkill",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("SIMPUL_CRASH_SEED", (seed + round as u64).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().expect("lock").push(line);
                }
            })
        };
        // Wait for the first acknowledgement, then kill at a random moment.
        let start = Instant::now();
        while lines.lock().expect("lock").is_empty() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        reader.join().expect("reader");

        for line in lines.lock().expect("lock").iter() {
            let mut parts = line.split(' ');
            if parts.next() != Some("ACK") {
                continue;
            }
            let id: RecordId = parts.next().expect("id").parse().expect("record id");
            let heads = parts.map(|h| h.parse().expect("change hash")).collect();
            acked.entry(id).or_default().push(heads);
            total_acks += 1;
        }

        let store = Store::open(dir.path(), StoreOptions::default())
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen failed: {e}"));
        for (id, versions) in &acked {
            let (_, doc) = store
                .load(*id)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: {id} damaged: {e}"))
                .unwrap_or_else(|| {
                    panic!("seed {seed} round {round}: acknowledged record {id} lost")
                });
            for heads in versions {
                for h in heads {
                    assert!(
                        doc.get_change_meta_by_hash(h).is_some(),
                        "seed {seed} round {round}: record {id} lost acknowledged change {h}"
                    );
                }
            }
        }
        for (id, _) in store.list().expect("list") {
            store
                .load(id)
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: {id} damaged: {e}"));
        }
    }
    assert!(
        total_acks > KILLS,
        "the child acknowledged too few writes ({total_acks}) to test anything"
    );
    eprintln!(
        "{KILLS} kills, {total_acks} acknowledged writes, {} records, all intact",
        acked.len()
    );
}
