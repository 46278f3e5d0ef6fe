//! Child growth by the WHO Child Growth Standards (2006): z-scores by the LMS method,
//! computed from a measurement, never stored as a fact.
//!
//! The tables (L, M and S by sex and age in days, or by length/height in 0.1 cm steps)
//! are the WHO's, shipped in `data/who-growth-2006/` with their source named, and
//! compiled in. A z-score is `((y / M)^L - 1) / (L * S)`; for the weight-based indicators
//! (weight-for-age, weight-for-length/height, BMI-for-age, arm circumference-for-age)
//! beyond ±3 SD the WHO's restricted adjustment measures the distance past the 3 SD line
//! in units of the 2–3 SD interval, since their distributions are skewed there (WHO
//! technical report, chapter 7). Values the WHO calls implausible are flagged.
//!
//! [`assess`] takes a visit's measurements: age in days, length or height standardised
//! by the WHO's 0.7 cm rule (recumbent length below 731 days, standing height from
//! then), weight-for-length below 731 days and weight-for-height from then, and the
//! categories of Permenkes 2/2020 ([`Category`]).
//!
//! Not here yet (the growth issue's next steps): oedema (not recorded yet), the
//! minimum-gain table (KBM), the visit reply and the due list.

use std::sync::OnceLock;

use crate::{Date, Measurements, Sex};

/// Last day of age the standards cover (five years).
pub const MAX_AGE_DAYS: i64 = 1826;

/// From this age (24 months) a child is measured standing; below it, lying down.
pub const STANDING_FROM_DAYS: i64 = 731;

/// What a recumbent length exceeds the same child's standing height by (WHO).
pub const LYING_MINUS_STANDING_CM: f64 = 0.7;

/// A child's growth at one visit.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Age in days on the visit's date.
    pub age_days: i64,
    /// Length (below 731 days) or height (from 731), after the 0.7 cm rule.
    pub length_height_cm: Option<f64>,
    /// Weight-for-age.
    pub weight_for_age: Option<Score>,
    /// Length/height-for-age.
    pub length_height_for_age: Option<Score>,
    /// Weight-for-length (below 731 days) or weight-for-height.
    pub weight_for_length_height: Option<Score>,
    /// BMI-for-age.
    pub bmi_for_age: Option<Score>,
    /// Head circumference-for-age.
    pub head_circumference_for_age: Option<Score>,
    /// Arm circumference (LiLA)-for-age, from 91 days.
    pub arm_circumference_for_age: Option<Score>,
}

impl Assessment {
    /// Weight-for-age category (BB/U).
    pub fn underweight(&self) -> Option<Category> {
        self.weight_for_age
            .filter(|s| !s.implausible)
            .map(|s| Category::weight_for_age(s.z))
    }

    /// Length/height-for-age category (PB/U, TB/U): stunting.
    pub fn stunting(&self) -> Option<Category> {
        self.length_height_for_age
            .filter(|s| !s.implausible)
            .map(|s| Category::length_height_for_age(s.z))
    }

    /// Weight-for-length/height category (BB/PB, BB/TB): wasting.
    pub fn wasting(&self) -> Option<Category> {
        self.weight_for_length_height
            .filter(|s| !s.implausible)
            .map(|s| Category::weight_for_length_height(s.z))
    }
}

/// The nutritional status categories of Permenkes 2/2020 (Standar Antropometri Anak).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// BB/U below -3 SD (berat badan sangat kurang).
    SeverelyUnderweight,
    /// BB/U -3 to below -2 SD (berat badan kurang).
    Underweight,
    /// PB/U or TB/U below -3 SD (sangat pendek).
    SeverelyStunted,
    /// PB/U or TB/U -3 to below -2 SD (pendek).
    Stunted,
    /// PB/U or TB/U above +3 SD (tinggi).
    Tall,
    /// BB/PB or BB/TB below -3 SD (gizi buruk).
    SeverelyWasted,
    /// BB/PB or BB/TB -3 to below -2 SD (gizi kurang).
    Wasted,
    /// BB/U above +1 SD (risiko berat badan lebih).
    RiskOfOverweight,
    /// BB/PB or BB/TB above +1 to +2 SD (berisiko gizi lebih).
    PossibleRiskOfOverweight,
    /// BB/PB or BB/TB above +2 to +3 SD (gizi lebih).
    Overweight,
    /// BB/PB or BB/TB above +3 SD (obesitas).
    Obese,
    /// Within the normal band of the indicator.
    Normal,
}

