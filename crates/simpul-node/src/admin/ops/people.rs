//! Finding people: search, due lists, duplicates; and merging a duplicate.

use std::collections::BTreeSet;

use simpul_model::patient::name_key;
use simpul_model::pws::{Grouping, Month, Period, PwsReport, PwsRow};
use simpul_model::{Date, Patient, Record, RecordBody, RecordId, growth};
use simpul_store::{Store, WriteOutcome};

use super::{not_found, patient, read_failure, shape, write_failure};
use crate::admin::protocol::{
    DueQuery, DuplicateView, Failure, FailureKind, PersonRow, PwsTable, SearchQuery,
};
use crate::admin::queries::{MAX_SHOWN_PER_GROUP, Service};

/// The most rows one search returns.
const MAX_ROWS: usize = 1_000;

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(FailureKind::BadRequest, message)
}

/// The row for a patient.
pub(super) fn row(id: RecordId, p: &Patient) -> PersonRow {
    let current = p.current_visits();
    PersonRow {
        id,
        name: p.name.clone(),
        sex: p.sex.to_string(),
        birth_date: p.birth_date,
        nik: p.identifiers.nik.clone(),
        nik_ibu: p.identifiers.nik_ibu.clone(),
        village: p.address.village.clone(),
        home_facility: p.home_facility.clone(),
        visits: current.len() as u32,
        last_visit: current.last().map(|(_, v)| v.date),
        merged_into: p.merged_into,
        reasons: Vec::new(),
    }
}

/// Loads the patients among `ids`, skipping other kinds and records gone meanwhile.
fn patients(
    store: &Store,
    ids: impl IntoIterator<Item = RecordId>,
) -> Result<Vec<(RecordId, Patient)>, Failure> {
    let mut out = Vec::new();
    for id in ids {
        if let Some((
            _,
            Record {
                body: RecordBody::Patient(p),
                ..
            },
        )) = store.record(id).map_err(read_failure)?
        {
            out.push((id, p));
        }
    }
    Ok(out)
}

/// A page of the patients matching every term of `query`, in id order, and where the
/// next page starts. The candidates come from the lookup index (NIK, mother's NIK,
/// village, birth date, or the words of the name: each typed word matches the start of
/// a word of the name); they are loaded one at a time, and a page stops at the limit or
/// after examining [`SEARCH_BUDGET`] times as many candidates.
pub(super) fn search(
    store: &Store,
    query: &SearchQuery,
) -> Result<(Vec<PersonRow>, Option<RecordId>), Failure> {
    if query.is_empty() {
        return Err(bad(
            "give at least one of nik, nik_ibu, name, birth_date, village, rt, rw",
        ));
    }
    if (query.rt.is_some() || query.rw.is_some()) && query.village.is_none() {
        return Err(bad(
            "rt and rw are searched within a village: give village too",
        ));
    }
    let limit = query.limit.map_or(100, |l| l as usize).clamp(1, MAX_ROWS);
    let words: Vec<String> = query
        .name
        .as_deref()
        .map(name_key)
        .unwrap_or_default()
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    if query.name.is_some() && words.is_empty() {
        return Err(bad("name: give at least one letter or digit"));
    }
    let indexed = |key: String, prefix: bool| -> Result<BTreeSet<RecordId>, Failure> {
        let ids = if prefix {
            store.find_prefix(&key)
        } else {
            store.find(&key)
        };
        Ok(ids.map_err(read_failure)?.into_iter().collect())
    };
    let candidates: BTreeSet<RecordId> = if let Some(nik) = &query.nik {
        indexed(format!("nik:{nik}"), false)?
    } else if let Some(ibu) = &query.nik_ibu {
        indexed(format!("ibu:{ibu}:"), true)?
    } else if let Some(village) = &query.village {
        indexed(format!("village:{village}"), false)?
    } else if let Some(date) = query.birth_date {
        indexed(format!("born:{date}"), false)?
    } else {
        // The longest typed word finds the fewest people.
        let longest = words
            .iter()
            .max_by_key(|w| w.len())
            .cloned()
            .unwrap_or_default();
        indexed(format!("word:{longest}"), true)?
    };
    let mut rows = Vec::new();
    let mut last = None;
    let budget = limit * SEARCH_BUDGET;
    let from = query
        .after
        .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
    for (examined, id) in candidates
        .range((from, std::ops::Bound::Unbounded))
        .enumerate()
    {
        if rows.len() == limit || examined == budget {
            return Ok((rows, last));
        }
        last = Some(*id);
        let Some((
            _,
            Record {
                body: RecordBody::Patient(p),
                ..
            },
        )) = store.record(*id).map_err(read_failure)?
        else {
            continue;
        };
        if matches(query, &words, &p) {
            rows.push(row(*id, &p));
        }
    }
    Ok((rows, None))
}

