//! DPoP (RFC 9449): proofs of possession of a client's key, sent in the `DPoP` header with a
//! token request (and a pushed authorization request), and with every use of a DPoP-bound
//! access token at userinfo.
//!
//! [`check`] is pure: the proof is a JWT with `typ: dpop+jwt`, signed with ES256, EdDSA or
//! RS256 by the public key in its own `jwk` header (no private parts, no symmetric key), whose
//! `htm` and `htu` name this request (query and fragment ignored, §4.3), whose `iat` lies
//! within [`MAX_AGE`] before and [`MAX_AHEAD`] after now, and, at a resource, whose `ath` is the
//! hash of the access token presented. [`verify`] adds the replay check: each proof's `jti`
//! is used once, recorded (as a hash with the key's thumbprint) in the database so that a
//! proof replayed at another node is refused too (§11.1).
//!
//! Server-provided nonces (§8, §9) are not used: a proof is fresh by its `iat` window and
//! single use by its `jti`, which bounds a stolen proof to one use within a minute.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::crypto;
use crate::error::OAuthError;
use crate::state::AppState;
use crate::store::{StoreError, pushed};

/// The algorithms a proof may be signed with (discovery's `dpop_signing_alg_values_supported`).
pub const ALGS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

/// Their names, as advertised.
pub const ALG_NAMES: [&str; 3] = ["ES256", "EdDSA", "RS256"];

/// How old a proof's `iat` may be.
pub const MAX_AGE: Duration = Duration::seconds(60);

/// How far ahead of our clock a proof's `iat` may be (the client's clock runs fast).
pub const MAX_AHEAD: Duration = Duration::seconds(10);

/// The longest `jti` accepted (a UUID or 128 random bits need far less).
const MAX_JTI: usize = 256;

/// The `WWW-Authenticate` parameter listing [`ALG_NAMES`].
pub const ALGS_PARAM: &str = "algs=\"ES256 EdDSA RS256\"";

/// Why a proof is refused; each is `invalid_dpop_proof` to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// More than one `DPoP` header, or one that is not a JWT.
    #[error("the DPoP proof is not one well-formed JWT")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    Type,
    /// Not ES256, EdDSA or RS256.
    #[error("the DPoP proof's alg is not supported")]
    Alg,
    /// No usable public `jwk` in the header (missing, private, or symmetric).
    #[error("the DPoP proof needs a public jwk")]
    Key,
    /// The signature does not verify, or a claim is missing.
    #[error("the DPoP proof's signature or claims are invalid")]
    Signature,
    /// `htm` is not this request's method.
    #[error("the DPoP proof's htm does not match")]
    Method,
    /// `htu` is not this request's URI.
    #[error("the DPoP proof's htu does not match")]
    Uri,
    /// `iat` is outside the window.
    #[error("the DPoP proof is stale or from the future")]
    Time,
    /// `ath` missing or not the hash of the access token.
    #[error("the DPoP proof's ath does not match the access token")]
    Ath,
    /// The `jti` was seen before.
    #[error("the DPoP proof was used before")]
    Replay,
}

impl ProofError {
    /// The `error_description` sent back (static, in English as the protocol's texts are).
    pub fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the DPoP proof is not one well-formed JWT",
            Self::Type => "the DPoP proof's typ must be dpop+jwt",
            Self::Alg => "the DPoP proof's alg is not supported",
            Self::Key => "the DPoP proof needs a public jwk",
            Self::Signature => "the DPoP proof's signature or claims are invalid",
            Self::Method => "the DPoP proof's htm does not match",
            Self::Uri => "the DPoP proof's htu does not match",
            Self::Time => "the DPoP proof is stale or from the future",
            Self::Ath => "the DPoP proof's ath does not match the access token",
            Self::Replay => "the DPoP proof was used before",
        }
    }
}

/// Why [`verify`] failed: a bad proof, or the replay table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DpopFailure {
    /// The proof is refused.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// At `/token` and `/par`: `invalid_dpop_proof` (RFC 9449 §5), or the store's outage answer.
impl From<DpopFailure> for OAuthError {
    fn from(e: DpopFailure) -> Self {
        match e {
            DpopFailure::Proof(p) => OAuthError::invalid_dpop_proof(p.description()),
            DpopFailure::Store(s) => s.into(),
        }
    }
}

