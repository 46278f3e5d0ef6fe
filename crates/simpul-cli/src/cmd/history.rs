//! `simpul doc show | history` and `simpul conflicts [resolve]`: a record's Automerge
//! history, read as who changed what and when.

use std::io::Write;

use anyhow::Result;
use simpul_model::RecordBody;
use simpul_model::history::Conflict;
use simpul_node::admin::{RecordHistory, Reply, Request};

use super::record_id;
use crate::cli::{ConflictsCommand, PageArgs};
use crate::output::{patient_text, table, when};
use crate::target::{Target, expect_reply};

fn fetch(node: &mut Target, id: &str) -> Result<RecordHistory> {
    let id = record_id(id)?;
    Ok(*expect_reply!(node.call(Request::History { id })?, Reply::History(h) => h)?)
}

fn who(facility: Option<&simpul_model::FacilityPath>) -> String {
    facility.map_or("(unknown facility)".into(), ToString::to_string)
}

/// `simpul doc show ID [--json]`.
pub(crate) fn show(node: &mut Target, id: &str, json: bool) -> Result<()> {
    let h = fetch(node, id)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &h)?;
        writeln!(out)?;
        return Ok(());
    }
    let record = &h.stored.record;
    match &record.body {
        RecordBody::Patient(p) => patient_text(&mut out, record.id, &record.scope, p)?,
        RecordBody::Activity(a) => {
            writeln!(out, "{} activity {}", record.kind(), record.id)?;
            serde_json::to_writer_pretty(&mut out, a)?;
            writeln!(out)?;
        }
        RecordBody::Audit(a) => {
            writeln!(out, "audit {} of {} on {}", record.id, a.facility, a.date)?;
            writeln!(
                out,
                "  entries     {} (`simpul audit` lists them)",
                a.entries.len()
            )?;
        }
        RecordBody::Facility(f) => {
            writeln!(out, "facility {} {} ({})", record.id, f.path, f.name)?;
            if let Some(id) = &f.satusehat.organization {
                writeln!(out, "  satusehat   Organization/{id}")?;
            }
            if let Some(id) = &f.satusehat.location {
                writeln!(out, "  satusehat   Location/{id}")?;
            }
            if let Some(nik) = &f.satusehat.practitioner_nik {
                writeln!(out, "  practitioner NIK {nik}")?;
            }
        }
        RecordBody::Submission(l) => {
            writeln!(
                out,
                "SATUSEHAT submissions {} of patient {} by {}",
                record.id, l.patient, l.submitter
            )?;
            for (visit, s) in &l.visits {
                writeln!(
                    out,
                    "  visit {visit} {} {}: {}{}",
                    s.date,
                    s.facility.code(),
                    s.status,
                    s.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )?;
            }
        }
    }
    writeln!(
        out,
        "  scope       {} {}",
        record.scope.audience,
        paths(&record.scope.paths)
    )?;
    writeln!(out, "  heads       {}", h.heads.join(" "))?;
    writeln!(out, "  history     {} changes:", h.changes.len())?;
    for c in &h.changes {
        writeln!(
            out,
            "    {}  {}  {}",
            when(c.time_ms),
            who(c.facility.as_ref()),
            c.fields.join(", ")
        )?;
    }
    if !h.conflicts.is_empty() {
        writeln!(
            out,
            "  conflicts   (settle with `simpul conflicts resolve {} FIELD --value V`)",
            record.id
        )?;
        conflict_text(&mut out, &h.conflicts)?;
    }
    Ok(())
}

fn paths(p: &[simpul_model::FacilityPath]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `simpul doc history ID [--json]`.
pub(crate) fn history(node: &mut Target, id: &str, json: bool) -> Result<()> {
    let h = fetch(node, id)?;
    let mut out = std::io::stdout().lock();
    if json {
        for c in &h.changes {
            serde_json::to_writer(&mut out, c)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    let mut t = table(&["WHEN", "FACILITY", "CHANGE", "FIELDS"]);
    for c in &h.changes {
        t.add_row(vec![
            when(c.time_ms),
            who(c.facility.as_ref()),
            c.hash.chars().take(12).collect(),
            c.fields.join(", "),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

fn conflict_text(out: &mut impl Write, conflicts: &[Conflict]) -> std::io::Result<()> {
    for c in conflicts {
        writeln!(out, "    {}", c.field)?;
        for v in &c.values {
            writeln!(
                out,
                "      {:?}  written at {} on {}{}",
                v.value,
                who(v.facility.as_ref()),
                when(v.time_ms),
                if v.shown { "  <- readers see this" } else { "" }
            )?;
        }
    }
    Ok(())
}

/// `simpul conflicts [--json] [--after ID] [--limit N | --all]` and
/// `simpul conflicts resolve ID FIELD --value V`.
pub(crate) fn conflicts(
    node: &mut Target,
    action: Option<ConflictsCommand>,
    json: bool,
    page: &PageArgs,
) -> Result<()> {
    if let Some(ConflictsCommand::Resolve {
        id,
        field,
        value,
        new,
    }) = action
    {
        let id = record_id(&id)?;
        let settlement = if new {
            simpul_model::history::Settlement::New
        } else {
            simpul_model::history::Settlement::OneOfThem
        };
        let reply = node.call(Request::Settle {
            id,
            field: field.clone(),
            value: value.clone(),
            settlement,
        })?;
        expect_reply!(reply, Reply::Written(_) => ())?;
        eprintln!(
            "settled {field} of {id} on {value:?}; connected peers get it now, the others at their next sync"
        );
        return Ok(());
    }
    let after = page
        .after
        .as_deref()
        .map(|a| {
            a.parse()
                .map_err(|e: simpul_model::BadId| super::bad_value("after", format!("{a:?}: {e}")))
        })
        .transpose()?;
    let mut out = std::io::stdout().lock();
    let mut shown = 0;
    let rest = super::paged(page, after, |after, limit| {
        let request = Request::Conflicts {
            id: None,
            after,
            limit: Some(limit),
        };
        let (records, next) = expect_reply!(
            node.call(request)?,
            Reply::Conflicts { records, next } => (records, next)
        )?;
        for r in &records {
            if json {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}  {}", r.id, r.label)?;
                conflict_text(&mut out, &r.conflicts)?;
            }
        }
        shown += records.len();
        Ok(next)
    })?;
    if !json {
        writeln!(
            out,
            "{shown} records with conflicts{}",
            if rest.is_some() { " in this page" } else { "" }
        )?;
    }
    super::say_more("conflicts", rest);
    Ok(())
}
