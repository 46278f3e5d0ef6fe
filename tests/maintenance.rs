//! `simpul verify`, `backup`, `restore` and `compact` on real store files.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::nodes::*;
use common::*;

/// `n` generated people (no activities) in the store at `dir`.
fn generate(dir: &Path, seed: u64, n: u64) {
    let (seed, n) = (seed.to_string(), n.to_string());
    ok(
        dir,
        &["gen", "--seed", &seed, "--patients", &n, "--no-activities"],
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[test]
fn verify_passes_a_healthy_store_and_catches_a_damaged_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let healthy = dir.path().join("py");
    ok(&healthy, &["init", "--path", PY]);
    ok(
        &healthy,
        &["gen", "--seed", "6", "--patients", "300", "--no-activities"],
    );
    let report = ok(&healthy, &["verify"]);
    assert!(
        report.contains("checked 300 records") && report.contains("no damage"),
        "{report}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&healthy, &["verify", "--json"])).expect("json");
    assert_eq!(json["problems"].as_array().map(Vec::len), Some(0));

    // Damage a copy: overwrite every eighth 4 KiB page past the file's header pages.
    let damaged = dir.path().join("damaged");
    copy_dir(&healthy, &damaged);
    let file = damaged.join("simpul.redb");
    let mut bytes = std::fs::read(&file).expect("read");
    let mut page = 16;
    while (page + 1) * 4096 <= bytes.len() {
        bytes[page * 4096..(page + 1) * 4096].fill(0xA5);
        page += 8;
    }
    std::fs::write(&file, &bytes).expect("write");
    let out = simpul(&damaged, &["verify"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "damage went unnoticed: {said}");
    assert!(
        said.contains("damage") || said.contains("corrupt") || said.contains("database"),
        "{said}"
    );
    // The healthy original is untouched and still verifies.
    ok(&healthy, &["verify"]);
}

#[test]
fn a_backup_taken_while_writes_flow_restores_to_a_store_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "8", "--patients", "100", "--no-activities"],
    );
    let cfg = config(d, "py", PY, free_port(), &[]);
    let (node, _logs) = start_running(&cfg);

    // A kader keeps registering people while the technician takes the backup.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (dir, writing) = (d.join("py"), writing.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while writing.load(Ordering::Relaxed) {
                n += 1;
                ok(
                    &dir,
                    &[
                        "patient",
                        "add",
                        "--name",
                        "Bayi Baru",
                        "--sex",
                        "M",
                        "--birth-date",
                        "2026-10-01",
                        "--nik-ibu",
                        "3273015208900003",
                        "--birth-order",
                        &(n % 9 + 1).to_string(),
                        "--village",
                        "3273012001",
                    ],
                );
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let backup = d.join("backup.redb");
    let said = ok(
        &d.join("py"),
        &["backup", "--out", backup.to_str().expect("utf-8")],
    );
    writing.store(false, Ordering::Relaxed);
    let written = writer.join().expect("writer");
    let again = simpul(
        &d.join("py"),
        &["backup", "--out", backup.to_str().expect("utf-8")],
    );
    let status = terminate(node);
    assert!(status.success());
    assert!(written > 0, "writes were flowing");
    assert!(said.contains("backed up"), "{said}");
    assert!(!again.status.success(), "a backup never overwrites");

    // Restore onto a fresh machine's empty data directory, then verify it.
    let fresh = d.join("fresh");
    let restored = ok(&fresh, &["restore", backup.to_str().expect("utf-8")]);
    assert!(restored.contains("restored"), "{restored}");
    let report = ok(&fresh, &["verify"]);
    assert!(report.contains("no damage"), "{report}");
    let count = ok(&fresh, &["patient", "list", "--all", "--json"])
        .lines()
        .count();
    assert!(
        (100..=100 + written).contains(&count),
        "{count} records restored"
    );

    // Restoring over a running node, or another facility's store, is refused.
    let other = d.join("other");
    ok(&other, &["init", "--path", PUSTU]);
    let refused = fails(&other, &["restore", backup.to_str().expect("utf-8")], 3);
    assert!(refused.contains("--force"), "{refused}");
    ok(&other, &["verify"]);

    // Compact a stopped store: smaller or equal, still verifies.
    let compacted = ok(&fresh, &["compact"]);
    assert!(compacted.contains("compacted"), "{compacted}");
    ok(&fresh, &["verify"]);
}

/// The five NDJSON files of an export, as bytes.
fn export_files(dir: &Path) -> Vec<Vec<u8>> {
    [
        "Patient",
        "RelatedPerson",
        "Encounter",
        "Observation",
        "Immunization",
    ]
    .iter()
    .map(|t| std::fs::read(dir.join(format!("{t}.ndjson"))).expect("export file"))
    .collect()
}

/// Starts `simpul args` on `dir` without waiting for it.
fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_simpul"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn simpul")
}

/// Waits until the export into `path` has begun (its checkpoint exists) or `child` has
/// ended. Not for a cursor in it: the first is written after a second's pages, and by
/// then the export of a small store can be nearly done, so the node would finish it
/// before it sees its client gone.
fn wait_for_checkpoint(path: &Path, child: &mut std::process::Child) {
    let checkpoint = path.join(".export-checkpoint.json");
    assert!(
        eventually(std::time::Duration::from_secs(60), || {
            child.try_wait().expect("wait").is_some() || checkpoint.exists()
        }),
        "no checkpoint in {}",
        path.display()
    );
}

