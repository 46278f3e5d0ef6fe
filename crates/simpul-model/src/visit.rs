//! Visits: one contact of a person with a facility, and what was measured and given.
//!
//! Visits live inside the patient record, keyed by their own [`VisitId`](crate::VisitId),
//! so concurrent visits recorded at different facilities merge without loss. A visit is a
//! clinical fact: it is corrected by a new visit that `supersedes` it, or marked
//! `entered_in_error`, never erased.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::facility::FacilityPath;

crate::string_enum! {
    /// The ILP cluster a visit belongs to.
    pub enum Klaster {
        /// Klaster 1: administration.
        Manajemen => "manajemen",
        /// Klaster 2: mothers, children, adolescents.
        IbuAnak => "ibu-anak",
        /// Klaster 3: adults and elderly.
        DewasaLansia => "dewasa-lansia",
        /// Klaster 4: communicable disease control.
        PenyakitMenular => "penyakit-menular",
        /// Klaster 5: cross-cluster (emergency, lab, pharmacy).
        LintasKlaster => "lintas-klaster",
    }
}

crate::string_enum! {
    /// Where the contact happened.
    pub enum Setting {
        /// A posyandu opening day.
        Posyandu => "posyandu",
        /// The village clinic.
        Pustu => "pustu",
        /// The puskesmas.
        Puskesmas => "puskesmas",
        /// A home visit (kunjungan rumah).
        HomeVisit => "home-visit",
    }
}

crate::string_enum! {
    /// Antigens of the Indonesian national immunisation programme.
    pub enum Antigen {
        /// Hepatitis B birth dose.
        Hb0 => "HB0",
        /// BCG.
        Bcg => "BCG",
        /// Oral polio vaccine.
        Opv => "OPV",
        /// Inactivated polio vaccine.
        Ipv => "IPV",
        /// Pentavalent DPT-HB-Hib.
        DptHbHib => "DPT-HB-Hib",
        /// Pneumococcal conjugate vaccine.
        Pcv => "PCV",
        /// Rotavirus.
        Rv => "RV",
        /// Measles-rubella.
        Mr => "MR",
        /// Japanese encephalitis.
        Je => "JE",
        /// Human papillomavirus.
        Hpv => "HPV",
        /// Tetanus-diphtheria.
        Td => "Td",
        /// Diphtheria-tetanus.
        Dt => "DT",
    }
}

crate::string_enum! {
    /// Screening instruments used in ILP.
    pub enum Instrument {
        /// Self-Reporting Questionnaire, 20 items (mental health), score 0–20.
        Srq20 => "srq-20",
        /// PUMA questionnaire for COPD, score 0–11.
        Puma => "puma",
        /// SKILAS elderly screening, score 0–10.
        Skilas => "skilas",
        /// TB symptom screening, number of symptoms 0–6.
        TbSymptoms => "tb-symptoms",
        /// Child development screening (KPSP), score 0–10.
        Kpsp => "kpsp",
    }
}

impl Instrument {
    /// The highest score the instrument can give.
    pub fn max_score(self) -> u32 {
        match self {
            Instrument::Srq20 => 20,
            Instrument::Puma => 11,
            Instrument::Skilas => 10,
            Instrument::TbSymptoms => 6,
            Instrument::Kpsp => 10,
        }
    }
}

crate::string_enum! {
    /// What a screening concluded.
    pub enum ScreeningResult {
        /// Nothing found.
        Normal => "normal",
        /// A finding that needs follow-up.
        Positive => "positive",
        /// Referred on.
        Referred => "referred",
    }
}

/// Measurements taken at a visit; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measurements {
    /// Body weight in kg (0.1 precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// Recumbent length in cm, children under 24 months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_cm: Option<f64>,
    /// Standing height in cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_cm: Option<f64>,
    /// Head circumference in cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_circumference_cm: Option<f64>,
    /// Mid-upper-arm circumference (LiLA) in cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muac_cm: Option<f64>,
    /// Waist circumference in cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waist_cm: Option<f64>,
    /// Systolic blood pressure in mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systolic_mmhg: Option<f64>,
    /// Diastolic blood pressure in mmHg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diastolic_mmhg: Option<f64>,
    /// Blood glucose in mg/dL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glucose_mg_dl: Option<f64>,
    /// Haemoglobin in g/dL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hb_g_dl: Option<f64>,
    /// Bilateral pitting oedema of both feet was found (a child's sign of severe
    /// acute malnutrition, whatever the weight says). Absent means not found or not
    /// examined.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oedema: bool,
}

