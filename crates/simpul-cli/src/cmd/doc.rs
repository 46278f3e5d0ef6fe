//! `simpul doc export | import`: records as standard Automerge documents.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use simpul_node::admin::ops::MAX_DOCUMENT_BYTES;
use simpul_node::admin::{Reply, Request};

use super::record_id;
use crate::cli::DocCommand;
use crate::exit::{REJECTED, coded};
use crate::target::{Target, expect_reply};

pub(crate) fn run(node: &mut Target, cmd: DocCommand) -> Result<()> {
    match cmd {
        DocCommand::Export { id, out } => export(node, &id, &out),
        DocCommand::Import { file } => import(node, &file),
        DocCommand::Show { id, json } => super::history::show(node, &id, json),
        DocCommand::History { id, json } => super::history::history(node, &id, json),
    }
}

fn export(node: &mut Target, id: &str, out: &Path) -> Result<()> {
    let id = record_id(id)?;
    let reply = node.call(Request::Export { id })?;
    let document = expect_reply!(reply, Reply::Document { document } => document)?;
    let bytes = hex::decode(document).context("the node sent a document that is not hex")?;
    write_new(out, &bytes).with_context(|| format!("failed to write {}", out.display()))?;
    eprintln!(
        "wrote record {id} to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}

fn import(node: &mut Target, file: &Path) -> Result<()> {
    let f =
        std::fs::File::open(file).with_context(|| format!("failed to open {}", file.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_DOCUMENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read {}", file.display()))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(coded(
            REJECTED,
            format!(
                "{} is larger than {MAX_DOCUMENT_BYTES} bytes: not a record",
                file.display()
            ),
        ));
    }
    let reply = node
        .call(Request::Import {
            document: hex::encode(&bytes),
        })
        .with_context(|| format!("failed to import {}", file.display()))?;
    let written = expect_reply!(reply, Reply::Written(w) => w)?;
    let what = if written.created {
        "new"
    } else if written.changed {
        "merged"
    } else {
        "unchanged"
    };
    eprintln!("imported record {} ({what})", written.id);
    println!("{}", written.id);
    Ok(())
}

/// Writes `bytes` to a new file readable by its owner only (a record is health data); a
/// file or link already at `path` is an error, never overwritten or followed.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
