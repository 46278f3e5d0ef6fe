//! W8: the district at scale. A district node holding `n` generated people and a year of
//! audit (one record per pustu per day): the first page of each list and search through
//! the data API (p50/p99 of repeated requests), a month's PWS for the whole district,
//! a FHIR export streamed through the API, `verify`, and the analytics feed into a real
//! PostgreSQL server (the initial feed of everything, then the lag of a live write),
//! with the node's memory during each.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use simpul_node::admin::{Reply, Request};

use crate::procs::{Bench, Node, free_port, free_tcp_port, proc_kb};
use crate::workloads::{generated, round3};

const DISTRICT: &str = "3273";
const NAME: &str = "w8";
/// Requests per list for the latency figures.
const REPEATS: usize = 30;

/// W8 with `n` people and `days` days of audit.
pub(crate) fn district_queries(
    bench: &Bench,
    n: u64,
    days: u32,
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let audit = format!("{days}");
    let cached = generated(
        bench,
        "district-audit",
        DISTRICT,
        8,
        n,
        &["--audit-days", &audit],
    )?;
    let _ = std::fs::remove_dir_all(bench.work.join(NAME));
    std::fs::create_dir_all(bench.work.join(NAME))?;
    std::fs::copy(&cached, bench.work.join(NAME).join("simpul.redb"))?;
    bench.district(&[(NAME, DISTRICT)])?;
    let file_bytes = std::fs::metadata(bench.work.join(NAME).join("simpul.redb"))?.len();
    let token = bench.token(NAME, "viewer", "w8")?;
    let api_port = free_tcp_port()?;
    let config = bench.config(NAME, DISTRICT, free_port()?, None)?;
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        format!("api_listen = \"127.0.0.1:{api_port}\"\n{text}"),
    )?;

    let mut node = bench.start(NAME)?;
    std::thread::sleep(Duration::from_secs(2));
    out(json!({
        "workload": "W8/start", "n": n, "audit_days": days, "file_bytes": file_bytes,
        "startup_s": round3(node.startup.as_secs_f64()), "idle_rss_kb": node.rss_kb(),
    }));
    let api = Api {
        base: format!("http://127.0.0.1:{api_port}/api/v1"),
        token,
        agent: ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1800)))
            .build()
            .into(),
    };

    // Someone to look for: the first person of the list, read whole.
    let first = match node.call(Request::List {
        after: None,
        limit: Some(1),
    })? {
        Reply::List { rows, .. } => rows.first().map(|(id, _)| *id).context("no people")?,
        other => bail!("unexpected reply {other:?}"),
    };
    let person = api.get(&format!("/patients/{first}"))?.1;
    let name = person["patient"]["name"]
        .as_str()
        .unwrap_or("siti")
        .to_string();
    let word = name.split(' ').next().unwrap_or("siti").to_lowercase();
    let village = person["patient"]["address"]["village"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let home = person["patient"]["home_facility"]
        .as_str()
        .unwrap_or(DISTRICT)
        .to_string();
    let born = person["patient"]["birth_date"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let puskesmas: String = home.split('/').take(2).collect::<Vec<_>>().join("/");
    let month = "2026-10";
    let lists: Vec<(&str, String)> = vec![
        ("search/name", format!("/patients?name={word}&limit=100")),
        (
            "search/village",
            format!("/patients?village={village}&limit=100"),
        ),
        (
            "search/birth_date",
            format!("/patients?birth_date={born}&limit=100"),
        ),
        (
            "due/posyandu",
            format!("/due?facility={home}&month={month}&service=weighing&limit=100"),
        ),
        (
            "due/puskesmas",
            format!("/due?facility={puskesmas}&month={month}&service=weighing&limit=100"),
        ),
        (
            "due/posyandu-follow-up",
            format!("/due?facility={home}&month={month}&service=growth_follow_up&limit=100"),
        ),
        ("audit/record", format!("/audit?record={first}&limit=100")),
        ("audit/who", "/audit?who=Bidan%20Sri&limit=100".to_string()),
        ("audit/latest", "/audit?limit=100".to_string()),
        ("duplicates", "/duplicates?limit=100".to_string()),
    ];
    for (list, path) in &lists {
        let mut ms = Vec::with_capacity(REPEATS);
        let mut rows = 0;
        for _ in 0..REPEATS {
            let started = Instant::now();
            let (status, body) = api.get(path)?;
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                bail!("{path}: status {status}: {body}");
            }
            rows = body["people"]
                .as_array()
                .or(body["entries"].as_array())
                .or(body["groups"].as_array())
                .map_or(0, Vec::len);
        }
        out(latency_line(list, n, rows, ms, &node));
    }
    // The patient list, through the admin socket (the CLI's way).
    let mut ms = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let started = Instant::now();
        node.call(Request::List {
            after: None,
            limit: Some(100),
        })?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    out(latency_line("patient-list", n, 100, ms, &node));
    // Records with competing values, through the admin socket (from the store's list
    // of them: generated records have none, so this is the cost of an empty page).
    let mut ms = Vec::with_capacity(REPEATS);
    let mut rows = 0;
    for _ in 0..REPEATS {
        let started = Instant::now();
        let reply = node.call(Request::Conflicts {
            id: None,
            after: None,
            limit: Some(100),
        })?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if let Reply::Conflicts { records, .. } = reply {
            rows = records.len();
        }
    }
    out(latency_line("conflicts", n, rows, ms, &node));

    // A month's PWS for the whole district, by puskesmas.
    let mut walls = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, body) = api.get(&format!("/reports/pws?month={month}&by=puskesmas"))?;
        walls.push(started.elapsed().as_secs_f64());
        if status != 200 {
            bail!("pws: status {status}: {body}");
        }
    }
    walls.sort_by(f64::total_cmp);
    out(json!({
        "workload": "W8/pws-month", "n": n, "wall_s": round3(walls[1]),
        "min_s": round3(walls[0]), "max_s": round3(walls[2]), "runs": 3,
        "rss_kb": node.rss_kb(), "peak_rss_kb": node.peak_rss_kb(),
    }));

    // FHIR export streamed through the API.
    let before_rss = node.peak_rss_kb();
    let started = Instant::now();
    let (patients, bytes) = api.stream_lines("/fhir/Patient")?;
    let wall = started.elapsed().as_secs_f64();
    out(json!({
        "workload": "W8/fhir-export", "n": n, "patients": patients, "bytes": bytes,
        "wall_s": round3(wall), "patients_per_s": (patients as f64 / wall).round(),
        "peak_rss_kb_before": before_rss, "peak_rss_kb": node.peak_rss_kb(),
    }));
    node.stop()?;

    // verify on the stopped node.
    let (wall, rss, stdout) = measured(bench, &["--data-dir", NAME, "verify", "--json"], &[])?;
    let report: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    out(json!({
        "workload": "W8/verify", "n": n, "wall_s": round3(wall), "peak_rss_kb": rss,
        "records": report["records"], "problems": report["problems"].as_array().map_or(0, Vec::len),
    }));

    feed(bench, n, (api_port, &home), out)
}

