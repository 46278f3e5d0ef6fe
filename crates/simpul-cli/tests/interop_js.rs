//! Records are standard Automerge: one exported by `simpul doc export` loads unchanged in
//! the JavaScript implementation (@automerge/automerge), and one made there imports.
//!
//! Needs node and npm; installs @automerge/automerge from the npm registry into the
//! target directory on first run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use simpul_model::automerge::Automerge;

/// Installs @automerge/automerge once per test binary: the tests run on parallel threads,
/// and two `npm install`s into one directory race (one reads the other's half-written
/// package.json).
fn js_automerge() -> PathBuf {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT.get_or_init(install_js_automerge).clone()
}

fn install_js_automerge() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("js-automerge");
    let script = dir.join("interop.cjs");
    if !dir
        .join("node_modules/@automerge/automerge/package.json")
        .exists()
    {
        // A run cut short may have left a half-written package.json behind: start afresh.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("@automerge/automerge@3")
            .status()
            .expect("npm must be installed to run the JavaScript interoperability test (.ci/run installs it)");
        assert!(status.success(), "npm install @automerge/automerge failed");
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/interop.cjs"),
        &script,
    )
    .expect("copy script");
    script
}

fn node(script: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(script)
        .args(args)
        .output()
        .expect("node must be installed");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from node")
}

#[test]
fn an_exported_record_loads_unchanged_in_javascript() {
    let script = js_automerge();
    let dir = posyandu_store();
    let id = add_siti(dir.path());
    ok(
        dir.path(),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "61.5",
            "--immunisation",
            "Td:2:T77",
        ],
    );
    let file = dir.path().join("export.automerge");
    ok(
        dir.path(),
        &["doc", "export", &id, "--out", file.to_str().expect("utf-8")],
    );

    let ours = Automerge::load(&std::fs::read(&file).expect("read")).expect("loads in Rust");
    let mut our_heads: Vec<String> = ours.get_heads().iter().map(|h| h.to_string()).collect();
    our_heads.sort();

    let theirs = node(&script, &["read", file.to_str().expect("utf-8")]);
    let mut js_heads: Vec<String> = theirs["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hex").to_string())
        .collect();
    js_heads.sort();
    assert_eq!(js_heads, our_heads, "same history in both implementations");

    let value = &theirs["value"];
    assert_eq!(value["id"], id.as_str());
    assert_eq!(value["kind"], "patient");
    assert_eq!(value["scope"]["paths"][0], POSYANDU);
    let shown = show_json(dir.path(), &id);
    assert_eq!(value["patient"]["name"], shown["patient"]["name"]);
    assert_eq!(value["patient"]["identifiers"]["nik"], "3273015208900003");
    let visits = value["patient"]["visits"].as_object().expect("visits");
    assert_eq!(visits.len(), 1);
    let visit = visits.values().next().expect("one visit");
    assert_eq!(visit["measurements"]["weight_kg"], 61.5);
    assert_eq!(visit["immunisations"][0]["antigen"], "Td");
}

#[test]
fn a_record_made_in_javascript_imports_and_a_bad_one_is_refused() {
    let script = js_automerge();
    let dir = posyandu_store();
    let id = "0123456789abcdef0123456789abcdef";
    let file = dir.path().join("js.automerge");
    node(&script, &["make", file.to_str().expect("utf-8"), id]);
    let imported = ok(
        dir.path(),
        &["doc", "import", file.to_str().expect("utf-8")],
    );
    assert_eq!(imported.trim(), id);
    let shown = show_json(dir.path(), id);
    assert_eq!(shown["patient"]["name"], "Bayu Pratama");
    let visit = &shown["patient"]["visits"]["00000000000000a1"];
    assert_eq!(visit["measurements"]["weight_kg"], 12.0);
    assert_eq!(visit["immunisations"][0]["dose"], 2);

    let bad_file = dir.path().join("bad.automerge");
    node(
        &script,
        &[
            "make",
            bad_file.to_str().expect("utf-8"),
            "fedcba9876543210fedcba9876543210",
            "bad",
        ],
    );
    let stderr = fails(
        dir.path(),
        &["doc", "import", bad_file.to_str().expect("utf-8")],
        3,
    );
    assert!(stderr.contains("identifiers.nik"), "{stderr}");
    assert!(ok(dir.path(), &["patient", "list"]).contains("1 people"));
}
