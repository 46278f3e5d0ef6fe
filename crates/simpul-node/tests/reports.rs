//! The PWS and the due lists a node answers (from the report facts its store keeps)
//! equal what every record says, on a generated district after a year's corrections,
//! error marks, deaths, moves and merges.

use simpul_model::pws::{Grouping, Month, Period, PwsReport};
use simpul_model::{Date, ErrorMark, FacilityPath, RecordBody, RecordKind};
use simpul_node::admin::{Caller, Reply, Request, ops};
use simpul_store::{Store, StoreOptions};

const PUSKESMAS: &str = "3273/P3273010201";

fn today() -> Date {
    Date::from_ymd(2026, 11, 20).expect("date")
}

/// A generated puskesmas of 600 people after a year of edits, and its posyandu.
fn edited_district(dir: &std::path::Path) -> (Store, FacilityPath, Vec<FacilityPath>) {
    let node = FacilityPath::parse(PUSKESMAS).expect("path");
    let store = Store::create(dir, &node, [1, 1, 1, 1], StoreOptions::default()).expect("store");
    let generator = simpul_gen::Generator::new(23, &node, 600, today());
    let posyandu: Vec<FacilityPath> = generator
        .posyandu()
        .iter()
        .map(|p| p.path.clone())
        .collect();
    let mut ids = Vec::new();
    for i in 0..600 {
        let record = generator.patient(i);
        ids.push(record.id);
        store.insert_record(record, today(), 1_000).expect("insert");
    }
    let merge_into = ids[1];
    for (i, id) in ids.iter().enumerate().step_by(5) {
        let to = posyandu[i % posyandu.len()].clone();
        store
            .update_record(*id, today(), 2_000, move |r| {
                let RecordBody::Patient(p) = &mut r.body else {
                    unreachable!("patients")
                };
                match i % 5 {
                    0 => {
                        // A weighing corrected: the later visit supersedes the first.
                        if let Some((key, v)) =
                            p.visits.iter().next().map(|(k, v)| (k.clone(), v.clone()))
                        {
                            let mut fixed = v;
                            fixed.measurements.weight_kg =
                                fixed.measurements.weight_kg.map(|w| w + 0.4);
                            fixed.supersedes = Some(key);
                            p.visits.insert("ffff000000000001".into(), fixed);
                        }
                    }
                    1 => {
                        if let Some(v) = p.visits.values_mut().last() {
                            v.entered_in_error = Some(ErrorMark {
                                reason: "wrong child".into(),
                                by: "bidan-1".into(),
                                at_ms: 2_000,
                            });
                        }
                    }
                    2 => p.died_on = Some(Date::from_ymd(2026, 6, 15).expect("date")),
                    3 => {
                        p.moved_out_on = Some(Date::from_ymd(2026, 3, 1).expect("date"));
                        r.scope = simpul_model::Scope::up(to.clone());
                        p.home_facility = to;
                    }
                    _ => {
                        if r.id != merge_into {
                            p.merged_into = Some(merge_into);
                        }
                    }
                }
                Ok(())
            })
            .expect("edit");
    }
    (store, node, posyandu)
}

#[test]
fn the_pws_from_report_facts_equals_the_pws_from_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, node, _) = edited_district(dir.path());
    let records: Vec<_> = store
        .ids_of_kind(RecordKind::Patient, None, usize::MAX)
        .expect("ids")
        .into_iter()
        .map(|id| store.record(id).expect("read").expect("held").1)
        .collect();
    assert_eq!(records.len(), 600);
    for month in ["2026-01", "2026-06", "2026-10", "2026-11"] {
        for by in ["posyandu", "village", "pustu", "puskesmas"] {
            for year_to_date in [false, true] {
                let request = Request::Pws {
                    month: month.into(),
                    by: Some(by.into()),
                    year_to_date,
                };
                let (reply, _) =
                    ops::execute(&store, request, &Caller::console(), today(), 3_000).expect("pws");
                let Reply::Pws(table) = reply else {
                    panic!("a PWS table")
                };
                let period = if year_to_date {
                    Period::YearToDate
                } else {
                    Period::Month
                };
                let mut scanned = PwsReport::new(Month::parse(month).expect("month"), &node)
                    .period(period)
                    .grouping(Grouping::parse(by).expect("grouping"));
                for record in &records {
                    scanned.add_record(record);
                }
                assert_eq!(
                    table.csv,
                    scanned.to_csv(),
                    "{month} by {by}, year to date {year_to_date}"
                );
            }
        }
    }
}

