//! PWS by the official definitions, from hand-made people whose every count is known:
//! one test per group of columns, with the boundary cases the definitions turn on.

mod common;

use common::*;
use simpul_model::growth::Indicator;
use simpul_model::pws::schedule::Dose;
use simpul_model::pws::{Grouping, Month, Period, PwsReport, PwsRow, ReportFacts};
use simpul_model::*;

const PU1: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
/// Under another pustu of the same puskesmas: outside PU1's subtree.
const PU2_PY01: &str = "3273/P3273010201/3273010201-PU2/3273010201-PY01";

fn month(s: &str) -> Month {
    Month::parse(s).expect("test month")
}

fn error_mark() -> ErrorMark {
    ErrorMark {
        reason: "weighed the wrong child".into(),
        by: "bidan-01".into(),
        at_ms: 1_787_000_000_000,
    }
}

/// A child born on `born` at PY04 with visits `v0`, `v1`, … in order.
fn child(born: &str, visits: Vec<Visit>) -> Patient {
    let ids: Vec<String> = (0..visits.len()).map(|i| format!("v{i:02}")).collect();
    with_visits(
        person("Child", born, PY04),
        ids.iter().map(String::as_str).zip(visits),
    )
}

/// The report of `m` below PU1 over `people`, services of `period`, one total row.
/// Every case is counted twice, from the people and from their report facts (what the
/// store keeps for reports), and the two must agree row for row.
fn total(m: &str, period: Period, people: &[Patient]) -> PwsRow {
    let mut report = PwsReport::new(month(m), &path(PU1)).period(period);
    let mut from_facts = PwsReport::new(month(m), &path(PU1)).period(period);
    for p in people {
        let counted = report.add(p);
        let facts = ReportFacts::of(p);
        let back: ReportFacts =
            serde_json::from_str(&serde_json::to_string(&facts).expect("encode")).expect("decode");
        assert_eq!(back, facts, "report facts round-trip");
        assert_eq!(from_facts.add_facts(&facts), counted);
    }
    assert_eq!(
        from_facts.rows(),
        report.rows(),
        "the same rows from report facts"
    );
    report.total()
}

fn of_month(m: &str, people: &[Patient]) -> PwsRow {
    total(m, Period::Month, people)
}

