//! The data API of a running `simpul run`: every endpoint, every role, bad input of each
//! kind answered with the right status and nothing stored; and a record written through
//! the API at a posyandu read through the API at the district, with its audit trail.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{free_tcp_port, with_api};
use common::nodes::*;
use common::*;
use serde_json::{Value, json};

/// A running node with its data API on `port`.
struct ApiNode {
    base: String,
    _process: NodeProcess,
}

fn start_api(config: &Path) -> ApiNode {
    let port = free_tcp_port();
    with_api(config, port);
    let (process, logs) = start(config);
    let mut seen = Vec::new();
    assert!(
        wait_for(&logs, "data API listening", &mut seen),
        "no API: {seen:#?}"
    );
    std::thread::spawn(move || for _ in logs {});
    ApiNode {
        base: format!("http://127.0.0.1:{port}"),
        _process: process,
    }
}

/// One request: (status, JSON body or Null).
fn call(
    node: &ApiNode,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    common::api::call(&node.base, method, path, token, body)
}

fn get(node: &ApiNode, path: &str, token: &str) -> (u16, Value) {
    call(node, "GET", path, Some(token), None)
}

fn post(node: &ApiNode, path: &str, token: &str, body: &Value) -> (u16, Value) {
    call(node, "POST", path, Some(token), Some(&body.to_string()))
}

/// A health worker's NIK (a sandbox practitioner's, as SATUSEHAT publishes them).
const BIDAN_NIK: &str = "3217040109800006";

fn issue(dir: &Path, role: &str, name: &str) -> String {
    ok(dir, &["token", "issue", "--role", role, "--name", name])
        .trim()
        .to_string()
}

/// The fields a 422 names.
fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn this_month() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let date = time::OffsetDateTime::from_unix_timestamp(secs as i64).expect("date");
    format!("{:04}-{:02}", date.year(), date.month() as u8)
}

fn today() -> String {
    format!("{}-{:02}", this_month(), {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        time::OffsetDateTime::from_unix_timestamp(secs as i64)
            .expect("date")
            .day()
    })
}

const NIK_SITI: &str = "3273015208900001";

fn siti() -> Value {
    json!({
        "name": "Siti Aminah", "sex": "F", "birth_date": "1990-08-12", "nik": NIK_SITI,
        "village": "3273010001", "rt": "002", "rw": "005", "address": "Jl. Melati 3"
    })
}

fn patients_stored(dir: &Path) -> usize {
    ok(dir, &["patient", "list", "--all", "--json"])
        .lines()
        .count()
}

