//! The simpul sync protocol, without IO: what two nodes say to each other and what
//! each decides from it.
//!
//! This crate owns the wire format ([`message`]), the scope rules between two peers
//! ([`rules`]), range-based set reconciliation of records ([`item`], over the
//! `negentropy` crate) and the session state machine ([`Session`]). It never reads a
//! clock, a random source, a socket or a file: bytes, loaded documents and store results
//! come in through `handle_*` calls, and requests go out through
//! [`Session::poll_effect`]. The same code runs under the tokio daemon and under the
//! deterministic simulator.

mod error;
pub mod item;
pub mod load;
pub mod marks;
pub mod message;
pub mod rules;
mod session;

pub use error::SessionError;
pub use item::Item;
pub use message::{DEFAULT_MAX_FRAME, DecodeError, FrameReader, Message, PROTOCOL_VERSION};
pub use rules::{ScopeViolation, check_incoming, shared};
pub use session::{
    Effect, HeldRevocations, MAX_EXCHANGES, MAX_INBOX, MAX_SESSION_CERTS, Progress, Refused, Role,
    SealedDoc, Session, SessionConfig, SessionStats, StoreOutcome,
};
