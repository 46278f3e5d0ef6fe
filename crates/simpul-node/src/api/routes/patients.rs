//! A person's record: register, read (following merges), correct, visits, merge.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use rand::RngExt;
use serde_json::json;
use simpul_model::validate::Check;
use simpul_model::{
    ErrorMark, Identifiers, Patient, Permission, Record, RecordBody, RecordId, Role, Scope,
    VisitId, growth,
};

use super::{Answer, Body, ok, record_id, unexpected, visit_id};
use crate::admin::{Caller, PatientEdit, Reply, Request};
use crate::api::error::ApiError;
use crate::api::input::{ErrorInput, MergeInput, PatientInput, VisitInput, parse};
use crate::api::{App, Authed};
use crate::clock::{now_ms, today};

/// Reads a patient, following `merged_into` to the record that survives.
pub(super) async fn read_patient(
    State(app): State<App>,
    auth: Authed,
    Path(id): Path<String>,
) -> Answer {
    let caller = auth.require(Permission::View)?;
    let asked = record_id(&id)?;
    let mut id = asked;
    for _ in 0..8 {
        let reply = app.run(caller.clone(), Request::Get { id }).await?;
        let Reply::Record(stored) = reply else {
            return Err(unexpected(reply));
        };
        let RecordBody::Patient(p) = &stored.record.body else {
            return Err(ApiError::not_found(format!("{id} is not a patient")));
        };
        if let Some(next) = p.merged_into {
            id = next;
            continue;
        }
        let merged_from = (id != asked).then_some(asked);
        return ok(
            StatusCode::OK,
            json!({
                "id": id,
                "scope": stored.record.scope,
                "patient": p,
                "modified_ms": stored.meta.modified_ms,
                "merged_from": merged_from,
            }),
        );
    }
    Err(ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{asked}: merges lead round in a loop"),
    ))
}

pub(super) async fn create_patient(State(app): State<App>, auth: Authed, body: Body) -> Answer {
    let caller = auth.require(Permission::Input)?;
    let input: PatientInput = parse(body)?;
    let node = app.node.store.node().path.clone();
    let confirm_nik_mismatch = input.confirm_nik_mismatch;
    let confirm_implausible = input.confirm_implausible;
    let home = match input.home_facility {
        Some(home) => home,
        None if node.level() == simpul_model::Level::Posyandu => node.clone(),
        None => {
            return Err(ApiError::field(
                "home_facility",
                format!(
                    "required at a {}: the posyandu the person belongs to",
                    node.level()
                ),
            ));
        }
    };
    if !node.is_ancestor_or_self(&home) {
        return Err(ApiError::field(
            "home_facility",
            format!("{home} is not this node ({node}) or below it"),
        ));
    }
    let mut record = Record {
        id: RecordId::from_bytes(rand::rng().random()),
        scope: Scope::up(home.clone()),
        body: RecordBody::Patient(Patient {
            identifiers: Identifiers {
                nik: input.nik,
                nik_ibu: input.nik_ibu,
                birth_order: input.birth_order,
                kk: input.kk,
                bpjs: input.bpjs,
                ihs: None,
            },
            name: input.name,
            sex: input.sex,
            birth_date: input.birth_date,
            address: simpul_model::Address {
                village: input.village,
                rt: input.rt,
                rw: input.rw,
                line: input.address,
            },
            home_facility: home,
            mother: input.mother,
            birth_date_estimated: input.birth_date_estimated,
            kia_book: input.kia_book,
            died_on: None,
            moved_out_on: None,
            merged_into: None,
            visits: Default::default(),
        }),
    };
    // What people type, normalised exactly as the CLI does (RT `3` is `003`, a dotted
    // village code ten digits).
    if let RecordBody::Patient(p) = &mut record.body {
        p.normalise();
    }
    // Every field error at once, named as the app sent it; values outside the
    // plausible ranges only when not confirmed.
    let check = if confirm_implausible {
        Check::Structure
    } else {
        Check::Plausible
    };
    let mut errors = record
        .validate_as(today(), check)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    if !confirm_nik_mismatch
        && let Some(p) = record.patient()
        && let Err(e) = simpul_model::validate::check_nik_agreement(p)
    {
        errors.extend(e.0.into_iter().map(|mut f| {
            f.reason
                .push_str(" (send confirm_nik_mismatch: true if the card says so)");
            f
        }));
    }
    if !errors.is_empty() {
        return Err(body_fields(None)(ApiError::invalid(errors)));
    }
    let patient = record.patient().cloned();
    // The node names the id it stored (bound to its key).
    let request = Request::Insert {
        record,
        confirm_implausible,
    };
    let id = match app.run(caller, request).await? {
        Reply::Written(w) => w.id,
        other => return Err(unexpected(other)),
    };
    ok(StatusCode::CREATED, json!({"id": id, "patient": patient}))
}

/// A model field name (`identifiers.nik`, `address.village`) as the API body names it.
fn body_field(model: &str) -> String {
    let field = model
        .strip_prefix("identifiers.")
        .or_else(|| model.strip_prefix("address."))
        .unwrap_or(model);
    match field {
        "line" => "address".into(),
        other => other.to_string(),
    }
}

