//! The district dashboard: one server-rendered page (`GET /dashboard`) for the health
//! office, read-only, behind any token that may view. Every facility of the node's
//! subtree with its last sync, what the node last received from it, backlog and errors
//! (for the peers it talks to), SATUSEHAT submissions, and last month's PWS weighing
//! and stunting figures; a sortable table and two bar plots, no front-end build.
//!
//! A browser cannot send a bearer header: the login form (`POST /dashboard`, or a link
//! with `?token=`) checks the token and opens a session: a random id in an HttpOnly,
//! SameSite=Strict cookie (`Secure` over HTTPS), valid 8 hours, that shows this page
//! and nothing else. Pages are sent `Cache-Control: no-store`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use simpul_model::pws::{Grouping, Month, Period, PwsReport};
use simpul_model::{
    FacilityEntry, FacilityPath, Level, Permission, RecordBody, RecordKind, SubmissionStatus,
};
use simpul_store::{Store, token_hash};

use super::App;
use super::auth::{authenticate, authenticate_hash};
use crate::board::{PeerState, PeerStatus};
use crate::clock::now_ms;

/// The cookie holding the browser's session id (never the token itself).
const COOKIE: &str = "simpul_dashboard";

/// How long a browser session lasts.
const SESSION_MS: u64 = 8 * 3600 * 1000;

/// The most ledgers read for the submission counts (one per patient with visits sent).
const MAX_LEDGERS: usize = 200_000;

/// Browser sessions: a random id (the cookie) for a token's hash, until it expires.
/// A stolen cookie shows the dashboard until then, and nothing else: the API takes
/// tokens only. Each page load checks the token again (a revoked one ends the session).
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<SessionTable>>);

/// Session id to (the token's hash, when the session ends in Unix ms).
type SessionTable = HashMap<String, ([u8; 32], u64)>;

impl Sessions {
    fn open(&self, token_hash: [u8; 32], now: u64) -> String {
        let id = hex::encode(rand::random::<[u8; 32]>());
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.retain(|_, (_, until)| *until > now);
        held.insert(id.clone(), (token_hash, now + SESSION_MS));
        id
    }

    fn token(&self, id: &str, now: u64) -> Option<[u8; 32]> {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.get(id)
            .filter(|(_, until)| *until > now)
            .map(|(hash, _)| *hash)
    }
}

/// The login form's body.
#[derive(serde::Deserialize)]
pub(super) struct Login {
    token: String,
}

/// `POST /dashboard`: the login form (the token stays out of the address and the
/// browser's history).
pub(super) async fn log_in(State(app): State<App>, Form(login): Form<Login>) -> Response {
    start_session(&app, &login.token, None).await
}

