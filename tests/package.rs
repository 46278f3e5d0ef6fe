//! The Debian package on this machine: built by `scripts/deb.sh` from the binary under
//! test, installed with dpkg (CI runs as root), its unit checked by `systemd-analyze
//! verify`, and the installed binary run as the unit runs it (the `simpul` user it
//! made, a node's config), telling a stand-in of systemd's notify socket that it is
//! ready and alive, and stopped with SIGTERM. Then removed: the store stays.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::nodes::*;

fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// True when this test runs as root; otherwise what needs root goes through `sudo -n`.
fn is_root() -> bool {
    String::from_utf8_lossy(&run("id", &["-u"]).stdout).trim() == "0"
}

/// `program args` as root.
fn privileged(program: &str, args: &[&str]) -> std::process::Output {
    if is_root() {
        run(program, args)
    } else {
        let mut all = vec!["-n", program];
        all.extend_from_slice(args);
        run("sudo", &all)
    }
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The messages sent to `socket` within `limit`, until one holds `until`.
fn notices(socket: &UnixDatagram, until: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let done = text.contains(until);
            seen.push(text);
            if done {
                break;
            }
        }
    }
    seen
}

#[test]
fn the_package_installs_a_unit_that_verifies_and_the_node_runs_and_stops_as_the_service() {
    assert!(
        is_root() || run("sudo", &["-n", "true"]).status.success(),
        "this test installs a package with dpkg: run it as root, or where `sudo -n` works"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let built = run(
        root().join("scripts/deb.sh").to_str().expect("utf-8"),
        &[
            "--binary",
            env!("CARGO_BIN_EXE_simpul"),
            "--out",
            out.path().to_str().expect("utf-8"),
            "--fast",
        ],
    );
    assert!(
        built.status.success(),
        "deb.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = String::from_utf8_lossy(&built.stdout).trim().to_string();
    // It asks for the C library the binary was linked against, not a guess.
    let depends = String::from_utf8_lossy(&run("dpkg-deb", &["-f", &deb, "Depends"]).stdout)
        .trim()
        .to_string();
    assert!(
        depends.starts_with("libc6 (>= 2.") && depends.contains("libgcc-s1"),
        "{depends}"
    );
    let installed = privileged("dpkg", &["-i", &deb]);
    // Removed again however the test ends (the state directory stays, as always).
    struct Uninstall;
    impl Drop for Uninstall {
        fn drop(&mut self) {
            let _ = privileged("dpkg", &["-r", "simpul"]);
        }
    }
    let _uninstall = Uninstall;
    assert!(
        installed.status.success(),
        "dpkg -i: {}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let user = String::from_utf8_lossy(&run("getent", &["passwd", "simpul"]).stdout).to_string();
    let unit = "/lib/systemd/system/simpul.service";
    let verify = run("systemd-analyze", &["verify", unit]);
    let verify_said = String::from_utf8_lossy(&verify.stderr).to_string();

    // A posyandu's node, its files the service user's, run as the unit runs it.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    district(d, &[("py", PY)]);
    let cfg = config(d, "py", PY, free_port(), &[]);
    let socket_path = d.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    for path in [
        d.join("pki"),
        d.join("py"),
        cfg.clone(),
        socket_path.clone(),
    ] {
        let owned = privileged(
            "chown",
            &["-R", "simpul:simpul", path.to_str().expect("utf-8")],
        );
        assert!(owned.status.success(), "chown {}", path.display());
    }
    // As systemd starts it: the unit's user, NOTIFY_SOCKET, and a watchdog for this
    // very process (WATCHDOG_PID is the pid the shell execs into).
    let mut node = Command::new(if is_root() { "env" } else { "sudo" })
        .args(if is_root() { vec![] } else { vec!["-n", "env"] })
        .arg(format!("NOTIFY_SOCKET={}", socket_path.display()))
        .arg("WATCHDOG_USEC=1000000")
        .args([
            "sh",
            "-c",
            "WATCHDOG_PID=$$ exec setpriv --reuid=simpul --regid=simpul --clear-groups \
             /usr/bin/simpul run --config \"$0\"",
            cfg.to_str().expect("utf-8"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the installed simpul");
    let logs = BufReader::new(node.stderr.take().expect("stderr"));
    let log_thread =
        std::thread::spawn(move || logs.lines().map_while(Result::ok).collect::<Vec<_>>());
    let ready = notices(&socket, "READY=1", Duration::from_secs(30));
    let alive = notices(&socket, "WATCHDOG=1", Duration::from_secs(5));
    let owner = run(
        "stat",
        &[
            "-c",
            "%U",
            d.join("py/simpul.redb").to_str().expect("utf-8"),
        ],
    );
    // Under sudo the child is sudo, not the node: find the node by its command line.
    let pid = if is_root() {
        node.id().to_string()
    } else {
        let found = run(
            "pgrep",
            &["-f", &format!("simpul run --config {}", cfg.display())],
        );
        String::from_utf8_lossy(&found.stdout).trim().to_string()
    };
    let _ = privileged("kill", &["-TERM", &pid]);
    let stopping = notices(&socket, "STOPPING=1", Duration::from_secs(10));
    let exit = node.wait().expect("wait");
    let logged = log_thread.join().expect("logs");

    let removed = privileged("dpkg", &["-r", "simpul"]);
    let binary_gone = !Path::new("/usr/bin/simpul").exists();

    assert!(
        user.contains("/var/lib/simpul") && user.contains("nologin"),
        "the service user: {user}"
    );
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {verify_said}"
    );
    assert!(
        ready.iter().any(|m| m.contains("READY=1")),
        "no readiness: {ready:?}\n{}",
        logged.join("\n")
    );
    assert!(alive.iter().any(|m| m.contains("WATCHDOG=1")), "{alive:?}");
    assert!(
        stopping.iter().any(|m| m.contains("STOPPING=1")),
        "{stopping:?}"
    );
    assert_eq!(String::from_utf8_lossy(&owner.stdout).trim(), "simpul");
    assert!(
        exit.success(),
        "SIGTERM ends it cleanly: {exit:?}\n{}",
        logged.join("\n")
    );
    assert!(logged.iter().any(|l| l.contains("stopping")), "{logged:?}");
    assert!(removed.status.success() && binary_gone, "dpkg -r");
    assert!(
        Path::new("/var/lib/simpul").exists(),
        "the state directory stays"
    );
}
