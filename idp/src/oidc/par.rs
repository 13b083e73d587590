//! Pushed authorization requests (RFC 9126): a client sends its authorization request to
//! `POST /par` with the same client authentication as `/token`, gets a `request_uri`, and
//! sends the browser to `/authorize` with only `client_id` and that `request_uri`.
//!
//! The request is judged when pushed by the authorization endpoint's own check
//! ([`authorize::check_request`]), and again when used. It is stored only as the hash of
//! its `request_uri` (256 random bits), bound to the client, for [`TTL`], and used once
//! (SECURITY OP-18). A DPoP proof sent with the push binds the code to its key (RFC 9449
//! §10.1).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::Duration;

use super::authorize::{self, AuthorizeParams, Refusal};
use super::client_auth::{Credentials, authenticate};
use super::dpop;
use super::token::no_store;
use crate::crypto;
use crate::error::OAuthError;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::store::pushed::{self, Pushed};

/// RFC 9126 §2.2: the form of a `request_uri`.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request may wait for the browser (OP-18: ≤ 90 s).
pub const TTL: Duration = Duration::seconds(60);

/// A push: the client's credentials and the authorization request.
#[derive(Debug, Deserialize)]
pub struct ParForm {
    client_secret: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    /// Everything else is the authorization request (`client_id` included); the
    /// credentials above never reach it, so they are never stored.
    #[serde(flatten)]
    params: AuthorizeParams,
}

#[derive(Serialize)]
struct ParResponse {
    request_uri: String,
    expires_in: i64,
}

/// `POST /par`.
pub async fn par(
    State(app): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<ParForm>,
) -> Result<Response, OAuthError> {
    let endpoint = app.idp_url("/par");
    let client = authenticate(
        &app,
        &headers,
        &Credentials {
            client_id: form.params.client_id.as_deref(),
            client_secret: form.client_secret.as_deref(),
            client_assertion_type: form.client_assertion_type.as_deref(),
            client_assertion: form.client_assertion.as_deref(),
        },
        &endpoint,
    )
    .await?;
    let mut p = form.params;
    p.client_id = Some(client.client_id.clone());
    // RFC 9126 §2.1, OP-18: no request_uri inside a pushed request.
    if p.request_uri.is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed",
        ));
    }
    if !client.allows("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use authorization_code",
        ));
    }
    // RFC 9449 §10.1: a proof with the push binds the code to its key; a `dpop_jkt` beside
    // it must name the same key.
    if let Some(proof) = dpop::verify(&app, &headers, "POST", &endpoint, None).await? {
        if p.dpop_jkt.as_deref().is_some_and(|j| j != proof.jkt) {
            return Err(OAuthError::invalid_dpop_proof(
                "dpop_jkt does not match the DPoP proof",
            ));
        }
        p.dpop_jkt = Some(proof.jkt);
    }
    // Judged exactly as /authorize judges it (RFC 9126 §2.1); errors come back here as
    // JSON, never as a redirect (§2.3).
    match authorize::check_request(&p, &client, true) {
        Ok(_) => {}
        Err(Refusal::Page(_)) => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is missing or not registered for this client",
            ));
        }
        Err(Refusal::Redirect {
            error, description, ..
        }) => return Err(OAuthError::refused(error, description)),
    }
    let now = app.now();
    let request_uri = format!(
        "{URN_PREFIX}{}",
        crypto::random_token().map_err(OAuthError::server_error)?
    );
    let params = serde_json::to_string(&p).map_err(OAuthError::server_error)?;
    pushed::insert(
        &app.db,
        &crypto::token_hash(&request_uri),
        &Pushed {
            client_id: client.client_id.clone(),
            params,
            created_at: now,
            expires_at: now + TTL,
        },
    )
    .await?;
    let body = Json(ParResponse {
        request_uri,
        expires_in: TTL.whole_seconds(),
    });
    Ok(no_store((StatusCode::CREATED, body).into_response()))
}