/// A proof that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url (`cnf.jkt`).
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: OffsetDateTime,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    #[serde(default)]
    ath: Option<String>,
}

/// The single `DPoP` header of a request: `Ok(None)` without one, an error with several.
pub fn header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut all = headers.get_all("dpop").iter();
    let Some(first) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(ProofError::Malformed);
    }
    first.to_str().map(Some).map_err(|_| ProofError::Malformed)
}

/// RFC 9449 §4.3: judges `proof` for a request of `method` to `uri`; with `access_token`, at a
/// resource, its `ath` must be that token's hash. Pure; the replay check is [`verify`]'s.
pub fn check(
    proof: &str,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    now: OffsetDateTime,
) -> Result<Proof, ProofError> {
    let header = jsonwebtoken::decode_header(proof).map_err(|_| ProofError::Malformed)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(ProofError::Type);
    }
    if !ALGS.contains(&header.alg) {
        return Err(ProofError::Alg);
    }
    // The jwk as sent: jsonwebtoken's Jwk would silently drop private members.
    let raw: serde_json::Value = proof
        .split('.')
        .next()
        .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ProofError::Malformed)?;
    let private = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"]
        .iter()
        .any(|m| raw["jwk"].get(m).is_some());
    let jwk = header.jwk.as_ref().ok_or(ProofError::Key)?;
    if private || !raw["jwk"].is_object() {
        return Err(ProofError::Key);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| ProofError::Key)?;
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| ProofError::Key)?;
    let mut v = Validation::new(header.alg);
    v.set_required_spec_claims::<&str>(&[]);
    v.validate_exp = false;
    v.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(proof, &key, &v)
        .map_err(|_| ProofError::Signature)?
        .claims;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI {
        return Err(ProofError::Signature);
    }
    if claims.htm != method {
        return Err(ProofError::Method);
    }
    if !same_uri(&claims.htu, uri) {
        return Err(ProofError::Uri);
    }
    let iat = OffsetDateTime::from_unix_timestamp(claims.iat).map_err(|_| ProofError::Time)?;
    if iat < now - MAX_AGE || iat > now + MAX_AHEAD {
        return Err(ProofError::Time);
    }
    if let Some(token) = access_token {
        let expected = ath(token);
        let given = claims.ath.as_deref().unwrap_or_default();
        if !crypto::same(given.as_bytes(), expected.as_bytes()) {
            return Err(ProofError::Ath);
        }
    }
    Ok(Proof {
        jkt,
        jti: claims.jti,
        iat,
    })
}

