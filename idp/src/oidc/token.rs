//! The token endpoint (RFC 6749 §3.2, §4.1.3; OIDC Core §3.1.3): client authentication,
//! the single-use code exchange with PKCE, refresh-token rotation (RFC 6749 §6), client
//! credentials (§4.4), and the signed tokens. With a DPoP proof (RFC 9449), the access
//! token is bound to the proof's key (`cnf.jkt`, token type `DPoP`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::claims::{self, PortalClaims};
use super::client_auth::{Credentials, authenticate};
use super::dpop;
use crate::crypto;
use crate::domain::factor;
use crate::error::OAuthError;
use crate::extract::OAuthForm;
use crate::login::client::ClientIp;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit::{self, AuditRecord};
use crate::store::clients::Client;
use crate::store::codes::{self, Redeemed};
use crate::store::grants::{self, Grant, Rotation};

/// A token request's form.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
}

/// RFC 9068 access token claims. A user's token names its grant (`grant_id`) so that
/// userinfo and introspection can refuse it once the grant is revoked; a service
/// client's token (client credentials) has no user, grant or portal claims.
#[derive(Serialize)]
pub(crate) struct AccessClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    client_id: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    jti: String,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rights: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    office: Option<IdOnly>,
    #[serde(skip_serializing_if = "Option::is_none")]
    head_office: Option<IdOnly>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Cnf>,
}

/// RFC 7800 / RFC 9449 §6: the confirmation claim of a DPoP-bound access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cnf {
    /// RFC 7638 SHA-256 thumbprint of the client's DPoP key.
    pub(crate) jkt: String,
}

/// The token type of an access token bound to `jkt`, or not (RFC 9449 §5).
fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
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
    sid: &'a str,
    amr: Vec<&'a str>,
    acr: &'static str,
    at_hash: String,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    portal: Option<PortalClaims>,
}

/// `POST /token`.
pub async fn token(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    OAuthForm(req): OAuthForm<TokenRequest>,
) -> Result<Response, OAuthError> {
    let client = authenticate(
        &app,
        &headers,
        &Credentials {
            client_id: req.client_id.as_deref(),
            client_secret: req.client_secret.as_deref(),
            client_assertion_type: req.client_assertion_type.as_deref(),
            client_assertion: req.client_assertion.as_deref(),
        },
        &app.idp_url("/token"),
    )
    .await?;
    // RFC 9449 §4.3, §5: a DPoP proof binds the access token to the client's key; a client
    // registered with `dpop_bound_access_tokens` must send one (§5.2).
    let proof = dpop::verify(&app, &headers, "POST", &app.idp_url("/token"), None).await?;
    if client.dpop_bound_access_tokens && proof.is_none() {
        return Err(OAuthError::invalid_dpop_proof(
            "this client must send a DPoP proof",
        ));
    }
    let jkt = proof.map(|p| p.jkt);
    let jkt = jkt.as_deref();
    let body = match req.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&app, &client, &req, &ip, jkt).await?,
        Some("refresh_token") => refresh(&app, &client, &req, &ip, jkt).await?,
        Some("client_credentials") => client_credentials(&app, &client, &req, jkt).await?,
        // AU-06 / BCP §2.4: no password grant, no implicit.
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
    };
    Ok(no_store(Json(body)))
}

