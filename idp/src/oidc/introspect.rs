//! Token introspection (RFC 7662) for authenticated clients. A client learns about its own
//! tokens only: anything unknown, expired, revoked or issued to another client is
//! `{"active": false}` and nothing more (RFC 7662 §2.2).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::client_auth::{Credentials, authenticate};
use super::token::Cnf;
use super::token::no_store;
use super::userinfo::{grant_live, verify_any_access_token};
use crate::crypto;
use crate::error::OAuthError;
use crate::extract::OAuthForm;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::clients::Client;
use crate::store::grants;

/// An introspection or revocation request's form (RFC 7662 §2.1, RFC 7009 §2.1).
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    pub(crate) token: Option<String>,
    /// Accepted and not needed: both kinds are always looked up (RFC 7009 §2.1).
    #[allow(dead_code)]
    pub(crate) token_type_hint: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) client_secret: Option<String>,
    pub(crate) client_assertion_type: Option<String>,
    pub(crate) client_assertion: Option<String>,
}

impl TokenForm {
    pub(crate) fn credentials(&self) -> Credentials<'_> {
        Credentials {
            client_id: self.client_id.as_deref(),
            client_secret: self.client_secret.as_deref(),
            client_assertion_type: self.client_assertion_type.as_deref(),
            client_assertion: self.client_assertion.as_deref(),
        }
    }
}

/// RFC 7662 §2.2.
#[derive(Debug, Default, Serialize)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// RFC 9449 §6.2: the key a DPoP-bound access token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf>,
}

/// `POST /introspect`.
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    OAuthForm(req): OAuthForm<TokenForm>,
) -> Result<Response, OAuthError> {
    let client = authenticate(
        &app,
        &headers,
        &req.credentials(),
        &app.idp_url("/introspect"),
    )
    .await?;
    let token = req
        .token
        .as_deref()
        .ok_or(OAuthError::invalid_request("token is missing"))?;
    Ok(no_store(Json(inspect(&app, &client, token).await?)))
}

async fn inspect(
    app: &AppState,
    client: &Client,
    token: &str,
) -> Result<Introspection, StoreError> {
    let now = app.now();
    let iss = Some(app.settings.issuer.clone());
    if let Some(c) = verify_any_access_token(app, token) {
        let own = c.client_id == client.client_id;
        // A user's token must still have a live grant; a service token has none.
        let live = c.grant_id.is_none() || grant_live(app, &c).await?;
        if !(own && live) {
            return Ok(Introspection::default());
        }
        return Ok(Introspection {
            active: true,
            scope: Some(c.scope),
            client_id: Some(c.client_id),
            sub: Some(c.sub),
            exp: Some(c.exp),
            iat: Some(c.iat),
            iss,
            jti: Some(c.jti),
            token_type: Some("access_token"),
            cnf: c.cnf,
        });
    }
    let Some(r) = grants::find_refresh(&app.db, &crypto::token_hash(token)).await? else {
        return Ok(Introspection::default());
    };
    if r.client_id != client.client_id || r.used_at.is_some() || r.expires_at <= now {
        return Ok(Introspection::default());
    }
    let grant = grants::get(&app.db, r.grant_id)
        .await?
        .filter(|g| g.live() && g.expires_at > now);
    Ok(match grant {
        Some(g) => Introspection {
            active: true,
            scope: Some(g.scope),
            client_id: Some(g.client_id),
            sub: Some(g.user_id.to_string()),
            exp: Some(r.expires_at.min(g.expires_at).unix_timestamp()),
            iss,
            token_type: Some("refresh_token"),
            ..Introspection::default()
        },
        None => Introspection::default(),
    })
}
