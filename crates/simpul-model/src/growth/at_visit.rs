//! What the kader and the bidan see at the table after a child's visit: the z-scores
//! with their categories, and the month's weighing judged against the last one.

use serde::Serialize;

use super::{Assessment, Category, Progress, Score, assess, progress};
use crate::pws::Month;
use crate::{Date, Measurements, Patient};

/// A child's growth at one visit, as the visit reply shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AtVisit {
    /// Age in days on the visit's date.
    pub age_days: i64,
    /// Length (below 731 days) or height, after the WHO's 0.7 cm rule.
    pub length_height_cm: Option<f64>,
    /// Weight-for-age (BB/U), with its category.
    pub weight_for_age: Option<Scored>,
    /// Length/height-for-age (PB/U, TB/U): stunting.
    pub length_height_for_age: Option<Scored>,
    /// Weight-for-length/height (BB/PB, BB/TB): wasting.
    pub weight_for_length_height: Option<Scored>,
    /// BMI-for-age (IMT/U).
    pub bmi_for_age: Option<Scored>,
    /// Head circumference-for-age.
    pub head_circumference_for_age: Option<Scored>,
    /// Arm circumference (LiLA)-for-age.
    pub arm_circumference_for_age: Option<Scored>,
    /// Bilateral pitting oedema was recorded.
    pub oedema: bool,
    /// The three categories of Permenkes 2/2020 that say how the child is doing
    /// (severe with oedema, where the weight-based scores are left out).
    pub status: Status,
    /// The month's weighing against last month's: N, T, O or B, with 2T and BGM;
    /// `None` when the child was not weighed here that month.
    pub weighing: Option<Weighing>,
}

/// Underweight, stunting and wasting in words; `None` where nothing was measured
/// that tells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Status {
    /// BB/U.
    pub underweight: Option<&'static str>,
    /// PB/U or TB/U.
    pub stunting: Option<&'static str>,
    /// BB/PB or BB/TB.
    pub wasting: Option<&'static str>,
}

/// A z-score rounded to 0.01, whether it is implausible, and its category.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Standard deviations from the median, to two decimals.
    pub z: f64,
    /// Outside the WHO's plausible range: check the measurement.
    pub implausible: bool,
    /// The Permenkes 2/2020 category, where the indicator has one and the score is
    /// plausible.
    pub category: Option<&'static str>,
}

/// The month's weighing, in the letters of the KMS.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weighing {
    /// `N`, `T`, `O` or `B`.
    pub trend: &'static str,
    /// Grams gained since last month's weighing; null for O and B.
    pub gain_g: Option<i64>,
    /// The minimum gain for the child's age; null for O and B.
    pub minimum_g: Option<u32>,
    /// Two T in a row: refer to the puskesmas.
    pub two_t: bool,
    /// Below the red line.
    pub bgm: bool,
}

impl From<Progress> for Weighing {
    fn from(p: Progress) -> Self {
        Self {
            trend: p.trend.letter(),
            gain_g: p.gain_g,
            minimum_g: p.minimum_g,
            two_t: p.two_t,
            bgm: p.below_red_line,
        }
    }
}

/// The growth of `patient` at a visit on `date` with `measurements` (the patient as
/// stored with that visit), or `None` before birth and past five years.
pub fn at_visit(patient: &Patient, date: Date, measurements: &Measurements) -> Option<AtVisit> {
    let a = assess(patient.sex, patient.birth_date, date, measurements)?;
    let scored = |s: Option<Score>, category: Option<Category>| {
        s.map(|s| Scored {
            z: s.shown(),
            implausible: s.implausible,
            category: category.map(Category::label),
        })
    };
    let Assessment {
        age_days,
        length_height_cm,
        ..
    } = a;
    Some(AtVisit {
        age_days,
        length_height_cm,
        weight_for_age: scored(a.weight_for_age, a.underweight()),
        length_height_for_age: scored(a.length_height_for_age, a.stunting()),
        weight_for_length_height: scored(a.weight_for_length_height, a.wasting()),
        bmi_for_age: scored(a.bmi_for_age, a.bmi_status()),
        head_circumference_for_age: scored(a.head_circumference_for_age, None),
        arm_circumference_for_age: scored(a.arm_circumference_for_age, None),
        oedema: a.oedema,
        status: Status {
            underweight: a.underweight().map(Category::label),
            stunting: a.stunting().map(Category::label),
            wasting: a.wasting().map(Category::label),
        },
        weighing: progress(patient, Month::of(date))
            .filter(|p| p.date == date)
            .map(Weighing::from),
    })
}

impl AtVisit {
    /// One line for the terminal: age, the three indicators of stunting, wasting and
    /// underweight with their categories, oedema, and the weighing; `None` when
    /// nothing was measured that the standards take.
    pub fn line(&self) -> Option<String> {
        let show = |name: &str, s: Option<Scored>| {
            s.map(|s| {
                let verdict = match (s.implausible, s.category) {
                    (true, _) => "implausible: check the measurement",
                    (false, Some(c)) => c,
                    (false, None) => "",
                };
                format!("{name} {:+.2} SD {verdict}", s.z)
            })
        };
        let mut parts: Vec<String> = [
            show("weight-for-age", self.weight_for_age),
            show("length/height-for-age", self.length_height_for_age),
            show("weight-for-length/height", self.weight_for_length_height),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.oedema {
            parts.push("oedema: severely wasted, refer".into());
        }
        if let Some(w) = self.weighing {
            let mut text = match (w.gain_g, w.minimum_g) {
                (Some(gain), Some(min)) => {
                    format!("weighing {} ({gain:+} g, minimum {min} g)", w.trend)
                }
                _ => format!("weighing {}", w.trend),
            };
            if w.two_t {
                text.push_str(", 2T: refer to the puskesmas");
            }
            if w.bgm {
                text.push_str(", BGM: below the red line, refer");
            }
            parts.push(text);
        }
        (!parts.is_empty()).then(|| {
            format!(
                "growth at {} months: {}",
                self.age_days * 12 / 365,
                parts.join("; ")
            )
        })
    }
}
