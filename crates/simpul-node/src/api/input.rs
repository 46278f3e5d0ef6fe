//! What facility apps send: request bodies, parsed so that a malformed body is a 400 and
//! a value of the wrong type, a missing or an unknown field is a 422 naming the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use simpul_model::{
    Date, FacilityPath, Immunisation, Klaster, Measurements, RecordId, Screening, Setting, Sex,
    Visit,
};

use super::error::ApiError;

/// Parses a JSON body into `T`.
pub(super) fn parse<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                let field = if path == "." {
                    // "missing field `name` at line 1 column 2" names the field itself.
                    message.split('`').nth(1).unwrap_or("(body)").to_string()
                } else {
                    path
                };
                let reason = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                ApiError::field(&field, reason)
            }
            _ => ApiError::bad_request(format!("body is not valid JSON: {inner}")),
        }
    })?;
    Ok(value)
}

/// A new person, as an app registers them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatientInput {
    /// Full name.
    pub(super) name: String,
    /// `F` or `M`.
    pub(super) sex: Sex,
    /// `YYYY-MM-DD`.
    pub(super) birth_date: Date,
    /// NIK.
    #[serde(default)]
    pub(super) nik: Option<String>,
    /// The mother's NIK, for a newborn without one.
    #[serde(default)]
    pub(super) nik_ibu: Option<String>,
    /// Birth order with `nik_ibu`.
    #[serde(default)]
    pub(super) birth_order: Option<u32>,
    /// Family card number.
    #[serde(default)]
    pub(super) kk: Option<String>,
    /// BPJS number.
    #[serde(default)]
    pub(super) bpjs: Option<String>,
    /// Village code (10 digits).
    pub(super) village: String,
    /// RT.
    #[serde(default)]
    pub(super) rt: Option<String>,
    /// RW.
    #[serde(default)]
    pub(super) rw: Option<String>,
    /// Street and house.
    #[serde(default)]
    pub(super) address: Option<String>,
    /// The posyandu the person belongs to; defaults to this node when it is one.
    #[serde(default)]
    pub(super) home_facility: Option<FacilityPath>,
    /// The mother's record.
    #[serde(default)]
    pub(super) mother: Option<RecordId>,
    /// The birth date is an estimate.
    #[serde(default)]
    pub(super) birth_date_estimated: bool,
    /// The person holds a KIA book or KMS card.
    #[serde(default)]
    pub(super) kia_book: bool,
    /// Accept a NIK whose encoded sex or birth date disagrees with the given ones (the
    /// card is sometimes what it is); refused otherwise.
    #[serde(default)]
    pub(super) confirm_nik_mismatch: bool,
    /// Store values outside the plausible ranges (the health worker has checked them);
    /// refused (422) otherwise.
    #[serde(default)]
    pub(super) confirm_implausible: bool,
}

/// A visit, as an app records it. The facility is the node's; who recorded it is the
/// token's holder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VisitInput {
    /// Date of the contact.
    pub(super) date: Date,
    /// The ILP cluster.
    pub(super) klaster: Klaster,
    /// Where.
    pub(super) setting: Setting,
    /// Measurements taken.
    #[serde(default)]
    pub(super) measurements: Measurements,
    /// Immunisations given.
    #[serde(default)]
    pub(super) immunisations: Vec<Immunisation>,
    /// Vitamin A given.
    #[serde(default)]
    pub(super) vitamin_a: bool,
    /// Screenings done.
    #[serde(default)]
    pub(super) screenings: Vec<Screening>,
    /// Antenatal visit number.
    #[serde(default)]
    pub(super) anc_number: Option<u32>,
    /// Weeks of pregnancy.
    #[serde(default)]
    pub(super) gestational_weeks: Option<u32>,
    /// Diagnoses, as ICD-10 codes.
    #[serde(default)]
    pub(super) diagnoses: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub(super) note: Option<String>,
    /// Copied from the KIA book, not given here.
    #[serde(default)]
    pub(super) transcribed: bool,
    /// Store values outside the plausible ranges (the health worker has checked them);
    /// refused (422) otherwise.
    #[serde(default)]
    pub(super) confirm_implausible: bool,
}

impl VisitInput {
    /// The visit recorded at `facility` by `who`.
    pub(super) fn into_visit(self, facility: FacilityPath, who: &str) -> Visit {
        Visit {
            measurements: self.measurements,
            immunisations: self.immunisations,
            vitamin_a: self.vitamin_a,
            screenings: self.screenings,
            anc_number: self.anc_number,
            gestational_weeks: self.gestational_weeks,
            diagnoses: self.diagnoses,
            note: self.note,
            transcribed: self.transcribed,
            ..Visit::new(self.date, facility, self.klaster, self.setting, who)
        }
    }
}

/// Why a visit is marked as entered in error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ErrorInput {
    /// The reason.
    pub(super) reason: String,
}

/// Which duplicate to merge into which record.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MergeInput {
    /// The duplicate.
    pub(super) from: RecordId,
    /// The record that survives.
    pub(super) into: RecordId,
}
