//! The PWS a node answers (from the report facts its store keeps) equals the report
//! counted from every record, on a generated district after a year's corrections,
//! error marks, deaths, moves and merges.

use simpul_model::pws::{Grouping, Month, Period, PwsReport};
use simpul_model::{Date, ErrorMark, FacilityPath, RecordBody, RecordKind};
use simpul_node::admin::{Caller, Reply, Request, ops};
use simpul_store::{Store, StoreOptions};

const PUSKESMAS: &str = "3273/P3273010201";

fn today() -> Date {
    Date::from_ymd(2026, 11, 20).expect("date")
}

#[test]
fn the_pws_from_report_facts_equals_the_pws_from_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = FacilityPath::parse(PUSKESMAS).expect("path");
    let store =
        Store::create(dir.path(), &node, [1, 1, 1, 1], StoreOptions::default()).expect("store");
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
