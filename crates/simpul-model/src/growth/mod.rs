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
//! Bilateral pitting oedema makes weight meaningless as a measure of nutrition: as the
//! WHO's `anthro` does, a child with oedema gets no weight-for-age, weight-for-length/
//! height or BMI-for-age z-score, and counts as below -3 SD for those indicators
//! (severely underweight, severely wasted).

mod at_visit;
mod gain;
mod standards;

pub use at_visit::{AtVisit, Scored, Weighing, at_visit};
pub use gain::{Progress, RED_LINE_Z, Trend, follow_up, minimum_gain_g, progress, progress_in};
pub use standards::{Indicator, Lms, Score};

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
    /// Bilateral pitting oedema was found: the weight-based scores are left out, and
    /// their categories are the severe ones.
    pub oedema: bool,
}

impl Assessment {
    /// Weight-for-age category (BB/U); severely underweight with oedema.
    pub fn underweight(&self) -> Option<Category> {
        if self.oedema {
            return Some(Category::SeverelyUnderweight);
        }
        self.weight_for_age
            .filter(|s| !s.implausible)
            .map(|s| Category::weight_for_age(s.shown()))
    }

    /// Length/height-for-age category (PB/U, TB/U): stunting.
    pub fn stunting(&self) -> Option<Category> {
        self.length_height_for_age
            .filter(|s| !s.implausible)
            .map(|s| Category::length_height_for_age(s.shown()))
    }

    /// Weight-for-length/height category (BB/PB, BB/TB): wasting; severely wasted
    /// with oedema.
    pub fn wasting(&self) -> Option<Category> {
        if self.oedema {
            return Some(Category::SeverelyWasted);
        }
        self.weight_for_length_height
            .filter(|s| !s.implausible)
            .map(|s| Category::weight_for_length_height(s.shown()))
    }

    /// BMI-for-age category (IMT/U), in the bands of weight-for-length/height;
    /// severely wasted with oedema.
    pub fn bmi_status(&self) -> Option<Category> {
        if self.oedema {
            return Some(Category::SeverelyWasted);
        }
        self.bmi_for_age
            .filter(|s| !s.implausible)
            .map(|s| Category::weight_for_length_height(s.shown()))
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
    // With oedema the weight is partly water: no weight-based score.
    let weight = m.weight_kg.filter(|_| !m.oedema);
    let bmi = match (weight, length) {
        (Some(kg), Some(cm)) if cm > 0.0 => Some(kg / (cm / 100.0).powi(2)),
        _ => None,
    };
    Some(Assessment {
        age_days,
        length_height_cm: length,
        weight_for_age: by_age(Indicator::WeightForAge, weight),
        length_height_for_age: by_age(Indicator::LengthHeightForAge, length),
        weight_for_length_height: match (weight, length) {
            (Some(kg), Some(cm)) => for_length.z(sex, cm, kg),
            _ => None,
        },
        bmi_for_age: by_age(Indicator::BmiForAge, bmi),
        head_circumference_for_age: by_age(
            Indicator::HeadCircumferenceForAge,
            m.head_circumference_cm,
        ),
        arm_circumference_for_age: by_age(Indicator::ArmCircumferenceForAge, m.muac_cm),
        oedema: m.oedema,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn oedema_leaves_out_the_weight_scores_and_counts_as_severe() {
        let birth = Date::from_ymd(2025, 3, 1).expect("date");
        let on = birth.add_days(400);
        let mut m = Measurements {
            weight_kg: Some(9.5),
            length_cm: Some(75.0),
            muac_cm: Some(14.0),
            ..Measurements::default()
        };
        let well = assess(Sex::Female, birth, on, &m).expect("assessed");
        assert_eq!(well.wasting(), Some(Category::Normal));
        assert_eq!(well.underweight(), Some(Category::Normal));
        m.oedema = true;
        let a = assess(Sex::Female, birth, on, &m).expect("assessed");
        assert_eq!(a.weight_for_age, None);
        assert_eq!(a.weight_for_length_height, None);
        assert_eq!(a.bmi_for_age, None);
        assert_eq!(a.wasting(), Some(Category::SeverelyWasted));
        assert_eq!(a.underweight(), Some(Category::SeverelyUnderweight));
        assert_eq!(a.bmi_status(), Some(Category::SeverelyWasted));
        // Length and arm circumference do not depend on weight.
        assert_eq!(a.length_height_for_age, well.length_height_for_age);
        assert_eq!(a.arm_circumference_for_age, well.arm_circumference_for_age);
    }

    #[test]
    fn categories_follow_the_score_as_shown_to_two_decimals() {
        let with_length_z = |z: f64| Assessment {
            age_days: 400,
            length_height_cm: Some(70.0),
            weight_for_age: None,
            length_height_for_age: Some(Score {
                z,
                implausible: false,
            }),
            weight_for_length_height: None,
            bmi_for_age: None,
            head_circumference_for_age: None,
            arm_circumference_for_age: None,
            oedema: false,
        };
        // Shown as -2.00 SD: not stunted; -2.01 SD is.
        assert_eq!(with_length_z(-2.004).stunting(), Some(Category::Normal));
        assert_eq!(with_length_z(-2.006).stunting(), Some(Category::Stunted));
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
}