/// The analytics feed: everything into a fresh PostgreSQL database on the stopped node,
/// then the lag of a live write at the running node with `[feed.postgres]`.
fn feed(
    bench: &Bench,
    n: u64,
    (api_port, home): (u16, &str),
    out: &mut dyn FnMut(Value),
) -> Result<()> {
    let pg = simpul_feed::testing::Postgres::start();
    let url = pg.url("postgres");
    let (wall, rss, stdout) = measured(
        bench,
        &["--data-dir", NAME, "feed", "postgres"],
        &[("SIMPUL_FEED_URL", url.as_str())],
    )?;
    let rows: u64 = simpul_feed::TABLES
        .iter()
        .map(|t| {
            pg.psql("postgres", &format!("SELECT count(*) FROM {t}"))
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    out(json!({
        "workload": "W8/feed-initial", "n": n, "wall_s": round3(wall), "peak_rss_kb": rss,
        "rows": rows, "rows_per_s": (rows as f64 / wall).round(), "said": stdout.trim(),
    }));

    let config = bench.work.join(format!("{NAME}.toml"));
    let text = std::fs::read_to_string(&config)?;
    std::fs::write(
        &config,
        format!("{text}\n[feed.postgres]\nurl = \"{url}\"\nevery_secs = 1\n"),
    )?;
    let node = bench.start(NAME)?;
    std::thread::sleep(Duration::from_secs(3));
    let kader = bench.token(NAME, "kader", "w8-kader")?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut lags = Vec::new();
    for i in 0..5 {
        let body = json!({
            "name": format!("Lag Test {i}"), "sex": "F", "birth_date": "1990-01-01",
            "village": "3273010001", "home_facility": home,
        });
        let started = Instant::now();
        let mut response = agent
            .post(&format!("http://127.0.0.1:{api_port}/api/v1/patients"))
            .header("Authorization", &format!("Bearer {kader}"))
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(&body)?;
        let text = response.body_mut().read_to_string()?;
        if response.status() != 201 {
            bail!(
                "registration for the lag: status {}: {text}",
                response.status()
            );
        }
        let created: Value = serde_json::from_str(&text)?;
        let id = created["id"].as_str().context("created id")?.to_string();
        loop {
            let found = pg.psql(
                "postgres",
                &format!("SELECT count(*) FROM people WHERE id = '{id}'"),
            );
            if found.trim() == "1" {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("a live write was not fed within 2 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        lags.push(started.elapsed().as_secs_f64());
    }
    lags.sort_by(f64::total_cmp);
    out(json!({
        "workload": "W8/feed-lag", "n": n, "every_secs": 1, "writes": lags.len(),
        "lag_s": round3(lags[lags.len() / 2]), "min_s": round3(lags[0]),
        "max_s": round3(lags[lags.len() - 1]), "rss_kb": node.rss_kb(),
    }));
    node.stop()
}

/// A list's latency line: p50 and p99 of the requests, the rows of a page, memory.
fn latency_line(list: &str, n: u64, rows: usize, mut ms: Vec<f64>, node: &Node) -> Value {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| round3(ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1]);
    json!({
        "workload": "W8/first-page", "list": list, "n": n, "rows": rows, "requests": ms.len(),
        "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0),
        "rss_kb": node.rss_kb(), "peak_rss_kb": node.peak_rss_kb(),
    })
}

/// Runs `simpul ARGS` to the end: wall seconds, peak RSS (kB, polled), stdout.
fn measured(bench: &Bench, args: &[&str], env: &[(&str, &str)]) -> Result<(f64, u64, String)> {
    let started = Instant::now();
    let mut child = Command::new(bench.bin.join("simpul"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(&bench.work)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("run simpul")?;
    let stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let mut peak = 0;
    let status = loop {
        peak = peak.max(proc_kb(child.id(), "VmHWM:"));
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap_or_default();
    if !status.success() {
        bail!("simpul {args:?} failed: {status}");
    }
    Ok((started.elapsed().as_secs_f64(), peak, text))
}

/// The data API with a token.
struct Api {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    fn get(&self, path: &str) -> Result<(u16, Value)> {
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .config()
            .http_status_as_error(false)
            .build()
            .call()?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Reads a streamed NDJSON body to the end: lines and bytes.
    fn stream_lines(&self, path: &str) -> Result<(u64, u64)> {
        use std::io::BufRead;
        let response = self
            .agent
            .get(&format!("{}{path}", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()?;
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let (mut lines, mut bytes) = (0, 0);
        for line in reader.lines() {
            let line = line?;
            bytes += line.len() as u64 + 1;
            lines += 1;
        }
        Ok((lines, bytes))
    }
}
