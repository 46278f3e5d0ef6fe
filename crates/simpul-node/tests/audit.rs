//! The audit trail: what is recorded for whom, in parts of bounded size, append-only.

use simpul_model::audit::MAX_ENTRIES_PER_PART;
use simpul_model::{Date, FacilityPath, RecordKind, Role};
use simpul_node::admin::ops::execute;
use simpul_node::admin::queries::AuditQuery;
use simpul_node::admin::{Caller, Reply, Request, Via};
use simpul_store::{Store, StoreOptions};

const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

fn today() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

fn caller(who: &str, via: Via) -> Caller {
    Caller {
        who: who.into(),
        nik: None,
        role: Role::Viewer,
        via,
    }
}

fn trail(store: &Store) -> Vec<simpul_node::admin::queries::AuditRow> {
    let query = AuditQuery {
        limit: Some(10_000),
        ..AuditQuery::default()
    };
    match execute(
        store,
        Request::Audit { query },
        &caller("t", Via::Cli),
        today(),
        1,
    )
    .expect("audit")
    .0
    {
        // Newest first: the tests read it oldest first.
        Reply::Audit { mut entries, next } => {
            assert_eq!(next, None, "one page holds the whole trail");
            entries.reverse();
            entries
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_through_the_api_fill_parts_of_bounded_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = FacilityPath::parse(PY).expect("path");
    let store = Store::create(dir.path(), &path, [1; 4], StoreOptions::default()).expect("store");
    let person = simpul_gen::Generator::new(1, &path, 1, today()).patient(0);
    let id = person.id;
    let base = 1_790_000_000_000u64;
    let (_, outcomes) = execute(
        &store,
        Request::Insert {
            record: person,
            confirm_implausible: false,
        },
        &caller("Kader Ani", Via::Api),
        today(),
        base,
    )
    .expect("insert");
    assert_eq!(
        outcomes.len(),
        2,
        "the record and the audit entry, both announced"
    );

    // The console's reads are not recorded; the API's are, each one.
    execute(
        &store,
        Request::Get { id },
        &caller("uid 0", Via::Cli),
        today(),
        base + 1,
    )
    .expect("read");
    let reads = MAX_ENTRIES_PER_PART as u64 + 10;
    for i in 0..reads {
        execute(
            &store,
            Request::Get { id },
            &caller("Dinkes", Via::Api),
            today(),
            base + 2 + i,
        )
        .expect("read");
    }
    let entries = trail(&store);
    assert_eq!(entries.len() as u64, 1 + reads);
    assert_eq!(entries[0].entry.who, "Kader Ani");
    assert_eq!(entries[0].entry.action.to_string(), "create");
    assert!(
        entries[1..]
            .iter()
            .all(|e| e.entry.who == "Dinkes" && e.entry.record == Some(id))
    );
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].entry.at_ms <= w[1].entry.at_ms),
        "time order"
    );

    // Two parts: the first full, the second with the rest.
    let parts: Vec<u32> = store
        .list()
        .expect("list")
        .into_iter()
        .filter(|(_, m)| m.kind == RecordKind::Audit)
        .map(|(_, m)| m.summary.entries)
        .collect();
    let mut sorted = parts.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![
            (1 + reads) as u32 - MAX_ENTRIES_PER_PART,
            MAX_ENTRIES_PER_PART
        ]
    );

    // Filters: by person and by record.
    let query = AuditQuery {
        who: Some("Kader Ani".into()),
        ..AuditQuery::default()
    };
    let Reply::Audit { entries, .. } = execute(
        &store,
        Request::Audit { query },
        &caller("t", Via::Cli),
        today(),
        1,
    )
    .expect("audit")
    .0
    else {
        panic!("audit reply")
    };
    assert_eq!(entries.len(), 1);
}
