//! `simpul doctor --config FILE`: checks a node end to end and says what to fix: the
//! config, the certificate (facility, issuer, expiry) and key, the store, the disk,
//! each peer's reachability (a real QUIC handshake with the node's certificate), and the
//! clock against the changes peers sent.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use simpul_node::admin::{Reply, Request};
use simpul_node::config::NodeConfig;
use x509_parser::prelude::FromDer;

use crate::exit::{FAILURE, coded};
use crate::target::Target;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
struct Finding {
    verdict: Verdict,
    what: String,
    said: String,
}

/// Everything found, printed as it comes.
struct Report {
    findings: Vec<Finding>,
    json: bool,
}

impl Report {
    fn say(&mut self, verdict: Verdict, what: &str, said: impl Into<String>) {
        let said = said.into();
        if !self.json {
            let tag = match verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "WARN",
                Verdict::Fail => "FAIL",
            };
            println!("{tag} {what:<12} {said}");
        }
        self.findings.push(Finding {
            verdict,
            what: what.to_string(),
            said,
        });
    }
}

/// Days left before a certificate expires that are worth a warning.
const RENEW_WITHIN_DAYS: i64 = 30;

/// Free space below which the disk is a warning (the store grows, backups need room).
const LOW_DISK_BYTES: u64 = 1 << 30;

/// A change dated this far ahead of this machine's clock means one of the clocks is off.
const CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;

/// `simpul doctor`.
pub(crate) fn doctor(config: &Path, json: bool) -> Result<()> {
    let mut report = Report {
        findings: Vec::new(),
        json,
    };
    let cfg = match NodeConfig::load(config) {
        Ok(cfg) => {
            report.say(Verdict::Ok, "config", config.display().to_string());
            Some(cfg)
        }
        Err(e) => {
            report.say(Verdict::Fail, "config", format!("{e}"));
            None
        }
    };
    if let Some(cfg) = &cfg {
        certificate(&mut report, cfg);
        key_file(&mut report, &cfg.key);
        store(&mut report, cfg);
        disk(&mut report, &cfg.data_dir);
        peers(&mut report, cfg);
    }
    let worst = report
        .findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(Verdict::Ok);
    if json {
        let mut out = std::io::stdout().lock();
        for f in &report.findings {
            let verdict = match f.verdict {
                Verdict::Ok => "ok",
                Verdict::Warn => "warn",
                Verdict::Fail => "fail",
            };
            let line = serde_json::json!({"check": f.what, "verdict": verdict, "said": f.said});
            writeln!(out, "{line}")?;
        }
    }
    if worst == Verdict::Fail {
        return Err(coded(FAILURE, "the node needs fixing: see the FAIL lines"));
    }
    Ok(())
}

fn certificate(report: &mut Report, cfg: &NodeConfig) {
    let (cert_pem, ca_pem) = match (
        std::fs::read_to_string(&cfg.cert),
        std::fs::read_to_string(&cfg.ca_cert),
    ) {
        (Ok(cert), Ok(ca)) => (cert, ca),
        (Err(e), _) => {
            return report.say(
                Verdict::Fail,
                "certificate",
                format!("{}: {e}", cfg.cert.display()),
            );
        }
        (_, Err(e)) => {
            return report.say(
                Verdict::Fail,
                "certificate",
                format!("{}: {e}", cfg.ca_cert.display()),
            );
        }
    };
    match simpul_net::NodeIdentity::facility_of_pem(&cert_pem) {
        Ok(path) if path == cfg.path => {}
        Ok(path) => {
            return report.say(
                Verdict::Fail,
                "certificate",
                format!(
                    "names {path}, the config says {}: get a certificate for this facility from the district",
                    cfg.path
                ),
            );
        }
        Err(e) => return report.say(Verdict::Fail, "certificate", e.to_string()),
    }
    let parse = |pem: &str| -> Option<(Vec<u8>, i64, i64)> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&pem.contents).ok()?;
        Some((
            cert.issuer().as_raw().to_vec(),
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        ))
    };
    let subject_of_ca = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .ok()
        .and_then(|(_, pem)| {
            x509_parser::certificate::X509Certificate::from_der(&pem.contents)
                .ok()
                .map(|(_, c)| c.subject().as_raw().to_vec())
        });
    let Some((issuer, not_before, not_after)) = parse(&cert_pem) else {
        return report.say(
            Verdict::Fail,
            "certificate",
            "not a readable X.509 certificate",
        );
    };
    if subject_of_ca.as_deref() != Some(issuer.as_slice()) {
        return report.say(
            Verdict::Fail,
            "certificate",
            format!(
                "not issued by the CA in {}: peers will refuse it",
                cfg.ca_cert.display()
            ),
        );
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let days = (not_after - now) / 86_400;
    if now < not_before {
        report.say(
            Verdict::Fail,
            "certificate",
            "not valid yet: is this machine's clock right?",
        );
    } else if now >= not_after {
        report.say(
            Verdict::Fail,
            "certificate",
            "expired: peers refuse it. Renew it at the district (simpul ca renew)",
        );
    } else if days < RENEW_WITHIN_DAYS {
        report.say(
            Verdict::Warn,
            "certificate",
            format!("expires in {days} days: renew it at the district (simpul ca renew)"),
        );
    } else {
        report.say(
            Verdict::Ok,
            "certificate",
            format!("{} until {days} days from now", cfg.path),
        );
    }
}

