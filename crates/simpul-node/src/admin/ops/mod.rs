//! Carrying out admin requests against a store: the same code whether the CLI opened the
//! store itself (node stopped), a running node received the request on its socket, or
//! the data API received it over HTTP. Every request the audit trail records
//! ([`audit::action_of`]) is recorded here, after it succeeded.

mod audit;
pub mod bundles;
mod edit;
pub mod fhir;
mod page;
mod people;
mod registry;
mod submissions;

use rand::RngExt;
use simpul_model::automerge::Automerge;
use simpul_model::{Date, FacilityPath, Record, RecordBody, RecordError, RecordId, validate};
use simpul_store::{ReadError, Store, TokenInfo, WriteError, WriteOutcome, token_hash};

use super::protocol::{
    Caller, FacilityHeard, Failure, FailureKind, NodeStatus, NodeSummary, Progress,
    RecordConflicts, RecordHistory, Reply, Request, RevocationsView, StoredRecord, TrustStatus,
    Written,
};

/// The largest document an import accepts. A patient with decades of visits is tens of
/// kilobytes; anything near this is not a record.
pub const MAX_DOCUMENT_BYTES: usize = 16 << 20;

/// Carries out `request` for `caller` and records it in the audit trail. Returns what
/// was stored (the request's writes and the audit entry), for live pushes.
pub fn execute(
    store: &Store,
    request: Request,
    caller: &Caller,
    today: Date,
    now_ms: u64,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    execute_with(store, request, caller, today, now_ms, &|_| true)
}

/// [`execute`], telling `progress` how far a long request (verify, backup, FHIR
/// export) has got; when it returns `false` (whoever asked went away) the request
/// stops: verify and backup fail leaving nothing, an export keeps what it wrote up to
/// its checkpoint and says it stopped.
pub fn execute_with(
    store: &Store,
    request: Request,
    caller: &Caller,
    today: Date,
    now_ms: u64,
    progress: &dyn Fn(Progress) -> bool,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    let action = audit::action_of(&request, caller.via);
    let (reply, mut outcomes) = carry_out(store, request, today, now_ms, progress)?;
    if let Some((what, record, detail)) = action {
        // A write names the record it stored (a new record's id, bound to the node's key,
        // and an import's are only in the reply).
        let record = match &reply {
            Reply::Written(w) => Some(w.id),
            _ => record,
        };
        // The request's write is durable by now: if its audit entry fails (a disk that
        // just filled up), the caller must hear that the write itself was kept, or a
        // retry would store it twice.
        let stored = match &reply {
            Reply::Written(w) => Some(w.id),
            _ => None,
        };
        let entry =
            audit::append(store, caller, (what, record, detail), today, now_ms).map_err(|f| {
                match stored {
                    Some(id) => Failure::new(
                        f.kind,
                        format!(
                            "record {id} was stored, but its audit entry was not: {}",
                            f.message
                        ),
                    ),
                    None => f,
                }
            })?;
        outcomes.push(entry);
    }
    Ok((reply, outcomes))
}