/// The row's value of a column, by name, as CSV shows it.
fn cell(row: &PwsRow, column: &str) -> String {
    let at = PwsRow::columns()
        .iter()
        .position(|c| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    row.cells()[at].clone()
}

#[test]
fn skdn_counts_each_child_once_by_the_buku_kia_rules() {
    let born = "2025-03-15"; // 5 months in August 2025: the minimum gain is 500 g
    let mut with_book = child(
        born,
        vec![weighing("2025-07-20", 6.5), weighing("2025-08-20", 7.0)],
    );
    with_book.kia_book = true;
    let people = vec![
        // N exactly at the minimum (+500 g), holding a KIA book.
        with_book,
        // T one scale step short (+400 g).
        child(
            born,
            vec![weighing("2025-07-20", 6.5), weighing("2025-08-20", 6.9)],
        ),
        // 2T: June -> July +100 g (4 months, minimum 600), July -> August +200 g.
        child(
            born,
            vec![
                weighing("2025-06-20", 6.5),
                weighing("2025-07-20", 6.6),
                weighing("2025-08-20", 6.8),
            ],
        ),
        // O: weighed in June, not in July.
        child(
            born,
            vec![weighing("2025-06-20", 6.0), weighing("2025-08-20", 7.0)],
        ),
        // B: first weighed this month, below the red line (-3 SD is 4.85 kg at 158
        // days for a girl).
        {
            let mut p = child(born, vec![weighing("2025-08-20", 4.6)]);
            p.sex = Sex::Female;
            p
        },
        // Not weighed this month: in S only.
        child(born, vec![weighing("2025-07-20", 6.5)]),
        // Weighed, but the visit was entered in error; and another only transcribed.
        child(
            born,
            vec![{
                let mut v = weighing("2025-08-20", 7.0);
                v.entered_in_error = Some(error_mark());
                v
            }],
        ),
        child(
            born,
            vec![{
                let mut v = weighing("2025-08-20", 7.0);
                v.transcribed = true;
                v
            }],
        ),
    ];
    let row = of_month("2025-08", &people);
    let c = &row.counts;
    assert_eq!(
        (c.s, c.k, c.d, c.n, c.t, c.o, c.b, c.bgm, c.two_t),
        (8, 1, 5, 1, 2, 1, 1, 1, 1)
    );
    assert_eq!(c.d, c.n + c.t + c.o + c.b);
    assert_eq!(row.d_prime(), 3);
    assert_eq!(cell(&row, "n_of_d_prime_pct"), "33.3");
    assert_eq!(cell(&row, "d_of_s_pct"), "62.5");
    assert_eq!(cell(&row, "k_of_s_pct"), "12.5");
}

#[test]
fn s_is_taken_at_the_month_end_a_child_who_died_or_moved_leaves_it() {
    let weighed = |born: &str| child(born, vec![weighing("2026-03-10", 9.0)]);
    let mut died = weighed("2025-02-01");
    died.died_on = Some(date("2026-03-20"));
    let mut moved = weighed("2025-02-01");
    moved.moved_out_on = Some(date("2026-02-01"));
    // Turns five (60 months) on 2026-03-31: no longer an under-five at the month end.
    let five = weighed("2021-03-31");
    let unborn = weighed("2026-04-02");
    let row = of_month(
        "2026-03",
        &[died.clone(), moved, five, unborn, weighed("2025-02-01")],
    );
    assert_eq!((row.counts.s, row.counts.d), (1, 1));
    // Before she died she counted.
    assert_eq!(of_month("2026-02", &[died.clone()]).counts.s, 1);
    // A capsule given before she died still counts in the year to date; she is no
    // longer among the children at the month end.
    let mut given = died;
    given
        .visits
        .insert("vitA".into(), vit_a(bare("2026-02-05")));
    let ytd = total("2026-08", Period::YearToDate, &[given]);
    assert_eq!((ytd.counts.vitamin_a_12_59, ytd.counts.aged_12_59), (1, 0));
}

#[test]
fn stunting_turns_on_minus_two_sd_and_is_counted_by_age_band() {
    // A boy of 300 days (9 months): -2 SD of length-for-age, and one 0.1 cm step
    // on either side of it.
    let born = date("2025-10-01");
    let on = born.add_days(300);
    let lms = Indicator::LengthHeightForAge
        .lms(Sex::Male, 300.0)
        .expect("row");
    let line = lms.value_at(-2.0);
    let at = |cm: f64| {
        let mut v = bare(&on.to_string());
        v.measurements.length_cm = Some(cm);
        v.measurements.weight_kg = Some(8.0);
        let mut boy = child("2025-10-01", vec![v]);
        boy.sex = Sex::Male;
        boy
    };
    let above = (line * 10.0).ceil() / 10.0;
    let below = (line * 10.0).floor() / 10.0;
    let m = Month::of(on).to_string();
    let row = of_month(&m, &[at(above), at(below)]);
    assert_eq!((row.counts.measured_6_11, row.counts.stunted_6_11), (2, 1));
    // The same child measured at 24 months counts in the older band, standing.
    let mut older = bare("2026-08-20");
    older.measurements.height_cm = Some(75.0);
    let row = of_month("2026-08", &[child("2024-08-10", vec![older])]);
    assert_eq!(
        (row.counts.measured_24_59, row.counts.stunted_24_59),
        (1, 1)
    );
    assert_eq!(row.counts.measured_12_23, 0);
    // Oedema is wasted and underweight whatever the scale says.
    let mut swollen = bare("2026-08-20");
    swollen.measurements.weight_kg = Some(11.0);
    swollen.measurements.length_cm = Some(80.0);
    swollen.measurements.oedema = true;
    let row = of_month("2026-08", &[child("2025-08-01", vec![swollen])]);
    assert_eq!(
        (row.counts.wasted_12_23, row.counts.underweight_12_23),
        (1, 1)
    );
}

#[test]
fn vitamin_a_by_capsule_and_to_nifas_mothers() {
    let mother = {
        let mut p = patient(); // a woman of 36
        p.visits.insert("n1".into(), vit_a(bare("2026-08-03")));
        p
    };
    let people = [
        child("2026-01-20", vec![vit_a(bare("2026-08-05"))]), // 6 months: blue
        child("2024-02-01", vec![vit_a(bare("2026-08-05"))]), // 30 months: red
        child("2026-03-01", vec![vit_a(bare("2026-08-05"))]), // 5 months: neither
        // Given in February: not in August's month, in its year to date.
        child("2023-01-01", vec![vit_a(bare("2026-02-10"))]),
        mother,
    ];
    let c = of_month("2026-08", &people).counts;
    assert_eq!(
        (c.vitamin_a_6_11, c.vitamin_a_12_59, c.vitamin_a_nifas),
        (1, 1, 1)
    );
    assert_eq!((c.aged_6_11, c.aged_12_59), (1, 2));
    let ytd = total("2026-08", Period::YearToDate, &people).counts;
    assert_eq!(ytd.vitamin_a_12_59, 2);
}

#[test]
fn doses_count_in_their_target_age_and_idl_when_the_set_is_complete() {
    let born = "2025-09-01";
    let infant_doses = |mr_on: &str, last_transcribed: bool| {
        let mut visits = vec![
            jab(bare("2025-09-01"), Antigen::Hb0, 1),
            jab(jab(bare("2025-10-02"), Antigen::Bcg, 1), Antigen::Opv, 1),
            jab(
                jab(bare("2025-11-03"), Antigen::DptHbHib, 1),
                Antigen::Opv,
                2,
            ),
            jab(
                jab(bare("2025-12-03"), Antigen::DptHbHib, 2),
                Antigen::Opv,
                3,
            ),
            jab(
                jab(
                    jab(bare("2026-01-05"), Antigen::DptHbHib, 3),
                    Antigen::Opv,
                    4,
                ),
                Antigen::Ipv,
                1,
            ),
            jab(bare(mr_on), Antigen::Mr, 1),
        ];
        for v in &mut visits[..5] {
            v.transcribed = true; // copied from the KIA book: history
        }
        visits[5].transcribed = last_transcribed;
        child(born, visits)
    };
    // MR1 at 11 months (2026-08-05): completes IDL, in its target age.
    let complete = infant_doses("2026-08-05", false);
    // MR1 at 12 months: outside its target age, and too late for IDL.
    let late = infant_doses("2026-09-02", false);
    // Completed by a transcribed MR1: history, not this month's service.
    let copied = infant_doses("2026-08-05", true);
    // The same dose entered twice counts once.
    let twice = child(
        "2026-05-01",
        vec![
            jab(bare("2026-08-01"), Antigen::DptHbHib, 1),
            jab(bare("2026-08-02"), Antigen::DptHbHib, 1),
        ],
    );
    let people = [complete.clone(), late.clone(), copied, twice];
    let august = of_month("2026-08", &people);
    assert_eq!(
        august.doses_of(Dose {
            antigen: Antigen::Mr,
            number: 1
        }),
        1
    );
    assert_eq!(
        august.doses_of(Dose {
            antigen: Antigen::DptHbHib,
            number: 1
        }),
        1
    );
    assert_eq!(august.counts.complete_basic, 1);
    assert_eq!(august.counts.doses_outside_target, 0);
    let september = of_month("2026-09", &people);
    assert_eq!(september.counts.doses_outside_target, 1);
    assert_eq!(september.counts.complete_basic, 0);
    // Drop-out DPT-HB-Hib 1 -> 3 and 1 -> MR1 over the year, from doses given here.
    let jabs = |n: u32, mr: bool| {
        let mut v = vec![jab(bare("2026-03-01"), Antigen::DptHbHib, 1)];
        if n >= 3 {
            v.push(jab(bare("2026-05-01"), Antigen::DptHbHib, 3));
        }
        if mr {
            v.push(jab(bare("2026-10-05"), Antigen::Mr, 1));
        }
        child("2026-01-01", v)
    };
    let cohort = [
        jabs(3, true),
        jabs(3, false),
        jabs(1, false),
        jabs(1, false),
    ];
    let year = total("2026-10", Period::YearToDate, &cohort);
    assert_eq!(cell(&year, "dropout_dpt1_dpt3_pct"), "50.0");
    assert_eq!(cell(&year, "dropout_dpt1_mr1_pct"), "75.0");
}

#[test]
fn uci_per_village_from_the_year_to_date() {
    let in_village = |village: &str, p: Patient| {
        let mut p = p;
        p.address.village = village.into();
        p
    };
    let idl = |born: &str| {
        let d = date(born);
        let on = |days: i64| bare(&d.add_days(days).to_string());
        child(
            born,
            vec![
                jab(jab(on(0), Antigen::Hb0, 1), Antigen::Bcg, 1),
                jab(jab(on(40), Antigen::Opv, 1), Antigen::DptHbHib, 1),
                jab(jab(on(70), Antigen::Opv, 2), Antigen::DptHbHib, 2),
                jab(jab(on(100), Antigen::Opv, 3), Antigen::DptHbHib, 3),
                jab(jab(on(130), Antigen::Opv, 4), Antigen::Ipv, 1),
                jab(on(280), Antigen::Mr, 1),
            ],
        )
    };
    let people = [
        // Village A: 4 of 5 infants complete (80 %): UCI.
        in_village("3273010001", idl("2025-10-01")),
        in_village("3273010001", idl("2025-11-01")),
        in_village("3273010001", idl("2025-12-01")),
        in_village("3273010001", idl("2025-12-15")),
        in_village("3273010001", child("2026-01-10", vec![])),
        // Village B: 1 of 2.
        in_village("3273010002", idl("2025-11-01")),
        in_village("3273010002", child("2026-02-10", vec![])),
    ];
    let mut report = PwsReport::new(month("2026-10"), &path(PU1))
        .period(Period::YearToDate)
        .grouping(Grouping::Village);
    for p in &people {
        report.add(p);
    }
    let rows = report.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].group.as_deref(), Some("3273010001"));
    assert_eq!(
        (rows[0].counts.infants, rows[0].counts.complete_basic),
        (5, 4)
    );
    assert_eq!(cell(&rows[0], "uci"), "1");
    assert_eq!(cell(&rows[1], "uci"), "0");
    let json = serde_json::to_value(report.summary()).expect("json");
    assert_eq!(json["rows"][0]["uci"], true);
    assert_eq!(json["grouping"], "village");
    assert_eq!(json["period"], "year-to-date");
}