/// [`check`], then the replay check (RFC 9449 §11.1): `Ok(None)` when the request carries no
/// proof.
pub async fn verify(
    app: &AppState,
    headers: &HeaderMap,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, DpopFailure> {
    let Some(text) = header(headers)? else {
        return Ok(None);
    };
    let now = app.now();
    let proof = check(text, method, uri, access_token, now)?;
    // Kept until the proof would be stale anyway.
    let keep_until = proof.iat.max(now) + MAX_AGE + Duration::seconds(1);
    let hash = crypto::token_hash(&format!("{} {}", proof.jkt, proof.jti));
    if !pushed::remember_proof(&app.db, &hash, keep_until).await? {
        tracing::warn!(jkt = %proof.jkt, "DPoP proof replayed");
        return Err(ProofError::Replay.into());
    }
    Ok(Some(proof))
}

/// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token.
pub fn ath(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// RFC 9449 §4.3 step 9: the URIs are equal without their query and fragment (after the
/// URL parser's normalisation of scheme, host and default port).
fn same_uri(htu: &str, uri: &str) -> bool {
    let strip = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        })
    };
    matches!((strip(htu), strip(uri)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const URI: &str = "https://idp.example.nl/idp/token";

    /// A fresh P-256 key: its PKCS#8 and its public x and y, base64url.
    struct Key {
        pkcs8: Vec<u8>,
        x: String,
        y: String,
    }

    fn key() -> Key {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        Key {
            pkcs8: doc.as_ref().to_vec(),
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
        }
    }

    thread_local! {
        static KEY: Key = key();
    }

    fn sign(header: Header, claims: serde_json::Value) -> String {
        KEY.with(|k| {
            let key = EncodingKey::from_ec_der(&k.pkcs8);
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        })
    }

    fn jwk(extra: &[(&str, &str)]) -> serde_json::Value {
        let (x, y) = KEY.with(|k| (k.x.clone(), k.y.clone()));
        let mut j = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        for (k, v) in extra {
            j[*k] = serde_json::Value::from(*v);
        }
        j
    }

    fn header(jwk: serde_json::Value) -> Header {
        let mut h = Header::new(Algorithm::ES256);
        h.typ = Some("dpop+jwt".into());
        h.jwk = Some(serde_json::from_value(jwk).unwrap());
        h
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn claims(iat: i64) -> serde_json::Value {
        serde_json::json!({"jti": "j-1", "htm": "POST", "htu": URI, "iat": iat})
    }

    #[test]
    fn a_good_proof_passes_with_the_keys_thumbprint() {
        let t = now().unix_timestamp();
        let p = check(&sign(header(jwk(&[])), claims(t)), "POST", URI, None, now()).unwrap();
        // RFC 7638 over {"crv","kty","x","y"}.
        let (x, y) = KEY.with(|k| (k.x.clone(), k.y.clone()));
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        assert_eq!(
            p.jkt,
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(p.jti, "j-1");
        // Query and fragment are ignored; scheme and host case are not significant.
        let mut c = claims(t);
        c["htu"] = "HTTPS://IDP.example.nl/idp/token?x=1".into();
        assert!(check(&sign(header(jwk(&[])), c), "POST", URI, None, now()).is_ok());
    }

    #[test]
    fn each_rule_refuses() {
        let t = now().unix_timestamp();
        let good = |c: serde_json::Value| sign(header(jwk(&[])), c);
        let refused = |proof: String, method: &str, token: Option<&str>| {
            check(&proof, method, URI, token, now()).unwrap_err()
        };
        assert_eq!(refused(good(claims(t)), "GET", None), ProofError::Method);
        let mut c = claims(t);
        c["htu"] = "https://idp.example.nl/idp/userinfo".into();
        assert_eq!(refused(good(c), "POST", None), ProofError::Uri);
        assert_eq!(
            refused(good(claims(t - 61)), "POST", None),
            ProofError::Time
        );
        assert_eq!(
            refused(good(claims(t + 11)), "POST", None),
            ProofError::Time
        );
        assert!(check(&good(claims(t - 60)), "POST", URI, None, now()).is_ok());
        // ath: missing, or of another token.
        assert_eq!(
            refused(good(claims(t)), "POST", Some("at")),
            ProofError::Ath
        );
        let mut c = claims(t);
        c["ath"] = ath("other").into();
        assert_eq!(refused(good(c), "POST", Some("at")), ProofError::Ath);
        let mut c = claims(t);
        c["ath"] = ath("at").into();
        assert!(check(&good(c), "POST", URI, Some("at"), now()).is_ok());
        // typ, private key material, a signature by another key.
        let mut h = header(jwk(&[]));
        h.typ = Some("JWT".into());
        assert_eq!(refused(sign(h, claims(t)), "POST", None), ProofError::Type);
        let good_token = sign(header(jwk(&[])), claims(t));
        let (_, rest) = good_token.split_once('.').unwrap();
        let private =
            serde_json::json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk(&[("d", "AAAA")])});
        let with_d = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(private.to_string()));
        assert_eq!(refused(with_d, "POST", None), ProofError::Key);
        let stranger = key();
        let mut other = jwk(&[]);
        other["x"] = stranger.x.into();
        other["y"] = stranger.y.into();
        let forged = sign(header(other), claims(t));
        assert_eq!(refused(forged, "POST", None), ProofError::Signature);
        let mut no_jwk = header(jwk(&[]));
        no_jwk.jwk = None;
        assert_eq!(
            refused(sign(no_jwk, claims(t)), "POST", None),
            ProofError::Key
        );
        assert_eq!(refused("x.y".into(), "POST", None), ProofError::Malformed);
    }

    #[test]
    fn one_header_only() {
        let mut h = HeaderMap::new();
        assert_eq!(super::header(&h), Ok(None));
        h.append("dpop", "a.b.c".parse().unwrap());
        assert_eq!(super::header(&h), Ok(Some("a.b.c")));
        h.append("dpop", "d.e.f".parse().unwrap());
        assert_eq!(super::header(&h), Err(ProofError::Malformed));
    }
}
