//! The PWS monthly summary, from hand-made patients whose every count is known.

mod common;

use common::*;
use simpul_model::pws::{Month, PwsReport, PwsRow};
use simpul_model::*;

const PKM: &str = "3273/P3273010201";
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

/// Everyone of the full scenario, for August 2026 (previous month July), with whether
/// a report below PU1 counts them.
fn scenario() -> Vec<(Patient, bool)> {
    let gain = with_visits(
        person("A gains", "2025-02-10", PY04),
        [
            // The latest July weight (9.0) is the baseline, not the earlier 9.5.
            ("a1", weighing("2026-07-02", 9.5)),
            ("a2", weighing("2026-07-25", 9.0)),
            ("a3", vit_a(weighing("2026-08-10", 9.4))),
        ],
    );
    let mut merged = gain.clone();
    merged.name = "A gains (duplicate)".into();
    merged.merged_into = Some(RecordId::from_bytes([9; 16]));

    let mut corrected_fix = weighing("2026-08-10", 10.5);
    corrected_fix.supersedes = Some("zz-typo".into());
    let mut in_error = weighing("2026-08-15", 8.5);
    in_error.entered_in_error = Some(error_mark());

    let mut td_again = jab(bare("2026-08-20"), Antigen::Td, 2);
    td_again.klaster = Klaster::IbuAnak;
    let mut hb_only = jab(bare("2026-08-14"), Antigen::Td, 2);
    hb_only.measurements.hb_g_dl = Some(11.2);

    let mut bp = bare("2026-08-14");
    bp.measurements.systolic_mmhg = Some(150.0);
    bp.measurements.diastolic_mmhg = Some(95.0);
    let mut glucose = bare("2026-08-14");
    glucose.measurements.glucose_mg_dl = Some(210.0);
    let mut srq_last_month = bare("2026-07-14");
    srq_last_month.screenings.push(Screening {
        instrument: Instrument::Srq20,
        score: 9,
        result: ScreeningResult::Positive,
    });

    vec![
        // PY04
        (gain, true),
        (merged, false),
        (
            with_visits(
                person("B loses", "2024-03-03", PY04),
                [
                    ("b1", weighing("2026-07-08", 11.0)),
                    ("b2", weighing("2026-08-08", 10.8)),
                ],
            ),
            true,
        ),
        (
            with_visits(
                person("C first weighing", "2026-04-15", PY04),
                [(
                    "c1",
                    jab(
                        jab(
                            jab(weighing("2026-08-12", 5.9), Antigen::DptHbHib, 1),
                            Antigen::Opv,
                            2,
                        ),
                        Antigen::Pcv,
                        1,
                    ),
                )],
            ),
            true,
        ),
        (
            with_visits(
                person("D not weighed", "2023-06-01", PY04),
                [
                    ("d1", weighing("2026-07-12", 10.0)),
                    ("d2", vit_a(bare("2026-08-12"))),
                ],
            ),
            true,
        ),
        (
            with_visits(
                person("E six years old", "2020-05-05", PY04),
                [
                    ("e1", weighing("2026-07-05", 19.0)),
                    (
                        "e2",
                        jab(vit_a(weighing("2026-08-05", 19.5)), Antigen::Dt, 1),
                    ),
                ],
            ),
            true,
        ),
        (person("F born after the month", "2026-09-02", PY04), true),
        (
            with_visits(
                person("G born on the last day", "2026-08-31", PY04),
                [("g1", jab(weighing("2026-08-31", 3.2), Antigen::Hb0, 1))],
            ),
            true,
        ),
        (
            with_visits(
                person("H weighing entered in error", "2025-06-01", PY04),
                [("h1", weighing("2026-07-15", 8.0)), ("h2", in_error)],
            ),
            true,
        ),
        (
            // The superseded 9.5 sorts after its correction on the same day: read, it
            // would be the latest weight and a loss.
            with_visits(
                person("I corrected", "2024-10-10", PY04),
                [
                    ("i1", weighing("2026-07-10", 10.0)),
                    ("aa-fix", corrected_fix),
                    ("zz-typo", weighing("2026-08-10", 9.5)),
                ],
            ),
            true,
        ),
        // PY05
        (
            with_visits(
                person("K 59 months, same weight", "2021-09-01", PY05),
                [
                    ("k1", weighing("2026-07-20", 15.0)),
                    ("k2", weighing("2026-08-20", 15.0)),
                ],
            ),
            true,
        ),
        (
            with_visits(
                person("L 60 months", "2021-08-31", PY05),
                [("l1", vit_a(weighing("2026-08-20", 16.0)))],
            ),
            true,
        ),
        (
            with_visits(
                person("M adult, BP", "1980-01-01", PY05),
                [("m1", bp.clone())],
            ),
            true,
        ),
        (
            with_visits(
                person("N adult, glucose", "1960-03-03", PY05),
                [("n1", glucose), ("n0", srq_last_month.clone())],
            ),
            true,
        ),
        (
            // Td dose 2 recorded twice (double entry) counts once; Hb is not a screening.
            with_visits(
                person("O pregnant", "1998-02-02", PY05),
                [("o1", hb_only), ("o2", td_again)],
            ),
            true,
        ),
        (
            with_visits(
                person("P fourteen, BP", "2012-01-01", PY05),
                [("p1", bp.clone())],
            ),
            true,
        ),
        (
            with_visits(
                person("Q adult, screened last month only", "1975-05-05", PY05),
                [("q1", srq_last_month)],
            ),
            true,
        ),
        // Outside PU1.
        (
            with_visits(
                person("R other pustu", "2025-01-01", PU2_PY01),
                [
                    ("r1", weighing("2026-07-01", 8.0)),
                    (
                        "r2",
                        jab(vit_a(weighing("2026-08-01", 8.6)), Antigen::Bcg, 1),
                    ),
                ],
            ),
            false,
        ),
        (
            with_visits(
                person("S adult at the puskesmas", "1970-01-01", PKM),
                [("s1", bp)],
            ),
            false,
        ),
    ]
}

