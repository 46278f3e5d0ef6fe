//! `simpul facility set|list`: the district's facility registry.

use std::io::Write;

use anyhow::Result;
use simpul_model::{FacilityEntry, PlatformIds};
use simpul_node::admin::{Reply, Request};

use super::facility;
use crate::cli::FacilityCommand;
use crate::output;
use crate::target::{Target, expect_reply};

/// `simpul facility set|list`.
pub(crate) fn run(node: &mut Target, cmd: FacilityCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        FacilityCommand::Set {
            path,
            name,
            organization,
            location,
            practitioner_nik,
        } => {
            let entry = FacilityEntry {
                path: facility(&path)?,
                name,
                satusehat: PlatformIds {
                    organization,
                    location,
                    practitioner_nik,
                },
            };
            let written = expect_reply!(
                node.call(Request::SetFacility { entry })?,
                Reply::Written(w) => w
            )?;
            let what = match (written.created, written.changed) {
                (true, _) => "registered",
                (false, true) => "updated",
                (false, false) => "unchanged:",
            };
            eprintln!("{what} {path} (record {})", written.id);
        }
        FacilityCommand::List { json } => {
            let entries = expect_reply!(
                node.call(Request::Facilities)?,
                Reply::Facilities { entries } => entries
            )?;
            if json {
                for e in &entries {
                    writeln!(out, "{}", serde_json::to_string(e)?)?;
                }
                return Ok(());
            }
            let mut table = output::table(&[
                "PATH",
                "LEVEL",
                "NAME",
                "ORGANIZATION",
                "LOCATION",
                "PRACTITIONER NIK",
            ]);
            for e in &entries {
                let id = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                table.add_row(vec![
                    e.path.to_string(),
                    e.path.level().to_string(),
                    e.name.clone(),
                    id(&e.satusehat.organization),
                    id(&e.satusehat.location),
                    id(&e.satusehat.practitioner_nik),
                ]);
            }
            writeln!(out, "{table}")?;
        }
    }
    Ok(())
}
