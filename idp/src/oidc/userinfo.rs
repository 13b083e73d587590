//! The userinfo endpoint (OIDC Core §5.3): the bearer access token's user, as claims.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::claims::{self, PortalClaims};
use crate::state::AppState;
use crate::store::{StoreError, accounts, grants};

/// The claims of one of our access tokens that the provider itself reads back.
#[derive(Debug, Deserialize)]
pub(crate) struct AccessToken {
    pub(crate) sub: String,
    pub(crate) scope: String,
    pub(crate) client_id: String,
    pub(crate) exp: i64,
    pub(crate) iat: i64,
    pub(crate) jti: String,
    /// The grant of a user's token; absent on a service client's token.
    pub(crate) grant_id: Option<String>,
    /// When the user last authenticated (a user's token only).
    #[serde(default)]
    pub(crate) auth_time: Option<i64>,
}

#[derive(Serialize)]
struct UserInfo {
    sub: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    portal: Option<PortalClaims>,
}

/// `GET|POST /userinfo` with `Authorization: Bearer`. A token in the query string is
/// refused with `invalid_request`, even beside a good header (RFC 6750 §2.3, §3.1;
/// SECURITY OP-22): a URI ends up in logs and history, so such a token is never used.
pub async fn userinfo(State(app): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if token_in_query(&uri) {
        return (
            StatusCode::BAD_REQUEST,
            [(
                header::WWW_AUTHENTICATE,
                "Bearer error=\"invalid_request\", error_description=\"the access token must be sent in the Authorization header\"",
            )],
        )
            .into_response();
    }
    match answer(&app, &headers).await {
        Some(info) => {
            let mut res = Json(info).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response(),
    }
}

/// Whether the query string carries an `access_token` parameter.
fn token_in_query(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "access_token")
    })
}

async fn answer(app: &AppState, headers: &HeaderMap) -> Option<UserInfo> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let claims = verify_access_token(app, token)?;
    // SECURITY OP-07, OP-22: a token of a revoked grant is refused; a token with no
    // grant has no user.
    match grant_live(app, &claims).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::error!(error = %e, "userinfo grant lookup failed");
            return None;
        }
    }
    let user_id = Uuid::parse_str(&claims.sub).ok()?;
    let principal = match accounts::principal(&app.db, user_id, &app.registry).await {
        Ok(p) => p.filter(claims::may_sign_in)?,
        Err(e) => {
            tracing::error!(error = %e, "userinfo lookup failed");
            return None;
        }
    };
    let portal = claims
        .scope
        .split_whitespace()
        .any(|s| s == "portal")
        .then(|| claims::portal_claims(&principal, &app.registry));
    Some(UserInfo {
        sub: claims.sub,
        portal,
    })
}

/// Whether the token's grant exists and is not revoked (`false` for a token without one).
pub(crate) async fn grant_live(app: &AppState, claims: &AccessToken) -> Result<bool, StoreError> {
    let Some(id) = claims
        .grant_id
        .as_deref()
        .and_then(|g| Uuid::parse_str(g).ok())
    else {
        return Ok(false);
    };
    Ok(grants::get(&app.db, id).await?.is_some_and(|g| g.live()))
}

/// Checks an access token of ours: `typ: at+jwt`, a known `kid`, signature, issuer, expiry.
pub(crate) fn verify_access_token(app: &AppState, token: &str) -> Option<AccessToken> {
    let keys = app.keys.current();
    // RFC 9068 §4: our tokens carry `aud` = the client; the caller judges it.
    let (header, claims) = keys.verify::<AccessToken>(token, &app.settings.issuer, |v| {
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
    })?;
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
    typ_ok.then_some(claims)
}