/// Checks `token` and answers with a session cookie and a redirect to the page (for
/// `month`, if one was asked for).
async fn start_session(app: &App, token: &str, month: Option<&str>) -> Response {
    match authenticate(app, token).await {
        Ok(authed) if authed.require(Permission::View).is_ok() => {
            let id = app.sessions.open(token_hash(token), now_ms());
            let secure = if app.secure { "; Secure" } else { "" };
            (
                [
                    (
                        header::SET_COOKIE,
                        format!(
                            "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age={}{secure}",
                            SESSION_MS / 1000
                        ),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                Redirect::to(&match month {
                    // Checked when the page is read: only what a month may hold passes.
                    Some(m) if m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                        format!("/dashboard?month={m}")
                    }
                    _ => "/dashboard".to_string(),
                }),
            )
                .into_response()
        }
        Ok(_) => login(Some("this token may not view records")),
        Err(e) => login(Some(&e.message)),
    }
}

/// `GET /dashboard`: the page for a browser with a session; else the login form. A
/// link with `?token=` (from the district's IT officer, say) starts a session too and
/// leaves the address at once, though the browser's history keeps it: the form is the
/// better way in.
pub(super) async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(token) = query.get("token") {
        return start_session(&app, token, query.get("month").map(String::as_str)).await;
    }
    let now = now_ms();
    let Some(hash) = cookie(&headers).and_then(|id| app.sessions.token(&id, now)) else {
        return login(None);
    };
    let caller = match authenticate_hash(&app, hash).await {
        Ok(authed) => match authed.require(Permission::View) {
            Ok(caller) => caller,
            Err(e) => return login(Some(&e.message)),
        },
        Err(e) => return login(Some(&e.message)),
    };
    let month = match query.get("month").map(|m| Month::parse(m)).transpose() {
        Ok(month) => month,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("month: {e}")).into_response(),
    };
    let node = app.node.clone();
    let view = tokio::task::spawn_blocking(move || View::read(&node, month));
    match view.await {
        Ok(Ok(view)) => {
            tracing::debug!(who = %caller.who, "dashboard viewed");
            (
                [(header::CACHE_CONTROL, "no-store")],
                Html(view.render().into_string()),
            )
                .into_response()
        }
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The page asking for a token.
fn login(error: Option<&str>) -> Response {
    let page = html! {
        (DOCTYPE)
        html lang="id" {
            head { meta charset="utf-8"; title { "simpul: dashboard" } (style()) }
            body {
                h1 { "simpul dashboard" }
                @if let Some(error) = error { p.error { (error) } }
                form method="post" action="/dashboard" {
                    label { "Token (viewer): " input type="password" name="token" autocomplete="off"; }
                    " " button type="submit" { "Open" }
                }
            }
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(header::CACHE_CONTROL, "no-store")],
        Html(page.into_string()),
    )
        .into_response()
}

/// One facility's row.
#[derive(Debug, Default)]
struct Row {
    path: Option<FacilityPath>,
    name: String,
    records: u64,
    /// When the newest change it wrote that is held here arrived (Unix ms), and its own
    /// clock then (s).
    last_change: Option<(u64, u64)>,
    peer: Option<PeerStatus>,
    submissions: BTreeMap<SubmissionStatus, u64>,
    /// Under-fives, weighed in the month, measured, stunted.
    s: u32,
    d: u32,
    measured: u32,
    stunted: u32,
}

/// What the page shows, read from the node.
struct View {
    node: FacilityPath,
    now_ms: u64,
    month: Month,
    rows: Vec<Row>,
}

impl View {
    fn read(node: &crate::admin::server::NodeHandle, month: Option<Month>) -> Result<View, String> {
        let store = &node.store;
        let here = store.node().path.clone();
        let now = now_ms();
        // The PWS a health office reads is last month's, complete (reports are made
        // after the month ends); `?month=YYYY-MM` asks for another.
        let month =
            month.unwrap_or_else(|| Month::of(simpul_model::Date::in_indonesia_at(now)).previous());
        let mut rows: BTreeMap<FacilityPath, Row> = BTreeMap::new();
        row(&mut rows, &here, &here);
        let registry = store.facility_registry().map_err(|e| e.to_string())?;
        for (_, FacilityEntry { path, name, .. }) in &registry {
            if let Some(r) = row(&mut rows, &here, path) {
                r.name = name.clone();
            }
        }
        let census = store.census().map_err(|e| e.to_string())?;
        for (facility, n) in &census.by_facility {
            if let Ok(path) = FacilityPath::parse(facility)
                && let Some(r) = row(&mut rows, &here, &path)
            {
                r.records = *n;
            }
        }
        for peer in node.board.peers() {
            if let Some(r) = row(&mut rows, &here, &peer.path.clone()) {
                r.peer = Some(peer);
            }
        }
        // The newest change each facility wrote that is held here: when it arrived, and
        // the writer's clock then.
        for (path, heard) in store.heard().map_err(|e| e.to_string())? {
            if let Some(r) = row(&mut rows, &here, &path) {
                r.last_change = Some((heard.stored_ms, heard.written_s));
            }
        }
        for (facility, status) in submissions(store)? {
            if let Some(r) = row(&mut rows, &here, &facility) {
                *r.submissions.entry(status).or_default() += 1;
            }
        }
        let mut report = PwsReport::new(month, &here)
            .period(Period::Month)
            .grouping(Grouping::HomeFacility);
        store
            .each_report_facts(|_, facts| {
                report.add_facts(&facts);
            })
            .map_err(|e| e.to_string())?;
        for pws in report.rows() {
            let Some(group) = pws.group.as_deref() else {
                continue;
            };
            if let Ok(path) = FacilityPath::parse(group)
                && let Some(r) = row(&mut rows, &here, &path)
            {
                let c = &pws.counts;
                r.s = c.s;
                r.d = c.d;
                r.measured = c.measured_0_5 + c.measured_6_11 + c.measured_12_23 + c.measured_24_59;
                r.stunted = c.stunted_0_5 + c.stunted_6_11 + c.stunted_12_23 + c.stunted_24_59;
            }
        }
        Ok(View {
            node: here,
            now_ms: now,
            month,
            rows: rows.into_values().collect(),
        })
    }

    fn render(&self) -> Markup {
        let posyandu: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                r.path
                    .as_ref()
                    .is_some_and(|p| p.level() == Level::Posyandu)
            })
            .collect();
        html! {
            (DOCTYPE)
            html lang="id" {
                head {
                    meta charset="utf-8";
                    title { "simpul: " (self.node) }
                    (style())
                }
                body {
                    h1 { "simpul dashboard: " (self.node) }
                    p.meta {
                        "As of " span id="now" { (time(self.now_ms)) } " UTC. PWS month " (self.month) ". "
                        (self.rows.len()) " facilities."
                    }
                    table id="facilities" {
                        thead { tr {
                            th { "Facility" } th { "Level" } th { "Name" } th.num { "Records" }
                            th { "Last sync" } th { "Last change" } th.num { "To send" }
                            th.num { "To receive" } th { "Errors" } th { "SATUSEHAT" }
                            th.num { "Weighed (D/S)" } th.num { "Stunted" }
                        } }
                        tbody {
                            @for r in &self.rows { (self.row(r)) }
                        }
                    }
                    h2 { "Weighed in " (self.month) " (D/S), by posyandu" }
                    (bars(&posyandu, |r| ratio(r.d, r.s)))
                    h2 { "Stunted among children measured in " (self.month) ", by posyandu" }
                    (bars(&posyandu, |r| ratio(r.stunted, r.measured)))
                    script { (maud::PreEscaped(SORT_SCRIPT)) }
                }
            }
        }
    }

    fn row(&self, r: &Row) -> Markup {
        let path = r.path.as_ref().map(|p| p.to_string()).unwrap_or_default();
        let level = r
            .path
            .as_ref()
            .map(|p| p.level().to_string())
            .unwrap_or_default();
        let peer = r.peer.as_ref();
        let errors: u64 = peer.map_or(0, |p| p.errors.values().sum());
        html! {
            tr data-facility=(path) {
                td.path { (path) }
                td { (level) }
                td { (r.name) }
                td.num data-sort=(r.records) { (r.records) }
                @match peer {
                    Some(p) => td data-sort=(p.last_sync_ms.unwrap_or(0)) {
                        (p.last_sync_ms.map_or("never".to_string(), |t| ago(self.now_ms, t)))
                        " (" (state(p)) ")"
                    },
                    None => td data-sort="0" { "-" },
                }
                @match r.last_change {
                    Some((at, clock)) => td data-sort=(at) title=(format!("its clock then: {}", time(clock.saturating_mul(1000)))) {
                        (ago(self.now_ms, at))
                    },
                    None => td data-sort="0" { "nothing yet" },
                }
                td.num data-sort=(peer.map_or(0, |p| p.to_send.records)) {
                    (peer.map_or("-".to_string(), |p| backlog(p.to_send.records, p.backlog_from_store)))
                }
                td.num data-sort=(peer.map_or(0, |p| p.to_receive.records)) {
                    (peer.map_or("-".to_string(), |p| p.to_receive.records.to_string()))
                }
                td data-sort=(errors) {
                    @if let Some((_, last)) = peer.and_then(|p| p.last_error.as_ref()) {
                        (errors) ": " (last)
                    } @else { (errors) }
                }
                td {
                    @for (status, n) in &r.submissions { span.badge { (status) " " (n) } " " }
                }
                td.num data-sort=(ratio(r.d, r.s)) { (r.d) "/" (r.s) }
                td.num data-sort=(ratio(r.stunted, r.measured)) { (r.stunted) "/" (r.measured) }
            }
        }
    }
}

