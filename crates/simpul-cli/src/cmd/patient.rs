//! `simpul patient add | show | list`.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use simpul_model::validate::check_nik_agreement;
use simpul_model::{Address, Date, Identifiers, Patient, Record, RecordBody, Scope, Sex};
use simpul_node::admin::{PatientEdit, Reply, Request};

use super::{bad_value, facility, random_record_id, record_id};
use crate::cli::{PageArgs, PatientAdd, PatientCommand, PatientUpdate};
use crate::exit::{NOT_FOUND, REJECTED, coded};
use crate::output;
use crate::target::{Target, expect_reply};

pub(crate) fn run(node: &mut Target, cmd: PatientCommand) -> Result<()> {
    match cmd {
        PatientCommand::Add(args) => add(node, *args),
        PatientCommand::Show { id, json } => show(node, &id, json),
        PatientCommand::List { json, page } => list(node, json, &page),
        PatientCommand::Update(args) => update(node, *args),
    }
}

fn update(node: &mut Target, a: PatientUpdate) -> Result<()> {
    let id = record_id(&a.id)?;
    let date = |name: &str, v: Option<String>| -> Result<Option<Date>> {
        v.map(|d| Date::parse(&d).map_err(|e| bad_value(name, e)))
            .transpose()
    };
    // Cleared by a flag, set by a date, or left alone.
    let status = |clear: bool, name: &str, v: Option<String>| -> Result<Option<Option<Date>>> {
        Ok(if clear {
            Some(None)
        } else {
            date(name, v)?.map(Some)
        })
    };
    let edit = PatientEdit {
        name: a.name,
        nik: a.nik,
        kk: a.kk,
        bpjs: a.bpjs,
        village: a.village,
        rt: a.rt,
        rw: a.rw,
        address: a.address,
        sex: a
            .sex
            .map(|s| s.parse::<Sex>().map_err(|e| bad_value("sex", e)))
            .transpose()?,
        birth_date: date("birth-date", a.birth_date)?,
        birth_date_estimated: a.birth_date_estimated,
        nik_ibu: a.nik_ibu,
        birth_order: a.birth_order,
        mother: a.mother.as_deref().map(record_id).transpose()?,
        home_facility: a.facility.as_deref().map(facility).transpose()?,
        kia_book: a.kia_book,
        died_on: status(a.alive, "died-on", a.died_on)?,
        moved_out_on: status(a.moved_back, "moved-out-on", a.moved_out_on)?,
        confirm_nik_mismatch: a.accept_nik_mismatch,
        confirm_implausible: a.confirm_implausible,
    };
    let reply = node.call(Request::UpdatePatient { id, edit })?;
    let written = expect_reply!(reply, Reply::Written(w) => w)?;
    if !written.changed {
        eprintln!("nothing changed: the record already says that");
    }
    Ok(())
}

fn add(node: &mut Target, a: PatientAdd) -> Result<()> {
    let sex: Sex = a.sex.parse().map_err(|e| bad_value("sex", e))?;
    let birth_date = Date::parse(&a.birth_date).map_err(|e| bad_value("birth-date", e))?;
    let home = match &a.facility {
        Some(f) => facility(f)?,
        None => expect_reply!(node.call(Request::Node)?, Reply::Node(n) => n.path)?,
    };
    let mother = a.mother.as_deref().map(record_id).transpose()?;
    let mut patient = Patient {
        identifiers: Identifiers {
            nik: a.nik,
            nik_ibu: a.nik_ibu,
            birth_order: a.birth_order,
            kk: a.kk,
            bpjs: a.bpjs,
            ihs: None,
        },
        name: a.name,
        sex,
        birth_date,
        address: Address {
            village: a.village,
            rt: a.rt,
            rw: a.rw,
            line: a.address,
        },
        home_facility: home.clone(),
        mother,
        birth_date_estimated: a.birth_date_estimated,
        kia_book: a.kia_book,
        died_on: None,
        moved_out_on: None,
        merged_into: None,
        visits: BTreeMap::new(),
    };
    // The spellings people type, as every interface normalises them; the model then
    // validates everything.
    patient.normalise();
    if !a.accept_nik_mismatch
        && let Err(e) = check_nik_agreement(&patient)
    {
        return Err(coded(
            REJECTED,
            format!("{e} (check the card; pass --accept-nik-mismatch if the card says so)"),
        ));
    }
    let record = Record {
        id: random_record_id(),
        scope: Scope::up(home),
        body: RecordBody::Patient(patient),
    };
    let reply = node.call(Request::Insert {
        record,
        confirm_implausible: a.confirm_implausible,
    })?;
    let written = expect_reply!(reply, Reply::Written(w) => w)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", written.id)?;
    Ok(())
}

fn show(node: &mut Target, id: &str, json: bool) -> Result<()> {
    let id = record_id(id)?;
    let reply = node.call(Request::Get { id })?;
    let (meta, record) = expect_reply!(reply, Reply::Record(r) => (r.meta, r.record))?;
    let RecordBody::Patient(p) = &record.body else {
        return Err(coded(
            NOT_FOUND,
            format!("record {id} is a {}, not a patient", record.kind()),
        ));
    };
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({
            "id": id,
            "kind": record.kind(),
            "scope": record.scope,
            "heads_digest": hex_digest(&meta.heads_digest),
            "patient": p,
        });
        serde_json::to_writer_pretty(&mut out, &value)?;
        writeln!(out)?;
    } else {
        output::patient_text(&mut out, id, &record.scope, p)?;
    }
    Ok(())
}

fn list(node: &mut Target, json: bool, page: &PageArgs) -> Result<()> {
    let after = page
        .after
        .as_deref()
        .map(|a| {
            a.parse()
                .map_err(|e: simpul_model::BadId| bad_value("after", format!("{a:?}: {e}")))
        })
        .transpose()?;
    let mut out = std::io::stdout().lock();
    let mut table = output::table(&["ID", "NAME", "SEX", "BORN", "VISITS", "FACILITY"]);
    let mut n = 0;
    let rest = super::paged(page, after, |after, limit| {
        let request = Request::List {
            after,
            limit: Some(limit),
        };
        let (rows, next) =
            expect_reply!(node.call(request)?, Reply::List { rows, next } => (rows, next))?;
        for (id, m) in &rows {
            let facility = m.scope.paths.first();
            if json {
                let line = serde_json::json!({
                    "id": id, "name": m.summary.label, "sex": m.summary.sex,
                    "birth_date": m.summary.date, "visits": m.summary.entries,
                    "facility": facility,
                    "heads_digest": hex_digest(&m.heads_digest),
                });
                writeln!(out, "{line}")?;
            } else {
                table.add_row(vec![
                    id.to_string(),
                    m.summary.label.clone(),
                    m.summary.sex.clone(),
                    m.summary.date.clone(),
                    m.summary.entries.to_string(),
                    facility.map(|p| p.code().to_string()).unwrap_or_default(),
                ]);
            }
            n += 1;
        }
        Ok(next)
    })?;
    if !json {
        writeln!(out, "{table}")?;
        writeln!(out, "{n} people")?;
    }
    super::say_more("patient list", rest);
    Ok(())
}

fn hex_digest(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
