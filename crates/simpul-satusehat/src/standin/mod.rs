//! A local stand-in of SATUSEHAT for tests (feature `standin`), built from the platform's published
//! examples (docs/satusehat-sources.md): the OAuth2 token endpoint (every value a JSON
//! string, as the platform sends them), the Master Patient Index search by NIK and by
//! mother's NIK, OperationOutcome errors, transaction Bundles checked against the
//! profiles' required elements ([`transaction`]), and faults injected on demand: 5xx,
//! 429 with `Retry-After`, tokens that expire or are revoked early, dropped
//! connections, answers lost after a Bundle was taken.

mod transaction;

pub use transaction::Held;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};
use simpul_fhir::systems::{IHS_NUMBER, NIK, NIK_IBU};

/// The one client id the stand-in accepts.
pub const CLIENT_ID: &str = "simpul-test-client";
/// Its secret.
pub const CLIENT_SECRET: &str = "s3cret-of-the-puskesmas";

/// A fault the next request meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `503 Service Unavailable`, `text/plain` as the gateway sends it.
    Unavailable,
    /// `429 Too Many Requests` with `Retry-After: 0`.
    RateLimited,
    /// The connection is closed without an answer.
    Dropped,
    /// `400` with an OperationOutcome naming a broken rule, as the platform's
    /// validation answers.
    Invalid,
    /// At a transaction: the Bundle is taken, and the connection ends before the
    /// answer (elsewhere: as [`Fault::Dropped`]).
    Lost,
}

/// A person the stand-in's patient index holds.
#[derive(Debug, Clone)]
pub struct Person {
    /// Its IHS number.
    pub ihs: String,
    /// Its NIK, if it has one.
    pub nik: Option<String>,
    /// Its mother's NIK (a newborn).
    pub nik_ibu: Option<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
}

#[derive(Default)]
struct Platform {
    tokens: BTreeMap<String, Instant>,
    token_lifetime_s: u64,
    issued: u32,
    people: Vec<Person>,
    faults: VecDeque<Fault>,
    transaction_faults: VecDeque<Fault>,
    random_faults: Option<(f64, Vec<Fault>, rand::rngs::StdRng)>,
    requests: u32,
    locations: BTreeSet<String>,
    organizations: BTreeSet<String>,
    honour_if_none_exist: bool,
    held: Vec<Held>,
    bundles: Vec<Value>,
    next_id: u64,
}

type Shared = Arc<Mutex<Platform>>;

