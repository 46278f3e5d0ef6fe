//! The WHO tables and the LMS method: L, M and S by sex and age in days, or by
//! length/height in 0.1 cm steps, compiled in from `data/who-growth-2006/`.

use std::sync::OnceLock;

use crate::Sex;

/// One row of a table: the Box-Cox power `L`, the median `M` and the coefficient of
/// variation `S`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lms {
    /// Box-Cox power.
    pub l: f64,
    /// Median.
    pub m: f64,
    /// Coefficient of variation.
    pub s: f64,
}

impl Lms {
    /// The measurement at `z` standard deviations.
    pub fn value_at(&self, z: f64) -> f64 {
        if self.l == 0.0 {
            self.m * (self.s * z).exp()
        } else {
            self.m * (1.0 + self.l * self.s * z).powf(1.0 / self.l)
        }
    }

    /// The z-score of `y` (no adjustment).
    pub fn z(&self, y: f64) -> f64 {
        if self.l == 0.0 {
            (y / self.m).ln() / self.s
        } else {
            ((y / self.m).powf(self.l) - 1.0) / (self.l * self.s)
        }
    }

    /// The z-score of `y` with the WHO's restricted adjustment beyond ±3 SD.
    pub fn z_adjusted(&self, y: f64) -> f64 {
        let z = self.z(y);
        if z > 3.0 {
            let (sd3, sd2) = (self.value_at(3.0), self.value_at(2.0));
            3.0 + (y - sd3) / (sd3 - sd2)
        } else if z < -3.0 {
            let (sd3, sd2) = (self.value_at(-3.0), self.value_at(-2.0));
            -3.0 + (y - sd3) / (sd2 - sd3)
        } else {
            z
        }
    }
}

/// What is measured against what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Indicator {
    /// Weight (kg) for age.
    WeightForAge,
    /// Length (below 731 days) or height (cm) for age.
    LengthHeightForAge,
    /// Weight (kg) for recumbent length (cm), 45–110 cm.
    WeightForLength,
    /// Weight (kg) for standing height (cm), 65–120 cm.
    WeightForHeight,
    /// BMI (kg/m²) for age.
    BmiForAge,
    /// Head circumference (cm) for age.
    HeadCircumferenceForAge,
    /// Mid-upper arm circumference (cm) for age, from 3 months.
    ArmCircumferenceForAge,
}

impl Indicator {
    /// Every indicator.
    pub const ALL: [Indicator; 7] = [
        Indicator::WeightForAge,
        Indicator::LengthHeightForAge,
        Indicator::WeightForLength,
        Indicator::WeightForHeight,
        Indicator::BmiForAge,
        Indicator::HeadCircumferenceForAge,
        Indicator::ArmCircumferenceForAge,
    ];

    /// Whether the WHO's restricted adjustment beyond ±3 SD applies.
    pub fn adjusted(self) -> bool {
        !matches!(
            self,
            Indicator::LengthHeightForAge | Indicator::HeadCircumferenceForAge
        )
    }

    /// Whether the table is by length/height (0.1 cm steps) rather than by age in days.
    pub fn by_length(self) -> bool {
        matches!(
            self,
            Indicator::WeightForLength | Indicator::WeightForHeight
        )
    }

    /// The z-scores the WHO calls implausible: below the first bound or above the second.
    pub fn plausible(self) -> (f64, f64) {
        match self {
            Indicator::WeightForAge => (-6.0, 5.0),
            Indicator::LengthHeightForAge => (-6.0, 6.0),
            _ => (-5.0, 5.0),
        }
    }

