//! `simpul status`, `peers`, `sync` and `log` against real running nodes: what they say
//! is what the nodes hold.

mod common;

use std::path::Path;
use std::time::Duration;

use common::nodes::*;
use common::*;
use serde_json::Value;

fn status(dir: &Path) -> Value {
    serde_json::from_str(&ok(dir, &["status", "--json"])).expect("status json")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

fn peer<'a>(status: &'a Value, path: &str) -> &'a Value {
    status["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["path"] == path))
        .unwrap_or_else(|| panic!("no row for {path} in {status:#}"))
}

#[test]
fn status_tells_the_truth_in_sync_partitioned_and_healed() {
    const K: u32 = 3;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "4", "--patients", "30", "--no-activities"],
    );
    // Long rounds: what `status` reports comes from the connect-time reconciliation,
    // pushes, and the `sync` command.
    let link = CutLink::start(d, 3600);
    let mut seen = Vec::new();
    let synced = wait_for(&link.py_logs, "reconciled and moved", &mut seen);

    // In sync: nothing left either way, and the counts match what the pustu holds.
    let in_sync = eventually(Duration::from_secs(30), || {
        let row = peer(&status(&d.join("py")), PUSTU).clone();
        row["to_send"]["records"] == 0
            && row["to_receive"]["records"] == 0
            && row["last_sync_ms"].is_u64()
    });
    let py_status = status(&d.join("py"));
    let pu_status = status(&d.join("pu"));
    let py_row = peer(&py_status, PUSTU).clone();
    let pu_row = peer(&pu_status, PY).clone();

    // Partitioned: k records written at the posyandu are k records to send.
    link.cut();
    for i in 0..K {
        register_child(&d.join("py"), "Anak Uji", 2 + i);
    }
    let pending = peer(&status(&d.join("py")), PUSTU)["to_send"]["records"].clone();
    let text = ok(&d.join("py"), &["status"]);

    // Healed: `sync` reconciles and afterwards nothing is left.
    link.heal();
    let sync = simpul(&d.join("py"), &["sync", "--timeout", "120"]);
    let after = status(&d.join("py"));
    // The pustu stops; the posyandu's log holds the session that ended.
    let pu_exit = terminate(link.pustu);
    let ended = eventually(Duration::from_secs(20), || {
        ok(&d.join("py"), &["log", "--json"]).contains(PUSTU)
    });
    let log = ok(&d.join("py"), &["log", "--json"]);
    let log_text = ok(&d.join("py"), &["log"]);
    let statuses = [terminate(link.posyandu), pu_exit];
    let _ = link.relay.stop();

    assert!(synced, "{}", seen.join("\n"));
    assert!(in_sync, "status never showed the finished sync: {py_row:#}");
    assert_eq!(py_status["running"], true);
    assert_eq!(py_row["state"], "connected");
    assert_eq!(pu_row["state"], "connected");
    assert_eq!(
        py_status["records"]["by_facility"][PY], pu_status["records"]["by_facility"][PY],
        "the posyandu's count of its records equals what the pustu holds of them"
    );
    assert_eq!(py_status["records"]["by_kind"]["patient"], 30);
    // The k registrations are also k entries in the posyandu's audit record of the day:
    // one more record to send.
    assert_eq!(
        pending,
        K + 1,
        "k records written while apart, and the audit trail"
    );
    assert!(text.contains(PUSTU) && text.contains("TO SEND"), "{text}");
    assert!(
        sync.status.success(),
        "sync: {}",
        String::from_utf8_lossy(&sync.stderr)
    );
    let summary = String::from_utf8_lossy(&sync.stdout);
    assert!(summary.contains("in sync with"), "{summary}");
    let row = peer(&after, PUSTU);
    assert_eq!(row["to_send"]["records"], 0, "{row:#}");
    assert_eq!(row["to_receive"]["records"], 0, "{row:#}");
    // A push still in flight at the heal may be sent again whole by the reconciliation
    // (both acknowledged), so at least every record went out.
    assert!(
        row["records_out"].as_u64() >= Some(u64::from(30 + K)),
        "{row:#}"
    );
    assert!(
        row["push_lag_ms"].is_u64(),
        "the pushes were acknowledged: {row:#}"
    );
    assert!(ended, "the ended session is in the log");
    let session: Value =
        serde_json::from_str(log.lines().last().expect("a session")).expect("json");
    assert_eq!(session["peer"], PUSTU);
    assert_eq!(session["role"], "initiator");
    assert!(
        session["records_out"].as_u64() >= Some(u64::from(30 + K)),
        "{session:#}"
    );
    assert_eq!(session["error"], false, "{session:#}");
    assert!(
        log_text.contains("this node") && log_text.contains("peer closed"),
        "{log_text}"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

#[test]
fn a_refused_peer_shows_why_and_a_stopped_node_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let other = "3273/P3273010201/3273010201-PU2";
    district(d, &[("pu", PUSTU), ("py", PY), ("other", other)]);
    // The posyandu expects its pustu at an address where another pustu answers.
    let (other_port, py_port) = (free_port(), free_port());
    let other_cfg = config(d, "other", other, other_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(other_port, PUSTU)]);
    let (other_node, _o) = start(&other_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    let failed = wait_for(&py_logs, "dial failed", &mut seen);
    let row = peer(&status(&d.join("py")), PUSTU).clone();
    let statuses = [terminate(posyandu), terminate(other_node)];

    assert!(failed, "{}", seen.join("\n"));
    assert_eq!(row["state"], "refused", "{row:#}");
    let reason = row["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(other) && reason.contains(PUSTU),
        "names both: {reason}"
    );
    assert!(statuses.iter().all(|s| s.success()));

    // Stopped: status reads the store and says so; peer commands need the node.
    let offline = status(&d.join("py"));
    assert_eq!(offline["running"], false);
    assert_eq!(offline["peers"].as_array().map(Vec::len), Some(0));
    let err = fails(&d.join("py"), &["peers"], 6);
    assert!(err.contains("not running"), "{err}");
    fails(&d.join("py"), &["sync"], 6);
}

