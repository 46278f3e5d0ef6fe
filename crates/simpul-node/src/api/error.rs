//! Errors of the data API: a status and a JSON body naming what is wrong, one message
//! per rejected field.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use simpul_model::FieldError;

use crate::admin::{Failure, FailureKind};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
    /// Rejected fields (422).
    pub fields: Vec<FieldError>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    fields: &'a [FieldError],
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// 422: the given fields were rejected.
    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.reason))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message,
            fields,
        }
    }

    /// 422 for one field.
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }])
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        let status = match f.kind {
            FailureKind::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
            FailureKind::NotFound => StatusCode::NOT_FOUND,
            FailureKind::BadRequest => StatusCode::BAD_REQUEST,
            FailureKind::NotRunning | FailureKind::StoreFailed => StatusCode::SERVICE_UNAVAILABLE,
            FailureKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %f.message, "data API request failed");
        }
        Self {
            status,
            message: f.message,
            fields: f.fields,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            fields: &self.fields,
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"simpul\""),
            );
        }
        response
    }
}
