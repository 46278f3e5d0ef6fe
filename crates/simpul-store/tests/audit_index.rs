//! The audit index answers every question, page by page, exactly as reading every
//! audit record would; a store from schema 8 gets it when opened.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use simpul_model::audit::audit_log_id;
use simpul_model::{
    AuditAction, AuditEntry, AuditLog, Date, FacilityPath, Record, RecordBody, RecordId, Role,
    Scope,
};
use simpul_store::{AuditCursor, AuditFilter, Store, StoreOptions};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const NODES: [&str; 3] = [
    PUSTU,
    "3273/P3273010201/3273010201-PU1/3273010201-PY04",
    "3273/P3273010201/3273010201-PU1/3273010201-PY05",
];
const WHO: [&str; 4] = ["Kader Ani", "Bidan Sri", "uid 0", "Dokter Budi"];

fn entry(rng: &mut StdRng, day: Date, people: &[RecordId]) -> AuditEntry {
    AuditEntry {
        at_ms: u64::try_from(day.unix_days()).expect("after 1970") * 86_400_000
            + rng.random_range(0..86_400_000),
        who: WHO[rng.random_range(0..WHO.len())].into(),
        role: Role::Bidan,
        action: AuditAction::Read,
        record: (rng.random_range(0..4) > 0).then(|| people[rng.random_range(0..people.len())]),
        detail: None,
        via: "api".into(),
    }
}

/// Every entry of `logs`, newest first, as the index orders them.
fn everything(
    logs: &[(RecordId, AuditLog)],
) -> Vec<(u64, RecordId, String, FacilityPath, AuditEntry)> {
    let mut all: Vec<_> = logs
        .iter()
        .flat_map(|(id, log)| {
            log.entries
                .iter()
                .map(move |(k, e)| (e.at_ms, *id, k.clone(), log.facility.clone(), e.clone()))
        })
        .collect();
    all.sort_by(|a, b| (b.0, b.1, &b.2).cmp(&(a.0, a.1, &a.2)));
    all
}

fn pages(store: &Store, filter: &AuditFilter, limit: usize, budget: usize) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut before: Option<AuditCursor> = None;
    for _ in 0..10_000 {
        let (page, next) = store
            .audit_page(filter, before.as_ref(), limit, budget)
            .expect("page");
        assert!(page.len() <= limit);
        out.extend(page.into_iter().map(|h| h.entry));
        match next {
            // The cursor survives being shown and typed back.
            Some(c) => before = Some(c.to_string().parse().expect("cursor")),
            None => return out,
        }
    }
    panic!("pages never ended");
}

