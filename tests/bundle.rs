//! Sync without a link, with real stores, real certificates and the real CLI: a
//! posyandu's bundle goes to its pustu on a "USB stick" (a directory), the pustu's answer
//! comes back, and the pair converges; broken and replayed bundles are refused with
//! nothing changed; a later live session between the two converges them too.

mod common;

use std::path::Path;

use common::nodes::*;
use common::*;
use serde_json::Value;

fn s(p: &Path) -> String {
    p.to_str().expect("utf-8").to_string()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn census(dir: &Path) -> Value {
    json(&ok(dir, &["status", "--json"]))["records"]["by_facility"].clone()
}

#[test]
fn a_posyandu_without_a_link_syncs_by_bundle_and_a_later_session_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = s(&config(d, "pu", PUSTU, pu_port, &[]));
    let py_cfg = s(&config(d, "py", PY, py_port, &[(pu_port, PUSTU)]));
    ok(
        &d.join("py"),
        &["gen", "--seed", "8", "--patients", "25", "--no-activities"],
    );
    let child = register_child(&d.join("py"), "Anak Bundel", 1);
    let usb = d.join("usb");
    std::fs::create_dir(&usb).expect("usb");
    let py_1 = s(&usb.join("py-1.simpul"));
    let pu_1 = s(&usb.join("pu-1.simpul"));

    // The posyandu has never reached its pustu: the pustu's certificate is given.
    let made = json(&ok(
        d,
        &[
            "bundle",
            "create",
            "--config",
            &py_cfg,
            "--for",
            PUSTU,
            "--out",
            &py_1,
            "--peer-cert",
            &s(&d.join("pki/pu/node.crt")),
            "--json",
        ],
    ));
    let shown = json(&ok(
        d,
        &["bundle", "show", "--config", &pu_cfg, &py_1, "--json"],
    ));
    let shown_text = ok(d, &["bundle", "show", "--config", &pu_cfg, &py_1]);
    // Nothing readable on the stick without the pustu's key: not a name, not a NIK.
    let on_stick = std::fs::read(&py_1).expect("bundle");
    let names = show_json(&d.join("py"), &child)["patient"]["name"].clone();

    // Broken copies are refused, naming why, and the pustu holds nothing of the posyandu.
    let mut tampered = on_stick.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x10;
    std::fs::write(usb.join("tampered.simpul"), &tampered).expect("write");
    std::fs::write(usb.join("cut.simpul"), &on_stick[..on_stick.len() - 100]).expect("write");
    let refused_at =
        |cfg: &str, file: &str| fails(d, &["bundle", "apply", "--config", cfg, file], 3);
    let refused_tampered = refused_at(&pu_cfg, &s(&usb.join("tampered.simpul")));
    let refused_cut = refused_at(&pu_cfg, &s(&usb.join("cut.simpul")));
    let census_after_refusals = census(&d.join("pu"));
    // The posyandu cannot apply its own bundle: it is the pustu's.
    let not_ours = refused_at(&py_cfg, &py_1);
    // A file that is no bundle (a certificate picked up by mistake), and one that is not
    // there: each named, nothing stored.
    let not_a_bundle = refused_at(&pu_cfg, &s(&d.join("pki/pu/node.crt")));
    let missing = simpul(
        d,
        &[
            "bundle",
            "apply",
            "--config",
            &pu_cfg,
            &s(&usb.join("lost.simpul")),
        ],
    );
    let census_after_mistakes = census(&d.join("pu"));

    let applied = json(&ok(
        d,
        &[
            "bundle", "apply", "--config", &pu_cfg, &py_1, "--answer", &pu_1, "--json",
        ],
    ));
    let replayed = refused_at(&pu_cfg, &py_1);
    let pu_has_child = simpul(&d.join("pu"), &["patient", "show", &child])
        .status
        .success();

    // The bidan at the pustu weighs the child; the next answer carries that visit back.
    ok(
        &d.join("pu"),
        &[
            "visit",
            "add",
            &child,
            "--date",
            "2026-12-01",
            "--weight-kg",
            "4.1",
        ],
    );
    let pu_2 = s(&usb.join("pu-2.simpul"));
    let made_back = json(&ok(
        d,
        &[
            "bundle", "create", "--config", &pu_cfg, "--for", PY, "--out", &pu_2, "--json",
        ],
    ));
    let first_answer = json(&ok(
        d,
        &["bundle", "apply", "--config", &py_cfg, &pu_1, "--json"],
    ));
    let second = json(&ok(
        d,
        &["bundle", "apply", "--config", &py_cfg, &pu_2, "--json"],
    ));
    let digest = |name: &str| show_json(&d.join(name), &child)["heads_digest"].clone();
    let (py_digest, pu_digest) = (digest("py"), digest("pu"));
    let py_status = json(&ok(&d.join("py"), &["status", "--json"]));
    let py_status_text = ok(&d.join("py"), &["status"]);
    // Nothing new either way: the next bundle is small and carries nothing.
    let empty = json(&ok(
        d,
        &[
            "bundle",
            "create",
            "--config",
            &py_cfg,
            "--for",
            PUSTU,
            "--out",
            &s(&usb.join("py-2.simpul")),
            "--json",
        ],
    ));

    // Later the posyandu gets a link: a live session finds nothing left to move.
    let (pustu, pu_logs) = start(Path::new(&pu_cfg));
    let (posyandu, py_logs) = start(Path::new(&py_cfg));
    let (converged, seen) = wait_district_converged(&[("py", py_logs), ("pu", pu_logs)], &["py"]);
    let after_session = (census(&d.join("py")), census(&d.join("pu")));
    // With the node running, the same commands go through it (its admin socket).
    let py_3 = usb.join("py-3.simpul");
    let via_node = json(&ok(
        d,
        &[
            "bundle",
            "create",
            "--config",
            &py_cfg,
            "--for",
            PUSTU,
            "--out",
            &s(&py_3),
            "--json",
        ],
    ));
    let shown_via_node = json(&ok(
        d,
        &["bundle", "show", "--config", &pu_cfg, &s(&py_3), "--json"],
    ));
    let statuses = [terminate(posyandu), terminate(pustu)];

    // The district revokes the posyandu's key (a stolen laptop): its next bundle is
    // refused at the pustu, which keeps what it held.
    register_child(&d.join("py"), "Anak Setelah Dicabut", 2);
    let py_4 = s(&usb.join("py-4.simpul"));
    ok(
        d,
        &[
            "bundle", "create", "--config", &py_cfg, "--for", PUSTU, "--out", &py_4,
        ],
    );
    let pki = d.join("pki");
    ok(
        d,
        &[
            "ca",
            "revoke",
            "--ca",
            &s(&pki),
            "--cert",
            &s(&pki.join("py/node.crt")),
        ],
    );
    ok(
        &d.join("pu"),
        &["revocations", "add", &s(&pki.join("crl.pem"))],
    );
    let before_revoked = census(&d.join("pu"));
    let revoked = refused_at(&pu_cfg, &py_4);
    let after_revoked = census(&d.join("pu"));

    assert_eq!(made["peer"], PUSTU);
    let carried = made["records"].as_u64().expect("records");
    // 25 generated people, the child, and the day's audit record.
    assert!(carried >= 26, "{made}");
    assert_eq!(made["basis"], "everything");
    assert_eq!(
        shown["records"].as_array().map(Vec::len),
        Some(carried as usize)
    );
    assert!(shown["applied_ms"].is_null());
    assert!(
        shown_text.contains("not applied here yet") && shown_text.contains("new or newer"),
        "{shown_text}"
    );
    let name = names.as_str().expect("name");
    assert!(
        !on_stick.windows(name.len()).any(|w| w == name.as_bytes()),
        "a name readable on the stick"
    );
    assert!(
        refused_tampered.contains("damaged or was altered"),
        "{refused_tampered}"
    );
    assert!(
        refused_cut.contains("damaged or was altered"),
        "{refused_cut}"
    );
    assert!(
        census_after_refusals.get(PY).is_none(),
        "{census_after_refusals}"
    );
    assert!(not_ours.contains("for another node"), "{not_ours}");
    assert!(
        not_a_bundle.contains("not a simpul bundle"),
        "{not_a_bundle}"
    );
    let missing_said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && missing_said.contains("lost.simpul"),
        "{missing_said}"
    );
    assert!(
        census_after_mistakes.get(PY).is_none(),
        "{census_after_mistakes}"
    );
    assert_eq!(
        applied["applied"][0]["changed"].as_u64(),
        Some(carried),
        "{applied}"
    );
    assert_eq!(applied["answer"]["peer"], PY);
    assert!(replayed.contains("already applied"), "{replayed}");
    assert!(pu_has_child, "the pustu holds the child");
    // The pustu had nothing the posyandu lacked at the first answer; the second carries
    // the visit (and the pustu's audit of it, where the posyandu holds that).
    assert_eq!(applied["answer"]["basis"], "exact", "{applied}");
    assert_eq!(made_back["basis"], "exact", "{made_back}");
    assert!(made_back["records"].as_u64() >= Some(1), "{made_back}");
    assert!(
        first_answer["applied"][0]["changed"].is_u64(),
        "{first_answer}"
    );
    assert!(
        second["applied"][0]["changed"].as_u64() >= Some(1),
        "{second}"
    );
    assert_eq!(
        py_digest, pu_digest,
        "the child's record is the same on both"
    );
    let row = py_status["bundles"]
        .as_array()
        .and_then(|b| b.iter().find(|r| r["path"] == PUSTU))
        .unwrap_or_else(|| panic!("no bundle row: {py_status:#}"))
        .clone();
    assert!(
        row["last_applied_ms"].is_u64() && row["last_created_ms"].is_u64(),
        "{row}"
    );
    // Exactly what the pustu lacks: the posyandu's audit record of the day, which
    // logged the bundles just applied (every bundle command is audited, and the audit
    // trail travels up like any record; past local midnight, two days' records).
    let pending = row["pending"].as_u64().expect("pending");
    assert!(
        (1..=2).contains(&pending) && row["basis"] == "exact",
        "{row}"
    );
    assert!(
        py_status_text.contains("bundles")
            && py_status_text.contains(&format!("{pending} records")),
        "{py_status_text}"
    );
    assert_eq!(empty["basis"], "exact", "{empty}");
    assert_eq!(empty["records"].as_u64(), Some(pending), "{empty}");
    assert!(empty["bytes"].as_u64() < Some(8_000), "{empty}");
    assert!(converged, "{}", seen.join("\n"));
    assert_eq!(
        after_session.0[PY], after_session.1[PY],
        "{after_session:?}"
    );
    // The session moved only the audit record(s) the bundle commands themselves wrote
    // since: everything else the bundles had moved already.
    let moved: u64 = seen
        .iter()
        .filter(|l| l.starts_with("py:") && l.contains("reconciled and moved"))
        .map(|l| {
            ["sending=", "wanting=", "differing="]
                .iter()
                .filter_map(|k| l.split(k).nth(1)?.split(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum();
    assert!(moved <= pending + 1, "{}", seen.join("\n"));
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_eq!(before_revoked, after_revoked);
    assert_eq!(via_node["files"][0], s(&py_3), "{via_node}");
    assert_eq!(shown_via_node["from"], PY, "{shown_via_node}");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}
