//! A node's signing key: its certificate's private key.

use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use simpul_model::RecordId;
use simpul_model::automerge::ChangeHash;

use crate::authority::{Authority, Certified};
use crate::error::TrustError;
use crate::key::{Algorithm, KeyId};
use crate::seal::{Seal, SealKind};

enum Pair {
    Ed25519(Ed25519KeyPair),
    Ecdsa(EcdsaKeyPair, SystemRandom),
}

/// Seals what this node writes, with its certificate's key.
pub struct Signer {
    cert: Certified,
    pair: Pair,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key", &self.cert.key)
            .field("facility", &self.cert.facility)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// The node's certificate (PEM, checked against `authority`) and its PKCS#8 private
    /// key (PEM), which must belong to the certificate.
    pub fn from_pem(
        authority: &Authority,
        cert_pem: &str,
        key_pem: &str,
    ) -> Result<Signer, TrustError> {
        let (_, cert) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| {
            TrustError::Malformed {
                what: "node certificate",
                reason: e.to_string(),
            }
        })?;
        let (_, key) = x509_parser::pem::parse_x509_pem(key_pem.as_bytes()).map_err(|e| {
            TrustError::Malformed {
                what: "node key",
                reason: e.to_string(),
            }
        })?;
        Signer::from_der(authority.certify(&cert.contents)?, &key.contents)
    }

    /// A certified key and its PKCS#8 private key (DER).
    pub fn from_der(cert: Certified, pkcs8: &[u8]) -> Result<Signer, TrustError> {
        let unsupported = |e: ring::error::KeyRejected| TrustError::UnsupportedKey(e.to_string());
        let pair = match cert.public.algorithm {
            Algorithm::Ed25519 => Pair::Ed25519(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(unsupported)?,
            ),
            Algorithm::EcdsaP256 => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(unsupported)?;
                Pair::Ecdsa(pair, rng)
            }
        };
        let public = match &pair {
            Pair::Ed25519(p) => p.public_key().as_ref(),
            Pair::Ecdsa(p, _) => p.public_key().as_ref(),
        };
        if public != cert.public.bytes.as_slice() {
            return Err(TrustError::KeyMismatch);
        }
        Ok(Signer { cert, pair })
    }

    /// The key's id.
    pub fn key(&self) -> KeyId {
        self.cert.key
    }

    /// The certificate.
    pub fn certified(&self) -> &Certified {
        &self.cert
    }

    /// Signs `heads` of `record`.
    pub fn seal(&self, record: RecordId, kind: SealKind, heads: &[ChangeHash]) -> Seal {
        let mut heads: Vec<[u8; 32]> = heads.iter().map(|h| h.0).collect();
        heads.sort_unstable();
        let message = Seal::message(record, kind, &heads);
        let signature = match &self.pair {
            Pair::Ed25519(p) => p.sign(&message).as_ref().to_vec(),
            // ring fails to sign only when its random source does, which the OS provides.
            Pair::Ecdsa(p, rng) => p
                .sign(rng, &message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        };
        Seal {
            key: self.cert.key,
            kind,
            heads,
            signature,
        }
    }
}
