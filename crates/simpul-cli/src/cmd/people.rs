//! People registered twice (`simpul duplicates`, `simpul merge`) and reports over people
//! (`simpul report pws`).

use std::io::Write;

use anyhow::Result;
use simpul_node::admin::{Reply, Request};

use super::record_id;
use crate::cli::{PageArgs, ReportCommand};
use crate::output;
use crate::target::{Target, expect_reply};

/// `simpul duplicates`: a page of groups (or `--all`), in key order.
pub(crate) fn duplicates(node: &mut Target, json: bool, page: &PageArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    let rest = super::paged(page, page.after.clone(), |after, limit| {
        let request = Request::Duplicates {
            after,
            limit: Some(limit),
        };
        let (groups, next) = expect_reply!(
            node.call(request)?,
            Reply::Duplicates { groups, next } => (groups, next)
        )?;
        for g in &groups {
            if json {
                writeln!(out, "{}", serde_json::to_string(g)?)?;
                continue;
            }
            writeln!(out, "{}", g.key)?;
            let mut table =
                output::table(&["ID", "NAME", "SEX", "BORN", "VISITS", "REGISTERED AT"]);
            for p in &g.people {
                table.add_row(vec![
                    p.id.to_string(),
                    p.name.clone(),
                    p.sex.clone(),
                    p.birth_date.to_string(),
                    p.visits.to_string(),
                    p.home_facility.code().to_string(),
                ]);
            }
            writeln!(out, "{table}")?;
            if g.records > g.people.len() {
                writeln!(
                    out,
                    "… and {} more under this key",
                    g.records - g.people.len()
                )?;
            }
            writeln!(out)?;
        }
        shown += groups.len();
        Ok(next)
    })?;
    if !json {
        let who = if shown == 1 { "person" } else { "people" };
        writeln!(
            out,
            "{shown} {who} registered more than once{} (merge with `simpul merge FROM INTO`)",
            if rest.is_some() { " in this page" } else { "" }
        )?;
    }
    super::say_more("duplicates", rest);
    Ok(())
}

/// `simpul merge FROM INTO`.
pub(crate) fn merge(node: &mut Target, from: &str, into: &str) -> Result<()> {
    let request = Request::Merge {
        from: record_id(from)?,
        into: record_id(into)?,
    };
    let (survivor, moved) = expect_reply!(
        node.call(request)?,
        Reply::Merged { survivor, visits_moved } => (survivor, visits_moved)
    )?;
    println!("merged {from} into {survivor}: {moved} visits carried over, nothing deleted");
    Ok(())
}

/// `simpul report pws`.
pub(crate) fn report(node: &mut Target, cmd: ReportCommand) -> Result<()> {
    let ReportCommand::Pws {
        month,
        by,
        year_to_date,
        csv,
        json,
    } = cmd;
    let request = Request::Pws {
        month,
        by,
        year_to_date,
    };
    let table = expect_reply!(node.call(request)?, Reply::Pws(t) => t)?;
    let mut out = std::io::stdout().lock();
    if csv {
        write!(out, "{}", table.csv)?;
    } else if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&table.json)?)?;
    } else {
        // Seventy columns do not fit a terminal: one line per column, one column per
        // group (the first cell of each row names it).
        let mut headers = vec!["column"];
        headers.extend(table.rows.iter().map(|r| r[0].as_str()));
        let mut t = output::table(&headers);
        for (i, name) in table.columns.iter().enumerate().skip(1) {
            let mut line = vec![name.clone()];
            line.extend(table.rows.iter().map(|r| r[i].clone()));
            t.add_row(line);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}
