//! What one person's record adds to a PWS row: their counts for the month and period.

use std::collections::BTreeMap;

use super::month::Month;
use super::row::{Counts, PwsRow};
use super::schedule::{COMPLETE_BASIC, Dose, SCHEDULE, target_age};
use crate::date::Date;
use crate::growth::{self, Category, Trend};
use crate::patient::{Patient, Sex};
use crate::visit::Visit;

/// The oldest under-five, in completed months.
const UNDER_FIVE_MAX_MONTHS: i32 = 59;
/// Adults screened from 15 years.
const ADULT_MIN_YEARS: i32 = 15;
/// Elderly from 60 years.
const ELDERLY_MIN_YEARS: i32 = 60;
/// Women of at least this age given vitamin A are counted as nifas mothers.
const NIFAS_MIN_YEARS: i32 = 10;

/// Adds `patient`'s counts for `month`, with services counted from `first` (the first
/// month of the period) to the month's end, into `row`.
pub(super) fn count(patient: &Patient, month: Month, first: Month, row: &mut PwsRow) {
    let end = month.last_day();
    let c = &mut row.counts;
    let resident = patient.resident_on(end);
    let age = patient.age_months(end);
    let under_five = resident && (0..=UNDER_FIVE_MAX_MONTHS).contains(&age);
    // Read once: sorting out superseded visits is the costly part of a person.
    let visits = patient.current_visits();
    if under_five {
        skdn(patient, &visits, month, c);
        nutrition(patient, &visits, month, c);
    }
    if resident {
        c.aged_6_11 += u32::from((6..=11).contains(&age));
        c.aged_12_59 += u32::from((12..=59).contains(&age));
        // Under one on some day of the period: the first birthday falls after its
        // first day.
        c.infants += u32::from(patient.birth_date.add_months(12) > first.first_day());
        let years = age.div_euclid(12);
        c.residents_15_59 += u32::from((ADULT_MIN_YEARS..ELDERLY_MIN_YEARS).contains(&years));
        c.residents_60_plus += u32::from(years >= ELDERLY_MIN_YEARS);
    }
    let period = (first.first_day(), end);
    services(patient, &visits, period, row);
    complete_basic(patient, &visits, period, &mut row.counts);
}

/// S, K, D, N, T, O, B, BGM, 2T of an under-five living in the area.
fn skdn(patient: &Patient, visits: &[(&str, &Visit)], month: Month, c: &mut Counts) {
    c.s += 1;
    c.k += u32::from(patient.kia_book);
    let Some(progress) = growth::progress_in(patient, visits, month) else {
        return;
    };
    c.d += 1;
    match progress.trend {
        Trend::Gained => c.n += 1,
        Trend::NotGained => c.t += 1,
        Trend::AfterAGap => c.o += 1,
        Trend::First => c.b += 1,
    }
    c.bgm += u32::from(progress.below_red_line);
    c.two_t += u32::from(progress.two_t);
}

/// Stunting, wasting and underweight by age band, from the month's latest visit seen
/// here with a weight or a length/height.
fn nutrition(patient: &Patient, visits: &[(&str, &Visit)], month: Month, c: &mut Counts) {
    let latest = here(visits)
        .filter(|v| month.contains(v.date))
        .filter(|v| {
            let m = &v.measurements;
            m.weight_kg.is_some() || m.length_cm.is_some() || m.height_cm.is_some()
        })
        .last();
    let Some(visit) = latest else {
        return;
    };
    let Some(a) = growth::assess(
        patient.sex,
        patient.birth_date,
        visit.date,
        &visit.measurements,
    ) else {
        return;
    };
    let measured = u32::from(a.stunting().is_some());
    let stunted = u32::from(matches!(
        a.stunting(),
        Some(Category::Stunted | Category::SeverelyStunted)
    ));
    let wasted = u32::from(matches!(
        a.wasting(),
        Some(Category::Wasted | Category::SeverelyWasted)
    ));
    let underweight = u32::from(matches!(
        a.underweight(),
        Some(Category::Underweight | Category::SeverelyUnderweight)
    ));
    let band = match patient.age_months(visit.date) {
        0..=5 => [
            &mut c.measured_0_5,
            &mut c.stunted_0_5,
            &mut c.wasted_0_5,
            &mut c.underweight_0_5,
        ],
        6..=11 => [
            &mut c.measured_6_11,
            &mut c.stunted_6_11,
            &mut c.wasted_6_11,
            &mut c.underweight_6_11,
        ],
        12..=23 => [
            &mut c.measured_12_23,
            &mut c.stunted_12_23,
            &mut c.wasted_12_23,
            &mut c.underweight_12_23,
        ],
        _ => [
            &mut c.measured_24_59,
            &mut c.stunted_24_59,
            &mut c.wasted_24_59,
            &mut c.underweight_24_59,
        ],
    };
    for (slot, n) in band
        .into_iter()
        .zip([measured, stunted, wasted, underweight])
    {
        *slot += n;
    }
}

