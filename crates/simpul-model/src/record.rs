//! Records as Automerge documents.
//!
//! One document per record. Its root map holds:
//!
//! | key        | value                                                   |
//! |------------|---------------------------------------------------------|
//! | `schema`   | record schema version (uint), currently [`RECORD_SCHEMA`] |
//! | `id`       | the [`RecordId`] as 32 hex digits                        |
//! | `kind`     | `"patient"` or `"activity"`                              |
//! | `scope`    | `{ audience: "up"|"down", paths: [facility path, ...] }` |
//! | `patient` / `activity` | the body, one map per struct, one key per field |
//!
//! Text values are string scalars, not Automerge `Text` objects: a NIK or a name is a
//! value that one writer sets (concurrent writes leave a visible conflict), not text
//! whose characters two writers interleave. In JavaScript: `new ImmutableString(..)`.
//! Whole numbers are signed integers; measurements are floats (integers are accepted).
//!
//! Writes go through [`autosurgeon::reconcile`], which turns a changed struct into the
//! smallest set of field-level operations: concurrent edits to different fields merge,
//! and visits (a map keyed by visit id) from different facilities never collide.

use automerge::transaction::CommitOptions;
use automerge::{ActorId, Automerge, ChangeHash, ROOT};
use autosurgeon::{hydrate_prop, reconcile_prop};
use sha2::{Digest, Sha256};

use crate::activity::Activity;
use crate::audit::{AuditLog, check_audit_history};
use crate::date::Date;
use crate::facility::FacilityPath;
use crate::ids::RecordId;
use crate::patient::Patient;
use crate::registry::FacilityEntry;
use crate::scope::Scope;
use crate::submission::SubmissionLedger;
use crate::validate::{
    Check, ValidationErrors, validate_activity, validate_audit, validate_facility,
    validate_patient_as, validate_scope, validate_submission,
};
use crate::visit::Visit;

/// The record schema this code writes and reads.
pub const RECORD_SCHEMA: u64 = 1;

crate::string_enum! {
    /// The kinds of record.
    pub enum RecordKind {
        /// A person: identity, demographics, visits.
        Patient => "patient",
        /// A posyandu day, home-visit round or follow-up task.
        Activity => "activity",
        /// A node's audit trail for one day.
        Audit => "audit",
        /// A facility of the district, as the district registers it.
        Facility => "facility",
        /// What a node sent of a patient's visits to SATUSEHAT.
        Submission => "submission",
    }
}

/// The content of a record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every record is a patient; boxing would only add an allocation"
)]
pub enum RecordBody {
    /// A patient.
    Patient(Patient),
    /// An activity.
    Activity(Activity),
    /// A day of a node's audit trail.
    Audit(AuditLog),
    /// A facility registry entry.
    Facility(FacilityEntry),
    /// A patient's SATUSEHAT submission ledger.
    Submission(SubmissionLedger),
}

/// What identifies and routes a record ([`Record::envelope`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// Its identity.
    pub id: RecordId,
    /// Patient or activity.
    pub kind: RecordKind,
    /// Who holds it.
    pub scope: Scope,
}

/// A whole record, as read from its document.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Its identity.
    pub id: RecordId,
    /// Who holds it.
    pub scope: Scope,
    /// What it says.
    pub body: RecordBody,
}

