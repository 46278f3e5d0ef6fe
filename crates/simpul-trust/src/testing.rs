//! Test districts: a CA and node certificates made on the spot (feature `testing`), for
//! tests and the simulator. Node keys are Ed25519, as `simpul ca issue` makes them. A
//! seeded district makes the same keys and certificates every time (Ed25519 signatures
//! are deterministic), so a simulator run replays exactly from its seed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use simpul_model::FacilityPath;
use time::OffsetDateTime;

use crate::authority::{Authority, Certified, FACILITY_URI_PREFIX, Revocations};
use crate::keybook::KeyBook;
use crate::signer::Signer;

/// A district CA that issues node certificates for tests.
pub struct TestDistrict {
    /// The CA as nodes trust it.
    pub authority: Arc<Authority>,
    /// The CA certificate (PEM).
    pub ca_pem: String,
    ca_key: KeyPair,
    seed: [u8; 32],
    issued: AtomicU64,
}

/// An Ed25519 key from a 32-byte seed (RFC 8410 PKCS#8 v1: a fixed prefix, then the seed).
fn seeded_key(seed: &[u8]) -> KeyPair {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let digest = Sha256::digest(seed);
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&digest);
    KeyPair::try_from(der.as_slice()).expect("ed25519 key from seed")
}

/// A node of a [`TestDistrict`]: its certificate and signing key.
pub struct TestNode {
    /// What the certificate certifies.
    pub certified: Certified,
    /// Signs with the node's key.
    pub signer: Arc<Signer>,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
}

fn at(year: i32) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(i64::from(year - 1970) * 31_556_952)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl TestDistrict {
    /// A CA for `district` (4 digits), valid 2000-2100.
    ///
    /// # Panics
    /// If certificate generation fails (it does not, for these fixed parameters).
    pub fn new(district: &str) -> TestDistrict {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&Sha256::digest(
            KeyPair::generate().expect("random").serialize_der(),
        ));
        Self::with_seed(district, seed)
    }

    /// A CA whose keys, and those of the nodes it issues, follow from `seed`.
    ///
    /// # Panics
    /// If certificate generation fails.
    pub fn seeded(district: &str, seed: u64) -> TestDistrict {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Self::with_seed(district, s)
    }

    fn with_seed(district: &str, seed: [u8; 32]) -> TestDistrict {
        let key = seeded_key(&[&seed[..], b"ca"].concat());
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("simpul district {district}"));
        name.push(DnType::OrganizationName, "simpul");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = at(2000);
        params.not_after = at(2100);
        let cert = params.self_signed(&key).expect("CA certificate");
        let ca_pem = cert.pem();
        let authority = Arc::new(Authority::from_pem(&ca_pem).expect("CA reads back"));
        TestDistrict {
            authority,
            ca_pem,
            ca_key: key,
            seed,
            issued: AtomicU64::new(0),
        }
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_ca_cert_pem(&self.ca_pem, &self.ca_key).expect("issuer")
    }

    /// Issues a node certificate for `path`, valid 2000-2100.
    ///
    /// # Panics
    /// If certificate generation fails.
    pub fn node(&self, path: &FacilityPath) -> TestNode {
        self.node_valid(path, at(2000), at(2100))
    }

    /// Issues a node certificate for `path` valid between two instants.
    ///
    /// # Panics
    /// If certificate generation fails.
    pub fn node_valid(
        &self,
        path: &FacilityPath,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> TestNode {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let key =
            seeded_key(&[&self.seed[..], path.as_str().as_bytes(), &n.to_be_bytes()].concat());
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, path.to_string());
        params.distinguished_name = name;
        params.subject_alt_names = vec![
            SanType::DnsName("node.simpul.invalid".try_into().expect("dns name")),
            SanType::URI(
                format!("{FACILITY_URI_PREFIX}{path}")
                    .try_into()
                    .expect("uri"),
            ),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params
            .signed_by(&key, &self.issuer())
            .expect("node certificate");
        let certified = self.authority.certify(cert.der()).expect("certified");
        let signer = Signer::from_der(certified.clone(), &key.serialize_der()).expect("signer");
        TestNode {
            certified,
            signer: Arc::new(signer),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A revocation list numbered `number` that revokes `revoked`.
    ///
    /// # Panics
    /// If signing fails.
    pub fn revoke(&self, number: u64, revoked: &[&Certified]) -> Revocations {
        let params = CertificateRevocationListParams {
            this_update: at(2020),
            next_update: at(2099),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|c| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&c.serial),
                    revocation_time: at(2020),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.issuer()).expect("CRL");
        self.authority
            .revocations(crl.der())
            .expect("CRL reads back")
    }

    /// A key book that knows these nodes.
    pub fn keybook(&self, nodes: &[&TestNode]) -> KeyBook {
        let mut book = KeyBook::new(self.authority.clone());
        for n in nodes {
            book.insert(n.certified.clone());
        }
        book
    }
}
