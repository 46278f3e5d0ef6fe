//! Validation of everything that enters a node: from the CLI, an API, a file or a peer.
//!
//! Every rule names the field it concerns. All errors of a value are collected, so a
//! person fixing a form sees every problem at once.
//!
//! Two levels ([`Check`]): **structure** is what every node demands of every record,
//! however it arrived (shapes, identifiers, codes, bounded texts, scope); a replica
//! checks only that, so a validly signed record can never get stuck between nodes
//! over a value one of them finds odd. **Plausibility** adds the ranges and dates a
//! writer is asked to confirm at entry (a weight of 80 kg for a child, a visit
//! tomorrow, antenatal care for a man): the interfaces check it on what a write adds,
//! and store it anyway when the writer confirms.

use std::fmt;

use crate::activity::Activity;
use crate::audit::AuditLog;
use crate::codes::{VillageCode, check_bpjs, check_kk, normalize_rt_rw};
use crate::date::Date;
use crate::nik::Nik;
use crate::patient::{Patient, Sex};
use crate::registry::FacilityEntry;
use crate::scope::{Audience, Scope};
use crate::submission::SubmissionLedger;
use crate::visit::{Measurements, Visit};

/// One rejected field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `visits.0a1b….measurements.weight_kg`.
    pub field: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Every field error found in a value; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

impl ValidationErrors {
    /// True when a field of this name was rejected.
    pub fn has_field(&self, field: &str) -> bool {
        self.0.iter().any(|e| e.field == field)
    }
}

/// How much a validation asks of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    /// Structure and plausibility: what a writer must meet, or confirm, at entry.
    #[default]
    Plausible,
    /// Structure only: what a replica demands of a record it receives.
    Structure,
}

/// Collects field errors under a common prefix.
#[derive(Default)]
struct Checker {
    prefix: String,
    errors: Vec<FieldError>,
    check: Check,
}

impl Checker {
    fn new(check: Check) -> Self {
        Self {
            check,
            ..Self::default()
        }
    }

    fn with_prefix(prefix: impl Into<String>, check: Check) -> Self {
        Self {
            prefix: prefix.into(),
            errors: Vec::new(),
            check,
        }
    }

    /// A value that is well-formed but unlikely: an error only when plausibility is
    /// checked.
    fn implausible(&mut self, field: &str, reason: impl Into<String>) {
        if self.check == Check::Plausible {
            self.fail(field, reason);
        }
    }

    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        let field = if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        };
        self.errors.push(FieldError {
            field,
            reason: reason.into(),
        });
    }

    fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(reason) = result {
            self.fail(field, reason);
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, format!("longer than {max} characters"));
        } else if value.chars().any(|c| c.is_control()) {
            self.fail(field, "contains control characters");
        }
    }

    fn date(&mut self, field: &str, value: Date, earliest: Date, today: Date) {
        if value > today {
            self.implausible(
                field,
                format!("{value} is in the future (today is {today})"),
            );
        } else if value < earliest {
            self.implausible(field, format!("{value} is before {earliest}"));
        }
    }

    fn range(&mut self, field: &str, value: Option<f64>, min: f64, max: f64, unit: &str) {
        let Some(v) = value else { return };
        if !v.is_finite() {
            self.fail(field, format!("{v} is not a number"));
        } else if v < min || v > max {
            self.implausible(
                field,
                format!("{v} {unit} is outside the plausible range {min}–{max} {unit}"),
            );
        }
    }

    fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }

    fn absorb(&mut self, other: Result<(), ValidationErrors>) {
        if let Err(e) = other {
            self.errors.extend(e.0);
        }
    }
}

/// The earliest birth date accepted.
pub fn earliest_birth_date() -> Date {
    Date::from_ymd(1900, 1, 1).unwrap_or_else(|| unreachable!("1900-01-01 exists"))
}

/// Checks a patient's identity, demographics and every visit.
///
/// `today` is the node's current date (dates after it are rejected). NIK agreement with
/// sex and birth date is checked separately by [`check_nik_agreement`], because a NIK that
/// disagrees is sometimes the truth on the card and may be accepted knowingly.
pub fn validate_patient(patient: &Patient, today: Date) -> Result<(), ValidationErrors> {
    validate_patient_as(patient, today, Check::Plausible)
}

