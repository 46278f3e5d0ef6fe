//! The district dashboard in a real headless browser (the distribution's chromium):
//! the page a pustu serves lists its facilities with what it holds of each, its
//! posyandu peer's sync, and a screenshot lands in the test output.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::api::{call, free_tcp_port, with_api};
use common::nodes::*;
use common::*;
use serde_json::Value;

/// The browser, run headless with `args` against `url`; its standard output.
fn chromium(args: &[&str], url: &str, profile: &Path) -> String {
    let out = Command::new("timeout")
        .args([
            "120",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium must be installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The text of each cell of the table row for `facility` in `dom`.
fn cells(dom: &str, facility: &str) -> Option<Vec<String>> {
    let start = dom.find(&format!("data-facility=\"{facility}\""))?;
    let row = &dom[start..start + dom[start..].find("</tr>")?];
    Some(
        row.split("<td")
            .skip(1)
            .map(|cell| {
                let inner = &cell[cell.find('>').map_or(0, |i| i + 1)..];
                let mut text = String::new();
                let mut in_tag = false;
                for c in inner.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag => text.push(c),
                        _ => {}
                    }
                }
                text.trim().to_string()
            })
            .collect(),
    )
}

#[test]
fn the_dashboard_in_a_browser_lists_what_the_node_holds_of_each_facility() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "8", "--patients", "60", "--no-activities"],
    );
    let (pu_port, py_port, api_port) = (free_port(), free_port(), free_tcp_port());
    let pu_cfg = config(d, "pu", PUSTU, pu_port, &[]);
    with_api(&pu_cfg, api_port);
    let py_cfg = config(d, "py", PY, py_port, &[(pu_port, PUSTU)]);
    let (pustu, _pu_logs) = start_running(&pu_cfg);
    let (posyandu, _py_logs) = start_running(&py_cfg);
    let status = |dir: &str| -> Value {
        serde_json::from_str(&ok(&d.join(dir), &["status", "--json"])).expect("json")
    };
    let synced = eventually(Duration::from_secs(30), || {
        status("pu")["records"]["by_facility"][PY] == status("py")["records"]["by_facility"][PY]
            && status("pu")["peers"][0]["last_sync_ms"].is_u64()
    });
    let base = format!("http://127.0.0.1:{api_port}");
    let viewer = ok(
        &d.join("pu"),
        &[
            "token",
            "issue",
            "--role",
            "viewer",
            "--name",
            "Dinkes Data",
        ],
    )
    .trim()
    .to_string();
    let held = status("pu");

    // Without a token: the login form (401); a wrong token is refused there too.
    let (no_token, form) = call(&base, "GET", "/dashboard", None, None);
    let (bad_token, refused) = call(&base, "GET", "/dashboard?token=sp_nope", None, None);
    // The form's token opens a session: a cookie holding a random id, not the token.
    let no_redirects: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let opened = no_redirects
        .post(&format!("{base}/dashboard"))
        .content_type("application/x-www-form-urlencoded")
        .send(format!("token={viewer}"))
        .expect("log in");
    let header = |name: &str| {
        opened
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (opened_status, location, set_cookie) = (
        opened.status().as_u16(),
        header("location"),
        header("set-cookie"),
    );
    // The browser: the token in the address, kept in a cookie, the page after the
    // redirect.
    let profile = tempfile::tempdir().expect("profile");
    let url = format!("{base}/dashboard?token={viewer}");
    let dom = chromium(&["--dump-dom"], &url, profile.path());
    let shot = std::env::temp_dir().join(format!("simpul-dashboard-{}.png", std::process::id()));
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
        ],
        &url,
        profile.path(),
    );
    // A month asked for that is no month is refused, naming it; a real one is shown.
    let session = set_cookie.split(';').next().unwrap_or_default().to_string();
    let with_session = |month: &str| {
        let mut answer = no_redirects
            .get(&format!("{base}/dashboard?month={month}"))
            .header("Cookie", &session)
            .call()
            .expect("dashboard");
        let text = answer.body_mut().read_to_string().expect("body");
        (answer.status().as_u16(), text)
    };
    let (bad_month, bad_month_said) = with_session("2026-13");
    let (october, october_page) = with_session("2026-10");
    // A link with the token and a month keeps the month through the login redirect.
    let linked = no_redirects
        .get(&format!("{base}/dashboard?token={viewer}&month=2026-10"))
        .call()
        .expect("link");
    let linked_to = linked
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let statuses = [terminate(posyandu), terminate(pustu)];
    println!("dashboard screenshot: {}", shot.display());
    assert_eq!(bad_month, 400, "{bad_month_said}");
    assert!(
        bad_month_said.starts_with("month:") && bad_month_said.contains("13"),
        "{bad_month_said}"
    );
    assert_eq!(october, 200);
    assert!(october_page.contains("PWS month 2026-10"), "{october_page}");
    assert_eq!(linked_to, "/dashboard?month=2026-10");

    assert!(synced, "never in sync");
    assert_eq!(no_token, 401);
    assert!(
        form.as_str().is_some_and(|f| f.contains("name=\"token\"")),
        "{form}"
    );
    assert_eq!(bad_token, 401);
    assert_eq!((opened_status, location.as_str()), (303, "/dashboard"));
    assert!(
        set_cookie.starts_with("simpul_dashboard=")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("SameSite=Strict")
            && !set_cookie.contains(&viewer),
        "{set_cookie}"
    );
    assert!(
        refused
            .as_str()
            .is_some_and(|f| f.contains("unknown token")),
        "{refused}"
    );
    assert!(dom.contains(&format!("simpul dashboard: {PUSTU}")), "{dom}");
    // Every facility the pustu holds records of has its row, with that count.
    let by_facility = held["records"]["by_facility"]
        .as_object()
        .expect("by facility");
    assert!(!by_facility.is_empty());
    for (facility, n) in by_facility {
        let row = cells(&dom, facility).unwrap_or_else(|| panic!("no row for {facility}"));
        assert_eq!(row[3], n.to_string(), "{facility}: {row:?}");
    }
    // The posyandu is the pustu's peer: its sync and backlog show.
    let py_row = cells(&dom, PY).expect("posyandu row");
    assert_eq!(py_row[1], "posyandu");
    assert!(py_row[4].contains("ago"), "last sync: {py_row:?}");
    assert!(py_row[5].contains("ago"), "last received: {py_row:?}");
    assert_eq!(
        (py_row[6].as_str(), py_row[7].as_str()),
        ("0", "0"),
        "{py_row:?}"
    );
    assert!(dom.contains("<svg"), "the plots");
    let png = std::fs::read(&shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}
