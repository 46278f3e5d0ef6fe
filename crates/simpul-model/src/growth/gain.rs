//! The monthly weighing of the posyandu: did the child gain enough since last month's
//! weighing (N, *naik*) or not (T, *tidak naik*), twice not in a row (2T), below the red
//! line (BGM), and who is weighed for the first time (B) or after a gap (O).
//!
//! The rules are the buku KIA's (Kemenkes, print edition of 6 May 2023, page 54):
//! *naik* is a weight that follows the growth line **or gains at least the minimum gain
//! (KBM, kenaikan berat badan minimal)**; the book uses the KBM when the curve's
//! direction is in doubt. A node cannot see a curve, so the KBM decides here, always.
//!
//! The KBM row of the book reads 800, 900, 800, 600, 500, 400, 300 and 200 g over its
//! merged cells for 0–24 months. Where the 400 g and 300 g cells end (months 7 and 11)
//! could not be read from the book itself; the KMS copies in use (two of three seen) put
//! month 7 at 300 g and month 11 at 200 g, and carry 200 g to 59 months, and so does
//! [`minimum_gain_g`]. docs/growth.md says so.
//!
//! The red line of the current KMS is taken as weight-for-age −3 SD, the lower edge of
//! Permenkes 2/2020's *berat badan sangat kurang*: the book names the line but not its
//! z-score.

use std::collections::BTreeMap;

use super::Indicator;
use crate::pws::Month;
use crate::{Date, Patient, Visit};

/// The minimum gain (g) for a child aged 1, 2, … 11 completed months at the weighing;
/// from 12 to 59 months it is [`KBM_FROM_ONE_YEAR_G`]. A child weighed twice within
/// its first month takes the first month's row.
const KBM_FIRST_YEAR_G: [u32; 11] = [800, 900, 800, 600, 500, 400, 300, 300, 300, 300, 200];

/// The minimum gain (g) from 12 to 59 months.
const KBM_FROM_ONE_YEAR_G: u32 = 200;

/// The weight-for-age z-score of the KMS red line (BGM below it).
pub const RED_LINE_Z: f64 = -3.0;

/// The minimum monthly gain in grams for a child aged `age_months` completed months at
/// the weighing, or `None` past 59 months (or before birth).
pub fn minimum_gain_g(age_months: i32) -> Option<u32> {
    match age_months {
        0 => Some(KBM_FIRST_YEAR_G[0]),
        1..=11 => Some(KBM_FIRST_YEAR_G[(age_months - 1) as usize]),
        12..=59 => Some(KBM_FROM_ONE_YEAR_G),
        _ => None,
    }
}

/// How a weighing compares with the month before, in the posyandu's SKDN letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// N: weighed last month too, and gained at least the minimum.
    Gained,
    /// T: weighed last month too, and gained less than the minimum (or lost).
    NotGained,
    /// O: not weighed last month, but weighed before.
    AfterAGap,
    /// B: weighed for the first time.
    First,
}

impl Trend {
    /// The SKDN letter: `N`, `T`, `O` or `B`.
    pub fn letter(self) -> &'static str {
        match self {
            Trend::Gained => "N",
            Trend::NotGained => "T",
            Trend::AfterAGap => "O",
            Trend::First => "B",
        }
    }
}

/// A child's weighing of one month, judged against the month before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// The day of the month's weighing (the latest, when there were several).
    pub date: Date,
    /// Its weight, kg.
    pub weight_kg: f64,
    /// N, T, O or B.
    pub trend: Trend,
    /// Grams gained since last month's weighing (negative for a loss), at the scale's
    /// 0.1 kg precision; `None` for O and B.
    pub gain_g: Option<i64>,
    /// The minimum the child had to gain; `None` for O and B.
    pub minimum_g: Option<u32>,
    /// T this month and T last month (two not-gained in a row).
    pub two_t: bool,
    /// Weight-for-age below the red line ([`RED_LINE_Z`]).
    pub below_red_line: bool,
}

/// A weighing that counts: on a current visit, seen here or transcribed.
#[derive(Debug, Clone, Copy)]
struct Weighing {
    date: Date,
    weight_kg: f64,
    transcribed: bool,
}

