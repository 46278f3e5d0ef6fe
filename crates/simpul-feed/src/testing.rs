//! A real PostgreSQL server for tests: the distribution's binaries, a new cluster in a
//! temporary directory, listening on a Unix socket there only, stopped when dropped.
//!
//! As root (CI), the server runs as the `postgres` user (PostgreSQL refuses root).
//! Missing binaries fail the test with what to install: `scripts/test.sh` installs
//! the distribution's `postgresql` package where it is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, stopped (fast shutdown) and removed when dropped.
pub struct Postgres {
    dir: tempfile::TempDir,
    server: Child,
    port: u16,
}

impl Postgres {
    /// Starts a fresh server; panics with the reason when it cannot.
    pub fn start() -> Postgres {
        let bin = binaries();
        let dir = tempfile::tempdir().expect("tempdir");
        let as_root = is_root();
        if as_root {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the server's directory to postgres");
        }
        let data = dir.path().join("data");
        let run = |program: &Path| {
            if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        let out = run(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "simpul",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A port only names the socket file: nothing listens on TCP.
        let port = 5432 + (std::process::id() % 1000) as u16;
        let server = run(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .args(["-c", "listen_addresses=", "-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let pg = Postgres { dir, server, port };
        pg.wait_ready(&bin);
        pg
    }

    /// A connection string for database `db` (made by [`Postgres::create_database`], or
    /// `postgres`).
    pub fn url(&self, db: &str) -> String {
        format!(
            "host={} port={} user=simpul dbname={db}",
            self.dir.path().display(),
            self.port
        )
    }

    /// Makes a new empty database.
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// Runs SQL with psql; returns its unaligned output (`|` between columns).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(binaries().join("psql"))
            .arg(self.url(db))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Every fed row of every table of [`crate::TABLES`] in `db`, as JSON text, one
    /// string per table in a stable order: what two feeds are compared by.
    pub fn dump(&self, db: &str) -> Vec<String> {
        crate::TABLES
            .iter()
            .map(|t| {
                self.psql(
                    db,
                    &format!("SELECT row_to_json(fed_row)::text FROM {t} fed_row ORDER BY 1"),
                )
            })
            .collect()
    }

    fn wait_ready(&self, bin: &Path) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .arg("-h")
                .arg(self.dir.path())
                .args(["-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The postmaster's own pid (under runuser, the child is runuser): SIGINT is a
        // fast shutdown.
        let pid_file = self.dir.path().join("data/postmaster.pid");
        if let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
        {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// The directory holding the server's programs: the newest under `/usr/lib/postgresql`
/// (Debian's layout), else one on the PATH that holds them all.
fn binaries() -> PathBuf {
    let all = |d: &Path| {
        ["initdb", "postgres", "pg_isready", "psql"]
            .iter()
            .all(|p| d.join(p).exists())
    };
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    versions
        .into_iter()
        .rev()
        .chain(on_path)
        .find(|d| all(d))
        .expect("PostgreSQL is not installed: install the distribution's `postgresql` package (scripts/test.sh does)")
}
