//! The SATUSEHAT submission ledger: what the bridge has sent of each visit, and sending
//! again (the CLI's `simpul satusehat status|retry|resend`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use simpul_model::{Permission, SubmissionLedger, SubmissionStatus};

use super::{Answer, Body, ok, unexpected};
use crate::admin::{Reply, Request};
use crate::api::input::parse;
use crate::api::{App, Authed};

/// One line per visit of every ledger held: the platform's ids, or what to fix.
pub(super) async fn submissions(State(app): State<App>, auth: Authed) -> Answer {
    let caller = auth.require(Permission::View)?;
    match app.run(caller, Request::Submissions).await? {
        Reply::Submissions { ledgers } => {
            ok(StatusCode::OK, json!({ "submissions": lines(&ledgers) }))
        }
        other => Err(unexpected(other)),
    }
}

/// What `POST /api/v1/satusehat/retry` takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RetryInput {
    /// One visit, else every one that may be sent again.
    #[serde(default)]
    visit: Option<String>,
    /// Sent visits too (looked up on the platform first: nothing is sent twice).
    #[serde(default)]
    resend: bool,
}

/// Asks for refused, waiting and set-aside visits (with `resend`, sent ones too) to be
/// sent again; answers with the visits that will be. A bidan's correction.
pub(super) async fn retry(State(app): State<App>, auth: Authed, body: Body) -> Answer {
    let caller = auth.require(Permission::Correct)?;
    let input: RetryInput = parse(body)?;
    let request = Request::RetrySubmissions {
        visit: input.visit,
        resend: input.resend,
    };
    match app.run(caller, request).await? {
        Reply::Submissions { ledgers } => {
            let again: Vec<Value> = lines(&ledgers)
                .into_iter()
                .filter(|l| l["status"] == SubmissionStatus::Retry.as_str())
                .collect();
            ok(StatusCode::OK, json!({ "retrying": again }))
        }
        other => Err(unexpected(other)),
    }
}

/// Ledgers' entries as JSON objects, one per visit (the API's and `simpul satusehat
/// status --json`'s shape).
pub fn lines(ledgers: &[SubmissionLedger]) -> Vec<Value> {
    ledgers
        .iter()
        .flat_map(|l| {
            l.visits.iter().map(move |(visit, s)| {
                json!({
                    "patient": l.patient, "visit": visit, "submitter": l.submitter,
                    "facility": s.facility, "date": s.date, "status": s.status,
                    "platform_ids": s.platform_ids, "error": s.error,
                    "attempts": s.attempts, "updated_ms": s.updated_ms,
                })
            })
        })
        .collect()
}
