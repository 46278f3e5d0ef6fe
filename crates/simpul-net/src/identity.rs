//! Who a node is: a district CA, and node certificates that carry a facility path.
//!
//! The CA's common name is `simpul district <code>`. A node certificate names its
//! facility path twice: as its common name (for people) and as the URI subject
//! alternative name `urn:simpul:facility:<path>` (what nodes read). Every node
//! certificate also carries the DNS name [`SERVER_NAME`], the name TLS clients verify;
//! the path is checked separately against what the configuration expects.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use simpul_model::{FacilityPath, Level};
use time::{Duration, OffsetDateTime};

/// The DNS name in every node certificate, and the server name clients ask for.
pub const SERVER_NAME: &str = "node.simpul.invalid";

/// Prefix of the URI subject alternative name that carries a facility path.
pub const FACILITY_URI_PREFIX: &str = "urn:simpul:facility:";

/// File names inside a CA or node directory.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key file.
pub const CA_KEY: &str = "ca.key";
/// A node's certificate file.
pub const NODE_CERT: &str = "node.crt";
/// A node's private key file.
pub const NODE_KEY: &str = "node.key";

/// Why an identity could not be made, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A CA must be made for a district path.
    #[error("a CA belongs to a district (4 digits), not to {0}")]
    NotADistrict(FacilityPath),
    /// The facility is outside the CA's district.
    #[error("{path} is not in district {district}")]
    OutsideDistrict {
        /// The facility.
        path: FacilityPath,
        /// The CA's district.
        district: String,
    },
    /// Refusing to overwrite existing key material.
    #[error("{0} already exists; refusing to overwrite key material")]
    Exists(PathBuf),
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Certificate generation or parsing failed.
    #[error("certificate")]
    Cert(#[from] rcgen::Error),
    /// A certificate does not say which facility it belongs to.
    #[error("certificate names no simpul facility: {0}")]
    NoFacility(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A district certificate authority: certificate and key, as PEM.
pub struct DistrictCa {
    /// The district code.
    pub district: String,
    /// The CA certificate.
    pub cert_pem: String,
    key_pem: String,
}

/// A node's certificate and key, as PEM.
pub struct NodeIdentity {
    /// The facility path in the certificate.
    pub path: FacilityPath,
    /// The node certificate.
    pub cert_pem: String,
    /// The node's private key.
    pub key_pem: String,
}

fn write_new(path: &Path, contents: &str, private: bool) -> Result<(), IdentityError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => IdentityError::Exists(path.to_path_buf()),
        _ => IdentityError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    file.write_all(contents.as_bytes()).map_err(io(path))
}

fn validity(params: &mut CertificateParams, not_before: OffsetDateTime, days: i64) {
    params.not_before = not_before;
    params.not_after = not_before + Duration::days(days);
}

impl DistrictCa {
    /// Creates a CA for `district`, valid from `not_before` for `days`.
    pub fn create(
        district: &FacilityPath,
        not_before: OffsetDateTime,
        days: i64,
    ) -> Result<Self, IdentityError> {
        if district.level() != Level::District {
            return Err(IdentityError::NotADistrict(district.clone()));
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("simpul district {district}"));
        name.push(DnType::OrganizationName, "simpul");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, not_before, days);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            district: district.to_string(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `ca.crt` and `ca.key` (owner-only) into `dir`, refusing to overwrite.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_new(&dir.join(CA_CERT), &self.cert_pem, false)?;
        write_new(&dir.join(CA_KEY), &self.key_pem, true)
    }

    /// Reads a CA saved by [`DistrictCa::save`].
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let cert_pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let district = ca_district(&cert_pem)?;
        Ok(Self {
            district,
            cert_pem,
            key_pem,
        })
    }

    /// Issues a certificate for the node at `path`, valid from `not_before` for `days`.
    pub fn issue(
        &self,
        path: &FacilityPath,
        not_before: OffsetDateTime,
        days: i64,
    ) -> Result<NodeIdentity, IdentityError> {
        if path.district() != self.district {
            return Err(IdentityError::OutsideDistrict {
                path: path.clone(),
                district: self.district.clone(),
            });
        }
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, path.to_string());
        name.push(DnType::OrganizationName, "simpul");
        params.distinguished_name = name;
        params.subject_alt_names = vec![
            SanType::DnsName(SERVER_NAME.try_into()?),
            SanType::URI(format!("{FACILITY_URI_PREFIX}{path}").try_into()?),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        validity(&mut params, not_before, days);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(NodeIdentity {
            path: path.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

impl NodeIdentity {
    /// Writes `node.crt` and `node.key` (owner-only) into `dir`, refusing to overwrite.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_new(&dir.join(NODE_CERT), &self.cert_pem, false)?;
        write_new(&dir.join(NODE_KEY), &self.key_pem, true)
    }

    /// Reads an identity from a certificate and a key file.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, IdentityError> {
        let cert_pem = std::fs::read_to_string(cert).map_err(io(cert))?;
        let key_pem = std::fs::read_to_string(key).map_err(io(key))?;
        let der = pem_der(&cert_pem)?;
        let path = facility_of(&der)?;
        Ok(Self {
            path,
            cert_pem,
            key_pem,
        })
    }
}

fn pem_der(pem: &str) -> Result<Vec<u8>, IdentityError> {
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| IdentityError::NoFacility(format!("not a PEM certificate: {e}")))?;
    Ok(parsed.contents)
}

fn ca_district(cert_pem: &str) -> Result<String, IdentityError> {
    let der = pem_der(cert_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| IdentityError::NoFacility(format!("CA certificate does not parse: {e}")))?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default();
    cn.strip_prefix("simpul district ")
        .map(str::to_string)
        .ok_or_else(|| IdentityError::NoFacility(format!("{cn:?} is not a simpul district CA")))
}

/// The facility path a (DER) certificate names in its URI subject alternative name.
pub fn facility_of(cert_der: &[u8]) -> Result<FacilityPath, IdentityError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| IdentityError::NoFacility(format!("certificate does not parse: {e}")))?;
    let sans = cert
        .subject_alternative_name()
        .map_err(|e| IdentityError::NoFacility(e.to_string()))?
        .ok_or_else(|| IdentityError::NoFacility("no subject alternative names".into()))?;
    for name in &sans.value.general_names {
        if let x509_parser::extensions::GeneralName::URI(uri) = name
            && let Some(path) = uri.strip_prefix(FACILITY_URI_PREFIX)
        {
            return FacilityPath::parse(path).map_err(|e| IdentityError::NoFacility(e.to_string()));
        }
    }
    Err(IdentityError::NoFacility(
        "no urn:simpul:facility: name".into(),
    ))
}
