//! The data API: HTTP + JSON for the apps kader, midwives and nurses use at a facility.
//!
//! Every request carries a bearer token issued with `simpul token issue`; its role
//! (Permenkes 24/2022: kader = input, bidan = input + correct, viewer = view) decides
//! what it may do. Requests run through [`crate::admin::ops::execute`], the code the CLI
//! uses, so validation, scope rules and the audit trail are the same whichever way a
//! record comes in; stored writes are pushed to peers like any other. The OpenAPI
//! description is served at `/api/v1/openapi.json`.

mod auth;
mod dashboard;
mod error;
mod input;
mod routes;
pub mod tls;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;

pub use auth::Authed;
pub use error::ApiError;
pub use routes::submission_lines;

use crate::admin::ops::execute;
use crate::admin::server::NodeHandle;
use crate::admin::{Caller, Reply, Request};
use crate::clock::{now_ms, today};

/// The largest request body accepted (a patient with a visit is a few kilobytes).
pub const MAX_BODY_BYTES: usize = 64 << 10;

/// The OpenAPI 3 description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler reaches.
#[derive(Clone)]
pub struct App {
    /// The node.
    pub node: NodeHandle,
    /// The dashboard's browser sessions.
    pub sessions: dashboard::Sessions,
    /// True when served over HTTPS (cookies are then `Secure`).
    pub secure: bool,
}

impl App {
    /// Runs `request` for `caller` off the async threads and announces its writes.
    pub async fn run(&self, caller: Caller, request: Request) -> Result<Reply, ApiError> {
        let store = self.node.store.clone();
        let now = now_ms();
        let result =
            tokio::task::spawn_blocking(move || execute(&store, request, &caller, today(), now))
                .await
                .map_err(|e| {
                    ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        format!("request task failed: {e}"),
                    )
                })?;
        let (reply, outcomes) = result.inspect_err(|f| self.node.note_failure(f))?;
        self.node.announce(outcomes, now);
        Ok(reply)
    }
}

/// The API's routes.
pub fn router(node: NodeHandle, secure: bool) -> Router {
    routes::routes()
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(App {
            node,
            sessions: dashboard::Sessions::default(),
            secure,
        })
}

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, node: NodeHandle) {
    if let Err(e) = axum::serve(listener, router(node, false)).await {
        tracing::warn!(error = %e, "data API stopped");
    }
}
