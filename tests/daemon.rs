//! Real `simpul run` processes with real certificates on loopback.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::nodes::*;
use common::*;

#[test]
fn a_posyandu_and_its_pustu_converge_and_stop_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "3", "--patients", "40", "--no-activities"],
    );
    let extra = add_patient_at(&d.join("py"));

    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let (pustu, _pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    let synced = wait_for(&py_logs, "in sync: nothing to move", &mut seen);
    let py_status = terminate(posyandu);
    let pu_status = terminate(pustu);
    assert!(
        synced,
        "the posyandu never reported being in sync; its log:\n{}",
        seen.join("\n")
    );
    assert!(
        py_status.success() && pu_status.success(),
        "both stop cleanly on SIGTERM: {py_status:?} {pu_status:?}"
    );

    // Offline now: the pustu holds every person of the posyandu, at the same heads.
    let pu_list = ok(&d.join("pu"), &["patient", "list", "--all", "--json"]);
    assert_eq!(pu_list.lines().count(), 41, "40 generated + 1 registered");
    assert!(pu_list.contains(&extra));
    for line in pu_list.lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("json");
        let id = row["id"].as_str().expect("id");
        assert_eq!(
            show_json(&d.join("pu"), id)["heads_digest"],
            show_json(&d.join("py"), id)["heads_digest"],
            "record {id} has the same heads on both nodes"
        );
    }
}

/// A technician's write on a stopped node (the CLI has no key: the node endorses it when
/// it next starts) on a record the running node created and sealed: its peer takes it,
/// nobody is cut off as hostile, and the pustu's `verify` finds every change covered.
#[test]
fn a_write_made_while_the_node_was_stopped_is_endorsed_and_taken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let (pustu, pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    assert!(wait_for(&py_logs, "node running", &mut seen), "{seen:?}");
    let id = add_patient_at(&d.join("py")); // through the running node: sealed
    let digest = |name: &str| show_json(&d.join(name), &id)["heads_digest"].clone();
    let taken = eventually(Duration::from_secs(30), || {
        simpul(&d.join("pu"), &["patient", "show", &id, "--json"])
            .status
            .success()
    });
    assert!(taken, "the pustu took the new patient");
    assert!(terminate(posyandu).success());

    ok(
        &d.join("py"),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "7.9",
        ],
    );
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    assert!(wait_for(&py_logs, "node running", &mut seen), "{seen:?}");
    let same = eventually(Duration::from_secs(30), || digest("py") == digest("pu"));
    let statuses = [terminate(posyandu), terminate(pustu)];
    let pu_seen: Vec<String> = pu_logs.try_iter().collect();
    assert!(
        same,
        "the pustu took the visit; its log:\n{}",
        pu_seen.join("\n")
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    assert!(
        !pu_seen.iter().any(|l| l.contains("refused")),
        "{}",
        pu_seen.join("\n")
    );
    let verified = ok(&d.join("pu"), &["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&verified).expect("json");
    assert_eq!(report["problems"], serde_json::json!([]), "{verified}");
    let visits = show_json(&d.join("pu"), &id)["patient"]["visits"].clone();
    assert!(visits.to_string().contains("7.9"), "{visits}");
}

/// A district server and its standby (a second node of the same facility, its own
/// certificate): the standby takes every record, written by the many facilities that
/// saw each person under their own keys, and what is written at the standby reaches the
/// server; both stores verify.
#[test]
fn a_district_server_and_its_standby_hold_the_same_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = district(d, &[("d1", "3273"), ("d2", "3273")]);
    let at = |p: PathBuf| p.to_str().expect("utf-8").to_string();
    let (identity, ca, authors) = (at(pki.join("d1")), at(pki.join("ca.crt")), at(pki));
    ok(
        &d.join("d1"),
        &[
            "gen",
            "--seed",
            "5",
            "--patients",
            "60",
            "--audit-days",
            "2",
            "--identity",
            &identity,
            "--ca",
            &ca,
            "--authors-ca",
            &authors,
        ],
    );
    let (d1_port, d2_port) = (free_port(), free_port());
    let d1_cfg = config(d, "d1", "3273", d1_port, &[]);
    let d2_cfg = config(d, "d2", "3273", d2_port, &[(d1_port, "3273")]);
    let (server, _d1_logs) = start_running(&d1_cfg);
    let (standby, d2_logs) = start(&d2_cfg);
    let mut seen = Vec::new();
    assert!(
        wait_for(&d2_logs, "in sync: nothing to move", &mut seen),
        "{}",
        seen.join("\n")
    );
    let id = add_patient_at(&d.join("d2"));
    let taken = eventually(Duration::from_secs(30), || {
        simpul(&d.join("d1"), &["patient", "show", &id, "--json"])
            .status
            .success()
    });
    let statuses = [terminate(standby), terminate(server)];
    assert!(taken, "the server took the patient written at the standby");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    let list = |name: &str| ok(&d.join(name), &["patient", "list", "--all", "--json"]);
    assert_eq!(list("d1").lines().count(), 61);
    assert_eq!(list("d1"), list("d2"));
    let verified = ["d1", "d2"].map(|name| {
        let report: serde_json::Value =
            serde_json::from_str(&ok(&d.join(name), &["verify", "--json"])).expect("json");
        assert_eq!(
            report["problems"],
            serde_json::json!([]),
            "{name}: {report}"
        );
        report["records"].as_u64().expect("records")
    });
    assert_eq!(verified[0], verified[1], "audit days and activities too");
    assert!(verified[0] > 61, "{verified:?}");
}

fn add_patient_at(dir: &Path) -> String {
    ok(
        dir,
        &[
            "patient",
            "add",
            "--name",
            "Putri Lestari",
            "--sex",
            "F",
            "--birth-date",
            "2026-09-14",
            "--nik-ibu",
            "3273015208900003",
            "--birth-order",
            "1",
            "--village",
            "3273012001",
        ],
    )
    .trim()
    .to_string()
}

#[test]
fn a_bad_config_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "path = \"3273\"\nlisten = \"127.0.0.1:1\"\nwhat = 1\n",
    )
    .expect("write");
    let stderr = fails(
        dir.path(),
        &["run", "--config", file.to_str().expect("utf-8")],
        3,
    );
    assert!(
        stderr.contains("what") || stderr.contains("data_dir"),
        "{stderr}"
    );
}