    fn source(self) -> &'static str {
        match self {
            Indicator::WeightForAge => include_str!("../../data/who-growth-2006/weianthro.txt"),
            Indicator::LengthHeightForAge => {
                include_str!("../../data/who-growth-2006/lenanthro.txt")
            }
            Indicator::WeightForLength => include_str!("../../data/who-growth-2006/wflanthro.txt"),
            Indicator::WeightForHeight => include_str!("../../data/who-growth-2006/wfhanthro.txt"),
            Indicator::BmiForAge => include_str!("../../data/who-growth-2006/bmianthro.txt"),
            Indicator::HeadCircumferenceForAge => {
                include_str!("../../data/who-growth-2006/hcanthro.txt")
            }
            Indicator::ArmCircumferenceForAge => {
                include_str!("../../data/who-growth-2006/acanthro.txt")
            }
        }
    }

    fn table(self) -> &'static Table {
        static TABLES: OnceLock<Vec<Table>> = OnceLock::new();
        let tables =
            TABLES.get_or_init(|| Indicator::ALL.iter().map(|i| parse(i.source())).collect());
        let at = Indicator::ALL
            .iter()
            .position(|i| *i == self)
            .unwrap_or_else(|| unreachable!("ALL lists every indicator"));
        &tables[at]
    }

    /// The table's row for `sex` at `key`: age in whole days, or length/height in cm
    /// (interpolated between the 0.1 cm rows, as the WHO does). `None` outside the table.
    pub fn lms(self, sex: Sex, key: f64) -> Option<Lms> {
        let rows = &self.table().rows[sex_index(sex)];
        let (first, step) = (self.table().first[sex_index(sex)], self.step());
        let offset = (key - first) / step;
        if !offset.is_finite() || offset < -1e-9 {
            return None;
        }
        if !self.by_length() {
            return rows.get(offset.round() as usize).copied();
        }
        // Lengths come in 0.1 cm rows; a length between two rows takes L, M and S on
        // the straight line between them.
        let low = (offset + 1e-9).floor();
        let fraction = offset - low;
        let below = *rows.get(low as usize)?;
        if fraction < 1e-9 {
            return Some(below);
        }
        let above = *rows.get(low as usize + 1)?;
        let mix = |a: f64, b: f64| a + fraction * (b - a);
        Some(Lms {
            l: mix(below.l, above.l),
            m: mix(below.m, above.m),
            s: mix(below.s, above.s),
        })
    }

    fn step(self) -> f64 {
        if self.by_length() { 0.1 } else { 1.0 }
    }

    /// The z-score of `value` for a child of `sex` at `key` (see [`Indicator::lms`]),
    /// adjusted where the WHO adjusts. `None` outside the table.
    pub fn z(self, sex: Sex, key: f64, value: f64) -> Option<Score> {
        if !(value.is_finite() && value > 0.0) {
            return None;
        }
        let lms = self.lms(sex, key)?;
        let z = if self.adjusted() {
            lms.z_adjusted(value)
        } else {
            lms.z(value)
        };
        let (low, high) = self.plausible();
        Some(Score {
            z,
            implausible: z < low || z > high,
        })
    }
}

/// A z-score, and whether the WHO calls it implausible (a measurement or entry error
/// more likely than a child that size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Standard deviations from the median.
    pub z: f64,
    /// Outside the WHO's plausible range for the indicator.
    pub implausible: bool,
}

impl Score {
    /// The z-score as shown and categorised: rounded to 0.01, as WHO anthro reports
    /// it, so that a child shown at −2.00 SD is never called stunted.
    pub fn shown(&self) -> f64 {
        (self.z * 100.0).round() / 100.0
    }
}

/// One indicator's rows for each sex, in key order, and each sex's first key.
struct Table {
    rows: [Vec<Lms>; 2],
    first: [f64; 2],
}

fn sex_index(sex: Sex) -> usize {
    match sex {
        Sex::Male => 0,
        Sex::Female => 1,
    }
}