/// Why a document could not be read or written as a record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A field value was rejected.
    #[error("invalid record: {0}")]
    Invalid(ValidationErrors),
    /// The document does not have the shape of a record.
    #[error("document is not a simpul record: {0}")]
    Shape(String),
    /// The document's content could not be read into record types.
    #[error("document content does not match the record schema")]
    Hydrate(#[source] Box<autosurgeon::HydrateError>),
    /// The record could not be written into the document.
    #[error("could not write the record into the document")]
    Reconcile(#[source] Box<autosurgeon::ReconcileError>),
    /// Automerge refused an operation.
    #[error("automerge")]
    Automerge(#[source] Box<automerge::AutomergeError>),
    /// A change would erase or rewrite a clinical fact.
    #[error("change rewrites clinical history: {0}")]
    History(String),
    /// The change asked for does not apply to this record (no such visit, nothing to
    /// settle, a value of the wrong type).
    #[error("{0}")]
    NotApplicable(String),
}

impl From<autosurgeon::HydrateError> for RecordError {
    fn from(e: autosurgeon::HydrateError) -> Self {
        RecordError::Hydrate(Box::new(e))
    }
}

impl From<autosurgeon::ReconcileError> for RecordError {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        RecordError::Reconcile(Box::new(e))
    }
}

impl From<automerge::AutomergeError> for RecordError {
    fn from(e: automerge::AutomergeError) -> Self {
        RecordError::Automerge(Box::new(e))
    }
}

impl From<ValidationErrors> for RecordError {
    fn from(e: ValidationErrors) -> Self {
        RecordError::Invalid(e)
    }
}

impl Record {
    /// The kind of this record.
    pub fn kind(&self) -> RecordKind {
        match self.body {
            RecordBody::Patient(_) => RecordKind::Patient,
            RecordBody::Activity(_) => RecordKind::Activity,
            RecordBody::Audit(_) => RecordKind::Audit,
            RecordBody::Facility(_) => RecordKind::Facility,
            RecordBody::Submission(_) => RecordKind::Submission,
        }
    }

    /// The patient, if this is a patient record.
    pub fn patient(&self) -> Option<&Patient> {
        match &self.body {
            RecordBody::Patient(p) => Some(p),
            RecordBody::Activity(_)
            | RecordBody::Audit(_)
            | RecordBody::Facility(_)
            | RecordBody::Submission(_) => None,
        }
    }

    /// Checks every field.
    pub fn validate(&self, today: Date) -> Result<(), ValidationErrors> {
        self.validate_as(today, Check::Plausible)
    }

    /// [`Record::validate`] at the level `check`: [`Check::Structure`] is what a node
    /// demands of every record it stores, [`Check::Plausible`] what a writer meets (or
    /// confirms) at entry.
    pub fn validate_as(&self, today: Date, check: Check) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if let Err(e) = validate_scope(&self.scope) {
            errors.extend(e.0);
        }
        let body = match &self.body {
            RecordBody::Patient(p) => validate_patient_as(p, today, check),
            RecordBody::Activity(a) => validate_activity(a, today, check),
            RecordBody::Audit(a) => validate_audit(a, &self.scope, today, check),
            RecordBody::Facility(f) => validate_facility(f, &self.scope),
            RecordBody::Submission(l) => validate_submission(l, &self.scope),
        };
        if let Err(e) = body {
            errors.extend(e.0);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// Creates the record's document: one change by `actor` at `at_ms` (Unix milliseconds).
    /// Its structure is validated first; plausibility is for the writer to check at
    /// entry ([`Check`]).
    pub fn create_document(
        &self,
        actor: ActorId,
        today: Date,
        at_ms: u64,
    ) -> Result<Automerge, RecordError> {
        self.validate_as(today, Check::Structure)?;
        let mut doc = Automerge::new().with_actor(actor);
        // On an empty document autosurgeon builds the whole tree in one batch, without
        // reading anything back: an order of magnitude cheaper than field-by-field.
        doc.transact_with(
            |_| commit_options(at_ms),
            |tx| -> Result<(), RecordError> { Ok(autosurgeon::reconcile(tx, RootMap(self))?) },
        )
        .map_err(|f| f.error)?;
        Ok(doc)
    }

    /// Reads only a record's envelope (schema, id, kind, scope): what routing and scope
    /// checks need, at a fraction of the cost of [`Record::from_document`].
    pub fn envelope(doc: &Automerge) -> Result<Envelope, RecordError> {
        let schema = crate::number::hydrate_u64(doc, &ROOT, "schema".into())
            .map_err(|_| RecordError::Shape("missing or non-integer `schema`".into()))?;
        if schema != RECORD_SCHEMA {
            return Err(RecordError::Shape(format!(
                "record schema {schema} is not the supported schema {RECORD_SCHEMA}"
            )));
        }
        let id: String = hydrate_prop(doc, ROOT, "id")
            .map_err(|_| RecordError::Shape("`id` is missing or not a string scalar".into()))?;
        let id: RecordId = id.parse().map_err(|e| RecordError::Shape(format!("{e}")))?;
        let kind: String = hydrate_prop(doc, ROOT, "kind")
            .map_err(|_| RecordError::Shape("`kind` is missing or not a string scalar".into()))?;
        let kind: RecordKind = kind
            .parse()
            .map_err(|e| RecordError::Shape(format!("kind: {e}")))?;
        let scope = crate::scope_doc::read_scope(doc, None)?;
        Ok(Envelope { id, kind, scope })
    }

    /// Reads a record from its document, checking its envelope (schema, id, kind).
    /// Field values are not validated here: see [`Record::validate`].
    pub fn from_document(doc: &Automerge) -> Result<Record, RecordError> {
        let Envelope { id, kind, scope } = Record::envelope(doc)?;
        let doc = crate::read::OnePass::new(doc);
        let body = match kind {
            RecordKind::Patient => RecordBody::Patient(hydrate_prop(&doc, ROOT, "patient")?),
            RecordKind::Activity => RecordBody::Activity(hydrate_prop(&doc, ROOT, "activity")?),
            RecordKind::Audit => RecordBody::Audit(hydrate_prop(&doc, ROOT, "audit")?),
            RecordKind::Facility => RecordBody::Facility(hydrate_prop(&doc, ROOT, "facility")?),
            RecordKind::Submission => {
                RecordBody::Submission(hydrate_prop(&doc, ROOT, "submission")?)
            }
        };
        Ok(Record { id, scope, body })
    }

    /// Writes `self` over the record in `doc` as field-level changes, in one change at
    /// `at_ms`. The structure of the new state is validated (plausibility is for the
    /// writer to check, [`Check`]) and it is checked against clinical history first.
    /// Returns the new change's hash, or `None` when nothing changed.
    pub fn write_into(
        &self,
        doc: &mut Automerge,
        today: Date,
        at_ms: u64,
    ) -> Result<Option<ChangeHash>, RecordError> {
        let before = Record::from_document(doc)?;
        self.write_over(&before, doc, today, at_ms)
    }

    /// Like [`Record::write_into`], for a caller that has just read `before` from `doc`
    /// (reading a record costs more than writing a visit; this skips reading it twice).
    pub fn write_over(
        &self,
        before: &Record,
        doc: &mut Automerge,
        today: Date,
        at_ms: u64,
    ) -> Result<Option<ChangeHash>, RecordError> {
        if before.id != self.id || before.kind() != self.kind() {
            return Err(RecordError::Shape("record id and kind never change".into()));
        }
        self.validate_as(today, Check::Structure)?;
        check_history(before, self)?;
        let success = doc
            .transact_with(
                |_| commit_options(at_ms),
                |tx| -> Result<(), RecordError> {
                    if before.scope != self.scope {
                        // Replaced whole, never edited inside (see `scope_doc`).
                        crate::scope_doc::write_scope(tx, &self.scope)?;
                    }
                    match (&before.body, &self.body) {
                        (RecordBody::Patient(b), RecordBody::Patient(a)) => {
                            write_patient_diff(tx, b, a)
                        }
                        (_, RecordBody::Activity(a)) => {
                            Ok(reconcile_prop(tx, ROOT, "activity", a)?)
                        }
                        (RecordBody::Audit(b), RecordBody::Audit(a)) => write_audit_diff(tx, b, a),
                        (_, RecordBody::Audit(a)) => Ok(reconcile_prop(tx, ROOT, "audit", a)?),
                        (_, RecordBody::Facility(f)) => {
                            Ok(reconcile_prop(tx, ROOT, "facility", f)?)
                        }
                        (_, RecordBody::Submission(l)) => {
                            Ok(reconcile_prop(tx, ROOT, "submission", l)?)
                        }
                        (_, RecordBody::Patient(a)) => Ok(reconcile_prop(tx, ROOT, "patient", a)?),
                    }
                },
            )
            .map_err(|f| f.error)?;
        Ok(success.hash)
    }
}

/// The root map of a record document, for reconciling a whole record at once.
struct RootMap<'a>(&'a Record);

impl autosurgeon::Reconcile for RootMap<'_> {
    type Key<'k> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let record = self.0;
        let mut m = r.map()?;
        m.put("schema", RECORD_SCHEMA as i64)?;
        m.put("id", record.id)?;
        m.put("kind", record.kind())?;
        m.put("scope", &record.scope)?;
        match &record.body {
            RecordBody::Patient(p) => m.put("patient", p)?,
            RecordBody::Activity(a) => m.put("activity", a)?,
            RecordBody::Audit(a) => m.put("audit", a)?,
            RecordBody::Facility(f) => m.put("facility", f)?,
            RecordBody::Submission(l) => m.put("submission", l)?,
        }
        Ok(())
    }
}