#[test]
fn concurrent_corrections_show_as_a_conflict_until_resolved_on_both_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    let link = CutLink::start(d, 3600);
    let mut seen = Vec::new();
    let connected = wait_for(&link.py_logs, "in sync", &mut seen);
    let id = register_child(&d.join("py"), "Anak Uji", 1);
    let shared = eventually(Duration::from_secs(20), || {
        simpul(&d.join("pu"), &["patient", "show", &id])
            .status
            .success()
    });

    // Apart, each side corrects the name its own way.
    link.cut();
    ok(
        &d.join("py"),
        &["patient", "update", &id, "--name", "Rina Wulandari"],
    );
    ok(
        &d.join("pu"),
        &["patient", "update", &id, "--name", "Rina Wulandary"],
    );
    link.heal();
    let synced = simpul(&d.join("py"), &["sync", "--timeout", "120"])
        .status
        .success();
    let conflicts = |node: &str| -> Vec<Value> {
        ok(&d.join(node), &["conflicts", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let both_see = eventually(Duration::from_secs(30), || {
        conflicts("py").len() == 1 && conflicts("pu").len() == 1
    });
    let listed = conflicts("py");
    let text = ok(&d.join("pu"), &["conflicts"]);
    let history = ok(&d.join("py"), &["doc", "history", &id]);

    // A value that is none of the competing two is refused, naming them.
    let not_one = fails(
        &d.join("pu"),
        &[
            "conflicts",
            "resolve",
            &id,
            "patient.name",
            "--value",
            "Rina W.",
        ],
        3,
    );
    // The pustu settles it; the change reaches the posyandu and clears it there too.
    ok(
        &d.join("pu"),
        &[
            "conflicts",
            "resolve",
            &id,
            "patient.name",
            "--value",
            "Rina Wulandari",
        ],
    );
    let cleared = eventually(Duration::from_secs(30), || {
        conflicts("py").is_empty() && conflicts("pu").is_empty()
    });
    let name = show_json(&d.join("py"), &id)["patient"]["name"].clone();
    let nothing = fails(
        &d.join("py"),
        &["conflicts", "resolve", &id, "patient.name", "--value", "x"],
        3,
    );
    let statuses = [terminate(link.posyandu), terminate(link.pustu)];
    let _ = link.relay.stop();

    assert!(connected && shared, "{}", seen.join("\n"));
    assert!(synced, "sync after the heal");
    assert!(both_see, "both nodes list the conflict");
    let conflict = &listed[0]["conflicts"][0];
    assert_eq!(conflict["field"], "patient.name", "{conflict:#}");
    let mut values: Vec<(String, String)> = conflict["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap_or_default().to_string(),
                v["facility"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    values.sort();
    assert_eq!(
        values,
        [
            ("Rina Wulandari".to_string(), PY.to_string()),
            ("Rina Wulandary".to_string(), PUSTU.to_string()),
        ]
    );
    assert!(
        text.contains("patient.name") && text.contains(PY) && text.contains(PUSTU),
        "{text}"
    );
    assert_eq!(
        text.matches("<- readers see this").count(),
        1,
        "the value readers see is marked: {text}"
    );
    assert!(
        not_one.contains("none of the competing values") && not_one.contains("Rina Wulandary"),
        "{not_one}"
    );
    assert_eq!(
        conflict["values"]
            .as_array()
            .map(|v| v.iter().filter(|v| v["shown"] == true).count()),
        Some(1)
    );
    assert!(
        history.contains("patient.name") && history.contains(PUSTU),
        "{history}"
    );
    assert!(cleared, "resolve clears the conflict on both nodes");
    assert_eq!(name, "Rina Wulandari");
    assert!(nothing.contains("no competing values"), "{nothing}");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

#[test]
fn a_dialler_that_pulls_is_in_sync_only_once_it_holds_what_it_asked_for() {
    const PUSKESMAS: &str = "3273/P3273010201";
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pk", PUSKESMAS), ("pu", PUSTU)]);
    ok(
        &d.join("pk"),
        &["gen", "--seed", "9", "--patients", "600", "--no-activities"],
    );
    let people = |dir: &Path| -> Vec<Value> {
        ok(dir, &["patient", "list", "--all", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };
    let below_pustu = people(&d.join("pk"))
        .iter()
        .filter(|p| p["facility"].as_str().is_some_and(|f| f.starts_with(PUSTU)))
        .count();
    assert!(below_pustu > 50, "{below_pustu}");
    let (pk_port, pu_port) = (free_port(), free_port());
    let (_pk, _) = start(&config_with_rounds(d, "pk", PUSKESMAS, pk_port, &[], 3600));
    let pu_config = config_with_rounds(d, "pu", PUSTU, pu_port, &[(pk_port, PUSKESMAS)], 3600);
    let (_pu, _) = start(&pu_config);
    // The pustu wants every record of its subtree; the first time its row says the sync
    // finished, it holds them all.
    let finished = eventually(Duration::from_secs(60), || {
        simpul(&d.join("pu"), &["peers", "--json"]).status.success()
            && peer(&status(&d.join("pu")), PUSKESMAS)["last_sync_ms"].is_u64()
    });
    let held = people(&d.join("pu")).len();
    assert!(finished, "the pull never finished");
    assert_eq!(held, below_pustu, "in sync with records still on the way");
}

#[test]
fn a_backlog_written_while_stopped_shows_after_a_restart_and_clears_with_the_sync() {
    const K: u64 = 4;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "5", "--patients", "20", "--no-activities"],
    );
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let (pustu, _pu_logs) = start_running(&pu_cfg);
    let (posyandu, _py_logs) = start_running(&py_cfg);
    let in_sync = |dir: &Path| {
        let row = peer(&status(dir), PUSTU).clone();
        row["to_send"]["records"] == 0
            && row["to_receive"]["records"] == 0
            && row["last_sync_ms"].is_u64()
            && row["backlog_from_store"] == false
    };
    let first_sync = eventually(Duration::from_secs(30), || in_sync(&d.join("py")));
    let stopped = [terminate(posyandu), terminate(pustu)];

    // Written while both nodes are stopped: the CLI writes to the posyandu's store.
    for i in 0..K {
        register_child(&d.join("py"), "Anak Tertunda", 2 + i as u32);
    }
    // The posyandu starts again; its pustu is still down. Before any session, status
    // counts from the store what changed since the two were last in sync.
    let (posyandu, _py_logs) = start_running(&py_cfg);
    let counted = eventually(Duration::from_secs(20), || {
        peer(&status(&d.join("py")), PUSTU)["backlog_from_store"] == true
    });
    let before = peer(&status(&d.join("py")), PUSTU).clone();
    let text = ok(&d.join("py"), &["status"]);
    // The pustu comes back: the sync clears the backlog, and the figures are live.
    let (pustu, _pu_logs) = start_running(&pu_cfg);
    let cleared = eventually(Duration::from_secs(30), || in_sync(&d.join("py")));
    let after = peer(&status(&d.join("py")), PUSTU).clone();
    let statuses = [terminate(posyandu), terminate(pustu)];

    assert!(first_sync, "never in sync at first");
    assert!(stopped.iter().all(|s| s.success()), "{stopped:?}");
    assert!(counted, "no stored backlog: {before:#}");
    let to_send = before["to_send"]["records"].as_u64().expect("count");
    // The k registrations, and the day's audit record that logs them.
    assert!((K..=K + 2).contains(&to_send), "{before:#}");
    assert!(before["backlog_as_of_ms"].is_u64(), "{before:#}");
    assert_ne!(before["state"], "connected", "{before:#}");
    assert!(
        text.contains(&format!("at most {to_send}")) && text.contains("(stored)"),
        "{text}"
    );
    assert!(cleared, "the backlog never cleared: {after:#}");
    assert_eq!(after["backlog_from_store"], false, "{after:#}");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

#[test]
fn the_district_sees_how_fresh_each_posyandu_is_that_it_never_dials() {
    const DK: &str = "3273";
    const PK: &str = "3273/P3273010201";
    // Registered by the district, never started: nothing of it ever arrives.
    const SILENT: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY09";
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("dk", DK), ("pk", PK), ("py", PY)]);
    ok(
        &d.join("dk"),
        &["facility", "set", SILENT, "--name", "Posyandu Sunyi"],
    );
    let (dk_port, pk_port, py_port) = (free_port(), free_port(), free_port());
    // The posyandu reaches its puskesmas, the puskesmas the district: the district never
    // dials the posyandu, nor hears from it directly.
    let dk_cfg = config(d, "dk", DK, dk_port, &[]);
    let pk_cfg = config(d, "pk", PK, pk_port, &[(dk_port, DK)]);
    let py_cfg = config(d, "py", PY, py_port, &[(pk_port, PK)]);
    let (dk, _dk_logs) = start_running(&dk_cfg);
    let (pk, _pk_logs) = start_running(&pk_cfg);
    let (py, _py_logs) = start_running(&py_cfg);
    let written_ms = now_ms();
    let child = register_child(&d.join("py"), "Anak Jauh", 3);
    let arrived = eventually(Duration::from_secs(60), || {
        simpul(&d.join("dk"), &["doc", "show", &child])
            .status
            .success()
    });
    let running = status(&d.join("dk"));
    let text = ok(&d.join("dk"), &["status"]);
    let statuses = [terminate(py), terminate(pk), terminate(dk)];
    // A stopped node says the same: it is kept in the store.
    let stopped = status(&d.join("dk"));

    assert!(arrived, "the posyandu's record never reached the district");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    let row = |status: &Value, path: &str| {
        status["descendants"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["path"] == path))
            .cloned()
            .unwrap_or_else(|| panic!("no row for {path} in {status:#}"))
    };
    let py_row = row(&running, PY);
    let written_s = py_row["heard"]["written_s"].as_u64().expect("written");
    let stored_ms = py_row["heard"]["stored_ms"].as_u64().expect("stored");
    // Whole seconds by the posyandu's clock (the same machine's here).
    assert!(
        (written_ms / 1000 - 1..=now_ms() / 1000 + 1).contains(&written_s),
        "{py_row:#}"
    );
    assert!(
        stored_ms >= written_ms && stored_ms <= now_ms(),
        "{py_row:#}"
    );
    assert_eq!(row(&running, SILENT)["heard"], Value::Null);
    // Stalest first: the posyandu never heard from leads.
    assert_eq!(running["descendants"][0]["path"], SILENT, "{running:#}");
    assert!(
        running["descendants"]
            .as_array()
            .expect("list")
            .iter()
            .all(|f| f["path"] != DK),
        "the node itself is not below itself"
    );
    assert_eq!(row(&stopped, PY), py_row);
    let line = |path: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(path) && !l.contains("connected"))
            .unwrap_or_else(|| panic!("no line for {path}: {text}"))
            .to_string()
    };
    assert!(line(SILENT).contains("nothing held yet"), "{text}");
    assert!(line(PY).matches(" ago").count() == 2, "{text}");
}

#[test]
fn doctor_checks_a_node_end_to_end_and_says_what_to_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let doctor = |cfg: &Path| simpul(d, &["doctor", "--config", cfg.to_str().expect("utf-8")]);
    // The posyandu is stopped; its pustu runs.
    let (pustu, _logs) = start_running(&pu_cfg);
    let healthy = doctor(&py_cfg);
    let json = simpul(
        d,
        &[
            "doctor",
            "--config",
            py_cfg.to_str().expect("utf-8"),
            "--json",
        ],
    );
    let statuses = [terminate(pustu)];
    // The pustu is down; the key is readable by others; then a certificate of another
    // facility.
    let unreachable = doctor(&py_cfg);
    std::fs::set_permissions(
        d.join("pki/py/node.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod");
    let open_key = doctor(&py_cfg);
    let text = std::fs::read_to_string(&py_cfg).expect("config");
    std::fs::write(&py_cfg, text.replace("pki/py/node.crt", "pki/pu/node.crt")).expect("write");
    let wrong_cert = doctor(&py_cfg);

    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).to_string();
    assert!(statuses.iter().all(|s| s.success()));
    assert!(
        healthy.status.success(),
        "{}{}",
        said(&healthy),
        String::from_utf8_lossy(&healthy.stderr)
    );
    for check in [
        "config",
        "certificate",
        "key",
        "store",
        "disk",
        "peer",
        "clock",
    ] {
        assert!(
            said(&healthy)
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}: {}",
            said(&healthy)
        );
    }
    assert!(
        said(&healthy).contains("handshake in"),
        "{}",
        said(&healthy)
    );
    let lines: Vec<Value> = said(&json)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert!(lines.iter().all(|l| l["verdict"] == "ok"), "{lines:?}");

    assert_eq!(unreachable.status.code(), Some(1), "{}", said(&unreachable));
    let peer_line = said(&unreachable)
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("peer"))
        .unwrap_or_default()
        .to_string();
    assert!(
        peer_line.contains(PUSTU) && peer_line.contains("Check the address"),
        "{peer_line}"
    );
    assert!(
        said(&open_key)
            .lines()
            .any(|l| l.starts_with("WARN") && l.contains("chmod 600")),
        "{}",
        said(&open_key)
    );
    let cert_line = said(&wrong_cert)
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains("certificate"))
        .unwrap_or_default()
        .to_string();
    assert!(
        cert_line.contains(PUSTU) && cert_line.contains(PY),
        "{cert_line}"
    );
}
