//! The node's configuration file (TOML). Unknown keys are refused by name; every default
//! is documented on its field and in node-config/README.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use simpul_model::FacilityPath;

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("could not read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed, a key is unknown, or a value has the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml said, naming the key and line.
        message: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// One node's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The node's facility path; must match its certificate.
    pub path: String,
    /// The node's data directory (its store); relative paths are relative to the file.
    pub data_dir: PathBuf,
    /// UDP address to listen on for peers.
    pub listen: SocketAddr,
    /// TCP address of the HTTP data API (facility apps). No API when absent. Plain
    /// HTTP only on a loopback address; HTTPS (`api_tls_cert`, `api_tls_key`) elsewhere.
    #[serde(default)]
    pub api_listen: Option<SocketAddr>,
    /// The data API's TLS certificate chain (PEM): one the district CA issued
    /// (`simpul ca issue-api`) or the operator's own.
    #[serde(default)]
    pub api_tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub api_tls_key: Option<PathBuf>,
    /// TCP address of the Prometheus metrics endpoint (`/metrics`). None when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The district CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// This node's certificate (PEM).
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
    /// Seconds between reconciliations with each connected peer. Default 60.
    #[serde(default = "defaults::round_secs")]
    pub round_secs: u64,
    /// First retry delay after a failed dial, in seconds (doubles up to `backoff_max_secs`,
    /// with jitter). Default 2.
    #[serde(default = "defaults::backoff_min_secs")]
    pub backoff_min_secs: u64,
    /// Longest retry delay, in seconds. Default 300.
    #[serde(default = "defaults::backoff_max_secs")]
    pub backoff_max_secs: u64,
    /// The store's page cache in MiB (pages read stay in the node's memory up to this;
    /// the OS caches the file too). Default 2 at a posyandu, whose idle memory matters
    /// on a shared laptop and whose store is small, 32 elsewhere.
    #[serde(default)]
    pub store_cache_mib: Option<u64>,
    /// Peers this node dials.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerConfig>,
    /// Feeds to analytics databases. None when absent.
    #[serde(default)]
    pub feed: FeedSection,
    /// `[satusehat]`: this node talks to SATUSEHAT for its subtree (docs/satusehat.md).
    /// The file then holds the client secret and must be readable by its owner alone.
    #[serde(default)]
    pub satusehat: Option<SatusehatSection>,
}

/// `[satusehat]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SatusehatSection {
    /// The OAuth2 base URL (sandbox `https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1`).
    pub auth_url: String,
    /// The FHIR base URL (sandbox `https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1`).
    pub fhir_url: String,
    /// The client id the Ministry issued to the facility.
    pub client_id: String,
    /// Its secret. Never logged.
    pub client_secret: simpul_satusehat::Secret,
    /// The facility's Organization id on the platform.
    pub organization: String,
    /// Register newborns the platform does not hold yet, under the mother's NIK.
    /// Default true.
    #[serde(default = "defaults::yes")]
    pub register_newborns: bool,
    /// Seconds between rounds of matching new people to the platform. Default 60.
    #[serde(default = "defaults::satusehat_every_secs")]
    pub every_secs: u64,
    /// Send the visits of this node's subtree (each as a transaction Bundle). Default
    /// true.
    #[serde(default = "defaults::yes")]
    pub submit: bool,
    /// `[satusehat.vaccines]`: each antigen's vaccine code (KFA), `"BCG" = "93001019"`.
    /// A dose of an antigen without one waits, naming the key.
    #[serde(default)]
    pub vaccines: std::collections::BTreeMap<String, String>,
    /// The vaccine code system. Default `http://sys-ids.kemkes.go.id/kfa`.
    #[serde(default)]
    pub vaccine_system: Option<String>,
    /// The ANC contact (K1-K6) identifier system. Default
    /// `http://terminology.kemkes.go.id/CodeSystem/episodeofcare/ANC`.
    #[serde(default)]
    pub anc_system: Option<String>,
}

/// The `[feed]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSection {
    /// `[feed.postgres]`: keep a PostgreSQL database up to date (`docs/feed.md`).
    #[serde(default)]
    pub postgres: Option<PostgresFeedConfig>,
}