struct Expect {
    s: u32,
    d: u32,
    n: u32,
    t: u32,
    b: u32,
    vit_a: u32,
    doses: &'static [(Antigen, u32)],
    adults: u32,
}

fn check(row: &PwsRow, e: &Expect) {
    let label = row.cells()[0].clone();
    assert_eq!(
        (
            row.under_fives,
            row.weighed,
            row.gained,
            row.not_gained,
            row.first_weighing,
            row.vitamin_a,
            row.adults_screened
        ),
        (e.s, e.d, e.n, e.t, e.b, e.vit_a, e.adults),
        "{label}: S, D, N, T, B/O, vitamin A, adults screened"
    );
    for &antigen in Antigen::ALL {
        let want = e
            .doses
            .iter()
            .find(|(a, _)| *a == antigen)
            .map_or(0, |(_, n)| *n);
        assert_eq!(row.doses_of(antigen), want, "{label}: doses of {antigen}");
    }
    assert_eq!(
        row.doses.len(),
        Antigen::ALL.len(),
        "{label}: every antigen"
    );
    assert_eq!(
        row.weighed,
        row.gained + row.not_gained + row.first_weighing
    );
}

#[test]
fn every_column_of_every_row_and_the_total() {
    let mut report = PwsReport::new(month("2026-08"), &path(PU1));
    for (p, counted) in scenario() {
        assert_eq!(report.add(&p), counted, "{}", p.name);
    }
    let rows = report.rows();
    let facilities: Vec<String> = rows.iter().map(|r| r.cells()[0].clone()).collect();
    assert_eq!(facilities, [PY04, PY05]);

    check(
        &rows[0],
        &Expect {
            s: 7, // A B C D G H I
            d: 5, // A B C G I
            n: 2, // A I
            t: 1, // B
            b: 2, // C G
            vit_a: 2,
            doses: &[
                (Antigen::DptHbHib, 1),
                (Antigen::Opv, 1),
                (Antigen::Pcv, 1),
                (Antigen::Hb0, 1),
                (Antigen::Dt, 1),
            ],
            adults: 0,
        },
    );
    check(
        &rows[1],
        &Expect {
            s: 1, // K
            d: 1,
            n: 0,
            t: 1,
            b: 0,
            vit_a: 0,
            doses: &[(Antigen::Td, 1)],
            adults: 2, // M N
        },
    );
    let total = report.total();
    assert_eq!(total.facility, None);
    check(
        &total,
        &Expect {
            s: 8,
            d: 6,
            n: 2,
            t: 2,
            b: 2,
            vit_a: 2,
            doses: &[
                (Antigen::DptHbHib, 1),
                (Antigen::Opv, 1),
                (Antigen::Pcv, 1),
                (Antigen::Hb0, 1),
                (Antigen::Dt, 1),
                (Antigen::Td, 1),
            ],
            adults: 2,
        },
    );

    assert_eq!(
        rows[0].weighed_pct().map(|p| format!("{p:.1}")),
        Some("71.4".into())
    );
    assert_eq!(rows[0].gained_pct(), Some(40.0));
    assert_eq!(rows[1].weighed_pct(), Some(100.0));
    assert_eq!(rows[1].gained_pct(), Some(0.0));
    assert_eq!(total.weighed_pct(), Some(75.0));

    let summary = report.summary();
    assert_eq!(summary.rows, rows);
    assert_eq!(summary.total, total);
}

