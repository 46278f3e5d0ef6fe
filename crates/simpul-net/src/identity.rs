//! Who a node is: a district CA, and node certificates that carry a facility path.
//!
//! The CA's common name is `simpul district <code>`. A node certificate names its
//! facility path twice: as its common name (for people) and as the URI subject
//! alternative name `urn:simpul:facility:<path>` (what nodes read). Every node
//! certificate also carries the DNS name [`SERVER_NAME`], the name TLS clients verify;
//! the path is checked separately against what the configuration expects.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ED25519, RevokedCertParams, SanType, SerialNumber,
};
use simpul_model::{FacilityPath, Level};
use time::{Duration, OffsetDateTime};

/// The DNS name in every node certificate, and the server name clients ask for.
pub const SERVER_NAME: &str = "node.simpul.invalid";

/// Prefix of the URI subject alternative name that carries a facility path.
pub use simpul_trust::FACILITY_URI_PREFIX;

/// File names inside a CA or node directory.
pub const CA_CERT: &str = "ca.crt";
/// The CA's private key file.
pub const CA_KEY: &str = "ca.key";
/// The CA's list of revoked certificates: one line per revocation, `<serial hex>
/// <unix seconds> <facility path>`. The revocation list's CRL number is its line count.
pub const CA_REVOKED: &str = "revoked.txt";
/// The newest revocation list the CA issued (PEM), for nodes to take in.
pub const CA_CRL: &str = "crl.pem";

/// How long a revocation list says it is current (nodes show an older one as stale).
pub const CRL_VALID_DAYS: i64 = 30;
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
    /// A certificate request that is not one, or whose signature does not verify.
    #[error("the certificate request: {0}")]
    BadRequest(String),
    /// The certificate to revoke is revoked already.
    #[error("certificate {serial} ({facility}) is revoked already")]
    AlreadyRevoked {
        /// Its serial (hex).
        serial: String,
        /// Its facility.
        facility: String,
    },
    /// A line of the CA's revocation file does not read.
    #[error("{path}: line {line} is not `<serial hex> <unix seconds> <facility>`")]
    BadRevokedFile {
        /// The file.
        path: PathBuf,
        /// The line number (from 1).
        line: usize,
    },
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
#[derive(Clone)]
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
        // Ed25519: the key seals every record version the node writes, and every receiver
        // checks it (faster to check than ECDSA P-256 in ring, and deterministic).
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let mut params = with_serial(node_params(path)?)?;
        validity(&mut params, not_before, days);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(NodeIdentity {
            path: path.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What every node certificate says: the facility path (URI SAN), the name clients ask
/// for, and its uses.
fn node_params(path: &FacilityPath) -> Result<CertificateParams, IdentityError> {
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
    Ok(params)
}

/// Gives a certificate to sign a random serial: a request signed twice gives two
/// certificates a revocation list can tell apart (rcgen would derive both from the
/// same key). Not for a request, which carries none.
fn with_serial(mut params: CertificateParams) -> Result<CertificateParams, IdentityError> {
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| IdentityError::BadRequest("no randomness for a serial number".into()))?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

/// A node's certificate request file (`simpul enroll request`).
pub const NODE_CSR: &str = "node.csr";

impl NodeIdentity {
    /// Makes the key of a new node at `path` and a certificate request for it, into
    /// `dir`: `node.key` (owner-only; it never leaves the machine) and `node.csr`, which
    /// the district signs (`simpul ca sign`). Refuses to overwrite.
    pub fn request(path: &FacilityPath, dir: &Path) -> Result<(), IdentityError> {
        let key = KeyPair::generate_for(&PKCS_ED25519)?;
        let csr = node_params(path)?.serialize_request(&key)?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_new(&dir.join(NODE_KEY), &key.serialize_pem(), true)?;
        write_new(&dir.join(NODE_CSR), &csr.pem()?, false)
    }
}

/// The data API's certificate file (`simpul ca issue-api`).
pub const API_CERT: &str = "api.crt";
/// Its key file (owner-only).
pub const API_KEY: &str = "api.key";

impl DistrictCa {
    /// Signs a node's certificate request (`simpul enroll request`), valid from
    /// `not_before` for `days`: its signature must verify, it must name one facility
    /// (`expected`, when given: the one the district means to enrol), in the district. Only the request's key and path are taken; what the certificate
    /// says besides is what [`DistrictCa::issue`] would give. Returns the path and the
    /// certificate (PEM).
    pub fn sign_request(
        &self,
        csr_pem: &str,
        expected: Option<&FacilityPath>,
        not_before: OffsetDateTime,
        days: i64,
    ) -> Result<(FacilityPath, String), IdentityError> {
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| IdentityError::BadRequest(e.to_string()))?;
        let named: Vec<&str> = csr
            .params
            .subject_alt_names
            .iter()
            .filter_map(|san| match san {
                SanType::URI(uri) => uri.as_str().strip_prefix(FACILITY_URI_PREFIX),
                _ => None,
            })
            .collect();
        let path = match named.as_slice() {
            [one] => {
                FacilityPath::parse(one).map_err(|e| IdentityError::BadRequest(e.to_string()))?
            }
            [] => {
                return Err(IdentityError::BadRequest(
                    "it names no simpul facility".into(),
                ));
            }
            _ => {
                return Err(IdentityError::BadRequest(format!(
                    "it names {} facilities; a node is one",
                    named.len()
                )));
            }
        };
        if let Some(expected) = expected.filter(|e| **e != path) {
            return Err(IdentityError::BadRequest(format!(
                "it is for {path}, not {expected}"
            )));
        }
        if path.district() != self.district {
            return Err(IdentityError::OutsideDistrict {
                path,
                district: self.district.clone(),
            });
        }
        // A node seals what it writes with this key, and its peers check Ed25519 seals.
        if csr.public_key.algorithm() != &PKCS_ED25519 {
            return Err(IdentityError::BadRequest(
                "its key is not Ed25519: make it with `simpul enroll request`".into(),
            ));
        }
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key)?;
        let mut params = with_serial(node_params(&path)?)?;
        validity(&mut params, not_before, days);
        let signed = rcgen::CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        }
        .signed_by(&issuer)?;
        Ok((path, signed.pem()))
    }

    /// Issues a TLS server certificate for the data API at `host` (a DNS name, or an IP
    /// address as the facility's apps reach it), valid from `not_before` for `days`, and
    /// writes `api.crt` and `api.key` (owner-only) into `out`, refusing to overwrite.
    /// Apps trust the district CA's certificate to reach it.
    pub fn issue_api(
        &self,
        host: &str,
        not_before: OffsetDateTime,
        days: i64,
        out: &Path,
    ) -> Result<(), IdentityError> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key)?;
        // ECDSA P-256 (rcgen's default): what every HTTPS client takes.
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        name.push(
            DnType::OrganizationName,
            format!("simpul district {}", self.district),
        );
        params.distinguished_name = name;
        params.subject_alt_names = vec![match host.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into()?),
        }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params, not_before, days);
        let cert = params.signed_by(&key, &issuer)?;
        std::fs::create_dir_all(out).map_err(io(out))?;
        write_new(&out.join(API_CERT), &cert.pem(), false)?;
        write_new(&out.join(API_KEY), &key.serialize_pem(), true)
    }

    /// Revokes the node certificate `cert_pem`: records it in `dir`'s revocation file and
    /// writes a new revocation list, numbered one past the last, to `dir/crl.pem`.
    /// Returns the list (PEM) and its number.
    pub fn revoke(
        &self,
        dir: &Path,
        cert_pem: &str,
        now: OffsetDateTime,
    ) -> Result<(String, u64), IdentityError> {
        let der = pem_der(cert_pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| IdentityError::NoFacility(format!("certificate does not parse: {e}")))?;
        let serial = hex::encode(cert.raw_serial());
        let facility = facility_of(&der)?;
        let path = dir.join(CA_REVOKED);
        let mut revoked = read_revoked(&path)?;
        if revoked.iter().any(|(s, _)| *s == serial) {
            return Err(IdentityError::AlreadyRevoked {
                serial,
                facility: facility.to_string(),
            });
        }
        revoked.push((serial.clone(), now.unix_timestamp()));
        let number = revoked.len() as u64;
        let pem = self.revocation_list(&revoked, number, now)?;
        let mut line = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        use std::io::Write;
        writeln!(line, "{serial} {} {facility}", now.unix_timestamp()).map_err(io(&path))?;
        line.sync_all().map_err(io(&path))?;
        let crl = dir.join(CA_CRL);
        let tmp = dir.join(format!("{CA_CRL}.tmp"));
        std::fs::write(&tmp, &pem).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &crl).map_err(io(&crl))?;
        Ok((pem, number))
    }

    /// A revocation list of `revoked` (serial hex, revocation time), numbered `number`.
    fn revocation_list(
        &self,
        revoked: &[(String, i64)],
        number: u64,
        now: OffsetDateTime,
    ) -> Result<String, IdentityError> {
        let ca_key = KeyPair::from_pem(&self.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, ca_key)?;
        let revoked_certs = revoked
            .iter()
            .map(|(serial, at)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(&hex::decode(serial).unwrap_or_default()),
                revocation_time: OffsetDateTime::from_unix_timestamp(*at).unwrap_or(now),
                reason_code: None,
                invalidity_date: None,
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + Duration::days(CRL_VALID_DAYS),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&issuer)?.pem()?)
    }
}

