//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post` (RFC 6749 §2.3.1) and `private_key_jwt`
//! (RFC 7523 §2.2, OIDC Core §9). Exactly one method per request; `none` is never
//! accepted (SPEC §4). Every failure is the same `invalid_client`.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::crypto;
use crate::error::OAuthError;
use crate::state::AppState;
use std::sync::Arc;

use crate::store::clients::{self, Client};

/// RFC 7523 §2.2: the only assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The signature algorithms accepted on client assertions: asymmetric only, so neither
/// `none` nor an HMAC keyed with a public key can pass.
pub const ASSERTION_ALGS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Assertions living longer than this are refused, which bounds the replay table.
const MAX_ASSERTION_LIFETIME: Duration = Duration::hours(1);

/// The credentials a request carries in its form.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credentials<'a> {
    /// `client_id`.
    pub client_id: Option<&'a str>,
    /// `client_secret` (client_secret_post).
    pub client_secret: Option<&'a str>,
    /// `client_assertion_type`.
    pub client_assertion_type: Option<&'a str>,
    /// `client_assertion` (private_key_jwt).
    pub client_assertion: Option<&'a str>,
}

/// Authenticates the client; `endpoint` is the URL called, which an assertion's `aud`
/// may name besides the token endpoint and the issuer.
pub(crate) async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    c: &Credentials<'_>,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let methods = [
        basic.is_some(),
        c.client_secret.is_some(),
        c.client_assertion.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        return Err(OAuthError::invalid_request(
            "use one client authentication method",
        ));
    }
    if let Some(assertion) = c.client_assertion {
        if c.client_assertion_type != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_client());
        }
        return private_key_jwt(app, c.client_id, assertion, endpoint).await;
    }
    let (id, secret) = match (basic, c.client_secret) {
        (Some(b64), _) => parse_basic(b64).ok_or_else(OAuthError::invalid_client)?,
        (None, Some(secret)) => (
            c.client_id
                .map(str::to_owned)
                .ok_or_else(OAuthError::invalid_client)?,
            secret.to_owned(),
        ),
        (None, None) => return Err(OAuthError::invalid_client()),
    };
    if c.client_id.is_some_and(|given| given != id) {
        return Err(OAuthError::invalid_client());
    }
    let client = app.clients.get(&app.db, &id).await?;
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

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding. Reads
/// what follows `Basic `; `None` for anything else. Public for the fuzz targets (IO-06).
pub fn parse_basic(b64: &str) -> Option<(String, String)> {
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    // Each part is one form value: a raw `&` in it is part of the value, not a separator.
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((decode(id)?, decode(secret)?))
}

#[derive(Deserialize)]
struct Issuer {
    iss: String,
}

#[derive(Deserialize)]
struct Assertion {
    exp: i64,
    jti: Option<String>,
}

/// RFC 7523 §3: `iss` = `sub` = the client id; `aud` names us; `exp` set and near;
/// signed by a key of the client's registered JWKS with an allowed algorithm; its `jti`
/// used once.
async fn private_key_jwt(
    app: &AppState,
    client_id: Option<&str>,
    assertion: &str,
    endpoint: &str,
) -> Result<Arc<Client>, OAuthError> {
    let denied = OAuthError::invalid_client;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| denied())?;
    if !ASSERTION_ALGS.contains(&header.alg) {
        return Err(denied());
    }
    // The client is named inside the assertion; it is read here only to find the keys
    // that must then verify it.
    let unverified: Issuer = assertion
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(denied)?;
    let id = unverified.iss;
    if client_id.is_some_and(|given| given != id) {
        return Err(denied());
    }
    let client = app.clients.get(&app.db, &id).await?.ok_or_else(denied)?;
    let jwks: JwkSet = client
        .jwks
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(denied)?;
    let jwk = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid),
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(denied)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| denied())?;
    let token_endpoint = app.idp_url("/token");
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[id.as_str()]);
    v.sub = Some(id.clone());
    v.set_audience(&[
        endpoint,
        token_endpoint.as_str(),
        app.settings.issuer.as_str(),
    ]);
    v.set_required_spec_claims(&["iss", "sub", "aud", "exp"]);
    v.leeway = 30;
    let claims = jsonwebtoken::decode::<Assertion>(assertion, &key, &v)
        .map_err(|_| denied())?
        .claims;
    let now = app.now();
    let exp = OffsetDateTime::from_unix_timestamp(claims.exp).map_err(|_| denied())?;
    if exp > now + MAX_ASSERTION_LIFETIME {
        return Err(denied());
    }
    let jti = claims.jti.filter(|j| !j.is_empty()).ok_or_else(denied)?;
    if !clients::remember_assertion(&app.db, &id, &jti, exp, now).await? {
        tracing::warn!(client = %id, "client assertion replayed");
        return Err(denied());
    }
    Ok(client)
}

/// Checks a JWKS an admin registers for `private_key_jwt`: parseable, at least one key,
/// each usable for verification, and no private parts.
pub fn check_client_jwks(text: &str) -> Result<(), &'static str> {
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
    let keys = raw["keys"].as_array().ok_or("no \"keys\" array")?;
    if keys.is_empty() {
        return Err("no keys");
    }
    if keys
        .iter()
        .any(|k| ["d", "p", "q", "k"].iter().any(|f| k.get(f).is_some()))
    {
        return Err("private key material must not be registered");
    }
    let set: JwkSet = serde_json::from_value(raw).map_err(|_| "not a JWKS")?;
    if set.keys.iter().any(|k| DecodingKey::from_jwk(k).is_err()) {
        return Err("a key is not usable");
    }
    Ok(())
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
    fn registered_jwks_are_public_and_usable() {
        let public = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","x":"HbckS2e8l4HzZP-p7zNBp2MYXctcYBtz9HPdekwyiHs","y":"wOeiG5rdVGqStA4M6H7SxMzIcFFMpy_Nsb1nwRucwi8"}]}"#;
        assert!(check_client_jwks(public).is_ok());
        let private = public.replace("\"kid\"", "\"d\":\"AAAA\",\"kid\"");
        assert!(check_client_jwks(&private).is_err());
        let secret = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
        assert!(check_client_jwks(secret).is_err());
        assert!(check_client_jwks(r#"{"keys":[]}"#).is_err());
        assert!(check_client_jwks("x").is_err());
    }

    #[test]
    fn a_raw_ampersand_does_not_cut_the_secret_short() {
        let b64 = STANDARD.encode("id:se&cret=x");
        assert_eq!(parse_basic(&b64), Some(("id".into(), "se&cret=x".into())));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn form(s: &str) -> String {
            form_urlencoded::byte_serialize(s.as_bytes()).collect()
        }

        proptest! {
            // IO-06: the Basic parser is total.
            #[test]
            fn basic_parsing_never_panics(raw in any::<String>(), bytes in any::<Vec<u8>>()) {
                let _ = parse_basic(&raw);
                let _ = parse_basic(&STANDARD.encode(&bytes));
                let _ = parse_basic(&STANDARD.encode(raw.as_bytes()));
            }

            // RFC 6749 §2.3.1: what a client form-encodes and Basic-encodes comes back whole.
            #[test]
            fn encoded_credentials_come_back(id in any::<String>(), secret in any::<String>()) {
                let b64 = STANDARD.encode(format!("{}:{}", form(&id), form(&secret)));
                prop_assert_eq!(parse_basic(&b64), Some((id, secret)));
            }
        }
    }
}