/// Writes only what differs between two versions of a patient: each changed top-level
/// field, and each new or changed visit under its own key. Adding a visit costs the
/// visit, not the whole record.
fn write_patient_diff<T: autosurgeon::Doc>(
    tx: &mut T,
    before: &Patient,
    after: &Patient,
) -> Result<(), RecordError> {
    use automerge::{ObjType, Value};
    let patient = match tx.get(&ROOT, "patient")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => return Err(RecordError::Shape("`patient` is not a map".into())),
    };
    macro_rules! field {
        ($name:ident) => {
            if before.$name != after.$name {
                reconcile_prop(tx, &patient, stringify!($name), &after.$name)?;
            }
        };
    }
    // Every field of a patient, named so that a field added to `Patient` and not
    // written here fails to compile instead of being silently dropped.
    let Patient {
        identifiers: _,
        name: _,
        sex: _,
        birth_date: _,
        birth_date_estimated: _,
        address: _,
        home_facility: _,
        kia_book: _,
        died_on: _,
        moved_out_on: _,
        mother: _,
        merged_into: _,
        visits: _,
    } = after;
    field!(identifiers);
    field!(name);
    field!(sex);
    field!(birth_date);
    field!(birth_date_estimated);
    field!(address);
    field!(home_facility);
    field!(kia_book);
    field!(died_on);
    field!(moved_out_on);
    field!(mother);
    field!(merged_into);
    if before.visits != after.visits {
        let visits = match tx.get(&patient, "visits")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(RecordError::Shape("`patient.visits` is not a map".into())),
        };
        for (key, visit) in &after.visits {
            if before.visits.get(key) != Some(visit) {
                reconcile_prop(tx, &visits, key.as_str(), visit)?;
            }
        }
        // Removed visits are refused by `check_history` before this point.
    }
    Ok(())
}

