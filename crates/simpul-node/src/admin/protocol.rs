//! What the CLI and a running node say to each other over the admin socket: one JSON
//! object per line each way, a [`Request`] answered by exactly one [`Answer`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use simpul_model::history::{ChangeEntry, Conflict};
use simpul_model::{
    Date, ErrorMark, FacilityEntry, FacilityPath, Record, RecordId, Sex, Visit, VisitId,
};
use simpul_model::{FieldError, Role};
use simpul_store::{Census, RecordMeta, TokenInfo, VerifyReport};

pub use super::queries::{AuditQuery, AuditRow, DueQuery, DuplicateView, PersonRow, SearchQuery};

use crate::board::{PeerStatus, SessionRecord};

/// The largest request line a node reads (an imported document, hex encoded, is the
/// largest thing a request carries).
pub const MAX_LINE_BYTES: usize = 40 << 20;

/// The most rows one page of a list holds: a request for more is refused, naming the
/// limit, so that no question makes the node read without bound.
pub const MAX_PAGE: u32 = 1_000;

/// The rows of a page when the request names no limit.
pub const DEFAULT_PAGE: u32 = 100;

/// One command for the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Store a new record written at this node.
    Insert {
        /// The record.
        record: Record,
        /// Store values outside the plausible ranges: the writer has checked them.
        #[serde(default)]
        confirm_implausible: bool,
    },
    /// Add a visit to a patient.
    AddVisit {
        /// The patient.
        id: RecordId,
        /// The new visit's id.
        visit_id: VisitId,
        /// The visit.
        visit: Visit,
        /// Store values outside the plausible ranges: the writer has checked them.
        #[serde(default)]
        confirm_implausible: bool,
    },
    /// Mark a visit as entered in error (kept, no longer counted). Marking twice keeps
    /// the first mark.
    MarkError {
        /// The patient.
        id: RecordId,
        /// The visit.
        visit_id: VisitId,
        /// Why, by whom, when.
        mark: ErrorMark,
    },
    /// Correct a patient's details (each given field replaces the stored one).
    UpdatePatient {
        /// The patient.
        id: RecordId,
        /// The new values.
        edit: PatientEdit,
    },
    /// A record with its history: who changed what, when.
    History {
        /// The record.
        id: RecordId,
    },
    /// Records whose fields hold competing values from concurrent writes: one record,
    /// or a page of those listed with competing values, in id order.
    Conflicts {
        /// One record, or a page of every record.
        id: Option<RecordId>,
        /// Start after this record (the `next` of the page before).
        #[serde(default)]
        after: Option<RecordId>,
        /// Most records in the page: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Settle a conflict on one value.
    Settle {
        /// The record.
        id: RecordId,
        /// The field, as `simpul conflicts` names it (`patient.name`).
        field: String,
        /// The value to keep.
        value: String,
        /// One of the competing values (the default), or (said so) a new one.
        #[serde(default)]
        settlement: simpul_model::history::Settlement,
    },
    /// Check every record and the index.
    Verify,
    /// Write a consistent copy of the store to a new file.
    Backup {
        /// The file (absolute: the node's working directory is not the caller's).
        out: std::path::PathBuf,
    },
    /// Merge a whole Automerge document from outside (an import).
    Import {
        /// The document, hex encoded.
        document: String,
    },
    /// Read one record.
    Get {
        /// The record.
        id: RecordId,
    },
    /// Read one record as its Automerge document.
    Export {
        /// The record.
        id: RecordId,
    },
    /// A page of the people this node holds, in id order.
    List {
        /// Start after this record (the `next` of the page before); from the first
        /// without one.
        #[serde(default)]
        after: Option<RecordId>,
        /// Most rows in the page: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Who the node is.
    Node,
    /// The node, its store, and every peer (peers only from a running node).
    Status,
    /// Take in the district's revocation list (kept if newer than the one held; a running
    /// node puts it in force at once and passes it to every peer it syncs with).
    AddRevocations {
        /// The list, PEM (`crl.pem` from `simpul ca revoke`).
        pem: String,
    },
    /// Make a bundle for `peer` (sync without a link), written to `out` (and
    /// `out`'s siblings when split).
    BundleCreate {
        /// The addressee.
        peer: FacilityPath,
        /// The file to write (absolute).
        out: PathBuf,
        /// The addressee's certificate (PEM or DER), when this node does not know it.
        #[serde(default)]
        peer_cert: Option<PathBuf>,
        /// Split into files of at most this many bytes.
        #[serde(default)]
        max_bytes: Option<u64>,
    },
    /// Apply bundle files in order; then, if asked, write the answer for their sender.
    BundleApply {
        /// The files (absolute).
        files: Vec<PathBuf>,
        /// Where to write the answer bundle.
        #[serde(default)]
        answer: Option<PathBuf>,
    },
    /// What a bundle holds, checked, nothing stored.
    BundleShow {
        /// The file (absolute).
        file: PathBuf,
    },
    /// Changes set aside as equivocating, newest first.
    Quarantine {
        /// At most this many.
        limit: usize,
    },
    /// The peers alone: cheap, for polling (running node only).
    Peers,
    /// The most recent sync sessions (running node only).
    Log,
    /// Reconcile now with every connected peer this node dials, or just `peer`.
    Sync {
        /// One peer, or all.
        peer: Option<FacilityPath>,
    },
    /// Patients matching every given term.
    Search {
        /// The terms.
        query: SearchQuery,
    },
    /// Under-fives of a facility due for a service in a month.
    Due {
        /// The facility and month.
        query: DueQuery,
    },
    /// People registered more than once (same NIK, or same mother's NIK, birth order
    /// and birth date; or probably: a name and village with a birth date close by, or
    /// a mother's child born the same day), not yet merged: a page of groups in key
    /// order.
    Duplicates {
        /// Start after this key (the `next` of the page before).
        #[serde(default)]
        after: Option<String>,
        /// Most groups in the page: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// Merge duplicate `from` into `into`: `from`'s visits are copied to `into` and
    /// `from` is marked `merged_into`; nothing is deleted.
    Merge {
        /// The duplicate.
        from: RecordId,
        /// The record that survives.
        into: RecordId,
    },
    /// Entries of the audit trail held here.
    Audit {
        /// Which entries.
        query: AuditQuery,
    },
    /// Issue a data API token (shown once, stored hashed).
    IssueToken {
        /// Who it is for.
        name: String,
        /// What it may do.
        role: Role,
        /// The holder's NIK, for a health worker (SATUSEHAT's Practitioner).
        #[serde(default)]
        nik: Option<String>,
    },
    /// Every data API token (without the tokens themselves).
    Tokens,
    /// Register a facility of the district, or replace its entry (the district only).
    SetFacility {
        /// The entry.
        entry: FacilityEntry,
    },
    /// The facility registry as this node holds it.
    Facilities,
    /// The SATUSEHAT submission ledgers this node holds (its own, and those that
    /// travelled up from below).
    Submissions,
    /// Send visits again: every refused or waiting one (or only `visit`), and with
    /// `resend` sent ones too. Only at the node that submits.
    RetrySubmissions {
        /// One visit id, else all.
        visit: Option<String>,
        /// Sent visits too.
        resend: bool,
    },
    /// Write every patient record as FHIR R4 NDJSON, one file per resource type.
    ExportFhir {
        /// A directory without NDJSON files in it (absolute: the node's working
        /// directory is not the caller's).
        out: std::path::PathBuf,
    },
    /// The FHIR R4 resources of one type of a page of patients, as NDJSON text.
    Fhir {
        /// `Patient`, `RelatedPerson`, `Encounter`, `Observation` or `Immunization`.
        resource_type: String,
        /// Patients after this record id (the `next` of the page before).
        #[serde(default)]
        after: Option<RecordId>,
        /// Patients in the page: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The PWS summary of a month for the people at or below this node.
    Pws {
        /// `YYYY-MM`.
        month: String,
        /// One row per `posyandu` (home facility, the default), `village`, `pustu`,
        /// `puskesmas` or `district`.
        #[serde(default)]
        by: Option<String>,
        /// Services counted from January to the month, not the month alone.
        #[serde(default)]
        year_to_date: bool,
    },
    /// Revoke a data API token.
    RevokeToken {
        /// The token's id (`simpul token list`).
        id: String,
    },
}

/// The node's answer to one request: for a long one (verify, backup, FHIR export),
/// any number of [`Answer::Progress`] lines first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The request succeeded.
    Ok(Reply),
    /// It failed; nothing was stored.
    Err(Failure),
    /// It goes on: how far it has got.
    Progress(Progress),
}

/// How far a long request has got: `done` of `total` (records, rows or patients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Done so far.
    pub done: u64,
    /// All there is to do (as counted when it began).
    pub total: u64,
}

/// What a successful request returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// A write was stored durably.
    Written(Written),
    /// A record.
    Record(Box<StoredRecord>),
    /// The revocation list held after an `AddRevocations`.
    Revocations {
        /// The list held now.
        held: RevocationsView,
        /// True when the list given was newer and is now held.
        taken: bool,
    },
    /// Bundle files written.
    BundleCreated(BundleWritten),
    /// Bundles applied, and the answer written.
    BundleApplied {
        /// The files applied, in order.
        applied: Vec<simpul_bundle::Applied>,
        /// Files passed over: applied here before (each with why).
        #[serde(default)]
        skipped: Vec<String>,
        /// What stopped the rest (a file refused, or the answer not written), if
        /// anything did: the files before it stay applied.
        #[serde(default)]
        error: Option<String>,
        /// The answer, if one was asked for and written.
        answer: Option<BundleWritten>,
    },
    /// What a bundle holds.
    BundleShown(Box<simpul_bundle::Shown>),
    /// Changes set aside as equivocating.
    Quarantined {
        /// The newest, with their records.
        entries: Vec<(RecordId, simpul_store::QuarantineEntry)>,
        /// How many there are.
        total: u64,
    },
    /// A record's Automerge document.
    Document {
        /// The saved document, hex encoded.
        document: String,
    },
    /// Who the node is.
    Node(NodeSummary),
    /// A record, its heads and its history.
    History(Box<RecordHistory>),
    /// What verification found.
    Verified(VerifyReport),
    /// A backup was written.
    BackedUp {
        /// Records copied.
        records: u64,
        /// Size of the file.
        bytes: u64,
    },
    /// Records with conflicts.
    Conflicts {
        /// One entry per record with at least one conflict.
        records: Vec<RecordConflicts>,
        /// Where the next page starts (`after`), when there may be more.
        #[serde(default)]
        next: Option<RecordId>,
    },
    /// The node's status.
    Status(Box<NodeStatus>),
    /// Every peer's row.
    Peers {
        /// The rows.
        peers: Vec<PeerStatus>,
    },
    /// Recent sessions, oldest first.
    Log {
        /// The sessions.
        sessions: Vec<SessionRecord>,
    },
    /// A reconciliation was started with these peers.
    SyncStarted {
        /// The peers reconciling now.
        peers: Vec<FacilityPath>,
        /// When it was asked for (Unix ms): a peer's `last_sync_ms` past this means done.
        at_ms: u64,
    },
    /// A page of people, from their metadata.
    List {
        /// One row per record.
        rows: Vec<(RecordId, RecordMeta)>,
        /// Where the next page starts (`after`), when there may be more.
        next: Option<RecordId>,
    },
    /// People found.
    People {
        /// One row per person.
        people: Vec<PersonRow>,
        /// Where the next page starts (`after`), when there may be more.
        #[serde(default)]
        next: Option<RecordId>,
    },
    /// Groups of records of one person.
    Duplicates {
        /// One group per shared identifier.
        groups: Vec<DuplicateView>,
        /// Where the next page starts (`after`), when there may be more.
        #[serde(default)]
        next: Option<String>,
    },
    /// A merge was stored.
    Merged {
        /// The record that survives.
        survivor: RecordId,
        /// Visits copied to it.
        visits_moved: u32,
    },
    /// A page of audit entries, newest first.
    Audit {
        /// The entries.
        entries: Vec<AuditRow>,
        /// Where the next (older) page starts, when there may be more.
        next: Option<String>,
    },
    /// A new token: the only time it is shown.
    TokenIssued {
        /// The bearer token.
        token: String,
        /// What the node keeps of it.
        info: TokenInfo,
    },
    /// Every token issued.
    Tokens {
        /// Oldest first.
        tokens: Vec<TokenInfo>,
    },
    /// The facility registry, in path order.
    Facilities {
        /// Every entry held.
        entries: Vec<FacilityEntry>,
    },
    /// SATUSEHAT submission ledgers.
    Submissions {
        /// The ledgers (for a retry: those changed).
        ledgers: Vec<simpul_model::SubmissionLedger>,
    },
    /// A token was revoked.
    TokenRevoked(TokenInfo),
    /// A PWS summary.
    Pws(Box<PwsTable>),
    /// An export was written.
    ExportedFhir {
        /// Resources written, by type (in a stopped export, up to its checkpoint).
        counts: simpul_fhir::Counts,
        /// The export was stopped before the end (whoever asked went away): the same
        /// request goes on from where it stopped.
        #[serde(default)]
        stopped: bool,
    },
    /// FHIR resources of a page of patients as NDJSON.
    Fhir {
        /// One resource per line.
        ndjson: String,
        /// How many lines.
        count: u64,
        /// Where the next page of patients starts, when there may be more.
        next: Option<RecordId>,
    },
}

