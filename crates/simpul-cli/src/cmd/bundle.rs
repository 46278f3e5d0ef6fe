//! `simpul bundle create|apply|show`: sync without a link.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simpul_node::admin::{AdminClient, BundleWritten, Reply, Request, ops};
use simpul_node::config::NodeConfig;
use simpul_store::{Store, StoreOptions};

use super::facility;
use crate::cli::BundleCommand;
use crate::exit::{FAILURE, REJECTED, coded};
use crate::output::{bytes, table, when};
use crate::target::{Target, expect_reply};

/// The node of `config`: through its admin socket when it runs, else its store opened
/// with the node's keys (a bundle is signed and opened with them).
fn keyed_target(cfg: &NodeConfig) -> Result<Target> {
    if let Some(client) = AdminClient::connect(&cfg.data_dir) {
        return Ok(Target::Running(client));
    }
    let (_, _, trust) = simpul_node::daemon::node_keys(cfg)
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

fn load_config(config: &Path) -> Result<NodeConfig> {
    NodeConfig::load(config).map_err(|e| coded(REJECTED, format!("{}: {e}", config.display())))
}

/// An absolute path (the running node may have another working directory).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}", path.display()))
}

/// Where this command and a running node pass bundle files: inside the node's data
/// directory, which the node can always reach (the packaged unit sees no stick or home
/// directory), owned by the node's user. This command copies files from and to where
/// the technician named them, so they end up owned by whoever ran it. Removed when done.
struct Spool {
    dir: PathBuf,
}

impl Spool {
    fn new(cfg: &NodeConfig) -> Result<Spool> {
        use std::os::unix::fs::MetadataExt;
        let name: [u8; 8] = rand::random();
        let dir = cfg
            .data_dir
            .join("bundle-spool")
            .join(name.iter().map(|b| format!("{b:02x}")).collect::<String>());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let owner = std::fs::metadata(&cfg.data_dir)
            .with_context(|| format!("{}", cfg.data_dir.display()))?;
        for d in [dir.parent().unwrap_or(&dir), &dir] {
            std::os::unix::fs::chown(d, Some(owner.uid()), Some(owner.gid()))
                .with_context(|| format!("giving {} to the node's user", d.display()))?;
        }
        Ok(Spool { dir })
    }

    /// A copy of `file` in the spool, under its own name.
    fn take_in(&self, n: usize, file: &Path) -> Result<PathBuf> {
        let bytes = ops::bundles::read_bundle(file).map_err(|f| coded(REJECTED, f.message))?;
        let name = file
            .file_name()
            .map_or_else(|| "bundle".into(), |n| n.to_string_lossy().into_owned());
        let inside = self.dir.join(format!("{n}-{name}"));
        std::fs::write(&inside, bytes).with_context(|| format!("{}", inside.display()))?;
        Ok(inside)
    }

    /// Copies the files the node wrote to `out` (and its part names), naming them there.
    fn take_out(&self, written: &mut BundleWritten, out: &Path) -> Result<()> {
        let parts = written.files.len();
        let mut named = Vec::with_capacity(parts);
        for (n, file) in written.files.iter().enumerate() {
            let dest = ops::bundles::part_path(out, n + 1, parts);
            let bytes = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
            ops::bundles::write_whole(&dest, &bytes).map_err(|f| coded(FAILURE, f.message))?;
            named.push(dest);
        }
        written.files = named;
        Ok(())
    }