/// Candidates examined per row asked for before a search page ends with where to go on.
const SEARCH_BUDGET: usize = 20;

/// True when `p` matches every term of `query` (`words`: the name's, normalised).
fn matches(query: &SearchQuery, words: &[String], p: &Patient) -> bool {
    let name = name_key(&p.name);
    let name_words: Vec<&str> = name.split(' ').collect();
    query
        .nik
        .as_ref()
        .is_none_or(|n| p.identifiers.nik.as_ref() == Some(n))
        && query
            .nik_ibu
            .as_ref()
            .is_none_or(|n| p.identifiers.nik_ibu.as_ref() == Some(n))
        && words
            .iter()
            .all(|w| name_words.iter().any(|n| n.starts_with(w.as_str())))
        && query.birth_date.is_none_or(|d| p.birth_date == d)
        && query
            .village
            .as_ref()
            .is_none_or(|v| p.address.village == *v)
        && query
            .rt
            .as_ref()
            .is_none_or(|rt| same_unit(p.address.rt.as_deref(), rt))
        && query
            .rw
            .as_ref()
            .is_none_or(|rw| same_unit(p.address.rw.as_deref(), rw))
}

/// RT and RW compare as numbers: "3" and "003" are the same unit.
fn same_unit(stored: Option<&str>, wanted: &str) -> bool {
    let number = |s: &str| s.trim().trim_start_matches('0').to_string();
    stored.is_some_and(|s| number(s) == number(wanted))
}

/// A page of the under-fives registered at or below the facility who have not had the
/// service in the month (merged duplicates left out), by name, and where the next page
/// starts. Read from the report facts of the facility's people (no document); only the
/// page's rows are loaded.
pub(super) fn due(
    store: &Store,
    query: &DueQuery,
) -> Result<(Vec<PersonRow>, Option<RecordId>), Failure> {
    let month = Month::parse(&query.month).map_err(|e| bad(e.to_string()))?;
    let limit = query
        .limit
        .map_or(MAX_ROWS, |l| l as usize)
        .clamp(1, MAX_ROWS);
    let end = month.last_day();
    let mut due: Vec<(RecordId, Vec<String>)> = Vec::new();
    store
        .each_report_facts_below(&query.facility, |id, facts| {
            let months = facts.birth_date.months_until(end);
            let age_ok = match query.service {
                Service::Weighing | Service::GrowthFollowUp => months < 60,
                Service::VitaminA => (6..60).contains(&months),
            };
            let resident = facts.birth_date <= end
                && facts.died_on.is_none_or(|d| end < d)
                && facts.moved_out_on.is_none_or(|d| end < d);
            if facts.merged_into.is_some() || !resident || !age_ok {
                return;
            }
            match query.service {
                Service::GrowthFollowUp => {
                    let reasons: Vec<String> = growth::follow_up(&facts.to_patient(), month)
                        .into_iter()
                        .map(String::from)
                        .collect();
                    if !reasons.is_empty() {
                        due.push((id, reasons));
                    }
                }
                Service::Weighing | Service::VitaminA => {
                    let served = facts.visits.iter().any(|v| {
                        month.contains(v.date)
                            && !v.transcribed
                            && match query.service {
                                Service::VitaminA => v.vitamin_a,
                                _ => v.weight_kg.is_some(),
                            }
                    });
                    if !served {
                        due.push((id, Vec::new()));
                    }
                }
            }
        })
        .map_err(read_failure)?;
    // By name (from each record's metadata: no document), then id.
    let mut named = Vec::with_capacity(due.len());
    for (id, reasons) in due {
        if let Some(meta) = store.meta(id).map_err(read_failure)? {
            named.push((meta.summary.label, id, reasons));
        }
    }
    named.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    // After a person: after their place by name, whether or not they are still due
    // (weighed meanwhile, the kader asks for the next page all the same).
    let start = match query.after {
        None => 0,
        Some(after) => {
            let label = store
                .meta(after)
                .map_err(read_failure)?
                .ok_or_else(|| bad(format!("after: {after} is not held here")))?
                .summary
                .label;
            named.partition_point(|(l, id, _)| (l, id) <= (&label, &after))
        }
    };
    let page: Vec<_> = named.into_iter().skip(start).take(limit + 1).collect();
    let more = page.len() > limit;
    let next = more.then(|| page[limit - 1].1);
    let mut rows = Vec::with_capacity(limit);
    for (_, id, reasons) in page.into_iter().take(limit) {
        if let Some((
            _,
            Record {
                body: RecordBody::Patient(p),
                ..
            },
        )) = store.record(id).map_err(read_failure)?
        {
            rows.push(PersonRow {
                reasons,
                ..row(id, &p)
            });
        }
    }
    Ok((rows, next))
}