/// RFC 6749 §5.1 / SECURITY OP-11: token-bearing answers are never cached.
pub(crate) fn no_store(body: impl IntoResponse) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// RFC 6749 §4.1.3: the code exchange. The redemption records a grant; every check that
/// fails after it revokes that grant again.
async fn exchange_code(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    ip: &ClientIp,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use authorization_code",
        ));
    }
    let code = req
        .code
        .as_deref()
        .ok_or(OAuthError::invalid_request("code is missing"))?;
    let now = app.now();
    let grant_id = Uuid::new_v4();
    let redeemed = codes::redeem(
        &app.db,
        &crypto::token_hash(code),
        grant_id,
        now + app.settings.refresh_token_ttl,
        now,
    )
    .await?;
    let code_grant = match redeemed {
        Redeemed::Fresh(g) => g,
        Redeemed::Reused { grant_id } => {
            // SECURITY OP-07, AD-04: a second redemption revokes what the first one got.
            tracing::warn!(client = %client.client_id, "authorization code reused; its grant is revoked");
            audit_reuse(app, "oauth.code_reused", client, grant_id, ip, now).await?;
            return Err(OAuthError::invalid_grant("code is invalid or was used"));
        }
        Redeemed::Unknown => return Err(OAuthError::invalid_grant("code is invalid or was used")),
    };
    if let Err(e) = check_code(&code_grant, client, req, jkt, now) {
        grants::revoke(&app.db, grant_id, now).await?;
        return Err(e);
    }
    let grant = grants::get(&app.db, grant_id)
        .await?
        .ok_or_else(|| OAuthError::server_error("grant not found after redemption"))?;
    let principal = live_principal(app, &grant, now).await?;
    // OIDC Core §11: offline access only for a client whose registration allows it.
    let refresh = if has_scope(&grant.scope, "offline_access") && client.allows("refresh_token") {
        Some(new_refresh(app, &grant, client, now).await?)
    } else {
        None
    };
    issue(
        app,
        client,
        &grant,
        &principal,
        &grant.scope,
        refresh,
        code_grant.nonce.as_deref(),
        jkt,
        now,
    )
    .await
}

/// The bindings of a code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9449 §10).
fn check_code(
    grant: &codes::CodeGrant,
    client: &Client,
    req: &TokenRequest,
    jkt: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<(), OAuthError> {
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
    // RFC 9449 §10: a code bound to a key (`dpop_jkt`, or the proof sent with the pushed
    // request) is redeemed only with a proof of that key.
    if let Some(bound) = grant.dpop_jkt.as_deref()
        && jkt != Some(bound)
    {
        return Err(OAuthError::invalid_grant(
            "the code is bound to another DPoP key",
        ));
    }
    check_pkce(
        grant.code_challenge.as_deref(),
        req.code_verifier.as_deref(),
    )
}

/// RFC 6749 §6: a refresh, with rotation and reuse detection (RFC 9700 §4.14.2). The
/// user's current rights are read again, and an inactive user or office gets nothing (O6).
/// With a DPoP proof, the new access token is bound to its key. The refresh token itself is
/// not (RFC 9449 §5): every client here is confidential, and its refresh tokens are already
/// bound to its own authentication (the binding §5 asks for public clients has no client to
/// apply to: `none` is never accepted, SPEC §4).
async fn refresh(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    ip: &ClientIp,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use refresh_token",
        ));
    }
    let presented = req
        .refresh_token
        .as_deref()
        .ok_or(OAuthError::invalid_request("refresh_token is missing"))?;
    let now = app.now();
    let new = crypto::random_token().map_err(OAuthError::server_error)?;
    let rotation = grants::rotate_refresh(
        &app.db,
        &crypto::token_hash(presented),
        &crypto::token_hash(&new),
        &client.client_id,
        app.settings.refresh_token_idle,
        now,
    )
    .await?;
    let grant = match rotation {
        Rotation::Rotated(g) => g,
        Rotation::Reused { grant_id } => {
            // SECURITY OP-19, AD-04: a replayed refresh token ends the whole family.
            tracing::warn!(client = %client.client_id, "refresh token reused; its grant is revoked");
            audit_reuse(app, "oauth.refresh_reused", client, Some(grant_id), ip, now).await?;
            return Err(OAuthError::invalid_grant("refresh token is invalid"));
        }
        Rotation::Refused => return Err(OAuthError::invalid_grant("refresh token is invalid")),
    };
    // F2, MF-01: once 2FA is mandatory, a grant from a password alone renews nothing
    // (unless it came from a grace sign-in of the office tree's policy, issue 10).
    if !crate::mfa_policy::session_suffices(app, grant.user_id, &grant.amr, grant.auth_time, now)
        .await?
    {
        grants::revoke(&app.db, grant.id, now).await?;
        return Err(OAuthError::invalid_grant(
            "the sign-in behind this grant lacks the second factor",
        ));
    }
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
    let scope = match req.scope.as_deref() {
        None => grant.scope.clone(),
        Some(asked) => {
            if asked
                .split_whitespace()
                .any(|s| !has_scope(&grant.scope, s))
            {
                return Err(OAuthError::invalid_scope("scope exceeds the grant"));
            }
            asked.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    let principal = live_principal(app, &grant, now).await?;
    issue(
        app,
        client,
        &grant,
        &principal,
        &scope,
        Some(new),
        None,
        jkt,
        now,
    )
    .await
}

/// RFC 6749 §4.4: a service client's own token. No user: `sub` is the client id, and no
/// user scope (`openid`, `portal` …) can be granted (SECURITY OP-21).
async fn client_credentials(
    app: &AppState,
    client: &Client,
    req: &TokenRequest,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "the client may not use client_credentials",
        ));
    }
    if req.scope.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        return Err(OAuthError::invalid_scope(
            "no scopes are available with client_credentials",
        ));
    }
    let now = app.now();
    let ttl = app.settings.access_token_ttl;
    let access = AccessClaims {
        iss: app.settings.issuer.as_str(),
        sub: client.client_id.clone(),
        aud: &client.client_id,
        client_id: &client.client_id,
        exp: (now + ttl).unix_timestamp(),
        iat: now.unix_timestamp(),
        auth_time: None,
        jti: Uuid::new_v4().to_string(),
        scope: "",
        sid: None,
        grant_id: None,
        role: None,
        rights: None,
        office: None,
        head_office: None,
        cnf: jkt.map(|j| Cnf { jkt: j.to_owned() }),
    };
    let access_alg = algorithm(&client.access_token_alg)?;
    let access_token = signing_keys(app, access_alg, access_alg, now)
        .await?
        .sign_with(access_alg, "at+jwt", &access, now)
        .map_err(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(jkt),
        expires_in: ttl.whole_seconds(),
        refresh_token: None,
        id_token: None,
        scope: String::new(),
    })
}

