//! Who wrote what, and who may change what.
//!
//! A TLS certificate proves who is on the other end of a connection, not who wrote what
//! it relays. This crate binds every change to the certificate that wrote it and decides
//! what a node takes in from a peer:
//!
//! - [`Authority`]: the district CA. It certifies node certificates ([`Certified`]: key
//!   id, facility path, public key) and revocation lists ([`Revocations`]).
//! - [`actor`]: actor ids bound to a key (`<path>#<key id>.<instance>`).
//! - [`Seal`]: a signature by a node's key over a record id and a set of heads. One seal
//!   covers the whole history of those heads, so the cost is per author and record
//!   version, not per change. [`Signer`] makes them.
//! - [`KeyBook`]: the certified keys a node knows and the revocation list it holds.
//! - [`admit`]: merges what a peer sent into what is stored and judges the new changes:
//!   signed by their authors, authorised where they were made, the merged record held by
//!   both nodes; equivocating changes are set aside ([`Quarantined`]).
//!
//! It does no IO and reads no clock: bytes come in, decisions go out. Signing with an
//! ECDSA key draws on ring's system random source; Ed25519 (the keys new certificates
//! carry) is deterministic. The design, with the threat model, is in `docs/trust.md`.

pub mod actor;
mod admit;
mod authority;
mod chunks;
mod error;
mod key;
mod keybook;
mod seal;
mod signer;
#[cfg(feature = "testing")]
pub mod testing;

pub use actor::{ActorKind, classify, signing_actor};
pub use admit::{
    Admitted, Judge, Purpose, Quarantined, admit, authorise_local, evidence_of_move, unsealed,
};
pub use authority::{
    Authority, Certified, FACILITY_URI_PREFIX, Revocations, facility_of, facility_of_der,
};
pub use error::{Refusal, TrustError};
pub use key::{Algorithm, KeyId, PublicKey};
pub use keybook::{KeyBook, MAX_KEYS};
pub use seal::{
    KeyCerts, MAX_SEAL_HEADS, MAX_SEALS, SIGNATURE_LEN, Seal, SealKind, Sealed, decode_seals,
    encode_seals,
};
pub use signer::Signer;