/// A PWS summary ready to show: the same cells as a table, CSV and JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PwsTable {
    /// Column names.
    pub columns: Vec<String>,
    /// One row per group, then the total.
    pub rows: Vec<Vec<String>>,
    /// The CSV text.
    pub csv: String,
    /// The summary as JSON (counts as numbers).
    pub json: serde_json::Value,
}

/// Who is asking, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// A token's holder, or the console user (`uid 1000`).
    pub who: String,
    /// A health worker's NIK, from their token.
    #[serde(default)]
    pub nik: Option<String>,
    /// Their role.
    pub role: Role,
    /// `api` or `cli`.
    pub via: Via,
}

/// The way a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The HTTP data API.
    Api,
    /// The CLI (admin socket or the store directly).
    Cli,
}

impl Via {
    /// As written in audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Cli => "cli",
        }
    }
}

impl Caller {
    /// The person at this machine's console: the user the process runs as.
    pub fn console() -> Self {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
        Self {
            who: format!("uid {uid}"),
            nik: None,
            role: Role::Technician,
            via: Via::Cli,
        }
    }
}

/// A record as the node stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Its metadata.
    pub meta: RecordMeta,
    /// Its content.
    pub record: Record,
}

/// Who a node is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeSummary {
    /// Its facility.
    pub path: FacilityPath,
    /// Its Automerge actor id (`<path>#<instance>`).
    pub actor: String,
}

