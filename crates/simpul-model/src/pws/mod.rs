//! PWS (Pemantauan Wilayah Setempat, local area monitoring): the monthly summary a
//! posyandu, pustu or puskesmas draws from its records, by the official definitions.
//!
//! Pure computation: the caller streams patients in one at a time and passes the month;
//! nothing here reads a clock or a store.
//!
//! ```no_run
//! # use simpul_model::{FacilityPath, Patient, pws::{Grouping, Month, Period, PwsReport}};
//! # fn demo(node: FacilityPath, patients: &[Patient]) -> Result<(), Box<dyn std::error::Error>> {
//! let mut report = PwsReport::new("2026-08".parse::<Month>()?, &node)
//!     .period(Period::YearToDate)
//!     .grouping(Grouping::Village);
//! for p in patients {
//!     report.add(p);
//! }
//! print!("{}", report.to_csv());
//! # Ok(()) }
//! ```
//!
//! **Who counts.** A person whose home facility is at or below the node, not merged
//! into another record. "Living in the area" on a day means born by then, not dead
//! and not moved out ([`Patient::resident_on`]); denominators are taken at the month
//! end. Only [current visits](Patient::current_visits) count, and a visit
//! `transcribed` from the KIA book is history: it is never a service of the period
//! (it still completes a child's immunisation, and is the baseline of a weighing).
//!
//! **Growth monitoring (SKDN), always of the month**: S, K, D, N, T, O, B, BGM and 2T
//! as [`growth::progress`](crate::growth::progress) judges each child's weighing by the
//! buku KIA's minimum gain (D = N + T + O + B; D′ = N + T), with N/D′, D/S and K/S.
//! Stunting, wasting and underweight are counted by age at the measurement (0–5, 6–11,
//! 12–23, 24–59 months) from each child's latest measurement of the month.
//!
//! **Services, of the period** (the month, or January to the month for
//! [`Period::YearToDate`]): vitamin A at 6–11 months (blue), 12–59 months (red) and to
//! nifas mothers; every dose of the schedule given in its target age
//! ([`schedule::SCHEDULE`]) and the doses outside it; children completing basic
//! immunisation (IDL) and its share of the infants, the drop-out rates DPT-HB-Hib 1 → 3
//! and 1 → MR 1, and UCI (IDL at least 80 % of infants: read it on a year-to-date
//! report by village); adults screened at 15–59 and at 60+, antenatal contacts apart.
//! A person counts once per service however many visits recorded it; a dose recorded
//! twice counts once.

mod facts;
mod month;
mod projection;
mod row;
pub mod schedule;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::facility::{FacilityPath, Level};
use crate::patient::Patient;
use crate::record::Record;

pub use month::{BadMonth, Month};
pub use projection::{ReportFacts, VisitFacts};
pub use row::{Counts, PwsRow, TOTAL_LABEL, UCI_THRESHOLD_PCT};

/// The months a report's services are counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    /// The report's month.
    Month,
    /// January to the report's month.
    YearToDate,
}

/// What one row of a report stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// The person's home facility (normally a posyandu).
    HomeFacility,
    /// The person's village (desa/kelurahan code).
    Village,
    /// The home facility's ancestor at a level (its pustu, puskesmas or district).
    Level(Level),
}

impl Grouping {
    /// The grouping's name: `posyandu` (home facility), `village`, `pustu`,
    /// `puskesmas` or `district`.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::HomeFacility => "posyandu",
            Grouping::Village => "village",
            Grouping::Level(level) => level.as_str(),
        }
    }

    /// Parses a name of [`Grouping::as_str`].
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "posyandu" => Ok(Grouping::HomeFacility),
            "village" => Ok(Grouping::Village),
            "pustu" => Ok(Grouping::Level(Level::Pustu)),
            "puskesmas" => Ok(Grouping::Level(Level::Puskesmas)),
            "district" => Ok(Grouping::Level(Level::District)),
            other => Err(format!(
                "unknown grouping {other:?}: expected posyandu, village, pustu, puskesmas or district"
            )),
        }
    }
}

