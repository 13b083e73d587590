//! Errors of the admin API as RFC 9457 problem details (`application/problem+json`), with
//! the Dutch text a person reads in `detail`. The one place an API failure becomes a
//! response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// A refused or failed API call.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// A short English title for the kind (stable, for programs).
    pub title: &'static str,
    /// Dutch text for a person.
    pub detail: String,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    /// No or a bad bearer token.
    pub fn unauthorized(detail: String) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            title: "Unauthorized",
            detail,
        }
    }

    /// Authenticated, but not allowed (SECURITY AC-01, AC-07).
    pub fn forbidden(detail: String) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            title: "Forbidden",
            detail,
        }
    }

    /// No such thing (or none the caller may know of).
    pub fn not_found(detail: String) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            title: "Not Found",
            detail,
        }
    }

    /// Something broke on our side; `cause` is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display, detail: String) -> Self {
        tracing::error!(error = %cause, "admin API call failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal Server Error",
            detail,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Body {
            kind: "about:blank",
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
        };
        let mut res = (self.status, Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        res
    }
}

/// A store failure inside an API call.
pub fn store(e: StoreError, detail: String) -> Problem {
    Problem::internal(e, detail)
}
