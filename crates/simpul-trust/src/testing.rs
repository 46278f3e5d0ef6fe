//! Test districts: a CA and node certificates made on the spot (feature `testing`), for
//! tests and the simulator. Node keys are Ed25519, as `simpul ca issue` makes them.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ED25519, RevokedCertParams, SanType, SerialNumber,
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
        let key = KeyPair::generate().expect("CA key");
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
        let key = KeyPair::generate_for(&PKCS_ED25519).expect("node key");
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