/// The running stand-in (stops when dropped).
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    state: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl StandIn {
    /// Starts a stand-in whose patient index holds `people`.
    pub fn start(people: Vec<Person>) -> StandIn {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let state: Shared = Arc::new(Mutex::new(Platform {
            token_lifetime_s: 3599,
            people,
            ..Platform::default()
        }));
        let app = Router::new()
            .route("/oauth2/v1/accesstoken", post(token))
            .route("/fhir-r4/v1/Patient", get(patients).post(create_patient))
            .route("/fhir-r4/v1/Practitioner", get(practitioners))
            .route("/fhir-r4/v1", post(transaction::transaction))
            .route("/fhir-r4/v1/{kind}", get(transaction::search))
            .with_state(state.clone());
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        runtime.spawn(async move { axum::serve(listener, app).await });
        StandIn {
            base,
            state,
            _runtime: runtime,
        }
    }

    /// The OAuth2 base URL.
    pub fn auth_url(&self) -> String {
        format!("{}/oauth2/v1", self.base)
    }

    /// The FHIR base URL.
    pub fn fhir_url(&self) -> String {
        format!("{}/fhir-r4/v1", self.base)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Platform) -> T) -> T {
        f(&mut self.state.lock().expect("state"))
    }

    /// The next requests meet these faults, one each, in order.
    pub fn inject(&self, faults: &[Fault]) {
        self.with(|p| p.faults.extend(faults));
    }

    /// The next transaction Bundles meet these faults, one each, in order (other
    /// requests pass).
    pub fn inject_at_transactions(&self, faults: &[Fault]) {
        self.with(|p| p.transaction_faults.extend(faults));
    }

    /// From now on each request meets one of `faults` with probability `rate` (after
    /// those injected one by one), drawn from a generator seeded with `seed`.
    pub fn random_faults(&self, rate: f64, faults: &[Fault], seed: u64) {
        use rand::SeedableRng;
        self.with(|p| {
            p.random_faults = Some((
                rate,
                faults.to_vec(),
                rand::rngs::StdRng::seed_from_u64(seed),
            ))
        });
    }

    /// Faults injected and not met yet are dropped, and random faults end.
    pub fn clear_faults(&self) {
        self.with(|p| {
            p.faults.clear();
            p.transaction_faults.clear();
            p.random_faults = None;
        });
    }

    /// Tokens issued from now on last this long.
    pub fn token_lifetime(&self, seconds: u64) {
        self.with(|p| p.token_lifetime_s = seconds);
    }

    /// Every token issued so far stops working (the platform ended them early).
    pub fn revoke_tokens(&self) {
        self.with(|p| p.tokens.clear());
    }

    /// Tokens issued so far.
    pub fn tokens_issued(&self) -> u32 {
        self.with(|p| p.issued)
    }

    /// The people the patient index holds now (those registered through it too).
    pub fn people(&self) -> Vec<Person> {
        self.with(|p| p.people.clone())
    }

    /// Requests received so far (token requests included).
    pub fn requests(&self) -> u32 {
        self.with(|p| p.requests)
    }

    /// The platform knows these Organizations (by id).
    pub fn add_organizations(&self, ids: &[&str]) {
        self.with(|p| p.organizations.extend(ids.iter().map(|s| s.to_string())));
    }

    /// The platform knows these Locations (by id).
    pub fn add_locations(&self, ids: &[&str]) {
        self.with(|p| p.locations.extend(ids.iter().map(|s| s.to_string())));
    }

    /// Honour `ifNoneExist` (answer a create of something held with what is held)
    /// instead of refusing the duplicate, as the platform is documented to.
    pub fn honour_if_none_exist(&self, honour: bool) {
        self.with(|p| p.honour_if_none_exist = honour);
    }

    /// The resources of `kind` held (created through transactions).
    pub fn held(&self, kind: &str) -> Vec<Held> {
        self.with(|p| p.held.iter().filter(|h| h.kind == kind).cloned().collect())
    }

    /// Every transaction Bundle received, taken or refused, as sent.
    pub fn bundles(&self) -> Vec<Value> {
        self.with(|p| p.bundles.clone())
    }
}

fn outcome(status: StatusCode, severity: &str, code: &str, text: &str) -> Response {
    let body = json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "details": {"text": text}}]
    });
    (status, axum::Json(body)).into_response()
}

/// A `400` naming the broken rule, as the platform's validation answers.
fn bad_request(code: &str, text: &str) -> Response {
    outcome(StatusCode::BAD_REQUEST, "error", code, text)
}

/// A searchset Bundle of `entries` (no `entry` at all when there are none).
fn searchset(entries: Vec<Value>) -> Response {
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len()});
    if !entries.is_empty() {
        bundle["entry"] = Value::Array(entries);
    }
    (StatusCode::OK, axum::Json(bundle)).into_response()
}

/// The fault this request meets, if any (counted either way).
fn fault(state: &Shared) -> Option<Response> {
    let mut p = state.lock().expect("state");
    p.requests += 1;
    let next = p.faults.pop_front().or_else(|| p.random_fault());
    match next? {
        Fault::Unavailable => Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain")],
                "Service Unavailable",
            )
                .into_response(),
        ),
        Fault::RateLimited => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "0")],
                "Too Many Requests",
            )
                .into_response(),
        ),
        Fault::Invalid => Some(bad_request(
            "value",
            "Reference is mandatory : Encounter.serviceProvider (RuleNumber: 10124)",
        )),
        Fault::Dropped | Fault::Lost => Some(dropped()),
    }
}