impl Category {
    /// The category in words.
    pub fn label(self) -> &'static str {
        match self {
            Category::SeverelyUnderweight => "severely underweight",
            Category::Underweight => "underweight",
            Category::SeverelyStunted => "severely stunted",
            Category::Stunted => "stunted",
            Category::Tall => "tall",
            Category::SeverelyWasted => "severely wasted",
            Category::Wasted => "wasted",
            Category::RiskOfOverweight => "risk of overweight",
            Category::PossibleRiskOfOverweight => "possible risk of overweight",
            Category::Overweight => "overweight",
            Category::Obese => "obese",
            Category::Normal => "normal",
        }
    }

    /// BB/U: below -3, -3 to below -2, -2 to +1, above +1.
    pub fn weight_for_age(z: f64) -> Category {
        if z < -3.0 {
            Category::SeverelyUnderweight
        } else if z < -2.0 {
            Category::Underweight
        } else if z <= 1.0 {
            Category::Normal
        } else {
            Category::RiskOfOverweight
        }
    }

    /// PB/U, TB/U: below -3, -3 to below -2, -2 to +3, above +3.
    pub fn length_height_for_age(z: f64) -> Category {
        if z < -3.0 {
            Category::SeverelyStunted
        } else if z < -2.0 {
            Category::Stunted
        } else if z <= 3.0 {
            Category::Normal
        } else {
            Category::Tall
        }
    }

    /// BB/PB, BB/TB (and IMT/U): below -3, -3 to below -2, -2 to +1, above +1 to +2,
    /// above +2 to +3, above +3.
    pub fn weight_for_length_height(z: f64) -> Category {
        if z < -3.0 {
            Category::SeverelyWasted
        } else if z < -2.0 {
            Category::Wasted
        } else if z <= 1.0 {
            Category::Normal
        } else if z <= 2.0 {
            Category::PossibleRiskOfOverweight
        } else if z <= 3.0 {
            Category::Overweight
        } else {
            Category::Obese
        }
    }
}

/// Length or height as the standards take it at `age_days`: a child under 731 days
/// measured standing gets 0.7 cm added; one from 731 days measured lying down, 0.7 cm
/// taken off.
pub fn standard_length(age_days: i64, m: &Measurements) -> Option<f64> {
    let lying = age_days < STANDING_FROM_DAYS;
    match (m.length_cm, m.height_cm) {
        (Some(length), _) if lying => Some(length),
        (Some(length), _) => Some(length - LYING_MINUS_STANDING_CM),
        (None, Some(height)) if lying => Some(height + LYING_MINUS_STANDING_CM),
        (None, Some(height)) => Some(height),
        (None, None) => None,
    }
}