/// Each calendar month's latest weighing among `visits` (a weighing seen here wins over
/// a transcribed one of the same month).
fn monthly_weighings(visits: &[(&str, &Visit)]) -> BTreeMap<Month, Weighing> {
    let mut months: BTreeMap<Month, Weighing> = BTreeMap::new();
    // Oldest first: a later weighing of the same month replaces an earlier one.
    for (_, visit) in visits {
        let Some(weight_kg) = visit.measurements.weight_kg else {
            continue;
        };
        let weighing = Weighing {
            date: visit.date,
            weight_kg,
            transcribed: visit.transcribed,
        };
        let slot = months.entry(Month::of(visit.date)).or_insert(weighing);
        if !weighing.transcribed || slot.transcribed {
            *slot = weighing;
        }
    }
    months
}

/// The child's weighing in `month`, or `None` when it was not weighed here that month
/// (a transcribed weighing is history, not a weighing of the month) or is not an
/// under-five on that day.
pub fn progress(patient: &Patient, month: Month) -> Option<Progress> {
    progress_in(patient, &patient.current_visits(), month)
}

/// [`progress`] from the patient's [current visits](Patient::current_visits), for a
/// caller that already holds them (a report reads them once per person).
pub fn progress_in(patient: &Patient, visits: &[(&str, &Visit)], month: Month) -> Option<Progress> {
    let weighings = monthly_weighings(visits);
    let this = weighings.get(&month).filter(|w| !w.transcribed)?;
    let age_months = patient.age_months(this.date);
    minimum_gain_g(age_months)?;
    let trend_of = |m: Month| -> Option<(Trend, Option<i64>, Option<u32>)> {
        let now = weighings.get(&m)?;
        let Some(before) = weighings.get(&m.previous()) else {
            let first = weighings.range(..m).next().is_none();
            let trend = if first {
                Trend::First
            } else {
                Trend::AfterAGap
            };
            return Some((trend, None, None));
        };
        let gain_g = (tenths(now.weight_kg) - tenths(before.weight_kg)) * 100;
        let minimum = minimum_gain_g(patient.age_months(now.date))?;
        let trend = if gain_g >= i64::from(minimum) {
            Trend::Gained
        } else {
            Trend::NotGained
        };
        Some((trend, Some(gain_g), Some(minimum)))
    };
    let (trend, gain_g, minimum_g) = trend_of(month)?;
    let two_t = trend == Trend::NotGained
        && matches!(trend_of(month.previous()), Some((Trend::NotGained, ..)));
    let age_days = patient.birth_date.days_until(this.date);
    let below_red_line = Indicator::WeightForAge
        .z(patient.sex, age_days as f64, this.weight_kg)
        .is_some_and(|s| !s.implausible && s.shown() < RED_LINE_Z);
    Some(Progress {
        date: this.date,
        weight_kg: this.weight_kg,
        trend,
        gain_g,
        minimum_g,
        two_t,
        below_red_line,
    })
}

/// A weight in whole tenths of a kilogram, the precision of posyandu scales.
fn tenths(kg: f64) -> i64 {
    (kg * 10.0).round() as i64
}

/// Why a child needs the bidan after `month`'s posyandu: `2T` and `BGM` from the
/// month's weighing, and `stunted`, `severely stunted` or `severely wasted` from the
/// latest measurement seen here up to the month's end. Empty when nothing calls for
/// follow-up (or the child is past five years).
pub fn follow_up(patient: &Patient, month: Month) -> Vec<&'static str> {
    let mut reasons = Vec::new();
    let visits = patient.current_visits();
    if let Some(p) = progress_in(patient, &visits, month) {
        if p.two_t {
            reasons.push("2T");
        }
        if p.below_red_line {
            reasons.push("BGM");
        }
    }
    let end = month.last_day();
    let latest = |wanted: fn(&crate::Measurements) -> bool| {
        visits
            .iter()
            .rev()
            .map(|(_, v)| *v)
            .find(|v| !v.transcribed && v.date <= end && wanted(&v.measurements))
            .and_then(|v| super::assess(patient.sex, patient.birth_date, v.date, &v.measurements))
    };
    if let Some(a) = latest(|m| m.length_cm.is_some() || m.height_cm.is_some()) {
        match a.stunting() {
            Some(super::Category::SeverelyStunted) => reasons.push("severely stunted"),
            Some(super::Category::Stunted) => reasons.push("stunted"),
            _ => {}
        }
    }
    if let Some(a) = latest(|m| m.weight_kg.is_some() || m.oedema)
        && a.wasting() == Some(super::Category::SeverelyWasted)
    {
        reasons.push("severely wasted");
    }
    reasons
}
