//! QUIC between nodes (quinn): one endpoint per node that both listens and dials, with
//! mutual TLS from [`crate::tls`] and timers made for slow, silent links.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{
    ClientConfig, Endpoint, EndpointConfig, IdleTimeout, ServerConfig, TransportConfig, VarInt,
};
use quinn_proto::HashedConnectionIdGenerator;
use simpul_model::FacilityPath;

use crate::identity::{IdentityError, NodeIdentity, SERVER_NAME, facility_of};
use crate::tls::{TlsError, client_config, server_config};

/// Application close code: the peer's certificate names another facility than expected.
pub const CLOSE_WRONG_PEER: u32 = 0x51;

/// Timers for a link. The defaults suit 2G/3G links with round trips near a second and
/// long quiet spells: a keep-alive well inside NAT timeouts, a generous idle timeout, and
/// an initial RTT estimate that does not retransmit the handshake needlessly.
#[derive(Debug, Clone)]
pub struct LinkTuning {
    /// Keep-alive interval while connected.
    pub keep_alive: Duration,
    /// A connection silent for this long is closed.
    pub idle_timeout: Duration,
    /// Round-trip estimate before the first measurement.
    pub initial_rtt: Duration,
}

impl Default for LinkTuning {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(120),
            initial_rtt: Duration::from_millis(600),
        }
    }
}

/// Why a connection could not be made or accepted.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The TLS configuration does not suit QUIC.
    #[error("tls configuration is not usable for QUIC: {0}")]
    QuicCrypto(String),
    /// The UDP socket could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Dialling failed before a connection existed.
    #[error("could not dial {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The handshake or the connection failed (certificate refused, timeout, ...).
    #[error("connection failed")]
    Connection(#[from] quinn::ConnectionError),
    /// The peer's certificate names no facility.
    #[error("peer certificate")]
    Identity(#[from] IdentityError),
    /// The peer did not finish its handshake in time.
    #[error("handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer's certificate names another facility than the configuration expects.
    #[error("peer at {addr} is {found}, but {expected} was expected")]
    WrongPeer {
        /// Where it was dialled.
        addr: SocketAddr,
        /// The path in its certificate.
        found: FacilityPath,
        /// The path in the configuration.
        expected: FacilityPath,
    },
}

impl NetError {
    /// True when the failure is a refusal that retrying will not cure: a certificate
    /// either side rejected, or a peer that is not the facility expected. False for
    /// timeouts and unreachable peers.
    pub fn is_refusal(&self) -> bool {
        // TLS alerts travel as QUIC CRYPTO_ERROR codes 0x100-0x1ff.
        let crypto = |code: quinn::TransportErrorCode| (0x100..0x200).contains(&u64::from(code));
        match self {
            NetError::WrongPeer { .. } | NetError::Identity(_) | NetError::Tls(_) => true,
            NetError::Connection(quinn::ConnectionError::TransportError(e)) => crypto(e.code),
            NetError::Connection(quinn::ConnectionError::ConnectionClosed(c)) => {
                crypto(c.error_code)
            }
            NetError::Connection(quinn::ConnectionError::ApplicationClosed(c)) => {
                c.error_code == VarInt::from_u32(CLOSE_WRONG_PEER)
            }
            _ => false,
        }
    }
}

/// An established, mutually authenticated connection and who is on the other end.
#[derive(Debug, Clone)]
pub struct PeerConnection {
    /// The QUIC connection.
    pub connection: quinn::Connection,
    /// The peer's facility path, from its verified certificate.
    pub peer: FacilityPath,
    /// True when both sides agreed on [`crate::ALPN_ZSTD`]: the session's bytes are
    /// compressed each way.
    pub compressed: bool,
    /// The peer's certificate (DER), as verified in the handshake: its serial number is
    /// checked against revocation lists that arrive later, and the session ends when it
    /// expires.
    pub certificate: std::sync::Arc<[u8]>,
}

/// Whether the handshake settled on the compressed stream.
fn negotiated_zstd(connection: &quinn::Connection) -> bool {
    connection
        .handshake_data()
        .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .is_some_and(|p| p == crate::ALPN_ZSTD)
}

fn transport(tuning: &LinkTuning) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(tuning.keep_alive));
    t.max_idle_timeout(IdleTimeout::try_from(tuning.idle_timeout).ok());
    t.initial_rtt(tuning.initial_rtt);
    // Path-MTU probes are padded datagrams on every connection: on a sync that finds
    // nothing to move they outweighed the reconciliation itself (W3). 1,200-byte packets
    // cost ~3% in headers on bulk transfers instead.
    t.mtu_discovery_config(None);
    // A loss-based controller (Cubic, the default) reads the random loss of a rural
    // radio link as congestion and crawls (~87 kbit/s of 256 at 5% loss and 600 ms RTT);
    // BBR paces at the measured bottleneck rate instead.
    t.congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.max_concurrent_bidi_streams(VarInt::from_u32(4));
    Arc::new(t)
}