/// Vitamin A, doses and screenings given here in the period.
fn services(
    patient: &Patient,
    visits: &[(&str, &Visit)],
    (from, to): (Date, Date),
    row: &mut PwsRow,
) {
    let mut blue = false;
    let mut red = false;
    let mut nifas = false;
    let mut screened_adult = false;
    let mut screened_elderly = false;
    let mut doses: BTreeMap<Dose, Date> = BTreeMap::new();
    for visit in here(visits).filter(|v| (from..=to).contains(&v.date)) {
        let months = patient.age_months(visit.date);
        let years = months.div_euclid(12);
        if visit.vitamin_a {
            blue |= (6..=11).contains(&months);
            red |= (12..=59).contains(&months);
            nifas |= patient.sex == Sex::Female && years >= NIFAS_MIN_YEARS;
        }
        if is_screening(visit) {
            screened_adult |= (ADULT_MIN_YEARS..ELDERLY_MIN_YEARS).contains(&years);
            screened_elderly |= years >= ELDERLY_MIN_YEARS;
        }
        for i in &visit.immunisations {
            let dose = Dose {
                antigen: i.antigen,
                number: i.dose,
            };
            // The same dose entered twice counts once, on its first day.
            doses.entry(dose).or_insert(visit.date);
        }
    }
    let c = &mut row.counts;
    c.vitamin_a_6_11 += u32::from(blue);
    c.vitamin_a_12_59 += u32::from(red);
    c.vitamin_a_nifas += u32::from(nifas);
    c.screened_15_59 += u32::from(screened_adult);
    c.screened_60_plus += u32::from(screened_elderly);
    for (dose, date) in doses {
        let days = patient.birth_date.days_until(date);
        let months = patient.age_months(date);
        let on_time = target_age(dose).is_some_and(|t| t.contains(days, months));
        match SCHEDULE.iter().position(|(d, _)| *d == dose) {
            Some(at) if on_time => row.doses[at] += 1,
            _ => row.counts.doses_outside_target += 1,
        }
    }
}

/// IDL: every dose of [`COMPLETE_BASIC`] before the first birthday (transcribed doses
/// count), the last of them given here within the period.
fn complete_basic(
    patient: &Patient,
    visits: &[(&str, &Visit)],
    (from, to): (Date, Date),
    c: &mut Counts,
) {
    let first_birthday = patient.birth_date.add_months(12);
    let mut earliest: BTreeMap<Dose, (Date, bool)> = BTreeMap::new();
    for (_, visit) in visits {
        for i in &visit.immunisations {
            let dose = Dose {
                antigen: i.antigen,
                number: i.dose,
            };
            let seen = (visit.date, visit.transcribed);
            earliest
                .entry(dose)
                .and_modify(|e| *e = (*e).min(seen))
                .or_insert(seen);
        }
    }
    let mut completed: Option<(Date, bool)> = None;
    for dose in COMPLETE_BASIC {
        let Some(&(date, transcribed)) = earliest.get(&dose) else {
            return;
        };
        if date >= first_birthday {
            return;
        }
        completed = Some(completed.map_or((date, transcribed), |c| c.max((date, transcribed))));
    }
    if let Some((date, transcribed)) = completed
        && !transcribed
        && (from..=to).contains(&date)
    {
        c.complete_basic += 1;
    }
}

/// The visits among `visits` seen or given here (not transcribed), in their order.
fn here<'a>(visits: &'a [(&'a str, &'a Visit)]) -> impl Iterator<Item = &'a Visit> {
    visits.iter().map(|(_, v)| *v).filter(|v| !v.transcribed)
}

/// A screening questionnaire, a blood pressure or a glucose, outside an antenatal
/// contact (those belong to the ANC indicators).
fn is_screening(visit: &Visit) -> bool {
    let m = &visit.measurements;
    let anc = visit.anc_number.is_some() || visit.gestational_weeks.is_some();
    !anc && (!visit.screenings.is_empty()
        || m.systolic_mmhg.is_some()
        || m.diastolic_mmhg.is_some()
        || m.glucose_mg_dl.is_some())
}
