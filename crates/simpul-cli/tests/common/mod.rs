//! Running the real `simpul` binary in tests: one-shot commands on a data directory.
//! Shared with the process tests in the workspace's `tests/`, whose `tests/common` adds
//! the helpers for running `simpul run` nodes.
#![allow(dead_code, missing_docs, unreachable_pub)]

use std::path::Path;
use std::process::{Command, Output};

pub const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

/// Runs `simpul --data-dir DIR ARGS...`.
pub fn simpul(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simpul"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("SIMPUL_DATA_DIR")
        .output()
        .expect("run simpul")
}

/// Runs simpul and returns stdout, failing the test on a non-zero exit.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = simpul(dir, args);
    assert!(
        out.status.success(),
        "simpul {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs simpul expecting exit `code`; returns stderr.
pub fn fails(dir: &Path, args: &[&str], code: i32) -> String {
    let out = simpul(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "simpul {args:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one-line error expected: {stderr}"
    );
    stderr
}

/// A fresh posyandu store.
pub fn posyandu_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(dir.path(), &["init", "--path", POSYANDU]);
    dir
}

/// Registers Siti Rahayu and returns her record id.
pub fn add_siti(dir: &Path) -> String {
    ok(
        dir,
        &[
            "patient",
            "add",
            "--nik",
            "3273015208900003",
            "--name",
            "Siti Rahayu",
            "--sex",
            "F",
            "--birth-date",
            "1990-08-12",
            "--village",
            "32.73.01.0001",
            "--rt",
            "3",
            "--rw",
            "7",
        ],
    )
    .trim()
    .to_string()
}

pub fn show_json(dir: &Path, id: &str) -> serde_json::Value {
    serde_json::from_str(&ok(dir, &["patient", "show", id, "--json"])).expect("json")
}

/// Registers a newborn (no NIK yet: the mother's NIK and birth order) and returns the id.
pub fn register_child(dir: &Path, name: &str, birth_order: u32) -> String {
    register_child_born(dir, name, birth_order, "2025-03-04")
}

/// [`register_child`], born on `born`.
pub fn register_child_born(dir: &Path, name: &str, birth_order: u32, born: &str) -> String {
    ok(
        dir,
        &[
            "patient",
            "add",
            "--name",
            name,
            "--sex",
            "F",
            "--birth-date",
            born,
            "--nik-ibu",
            "3273015208900003",
            "--birth-order",
            &birth_order.to_string(),
            "--village",
            "3273012001",
        ],
    )
    .trim()
    .to_string()
}
