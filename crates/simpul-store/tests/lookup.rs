//! The lookup index finds people by identifier and place, follows corrections, and
//! shows the same person registered twice; tokens are kept by hash alone.

mod common;

use common::*;
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