/// SECURITY AD-01, AD-04: a reused code or refresh token is an alertable event in the audit
/// log as well as in the log, with the address it came from and the user whose grant it
/// revoked (so that the user's main user sees it in the subtree's audit log too).
async fn audit_reuse(
    app: &AppState,
    action: &'static str,
    client: &Client,
    grant_id: Option<Uuid>,
    ip: &ClientIp,
    now: time::OffsetDateTime,
) -> Result<(), OAuthError> {
    let mut entry = AuditRecord::new(action);
    entry.ip = ip.text();
    if let Some(id) = grant_id
        && let Some(grant) = grants::get(&app.db, id).await?
    {
        entry.target_user_id = Some(grant.user_id);
        if let Some(p) = accounts::principal(&app.db, grant.user_id, &app.registry).await? {
            entry.target_office_id = p.user.office_id;
        }
    }
    entry.detail = serde_json::json!({ "client_id": client.client_id });
    audit::record(&app.db, &entry, now).await?;
    Ok(())
}

fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The grant's user, if still allowed to hold tokens (O6); otherwise the grant is revoked.
async fn live_principal(
    app: &AppState,
    grant: &Grant,
    now: time::OffsetDateTime,
) -> Result<Principal, OAuthError> {
    let principal = accounts::principal(&app.db, grant.user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in);
    match principal {
        Some(p) => Ok(p),
        None => {
            grants::revoke(&app.db, grant.id, now).await?;
            Err(OAuthError::invalid_grant("the account cannot sign in"))
        }
    }
}

