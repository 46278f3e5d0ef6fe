//! Prometheus metrics: `GET /metrics` on the node's `metrics_listen` address (off unless
//! configured), in the Prometheus text exposition format (version 0.0.4). Names and
//! labels follow Prometheus' conventions (base units, `_total` counters, `_seconds`,
//! `_bytes`); docs/metrics.md lists them. Nothing here names a person: peers are
//! facility paths, records are counted.

use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::admin::server::NodeHandle;
use crate::board::PeerState;
use crate::clock::now_ms;

/// What the exposition needs besides the node.
#[derive(Clone)]
pub struct MetricsContext {
    /// The node.
    pub node: NodeHandle,
    /// When this node's certificate expires (Unix seconds), if it could be read.
    pub cert_not_after: Option<i64>,
    /// When the data API's HTTPS certificate expires (Unix seconds), if it serves HTTPS.
    pub api_cert_not_after: Option<i64>,
}

/// Serves `/metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, context: MetricsContext) {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(context);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "metrics endpoint stopped");
    }
}

/// Binds the metrics listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn scrape(
    axum::extract::State(context): axum::extract::State<MetricsContext>,
) -> axum::response::Response {
    match tokio::task::spawn_blocking(move || render(&context)).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        // A failed scrape is a failed target to Prometheus, not an empty healthy one.
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the scrape failed: {e}"),
        )
            .into_response(),
    }
}

/// The text exposition, metric family by family.
struct Exposition(String);

impl Exposition {
    /// Starts a family: its HELP and TYPE lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    /// One sample.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", number(value));
    }

    /// A family of one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// A sample value as the format writes it.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Everything the node exposes, read now.
fn render(context: &MetricsContext) -> String {
    let node = &context.node;
    let store = &node.store;
    let mut out = Exposition(String::new());
    out.family(
        "simpul_build_info",
        "gauge",
        "The running simpul: its version and facility (always 1).",
    );
    out.sample(
        "simpul_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("facility", store.node().path.as_str()),
        ],
        1.0,
    );
    out.single(
        "simpul_start_time_seconds",
        "gauge",
        "When the node started (Unix time).",
        node.started_ms as f64 / 1000.0,
    );
    if let Some(t) = context.cert_not_after {
        out.single(
            "simpul_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the node's certificate expires (Unix time): renew it before then.",
            t as f64,
        );
    }
    if let Some(t) = context.api_cert_not_after {
        out.single(
            "simpul_api_certificate_expiry_timestamp_seconds",
            "gauge",
            "When the data API's HTTPS certificate expires (Unix time): replace it before then.",
            t as f64,
        );
    }
    peers(&mut out, node);
    store_metrics(&mut out, node);
    out.0
}

/// A peer's counts received and sent.
type InOut = fn(&crate::board::PeerStatus) -> (u64, u64);

/// Per peer: connection, last sync, backlog, traffic and errors.
fn peers(out: &mut Exposition, node: &NodeHandle) {
    let peers = node.board.peers();
    let labelled = |p: &crate::board::PeerStatus| p.path.to_string();
    out.family(
        "simpul_peer_up",
        "gauge",
        "1 while a session with the peer is open.",
    );
    for p in &peers {
        let up = matches!(p.state, PeerState::Connected { .. });
        out.sample(
            "simpul_peer_up",
            &[("peer", &labelled(p))],
            f64::from(u8::from(up)),
        );
    }
    out.family(
        "simpul_peer_last_sync_timestamp_seconds",
        "gauge",
        "When a session with the peer last ended a reconciliation with nothing left to move (Unix time); absent until it has.",
    );
    for p in &peers {
        if let Some(t) = p.last_sync_ms {
            out.sample(
                "simpul_peer_last_sync_timestamp_seconds",
                &[("peer", &labelled(p))],
                t as f64 / 1000.0,
            );
        }
    }
    out.family(
        "simpul_peer_backlog_records",
        "gauge",
        "Records still to move: to send (written here, not acknowledged) and to receive (as of the last reconciliation).",
    );
    for p in &peers {
        let peer = labelled(p);
        for (direction, n) in [
            ("send", p.to_send.records),
            ("receive", p.to_receive.records),
        ] {
            out.sample(
                "simpul_peer_backlog_records",
                &[("peer", &peer), ("direction", direction)],
                n as f64,
            );
        }
    }
    let counters: [(&str, &str, InOut); 2] = [
        (
            "simpul_peer_transferred_bytes_total",
            "Bytes exchanged with the peer since the node started.",
            |p| (p.bytes_in, p.bytes_out),
        ),
        (
            "simpul_peer_transferred_records_total",
            "Records received (stored) from and sent (acknowledged) to the peer since the node started.",
            |p| (p.records_in, p.records_out),
        ),
    ];
    for (name, help, values) in counters {
        out.family(name, "counter", help);
        for p in &peers {
            let (received, sent) = values(p);
            let peer = labelled(p);
            out.sample(
                name,
                &[("peer", &peer), ("direction", "in")],
                received as f64,
            );
            out.sample(name, &[("peer", &peer), ("direction", "out")], sent as f64);
        }
    }
    out.family(
        "simpul_peer_sessions_total",
        "counter",
        "Sessions with the peer since the node started.",
    );
    for p in &peers {
        out.sample(
            "simpul_peer_sessions_total",
            &[("peer", &labelled(p))],
            p.sessions as f64,
        );
    }
    out.family(
        "simpul_peer_errors_total",
        "counter",
        "Errors with the peer since the node started, by reason: dial (unreachable), refused (certificate or identity), session (ended in error).",
    );
    for p in &peers {
        let peer = labelled(p);
        for reason in ["dial", "refused", "session"] {
            let n = p.errors.get(reason).copied().unwrap_or(0);
            out.sample(
                "simpul_peer_errors_total",
                &[("peer", &peer), ("reason", reason)],
                n as f64,
            );
        }
    }
    out.family(
        "simpul_peer_rtt_seconds",
        "gauge",
        "Round-trip time of the open connection to the peer.",
    );
    for p in &peers {
        if let Some(rtt) = p.rtt_ms {
            out.sample(
                "simpul_peer_rtt_seconds",
                &[("peer", &labelled(p))],
                rtt as f64 / 1000.0,
            );
        }
    }
}

