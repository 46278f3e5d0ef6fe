//! One row of a PWS report: its counts, the ratios drawn from them, its columns as text,
//! and CSV rendering.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::schedule::{Dose, SCHEDULE};

/// The label of the total row in [`PwsRow::cells`] and CSV.
pub const TOTAL_LABEL: &str = "TOTAL";

/// The share of infants with complete basic immunisation that makes a village UCI
/// (Universal Child Immunization), in percent.
pub const UCI_THRESHOLD_PCT: f64 = 80.0;

/// Declares [`Counts`]: named counts, added field by field, listed in column order.
macro_rules! counts {
    ($($(#[$doc:meta])* $field:ident,)+) => {
        /// The counts of one row. Every count is of people unless its name says
        /// otherwise; see the module documentation of [`crate::pws`] for each one.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct Counts {
            $($(#[$doc])* pub $field: u32,)+
        }

        impl Counts {
            /// The column names, in order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),+];

            /// The values, in the order of [`Counts::NAMES`].
            pub fn values(&self) -> Vec<u32> {
                vec![$(self.$field),+]
            }

            /// Adds `other` to `self`, count by count.
            pub fn add(&mut self, other: &Counts) {
                $(self.$field += other.$field;)+
            }
        }
    };
}

counts! {
    /// S: under-fives (0–59 completed months) living in the area at the month end.
    s,
    /// K: of S, those holding a KIA book or KMS.
    k,
    /// D: of S, those weighed here in the month.
    d,
    /// N: of D, weighed last month too and gained at least the KBM minimum.
    n,
    /// T: of D, weighed last month too and gained less than the minimum.
    t,
    /// O: of D, not weighed last month but weighed before.
    o,
    /// B: of D, weighed for the first time.
    b,
    /// BGM: of D, weight-for-age below the red line (−3 SD).
    bgm,
    /// 2T: of T, T last month too.
    two_t,
    /// Of S aged 0–5 months, measured for length/height in the month.
    measured_0_5,
    /// Of those, length/height-for-age below −2 SD (stunted or severely).
    stunted_0_5,
    /// Of S aged 0–5 months, weight-for-length/height below −2 SD or oedema.
    wasted_0_5,
    /// Of S aged 0–5 months, weight-for-age below −2 SD or oedema.
    underweight_0_5,
    /// As `measured_0_5`, for 6–11 months.
    measured_6_11,
    /// As `stunted_0_5`, for 6–11 months.
    stunted_6_11,
    /// As `wasted_0_5`, for 6–11 months.
    wasted_6_11,
    /// As `underweight_0_5`, for 6–11 months.
    underweight_6_11,
    /// As `measured_0_5`, for 12–23 months.
    measured_12_23,
    /// As `stunted_0_5`, for 12–23 months.
    stunted_12_23,
    /// As `wasted_0_5`, for 12–23 months.
    wasted_12_23,
    /// As `underweight_0_5`, for 12–23 months.
    underweight_12_23,
    /// As `measured_0_5`, for 24–59 months.
    measured_24_59,
    /// As `stunted_0_5`, for 24–59 months.
    stunted_24_59,
    /// As `wasted_0_5`, for 24–59 months.
    wasted_24_59,
    /// As `underweight_0_5`, for 24–59 months.
    underweight_24_59,
    /// Children aged 6–11 months at the month end (the blue capsule's target).
    aged_6_11,
    /// Of all children, given a blue vitamin A capsule here in the period at 6–11
    /// months.
    vitamin_a_6_11,
    /// Children aged 12–59 months at the month end (the red capsule's target).
    aged_12_59,
    /// Given a red capsule here in the period at 12–59 months.
    vitamin_a_12_59,
    /// Women given vitamin A here in the period: high-dose vitamin A is given to
    /// women only in the nifas (postpartum) period.
    vitamin_a_nifas,
    /// Infants: living in the area at the month end and under one year old on some
    /// day of the period (the denominator of IDL and UCI).
    infants,
    /// Children whose basic immunisation became complete (IDL, before the first
    /// birthday) with a dose given here in the period.
    complete_basic,
    /// Doses given here in the period outside their target age or the schedule
    /// (doses, not people).
    doses_outside_target,
    /// People aged 15–59 years living in the area at the month end.
    residents_15_59,
    /// Of all people, screened here in the period at 15–59 years (a questionnaire,
    /// blood pressure or glucose, outside an antenatal contact).
    screened_15_59,
    /// People aged 60 or more living in the area at the month end.
    residents_60_plus,
    /// Screened here in the period at 60 or more.
    screened_60_plus,
}

/// One row of a PWS report: a group (a posyandu, a village, a facility of a level) or
/// the total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwsRow {
    /// The group's label (facility path or village code); `None` for the total row.
    pub group: Option<String>,
    /// The counts.
    pub counts: Counts,
    /// Doses given here in the period in their target age, one per [`SCHEDULE`] entry
    /// (doses, not people).
    pub doses: [u32; SCHEDULE.len()],
}

/// A value drawn from a row's counts, and how it is shown.
enum Derived {
    /// A count (`2`).
    Count(u32),
    /// A percentage with one decimal (`71.4`); empty or null when undefined.
    Percent(Option<f64>),
    /// `1`/`0` in CSV, `true`/`false` in JSON; empty or null when undefined.
    Flag(Option<bool>),
}

impl Derived {
    fn cell(&self) -> String {
        match self {
            Derived::Count(n) => n.to_string(),
            Derived::Percent(p) => format_pct(*p),
            Derived::Flag(f) => f.map(|f| u8::from(f).to_string()).unwrap_or_default(),
        }
    }
}

impl Serialize for Derived {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Derived::Count(n) => n.serialize(s),
            Derived::Percent(p) => p.map(round1).serialize(s),
            Derived::Flag(f) => f.serialize(s),
        }
    }
}