#[test]
fn adults_screened_by_age_group_antenatal_contacts_apart() {
    let bp = |d: &str| {
        let mut v = bare(d);
        v.measurements.systolic_mmhg = Some(150.0);
        v.measurements.diastolic_mmhg = Some(95.0);
        v
    };
    let adult = with_visits(patient(), [("s1", bp("2026-08-14"))]);
    let mut anc = bp("2026-08-14");
    anc.anc_number = Some(2);
    let pregnant = with_visits(patient(), [("s1", anc)]);
    let mut elder = with_visits(
        person("Elder", "1950-01-01", PY04),
        [("s1", bp("2026-08-14"))],
    );
    elder.visits.insert("s2".into(), {
        let mut v = bare("2026-08-15");
        v.screenings.push(Screening {
            instrument: Instrument::Skilas,
            score: 3,
            result: ScreeningResult::Normal,
        });
        v
    });
    let row = of_month("2026-08", &[adult, pregnant, elder]);
    let c = &row.counts;
    assert_eq!(
        (
            c.residents_15_59,
            c.screened_15_59,
            c.residents_60_plus,
            c.screened_60_plus
        ),
        (2, 1, 1, 1)
    );
}

#[test]
fn who_counts_and_the_groups_they_count_in() {
    let p = |home: &str| {
        with_visits(
            person("P", "2025-02-10", home),
            [("w", weighing("2026-08-10", 9.4))],
        )
    };
    let mut merged = p(PY04);
    merged.merged_into = Some(RecordId::from_bytes([9; 16]));
    let people = [p(PY04), p(PY05), p(PU2_PY01), merged];
    let mut by_posyandu = PwsReport::new(month("2026-08"), &path(PU1));
    let mut by_pustu =
        PwsReport::new(month("2026-08"), &path(PU1)).grouping(Grouping::Level(Level::Pustu));
    let counted: Vec<bool> = people.iter().map(|x| by_posyandu.add(x)).collect();
    assert_eq!(counted, [true, true, false, false]);
    for x in &people {
        by_pustu.add(x);
    }
    let groups: Vec<_> = by_posyandu.rows().into_iter().map(|r| r.group).collect();
    assert_eq!(groups, [Some(PY04.to_string()), Some(PY05.to_string())]);
    let pustu = by_pustu.rows();
    assert_eq!(pustu.len(), 1);
    assert_eq!(
        (pustu[0].group.as_deref(), pustu[0].counts.d),
        (Some(PU1), 2)
    );
    assert_eq!(by_posyandu.total().counts, by_pustu.total().counts);
    assert_eq!(
        Grouping::parse("desa"),
        Err(
            "unknown grouping \"desa\": expected posyandu, village, pustu, puskesmas or district"
                .into()
        )
    );
}

