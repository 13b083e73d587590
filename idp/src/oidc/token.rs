//! The token endpoint (RFC 6749 §3.2, §4.1.3; OIDC Core §3.1.3): client authentication,
//! the single-use code exchange with PKCE, and the signed tokens.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::claims::{self, PortalClaims};
use crate::crypto;
use crate::error::OAuthError;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::clients::{self, Client};
use crate::store::codes;

/// A token request's form.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    id_token: String,
    scope: String,
}

/// RFC 9068 access token claims.
#[derive(Serialize)]
pub(crate) struct AccessClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    client_id: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    jti: String,
    scope: &'a str,
    role: &'static str,
    rights: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    office: Option<IdOnly>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_office: Option<IdOnly>,
}

#[derive(Serialize)]
struct IdOnly {
    id: String,
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: Vec<&'a str>,
    at_hash: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    portal: Option<PortalClaims>,
}

/// `POST /token`.
pub async fn token(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(req): Form<TokenRequest>,
) -> Result<Response, OAuthError> {
    let client = authenticate(&app, &headers, &req).await?;
    match req.grant_type.as_deref() {
        Some("authorization_code") => {}
        // AU-06 / BCP §2.4: no password grant, no implicit.
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
    }
    let body = exchange_code(&app, &client, &req).await?;
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// Authenticates the client by `client_secret_basic` or `client_secret_post` (exactly one).
async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Client, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let (id, secret) = match (basic, &req.client_secret) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method",
            ));
        }
        (Some(b64), None) => parse_basic(b64).ok_or_else(OAuthError::invalid_client)?,
        (None, Some(secret)) => (
            req.client_id
                .clone()
                .ok_or_else(OAuthError::invalid_client)?,
            secret.clone(),
        ),
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    if req.client_id.as_deref().is_some_and(|c| c != id) {
        return Err(OAuthError::invalid_client());
    }
    let client = clients::get(&app.db, &id).await?;
    let presented = crypto::token_hash(&secret);
    match client {
        Some(c)
            if c.secret_hash
                .as_deref()
                .is_some_and(|h| crypto::same(h, &presented)) =>
        {
            Ok(c)
        }
        _ => Err(OAuthError::invalid_client()),
    }
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
fn parse_basic(b64: &str) -> Option<(String, String)> {
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

async fn exchange_code(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    let code = req
        .code
        .as_deref()
        .ok_or(OAuthError::invalid_request("code is missing"))?;
    let now = app.now();
    let grant = codes::redeem(&app.db, &crypto::token_hash(code), now)
        .await?
        .ok_or(OAuthError::invalid_grant("code is invalid or was used"))?;
    // RFC 6749 §4.1.3: bound to the client and the redirect URI of the request.
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "code was issued to another client",
        ));
    }
    if req.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant("redirect_uri does not match"));
    }
    if grant.expires_at <= now {
        return Err(OAuthError::invalid_grant("code expired"));
    }
    check_pkce(
        grant.code_challenge.as_deref(),
        req.code_verifier.as_deref(),
    )?;
    let principal = accounts::principal(&app.db, grant.user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in)
        .ok_or(OAuthError::invalid_grant("the account cannot sign in"))?;

    let ttl = app.settings.access_token_ttl;
    let exp = (now + ttl).unix_timestamp();
    let scopes: Vec<&str> = grant.scope.split_whitespace().collect();
    let portal = claims::portal_claims(&principal, &app.registry);
    let issuer = app.settings.issuer.as_str();
    let access = AccessClaims {
        iss: issuer,
        sub: principal.user.id.to_string(),
        aud: &client.client_id,
        client_id: &client.client_id,
        exp,
        iat: now.unix_timestamp(),
        auth_time: grant.auth_time.unix_timestamp(),
        jti: Uuid::new_v4().to_string(),
        scope: &grant.scope,
        role: portal.role,
        rights: portal.rights.clone(),
        office: portal.office.as_ref().map(|o| IdOnly { id: o.id.clone() }),
        head_office: portal
            .head_office
            .as_ref()
            .map(|o| IdOnly { id: o.id.clone() }),
    };
    let keys = app.keys.current();
    let access_token = keys
        .sign("at+jwt", &access, now)
        .map_err(OAuthError::server_error)?;
    let id = IdClaims {
        iss: issuer,
        sub: principal.user.id.to_string(),
        aud: &client.client_id,
        exp,
        iat: now.unix_timestamp(),
        auth_time: grant.auth_time.unix_timestamp(),
        nonce: grant.nonce.as_deref(),
        amr: grant.amr.split(',').filter(|s| !s.is_empty()).collect(),
        at_hash: half_hash(&access_token),
        portal: scopes.contains(&"portal").then_some(portal),
    };
    let id_token = keys
        .sign("JWT", &id, now)
        .map_err(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl.whole_seconds(),
        id_token,
        scope: grant.scope.clone(),
    })
}

/// RFC 7636 §4.6: the verifier's S256 must equal the challenge; a verifier sent for a code
/// that had no challenge is a downgrade attempt (SECURITY OP-06).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (Some(c), Some(v)) => {
            let valid_form = (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
            if valid_form && crypto::same(computed.as_bytes(), c.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match"))
            }
        }
    }
}

/// OIDC Core §3.1.3.6 `at_hash`: the left half of the SHA-256 of the token, base64url.
fn half_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let b64 = STANDARD.encode("my%3Aclient:s%25e%2Bc%3Ar%20t");
        assert_eq!(
            parse_basic(&b64),
            Some(("my:client".into(), "s%e+c:r t".into()))
        );
        assert_eq!(parse_basic("!!"), None);
        assert_eq!(parse_basic(&STANDARD.encode("nocolon")), None);
    }

    #[test]
    fn pkce_s256_and_downgrade() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_pkce(Some(challenge), Some(verifier)).is_ok());
        assert!(
            check_pkce(
                Some(challenge),
                Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX")
            )
            .is_err()
        );
        assert!(check_pkce(Some(challenge), None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err());
        assert!(check_pkce(None, None).is_ok());
    }

    #[test]
    fn at_hash_is_the_left_half() {
        // OIDC Core Appendix A.3 example: access token and its at_hash.
        assert_eq!(
            half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