#[test]
fn a_district_converges_and_strangers_get_nothing_in() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = d.join("pki");
    let nodes = [
        ("district", "3273"),
        ("puskesmas", "3273/P3273010201"),
        ("pustu", PUSTU),
        ("py1", PY),
        ("py2", "3273/P3273010201/3273010201-PU1/3273010201-PY02"),
        ("py3", "3273/P3273010201/3273010201-PU1/3273010201-PY03"),
    ];
    district(d, &nodes);
    // An intruder: a posyandu path under our pustu, certified by another CA.
    let other = d.join("other-ca");
    ok(
        d,
        &[
            "ca",
            "init",
            "--district",
            "3273",
            "--out",
            other.to_str().expect("utf-8"),
        ],
    );
    let intruder_path = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
    ok(
        d,
        &[
            "ca",
            "issue",
            "--ca",
            other.to_str().expect("utf-8"),
            "--path",
            intruder_path,
            "--out",
            pki.join("intruder").to_str().expect("utf-8"),
        ],
    );
    ok(&d.join("intruder"), &["init", "--path", intruder_path]);
    for (name, seed) in [
        ("py1", "21"),
        ("py2", "22"),
        ("py3", "23"),
        ("intruder", "24"),
    ] {
        ok(
            &d.join(name),
            &["gen", "--seed", seed, "--patients", "25", "--no-activities"],
        );
    }

    let port: HashMap<&str, u16> = [
        "district",
        "puskesmas",
        "pustu",
        "py1",
        "py2",
        "py3",
        "intruder",
    ]
    .into_iter()
    .map(|n| (n, free_port()))
    .collect();
    let mut configs = vec![
        config(d, "district", "3273", port["district"], &[]),
        config(
            d,
            "puskesmas",
            "3273/P3273010201",
            port["puskesmas"],
            &[(port["district"], "3273")],
        ),
        config(
            d,
            "pustu",
            PUSTU,
            port["pustu"],
            &[(port["puskesmas"], "3273/P3273010201")],
        ),
        config(d, "py1", PY, port["py1"], &[(port["pustu"], PUSTU)]),
        config(d, "py2", nodes[4].1, port["py2"], &[(port["pustu"], PUSTU)]),
        // py3 is legitimate but dials the puskesmas' address expecting its pustu there.
        config(
            d,
            "py3",
            nodes[5].1,
            port["py3"],
            &[(port["puskesmas"], PUSTU)],
        ),
    ];
    // The intruder's config points at its own CA, and dials our pustu.
    let intruder_cfg = config(
        d,
        "intruder",
        intruder_path,
        port["intruder"],
        &[(port["pustu"], PUSTU)],
    );
    let text = std::fs::read_to_string(&intruder_cfg)
        .expect("read")
        .replace("pki/ca.crt", "other-ca/ca.crt");
    std::fs::write(&intruder_cfg, text).expect("write");
    configs.push(intruder_cfg);

    let names = [
        "district",
        "puskesmas",
        "pustu",
        "py1",
        "py2",
        "py3",
        "intruder",
    ];
    let mut children = Vec::new();
    let mut logs = Vec::new();
    for (name, cfg) in names.iter().zip(&configs) {
        let (child, rx) = start(cfg);
        children.push(child);
        logs.push((*name, rx));
    }
    let (converged, seen) = wait_district_converged(&logs, &["puskesmas", "pustu", "py1", "py2"]);
    let statuses: Vec<_> = children.into_iter().map(terminate).collect();
    assert!(
        converged,
        "the district did not converge; logs:\n{}",
        seen.join("\n")
    );
    assert!(
        statuses.iter().all(|s| s.success()),
        "every node stops cleanly: {statuses:?}"
    );
    let refused = |who: &str, what: &str| {
        seen.iter()
            .any(|l| l.starts_with(&format!("{who}: ")) && l.contains(what))
    };
    assert!(
        refused("py3", "dial failed") && refused("py3", PUSTU),
        "py3 saw that the peer was not its pustu"
    );
    assert!(
        refused("intruder", "dial failed"),
        "the intruder could not connect"
    );

    let count = |name: &str| {
        ok(&d.join(name), &["patient", "list", "--all", "--json"])
            .lines()
            .count()
    };
    assert_eq!(
        count("district"),
        50,
        "py1 and py2, nothing from py3 (misconfigured) or the intruder"
    );
    assert_eq!(count("puskesmas"), 50);
    assert_eq!(count("pustu"), 50);
    assert_eq!(
        count("py1"),
        25,
        "a posyandu holds no record of another posyandu"
    );
    assert_eq!(count("py2"), 25);
    for name in ["py1", "py2"] {
        for line in ok(&d.join(name), &["patient", "list", "--all", "--json"]).lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("json");
            let id = row["id"].as_str().expect("id");
            assert_eq!(
                show_json(&d.join("district"), id)["heads_digest"],
                show_json(&d.join(name), id)["heads_digest"],
                "record {id} has the same heads at the district"
            );
        }
    }
}

