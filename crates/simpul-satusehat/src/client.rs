//! The platform session: OAuth2 client credentials, and requests retried the way a
//! flaky link and a busy platform need.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::PlatformConfig;
use crate::error::{PlatformError, outcome_codes, outcome_text};

/// How requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request before it counts as unavailable.
    pub attempts: u32,
    /// The wait after the first failure; it doubles after each one.
    pub first_delay: Duration,
    /// The longest wait (also the most a `Retry-After` is honoured for).
    pub max_delay: Duration,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

/// A bearer token and when to stop using it.
struct Token {
    value: String,
    renew_at: Instant,
}

/// A session with the platform. Requests are blocking: the bridge runs them on a
/// thread of its own.
pub struct Platform {
    config: PlatformConfig,
    retry: RetryPolicy,
    agent: ureq::Agent,
    token: Mutex<Option<Token>>,
}

/// One answer: status and body.
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    body: String,
}

impl Platform {
    /// A session with the platform `config` names; checks the configuration first.
    pub fn new(config: PlatformConfig, retry: RetryPolicy) -> Result<Self, String> {
        config.check()?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(retry.timeout))
            .http_status_as_error(false)
            .user_agent(concat!("simpul/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self {
            config,
            retry,
            agent,
            token: Mutex::new(None),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PlatformConfig {
        &self.config
    }

    /// `GET {fhir_url}/{path}?{query}` as JSON, authorised, with retries.
    pub(crate) fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<serde_json::Value, PlatformError> {
        let url = format!("{}/{path}", self.config.fhir_url);
        let body = self.authorised(Repeat::Always, |token| {
            let mut request = self
                .agent
                .get(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Accept", "application/fhir+json, application/json");
            for (k, v) in query {
                request = request.query(k, v);
            }
            request.call()
        })?;
        json(path, &body)
    }

    /// `POST {fhir_url}/{path}` of `resource` (`POST {fhir_url}` with an empty path: a
    /// transaction Bundle), creating it: retried only when the
    /// platform surely did not take it (a rate limit, an ended token). After a 5xx or a
    /// lost answer it may exist already: the caller looks before creating again.
    pub(crate) fn create(
        &self,
        path: &str,
        resource: &serde_json::Value,
    ) -> Result<serde_json::Value, PlatformError> {
        // A transaction Bundle goes to the base URL itself.
        let url = match path {
            "" => self.config.fhir_url.clone(),
            path => format!("{}/{path}", self.config.fhir_url),
        };
        let body = self.authorised(Repeat::OnlyUntaken, |token| {
            self.agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .send_json(resource)
        })?;
        json(path, &body)
    }

    /// Runs `send` with a valid token until it succeeds, is refused, or every attempt
    /// `repeat` allows failed. A 401 is answered once with a new token (the platform may
    /// end a token early).
    fn authorised(
        &self,
        repeat: Repeat,
        send: impl Fn(&str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, PlatformError> {
        let mut renewed = false;
        self.with_retries(|| {
            let token = self.token()?;
            match read(send(&token)) {
                Ok(a) if a.status == 401 && !renewed => {
                    renewed = true;
                    self.forget_token();
                    Err(Attempt::Renewed)
                }
                Ok(a) if a.status == 401 => Err(Attempt::Final(PlatformError::Credentials(
                    outcome_text(&a.body),
                ))),
                other => classify(other, repeat),
            }
        })
    }

    /// The current token, asked for when there is none or it is about to expire.
    fn token(&self) -> Result<String, Attempt> {
        let mut held = self.token.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = held.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let url = format!("{}/accesstoken", self.config.auth_url);
        let answer = read(
            self.agent
                .post(&url)
                .query("grant_type", "client_credentials")
                .send_form([
                    ("client_id", self.config.client_id.as_str()),
                    ("client_secret", self.config.client_secret.expose()),
                ]),
        );
        let body = match answer {
            Ok(a) if matches!(a.status, 400 | 401 | 403) => {
                return Err(Attempt::Final(PlatformError::Credentials(outcome_text(
                    &a.body,
                ))));
            }
            other => classify(other, Repeat::Always)?,
        };
        let token = parse_token(&body).map_err(|e| Attempt::Final(PlatformError::Malformed(e)))?;
        let value = token.value.clone();
        *held = Some(token);
        Ok(value)
    }

    fn forget_token(&self) {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn with_retries<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, Attempt>,
    ) -> Result<T, PlatformError> {
        let mut delay = self.retry.first_delay;
        let mut last = String::new();
        let mut tries = 0;
        while tries < self.retry.attempts {
            tries += 1;
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Attempt::Final(e)) => return Err(e),
                // A token the platform ended early is not a failure of the platform
                // (and is renewed once per request at most: see `authorised`).
                Err(Attempt::Renewed) => tries -= 1,
                Err(Attempt::Again(why, wait)) => {
                    tracing::debug!(attempt = tries, reason = %why, "SATUSEHAT request failed; retrying");
                    last = why;
                    if tries < self.retry.attempts {
                        std::thread::sleep(wait.unwrap_or(delay).min(self.retry.max_delay));
                        delay = (delay * 2).min(self.retry.max_delay);
                    }
                }
            }
        }
        Err(PlatformError::Unavailable {
            attempts: tries,
            last,
        })
    }
}

/// Which failures a request is sent again after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    /// Any that may pass: a read changes nothing.
    Always,
    /// Only those the platform surely did not act on (a create).
    OnlyUntaken,
}

/// What one attempt came to, short of success.
pub(crate) enum Attempt {
    /// Worth trying again (after the wait, when the platform named one).
    Again(String, Option<Duration>),
    /// The token was refused and forgotten: try again at once with a new one.
    Renewed,
    /// Not worth trying again.
    Final(PlatformError),
}

fn read(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, ureq::Error> {
    let mut response = result?;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(32 << 20)
        .read_to_string()?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Success, a refusal, or worth another attempt (for a create, only a rate limit is:
/// after a 5xx or a lost answer the platform may have taken it).
fn classify(answer: Result<Answer, ureq::Error>, repeat: Repeat) -> Result<String, Attempt> {
    let again = |why: String, wait| match repeat {
        Repeat::OnlyUntaken => Attempt::Final(PlatformError::Unavailable {
            attempts: 1,
            last: why,
        }),
        Repeat::Always => Attempt::Again(why, wait),
    };
    match answer {
        Ok(a) if (200..300).contains(&a.status) => Ok(a.body),
        Ok(a) if a.status == 429 => Err(Attempt::Again(
            format!("HTTP 429: {}", outcome_text(&a.body)),
            a.retry_after,
        )),
        Ok(a) if a.status >= 500 => Err(again(
            format!("HTTP {}: {}", a.status, outcome_text(&a.body)),
            a.retry_after,
        )),
        Ok(a) => Err(Attempt::Final(PlatformError::Refused {
            status: a.status,
            outcome: outcome_text(&a.body),
            codes: outcome_codes(&a.body),
        })),
        Err(e) => Err(again(e.to_string(), None)),
    }
}

/// A FHIR answer's JSON.
fn json(path: &str, body: &str) -> Result<serde_json::Value, PlatformError> {
    serde_json::from_str(body).map_err(|e| PlatformError::Malformed(format!("{path}: {e}")))
}

/// Reads the token endpoint's answer. The platform sends every value as a string
/// (`"expires_in": "3599"`); a number is taken too.
fn parse_token(body: &str) -> Result<Token, String> {
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the token answer is not JSON: {e}"))?;
    let value = v["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the token answer has no access_token")?
        .to_string();
    let lifetime = match &v["expires_in"] {
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .ok_or("the token answer has no expires_in")?
    // The platform's tokens last an hour; a day is the most believed.
    .min(86_400);
    // Renewed ahead of expiry: five minutes early for the platform's hour, half the
    // lifetime for a short one.
    let early = Duration::from_secs(lifetime.min(600) / 2);
    Ok(Token {
        value,
        renew_at: Instant::now() + Duration::from_secs(lifetime) - early,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_is_read_as_the_platform_sends_it_and_a_broken_one_refused() {
        let t = parse_token(r#"{"access_token": "abc", "expires_in": "3599"}"#).expect("strings");
        assert_eq!(t.value, "abc");
        // Renewed five minutes early.
        let left = t.renew_at.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_secs(3_290) && left <= Duration::from_secs(3_299));
        parse_token(r#"{"access_token": "abc", "expires_in": 60}"#).expect("a number");
        // An absurd lifetime is believed for a day at most (and does not overflow).
        let long = parse_token(r#"{"access_token": "a", "expires_in": "18446744073709551615"}"#)
            .expect("long");
        assert!(long.renew_at < Instant::now() + Duration::from_secs(86_400));
        for (body, says) in [
            ("Gateway Timeout", "not JSON"),
            (r#"{"expires_in": "3599"}"#, "no access_token"),
            (
                r#"{"access_token": "", "expires_in": "3599"}"#,
                "no access_token",
            ),
            (
                r#"{"access_token": "abc", "expires_in": "soon"}"#,
                "no expires_in",
            ),
        ] {
            let err = parse_token(body).err().expect(body);
            assert!(err.contains(says), "{body}: {err}");
        }
    }
}
