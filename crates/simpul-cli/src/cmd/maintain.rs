//! `simpul verify | compact | backup | restore`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rand::RngExt;
use simpul_node::admin::{AdminClient, Reply, Request};
use simpul_store::{DB_FILE, Store, StoreOptions};

use crate::exit::{DAMAGED, REJECTED, STORE_UNAVAILABLE, coded};
use crate::output::bytes;
use crate::target::{Target, expect_reply};

fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Carries out a long request with a bar of its progress (`unit`: what it counts) on a
/// terminal: a spinner until the first report, then done of total with the rate and
/// the time left. Ctrl-C stops it: at a running node the request stops when this
/// process goes.
fn with_progress(node: &mut Target, request: Request, message: &str, unit: &str) -> Result<Reply> {
    let bar = spinner(message);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{msg}} {{bar:30}} {{pos}}/{{len}} {unit} ({{per_sec}}, {{eta}} left)"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    let mut styled = false;
    let reply = node.call_with_progress(request, &mut |p| {
        if !styled {
            bar.set_style(style.clone());
            styled = true;
        }
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    reply
}

/// `simpul verify [--json]` on the node at `dir`. redb can panic on a page it cannot
/// make sense of; for verify that is a finding, so it is reported as damage.
pub(crate) fn verify_dir(dir: &Path, json: bool) -> Result<()> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify(&mut Target::open(dir)?, json)
    }));
    std::panic::set_hook(quiet);
    result.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into());
        Err(coded(
            DAMAGED,
            format!("the store file is damaged: the database engine failed reading it ({why})"),
        ))
    })
}

fn verify(node: &mut Target, json: bool) -> Result<()> {
    let reply = with_progress(node, Request::Verify, "verifying", "records");
    let report = expect_reply!(reply?, Reply::Verified(r) => r)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        for problem in &report.problems {
            writeln!(out, "damaged: {problem}")?;
        }
        writeln!(
            out,
            "checked {} records and {} index rows: {}",
            report.records,
            report.index_rows,
            match report.problems.len() {
                0 => "no damage".to_string(),
                n => format!("{n} problems"),
            }
        )?;
        if report.damaged > 0 {
            writeln!(
                out,
                "{} damaged record(s) are left out of sync (`simpul status` lists them)",
                report.damaged
            )?;
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(coded(
            DAMAGED,
            format!("the store is damaged: {} problems", report.problems.len()),
        ))
    }
}

fn refuse_if_running(dir: &Path, what: &str) -> Result<()> {
    if AdminClient::connect(dir).is_some() {
        return Err(coded(
            STORE_UNAVAILABLE,
            format!("{what} needs the node stopped: stop `simpul run` first"),
        ));
    }
    Ok(())
}

/// `simpul compact`.
pub(crate) fn compact(dir: &Path) -> Result<()> {
    refuse_if_running(dir, "compaction rewrites the file, so it")?;
    let bar = spinner("compacting");
    let result = simpul_store::compact(dir);
    bar.finish_and_clear();
    let (before, after) =
        result.with_context(|| format!("failed to compact the store in {}", dir.display()))?;
    println!(
        "compacted {}: {} -> {}",
        dir.join(DB_FILE).display(),
        bytes(before),
        bytes(after)
    );
    Ok(())
}

/// `simpul backup --out FILE`.
pub(crate) fn backup(node: &mut Target, out: &Path) -> Result<()> {
    // The node resolves paths from its own working directory: send an absolute one.
    let out = absolute(out)?;
    let request = Request::Backup { out: out.clone() };
    let reply = with_progress(node, request, "copying the store", "rows");
    let (records, size) =
        expect_reply!(reply?, Reply::BackedUp { records, bytes } => (records, bytes))?;
    println!(
        "backed up {records} records to {} ({})",
        out.display(),
        bytes(size)
    );
    Ok(())
}

/// `simpul export fhir --out DIR`.
pub(crate) fn export_fhir(node: &mut Target, out: &Path) -> Result<()> {
    let out = absolute(out)?;
    let request = Request::ExportFhir { out: out.clone() };
    let reply = with_progress(node, request, "writing FHIR R4 NDJSON", "patients");
    let (counts, stopped) = expect_reply!(
        reply?,
        Reply::ExportedFhir { counts, stopped } => (counts, stopped)
    )?;
    println!("{}", serde_json::to_string(&counts)?);
    if stopped {
        return Err(coded(
            STORE_UNAVAILABLE,
            format!(
                "the export to {} stopped after {} patients: run the same command again to go on",
                out.display(),
                counts.patient
            ),
        ));
    }
    eprintln!("wrote {} resources to {}", counts.total(), out.display());
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// `simpul restore FILE [--force]`.
pub(crate) fn restore(dir: &Path, file: &Path, force: bool) -> Result<()> {
    refuse_if_running(dir, "restoring replaces the store, so it")?;
    // Check the backup as a store of its own before touching anything.
    if !dir.exists() {
        // A fresh machine: the data directory is created owner-only, as `init` does.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let staging = dir.join(".restore");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    std::fs::copy(file, staging.join(DB_FILE))
        .with_context(|| format!("cannot read {}", file.display()))?;
    let bar = spinner("verifying the backup");
    let checked = Store::open(&staging, StoreOptions::default())
        .map_err(anyhow::Error::new)
        .and_then(|store| {
            let report = store.verify(&|_, _| true)?;
            // The node writes under a new actor from now on: its old self may have
            // written after the backup was taken, under the old one.
            let instance: [u8; 4] = rand::rng().random();
            store.renew_instance(instance)?;
            Ok((store.node().path.clone(), report))
        });
    bar.finish_and_clear();
    let (path, report) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e.context(format!("{} is not a usable store backup", file.display())));
        }
    };
    if !report.problems.is_empty() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(coded(
            DAMAGED,
            format!(
                "{} is damaged ({} problems); nothing was restored",
                file.display(),
                report.problems.len()
            ),
        ));
    }
    let current = dir.join(DB_FILE);
    if current.exists() {
        let here = Store::open(dir, StoreOptions::default())
            .with_context(|| format!("failed to open the store in {}", dir.display()))?
            .node()
            .path
            .clone();
        if here != path && !force {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(coded(
                REJECTED,
                format!(
                    "the backup is of {path}, this store is {here}; pass --force to replace it anyway"
                ),
            ));
        }
        let kept = dir.join(format!("{DB_FILE}.before-restore"));
        std::fs::rename(&current, &kept)
            .with_context(|| format!("cannot move {} aside", current.display()))?;
        eprintln!("the replaced store is kept as {}", kept.display());
    }
    std::fs::rename(staging.join(DB_FILE), &current)
        .with_context(|| format!("cannot move the backup into {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&staging);
    println!(
        "restored {} records of {path} from {}",
        report.records,
        file.display()
    );
    Ok(())
}