/// `[feed.postgres]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresFeedConfig {
    /// A libpq connection string or `postgresql://` URL. It may hold a password: keep
    /// the file readable by the node's user only. Never logged.
    pub url: simpul_feed::ConnectionUrl,
    /// Records per PostgreSQL transaction. Default 1000.
    #[serde(default = "defaults::feed_batch")]
    pub batch: usize,
    /// Seconds between looks for new changes (the feed's lag for a live write is at most
    /// this plus a batch). Default 2.
    #[serde(default = "defaults::feed_every_secs")]
    pub every_secs: u64,
    /// Seconds between computations of the PWS months at most (each is a pass over
    /// every person: seconds at a district). Default 900.
    #[serde(default = "defaults::feed_pws_every_secs")]
    pub pws_every_secs: u64,
}

/// A peer this node dials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Its address.
    pub address: SocketAddr,
    /// The facility path its certificate must carry.
    pub path: String,
}

mod defaults {
    pub(super) fn round_secs() -> u64 {
        60
    }
    pub(super) fn backoff_min_secs() -> u64 {
        2
    }
    pub(super) fn backoff_max_secs() -> u64 {
        300
    }
    pub(super) fn feed_batch() -> usize {
        simpul_feed::DEFAULT_BATCH
    }
    pub(super) fn feed_pws_every_secs() -> u64 {
        simpul_feed::DEFAULT_PWS_EVERY.as_secs()
    }
    pub(super) fn feed_every_secs() -> u64 {
        2
    }
    pub(super) fn yes() -> bool {
        true
    }
    pub(super) fn satusehat_every_secs() -> u64 {
        60
    }
}

/// A configuration after checking: paths parsed and files resolved.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's facility path.
    pub path: FacilityPath,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listen address.
    pub listen: SocketAddr,
    /// Data API address, if the API is served.
    pub api_listen: Option<SocketAddr>,
    /// The data API's certificate chain and key (PEM files), when it speaks HTTPS.
    pub api_tls: Option<(PathBuf, PathBuf)>,
    /// Metrics address, if metrics are served.
    pub metrics_listen: Option<SocketAddr>,
    /// CA certificate file.
    pub ca_cert: PathBuf,
    /// Node certificate file.
    pub cert: PathBuf,
    /// Node key file.
    pub key: PathBuf,
    /// Reconciliation interval.
    pub round_every: Duration,
    /// Retry delays.
    pub backoff: (Duration, Duration),
    /// Peers to dial, with the path each must prove.
    pub peers: Vec<(SocketAddr, FacilityPath)>,
    /// The store's page cache in bytes.
    pub store_cache_bytes: usize,
    /// The analytics feed into PostgreSQL, if configured.
    pub feed_postgres: Option<PostgresFeed>,
    /// The SATUSEHAT bridge, if this node holds the credentials.
    pub satusehat: Option<SatusehatBridge>,
}

/// The SATUSEHAT bridge, checked.
#[derive(Clone, Debug)]
pub struct SatusehatBridge {
    /// The platform and the credentials (the secret is not shown by `Debug`).
    pub platform: simpul_satusehat::PlatformConfig,
    /// How often to look for people to match and visits to send.
    pub every: Duration,
    /// Whether to send visits.
    pub submit: bool,
    /// The codes submissions use.
    pub codes: simpul_satusehat::SubmissionCodes,
}

/// The analytics feed into PostgreSQL, checked.
#[derive(Clone, Debug)]
pub struct PostgresFeed {
    /// Connection string (may hold a password: not shown by `Debug`).
    pub url: simpul_feed::ConnectionUrl,
    /// Records per transaction.
    pub batch: usize,
    /// How often to look for new changes.
    pub every: Duration,
    /// How often to compute the PWS months again, at most.
    pub pws_every: Duration,
}

