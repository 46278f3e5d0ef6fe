//! Writing the audit trail and reading it back.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use simpul_model::audit::{MAX_ENTRIES_PER_PART, audit_log_id};
use simpul_model::automerge::ChangeHash;
use simpul_model::{
    AuditAction, AuditEntry, AuditLog, Date, FacilityPath, Record, RecordBody, RecordId, Scope,
};
use simpul_store::{AuditCursor, AuditFilter, Store, WriteError, WriteOutcome};

use super::{read_failure, write_failure};
use crate::admin::protocol::{AuditQuery, AuditRow, Caller, Failure, FailureKind, Request, Via};

/// The most entries one audit query returns.
const MAX_AUDIT_ROWS: usize = 10_000;
const MAX_AUDIT_ROWS_U32: u32 = MAX_AUDIT_ROWS as u32;

/// What the trail records of `request`, if anything: the action, the record and a
/// detail. Reads by the console's own user through the CLI are not recorded (whoever can
/// run the CLI can read the store file itself; a trail of them would bind no one);
/// every write, export and report is, however it came.
pub(super) fn action_of(
    request: &Request,
    via: Via,
) -> Option<(AuditAction, Option<RecordId>, Option<String>)> {
    let read = |action, record: Option<RecordId>, detail: Option<String>| {
        (via == Via::Api).then_some((action, record, detail))
    };
    match request {
        Request::Insert { record, .. } => Some((AuditAction::Create, Some(record.id), None)),
        Request::AddVisit { id, visit_id, .. } => Some((
            AuditAction::AddVisit,
            Some(*id),
            Some(format!("visit {visit_id}")),
        )),
        Request::MarkError { id, visit_id, mark } => Some((
            AuditAction::MarkError,
            Some(*id),
            Some(format!("visit {visit_id}: {}", mark.reason)),
        )),
        Request::UpdatePatient { id, .. } => Some((AuditAction::Correct, Some(*id), None)),
        Request::Settle { id, field, .. } => {
            Some((AuditAction::Settle, Some(*id), Some(field.clone())))
        }
        Request::Import { .. } => Some((AuditAction::Import, None, None)),
        Request::BundleCreate { peer, out, .. } => Some((
            AuditAction::Export,
            None,
            Some(format!("bundle for {peer}: {}", out.display())),
        )),
        Request::BundleApply { files, answer } => Some((
            AuditAction::Import,
            None,
            Some(format!(
                "bundle(s) {}{}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                answer
                    .as_ref()
                    .map_or(String::new(), |a| format!("; answer {}", a.display()))
            )),
        )),
        Request::RetrySubmissions { visit, resend } => Some((
            AuditAction::Correct,
            None,
            Some(format!(
                "SATUSEHAT: send again {}{}",
                visit.as_deref().unwrap_or("every refused or waiting visit"),
                if *resend { " (sent ones too)" } else { "" }
            )),
        )),
        Request::SetFacility { entry } => Some((
            AuditAction::Correct,
            None,
            Some(format!("facility registry: {}", entry.path)),
        )),
        Request::Merge { from, into } => Some((
            AuditAction::Merge,
            Some(*from),
            Some(format!("merged into {into}")),
        )),
        Request::Export { id } => Some((AuditAction::Export, Some(*id), Some("automerge".into()))),
        Request::Backup { out } => Some((
            AuditAction::Export,
            None,
            Some(format!("backup to {}", out.display())),
        )),
        Request::IssueToken { name, role, .. } => Some((
            AuditAction::Token,
            None,
            Some(format!("issued a {role} token to {name}")),
        )),
        Request::RevokeToken { id } => Some((
            AuditAction::Token,
            None,
            Some(format!("revoked token {id}")),
        )),
        Request::Get { id } | Request::History { id } => read(AuditAction::Read, Some(*id), None),
        Request::Search { query } => {
            read(AuditAction::Search, None, serde_json::to_string(query).ok())
        }
        Request::Due { query } => read(
            AuditAction::Search,
            None,
            Some(format!(
                "due {:?} {} {}",
                query.service, query.facility, query.month
            )),
        ),
        Request::ExportFhir { out } => Some((
            AuditAction::Export,
            None,
            Some(format!("fhir to {}", out.display())),
        )),
        Request::Fhir { resource_type, .. } => Some((
            AuditAction::Export,
            None,
            Some(format!("fhir {resource_type}")),
        )),
        Request::Pws { month, .. } => {
            Some((AuditAction::Report, None, Some(format!("pws {month}"))))
        }
        Request::Duplicates { .. } => read(AuditAction::Search, None, Some("duplicates".into())),
        Request::Audit { .. } => read(AuditAction::Read, None, Some("audit trail".into())),
        Request::List { .. } | Request::Conflicts { .. } => read(AuditAction::Search, None, None),
        Request::Verify
        | Request::Node
        | Request::Status
        | Request::Peers
        | Request::Log
        | Request::Sync { .. }
        | Request::Tokens
        | Request::Facilities
        | Request::Submissions
        | Request::AddRevocations { .. }
        | Request::Quarantine { .. }
        | Request::BundleShow { .. } => None,
    }
}

/// The first bytes of the node's key id, which its audit records' ids are bound to.
/// The UTC day of a Unix time in milliseconds.
fn utc_day(at_ms: u64) -> Date {
    Date::from_unix_days((at_ms / 86_400_000) as i64)
}

/// The record the next entry goes to: its part number, and the record as last written
/// by this process with the heads it had then, so that appending need not read the
/// part's entries back from the document (most of an audited request's cost otherwise).
#[derive(Clone)]
struct Part {
    part: u32,
    entries: u32,
    last: Arc<Mutex<Option<Written>>>,
}