fn key_file(report: &mut Report, key: &Path) {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(key) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => report.say(
            Verdict::Warn,
            "key",
            format!(
                "{} may be read by others (mode {:o}): chmod 600 it",
                key.display(),
                m.permissions().mode() & 0o777
            ),
        ),
        Ok(_) => report.say(Verdict::Ok, "key", "owner-only"),
        Err(e) => report.say(Verdict::Fail, "key", format!("{}: {e}", key.display())),
    }
}

fn store(report: &mut Report, cfg: &NodeConfig) {
    let status = Target::open(&cfg.data_dir).and_then(|mut t| t.call(Request::Status));
    match status {
        Ok(Reply::Status(s)) => {
            let how = if s.running { "running" } else { "stopped" };
            let records: u64 = s.records.by_kind.values().sum();
            if !s.damaged.is_empty() {
                report.say(
                    Verdict::Fail,
                    "store",
                    format!(
                        "{} damaged records (simpul status names them; simpul verify, then restore them from a peer or a backup)",
                        s.damaged.len()
                    ),
                );
            } else {
                report.say(
                    Verdict::Ok,
                    "store",
                    format!("{how}, {records} records, {} MB", s.store_bytes >> 20),
                );
            }
            if s.trust.quarantined > 0 {
                report.say(
                    Verdict::Warn,
                    "store",
                    format!(
                        "{} changes set aside as equivocating (simpul quarantine): a node restored from an old copy, or a forger",
                        s.trust.quarantined
                    ),
                );
            }
        }
        Ok(other) => report.say(
            Verdict::Fail,
            "store",
            format!("unexpected answer {other:?}"),
        ),
        Err(e) => report.say(Verdict::Fail, "store", format!("{e:#}")),
    }
}

fn disk(report: &mut Report, dir: &Path) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let verdict = if free < LOW_DISK_BYTES {
                Verdict::Warn
            } else {
                Verdict::Ok
            };
            let hint = if verdict == Verdict::Warn {
                ": make room (a full disk stops writes; nothing is lost, but nothing new is kept)"
            } else {
                ""
            };
            report.say(verdict, "disk", format!("{} MB free{hint}", free >> 20));
        }
        Err(e) => report.say(Verdict::Warn, "disk", format!("{}: {e}", dir.display())),
    }
}

/// Each configured peer: a QUIC handshake with the node's certificate (the peer checks
/// it, this checks the peer's), and the newest change it sent against this clock.
fn peers(report: &mut Report, cfg: &NodeConfig) {
    if cfg.peers.is_empty() {
        report.say(
            Verdict::Ok,
            "peers",
            "none to dial (a district, or a node dialled by others)",
        );
        return;
    }
    let identity = match simpul_net::NodeIdentity::load(&cfg.cert, &cfg.key) {
        Ok(identity) => identity,
        Err(e) => return report.say(Verdict::Fail, "peers", format!("the node's identity: {e}")),
    };
    let ca_pem = std::fs::read_to_string(&cfg.ca_cert).unwrap_or_default();
    let runtime = match super::async_runtime() {
        Ok(runtime) => runtime,
        Err(e) => return report.say(Verdict::Fail, "peers", format!("{e:#}")),
    };
    for (addr, path) in &cfg.peers {
        let dialled = runtime.block_on(async {
            let endpoint = simpul_net::endpoint(
                "0.0.0.0:0".parse().expect("address"),
                &identity,
                &ca_pem,
                &simpul_net::LinkTuning::default(),
                None,
            )?;
            let started = Instant::now();
            let connected = tokio::time::timeout(
                Duration::from_secs(5),
                simpul_net::connect(&endpoint, *addr, path),
            )
            .await;
            let took = started.elapsed();
            let result = match connected {
                Ok(Ok(conn)) => {
                    conn.connection.close(0u32.into(), b"simpul doctor");
                    Ok(took)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer in 5 s".to_string()),
            };
            endpoint.wait_idle().await;
            Ok::<_, simpul_net::NetError>(result)
        });
        match dialled {
            Ok(Ok(took)) => report.say(
                Verdict::Ok,
                "peer",
                format!("{path} at {addr}: handshake in {} ms", took.as_millis()),
            ),
            Ok(Err(e)) => report.say(
                Verdict::Fail,
                "peer",
                format!(
                    "{path} at {addr}: {e}. Check the address, that the node runs, and the link (firewall: UDP)"
                ),
            ),
            Err(e) => report.say(Verdict::Fail, "peer", format!("{path} at {addr}: {e}")),
        }
    }
    clock(report, cfg);
}

/// The newest change any peer's facility made, against this machine's clock: a change
/// dated well ahead of it means one of the two clocks is off (content times are the
/// writers' clocks).
fn clock(report: &mut Report, cfg: &NodeConfig) {
    let Ok(store) = simpul_store::Store::open(&cfg.data_dir, simpul_store::StoreOptions::default())
    else {
        // A running node holds the store; its clock is checked when it is stopped.
        return;
    };
    let now_ms = simpul_node::clock::now_ms();
    let Ok(metas) = store.list() else { return };
    let ahead = metas
        .iter()
        .filter(|(_, m)| m.scope.paths.iter().any(|p| *p != cfg.path))
        .map(|(_, m)| m.content_time.saturating_mul(1000))
        .max()
        .filter(|t| *t > now_ms + CLOCK_SKEW_MS);
    match ahead {
        Some(t) => report.say(
            Verdict::Warn,
            "clock",
            format!(
                "a change from a peer is dated {} min ahead of this machine's clock: one of the two clocks is wrong",
                (t - now_ms) / 60_000
            ),
        ),
        None => report.say(Verdict::Ok, "clock", "no change from a peer is dated ahead of this clock"),
    }
}
