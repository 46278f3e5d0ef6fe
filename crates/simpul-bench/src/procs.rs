//! Real processes: a district CA, node stores and configs, `simpul run`, `simpul-relay`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use simpul_node::admin::{AdminClient, Reply, Request};
use simpul_node::board::PeerStatus;

/// Where the binaries are and where the runs live.
pub(crate) struct Bench {
    /// Directory holding `simpul` and `simpul-relay`.
    pub(crate) bin: PathBuf,
    /// Working directory for this run.
    pub(crate) work: PathBuf,
    /// Runs of each workload.
    pub(crate) runs: usize,
}

impl Bench {
    /// Runs `simpul ARGS` in the work directory and fails on a non-zero exit.
    pub(crate) fn simpul(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(self.bin.join("simpul"))
            .args(args)
            .current_dir(&self.work)
            .env_remove("SIMPUL_DATA_DIR")
            .output()
            .context("run simpul")?;
        if !out.status.success() {
            bail!("simpul {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A data API token of `role` for `holder` on node `name` (issued on its store).
    pub(crate) fn token(&self, name: &str, role: &str, holder: &str) -> Result<String> {
        let out = self.simpul(&[
            "--data-dir",
            name,
            "token",
            "issue",
            "--role",
            role,
            "--name",
            holder,
        ])?;
        Ok(out.trim().to_string())
    }

    /// A CA in `pki/` and, per (name, path), a certificate and an empty store `name/`.
    pub(crate) fn district(&self, nodes: &[(&str, &str)]) -> Result<()> {
        if !self.work.join("pki/ca.crt").exists() {
            self.simpul(&["ca", "init", "--district", "3273", "--out", "pki"])?;
        }
        for (name, path) in nodes {
            if !self.work.join("pki").join(name).exists() {
                self.simpul(&[
                    "ca",
                    "issue",
                    "--ca",
                    "pki",
                    "--path",
                    path,
                    "--out",
                    &format!("pki/{name}"),
                ])?;
            }
            if !self.work.join(name).join("simpul.redb").exists() {
                self.simpul(&["--data-dir", name, "init", "--path", path])?;
            }
        }
        Ok(())
    }

    /// Writes `name.toml`: listen on `port`, dial `peer` (port, path) if given.
    pub(crate) fn config(
        &self,
        name: &str,
        path: &str,
        port: u16,
        peer: Option<(u16, &str)>,
    ) -> Result<PathBuf> {
        let mut text = format!(
            "path = \"{path}\"\ndata_dir = \"{name}\"\nlisten = \"127.0.0.1:{port}\"\n\
             ca_cert = \"pki/ca.crt\"\ncert = \"pki/{name}/node.crt\"\nkey = \"pki/{name}/node.key\"\n\
             round_secs = 3600\nbackoff_min_secs = 1\n"
        );
        if let Some((p, peer)) = peer {
            text.push_str(&format!(
                "\n[[peer]]\naddress = \"127.0.0.1:{p}\"\npath = \"{peer}\"\n"
            ));
        }
        let file = self.work.join(format!("{name}.toml"));
        std::fs::write(&file, text)?;
        Ok(file)
    }

    /// Starts `simpul run` for `name` and waits until its admin socket answers.
    pub(crate) fn start(&self, name: &str) -> Result<Node> {
        let started = Instant::now();
        let spawned_ms = simpul_node::clock::now_ms();
        let log = std::fs::File::create(self.work.join(format!("{name}.log")))?;
        let child = Command::new(self.bin.join("simpul"))
            .args(["run", "--config", &format!("{name}.toml")])
            .current_dir(&self.work)
            .stderr(Stdio::from(log))
            .spawn()
            .context("start simpul run")?;
        let dir = self.work.join(name);
        let deadline = started + Duration::from_secs(120);
        loop {
            if let Some(client) = AdminClient::connect(&dir) {
                return Ok(Node {
                    child: Some(child),
                    client,
                    startup: started.elapsed(),
                    spawned_ms,
                });
            }
            if Instant::now() > deadline {
                bail!("{name} did not start; see {name}.log");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a relay from `listen` to `to` with link `flags`.
    pub(crate) fn relay(&self, listen: u16, to: u16, flags: &[String]) -> Result<Relay> {
        let child = Command::new(self.bin.join("simpul-relay"))
            .args([
                "--listen",
                &format!("127.0.0.1:{listen}"),
                "--to",
                &format!("127.0.0.1:{to}"),
            ])
            .args(flags)
            .stderr(Stdio::piped())
            .spawn()
            .context("start simpul-relay")?;
        Ok(Relay { child })
    }
}

/// A running node.
pub(crate) struct Node {
    child: Option<Child>,
    client: AdminClient,
    /// From spawn until the admin socket answered.
    pub(crate) startup: Duration,
    /// When it was spawned (Unix ms): a node restarted on a store that synced before
    /// shows that sync's time at once (status survives a restart), so a sync is waited
    /// for only if it finished after this.
    pub(crate) spawned_ms: u64,
}

impl Node {
    /// One request through the admin socket.
    pub(crate) fn call(&mut self, request: Request) -> Result<Reply> {
        Ok(self.client.call(&request)?)
    }

    /// The node's peer rows.
    pub(crate) fn peers(&mut self) -> Result<Vec<PeerStatus>> {
        match self.client.call(&Request::Peers)? {
            Reply::Peers { peers } => Ok(peers),
            other => bail!("unexpected reply {other:?}"),
        }
    }

    /// Peak resident memory so far (kB), from /proc.
    pub(crate) fn peak_rss_kb(&self) -> u64 {
        self.child.as_ref().map_or(0, |c| proc_kb(c.id(), "VmHWM:"))
    }

    /// Resident memory now (kB).
    pub(crate) fn rss_kb(&self) -> u64 {
        self.child.as_ref().map_or(0, |c| proc_kb(c.id(), "VmRSS:"))
    }

    /// CPU seconds used so far (user + system), from /proc.
    pub(crate) fn cpu_s(&self) -> f64 {
        let Some(child) = self.child.as_ref() else {
            return 0.0;
        };
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
        // Fields after the command name, which ends with ')'.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
        let tick = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (tick(11) + tick(12)) / 100.0
    }

    /// SIGTERM, and wait.
    pub(crate) fn stop(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A running relay.
pub(crate) struct Relay {
    child: Child,
}

impl Relay {
    /// Stops it; returns the UDP payload bytes it forwarded (toward the listener's target,
    /// and back).
    pub(crate) fn stop(mut self) -> Result<(u64, u64)> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        let mut report = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            use std::io::Read;
            err.read_to_string(&mut report)?;
        }
        let v: serde_json::Value = serde_json::from_str(report.trim()).context("relay report")?;
        let n = |i: usize| v["forwarded_bytes"][i].as_u64().unwrap_or(0);
        Ok((n(0), n(1)))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free UDP port on loopback.
/// A TCP port nobody listens on now.
pub(crate) fn free_tcp_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) fn free_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `done` every few milliseconds until it holds or `limit` passes.
pub(crate) fn until(limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<bool> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done()? {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(false)
}
