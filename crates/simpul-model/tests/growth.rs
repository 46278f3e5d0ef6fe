//! The monthly weighing judged as the buku KIA does: N, T, O, B, 2T and BGM, from
//! hand-made children whose every answer is known.

mod common;

use common::*;
use simpul_model::growth::{Trend, minimum_gain_g, progress};
use simpul_model::*;

fn month(s: &str) -> Month {
    Month::parse(s).expect("test month")
}

/// A girl born on `born` weighed on each `(date, kg)`.
fn weighed(born: &str, weighings: &[(&str, f64)]) -> Patient {
    let mut p = person("Ayu", born, POSYANDU);
    p.sex = Sex::Female;
    with_visits(
        p,
        weighings
            .iter()
            .enumerate()
            .map(|(i, (d, kg))| (["w0", "w1", "w2", "w3", "w4"][i], weighing(d, *kg))),
    )
}

#[test]
fn the_minimum_gain_table_by_age_in_months() {
    let table: Vec<Option<u32>> = [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 24, 59, 60, -1]
        .map(minimum_gain_g)
        .to_vec();
    let kbm = |g: u32| Some(g);
    assert_eq!(
        table,
        [
            kbm(800),
            kbm(800),
            kbm(900),
            kbm(800),
            kbm(600),
            kbm(500),
            kbm(400),
            kbm(300),
            kbm(300),
            kbm(200),
            kbm(200),
            kbm(200),
            kbm(200),
            None,
            None
        ]
    );
}

#[test]
fn a_gain_exactly_at_the_minimum_is_n_and_one_scale_step_less_is_t() {
    // Five months old on 2025-08-20: the minimum is 500 g.
    let exactly = weighed("2025-03-15", &[("2025-07-20", 6.5), ("2025-08-20", 7.0)]);
    let p = progress(&exactly, month("2025-08")).expect("weighed");
    assert_eq!(
        (p.trend, p.gain_g, p.minimum_g),
        (Trend::Gained, Some(500), Some(500))
    );
    let short = weighed("2025-03-15", &[("2025-07-20", 6.5), ("2025-08-20", 6.9)]);
    let p = progress(&short, month("2025-08")).expect("weighed");
    assert_eq!((p.trend, p.gain_g), (Trend::NotGained, Some(400)));
    assert!(!p.two_t, "one T is not 2T");
    let lost = weighed("2025-03-15", &[("2025-07-20", 6.5), ("2025-08-20", 6.3)]);
    let p = progress(&lost, month("2025-08")).expect("weighed");
    assert_eq!((p.trend, p.gain_g), (Trend::NotGained, Some(-200)));
    assert_eq!(Trend::NotGained.letter(), "T");
}

#[test]
fn two_not_gained_in_a_row_is_2t_and_a_gain_between_breaks_it() {
    // June 6.5; July 6.6 (+100 g at 4 months, minimum 600: T); August 6.8 (+200 g at
    // 5 months, minimum 500: T).
    let twice = weighed(
        "2025-03-15",
        &[
            ("2025-06-20", 6.5),
            ("2025-07-20", 6.6),
            ("2025-08-20", 6.8),
        ],
    );
    let p = progress(&twice, month("2025-08")).expect("weighed");
    assert!(p.trend == Trend::NotGained && p.two_t, "{p:?}");
    // July +700 g was N: August's T is the first.
    let once = weighed(
        "2025-03-15",
        &[
            ("2025-06-20", 5.9),
            ("2025-07-20", 6.6),
            ("2025-08-20", 6.8),
        ],
    );
    let p = progress(&once, month("2025-08")).expect("weighed");
    assert!(p.trend == Trend::NotGained && !p.two_t, "{p:?}");
    // Not weighed in July: August is O, and June's T cannot make a 2T.
    let gap = weighed("2025-03-15", &[("2025-06-20", 6.5), ("2025-08-20", 6.6)]);
    let p = progress(&gap, month("2025-08")).expect("weighed");
    assert_eq!(
        (p.trend, p.gain_g, p.two_t),
        (Trend::AfterAGap, None, false)
    );
}

#[test]
fn the_first_weighing_is_b_and_a_month_without_one_has_no_progress() {
    let first = weighed("2025-03-15", &[("2025-08-20", 6.6)]);
    let p = progress(&first, month("2025-08")).expect("weighed");
    assert_eq!((p.trend, p.minimum_g), (Trend::First, None));
    assert_eq!(progress(&first, month("2025-09")), None);
    assert_eq!(progress(&first, month("2025-07")), None);
}

#[test]
fn transcribed_weighings_are_history_not_a_weighing_of_the_month() {
    let mut p = weighed("2025-03-15", &[("2025-07-20", 6.5), ("2025-08-20", 7.0)]);
    for v in p.visits.values_mut() {
        v.transcribed = v.date < date("2025-08-01");
    }
    // July's weight, copied from the KIA book, is the baseline of August's weighing.
    let got = progress(&p, month("2025-08")).expect("weighed");
    assert_eq!(got.trend, Trend::Gained);
    // But the child was not weighed here in July.
    assert_eq!(progress(&p, month("2025-07")), None);
}

#[test]
fn a_child_crossing_24_months_takes_the_older_minimum() {
    // 23 months on 2026-07-20, 24 months on 2026-08-20: 200 g.
    let p = weighed("2024-08-10", &[("2026-07-20", 10.8), ("2026-08-20", 11.0)]);
    let got = progress(&p, month("2026-08")).expect("weighed");
    assert_eq!(
        (got.trend, got.gain_g, got.minimum_g),
        (Trend::Gained, Some(200), Some(200))
    );
    // Past five years there is no weighing to judge.
    let old = weighed("2021-01-10", &[("2026-07-20", 16.0), ("2026-08-20", 16.5)]);
    assert_eq!(progress(&old, month("2026-08")), None);
}

#[test]
fn below_the_red_line_is_weight_for_age_under_minus_three_sd() {
    // A girl of 366 days: weight-for-age -3 SD is 6.28 kg (WHO table, day 366:
    // L -0.2027, M 8.9536, S 0.12268).
    let red = weighed("2025-08-01", &[("2026-08-02", 6.2)]);
    assert!(
        progress(&red, month("2026-08"))
            .expect("weighed")
            .below_red_line
    );
    let above = weighed("2025-08-01", &[("2026-08-02", 6.4)]);
    assert!(
        !progress(&above, month("2026-08"))
            .expect("weighed")
            .below_red_line
    );
}