/// A child's growth from a visit's measurements, or `None` outside the standards' ages
/// (before birth, or past five years).
pub fn assess(sex: Sex, birth: Date, on: Date, m: &Measurements) -> Option<Assessment> {
    let age_days = birth.days_until(on);
    if !(0..=MAX_AGE_DAYS).contains(&age_days) {
        return None;
    }
    let age = age_days as f64;
    let length = standard_length(age_days, m);
    let by_age =
        |indicator: Indicator, value: Option<f64>| value.and_then(|v| indicator.z(sex, age, v));
    let for_length = if age_days < STANDING_FROM_DAYS {
        Indicator::WeightForLength
    } else {
        Indicator::WeightForHeight
    };
    let bmi = match (m.weight_kg, length) {
        (Some(kg), Some(cm)) if cm > 0.0 => Some(kg / (cm / 100.0).powi(2)),
        _ => None,
    };
    Some(Assessment {
        age_days,
        length_height_cm: length,
        weight_for_age: by_age(Indicator::WeightForAge, m.weight_kg),
        length_height_for_age: by_age(Indicator::LengthHeightForAge, length),
        weight_for_length_height: match (m.weight_kg, length) {
            (Some(kg), Some(cm)) => for_length.z(sex, cm, kg),
            _ => None,
        },
        bmi_for_age: by_age(Indicator::BmiForAge, bmi),
        head_circumference_for_age: by_age(
            Indicator::HeadCircumferenceForAge,
            m.head_circumference_cm,
        ),
        arm_circumference_for_age: by_age(Indicator::ArmCircumferenceForAge, m.muac_cm),
    })
}

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
            Indicator::WeightForAge => include_str!("../data/who-growth-2006/weianthro.txt"),
            Indicator::LengthHeightForAge => {
                include_str!("../data/who-growth-2006/lenanthro.txt")
            }
            Indicator::WeightForLength => include_str!("../data/who-growth-2006/wflanthro.txt"),
            Indicator::WeightForHeight => include_str!("../data/who-growth-2006/wfhanthro.txt"),
            Indicator::BmiForAge => include_str!("../data/who-growth-2006/bmianthro.txt"),
            Indicator::HeadCircumferenceForAge => {
                include_str!("../data/who-growth-2006/hcanthro.txt")
            }
            Indicator::ArmCircumferenceForAge => {
                include_str!("../data/who-growth-2006/acanthro.txt")
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
    fn a_visit_is_assessed_with_the_length_rule_and_the_permenkes_categories() {
        let birth = Date::from_ymd(2024, 1, 10).expect("date");
        // 23 months, measured standing: 0.7 cm is added for the length tables.
        let on = birth.add_days(700);
        // 9.0 kg is -2.5 SD for a boy of 700 days (L, M, S of weianthro.txt).
        let m = Measurements {
            weight_kg: Some(9.0),
            height_cm: Some(78.0),
            ..Measurements::default()
        };
        let a = assess(Sex::Male, birth, on, &m).expect("assessed");
        assert_eq!(a.age_days, 700);
        assert_eq!(a.length_height_cm, Some(78.7));
        let lfa = Indicator::LengthHeightForAge
            .z(Sex::Male, 700.0, 78.7)
            .expect("score");
        assert_eq!(a.length_height_for_age, Some(lfa));
        assert_eq!(a.stunting(), Some(Category::Stunted), "{lfa:?}");
        let wfl = Indicator::WeightForLength
            .z(Sex::Male, 78.7, 9.0)
            .expect("score");
        assert_eq!(a.weight_for_length_height, Some(wfl));
        assert!((a.weight_for_age.expect("score").z + 2.497).abs() < 0.001);
        assert_eq!(a.underweight(), Some(Category::Underweight));
        // From 731 days a length measured lying down loses 0.7 cm, against height.
        let older = assess(
            Sex::Male,
            birth,
            birth.add_days(800),
            &Measurements {
                weight_kg: Some(12.0),
                length_cm: Some(88.0),
                ..Measurements::default()
            },
        )
        .expect("assessed");
        assert_eq!(older.length_height_cm, Some(87.3));
        let wfh = Indicator::WeightForHeight.z(Sex::Male, 87.3, 12.0);
        assert_eq!(older.weight_for_length_height, wfh);
        assert!(assess(Sex::Male, birth, birth.add_days(-1), &m).is_none());
        assert!(assess(Sex::Male, birth, birth.add_days(1827), &m).is_none());
    }

    #[test]
    fn the_permenkes_bands_and_their_edges() {
        use Category::*;
        let wfa: Vec<_> = [-3.1, -3.0, -2.0, 1.0, 1.01]
            .map(Category::weight_for_age)
            .to_vec();
        assert_eq!(
            wfa,
            [
                SeverelyUnderweight,
                Underweight,
                Normal,
                Normal,
                RiskOfOverweight
            ]
        );
        let lfa: Vec<_> = [-3.01, -2.5, -2.0, 3.0, 3.01]
            .map(Category::length_height_for_age)
            .to_vec();
        assert_eq!(lfa, [SeverelyStunted, Stunted, Normal, Normal, Tall]);
        let wfl: Vec<_> = [-3.01, -2.01, 0.0, 1.5, 2.5, 3.5]
            .map(Category::weight_for_length_height)
            .to_vec();
        assert_eq!(
            wfl,
            [
                SeverelyWasted,
                Wasted,
                Normal,
                PossibleRiskOfOverweight,
                Overweight,
                Obese
            ]
        );
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
