//! The offline CLI against real stores: what it prints, what it refuses, and that a
//! refusal leaves the store as it was.

mod common;

use common::*;

#[test]
fn register_a_person_and_record_visits() {
    let dir = posyandu_store();
    let id = add_siti(dir.path());
    assert_eq!(id.len(), 32, "stdout is the id alone: {id:?}");
    let visit = ok(
        dir.path(),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "61.5",
            "--bp",
            "130/85",
            "--klaster",
            "dewasa-lansia",
            "--screening",
            "srq-20:3:normal",
        ],
    );
    assert_eq!(visit.trim().len(), 16);
    let shown = show_json(dir.path(), &id);
    assert_eq!(shown["patient"]["name"], "Siti Rahayu");
    assert_eq!(shown["patient"]["address"]["rt"], "003");
    let visits = shown["patient"]["visits"].as_object().expect("visits");
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[visit.trim()]["measurements"]["weight_kg"], 61.5);

    let table = ok(dir.path(), &["patient", "list"]);
    assert!(
        table.contains("Siti Rahayu") && table.contains("1 people"),
        "{table}"
    );
    let text = ok(dir.path(), &["patient", "show", &id]);
    assert!(text.contains("TD 130/85"), "{text}");

    ok(
        dir.path(),
        &[
            "visit",
            "mark-error",
            &id,
            visit.trim(),
            "--reason",
            "wrong person",
        ],
    );
    let shown = show_json(dir.path(), &id);
    assert_eq!(
        shown["patient"]["visits"][visit.trim()]["entered_in_error"]["reason"],
        "wrong person"
    );
}

#[test]
fn bad_input_is_refused_with_the_field_named_and_nothing_stored() {
    let dir = posyandu_store();
    let id = add_siti(dir.path());
    let before = ok(dir.path(), &["patient", "show", &id, "--json"]);

    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "patient",
                "add",
                "--nik",
                "3273015208900003",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "1990-08-12",
                "--village",
                "3273010001",
            ],
            "identifiers.nik",
        ),
        (
            &[
                "patient",
                "add",
                "--nik",
                "99",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "1990-08-12",
                "--village",
                "3273010001",
            ],
            "identifiers.nik",
        ),
        (
            &[
                "patient",
                "add",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "2999-01-01",
                "--village",
                "3273010001",
            ],
            "birth_date",
        ),
        (
            &[
                "patient",
                "add",
                "--name",
                "Budi",
                "--sex",
                "X",
                "--birth-date",
                "1990-01-01",
                "--village",
                "3273010001",
            ],
            "--sex",
        ),
        (
            &[
                "patient",
                "add",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "1990-02-30",
                "--village",
                "3273010001",
            ],
            "--birth-date",
        ),
        (
            &[
                "patient",
                "add",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "1990-01-01",
                "--village",
                "99.99.99.9999",
            ],
            "address.village",
        ),
        (
            &[
                "patient",
                "add",
                "--name",
                "Budi",
                "--sex",
                "M",
                "--birth-date",
                "1990-01-01",
                "--village",
                "3273010001",
                "--facility",
                "3273/P3273010201/3273010201-PU1/3273010201-PY05",
            ],
            "outside the scope",
        ),
        (
            &[
                "visit",
                "add",
                &id,
                "--date",
                "2026-11-02",
                "--weight-kg",
                "900",
            ],
            "weight_kg",
        ),
        (
            &[
                "visit",
                "add",
                &id,
                "--date",
                "2026-11-02",
                "--bp",
                "80/120",
            ],
            "diastolic_mmhg",
        ),
        (
            &["visit", "add", &id, "--date", "2026-11-02", "--bp", "high"],
            "--bp",
        ),
        (
            &[
                "visit",
                "add",
                &id,
                "--date",
                "2026-11-02",
                "--immunisation",
                "FLU:1",
            ],
            "--immunisation",
        ),
        (&["visit", "add", &id, "--date", "1980-01-01"], "date"),
        (
            &[
                "visit",
                "add",
                &id,
                "--date",
                "2026-11-02",
                "--anc",
                "1",
                "--corrects",
                "zz",
            ],
            "--corrects",
        ),
        // Refused before any connection is tried.
        (
            &[
                "feed",
                "postgres",
                "--url",
                "host=/nonexistent",
                "--batch",
                "0",
            ],
            "--batch",
        ),
        (
            &[
                "feed",
                "postgres",
                "--url",
                "host=/nonexistent",
                "--follow",
                "--every",
                "0",
            ],
            "--every",
        ),
        (&["duplicates", "--limit", "0"], "limit"),
        (&["conflicts", "--limit", "5000"], "limit"),
        (&["patient", "list", "--after", "zz"], "--after"),
        (&["conflicts", "--after", "zz"], "--after"),
    ];
    for (args, field) in cases {
        let stderr = fails(dir.path(), args, 3);
        assert!(
            stderr.contains(field),
            "{args:?}: expected {field} in {stderr}"
        );
    }
    assert_eq!(
        ok(dir.path(), &["patient", "show", &id, "--json"]),
        before,
        "refusals changed the record"
    );
    assert!(ok(dir.path(), &["patient", "list"]).contains("1 people"));
}