#[test]
fn an_export_killed_anywhere_goes_on_where_it_stopped_and_equals_one_run() {
    use rand::{RngExt, SeedableRng};
    let seed = std::env::var("SIMPUL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("SIMPUL_TEST_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    let py = d.join("py");
    generate(&py, 9, 1500);
    let whole = d.join("whole");
    let started = std::time::Instant::now();
    ok(
        &py,
        &["export", "fhir", "--out", whole.to_str().expect("utf-8")],
    );
    // Kills land within how long a whole run takes on this machine, whatever its speed.
    let whole_ms = (started.elapsed().as_millis() as u64).max(40);
    let reference = export_files(&whole);

    // On a stopped node: killed (SIGKILL) at random moments, then run again, until a
    // run finishes after at least one kill (a run that finished before its kill starts
    // over in an empty directory).
    let out = d.join("killed");
    let out_arg = out.to_str().expect("utf-8");
    let mut kills = 0;
    for _ in 0..20 {
        let mut child = spawn(&py, &["export", "fhir", "--out", out_arg]);
        std::thread::sleep(std::time::Duration::from_millis(
            rng.random_range(whole_ms / 20..whole_ms * 3 / 4),
        ));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            kills += 1;
        }
        child.wait().expect("reap");
        if !out.join(".export-checkpoint.json").exists() && out.join("Patient.ndjson").exists() {
            if kills > 0 {
                break;
            }
            std::fs::remove_dir_all(&out).expect("start over");
        }
    }
    if out.join(".export-checkpoint.json").exists() || !out.join("Patient.ndjson").exists() {
        ok(&py, &["export", "fhir", "--out", out_arg]);
    }
    println!("stopped node: {kills} kills");
    assert!(kills > 0, "no export was killed: the test showed nothing");
    assert_eq!(export_files(&out), reference, "seed {seed}, {kills} kills");
    assert!(!out.join(".export-checkpoint.json").exists());

    // At a running node: the command is killed once the export has got somewhere; the
    // node stops the export at its next page (a new run meanwhile is told it is busy),
    // and a new run goes on from the checkpoint.
    let cfg = config(d, "py", PY, free_port(), &[]);
    let (node, _logs) = start_running(&cfg);
    let out = d.join("at-node");
    let out_arg = out.to_str().expect("utf-8");
    let mut child = spawn(&py, &["export", "fhir", "--out", out_arg]);
    wait_for_checkpoint(&out, &mut child);
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the export ended before it could be killed: the test shows nothing"
    );
    child.kill().expect("kill");
    child.wait().expect("reap");
    let mut busy = 0;
    assert!(
        eventually(std::time::Duration::from_secs(60), || {
            let run = simpul(&py, &["export", "fhir", "--out", out_arg]);
            let said = String::from_utf8_lossy(&run.stderr).to_string();
            busy += usize::from(said.contains("another export"));
            run.status.success()
        }),
        "the export never went on"
    );
    assert!(terminate(node).success());
    println!("running node: {busy} busy answers");
    assert_eq!(
        export_files(&out),
        reference,
        "at the node ({busy} busy answers)"
    );
}

#[test]
fn a_backup_killed_midway_leaves_nothing_that_looks_like_a_backup_and_runs_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = dir.path().join("py");
    ok(&py, &["init", "--path", PY]);
    generate(&py, 4, 1500);
    let backup = dir.path().join("backup.redb");
    let partial = dir.path().join("backup.redb.partial");
    let arg = backup.to_str().expect("utf-8");
    // Killed once the copy is being written (a few tries: a fast machine may finish
    // first).
    let mut killed = false;
    for _ in 0..5 {
        let mut child = spawn(&py, &["backup", "--out", arg]);
        let writing = eventually(std::time::Duration::from_secs(20), || {
            partial.exists() || child.try_wait().expect("wait").is_some()
        });
        assert!(writing, "the backup neither wrote nor ended");
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            child.wait().expect("reap");
            assert!(!backup.exists(), "a killed backup left {arg}");
            killed = true;
            break;
        }
        child.wait().expect("reap");
        std::fs::remove_file(&backup).expect("remove the finished backup");
    }
    assert!(killed, "no backup was caught at work");
    // Run again: a partial file left behind is no obstacle.
    let said = ok(&py, &["backup", "--out", arg]);
    assert!(said.contains("backed up"), "{said}");
    assert!(!partial.exists());
    let fresh = dir.path().join("fresh");
    ok(&fresh, &["restore", arg]);
    assert!(ok(&fresh, &["verify"]).contains("no damage"));
}

#[test]
fn a_compaction_killed_at_any_moment_leaves_a_store_that_verifies_and_compacts_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let py = dir.path().join("py");
    ok(&py, &["init", "--path", PY]);
    generate(&py, 3, 1500);
    let before = ok(&py, &["patient", "list", "--all", "--json"]);
    for delay_ms in [0u64, 5, 20, 60] {
        let mut child = spawn(&py, &["compact"]);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().expect("reap");
        assert!(
            ok(&py, &["verify"]).contains("no damage"),
            "after a kill at {delay_ms} ms"
        );
    }
    assert!(ok(&py, &["compact"]).contains("compacted"));
    assert_eq!(ok(&py, &["patient", "list", "--all", "--json"]), before);
}
