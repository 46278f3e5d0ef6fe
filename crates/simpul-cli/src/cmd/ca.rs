//! `simpul ca init | issue | revoke | renew`: the district CA, node certificates, and the
//! district's revocation list.

use anyhow::{Context, Result};
use simpul_net::{DistrictCa, IdentityError};
use time::OffsetDateTime;

use super::facility;
use crate::cli::CaCommand;
use crate::exit::{REJECTED, coded};

pub(crate) fn run(cmd: CaCommand) -> Result<()> {
    // Certificates start an hour back, so that a peer whose clock is a little behind
    // does not refuse a certificate issued a moment ago.
    let not_before = OffsetDateTime::now_utc() - time::Duration::hours(1);
    match cmd {
        CaCommand::Init {
            district,
            out,
            days,
        } => {
            let district = facility(&district)?;
            let ca = DistrictCa::create(&district, not_before, days).map_err(rejected)?;
            ca.save(&out)
                .map_err(rejected)
                .with_context(|| format!("failed to write the CA to {}", out.display()))?;
            eprintln!(
                "created the CA of district {district} in {} (keep ca.key offline)",
                out.display()
            );
        }
        CaCommand::Issue {
            ca,
            path,
            out,
            days,
        } => {
            let path = facility(&path)?;
            let authority = DistrictCa::load(&ca)
                .with_context(|| format!("failed to read the CA in {}", ca.display()))?;
            let node = authority.issue(&path, not_before, days).map_err(rejected)?;
            node.save(&out)
                .map_err(rejected)
                .with_context(|| format!("failed to write the certificate to {}", out.display()))?;
            eprintln!(
                "issued a certificate for {path} ({}) in {}",
                path.level(),
                out.display()
            );
        }
        CaCommand::Sign {
            ca,
            request,
            path,
            out,
            days,
        } => {
            let expected = facility(&path)?;
            let authority = DistrictCa::load(&ca)
                .with_context(|| format!("failed to read the CA in {}", ca.display()))?;
            let csr = std::fs::read_to_string(&request)
                .with_context(|| format!("failed to read {}", request.display()))?;
            let (path, cert) = authority
                .sign_request(&csr, Some(&expected), not_before, days)
                .map_err(rejected)?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("failed to create {}", out.display()))?;
            let file = out.join("node.crt");
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, cert.as_bytes()))
                .with_context(|| {
                    format!("failed to write {} (it must not exist)", file.display())
                })?;
            eprintln!(
                "signed a certificate for {path} ({}): {}; hand it back to the node with the district's ca.crt",
                path.level(),
                file.display()
            );
        }
        CaCommand::IssueApi {
            ca,
            host,
            out,
            days,
        } => {
            let authority = DistrictCa::load(&ca)
                .with_context(|| format!("failed to read the CA in {}", ca.display()))?;
            authority
                .issue_api(&host, not_before, days, &out)
                .map_err(rejected)?;
            eprintln!(
                "issued the data API's certificate for {host} in {}: set api_tls_cert and \
                 api_tls_key in the node's config; apps trust {}",
                out.display(),
                ca.join("ca.crt").display()
            );
        }
        CaCommand::Revoke { ca, cert } => {
            let authority = DistrictCa::load(&ca)
                .with_context(|| format!("failed to read the CA in {}", ca.display()))?;
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("failed to read {}", cert.display()))?;
            let facility = simpul_net::NodeIdentity::facility_of_pem(&pem).map_err(rejected)?;
            let (_, number) = authority
                .revoke(&ca, &pem, OffsetDateTime::now_utc())
                .map_err(rejected)?;
            eprintln!(
                "revoked the certificate of {facility}: revocation list {number} written to {}; \
                 take it in at any node with `simpul revocations add`",
                ca.join(simpul_net::identity::CA_CRL).display()
            );
        }
        CaCommand::Renew {
            ca,
            cert,
            out,
            days,
        } => {
            let authority = DistrictCa::load(&ca)
                .with_context(|| format!("failed to read the CA in {}", ca.display()))?;
            let pem = std::fs::read_to_string(&cert)
                .with_context(|| format!("failed to read {}", cert.display()))?;
            let path = simpul_net::NodeIdentity::facility_of_pem(&pem).map_err(rejected)?;
            let node = authority.issue(&path, not_before, days).map_err(rejected)?;
            node.save(&out)
                .map_err(rejected)
                .with_context(|| format!("failed to write the certificate to {}", out.display()))?;
            eprintln!(
                "issued a new key and certificate for {path} in {}; the old one stays valid until \
                 it expires unless revoked (`simpul ca revoke`)",
                out.display()
            );
        }
    }
    Ok(())
}

/// Input the CA refuses (a path outside its district, files already there) is a rejection.
fn rejected(e: IdentityError) -> anyhow::Error {
    match e {
        IdentityError::NotADistrict(_)
        | IdentityError::OutsideDistrict { .. }
        | IdentityError::Exists(_)
        | IdentityError::AlreadyRevoked { .. }
        | IdentityError::NoFacility(_)
        | IdentityError::BadRequest(_) => coded(REJECTED, e.to_string()),
        other => anyhow::Error::new(other),
    }
}