pub(super) async fn correct_patient(
    State(app): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let caller = auth.require(Permission::Correct)?;
    let id = record_id(&id)?;
    let edit: PatientEdit = parse(body)?;
    app.run(caller.clone(), Request::UpdatePatient { id, edit })
        .await
        .map_err(body_fields(None))?;
    read_patient(State(app), auth, Path(id.to_string())).await
}

/// Renames the rejected fields of a stored record to the request body's names: a
/// visit's (`visits.<id>.measurements.weight_kg` -> `measurements.weight_kg`) when the
/// request was about `visit`, else a patient's ([`body_field`]).
fn body_fields(visit: Option<&str>) -> impl Fn(ApiError) -> ApiError + '_ {
    move |mut e| {
        let prefix = visit.map(|v| format!("visits.{v}."));
        for f in &mut e.fields {
            f.field = match prefix.as_deref().and_then(|p| f.field.strip_prefix(p)) {
                Some(rest) => rest.to_string(),
                None => body_field(&f.field),
            };
        }
        e
    }
}

pub(super) async fn add_visit(
    State(app): State<App>,
    auth: Authed,
    Path(id): Path<String>,
    body: Body,
) -> Answer {
    let caller = auth.require(Permission::Input)?;
    let id = record_id(&id)?;
    let input: VisitInput = parse(body)?;
    clinical_needs_a_health_worker(&caller, &input)?;
    store_visit(&app, caller, id, input, None).await
}

pub(super) async fn correct_visit(
    State(app): State<App>,
    auth: Authed,
    Path((id, visit)): Path<(String, String)>,
    body: Body,
) -> Answer {
    let caller = auth.require(Permission::Correct)?;
    let id = record_id(&id)?;
    let old = visit_id(&visit)?;
    let input: VisitInput = parse(body)?;
    store_visit(&app, caller, id, input, Some(old)).await
}

/// A kader records weighings, measurements, vitamin A capsules and attendance;
/// immunisations, antenatal contacts and diagnoses are a bidan's (or nurse's or
/// doctor's), whose token records them (403 otherwise).
fn clinical_needs_a_health_worker(caller: &Caller, input: &VisitInput) -> Result<(), ApiError> {
    let clinical = !input.immunisations.is_empty()
        || !input.diagnoses.is_empty()
        || input.anc_number.is_some()
        || input.gestational_weeks.is_some();
    if clinical && caller.role == Role::Kader {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a kader token may record weighings and attendance, not immunisations, \
             antenatal contacts or diagnoses: a bidan's token records those",
        ));
    }
    Ok(())
}

async fn store_visit(
    app: &App,
    caller: Caller,
    id: RecordId,
    input: VisitInput,
    supersedes: Option<VisitId>,
) -> Answer {
    let facility = app.node.store.node().path.clone();
    let confirm_implausible = input.confirm_implausible;
    let mut visit = input.into_visit(facility, &caller.who);
    visit.recorder_nik = caller.nik.clone();
    visit.supersedes = supersedes.map(|v| v.to_string());
    let visit_id = VisitId::from_bytes(rand::rng().random());
    let key = visit_id.to_string();
    app.run(
        caller,
        Request::AddVisit {
            id,
            visit_id,
            visit: visit.clone(),
            confirm_implausible,
        },
    )
    .await
    .map_err(body_fields(Some(&key)))?;
    let growth = child_growth(app, id, &visit).await;
    ok(
        StatusCode::CREATED,
        json!({"id": id, "visit_id": key, "visit": visit, "growth": growth}),
    )
}

/// The child's growth from the visit's measurements (null past five years, or for a
/// record that is not a person).
async fn child_growth(app: &App, id: RecordId, visit: &simpul_model::Visit) -> serde_json::Value {
    let store = app.node.store.clone();
    let record = tokio::task::spawn_blocking(move || store.record(id))
        .await
        .ok()
        .and_then(|r| r.ok().flatten());
    let Some((
        _,
        Record {
            body: RecordBody::Patient(p),
            ..
        },
    )) = record
    else {
        return serde_json::Value::Null;
    };
    growth::at_visit(&p, visit.date, &visit.measurements)
        .and_then(|g| serde_json::to_value(g).ok())
        .unwrap_or(serde_json::Value::Null)
}

pub(super) async fn mark_error(
    State(app): State<App>,
    auth: Authed,
    Path((id, visit)): Path<(String, String)>,
    body: Body,
) -> Answer {
    let caller = auth.require(Permission::Correct)?;
    let id = record_id(&id)?;
    let visit_id = visit_id(&visit)?;
    let input: ErrorInput = parse(body)?;
    if input.reason.trim().is_empty() {
        return Err(ApiError::field("reason", "must not be empty"));
    }
    let mark = ErrorMark {
        reason: input.reason,
        by: caller.who.clone(),
        at_ms: now_ms(),
    };
    app.run(caller, Request::MarkError { id, visit_id, mark })
        .await
        .map_err(body_fields(Some(&visit)))?;
    ok(StatusCode::OK, json!({"id": id, "visit_id": visit}))
}

pub(super) async fn merge(State(app): State<App>, auth: Authed, body: Body) -> Answer {
    let caller = auth.require(Permission::Correct)?;
    let input: MergeInput = parse(body)?;
    let request = Request::Merge {
        from: input.from,
        into: input.into,
    };
    match app.run(caller, request).await? {
        Reply::Merged { survivor, .. } => {
            read_patient(State(app), auth, Path(survivor.to_string())).await
        }
        other => Err(unexpected(other)),
    }
}
