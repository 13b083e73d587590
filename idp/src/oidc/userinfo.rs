//! The userinfo endpoint (OIDC Core §5.3): the bearer access token's user, as claims.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::claims::{self, PortalClaims};
use crate::state::AppState;
use crate::store::accounts;

#[derive(Deserialize)]
struct AccessToken {
    sub: String,
    scope: String,
}

#[derive(Serialize)]
struct UserInfo {
    sub: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    portal: Option<PortalClaims>,
}

/// `GET|POST /userinfo` with `Authorization: Bearer`. A token in the query string is not
/// accepted (RFC 6750 §2.3; SECURITY OP-22).
pub async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Response {
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

async fn answer(app: &AppState, headers: &HeaderMap) -> Option<UserInfo> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let claims = verify_access_token(app, token)?;
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

/// Checks an access token of ours: `typ: at+jwt`, a known `kid`, signature, issuer, expiry.
fn verify_access_token(app: &AppState, token: &str) -> Option<AccessToken> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"))
    {
        return None;
    }
    let keys = app.keys.current();
    let (alg, key) = keys.verifier(header.kid.as_deref()?)?;
    if header.alg != *alg {
        return None;
    }
    let mut v = Validation::new(*alg);
    v.set_issuer(&[app.settings.issuer.as_str()]);
    v.validate_aud = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<AccessToken>(token, key, &v)
        .ok()
        .map(|d| d.claims)
}