/// [`validate_patient`] at the level `check`.
pub fn validate_patient_as(
    patient: &Patient,
    today: Date,
    check: Check,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::new(check);
    c.absorb(validate_details(patient, today, check));
    for (id, visit) in &patient.visits {
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            c.fail(
                &format!("visits.{id}"),
                "visit key is not a 16-hex-digit visit id",
            );
        }
        if let Some(old) = &visit.supersedes
            && !patient.visits.contains_key(old)
        {
            c.fail(
                &format!("visits.{id}.supersedes"),
                format!("no visit {old} to correct"),
            );
        }
        c.absorb(validate_visit_as(
            visit,
            patient,
            today,
            &format!("visits.{id}"),
            check,
        ));
    }
    c.finish()
}

/// Checks a patient's identity, demographics and status, not the visits: what a
/// correction of a person's details must meet.
pub fn validate_details(
    patient: &Patient,
    today: Date,
    check: Check,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::new(check);
    let ids = &patient.identifiers;
    if let Some(nik) = &ids.nik {
        c.check("identifiers.nik", Nik::parse(nik).map(drop));
    }
    if let Some(nik_ibu) = &ids.nik_ibu {
        match Nik::parse(nik_ibu) {
            Ok(n) if n.sex() != Sex::Female => c.fail(
                "identifiers.nik_ibu",
                "encodes a man, not a mother (day of birth < 41)",
            ),
            Ok(_) => {}
            Err(e) => c.fail("identifiers.nik_ibu", e),
        }
    }
    match ids.birth_order {
        Some(n) if ids.nik_ibu.is_none() => c.fail(
            "identifiers.birth_order",
            format!("{n} given without nik_ibu"),
        ),
        Some(0) | Some(11..) => c.fail("identifiers.birth_order", "must be from 1 to 10"),
        _ => {}
    }
    if let Some(kk) = &ids.kk {
        c.check("identifiers.kk", check_kk(kk));
    }
    if let Some(bpjs) = &ids.bpjs {
        c.check("identifiers.bpjs", check_bpjs(bpjs));
    }
    if let Some(ihs) = &ids.ihs {
        c.check("identifiers.ihs", check_ihs(ihs));
    }
    c.text("name", &patient.name, 200);
    c.date(
        "birth_date",
        patient.birth_date,
        earliest_birth_date(),
        today,
    );
    for (field, date) in [
        ("died_on", patient.died_on),
        ("moved_out_on", patient.moved_out_on),
    ] {
        if let Some(date) = date {
            c.date(field, date, patient.birth_date, today);
        }
    }
    c.check(
        "address.village",
        VillageCode::parse(&patient.address.village).map(drop),
    );
    for (field, value) in [
        ("address.rt", &patient.address.rt),
        ("address.rw", &patient.address.rw),
    ] {
        if let Some(v) = value {
            match normalize_rt_rw(v) {
                Ok(n) if &n == v => {}
                Ok(n) => c.fail(field, format!("{v:?} must be stored as {n:?}")),
                Err(e) => c.fail(field, e),
            }
        }
    }
    if let Some(line) = &patient.address.line {
        c.text("address.line", line, 300);
    }
    c.finish()
}

/// Checks that the NIK agrees with the stated sex and birth date (only the sex when
/// the birth date is an estimate).
pub fn check_nik_agreement(patient: &Patient) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    if let Some(nik) = &patient.identifiers.nik
        && let Ok(n) = Nik::parse(nik)
    {
        let agreement = if patient.birth_date_estimated {
            n.check_sex(patient.sex)
        } else {
            n.check_against(patient.sex, patient.birth_date)
        };
        c.check("identifiers.nik", agreement);
    }
    c.finish()
}

/// The most diagnoses one visit records.
pub const MAX_DIAGNOSES: usize = 12;

/// An ICD-10 code as SATUSEHAT takes them: a letter, two digits, and optionally a point
/// and one to four more digits or letters (`A15.0`, `E11.9`, `O80`).
pub fn is_icd10(code: &str) -> bool {
    let b = code.as_bytes();
    let head =
        b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
    head && match &b[3..] {
        [] => true,
        [b'.', rest @ ..] => {
            (1..=4).contains(&rest.len())
                && rest
                    .iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        }
        _ => false,
    }
}

/// Checks one visit of `patient`; field names start with `prefix`.
pub fn validate_visit(
    visit: &Visit,
    patient: &Patient,
    today: Date,
    prefix: &str,
) -> Result<(), ValidationErrors> {
    validate_visit_as(visit, patient, today, prefix, Check::Plausible)
}

