//! `simpul revocations add | show` and `simpul quarantine`: what a node trusts and what it
//! set aside.

use std::io::Write;

use anyhow::{Context, Result};
use simpul_node::admin::{Reply, Request, RevocationsView, TrustStatus};

use crate::cli::RevocationsCommand;
use crate::output::when;
use crate::target::{Target, expect_reply};

/// `simpul revocations add FILE | show`.
pub(crate) fn revocations(node: &mut Target, cmd: RevocationsCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        RevocationsCommand::Add { file } => {
            let pem = std::fs::read_to_string(&file)
                .with_context(|| format!("failed to read {}", file.display()))?;
            let (held, taken) = expect_reply!(
                node.call(Request::AddRevocations { pem })?,
                Reply::Revocations { held, taken } => (held, taken)
            )?;
            if taken {
                writeln!(
                    out,
                    "took revocation list {} ({} revoked)",
                    held.number,
                    held.revoked.len()
                )?;
            } else {
                writeln!(
                    out,
                    "kept revocation list {}: the one given is not newer",
                    held.number
                )?;
            }
        }
        RevocationsCommand::Show { json } => {
            let status = expect_reply!(node.call(Request::Status)?, Reply::Status(s) => s)?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&status.trust.revocations)?)?;
            } else {
                match &status.trust.revocations {
                    Some(list) => list_text(&mut out, list, status.now_ms)?,
                    None => writeln!(out, "no revocation list held")?,
                }
            }
        }
    }
    Ok(())
}

fn list_text(out: &mut impl Write, list: &RevocationsView, now_ms: u64) -> std::io::Result<()> {
    let secs = |t: i64| when((t.max(0) as u64) * 1000);
    write!(
        out,
        "revocation list {}, issued {}",
        list.number,
        secs(list.issued)
    )?;
    match list.next_update {
        Some(next) if (next.max(0) as u64) * 1000 < now_ms => writeln!(
            out,
            ", STALE since {} (ask the district for a newer one)",
            secs(next)
        )?,
        Some(next) => writeln!(out, ", next by {}", secs(next))?,
        None => writeln!(out)?,
    }
    for serial in &list.revoked {
        writeln!(out, "  revoked  {serial}")?;
    }
    Ok(())
}

/// The trust lines of `simpul status`.
pub(crate) fn status_text(
    out: &mut impl Write,
    t: &TrustStatus,
    now_ms: u64,
) -> std::io::Result<()> {
    match &t.key {
        Some(key) => writeln!(out, "key       {key} (writes as {})", t.actor)?,
        None => writeln!(
            out,
            "key       none bound yet: writes are sealed when the node starts"
        )?,
    }
    match &t.revocations {
        Some(list) => {
            write!(out, "revoked   ")?;
            list_text(out, list, now_ms)?;
        }
        None => writeln!(out, "revoked   no revocation list held")?,
    }
    if t.pending_seals > 0 {
        writeln!(
            out,
            "unsealed  {} records wait for the node's seal",
            t.pending_seals
        )?;
    }
    if t.quarantined > 0 {
        writeln!(
            out,
            "QUARANTINE {} equivocating change(s) set aside (`simpul quarantine`)",
            t.quarantined
        )?;
        for (id, q) in &t.recent_quarantine {
            writeln!(
                out,
                "          {id}: {} seq {} ({})",
                q.actor,
                q.seq,
                when(q.at_ms)
            )?;
        }
    }
    Ok(())
}

/// `simpul quarantine`.
pub(crate) fn quarantine(node: &mut Target, limit: usize, json: bool) -> Result<()> {
    let (entries, total) = expect_reply!(
        node.call(Request::Quarantine { limit })?,
        Reply::Quarantined { entries, total } => (entries, total)
    )?;
    let mut out = std::io::stdout().lock();
    if json {
        for (id, q) in &entries {
            writeln!(out, "{}", serde_json::json!({ "record": id, "entry": q }))?;
        }
        return Ok(());
    }
    writeln!(out, "{total} change(s) set aside as equivocating")?;
    for (id, q) in &entries {
        writeln!(
            out,
            "{id}  {}  seq {}: kept {}, set aside {} and {} built on it ({})",
            q.actor,
            q.seq,
            &q.kept[..12.min(q.kept.len())],
            &q.refused[..12.min(q.refused.len())],
            q.set_aside.saturating_sub(1),
            when(q.at_ms)
        )?;
    }
    Ok(())
}