/// Corrections to a patient's details; an absent field is left as it is. `died_on`
/// and `moved_out_on` given as null clear the date (a death recorded in error, a
/// family come back).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientEdit {
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// NIK (checked against sex and birth date again).
    #[serde(default)]
    pub nik: Option<String>,
    /// Family card number.
    #[serde(default)]
    pub kk: Option<String>,
    /// BPJS number.
    #[serde(default)]
    pub bpjs: Option<String>,
    /// Village code.
    #[serde(default)]
    pub village: Option<String>,
    /// RT.
    #[serde(default)]
    pub rt: Option<String>,
    /// RW.
    #[serde(default)]
    pub rw: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// Sex (the NIK is checked against it again).
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Date of birth (the NIK is checked against it again).
    #[serde(default)]
    pub birth_date: Option<Date>,
    /// The birth date is an estimate.
    #[serde(default)]
    pub birth_date_estimated: Option<bool>,
    /// The mother's NIK, for a child registered by it.
    #[serde(default)]
    pub nik_ibu: Option<String>,
    /// Birth order with `nik_ibu`.
    #[serde(default)]
    pub birth_order: Option<u32>,
    /// The mother's record.
    #[serde(default)]
    pub mother: Option<RecordId>,
    /// The facility the person is registered at: moves the record, which only a
    /// facility above both the old and the new one may do.
    #[serde(default)]
    pub home_facility: Option<FacilityPath>,
    /// Holds a KIA book or KMS.
    #[serde(default)]
    pub kia_book: Option<bool>,
    /// The day the person died; null clears it.
    #[serde(default, deserialize_with = "present")]
    pub died_on: Option<Option<Date>>,
    /// The day the person moved out; null clears it.
    #[serde(default, deserialize_with = "present")]
    pub moved_out_on: Option<Option<Date>>,
    /// Keep a NIK that disagrees with sex or birth date (the card says so).
    #[serde(default)]
    pub confirm_nik_mismatch: bool,
    /// Keep a date outside the plausible range (the writer has checked it).
    #[serde(default)]
    pub confirm_implausible: bool,
}

