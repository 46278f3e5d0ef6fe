//! `simpul status | peers | sync | log`: what the technician looks at.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use simpul_model::FacilityPath;
use simpul_node::admin::{NodeStatus, Reply, Request};
use simpul_node::board::{PeerState, PeerStatus, SessionRecord};

use super::facility;
use crate::exit::{FAILURE, NOT_RUNNING, coded};
use crate::output::{ago, bytes, span, table, when};
use crate::target::{Target, expect_reply};

fn fetch(node: &mut Target) -> Result<NodeStatus> {
    Ok(*expect_reply!(node.call(Request::Status)?, Reply::Status(s) => s)?)
}

/// `simpul status [--json] [--watch N]`.
pub(crate) fn status(dir: &Path, json: bool, watch: Option<u64>) -> Result<()> {
    loop {
        // Reopened every time: the node may start or stop between refreshes.
        let status = fetch(&mut Target::open(dir)?)?;
        let mut out = std::io::stdout().lock();
        if watch.is_some() {
            write!(out, "\x1b[2J\x1b[H")?;
        }
        if json {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        } else {
            node_text(&mut out, &status)?;
            descendants_table(&mut out, &status)?;
            bundles_table(&mut out, &status)?;
            if status.running {
                writeln!(out)?;
                peers_table(&mut out, &status.peers, status.now_ms)?;
            }
        }
        out.flush()?;
        match watch {
            Some(secs) => std::thread::sleep(Duration::from_secs(secs.max(1))),
            None => return Ok(()),
        }
    }
}

fn node_text(out: &mut impl Write, s: &NodeStatus) -> std::io::Result<()> {
    writeln!(out, "{}  ({})  simpul {}", s.name, s.path, s.version)?;
    match s.started_ms {
        Some(started) if s.running => writeln!(
            out,
            "running   for {} (since {})",
            span(s.now_ms.saturating_sub(started)),
            when(started)
        )?,
        _ => writeln!(
            out,
            "stopped   (read from the store; start the node for peers)"
        )?,
    }
    writeln!(out, "store     {} ({})", s.store_file, bytes(s.store_bytes))?;
    let kinds: Vec<String> = s
        .records
        .by_kind
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let total: u64 = s.records.by_kind.values().sum();
    writeln!(out, "records   {total} ({})", kinds.join(", "))?;
    for (facility, n) in &s.records.by_facility {
        writeln!(out, "          {n:>7}  {facility}")?;
    }
    if !s.damaged.is_empty() {
        writeln!(
            out,
            "DAMAGED   {} record(s) fail their check and are left out of sync (`simpul verify`)",
            s.damaged.len()
        )?;
        for (id, d) in &s.damaged {
            writeln!(out, "          {id}: {} ({})", d.reason, when(d.at_ms))?;
        }
    }
    super::trust::status_text(out, &s.trust, s.now_ms)
}

/// How many facilities below the node `status` lists (the stalest); `--json` has all.
const DESCENDANTS_SHOWN: usize = 20;

/// The facilities below the node, stalest first: the newest change of each held here,
/// by its own clock, and when it arrived.
fn descendants_table(out: &mut impl Write, s: &NodeStatus) -> std::io::Result<()> {
    if s.descendants.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "below     when a change of each facility below this node last arrived here, stalest first"
    )?;
    let mut t = table(&["FACILITY", "ARRIVED HERE", "NEWEST BY ITS CLOCK"]);
    for f in s.descendants.iter().take(DESCENDANTS_SHOWN) {
        t.add_row(match f.heard {
            Some(h) => vec![
                f.path.to_string(),
                ago(s.now_ms, h.stored_ms),
                written(s.now_ms, h.written_s.saturating_mul(1000)),
            ],
            None => vec![f.path.to_string(), "nothing held yet".into(), "-".into()],
        });
    }
    writeln!(out, "{t}")?;
    if s.descendants.len() > DESCENDANTS_SHOWN {
        writeln!(
            out,
            "          and {} more (`simpul status --json` lists every one)",
            s.descendants.len() - DESCENDANTS_SHOWN
        )?;
    }
    Ok(())
}