/// How a derived value is drawn from a row.
type Derive = fn(&PwsRow) -> Derived;

/// The values every row carries after its counts.
const DERIVED: [(&str, Derive); 8] = [
    ("d_prime", |r| Derived::Count(r.d_prime())),
    ("n_of_d_prime_pct", |r| {
        Derived::Percent(percent(r.counts.n, r.d_prime()))
    }),
    ("d_of_s_pct", |r| {
        Derived::Percent(percent(r.counts.d, r.counts.s))
    }),
    ("k_of_s_pct", |r| {
        Derived::Percent(percent(r.counts.k, r.counts.s))
    }),
    ("complete_basic_pct", |r| {
        Derived::Percent(r.complete_basic_pct())
    }),
    ("dropout_dpt1_dpt3_pct", |r| {
        Derived::Percent(r.dropout(Dose::dpt(1), Dose::dpt(3)))
    }),
    ("dropout_dpt1_mr1_pct", |r| {
        Derived::Percent(r.dropout(Dose::dpt(1), Dose::mr1()))
    }),
    ("uci", |r| {
        Derived::Flag(r.complete_basic_pct().map(|p| p >= UCI_THRESHOLD_PCT))
    }),
];

impl Dose {
    fn dpt(number: u32) -> Dose {
        Dose {
            antigen: crate::visit::Antigen::DptHbHib,
            number,
        }
    }

    fn mr1() -> Dose {
        Dose {
            antigen: crate::visit::Antigen::Mr,
            number: 1,
        }
    }
}

impl PwsRow {
    /// A row of zeros.
    pub fn empty(group: Option<String>) -> Self {
        Self {
            group,
            counts: Counts::default(),
            doses: [0; SCHEDULE.len()],
        }
    }

    /// D′: weighed this month and last month (N + T).
    pub fn d_prime(&self) -> u32 {
        self.counts.n + self.counts.t
    }

    /// Doses of `dose` given in the period in its target age (0 outside the schedule).
    pub fn doses_of(&self, dose: Dose) -> u32 {
        SCHEDULE
            .iter()
            .position(|(d, _)| *d == dose)
            .map_or(0, |i| self.doses[i])
    }

    /// Complete basic immunisation among the infants, in percent.
    pub fn complete_basic_pct(&self) -> Option<f64> {
        percent(self.counts.complete_basic, self.counts.infants)
    }