/// Read in one pass over the map: most fields are absent, and looking each one up costs
/// a seek (this was a fifth of the CPU of receiving records).
impl autosurgeon::Hydrate for Measurements {
    fn hydrate_map<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        let mut m = Measurements::default();
        for item in doc.map_range(obj, ..) {
            if item.key.as_ref() == "oedema" {
                m.oedema = crate::number::bool_of(&item.value)?;
                continue;
            }
            let slot = match item.key.as_ref() {
                "weight_kg" => &mut m.weight_kg,
                "length_cm" => &mut m.length_cm,
                "height_cm" => &mut m.height_cm,
                "head_circumference_cm" => &mut m.head_circumference_cm,
                "muac_cm" => &mut m.muac_cm,
                "waist_cm" => &mut m.waist_cm,
                "systolic_mmhg" => &mut m.systolic_mmhg,
                "diastolic_mmhg" => &mut m.diastolic_mmhg,
                "glucose_mg_dl" => &mut m.glucose_mg_dl,
                "hb_g_dl" => &mut m.hb_g_dl,
                _ => continue,
            };
            *slot = crate::number::opt_f64_of(&item.value)?;
        }
        Ok(m)
    }
}

impl Measurements {
    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One dose of one antigen.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Immunisation {
    /// The antigen.
    pub antigen: Antigen,
    /// Dose number, 1 for the first.
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u32",
        reconcile = "crate::number::reconcile_u32"
    )]
    pub dose: u32,
    /// Vaccine lot, when given by a health worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub lot: Option<String>,
}

/// The result of one screening questionnaire.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Screening {
    /// The questionnaire.
    pub instrument: Instrument,
    /// Its score.
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u32",
        reconcile = "crate::number::reconcile_u32"
    )]
    pub score: u32,
    /// Its conclusion.
    pub result: ScreeningResult,
}

/// Marks a visit as entered in error: kept, but no longer counted.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMark {
    /// Why the visit is wrong.
    pub reason: String,
    /// Who marked it.
    pub by: String,
    /// When (milliseconds since the Unix epoch, UTC).
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u64",
        reconcile = "crate::number::reconcile_u64"
    )]
    pub at_ms: u64,
}

/// One visit.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// Date of the contact.
    pub date: Date,
    /// The facility that recorded it.
    pub facility: FacilityPath,
    /// ILP cluster.
    pub klaster: Klaster,
    /// Where it happened.
    pub setting: Setting,
    /// Who recorded it (health worker or kader id).
    pub recorded_by: String,
    /// The NIK of the health worker who recorded it, when one did through a token that
    /// names it: SATUSEHAT's Practitioner for the visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub recorder_nik: Option<String>,
    /// Measurements.
    #[serde(default, skip_serializing_if = "Measurements::is_empty")]
    #[autosurgeon(missing = "Default::default")]
    pub measurements: Measurements,
    /// Immunisations given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[autosurgeon(missing = "Default::default")]
    pub immunisations: Vec<Immunisation>,
    /// Vitamin A capsule given (February and August).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[autosurgeon(missing = "Default::default")]
    pub vitamin_a: bool,
    /// Screening questionnaires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[autosurgeon(missing = "Default::default")]
    pub screenings: Vec<Screening>,
    /// ANC contact number (K1–K6) for a pregnant woman.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(
        hydrate = "crate::number::hydrate_opt_u32",
        reconcile = "crate::number::reconcile_opt_u32"
    )]
    pub anc_number: Option<u32>,
    /// Gestational age in weeks at an ANC contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(
        hydrate = "crate::number::hydrate_opt_u32",
        reconcile = "crate::number::reconcile_opt_u32"
    )]
    pub gestational_weeks: Option<u32>,
    /// Diagnoses made, as ICD-10 codes (`A15.0`), in order of importance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[autosurgeon(missing = "Default::default")]
    pub diagnoses: Vec<String>,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub note: Option<String>,
    /// Copied from the person's KIA book or another record, not seen or given here:
    /// kept as history (a dose counts towards a child's complete immunisation), never
    /// counted as a service of the month nor exported as primary-source.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[autosurgeon(missing = "Default::default")]
    pub transcribed: bool,
    /// The visit this one corrects, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub supersedes: Option<String>,
    /// Set when the visit was entered in error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub entered_in_error: Option<ErrorMark>,
}

impl Visit {
    /// A visit with nothing measured yet.
    pub fn new(
        date: Date,
        facility: FacilityPath,
        klaster: Klaster,
        setting: Setting,
        recorded_by: impl Into<String>,
    ) -> Self {
        Self {
            date,
            facility,
            klaster,
            setting,
            recorded_by: recorded_by.into(),
            recorder_nik: None,
            measurements: Measurements::default(),
            immunisations: Vec::new(),
            vitamin_a: false,
            screenings: Vec::new(),
            anc_number: None,
            gestational_weeks: None,
            diagnoses: Vec::new(),
            note: None,
            transcribed: false,
            supersedes: None,
            entered_in_error: None,
        }
    }
}
