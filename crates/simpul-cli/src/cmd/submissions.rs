//! `simpul satusehat status|retry|resend`: the SATUSEHAT submission ledger.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use simpul_model::SubmissionStatus;
use simpul_node::admin::{Reply, Request};

use crate::cli::SatusehatCommand;
use crate::output;
use crate::target::{Target, expect_reply};

/// `simpul satusehat status|retry|resend`.
pub(crate) fn run(node: &mut Target, cmd: SatusehatCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let (visit, resend) = match cmd {
        SatusehatCommand::Status { json } => {
            let ledgers = expect_reply!(
                node.call(Request::Submissions)?,
                Reply::Submissions { ledgers } => ledgers
            )?;
            if json {
                for line in simpul_node::api::submission_lines(&ledgers) {
                    writeln!(out, "{line}")?;
                }
                return Ok(());
            }
            let mut by_facility: BTreeMap<String, BTreeMap<SubmissionStatus, u32>> =
                BTreeMap::new();
            for l in &ledgers {
                for s in l.visits.values() {
                    *by_facility
                        .entry(s.facility.to_string())
                        .or_default()
                        .entry(s.status)
                        .or_default() += 1;
                }
            }
            let mut header = vec!["FACILITY"];
            header.extend(SubmissionStatus::ALL.iter().map(|s| s.as_str()));
            let mut table = output::table(&header);
            for (facility, counts) in &by_facility {
                let mut row = vec![facility.clone()];
                row.extend(
                    SubmissionStatus::ALL
                        .iter()
                        .map(|s| counts.get(s).copied().unwrap_or(0).to_string()),
                );
                table.add_row(row);
            }
            writeln!(out, "{table}")?;
            for l in &ledgers {
                for (visit, s) in &l.visits {
                    if let Some(error) = s.error.as_ref().filter(|_| {
                        !matches!(
                            s.status,
                            SubmissionStatus::Sent | SubmissionStatus::Withdrawn
                        )
                    }) {
                        writeln!(
                            out,
                            "{} visit {visit} of {} ({}, {}): {error}",
                            s.status, l.patient, s.facility, s.date
                        )?;
                    }
                }
            }
            return Ok(());
        }
        SatusehatCommand::Retry { visit } => (visit, false),
        SatusehatCommand::Resend { visit } => (visit, true),
    };
    let ledgers = expect_reply!(
        node.call(Request::RetrySubmissions { visit, resend })?,
        Reply::Submissions { ledgers } => ledgers
    )?;
    let visits: usize = ledgers
        .iter()
        .map(|l| {
            l.visits
                .values()
                .filter(|s| s.status == SubmissionStatus::Retry)
                .count()
        })
        .sum();
    eprintln!(
        "{visits} visits of {} patients will be sent again",
        ledgers.len()
    );
    Ok(())
}