/// The row of `path`, made when first asked for; none outside `here`'s subtree.
fn row<'a>(
    rows: &'a mut BTreeMap<FacilityPath, Row>,
    here: &FacilityPath,
    path: &FacilityPath,
) -> Option<&'a mut Row> {
    here.is_ancestor_or_self(path).then(|| {
        rows.entry(path.clone()).or_insert_with(|| Row {
            path: Some(path.clone()),
            ..Row::default()
        })
    })
}

/// Every visit's submission status with its facility, from the ledgers held.
fn submissions(store: &Store) -> Result<Vec<(FacilityPath, SubmissionStatus)>, String> {
    let ids = store
        .ids_of_kind(RecordKind::Submission, None, MAX_LEDGERS)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for id in ids {
        if let Ok(Some((_, record))) = store.record(id)
            && let RecordBody::Submission(l) = record.body
        {
            out.extend(l.visits.into_values().map(|s| (s.facility, s.status)));
        }
    }
    Ok(out)
}

fn ratio(part: u32, whole: u32) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0)
}

fn backlog(n: u64, stored: bool) -> String {
    if stored {
        format!("≤ {n}")
    } else {
        n.to_string()
    }
}

fn state(p: &PeerStatus) -> &'static str {
    match p.state {
        PeerState::Connected { .. } => "connected",
        PeerState::Dialling => "dialling",
        PeerState::BackingOff { .. } => "backing off",
        PeerState::Refused { .. } => "refused",
        PeerState::Disconnected => "not connected",
    }
}

