//! The analytics feed as a technician and a district node run it: `simpul feed postgres`
//! killed with SIGKILL at random moments and run again leaves exactly the rows of one
//! uninterrupted run; a running node with `[feed.postgres]` feeds a live write.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use simpul_feed::testing::Postgres;

fn feed_command(dir: &std::path::Path, url: &str, batch: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_simpul"));
    c.arg("--data-dir")
        .arg(dir)
        .args(["feed", "postgres", "--batch", batch])
        .env("SIMPUL_FEED_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn a_feed_killed_at_random_moments_and_run_again_equals_one_run() {
    let seed = std::env::var("SIMPUL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (SIMPUL_TEST_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let pg = Postgres::start();
    pg.create_database("killed");
    pg.create_database("once");
    let store = tempfile::tempdir().expect("tempdir");
    ok(store.path(), &["init", "--path", "3273/P3273010201"]);
    ok(store.path(), &["gen", "--seed", "3", "--patients", "3000"]);

    let mut interrupted = 0;
    for _ in 0..6 {
        let mut child = feed_command(store.path(), &pg.url("killed"), "20")
            .spawn()
            .expect("start the feed");
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1_500)));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            interrupted += 1;
        }
        child.wait().expect("reap");
    }
    let out = feed_command(store.path(), &pg.url("killed"), "20")
        .output()
        .expect("feed to the end");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = feed_command(store.path(), &pg.url("once"), "1000")
        .output()
        .expect("feed once");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fed 3000 records"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(interrupted > 0, "seed {seed}: no run was interrupted");
    assert_eq!(
        pg.dump("killed"),
        pg.dump("once"),
        "seed {seed}: {interrupted} runs killed"
    );
    // Run again: nothing to feed.
    let out = feed_command(store.path(), &pg.url("once"), "1000")
        .output()
        .expect("feed again");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("fed 0 records"));
}

#[test]
fn a_running_node_feeds_a_live_write_and_the_cli_leaves_it_to_the_node() {
    let pg = Postgres::start();
    let d = tempfile::tempdir().expect("tempdir");
    district(d.path(), &[("py", PY)]);
    let config = config(d.path(), "py", PY, free_port(), &[]);
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        format!(
            "{text}\n[feed.postgres]\nurl = \"{}\"\nevery_secs = 1\n",
            pg.url("postgres")
        ),
    )
    .expect("write config");
    let (node, logs) = start(&config);
    let mut seen = Vec::new();
    assert!(
        wait_for(&logs, "analytics feed to PostgreSQL running", &mut seen),
        "{seen:#?}"
    );
    std::thread::spawn(move || for _ in logs {});
    let py = d.path().join("py");
    let written = Instant::now();
    let id = add_siti(&py);
    let deadline = written + Duration::from_secs(60);
    loop {
        let found = pg.psql(
            "postgres",
            &format!("SELECT name FROM people WHERE id = '{}'", id.trim()),
        );
        if found.trim() == "Siti Rahayu" {
            println!(
                "fed {:.2} s after the write",
                written.elapsed().as_secs_f64()
            );
            break;
        }
        assert!(Instant::now() < deadline, "not fed within a minute");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Its audit entry goes too: written just after the record, so it may reach the
    // feed's next pass rather than the one that carried the person.
    let audit = loop {
        let audit = pg.psql(
            "postgres",
            &format!("SELECT count(*) FROM audit WHERE record = '{}'", id.trim()),
        );
        if audit.trim() != "0" || Instant::now() >= deadline {
            break audit;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(
        audit.trim(),
        "0",
        "the audit entry was not fed within a minute"
    );
    // By hand on a running node: refused, pointing at the config.
    let out = feed_command(&py, &pg.url("postgres"), "10")
        .output()
        .expect("feed");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[feed.postgres]"));
    assert!(terminate(node).success());
}
