//! The SATUSEHAT bridge on real nodes: a person registered at a posyandu is matched to
//! the platform (a local stand-in built from its published examples) by the puskesmas
//! node that holds the credentials, and the IHS number it writes travels back down.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::api::{self, free_tcp_port, with_api};
use common::nodes::*;
use common::{add_siti, ok, register_child, register_child_born, show_json, simpul};
use simpul_satusehat::standin::{CLIENT_ID, CLIENT_SECRET, Fault, Person, StandIn};

const PK: &str = "3273/P3273010201";
const SITI_IHS: &str = "P02478375538";
const CHILD_IHS: &str = "P10000000001";

/// Appends a `[satusehat]` section for `standin` to the node config `config`.
fn with_bridge(config: &std::path::Path, standin: &StandIn) {
    let bridge = format!(
        "\n[satusehat]\nauth_url = \"{}\"\nfhir_url = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = \"{CLIENT_SECRET}\"\norganization = \"10000004\"\nevery_secs = 1\n",
        standin.auth_url(),
        standin.fhir_url()
    );
    let mut text = std::fs::read_to_string(config).expect("config");
    text.push_str(&bridge);
    std::fs::write(config, text).expect("write");
}

#[test]
fn a_person_registered_at_a_posyandu_gets_the_ihs_number_the_puskesmas_finds() {
    let standin = StandIn::start(vec![
        Person {
            ihs: SITI_IHS.into(),
            nik: Some("3273015208900003".into()),
            nik_ibu: None,
            birth_date: "1990-08-12".into(),
        },
        // Siti's newborn, found by her NIK and its birth date; an older sibling is not
        // taken for it.
        Person {
            ihs: CHILD_IHS.into(),
            nik: None,
            nik_ibu: Some("3273015208900003".into()),
            birth_date: "2025-03-04".into(),
        },
        Person {
            ihs: "P10000000009".into(),
            nik: None,
            nik_ibu: Some("3273015208900003".into()),
            birth_date: "2021-06-30".into(),
        },
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pk", PK), ("py", PY)]);
    let (pk_port, py_port) = (free_port(), free_port());
    let pk_config = config(d, "pk", PK, pk_port, &[]);
    with_bridge(&pk_config, &standin);

    // A config holding the secret that others may read is refused, saying what to do.
    std::fs::set_permissions(&pk_config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = simpul(d, &["run", "--config", pk_config.to_str().expect("utf-8")]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains("satusehat.client_secret") && said.contains("chmod 600"),
        "{said}"
    );
    std::fs::set_permissions(&pk_config, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    // The platform is flaky at first: the bridge retries.
    standin.inject(&[Fault::Unavailable, Fault::Dropped, Fault::RateLimited]);
    let py_config = config(d, "py", PY, py_port, &[(pk_port, PK)]);
    let (pk, pk_logs) = start(&pk_config);
    let (py, py_logs) = start(&py_config);
    let mut seen = Vec::new();
    assert!(
        wait_for(&pk_logs, "SATUSEHAT bridge running", &mut seen),
        "{seen:?}"
    );
    assert!(wait_for(&py_logs, "node running", &mut seen), "{seen:?}");

    let siti = add_siti(&d.join("py"));
    let child = register_child(&d.join("py"), "Bayi Siti", 1);
    // Born last week and not on the platform yet: registered under Siti's NIK.
    let newborn = register_child_born(&d.join("py"), "Bayi Kedua Siti", 1, "2026-11-28");
    let ihs = |at: &str, id: &str| {
        show_json(&d.join(at), id)["patient"]["identifiers"]["ihs"]
            .as_str()
            .map(str::to_string)
    };
    let arrived = eventually(Duration::from_secs(60), || {
        ihs("py", &siti).as_deref() == Some(SITI_IHS)
            && ihs("py", &child).as_deref() == Some(CHILD_IHS)
            && ihs("py", &newborn).is_some()
    });
    let at_pk = (ihs("pk", &siti), ihs("pk", &child));
    let statuses = [terminate(py), terminate(pk)];
    // Every fault was met and got past; the secret is in no log line.
    assert!(standin.requests() >= 6, "{} requests", standin.requests());
    let logged: Vec<String> = seen.into_iter().chain(pk_logs.try_iter()).collect();
    assert!(logged.iter().all(|l| !l.contains(CLIENT_SECRET)));
    assert!(
        arrived,
        "the IHS numbers reached the posyandu: py {:?} {:?}, pk {at_pk:?}",
        ihs("py", &siti),
        ihs("py", &child)
    );
    assert_eq!(at_pk, (Some(SITI_IHS.into()), Some(CHILD_IHS.into())));
    let registered: Vec<Person> = standin
        .people()
        .into_iter()
        .filter(|p| p.birth_date == "2026-11-28")
        .collect();
    assert_eq!(registered.len(), 1, "registered once: {registered:?}");
    assert_eq!(ihs("py", &newborn), Some(registered[0].ihs.clone()));
    assert_eq!(registered[0].nik_ibu.as_deref(), Some("3273015208900003"));
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    // Written once, by the puskesmas, with its own seal: the posyandu's copy verifies.
    let verified = ok(&d.join("py"), &["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&verified).expect("json");
    assert_eq!(report["problems"], serde_json::json!([]), "{verified}");
}

#[test]
fn a_posyandu_visit_reaches_the_platform_through_the_puskesmas_and_its_ledger_the_district() {
    const LOCATION: &str = "b017aa54-f1df-4ec2-9d84-8823815d7228";
    let standin = StandIn::start(vec![Person {
        ihs: SITI_IHS.into(),
        nik: Some("3273015208900003".into()),
        nik_ibu: None,
        birth_date: "1990-08-12".into(),
    }]);
    standin.add_organizations(&["10000004"]);
    standin.add_locations(&[LOCATION]);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("dist", "3273"), ("pk", PK), ("py", PY)]);
    let (dist_port, pk_port, py_port) = (free_port(), free_port(), free_port());
    let dist_config = config(d, "dist", "3273", dist_port, &[]);
    let pk_config = config(d, "pk", PK, pk_port, &[(dist_port, "3273")]);
    with_bridge(&pk_config, &standin);
    std::fs::set_permissions(&pk_config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let py_config = config(d, "py", PY, py_port, &[(pk_port, PK)]);
    let (pk_api, py_api) = (free_tcp_port(), free_tcp_port());
    with_api(&pk_config, pk_api);
    with_api(&py_config, py_api);
    let (pk_api, py_api) = (
        format!("http://127.0.0.1:{pk_api}"),
        format!("http://127.0.0.1:{py_api}"),
    );
    let (dist, _dist_logs) = start_running(&dist_config);
    let (pk, _pk_logs) = start_running(&pk_config);
    let (py, _py_logs) = start_running(&py_config);

    // The district registers the posyandu (its Location, its bidan) and the puskesmas.
    ok(
        &d.join("dist"),
        &[
            "facility",
            "set",
            PY,
            "--name",
            "Posyandu Melati 4",
            "--location",
            LOCATION,
            "--practitioner-nik",
            "3217040109800006",
        ],
    );
    ok(
        &d.join("dist"),
        &[
            "facility",
            "set",
            PK,
            "--name",
            "Puskesmas Sukajadi",
            "--organization",
            "10000004",
        ],
    );
    // A kader records a visit at the posyandu, through the data API of her app.
    let siti = add_siti(&d.join("py"));
    let token = |dir: &str, role: &str, name: &str| {
        ok(
            &d.join(dir),
            &["token", "issue", "--role", role, "--name", name],
        )
        .trim()
        .to_string()
    };
    let kader = token("py", "kader", "Kader Sri");
    let visit = serde_json::json!({
        "date": "2026-11-20", "klaster": "ibu-anak", "setting": "posyandu",
        "measurements": {"weight_kg": 55.5},
    });
    let (added, body) = api::call(
        &py_api,
        "POST",
        &format!("/api/v1/patients/{siti}/visits"),
        Some(&kader),
        Some(&visit.to_string()),
    );
    assert_eq!(added, 201, "{body}");
    let arrived = eventually(Duration::from_secs(90), || {
        standin.held("Encounter").len() == 1 && standin.held("Observation").len() == 1
    });
    let status = |at: &str| -> Vec<serde_json::Value> {
        ok(&d.join(at), &["satusehat", "status", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect()
    };
    let reported = eventually(Duration::from_secs(60), || {
        status("dist")
            .iter()
            .any(|l| l["status"] == "sent" && l["patient"] == siti.as_str())
    });
    let table = ok(&d.join("pk"), &["satusehat", "status"]);
    // The ledger through the puskesmas' data API; sending again is a bidan's to ask,
    // and a visit with nothing to send again is named.
    let viewer = token("pk", "viewer", "Dinkes Data");
    let bidan = token("pk", "bidan", "Bidan Rina");
    let (listed_status, listed) = api::call(
        &pk_api,
        "GET",
        "/api/v1/satusehat/submissions",
        Some(&viewer),
        None,
    );
    let retry = |who: &str, body: &str| {
        api::call(
            &pk_api,
            "POST",
            "/api/v1/satusehat/retry",
            Some(who),
            Some(body),
        )
    };
    let (by_viewer, _) = retry(&viewer, "{}");
    let (nothing, none) = retry(&bidan, "{}");
    let (unknown, named) = retry(&bidan, r#"{"visit": "00112233aabbccdd"}"#);
    let (typo, _) = retry(&bidan, r#"{"visits": "00112233aabbccdd"}"#);
    let statuses = [terminate(py), terminate(pk), terminate(dist)];
    assert_eq!(listed_status, 200, "{listed}");
    assert_eq!(listed["submissions"][0]["status"], "sent", "{listed}");
    assert_eq!((by_viewer, nothing, typo), (403, 200, 422));
    assert_eq!(none["retrying"], serde_json::json!([]));
    assert_eq!(unknown, 404, "{named}");
    assert!(named.to_string().contains("00112233aabbccdd"), "{named}");
    assert!(
        arrived,
        "the visit never reached the platform: {:?}",
        status("pk")
    );
    assert!(reported, "the ledger never reached the district");
    let encounter = &standin.held("Encounter")[0].resource;
    assert_eq!(
        encounter["subject"]["reference"],
        format!("Patient/{SITI_IHS}")
    );
    assert_eq!(
        encounter["location"][0]["location"]["reference"],
        format!("Location/{LOCATION}")
    );
    // The kader is no practitioner: the posyandu's bidan attended, as registered.
    assert_eq!(
        encounter["participant"][0]["individual"]["reference"],
        "Practitioner/10002074224"
    );
    let at_district = status("dist");
    assert_eq!(at_district.len(), 1, "{at_district:?}");
    assert_eq!(
        at_district[0]["platform_ids"][0],
        format!("Encounter/{}", standin.held("Encounter")[0].id)
    );
    assert!(table.contains(PY) && table.contains("sent"), "{table}");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}
