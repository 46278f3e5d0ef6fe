//! PWS (Pemantauan Wilayah Setempat, local area monitoring): the monthly summary a
//! pustu or puskesmas draws from its records, one row per home facility.
//!
//! Pure computation: the caller streams patients in one at a time and passes the month;
//! nothing here reads a clock or a store.
//!
//! ```no_run
//! # use simpul_model::{FacilityPath, Patient, pws::{Month, PwsReport}};
//! # fn demo(node: FacilityPath, patients: &[Patient]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut report = PwsReport::new("2026-08".parse::<Month>()?, &node);
//! for p in patients {
//!     report.add(p);
//! }
//! print!("{}", report.to_csv());
//! # Ok(()) }
//! ```
//!
//! The columns follow the SKDN growth-monitoring indicators (S, D, N, T, B/O) plus
//! immunisation, vitamin A and adult screening; [`PwsRow`] defines each one exactly.

mod month;
mod row;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::date::Date;
use crate::facility::FacilityPath;
use crate::patient::Patient;
use crate::record::Record;
use crate::visit::{Antigen, Visit};

pub use month::{BadMonth, Month};
pub use row::{PwsRow, TOTAL_LABEL};

/// The oldest under-five, in completed months.
const UNDER_FIVE_MAX_MONTHS: i32 = 59;
/// The youngest adult for `adults_screened`, in completed months (15 years).
const ADULT_MIN_MONTHS: i32 = 15 * 12;

/// Builds the PWS summary of one month for the facilities at or below one node.
///
/// Feed it every patient the node holds with [`PwsReport::add`] (or
/// [`PwsReport::add_record`]), in any order, then read [`PwsReport::rows`],
/// [`PwsReport::total`], [`PwsReport::summary`] or [`PwsReport::to_csv`]. A patient is
/// counted when their `home_facility` is `below` or under it and they are not merged
/// into another record (`merged_into` set: the surviving record counts instead).
#[derive(Debug, Clone)]
pub struct PwsReport {
    month: Month,
    below: FacilityPath,
    rows: BTreeMap<FacilityPath, PwsRow>,
}

/// A finished report, serialisable for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PwsSummary {
    /// The month reported on (`YYYY-MM`).
    pub month: Month,
    /// The node whose subtree is reported.
    pub below: FacilityPath,
    /// One row per home facility, sorted by path.
    pub rows: Vec<PwsRow>,
    /// The sum of `rows` (its `facility` is null).
    pub total: PwsRow,
}

impl PwsReport {
    /// An empty report of `month` for the facilities at or below `below`.
    pub fn new(month: Month, below: &FacilityPath) -> Self {
        Self {
            month,
            below: below.clone(),
            rows: BTreeMap::new(),
        }
    }

    /// The month reported on.
    pub fn month(&self) -> Month {
        self.month
    }

    /// Counts one patient. Returns `false` (and counts nothing) when the patient is
    /// merged into another record or lives outside the node's subtree. A counted
    /// patient gives their home facility a row even if they add nothing to it.
    pub fn add(&mut self, patient: &Patient) -> bool {
        if patient.merged_into.is_some() || !self.below.is_ancestor_or_self(&patient.home_facility)
        {
            return false;
        }
        let facts = MonthFacts::of(patient, self.month);
        let row = self
            .rows
            .entry(patient.home_facility.clone())
            .or_insert_with(|| PwsRow::empty(Some(patient.home_facility.clone())));
        facts.count_into(patient, self.month.last_day(), row);
        true
    }

    /// Counts the patient of a patient record; any other record is ignored (`false`).
    pub fn add_record(&mut self, record: &Record) -> bool {
        record.patient().is_some_and(|p| self.add(p))
    }

    /// One row per home facility with at least one counted patient, sorted by path.
    pub fn rows(&self) -> Vec<PwsRow> {
        self.rows.values().cloned().collect()
    }

    /// The sum of every row; its `facility` is `None`.
    pub fn total(&self) -> PwsRow {
        let mut total = PwsRow::empty(None);
        for row in self.rows.values() {
            total.add_counts(row);
        }
        total
    }

    /// The rows and the total, for serialising.
    pub fn summary(&self) -> PwsSummary {
        PwsSummary {
            month: self.month,
            below: self.below.clone(),
            rows: self.rows(),
            total: self.total(),
        }
    }

    /// The report as CSV: a header of [`PwsRow::columns`], one line per row of
    /// [`PwsRow::cells`], then the `TOTAL` line. Fields are quoted per RFC 4180 only
    /// when needed; lines end with `\n`.
    pub fn to_csv(&self) -> String {
        let header = PwsRow::columns();
        let rows: Vec<Vec<String>> = self
            .rows
            .values()
            .map(PwsRow::cells)
            .chain([self.total().cells()])
            .collect();
        row::csv(std::iter::once(header.as_slice()).chain(rows.iter().map(Vec::as_slice)))
    }
}

/// What one patient's current visits say about the month and the month before.
#[derive(Default)]
struct MonthFacts {
    /// Latest weight recorded in the month.
    weight: Option<f64>,
    /// Latest weight recorded in the previous month.
    previous_weight: Option<f64>,
    /// A vitamin A capsule was given in the month.
    vitamin_a: bool,
    /// A screening, blood pressure or glucose was recorded in the month.
    screened: bool,
    /// Distinct (antigen, dose number) given in the month.
    doses: BTreeSet<(Antigen, u32)>,
}

impl MonthFacts {
    fn of(patient: &Patient, month: Month) -> Self {
        let previous = month.previous();
        let mut facts = Self::default();
        // Oldest first: a later weight of the same month overwrites an earlier one.
        for (_, visit) in patient.current_visits() {
            if month.contains(visit.date) {
                facts.weight = visit.measurements.weight_kg.or(facts.weight);
                facts.vitamin_a |= visit.vitamin_a;
                facts.screened |= is_screening(visit);
                facts
                    .doses
                    .extend(visit.immunisations.iter().map(|i| (i.antigen, i.dose)));
            } else if previous.contains(visit.date) {
                facts.previous_weight = visit.measurements.weight_kg.or(facts.previous_weight);
            }
        }
        facts
    }

    fn count_into(&self, patient: &Patient, month_end: Date, row: &mut PwsRow) {
        let age = patient.age_months(month_end);
        let under_five =
            patient.birth_date <= month_end && (0..=UNDER_FIVE_MAX_MONTHS).contains(&age);
        if under_five {
            row.under_fives += 1;
            row.vitamin_a += u32::from(self.vitamin_a);
            if let Some(weight) = self.weight {
                row.weighed += 1;
                match self.previous_weight {
                    Some(before) if tenths(weight) > tenths(before) => row.gained += 1,
                    Some(_) => row.not_gained += 1,
                    None => row.first_weighing += 1,
                }
            }
        }
        if age >= ADULT_MIN_MONTHS && self.screened {
            row.adults_screened += 1;
        }
        for (antigen, _) in &self.doses {
            *row.doses.entry(*antigen).or_insert(0) += 1;
        }
    }
}

/// True when the visit recorded a screening questionnaire, a blood pressure or a glucose.
fn is_screening(visit: &Visit) -> bool {
    let m = &visit.measurements;
    !visit.screenings.is_empty()
        || m.systolic_mmhg.is_some()
        || m.diastolic_mmhg.is_some()
        || m.glucose_mg_dl.is_some()
}

/// A weight in whole tenths of a kilogram, the precision of posyandu scales.
fn tenths(kg: f64) -> i64 {
    (kg * 10.0).round() as i64
}