impl NodeConfig {
    /// Reads and checks a configuration file.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        let config = Self::parse(&text, file)?;
        if config.satusehat.is_some() {
            owner_only(file)?;
        }
        Ok(config)
    }

    /// Checks configuration text; `file` names it in errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        let raw: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: file.to_path_buf(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: file.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let path = FacilityPath::parse(&raw.path).map_err(|e| invalid("path", e.to_string()))?;
        let mut peers = Vec::new();
        for (i, p) in raw.peers.iter().enumerate() {
            let peer = FacilityPath::parse(&p.path)
                .map_err(|e| invalid(&format!("peer[{i}].path"), e.to_string()))?;
            if peer.district() != path.district() {
                return Err(invalid(
                    &format!("peer[{i}].path"),
                    format!("{peer} is not in district {}", path.district()),
                ));
            }
            // A peer at this node's own facility is its standby (a district server and
            // the replica kept beside it): another node, with its own certificate.
            if peer == path && p.address == raw.listen {
                return Err(invalid(
                    &format!("peer[{i}].address"),
                    "a node does not dial itself".into(),
                ));
            }
            peers.push((p.address, peer));
        }
        if raw.round_secs == 0 {
            return Err(invalid("round_secs", "must be at least 1".into()));
        }
        let api_tls = match (&raw.api_tls_cert, &raw.api_tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "api_tls_key",
                    "missing: api_tls_cert needs its key".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "api_tls_cert",
                    "missing: api_tls_key needs its certificate".into(),
                ));
            }
        };
        match (raw.api_listen, &api_tls) {
            (Some(addr), None) if !addr.ip().is_loopback() => {
                return Err(invalid(
                    "api_listen",
                    format!(
                        "{addr} is not a loopback address: the data API carries health data, \
                         so off this machine it speaks HTTPS only. Give api_tls_cert and \
                         api_tls_key (`simpul ca issue-api` issues them from the district CA)"
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "api_tls_cert",
                    "there is no api_listen to serve HTTPS on".into(),
                ));
            }
            _ => {}
        }
        if raw.backoff_min_secs == 0 || raw.backoff_min_secs > raw.backoff_max_secs {
            return Err(invalid(
                "backoff_min_secs",
                "must be at least 1 and at most backoff_max_secs".into(),
            ));
        }
        let feed_postgres = match &raw.feed.postgres {
            None => None,
            Some(f) => {
                if f.url.as_str().trim().is_empty() {
                    return Err(invalid("feed.postgres.url", "is empty".into()));
                }
                if !(1..=100_000).contains(&f.batch) {
                    return Err(invalid(
                        "feed.postgres.batch",
                        "must be between 1 and 100000".into(),
                    ));
                }
                if f.every_secs == 0 {
                    return Err(invalid(
                        "feed.postgres.every_secs",
                        "must be at least 1".into(),
                    ));
                }
                Some(PostgresFeed {
                    url: f.url.clone(),
                    batch: f.batch,
                    every: Duration::from_secs(f.every_secs),
                    pws_every: Duration::from_secs(f.pws_every_secs),
                })
            }
        };
        let satusehat = match raw.satusehat {
            None => None,
            Some(s) => {
                let platform = simpul_satusehat::PlatformConfig {
                    auth_url: s.auth_url,
                    fhir_url: s.fhir_url,
                    client_id: s.client_id,
                    client_secret: s.client_secret,
                    organization: s.organization,
                    register_newborns: s.register_newborns,
                };
                platform.check().map_err(|e| {
                    let (key, reason) = e.split_once(": ").unwrap_or(("satusehat", e.as_str()));
                    invalid(key, reason.to_string())
                })?;
                if s.every_secs == 0 {
                    return Err(invalid("satusehat.every_secs", "must be at least 1".into()));
                }
                let mut codes = simpul_satusehat::SubmissionCodes::default();
                for (antigen, code) in s.vaccines {
                    let key = format!("satusehat.vaccines.\"{antigen}\"");
                    let parsed = antigen.parse::<simpul_model::Antigen>().map_err(|_| {
                        let known: Vec<&str> = simpul_model::Antigen::ALL
                            .iter()
                            .map(|a| a.as_str())
                            .collect();
                        invalid(
                            &key,
                            format!("not an antigen (one of {})", known.join(", ")),
                        )
                    })?;
                    if code.is_empty() || code.chars().any(char::is_whitespace) {
                        return Err(invalid(&key, format!("{code:?} is not a code")));
                    }
                    codes.vaccines.insert(parsed, code);
                }
                for (key, given, slot) in [
                    (
                        "satusehat.vaccine_system",
                        s.vaccine_system,
                        &mut codes.vaccine_system,
                    ),
                    ("satusehat.anc_system", s.anc_system, &mut codes.anc_system),
                ] {
                    if let Some(system) = given {
                        if !(system.starts_with("http://") || system.starts_with("https://"))
                            || system.chars().any(char::is_whitespace)
                        {
                            return Err(invalid(key, format!("{system:?} is not a system URL")));
                        }
                        *slot = system;
                    }
                }
                Some(SatusehatBridge {
                    platform,
                    every: Duration::from_secs(s.every_secs),
                    submit: s.submit,
                    codes,
                })
            }
        };
        let base = file.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        let store_cache_bytes = store_cache_bytes(&path, raw.store_cache_mib)
            .map_err(|reason| invalid("store_cache_mib", reason))?;
        Ok(Self {
            path,
            data_dir: resolve(&raw.data_dir),
            listen: raw.listen,
            api_listen: raw.api_listen,
            api_tls: api_tls.map(|(cert, key)| (resolve(&cert), resolve(&key))),
            metrics_listen: raw.metrics_listen,
            ca_cert: resolve(&raw.ca_cert),
            cert: resolve(&raw.cert),
            key: resolve(&raw.key),
            round_every: Duration::from_secs(raw.round_secs),
            backoff: (
                Duration::from_secs(raw.backoff_min_secs),
                Duration::from_secs(raw.backoff_max_secs),
            ),
            peers,
            store_cache_bytes,
            feed_postgres,
            satusehat,
        })
    }
}

