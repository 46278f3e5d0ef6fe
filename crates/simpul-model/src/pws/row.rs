//! One row of a PWS report, its columns as text, and CSV rendering.

use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::facility::FacilityPath;
use crate::visit::Antigen;

/// The label of the total row in [`PwsRow::cells`] and CSV.
pub const TOTAL_LABEL: &str = "TOTAL";

/// The counts of one home facility (or of all of them, for the total row) for one month.
///
/// "The month" is the report's [`Month`](super::Month), "month end" its last day, "the
/// previous month" the calendar month before. Ages are whole completed months on the
/// month end ([`Patient::age_months`](crate::Patient::age_months)). Only
/// [current visits](crate::Patient::current_visits) count: a superseded visit or one
/// entered in error is never read. Every count is of people, except `doses`.
///
/// Within a row, `weighed == gained + not_gained + first_weighing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwsRow {
    /// The home facility (normally a posyandu); `None` for the total row.
    pub facility: Option<FacilityPath>,
    /// S (sasaran): children born on or before the month end and aged 0–59 completed
    /// months at the month end.
    pub under_fives: u32,
    /// D (ditimbang): of `under_fives`, those with a visit in the month that recorded a
    /// weight.
    pub weighed: u32,
    /// N (naik): of `weighed`, those also weighed in the previous month whose latest
    /// weight in the month is greater than their latest weight in the previous month,
    /// compared at the scale's 0.1 kg precision. "Latest" is the last current visit
    /// with a weight, by date (same-day visits by visit id). This is a plain
    /// comparison, not the KMS minimum-gain (KBM) rule.
    pub gained: u32,
    /// T (tidak naik): of `weighed`, those also weighed in the previous month who are
    /// not in `gained` (same or lower weight).
    pub not_gained: u32,
    /// B + O of SKDN: of `weighed`, those with no weight recorded in the previous month,
    /// whether weighed for the first time ever (B) or after a gap (O).
    pub first_weighing: u32,
    /// Of `under_fives`, those with a visit in the month recording a vitamin A capsule.
    pub vitamin_a: u32,
    /// Immunisation doses given in the month, per antigen, to people of any age (Td for
    /// pregnant women and DT/HPV at school count too). A dose is one (person, antigen,
    /// dose number) with a visit in the month: the same dose recorded twice (double
    /// entry) counts once. Every antigen is present, with 0 when none was given.
    pub doses: BTreeMap<Antigen, u32>,
    /// People aged 15 years (180 months) or more at the month end with a visit in the
    /// month that recorded a screening questionnaire, a blood pressure or a blood
    /// glucose.
    pub adults_screened: u32,
}

impl PwsRow {
    /// A row of zeros (every antigen present with 0 doses).
    pub fn empty(facility: Option<FacilityPath>) -> Self {
        Self {
            facility,
            under_fives: 0,
            weighed: 0,
            gained: 0,
            not_gained: 0,
            first_weighing: 0,
            vitamin_a: 0,
            doses: Antigen::ALL.iter().map(|&a| (a, 0)).collect(),
            adults_screened: 0,
        }
    }

    /// Doses of `antigen` given in the month.
    pub fn doses_of(&self, antigen: Antigen) -> u32 {
        self.doses.get(&antigen).copied().unwrap_or(0)
    }

    /// D/S in percent (weighing coverage, "partisipasi masyarakat"); `None` when there
    /// are no under-fives.
    pub fn weighed_pct(&self) -> Option<f64> {
        percent(self.weighed, self.under_fives)
    }

    /// N/D in percent (share of the weighed who gained); `None` when nobody was weighed.
    pub fn gained_pct(&self) -> Option<f64> {
        percent(self.gained, self.weighed)
    }

    /// Adds `other`'s counts to `self` (the facility is kept).
    pub fn add_counts(&mut self, other: &PwsRow) {
        self.under_fives += other.under_fives;
        self.weighed += other.weighed;
        self.gained += other.gained;
        self.not_gained += other.not_gained;
        self.first_weighing += other.first_weighing;
        self.vitamin_a += other.vitamin_a;
        for (&antigen, &n) in &other.doses {
            *self.doses.entry(antigen).or_insert(0) += n;
        }
        self.adults_screened += other.adults_screened;
    }

