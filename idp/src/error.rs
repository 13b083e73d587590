//! The identity provider's two kinds of failure answer, each turned into a response in
//! one place: `PageError` for a person (a Dutch page), `OAuthError` for a client
//! (RFC 6749 §5.2 JSON). The cause is logged once here; the answer carries only a stable
//! text key or error code, never the cause.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;
use crate::store::StoreError;

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
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        Self::internal(e)
    }
}

/// Marker put on a response so that `render_page_errors` draws the page.
#[derive(Debug, Clone, Copy)]
struct PageFailure(&'static str);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = self.status.into_response();
        res.extensions_mut().insert(PageFailure(self.key));
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
            app.templates
                .page(res.status(), "idp/error.html", Ctx { message_key: key })
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
}

impl OAuthError {
    /// `invalid_request`.
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
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

    fn new(status: StatusCode, code: &'static str, description: &'static str) -> Self {
        Self {
            status,
            code,
            description,
            basic_challenge: false,
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::server_error(e)
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
        res
    }
}
