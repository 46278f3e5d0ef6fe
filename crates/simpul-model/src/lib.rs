//! ILP records: patients with their visits, and activities; their validation; and how
//! each maps onto one Automerge document.
//!
//! This crate owns the meaning of a record. It does no IO: no files, no sockets, no
//! clock and no randomness. Today's date, timestamps and random identifiers are passed
//! in by the caller, so the same code runs in the daemon and in the simulator.
//!
//! - [`Patient`], [`Visit`], [`Activity`]: record content, mapped field by field onto
//!   Automerge with autosurgeon ([`record`]).
//! - [`Scope`]: which facilities hold a record.
//! - [`validate`]: every rule a value must meet before it is written.
//! - [`FacilityPath`], [`Nik`], [`VillageCode`]: identifiers of the Indonesian health system.

pub mod activity;
pub mod audit;
pub mod codes;
pub mod date;
pub mod facility;
pub mod growth;
pub mod history;
pub mod ids;
pub mod inflation;
pub mod nik;
mod number;
pub mod patient;
pub mod pws;
mod read;
pub mod record;
pub mod registry;
pub mod scope;
pub mod scope_doc;
mod string_enum;
pub mod submission;
pub mod validate;
pub mod visit;

pub use activity::{Activity, ActivityKind};
pub use audit::{AuditAction, AuditEntry, AuditLog, Permission, Role};
pub use codes::VillageCode;
pub use date::Date;
pub use facility::{BadFacilityPath, FacilityPath, Level};
pub use ids::{BOUND_MARK, BadId, RecordId, VisitId};
pub use nik::Nik;
pub use patient::{Address, Identifiers, Patient, Sex, is_candidate_key, is_identity_key};
pub use pws::{BadMonth, Month, PwsReport, PwsRow};
pub use record::{
    Envelope, Incoming, RECORD_SCHEMA, Record, RecordBody, RecordError, RecordKind, actor_facility,
    check_history, content_time, heads_digest, merge_incoming, node_actor,
};
pub use registry::{FacilityEntry, PlatformIds};
pub use scope::{Audience, Scope};
pub use string_enum::UnknownValue;
pub use submission::{Submission, SubmissionLedger, SubmissionStatus};
pub use validate::{FieldError, ValidationErrors};
pub use visit::{
    Antigen, ErrorMark, Immunisation, Instrument, Klaster, Measurements, Screening,
    ScreeningResult, Setting, Visit,
};

pub use automerge;