/// The CA's revocation file: (serial hex, unix seconds) per line.
fn read_revoked(path: &Path) -> Result<Vec<(String, i64)>, IdentityError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let mut parts = l.split_whitespace();
            let bad = || IdentityError::BadRevokedFile {
                path: path.to_path_buf(),
                line: i + 1,
            };
            let serial = parts
                .next()
                .filter(|s| hex::decode(s).is_ok())
                .ok_or_else(bad)?;
            let at = parts.next().and_then(|t| t.parse().ok()).ok_or_else(bad)?;
            Ok((serial.to_string(), at))
        })
        .collect()
}

impl NodeIdentity {
    /// Writes `node.crt` and `node.key` (owner-only) into `dir`, refusing to overwrite.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_new(&dir.join(NODE_CERT), &self.cert_pem, false)?;
        write_new(&dir.join(NODE_KEY), &self.key_pem, true)
    }

    /// The facility a certificate (PEM) names.
    pub fn facility_of_pem(cert_pem: &str) -> Result<FacilityPath, IdentityError> {
        facility_of(&pem_der(cert_pem)?)
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
    simpul_trust::Authority::from_pem(cert_pem)
        .map(|authority| authority.district().to_string())
        .map_err(|e| IdentityError::NoFacility(e.to_string()))
}

/// The facility path a (DER) certificate names in its URI subject alternative name.
pub fn facility_of(cert_der: &[u8]) -> Result<FacilityPath, IdentityError> {
    simpul_trust::facility_of_der(cert_der).map_err(IdentityError::NoFacility)
}