#[test]
fn every_endpoint_every_role_and_bad_input_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    let py = d.join("py");
    let node = start_api(&config(d, "py", PY, free_port(), &[]));
    let kader = issue(&py, "kader", "Kader Ani");
    // A health worker's token names her NIK (SATUSEHAT's Practitioner); a NIK that is
    // not one is refused, naming it.
    let refused = fails(
        &py,
        &[
            "token", "issue", "--role", "bidan", "--name", "Bidan X", "--nik", "123",
        ],
        3,
    );
    assert!(refused.contains("nik: "), "{refused}");
    let bidan = ok(
        &py,
        &[
            "token",
            "issue",
            "--role",
            "bidan",
            "--name",
            "Bidan Rina",
            "--nik",
            BIDAN_NIK,
        ],
    )
    .trim()
    .to_string();
    let viewer = issue(&py, "viewer", "Dinkes Data");

    // The description is public and names every route used below.
    let (status, spec) = call(&node, "GET", "/api/v1/openapi.json", None, None);
    assert_eq!(status, 200);
    for path in [
        "/api/v1/patients",
        "/api/v1/patients/{id}",
        "/api/v1/patients/{id}/visits",
        "/api/v1/patients/{id}/visits/{visit}/correction",
        "/api/v1/patients/{id}/visits/{visit}/entered-in-error",
        "/api/v1/due",
        "/api/v1/duplicates",
        "/api/v1/merge",
        "/api/v1/audit",
        "/api/v1/reports/pws",
        "/api/v1/node",
        "/api/v1/satusehat/submissions",
        "/api/v1/satusehat/retry",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is described");
    }

    // Who: no token, an unknown one, a revoked one.
    assert_eq!(call(&node, "GET", "/api/v1/node", None, None).0, 401);
    assert_eq!(get(&node, "/api/v1/node", "sp_not-a-token").0, 401);
    let gone = issue(&py, "kader", "Kader Lama");
    let id = ok(&py, &["token", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .find(|t| t["name"] == "Kader Lama")
        .expect("listed")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(get(&node, "/api/v1/node", &gone).0, 200);
    ok(&py, &["token", "revoke", &id]);
    assert_eq!(get(&node, "/api/v1/node", &gone).0, 401, "revoked");
    let (status, me) = get(&node, "/api/v1/node", &viewer);
    assert_eq!((status, me["path"].as_str()), (200, Some(PY)));

    // Registering: kader and bidan may, a viewer may not.
    assert_eq!(post(&node, "/api/v1/patients", &viewer, &siti()).0, 403);
    let (status, created) = post(&node, "/api/v1/patients", &kader, &siti());
    assert_eq!(status, 201, "{created}");
    let siti_id = created["id"].as_str().expect("id").to_string();

    // Bad input of each kind: the right status, the field named, nothing stored.
    let before = patients_stored(&py);
    let raw = |body: &str| call(&node, "POST", "/api/v1/patients", Some(&kader), Some(body));
    assert_eq!(raw("{\"name\": ").0, 400, "malformed JSON");
    let mut wrong_type = siti();
    wrong_type["sex"] = json!(5);
    let (status, body) = post(&node, "/api/v1/patients", &kader, &wrong_type);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["sex".to_string()]),
        "{body}"
    );
    let mut missing = siti();
    missing.as_object_mut().expect("object").remove("name");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &missing);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["name".to_string()]),
        "{body}"
    );
    let mut unknown = siti();
    unknown["golongan_darah"] = json!("O");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &unknown);
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("golongan_darah"),
        "{body}"
    );
    let mut bad_nik = siti();
    bad_nik["nik"] = json!("3273014108900001"); // born 1 August, not 12 August
    let (status, body) = post(&node, "/api/v1/patients", &kader, &bad_nik);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["nik".to_string()]),
        "{body}"
    );
    let mut short_nik = siti();
    short_nik["nik"] = json!("32730152089000");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &short_nik);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["nik".to_string()]),
        "{body}"
    );
    let mut many = siti();
    many["birth_date"] = json!("2090-01-01");
    many["village"] = json!("99");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &many);
    let named = fields(&body);
    assert_eq!(status, 422, "{body}");
    assert!(
        named.contains(&"birth_date".to_string()) && named.contains(&"village".to_string()),
        "{body}"
    );
    let mut huge = siti();
    huge["address"] = json!("x".repeat(100 << 10));
    assert_eq!(
        post(&node, "/api/v1/patients", &kader, &huge).0,
        413,
        "oversized body"
    );
    assert_eq!(
        patients_stored(&py),
        before,
        "nothing stored by refused requests"
    );

    // Reading: every role; unknown and malformed ids are 404.
    let (status, read) = get(&node, &format!("/api/v1/patients/{siti_id}"), &viewer);
    assert_eq!(
        (status, read["patient"]["name"].as_str()),
        (200, Some("Siti Aminah"))
    );
    assert_eq!(
        get(
            &node,
            &format!("/api/v1/patients/{}", "0".repeat(32)),
            &kader
        )
        .0,
        404
    );
    assert_eq!(get(&node, "/api/v1/patients/nonsense", &kader).0, 404);

    // Visits: kader records; an absurd weight is refused naming the field.
    let visits = format!("/api/v1/patients/{siti_id}/visits");
    let weighing = json!({"date": today(), "klaster": "dewasa-lansia", "setting": "posyandu",
        "measurements": {"systolic_mmhg": 150.0, "diastolic_mmhg": 95.0, "weight_kg": 61.5}});
    let (status, visit) = post(&node, &visits, &kader, &weighing);
    assert_eq!(status, 201, "{visit}");
    let visit_id = visit["visit_id"].as_str().expect("visit id").to_string();
    assert_eq!(visit["visit"]["recorded_by"], "Kader Ani");
    assert!(visit["visit"]["recorder_nik"].is_null(), "{visit}");
    assert!(visit["growth"].is_null(), "an adult: {visit}");
    let mut absurd = weighing.clone();
    absurd["measurements"]["weight_kg"] = json!(500.0);
    let (status, body) = post(&node, &visits, &kader, &absurd);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["measurements.weight_kg".to_string()]),
        "{body}"
    );
    assert_eq!(
        post(
            &node,
            "/api/v1/patients/00000000000000000000000000000000/visits",
            &kader,
            &weighing
        )
        .0,
        404
    );

    // Corrections: bidan only.
    let correction = format!("{visits}/{visit_id}/correction");
    let mut fixed = weighing.clone();
    fixed["measurements"]["weight_kg"] = json!(60.5);
    assert_eq!(post(&node, &correction, &kader, &fixed).0, 403);
    let (status, corrected) = post(&node, &correction, &bidan, &fixed);
    assert_eq!(status, 201, "{corrected}");
    // The bidan's token names her NIK, and so does the visit she records.
    assert_eq!(corrected["visit"]["recorder_nik"], BIDAN_NIK, "{corrected}");
    let error_mark = format!(
        "{visits}/{}/entered-in-error",
        corrected["visit_id"].as_str().expect("id")
    );
    assert_eq!(
        post(
            &node,
            &error_mark,
            &kader,
            &json!({"reason": "salah pasien"})
        )
        .0,
        403
    );
    assert_eq!(
        post(&node, &error_mark, &bidan, &json!({"reason": ""})).0,
        422
    );
    assert_eq!(
        post(
            &node,
            &error_mark,
            &bidan,
            &json!({"reason": "salah pasien"})
        )
        .0,
        200
    );
    let patch = |token: &str, body: &str| {
        call(
            &node,
            "PATCH",
            &format!("/api/v1/patients/{siti_id}"),
            Some(token),
            Some(body),
        )
    };
    assert_eq!(patch(&kader, r#"{"name": "Siti A."}"#).0, 403);
    let (status, body) = patch(&bidan, r#"{"nik": "123"}"#);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["nik".to_string()]),
        "{body}"
    );
    let (status, body) = patch(&bidan, r#"{"name": "Siti Aminah Lubis"}"#);
    assert_eq!(
        (status, body["patient"]["name"].as_str()),
        (200, Some("Siti Aminah Lubis")),
        "{body}"
    );
    // Sex and birth date are corrected like any detail, the NIK checked again.
    let (status, body) = patch(&bidan, r#"{"sex": "M"}"#);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["nik".to_string()]),
        "{body}"
    );
    // Status: died (then cleared as recorded in error), RT typed as people type it.
    let (status, body) = patch(
        &bidan,
        r#"{"died_on": "2026-11-01", "rt": "02", "kia_book": true}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patient"]["died_on"], "2026-11-01", "{body}");
    assert_eq!(body["patient"]["address"]["rt"], "002", "{body}");
    assert_eq!(body["patient"]["kia_book"], true, "{body}");
    let (status, body) = patch(&bidan, r#"{"died_on": null}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body["patient"]["died_on"].is_null(), "{body}");
    let (status, body) = patch(&bidan, r#"{"died_on": "someday"}"#);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["died_on".to_string()]),
        "{body}"
    );
    // A posyandu cannot move a person to its sibling posyandu.
    let sibling = PY.replace("PY01", "PY02");
    let (status, body) = patch(&bidan, &format!(r#"{{"home_facility": "{sibling}"}}"#));
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("only a facility above both")),
        "{body}"
    );
    let (_, read) = get(&node, &format!("/api/v1/patients/{siti_id}"), &viewer);
    let stored_visits = read["patient"]["visits"].as_object().expect("visits");
    assert_eq!(
        stored_visits.len(),
        2,
        "the original and its correction, both kept"
    );
    assert_eq!(
        read["patient"]["identifiers"]["nik"], NIK_SITI,
        "refused edit changed nothing"
    );

    // Search by each kind of term.
    let found = |query: &str| {
        let (status, body) = get(&node, &format!("/api/v1/patients?{query}"), &viewer);
        assert_eq!(status, 200, "{query}: {body}");
        body["people"].as_array().expect("people").len()
    };
    assert_eq!(found(&format!("nik={NIK_SITI}")), 1);
    assert_eq!(found("name=aminah"), 1);
    assert_eq!(found("birth_date=1990-08-12"), 1);
    assert_eq!(found("village=3273010001&rt=2&rw=5"), 1);
    assert_eq!(found("village=3273010001&rt=9"), 0);
    assert_eq!(get(&node, "/api/v1/patients", &viewer).0, 400, "no term");
    assert_eq!(
        get(&node, "/api/v1/patients?limit=abc&name=x", &viewer).0,
        400
    );
    // A cursor that is not one is refused, naming it, on every paged list; one that
    // names nobody held here is refused too; nothing is stored either way.
    let before = patients_stored(&py);
    let stranger = "0123456789abcdef0123456789abcdef";
    for path in [
        "/api/v1/patients?name=x&after=yesterday".to_string(),
        "/api/v1/audit?after=yesterday".to_string(),
        "/api/v1/audit?after=1.2.3".to_string(),
        format!("/api/v1/due?facility={PY}&month=2026-11&service=weighing&after=yesterday"),
        format!("/api/v1/due?facility={PY}&month=2026-11&service=weighing&after={stranger}"),
        "/api/v1/audit?limit=0".to_string(),
    ] {
        let (status, body) = get(&node, &path, &viewer);
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        let said = body.to_string();
        assert!(
            said.contains("after") || said.contains("limit"),
            "{path}: {said}"
        );
    }
    assert_eq!(patients_stored(&py), before);

    // A child registered by the mother's NIK, due for weighing until weighed.
    let child = json!({"name": "Bayi Siti", "sex": "M", "birth_date": today(), "nik_ibu": NIK_SITI,
        "birth_order": 1, "village": "3273010001", "mother": siti_id});
    let (status, body) = post(&node, "/api/v1/patients", &kader, &child);
    assert_eq!(status, 201, "{body}");
    let child_id = body["id"].as_str().expect("id").to_string();
    assert_eq!(found(&format!("nik_ibu={NIK_SITI}")), 1);
    let due = format!(
        "/api/v1/due?facility={PY}&month={}&service=weighing",
        this_month()
    );
    let due_ids = |node: &ApiNode| -> Vec<String> {
        let (status, body) = get(node, &due, &kader);
        assert_eq!(status, 200, "{body}");
        body["people"]
            .as_array()
            .expect("people")
            .iter()
            .map(|p| p["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(due_ids(&node), vec![child_id.clone()]);
    let weigh = json!({"date": today(), "klaster": "ibu-anak", "setting": "posyandu",
        "measurements": {"weight_kg": 3.4, "length_cm": 50.0}});
    assert_eq!(
        post(
            &node,
            &format!("/api/v1/patients/{child_id}/visits"),
            &kader,
            &weigh
        )
        .0,
        201
    );
    assert!(due_ids(&node).is_empty(), "weighed this month");
    assert_eq!(
        get(
            &node,
            "/api/v1/due?facility=x&month=2026-13&service=weighing",
            &kader
        )
        .0,
        400
    );

    // The same mother registered again: a duplicate until a bidan merges it.
    let mut again = siti();
    again["name"] = json!("Siti");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &again);
    assert_eq!(status, 201, "{body}");
    let dup_id = body["id"].as_str().expect("id").to_string();
    post(
        &node,
        &format!("/api/v1/patients/{dup_id}/visits"),
        &kader,
        &weighing,
    );
    let (_, groups) = get(&node, "/api/v1/duplicates", &bidan);
    assert_eq!(
        groups["groups"].as_array().expect("groups").len(),
        1,
        "{groups}"
    );
    assert!(ok(&py, &["duplicates"]).contains(&dup_id));
    let merge = json!({"from": dup_id, "into": siti_id});
    assert_eq!(post(&node, "/api/v1/merge", &kader, &merge).0, 403);
    let (status, survivor) = post(&node, "/api/v1/merge", &bidan, &merge);
    assert_eq!(
        (status, survivor["id"].as_str()),
        (200, Some(siti_id.as_str())),
        "{survivor}"
    );
    assert_eq!(
        survivor["patient"]["visits"]
            .as_object()
            .expect("visits")
            .len(),
        3,
        "carried over"
    );
    let (status, read) = get(&node, &format!("/api/v1/patients/{dup_id}"), &viewer);
    assert_eq!(status, 200);
    assert_eq!(
        (read["id"].as_str(), read["merged_from"].as_str()),
        (Some(siti_id.as_str()), Some(dup_id.as_str()))
    );
    let (_, groups) = get(&node, "/api/v1/duplicates", &bidan);
    assert!(
        groups["groups"].as_array().expect("groups").is_empty(),
        "{groups}"
    );
    let dup_read = show_json(&py, &dup_id);
    assert_eq!(
        dup_read["patient"]["merged_into"],
        siti_id.as_str(),
        "kept, marked"
    );

    // PWS: JSON and CSV; a bad month is a 400.
    let (status, pws) = get(
        &node,
        &format!("/api/v1/reports/pws?month={}", this_month()),
        &viewer,
    );
    assert_eq!(status, 200, "{pws}");
    assert_eq!(pws["total"]["s"], 1, "{pws}");
    assert_eq!(pws["total"]["d"], 1, "{pws}");
    let (status, by_village) = get(
        &node,
        &format!(
            "/api/v1/reports/pws?month={}&by=village&period=year-to-date",
            this_month()
        ),
        &viewer,
    );
    assert_eq!(status, 200, "{by_village}");
    assert_eq!(by_village["grouping"], "village", "{by_village}");
    assert_eq!(by_village["period"], "year-to-date", "{by_village}");
    assert_eq!(
        get(
            &node,
            &format!("/api/v1/reports/pws?month={}&by=desa", this_month()),
            &viewer
        )
        .0,
        400
    );
    let (status, csv) = get(
        &node,
        &format!("/api/v1/reports/pws?month={}&format=csv", this_month()),
        &viewer,
    );
    assert_eq!(status, 200);
    assert!(
        csv.as_str()
            .expect("csv text")
            .starts_with("group,s,k,d,n,t,o,b,bgm,two_t,"),
        "{csv}"
    );
    assert_eq!(
        get(&node, "/api/v1/reports/pws?month=2026-13", &viewer).0,
        400
    );

    // Registered twice without a NIK, the birth date mistyped: a candidate by name,
    // village and birth date; merged once a bidan corrects the date.
    let dewi = |born: &str| {
        json!({"name": "Dewi Anggraini", "sex": "F", "birth_date": born,
        "village": "3273010001"})
    };
    let (_, first) = post(&node, "/api/v1/patients", &kader, &dewi("2025-05-01"));
    let (_, second) = post(&node, "/api/v1/patients", &kader, &dewi("2025-05-10"));
    let (first, second) = (
        first["id"].as_str().expect("id"),
        second["id"].as_str().expect("id"),
    );
    let (_, groups) = get(&node, "/api/v1/duplicates", &bidan);
    let candidates = groups["groups"].as_array().expect("groups");
    assert_eq!(candidates.len(), 1, "{groups}");
    assert!(
        candidates[0]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("near:")),
        "{groups}"
    );
    let merge = json!({"from": second, "into": first});
    let (status, body) = post(&node, "/api/v1/merge", &bidan, &merge);
    assert_eq!(status, 422, "different birth dates: {body}");
    let (status, body) = call(
        &node,
        "PATCH",
        &format!("/api/v1/patients/{second}"),
        Some(&bidan),
        Some(r#"{"birth_date": "2025-05-01"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&node, "/api/v1/merge", &bidan, &merge);
    assert_eq!((status, body["id"].as_str()), (200, Some(first)), "{body}");
    // Her mother's record and the mother's NIK with a birth order, by a bidan.
    let (status, body) = call(
        &node,
        "PATCH",
        &format!("/api/v1/patients/{first}"),
        Some(&bidan),
        Some(&format!(
            r#"{{"mother": "{siti_id}", "nik_ibu": "{NIK_SITI}", "birth_order": 1}}"#
        )),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patient"]["mother"], siti_id.as_str(), "{body}");
    assert_eq!(body["patient"]["identifiers"]["birth_order"], 1, "{body}");
    // An elderly man who does not know his birth date: the NIK's date is not held
    // against the estimate (its sex still is).
    let elder = json!({"name": "Pak Darto", "sex": "M", "birth_date": "1950-07-01",
        "birth_date_estimated": true, "nik": "3273011203480001", "village": "3273010001"});
    let (status, body) = post(&node, "/api/v1/patients", &kader, &elder);
    assert_eq!(status, 201, "{body}");
    let mut exact = elder.clone();
    exact["birth_date_estimated"] = json!(false);
    exact["nik"] = json!("3273011203480002");
    let (status, body) = post(&node, "/api/v1/patients", &kader, &exact);
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["nik".to_string()]),
        "{body}"
    );

    // The audit trail: a kader may not read it; it names who did what.
    assert_eq!(get(&node, "/api/v1/audit", &kader).0, 403);
    let (status, trail) = get(&node, &format!("/api/v1/audit?record={siti_id}"), &viewer);
    assert_eq!(status, 200, "{trail}");
    let entries = trail["entries"].as_array().expect("entries");
    let did = |who: &str, action: &str| {
        entries
            .iter()
            .any(|e| e["who"] == who && e["action"] == action && e["via"] == "api")
    };
    assert!(did("Kader Ani", "create"), "{trail}");
    assert!(did("Kader Ani", "add-visit"), "{trail}");
    assert!(did("Dinkes Data", "read"), "{trail}");
    assert!(did("Bidan Rina", "correct"), "{trail}");
    assert!(did("Bidan Rina", "mark-error"), "{trail}");
    let (_, merges) = get(&node, &format!("/api/v1/audit?record={dup_id}"), &viewer);
    assert!(
        merges["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "merge" && e["who"] == "Bidan Rina")
    );
    let cli_trail = ok(&py, &["audit", "--who", "Kader Ani", "--json"]);
    assert!(cli_trail.lines().count() >= 4, "{cli_trail}");

    // FHIR: every Patient held here, one per line, for bidan and viewer only.
    assert_eq!(get(&node, "/api/v1/fhir/Patient", &kader).0, 403);
    let (status, ndjson) = get(&node, "/api/v1/fhir/Patient", &viewer);
    assert_eq!(status, 200);
    let lines: Vec<Value> = ndjson
        .as_str()
        .expect("ndjson text")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a resource per line"))
        .collect();
    assert_eq!(lines.len(), patients_stored(&py), "one Patient per record");
    assert!(lines.iter().all(|r| r["resourceType"] == "Patient"));
    assert_eq!(get(&node, "/api/v1/fhir/Nothing", &viewer).0, 400);

    // Unknown endpoints are 404 with a JSON error.
    let (status, body) = get(&node, "/api/v1/nothing", &viewer);
    assert_eq!(status, 404);
    assert!(body["error"].is_string());

    // (Last: she would be due for weighing above.) A child's weighing comes back with her growth by the WHO standards.
    // Typed as people type: a dotted village code, RT 3; kept as the CLI keeps them.
    let putri = json!({"name": " Putri ", "sex": "F", "birth_date": "2024-12-05",
        "village": "32.73.01.0001", "rt": "3"});
    let (status, child) = post(&node, "/api/v1/patients", &kader, &putri);
    assert_eq!(status, 201, "{child}");
    let address = &child["patient"]["address"];
    assert_eq!(
        (address["village"].as_str(), address["rt"].as_str()),
        (Some("3273010001"), Some("003")),
        "{child}"
    );
    assert_eq!(child["patient"]["name"], "Putri");
    let child_id = child["id"].as_str().expect("id").to_string();
    let weighing_child = json!({"date": "2026-11-02", "klaster": "ibu-anak",
        "setting": "posyandu", "measurements": {"weight_kg": 8.5, "height_cm": 77.5}});
    let (status, grown) = post(
        &node,
        &format!("/api/v1/patients/{child_id}/visits"),
        &kader,
        &weighing_child,
    );
    assert_eq!(status, 201, "{grown}");
    let growth = &grown["growth"];
    assert_eq!(growth["age_days"], 697, "{grown}");
    assert_eq!(growth["length_height_cm"], 78.2, "{grown}");
    assert_eq!(growth["length_height_for_age"]["z"], -2.28, "{grown}");
    assert_eq!(growth["length_height_for_age"]["category"], "stunted");
    assert_eq!(growth["weight_for_age"]["category"], "underweight");
    assert_eq!(growth["weight_for_length_height"]["z"], -1.56, "{grown}");
    assert_eq!(growth["weight_for_length_height"]["category"], "normal");
    assert_eq!(growth["weighing"]["trend"], "B", "first weighing: {grown}");
    // A month later: 100 g more at 23 months (the minimum is 200 g), with oedema.
    let next = json!({"date": "2026-12-03", "klaster": "ibu-anak", "setting": "posyandu",
        "measurements": {"weight_kg": 8.6, "height_cm": 77.9, "oedema": true}});
    let (status, grown) = post(
        &node,
        &format!("/api/v1/patients/{child_id}/visits"),
        &kader,
        &next,
    );
    assert_eq!(status, 201, "{grown}");
    let growth = &grown["growth"];
    assert_eq!(growth["weighing"]["trend"], "T", "{grown}");
    assert_eq!(growth["weighing"]["gain_g"], 100, "{grown}");
    assert_eq!(growth["weighing"]["minimum_g"], 200, "{grown}");
    assert_eq!(growth["weighing"]["two_t"], false, "{grown}");
    assert!(growth["weight_for_age"].is_null(), "oedema: {grown}");
    assert_eq!(
        growth["weight_for_length_height"],
        serde_json::Value::Null,
        "{grown}"
    );
    assert_eq!(growth["oedema"], true, "{grown}");
    assert_eq!(growth["status"]["wasting"], "severely wasted", "{grown}");
    assert_eq!(growth["status"]["stunting"], "stunted", "{grown}");
    // A kader weighs; an immunisation or an antenatal contact needs a bidan's token.
    let jab = json!({"date": "2026-12-03", "klaster": "ibu-anak", "setting": "posyandu",
        "immunisations": [{"antigen": "MR", "dose": 2}]});
    let visits_url = format!("/api/v1/patients/{child_id}/visits");
    let (status, body) = post(&node, &visits_url, &kader, &jab);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("bidan")),
        "{body}"
    );
    let anc = json!({"date": "2026-12-03", "klaster": "ibu-anak", "setting": "posyandu",
        "anc_number": 1});
    assert_eq!(post(&node, &visits_url, &kader, &anc).0, 403);
    // So does a diagnosis; one that is no ICD-10 code is refused naming it.
    let diagnosed = |codes: Value| {
        json!({"date": "2026-12-03", "klaster": "ibu-anak", "setting": "posyandu",
            "diagnoses": codes})
    };
    assert_eq!(
        post(&node, &visits_url, &kader, &diagnosed(json!(["J06.9"]))).0,
        403
    );
    let (status, body) = post(
        &node,
        &visits_url,
        &bidan,
        &diagnosed(json!(["J06.9", "flu"])),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        fields(&body).iter().any(|f| f.ends_with("diagnoses.1")),
        "{body}"
    );
    assert_eq!(post(&node, &visits_url, &bidan, &jab).0, 201);
    // The bidan's follow-up list for December names her, and why.
    let (status, due) = get(
        &node,
        &format!("/api/v1/due?facility={PY}&month=2026-12&service=growth_follow_up"),
        &viewer,
    );
    assert_eq!(status, 200, "{due}");
    let people = due["people"].as_array().expect("people");
    let putri: Vec<_> = people
        .iter()
        .filter(|p| p["id"] == child_id.as_str())
        .collect();
    assert_eq!(putri.len(), 1, "{due}");
    assert_eq!(
        putri[0]["reasons"],
        json!(["stunted", "severely wasted"]),
        "{due}"
    );
    assert!(
        people
            .iter()
            .all(|p| p["reasons"].as_array().is_some_and(|r| !r.is_empty())),
        "only children with a reason: {due}"
    );
    // A weight outside the plausible range is refused, naming it, unless confirmed.
    let heavy = json!({"date": "2026-12-04", "klaster": "ibu-anak", "setting": "posyandu",
        "measurements": {"weight_kg": 48.0}});
    let (status, body) = post(
        &node,
        &format!("/api/v1/patients/{child_id}/visits"),
        &kader,
        &heavy,
    );
    assert_eq!(
        (status, fields(&body)),
        (422, vec!["measurements.weight_kg".to_string()]),
        "{body}"
    );
    let mut confirmed = heavy.clone();
    confirmed["confirm_implausible"] = json!(true);
    let (status, body) = post(
        &node,
        &format!("/api/v1/patients/{child_id}/visits"),
        &kader,
        &confirmed,
    );
    assert_eq!(status, 201, "{body}");
}

#[test]
fn written_at_the_posyandu_read_at_the_district_with_its_trail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY), ("district", "3273")]);
    let district_port = free_port();
    let dist = start_api(&config(d, "district", "3273", district_port, &[]));
    let py = start_api(&config(
        d,
        "py",
        PY,
        free_port(),
        &[(district_port, "3273")],
    ));
    let kader = issue(&d.join("py"), "kader", "Kader Ani");
    let viewer = issue(&d.join("district"), "viewer", "Dinkes Data");

    let (status, created) = post(&py, "/api/v1/patients", &kader, &siti());
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();

    // Pushed live: readable at the district through its own API.
    let arrived = eventually(Duration::from_secs(30), || {
        get(&dist, &format!("/api/v1/patients/{id}"), &viewer).0 == 200
    });
    assert!(arrived, "the record reached the district");
    let (_, read) = get(&dist, &format!("/api/v1/patients/{id}"), &viewer);
    assert_eq!(read["patient"]["identifiers"]["nik"], NIK_SITI);

    // And so did the posyandu's audit trail of the write.
    let traced = eventually(Duration::from_secs(30), || {
        let (_, trail) = get(
            &dist,
            &format!("/api/v1/audit?record={id}&facility={PY}"),
            &viewer,
        );
        trail["entries"].as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e["who"] == "Kader Ani" && e["action"] == "create" && e["node"] == PY)
        })
    });
    assert!(
        traced,
        "the district holds the posyandu's trail of the write"
    );
}

