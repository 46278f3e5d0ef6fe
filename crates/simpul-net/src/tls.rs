//! Mutual TLS 1.3 between nodes of one district: both sides present a node certificate
//! issued by the district CA, and both verify the other's against that CA alone.

use std::sync::Arc;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::identity::NodeIdentity;

/// The ALPN protocol id: the protocol name and its major version.
pub const ALPN: &[u8] = b"simpul/1";

/// The same protocol with the session's byte stream zstd-compressed each way (records
/// repeat field names and values, so a stream of them shrinks about twofold). Offered
/// first; a peer that knows only [`ALPN`] gets the plain stream.
pub const ALPN_ZSTD: &[u8] = b"simpul/1+zstd";

fn alpn_protocols() -> Vec<Vec<u8>> {
    vec![ALPN_ZSTD.to_vec(), ALPN.to_vec()]
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file did not contain what it should.
    #[error("{what} is not valid PEM: {reason}")]
    Pem {
        /// Which input.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls configuration")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built.
    #[error("client certificate verifier")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "CA certificate",
        reason: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    Ok(roots)
}

fn chain_and_key(
    node: &NodeIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert =
        CertificateDer::from_pem_slice(node.cert_pem.as_bytes()).map_err(|e| TlsError::Pem {
            what: "node certificate",
            reason: e.to_string(),
        })?;
    let key =
        PrivateKeyDer::from_pem_slice(node.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
            what: "node key",
            reason: e.to_string(),
        })?;
    Ok((vec![cert], key))
}

fn crls(crl: Option<&[u8]>) -> Vec<CertificateRevocationListDer<'static>> {
    crl.map(|der| vec![CertificateRevocationListDer::from(der.to_vec())])
        .unwrap_or_default()
}

/// The configuration a node accepts connections with: TLS 1.3 only, a client
/// certificate from the district CA required, and refused if the district's revocation
/// list `crl` (DER) names it. No session resumption: every connection shows its
/// certificate again (a resumed session would skip the revocation check).
pub fn server_config(
    node: &NodeIdentity,
    ca_pem: &str,
    crl: Option<&[u8]>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
            .with_crls(crls(crl))
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .build()?;
    let (chain, key) = chain_and_key(node)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn_protocols();
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The configuration a node dials with: TLS 1.3 only, its own certificate presented,
/// the server's verified against the district CA alone and refused if `crl` names it.
/// No session resumption.
pub fn client_config(
    node: &NodeIdentity,
    ca_pem: &str,
    crl: Option<&[u8]>,
) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider.clone())
            .with_crls(crls(crl))
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .build()
            .map_err(TlsError::Verifier)?;
    let (chain, key) = chain_and_key(node)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = alpn_protocols();
    config.resumption = Resumption::disabled();
    Ok(config)
}