/// The due list by its definition, from every record: under-fives (6–59 months for
/// vitamin A) at or below `facility`, living there at the month's end, not merged,
/// without the service that month (growth follow-up: with a reason), by name.
fn due_by_scan(
    records: &[simpul_model::Record],
    facility: &FacilityPath,
    month: Month,
    service: &str,
) -> Vec<(simpul_model::RecordId, Vec<String>)> {
    let end = month.last_day();
    let mut out: Vec<(String, simpul_model::RecordId, Vec<String>)> = records
        .iter()
        .filter_map(|r| {
            let p = r.patient()?;
            let months = p.birth_date.months_until(end);
            let age_ok = if service == "vitamin_a" {
                (6..60).contains(&months)
            } else {
                months < 60
            };
            if p.merged_into.is_some()
                || !facility.is_ancestor_or_self(&p.home_facility)
                || !p.resident_on(end)
                || !age_ok
            {
                return None;
            }
            let reasons: Vec<String> = if service == "growth_follow_up" {
                simpul_model::growth::follow_up(p, month)
                    .into_iter()
                    .map(String::from)
                    .collect()
            } else {
                Vec::new()
            };
            let served = p.current_visits().iter().any(|(_, v)| {
                month.contains(v.date)
                    && !v.transcribed
                    && if service == "vitamin_a" {
                        v.vitamin_a
                    } else {
                        v.measurements.weight_kg.is_some()
                    }
            });
            let due = if service == "growth_follow_up" {
                !reasons.is_empty()
            } else {
                !served
            };
            due.then(|| (p.name.clone(), r.id, reasons))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    out.into_iter()
        .map(|(_, id, reasons)| (id, reasons))
        .collect()
}

/// One page of a due list as the node answers it.
fn due_page(
    store: &Store,
    facility: &FacilityPath,
    month: &str,
    service: &str,
    limit: u32,
    after: Option<simpul_model::RecordId>,
) -> (
    Vec<simpul_node::admin::queries::PersonRow>,
    Option<simpul_model::RecordId>,
) {
    let query: simpul_node::admin::queries::DueQuery = serde_json::from_value(serde_json::json!({
        "facility": facility, "month": month, "service": service,
        "limit": limit, "after": after,
    }))
    .expect("query");
    match ops::execute(
        store,
        Request::Due { query },
        &Caller::console(),
        today(),
        3_000,
    )
    .expect("due")
    .0
    {
        Reply::People { people, next } => (people, next),
        other => panic!("{other:?}"),
    }
}

#[test]
fn due_lists_from_report_facts_equal_the_lists_from_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, node, posyandu) = edited_district(dir.path());
    let records: Vec<_> = store
        .ids_of_kind(RecordKind::Patient, None, usize::MAX)
        .expect("ids")
        .into_iter()
        .map(|id| store.record(id).expect("read").expect("held").1)
        .collect();
    let mut seen = 0;
    for facility in [node.clone(), posyandu[0].clone(), posyandu[2].clone()] {
        for month in ["2026-06", "2026-11"] {
            for service in ["weighing", "vitamin_a", "growth_follow_up"] {
                let expected = due_by_scan(
                    &records,
                    &facility,
                    Month::parse(month).expect("month"),
                    service,
                );
                seen += expected.len();
                for limit in [1u32, 2, 7, 1_000] {
                    let mut got = Vec::new();
                    let mut after = None;
                    loop {
                        let (people, next) =
                            due_page(&store, &facility, month, service, limit, after);
                        assert!(people.len() <= limit as usize);
                        got.extend(people.into_iter().map(|p| (p.id, p.reasons)));
                        match next {
                            Some(n) => after = Some(n),
                            None => break,
                        }
                    }
                    assert_eq!(
                        got, expected,
                        "{facility} {month} {service}, pages of {limit}"
                    );
                }
            }
        }
    }
    assert!(seen > 50, "the lists are not all empty ({seen})");

    // The kader weighs the child the first page ended with, then asks for the next
    // page: it goes on after that child's place, though the child is no longer due.
    let due = |after, limit| due_page(&store, &node, "2026-11", "weighing", limit, after);
    let (whole, _) = due(None, 1_000);
    let (first, next) = due(None, 2);
    let weighed = next.expect("more than two are due");
    assert_eq!(first.last().map(|p| p.id), Some(weighed));
    store
        .update_record(weighed, today(), 4_000, |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!("a patient")
            };
            let mut v = simpul_model::Visit::new(
                Date::from_ymd(2026, 11, 10).expect("date"),
                p.home_facility.clone(),
                simpul_model::Klaster::IbuAnak,
                simpul_model::Setting::Posyandu,
                "kader-01",
            );
            v.measurements.weight_kg = Some(11.0);
            p.visits.insert("ffff000000000009".into(), v);
            Ok(())
        })
        .expect("weigh");
    let (second, _) = due(Some(weighed), 2);
    let expected: Vec<_> = whole.iter().skip(2).take(2).map(|p| p.id).collect();
    assert_eq!(second.iter().map(|p| p.id).collect::<Vec<_>>(), expected);
}
