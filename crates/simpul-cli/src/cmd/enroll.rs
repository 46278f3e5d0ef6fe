//! `simpul enroll request|finish`: a new node's key and certificate request, then its
//! config and store once the district has signed the request, checked end to end.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simpul_net::NodeIdentity;
use x509_parser::prelude::FromDer;

use crate::cli::EnrollCommand;
use crate::exit::{REJECTED, coded};

/// `simpul enroll ...`.
pub(crate) fn run(cmd: EnrollCommand) -> Result<()> {
    match cmd {
        EnrollCommand::Request { path, dir } => {
            let path = super::facility(&path)?;
            NodeIdentity::request(&path, &dir).map_err(|e| coded(REJECTED, e.to_string()))?;
            eprintln!(
                "made the key of {path} ({}) and its request: take {} to the district \
                 (simpul ca sign --ca CA --request node.csr --out DIR), bring back node.crt \
                 and ca.crt, then: simpul enroll finish --dir {} --ca-cert ca.crt --listen ADDR --peer ADDR=PATH",
                path.level(),
                dir.join(simpul_net::identity::NODE_CSR).display(),
                dir.display()
            );
            Ok(())
        }
        EnrollCommand::Finish {
            dir,
            ca_cert,
            listen,
            peers,
            config,
        } => finish(&dir, &ca_cert, &listen, &peers, config),
    }
}

fn rejected(message: impl Into<String>) -> anyhow::Error {
    coded(REJECTED, message.into())
}

fn finish(
    dir: &Path,
    ca_cert: &Path,
    listen: &str,
    peers: &[String],
    config: Option<PathBuf>,
) -> Result<()> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
    // The paths go into the config as TOML strings: plain ones only.
    let plain = dir
        .to_str()
        .is_some_and(|d| !d.contains(['"', '\\']) && !d.chars().any(char::is_control));
    if !plain {
        return Err(rejected(format!(
            "{}: use a directory whose path is plain text (no quotes, backslashes or control characters)",
            dir.display()
        )));
    }
    let (cert, key) = (dir.join("node.crt"), dir.join("node.key"));
    let identity = NodeIdentity::load(&cert, &key).map_err(|e| rejected(e.to_string()))?;
    // Issued by the district's CA, for a facility of its district...
    let ca_pem = std::fs::read_to_string(ca_cert)
        .with_context(|| format!("failed to read {}", ca_cert.display()))?;
    let authority = simpul_trust::Authority::from_pem(&ca_pem)
        .map_err(|e| rejected(format!("{}: {e}", ca_cert.display())))?;
    let cert_der = x509_parser::pem::parse_x509_pem(identity.cert_pem.as_bytes())
        .map_err(|e| rejected(format!("{}: {e}", cert.display())))?
        .1
        .contents;
    authority
        .certify(&cert_der)
        .map_err(|e| rejected(format!("{}: {e}", cert.display())))?;
    // ...and for this node's key: the one the request was made with.
    let key_raw = rcgen::KeyPair::from_pem(&identity.key_pem)
        .map_err(|e| rejected(format!("{}: {e}", key.display())))?
        .public_key_raw()
        .to_vec();
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(&cert_der)
        .map_err(|e| rejected(format!("{}: {e}", cert.display())))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let validity = parsed.validity();
    if now < validity.not_before.timestamp() || now >= validity.not_after.timestamp() {
        return Err(rejected(format!(
            "{} is not valid now ({} to {}): is this machine's clock right?",
            cert.display(),
            validity.not_before,
            validity.not_after
        )));
    }
    if parsed.public_key().subject_public_key.data.as_ref() != key_raw.as_slice() {
        return Err(rejected(format!(
            "{} is not for the key in {}: was it signed from this node's request?",
            cert.display(),
            key.display()
        )));
    }
    let listen: std::net::SocketAddr = listen
        .parse()
        .map_err(|e| rejected(format!("--listen {listen:?}: {e}")))?;
    let mut peer_tables = String::new();
    for peer in peers {
        let (address, path) = peer
            .split_once('=')
            .ok_or_else(|| rejected(format!("--peer {peer:?}: give ADDRESS=FACILITY_PATH")))?;
        let address: std::net::SocketAddr = address
            .parse()
            .map_err(|e| rejected(format!("--peer {peer:?}: {e}")))?;
        let path = super::facility(path)?;
        peer_tables.push_str(&format!(
            "\n[[peer]]\npath = \"{path}\"\naddress = \"{address}\"\n"
        ));
    }
    let ca_copy = dir.join("ca.crt");
    let data = dir.join("data");
    let config = config.unwrap_or_else(|| dir.join("simpul.toml"));
    let text = format!(
        "# Written by `simpul enroll finish`; every key: node-config/README.md.\n\
         path = \"{}\"\ndata_dir = \"{}\"\nlisten = \"{listen}\"\n\
         ca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n{peer_tables}",
        identity.path,
        data.display(),
        ca_copy.display(),
        cert.display(),
        key.display(),
    );
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&config)
            .with_context(|| format!("failed to write {} (it must not exist)", config.display()))?;
        file.write_all(text.as_bytes())?;
    }
    // Once the config is new: an enrolled node's trust anchor is never replaced here.
    if ca_copy != std::fs::canonicalize(ca_cert).unwrap_or_default() {
        std::fs::write(&ca_copy, &ca_pem)
            .with_context(|| format!("failed to write {}", ca_copy.display()))?;
    }
    if !data.join(simpul_store::DB_FILE).exists() {
        let instance: [u8; 4] = rand::random();
        simpul_store::Store::create(
            &data,
            &identity.path,
            instance,
            simpul_store::StoreOptions::default(),
        )
        .with_context(|| format!("failed to create a store in {}", data.display()))?;
    }
    eprintln!(
        "enrolled {} ({}): config {}; checking it end to end:",
        identity.path,
        identity.path.level(),
        config.display()
    );
    super::doctor::doctor(&config, false)
}