/// Writes only the entries `after` adds to an audit log.
fn write_audit_diff<T: autosurgeon::Doc>(
    tx: &mut T,
    before: &AuditLog,
    after: &AuditLog,
) -> Result<(), RecordError> {
    use automerge::{ObjType, Value};
    let entries = match tx.get(&ROOT, "audit")? {
        Some((Value::Object(ObjType::Map), audit)) => match tx.get(&audit, "entries")? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(RecordError::Shape("`audit.entries` is not a map".into())),
        },
        _ => return Err(RecordError::Shape("`audit` is not a map".into())),
    };
    for (key, entry) in &after.entries {
        if !before.entries.contains_key(key) {
            reconcile_prop(tx, &entries, key.as_str(), entry)?;
        }
    }
    Ok(())
}

fn commit_options(at_ms: u64) -> CommitOptions {
    CommitOptions::default().with_time((at_ms / 1000) as i64)
}

/// Data from outside (a file, a peer) to merge into a stored record.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per record on its way to the store; boxing only adds an allocation"
)]
pub enum Incoming {
    /// A whole document (a record the node may not have yet).
    Document(Automerge),
    /// Saved changes (`save_after` output or a whole saved document) for a record the
    /// node already holds, and the heads they lead to: every one of them must be in the
    /// document after applying (Automerge silently drops a change it cannot apply).
    Changes {
        /// The change bytes.
        bytes: Vec<u8>,
        /// The heads of the document the changes were saved from.
        heads: Vec<ChangeHash>,
    },
}

/// Merges `incoming` into the stored document in `slot` (or makes it the document when
/// the slot is empty) and checks the result: it reads as a record, every field is valid,
/// and every clinical fact the stored version held is still there. Returns the record as
/// it now stands. On error `slot` may hold a half-merged document: the caller discards it.
pub fn merge_incoming(
    slot: &mut Option<Automerge>,
    incoming: Incoming,
    today: Date,
) -> Result<Record, RecordError> {
    match (slot.as_mut(), incoming) {
        (None, Incoming::Document(doc)) => {
            let record = Record::from_document(&doc)?;
            record.validate_as(today, Check::Structure)?;
            *slot = Some(doc);
            Ok(record)
        }
        (None, Incoming::Changes { .. }) => Err(RecordError::Shape(
            "changes for a record this node does not hold".into(),
        )),
        (Some(existing), incoming) => {
            let before = Record::from_document(existing)?;
            match incoming {
                Incoming::Document(mut doc) => {
                    existing.merge(&mut doc)?;
                }
                Incoming::Changes { bytes, heads } => {
                    existing.load_incremental(&bytes)?;
                    // A change whose dependencies are missing is dropped or queued by
                    // Automerge, not applied: acknowledging it would lose it. Refuse; the
                    // sender's next reconciliation fills the gap.
                    let missing = heads
                        .iter()
                        .filter(|h| existing.get_change_meta_by_hash(h).is_none())
                        .count();
                    if missing > 0 {
                        return Err(RecordError::Shape(format!(
                            "changes depend on changes this node does not have \
                             ({missing} of their heads did not apply)"
                        )));
                    }
                }
            }
            let after = Record::from_document(existing)?;
            if after.id != before.id {
                return Err(RecordError::Shape("record id and kind never change".into()));
            }
            after.validate_as(today, Check::Structure)?;
            check_history(&before, &after)?;
            Ok(after)
        }
    }
}