/// Peers this node exchanged bundles with: when each way, and what the next bundle
/// would carry.
fn bundles_table(out: &mut impl Write, s: &NodeStatus) -> std::io::Result<()> {
    if s.bundles.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "bundles   exchanged without a link (`simpul bundle`)")?;
    let mut t = table(&["PEER", "LAST MADE", "LAST APPLIED", "PENDING"]);
    for b in &s.bundles {
        let at = |t: Option<u64>| t.map_or("never".to_string(), |t| ago(s.now_ms, t));
        t.add_row(vec![
            b.path.to_string(),
            at(b.last_created_ms),
            at(b.last_applied_ms),
            match b.basis.as_str() {
                "exact" => format!("{} records", b.pending),
                "ranges" => format!("at most {} records", b.pending),
                _ => format!("at most {} records (no summary from it yet)", b.pending),
            },
        ]);
    }
    writeln!(out, "{t}")
}

/// When a facility wrote a change, by its clock: a clock ahead of this node's is said so.
fn written(now_ms: u64, at_ms: u64) -> String {
    if at_ms > now_ms.saturating_add(60_000) {
        format!("{} ahead of this node's clock", span(at_ms - now_ms))
    } else {
        ago(now_ms, at_ms)
    }
}

fn state_text(p: &PeerStatus, now: u64) -> String {
    match &p.state {
        PeerState::Connected { since_ms, role } => {
            let who = if role == "initiator" {
                "dialled"
            } else {
                "dialled us"
            };
            format!("connected ({who}, {})", span(now.saturating_sub(*since_ms)))
        }
        PeerState::Dialling => "dialling".into(),
        PeerState::BackingOff { next_attempt_ms } => format!(
            "backing off (next dial in {})",
            span(next_attempt_ms.saturating_sub(now))
        ),
        PeerState::Refused { reason, .. } => format!("refused: {reason}"),
        PeerState::Disconnected => "not connected".into(),
    }
}

fn peers_table(out: &mut impl Write, peers: &[PeerStatus], now: u64) -> std::io::Result<()> {
    if peers.is_empty() {
        return writeln!(out, "no peers yet: none configured, none has connected");
    }
    let mut t = table(&[
        "PEER",
        "STATE",
        "LAST SYNC",
        "TO SEND",
        "TO RECEIVE",
        "AS OF",
        "PUSH LAG",
        "IN / OUT",
        "RTT",
        "LAST ERROR",
    ]);
    for p in peers {
        t.add_row(vec![
            p.path.to_string(),
            state_text(p, now),
            p.last_sync_ms.map_or("never".into(), |t| ago(now, t)),
            if p.backlog_from_store {
                // Counted from the store: records changed since the last sync.
                format!("at most {}", p.to_send.records)
            } else {
                format!("{} ({})", p.to_send.records, bytes(p.to_send.bytes))
            },
            p.to_receive.records.to_string(),
            match (p.backlog_as_of_ms, p.backlog_from_store) {
                (Some(t), true) => format!("{} (stored)", ago(now, t)),
                (Some(t), false) => ago(now, t),
                (None, _) => "-".into(),
            },
            p.push_lag_ms.map_or("-".into(), span),
            format!("{} / {}", bytes(p.bytes_in), bytes(p.bytes_out)),
            p.rtt_ms.map_or("-".into(), |r| format!("{r} ms")),
            p.last_error
                .as_ref()
                .map_or("-".into(), |(at, e)| format!("{} ({})", e, ago(now, *at))),
        ]);
    }
    writeln!(out, "{t}")
}

fn running(node: &mut Target, what: &str) -> Result<NodeStatus> {
    let status = fetch(node)?;
    if !status.running {
        return Err(coded(
            NOT_RUNNING,
            format!(
                "the node is not running: {what} are known to a running node (simpul run --config FILE)"
            ),
        ));
    }
    Ok(status)
}

