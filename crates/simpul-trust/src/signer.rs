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
    /// For an Ed25519 key, the X25519 secret of the same key (RFC 7748's birational map,
    /// as libsodium's `crypto_sign_ed25519_sk_to_curve25519` and age's ssh-ed25519
    /// recipients use it): what lets a bundle encrypted to this node's certificate be
    /// opened here and nowhere else.
    agreement: Option<[u8; 32]>,
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
        let agreement = match cert.public.algorithm {
            Algorithm::Ed25519 => Some(x25519_secret(pkcs8, public)?),
            Algorithm::EcdsaP256 => None,
        };
        Ok(Signer {
            cert,
            pair,
            agreement,
        })
    }

    /// Signs `message` (with a domain of the caller's at its start) with the node's key.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.pair {
            Pair::Ed25519(p) => p.sign(message).as_ref().to_vec(),
            // ring fails to sign only when its random source does, which the OS provides.
            Pair::Ecdsa(p, rng) => p
                .sign(rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }

    /// The X25519 secret of an Ed25519 key (the clamping is X25519's own); None for
    /// other keys.
    pub fn agreement_secret(&self) -> Option<&[u8; 32]> {
        self.agreement.as_ref()
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
        let signature = self.sign(&message);
        Seal {
            key: self.cert.key,
            kind,
            heads,
            signature,
        }
    }
}

/// The X25519 secret of the Ed25519 key in `pkcs8`: the first half of SHA-512 of its
/// seed (RFC 8032 section 5.1.5; X25519 clamps it). The seed is read from the PKCS#8
/// structure (RFC 8410: an OCTET STRING inside the privateKey OCTET STRING) and checked
/// against `public`, the key's public half.
fn x25519_secret(pkcs8: &[u8], public: &[u8]) -> Result<[u8; 32], TrustError> {
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::der::parse_der;
    let malformed = |reason: &str| TrustError::Malformed {
        what: "node key",
        reason: reason.to_string(),
    };
    let (_, info) = parse_der(pkcs8).map_err(|e| malformed(&e.to_string()))?;
    let BerObjectContent::Sequence(fields) = &info.content else {
        return Err(malformed("PKCS#8 is not a SEQUENCE"));
    };
    let Some(BerObjectContent::OctetString(private)) = fields.get(2).map(|f| &f.content) else {
        return Err(malformed("PKCS#8 has no privateKey"));
    };
    let (_, inner) = parse_der(private).map_err(|e| malformed(&e.to_string()))?;
    let BerObjectContent::OctetString(seed) = inner.content else {
        return Err(malformed("an Ed25519 privateKey is an OCTET STRING"));
    };
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| malformed("an Ed25519 seed is 32 bytes"))?;
    let derived = Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|e| TrustError::UnsupportedKey(e.to_string()))?;
    if derived.public_key().as_ref() != public {
        return Err(TrustError::KeyMismatch);
    }
    let hash = ring::digest::digest(&ring::digest::SHA512, &seed);
    let mut secret = [0u8; 32];
    secret.copy_from_slice(&hash.as_ref()[..32]);
    Ok(secret)
}