/// A page of people registered more than once and not yet merged, from the duplicate
/// index; and the key the next page starts after.
pub(super) fn duplicates(
    store: &Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<DuplicateView>, Option<String>), Failure> {
    let (groups, next) = store.duplicate_page(after, limit).map_err(read_failure)?;
    let mut views = Vec::with_capacity(groups.len());
    for group in groups {
        let records = group.records.len();
        let shown = group.records.into_iter().take(MAX_SHOWN_PER_GROUP);
        let people: Vec<PersonRow> = patients(store, shown)?
            .iter()
            .map(|(id, p)| row(*id, p))
            .collect();
        views.push(DuplicateView {
            key: group.key,
            people,
            records,
        });
    }
    Ok((views, next))
}

/// Merges duplicate `from` into `into`: every visit of `from` that `into` lacks is
/// copied (same visit id, so merging twice copies nothing twice), identifiers `into`
/// lacks are filled in, then `from` is marked `merged_into`. Two people who cannot be
/// one (different NIK, sex, birth date, mother or birth order) are refused: correct one
/// first.
pub(super) fn merge(
    store: &Store,
    from: RecordId,
    into: RecordId,
    today: Date,
    now_ms: u64,
) -> Result<(u32, Vec<WriteOutcome>), Failure> {
    if from == into {
        return Err(bad("a record cannot be merged into itself"));
    }
    let load = |id| -> Result<Patient, Failure> {
        match store.record(id).map_err(read_failure)? {
            Some((
                _,
                Record {
                    body: RecordBody::Patient(p),
                    ..
                },
            )) => Ok(p),
            Some(_) => Err(Failure::new(
                FailureKind::Rejected,
                format!("{id} is not a patient"),
            )),
            None => Err(not_found(id)),
        }
    };
    let (dup, survivor) = (load(from)?, load(into)?);
    if let Some(other) = survivor.merged_into {
        return Err(Failure::new(
            FailureKind::Rejected,
            format!("{into} was itself merged into {other}: merge into that one"),
        ));
    }
    if dup.merged_into.is_some_and(|m| m != into) {
        return Err(Failure::new(
            FailureKind::Rejected,
            format!("{from} is already merged into another record"),
        ));
    }
    let mut differences = Vec::new();
    if let (Some(a), Some(b)) = (&dup.identifiers.nik, &survivor.identifiers.nik)
        && a != b
    {
        differences.push(format!("NIK {a} / {b}"));
    }
    if dup.sex != survivor.sex {
        differences.push(format!("sex {} / {}", dup.sex, survivor.sex));
    }
    if dup.birth_date != survivor.birth_date {
        differences.push(format!(
            "birth date {} / {}",
            dup.birth_date, survivor.birth_date
        ));
    }
    // Twins share a mother, a birth date and often a sex: their birth order (or their
    // mothers) tells them apart.
    let (a, b) = (&dup.identifiers, &survivor.identifiers);
    if let (Some(x), Some(y)) = (&a.nik_ibu, &b.nik_ibu)
        && x != y
    {
        differences.push(format!("mother's NIK {x} / {y}"));
    }
    if let (Some(x), Some(y)) = (a.birth_order, b.birth_order)
        && x != y
    {
        differences.push(format!("birth order {x} / {y}"));
    }
    if let (Some(x), Some(y)) = (dup.mother, survivor.mother)
        && x != y
    {
        differences.push(format!("mother {x} / {y}"));
    }
    if !differences.is_empty() {
        return Err(Failure::new(
            FailureKind::Rejected,
            format!(
                "not the same person ({}): correct the wrong record first",
                differences.join(", ")
            ),
        ));
    }
    let moved = dup
        .visits
        .keys()
        .filter(|k| !survivor.visits.contains_key(*k))
        .count() as u32;
    let carried = dup.clone();
    let into_out = store
        .update_record(into, today, now_ms, move |r| {
            let p = patient(r)?;
            for (key, visit) in carried.visits {
                p.visits.entry(key).or_insert(visit);
            }
            let ids = &mut p.identifiers;
            let theirs = carried.identifiers;
            ids.nik = ids.nik.take().or(theirs.nik);
            ids.kk = ids.kk.take().or(theirs.kk);
            ids.bpjs = ids.bpjs.take().or(theirs.bpjs);
            ids.ihs = ids.ihs.take().or(theirs.ihs);
            if ids.nik_ibu.is_none() {
                ids.nik_ibu = theirs.nik_ibu;
                ids.birth_order = theirs.birth_order;
            }
            p.mother = p.mother.or(carried.mother);
            Ok(())
        })
        .map_err(write_failure)?;
    let from_out = store
        .update_record(from, today, now_ms, move |r| {
            let p = patient(r)?;
            if p.merged_into.is_none() {
                p.merged_into = Some(into);
            } else if p.merged_into != Some(into) {
                return Err(shape(format!("{from} was merged elsewhere meanwhile")));
            }
            Ok(())
        })
        .map_err(write_failure)?;
    Ok((moved, vec![into_out, from_out]))
}