    /// The drop-out from `first` to `later` in percent of `first` (negative when more
    /// took the later dose).
    fn dropout(&self, first: Dose, later: Dose) -> Option<f64> {
        let (a, b) = (self.doses_of(first), self.doses_of(later));
        (a > 0).then(|| (f64::from(a) - f64::from(b)) * 100.0 / f64::from(a))
    }

    /// Adds `other`'s counts and doses to `self` (the group is kept).
    pub fn add(&mut self, other: &PwsRow) {
        self.counts.add(&other.counts);
        for (mine, theirs) in self.doses.iter_mut().zip(other.doses) {
            *mine += theirs;
        }
    }

    /// Column names, in the order of [`PwsRow::cells`]: `group`, every count of
    /// [`Counts::NAMES`], the ratios (`d_prime`, `n_of_d_prime_pct`, `d_of_s_pct`,
    /// `k_of_s_pct`, `complete_basic_pct`, `dropout_dpt1_dpt3_pct`,
    /// `dropout_dpt1_mr1_pct`, `uci` as 1 or 0), then one column per dose of the
    /// schedule (`HB0-1`, `BCG-1`, …).
    pub fn columns() -> Vec<String> {
        std::iter::once("group".to_string())
            .chain(Counts::NAMES.iter().map(|s| s.to_string()))
            .chain(DERIVED.iter().map(|(name, _)| name.to_string()))
            .chain(SCHEDULE.iter().map(|(d, _)| d.column()))
            .collect()
    }

    /// The row as text, one cell per [`PwsRow::columns`]: the group (or `TOTAL`),
    /// counts in decimal, ratios with one decimal (`71.4`) or empty when undefined.
    pub fn cells(&self) -> Vec<String> {
        let group = self.group.clone().unwrap_or_else(|| TOTAL_LABEL.into());
        std::iter::once(group)
            .chain(self.counts.values().iter().map(u32::to_string))
            .chain(DERIVED.iter().map(|(_, derive)| derive(self).cell()))
            .chain(self.doses.iter().map(u32::to_string))
            .collect()
    }
}

/// JSON shape: an object with every column of [`PwsRow::columns`] as a key, counts as
/// numbers, ratios as numbers or null, `group` as a string or null, `uci` as a boolean
/// or null.
impl Serialize for PwsRow {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("group", &self.group)?;
        for (name, value) in Counts::NAMES.iter().zip(self.counts.values()) {
            map.serialize_entry(name, &value)?;
        }
        for (name, derive) in DERIVED {
            map.serialize_entry(name, &derive(self))?;
        }
        for ((dose, _), n) in SCHEDULE.iter().zip(self.doses) {
            map.serialize_entry(&dose.column(), &n)?;
        }
        map.end()
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
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
    fn ratios_guard_zero_denominators_and_uci_is_at_eighty_percent() {
        let mut row = PwsRow::empty(None);
        let cell = |row: &PwsRow, name: &str| {
            let at = PwsRow::columns()
                .iter()
                .position(|c| c == name)
                .expect("column");
            row.cells()[at].clone()
        };
        assert_eq!(cell(&row, "d_of_s_pct"), "");
        assert_eq!(cell(&row, "uci"), "");
        row.counts.s = 3;
        row.counts.d = 2;
        row.counts.n = 1;
        row.counts.t = 1;
        assert_eq!(cell(&row, "d_of_s_pct"), "66.7");
        assert_eq!(cell(&row, "n_of_d_prime_pct"), "50.0");
        assert_eq!(cell(&row, "d_prime"), "2");
        row.counts.infants = 5;
        row.counts.complete_basic = 4;
        assert_eq!(cell(&row, "uci"), "1");
        row.counts.complete_basic = 3;
        assert_eq!(cell(&row, "uci"), "0");
        row.doses[6] = 10; // DPT-HB-Hib-1
        row.doses[8] = 8; // DPT-HB-Hib-3
        assert_eq!(cell(&row, "dropout_dpt1_dpt3_pct"), "20.0");
        assert_eq!(cell(&row, "dropout_dpt1_mr1_pct"), "100.0");
        assert_eq!(PwsRow::columns().len(), row.cells().len());
    }
}
