//! The data API as a facility app reaches it: the real router over the node's store,
//! called in process (the same handlers and extractors as over TCP).

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request};
use simpul_node::admin::server::NodeHandle;
use simpul_node::board::Board;
use simpul_node::store_health::StoreHealth;
use tower::ServiceExt;

use crate::node::{Node, TOKEN};
use crate::{PUSTU, path};

/// Largest reply body read back.
const MAX_REPLY: usize = 64 << 20;

/// The routes the fuzzer picks from (by an input's first byte): what the path and query
/// carry comes from the input where a route takes them.
const ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/patients"),
    (Method::PATCH, "/api/v1/patients/{id}"),
    (Method::POST, "/api/v1/patients/{id}/visits"),
    (
        Method::POST,
        "/api/v1/patients/{id}/visits/{visit}/correction",
    ),
    (
        Method::POST,
        "/api/v1/patients/{id}/visits/{visit}/entered-in-error",
    ),
    (Method::POST, "/api/v1/merge"),
    (Method::GET, "/api/v1/patients?{input}"),
    (Method::GET, "/api/v1/due?{input}"),
    (Method::GET, "/api/v1/audit?{input}"),
    (Method::GET, "/api/v1/reports/pws?{input}"),
    (Method::GET, "/api/v1/fhir/{input}"),
    (Method::GET, "/api/v1/duplicates?{input}"),
    (Method::GET, "/api/v1/patients/{input}"),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Sends one request to the node's API and returns the status, or `None` when the input
/// does not make an HTTP request at all (a path no client could send).
///
/// # Panics
/// If the API's task panics.
pub fn answer(node: &Node, route: u8, input: &[u8]) -> Option<u16> {
    let (method, template) = &ROUTES[usize::from(route) % ROUTES.len()];
    let takes_input = template.contains("{input}");
    let text = String::from_utf8_lossy(input);
    let uri = template
        .replace("{id}", &node.patient.id.to_string())
        .replace("{visit}", &node.visit)
        .replace("{input}", &text);
    let body = if takes_input {
        Body::empty()
    } else {
        Body::from(input.to_vec())
    };
    let request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body)
        .ok()?;
    let handle = NodeHandle {
        store: node.store.clone(),
        changes: tokio::sync::broadcast::channel(16).0,
        board: Board::new(path(PUSTU), []),
        rounds: tokio::sync::broadcast::channel(1).0,
        started_ms: 0,
        revocations: tokio::sync::watch::channel(None).0,
        health: StoreHealth::new(),
    };
    let router = simpul_node::api::router(handle, false);
    runtime().block_on(async move {
        let response = router.oneshot(request).await.expect("the router answers");
        let status = response.status().as_u16();
        axum::body::to_bytes(response.into_body(), MAX_REPLY)
            .await
            .expect("the reply body is readable");
        Some(status)
    })
}
