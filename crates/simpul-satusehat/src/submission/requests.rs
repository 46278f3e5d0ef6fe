//! The platform requests a submission makes: a transaction Bundle, and a look-up by
//! business identifier.

use serde_json::Value;

use crate::client::Platform;
use crate::error::PlatformError;

impl Platform {
    /// Sends a transaction Bundle (`POST` to the FHIR base URL) and returns what the
    /// platform made of each entry, `Type/id`, in entry order. Sent once: after a 5xx or
    /// a lost answer the platform may hold it, and the caller looks before sending again.
    /// An answer that does not account for every entry, each with a 2xx, is malformed.
    pub fn transaction(&self, bundle: &Value) -> Result<Vec<String>, PlatformError> {
        let sent = bundle["entry"].as_array().map_or(0, Vec::len);
        let ids = transaction_ids(&self.create("", bundle)?)?;
        if ids.len() != sent {
            return Err(PlatformError::Malformed(format!(
                "transaction answer: {} entries for {sent} sent",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// The id of the `kind` resource the platform holds under the business identifier
    /// `system|value`, if any (`GET {kind}?identifier=...`).
    pub fn find_by_identifier(
        &self,
        kind: &str,
        system: &str,
        value: &str,
    ) -> Result<Option<String>, PlatformError> {
        let identifier = format!("{system}|{value}");
        let bundle = self.get(kind, &[("identifier", &identifier)])?;
        if bundle["resourceType"] != "Bundle" {
            return Err(PlatformError::Malformed(format!(
                "a {kind} search did not answer with a Bundle"
            )));
        }
        let found: Vec<&str> = bundle["entry"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|e| e["resource"]["resourceType"] == kind)
            .filter_map(|e| e["resource"]["id"].as_str())
            .collect();
        if let Some(bad) = found
            .iter()
            .find(|id| !simpul_model::validate::is_fhir_id(id))
        {
            return Err(PlatformError::Malformed(format!(
                "a {kind} found has the id {bad:?}, which is no FHIR id"
            )));
        }
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_string())),
            many => Err(PlatformError::Malformed(format!(
                "{} {kind}s hold identifier {identifier}",
                many.len()
            ))),
        }
    }
}

/// True when the platform refused a create because what it names exists already (its
/// OperationOutcome's issue code, or failing that its text, says "duplicate").
pub(crate) fn is_duplicate(e: &PlatformError) -> bool {
    matches!(e, PlatformError::Refused { status, outcome, codes }
        if *status == 409
            || codes.iter().any(|c| c == "duplicate")
            || outcome.to_ascii_lowercase().contains("duplicate"))
}

/// `Type/id` per entry of a transaction-response Bundle: from the standard
/// `response.location` (`Encounter/abc/_history/1`, relative or absolute), else from the
/// `resourceType` and `resourceID` some of the platform's clients read.
fn transaction_ids(answer: &Value) -> Result<Vec<String>, PlatformError> {
    let malformed = |what: &str| PlatformError::Malformed(format!("transaction answer: {what}"));
    if answer["resourceType"] != "Bundle" {
        return Err(malformed("not a Bundle"));
    }
    let entries = answer["entry"]
        .as_array()
        .ok_or_else(|| malformed("no entries"))?;
    entries
        .iter()
        .map(|e| {
            let response = &e["response"];
            if response["status"]
                .as_str()
                .is_some_and(|s| !s.trim_start().starts_with('2'))
            {
                return Err(malformed("an entry was not created"));
            }
            let from_location = response["location"].as_str().and_then(type_and_id);
            let from_fields = match (
                response["resourceType"].as_str(),
                response["resourceID"].as_str(),
            ) {
                (Some(kind), Some(id)) => Some(format!("{kind}/{id}")),
                _ => None,
            };
            from_location
                .or(from_fields)
                .ok_or_else(|| malformed("an entry without a location"))
        })
        .collect()
}

/// `Type/id` of a location such as `Encounter/abc/_history/1` or
/// `https://host/fhir-r4/v1/Encounter/abc`.
fn type_and_id(location: &str) -> Option<String> {
    let path = location.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let end = parts
        .iter()
        .position(|p| *p == "_history")
        .unwrap_or(parts.len());
    let (kind, id) = (parts.get(end.checked_sub(2)?)?, parts.get(end - 1)?);
    let is_type = kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphabetic());
    (is_type && simpul_model::validate::is_fhir_id(id)).then(|| format!("{kind}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transaction_answer_gives_each_entry_its_platform_id() {
        let answer = json!({"resourceType": "Bundle", "type": "transaction-response", "entry": [
            {"response": {"status": "201 Created", "location": "Encounter/e1/_history/1"}},
            {"response": {"status": "201 Created",
                          "location": "https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1/Observation/o-2/_history/MTY"}},
            {"response": {"status": "201 Created", "resourceType": "Immunization", "resourceID": "i3"}},
        ]});
        assert_eq!(
            transaction_ids(&answer).expect("read"),
            ["Encounter/e1", "Observation/o-2", "Immunization/i3"]
        );
        for (bad, says) in [
            (json!({"resourceType": "OperationOutcome"}), "not a Bundle"),
            (json!({"resourceType": "Bundle"}), "no entries"),
            (
                json!({"resourceType": "Bundle", "entry": [{"response": {"location": "_history/1"}}]}),
                "without a location",
            ),
            (
                json!({"resourceType": "Bundle", "entry": [{"response": {"location": "encounter/x y"}}]}),
                "without a location",
            ),
            (
                json!({"resourceType": "Bundle", "entry": [
                    {"response": {"status": "400 Bad Request", "location": "Encounter/e1"}}
                ]}),
                "not created",
            ),
        ] {
            let err = transaction_ids(&bad).expect_err("refused");
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn a_duplicate_is_recognised_by_its_outcome() {
        let refused = |status, outcome: &str, code: &str| PlatformError::Refused {
            status,
            outcome: outcome.into(),
            codes: vec![code.into()],
        };
        let text_says = refused(400, "Found duplicate resource: Encounter", "value");
        assert!(is_duplicate(&text_says));
        assert!(is_duplicate(&refused(
            400,
            "Resource already exists",
            "duplicate"
        )));
        assert!(is_duplicate(&refused(409, "conflict", "conflict")));
        assert!(!is_duplicate(&refused(
            400,
            "Encounter.subject: required",
            "required"
        )));
    }
}
