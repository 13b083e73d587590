//! Token revocation (RFC 7009) for authenticated clients. Revoking a refresh token or an
//! access token of a user revokes its whole grant: the refresh-token family and every
//! access token of it (RFC 7009 §2.1 allows both). A token that is unknown or another
//! client's is left alone, and the answer is the same 200 (§2.2).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use uuid::Uuid;

use super::client_auth::authenticate;
use super::introspect::TokenForm;
use super::token::no_store;
use super::userinfo::verify_any_access_token;
use crate::crypto;
use crate::error::OAuthError;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::clients::Client;
use crate::store::grants;

/// `POST /revoke`.
pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    OAuthForm(req): OAuthForm<TokenForm>,
) -> Result<Response, OAuthError> {
    let client = authenticate(&app, &headers, &req.credentials(), &app.idp_url("/revoke")).await?;
    let token = req
        .token
        .as_deref()
        .ok_or(OAuthError::invalid_request("token is missing"))?;
    revoke_token(&app, &client, token).await?;
    Ok(no_store(StatusCode::OK))
}

async fn revoke_token(app: &AppState, client: &Client, token: &str) -> Result<(), StoreError> {
    let grant: Option<Uuid> = if let Some(c) = verify_any_access_token(app, token) {
        (c.client_id == client.client_id)
            .then(|| c.grant_id.as_deref().and_then(|g| Uuid::parse_str(g).ok()))
            .flatten()
    } else {
        grants::find_refresh(&app.db, &crypto::token_hash(token))
            .await?
            .filter(|r| r.client_id == client.client_id)
            .map(|r| r.grant_id)
    };
    if let Some(id) = grant
        && grants::revoke(&app.db, id, app.now()).await?
    {
        tracing::info!(client = %client.client_id, grant = %id, "grant revoked by the client");
    }
    Ok(())
}