#[test]
fn two_nodes_converge_through_a_rural_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "5", "--patients", "60", "--no-activities"],
    );
    let (pu_port, py_port, relay_port) = (free_port(), free_port(), free_port());
    // 256 kbit/s, 300 ms each way, 5% loss each way, between the posyandu and its pustu.
    let relay = Relay::start(
        relay_port,
        pu_port,
        &[
            "--delay-ms",
            "300",
            "--loss",
            "0.05",
            "--rate-kbit",
            "256",
            "--seed",
            "7",
        ],
    );
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let py_cfg = config(d, "py", PY, py_port, &[(relay_port, PUSTU)]);
    let (pustu, _pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    let synced = wait_for(&py_logs, "in sync: nothing to move", &mut seen);
    let py_status = terminate(posyandu);
    let pu_status = terminate(pustu);
    let relay_report = relay.stop();
    assert!(
        synced,
        "no sync through the relay; log:\n{}\nrelay: {relay_report}",
        seen.join("\n")
    );
    assert!(py_status.success() && pu_status.success());
    assert!(
        relay_report.contains("\"dropped\""),
        "relay reported its counters: {relay_report}"
    );
    assert_eq!(
        ok(&d.join("pu"), &["patient", "list", "--all", "--json"])
            .lines()
            .count(),
        60
    );
}