fn check(store: &Store, logs: &[(RecordId, AuditLog)], people: &[RecordId], seed: u64) {
    let all = everything(logs);
    let since = Date::parse("2026-11-03").expect("date");
    let filters = [
        AuditFilter::default(),
        AuditFilter {
            record: Some(people[0]),
            ..AuditFilter::default()
        },
        AuditFilter {
            who: Some("Bidan Sri".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            facility: Some(path(NODES[1])),
            ..AuditFilter::default()
        },
        AuditFilter {
            since_ms: Some(since.unix_days() as u64 * 86_400_000),
            who: Some("Kader Ani".into()),
            ..AuditFilter::default()
        },
        AuditFilter {
            record: Some(people[1]),
            facility: Some(path(NODES[2])),
            since_ms: Some(since.unix_days() as u64 * 86_400_000),
            ..AuditFilter::default()
        },
    ];
    for (n, filter) in filters.iter().enumerate() {
        let expected: Vec<AuditEntry> = all
            .iter()
            .filter(|(at, _, _, node, e)| {
                filter.record.is_none_or(|r| e.record == Some(r))
                    && filter.who.as_ref().is_none_or(|w| *w == e.who)
                    && filter
                        .facility
                        .as_ref()
                        .is_none_or(|f| f.is_ancestor_or_self(node))
                    && filter.since_ms.is_none_or(|s| *at >= s)
            })
            .map(|t| t.4.clone())
            .collect();
        assert!(
            !expected.is_empty(),
            "seed {seed}: filter {n} finds something"
        );
        for (limit, budget) in [(1, 1_000), (2, 1_000), (7, 1_000), (1_000, 1_000), (3, 4)] {
            assert_eq!(
                pages(store, filter, limit, budget),
                expected,
                "seed {seed}: filter {n}, pages of {limit}, budget {budget}"
            );
        }
    }
}

#[test]
fn audit_pages_equal_reading_every_audit_record() {
    let seed = 7;
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), PUSTU);
    let people: Vec<RecordId> = (0..5).map(|n| record(n, NODES[1]).id).collect();
    let mut logs = Vec::new();
    for day in 0..6 {
        let date = Date::parse("2026-11-01").expect("date").add_days(day);
        for (i, node) in NODES.iter().enumerate() {
            let facility = path(node);
            let part = (day as u32 + i as u32) % 2;
            let mut log = AuditLog {
                facility: facility.clone(),
                date,
                part,
                entries: Default::default(),
            };
            for _ in 0..rng.random_range(1..15) {
                log.append(entry(&mut rng, date, &people));
            }
            let id = audit_log_id(&facility, None, date, part);
            let record = Record {
                id,
                scope: Scope::up(facility),
                body: RecordBody::Audit(log.clone()),
            };
            store.insert_record(record, today(), 1_000).expect("insert");
            logs.push((id, log));
        }
    }
    // A day's record grows: only its new entries are filed, whether they come after
    // every entry held (the owner's clock going on), anywhere among them, or before all
    // of them (its clock set back).
    let grow = |logs: &mut Vec<(RecordId, AuditLog)>,
                i: usize,
                at: &dyn Fn(&AuditLog, u64) -> u64,
                n,
                rng: &mut StdRng| {
        let (id, mut log) = logs[i].clone();
        for _ in 0..n {
            let mut e = entry(rng, log.date, &people);
            e.at_ms = at(&log, e.at_ms);
            log.append(e);
        }
        let grown = log.clone();
        store
            .update_record(id, today(), 2_000, move |r| {
                r.body = RecordBody::Audit(grown);
                Ok(())
            })
            .expect("append");
        logs[i].1 = log;
    };
    let last = |log: &AuditLog, _| log.entries.values().map(|e| e.at_ms).max().unwrap_or(0) + 1;
    let first = |log: &AuditLog, _| log.entries.values().map(|e| e.at_ms).min().unwrap_or(1) - 1;
    grow(&mut logs, 4, &|_, at| at, 5, &mut rng);
    grow(&mut logs, 7, &last, 3, &mut rng);
    grow(&mut logs, 10, &first, 1, &mut rng);
    grow(&mut logs, 10, &last, 2, &mut rng);
    check(&store, &logs, &people, seed);
    assert_eq!(
        store.audit_entries_filed().expect("filed") as usize,
        everything(&logs).len()
    );
    let report = store.verify(&|_, _| true).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    // A cursor that is not one is refused, naming what it should be.
    let err = "yesterday".parse::<AuditCursor>().expect_err("bad cursor");
    assert!(err.contains("<ms>.<record id>.<entry key>"), "{err}");

    // From schema 8: indexed when opened.
    drop(store);
    {
        let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
        let txn = db.begin_write().expect("txn");
        for name in ["audit-by-time-1", "audit-by-record-1", "audit-by-who-1"] {
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
            assert!(txn.delete_table(table).expect("delete"), "{name}");
        }
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        txn.open_table(meta)
            .expect("meta")
            .insert("schema_version", 8u32.to_le_bytes().as_slice())
            .expect("version");
        txn.commit().expect("commit");
    }
    let store = Store::open(dir.path(), StoreOptions::default()).expect("migrate");
    check(&store, &logs, &people, seed);
}
