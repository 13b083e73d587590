//! What can go wrong while signing a browser in or out, and the one place where that
//! becomes a response: a Dutch HTML page with a stable text, never the cause.
//!
//! The cause is logged exactly once, when the page is rendered ([`Failure`]), and is kept
//! free of secrets by the code that builds it (no tokens, codes or response bodies).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use web_kit::Templates;

use crate::store::StoreError;

/// Why a sign-in, a sign-out or a session lookup failed. The payload is for the log only.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// The settings are unusable (found at start-up).
    #[error("relying-party settings: {0}")]
    Settings(String),
    /// The idp's discovery document or keys could not be fetched or made sense of.
    #[error("discovery failed: {0}")]
    Discovery(String),
    /// The callback matches no sign-in attempt of this browser: cookie missing, attempt
    /// expired or already used, or another browser's state (SECURITY RP-01).
    #[error("no matching sign-in attempt for this browser")]
    UnknownLogin,
    /// The callback lacks a parameter it must carry, or is malformed.
    #[error("malformed callback: {0}")]
    BadCallback(&'static str),
    /// The callback's `iss` parameter names another issuer (RFC 9207 §2.4: mix-up defence).
    #[error("callback iss is not our issuer")]
    IssuerMismatch,
    /// The idp answered the authorization request with an error (e.g. `access_denied`).
    #[error("the idp refused the sign-in: {0}")]
    Refused(String),
    /// The code could not be exchanged at the token endpoint.
    #[error("code exchange failed: {0}")]
    TokenExchange(String),
    /// The token response carried no ID token.
    #[error("token response without id_token")]
    MissingIdToken,
    /// The ID token failed verification (signature, alg, iss, aud, exp, nonce) or parsing.
    #[error("ID token rejected: {0}")]
    IdToken(String),
    /// The session store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(String),
}

impl RpError {
    /// The HTTP status of the error page.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::UnknownLogin | Self::BadCallback(_) | Self::IssuerMismatch => {
                StatusCode::BAD_REQUEST
            }
            Self::Refused(_) => StatusCode::FORBIDDEN,
            Self::Discovery(_)
            | Self::TokenExchange(_)
            | Self::MissingIdToken
            | Self::IdToken(_) => StatusCode::BAD_GATEWAY,
            Self::Settings(_) | Self::Store(_) | Self::Random(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The key of the Dutch text shown for this error (in `templates/nl.toml`).
    pub fn text_key(&self) -> &'static str {
        match self {
            Self::UnknownLogin | Self::BadCallback(_) | Self::IssuerMismatch => "rp.error_expired",
            Self::Refused(_) => "rp.error_refused",
            Self::Discovery(_) | Self::TokenExchange(_) => "rp.error_unavailable",
            Self::MissingIdToken | Self::IdToken(_) => "rp.error_verify",
            Self::Settings(_) | Self::Store(_) | Self::Random(_) => "rp.error_internal",
        }
    }
}

/// An [`RpError`] ready to be shown: it carries the templates and the page to retry from.
/// Built by [`crate::RelyingParty::failure`].
pub struct Failure {
    pub(crate) error: RpError,
    pub(crate) templates: Templates,
    pub(crate) retry: String,
}

impl Failure {
    /// The error inside.
    pub fn error(&self) -> &RpError {
        &self.error
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failure")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct ErrorPage<'a> {
    message_key: &'a str,
    retry: &'a str,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self.error.status();
        if status.is_server_error() {
            tracing::error!(error = %self.error, "sign-in failed");
        } else {
            tracing::warn!(error = %self.error, "sign-in refused");
        }
        let page = self.templates.page(
            status,
            "portal/error.html",
            ErrorPage {
                message_key: self.error.text_key(),
                retry: &self.retry,
            },
        );
        ([web_kit::headers::no_store()], page).into_response()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn all() -> Vec<RpError> {
        vec![
            RpError::Settings("x".into()),
            RpError::Discovery("x".into()),
            RpError::UnknownLogin,
            RpError::BadCallback("code"),
            RpError::IssuerMismatch,
            RpError::Refused("access_denied".into()),
            RpError::TokenExchange("x".into()),
            RpError::MissingIdToken,
            RpError::IdToken("x".into()),
            RpError::Store(StoreError("x".into())),
            RpError::Random("x".into()),
        ]
    }

    #[test]
    fn every_error_has_a_dutch_text() {
        let texts = web_kit::Texts::load().unwrap();
        for e in all() {
            assert!(
                texts.get(e.text_key()).is_some(),
                "{} lacks {}",
                e,
                e.text_key()
            );
        }
    }

    #[tokio::test]
    async fn the_page_shows_the_text_and_never_the_cause() {
        let templates = Templates::load().unwrap();
        let texts = templates.texts().clone();
        for e in all() {
            let status = e.status();
            let key = e.text_key();
            let response = Failure {
                error: e,
                templates: templates.clone(),
                retry: "/dip".into(),
            }
            .into_response();
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()["cache-control"], "no-store");
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let body = String::from_utf8(body.to_vec()).unwrap();
            assert!(body.contains(texts.get(key).unwrap()), "{body}");
            assert!(body.contains("href=\"&#x2f;dip\""), "{body}");
            assert!(
                !body.contains("access_denied") && !body.contains("Settings"),
                "{body}"
            );
        }
    }
}
