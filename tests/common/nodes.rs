//! Real node processes for tests: certificates, configs, `simpul run`, the relay.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ok;

/// The demo pustu.
pub const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
/// A posyandu under it.
pub const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

/// A district CA in `d/pki` and, for each `(name, path)`, a node certificate in
/// `pki/<name>` and an empty store in `d/<name>`. Returns the CA directory.
pub fn district(d: &Path, nodes: &[(&str, &str)]) -> PathBuf {
    let pki = d.join("pki");
    let pki_s = pki.to_str().expect("utf-8");
    ok(d, &["ca", "init", "--district", "3273", "--out", pki_s]);
    for (name, path) in nodes {
        let out = pki.join(name);
        ok(
            d,
            &[
                "ca",
                "issue",
                "--ca",
                pki_s,
                "--path",
                path,
                "--out",
                out.to_str().expect("utf-8"),
            ],
        );
        ok(&d.join(name), &["init", "--path", path]);
    }
    pki
}

pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub fn config(dir: &Path, name: &str, path: &str, port: u16, peers: &[(u16, &str)]) -> PathBuf {
    config_with_rounds(dir, name, path, port, peers, 1)
}

/// A config for node `name` (data in `dir/name`, certificate in `dir/pki/name`) that
/// reconciles every `round_secs` and dials `peers` (port, expected path).
pub fn config_with_rounds(
    dir: &Path,
    name: &str,
    path: &str,
    port: u16,
    peers: &[(u16, &str)],
    round_secs: u64,
) -> PathBuf {
    let mut text = format!(
        "path = \"{path}\"\ndata_dir = \"{name}\"\nlisten = \"127.0.0.1:{port}\"\nca_cert = \"pki/ca.crt\"\n\
         cert = \"pki/{name}/node.crt\"\nkey = \"pki/{name}/node.key\"\nround_secs = {round_secs}\nbackoff_min_secs = 1\n"
    );
    for (p, peer) in peers {
        text.push_str(&format!(
            "\n[[peer]]\naddress = \"127.0.0.1:{p}\"\npath = \"{peer}\"\n"
        ));
    }
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write config");
    file
}

/// Starts `simpul run`, forwarding its log lines to a channel.
/// A `simpul run` process, killed if the test ends (or panics) without stopping it.
pub struct NodeProcess(Option<Child>);

impl NodeProcess {
    /// SIGKILL, as a power cut would.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

pub fn start(config: &Path) -> (NodeProcess, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simpul"))
        .args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start simpul run");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (NodeProcess(Some(child)), rx)
}

/// Starts a node and waits until it says it runs (failing the test, with its log, if it
/// does not).
pub fn start_running(config: &Path) -> (NodeProcess, mpsc::Receiver<String>) {
    let (node, logs) = start(config);
    let mut seen = Vec::new();
    assert!(
        wait_for(&logs, "node running", &mut seen),
        "{}",
        seen.join("\n")
    );
    (node, logs)
}

pub fn wait_for(logs: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match logs.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

pub fn terminate(mut node: NodeProcess) -> std::process::ExitStatus {
    let mut child = node.0.take().expect("running");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    child.wait().expect("wait")
}

/// Waits until, over two seconds, no dialler moved anything and every dialler's latest
/// reconciliation found nothing to move. Returns the log lines seen.
pub fn wait_district_converged(
    logs: &[(&str, mpsc::Receiver<String>)],
    diallers: &[&str],
) -> (bool, Vec<String>) {
    let mut last: HashMap<String, String> = HashMap::new();
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut quiet_since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        let mut moved = false;
        for (name, rx) in logs {
            while let Ok(line) = rx.try_recv() {
                if line.contains("reconciled and moved") {
                    moved = true;
                }
                if line.contains("in sync") || line.contains("reconciled and moved") {
                    last.insert((*name).to_string(), line.clone());
                }
                all.push(format!("{name}: {line}"));
            }
        }
        if moved {
            quiet_since = std::time::Instant::now();
        }
        let all_in_sync = diallers
            .iter()
            .all(|d| last.get(*d).is_some_and(|l| l.contains("in sync")));
        if all_in_sync && quiet_since.elapsed() > Duration::from_secs(2) {
            return (true, all);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (false, all)
}

/// A running `simpul-relay`.
pub struct Relay {
    child: Child,
}

impl Relay {
    /// Starts a relay listening on `listen` that forwards to `to`, with `link` flags
    /// (`--delay-ms`, `--loss`, `--rate-kbit`, `--down-file`, ...).
    pub fn start(listen: u16, to: u16, link: &[&str]) -> Relay {
        let child = Command::new(env!("CARGO_BIN_EXE_simpul-relay"))
            .args(["--listen", &format!("127.0.0.1:{listen}")])
            .args(["--to", &format!("127.0.0.1:{to}")])
            .args(link)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start relay");
        Relay { child }
    }

    /// Stops the relay and returns its counters (JSON).
    pub fn stop(self) -> String {
        let mut relay = std::mem::ManuallyDrop::new(self);
        relay.report()
    }

    fn report(&mut self) -> String {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill relay");
        let _ = self.child.wait();
        let mut report = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut report);
        }
        report
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pustu and its posyandu, the posyandu dialling through a relay whose link is cut
/// while the file `down` exists. Reconciles every `round_secs`.
pub struct CutLink {
    pub pustu: NodeProcess,
    pub posyandu: NodeProcess,
    pub pu_logs: mpsc::Receiver<String>,
    pub py_logs: mpsc::Receiver<String>,
    pub relay: Relay,
    pub down: PathBuf,
}

impl CutLink {
    /// Starts both nodes of `district(d, &[("pu", PUSTU), ("py", PY)])` and the relay.
    pub fn start(d: &Path, round_secs: u64) -> CutLink {
        let (pu_port, py_port, relay_port) = (free_port(), free_port(), free_port());
        let down = d.join("link-down");
        let relay = Relay::start(
            relay_port,
            pu_port,
            &["--down-file", down.to_str().expect("utf-8")],
        );
        let pu_cfg = config_with_rounds(d, "pu", PUSTU, pu_port, &[], round_secs);
        let py_cfg = config_with_rounds(d, "py", PY, py_port, &[(relay_port, PUSTU)], round_secs);
        let (pustu, pu_logs) = start(&pu_cfg);
        let (posyandu, py_logs) = start(&py_cfg);
        CutLink {
            pustu,
            posyandu,
            pu_logs,
            py_logs,
            relay,
            down,
        }
    }

    /// Cuts the link.
    pub fn cut(&self) {
        std::fs::write(&self.down, b"").expect("cut the link");
    }

    /// Heals it.
    pub fn heal(&self) {
        std::fs::remove_file(&self.down).expect("heal the link");
    }
}

/// Polls until `done` holds; false after `limit`.
pub fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