/// [`validate_visit`] at the level `check`.
pub fn validate_visit_as(
    visit: &Visit,
    patient: &Patient,
    today: Date,
    prefix: &str,
    check: Check,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::with_prefix(prefix, check);
    c.date("date", visit.date, patient.birth_date, today);
    c.text("recorded_by", &visit.recorded_by, 100);
    if let Some(nik) = &visit.recorder_nik {
        c.check("recorder_nik", Nik::parse(nik).map(drop));
    }
    let age_months = patient.age_months(visit.date);
    check_measurements(&mut c, &visit.measurements, age_months);
    for (i, imm) in visit.immunisations.iter().enumerate() {
        if !(1..=6).contains(&imm.dose) {
            c.implausible(
                &format!("immunisations.{i}.dose"),
                format!("{} is not a dose from 1 to 6", imm.dose),
            );
        }
        if let Some(lot) = &imm.lot {
            c.text(&format!("immunisations.{i}.lot"), lot, 40);
        }
    }
    if visit.diagnoses.len() > MAX_DIAGNOSES {
        c.fail(
            "diagnoses",
            format!("more than {MAX_DIAGNOSES} diagnoses at one visit"),
        );
    }
    for (i, code) in visit.diagnoses.iter().enumerate() {
        if !is_icd10(code) {
            c.fail(
                &format!("diagnoses.{i}"),
                format!("{code:?} is not an ICD-10 code (a letter, two digits, and optionally a point and up to four more: A15.0)"),
            );
        } else if visit.diagnoses[..i].contains(code) {
            c.fail(&format!("diagnoses.{i}"), format!("{code} is given twice"));
        }
    }
    for (i, s) in visit.screenings.iter().enumerate() {
        if s.score > s.instrument.max_score() {
            c.implausible(
                &format!("screenings.{i}.score"),
                format!(
                    "{} is above the {} maximum of {}",
                    s.score,
                    s.instrument,
                    s.instrument.max_score()
                ),
            );
        }
    }
    if visit.anc_number.is_some() || visit.gestational_weeks.is_some() {
        if patient.sex != Sex::Female {
            c.implausible("anc_number", "antenatal care recorded for a man");
        } else if !(10 * 12..=55 * 12).contains(&age_months) {
            c.implausible(
                "anc_number",
                format!("antenatal care at age {} years", age_months / 12),
            );
        }
    }
    if let Some(n) = visit.anc_number
        && !(1..=12).contains(&n)
    {
        c.implausible(
            "anc_number",
            format!("{n} is not an ANC contact from 1 to 12"),
        );
    }
    if let Some(w) = visit.gestational_weeks
        && !(1..=45).contains(&w)
    {
        c.implausible("gestational_weeks", format!("{w} weeks is not a pregnancy"));
    }
    if let Some(note) = &visit.note {
        c.text("note", note, 2000);
    }
    if let Some(mark) = &visit.entered_in_error {
        c.text("entered_in_error.reason", &mark.reason, 500);
        c.text("entered_in_error.by", &mark.by, 100);
    }
    c.finish()
}

fn check_measurements(c: &mut Checker, m: &Measurements, age_months: i32) {
    let under_five = age_months < 60;
    let (w_min, w_max) = if under_five {
        (0.4, 40.0)
    } else {
        (2.0, 300.0)
    };
    c.range("measurements.weight_kg", m.weight_kg, w_min, w_max, "kg");
    if m.length_cm.is_some() && age_months >= 36 {
        c.implausible(
            "measurements.length_cm",
            "lying length is measured under 36 months; use height_cm",
        );
    }
    c.range("measurements.length_cm", m.length_cm, 30.0, 120.0, "cm");
    let (h_min, h_max) = if under_five {
        (40.0, 130.0)
    } else {
        (50.0, 250.0)
    };
    c.range("measurements.height_cm", m.height_cm, h_min, h_max, "cm");
    c.range(
        "measurements.head_circumference_cm",
        m.head_circumference_cm,
        20.0,
        65.0,
        "cm",
    );
    c.range("measurements.muac_cm", m.muac_cm, 5.0, 60.0, "cm");
    c.range("measurements.waist_cm", m.waist_cm, 30.0, 250.0, "cm");
    c.range(
        "measurements.systolic_mmhg",
        m.systolic_mmhg,
        50.0,
        300.0,
        "mmHg",
    );
    c.range(
        "measurements.diastolic_mmhg",
        m.diastolic_mmhg,
        20.0,
        200.0,
        "mmHg",
    );
    if let (Some(s), Some(d)) = (m.systolic_mmhg, m.diastolic_mmhg)
        && s <= d
    {
        c.implausible(
            "measurements.diastolic_mmhg",
            format!("{d} mmHg is not below systolic {s} mmHg"),
        );
    }
    if m.systolic_mmhg.is_some() != m.diastolic_mmhg.is_some() {
        c.implausible(
            "measurements.systolic_mmhg",
            "blood pressure needs both systolic and diastolic",
        );
    }
    c.range(
        "measurements.glucose_mg_dl",
        m.glucose_mg_dl,
        10.0,
        1000.0,
        "mg/dL",
    );
    c.range("measurements.hb_g_dl", m.hb_g_dl, 2.0, 25.0, "g/dL");
}