/// A bar per posyandu, as inline SVG: `value` is a percentage.
fn bars(rows: &[&Row], value: impl Fn(&Row) -> u32) -> Markup {
    const BAR: u32 = 18;
    let height = BAR * rows.len().max(1) as u32 + 4;
    html! {
        svg.plot width="640" height=(height) role="img" {
            @for (i, r) in rows.iter().enumerate() {
                @let y = BAR * i as u32;
                @let v = value(r).min(100);
                @let label = r.path.as_ref().map(|p| p.code().to_string()).unwrap_or_default();
                text x="0" y=(y + 13) font-size="12" { (label) }
                rect x="180" y=(y + 2) width=(v * 4) height=(BAR - 4) fill="#2a7ab0" {}
                text x=(184 + v * 4) y=(y + 13) font-size="12" { (v) "%" }
            }
        }
    }
}

fn time(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let date = simpul_model::Date::from_unix_days(days);
    let secs = (ms / 1000) % 86_400;
    format!("{date} {:02}:{:02}", secs / 3600, (secs / 60) % 60)
}

fn ago(now: u64, then: u64) -> String {
    let s = now.saturating_sub(then) / 1000;
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn style() -> Markup {
    html! { style { (maud::PreEscaped(STYLE)) } }
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;font-size:13px}\
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}\
th{background:#eef3f7;cursor:pointer}td.num,th.num{text-align:right}\
.meta{color:#555}.error{color:#b00}.badge{background:#eef;border-radius:3px;padding:0 3px}";

/// Click a header to sort by it (numbers by their `data-sort`).
const SORT_SCRIPT: &str = "document.querySelectorAll('#facilities th').forEach((th,i)=>{\
th.addEventListener('click',()=>{const body=th.closest('table').tBodies[0];\
const rows=[...body.rows];const up=th.dataset.dir!=='up';th.dataset.dir=up?'up':'down';\
const key=r=>{const c=r.cells[i];return c.dataset.sort!==undefined?Number(c.dataset.sort):c.textContent};\
rows.sort((a,b)=>{const x=key(a),y=key(b);return (x<y?-1:x>y?1:0)*(up?1:-1)});\
rows.forEach(r=>body.appendChild(r));});});";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_figures_read_plainly() {
        let row = Row {
            name: "<script>alert(1)</script>".into(),
            ..Row::default()
        };
        let view = View {
            node: FacilityPath::parse("3273").expect("path"),
            now_ms: 90_000_000,
            month: Month::new(2026, 12).expect("month"),
            rows: vec![row],
        };
        let page = view.render().into_string();
        assert!(!page.contains("<script>alert"), "escaped");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_eq!(ratio(3, 4), 75);
        assert_eq!(ratio(1, 0), 0);
        assert_eq!(ago(200_000, 80_000), "2 min ago");
        assert_eq!(time(90_000_000), "1970-01-02 01:00");
        assert_eq!(backlog(4, true), "≤ 4");
    }
}
