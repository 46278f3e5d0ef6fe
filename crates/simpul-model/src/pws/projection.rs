//! What a monthly report needs of a person, and nothing else: kept by the store beside
//! each patient so that a district's PWS reads these instead of loading a million
//! documents.
//!
//! [`ReportFacts::of`] keeps, of a patient, exactly what [`PwsReport::add`] reads: sex,
//! dates of birth, death and moving out, the KIA book, merge, home facility and village,
//! and the **current** visits with their date, whether transcribed, vitamin A, the ANC
//! fields, the growth and screening measurements, doses and screenings. Names,
//! identifiers, notes and who recorded what stay out. [`ReportFacts::to_patient`] gives
//! the patient back as the report sees it, so the report has one code path: the same
//! counts from a projection as from the record (tested on generated districts).
//!
//! Every field is a plain value (no skipped fields), so compact binary encodings
//! (postcard) round-trip it.
//!
//! [`PwsReport::add`]: super::PwsReport::add

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::facility::FacilityPath;
use crate::ids::RecordId;
use crate::patient::{Address, Identifiers, Patient, Sex};
use crate::visit::{
    Antigen, Immunisation, Instrument, Klaster, Measurements, Screening, ScreeningResult, Setting,
    Visit,
};

/// A person as the monthly reports see them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFacts {
    /// Sex.
    pub sex: Sex,
    /// Date of birth.
    pub birth_date: Date,
    /// Date of death.
    pub died_on: Option<Date>,
    /// Date the person moved out of the area.
    pub moved_out_on: Option<Date>,
    /// Holds a KIA book.
    pub kia_book: bool,
    /// Merged into another record: counted there.
    pub merged_into: Option<RecordId>,
    /// The facility whose area the person lives in.
    pub home_facility: FacilityPath,
    /// Village code.
    pub village: String,
    /// The current visits, in [`Patient::current_visits`] order.
    pub visits: Vec<VisitFacts>,
}

/// A current visit as the reports see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitFacts {
    /// The visit's key in the record (orders visits of one day).
    pub key: String,
    /// Date of the visit.
    pub date: Date,
    /// Copied from the KIA book: history, never a service of the period.
    pub transcribed: bool,
    /// Vitamin A given.
    pub vitamin_a: bool,
    /// ANC visit number.
    pub anc_number: Option<u32>,
    /// Gestational age in weeks.
    pub gestational_weeks: Option<u32>,
    /// Weight (kg).
    pub weight_kg: Option<f64>,
    /// Recumbent length (cm).
    pub length_cm: Option<f64>,
    /// Standing height (cm).
    pub height_cm: Option<f64>,
    /// Bilateral pitting oedema.
    pub oedema: bool,
    /// Systolic blood pressure.
    pub systolic_mmhg: Option<f64>,
    /// Diastolic blood pressure.
    pub diastolic_mmhg: Option<f64>,
    /// Blood glucose.
    pub glucose_mg_dl: Option<f64>,
    /// Doses: antigen and dose number.
    pub doses: Vec<(Antigen, u32)>,
    /// Screenings: instrument, score, result.
    pub screenings: Vec<(Instrument, u32, ScreeningResult)>,
}

impl ReportFacts {
    /// What the reports need of `patient`.
    pub fn of(patient: &Patient) -> Self {
        let visits = patient
            .current_visits()
            .into_iter()
            .map(|(key, v)| {
                let m = &v.measurements;
                VisitFacts {
                    key: key.to_string(),
                    date: v.date,
                    transcribed: v.transcribed,
                    vitamin_a: v.vitamin_a,
                    anc_number: v.anc_number,
                    gestational_weeks: v.gestational_weeks,
                    weight_kg: m.weight_kg,
                    length_cm: m.length_cm,
                    height_cm: m.height_cm,
                    oedema: m.oedema,
                    systolic_mmhg: m.systolic_mmhg,
                    diastolic_mmhg: m.diastolic_mmhg,
                    glucose_mg_dl: m.glucose_mg_dl,
                    doses: v
                        .immunisations
                        .iter()
                        .map(|i| (i.antigen, i.dose))
                        .collect(),
                    screenings: v
                        .screenings
                        .iter()
                        .map(|s| (s.instrument, s.score, s.result))
                        .collect(),
                }
            })
            .collect();
        Self {
            sex: patient.sex,
            birth_date: patient.birth_date,
            died_on: patient.died_on,
            moved_out_on: patient.moved_out_on,
            kia_book: patient.kia_book,
            merged_into: patient.merged_into,
            home_facility: patient.home_facility.clone(),
            village: patient.address.village.clone(),
            visits,
        }
    }

    /// The patient as the reports see them: what [`ReportFacts::of`] kept, everything
    /// else empty. Every visit is current.
    pub fn to_patient(&self) -> Patient {
        let visits = self
            .visits
            .iter()
            .map(|f| {
                let mut v = Visit::new(
                    f.date,
                    self.home_facility.clone(),
                    Klaster::LintasKlaster,
                    Setting::Posyandu,
                    String::new(),
                );
                v.transcribed = f.transcribed;
                v.vitamin_a = f.vitamin_a;
                v.anc_number = f.anc_number;
                v.gestational_weeks = f.gestational_weeks;
                v.measurements = Measurements {
                    weight_kg: f.weight_kg,
                    length_cm: f.length_cm,
                    height_cm: f.height_cm,
                    oedema: f.oedema,
                    systolic_mmhg: f.systolic_mmhg,
                    diastolic_mmhg: f.diastolic_mmhg,
                    glucose_mg_dl: f.glucose_mg_dl,
                    ..Measurements::default()
                };
                v.immunisations = f
                    .doses
                    .iter()
                    .map(|&(antigen, dose)| Immunisation {
                        antigen,
                        dose,
                        lot: None,
                    })
                    .collect();
                v.screenings = f
                    .screenings
                    .iter()
                    .map(|&(instrument, score, result)| Screening {
                        instrument,
                        score,
                        result,
                    })
                    .collect();
                (f.key.clone(), v)
            })
            .collect();
        Patient {
            identifiers: Identifiers::default(),
            name: String::new(),
            sex: self.sex,
            birth_date: self.birth_date,
            address: Address {
                village: self.village.clone(),
                rt: None,
                rw: None,
                line: None,
            },
            home_facility: self.home_facility.clone(),
            mother: None,
            birth_date_estimated: false,
            kia_book: self.kia_book,
            died_on: self.died_on,
            moved_out_on: self.moved_out_on,
            merged_into: self.merged_into,
            visits,
        }
    }
}