/// The PWS summary of `month` for everyone at or below this node, one row per group
/// `by` (home facility by default), services of the month or of the year to date.
pub(super) fn pws(
    store: &Store,
    month: &str,
    by: Option<&str>,
    year_to_date: bool,
) -> Result<PwsTable, Failure> {
    let month = Month::parse(month).map_err(|e| bad(e.to_string()))?;
    let grouping = by
        .map(Grouping::parse)
        .transpose()
        .map_err(bad)?
        .unwrap_or(Grouping::HomeFacility);
    let period = if year_to_date {
        Period::YearToDate
    } else {
        Period::Month
    };
    let mut report = PwsReport::new(month, &store.node().path)
        .period(period)
        .grouping(grouping);
    // From the report facts the store keeps beside each patient: no document is loaded.
    store
        .each_report_facts(|_, facts| {
            report.add_facts(&facts);
        })
        .map_err(read_failure)?;
    let mut rows: Vec<Vec<String>> = report.rows().iter().map(PwsRow::cells).collect();
    rows.push(report.total().cells());
    Ok(PwsTable {
        columns: PwsRow::columns(),
        rows,
        csv: report.to_csv(),
        json: serde_json::to_value(report.summary())
            .map_err(|e| Failure::new(FailureKind::Failed, e.to_string()))?,
    })
}
