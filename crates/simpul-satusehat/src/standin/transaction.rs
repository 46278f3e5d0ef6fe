//! The stand-in's transaction Bundle endpoint (`POST {fhir}`), and search by business
//! identifier. Each Bundle is checked against the elements SATUSEHAT's guides mark
//! required (docs/satusehat-sources.md §6-8) and against what the platform holds
//! (patients, practitioners, locations, organizations); it is then taken whole or not
//! at all. A second resource with a business identifier held already is refused as
//! "duplicate", as the platform does, unless its entry asks `ifNoneExist` and the
//! stand-in is set to honour that.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Fault, Shared, bad_request, gate, searchset};
use crate::submission::{ICD_10, IMMUNIZATION_REASON, ROUTINE_TIMING};

/// A resource the stand-in holds.
#[derive(Debug, Clone)]
pub struct Held {
    /// `Encounter`, `Observation`, `Immunization`.
    pub kind: String,
    /// Its id.
    pub id: String,
    /// As last written, references resolved.
    pub resource: Value,
}

/// A refusal: the issue code, and the rule broken with where.
struct Broken(String, String);

fn refuse(code: &str, at: &str, text: impl Into<String>) -> Broken {
    Broken(code.into(), format!("{} (at {at})", text.into()))
}

pub(super) async fn transaction(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    // A fault meant for transactions, else whatever the next request meets; a lost
    // answer: the Bundle is taken, and the connection ends before the reply.
    let lose_answer = {
        let mut p = state.lock().expect("state");
        let planned = p.transaction_faults.pop_front();
        let next = planned.or_else(|| p.faults.pop_front().or_else(|| p.random_fault()));
        match next {
            Some(Fault::Lost) => {
                p.requests += 1;
                true
            }
            Some(other) => {
                p.faults.push_front(other);
                false
            }
            None => false,
        }
    };
    if !lose_answer && let Some(refused) = gate(&state, &headers) {
        return refused;
    }
    let Ok(bundle) = serde_json::from_str::<Value>(&body) else {
        return bad_request("structure", "the body is not JSON");
    };
    let mut p = state.lock().expect("state");
    p.bundles.push(bundle.clone());
    let answer = match take(&mut p, &bundle) {
        Ok(entries) => {
            json!({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
        }
        Err(Broken(code, text)) => return bad_request(&code, &text),
    };
    drop(p);
    if lose_answer {
        return super::dropped();
    }
    (StatusCode::OK, axum::Json(answer)).into_response()
}

/// What taking one entry does.
enum Plan {
    Create(String, String, usize),
    Update(String, String, usize),
    Exists(String, String),
}

/// Checks the Bundle and, when every entry passes, stores it; the response entries.
fn take(p: &mut super::Platform, bundle: &Value) -> Result<Vec<Value>, Broken> {
    if bundle["resourceType"] != "Bundle" || bundle["type"] != "transaction" {
        return Err(refuse(
            "structure",
            "Bundle.type",
            "not a transaction Bundle",
        ));
    }
    let entries = bundle["entry"]
        .as_array()
        .filter(|e| !e.is_empty())
        .ok_or_else(|| refuse("required", "Bundle.entry", "a transaction needs entries"))?;
    // Ids for what is created: urn:uuid -> Type/id.
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    let mut plan = Vec::new();
    let mut next_id = p.next_id;
    for (i, e) in entries.iter().enumerate() {
        let at = format!("Bundle.entry[{i}]");
        let resource = &e["resource"];
        let kind = resource["resourceType"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let method = e["request"]["method"].as_str().unwrap_or_default();
        let url = e["request"]["url"].as_str().unwrap_or_default();
        match method {
            "POST" => {
                let full = e["fullUrl"].as_str().unwrap_or_default();
                if !full.starts_with("urn:uuid:") || url != kind {
                    return Err(refuse(
                        "structure",
                        &at,
                        "a create needs a urn:uuid fullUrl and request.url = its type",
                    ));
                }
                let existing = first_identifier(resource).and_then(|(s, v)| p.find(&kind, &s, &v));
                let conditional = e["request"]["ifNoneExist"].as_str().is_some();
                let id = match existing {
                    Some(id) if conditional && p.honour_if_none_exist => {
                        plan.push(Plan::Exists(kind.clone(), id.clone()));
                        id
                    }
                    Some(_) => {
                        return Err(refuse(
                            "duplicate",
                            &at,
                            format!("Found duplicate resource: {kind}"),
                        ));
                    }
                    None => {
                        next_id += 1;
                        let id = format!("{next_id:08x}-0000-4000-8000-{next_id:012x}");
                        plan.push(Plan::Create(kind.clone(), id.clone(), i));
                        id
                    }
                };
                assigned.insert(full.to_string(), format!("{kind}/{id}"));
            }
            "PUT" => {
                let id = resource["id"].as_str().unwrap_or_default();
                if url != format!("{kind}/{id}")
                    || !p.held.iter().any(|h| h.kind == kind && h.id == id)
                {
                    return Err(refuse(
                        "not-found",
                        &at,
                        format!("{url}: no such resource to update"),
                    ));
                }
                plan.push(Plan::Update(kind.clone(), id.to_string(), i));
            }
            _ => {
                return Err(refuse(
                    "structure",
                    &at,
                    "request.method must be POST or PUT",
                ));
            }
        }
    }
    // Resolve the Bundle's references, then check each resource as the profiles ask.
    let mut text =
        serde_json::to_string(entries).map_err(|e| refuse("structure", "Bundle", e.to_string()))?;
    for (urn, target) in &assigned {
        text = text.replace(&format!("\"{urn}\""), &format!("\"{target}\""));
    }
    let resolved: Vec<Value> =
        serde_json::from_str(&text).map_err(|e| refuse("structure", "Bundle", e.to_string()))?;
    for (i, e) in resolved.iter().enumerate() {
        check(
            p,
            &e["resource"],
            &format!("Bundle.entry[{i}].resource"),
            &assigned,
        )?;
    }
    p.next_id = next_id;
    let mut out = Vec::new();
    for step in plan {
        let (status, kind, id) = match step {
            Plan::Exists(kind, id) => ("200 OK", kind, id),
            Plan::Create(kind, id, i) | Plan::Update(kind, id, i) => {
                let mut resource = resolved[i]["resource"].clone();
                resource["id"] = json!(id);
                let created = !p.held.iter().any(|h| h.kind == kind && h.id == id);
                p.held.retain(|h| !(h.kind == kind && h.id == id));
                p.held.push(Held {
                    kind: kind.clone(),
                    id: id.clone(),
                    resource,
                });
                (if created { "201 Created" } else { "200 OK" }, kind, id)
            }
        };
        out.push(json!({"response": {
            "status": status, "location": format!("{kind}/{id}/_history/1"), "etag": "W/\"1\"",
            "lastModified": "2026-12-06T00:00:00+00:00", "resourceType": kind, "resourceID": id,
        }}));
    }
    Ok(out)
}

fn first_identifier(resource: &Value) -> Option<(String, String)> {
    let i = &resource["identifier"][0];
    Some((
        i["system"].as_str()?.to_string(),
        i["value"].as_str()?.to_string(),
    ))
}

impl super::Platform {
    fn find(&self, kind: &str, system: &str, value: &str) -> Option<String> {
        self.held
            .iter()
            .find(|h| {
                h.kind == kind
                    && h.resource["identifier"].as_array().is_some_and(|ids| {
                        ids.iter()
                            .any(|i| i["system"] == system && i["value"] == value)
                    })
            })
            .map(|h| h.id.clone())
    }
}

/// Whether a reference names something the platform holds (or the Bundle creates).
fn known(p: &super::Platform, to: &str, id: &str, assigned: &BTreeMap<String, String>) -> bool {
    match to {
        "Patient" => p.people.iter().any(|q| q.ihs == id),
        "Practitioner" => super::PRACTITIONERS.iter().any(|(_, pid)| *pid == id),
        "Location" => p.locations.contains(id),
        "Organization" => p.organizations.contains(id),
        _ => {
            let target = format!("{to}/{id}");
            assigned.values().any(|a| *a == target)
                || p.held.iter().any(|h| h.kind == to && h.id == id)
        }
    }
}

/// The checks of one resource.
struct Checks<'a> {
    p: &'a super::Platform,
    r: &'a Value,
    kind: &'a str,
    assigned: &'a BTreeMap<String, String>,
}

impl Checks<'_> {
    fn need(&self, path: &str, v: &Value) -> Result<(), Broken> {
        if v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(Vec::is_empty) {
            let at = format!("{}.{path}", self.kind);
            Err(refuse("required", &at, format!("{at} is mandatory")))
        } else {
            Ok(())
        }
    }

    fn reference(&self, path: &str, v: &Value, to: &str) -> Result<(), Broken> {
        self.need(path, v)?;
        let at = format!("{}.{path}", self.kind);
        let target = v.as_str().unwrap_or_default();
        let Some(id) = target.strip_prefix(&format!("{to}/")) else {
            return Err(refuse(
                "value",
                &at,
                format!("{target:?} is no {to} reference"),
            ));
        };
        if known(self.p, to, id, self.assigned) {
            Ok(())
        } else {
            Err(refuse(
                "value",
                &at,
                format!("{target} does not exist on SATUSEHAT"),
            ))
        }
    }

    fn identified(&self, system_kind: &str) -> Result<(), Broken> {
        let i = &self.r["identifier"][0];
        let prefix = format!("http://sys-ids.kemkes.go.id/{system_kind}/");
        let org = i["system"].as_str().and_then(|s| s.strip_prefix(&prefix));
        if org.is_none_or(|o| !self.p.organizations.contains(o))
            || i["value"].as_str().is_none_or(str::is_empty)
        {
            return Err(refuse(
                "value",
                &format!("{}.identifier", self.kind),
                format!("identifier system must be {prefix}{{organization}}, with a value"),
            ));
        }
        Ok(())
    }

    fn time(&self, path: &str, v: &Value) -> Result<(), Broken> {
        self.need(path, v)?;
        let t = v.as_str().unwrap_or_default();
        if t.len() < 20 || t.get(..10).is_none_or(|d| d < "2014-06-03") {
            return Err(refuse(
                "value",
                &format!("{}.{path}", self.kind),
                "a full date and time, not before 2014-06-03",
            ));
        }
        Ok(())
    }
}

/// The elements SATUSEHAT's guides mark required, and references to what it holds.
fn check(
    p: &super::Platform,
    r: &Value,
    at: &str,
    assigned: &BTreeMap<String, String>,
) -> Result<(), Broken> {
    let kind = r["resourceType"].as_str().unwrap_or_default();
    let c = Checks {
        p,
        r,
        kind,
        assigned,
    };
    match kind {
        "Encounter" => {
            c.identified("encounter")?;
            c.need("status", &r["status"])?;
            c.need("class.code", &r["class"]["code"])?;
            c.reference("subject", &r["subject"]["reference"], "Patient")?;
            let participant = &r["participant"][0];
            if participant["type"][0]["coding"][0]["code"] != "ATND" {
                return Err(refuse(
                    "required",
                    "Encounter.participant.type",
                    "an ATND participant is mandatory",
                ));
            }
            c.reference(
                "participant.individual",
                &participant["individual"]["reference"],
                "Practitioner",
            )?;
            c.time("period.start", &r["period"]["start"])?;
            c.reference(
                "location.location",
                &r["location"][0]["location"]["reference"],
                "Location",
            )?;
            let history: Vec<&str> = r["statusHistory"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|h| h["status"].as_str())
                .collect();
            if ["arrived", "in-progress", "finished"]
                .iter()
                .any(|s| !history.contains(s))
            {
                return Err(refuse(
                    "required",
                    "Encounter.statusHistory",
                    "arrived, in-progress and finished are mandatory",
                ));
            }
            for d in r["diagnosis"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                c.reference(
                    "diagnosis.condition",
                    &d["condition"]["reference"],
                    "Condition",
                )?;
            }
            c.reference(
                "serviceProvider",
                &r["serviceProvider"]["reference"],
                "Organization",
            )
        }
        "Observation" => {
            c.identified("observation")?;
            c.need("status", &r["status"])?;
            c.need("category", &r["category"])?;
            if r["code"]["coding"][0]["system"] != "http://loinc.org" {
                return Err(refuse(
                    "value",
                    "Observation.code",
                    "a LOINC code is mandatory",
                ));
            }
            c.reference("subject", &r["subject"]["reference"], "Patient")?;
            c.reference("encounter", &r["encounter"]["reference"], "Encounter")?;
            c.reference("performer", &r["performer"][0]["reference"], "Practitioner")?;
            c.time("effectiveDateTime", &r["effectiveDateTime"])
        }
        "Immunization" => {
            c.identified("immunization")?;
            c.need("status", &r["status"])?;
            let codings = |v: &Value| -> Vec<(String, String)> {
                v.as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| {
                        Some((
                            c["system"].as_str()?.to_string(),
                            c["code"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            };
            let kfa = codings(&r["vaccineCode"]["coding"])
                .iter()
                .any(|(s, code)| s == "http://sys-ids.kemkes.go.id/kfa" && !code.is_empty());
            if !kfa {
                return Err(refuse(
                    "required",
                    "Immunization.vaccineCode",
                    "a KFA vaccine code is mandatory",
                ));
            }
            c.reference("patient", &r["patient"]["reference"], "Patient")?;
            c.reference("encounter", &r["encounter"]["reference"], "Encounter")?;
            c.reference(
                "performer.actor",
                &r["performer"][0]["actor"]["reference"],
                "Practitioner",
            )?;
            c.time("occurrenceDateTime", &r["occurrenceDateTime"])?;
            let reasons = codings(&r["reasonCode"][0]["coding"]);
            let code_in = |system: &str| {
                reasons
                    .iter()
                    .find(|(s, _)| s == system)
                    .map(|(_, c)| c.as_str())
            };
            match (code_in(IMMUNIZATION_REASON), code_in(ROUTINE_TIMING)) {
                (Some("IM-Rutin"), Some("IM-Ideal" | "IM-Kejar")) => Ok(()),
                (Some("IM-Rutin"), _) => Err(refuse(
                    "required",
                    "Immunization.reasonCode",
                    "a routine dose needs IM-Ideal or IM-Kejar",
                )),
                (
                    Some(
                        "IM-Program" | "IM-Dasar" | "IM-Lanjutan" | "IM-Baduta" | "IM-SD"
                        | "IM-WUS" | "IM-Tambahan" | "IM-Khusus" | "IM-Pilihan",
                    ),
                    _,
                ) => Ok(()),
                _ => Err(refuse(
                    "required",
                    "Immunization.reasonCode",
                    "an immunization reason is mandatory",
                )),
            }
        }
        "Condition" => {
            c.identified("condition")?;
            let coding = &r["code"]["coding"][0];
            let icd = coding["system"] == ICD_10
                && coding["code"]
                    .as_str()
                    .is_some_and(simpul_model::validate::is_icd10);
            if !icd {
                return Err(refuse(
                    "value",
                    "Condition.code",
                    "one ICD-10 code is mandatory",
                ));
            }
            c.reference("subject", &r["subject"]["reference"], "Patient")?;
            c.reference("encounter", &r["encounter"]["reference"], "Encounter")
        }
        other => Err(refuse(
            "not-supported",
            at,
            format!("{other:?} is not taken in a Bundle here"),
        )),
    }
}

/// `GET {kind}?identifier=system|value`: what the stand-in holds under it.
pub(super) async fn search(
    State(state): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let (system, value) = match super::searched(&state, &headers, &query) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let p = state.lock().expect("state");
    let found = p.find(&kind, system, value);
    let entries = p
        .held
        .iter()
        .filter(|h| h.kind == kind && found.as_deref() == Some(h.id.as_str()))
        .map(|h| json!({"resource": h.resource}))
        .collect();
    searchset(entries)
}