fn carry_out(
    store: &Store,
    request: Request,
    today: Date,
    now_ms: u64,
    progress: &dyn Fn(Progress) -> bool,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    let report = |done, total| progress(Progress { done, total });
    let written = |out: WriteOutcome| {
        let reply = Reply::Written(Written {
            id: out.id,
            created: out.created,
            changed: out.changed,
        });
        Ok((reply, vec![out]))
    };
    let read = |reply: Reply| Ok((reply, Vec::new()));
    match request {
        Request::BundleCreate {
            peer,
            out,
            peer_cert,
            max_bytes,
        } => bundles::create(store, &peer, &out, peer_cert.as_deref(), max_bytes, now_ms),
        Request::BundleApply { files, answer } => {
            bundles::apply(store, &files, answer.as_deref(), today, now_ms)
        }
        Request::BundleShow { file } => bundles::show(store, &file, now_ms),
        Request::Insert {
            record,
            confirm_implausible,
        } => {
            if !confirm_implausible {
                record
                    .validate(today)
                    .map_err(|e| write_failure(plausibility(e)))?;
            }
            written(
                store
                    .insert_record(record, today, now_ms)
                    .map_err(write_failure)?,
            )
        }
        Request::AddVisit {
            id,
            visit_id,
            visit,
            confirm_implausible,
        } => written(
            store
                .update_record(id, today, now_ms, move |r| {
                    let p = patient(r)?;
                    if p.visits.contains_key(&visit_id.to_string()) {
                        return Err(shape(format!("visit {visit_id} already exists")));
                    }
                    if !confirm_implausible {
                        let field = format!("visits.{visit_id}");
                        validate::validate_visit(&visit, p, today, &field).map_err(plausibility)?;
                    }
                    p.visits.insert(visit_id.to_string(), visit);
                    Ok(())
                })
                .map_err(write_failure)?,
        ),
        Request::MarkError { id, visit_id, mark } => written(
            store
                .update_record(id, today, now_ms, move |r| {
                    let v = patient(r)?
                        .visits
                        .get_mut(&visit_id.to_string())
                        .ok_or_else(|| shape(format!("no visit {visit_id}")))?;
                    if v.entered_in_error.is_none() {
                        v.entered_in_error = Some(mark);
                    }
                    Ok(())
                })
                .map_err(write_failure)?,
        ),
        Request::UpdatePatient { id, edit } => {
            let node = store.node().path.clone();
            written(
                store
                    .update_record(id, today, now_ms, move |r| {
                        edit::correct(r, edit, &node, today)
                    })
                    .map_err(write_failure)?,
            )
        }
        Request::History { id } => {
            let (meta, doc) = store
                .load(id)
                .map_err(read_failure)?
                .ok_or_else(|| not_found(id))?;
            let record = Record::from_document(&doc)
                .map_err(|e| Failure::new(FailureKind::Failed, chain(&e)))?;
            let history = RecordHistory {
                stored: StoredRecord { meta, record },
                heads: doc.get_heads().iter().map(ToString::to_string).collect(),
                changes: simpul_model::history::history(&doc),
                conflicts: simpul_model::history::conflicts(&doc),
            };
            read(Reply::History(Box::new(history)))
        }
        Request::Conflicts { id, after, limit } => {
            let (records, next) = conflicts(store, id, after, limit)?;
            read(Reply::Conflicts { records, next })
        }
        Request::Settle {
            id,
            field,
            value,
            settlement,
        } => written(
            store
                .write(id, now_ms, move |doc| {
                    let doc = doc.as_mut().ok_or(WriteError::NotFound(id))?;
                    let before = Record::from_document(doc)?;
                    simpul_model::history::settle(doc, &field, &value, settlement, now_ms)?;
                    let after = Record::from_document(doc)?;
                    after
                        .validate_as(today, validate::Check::Structure)
                        .map_err(RecordError::from)?;
                    simpul_model::check_history(&before, &after)?;
                    Ok(after)
                })
                .map_err(write_failure)?,
        ),
        Request::Verify => {
            let verified = store.verify(&report).map_err(read_failure)?;
            read(Reply::Verified(verified))
        }
        Request::Backup { out } => {
            let records = store.backup_with(&out, &report).map_err(|e| {
                Failure::new(
                    FailureKind::Failed,
                    format!("backup to {}: {}", out.display(), chain(&e)),
                )
            })?;
            let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            read(Reply::BackedUp { records, bytes })
        }
        Request::Import { document } => {
            let bytes = hex::decode(&document)
                .map_err(|e| Failure::new(FailureKind::BadRequest, format!("document: {e}")))?;
            if bytes.len() > MAX_DOCUMENT_BYTES {
                return Err(Failure::new(
                    FailureKind::Rejected,
                    format!(
                        "document of {} bytes is larger than {MAX_DOCUMENT_BYTES}: not a record",
                        bytes.len()
                    ),
                ));
            }
            simpul_model::inflation::check(&bytes, simpul_model::inflation::MAX_INFLATED)
                .map_err(|e| Failure::new(FailureKind::Rejected, format!("document: {e}")))?;
            let doc = Automerge::load(&bytes).map_err(|e| {
                Failure::new(
                    FailureKind::Rejected,
                    format!("not an Automerge document: {e}"),
                )
            })?;
            written(
                store
                    .import_document(&doc, today, now_ms)
                    .map_err(write_failure)?,
            )
        }
        Request::Get { id } => {
            let (meta, record) = store
                .record(id)
                .map_err(read_failure)?
                .ok_or_else(|| not_found(id))?;
            read(Reply::Record(Box::new(StoredRecord { meta, record })))
        }
        Request::Export { id } => {
            let (_, doc) = store
                .load(id)
                .map_err(read_failure)?
                .ok_or_else(|| not_found(id))?;
            let document = hex::encode(doc.save());
            read(Reply::Document { document })
        }
        Request::Node => {
            let node = store.node();
            let summary = NodeSummary {
                path: node.path.clone(),
                actor: node.actor.to_string(),
            };
            read(Reply::Node(summary))
        }
        Request::Status => read(Reply::Status(Box::new(status(store, now_ms)?))),
        Request::AddRevocations { pem } => {
            let (held, taken) = add_revocations(store, &pem)?;
            read(Reply::Revocations {
                held: RevocationsView::of(&held),
                taken,
            })
        }
        Request::Quarantine { limit } => {
            let (entries, total) = store.quarantine(limit).map_err(read_failure)?;
            read(Reply::Quarantined { entries, total })
        }
        Request::Log | Request::Peers | Request::Sync { .. } => Err(Failure::new(
            FailureKind::NotRunning,
            "the node is not running (start it with `simpul run --config FILE`)",
        )),
        Request::List { after, limit } => {
            let limit = page::limit(limit)?;
            let ids = store
                .ids_of_kind(simpul_model::RecordKind::Patient, after, limit)
                .map_err(read_failure)?;
            let next = page::next(&ids, limit);
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                // Let go between the page and the read: left out.
                if let Some(meta) = store.meta(id).map_err(read_failure)? {
                    rows.push((id, meta));
                }
            }
            read(Reply::List { rows, next })
        }
        Request::Search { query } => {
            let (people, next) = people::search(store, &query)?;
            read(Reply::People { people, next })
        }
        Request::Due { query } => {
            let (people, next) = people::due(store, &query)?;
            read(Reply::People { people, next })
        }
        Request::Duplicates { after, limit } => {
            let (groups, next) = people::duplicates(store, after.as_deref(), page::limit(limit)?)?;
            read(Reply::Duplicates { groups, next })
        }
        Request::Merge { from, into } => {
            let (visits_moved, outcomes) = people::merge(store, from, into, today, now_ms)?;
            let reply = Reply::Merged {
                survivor: into,
                visits_moved,
            };
            Ok((reply, outcomes))
        }
        Request::Audit { query } => {
            let (entries, next) = audit::query(store, &query)?;
            read(Reply::Audit { entries, next })
        }
        Request::IssueToken { name, role, nik } => {
            if let Some(nik) = &nik {
                simpul_model::Nik::parse(nik)
                    .map_err(|e| Failure::new(FailureKind::Rejected, format!("nik: {e}")))?;
            }
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
                return Err(Failure::new(
                    FailureKind::BadRequest,
                    "name: give who the token is for (1-200 characters, one line)",
                ));
            }
            let secret: [u8; 32] = rand::rng().random();
            let token = format!("sp_{}", hex::encode(secret));
            let hash = token_hash(&token);
            let info = TokenInfo {
                id: hex::encode(&hash[..4]),
                name,
                role,
                issued_ms: now_ms,
                revoked_ms: None,
                nik,
            };
            store.add_token(hash, &info).map_err(write_failure)?;
            read(Reply::TokenIssued { token, info })
        }
        Request::ExportFhir { out } => {
            let (counts, stopped) = fhir::export(store, &out, &report)?;
            read(Reply::ExportedFhir { counts, stopped })
        }
        Request::Fhir {
            resource_type,
            after,
            limit,
        } => {
            let wanted = fhir::resource_type(&resource_type)?;
            let (ndjson, count, next) =
                fhir::ndjson_page(store, wanted, after, page::limit(limit)?)?;
            read(Reply::Fhir {
                ndjson,
                count,
                next,
            })
        }
        Request::Pws {
            month,
            by,
            year_to_date,
        } => read(Reply::Pws(Box::new(people::pws(
            store,
            &month,
            by.as_deref(),
            year_to_date,
        )?))),
        Request::SetFacility { entry } => written(registry::set(store, entry, today, now_ms)?),
        Request::Facilities => read(Reply::Facilities {
            entries: registry::list(store)?,
        }),
        Request::Submissions => read(Reply::Submissions {
            ledgers: submissions::list(store)?,
        }),
        Request::RetrySubmissions { visit, resend } => read(Reply::Submissions {
            ledgers: submissions::retry(store, visit.as_deref(), resend, today, now_ms)?,
        }),
        Request::Tokens => read(Reply::Tokens {
            tokens: store.tokens().map_err(read_failure)?,
        }),
        Request::RevokeToken { id } => {
            match store.revoke_token(&id, now_ms).map_err(write_failure)? {
                Some(info) => read(Reply::TokenRevoked(info)),
                None => Err(Failure::new(
                    FailureKind::NotFound,
                    format!("no token {id}"),
                )),
            }
        }
    }
}

