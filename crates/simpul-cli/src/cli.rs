//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// simpul: the sync node of Integrasi Layanan Primer.
///
/// Holds patient and activity records of a facility (posyandu, pustu, puskesmas or
/// district health office) and replicates them to the facilities that should hold them.
#[derive(Debug, Parser)]
#[command(name = "simpul", version, after_help = crate::exit::HELP)]
pub(crate) struct Cli {
    /// The node's data directory (holds simpul.redb).
    #[arg(long, global = true, env = "SIMPUL_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the node: listen for peers, dial the configured ones, sync until SIGTERM.
    Run {
        /// The node's configuration file (see node-config/README.md).
        #[arg(long)]
        config: PathBuf,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Check a node end to end and say what to fix: its config, certificate (facility,
    /// issuer, expiry) and key, store, disk space, each peer's reachability (a real
    /// handshake), and the clock against the changes peers sent. Exit status 1 when
    /// something must be fixed.
    Doctor {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// One JSON line per check.
        #[arg(long)]
        json: bool,
    },
    /// Create a node's store.
    Init {
        /// The node's facility path, e.g. 3273/P3273010201/3273010201-PU1/3273010201-PY04.
        #[arg(long)]
        path: String,
    },
    /// Register, inspect and list people.
    #[command(subcommand)]
    Patient(PatientCommand),
    /// Record visits.
    #[command(subcommand)]
    Visit(VisitCommand),
    /// Move records in and out as Automerge documents.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Fill the store with a realistic, deterministic ILP dataset.
    Gen(GenArgs),
    /// The district certificate authority: create it, issue node certificates.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Set up a new node: its key and a certificate request (the district signs it with
    /// `simpul ca sign`), then, with the certificate back, its config and store, checked
    /// end to end.
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// The node, its store, and every peer: connected or not, last sync, what is still
    /// to send and receive, last error.
    Status {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Refresh every N seconds until interrupted.
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
    },
    /// The peers alone, one row each (a running node only).
    Peers {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Reconcile now with the peers this node dials, showing progress until done.
    Sync {
        /// Only this peer (facility path).
        #[arg(long)]
        peer: Option<String>,
        /// Give up after this many seconds (exit 1).
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Fields where concurrent writes left competing values, with who wrote each.
    Conflicts {
        #[command(subcommand)]
        action: Option<ConflictsCommand>,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Check the store: every record loads and agrees with its metadata, the index matches,
    /// every record belongs here. Exit 7 when anything is damaged.
    Verify {
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite the store file without its free space (the node must be stopped).
    Compact,
    /// Write a consistent copy of the store to a new file, also while the node runs.
    Backup {
        /// The backup file (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the store with a backup (the node must be stopped). The backup is verified
    /// first; the replaced file is kept as simpul.redb.before-restore.
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Restore a backup of another facility.
        #[arg(long)]
        force: bool,
    },
    /// Recent sync sessions: when, with whom, what moved, how long, how they ended.
    Log {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Data API tokens for facility apps: issue, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// People registered more than once (same NIK, or same mother's NIK, birth order and
    /// birth date), not yet merged.
    Duplicates {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Merge duplicate FROM into INTO: FROM's visits are carried over and FROM is marked
    /// merged into INTO. Nothing is deleted.
    Merge {
        /// The duplicate record.
        from: String,
        /// The record that survives.
        into: String,
    },
    /// The audit trail held here: who read, wrote, corrected, merged or exported what,
    /// when, at which node.
    Audit {
        /// Entries about this record.
        #[arg(long)]
        record: Option<String>,
        /// Entries by this person (exact name).
        #[arg(long)]
        who: Option<String>,
        /// Entries kept by this facility or below it.
        #[arg(long)]
        facility: Option<String>,
        /// From this day (YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// At most this many, the latest (1 to 10000).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
        /// Entries older than this place in the trail (what the page before said).
        #[arg(long)]
        after: Option<String>,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Reports drawn from the records.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Export the records held here in another format.
    #[command(subcommand)]
    Export(ExportCommand),
    /// The district's revocation list held here: take in a newer one, show it.
    #[command(subcommand)]
    Revocations(RevocationsCommand),
    /// The facility registry: the district registers its facilities and their SATUSEHAT
    /// ids; every node of the district holds the entries.
    #[command(subcommand)]
    Facility(FacilityCommand),
    /// What the SATUSEHAT bridge has sent of each visit, and sending again.
    #[command(subcommand)]
    Satusehat(SatusehatCommand),
    /// Keep an analytics database up to date with what this node holds.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Sync without a link: bundles a kader carries on a phone or USB stick, signed by
    /// this node and readable only by the facility they are for.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Changes set aside as equivocating: two different changes with one actor and
    /// sequence number (a forger, or a node restored from an old copy of its disk).
    Quarantine {
        /// At most this many, the newest.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RevocationsCommand {
    /// Take in a revocation list (crl.pem from `simpul ca revoke`): checked against the
    /// district CA and kept if newer than the one held. A running node refuses the
    /// revoked certificates at once, ends their sessions, and passes the list to every
    /// node it syncs with.
    Add {
        /// The list (PEM).
        file: PathBuf,
    },
    /// The list held here.
    Show {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BundleCommand {
    /// Write a bundle for a peer: what it should hold and, as far as this node knows,
    /// lacks, with a summary of what this node holds (its answer then carries exactly
    /// what this node lacks).
    Create {
        /// The node's configuration file (its key signs the bundle).
        #[arg(long)]
        config: PathBuf,
        /// The facility the bundle is for, e.g. the pustu.
        #[arg(long = "for")]
        peer: String,
        /// The file to write (more files beside it when split).
        #[arg(long)]
        out: PathBuf,
        /// The peer's certificate (node.crt), when this node has never synced with it.
        #[arg(long)]
        peer_cert: Option<PathBuf>,
        /// Split into files of at most this many bytes (at least 32768).
        #[arg(long)]
        max_bytes: Option<u64>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply bundles made for this node (each checked: sender, signature, addressee,
    /// age, every record as a live session checks it), and write the answer.
    Apply {
        /// The node's configuration file (its key opens the bundle).
        #[arg(long)]
        config: PathBuf,
        /// The bundle files, applied in order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Write the answer bundle for their sender here.
        #[arg(long)]
        answer: Option<PathBuf>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What a bundle holds, checked as apply checks it, without storing anything.
    Show {
        /// The node's configuration file (its key opens the bundle).
        #[arg(long)]
        config: PathBuf,
        /// The bundle file.
        file: PathBuf,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SatusehatCommand {
    /// Each facility's visits by submission status, then every visit not on the
    /// platform with what to fix.
    Status {
        /// One JSON line per visit instead.
        #[arg(long)]
        json: bool,
    },
    /// Send refused and waiting visits again (after fixing what they say).
    Retry {
        /// Only this visit.
        #[arg(long)]
        visit: Option<String>,
    },
    /// Send visits again even if sent (the platform answers with what it holds).
    Resend {
        /// Only this visit.
        #[arg(long)]
        visit: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EnrollCommand {
    /// Make the node's key and a certificate request for its facility, in DIR
    /// (node.key, owner-only, stays here; node.csr goes to the district).
    Request {
        /// The node's facility path.
        #[arg(long)]
        path: String,
        /// The node's directory (created).
        #[arg(long)]
        dir: PathBuf,
    },
    /// With the certificate back (DIR/node.crt) and the district's ca.crt: check they
    /// fit the key and each other, write the node's config (owner-only) and store, then
    /// check the node end to end (`simpul doctor`).
    Finish {
        /// The node's directory (node.key, node.crt).
        #[arg(long)]
        dir: PathBuf,
        /// The district CA's certificate (copied into DIR).
        #[arg(long)]
        ca_cert: PathBuf,
        /// UDP address to accept peers on, e.g. 0.0.0.0:7700.
        #[arg(long)]
        listen: String,
        /// A peer to dial, ADDRESS=FACILITY_PATH (repeatable; usually the parent).
        #[arg(long = "peer")]
        peers: Vec<String>,
        /// Where to write the config (default DIR/simpul.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum FacilityCommand {
    /// Register a facility, or replace its entry (at the district's node only). Ids left
    /// out are left out of the entry: give every id the facility has.
    Set {
        /// The facility's path (`3273/P3273010201/3273010201-PU1`).
        path: String,
        /// Its name, as people know it.
        #[arg(long)]
        name: String,
        /// Its Organization id on SATUSEHAT (a puskesmas or the district office).
        #[arg(long)]
        organization: Option<String>,
        /// Its Location id on SATUSEHAT (a puskesmas, pustu or posyandu).
        #[arg(long)]
        location: Option<String>,
        /// The NIK of the health worker responsible for it (a posyandu's bidan): who
        /// SATUSEHAT is told attended the visits a kader records there.
        #[arg(long)]
        practitioner_nik: Option<String>,
    },
    /// The registry as this node holds it.
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExportCommand {
    /// FHIR R4 NDJSON for SATUSEHAT: Patient, RelatedPerson, Encounter, Observation and
    /// Immunization files in DIR (existing NDJSON files there are never overwritten).
    Fhir {
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a token (printed once; the node keeps only its hash).
    Issue {
        /// kader (input), bidan (input + correct) or viewer (read).
        #[arg(long)]
        role: String,
        /// Who it is for.
        #[arg(long)]
        name: String,
        /// The holder's NIK, for a health worker: SATUSEHAT knows them by it
        /// (Practitioner), and the visits they record through the API name it.
        #[arg(long)]
        nik: Option<String>,
    },
    /// Every token issued (without the tokens).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id.
    Revoke {
        /// The id `simpul token list` shows.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ReportCommand {
    /// PWS (local area monitoring) of a month for everyone at or below this node, by
    /// the official definitions: SKDN with N/T by the buku KIA's minimum gain, BGM and
    /// 2T; stunting, wasting and underweight by age band; vitamin A; every dose in its
    /// target age, IDL, drop-out and UCI; adults screened (docs/growth.md).
    Pws {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// One row per posyandu (default), village, pustu, puskesmas or district.
        #[arg(long)]
        by: Option<String>,
        /// Count services from January to the month (SKDN stays of the month).
        #[arg(long)]
        year_to_date: bool,
        /// CSV instead of a table.
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Which page of a list to show.
#[derive(Debug, Args)]
pub(crate) struct PageArgs {
    /// Start after this key or record id (what the page before said to go on from).
    #[arg(long)]
    pub(crate) after: Option<String>,
    /// At most this many rows in the page (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub(crate) limit: u32,
    /// Every page, one after the other, instead of one page.
    #[arg(long, conflicts_with = "limit")]
    pub(crate) all: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConflictsCommand {
    /// Settle one field on one value (a new change every node accepts).
    Resolve {
        /// Record id.
        id: String,
        /// The field as `simpul conflicts` names it, e.g. patient.name.
        field: String,
        /// The value to keep: one of the competing values as `simpul conflicts` shows
        /// them.
        #[arg(long)]
        value: String,
        /// Settle on a value that is none of them (replacing all).
        #[arg(long)]
        new: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum CaCommand {
    /// Create a district CA (ca.crt, and ca.key readable by its owner only).
    Init {
        /// The district's Kemendagri kabupaten/kota code, e.g. 3273.
        #[arg(long)]
        district: String,
        /// Directory to write it to (created; existing key files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Days the CA is valid.
        #[arg(long, default_value_t = 3650)]
        days: i64,
    },
    /// Issue a node certificate carrying a facility path (node.crt, node.key).
    Issue {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The node's facility path.
        #[arg(long)]
        path: String,
        /// Directory to write it to.
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid (renew it before: `simpul ca renew`).
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Sign a new node's certificate request (`simpul enroll request` made it, with the
    /// node's key, which stays on the node): writes node.crt to hand back.
    Sign {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The request (node.csr).
        #[arg(long)]
        request: PathBuf,
        /// The facility the district means to enrol: the request must be for it.
        #[arg(long)]
        path: String,
        /// Directory to write node.crt to.
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Issue the data API's HTTPS certificate (api.crt, api.key) for the name or address
    /// the facility's apps reach the node at; they trust the district CA's ca.crt.
    IssueApi {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The host name or IP address, e.g. 192.168.1.10 or puskesmas.local.
        #[arg(long)]
        host: String,
        /// Directory to write it to (existing key files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke a node certificate (a stolen, lost or retired node): adds it to the
    /// district's revocation list and writes the new list to CA_DIR/crl.pem. Hand that
    /// file to any node (`simpul revocations add`); it spreads to every node that syncs.
    Revoke {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The certificate to revoke (node.crt).
        #[arg(long)]
        cert: PathBuf,
    },
    /// Issue a new key and certificate for the facility an existing certificate names
    /// (before it expires, or after revoking it for a replacement node).
    Renew {
        /// The CA directory.
        #[arg(long)]
        ca: PathBuf,
        /// The current certificate (node.crt).
        #[arg(long)]
        cert: PathBuf,
        /// Directory to write the new node.crt and node.key to.
        #[arg(long)]
        out: PathBuf,
        /// Days the new certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PatientCommand {
    /// Register a person; prints the new record's id.
    Add(Box<PatientAdd>),
    /// Show one person with their visits.
    Show {
        /// Record id.
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the people this node holds, a page at a time in id order.
    List {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Correct a person's details; only the fields given change.
    Update(Box<PatientUpdate>),
}

#[derive(Debug, Args)]
pub(crate) struct PatientUpdate {
    /// Record id.
    pub(crate) id: String,
    /// Full name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// NIK, 16 digits.
    #[arg(long)]
    pub(crate) nik: Option<String>,
    /// Family card (KK) number.
    #[arg(long)]
    pub(crate) kk: Option<String>,
    /// BPJS number.
    #[arg(long)]
    pub(crate) bpjs: Option<String>,
    /// Village (desa/kelurahan) code.
    #[arg(long)]
    pub(crate) village: Option<String>,
    /// RT.
    #[arg(long)]
    pub(crate) rt: Option<String>,
    /// RW.
    #[arg(long)]
    pub(crate) rw: Option<String>,
    /// Street address.
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// F or M (the NIK is checked against it again).
    #[arg(long)]
    pub(crate) sex: Option<String>,
    /// YYYY-MM-DD (the NIK is checked against it again).
    #[arg(long)]
    pub(crate) birth_date: Option<String>,
    /// Whether the birth date is an estimate (true or false).
    #[arg(long)]
    pub(crate) birth_date_estimated: Option<bool>,
    /// The mother's NIK, for a child registered by it.
    #[arg(long)]
    pub(crate) nik_ibu: Option<String>,
    /// Birth order with --nik-ibu.
    #[arg(long)]
    pub(crate) birth_order: Option<u32>,
    /// The mother's record id.
    #[arg(long)]
    pub(crate) mother: Option<String>,
    /// Move the person to another home facility (only a node above both may).
    #[arg(long)]
    pub(crate) facility: Option<String>,
    /// Whether the person holds a KIA book or KMS (true or false).
    #[arg(long)]
    pub(crate) kia_book: Option<bool>,
    /// The day the person died, YYYY-MM-DD.
    #[arg(long, conflicts_with = "alive")]
    pub(crate) died_on: Option<String>,
    /// Clear a death recorded in error.
    #[arg(long)]
    pub(crate) alive: bool,
    /// The day the person moved out of the area, YYYY-MM-DD.
    #[arg(long, conflicts_with = "moved_back")]
    pub(crate) moved_out_on: Option<String>,
    /// The person has come back: clear the moved-out date.
    #[arg(long)]
    pub(crate) moved_back: bool,
    /// Keep a NIK that disagrees with sex or birth date (as on the card).
    #[arg(long)]
    pub(crate) accept_nik_mismatch: bool,
    /// Store values outside the plausible ranges: you have checked them.
    #[arg(long)]
    pub(crate) confirm_implausible: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PatientAdd {
    /// NIK, 16 digits (omit for a newborn registered with --nik-ibu).
    #[arg(long)]
    pub(crate) nik: Option<String>,
    /// Full name.
    #[arg(long)]
    pub(crate) name: String,
    /// F or M.
    #[arg(long)]
    pub(crate) sex: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub(crate) birth_date: String,
    /// Kemendagri village code, 3273010001 or 32.73.01.0001.
    #[arg(long)]
    pub(crate) village: String,
    /// RT number.
    #[arg(long)]
    pub(crate) rt: Option<String>,
    /// RW number.
    #[arg(long)]
    pub(crate) rw: Option<String>,
    /// Street and house.
    #[arg(long)]
    pub(crate) address: Option<String>,
    /// The mother's NIK, for a newborn without one.
    #[arg(long)]
    pub(crate) nik_ibu: Option<String>,
    /// Birth order with --nik-ibu (2 for the second twin).
    #[arg(long)]
    pub(crate) birth_order: Option<u32>,
    /// Family card number.
    #[arg(long)]
    pub(crate) kk: Option<String>,
    /// BPJS card number.
    #[arg(long)]
    pub(crate) bpjs: Option<String>,
    /// The mother's record id.
    #[arg(long)]
    pub(crate) mother: Option<String>,
    /// The birth date is an estimate (the person does not know it).
    #[arg(long)]
    pub(crate) birth_date_estimated: bool,
    /// The person holds a KIA book or KMS card.
    #[arg(long)]
    pub(crate) kia_book: bool,
    /// Facility the person is registered at (default: this node).
    #[arg(long)]
    pub(crate) facility: Option<String>,
    /// Store the NIK even though it disagrees with sex or birth date (as on the card).
    #[arg(long)]
    pub(crate) accept_nik_mismatch: bool,
    /// Store values outside the plausible ranges: you have checked them.
    #[arg(long)]
    pub(crate) confirm_implausible: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum VisitCommand {
    /// Record a visit; prints the new visit's id.
    Add(Box<VisitAdd>),
    /// Mark a visit as entered in error (it is kept, but no longer counts).
    MarkError {
        /// Record id.
        record: String,
        /// Visit id.
        visit: String,
        /// Why it is wrong.
        #[arg(long)]
        reason: String,
        /// Who marks it.
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct VisitAdd {
    /// Record id of the person.
    pub(crate) record: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub(crate) date: String,
    /// Weight in kg.
    #[arg(long)]
    pub(crate) weight_kg: Option<f64>,
    /// Standing height in cm.
    #[arg(long)]
    pub(crate) height_cm: Option<f64>,
    /// Lying length in cm (under 24 months).
    #[arg(long)]
    pub(crate) length_cm: Option<f64>,
    /// Head circumference in cm.
    #[arg(long)]
    pub(crate) head_cm: Option<f64>,
    /// Mid-upper-arm circumference (LiLA) in cm.
    #[arg(long)]
    pub(crate) muac_cm: Option<f64>,
    /// Bilateral pitting oedema found (a child's sign of severe malnutrition).
    #[arg(long)]
    pub(crate) oedema: bool,
    /// Waist circumference in cm.
    #[arg(long)]
    pub(crate) waist_cm: Option<f64>,
    /// Blood pressure, SYSTOLIC/DIASTOLIC in mmHg, e.g. 120/80.
    #[arg(long)]
    pub(crate) bp: Option<String>,
    /// Blood glucose in mg/dL.
    #[arg(long)]
    pub(crate) glucose: Option<f64>,
    /// Haemoglobin in g/dL.
    #[arg(long)]
    pub(crate) hb: Option<f64>,
    /// Immunisation ANTIGEN:DOSE[:LOT], e.g. DPT-HB-Hib:1:A123 (repeatable).
    #[arg(long = "immunisation")]
    pub(crate) immunisations: Vec<String>,
    /// Vitamin A capsule given.
    #[arg(long)]
    pub(crate) vitamin_a: bool,
    /// Screening INSTRUMENT:SCORE:RESULT, e.g. srq-20:4:normal (repeatable).
    #[arg(long = "screening")]
    pub(crate) screenings: Vec<String>,
    /// ANC contact number (1 for K1).
    #[arg(long)]
    pub(crate) anc: Option<u32>,
    /// Gestational age in weeks.
    #[arg(long)]
    pub(crate) gestational_weeks: Option<u32>,
    /// A diagnosis as an ICD-10 code, e.g. A15.0 (repeatable, most important first).
    #[arg(long = "diagnosis")]
    pub(crate) diagnoses: Vec<String>,
    /// ILP cluster.
    #[arg(long, default_value = "ibu-anak")]
    pub(crate) klaster: String,
    /// posyandu, pustu, puskesmas or home-visit.
    #[arg(long, default_value = "posyandu")]
    pub(crate) setting: String,
    /// Who recorded it.
    #[arg(long, default_value = "cli")]
    pub(crate) by: String,
    /// Facility that recorded it (default: this node).
    #[arg(long)]
    pub(crate) facility: Option<String>,
    /// Free-text note.
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// The visit this one corrects (that visit is kept, but no longer counts).
    #[arg(long)]
    pub(crate) corrects: Option<String>,
    /// Copied from the KIA book, not seen or given here (kept as history, not counted
    /// as a service of the month).
    #[arg(long)]
    pub(crate) transcribed: bool,
    /// Store values outside the plausible ranges: you have checked them.
    #[arg(long)]
    pub(crate) confirm_implausible: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DocCommand {
    /// Write a record as a standard Automerge document (`Automerge::save` bytes).
    Export {
        /// Record id.
        id: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Take in an Automerge document made anywhere; it is validated like any input and
    /// merged with the stored record if there is one.
    Import {
        /// Input file.
        file: PathBuf,
    },
    /// A record's current state, scope and heads, and who changed what and when.
    Show {
        /// Record id.
        id: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every change of a record, oldest first: facility, time, fields.
    History {
        /// Record id.
        id: String,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct GenArgs {
    /// Seed: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Number of people.
    #[arg(long)]
    pub(crate) patients: u64,
    /// Date the histories end (default 2026-10-31, fixed so that a seed always gives
    /// the same records).
    #[arg(long)]
    pub(crate) as_of: Option<String>,
    /// Skip the posyandu opening-day activity records.
    #[arg(long)]
    pub(crate) no_activities: bool,
    /// Also a year (or this many days) of audit records: one per pustu per day, with
    /// four entries about people of the district (0: none).
    #[arg(long, default_value_t = 0)]
    pub(crate) audit_days: u32,
    /// The node's certificate directory (node.crt, node.key): the records are written
    /// and sealed by the node, as it would write them, with ids bound to its key.
    /// Without it they are written as their posyandu wrote them before keys existed,
    /// and the node endorses them when it next starts.
    #[arg(long, requires = "ca")]
    pub(crate) identity: Option<PathBuf>,
    /// The district CA certificate (ca.crt), with --identity.
    #[arg(long)]
    pub(crate) ca: Option<PathBuf>,
    /// The district CA's directory (ca.crt, ca.key), with --identity: each record is then
    /// written as the facilities that saw the person wrote it, every one with its own key
    /// issued here in memory (the home posyandu registers, the pustu and puskesmas add
    /// the visits they made), sealed, and taken in as a peer's records are.
    #[arg(long, requires = "identity")]
    pub(crate) authors_ca: Option<PathBuf>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FeedCommand {
    /// Feed a PostgreSQL database (tables in docs/feed.md) from where it last got to,
    /// on a stopped node (a running node feeds from its config's [feed.postgres]).
    Postgres {
        /// A libpq connection string or postgresql:// URL (from the environment keeps a
        /// password out of the process list).
        #[arg(long, env = "SIMPUL_FEED_URL", hide_env_values = true)]
        url: simpul_feed::ConnectionUrl,
        /// Records per PostgreSQL transaction.
        #[arg(long, default_value_t = simpul_feed::DEFAULT_BATCH)]
        batch: usize,
        /// Go on feeding new changes until interrupted (Ctrl-C).
        #[arg(long)]
        follow: bool,
        /// With --follow: seconds between looks for new changes.
        #[arg(long, default_value_t = 2)]
        every: u64,
    },
}