    /// Column names, in the order of [`PwsRow::cells`]: `facility`, `under_fives`,
    /// `weighed`, `gained`, `not_gained`, `first_weighing`, `weighed_pct`, `gained_pct`,
    /// `vitamin_a`, one column per [`Antigen`] named by its string form (`HB0`, `BCG`,
    /// …, in declaration order), `adults_screened`.
    pub fn columns() -> Vec<String> {
        let mut cols: Vec<String> = [
            "facility",
            "under_fives",
            "weighed",
            "gained",
            "not_gained",
            "first_weighing",
            "weighed_pct",
            "gained_pct",
            "vitamin_a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cols.extend(Antigen::ALL.iter().map(|a| a.as_str().to_string()));
        cols.push("adults_screened".into());
        cols
    }

    /// The row as text, one cell per [`PwsRow::columns`]: the facility path (or
    /// `TOTAL`), counts in decimal, percentages with one decimal (`71.4`) or empty when
    /// the denominator is zero.
    pub fn cells(&self) -> Vec<String> {
        let facility = match &self.facility {
            Some(path) => path.to_string(),
            None => TOTAL_LABEL.to_string(),
        };
        let mut cells = vec![
            facility,
            self.under_fives.to_string(),
            self.weighed.to_string(),
            self.gained.to_string(),
            self.not_gained.to_string(),
            self.first_weighing.to_string(),
            format_pct(self.weighed_pct()),
            format_pct(self.gained_pct()),
            self.vitamin_a.to_string(),
        ];
        cells.extend(Antigen::ALL.iter().map(|&a| self.doses_of(a).to_string()));
        cells.push(self.adults_screened.to_string());
        cells
    }
}

/// JSON shape: every field, plus `weighed_pct` and `gained_pct` (numbers or null), and
/// `doses` as an object keyed by antigen string form.
impl Serialize for PwsRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("PwsRow", 11)?;
        st.serialize_field("facility", &self.facility)?;
        st.serialize_field("under_fives", &self.under_fives)?;
        st.serialize_field("weighed", &self.weighed)?;
        st.serialize_field("gained", &self.gained)?;
        st.serialize_field("not_gained", &self.not_gained)?;
        st.serialize_field("first_weighing", &self.first_weighing)?;
        st.serialize_field("weighed_pct", &self.weighed_pct())?;
        st.serialize_field("gained_pct", &self.gained_pct())?;
        st.serialize_field("vitamin_a", &self.vitamin_a)?;
        st.serialize_field("doses", &self.doses)?;
        st.serialize_field("adults_screened", &self.adults_screened)?;
        st.end()
    }
}

fn percent(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) * 100.0 / f64::from(whole))
}

fn format_pct(pct: Option<f64>) -> String {
    pct.map(|p| format!("{p:.1}")).unwrap_or_default()
}

/// Renders lines of cells as CSV: fields joined by `,`, each line ended by `\n`, a field
/// quoted (RFC 4180: wrapped in `"`, inner `"` doubled) only when it holds `,`, `"`, CR
/// or LF.
pub(super) fn csv<'a>(lines: impl IntoIterator<Item = &'a [String]>) -> String {
    let mut out = String::new();
    for line in lines {
        for (i, field) in line.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, field);
        }
        out.push('\n');
    }
    out
}

fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        let line = vec![
            "plain".to_string(),
            "a,b".to_string(),
            "say \"hi\"".to_string(),
            "two\nlines".to_string(),
            String::new(),
        ];
        assert_eq!(
            csv([line.as_slice()]),
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\n"
        );
    }

    #[test]
    fn percentages_guard_zero_denominators() {
        let mut row = PwsRow::empty(None);
        assert_eq!(row.weighed_pct(), None);
        assert_eq!(row.gained_pct(), None);
        row.under_fives = 3;
        row.weighed = 2;
        row.gained = 1;
        assert_eq!(format_pct(row.weighed_pct()), "66.7");
        assert_eq!(format_pct(row.gained_pct()), "50.0");
        assert_eq!(PwsRow::columns().len(), row.cells().len());
    }
}