    /// `text` with the spool's copies named by the files they came from.
    fn rename(&self, text: &str, inputs: &[(PathBuf, PathBuf)]) -> String {
        inputs.iter().fold(text.to_string(), |t, (theirs, ours)| {
            t.replace(&ours.display().to_string(), &theirs.display().to_string())
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
            let cfg = load_config(&config)?;
            let mut node = keyed_target(&cfg)?;
            let out = absolute(&out)?;
            let spool = match &node {
                Target::Running(_) => Some(Spool::new(&cfg)?),
                Target::Offline(_) => None,
            };
            let peer_cert = match (&spool, peer_cert) {
                (Some(spool), Some(cert)) => Some(spool.take_in(0, &cert)?),
                (None, cert) => cert.as_deref().map(absolute).transpose()?,
                (_, None) => None,
            };
            let request = Request::BundleCreate {
                peer: facility(&peer)?,
                out: match &spool {
                    Some(spool) => spool.dir.join("bundle.simpul"),
                    None => out.clone(),
                },
                peer_cert,
                max_bytes,
            };
            let mut written = expect_reply!(node.call(request)?, Reply::BundleCreated(w) => w)?;
            if let Some(spool) = &spool {
                spool.take_out(&mut written, &out)?;
            }
            let mut stdout = std::io::stdout().lock();
            if json {
                serde_json::to_writer(&mut stdout, &written)?;
                writeln!(stdout)?;
            } else {
                written_text(&mut stdout, "bundle", &written)?;
            }
            Ok(())
        }
        BundleCommand::Apply {
            config,
            files,
            answer,
            json,
        } => {
            let cfg = load_config(&config)?;
            let mut node = keyed_target(&cfg)?;
            let files: Vec<PathBuf> = files.iter().map(|f| absolute(f)).collect::<Result<_>>()?;
            let answer = answer.as_deref().map(absolute).transpose()?;
            let spool = match &node {
                Target::Running(_) => Some(Spool::new(&cfg)?),
                Target::Offline(_) => None,
            };
            let inputs: Vec<(PathBuf, PathBuf)> = match &spool {
                Some(spool) => files
                    .iter()
                    .enumerate()
                    .map(|(n, f)| Ok((f.clone(), spool.take_in(n, f)?)))
                    .collect::<Result<_>>()?,
                None => files.iter().map(|f| (f.clone(), f.clone())).collect(),
            };
            let request = Request::BundleApply {
                files: inputs.iter().map(|(_, ours)| ours.clone()).collect(),
                answer: match (&spool, &answer) {
                    (Some(spool), Some(_)) => Some(spool.dir.join("answer.simpul")),
                    (None, answer) => answer.clone(),
                    (_, None) => None,
                },
            };
            let (applied, skipped, error, mut written) = expect_reply!(
                node.call(request)?,
                Reply::BundleApplied { applied, skipped, error, answer } => (applied, skipped, error, answer)
            )?;
            let name = |t: &str| {
                spool
                    .as_ref()
                    .map_or_else(|| t.to_string(), |s| s.rename(t, &inputs))
            };
            let skipped: Vec<String> = skipped.iter().map(|t| name(t)).collect();
            let error = error.map(|e| name(&e));
            if let (Some(spool), Some(w), Some(out)) = (&spool, written.as_mut(), &answer) {
                spool.take_out(w, out)?;
            }
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({
                        "applied": applied, "skipped": skipped, "error": error, "answer": written
                    }),
                )?;
                writeln!(out)?;
            } else {
                for a in &applied {
                    writeln!(
                        out,
                        "applied bundle {} from {} (part {} of {}): {} records, {} new or changed here, {} already held{}{}",
                        a.id,
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
                        },
                        if a.refused.is_empty() {
                            String::new()
                        } else {
                            format!(", {} REFUSED (below)", a.refused.len())
                        }
                    )?;
                    for r in &a.refused {
                        writeln!(out, "  refused {}: {}", r.id, r.reason)?;
                    }
                }
                for s in &skipped {
                    writeln!(out, "skipped {s}")?;
                }
                if let Some(answer) = &written {
                    written_text(&mut out, "answer", answer)?;
                }
            }
            out.flush()?;
            match error {
                Some(e) => Err(coded(REJECTED, e)),
                None if applied.is_empty() => Err(coded(
                    REJECTED,
                    format!("nothing applied: {}", skipped.join("; ")),
                )),
                None => Ok(()),
            }
        }
        BundleCommand::Show { config, file, json } => {
            let cfg = load_config(&config)?;
            let mut node = keyed_target(&cfg)?;
            let file = absolute(&file)?;
            let spool = match &node {
                Target::Running(_) => Some(Spool::new(&cfg)?),
                Target::Offline(_) => None,
            };
            let ours = match &spool {
                Some(spool) => spool.take_in(0, &file)?,
                None => file.clone(),
            };
            let shown = expect_reply!(
                node.call(Request::BundleShow { file: ours.clone() })
                    .map_err(|e| coded(REJECTED, e.to_string().replace(&ours.display().to_string(), &file.display().to_string())))?,
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
            _ => "with nothing known of the peer: everything it should hold",
        }
    )?;
    for f in &w.files {
        writeln!(out, "  {}", f.display())?;
    }
    Ok(())
}