/// A fresh refresh token of `grant`; only its hash is stored.
async fn new_refresh(
    app: &AppState,
    grant: &Grant,
    client: &Client,
    now: time::OffsetDateTime,
) -> Result<String, OAuthError> {
    let token = crypto::random_token().map_err(OAuthError::server_error)?;
    let expires_at = (now + app.settings.refresh_token_idle).min(grant.expires_at);
    grants::issue_refresh(
        &app.db,
        &crypto::token_hash(&token),
        grant.id,
        &client.client_id,
        expires_at,
        now,
    )
    .await?;
    Ok(token)
}

/// Signs the access and ID tokens of a grant for its user, with the rights read now.
#[allow(clippy::too_many_arguments)]
async fn issue(
    app: &AppState,
    client: &Client,
    grant: &Grant,
    principal: &Principal,
    scope: &str,
    refresh_token: Option<String>,
    nonce: Option<&str>,
    jkt: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<TokenResponse, OAuthError> {
    let ttl = app.settings.access_token_ttl;
    let exp = (now + ttl).unix_timestamp();
    let portal = claims::portal_claims(principal, &app.registry);
    let issuer = app.settings.issuer.as_str();
    let access = AccessClaims {
        iss: issuer,
        sub: principal.user.id.to_string(),
        aud: &client.client_id,
        client_id: &client.client_id,
        exp,
        iat: now.unix_timestamp(),
        auth_time: Some(grant.auth_time.unix_timestamp()),
        jti: Uuid::new_v4().to_string(),
        scope,
        sid: Some(&grant.sid),
        grant_id: Some(grant.id.to_string()),
        role: Some(portal.role),
        rights: Some(portal.rights.clone()),
        office: portal.office.as_ref().map(|o| IdOnly { id: o.id.clone() }),
        head_office: portal
            .head_office
            .as_ref()
            .map(|o| IdOnly { id: o.id.clone() }),
        cnf: jkt.map(|j| Cnf { jkt: j.to_owned() }),
    };
    // SPEC §4: RS256 unless the client registered ES256 or EdDSA for its tokens.
    let id_alg = algorithm(&client.id_token_alg)?;
    let access_alg = algorithm(&client.access_token_alg)?;
    let keys = signing_keys(app, access_alg, id_alg, now).await?;
    let access_token = keys
        .sign_with(access_alg, "at+jwt", &access, now)
        .map_err(OAuthError::server_error)?;
    let id = IdClaims {
        iss: issuer,
        sub: principal.user.id.to_string(),
        aud: &client.client_id,
        exp,
        iat: now.unix_timestamp(),
        auth_time: grant.auth_time.unix_timestamp(),
        nonce,
        sid: &grant.sid,
        amr: grant.amr.split(',').filter(|s| !s.is_empty()).collect(),
        acr: factor::acr_for(&grant.amr),
        at_hash: half_hash(&access_token),
        portal: has_scope(scope, "portal").then_some(portal),
    };
    let id_token = keys
        .sign_with(id_alg, "JWT", &id, now)
        .map_err(OAuthError::server_error)?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(jkt),
        expires_in: ttl.whole_seconds(),
        refresh_token,
        id_token: Some(id_token),
        scope: scope.to_owned(),
    })
}

/// A registered signing algorithm (`RS256`, `ES256` or `EdDSA`, checked at registration).
fn algorithm(name: &str) -> Result<jsonwebtoken::Algorithm, OAuthError> {
    name.parse().map_err(OAuthError::server_error)
}

/// The key set with a key of both `a` and `b` that may sign now: re-read from the database
/// when one is missing (a client registered a new algorithm since the last reload).
async fn signing_keys(
    app: &AppState,
    a: jsonwebtoken::Algorithm,
    b: jsonwebtoken::Algorithm,
    now: time::OffsetDateTime,
) -> Result<std::sync::Arc<crate::keys::KeySet>, OAuthError> {
    let keys = app
        .keys
        .for_alg(&app.db, a, now)
        .await
        .map_err(OAuthError::failed)?;
    if keys.can_sign(b, now) {
        return Ok(keys);
    }
    app.keys
        .for_alg(&app.db, b, now)
        .await
        .map_err(OAuthError::failed)
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
