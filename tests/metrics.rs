//! The Prometheus endpoint of real running nodes, scraped during a sync and read with a
//! Prometheus text-format parser: what it says is what the nodes hold and did.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{call, free_tcp_port};
use common::nodes::*;
use common::*;
use prometheus_parse::{Sample, Scrape, Value};

/// Adds `metrics_listen` to a node's config; the endpoint's base URL.
fn with_metrics(config: &Path) -> String {
    let port = free_tcp_port();
    let text = std::fs::read_to_string(config).expect("read config");
    std::fs::write(
        config,
        format!("metrics_listen = \"127.0.0.1:{port}\"\n{text}"),
    )
    .expect("write");
    format!("http://127.0.0.1:{port}")
}

fn scrape(base: &str) -> Scrape {
    let (status, body) = call(base, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let text = body.as_str().expect("text").to_string();
    // Every line is a comment or a sample the parser reads: none is skipped.
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    let parsed = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parse");
    let histogram_lines: usize = parsed
        .samples
        .iter()
        .map(|s| match &s.value {
            // Its buckets, and its _sum and _count (read as samples of their own).
            Value::Histogram(b) => b.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(histogram_lines, samples, "every sample parsed:\n{text}");
    parsed
}

/// The value of `metric` with `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s: &&Sample| {
            s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
        .and_then(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[test]
fn metrics_scraped_during_a_sync_say_what_the_nodes_did() {
    const PATIENTS: u32 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &[
            "gen",
            "--seed",
            "11",
            "--patients",
            &PATIENTS.to_string(),
            "--no-activities",
        ],
    );
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_config = config(d, "pu", PUSTU, pu_port, &[]);
    let py_config = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let (pu_metrics, py_metrics) = (with_metrics(&pu_config), with_metrics(&py_config));
    let (pu_node, _pu_logs) = start_running(&pu_config);
    let (py_node, _py_logs) = start_running(&py_config);

    // Scraped again and again while the posyandu sends its records: each scrape
    // parses, until the pustu holds them all.
    let mut scrapes = 0;
    let synced = eventually(Duration::from_secs(60), || {
        scrapes += 1;
        let pu = scrape(&pu_metrics);
        let py = scrape(&py_metrics);
        value(&pu, "simpul_store_records", &[("kind", "patient")]) == Some(f64::from(PATIENTS))
            && value(
                &py,
                "simpul_peer_last_sync_timestamp_seconds",
                &[("peer", PUSTU)],
            )
            .is_some()
    });
    let py = scrape(&py_metrics);
    let pu = scrape(&pu_metrics);
    // Read beside the scrape: a clean close may trim the file.
    let size = std::fs::metadata(d.join("pu").join("simpul.redb"))
        .map(|m| m.len() as f64)
        .ok();
    let statuses = [terminate(py_node), terminate(pu_node)];
    assert!(synced, "never in sync after {scrapes} scrapes");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");

    let py_to_pu = [("peer", PUSTU)];
    assert_eq!(value(&py, "simpul_peer_up", &py_to_pu), Some(1.0));
    let sent = value(
        &py,
        "simpul_peer_transferred_records_total",
        &[("peer", PUSTU), ("direction", "out")],
    )
    .expect("records sent");
    let received = value(
        &pu,
        "simpul_peer_transferred_records_total",
        &[("peer", PY), ("direction", "in")],
    )
    .expect("records received");
    assert!(sent >= f64::from(PATIENTS), "sent {sent}");
    assert!(received >= f64::from(PATIENTS), "received {received}");
    assert!(
        value(
            &py,
            "simpul_peer_transferred_bytes_total",
            &[("peer", PUSTU), ("direction", "out")]
        )
        .is_some_and(|b| b > 1_000.0)
    );
    for direction in ["send", "receive"] {
        assert_eq!(
            value(
                &py,
                "simpul_peer_backlog_records",
                &[("peer", PUSTU), ("direction", direction)]
            ),
            Some(0.0),
            "{direction}"
        );
    }
    assert_eq!(
        value(
            &py,
            "simpul_peer_errors_total",
            &[("peer", PUSTU), ("reason", "refused")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&py, "simpul_store_records", &[("kind", "patient")]),
        Some(f64::from(PATIENTS))
    );
    // The store's size is the file's; its commits are counted in the histogram.
    assert_eq!(value(&pu, "simpul_store_size_bytes", &[]), size);
    let commits = pu
        .samples
        .iter()
        .find(|s| s.metric == "simpul_store_commit_duration_seconds")
        .expect("commit histogram");
    let Value::Histogram(buckets) = &commits.value else {
        panic!("not a histogram: {commits:?}");
    };
    let all = buckets.last().expect("+Inf").count;
    assert!(buckets.last().is_some_and(|b| b.less_than.is_infinite()));
    assert!(all >= 1.0, "{buckets:?}");
    assert!(
        buckets.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative: {buckets:?}"
    );
    // The certificate's expiry is in the future (a year for a new one).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs_f64();
    let expiry =
        value(&py, "simpul_certificate_expiry_timestamp_seconds", &[]).expect("certificate expiry");
    assert!(expiry > now + 300.0 * 86_400.0, "{expiry} vs {now}");
    assert!(py.docs.contains_key("simpul_peer_backlog_records"));
    // The pustu knows how fresh its posyandu is; the posyandu has nothing below it.
    let py_row = [("facility", PY)];
    let arrived = value(
        &pu,
        "simpul_facility_newest_change_arrived_timestamp_seconds",
        &py_row,
    )
    .expect("the posyandu's freshness at the pustu");
    assert!(
        arrived <= now && arrived > now - 600.0,
        "{arrived} vs {now}"
    );
    assert!(
        value(
            &pu,
            "simpul_facility_newest_change_timestamp_seconds",
            &py_row
        )
        .is_some_and(|w| w > 0.0 && w <= now + 1.0)
    );
    assert!(
        !py.samples
            .iter()
            .any(|s| s.metric.starts_with("simpul_facility_")),
        "a posyandu has no facility below it"
    );
}