/// The status of the node on `store` as far as the store tells it (no peers: those are
/// known to a running node alone, which fills them in).
/// Takes in a revocation list (PEM): checked against the district CA, kept if newer.
pub fn add_revocations(
    store: &Store,
    pem: &str,
) -> Result<(simpul_trust::Revocations, bool), Failure> {
    let der = crl_der(pem).ok_or_else(|| {
        Failure::new(
            FailureKind::Rejected,
            "not a PEM revocation list (-----BEGIN X509 CRL-----)",
        )
    })?;
    store.take_revocations(&der).map_err(|e| match e {
        simpul_store::WriteError::Untrusted(_) | simpul_store::WriteError::NoAuthority => {
            Failure::new(FailureKind::Rejected, e.to_string())
        }
        other => write_failure(other),
    })
}

/// The DER inside a PEM revocation list.
fn crl_der(pem: &str) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    (parsed.label == "X509 CRL").then_some(parsed.contents)
}

/// What the store says about keys, seals and revocations.
fn trust_status(store: &Store) -> Result<TrustStatus, Failure> {
    let (recent_quarantine, quarantined) = store.quarantine(5).map_err(read_failure)?;
    Ok(TrustStatus {
        key: store.node().key.map(|k| k.to_string()),
        actor: String::from_utf8_lossy(store.node().actor.to_bytes()).into_owned(),
        revocations: store.revocations().as_ref().map(RevocationsView::of),
        quarantined,
        recent_quarantine,
        pending_seals: store.pending_seals().map_err(read_failure)?,
    })
}