#[test]
fn a_fhir_export_over_the_api_streams_page_after_page_and_equals_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    let py = d.join("py");
    // More patients than one streamed page (256) holds: the body is several pages.
    ok(&py, &["gen", "--seed", "9", "--patients", "700"]);
    let node = start_api(&config(d, "py", PY, free_port(), &[]));
    let viewer = issue(&py, "viewer", "Dinkes Data");
    let out = d.join("fhir");
    std::fs::create_dir_all(&out).expect("dir");
    ok(
        &py,
        &["export", "fhir", "--out", out.to_str().expect("utf-8")],
    );
    for resource in ["Patient", "Encounter", "Observation"] {
        let (status, body) = get(&node, &format!("/api/v1/fhir/{resource}"), &viewer);
        assert_eq!(status, 200);
        let streamed = body.as_str().expect("ndjson text");
        let file = std::fs::read_to_string(out.join(format!("{resource}.ndjson"))).expect("file");
        assert_eq!(streamed.lines().count(), file.lines().count(), "{resource}");
        let parse = |l: &str| serde_json::from_str::<Value>(l).expect("a resource per line");
        for (n, (a, b)) in streamed.lines().zip(file.lines()).enumerate() {
            assert!(
                parse(a) == parse(b),
                "{resource} line {n}: the stream is the export"
            );
        }
    }
    // One export, one audit entry, however many pages.
    let trail = ok(&py, &["audit", "--who", "Dinkes Data", "--json"]);
    let exports = trail
        .lines()
        .filter(|l| l.contains("\"export\"") && l.contains("fhir Patient"))
        .count();
    assert_eq!(exports, 1, "{trail}");
}

