//! The userinfo endpoint (OIDC Core §5.3): the access token's user, as claims. A Bearer
//! token in the `Authorization` header; a DPoP-bound token (RFC 9449 §7) only as
//! `Authorization: DPoP <token>` with a proof of its key for this request.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::claims::{self, PortalClaims};
use super::dpop::{self, DpopFailure};
use super::token::Cnf;
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
    /// RFC 9449 §6.1: the key a DPoP-bound token is bound to.
    #[serde(default)]
    pub(crate) cnf: Option<Cnf>,
}

#[derive(Serialize)]
struct UserInfo {
    sub: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    portal: Option<PortalClaims>,
}

/// `GET|POST /userinfo` with `Authorization: Bearer` (or `DPoP`, with a proof). A token in
/// the query string is refused with `invalid_request`, even beside a good header (RFC 6750
/// §2.3, §3.1; SECURITY OP-22): a URI ends up in logs and history, so such a token is never
/// used.
pub async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
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
    match answer(&app, &method, &headers).await {
        Ok(info) => {
            let mut res = Json(info).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(Denied::Token) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response(),
        // RFC 9449 §7.1: a DPoP challenge, with the algorithms a proof may use.
        Err(Denied::DpopToken) => dpop_challenge("invalid_token"),
        Err(Denied::Proof) => dpop_challenge("invalid_dpop_proof"),
    }
}

fn dpop_challenge(error: &str) -> Response {
    let value = format!("DPoP error=\"{error}\", {}", dpop::ALGS_PARAM);
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Why userinfo answers 401.
enum Denied {
    /// No good Bearer token (or a DPoP-bound one presented as Bearer).
    Token,
    /// `Authorization: DPoP` with a token that is not good or not DPoP-bound.
    DpopToken,
    /// A DPoP-bound token without a good proof of its key.
    Proof,
}

/// Whether the query string carries an `access_token` parameter.
fn token_in_query(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(name, _)| name == "access_token")
    })
}

async fn answer(app: &AppState, method: &Method, headers: &HeaderMap) -> Result<UserInfo, Denied> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(Denied::Token)?;
    let claims = if let Some(token) = authorization.strip_prefix("Bearer ") {
        // RFC 9449 §7.2: a DPoP-bound token is no Bearer token.
        verify_access_token(app, token.trim()).ok_or(Denied::Token)?
    } else if let Some(token) = authorization.strip_prefix("DPoP ") {
        let token = token.trim();
        let claims = verify_any_access_token(app, token).ok_or(Denied::DpopToken)?;
        let bound = claims.cnf.as_ref().ok_or(Denied::DpopToken)?;
        let url = app.idp_url("/userinfo");
        let proof = match dpop::verify(app, headers, method.as_str(), &url, Some(token)).await {
            Ok(Some(p)) => p,
            Ok(None) | Err(DpopFailure::Proof(_)) => return Err(Denied::Proof),
            Err(DpopFailure::Store(e)) => {
                tracing::error!(error = %e, "userinfo DPoP replay check failed");
                return Err(Denied::Proof);
            }
        };
        if !crate::crypto::same(proof.jkt.as_bytes(), bound.jkt.as_bytes()) {
            return Err(Denied::Proof);
        }
        claims
    } else {
        return Err(Denied::Token);
    };
    // SECURITY OP-07, OP-22: a token of a revoked grant is refused; a token with no
    // grant has no user.
    match grant_live(app, &claims).await {
        Ok(true) => {}
        Ok(false) => return Err(Denied::Token),
        Err(e) => {
            tracing::error!(error = %e, "userinfo grant lookup failed");
            return Err(Denied::Token);
        }
    }
    let user_id = Uuid::parse_str(&claims.sub).map_err(|_| Denied::Token)?;
    let principal = match accounts::principal(&app.db, user_id, &app.registry).await {
        Ok(p) => p.filter(claims::may_sign_in).ok_or(Denied::Token)?,
        Err(e) => {
            tracing::error!(error = %e, "userinfo lookup failed");
            return Err(Denied::Token);
        }
    };
    let portal = claims
        .scope
        .split_whitespace()
        .any(|s| s == "portal")
        .then(|| claims::portal_claims(&principal, &app.registry));
    Ok(UserInfo {
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

/// Checks an access token of ours presented as a Bearer token: [`verify_any_access_token`],
/// and not DPoP-bound (RFC 9449 §7.2: a bound token needs its proof, so every Bearer use,
/// the admin API's included, refuses it).
pub(crate) fn verify_access_token(app: &AppState, token: &str) -> Option<AccessToken> {
    verify_any_access_token(app, token).filter(|c| c.cnf.is_none())
}

/// Checks an access token of ours: `typ: at+jwt`, a known `kid`, signature, issuer, expiry.
/// A DPoP-bound one passes too: for introspection, revocation and the DPoP scheme.
pub(crate) fn verify_any_access_token(app: &AppState, token: &str) -> Option<AccessToken> {
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