#[test]
fn csv_has_a_header_a_line_per_group_and_the_total() {
    let mut report = PwsReport::new(month("2026-08"), &path(PU1));
    report.add(&child(
        "2025-02-10",
        vec![weighing("2026-07-25", 9.0), weighing("2026-08-10", 9.4)],
    ));
    let csv = report.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], PwsRow::columns().join(","));
    assert!(
        lines[0].starts_with("group,s,k,d,n,t,o,b,bgm,two_t,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with(",Td-1,Td-2,Td-3,DT-1,HPV-1,HPV-2"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(&format!("{PY04},1,0,1,1,0,0,0,0,0,")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("TOTAL,1,0,1,1,0,0,0,0,0,"),
        "{}",
        lines[2]
    );
    let empty = PwsReport::new(month("2026-08"), &path(PU1)).to_csv();
    assert_eq!(empty.lines().count(), 2);
}

#[test]
fn month_parsing_and_arithmetic() {
    let m = month("2026-08");
    assert_eq!((m.year(), m.month()), (2026, 8));
    assert_eq!(m.to_string(), "2026-08");
    assert_eq!(m.first_day(), date("2026-08-01"));
    assert_eq!(m.last_day(), date("2026-08-31"));
    assert_eq!(month("2024-02").last_day(), date("2024-02-29"));
    assert_eq!(month("2026-02").last_day(), date("2026-02-28"));
    assert_eq!(month("2026-01").previous(), month("2025-12"));
    assert_eq!(month("2025-12").next(), month("2026-01"));
    assert_eq!(Month::of(date("2026-08-17")), m);
    assert!(m.contains(date("2026-08-31")) && !m.contains(date("2026-09-01")));
    assert_eq!(Month::new(2026, 8), Ok(m));
    assert_eq!("2026-08".parse::<Month>(), Ok(m));
    assert_eq!(
        serde_json::from_str::<Month>("\"2026-08\"").expect("json month"),
        m
    );
}

#[test]
fn month_parsing_errors_name_the_input() {
    let err = Month::parse("2026-13").expect_err("no 13th month");
    assert_eq!(
        err.to_string(),
        "invalid month \"2026-13\": month 13 is not between 01 and 12"
    );
    assert_eq!(
        Month::parse("2026-00").expect_err("no month 0").reason,
        "month 00 is not between 01 and 12"
    );
    for bad in [
        "",
        "2026",
        "2026-8",
        "26-08",
        "2026/08",
        "2026-08-01",
        "abcd-08",
        "2026-1a",
        " 2026-08",
        "+026-08",
    ] {
        let err = Month::parse(bad).expect_err(bad);
        assert_eq!(err.text, bad);
        assert_eq!(err.reason, "expected YYYY-MM, e.g. 2026-08", "{bad}");
    }
    assert_eq!(
        Month::parse("1850-01").expect_err("too early").reason,
        "year 1850 is not between 1900 and 2999"
    );
    assert_eq!(
        Month::new(2026, 13).expect_err("no 13th month").to_string(),
        "invalid month \"2026-13\": month 13 is not between 01 and 12"
    );
    assert!(serde_json::from_str::<Month>("\"2026-13\"").is_err());
}
