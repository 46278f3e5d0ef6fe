//! `simpul bundle create|apply|show`: sync without a link.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simpul_node::admin::{AdminClient, BundleWritten, Reply, Request};
use simpul_node::config::NodeConfig;
use simpul_store::{Store, StoreOptions};

use super::facility;
use crate::cli::BundleCommand;
use crate::exit::{REJECTED, coded};
use crate::output::{bytes, table, when};
use crate::target::{Target, expect_reply};

/// The node of `config`: through its admin socket when it runs, else its store opened
/// with the node's keys (a bundle is signed and opened with them).
fn keyed_target(config: &Path) -> Result<Target> {
    let cfg = NodeConfig::load(config)
        .map_err(|e| coded(REJECTED, format!("{}: {e}", config.display())))?;
    if let Some(client) = AdminClient::connect(&cfg.data_dir) {
        return Ok(Target::Running(client));
    }
    let (_, _, trust) = simpul_node::daemon::node_keys(&cfg)
        .map_err(|e| coded(REJECTED, format!("the node's keys: {e}")))?;
    let options = StoreOptions {
        trust: Some(trust),
        ..StoreOptions::default()
    };
    let store = Store::open(&cfg.data_dir, options)
        .with_context(|| format!("failed to open the store in {}", cfg.data_dir.display()))?;
    // What was written with the node stopped is sealed now, as a starting node seals it:
    // a peer refuses changes without their author's seal.
    store
        .seal_pending(simpul_node::clock::now_ms())
        .context("sealing what was written while the node was stopped")?;
    Ok(Target::Offline(store))
}

/// An absolute path (the running node may have another working directory).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

/// Runs a bundle command.
pub(crate) fn run(cmd: BundleCommand) -> Result<()> {
    match cmd {
        BundleCommand::Create {
            config,
            peer,
            out,
            peer_cert,
            max_bytes,
            json,
        } => {
            let request = Request::BundleCreate {
                peer: facility(&peer)?,
                out: absolute(&out)?,
                peer_cert: peer_cert.as_deref().map(absolute).transpose()?,
                max_bytes,
            };
            let mut node = keyed_target(&config)?;
            let written = expect_reply!(node.call(request)?, Reply::BundleCreated(w) => w)?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer(&mut out, &written)?;
                writeln!(out)?;
            } else {
                written_text(&mut out, "bundle", &written)?;
            }
            Ok(())
        }
        BundleCommand::Apply {
            config,
            files,
            answer,
            json,
        } => {
            let request = Request::BundleApply {
                files: files.iter().map(|f| absolute(f)).collect::<Result<_>>()?,
                answer: answer.as_deref().map(absolute).transpose()?,
            };
            let mut node = keyed_target(&config)?;
            let (applied, answer) = expect_reply!(
                node.call(request)?,
                Reply::BundleApplied { applied, answer } => (applied, answer)
            )?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({ "applied": applied, "answer": answer }),
                )?;
                writeln!(out)?;
                return Ok(());
            }
            for (file, a) in files.iter().zip(&applied) {
                writeln!(
                    out,
                    "applied {} from {} (part {} of {}): {} records, {} new or changed here, {} already held{}",
                    file.display(),
                    a.from,
                    a.part.0,
                    a.part.1,
                    a.records,
                    a.changed,
                    a.unchanged,
                    if a.moved_away > 0 {
                        format!(", {} not taken (they moved away from here)", a.moved_away)
                    } else {
                        String::new()
                    }
                )?;
            }
            if let Some(answer) = &answer {
                written_text(&mut out, "answer", answer)?;
            }
            Ok(())
        }
        BundleCommand::Show { config, file, json } => {
            let mut node = keyed_target(&config)?;
            let shown = expect_reply!(
                node.call(Request::BundleShow { file: absolute(&file)? })?,
                Reply::BundleShown(s) => s
            )?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer(&mut out, &shown)?;
                writeln!(out)?;
                return Ok(());
            }
            writeln!(
                out,
                "bundle {} from {} for {}, made {} (part {} of {}){}",
                shown.id,
                shown.from,
                shown.to,
                when(shown.created_ms),
                shown.part.0,
                shown.part.1,
                shown
                    .answers
                    .as_ref()
                    .map_or(String::new(), |a| format!(", answering {a}"))
            )?;
            writeln!(
                out,
                "signature and sender checked; {} records, a summary of {} records the sender holds; {}",
                shown.records.len(),
                shown.summary_items,
                match shown.applied_ms {
                    Some(at) => format!("APPLIED HERE ALREADY ({})", when(at)),
                    None => "not applied here yet".to_string(),
                }
            )?;
            if !shown.records.is_empty() {
                let mut t = table(&["RECORD", "KIND", "FACILITY", "HERE"]);
                for r in &shown.records {
                    t.add_row(vec![
                        r.id.clone(),
                        r.kind.clone(),
                        r.facility.clone(),
                        if r.held {
                            "held".into()
                        } else {
                            "new or newer".into()
                        },
                    ]);
                }
                writeln!(out, "{t}")?;
            }
            Ok(())
        }
    }
}

fn written_text(out: &mut impl Write, what: &str, w: &BundleWritten) -> std::io::Result<()> {
    writeln!(
        out,
        "{what} for {}: {} records ({} stored) in {} file(s), {} in all (summary {}); chosen {}",
        w.peer,
        w.records,
        bytes(w.stored_bytes),
        w.files.len(),
        bytes(w.bytes),
        bytes(w.summary_bytes as u64),
        match w.basis.as_str() {
            "exact" => "from the peer's last summary: exactly what it lacks",
            "ranges" =>
                "from the peer's last summary: every range that differs (more than it lacks)",
            "since-sync" => "from the last live sync: what changed since",
            _ => "with nothing known of the peer: everything it should hold",
        }
    )?;
    for f in &w.files {
        writeln!(out, "  {}", f.display())?;
    }
    Ok(())
}
