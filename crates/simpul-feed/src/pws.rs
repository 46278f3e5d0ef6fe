//! PWS by month: the counts `simpul report pws` gives for each home facility, for the
//! months the feed keeps up to date (`pws_month`, `pws_doses`).
//!
//! Any change to a person can change any month's counts (a birth date corrected moves
//! a child between age groups; a death ends a residence), so the months are computed
//! again whole, in one pass over the report facts the store keeps, when the store
//! changed since they were last computed; and written in one transaction with the
//! position they were computed at (`simpul_cursor.pws_seq`), so a feed stopped at any
//! moment computes them again at its next run.

use simpul_model::pws::schedule::SCHEDULE;
use simpul_model::pws::{Counts, Month, PwsReport};
use simpul_store::{ReadError, Store};
use tokio_postgres::Client;

use crate::FeedError;

/// The months kept up to date: this month and the twelve before it (a year to date, and
/// the same month a year earlier).
pub const MONTHS: u32 = 13;

/// The `months` up to and including `until`, oldest first.
pub(crate) fn window(until: Month, months: u32) -> Vec<Month> {
    let mut out = vec![until];
    while (out.len() as u32) < months {
        let before = out[out.len() - 1].previous();
        out.push(before);
    }
    out.reverse();
    out
}

/// Each of `months` counted over every person the store holds, in one pass over the
/// report facts (no document is loaded).
pub(crate) fn compute(store: &Store, months: &[Month]) -> Result<Vec<PwsReport>, ReadError> {
    let below = store.node().path.clone();
    let mut reports: Vec<PwsReport> = months.iter().map(|m| PwsReport::new(*m, &below)).collect();
    store.each_report_facts(|_, facts| {
        if facts.merged_into.is_some() {
            return;
        }
        let patient = facts.to_patient();
        for report in &mut reports {
            report.add(&patient);
        }
    })?;
    Ok(reports)
}

/// Replaces the rows of the reports' months, and records the position they were
/// computed at, in one transaction. The rows go a month at a time (a district's month
/// is a few thousand rows and tens of thousands of dose rows), so memory holds one
/// month's JSON, not the year's.
pub(crate) async fn write(
    client: &mut Client,
    reports: &[PwsReport],
    at: &crate::write::Position<'_>,
    until: Month,
) -> Result<(), FeedError> {
    let columns: Vec<&str> = ["month", "facility"]
        .into_iter()
        .chain(Counts::NAMES.iter().copied())
        .collect();
    let typed: Vec<String> = ["month date".to_string(), "facility text".to_string()]
        .into_iter()
        .chain(Counts::NAMES.iter().map(|n| format!("{n} integer")))
        .collect();
    let insert_months = format!(
        "INSERT INTO pws_month ({cols}) SELECT {cols} FROM jsonb_to_recordset($1::text::jsonb) AS x({typed})",
        cols = columns.join(", "),
        typed = typed.join(", "),
    );
    let tx = client.transaction().await?;
    for report in reports {
        let month = report.month().first_day().to_string();
        tx.execute(
            "DELETE FROM pws_month WHERE month = $1::text::date",
            &[&month],
        )
        .await?;
        tx.execute(
            "DELETE FROM pws_doses WHERE month = $1::text::date",
            &[&month],
        )
        .await?;
        let (rows, doses) = month_rows(report, &month);
        if !rows.is_empty() {
            tx.execute(&insert_months, &[&rows]).await?;
        }
        if !doses.is_empty() {
            tx.execute(
                "INSERT INTO pws_doses (month, facility, antigen, dose, given)
                 SELECT month, facility, antigen, dose, given FROM jsonb_to_recordset($1::text::jsonb)
                 AS x(month date, facility text, antigen text, dose integer, given integer)",
                &[&doses],
            )
            .await?;
        }
    }
    // A store with nothing fed yet has no cursor row: it gets one at position 0.
    tx.execute(
        "INSERT INTO simpul_cursor (node, epoch, seq, pws_seq, pws_until)
         VALUES ($1, $2, 0, $3, $4::text::date)
         ON CONFLICT (node) DO UPDATE
         SET pws_seq = EXCLUDED.pws_seq, pws_until = EXCLUDED.pws_until",
        &[
            &at.node,
            &at.epoch,
            &(at.seq as i64),
            &until.first_day().to_string(),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One month's rows of `pws_month` and `pws_doses` (given doses only), each as a JSON
/// array.
fn month_rows(report: &PwsReport, month: &str) -> (String, String) {
    let mut rows = Vec::new();
    let mut doses = Vec::new();
    for row in report.rows() {
        let facility = row.group.clone().unwrap_or_default();
        let mut object = serde_json::Map::new();
        object.insert("month".into(), month.into());
        object.insert("facility".into(), facility.clone().into());
        for (name, value) in Counts::NAMES.iter().zip(row.counts.values()) {
            object.insert((*name).into(), value.into());
        }
        rows.push(serde_json::Value::Object(object));
        for ((dose, _), given) in SCHEDULE.iter().zip(row.doses) {
            if given > 0 {
                doses.push(serde_json::json!({
                    "month": month, "facility": facility,
                    "antigen": dose.antigen.to_string(), "dose": dose.number,
                    "given": given,
                }));
            }
        }
    }
    let text = |v: Vec<serde_json::Value>| {
        if v.is_empty() {
            String::new()
        } else {
            serde_json::Value::Array(v).to_string()
        }
    };
    (text(rows), text(doses))
}