#[test]
fn records_and_the_node_level_decide_who_counts() {
    // From the puskesmas, the other pustu's child and the puskesmas' own adult count.
    let mut report = PwsReport::new(month("2026-08"), &path(PKM));
    for (p, _) in scenario() {
        let merged = p.merged_into.is_some();
        let record = Record {
            id: RecordId::from_bytes([1; 16]),
            scope: Scope::up(p.home_facility.clone()),
            body: RecordBody::Patient(p),
        };
        assert_eq!(report.add_record(&record), !merged);
    }
    let facilities: Vec<FacilityPath> = report
        .rows()
        .into_iter()
        .filter_map(|r| r.facility)
        .collect();
    assert_eq!(
        facilities,
        [path(PKM), path(PY04), path(PY05), path(PU2_PY01)]
    );
    let total = report.total();
    assert_eq!((total.under_fives, total.weighed, total.gained), (9, 7, 3));
    assert_eq!((total.vitamin_a, total.doses_of(Antigen::Bcg)), (3, 1));
    assert_eq!(total.adults_screened, 3);
}

#[test]
fn csv_of_a_small_report() {
    let mut report = PwsReport::new(month("2026-08"), &path(PU1));
    report.add(&with_visits(
        person("Child", "2025-02-10", PY04),
        [
            ("a1", weighing("2026-07-25", 9.0)),
            (
                "a2",
                jab(vit_a(weighing("2026-08-10", 9.4)), Antigen::Mr, 1),
            ),
        ],
    ));
    let mut bp = bare("2026-08-14");
    bp.measurements.systolic_mmhg = Some(130.0);
    bp.measurements.diastolic_mmhg = Some(85.0);
    report.add(&with_visits(
        person("Adult", "1980-01-01", PY05),
        [("m1", bp)],
    ));

    let antigens = "HB0,BCG,OPV,IPV,DPT-HB-Hib,PCV,RV,MR,JE,HPV,Td,DT";
    let expected = format!(
        "facility,under_fives,weighed,gained,not_gained,first_weighing,weighed_pct,gained_pct,vitamin_a,{antigens},adults_screened\n\
         {PY04},1,1,1,0,0,100.0,100.0,1,0,0,0,0,0,0,0,1,0,0,0,0,0\n\
         {PY05},0,0,0,0,0,,,0,0,0,0,0,0,0,0,0,0,0,0,0,1\n\
         TOTAL,1,1,1,0,0,100.0,100.0,1,0,0,0,0,0,0,0,1,0,0,0,0,1\n"
    );
    assert_eq!(report.to_csv(), expected);
    assert_eq!(
        PwsRow::columns().join(","),
        expected.lines().next().unwrap_or_default()
    );
}

#[test]
fn empty_report_has_only_the_header_and_a_zero_total() {
    let report = PwsReport::new(month("2026-08"), &path(PU1));
    assert!(report.rows().is_empty());
    let csv = report.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[1].starts_with("TOTAL,0,0,0,0,0,,,0,"), "{}", lines[1]);
}

#[test]
fn json_carries_counts_percentages_and_doses() {
    let mut report = PwsReport::new(month("2026-08"), &path(PU1));
    report.add(&with_visits(
        person("Child", "2025-02-10", PY04),
        [("a1", jab(weighing("2026-08-10", 9.4), Antigen::Mr, 1))],
    ));
    let json = serde_json::to_value(report.summary()).expect("json");
    assert_eq!(json["month"], "2026-08");
    assert_eq!(json["below"], PU1);
    assert_eq!(json["rows"][0]["facility"], PY04);
    assert_eq!(json["rows"][0]["first_weighing"], 1);
    assert_eq!(json["rows"][0]["weighed_pct"], 100.0);
    assert_eq!(json["rows"][0]["gained_pct"], 0.0);
    assert_eq!(json["rows"][0]["doses"]["MR"], 1);
    assert_eq!(json["rows"][0]["doses"]["BCG"], 0);
    assert!(json["total"]["facility"].is_null());
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
