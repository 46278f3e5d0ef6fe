//! What can go wrong talking to the platform, said so that a bidan or technician knows
//! what to do.

/// A request the platform did not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The platform refused the request as it stands (a 4xx): its OperationOutcome's
    /// texts say what to fix. Retrying the same request will not help.
    #[error("SATUSEHAT refused the request (HTTP {status}): {outcome}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The issues the platform listed, joined.
        outcome: String,
        /// The issues' codes (`duplicate`, `required`, ...).
        codes: Vec<String>,
    },
    /// The platform did not accept the node's client id and secret.
    #[error("SATUSEHAT did not accept the client id and secret in the node's config: {0}")]
    Credentials(String),
    /// The platform could not be reached or kept failing (5xx, rate limit, dropped
    /// connections, timeouts) through every attempt; the request may be tried later.
    #[error("SATUSEHAT is unavailable ({attempts} attempts; last: {last})")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// What the last one met.
        last: String,
    },
    /// The platform answered with something that is not what FHIR says it sends.
    #[error("SATUSEHAT's answer could not be read: {0}")]
    Malformed(String),
}

impl PlatformError {
    /// True when the same request may succeed later without anyone changing it.
    pub fn is_transient(&self) -> bool {
        matches!(self, PlatformError::Unavailable { .. })
    }
}

/// The codes of an OperationOutcome's issues (`issue.code`), none when the body is not
/// one.
pub(crate) fn outcome_codes(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .filter(|v| v["resourceType"] == "OperationOutcome")
        .and_then(|v| v["issue"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|issue| issue["code"].as_str().map(str::to_string))
        .collect()
}

/// The texts of an OperationOutcome's issues (`details.text`, else `diagnostics`, else
/// `code`), joined; the body itself (cut short) when it is not one.
pub(crate) fn outcome_text(body: &str) -> String {
    let texts: Vec<String> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .filter(|v| v["resourceType"] == "OperationOutcome")
        .and_then(|v| v["issue"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|issue| {
            let text = issue["details"]["text"]
                .as_str()
                .or_else(|| issue["diagnostics"].as_str())
                .or_else(|| issue["code"].as_str())?;
            Some(
                match issue["expression"].as_array().and_then(|e| e.first()) {
                    Some(at) => format!("{text} (at {})", at.as_str().unwrap_or_default()),
                    None => text.to_string(),
                },
            )
        })
        .collect();
    if texts.is_empty() {
        let mut cut: String = body.chars().take(300).collect();
        if cut.is_empty() {
            cut = "(no body)".into();
        }
        cut
    } else {
        texts.join("; ")
    }
}

/// Why a round of the bridge (matching, submission) stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// The platform could not be used; the round resumes where it stopped next time.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Read(#[from] simpul_store::ReadError),
    /// The store could not be written.
    #[error("writing the store: {0}")]
    Write(#[from] simpul_store::WriteError),
}