/// How fresh what the node holds of each facility below it is (one row per facility).
fn descendants(out: &mut Exposition, store: &simpul_store::Store) {
    let heard = match store.heard() {
        Ok(heard) => heard,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: reading when facilities were heard from");
            return;
        }
    };
    let here = &store.node().path;
    let below: Vec<_> = heard
        .iter()
        .filter(|(p, _)| *p != here && here.is_ancestor_or_self(p))
        .collect();
    let written = "simpul_facility_newest_change_timestamp_seconds";
    out.family(
        written,
        "gauge",
        "The newest time the changes held here of a facility below this node carry, by its own clock (at most a day ahead of this node's).",
    );
    for (path, h) in &below {
        out.sample(written, &[("facility", path.as_str())], h.written_s as f64);
    }
    let arrived = "simpul_facility_newest_change_arrived_timestamp_seconds";
    out.family(
        arrived,
        "gauge",
        "When a change of that facility was last stored here, by this node's clock: alert on this one.",
    );
    for (path, h) in &below {
        out.sample(
            arrived,
            &[("facility", path.as_str())],
            h.stored_ms as f64 / 1000.0,
        );
    }
}

/// The store: size, records, damaged and quarantined, commit durations.
fn store_metrics(out: &mut Exposition, node: &NodeHandle) {
    let store = &node.store;
    out.single(
        "simpul_store_size_bytes",
        "gauge",
        "Size of the store file.",
        store.file_size().unwrap_or(0) as f64,
    );
    match store.census() {
        Ok(census) => {
            out.family("simpul_store_records", "gauge", "Records held, by kind.");
            for (kind, n) in &census.by_kind {
                out.sample("simpul_store_records", &[("kind", kind)], *n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: reading the census"),
    }
    if let Ok(damaged) = store.damaged() {
        out.single(
            "simpul_store_damaged_records",
            "gauge",
            "Records whose stored bytes failed their check (left out of sync; `simpul status` names them).",
            damaged.len() as f64,
        );
    }
    if let Ok((_, total)) = store.quarantine(0) {
        out.single(
            "simpul_quarantined_changes",
            "gauge",
            "Changes set aside as equivocating (two changes with one actor and sequence number).",
            total as f64,
        );
    }
    descendants(out, store);
    out.single(
        "simpul_store_writer_busy_seconds",
        "gauge",
        "How long the store's writer has been at its batch in hand (0 while it waits for work): a disk hung in fsync shows here, and the watchdog stops beating once it passes 5 minutes.",
        store.writer_busy_for().map_or(0.0, |b| b.as_secs_f64()),
    );
    let t = store.commit_timings();
    let name = "simpul_store_commit_duration_seconds";
    out.family(
        name,
        "histogram",
        "How long the store's durable commits take (a batch of writes each).",
    );
    for (le, n) in &t.buckets {
        out.sample(
            &format!("{name}_bucket"),
            &[("le", &number(*le))],
            *n as f64,
        );
    }
    out.sample(&format!("{name}_bucket"), &[("le", "+Inf")], t.count as f64);
    out.sample(&format!("{name}_sum"), &[], t.sum_seconds);
    out.sample(&format!("{name}_count"), &[], t.count as f64);
    out.single(
        "simpul_store_committed_writes_total",
        "counter",
        "Writes made durable since the node started.",
        t.records as f64,
    );
    out.single(
        "simpul_scrape_timestamp_seconds",
        "gauge",
        "When these figures were read (Unix time).",
        now_ms() as f64 / 1000.0,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_help_are_escaped_and_values_written_as_the_format_says() {
        let mut out = Exposition(String::new());
        out.family("m", "gauge", "a \\ b\nc");
        out.sample("m", &[("peer", "a\"b\\c\nd")], f64::INFINITY);
        out.sample("m", &[], 0.5);
        assert_eq!(
            out.0,
            "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{peer=\"a\\\"b\\\\c\\nd\"} +Inf\nm 0.5\n"
        );
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(3.0), "3");
    }
}