impl Serialize for Grouping {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Builds the PWS summary of one month for the people at or below one node.
///
/// Feed it every patient the node holds with [`PwsReport::add`] (or
/// [`PwsReport::add_record`]), in any order, then read [`PwsReport::rows`],
/// [`PwsReport::total`], [`PwsReport::summary`] or [`PwsReport::to_csv`].
#[derive(Debug, Clone)]
pub struct PwsReport {
    month: Month,
    period: Period,
    grouping: Grouping,
    below: FacilityPath,
    rows: BTreeMap<String, PwsRow>,
}

/// A finished report, serialisable for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PwsSummary {
    /// The month reported on (`YYYY-MM`).
    pub month: Month,
    /// The months services are counted over.
    pub period: Period,
    /// What a row stands for.
    pub grouping: Grouping,
    /// The node whose subtree is reported.
    pub below: FacilityPath,
    /// One row per group, sorted by label.
    pub rows: Vec<PwsRow>,
    /// The sum of `rows` (its `group` is null).
    pub total: PwsRow,
}

impl PwsReport {
    /// An empty report of `month` for the people at or below `below`, one row per
    /// home facility, services of the month.
    pub fn new(month: Month, below: &FacilityPath) -> Self {
        Self {
            month,
            period: Period::Month,
            grouping: Grouping::HomeFacility,
            below: below.clone(),
            rows: BTreeMap::new(),
        }
    }

    /// Counts services over `period`.
    pub fn period(mut self, period: Period) -> Self {
        self.period = period;
        self
    }

    /// One row per `grouping`.
    pub fn grouping(mut self, grouping: Grouping) -> Self {
        self.grouping = grouping;
        self
    }

    /// The month reported on.
    pub fn month(&self) -> Month {
        self.month
    }

    /// Counts one patient. Returns `false` (and counts nothing) when the patient is
    /// merged into another record or lives outside the node's subtree. A counted
    /// patient gives their group a row even if they add nothing to it.
    pub fn add(&mut self, patient: &Patient) -> bool {
        if patient.merged_into.is_some() || !self.below.is_ancestor_or_self(&patient.home_facility)
        {
            return false;
        }
        let group = self.group_of(patient);
        let first = match self.period {
            Period::Month => self.month,
            Period::YearToDate => self.month.january(),
        };
        let row = self
            .rows
            .entry(group.clone())
            .or_insert_with(|| PwsRow::empty(Some(group)));
        facts::count(patient, self.month, first, row);
        true
    }

    fn group_of(&self, patient: &Patient) -> String {
        match self.grouping {
            Grouping::HomeFacility => patient.home_facility.to_string(),
            Grouping::Village => patient.address.village.clone(),
            Grouping::Level(level) => patient.home_facility.at_level(level).to_string(),
        }
    }

    /// Counts a person from their report facts (what the store keeps for reports):
    /// the same as [`PwsReport::add`] of the patient they were taken from.
    pub fn add_facts(&mut self, facts: &ReportFacts) -> bool {
        if facts.merged_into.is_some() || !self.below.is_ancestor_or_self(&facts.home_facility) {
            return false;
        }
        self.add(&facts.to_patient())
    }

    /// Counts the patient of a patient record; any other record is ignored (`false`).
    pub fn add_record(&mut self, record: &Record) -> bool {
        record.patient().is_some_and(|p| self.add(p))
    }

    /// One row per group with at least one counted patient, sorted by label.
    pub fn rows(&self) -> Vec<PwsRow> {
        self.rows.values().cloned().collect()
    }

    /// The sum of every row; its `group` is `None`.
    pub fn total(&self) -> PwsRow {
        let mut total = PwsRow::empty(None);
        for row in self.rows.values() {
            total.add(row);
        }
        total
    }

    /// The rows and the total, for serialising.
    pub fn summary(&self) -> PwsSummary {
        PwsSummary {
            month: self.month,
            period: self.period,
            grouping: self.grouping,
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
