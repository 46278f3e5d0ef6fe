//! Errors: bad trust material, and changes refused at admission.

use simpul_model::{FacilityPath, RecordError, RecordId};

use crate::key::KeyId;

/// Why a certificate, revocation list, key or seal was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The bytes do not parse as what they should be.
    #[error("{what} does not parse: {reason}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// Not issued (signed) by this district's CA.
    #[error("{what} was not issued by the district CA ({reason})")]
    NotIssued {
        /// Certificate or revocation list.
        what: &'static str,
        /// Why not.
        reason: String,
    },
    /// A node certificate that names no facility of the district.
    #[error("certificate names no facility of district {district}: {reason}")]
    NoFacility {
        /// The CA's district.
        district: String,
        /// Why.
        reason: String,
    },
    /// A key of an algorithm nodes do not use.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// A private key that does not match its certificate.
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    /// A revocation list without a CRL number (lists are ordered by it).
    #[error("revocation list has no CRL number")]
    NoCrlNumber,
}

/// Why changes from a peer were refused. Nothing of what was refused is stored.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The record does not read or validate, or it would lose a clinical fact.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A change by an actor that names no facility of ours.
    #[error("record {id}: change {change} is by {actor:?}, which names no simpul node")]
    ForeignActor {
        /// The record.
        id: RecordId,
        /// The change (hex).
        change: String,
        /// The actor, as text where it is text.
        actor: String,
    },
    /// A new change no valid seal covers.
    #[error("record {id}: change {change} by {author} is not signed by its author{}",
        if *legacy { " (history from before seals, with no endorsement that counts)" } else { "" })]
    Unsigned {
        /// The record.
        id: RecordId,
        /// The change (hex).
        change: String,
        /// The facility its actor names.
        author: FacilityPath,
        /// The actor is unbound (written before seals): an honest node may relay it with
        /// an endorsement this node does not count.
        legacy: bool,
    },
    /// A change whose only signature is by a revoked key.
    #[error("record {id}: change {change} is signed only by key {key}, which is revoked")]
    Revoked {
        /// The record.
        id: RecordId,
        /// The change (hex).
        change: String,
        /// The revoked key.
        key: KeyId,
    },
    /// A seal whose signature does not verify, or whose key is unknown.
    #[error("record {id}: a seal by key {key} {reason}")]
    BadSeal {
        /// The record.
        id: RecordId,
        /// The key it names.
        key: KeyId,
        /// What is wrong.
        reason: String,
    },
    /// A second creation for a record (a fresh document sent for an existing id).
    #[error("record {id}: a second creation (a change with no dependencies) is refused")]
    SecondCreation {
        /// The record.
        id: RecordId,
    },
    /// A change its author may not make where it was made.
    #[error("record {id}: {author} may not {what}")]
    NotAuthorised {
        /// The record.
        id: RecordId,
        /// Who tried.
        author: FacilityPath,
        /// What it tried (e.g. "write a record of 3273/…", "move a record to …").
        what: String,
    },
    /// The merged record is not one this node should hold, or not one the sender should.
    #[error("record {id}: {reason}")]
    OutOfScope {
        /// The record.
        id: RecordId,
        /// Which rule.
        reason: String,
    },
    /// History from before seals (an unbound actor's change) that no endorsement here may
    /// vouch for. An honest node may hold and send it; it is refused, not held against it.
    #[error("record {id}: history from before seals, change {change}: {reason}")]
    Unvouched {
        /// The record.
        id: RecordId,
        /// The change (hex).
        change: String,
        /// Why no endorser may vouch for it.
        reason: String,
    },
    /// More seals than one record carries (many concurrent seals of one key: a flood).
    #[error("record {id}: {seals} seals, more than a record carries ({max})", max = crate::seal::MAX_SEALS)]
    TooManySeals {
        /// The record.
        id: RecordId,
        /// How many it would have.
        seals: usize,
    },
    /// A change that claims more operations than the document could have had before it
    /// (an op counter chosen to win every conflict or to overflow).
    #[error("record {id}: change {change} starts at op {start_op}, beyond its history")]
    OpCounter {
        /// The record.
        id: RecordId,
        /// The change (hex).
        change: String,
        /// Its claimed first op.
        start_op: u64,
    },
}

impl Refusal {
    /// True when an honest node could not have sent this: a seal that does not verify, a
    /// change not signed by its key-bound author, a change its author may not make (a
    /// record created under an id bound to another key among them), an actor that names
    /// no node, an op counter beyond its history, a flood of seals. Every
    /// honest node judges a change the same way (by the change and its own history), so
    /// it never relays one of these; the session with a peer that sends one is closed.
    /// A record that fails validation, a revoked author, unendorsed history from before
    /// seals, or a second creation of an unbound id (a record imported at two nodes) can
    /// come from an honest peer, and is only refused.
    pub fn is_hostile(&self) -> bool {
        match self {
            Refusal::BadSeal { .. }
            | Refusal::NotAuthorised { .. }
            | Refusal::ForeignActor { .. }
            | Refusal::OpCounter { .. }
            | Refusal::TooManySeals { .. } => true,
            Refusal::Unsigned { legacy, .. } => !legacy,
            Refusal::Record(_)
            | Refusal::SecondCreation { .. }
            | Refusal::Revoked { .. }
            | Refusal::OutOfScope { .. }
            | Refusal::Unvouched { .. } => false,
        }
    }
}