/// A field that is present, even as null (`Some(None)`); absent is `None` by default.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A record with its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordHistory {
    /// The record as stored.
    pub stored: StoredRecord,
    /// Its heads (hex).
    pub heads: Vec<String>,
    /// Every change, oldest first.
    pub changes: Vec<ChangeEntry>,
    /// Fields with competing values.
    pub conflicts: Vec<Conflict>,
}

/// The conflicts of one record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordConflicts {
    /// The record.
    pub id: RecordId,
    /// Its label (a patient's name).
    pub label: String,
    /// Its conflicting fields.
    pub conflicts: Vec<Conflict>,
}

/// What `simpul status` shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's facility.
    pub path: FacilityPath,
    /// Its level and code, e.g. "pustu 3273010201-PU1".
    pub name: String,
    /// This simpul's version.
    pub version: String,
    /// True when a node process answered; false when the CLI read a stopped node's store.
    pub running: bool,
    /// When the node started (Unix ms), if running.
    pub started_ms: Option<u64>,
    /// The time of this answer (Unix ms).
    pub now_ms: u64,
    /// The store file and its size.
    pub store_file: String,
    /// Bytes.
    pub store_bytes: u64,
    /// Records by kind and facility.
    pub records: Census,
    /// One row per peer (empty when not running).
    pub peers: Vec<PeerStatus>,
    /// Keys, seals and revocations.
    pub trust: TrustStatus,
    /// Records whose stored bytes failed their check, left out of sync (oldest first).
    #[serde(default)]
    pub damaged: Vec<(RecordId, simpul_store::DamagedEntry)>,
    /// Every facility below this one that it has heard from or that the registry names,
    /// with the newest change of it held here (None: none yet), stalest first. Peers
    /// this node never dials show their freshness here.
    #[serde(default)]
    pub descendants: Vec<FacilityHeard>,
    /// Per peer this node exchanged bundles with: when, and what is still pending.
    #[serde(default)]
    pub bundles: Vec<BundlePeer>,
}

