//! The identity provider's two kinds of failure answer, each turned into a response in
//! one place: `PageError` for a person (a Dutch page), `OAuthError` for a client
//! (RFC 6749 §5.2 JSON). The cause is logged once here; the answer carries only a stable
//! text key or error code, never the cause.
//!
//! A store failure that is an outage of the database ([`Outage`]: unreachable, busy,
//! disk full) is not our fault and not permanent, so it is answered with 503 and says so:
//! a page that asks the person to try again, or `temporarily_unavailable`. The one
//! classification is `StoreError::outage`.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;
use crate::store::{Outage, StoreError, outage_in};

/// RFC 9110 §10.2.3: when to try again after the database was unreachable or busy, in
/// seconds; the Dutch text says "over een minuut". A full disk gets no such promise.
pub const RETRY_AFTER_SECONDS: &str = "60";

/// The text key of the page for an unreachable or busy database.
const UNAVAILABLE_KEY: &str = "error.unavailable";

/// The key of the Dutch text for an outage; the admin API sends the same text.
pub fn outage_key(outage: Outage) -> &'static str {
    match outage {
        Outage::Unavailable => UNAVAILABLE_KEY,
        Outage::StorageFull => "error.storage_full",
    }
}

/// A page-level failure: what the person sees is the Dutch text under `key`.
#[derive(Debug)]
pub struct PageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Key of the text in `nl.toml`.
    pub key: &'static str,
}

impl PageError {
    /// A failure shown with `key`.
    pub fn new(status: StatusCode, key: &'static str) -> Self {
        Self { status, key }
    }

    /// Something broke on our side; `cause` is logged, the person sees a generic text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error.internal")
    }

    /// The database is out (`cause` is logged): 503 with a text that asks the person
    /// to try again, and `Retry-After` when waiting helps.
    pub fn outage(outage: Outage, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, ?outage, "request failed: database outage");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, outage_key(outage))
    }

    /// A step of a flow failed: [`Self::outage`] when a database outage is anywhere in
    /// the error's chain of sources (a flow's own error wrapping a `StoreError`),
    /// otherwise [`Self::internal`].
    pub fn failed(cause: impl std::error::Error + 'static) -> Self {
        match outage_in(&cause) {
            Some(outage) => Self::outage(outage, cause),
            None => Self::internal(cause),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e.outage() {
            Some(outage) => Self::outage(outage, e),
            None => Self::internal(e),
        }
    }
}

/// Marker put on a response so that `render_page_errors` draws the page.
#[derive(Debug, Clone, Copy)]
struct PageFailure(&'static str);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(PageFailure(self.key));
        if self.key == UNAVAILABLE_KEY {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        res
    }
}

/// Middleware: turns a `PageError` response into the Dutch error page.
pub async fn render_page_errors(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    match res.extensions().get::<PageFailure>().copied() {
        Some(PageFailure(key)) => {
            #[derive(Serialize)]
            struct Ctx {
                message_key: &'static str,
            }
            let mut page =
                app.templates
                    .page(res.status(), "idp/error.html", Ctx { message_key: key });
            if let Some(retry) = res.headers().get(header::RETRY_AFTER) {
                page.headers_mut()
                    .insert(header::RETRY_AFTER, retry.clone());
            }
            page
        }
        None => res,
    }
}

/// An OAuth 2.0 error answered as JSON (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: &'static str,
    basic_challenge: bool,
    retry_after: bool,
}

impl OAuthError {
    /// `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    /// RFC 9449 §5 `invalid_dpop_proof`: a DPoP proof is missing where required, or bad.
    pub fn invalid_dpop_proof(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", description)
    }
    /// A 400 with an error code of the authorization endpoint (RFC 6749 §4.1.2.1), for a
    /// pushed request that `/authorize` would have refused (RFC 9126 §2.3).
    pub fn refused(code: &'static str, description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, description)
    }
    /// `invalid_grant`: the code is unknown, used, expired or bound to something else.
    pub fn invalid_grant(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
    /// `invalid_client`: client authentication failed (401 with a Basic challenge).
    pub fn invalid_client() -> Self {
        Self {
            basic_challenge: true,
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }
    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type not supported",
        )
    }
    /// `unauthorized_client`: the client's registration does not allow this grant type.
    pub fn unauthorized_client(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }
    /// `invalid_scope`.
    pub fn invalid_scope(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }
    /// The body is over the portal's limit: `invalid_request` with 413 (SECURITY IO-05).
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        )
    }
    /// `server_error`; the cause is logged.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "token request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }

    /// The database is out (`cause` is logged). RFC 6749 §4.1.2.1 names the code:
    /// `temporarily_unavailable`, "currently unable to handle the request due to a
    /// temporary overloading or maintenance of the server". §5.2 lists no such code for
    /// the token endpoint, but it is the registered one that tells a client to retry
    /// rather than give up; the status is 503, with `Retry-After` when waiting helps.
    pub fn outage(outage: Outage, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, ?outage, "token request failed: database outage");
        match outage {
            Outage::Unavailable => Self {
                retry_after: true,
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is temporarily unavailable, try again later",
                )
            },
            Outage::StorageFull => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the service cannot store data at the moment",
            ),
        }
    }

    /// A step of the token flow failed: [`Self::outage`] when a database outage is
    /// anywhere in the error's chain of sources, otherwise [`Self::server_error`].
    pub fn failed(cause: impl std::error::Error + 'static) -> Self {
        match outage_in(&cause) {
            Some(outage) => Self::outage(outage, cause),
            None => Self::server_error(cause),
        }
    }

    fn new(status: StatusCode, code: &'static str, description: &'static str) -> Self {
        Self {
            status,
            code,
            description,
            basic_challenge: false,
            retry_after: false,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e.outage() {
            Some(outage) => Self::outage(outage, e),
            None => Self::server_error(e),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: &'static str,
            error_description: &'static str,
        }
        let mut res = (
            self.status,
            Json(Body {
                error: self.code,
                error_description: self.description,
            }),
        )
            .into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"offerteportaal\""),
            );
        }
        if self.retry_after {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flow's own error type, as `StepError` or `KeyError` are.
    #[derive(Debug, thiserror::Error)]
    enum Flow {
        #[error(transparent)]
        Store(#[from] StoreError),
        #[error("no random bytes")]
        Crypto,
    }

    fn unreachable() -> Flow {
        Flow::from(StoreError::from(sqlx::Error::PoolTimedOut))
    }

    #[test]
    fn a_flow_failing_on_an_outage_answers_503_and_on_anything_else_500() {
        let page = PageError::failed(unreachable());
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(page.key, UNAVAILABLE_KEY);
        let res = page.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], RETRY_AFTER_SECONDS);
        let page = PageError::failed(Flow::Crypto);
        assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(page.key, "error.internal");

        let oauth = OAuthError::failed(unreachable());
        assert_eq!(
            (oauth.status, oauth.code, oauth.retry_after),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                true
            )
        );
        let oauth = OAuthError::failed(Flow::Crypto);
        assert_eq!(
            (oauth.status, oauth.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        );
    }
}