/// The node and its store, as `simpul status` shows them (peers come from a running node).
pub fn status(store: &Store, now_ms: u64) -> Result<NodeStatus, Failure> {
    let path = store.node().path.clone();
    Ok(NodeStatus {
        trust: trust_status(store)?,
        name: format!("{} {}", path.level(), path.code()),
        path,
        version: env!("CARGO_PKG_VERSION").to_string(),
        running: false,
        started_ms: None,
        now_ms,
        store_file: store.file().display().to_string(),
        store_bytes: store.file_size().unwrap_or(0),
        records: store.census().map_err(read_failure)?,
        peers: Vec::new(),
        damaged: store.damaged().map_err(read_failure)?,
        descendants: descendants(store)?,
        bundles: bundles::peers(store)?,
    })
}

/// The facilities below this node: those it holds changes of and those the registry
/// names, stalest first (never heard from before all).
pub fn descendants(store: &Store) -> Result<Vec<FacilityHeard>, Failure> {
    let here = &store.node().path;
    let below = |p: &FacilityPath| p != here && here.is_ancestor_or_self(p);
    let mut all: std::collections::BTreeMap<FacilityPath, Option<simpul_store::Heard>> = store
        .heard()
        .map_err(read_failure)?
        .into_iter()
        .filter(|(p, _)| below(p))
        .map(|(p, h)| (p, Some(h)))
        .collect();
    for (_, entry) in store.facility_registry().map_err(read_failure)? {
        if below(&entry.path) {
            all.entry(entry.path).or_insert(None);
        }
    }
    let mut list: Vec<FacilityHeard> = all
        .into_iter()
        .map(|(path, heard)| FacilityHeard { path, heard })
        .collect();
    list.sort_by_key(|f| f.heard.map(|h| (h.stored_ms, h.written_s)));
    Ok(list)
}

