//! Finding a person on the platform (the Master Patient Index), for their IHS number.

use crate::client::Platform;
use crate::error::PlatformError;

use simpul_fhir::systems::{NIK, NIK_IBU};

/// A Patient the platform holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientMatch {
    /// The IHS number (`Patient.id`).
    pub ihs: String,
    /// Its birth date, when the platform says (`YYYY-MM-DD`).
    pub birth_date: Option<String>,
}

impl Platform {
    /// The Patients the platform holds under `nik` (none, one, or more when its index
    /// holds duplicates: the caller decides).
    pub fn patients_by_nik(&self, nik: &str) -> Result<Vec<PatientMatch>, PlatformError> {
        let identifier = format!("{NIK}|{nik}");
        matches(&self.get("Patient", &[("identifier", &identifier)])?)
    }

    /// The children of the mother with `nik_ibu` born on `birth_date` (`YYYY-MM-DD`):
    /// the birth date is sent, and also checked here (whether the platform filters on
    /// it is not published), so twins come back together and older siblings do not.
    pub fn newborns(
        &self,
        nik_ibu: &str,
        birth_date: &str,
    ) -> Result<Vec<PatientMatch>, PlatformError> {
        let identifier = format!("{NIK_IBU}|{nik_ibu}");
        let found = matches(&self.get(
            "Patient",
            &[("identifier", &identifier), ("birthdate", birth_date)],
        )?)?;
        Ok(found
            .into_iter()
            .filter(|p| p.birth_date.as_deref().is_none_or(|d| d == birth_date))
            .collect())
    }
}

impl Platform {
    /// Registers a newborn the platform does not hold yet, under its mother's NIK
    /// (`POST Patient` with a `nik-ibu` identifier, as the platform documents), and
    /// returns the IHS number given. Sent once: after a failure the caller looks the
    /// child up again before registering it again, so a lost answer makes no duplicate.
    pub fn register_newborn(&self, child: &Newborn<'_>) -> Result<String, PlatformError> {
        let mut resource = serde_json::json!({
            "resourceType": "Patient",
            "active": true,
            "identifier": [{"use": "official", "system": NIK_IBU, "value": child.nik_ibu}],
            "name": [{"use": "official", "text": child.name}],
            "gender": child.gender,
            "birthDate": child.birth_date,
        });
        if let Some(order) = child.birth_order {
            resource["multipleBirthInteger"] = order.into();
        }
        let created = self.create("Patient", &resource)?;
        created["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| PlatformError::Malformed("the Patient created has no id".into()))
    }
}

impl Platform {
    /// The Practitioner id of the health worker with `nik` (`GET Practitioner` by NIK),
    /// if the platform knows them; several is an error the platform should not make.
    pub fn practitioner_by_nik(&self, nik: &str) -> Result<Option<String>, PlatformError> {
        let identifier = format!("{NIK}|{nik}");
        let bundle = self.get("Practitioner", &[("identifier", &identifier)])?;
        let ids: Vec<String> = bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == "Practitioner")
            .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
            .collect();
        match ids.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            _ => Err(PlatformError::Malformed(format!(
                "{} Practitioners hold NIK {nik}",
                ids.len()
            ))),
        }
    }
}

/// A newborn to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newborn<'a> {
    /// The mother's NIK.
    pub nik_ibu: &'a str,
    /// The child's name as registered ("Bayi Ny. Siti").
    pub name: &'a str,
    /// `male` or `female`.
    pub gender: &'a str,
    /// `YYYY-MM-DD`.
    pub birth_date: &'a str,
    /// 1, 2 for twins, ...
    pub birth_order: Option<u32>,
}

/// The Patients of a searchset Bundle.
fn matches(bundle: &serde_json::Value) -> Result<Vec<PatientMatch>, PlatformError> {
    if bundle["resourceType"] != "Bundle" {
        return Err(PlatformError::Malformed(
            "a Patient search did not answer with a Bundle".into(),
        ));
    }
    let entries = match &bundle["entry"] {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(entries) => entries,
        _ => {
            return Err(PlatformError::Malformed(
                "Bundle.entry is not a list".into(),
            ));
        }
    };
    entries
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Patient")
        .map(|e| {
            let resource = &e["resource"];
            let ihs = resource["id"]
                .as_str()
                .filter(|id| !id.is_empty())
                .ok_or_else(|| PlatformError::Malformed("a Patient without an id".into()))?;
            Ok(PatientMatch {
                ihs: ihs.to_string(),
                birth_date: resource["birthDate"].as_str().map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_search_answer_that_is_not_a_searchset_of_patients_is_refused() {
        let empty = json!({"resourceType": "Bundle", "type": "searchset", "total": 0});
        assert_eq!(matches(&empty).expect("empty"), Vec::new());
        let other = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "RelatedPerson", "id": "x"}},
            {"resource": {"resourceType": "Patient", "id": "P1", "birthDate": "2025-03-04"}}
        ]});
        assert_eq!(
            matches(&other).expect("one patient"),
            vec![PatientMatch {
                ihs: "P1".into(),
                birth_date: Some("2025-03-04".into())
            }]
        );
        for (bad, says) in [
            (
                json!({"resourceType": "OperationOutcome"}),
                "did not answer with a Bundle",
            ),
            (json!({"resourceType": "Bundle", "entry": {}}), "not a list"),
            (
                json!({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Patient"}}]}),
                "without an id",
            ),
        ] {
            let err = matches(&bad).expect_err("refused");
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}
