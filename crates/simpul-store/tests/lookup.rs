//! The lookup index finds people by identifier and place, follows corrections, and
//! shows the same person registered twice; tokens are kept by hash alone.

mod common;

use common::*;
use redb::{ReadableMultimapTable, ReadableTable};
use simpul_model::{RecordBody, Role};
use simpul_store::{DuplicateGroup, Store, StoreOptions, TokenInfo, token_hash};

const NIK: &str = "3273015208900001";

/// Every group of duplicates, read one group per page (the cursor is the key).
fn all_groups(store: &Store) -> Vec<DuplicateGroup> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, next) = store.duplicate_page(after.as_deref(), 1).expect("page");
        assert!(page.len() <= 1);
        all.extend(page);
        match next {
            Some(key) => after = Some(key),
            None => return all,
        }
    }
}

fn with_nik(n: u64, nik: &str) -> simpul_model::Record {
    let mut r = record(n, POSYANDU);
    let RecordBody::Patient(p) = &mut r.body else {
        unreachable!()
    };
    p.identifiers.nik = Some(nik.into());
    r
}

#[test]
fn same_nik_twice_is_a_duplicate_until_corrected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let a = with_nik(1, NIK);
    let b = with_nik(2, NIK);
    let c = record(3, POSYANDU);
    for r in [&a, &b, &c] {
        store
            .insert_record(r.clone(), today(), 1_000)
            .expect("insert");
    }
    assert_eq!(
        store.find(&format!("nik:{NIK}")).expect("find"),
        vec![a.id, b.id]
    );
    assert_eq!(store.find("village:3273010001").expect("find").len(), 3);
    let groups = all_groups(&store);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].key, format!("nik:{NIK}"));
    assert_eq!(groups[0].records, vec![a.id, b.id]);

    // B's NIK was mistyped: corrected, it is filed under the new number alone.
    let other = "3273015208900002";
    store
        .update_record(b.id, today(), 2_000, move |r| {
            let RecordBody::Patient(p) = &mut r.body else {
                unreachable!()
            };
            p.identifiers.nik = Some(other.into());
            Ok(())
        })
        .expect("correct");
    assert_eq!(store.find(&format!("nik:{NIK}")).expect("find"), vec![a.id]);
    assert_eq!(
        store.find(&format!("nik:{other}")).expect("find"),
        vec![b.id]
    );
    assert!(all_groups(&store).is_empty());

    // The index is durable and complete after reopening.
    drop(store);
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(store.filed_patients().expect("filed"), 3);
}

#[test]
fn tokens_are_found_by_hash_and_revoked_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    let hash = token_hash("sp_secret");
    let info = TokenInfo {
        id: hex_prefix(&hash),
        name: "Siti".into(),
        role: Role::Kader,
        issued_ms: 5,
        revoked_ms: None,
        nik: None,
    };
    store.add_token(hash, &info).expect("add");
    assert_eq!(store.token(&hash).expect("get"), Some(info.clone()));
    assert_eq!(store.token(&token_hash("sp_other")).expect("get"), None);
    let revoked = store
        .revoke_token(&info.id, 9)
        .expect("revoke")
        .expect("found");
    assert_eq!(revoked.revoked_ms, Some(9));
    let again = store
        .revoke_token(&info.id, 12)
        .expect("revoke")
        .expect("found");
    assert_eq!(again.revoked_ms, Some(9), "the first revocation time stays");
    assert!(store.revoke_token("nope", 1).expect("revoke").is_none());
    assert_eq!(store.tokens().expect("list").len(), 1);
}

fn hex_prefix(hash: &[u8; 32]) -> String {
    hash[..4].iter().map(|b| format!("{b:02x}")).collect()
}

fn named(n: u64, name: &str, born: &str) -> simpul_model::Record {
    let mut r = record(n, POSYANDU);
    let RecordBody::Patient(p) = &mut r.body else {
        unreachable!()
    };
    p.name = name.into();
    p.birth_date = simpul_model::Date::parse(born).expect("date");
    r
}

