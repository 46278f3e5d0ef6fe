//! `simpul doc export | import`: records as standard Automerge documents.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use simpul_model::Record;
use simpul_model::automerge::Automerge;
use simpul_store::Store;

use super::record_id;
use crate::cli::DocCommand;
use crate::exit::{NOT_FOUND, REJECTED, coded};
use simpul_node::clock::{now_ms, today};

/// The largest document `doc import` reads. A patient with decades of visits is tens of
/// kilobytes; anything near this is not a record.
const MAX_IMPORT_BYTES: u64 = 16 << 20;

pub(crate) fn run(store: &Store, cmd: DocCommand) -> Result<()> {
    match cmd {
        DocCommand::Export { id, out } => export(store, &id, &out),
        DocCommand::Import { file } => import(store, &file),
    }
}

fn export(store: &Store, id: &str, out: &Path) -> Result<()> {
    let id = record_id(id)?;
    let (_, doc) = store
        .load(id)
        .context("failed to read the record")?
        .ok_or_else(|| coded(NOT_FOUND, format!("no record {id}")))?;
    let bytes = doc.save();
    std::fs::write(out, &bytes).with_context(|| format!("failed to write {}", out.display()))?;
    eprintln!(
        "wrote record {id} to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}

fn import(store: &Store, file: &Path) -> Result<()> {
    let f =
        std::fs::File::open(file).with_context(|| format!("failed to open {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read {}", file.display()))?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(coded(
            REJECTED,
            format!(
                "{} is larger than {MAX_IMPORT_BYTES} bytes: not a record",
                file.display()
            ),
        ));
    }
    let doc = Automerge::load(&bytes).map_err(|e| {
        coded(
            REJECTED,
            format!("{} is not an Automerge document: {e}", file.display()),
        )
    })?;
    let record = Record::from_document(&doc)
        .map_err(|e| coded(REJECTED, format!("{}: {e}", file.display())))?;
    let out = store
        .merge_document(doc, today(), now_ms())
        .with_context(|| format!("failed to import {}", file.display()))?;
    let what = if out.created {
        "new"
    } else if out.changed {
        "merged"
    } else {
        "unchanged"
    };
    eprintln!("imported {} record {} ({what})", record.kind(), out.id);
    println!("{}", out.id);
    Ok(())
}