/// Checks that `after` keeps every clinical fact of `before`: no visit is removed, and a
/// visit's content never changes except to gain an `entered_in_error` mark.
pub fn check_history(before: &Record, after: &Record) -> Result<(), RecordError> {
    if let (RecordBody::Audit(b), RecordBody::Audit(a)) = (&before.body, &after.body) {
        return check_audit_history(b, a).map_err(RecordError::History);
    }
    if let (RecordBody::Submission(b), RecordBody::Submission(a)) = (&before.body, &after.body) {
        if b.patient != a.patient || b.submitter != a.submitter {
            return Err(RecordError::History(
                "a submission ledger's patient and submitter never change".into(),
            ));
        }
        // What was sent stays known: an entry is never dropped.
        if let Some(key) = b.visits.keys().find(|k| !a.visits.contains_key(*k)) {
            return Err(RecordError::History(format!(
                "the submission of visit {key} was removed from the ledger"
            )));
        }
    }
    let (RecordBody::Patient(b), RecordBody::Patient(a)) = (&before.body, &after.body) else {
        return Ok(());
    };
    for (id, old) in &b.visits {
        let Some(new) = a.visits.get(id) else {
            return Err(RecordError::History(format!("visit {id} was removed")));
        };
        // Two nodes may mark the same visit concurrently; either mark may win the merge,
        // but a marked visit never becomes unmarked.
        if old.entered_in_error.is_some() && new.entered_in_error.is_none() {
            return Err(RecordError::History(format!(
                "visit {id}: entered-in-error mark removed"
            )));
        }
        // Apart from the mark, the visit must be exactly what it was.
        let content_unchanged = Visit {
            entered_in_error: old.entered_in_error.clone(),
            ..new.clone()
        } == *old;
        if !content_unchanged {
            return Err(RecordError::History(format!(
                "visit {id} was rewritten; correct it with a new visit that supersedes it"
            )));
        }
    }
    Ok(())
}

/// The time of a document's latest change as its writers recorded it (Unix seconds): the
/// largest timestamp among its heads. Equal documents give equal times on every node, so
/// the reconciliation index can order records by it and keep recent changes together.
pub fn content_time(doc: &Automerge) -> u64 {
    doc.get_heads()
        .iter()
        .filter_map(|h| doc.get_change_meta_by_hash(h))
        .map(|m| m.timestamp.max(0) as u64)
        .max()
        .unwrap_or(0)
}

/// A digest of a document's heads: equal digests mean equal documents.
///
/// SHA-256 over the heads sorted bytewise and concatenated.
pub fn heads_digest(heads: &[ChangeHash]) -> [u8; 32] {
    let mut sorted: Vec<&ChangeHash> = heads.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for h in sorted {
        hasher.update(h.0);
    }
    hasher.finalize().into()
}

/// The Automerge actor id a node writes with: its facility path, `#`, and eight hex
/// digits that tell installations of the same facility apart. Anyone reading a
/// document's history can tell which facility wrote each change.
pub fn node_actor(path: &FacilityPath, instance: [u8; 4]) -> ActorId {
    ActorId::from(format!("{path}#{}", hex::encode(instance)).into_bytes())
}

/// The facility that wrote with `actor`, when the actor is one of ours.
pub fn actor_facility(actor: &ActorId) -> Option<FacilityPath> {
    let text = std::str::from_utf8(actor.to_bytes()).ok()?;
    let (path, _) = text.rsplit_once('#')?;
    FacilityPath::parse(path).ok()
}