/// An HTTPS client that trusts the certificates in `ca_pem` only.
fn https_agent(ca_pem: &[u8]) -> ureq::Agent {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let ca = Certificate::from_pem(ca_pem).expect("CA certificate");
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::Specific(std::sync::Arc::new(vec![ca])))
                .build(),
        )
        .build()
        .into()
}

#[test]
fn the_api_speaks_https_with_a_district_certificate_and_plain_http_only_on_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    let pki = d.join("pki");
    let api_dir = pki.join("api");
    ok(
        d,
        &[
            "ca",
            "issue-api",
            "--ca",
            pki.to_str().expect("utf-8"),
            "--host",
            "127.0.0.1",
            "--out",
            api_dir.to_str().expect("utf-8"),
        ],
    );
    let key_mode = std::fs::metadata(d.join("pki/api/api.key"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .expect("key");
    let cfg = config(d, "py", PY, free_port(), &[]);
    let text = std::fs::read_to_string(&cfg).expect("config");
    let port = free_tcp_port();
    let with_keys = |listen: &str, tls: &str| {
        std::fs::write(&cfg, format!("api_listen = \"{listen}\"\n{tls}{text}")).expect("write");
    };
    let tls = "api_tls_cert = \"pki/api/api.crt\"\napi_tls_key = \"pki/api/api.key\"\n";

    // Off loopback without TLS, a certificate without its key, a key that is no key:
    // each refused at start, naming what to fix.
    let refusals = [
        (format!("0.0.0.0:{port}"), String::new(), "api_listen"),
        (
            format!("127.0.0.1:{port}"),
            "api_tls_cert = \"pki/api/api.crt\"\n".to_string(),
            "api_tls_key",
        ),
        (
            format!("0.0.0.0:{port}"),
            "api_tls_cert = \"pki/api/api.crt\"\napi_tls_key = \"pki/ca.crt\"\n".to_string(),
            "ca.crt",
        ),
    ];
    let mut said = Vec::new();
    for (listen, keys, names) in &refusals {
        with_keys(listen, keys);
        // Bounded: a check that regressed would leave a node serving, not a hung test.
        let out = std::process::Command::new("timeout")
            .args(["20", env!("CARGO_BIN_EXE_simpul"), "run", "--config"])
            .arg(&cfg)
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        said.push((out.status.success(), stderr.contains(names), stderr));
    }

    let metrics_port = free_tcp_port();
    with_keys(
        &format!("127.0.0.1:{port}"),
        &format!("{tls}metrics_listen = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let (node, logs) = start(&cfg);
    let mut seen = Vec::new();
    let listening = wait_for(&logs, "data API listening (HTTPS)", &mut seen);
    let token = ok(
        &d.join("py"),
        &["token", "issue", "--role", "viewer", "--name", "Dinkes"],
    )
    .trim()
    .to_string();
    let ca = std::fs::read(d.join("pki/ca.crt")).expect("ca");
    let url = format!("https://127.0.0.1:{port}/api/v1/node");
    let trusted = https_agent(&ca)
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|mut r| {
            (
                r.status().as_u16(),
                r.body_mut().read_to_string().unwrap_or_default(),
            )
        });
    // A client that does not trust the district CA is not fooled, and plain HTTP to
    // the port gets no API.
    let other_ca = tempfile::tempdir().expect("tempdir");
    let other_pki = other_ca.path().join("pki");
    ok(
        other_ca.path(),
        &[
            "ca",
            "init",
            "--district",
            "3204",
            "--out",
            other_pki.to_str().expect("utf-8"),
        ],
    );
    let stranger = https_agent(&std::fs::read(other_ca.path().join("pki/ca.crt")).expect("ca"))
        .get(&url)
        .call();
    let plain = ureq::get(&format!("http://127.0.0.1:{port}/api/v1/node"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .map(|r| r.status().as_u16());
    // The metrics say when the API's certificate expires.
    let metrics = ureq::get(&format!("http://127.0.0.1:{metrics_port}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let status = terminate(node);

    assert_eq!(key_mode, 0o600, "the API key is the owner's only");
    let api_expiry: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("simpul_api_certificate_expiry_timestamp_seconds "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no API certificate expiry in {metrics}"));
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        api_expiry > now_s + 30.0 * 86_400.0,
        "{api_expiry} vs {now_s}"
    );
    for ((listen, _, names), (ran, named, stderr)) in refusals.iter().zip(&said) {
        assert!(!ran && *named, "{listen}: expected {names} named: {stderr}");
    }
    assert!(
        said[0].2.contains("HTTPS") && said[0].2.contains("issue-api"),
        "{}",
        said[0].2
    );
    assert!(listening, "{}", seen.join("\n"));
    let (code, body) = trusted.expect("HTTPS with the district CA");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(PY), "{body}");
    assert!(stranger.is_err(), "a client of another CA connected");
    assert!(
        plain.as_ref().map_or(true, |code| *code != 200),
        "plain HTTP reached the API: {plain:?}"
    );
    assert!(status.success());
}