/// Checks an activity record.
pub fn validate_activity(
    activity: &Activity,
    today: Date,
    check: Check,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::new(check);
    c.date("date", activity.date, earliest_birth_date(), today);
    for (id, by) in &activity.attendance {
        if id.parse::<crate::RecordId>().is_err() {
            c.fail(&format!("attendance.{id}"), "not a record id");
        }
        c.text(&format!("attendance.{id}"), by, 100);
    }
    if let Some(note) = &activity.note {
        c.text("note", note, 2000);
    }
    c.finish()
}

/// Checks a day of an audit trail: kept by the facility its scope names, travelling up,
/// dated no later than today, every entry well-formed.
pub fn validate_audit(
    log: &AuditLog,
    scope: &Scope,
    today: Date,
    check: Check,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::new(check);
    if scope.audience != Audience::Up || scope.paths.as_slice() != [log.facility.clone()] {
        c.fail(
            "scope",
            format!(
                "an audit record is held by {} and upward alone",
                log.facility
            ),
        );
    }
    c.date("date", log.date, earliest_birth_date(), today);
    for (key, entry) in &log.entries {
        let mut e = Checker::with_prefix(format!("entries.{key}"), check);
        e.text("who", &entry.who, 200);
        if !matches!(entry.via.as_str(), "api" | "cli") {
            e.fail("via", format!("`{}` is neither api nor cli", entry.via));
        }
        if let Some(detail) = &entry.detail {
            e.text("detail", detail, 2000);
        }
        c.absorb(e.finish());
    }
    c.finish()
}

/// Checks a facility registry entry: held by the whole district it lies in (written
/// by the district alone), and its fields ([`FacilityEntry::check`]).
pub fn validate_facility(entry: &FacilityEntry, scope: &Scope) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    if *scope != entry.scope() {
        c.fail(
            "scope",
            format!(
                "a registry entry is held down from its district {} alone",
                entry.path.district()
            ),
        );
    }
    if let Err(e) = entry.check() {
        let (field, reason) = e.split_once(": ").unwrap_or(("facility", e.as_str()));
        c.fail(field, reason.to_string());
    }
    c.finish()
}

/// Checks a SATUSEHAT submission ledger: held up from its submitter alone, and its
/// fields ([`SubmissionLedger::check`]).
pub fn validate_submission(
    ledger: &SubmissionLedger,
    scope: &Scope,
) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    if *scope != ledger.scope() {
        c.fail(
            "scope",
            format!(
                "a submission ledger is held up from its submitter {} alone",
                ledger.submitter
            ),
        );
    }
    if let Err(e) = ledger.check() {
        let (field, reason) = e.split_once(": ").unwrap_or(("submission", e.as_str()));
        c.fail(field, reason.to_string());
    }
    c.finish()
}

/// Checks a scope's shape.
pub fn validate_scope(scope: &Scope) -> Result<(), ValidationErrors> {
    let mut c = Checker::default();
    c.check("scope", scope.check());
    c.finish()
}

/// An IHS number: a FHIR id (the platform issues `P02478375538` and, earlier, plain
/// digits).
fn check_ihs(ihs: &str) -> Result<(), String> {
    if is_fhir_id(ihs) {
        Ok(())
    } else {
        Err(format!("{ihs:?} is not an IHS number (a FHIR id)"))
    }
}

/// A FHIR `id`: 1 to 64 of `A-Z a-z 0-9 - .` (FHIR R4, datatypes). The platform's
/// ids (IHS numbers, Organization and Location ids) are of this form.
pub fn is_fhir_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}
