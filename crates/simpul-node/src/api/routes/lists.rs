//! Lists and reports: search, due lists, duplicates, the audit trail, PWS, FHIR.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use simpul_model::{Permission, Role};

use super::{Answer, ok, query, unexpected};
use crate::admin::queries::{AuditQuery, DueQuery, SearchQuery};
use crate::admin::{Reply, Request};
use crate::api::error::ApiError;
use crate::api::{App, Authed};
use axum::http::StatusCode;

pub(super) async fn search(
    State(app): State<App>,
    auth: Authed,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = auth.require(Permission::View)?;
    let query = query(q)?;
    match app.run(caller, Request::Search { query }).await? {
        Reply::People { people } => ok(StatusCode::OK, json!({ "people": people })),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn due(
    State(app): State<App>,
    auth: Authed,
    q: Result<Query<DueQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = auth.require(Permission::View)?;
    let query = query(q)?;
    match app.run(caller, Request::Due { query }).await? {
        Reply::People { people } => ok(StatusCode::OK, json!({ "people": people })),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn duplicates(State(app): State<App>, auth: Authed) -> Answer {
    let caller = auth.require(Permission::View)?;
    match app.run(caller, Request::Duplicates).await? {
        Reply::Duplicates { groups } => ok(StatusCode::OK, json!({ "groups": groups })),
        other => Err(unexpected(other)),
    }
}

pub(super) async fn audit(
    State(app): State<App>,
    auth: Authed,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = auth.require_role(&[Role::Bidan, Role::Viewer], "the audit trail")?;
    let query = query(q)?;
    match app.run(caller, Request::Audit { query }).await? {
        Reply::Audit { entries, next } => {
            ok(StatusCode::OK, json!({ "entries": entries, "next": next }))
        }
        other => Err(unexpected(other)),
    }
}

/// `?month=YYYY-MM[&by=…][&period=month|year-to-date][&format=json|csv]`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PwsQuery {
    /// The month.
    month: String,
    /// `posyandu` (default), `village`, `pustu`, `puskesmas` or `district`.
    #[serde(default)]
    by: Option<String>,
    /// `month` (default) or `year-to-date`.
    #[serde(default)]
    period: Option<String>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

/// A query parameter that is `first` (the default, also when absent: `false`) or
/// `second` (`true`); anything else is a 400 naming both.
fn either(value: Option<&str>, name: &str, first: &str, second: &str) -> Result<bool, ApiError> {
    match value {
        None => Ok(false),
        Some(v) if v == first => Ok(false),
        Some(v) if v == second => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} `{other}` is neither {first} nor {second}"
        ))),
    }
}

pub(super) async fn pws(
    State(app): State<App>,
    auth: Authed,
    q: Result<Query<PwsQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = auth.require(Permission::View)?;
    let PwsQuery {
        month,
        by,
        period,
        format,
    } = query(q)?;
    let year_to_date = either(period.as_deref(), "period", "month", "year-to-date")?;
    let csv = either(format.as_deref(), "format", "json", "csv")?;
    let request = Request::Pws {
        month,
        by,
        year_to_date,
    };
    match app.run(caller, request).await? {
        Reply::Pws(table) if csv => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            table.csv,
        )
            .into_response()),
        Reply::Pws(table) => ok(StatusCode::OK, table.json),
        other => Err(unexpected(other)),
    }
}

/// Every resource of one FHIR type, as `application/fhir+ndjson`.
pub(super) async fn fhir(
    State(app): State<App>,
    auth: Authed,
    Path(resource_type): Path<String>,
) -> Answer {
    let caller = auth.require_role(&[Role::Bidan, Role::Viewer], "FHIR exports")?;
    match app.run(caller, Request::Fhir { resource_type }).await? {
        Reply::Fhir { ndjson, .. } => {
            Ok(([(header::CONTENT_TYPE, "application/fhir+ndjson")], ndjson).into_response())
        }
        other => Err(unexpected(other)),
    }
}