/// The QUIC server and client configurations of a node: mutual TLS against the district
/// CA, refusing certificates that the revocation list `crl` (DER) names.
fn configs(
    node: &NodeIdentity,
    ca_pem: &str,
    tuning: &LinkTuning,
    crl: Option<&[u8]>,
) -> Result<(ServerConfig, ClientConfig), NetError> {
    let crypto =
        |e: quinn::crypto::rustls::NoInitialCipherSuite| NetError::QuicCrypto(e.to_string());
    let server_crypto =
        QuicServerConfig::try_from(server_config(node, ca_pem, crl)?).map_err(crypto)?;
    let mut server = ServerConfig::with_crypto(Arc::new(server_crypto));
    server.transport_config(transport(tuning));
    let client_crypto =
        QuicClientConfig::try_from(client_config(node, ca_pem, crl)?).map_err(crypto)?;
    let mut client = ClientConfig::new(Arc::new(client_crypto));
    client.transport_config(transport(tuning));
    Ok((server, client))
}

/// Takes a new revocation list into a running endpoint: handshakes from now on refuse the
/// certificates it names, both ways. Open connections are the caller's to close.
pub fn set_revocations(
    endpoint: &Endpoint,
    node: &NodeIdentity,
    ca_pem: &str,
    tuning: &LinkTuning,
    crl: &[u8],
) -> Result<(), NetError> {
    let (server, client) = configs(node, ca_pem, tuning, Some(crl))?;
    endpoint.set_server_config(Some(server));
    let mut endpoint = endpoint.clone();
    endpoint.set_default_client_config(client);
    Ok(())
}

/// A node's endpoint on `bind`: accepts peers of the district CA and dials them, refusing
/// certificates that the revocation list `crl` (DER) names.
pub fn endpoint(
    bind: SocketAddr,
    node: &NodeIdentity,
    ca_pem: &str,
    tuning: &LinkTuning,
    crl: Option<&[u8]>,
) -> Result<Endpoint, NetError> {
    let (server, client) = configs(node, ca_pem, tuning, crl)?;
    let bind_error = |source| NetError::Bind { addr: bind, source };
    let socket = std::net::UdpSocket::bind(bind).map_err(bind_error)?;
    // Best effort: a smaller buffer than asked for (or none granted) only means more
    // datagrams lost when many peers arrive at once.
    let _ = enlarge_recv_buffer(&socket);
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind_error(std::io::Error::other("no async runtime")))?;
    let (reset, cid_key) = restart_keys(node);
    let mut config = EndpointConfig::new(Arc::new(reset));
    config.cid_generator(move || Box::new(HashedConnectionIdGenerator::from_key(cid_key)));
    let mut endpoint = Endpoint::new(config, Some(server), socket, runtime).map_err(bind_error)?;
    endpoint.set_default_client_config(client);
    Ok(endpoint)
}

/// The UDP receive buffer a node asks for. A district's endpoint takes every facility's
/// datagrams on one socket, and 300 handshakes arriving at once overflowed the default
/// (208 KiB on Linux): ~1,200 datagrams dropped in each W7 run, each dropped handshake
/// packet costing its peer a retransmission timer (the slowest peers took 5.7 or 12.8 s
/// against a median of 1-2 s). The kernel grants at most `net.core.rmem_max`.
pub const RECV_BUFFER_BYTES: usize = 4 << 20;

/// Asks for a [`RECV_BUFFER_BYTES`] receive buffer on `socket`; returns the size granted.
pub fn enlarge_recv_buffer(socket: &std::net::UdpSocket) -> std::io::Result<usize> {
    let state = quinn::udp::UdpSocketState::new(socket.into())?;
    state.set_recv_buffer_size(socket.into(), RECV_BUFFER_BYTES)?;
    state.recv_buffer_size(socket.into())
}