/// Bundle files a node wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleWritten {
    /// For whom.
    pub peer: FacilityPath,
    /// The files, in part order.
    pub files: Vec<PathBuf>,
    /// Their total size.
    pub bytes: u64,
    /// Records carried.
    pub records: usize,
    /// Their stored size.
    pub stored_bytes: u64,
    /// The summary's size (in each file).
    pub summary_bytes: usize,
    /// How the records were chosen: exact (from the peer's summary), ranges, since-sync,
    /// everything.
    pub basis: String,
}

/// Bundles exchanged with one peer, as `status` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundlePeer {
    /// The peer.
    pub path: FacilityPath,
    /// When this node last made a bundle for it (Unix ms).
    pub last_created_ms: Option<u64>,
    /// When it last applied one from it (Unix ms).
    pub last_applied_ms: Option<u64>,
    /// Records it lacks as far as this node knows (what the next bundle would carry).
    pub pending: u64,
    /// How that was worked out (exact, ranges, since-sync, everything).
    pub basis: String,
}

/// How fresh what a node holds of one facility below it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacilityHeard {
    /// The facility.
    pub path: FacilityPath,
    /// The newest change it wrote that is held here, and when it arrived; None when
    /// nothing of it is held (the registry names it, no change of it has come).
    pub heard: Option<simpul_store::Heard>,
}

/// What a node's status says about trust.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustStatus {
    /// The id of the key the node seals with (hex), once its certificate is bound.
    pub key: Option<String>,
    /// The actor it writes with.
    pub actor: String,
    /// The district revocation list held, if any.
    pub revocations: Option<RevocationsView>,
    /// Changes set aside as equivocating (two changes with one actor and sequence number).
    pub quarantined: u64,
    /// The newest of them.
    pub recent_quarantine: Vec<(RecordId, simpul_store::QuarantineEntry)>,
    /// Records waiting for the node's seal (sealed when the node starts).
    pub pending_seals: u64,
}

/// A revocation list, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationsView {
    /// Its CRL number.
    pub number: u64,
    /// When it was issued (Unix seconds).
    pub issued: i64,
    /// When the district promised the next (Unix seconds): past it, the list is stale (a
    /// node that never hears of a newer list may be cut off from the district).
    pub next_update: Option<i64>,
    /// Serial numbers of revoked certificates (hex).
    pub revoked: Vec<String>,
}

impl RevocationsView {
    /// The view of a list.
    pub fn of(list: &simpul_trust::Revocations) -> Self {
        Self {
            number: list.number,
            issued: list.this_update,
            next_update: list.next_update,
            revoked: list.serials.iter().map(hex::encode).collect(),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Written {
    /// The record written.
    pub id: RecordId,
    /// True when the record was new to the node.
    pub created: bool,
    /// False when the node already had everything the write carried.
    pub changed: bool,
}

/// Why a request failed.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What kind of failure, for exit codes.
    pub kind: FailureKind,
    /// What went wrong, for people.
    pub message: String,
    /// For refused values: one entry per rejected field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// The kinds of failure a caller can act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The data was refused (invalid, out of scope, would rewrite history).
    Rejected,
    /// No such record.
    NotFound,
    /// The request itself was malformed.
    BadRequest,
    /// The request needs a running node, and none is running.
    NotRunning,
    /// The store failed (a full or failing disk): nothing was done, and a running node
    /// stops so that it is started again on a store opened afresh.
    StoreFailed,
    /// Anything else.
    Failed,
}

impl Failure {
    /// A failure of `kind` saying `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            fields: Vec::new(),
        }
    }
}
