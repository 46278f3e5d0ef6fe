//! The district CA: it certifies node keys and revocation lists.

use std::collections::BTreeSet;
use std::sync::Arc;

use simpul_model::FacilityPath;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::TrustError;
use crate::key::{Algorithm, KeyId, PublicKey};

/// Prefix of the URI subject alternative name that carries a facility path.
pub const FACILITY_URI_PREFIX: &str = "urn:simpul:facility:";

/// The district CA, the one trust anchor of a district's nodes.
#[derive(Debug, Clone)]
pub struct Authority {
    der: Vec<u8>,
    district: String,
}

/// A node certificate issued by the district CA, and what it certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certified {
    /// The key's id.
    pub key: KeyId,
    /// The facility the certificate names.
    pub facility: FacilityPath,
    /// Its serial number (as revocation lists name it).
    pub serial: Vec<u8>,
    /// End of its validity (Unix seconds).
    pub not_after: i64,
    /// The key.
    pub public: PublicKey,
    /// The certificate (DER).
    pub der: Arc<[u8]>,
}

/// A revocation list issued by the district CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocations {
    /// Its CRL number: a newer list has a larger one.
    pub number: u64,
    /// When it was issued (Unix seconds).
    pub this_update: i64,
    /// When the CA promised the next one (Unix seconds), if it did.
    pub next_update: Option<i64>,
    /// Serial numbers of revoked certificates.
    pub serials: BTreeSet<Vec<u8>>,
    /// The list (DER).
    pub der: Arc<[u8]>,
}

impl Revocations {
    /// True when the certificate is on the list.
    pub fn revokes(&self, cert: &Certified) -> bool {
        self.serials.contains(&cert.serial)
    }
}

fn malformed(what: &'static str) -> impl Fn(String) -> TrustError {
    move |reason| TrustError::Malformed { what, reason }
}

fn pem_to_der(pem: &str, what: &'static str) -> Result<Vec<u8>, TrustError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| malformed(what)(e.to_string()))?;
    Ok(parsed.contents)
}

impl Authority {
    /// The CA certificate, as PEM (`ca.crt`).
    pub fn from_pem(pem: &str) -> Result<Authority, TrustError> {
        Authority::from_der(pem_to_der(pem, "CA certificate")?)
    }

    /// The CA certificate, as DER.
    pub fn from_der(der: Vec<u8>) -> Result<Authority, TrustError> {
        let (_, cert) = X509Certificate::from_der(&der)
            .map_err(|e| malformed("CA certificate")(e.to_string()))?;
        let cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default();
        let district = cn
            .strip_prefix("simpul district ")
            .ok_or_else(|| {
                malformed("CA certificate")(format!("{cn:?} is not a simpul district CA"))
            })?
            .to_string();
        cert.verify_signature(None)
            .map_err(|e| malformed("CA certificate")(format!("self-signature: {e}")))?;
        Ok(Authority { der, district })
    }

    /// The district code.
    pub fn district(&self) -> &str {
        &self.district
    }

    /// The CA certificate (DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn ca(&self) -> Result<X509Certificate<'_>, TrustError> {
        X509Certificate::from_der(&self.der)
            .map(|(_, c)| c)
            .map_err(|e| malformed("CA certificate")(e.to_string()))
    }

    /// Checks that `der` is a node certificate issued by this CA and reads what it
    /// certifies. Validity dates are not checked here: a seal made while a certificate
    /// was valid stays valid after it expires (sessions check expiry).
    pub fn certify(&self, der: &[u8]) -> Result<Certified, TrustError> {
        let what = "node certificate";
        let ca = self.ca()?;
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| malformed(what)(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(what)("trailing bytes".into()));
        }
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(TrustError::NotIssued {
                what,
                reason: format!("issuer is {}", cert.issuer()),
            });
        }
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|e| TrustError::NotIssued {
                what,
                reason: format!("signature: {e}"),
            })?;
        if cert.is_ca() {
            return Err(TrustError::NotIssued {
                what,
                reason: "it is a CA certificate".into(),
            });
        }
        let facility = facility_of(&cert).map_err(|reason| TrustError::NoFacility {
            district: self.district.clone(),
            reason,
        })?;
        if facility.district() != self.district {
            return Err(TrustError::NoFacility {
                district: self.district.clone(),
                reason: format!("{facility} is in another district"),
            });
        }
        let spki = cert.public_key();
        Ok(Certified {
            key: KeyId::of_spki(spki.raw),
            facility,
            serial: cert.raw_serial().to_vec(),
            not_after: cert.validity().not_after.timestamp(),
            public: public_key(spki)?,
            der: Arc::from(der),
        })
    }

    /// Checks that `der` is a revocation list issued by this CA and reads it.
    pub fn revocations(&self, der: &[u8]) -> Result<Revocations, TrustError> {
        let what = "revocation list";
        let ca = self.ca()?;
        let (rest, crl) =
            CertificateRevocationList::from_der(der).map_err(|e| malformed(what)(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(what)("trailing bytes".into()));
        }
        if crl.issuer().as_raw() != ca.subject().as_raw() {
            return Err(TrustError::NotIssued {
                what,
                reason: format!("issuer is {}", crl.issuer()),
            });
        }
        crl.verify_signature(ca.public_key())
            .map_err(|e| TrustError::NotIssued {
                what,
                reason: format!("signature: {e}"),
            })?;
        let number = crl
            .crl_number()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(TrustError::NoCrlNumber)?;
        let serials = crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial().to_vec())
            .collect();
        Ok(Revocations {
            number,
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            serials,
            der: Arc::from(der),
        })
    }

    /// Reads a revocation list from PEM (`crl.pem`) and checks it.
    pub fn revocations_pem(&self, pem: &str) -> Result<Revocations, TrustError> {
        self.revocations(&pem_to_der(pem, "revocation list")?)
    }
}

/// The facility path a certificate names in its URI subject alternative name.
pub fn facility_of(cert: &X509Certificate<'_>) -> Result<FacilityPath, String> {
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no subject alternative names".to_string())?;
    for name in &sans.value.general_names {
        if let GeneralName::URI(uri) = name
            && let Some(path) = uri.strip_prefix(FACILITY_URI_PREFIX)
        {
            return FacilityPath::parse(path).map_err(|e| e.to_string());
        }
    }
    Err(format!("no {FACILITY_URI_PREFIX} name"))
}

/// The facility path a DER certificate names (no issuer check: see [`Authority::certify`]).
pub fn facility_of_der(der: &[u8]) -> Result<FacilityPath, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("certificate does not parse: {e}"))?;
    facility_of(&cert)
}

fn public_key(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> Result<PublicKey, TrustError> {
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
    let alg = &spki.algorithm;
    let algorithm = if alg.algorithm == OID_SIG_ED25519 {
        Algorithm::Ed25519
    } else if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY
        && alg
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .is_some_and(|oid| oid == OID_EC_P256)
    {
        Algorithm::EcdsaP256
    } else {
        return Err(TrustError::UnsupportedKey(format!(
            "algorithm {}",
            alg.algorithm
        )));
    };
    Ok(PublicKey {
        algorithm,
        bytes: spki.subject_public_key.data.to_vec(),
    })
}
