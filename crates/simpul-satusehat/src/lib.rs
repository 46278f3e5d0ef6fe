//! The SATUSEHAT bridge: what a node needs to talk to the Ministry of Health's FHIR R4
//! platform (docs/satusehat.md).
//!
//! - [`PlatformConfig`]: where the platform is and the node's client credentials (kept
//!   in the node's owner-only config; the secret never reaches a log or a record).
//! - [`Platform`]: an OAuth2 client-credentials session (a token cached until shortly
//!   before it expires) and the requests the bridge makes, each retried with backoff on
//!   a rate limit, a 5xx or a dropped connection, and answered with a
//!   [`PlatformError`] that says what the platform objected to.
//! - [`match_round`]: gives the patients a node holds their IHS number.
//! - [`submit_round`]: sends their visits, each as one transaction Bundle, and keeps
//!   the submission ledger.

mod client;
mod config;
mod error;
mod matching;
mod patients;
#[cfg(feature = "standin")]
pub mod standin;
pub mod submission;

pub use client::{Platform, RetryPolicy};
pub use config::{PlatformConfig, Secret};
pub use error::{PlatformError, RoundError};
pub use matching::{MatchReport, match_round};
pub use patients::{Newborn, PatientMatch};
pub use submission::{SubmissionCodes, SubmitReport, submit_round};