#[test]
fn missing_things_have_their_own_exit_codes() {
    let dir = posyandu_store();
    fails(
        dir.path(),
        &["patient", "show", "00000000000000000000000000000000"],
        4,
    );
    fails(dir.path(), &["patient", "show", "not-an-id"], 3);
    fails(dir.path(), &["init", "--path", POSYANDU], 5);
    let empty = tempfile::tempdir().expect("tempdir");
    let stderr = fails(empty.path(), &["patient", "list"], 5);
    assert!(stderr.contains("simpul init"), "{stderr}");
    fails(empty.path(), &["init", "--path", "3273/nowhere"], 3);
    let help = ok(empty.path(), &["--help"]);
    assert!(help.contains("Exit status"), "{help}");
}

#[test]
fn export_and_import_round_trip_and_garbage_is_refused() {
    let dir = posyandu_store();
    let id = add_siti(dir.path());
    ok(
        dir.path(),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "61.5",
        ],
    );
    let file = dir.path().join("siti.automerge");
    ok(
        dir.path(),
        &["doc", "export", &id, "--out", file.to_str().expect("utf-8")],
    );
    // Health data: readable by its owner only, and never written over.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file).expect("stat").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let refused = fails(
        dir.path(),
        &["doc", "export", &id, "--out", file.to_str().expect("utf-8")],
        1,
    );
    assert!(refused.contains("exists"), "{refused}");

    let other = posyandu_store();
    let imported = ok(
        other.path(),
        &["doc", "import", file.to_str().expect("utf-8")],
    );
    assert_eq!(imported.trim(), id);
    assert_eq!(
        show_json(other.path(), &id)["patient"],
        show_json(dir.path(), &id)["patient"]
    );

    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"definitely not automerge").expect("write");
    let stderr = fails(
        other.path(),
        &["doc", "import", garbage.to_str().expect("utf-8")],
        3,
    );
    assert!(stderr.contains("not Automerge data"), "{stderr}");
    assert!(ok(other.path(), &["patient", "list"]).contains("1 people"));

    // 64 KiB that would inflate to 64 MiB inside Automerge: refused before it is read.
    let bomb = dir.path().join("bomb.automerge");
    std::fs::write(
        &bomb,
        simpul_model::inflation::testing::inflation_bomb(64 << 20),
    )
    .expect("write");
    let stderr = fails(
        other.path(),
        &["doc", "import", bomb.to_str().expect("utf-8")],
        3,
    );
    assert!(stderr.contains("inflate to more than"), "{stderr}");
    assert!(ok(other.path(), &["patient", "list"]).contains("1 people"));
}

#[test]
fn generation_is_deterministic() {
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    for dir in [&a, &b] {
        ok(dir.path(), &["init", "--path", "3273/P3273010201"]);
        ok(dir.path(), &["gen", "--seed", "5", "--patients", "120"]);
    }
    let list_a = ok(a.path(), &["patient", "list", "--all", "--json"]);
    assert_eq!(list_a.lines().count(), 120);
    assert_eq!(
        list_a,
        ok(b.path(), &["patient", "list", "--all", "--json"])
    );
    let first: serde_json::Value =
        serde_json::from_str(list_a.lines().next().expect("a line")).expect("json");
    let id = first["id"].as_str().expect("id");
    assert_eq!(show_json(a.path(), id), show_json(b.path(), id));
}

#[test]
fn a_district_ca_issues_node_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");
    let ca_s = ca.to_str().expect("utf-8");
    ok(
        dir.path(),
        &["ca", "init", "--district", "3273", "--out", ca_s],
    );
    assert!(ca.join("ca.crt").exists() && ca.join("ca.key").exists());
    let node = dir.path().join("py04");
    ok(
        dir.path(),
        &[
            "ca",
            "issue",
            "--ca",
            ca_s,
            "--path",
            POSYANDU,
            "--out",
            node.to_str().expect("utf-8"),
        ],
    );
    let pem = std::fs::read_to_string(node.join("node.crt")).expect("cert");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));

    // Refusals: an existing CA, a path outside the district, not a district, bad path.
    fails(
        dir.path(),
        &["ca", "init", "--district", "3273", "--out", ca_s],
        3,
    );
    let other = dir.path().join("x").to_str().expect("utf-8").to_string();
    let stderr = fails(
        dir.path(),
        &[
            "ca",
            "issue",
            "--ca",
            ca_s,
            "--path",
            "3201/P3201010201",
            "--out",
            &other,
        ],
        3,
    );
    assert!(stderr.contains("not in district 3273"), "{stderr}");
    fails(
        dir.path(),
        &[
            "ca",
            "init",
            "--district",
            "3273/P3273010201",
            "--out",
            &other,
        ],
        3,
    );
    fails(
        dir.path(),
        &["ca", "init", "--district", "99", "--out", &other],
        3,
    );
}