/// A file holding a secret must be readable by its owner alone.
fn owner_only(file: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file)
        .map_err(|source| ConfigError::Read {
            path: file.to_path_buf(),
            source,
        })?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(ConfigError::Invalid {
            path: file.to_path_buf(),
            key: "satusehat.client_secret".into(),
            reason: format!(
                "the file holds a secret and others may read it (mode {:o}); chmod 600 {}",
                mode & 0o777,
                file.display()
            ),
        });
    }
    Ok(())
}

/// The page cache for a node at `path`: `mib` if set (1 to 65,536), else by level.
fn store_cache_bytes(path: &FacilityPath, mib: Option<u64>) -> Result<usize, String> {
    let mib = match mib {
        Some(m) if !(1..=65_536).contains(&m) => {
            return Err(format!("{m} is not between 1 and 65536"));
        }
        Some(m) => m,
        None if path.level() == simpul_model::Level::Posyandu => 2,
        None => 32,
    };
    Ok(usize::try_from(mib << 20).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
path = "3273/P3273010201/3273010201-PU1"
data_dir = "data/pu1"
listen = "127.0.0.1:7401"
ca_cert = "pki/ca.crt"
cert = "pki/pu1/node.crt"
key = "pki/pu1/node.key"

[[peer]]
address = "127.0.0.1:7400"
path = "3273/P3273010201"
"#;

    #[test]
    fn a_good_file_loads_with_defaults_and_resolved_paths() {
        let c = NodeConfig::parse(GOOD, Path::new("/etc/simpul/pu1.toml")).expect("valid");
        assert_eq!(c.path.as_str(), "3273/P3273010201/3273010201-PU1");
        assert_eq!(c.data_dir, PathBuf::from("/etc/simpul/data/pu1"));
        assert_eq!(c.round_every, Duration::from_secs(60));
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.store_cache_bytes, 32 << 20, "a pustu's page cache");
        let py = GOOD.replace(
            "3273/P3273010201/3273010201-PU1\"\ndata_dir",
            "3273/P3273010201/3273010201-PU1/3273010201-PY01\"\ndata_dir",
        );
        let c = NodeConfig::parse(&py, Path::new("py.toml")).expect("valid");
        assert_eq!(c.store_cache_bytes, 2 << 20, "a posyandu's page cache");
        let err = NodeConfig::parse(&format!("store_cache_mib = 0\n{GOOD}"), Path::new("x.toml"))
            .expect_err("zero");
        assert!(err.to_string().contains("store_cache_mib"), "{err}");
    }

    #[test]
    fn a_standby_at_the_same_facility_is_a_peer_but_the_node_itself_is_not() {
        let file = Path::new("n.toml");
        let standby = GOOD.replace(
            "path = \"3273/P3273010201\"",
            "path = \"3273/P3273010201/3273010201-PU1\"",
        );
        let c = NodeConfig::parse(&standby, file).expect("a standby");
        assert_eq!(c.peers[0].1, c.path);
        let itself = standby.replace("127.0.0.1:7400", "127.0.0.1:7401");
        let err = NodeConfig::parse(&itself, file).expect_err("dials itself");
        assert!(err.to_string().contains("peer[0].address"), "{err}");
        assert!(err.to_string().contains("itself"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let file = Path::new("n.toml");
        let err =
            NodeConfig::parse(&format!("{GOOD}\nround_sec = 5\n"), file).expect_err("unknown key");
        assert!(err.to_string().contains("round_sec"), "{err}");
        let err = NodeConfig::parse(
            &GOOD.replace("3273/P3273010201\"", "3201/P3201010201\""),
            file,
        )
        .expect_err("other district");
        assert!(err.to_string().contains("peer[0].path"), "{err}");
        let err = NodeConfig::parse(&GOOD.replace("127.0.0.1:7401", "not an address"), file)
            .expect_err("bad address");
        assert!(err.to_string().contains("listen"), "{err}");
        let err = NodeConfig::parse(
            &GOOD.replace("3273/P3273010201/3273010201-PU1\"", "3273/oops\""),
            file,
        )
        .expect_err("bad path");
        assert!(err.to_string().contains("path"), "{err}");
        let err = NodeConfig::parse(&format!("round_secs = 0\n{GOOD}"), file).expect_err("zero");
        assert!(err.to_string().contains("round_secs"), "{err}");
    }

    #[test]
    fn the_feed_section_is_checked_and_its_url_never_shown() {
        let file = Path::new("n.toml");
        let feed = "\n[feed.postgres]\nurl = \"postgresql://simpul:s3cret@db/simpul\"\n";
        let c = NodeConfig::parse(&format!("{GOOD}{feed}"), file).expect("valid");
        let f = c.feed_postgres.as_ref().expect("feed");
        assert_eq!((f.batch, f.every), (1_000, Duration::from_secs(2)));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the password stays out of logs"
        );
        let err = NodeConfig::parse(&format!("{GOOD}{feed}batch = 0\n"), file).expect_err("zero");
        assert!(err.to_string().contains("feed.postgres.batch"), "{err}");
        let err = NodeConfig::parse(&format!("{GOOD}{feed}every = 3\n"), file).expect_err("key");
        assert!(err.to_string().contains("every"), "{err}");
        let err = NodeConfig::parse(&format!("{GOOD}\n[feed.mysql]\nurl = \"x\"\n"), file)
            .expect_err("unknown feed");
        assert!(err.to_string().contains("mysql"), "{err}");
    }

    #[test]
    fn the_satusehat_section_is_checked_key_by_key_and_its_secret_never_shown() {
        let file = Path::new("n.toml");
        let section = "\n[satusehat]\nauth_url = \"https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1\"\n\
             fhir_url = \"https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1\"\n\
             client_id = \"c1\"\nclient_secret = \"s3cret\"\norganization = \"10000004\"\n";
        let c = NodeConfig::parse(&format!("{GOOD}{section}"), file).expect("valid");
        let bridge = c.satusehat.as_ref().expect("bridge");
        assert_eq!(bridge.every, Duration::from_secs(60));
        assert!(bridge.submit, "visits are sent by default");
        let coded = NodeConfig::parse(
            &format!("{GOOD}{section}[satusehat.vaccines]\n\"BCG\" = \"93001019\"\n"),
            file,
        )
        .expect("vaccine codes");
        let codes = &coded.satusehat.as_ref().expect("bridge").codes;
        assert_eq!(
            codes
                .vaccines
                .get(&simpul_model::Antigen::Bcg)
                .map(String::as_str),
            Some("93001019")
        );
        assert!(bridge.platform.register_newborns);
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the secret stays out of logs"
        );
        let cases = [
            (
                section.replace("https://api-satusehat-stg", "http://api-satusehat-stg"),
                "satusehat.auth_url",
            ),
            (
                section.replace("client_id = \"c1\"", "client_id = \"\""),
                "satusehat.client_id",
            ),
            (
                section.replace("\"10000004\"", "\"10 00\""),
                "satusehat.organization",
            ),
            (format!("{section}every_secs = 0\n"), "satusehat.every_secs"),
            (format!("{section}password = \"x\"\n"), "password"),
            (
                section.replace("organization = \"10000004\"\n", ""),
                "organization",
            ),
            (
                format!("{section}anc_system = \"K-codes\"\n"),
                "satusehat.anc_system",
            ),
            (
                format!("{section}vaccine_system = \"kfa please\"\n"),
                "satusehat.vaccine_system",
            ),
            (
                format!("{section}[satusehat.vaccines]\n\"BCX\" = \"93001019\"\n"),
                "satusehat.vaccines.\"BCX\"",
            ),
            (
                format!("{section}[satusehat.vaccines]\n\"BCG\" = \"930 01019\"\n"),
                "satusehat.vaccines.\"BCG\"",
            ),
        ];
        for (text, key) in cases {
            let err = NodeConfig::parse(&format!("{GOOD}{text}"), file).expect_err(key);
            let said = err.to_string();
            assert!(said.contains(key), "{said} should name {key}");
            assert!(!said.contains("s3cret"), "{said}");
        }
    }
}