#[test]
fn people_without_a_nik_are_candidates_by_name_birth_date_and_village_or_mother() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = create(dir.path(), POSYANDU);
    // Typed twice, the name spelled differently and the birth date 16 days apart.
    let a = named(1, "Ayu  Lestari", "2025-03-04");
    let b = named(2, "ayu lestari.", "2025-03-20");
    // The same name three months later is another child.
    let c = named(3, "Ayu Lestari", "2025-06-20");
    // Two registrations of a child under its mother's record, same day and sex.
    let mother = simpul_model::RecordId::from_bytes([7; 16]);
    let mut d = named(4, "Bayi Ny. Rina", "2026-01-02");
    let mut e = named(5, "Putra Rina", "2026-01-02");
    for r in [&mut d, &mut e] {
        if let RecordBody::Patient(p) = &mut r.body {
            p.mother = Some(mother);
        }
    }
    for r in [&a, &b, &c, &d, &e] {
        store
            .insert_record(r.clone(), today(), 1_000)
            .expect("insert");
    }
    let groups = all_groups(&store);
    let found: Vec<(&str, &Vec<simpul_model::RecordId>)> = groups
        .iter()
        .map(|g| (g.key.split(':').next().unwrap_or_default(), &g.records))
        .collect();
    assert_eq!(
        found,
        vec![("mother", &vec![d.id, e.id]), ("near", &vec![a.id, b.id])],
        "{groups:?}"
    );

    // A store from before these keys is filed again when it opens (schema 6).
    drop(store);
    let db = redb::Database::open(dir.path().join(simpul_store::DB_FILE)).expect("db");
    let txn = db.begin_write().expect("txn");
    {
        let lookup: redb::MultimapTableDefinition<&str, &[u8; 16]> =
            redb::MultimapTableDefinition::new("lookup-1");
        let mut lookup = txn.open_multimap_table(lookup).expect("lookup");
        for key in ["near:", "mother:"] {
            let stale: Vec<String> = lookup
                .range(key..)
                .expect("range")
                .map(|row| row.expect("row").0.value().to_string())
                .filter(|k| k.starts_with(key))
                .collect();
            for k in stale {
                lookup.remove_all(k.as_str()).expect("remove");
            }
        }
        // What schema 5 filed each record under: its keys without the new ones.
        let keys: redb::TableDefinition<&[u8; 16], &str> =
            redb::TableDefinition::new("lookup-keys-1");
        let mut keys = txn.open_table(keys).expect("keys");
        let filed: Vec<([u8; 16], String)> = keys
            .iter()
            .expect("iter")
            .map(|row| {
                let (id, joined) = row.expect("row");
                let old: Vec<&str> = joined
                    .value()
                    .split('\n')
                    .filter(|k| !k.starts_with("near:") && !k.starts_with("mother:"))
                    .collect();
                (*id.value(), old.join("\n"))
            })
            .collect();
        for (id, joined) in filed {
            keys.insert(&id, joined.as_str()).expect("refile");
        }
        // And nothing of the duplicate index of schema 12.
        for name in ["duplicate-keys-of-1", "duplicates-1", "conflicts-1"] {
            let table: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
            assert!(txn.delete_table(table).expect("delete"), "{name} existed");
        }
        let members: redb::MultimapTableDefinition<&str, &[u8; 16]> =
            redb::MultimapTableDefinition::new("duplicate-members-1");
        assert!(txn.delete_multimap_table(members).expect("delete"));
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        let mut meta = txn.open_table(meta).expect("meta");
        meta.insert("schema_version", 5u32.to_le_bytes().as_slice())
            .expect("version");
    }
    txn.commit().expect("commit");
    drop(db);
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(all_groups(&store), groups);
    let report = store.verify(&|_, _| true).expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// The groups a bidan should see, computed from every patient held: records not merged
