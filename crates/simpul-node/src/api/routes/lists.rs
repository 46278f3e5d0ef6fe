//! Lists and reports: search, due lists, duplicates, the audit trail, PWS, FHIR.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;
use simpul_model::{Permission, Role};

use super::{Answer, ok, query, unexpected};
use crate::admin::ops::fhir;
use crate::admin::queries::{AuditQuery, DueQuery, PageQuery, SearchQuery};
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
        Reply::People { people, next } => {
            ok(StatusCode::OK, json!({ "people": people, "next": next }))
        }
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
        Reply::People { people, next } => {
            ok(StatusCode::OK, json!({ "people": people, "next": next }))
        }
        other => Err(unexpected(other)),
    }
}

pub(super) async fn duplicates(
    State(app): State<App>,
    auth: Authed,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = auth.require(Permission::View)?;
    let PageQuery { after, limit } = query(q)?;
    match app
        .run(caller, Request::Duplicates { after, limit })
        .await?
    {
        Reply::Duplicates { groups, next } => {
            ok(StatusCode::OK, json!({ "groups": groups, "next": next }))
        }
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
    // The first page through the node's operations (checked and audited once for the
    // whole export); the rest streamed a page at a time, so memory stays bounded
    // whatever the store holds.
    let first = Request::Fhir {
        resource_type: resource_type.clone(),
        after: None,
        limit: Some(FHIR_STREAM_PAGE as u32),
    };
    let (ndjson, next) = match app.run(caller, first).await? {
        Reply::Fhir { ndjson, next, .. } => (ndjson, next),
        other => return Err(unexpected(other)),
    };
    let wanted = fhir::resource_type(&resource_type)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(4);
    let store = app.node.store.clone();
    tokio::spawn(async move {
        if tx.send(Ok(ndjson)).await.is_err() {
            return;
        }
        // Pages are converted on the blocking pool, FHIR_CONVERTING at a time (the
        // machine's cores), and sent in order.
        let mut converting = std::collections::VecDeque::new();
        let mut after = next;
        loop {
            while converting.len() < FHIR_CONVERTING
                && let Some(from) = after
            {
                let store = store.clone();
                let Ok(Ok((ids, next))) = tokio::task::spawn_blocking({
                    let store = store.clone();
                    move || fhir::page_ids(&store, Some(from), FHIR_STREAM_PAGE)
                })
                .await
                else {
                    let _ = tx
                        .send(Err(std::io::Error::other(
                            "the patient list could not be read",
                        )))
                        .await;
                    return;
                };
                converting.push_back(tokio::task::spawn_blocking(move || {
                    fhir::ndjson_of(&store, wanted, &ids)
                }));
                after = next;
            }
            let Some(page) = converting.pop_front() else {
                return;
            };
            let text = match page.await {
                Ok(Ok((text, _))) => text,
                Ok(Err(f)) => {
                    let _ = tx.send(Err(std::io::Error::other(f.message))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            // The client went away: stop reading.
            if tx.send(Ok(text)).await.is_err() {
                return;
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream_from(rx));
    Ok(([(header::CONTENT_TYPE, "application/fhir+ndjson")], body).into_response())
}

/// Patients per page of a streamed FHIR export.
const FHIR_STREAM_PAGE: usize = 256;

/// Pages of a streamed FHIR export converted at once.
const FHIR_CONVERTING: usize = 2;

/// The receiver as a stream of body chunks.
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
