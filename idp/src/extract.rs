//! The provider's own request extractors: the one place where a malformed request (a
//! missing or repeated field, a body of the wrong type or over the limit, a path that is
//! not UTF-8) is turned into the answer its audience expects, never into axum's plain-text
//! rejection. A person gets a Dutch page (`PageForm`, `PageQuery`, `PagePath`); a client
//! gets RFC 6749 §5.2 JSON (`OAuthForm`). They decode only; what a value means is
//! judged by the handler.
//!
//! RFC 6749 §3.1 and §3.2: request parameters MUST NOT be included more than once, so a
//! repeated name is refused rather than one of its values silently picked.

use std::collections::BTreeSet;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use web_kit::limits::BODY_LIMIT;

use crate::error::{OAuthError, PageError};

/// Why a request could not be decoded. Internal: each audience maps it to its own answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Malformed {
    /// The body is not `application/x-www-form-urlencoded`.
    ContentType,
    /// The body is larger than the portal accepts.
    TooLarge,
    /// The body could not be read.
    Unreadable,
    /// A parameter appears more than once.
    Repeated(String),
    /// A required field is missing or a value has the wrong shape.
    Fields(String),
}

impl Malformed {
    fn log(&self) {
        tracing::debug!(problem = ?self, "malformed request refused");
    }
}

impl From<Malformed> for PageError {
    fn from(m: Malformed) -> Self {
        m.log();
        match m {
            Malformed::TooLarge => {
                PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_input.too_large")
            }
            _ => PageError::new(StatusCode::BAD_REQUEST, "bad_input.request"),
        }
    }
}

impl From<Malformed> for OAuthError {
    fn from(m: Malformed) -> Self {
        m.log();
        match m {
            Malformed::TooLarge => OAuthError::too_large(),
            Malformed::ContentType => {
                OAuthError::invalid_request("the body must be application/x-www-form-urlencoded")
            }
            Malformed::Repeated(_) => OAuthError::invalid_request("a parameter is repeated"),
            Malformed::Unreadable | Malformed::Fields(_) => {
                OAuthError::invalid_request("the request is malformed")
            }
        }
    }
}

/// Decodes `application/x-www-form-urlencoded` text (a body or a query string) into `T`,
/// refusing repeated names. Invalid UTF-8 in a value becomes U+FFFD (WHATWG URL
/// `application/x-www-form-urlencoded` parsing); `%zz` stays as written.
pub fn decode<T: DeserializeOwned>(raw: &[u8]) -> Result<T, Malformed> {
    let mut seen = BTreeSet::new();
    for (name, _) in form_urlencoded::parse(raw) {
        if !seen.insert(name.clone()) {
            return Err(Malformed::Repeated(name.into_owned()));
        }
    }
    serde_urlencoded::from_bytes(raw).map_err(|e| Malformed::Fields(e.to_string()))
}

/// A body over the limit is still read, and discarded, up to this size, so that the
/// client, which is usually still sending, receives the 413 instead of a reset
/// connection, and the connection stays usable (nginx's "lingering close" does the same).
const DRAIN_LIMIT: usize = 1024 * 1024;

/// Reads a form body: the content type must be a form, and the body within the limit.
async fn form_body(req: Request) -> Result<Vec<u8>, Malformed> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Malformed::ContentType);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(Malformed::TooLarge);
    }
    let mut body = req.into_body();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Malformed::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen > DRAIN_LIMIT {
            return Err(Malformed::TooLarge);
        }
        if seen <= BODY_LIMIT {
            kept.extend_from_slice(&data);
        }
    }
    if seen > BODY_LIMIT {
        return Err(Malformed::TooLarge);
    }
    Ok(kept)
}

/// A form posted from one of our pages; a malformed one gets the Dutch error page.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, _: &S) -> Result<Self, PageError> {
        let body = form_body(req).await?;
        Ok(Self(decode(&body)?))
    }
}

/// A query string of a page; a malformed one gets the Dutch error page.
#[derive(Debug)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(decode(query.as_bytes())?))
    }
}

/// A path segment of a page (a link token); one that is not UTF-8 gets the Dutch error
/// page.
#[derive(Debug)]
pub struct PagePath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PagePath<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(e) => Err(Malformed::Fields(e.body_text()).into()),
        }
    }
}

/// A client's form at the token, introspection and revocation endpoints; a malformed one
/// gets `invalid_request` (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OAuthForm<T> {
    type Rejection = OAuthError;

    async fn from_request(req: Request, _: &S) -> Result<Self, OAuthError> {
        let body = form_body(req).await?;
        Ok(Self(decode(&body)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct F {
        a: String,
        b: Option<String>,
    }

    #[test]
    fn forms_decode_and_repeats_or_missing_fields_are_refused() {
        assert_eq!(
            decode::<F>(b"a=1&b=%20x&extra=y").unwrap(),
            F {
                a: "1".into(),
                b: Some(" x".into())
            }
        );
        assert_eq!(
            decode::<F>(b"a=1&a=2"),
            Err(Malformed::Repeated("a".into()))
        );
        assert!(matches!(decode::<F>(b"b=1"), Err(Malformed::Fields(_))));
        assert_eq!(decode::<F>(b"a=%ff%zz").unwrap().a, "\u{fffd}%zz");
    }
}
