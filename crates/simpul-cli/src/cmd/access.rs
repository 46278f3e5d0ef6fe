//! Who may use the data API (`simpul token`), and what everyone did (`simpul audit`).

use std::io::Write;

use anyhow::Result;
use simpul_model::{Date, Role};
use simpul_node::admin::queries::AuditQuery;
use simpul_node::admin::{Reply, Request};

use super::{bad_value, facility, record_id};
use crate::cli::TokenCommand;
use crate::output;
use crate::target::{Target, expect_reply};

/// `simpul token issue|list|revoke`.
pub(crate) fn token(node: &mut Target, cmd: TokenCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TokenCommand::Issue { role, name, nik } => {
            let role: Role = role.parse().map_err(|e| bad_value("role", e))?;
            if role == Role::Technician {
                return Err(bad_value(
                    "--role",
                    "technician is the console's role; tokens are kader, bidan or viewer",
                ));
            }
            let request = Request::IssueToken { name, role, nik };
            let (token, info) = expect_reply!(
                node.call(request)?,
                Reply::TokenIssued { token, info } => (token, info)
            )?;
            eprintln!(
                "issued {} token {} to {} (shown once; the node keeps only its hash)",
                info.role, info.id, info.name
            );
            writeln!(out, "{token}")?;
        }
        TokenCommand::List { json } => {
            let tokens =
                expect_reply!(node.call(Request::Tokens)?, Reply::Tokens { tokens } => tokens)?;
            if json {
                for t in &tokens {
                    writeln!(out, "{}", serde_json::to_string(t)?)?;
                }
                return Ok(());
            }
            let mut table = output::table(&["ID", "ROLE", "NAME", "ISSUED", "REVOKED"]);
            for t in &tokens {
                table.add_row(vec![
                    t.id.clone(),
                    t.role.to_string(),
                    t.name.clone(),
                    output::when(t.issued_ms),
                    t.revoked_ms.map_or("-".into(), output::when),
                ]);
            }
            writeln!(out, "{table}")?;
        }
        TokenCommand::Revoke { id } => {
            let info = expect_reply!(
                node.call(Request::RevokeToken { id })?,
                Reply::TokenRevoked(info) => info
            )?;
            eprintln!("revoked {} token {} of {}", info.role, info.id, info.name);
        }
    }
    Ok(())
}

/// The audit query the flags describe.
pub(crate) fn audit_query(
    record: Option<String>,
    who: Option<String>,
    facility_path: Option<String>,
    since: Option<String>,
    limit: u32,
    after: Option<String>,
) -> Result<AuditQuery> {
    Ok(AuditQuery {
        record: record.as_deref().map(record_id).transpose()?,
        who,
        facility: facility_path.as_deref().map(facility).transpose()?,
        since: since
            .as_deref()
            .map(|s| Date::parse(s).map_err(|e| bad_value("since", e)))
            .transpose()?,
        limit: Some(limit),
        after,
    })
}

/// `simpul audit`.
pub(crate) fn audit(node: &mut Target, query: AuditQuery, json: bool) -> Result<()> {
    let (mut entries, next) = expect_reply!(
        node.call(Request::Audit { query })?,
        Reply::Audit { entries, next } => (entries, next)
    )?;
    // The page comes newest first; read oldest first, down to the newest.
    entries.reverse();
    if let Some(next) = &next {
        eprintln!("older entries: simpul audit ... --after {next}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        for e in &entries {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        return Ok(());
    }
    let mut table = output::table(&[
        "WHEN", "NODE", "WHO", "ROLE", "VIA", "ACTION", "RECORD", "DETAIL",
    ]);
    for row in &entries {
        let e = &row.entry;
        table.add_row(vec![
            output::when(e.at_ms),
            row.node.code().to_string(),
            e.who.clone(),
            e.role.to_string(),
            e.via.clone(),
            e.action.to_string(),
            e.record.map_or("-".into(), |r| r.to_string()),
            e.detail.clone().unwrap_or_default(),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} entries", entries.len())?;
    Ok(())
}
