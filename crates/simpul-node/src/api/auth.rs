//! Bearer tokens: who is calling, and whether their role allows what they ask.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use simpul_model::{Permission, Role};
use simpul_store::{TokenInfo, token_hash};

use super::App;
use super::error::ApiError;
use crate::admin::{Caller, Via};

/// A caller whose token the node issued and has not revoked.
#[derive(Debug, Clone)]
pub struct Authed {
    /// The token's record.
    pub token: TokenInfo,
}

impl Authed {
    /// Refuses (403) unless the role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<Caller, ApiError> {
        if self.token.role.may(permission) {
            Ok(self.caller())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "a {} token may not {permission} (Permenkes 24/2022 roles: kader input, bidan input and correct, viewer view)",
                    self.token.role
                ),
            ))
        }
    }

    /// Refuses (403) unless the role is one of `roles`.
    pub fn require_role(&self, roles: &[Role], what: &str) -> Result<Caller, ApiError> {
        if roles.contains(&self.token.role) || self.token.role == Role::Technician {
            Ok(self.caller())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("a {} token may not read {what}", self.token.role),
            ))
        }
    }

    fn caller(&self) -> Caller {
        Caller {
            who: self.token.name.clone(),
            nik: self.token.nik.clone(),
            role: self.token.role,
            via: Via::Api,
        }
    }
}

impl FromRequestParts<App> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer <token>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization is not `Bearer <token>`"))?;
        authenticate(app, token).await
    }
}

/// The holder of `token`, if it is one this node issued and has not revoked.
pub(crate) async fn authenticate(app: &App, token: &str) -> Result<Authed, ApiError> {
    authenticate_hash(app, token_hash(token)).await
}

/// The holder of the token whose hash is `hash`, if it is one this node issued and
/// has not revoked.
pub(crate) async fn authenticate_hash(app: &App, hash: [u8; 32]) -> Result<Authed, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let store = app.node.store.clone();
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
    let info = tokio::task::spawn_blocking(move || store.token(&hash))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(e.to_string()))?
        .ok_or_else(|| unauthorized("unknown token"))?;
    if info.revoked_ms.is_some() {
        return Err(unauthorized("token revoked"));
    }
    Ok(Authed { token: info })
}