/// A record as written, and the heads its document had right after.
type Written = (Vec<ChangeHash>, Record);

/// Per store file and day: the part that takes new entries (counted here as entries
/// are added; found from the records' metadata after a restart). Keyed by the file, not
/// the facility: one process may hold two stores of one facility (tests, restores).
static CURRENT: Mutex<BTreeMap<(PathBuf, Date), Part>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The part the next entry goes to.
fn next_part(store: &Store, node: &FacilityPath, day: Date) -> Result<Part, Failure> {
    let mut current = lock(&CURRENT);
    current.retain(|(_, d), _| *d >= day);
    let key = (store.file().to_path_buf(), day);
    let slot = match current.get(&key) {
        Some(slot) => slot.clone(),
        None => {
            let mut part = 0;
            let entries = loop {
                match store
                    .meta(audit_log_id(node, store.key_prefix(), day, part))
                    .map_err(read_failure)?
                {
                    Some(meta) if meta.summary.entries >= MAX_ENTRIES_PER_PART => part += 1,
                    Some(meta) => break meta.summary.entries,
                    None => break 0,
                }
            };
            Part {
                part,
                entries,
                last: Arc::default(),
            }
        }
    };
    let mut next = if slot.entries >= MAX_ENTRIES_PER_PART {
        Part {
            part: slot.part + 1,
            entries: 0,
            last: Arc::default(),
        }
    } else {
        slot
    };
    next.entries += 1;
    current.insert(key, next.clone());
    Ok(next)
}

/// Appends one entry to this node's audit trail of the day (its latest part, a new one
/// when that is full).
pub(super) fn append(
    store: &Store,
    caller: &Caller,
    (action, record, detail): (AuditAction, Option<RecordId>, Option<String>),
    today: Date,
    at_ms: u64,
) -> Result<WriteOutcome, Failure> {
    let node = store.node().path.clone();
    let day = utc_day(at_ms);
    let Part { part, last, .. } = next_part(store, &node, day)?;
    let id = audit_log_id(&node, store.key_prefix(), day, part);
    let entry = AuditEntry {
        at_ms,
        who: caller.who.clone(),
        role: caller.role,
        action,
        record,
        detail,
        via: caller.via.as_str().to_string(),
    };
    let actor = store.node().actor.clone();
    // The day's record is made the first time, else one entry is added to it.
    store
        .write(id, at_ms, move |doc| match doc {
            None => {
                let mut log = AuditLog {
                    facility: node.clone(),
                    date: day,
                    part,
                    entries: Default::default(),
                };
                log.append(entry);
                let record = Record {
                    id,
                    scope: Scope::up(node),
                    body: RecordBody::Audit(log),
                };
                let created = record.create_document(actor, today, at_ms)?;
                *lock(&last) = Some((created.get_heads(), record.clone()));
                *doc = Some(created);
                Ok(record)
            }
            Some(doc) => {
                // The record as this process last wrote it, if nothing changed it since
                // (a peer may have merged changes into it), else read back.
                let heads = doc.get_heads();
                let cached = lock(&last)
                    .as_ref()
                    .filter(|(h, r)| *h == heads && r.id == id)
                    .map(|(_, r)| r.clone());
                let before = match cached {
                    Some(record) => record,
                    None => Record::from_document(doc)?,
                };
                let mut after = before.clone();
                let RecordBody::Audit(log) = &mut after.body else {
                    return Err(WriteError::Rejected(simpul_model::RecordError::Shape(
                        format!("record {id} should be an audit record"),
                    )));
                };
                log.append(entry);
                after.write_over(&before, doc, today, at_ms)?;
                *lock(&last) = Some((doc.get_heads(), after.clone()));
                Ok(after)
            }
        })
        .map_err(|e| {
            let mut f = write_failure(e);
            f.message = format!("the audit trail could not be written: {}", f.message);
            f
        })
}

/// A page of the audit entries held here that match `query`, newest first, read from
/// the store's audit index (no audit document is loaded), and where the next page
/// starts.
pub(super) fn query(
    store: &Store,
    query: &AuditQuery,
) -> Result<(Vec<AuditRow>, Option<String>), Failure> {
    let limit = match query.limit {
        None => 1_000,
        Some(n @ 1..=MAX_AUDIT_ROWS_U32) => n as usize,
        Some(n) => {
            return Err(Failure::new(
                FailureKind::Rejected,
                format!("limit: {n} is not between 1 and {MAX_AUDIT_ROWS}"),
            ));
        }
    };
    let before = query
        .after
        .as_deref()
        .map(|a| {
            a.parse::<AuditCursor>()
                .map_err(|e| Failure::new(FailureKind::Rejected, format!("after: {e}")))
        })
        .transpose()?;
    let filter = AuditFilter {
        record: query.record,
        who: query.who.clone(),
        facility: query.facility.clone(),
        since_ms: query
            .since
            .map(|d| u64::try_from(d.unix_days()).unwrap_or(0) * 86_400_000),
    };
    // A filter the index does not hold (the facility) reads at most this many entries
    // for a page; the page then says where to go on.
    let budget = (limit * 20).max(20_000);
    let (hits, next) = store
        .audit_page(&filter, before.as_ref(), limit, budget)
        .map_err(read_failure)?;
    let rows = hits
        .into_iter()
        .map(|h| AuditRow {
            node: h.node,
            entry: h.entry,
        })
        .collect();
    Ok((rows, next.map(|c| c.to_string())))
}