/// Reads a WHO table: a header line, then `sex key l m s [L|H]` rows, tab-separated,
/// keys consecutive within each sex. The tables are compiled in, so a malformed one is
/// a build of this crate that must not ship: the tests read every table.
fn parse(text: &str) -> Table {
    let mut rows: [Vec<Lms>; 2] = [Vec::new(), Vec::new()];
    let mut first = [f64::NAN; 2];
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.trim().split('\t').collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        let (Some(sex), Some(key), Some(l), Some(m), Some(s)) =
            (number(0), number(1), number(2), number(3), number(4))
        else {
            continue;
        };
        let at = if sex == 1.0 { 0 } else { 1 };
        if rows[at].is_empty() {
            first[at] = key;
        }
        rows[at].push(Lms { l, m, s });
    }
    Table { rows, first }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days in `months` months, as the WHO's tables count them.
    fn days(months: f64) -> f64 {
        (months * 30.4375).round()
    }

    #[test]
    fn every_table_is_read_whole() {
        for (indicator, boys, girls) in [
            // Ages 0-1826 days (five years); arm circumference from 91 days.
            (Indicator::WeightForAge, 1827, 1827),
            (Indicator::LengthHeightForAge, 1827, 1827),
            (Indicator::BmiForAge, 1827, 1827),
            (Indicator::HeadCircumferenceForAge, 1827, 1827),
            (Indicator::ArmCircumferenceForAge, 1736, 1736),
            (Indicator::WeightForLength, 651, 651),
            (Indicator::WeightForHeight, 551, 551),
        ] {
            let t = indicator.table();
            assert_eq!(
                (t.rows[0].len(), t.rows[1].len()),
                (boys, girls),
                "{indicator:?}"
            );
        }
    }

    #[test]
    fn rows_are_the_published_ones() {
        // WHO weight-for-age, boys, birth: L 0.3487, M 3.3464, S 0.14602.
        let lms = Indicator::WeightForAge.lms(Sex::Male, 0.0).expect("row");
        assert_eq!(
            lms,
            Lms {
                l: 0.3487,
                m: 3.3464,
                s: 0.14602
            }
        );
        // Weight-for-length, boys, 45.0 cm: L -0.3521, M 2.441, S 0.09182.
        let lms = Indicator::WeightForLength
            .lms(Sex::Male, 45.0)
            .expect("row");
        assert_eq!(
            lms,
            Lms {
                l: -0.3521,
                m: 2.441,
                s: 0.09182
            }
        );
        assert!(Indicator::WeightForAge.lms(Sex::Male, 1826.0).is_some());
        assert!(Indicator::WeightForAge.lms(Sex::Male, 1827.0).is_none());
        assert!(
            Indicator::ArmCircumferenceForAge
                .lms(Sex::Female, 90.0)
                .is_none()
        );
        assert!(Indicator::WeightForHeight.lms(Sex::Female, 64.9).is_none());
    }

    #[test]
    fn the_published_sd_lines_come_out_of_the_daily_tables() {
        // The WHO's published z-score tables by month (values at -2, 0 and +2 SD, to
        // 0.1): the daily L, M and S give the same values once rounded.
        // (Taken from the WHO tables as the BSD-licensed `pygrowup` package ships them.)
        for (indicator, sex, key, [minus2, median, plus2]) in [
            (
                Indicator::WeightForAge,
                Sex::Male,
                days(0.0),
                [2.5, 3.3, 4.4],
            ),
            (
                Indicator::WeightForAge,
                Sex::Male,
                days(1.0),
                [3.4, 4.5, 5.8],
            ),
            (
                Indicator::WeightForAge,
                Sex::Female,
                days(12.0),
                [7.0, 8.9, 11.5],
            ),
            (
                Indicator::WeightForAge,
                Sex::Male,
                days(24.0),
                [9.7, 12.2, 15.3],
            ),
            (
                Indicator::LengthHeightForAge,
                Sex::Male,
                days(0.0),
                [46.1, 49.9, 53.7],
            ),
            (
                Indicator::LengthHeightForAge,
                Sex::Female,
                days(24.0),
                [79.3, 85.7, 92.2],
            ),
            (
                Indicator::LengthHeightForAge,
                Sex::Male,
                days(60.0),
                [100.7, 110.0, 119.2],
            ),
            (
                Indicator::HeadCircumferenceForAge,
                Sex::Female,
                days(0.0),
                [31.5, 33.9, 36.2],
            ),
            (
                Indicator::BmiForAge,
                Sex::Male,
                days(36.0),
                [13.4, 15.6, 18.4],
            ),
            (
                Indicator::WeightForLength,
                Sex::Female,
                70.0,
                [6.9, 8.2, 9.9],
            ),
        ] {
            let lms = indicator.lms(sex, key).expect("row");
            let round = |v: f64| (v * 10.0).round() / 10.0;
            assert_eq!(
                [
                    round(lms.value_at(-2.0)),
                    round(lms.value_at(0.0)),
                    round(lms.value_at(2.0))
                ],
                [minus2, median, plus2],
                "{indicator:?} {sex:?} at {key}"
            );
        }
    }

    #[test]
    fn every_row_gives_back_its_sd_lines() {
        // The -3, -2, 0, +2 and +3 SD values of every row of every table map back to
        // their z within 0.01, through the same path a measurement takes (with the
        // restricted adjustment where the WHO applies it).
        let mut rows = 0;
        for indicator in Indicator::ALL {
            for sex in [Sex::Male, Sex::Female] {
                let table = indicator.table();
                let i = sex_index(sex);
                for (n, lms) in table.rows[i].iter().enumerate() {
                    let key = table.first[i] + n as f64 * indicator.step();
                    assert_eq!(
                        indicator.lms(sex, key).as_ref(),
                        Some(lms),
                        "{indicator:?} {key}"
                    );
                    for z in [-3.0, -2.0, 0.0, 2.0, 3.0] {
                        let value = lms.value_at(z);
                        let score = indicator.z(sex, key, value).expect("in the table");
                        assert!(
                            (score.z - z).abs() < 0.01 && !score.implausible,
                            "{indicator:?} {sex:?} at {key}: {z} SD = {value} gives {score:?}"
                        );
                    }
                    rows += 1;
                }
            }
        }
        // 1,827 days x 2 sexes for five tables by age (arm circumference from 91
        // days), 651 and 551 lengths x 2.
        assert_eq!(rows, 2 * (4 * 1827 + 1736 + 651 + 551));
    }

    #[test]
    fn z_scores_by_lms_and_the_restricted_adjustment() {
        let lms = Indicator::WeightForAge.lms(Sex::Male, 0.0).expect("row");
        for z in [-2.5, -1.0, 0.0, 1.0, 2.9] {
            assert!((lms.z(lms.value_at(z)) - z).abs() < 1e-9);
            assert!((lms.z_adjusted(lms.value_at(z)) - z).abs() < 1e-9);
        }
        // Beyond 3 SD the distance counts in units of the 2-3 SD interval.
        let (sd2, sd3) = (lms.value_at(2.0), lms.value_at(3.0));
        let y = sd3 + 1.5 * (sd3 - sd2);
        assert!((lms.z_adjusted(y) - 4.5).abs() < 1e-9);
        let (sd2n, sd3n) = (lms.value_at(-2.0), lms.value_at(-3.0));
        let y = sd3n - 0.5 * (sd2n - sd3n);
        assert!((lms.z_adjusted(y) + 3.5).abs() < 1e-9);
        // Length-for-age is not adjusted; weight-for-age is.
        assert!(!Indicator::LengthHeightForAge.adjusted());
        assert!(Indicator::WeightForAge.adjusted());
    }

    #[test]
    fn lengths_between_rows_are_interpolated_and_implausible_values_flagged() {
        let at = |cm| {
            Indicator::WeightForLength
                .lms(Sex::Female, cm)
                .expect("row")
        };
        let (low, high, mid) = (at(70.0), at(70.1), at(70.05));
        assert!((mid.m - (low.m + high.m) / 2.0).abs() < 1e-9);
        let normal = Indicator::WeightForLength
            .z(Sex::Female, 70.0, low.m)
            .expect("score");
        assert!(normal.z.abs() < 1e-9 && !normal.implausible);
        let absurd = Indicator::WeightForAge
            .z(Sex::Male, 365.0, 40.0)
            .expect("score");
        assert!(absurd.implausible, "{absurd:?}");
        assert!(Indicator::WeightForAge.z(Sex::Male, 365.0, -1.0).is_none());
        assert!(
            Indicator::WeightForAge
                .z(Sex::Male, 365.0, f64::NAN)
                .is_none()
        );
    }
}