/// away that share an identity or candidate key, each set of records once, under its
/// first key (identity keys first).
fn groups_scanned(store: &Store) -> Vec<DuplicateGroup> {
    use std::collections::BTreeMap;
    let mut by_key: BTreeMap<String, Vec<simpul_model::RecordId>> = BTreeMap::new();
    for (id, _) in store.list().expect("list") {
        let Some((_, rec)) = store.record(id).expect("read") else {
            continue;
        };
        let RecordBody::Patient(p) = rec.body else {
            continue;
        };
        if p.merged_into.is_some() {
            continue;
        }
        for key in p.lookup_keys() {
            if simpul_model::is_identity_key(&key) || simpul_model::is_candidate_key(&key) {
                by_key.entry(key).or_default().push(id);
            }
        }
    }
    by_key.retain(|_, ids| ids.len() >= 2);
    for ids in by_key.values_mut() {
        ids.sort();
    }
    let rank = |k: &str| (!simpul_model::is_identity_key(k), k.to_string());
    by_key
        .iter()
        .filter(|(key, ids)| {
            !by_key
                .iter()
                .any(|(other, same)| same == *ids && rank(other) < rank(key))
        })
        .map(|(key, ids)| DuplicateGroup {
            key: key.clone(),
            records: ids.clone(),
        })
        .collect()
}

#[test]
fn the_duplicate_index_answers_as_a_scan_of_every_patient_after_any_run_of_writes() {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};
    const NIKS: [&str; 3] = ["3273015208900001", "3273015208900002", "3273011208900003"];
    const NAMES: [&str; 3] = ["Ayu Lestari", "Budi Santoso", "Citra Dewi"];
    const BORN: [&str; 4] = ["2025-03-04", "2025-03-20", "2025-04-10", "2025-09-01"];
    let mut seen = 0;
    for seed in 0..8u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = create(dir.path(), POSYANDU);
        let mut ids = Vec::new();
        for step in 0..50u64 {
            match rng.random_range(0..10) {
                0..=3 => {
                    let mut r = named(
                        step + 100 * seed,
                        NAMES[rng.random_range(0..3)],
                        BORN[rng.random_range(0..4)],
                    );
                    if let RecordBody::Patient(p) = &mut r.body
                        && rng.random_bool(0.5)
                    {
                        p.identifiers.nik = Some(NIKS[rng.random_range(0..3)].into());
                    }
                    store
                        .insert_record(r.clone(), today(), 1_000)
                        .expect("insert");
                    ids.push(r.id);
                }
                4..=6 if !ids.is_empty() => {
                    // A correction: another NIK (or none), name or birth date.
                    let id = ids[rng.random_range(0..ids.len())];
                    let nik = rng.random_bool(0.7).then(|| NIKS[rng.random_range(0..3)]);
                    let name = NAMES[rng.random_range(0..3)];
                    let born = BORN[rng.random_range(0..4)];
                    store
                        .update_record(id, today(), 2_000, move |r| {
                            let RecordBody::Patient(p) = &mut r.body else {
                                unreachable!()
                            };
                            p.identifiers.nik = nik.map(Into::into);
                            p.name = name.into();
                            p.birth_date = simpul_model::Date::parse(born).expect("date");
                            Ok(())
                        })
                        .expect("correct");
                }
                7 if ids.len() > 1 => {
                    // A merge marks one record merged into another.
                    let from = ids[rng.random_range(0..ids.len())];
                    let into = ids[rng.random_range(0..ids.len())];
                    if from != into {
                        store
                            .update_record(from, today(), 3_000, move |r| {
                                if let RecordBody::Patient(p) = &mut r.body {
                                    p.merged_into = Some(into);
                                }
                                Ok(())
                            })
                            .expect("merge");
                    }
                }
                _ => {
                    drop(store);
                    store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
                }
            }
        }
        let expected = groups_scanned(&store);
        assert_eq!(all_groups(&store), expected, "seed {seed}");
        // Pages of three agree with pages of one.
        let (first, next) = store.duplicate_page(None, 3).expect("page");
        assert_eq!(first, expected.iter().take(3).cloned().collect::<Vec<_>>());
        if expected.len() > 3 {
            assert!(next.is_some(), "seed {seed}");
        }
        seen += expected.len();
        let report = store.verify(&|_, _| true).expect("verify");
        assert!(
            report.problems.is_empty(),
            "seed {seed}: {:?}",
            report.problems
        );
    }
    assert!(
        seen > 8,
        "the runs made few duplicates ({seen}): the test shows little"
    );
}