/// `simpul peers [--json]`.
pub(crate) fn peers(node: &mut Target, json: bool) -> Result<()> {
    let status = running(node, "peers")?;
    let mut out = std::io::stdout().lock();
    if json {
        for p in &status.peers {
            serde_json::to_writer(&mut out, p)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    peers_table(&mut out, &status.peers, status.now_ms)?;
    Ok(())
}

/// `simpul sync [--peer PATH] [--timeout S]`.
pub(crate) fn sync(node: &mut Target, peer: Option<String>, timeout: u64) -> Result<()> {
    let before = running(node, "peers")?;
    let peer: Option<FacilityPath> = peer.as_deref().map(facility).transpose()?;
    let reply = node.call(Request::Sync { peer: peer.clone() })?;
    let (peers, at_ms) =
        expect_reply!(reply, Reply::SyncStarted { peers, at_ms } => (peers, at_ms))?;
    if peers.is_empty() {
        let which = peer.map_or("any peer".to_string(), |p| p.to_string());
        return Err(coded(
            FAILURE,
            format!(
                "not connected to {which} that this node dials; peers that dial this node reconcile on their own schedule (see `simpul peers`)"
            ),
        ));
    }
    let started = Instant::now();
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(120));
    let finished = loop {
        let now = fetch(node)?;
        let rows: Vec<&PeerStatus> = now
            .peers
            .iter()
            .filter(|p| peers.contains(&p.path))
            .collect();
        let (send, receive): (u64, u64) = rows.iter().fold((0, 0), |(s, r), p| {
            (s + p.to_send.records, r + p.to_receive.records)
        });
        bar.set_message(format!(
            "reconciling with {} peer(s): {send} records to send, {receive} to receive",
            rows.len()
        ));
        let done = rows.len() == peers.len()
            && rows
                .iter()
                .all(|p| p.last_sync_ms.is_some_and(|t| t >= at_ms));
        if done {
            break Some(now);
        }
        if started.elapsed() > Duration::from_secs(timeout) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    bar.finish_and_clear();
    let Some(after) = finished else {
        return Err(coded(
            FAILURE,
            format!("not in sync after {timeout} s; `simpul status` shows what is left"),
        ));
    };
    let mut out = std::io::stdout().lock();
    for p in after.peers.iter().filter(|p| peers.contains(&p.path)) {
        let old = before.peers.iter().find(|b| b.path == p.path);
        let delta = |f: fn(&PeerStatus) -> u64| f(p).saturating_sub(old.map_or(0, f));
        let plan = p.last_plan.map_or("-".into(), |pl| {
            format!(
                "{} only here, {} only there, {} differing",
                pl.sending, pl.wanting, pl.differing
            )
        });
        writeln!(
            out,
            "in sync with {}: {} records sent, {} received, {} out / {} in; reconciliation found {plan} ({})",
            p.path,
            delta(|p| p.records_out),
            delta(|p| p.records_in),
            bytes(delta(|p| p.bytes_out)),
            bytes(delta(|p| p.bytes_in)),
            span(started.elapsed().as_millis() as u64),
        )?;
    }
    Ok(())
}

/// `simpul log [--json]`.
pub(crate) fn log(node: &mut Target, json: bool) -> Result<()> {
    let sessions = expect_reply!(node.call(Request::Log)?, Reply::Log { sessions } => sessions)?;
    let mut out = std::io::stdout().lock();
    if json {
        for s in &sessions {
            serde_json::to_writer(&mut out, s)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let mut t = table(&[
        "ENDED",
        "PEER",
        "WHO DIALLED",
        "LASTED",
        "SENT",
        "RECEIVED",
        "OUT / IN",
        "ENDED HOW",
    ]);
    for s in sessions.iter().rev() {
        t.add_row(session_row(s));
    }
    writeln!(out, "{t}")?;
    writeln!(
        out,
        "{} sessions since the node started (newest first)",
        sessions.len()
    )?;
    Ok(())
}

fn session_row(s: &SessionRecord) -> Vec<String> {
    vec![
        when(s.ended_ms),
        s.peer.to_string(),
        if s.role == "initiator" {
            "this node".into()
        } else {
            "the peer".into()
        },
        span(s.ended_ms.saturating_sub(s.started_ms)),
        s.records_out.to_string(),
        s.records_in.to_string(),
        format!("{} / {}", bytes(s.bytes_out), bytes(s.bytes_in)),
        format!("{}{}", if s.error { "error: " } else { "" }, s.reason),
    ]
}
