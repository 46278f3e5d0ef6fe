//! The keys a node knows, and the revocation list it holds.

use std::collections::HashMap;
use std::sync::Arc;

use crate::authority::{Authority, Certified, Revocations};
use crate::error::TrustError;
use crate::key::KeyId;

/// Most certificates a node keeps in memory: far more nodes than a district has (a few
/// hundred posyandu), so that a flood of genuine-but-unused certificates is bounded.
pub const MAX_KEYS: usize = 100_000;

/// Certified node keys, by key id, and the district's revocation list.
#[derive(Debug, Clone)]
pub struct KeyBook {
    authority: Arc<Authority>,
    keys: HashMap<KeyId, Certified>,
    /// Every certificate serial seen for each key: a key is revoked when any certificate
    /// of it is (the CA could have certified one key twice).
    serials: HashMap<KeyId, std::collections::BTreeSet<Vec<u8>>>,
    revocations: Option<Revocations>,
}

impl KeyBook {
    /// An empty book for the district of `authority`.
    pub fn new(authority: Arc<Authority>) -> Self {
        Self {
            authority,
            keys: HashMap::new(),
            serials: HashMap::new(),
            revocations: None,
        }
    }

    /// The district CA.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// The certificate of `key`, if known.
    pub fn get(&self, key: &KeyId) -> Option<&Certified> {
        self.keys.get(key)
    }

    /// The certificate of `facility` that expires last, of those not revoked.
    pub fn newest_of(&self, facility: &simpul_model::FacilityPath) -> Option<&Certified> {
        self.keys
            .values()
            .filter(|c| c.facility == *facility && !self.is_revoked(c))
            .max_by_key(|c| c.not_after)
    }

    /// How many keys are known.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is known.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Certifies `der` (unless its key is known already) and keeps it. Returns its key.
    pub fn learn(&mut self, der: &[u8]) -> Result<KeyId, TrustError> {
        let key = KeyId::of_spki(&spki_of(der)?);
        if let Some(known) = self.keys.get(&key)
            && *known.der == *der
        {
            return Ok(key);
        }
        let cert = self.authority.certify(der)?;
        self.insert(cert.clone());
        Ok(cert.key)
    }

    /// Keeps a certificate already certified by this book's authority (the first one of a
    /// key stays; another certificate of the same key adds its serial).
    pub fn insert(&mut self, cert: Certified) {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(&cert.key) {
            return;
        }
        self.serials
            .entry(cert.key)
            .or_default()
            .insert(cert.serial.clone());
        self.keys.entry(cert.key).or_insert(cert);
    }

    /// The revocation list held, if any.
    pub fn revocations(&self) -> Option<&Revocations> {
        self.revocations.as_ref()
    }

    /// Takes `list` if it is newer than the one held (a larger CRL number). Returns
    /// whether it did.
    pub fn set_revocations(&mut self, list: Revocations) -> bool {
        if self
            .revocations
            .as_ref()
            .is_some_and(|held| held.number >= list.number)
        {
            return false;
        }
        self.revocations = Some(list);
        true
    }

    /// True when `cert`'s key is revoked by the list held (any certificate of it).
    pub fn is_revoked(&self, cert: &Certified) -> bool {
        let Some(list) = &self.revocations else {
            return false;
        };
        list.revokes(cert)
            || self
                .serials
                .get(&cert.key)
                .is_some_and(|serials| serials.iter().any(|s| list.serials.contains(s)))
    }
}

/// The SubjectPublicKeyInfo (DER) of a certificate.
fn spki_of(der: &[u8]) -> Result<Vec<u8>, TrustError> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| TrustError::Malformed {
        what: "node certificate",
        reason: e.to_string(),
    })?;
    Ok(cert.public_key().raw.to_vec())
}
