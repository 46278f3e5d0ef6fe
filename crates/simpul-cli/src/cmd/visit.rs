//! `simpul visit add | mark-error`.

use anyhow::Result;
use rand::RngExt;
use simpul_model::{
    Date, ErrorMark, Immunisation, Klaster, Measurements, RecordBody, Screening, Setting, Visit,
    VisitId, growth,
};
use simpul_node::admin::{Reply, Request};

use super::{bad_value, facility, record_id};
use crate::cli::{VisitAdd, VisitCommand};
use crate::exit::{REJECTED, coded};
use crate::target::{Target, expect_reply};
use simpul_node::clock::now_ms;

pub(crate) fn run(node: &mut Target, cmd: VisitCommand) -> Result<()> {
    match cmd {
        VisitCommand::Add(args) => add(node, *args),
        VisitCommand::MarkError {
            record,
            visit,
            reason,
            by,
        } => mark_error(node, &record, &visit, reason, by),
    }
}

fn add(node: &mut Target, a: VisitAdd) -> Result<()> {
    let id = record_id(&a.record)?;
    let date = Date::parse(&a.date).map_err(|e| bad_value("date", e))?;
    let klaster: Klaster = a.klaster.parse().map_err(|e| bad_value("klaster", e))?;
    let setting: Setting = a.setting.parse().map_err(|e| bad_value("setting", e))?;
    let at = match &a.facility {
        Some(f) => facility(f)?,
        None => expect_reply!(node.call(Request::Node)?, Reply::Node(n) => n.path)?,
    };
    let mut visit = Visit::new(date, at, klaster, setting, a.by);
    let (systolic, diastolic) = match &a.bp {
        Some(bp) => blood_pressure(bp)?,
        None => (None, None),
    };
    visit.measurements = Measurements {
        weight_kg: a.weight_kg,
        length_cm: a.length_cm,
        height_cm: a.height_cm,
        head_circumference_cm: a.head_cm,
        muac_cm: a.muac_cm,
        waist_cm: a.waist_cm,
        systolic_mmhg: systolic,
        diastolic_mmhg: diastolic,
        glucose_mg_dl: a.glucose,
        hb_g_dl: a.hb,
        oedema: a.oedema,
    };
    visit.immunisations = a
        .immunisations
        .iter()
        .map(|s| immunisation(s))
        .collect::<Result<_>>()?;
    visit.screenings = a
        .screenings
        .iter()
        .map(|s| screening(s))
        .collect::<Result<_>>()?;
    visit.vitamin_a = a.vitamin_a;
    visit.anc_number = a.anc;
    visit.gestational_weeks = a.gestational_weeks;
    visit.diagnoses = a.diagnoses;
    visit.note = a.note;
    visit.transcribed = a.transcribed;
    if let Some(old) = &a.corrects {
        old.parse::<VisitId>()
            .map_err(|e| bad_value("corrects", e))?;
        visit.supersedes = Some(old.clone());
    }
    let visit_id = VisitId::from_bytes(rand::rng().random());
    let measurements = visit.measurements.clone();
    let reply = node.call(Request::AddVisit {
        id,
        visit_id,
        visit,
        confirm_implausible: a.confirm_implausible,
    })?;
    expect_reply!(reply, Reply::Written(_) => ())?;
    println!("{visit_id}");
    // For the kader and the bidan at the table: the child's growth from what was just
    // measured (stderr: stdout is the visit id, for scripts).
    if let Ok(Reply::Record(stored)) = node.call(Request::Get { id })
        && let RecordBody::Patient(p) = &stored.record.body
        && let Some(line) = growth::at_visit(p, date, &measurements).and_then(|g| g.line())
    {
        eprintln!("{line}");
    }
    Ok(())
}

fn mark_error(
    node: &mut Target,
    record: &str,
    visit: &str,
    reason: String,
    by: String,
) -> Result<()> {
    let id = record_id(record)?;
    let visit_id = visit.parse().map_err(|e| bad_value("visit", e))?;
    let mark = ErrorMark {
        reason,
        by,
        at_ms: now_ms(),
    };
    let reply = node.call(Request::MarkError { id, visit_id, mark })?;
    expect_reply!(reply, Reply::Written(_) => ())?;
    Ok(())
}

fn blood_pressure(text: &str) -> Result<(Option<f64>, Option<f64>)> {
    let parsed = text
        .split_once('/')
        .and_then(|(s, d)| Some((s.trim().parse().ok()?, d.trim().parse().ok()?)));
    match parsed {
        Some((s, d)) => Ok((Some(s), Some(d))),
        None => Err(bad_value(
            "bp",
            format!("{text:?} is not SYSTOLIC/DIASTOLIC, e.g. 120/80"),
        )),
    }
}

fn immunisation(text: &str) -> Result<Immunisation> {
    let mut parts = text.splitn(3, ':');
    let antigen = parts
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(|e| bad_value("immunisation", e))?;
    let dose = parts.next().and_then(|d| d.parse().ok()).ok_or_else(|| {
        bad_value(
            "immunisation",
            format!("{text:?} is not ANTIGEN:DOSE[:LOT]"),
        )
    })?;
    let lot = parts.next().map(str::to_string);
    Ok(Immunisation { antigen, dose, lot })
}

fn screening(text: &str) -> Result<Screening> {
    let parts: Vec<&str> = text.split(':').collect();
    let [instrument, score, result] = parts[..] else {
        return Err(coded(
            REJECTED,
            format!("--screening: {text:?} is not INSTRUMENT:SCORE:RESULT"),
        ));
    };
    Ok(Screening {
        instrument: instrument.parse().map_err(|e| bad_value("screening", e))?,
        score: score
            .parse()
            .map_err(|_| bad_value("screening", format!("score {score:?} is not a number")))?,
        result: result.parse().map_err(|e| bad_value("screening", e))?,
    })
}
