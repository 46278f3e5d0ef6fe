//! Audit records are append-only and validated like any record.

use simpul_model::audit::{audit_log_id, check_audit_history, entry_key};
use simpul_model::{
    AuditAction, AuditEntry, AuditLog, Date, FacilityPath, Permission, Record, RecordBody, Role,
    Scope,
};

const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

fn path() -> FacilityPath {
    FacilityPath::parse(PY).expect("path")
}

fn day() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

fn entry(at_ms: u64, who: &str) -> AuditEntry {
    AuditEntry {
        at_ms,
        who: who.into(),
        role: Role::Kader,
        action: AuditAction::Create,
        record: None,
        detail: None,
        via: "api".into(),
    }
}

fn log() -> AuditLog {
    AuditLog {
        facility: path(),
        date: day(),
        part: 0,
        entries: Default::default(),
    }
}

#[test]
fn entries_of_the_same_millisecond_get_their_own_keys_in_time_order() {
    let mut log = log();
    log.append(entry(5, "a"));
    log.append(entry(5, "b"));
    log.append(entry(40, "c"));
    let keys: Vec<&String> = log.entries.keys().collect();
    assert_eq!(
        keys,
        [&entry_key(5, 0), &entry_key(5, 1), &entry_key(40, 0)]
    );
    let who: Vec<&str> = log.entries.values().map(|e| e.who.as_str()).collect();
    assert_eq!(who, ["a", "b", "c"]);
}

#[test]
fn removing_or_rewriting_an_entry_is_refused() {
    let mut before = log();
    before.append(entry(5, "a"));
    let mut grown = before.clone();
    grown.append(entry(6, "b"));
    assert!(check_audit_history(&before, &grown).is_ok());
    assert!(
        check_audit_history(&grown, &before)
            .unwrap_err()
            .contains("removed")
    );
    let mut rewritten = before.clone();
    if let Some(e) = rewritten.entries.values_mut().next() {
        e.who = "someone else".into();
    }
    assert!(
        check_audit_history(&before, &rewritten)
            .unwrap_err()
            .contains("rewritten")
    );
    let mut moved = grown.clone();
    moved.part = 1;
    assert!(check_audit_history(&grown, &moved).is_err());
}

#[test]
fn an_audit_record_round_trips_and_is_held_upward_only() {
    let mut trail = log();
    trail.append(entry(5, "Kader Ani"));
    let record = Record {
        id: audit_log_id(&path(), None, day(), 0),
        scope: Scope::up(path()),
        body: RecordBody::Audit(trail.clone()),
    };
    let actor = simpul_model::node_actor(&path(), [1; 4]);
    let doc = record
        .create_document(actor, day(), 1_000)
        .expect("document");
    assert_eq!(Record::from_document(&doc).expect("read"), record);
    assert_ne!(
        audit_log_id(&path(), None, day(), 0),
        audit_log_id(&path(), None, day(), 1)
    );

    let mut wrong = record.clone();
    wrong.scope = Scope::down(path());
    assert!(wrong.validate(day()).unwrap_err().has_field("scope"));
    let mut nameless = trail;
    nameless.append(entry(6, " "));
    let bad = Record {
        body: RecordBody::Audit(nameless),
        ..record
    };
    let errors = bad.validate(day()).unwrap_err();
    assert!(
        errors.0.iter().any(|e| e.field.ends_with(".who")),
        "{errors}"
    );
}

#[test]
fn roles_follow_permenkes_24_2022() {
    assert!(Role::Kader.may(Permission::Input) && !Role::Kader.may(Permission::Correct));
    assert!(Role::Bidan.may(Permission::Correct));
    assert!(Role::Viewer.may(Permission::View) && !Role::Viewer.may(Permission::Input));
}