impl Platform {
    fn random_fault(&mut self) -> Option<Fault> {
        use rand::RngExt;
        let (rate, faults, rng) = self.random_faults.as_mut()?;
        (!faults.is_empty() && rng.random_bool(*rate))
            .then(|| faults[rng.random_range(0..faults.len())])
    }
}

/// An answer that starts and ends mid-body, as a cut link ends it.
fn dropped() -> Response {
    let chunks: [Result<&'static [u8], std::io::Error>; 2] = [
        Ok(b"{\"resourceType\":"),
        Err(std::io::Error::other("connection dropped")),
    ];
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    (StatusCode::OK, body).into_response()
}

async fn token(
    State(state): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    if let Some(f) = fault(&state) {
        return f;
    }
    if query.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return bad_request("invalid", "grant_type must be client_credentials");
    }
    if form.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        // As published, with its non-standard severity.
        return outcome(
            StatusCode::UNAUTHORIZED,
            "invalid",
            "value",
            "The user or system was not able to be authenticated (either client_id or client_secret combination is unacceptable)",
        );
    }
    let mut p = state.lock().expect("state");
    p.issued += 1;
    let value = format!("token-{}", p.issued);
    let lifetime = p.token_lifetime_s;
    p.tokens.insert(
        value.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    let body = json!({
        "refresh_token_expires_in": "0", "api_product_list": "[api-sandbox]",
        "api_product_list_json": ["api-sandbox"], "organization_name": "ihs-prod-1",
        "developer.email": "dev@example.invalid", "token_type": "BearerToken",
        "issued_at": "1671109805593", "client_id": CLIENT_ID, "access_token": value,
        "application_name": "992291b8-0000-0000-0000-000000000000", "scope": "",
        "expires_in": lifetime.to_string(), "refresh_count": "0", "status": "approved"
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The fault a FHIR request meets, or its refusal without a valid token.
fn gate(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    if let Some(f) = fault(state) {
        return Some(f);
    }
    if !authorised(state, headers) {
        return Some(outcome(
            StatusCode::UNAUTHORIZED,
            "error",
            "login",
            "Invalid access token",
        ));
    }
    None
}

/// The `system|value` a search names, once the request has passed its faults and its
/// token has been checked.
fn searched<'q>(
    state: &Shared,
    headers: &HeaderMap,
    query: &'q BTreeMap<String, String>,
) -> Result<(&'q str, &'q str), Box<Response>> {
    if let Some(refused) = gate(state, headers) {
        return Err(Box::new(refused));
    }
    query
        .get("identifier")
        .and_then(|i| i.split_once('|'))
        .ok_or_else(|| {
            Box::new(bad_request(
                "value",
                "identifier is required (system|value)",
            ))
        })
}

/// True when the request carries a token the platform issued and has not ended.
fn authorised(state: &Shared, headers: &HeaderMap) -> bool {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let p = state.lock().expect("state");
    token
        .and_then(|t| p.tokens.get(t))
        .is_some_and(|until| Instant::now() < *until)
}

async fn patients(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let (system, value) = match searched(&state, &headers, &query) {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    if !matches!(system, NIK | NIK_IBU) {
        return bad_request(
            "value",
            &format!("Invalid identifier system: {system} (RuleNumber: 10117)"),
        );
    }
    let people = state.lock().expect("state").people.clone();
    let found: Vec<&Person> = people
        .iter()
        .filter(|p| match system {
            NIK => p.nik.as_deref() == Some(value),
            _ => p.nik_ibu.as_deref() == Some(value),
        })
        .collect();
    let entries: Vec<Value> = found
        .iter()
        .map(|p| {
            let mut identifier = vec![json!({"system": IHS_NUMBER, "use": "official", "value": p.ihs})];
            if let Some(nik) = &p.nik {
                identifier.push(json!({"system": NIK, "use": "official", "value": nik}));
            }
            json!({
                "fullUrl": format!("https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1/Patient/{}", p.ihs),
                "resource": {
                    "resourceType": "Patient", "id": p.ihs, "active": true, "identifier": identifier,
                    "birthDate": p.birth_date,
                    "meta": {"profile": ["https://fhir.kemkes.go.id/r4/StructureDefinition/Patient"]},
                    "name": [{"text": "patient", "use": "official"}]
                }
            })
        })
        .collect();
    searchset(entries)
}

/// `POST Patient`: registers a person under a NIK or, a newborn, under its mother's NIK
/// (the two forms the platform documents); refuses one it holds already.
async fn create_patient(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(refused) = gate(&state, &headers) {
        return refused;
    }
    let Ok(patient) = serde_json::from_str::<Value>(&body) else {
        return bad_request("structure", "the body is not JSON");
    };
    if patient["resourceType"] != "Patient" {
        return bad_request("structure", "not a Patient");
    }
    let official = |system: &str| {
        patient["identifier"].as_array().and_then(|ids| {
            ids.iter()
                .find(|i| i["system"] == system)
                .and_then(|i| i["value"].as_str())
                .map(str::to_string)
        })
    };
    let nik = official(NIK);
    let nik_ibu = official(NIK_IBU);
    if nik.is_none() && nik_ibu.is_none() {
        return bad_request(
            "value",
            "Patient.identifier needs a NIK or a mother's NIK (RuleNumber: 10117)",
        );
    }
    let Some(birth_date) = patient["birthDate"].as_str().map(str::to_string) else {
        return bad_request("required", "Patient.birthDate is mandatory");
    };
    if !matches!(patient["gender"].as_str(), Some("male" | "female")) {
        return bad_request("required", "Patient.gender is mandatory");
    }
    let mut p = state.lock().expect("state");
    let held = p.people.iter().any(|q| match &nik {
        Some(nik) => q.nik.as_ref() == Some(nik),
        None => q.nik_ibu == nik_ibu && q.birth_date == birth_date,
    });
    if held {
        return bad_request("duplicate", "Found duplicate resource: Patient");
    }
    let ihs = format!("P9{:010}", p.people.len() + 1);
    p.people.push(Person {
        ihs: ihs.clone(),
        nik,
        nik_ibu,
        birth_date,
    });
    let mut created = patient.clone();
    created["id"] = Value::String(ihs);
    (StatusCode::CREATED, axum::Json(created)).into_response()
}

/// The sandbox's published test practitioners (NIK, IHS id), from the platform's
/// onboarding page.
pub const PRACTITIONERS: [(&str, &str); 10] = [
    ("7209061211900001", "10009880728"),
    ("3322071302900002", "10006926841"),
    ("3171071609900003", "10001354453"),
    ("3207192310600004", "10010910332"),
    ("6408130207800005", "10018180913"),
    ("3217040109800006", "10002074224"),
    ("3519111703800007", "10012572188"),
    ("5271002009700008", "10018452434"),
    ("3313096403900009", "10014058550"),
    ("3578083008700010", "10001915884"),
];

/// `GET Practitioner?identifier=https://fhir.kemkes.go.id/id/nik|{nik}`.
async fn practitioners(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let nik = match searched(&state, &headers, &query) {
        Ok((NIK, nik)) => nik,
        Ok(_) => return bad_request("value", "identifier is required (nik)"),
        Err(refused) => return *refused,
    };
    let entries: Vec<Value> = PRACTITIONERS
        .iter()
        .filter(|(n, _)| *n == nik)
        .map(|(n, id)| {
            json!({
                "fullUrl": format!("https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1/Practitioner/{id}"),
                "resource": {
                    "resourceType": "Practitioner", "id": id, "active": true,
                    "identifier": [
                        {"system": "https://fhir.kemkes.go.id/id/nakes-his-number", "value": id},
                        {"system": NIK, "use": "official", "value": n}
                    ]
                }
            })
        })
        .collect();
    searchset(entries)
}