#[test]
fn a_childs_visit_shows_her_growth_by_the_who_standards() {
    let dir = posyandu_store();
    let id = ok(
        dir.path(),
        &[
            "patient",
            "add",
            "--name",
            "Putri",
            "--sex",
            "F",
            "--birth-date",
            "2024-12-05",
            "--village",
            "3273010001",
        ],
    )
    .trim()
    .to_string();
    // 697 days, 8.5 kg (-2.36 SD), 77.5 cm standing (78.2 cm as length: -2.28 SD).
    let out = simpul(
        dir.path(),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "8.5",
            "--height-cm",
            "77.5",
            "--klaster",
            "ibu-anak",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim().len(),
        16,
        "the visit id alone"
    );
    let growth = String::from_utf8_lossy(&out.stderr);
    assert!(growth.contains("growth at 22 months"), "{growth}");
    assert!(
        growth.contains("length/height-for-age -2.28 SD stunted"),
        "{growth}"
    );
    assert!(
        growth.contains("weight-for-age -2.36 SD underweight"),
        "{growth}"
    );
    assert!(
        growth.contains("weighing B"),
        "her first weighing: {growth}"
    );
    // A month later, 100 g more at 23 months: less than the buku KIA's 200 g.
    let out = simpul(
        dir.path(),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-12-03",
            "--weight-kg",
            "8.6",
            "--klaster",
            "ibu-anak",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let growth = String::from_utf8_lossy(&out.stderr);
    assert!(
        growth.contains("weighing T (+100 g, minimum 200 g)"),
        "{growth}"
    );
    // 48 kg at 23 months is outside the plausible range: refused unless confirmed.
    let heavy = [
        "visit",
        "add",
        &id,
        "--date",
        "2026-12-04",
        "--weight-kg",
        "48",
        "--klaster",
        "ibu-anak",
    ];
    let refused = fails(dir.path(), &heavy, 3);
    assert!(
        refused.contains("weight_kg") && refused.contains("confirm"),
        "{refused}"
    );
    let mut confirmed = heavy.to_vec();
    confirmed.push("--confirm-implausible");
    assert!(simpul(dir.path(), &confirmed).status.success());
    // An adult's visit says nothing about growth.
    let adult = add_siti(dir.path());
    let out = simpul(
        dir.path(),
        &[
            "visit",
            "add",
            &adult,
            "--date",
            "2026-11-02",
            "--weight-kg",
            "61.5",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("growth"));
}

#[test]
fn a_bidan_corrects_identity_status_and_home_and_then_merges() {
    let dir = posyandu_store();
    let d = dir.path();
    // The same twin registered twice, once with the birth date one day off.
    let first = register_child(d, "Ayu", 1);
    let second = register_child_born(d, "Ayu", 1, "2025-03-05");
    let refused = fails(d, &["merge", &second, &first], 3);
    assert!(refused.contains("birth"), "{refused}");
    ok(
        d,
        &["patient", "update", &second, "--birth-date", "2025-03-04"],
    );
    assert!(ok(d, &["duplicates"]).contains(&second));
    ok(d, &["merge", &second, &first]);
    assert_eq!(
        show_json(d, &second)["patient"]["merged_into"],
        first.as_str()
    );
    // Her sister, born the same day to the same mother, is not her: the birth order
    // tells them apart, and a merge is refused.
    let sister = register_child(d, "Ayu", 3);
    let refused = fails(d, &["merge", &sister, &first], 3);
    assert!(refused.contains("birth order 3 / 1"), "{refused}");
    // Her mother's record, and her birth order: she is the second twin.
    let mother = add_siti(d);
    ok(
        d,
        &[
            "patient",
            "update",
            &first,
            "--mother",
            &mother,
            "--birth-order",
            "2",
        ],
    );
    let child = show_json(d, &first)["patient"].clone();
    assert_eq!(child["mother"], mother.as_str(), "{child}");
    assert_eq!(child["identifiers"]["birth_order"], 2, "{child}");
    let refused = fails(d, &["patient", "update", &first, "--birth-order", "11"], 3);
    assert!(refused.contains("birth_order"), "{refused}");

    // A change of sex is checked against the NIK again, and refused with nothing stored.
    let siti = add_siti(d);
    let before = show_json(d, &siti);
    let refused = fails(d, &["patient", "update", &siti, "--sex", "M"], 3);
    assert!(refused.contains("identifiers.nik"), "{refused}");
    assert_eq!(show_json(d, &siti), before);
    // An estimated birth date is not held against the NIK's date.
    ok(
        d,
        &[
            "patient",
            "update",
            &siti,
            "--birth-date",
            "1990-01-01",
            "--birth-date-estimated",
            "true",
        ],
    );
    assert_eq!(show_json(d, &siti)["patient"]["birth_date_estimated"], true);

    // Status: died, then the death was recorded in error; moved out, then back.
    ok(d, &["patient", "update", &siti, "--died-on", "2026-11-01"]);
    assert_eq!(show_json(d, &siti)["patient"]["died_on"], "2026-11-01");
    ok(
        d,
        &[
            "patient",
            "update",
            &siti,
            "--alive",
            "--moved-out-on",
            "2026-10-01",
        ],
    );
    let p = show_json(d, &siti)["patient"].clone();
    assert!(
        p["died_on"].is_null() && p["moved_out_on"] == "2026-10-01",
        "{p}"
    );
    ok(
        d,
        &["patient", "update", &siti, "--moved-back", "--rt", "12"],
    );
    let p = show_json(d, &siti)["patient"].clone();
    assert!(p["moved_out_on"].is_null(), "{p}");
    assert_eq!(p["address"]["rt"], "012", "typed as 12, kept as 012");
    let refused = fails(
        d,
        &["patient", "update", &siti, "--died-on", "2020-01-01x"],
        3,
    );
    assert!(refused.contains("died-on"), "{refused}");

    // A posyandu cannot move a person to its sibling; the pustu above both can.
    let sibling = POSYANDU.replace("PY04", "PY05");
    let refused = fails(d, &["patient", "update", &siti, "--facility", &sibling], 3);
    assert!(refused.contains("only a facility above both"), "{refused}");
    let pustu = tempfile::tempdir().expect("tempdir");
    let pu = POSYANDU.rsplit_once('/').expect("parent").0;
    ok(pustu.path(), &["init", "--path", pu]);
    let moving = ok(
        pustu.path(),
        &[
            "patient",
            "add",
            "--name",
            "Budi",
            "--sex",
            "M",
            "--birth-date",
            "2024-02-02",
            "--village",
            "3273012001",
            "--facility",
            POSYANDU,
        ],
    )
    .trim()
    .to_string();
    ok(
        pustu.path(),
        &["patient", "update", &moving, "--facility", &sibling],
    );
    let moved = show_json(pustu.path(), &moving);
    assert_eq!(moved["patient"]["home_facility"], sibling.as_str());
    assert_eq!(moved["scope"]["paths"][0], sibling.as_str(), "{moved}");
}

#[test]
fn the_patient_list_comes_in_pages_that_join_into_the_whole_list() {
    let dir = posyandu_store();
    for n in 1..=5 {
        register_child(dir.path(), &format!("Anak {n}"), n);
    }
    let all = ok(dir.path(), &["patient", "list", "--all", "--json"]);
    assert_eq!(all.lines().count(), 5, "{all}");
    // Pages of two, following what each page says to go on from.
    let mut joined = String::new();
    let mut args = vec!["patient", "list", "--json", "--limit", "2"];
    let mut hint;
    let mut pages = 0;
    loop {
        let out = simpul(dir.path(), &args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page = String::from_utf8(out.stdout).expect("utf-8");
        assert!(page.lines().count() <= 2, "{page}");
        joined.push_str(&page);
        pages += 1;
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        match stderr
            .trim()
            .strip_prefix("more: simpul patient list --after ")
        {
            Some(after) => hint = after.to_string(),
            None => break,
        }
        args = vec![
            "patient", "list", "--json", "--limit", "2", "--after", &hint,
        ];
    }
    assert_eq!(
        joined, all,
        "pages of two join into the list, no gaps or repeats"
    );
    assert_eq!(pages, 3);
    // A limit out of range or a cursor that is not a record id is refused, naming it.
    let stderr = fails(dir.path(), &["patient", "list", "--limit", "1001"], 3);
    assert!(stderr.contains("limit"), "{stderr}");
    let stderr = fails(dir.path(), &["patient", "list", "--after", "siti"], 3);
    assert!(stderr.contains("siti"), "{stderr}");
}
