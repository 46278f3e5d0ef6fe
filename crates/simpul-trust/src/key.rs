//! Keys: their ids and signature checks.

use std::fmt;

use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use sha2::{Digest, Sha256};

/// Names a node key: the first 8 bytes of SHA-256 over its certificate's
/// SubjectPublicKeyInfo. Appears in actor ids and seals.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of the key whose SubjectPublicKeyInfo (DER) is `spki`.
    pub fn of_spki(spki: &[u8]) -> KeyId {
        let digest = Sha256::digest(spki);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// The id of the key a certificate (DER) carries, if it parses as a certificate.
    pub fn of_cert(der: &[u8]) -> Option<KeyId> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        Some(KeyId::of_spki(cert.public_key().raw))
    }

    /// Parses 16 hex digits.
    pub fn parse_hex(s: &str) -> Option<KeyId> {
        let bytes = hex::decode(s).ok()?;
        Some(KeyId(bytes.try_into().ok()?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The signature algorithms node keys use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519: what `simpul ca issue` gives new certificates.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, fixed-length (r || s) signatures: certificates
    /// issued before Ed25519.
    EcdsaP256,
}

/// A public key and its algorithm, as a certificate carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The algorithm.
    pub algorithm: Algorithm,
    /// The raw key (32 bytes for Ed25519, an uncompressed point for P-256).
    pub bytes: Vec<u8>,
}

impl PublicKey {
    /// True when `signature` is this key's signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn ring::signature::VerificationAlgorithm = match self.algorithm {
            Algorithm::Ed25519 => &ED25519,
            Algorithm::EcdsaP256 => &ECDSA_P256_SHA256_FIXED,
        };
        UnparsedPublicKey::new(alg, &self.bytes)
            .verify(message, signature)
            .is_ok()
    }
}
