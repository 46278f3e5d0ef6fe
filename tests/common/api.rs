//! Talking to a node's data API over real HTTP.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// Adds `api_listen` to a node's config (before any `[[peer]]` table).
pub fn with_api(config: &Path, port: u16) {
    let text = std::fs::read_to_string(config).expect("read config");
    std::fs::write(config, format!("api_listen = \"127.0.0.1:{port}\"\n{text}")).expect("write");
}

/// A TCP port free on loopback now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One request to the API at `base` (`http://127.0.0.1:PORT`): (status, JSON body, or
/// the text when it is not JSON).
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let response = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        (m, body) => {
            let mut r = match m {
                "POST" => agent.post(&url),
                "PATCH" => agent.patch(&url),
                other => panic!("method {other}"),
            };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.header("Content-Type", "application/json")
                .send(body.unwrap_or(""))
        }
    };
    let mut response = response.expect("request");
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(50 << 20)
        .read_to_string()
        .expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