/// The stateless-reset key and connection-id key, derived from the node's private key so
/// that they survive a restart: a node that crashed and came back recognises the
/// connection ids it handed out before and resets those connections at once, so its peers
/// redial in a second instead of waiting for the idle timeout. (Random keys, quinn's
/// default, make the new process drop such packets silently.)
fn restart_keys(node: &NodeIdentity) -> (ring::hmac::Key, u64) {
    let master = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, node.key_pem.as_bytes());
    let derive = |label: &[u8]| ring::hmac::sign(&master, label);
    let reset = derive(b"simpul quic stateless reset v1");
    let cid = derive(b"simpul quic connection id v1");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&cid.as_ref()[..8]);
    (
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, reset.as_ref()),
        u64::from_le_bytes(cid_key),
    )
}

/// The peer's facility path and its certificate (DER).
fn peer_path(connection: &quinn::Connection) -> Result<(FacilityPath, Arc<[u8]>), NetError> {
    let certs = connection
        .peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .ok_or_else(|| IdentityError::NoFacility("peer presented no certificate".into()))?;
    let first = certs
        .first()
        .ok_or_else(|| IdentityError::NoFacility("empty certificate chain".into()))?;
    Ok((facility_of(first)?, Arc::from(first.as_ref())))
}

/// Dials `addr` and checks that the peer's certificate names `expected`; a peer that
/// names another facility is disconnected with [`CLOSE_WRONG_PEER`].
pub async fn connect(
    endpoint: &Endpoint,
    addr: SocketAddr,
    expected: &FacilityPath,
) -> Result<PeerConnection, NetError> {
    let connection = endpoint.connect(addr, SERVER_NAME)?.await?;
    let (peer, certificate) = peer_path(&connection)?;
    if &peer != expected {
        connection.close(VarInt::from_u32(CLOSE_WRONG_PEER), b"unexpected facility");
        return Err(NetError::WrongPeer {
            addr,
            found: peer,
            expected: expected.clone(),
        });
    }
    Ok(PeerConnection {
        compressed: negotiated_zstd(&connection),
        connection,
        peer,
        certificate,
    })
}

/// How long an incoming handshake may take before it is dropped: generous for a 2G
/// link's retransmissions, far below the idle timeout a silent half-open handshake
/// would otherwise hold its place for.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(20);

/// Waits for the next connection attempt (`None` once the endpoint is closed), without
/// waiting for its handshake: complete that with [`handshake`] on a task of its own, so
/// that one slow or silent client delays nobody else.
pub async fn incoming(endpoint: &Endpoint) -> Option<quinn::Incoming> {
    endpoint.accept().await
}

/// Completes an incoming handshake, or gives up after `deadline`.
pub async fn handshake(
    incoming: quinn::Incoming,
    deadline: Duration,
) -> Result<PeerConnection, NetError> {
    let connecting = incoming.accept()?;
    let connection = tokio::time::timeout(deadline, connecting)
        .await
        .map_err(|_| NetError::HandshakeTimeout(deadline))??;
    let (peer, certificate) = peer_path(&connection)?;
    Ok(PeerConnection {
        compressed: negotiated_zstd(&connection),
        connection,
        peer,
        certificate,
    })
}

/// Waits for the next peer to connect and completes its handshake (`None` once the
/// endpoint is closed). One at a time: a node serving many peers uses [`incoming`] and
/// [`handshake`].
pub async fn accept(endpoint: &Endpoint) -> Option<Result<PeerConnection, NetError>> {
    let next = incoming(endpoint).await?;
    Some(handshake(next, HANDSHAKE_DEADLINE).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_socket_asks_for_a_larger_receive_buffer() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let state = quinn::udp::UdpSocketState::new((&socket).into()).expect("state");
        let default = state.recv_buffer_size((&socket).into()).expect("size");
        let granted = enlarge_recv_buffer(&socket).expect("enlarged");
        // The kernel caps the request at net.core.rmem_max (and books twice what it
        // grants); the default is below the cap on every distribution's defaults.
        assert!(granted > default, "granted {granted}, default {default}");
    }
}
