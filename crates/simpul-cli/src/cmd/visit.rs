//! `simpul visit add | mark-error`.

use anyhow::{Context, Result};
use rand::RngExt;
use simpul_model::{
    Date, ErrorMark, Immunisation, Klaster, Measurements, RecordBody, Screening, Setting, Visit,
    VisitId,
};
use simpul_store::{Store, WriteError};

use super::{bad_value, facility, record_id};
use crate::cli::{VisitAdd, VisitCommand};
use crate::exit::{REJECTED, coded};
use simpul_node::clock::{now_ms, today};

pub(crate) fn run(store: &Store, cmd: VisitCommand) -> Result<()> {
    match cmd {
        VisitCommand::Add(args) => add(store, *args),
        VisitCommand::MarkError {
            record,
            visit,
            reason,
            by,
        } => mark_error(store, &record, &visit, reason, by),
    }
}

fn add(store: &Store, a: VisitAdd) -> Result<()> {
    let id = record_id(&a.record)?;
    let date = Date::parse(&a.date).map_err(|e| bad_value("date", e))?;
    let klaster: Klaster = a.klaster.parse().map_err(|e| bad_value("klaster", e))?;
    let setting: Setting = a.setting.parse().map_err(|e| bad_value("setting", e))?;
    let at = match &a.facility {
        Some(f) => facility(f)?,
        None => store.node().path.clone(),
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
    visit.note = a.note;
    if let Some(old) = &a.corrects {
        old.parse::<VisitId>()
            .map_err(|e| bad_value("corrects", e))?;
        visit.supersedes = Some(old.clone());
    }
    let visit_id = VisitId::from_bytes(rand::rng().random());
    store
        .update_record(id, today(), now_ms(), move |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                return Err(WriteError::Rejected(simpul_model::RecordError::Shape(
                    "visits belong to patient records".into(),
                )));
            };
            p.visits.insert(visit_id.to_string(), visit);
            Ok(())
        })
        .context("failed to record the visit")?;
    println!("{visit_id}");
    Ok(())
}

fn mark_error(store: &Store, record: &str, visit: &str, reason: String, by: String) -> Result<()> {
    let id = record_id(record)?;
    let visit_id = visit.to_string();
    let at_ms = now_ms();
    store
        .update_record(id, today(), at_ms, move |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                return Err(WriteError::Rejected(simpul_model::RecordError::Shape(
                    "not a patient record".into(),
                )));
            };
            let v = p.visits.get_mut(&visit_id).ok_or_else(|| {
                WriteError::Rejected(simpul_model::RecordError::Shape(format!(
                    "no visit {visit_id}"
                )))
            })?;
            if v.entered_in_error.is_none() {
                v.entered_in_error = Some(ErrorMark { reason, by, at_ms });
            }
            Ok(())
        })
        .context("failed to mark the visit")?;
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
