//! Where the platform is, and who this node is to it.

use std::fmt;

/// A value kept out of logs and debug output (the client secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one request that sends it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The platform's addresses and this node's credentials on it. The URLs differ between
/// the sandbox (`https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1`, `.../fhir-r4/v1`)
/// and production (`https://api-satusehat.kemkes.go.id/...`): configuration, never code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformConfig {
    /// The OAuth2 base URL; tokens come from `{auth_url}/accesstoken`.
    pub auth_url: String,
    /// The FHIR base URL.
    pub fhir_url: String,
    /// The client id the Ministry issued to the facility.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// The facility's Organization id on the platform (each client id belongs to one).
    pub organization: String,
    /// Register the newborns the platform does not hold yet (under the mother's NIK).
    pub register_newborns: bool,
}

impl PlatformConfig {
    /// Checks the configuration, naming the key that is wrong: both URLs `https://`
    /// (plain `http://` only to a loopback address, for a local stand-in), no trailing
    /// slash, a client id and secret, an organization id.
    pub fn check(&self) -> Result<(), String> {
        for (key, url) in [("auth_url", &self.auth_url), ("fhir_url", &self.fhir_url)] {
            check_url(url).map_err(|e| format!("satusehat.{key}: {e}"))?;
        }
        if self.client_id.trim().is_empty() {
            return Err("satusehat.client_id: empty".into());
        }
        if self.client_secret.expose().is_empty() {
            return Err("satusehat.client_secret: empty".into());
        }
        if self.organization.is_empty()
            || !self
                .organization
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "satusehat.organization: {:?} is not an Organization id",
                self.organization
            ));
        }
        Ok(())
    }
}

/// An `https://` URL, or `http://` to this machine alone (a local stand-in): parsed by
/// the HTTP library the client sends with, so what is checked is where it goes.
fn check_url(url: &str) -> Result<(), String> {
    if url.ends_with('/') {
        return Err(format!("{url:?} ends with '/'"));
    }
    let parsed = url.parse::<ureq::http::Uri>();
    let host = parsed
        .as_ref()
        .ok()
        .and_then(|u| u.authority())
        // No user part (`http://localhost@elsewhere/` goes elsewhere), and a port that
        // is a number (the library parses ports lazily).
        .filter(|a| !a.as_str().contains('@') && (a.as_str() == a.host() || a.port_u16().is_some()))
        .map(|a| a.host());
    if url.starts_with("https://") && host.is_some_and(|h| !h.is_empty()) {
        return Ok(());
    }
    if !url.starts_with("http://") {
        return Err(format!("{url:?} is not an https:// URL"));
    }
    if matches!(host, Some("127.0.0.1" | "localhost" | "[::1]")) {
        Ok(())
    } else {
        Err(format!(
            "{url:?}: plain http carries health data and credentials in the clear; use https://"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PlatformConfig {
        PlatformConfig {
            auth_url: "https://api-satusehat-stg.dto.kemkes.go.id/oauth2/v1".into(),
            fhir_url: "https://api-satusehat-stg.dto.kemkes.go.id/fhir-r4/v1".into(),
            client_id: "client".into(),
            client_secret: Secret::new("s3cret"),
            organization: "10000004".into(),
            register_newborns: true,
        }
    }

    #[test]
    fn a_configuration_is_checked_key_by_key_and_its_secret_never_printed() {
        config().check().expect("the sandbox");
        let printed = format!("{:?}", config());
        assert!(!printed.contains("s3cret"), "{printed}");
        type Spoil = fn(&mut PlatformConfig);
        let cases: [(Spoil, &str); 6] = [
            (
                |c| c.auth_url = "http://api-satusehat.kemkes.go.id/oauth2/v1".into(),
                "satusehat.auth_url: ",
            ),
            (
                |c| c.fhir_url = "ftp://x".into(),
                "satusehat.fhir_url: \"ftp://x\" is not an https:// URL",
            ),
            (|c| c.fhir_url.push('/'), "ends with '/'"),
            (|c| c.client_id = " ".into(), "satusehat.client_id: empty"),
            (
                |c| c.client_secret = Secret::new(""),
                "satusehat.client_secret: empty",
            ),
            (
                |c| c.organization = "10 00".into(),
                "satusehat.organization: ",
            ),
        ];
        for (spoil, says) in cases {
            let mut c = config();
            spoil(&mut c);
            let err = c.check().expect_err("refused");
            assert!(err.contains(says), "{err} should say {says}");
        }
        for url in [
            "http://127.0.0.1:8080/oauth2/v1",
            "http://localhost/oauth2/v1",
            "http://[::1]:9000",
        ] {
            let mut local = config();
            local.auth_url = url.into();
            local.check().expect(url);
        }
        for url in [
            "http://localhost:1@evil.example/v1",
            "http://127.0.0.1:1@evil.example",
            "http://[::1]@evil.example",
            "http://localhost@evil.example/v1",
            "http://127.0.0.1.evil.example/v1",
            "http://localhost:80x/v1",
        ] {
            let mut remote = config();
            remote.auth_url = url.into();
            let err = remote.check().expect_err(url);
            assert!(err.contains("plain http"), "{url}: {err}");
        }
    }
}
