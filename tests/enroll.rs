//! Enrolling a new node: its key made on the node, a request the district signs, the
//! config and store written, checked end to end, and the node then syncing with its
//! parent. A request from another district, a tampered request, and a certificate for
//! another key are refused, naming why.

mod common;

use std::time::Duration;

use common::nodes::*;
use common::*;

#[test]
fn a_new_posyandu_is_enrolled_through_a_signed_request_and_syncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU)]);
    let s = |p: &std::path::Path| p.to_str().expect("utf-8").to_string();
    let (pki, node) = (d.join("pki"), d.join("newpy"));
    let pu_port = free_port();
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    let (pustu, _logs) = start_running(&pu_cfg);

    // At the posyandu: a key that never leaves it, and a request.
    ok(d, &["enroll", "request", "--path", PY, "--dir", &s(&node)]);
    let key_mode = std::fs::metadata(node.join("node.key"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("key");
    // At the district: a tampered request and one from another district are refused.
    let csr = std::fs::read_to_string(node.join("node.csr")).expect("csr");
    let tampered = d.join("tampered.csr");
    let mut lines: Vec<String> = csr.lines().map(str::to_string).collect();
    let middle = lines.len() / 2;
    lines[middle] = lines[middle].chars().rev().collect();
    std::fs::write(&tampered, lines.join("\n")).expect("write");
    let tampered_said = fails(
        d,
        &[
            "ca",
            "sign",
            "--ca",
            &s(&pki),
            "--request",
            &s(&tampered),
            "--path",
            PY,
            "--out",
            &s(&d.join("x")),
        ],
        3,
    );
    let other = d.join("other");
    ok(
        d,
        &[
            "enroll",
            "request",
            "--path",
            "3204/P3204010101",
            "--dir",
            &s(&other),
        ],
    );
    let foreign = fails(
        d,
        &[
            "ca",
            "sign",
            "--ca",
            &s(&pki),
            "--request",
            &s(&other.join("node.csr")),
            "--path",
            "3204/P3204010101",
            "--out",
            &s(&other),
        ],
        3,
    );
    // The district means to enrol the posyandu: signing its request as the pustu's is
    // refused; as the posyandu's it is signed. A certificate for another key is refused
    // at finish.
    let mistaken = fails(
        d,
        &[
            "ca",
            "sign",
            "--ca",
            &s(&pki),
            "--request",
            &s(&node.join("node.csr")),
            "--path",
            PUSTU,
            "--out",
            &s(&node),
        ],
        3,
    );
    ok(
        d,
        &[
            "ca",
            "sign",
            "--ca",
            &s(&pki),
            "--request",
            &s(&node.join("node.csr")),
            "--path",
            PY,
            "--out",
            &s(&node),
        ],
    );
    let stranger = d.join("stranger");
    std::fs::create_dir_all(&stranger).expect("dir");
    std::fs::copy(node.join("node.crt"), stranger.join("node.crt")).expect("copy");
    ok(
        d,
        &[
            "enroll",
            "request",
            "--path",
            PY,
            "--dir",
            &s(&d.join("stranger-req")),
        ],
    );
    std::fs::copy(d.join("stranger-req/node.key"), stranger.join("node.key")).expect("copy");
    let py_port = free_port();
    let listen = format!("127.0.0.1:{py_port}");
    let peer = format!("127.0.0.1:{pu_port}={PUSTU}");
    let finish = |at: &std::path::Path| {
        simpul(
            d,
            &[
                "enroll",
                "finish",
                "--dir",
                &s(at),
                "--ca-cert",
                &s(&pki.join("ca.crt")),
                "--listen",
                &listen,
                "--peer",
                &peer,
            ],
        )
    };
    // A peer given without its facility, or at no address, is refused by name before
    // anything is written.
    let malformed = |peer: &str| {
        simpul(
            d,
            &[
                "enroll",
                "finish",
                "--dir",
                &s(&node),
                "--ca-cert",
                &s(&pki.join("ca.crt")),
                "--listen",
                &listen,
                "--peer",
                peer,
            ],
        )
    };
    let no_path = malformed(&format!("127.0.0.1:{pu_port}"));
    let no_address = malformed(&format!("pustu.local={PUSTU}"));
    let written_before = node.join("simpul.toml").exists();
    let wrong_key = finish(&stranger);
    let enrolled = finish(&node);
    let cfg = node.join("simpul.toml");
    let cfg_mode = std::fs::metadata(&cfg)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("config");

    // The enrolled node runs, and its records reach the pustu.
    let (posyandu, _py_logs) = start_running(&cfg);
    let id = register_child(&node.join("data"), "Anak Baru", 1);
    let arrived = eventually(Duration::from_secs(30), || {
        simpul(&d.join("pu"), &["patient", "show", &id])
            .status
            .success()
    });
    let statuses = [terminate(posyandu), terminate(pustu)];

    assert_eq!(key_mode, 0o600);
    assert!(
        tampered_said.contains("request") || tampered_said.contains("signature"),
        "{tampered_said}"
    );
    assert!(
        foreign.contains("3204") && foreign.contains("3273"),
        "{foreign}"
    );
    assert!(
        mistaken.contains(&format!("it is for {PY}, not {PUSTU}")),
        "{mistaken}"
    );
    for (refused, names) in [
        (&no_path, "give ADDRESS=FACILITY_PATH"),
        (&no_address, "pustu.local"),
    ] {
        let said = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(3), "{said}");
        assert!(said.contains("--peer") && said.contains(names), "{said}");
    }
    assert!(!written_before, "a refused enrolment wrote a config");
    assert_eq!(wrong_key.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&wrong_key.stderr).contains("not for the key"),
        "{}",
        String::from_utf8_lossy(&wrong_key.stderr)
    );
    let said = String::from_utf8_lossy(&enrolled.stdout);
    assert!(
        enrolled.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    assert!(said.contains("handshake in"), "{said}");
    assert_eq!(cfg_mode, 0o600);
    assert!(
        arrived,
        "the enrolled posyandu's record never reached its pustu"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}