pub(super) fn patient(r: &mut Record) -> Result<&mut simpul_model::Patient, WriteError> {
    let kind = r.kind();
    match &mut r.body {
        RecordBody::Patient(p) => Ok(p),
        RecordBody::Activity(_)
        | RecordBody::Audit(_)
        | RecordBody::Facility(_)
        | RecordBody::Submission(_) => Err(shape(format!(
            "visits belong to patient records, this is an {kind}"
        ))),
    }
}

/// A write refused at entry for values outside the plausible ranges, saying how to
/// keep them when they are right.
pub(super) fn plausibility(errors: simpul_model::ValidationErrors) -> WriteError {
    let errors = simpul_model::ValidationErrors(
        errors
            .0
            .into_iter()
            .map(|mut f| {
                f.reason.push_str(" (confirm it if it is right)");
                f
            })
            .collect(),
    );
    WriteError::Rejected(RecordError::from(errors))
}

pub(super) fn shape(message: String) -> WriteError {
    WriteError::Rejected(RecordError::NotApplicable(message))
}

pub(super) fn not_found(id: simpul_model::RecordId) -> Failure {
    Failure::new(FailureKind::NotFound, format!("no record {id}"))
}

/// The failure for a store write error, keeping its kind.
pub fn write_failure(e: WriteError) -> Failure {
    let kind = match &e {
        WriteError::Rejected(_)
        | WriteError::OutOfScope { .. }
        | WriteError::WrongId { .. }
        | WriteError::AlreadyExists(_) => FailureKind::Rejected,
        WriteError::NotFound(_) => FailureKind::NotFound,
        e if e.is_store_failure() => FailureKind::StoreFailed,
        _ => FailureKind::Failed,
    };
    let fields = match &e {
        WriteError::Rejected(RecordError::Invalid(errors)) => errors.0.clone(),
        _ => Vec::new(),
    };
    Failure {
        fields,
        ..Failure::new(kind, chain(&e))
    }
}

pub(super) fn read_failure(e: ReadError) -> Failure {
    let kind = match e.is_record_damage() {
        true => FailureKind::Failed,
        false => FailureKind::StoreFailed,
    };
    Failure::new(kind, chain(&e))
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The competing values of record `id`, or of a page of the records listed with them.
fn conflicts(
    store: &Store,
    id: Option<RecordId>,
    after: Option<RecordId>,
    limit: Option<u32>,
) -> Result<(Vec<RecordConflicts>, Option<RecordId>), Failure> {
    let limit = page::limit(limit)?;
    let (ids, next) = match id {
        Some(id) => (vec![id], None),
        None => {
            let ids: Vec<RecordId> = store
                .conflicted(after, limit)
                .map_err(read_failure)?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let next = page::next(&ids, limit);
            (ids, next)
        }
    };
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        let Some((meta, doc)) = store.load(id).map_err(read_failure)? else {
            continue;
        };
        let conflicts = simpul_model::history::conflicts(&doc);
        if !conflicts.is_empty() {
            records.push(RecordConflicts {
                id,
                label: meta.summary.label,
                conflicts,
            });
        }
    }
    Ok((records, next))
}
