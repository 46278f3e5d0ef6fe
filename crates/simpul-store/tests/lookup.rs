//! The lookup index finds people by identifier and place, follows corrections, and
//! shows the same person registered twice; tokens are kept by hash alone.

mod common;

use common::*;
use redb::{ReadableMultimapTable, ReadableTable};
use simpul_model::{RecordBody, Role};
use simpul_store::{Store, StoreOptions, TokenInfo, token_hash};

const NIK: &str = "3273015208900001";

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
    let groups = store.duplicate_groups().expect("groups");
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
    assert!(store.duplicate_groups().expect("groups").is_empty());

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
    let groups = store.duplicate_groups().expect("groups");
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
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta-1");
        let mut meta = txn.open_table(meta).expect("meta");
        meta.insert("schema_version", 5u32.to_le_bytes().as_slice())
            .expect("version");
    }
    txn.commit().expect("commit");
    drop(db);
    let store = Store::open(dir.path(), StoreOptions::default()).expect("reopen");
    assert_eq!(store.duplicate_groups().expect("groups"), groups);
}
