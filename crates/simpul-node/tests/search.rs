//! Search pages from the lookup index equal a scan of every record, whatever the page
//! size: by NIK, mother's NIK, village (and RT), birth date, and words of the name.

use simpul_model::{Date, FacilityPath, Patient, RecordId, RecordKind};
use simpul_node::admin::queries::SearchQuery;
use simpul_node::admin::{Caller, Reply, Request, ops};
use simpul_store::{Store, StoreOptions};

fn today() -> Date {
    Date::from_ymd(2026, 11, 20).expect("date")
}

fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What a search for `q` must find, by reading every person.
fn scan(people: &[(RecordId, Patient)], q: &SearchQuery) -> Vec<RecordId> {
    let typed = q.name.as_deref().map(words).unwrap_or_default();
    people
        .iter()
        .filter(|(_, p)| {
            let have = words(&p.name);
            q.nik
                .as_ref()
                .is_none_or(|n| p.identifiers.nik.as_ref() == Some(n))
                && q.nik_ibu
                    .as_ref()
                    .is_none_or(|n| p.identifiers.nik_ibu.as_ref() == Some(n))
                && typed
                    .iter()
                    .all(|t| have.iter().any(|h| h.starts_with(t.as_str())))
                && q.birth_date.is_none_or(|d| p.birth_date == d)
                && q.village.as_ref().is_none_or(|v| p.address.village == *v)
                && q.rt.as_ref().is_none_or(|rt| {
                    p.address.rt.as_deref().map(|s| s.trim_start_matches('0'))
                        == Some(rt.trim_start_matches('0'))
                })
        })
        .map(|(id, _)| *id)
        .collect()
}

fn pages(store: &Store, q: &SearchQuery, limit: u32) -> Vec<RecordId> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..10_000 {
        let query = SearchQuery {
            limit: Some(limit),
            after,
            ..q.clone()
        };
        let (reply, _) = ops::execute(
            store,
            Request::Search { query },
            &Caller::console(),
            today(),
            1,
        )
        .expect("search");
        let Reply::People { people, next } = reply else {
            panic!("people")
        };
        assert!(people.len() <= limit as usize);
        out.extend(people.iter().map(|p| p.id));
        match next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
    panic!("pages never ended")
}

#[test]
fn search_pages_equal_a_scan_of_every_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = FacilityPath::parse("3273/P3273010201").expect("path");
    let store =
        Store::create(dir.path(), &node, [1, 1, 1, 1], StoreOptions::default()).expect("store");
    let generator = simpul_gen::Generator::new(31, &node, 500, today());
    for i in 0..500 {
        store
            .insert_record(generator.patient(i), today(), 1_000)
            .expect("insert");
    }
    let people: Vec<(RecordId, Patient)> = store
        .ids_of_kind(RecordKind::Patient, None, usize::MAX)
        .expect("ids")
        .into_iter()
        .map(|id| {
            let (_, r) = store.record(id).expect("read").expect("held");
            (id, r.patient().expect("patient").clone())
        })
        .collect();
    let (_, someone) = &people[17];
    let (_, child) = people
        .iter()
        .find(|(_, p)| p.identifiers.nik_ibu.is_some())
        .expect("a child registered by her mother's NIK");
    let first_word = words(&someone.name)[0].clone();
    let queries = [
        SearchQuery {
            nik: someone.identifiers.nik.clone(),
            ..SearchQuery::default()
        },
        SearchQuery {
            nik_ibu: child.identifiers.nik_ibu.clone(),
            ..SearchQuery::default()
        },
        SearchQuery {
            village: Some(someone.address.village.clone()),
            ..SearchQuery::default()
        },
        SearchQuery {
            village: Some(someone.address.village.clone()),
            rt: someone.address.rt.clone(),
            ..SearchQuery::default()
        },
        SearchQuery {
            birth_date: Some(someone.birth_date),
            ..SearchQuery::default()
        },
        SearchQuery {
            name: Some(first_word.clone()),
            ..SearchQuery::default()
        },
        // The start of a word, in capitals: as people type.
        SearchQuery {
            name: Some(first_word[..2].to_uppercase()),
            ..SearchQuery::default()
        },
        SearchQuery {
            name: Some(someone.name.clone()),
            ..SearchQuery::default()
        },
        SearchQuery {
            name: Some(first_word.clone()),
            village: Some(someone.address.village.clone()),
            ..SearchQuery::default()
        },
    ];
    for q in &queries {
        let expected = scan(&people, q);
        assert!(!expected.is_empty(), "{q:?} finds someone");
        for limit in [1, 2, 7, 100] {
            assert_eq!(pages(&store, q, limit), expected, "{q:?}, pages of {limit}");
        }
    }
    // A name with nothing to search by is refused, naming the field.
    let query = SearchQuery {
        name: Some(" - ".into()),
        ..SearchQuery::default()
    };
    let err = ops::execute(
        &store,
        Request::Search { query },
        &Caller::console(),
        today(),
        1,
    )
    .expect_err("nothing to search by");
    assert!(err.message.contains("name"), "{}", err.message);
}
