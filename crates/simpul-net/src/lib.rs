//! How nodes know and reach each other: the district CA, node certificates that carry
//! facility paths, and mutual TLS 1.3 between nodes.
//!
//! This crate owns certificates and transport. It decides nothing about records: a peer's
//! facility path, read from its verified certificate, is handed to the sync session,
//! which applies the scope rules.

pub mod identity;
pub mod tls;
pub mod transport;

pub use identity::{DistrictCa, IdentityError, NodeIdentity, SERVER_NAME, facility_of};
pub use tls::{ALPN, ALPN_ZSTD, TlsError, client_config, server_config};
pub use transport::{
    HANDSHAKE_DEADLINE, LinkTuning, NetError, PeerConnection, accept, connect, endpoint, handshake,
    incoming, set_revocations,
};
