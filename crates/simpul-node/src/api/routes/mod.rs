//! The handlers, one per route. Each checks the caller's role, turns the request into
//! an admin [`crate::admin::Request`], and shapes the reply: records in [`patients`], lists and
//! reports in [`lists`].

mod lists;
mod patients;
mod satusehat;

pub use satusehat::lines as submission_lines;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use simpul_model::{Permission, RecordId, VisitId};

use super::error::ApiError;
use super::{App, Authed, OPENAPI};
use crate::admin::Reply;
use lists::{audit, due, duplicates, fhir, pws, search};
use patients::{
    add_visit, correct_patient, correct_visit, create_patient, mark_error, merge, read_patient,
};

pub(super) type Body = Result<Bytes, BytesRejection>;
pub(super) type Answer = Result<Response, ApiError>;

/// Every route of the API.
pub(super) fn routes() -> axum::Router<App> {
    axum::Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/node", get(node))
        .route("/api/v1/patients", post(create_patient).get(search))
        .route(
            "/api/v1/patients/{id}",
            get(read_patient).patch(correct_patient),
        )
        .route("/api/v1/patients/{id}/visits", post(add_visit))
        .route(
            "/api/v1/patients/{id}/visits/{visit}/correction",
            post(correct_visit),
        )
        .route(
            "/api/v1/patients/{id}/visits/{visit}/entered-in-error",
            post(mark_error),
        )
        .route("/api/v1/due", get(due))
        .route("/api/v1/duplicates", get(duplicates))
        .route("/api/v1/merge", post(merge))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/reports/pws", get(pws))
        .route("/api/v1/fhir/{resource_type}", get(fhir))
        .route("/api/v1/satusehat/submissions", get(satusehat::submissions))
        .route("/api/v1/satusehat/retry", post(satusehat::retry))
        .route(
            "/dashboard",
            get(super::dashboard::page).post(super::dashboard::log_in),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint (see /api/v1/openapi.json)") })
}

pub(super) fn ok(status: StatusCode, body: Value) -> Answer {
    Ok((status, Json(body)).into_response())
}

pub(super) fn unexpected(reply: Reply) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("unexpected reply {reply:?}"),
    )
}

pub(super) fn record_id(text: &str) -> Result<RecordId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no record {text} (ids are 32 hex digits)")))
}

pub(super) fn visit_id(text: &str) -> Result<VisitId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found(format!("no visit {text} (ids are 16 hex digits)")))
}

/// A query string parsed into `T`, with errors naming the parameter (400).
pub(super) fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn node(State(app): State<App>, auth: Authed) -> Answer {
    auth.require(Permission::View)?;
    let path = &app.node.store.node().path;
    ok(
        StatusCode::OK,
        json!({"path": path, "level": path.level().to_string(), "code": path.code(), "you": {"name": auth.token.name, "role": auth.token.role}}),
    )
}
