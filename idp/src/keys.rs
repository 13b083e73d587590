//! Token signing keys: generated with aws-lc-rs, kept sealed in the database and
//! decrypted only in memory, published as a pre-serialised JWKS.
//!
//! Every node reloads the key set from the database each minute, so a `keys rotate` on
//! one node reaches all of them; a new key is published before it signs
//! (`ROTATION_LEAD`), and an old one stays published until what it signed has expired.
//!
//! RS256 (RSA-2048) signs every token by default; a client may register `ES256` (P-256) or
//! `EdDSA` (Ed25519) for its ID tokens (SPEC §4), and a key of that kind is then made and
//! published beside the RSA key.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::crypto::{self, CryptoError, Sealer};
use crate::store::keys::{self as key_store, KeyRow};
use crate::store::{Db, StoreError};

/// How long before it signs a new key is published (every node and every relying party
/// refreshes its copy within this time).
pub const ROTATION_LEAD: Duration = Duration::minutes(2);
/// How long a replaced key stays published: longer than any token it signed lives.
pub const RETIRE_AFTER: Duration = Duration::hours(24);

/// The ID-token signing algorithms a client may register; the first is the default and
/// signs every other token.
pub const ID_TOKEN_ALGS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// The name of an algorithm as JOSE and the `signing_keys.alg` column spell it.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::EdDSA => "EdDSA",
        _ => "RS256",
    }
}

/// jsonwebtoken's key from the stored PKCS#8 DER of a key of `alg`.
fn encoding_key(alg: Algorithm, der: &[u8]) -> Result<EncodingKey, String> {
    match alg {
        Algorithm::RS256 => {
            EncodingKey::from_rsa_pem(pkcs8_pem(der).as_bytes()).map_err(|e| e.to_string())
        }
        Algorithm::ES256 => Ok(EncodingKey::from_ec_der(der)),
        Algorithm::EdDSA => Ok(EncodingKey::from_ed_der(der)),
        other => Err(format!("unsupported algorithm {other:?}")),
    }
}

/// A private key parsed once, when the key set is loaded. jsonwebtoken's `encode` parses and
/// checks the key again on every call, which made an RS256 signature cost about three
/// times the RSA arithmetic itself (bench `access_token/sign/RS256`: 856 µs against
/// openssl's 270 µs). The JWS is still JSON → base64url → `header.claims.signature`, with
/// jsonwebtoken's own `Header`; only the signature comes from this pre-parsed aws-lc-rs
/// key, one algorithm per key, fixed when the key was made (no algorithm is ever read
/// from input here).
enum PreparedKey {
    /// RS256: RSASSA-PKCS1-v1_5 with SHA-256.
    Rsa(KeyPair),
    /// ES256: P-256, the fixed-width `r || s` form JWS requires (RFC 7518 §3.4).
    Ecdsa(EcdsaKeyPair),
    /// EdDSA: Ed25519.
    Ed25519(Ed25519KeyPair),
}

impl PreparedKey {
    /// Parses the stored PKCS#8 DER of a key of `alg`.
    fn parse(alg: Algorithm, der: &[u8]) -> Result<Self, String> {
        match alg {
            Algorithm::RS256 => KeyPair::from_pkcs8(der)
                .map(Self::Rsa)
                .map_err(|e| e.to_string()),
            Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map(Self::Ecdsa)
                .map_err(|e| e.to_string()),
            Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(der)
                .map(Self::Ed25519)
                .map_err(|e| e.to_string()),
            other => Err(format!("unsupported algorithm {other:?}")),
        }
    }

    /// The signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |e: aws_lc_rs::error::Unspecified| KeyError::SignFailed(e.to_string());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Self::Rsa(k) => {
                let mut signature = vec![0; k.public_modulus_len()];
                k.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
            Self::Ecdsa(k) => Ok(k.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            Self::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// Why keys could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key generation or encoding failed.
    #[error("key generation failed")]
    Generate,
    /// A stored key did not decrypt or parse.
    #[error("signing key {kid} is unusable: {reason}")]
    Unusable {
        /// Which key.
        kid: String,
        /// Why.
        reason: String,
    },
    /// There is no key that may sign now.
    #[error("no signing key is active")]
    NoActiveKey,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// The signature or the token's JSON could not be made.
    #[error("signing failed: {0}")]
    SignFailed(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

struct ActiveKey {
    kid: String,
    alg: Algorithm,
    prepared: PreparedKey,
    use_from: OffsetDateTime,
}

/// The keys in memory: the signers, the verifiers by `kid`, and the JWKS document.
pub struct KeySet {
    signers: Vec<ActiveKey>,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: axum::body::Bytes,
}

impl KeySet {
    fn load(rows: &[KeyRow], sealer: &Sealer) -> Result<Self, KeyError> {
        let mut signers = Vec::new();
        let mut verifiers = HashMap::new();
        let mut jwks = JwkSet { keys: Vec::new() };
        for row in rows {
            let unusable = |reason: String| KeyError::Unusable {
                kid: row.kid.clone(),
                reason,
            };
            let alg: Algorithm = row
                .alg
                .parse()
                .map_err(|_| unusable(format!("algorithm {}", row.alg)))?;
            let der = sealer
                .open(row.kid.as_bytes(), &row.private_key)
                .map_err(|e| unusable(e.to_string()))?;
            let prepared = PreparedKey::parse(alg, &der).map_err(unusable)?;
            let jwk: Jwk =
                serde_json::from_str(&row.public_jwk).map_err(|e| unusable(e.to_string()))?;
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| unusable(e.to_string()))?;
            verifiers.insert(row.kid.clone(), (alg, decoding));
            jwks.keys.push(jwk);
            signers.push(ActiveKey {
                kid: row.kid.clone(),
                alg,
                prepared,
                use_from: row.use_from,
            });
        }
        let jwks = serde_json::to_string(&jwks).map_err(|e| KeyError::Unusable {
            kid: "*".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            signers,
            verifiers,
            jwks: jwks.into(),
        })
    }

    /// The JWKS document, serialised once per reload (a cheap, shared clone).
    pub fn jwks(&self) -> axum::body::Bytes {
        self.jwks.clone()
    }

    /// Signs `claims` with the newest RS256 key allowed to sign at `now`, with header `typ`.
    pub fn sign(
        &self,
        typ: &str,
        claims: &impl Serialize,
        now: OffsetDateTime,
    ) -> Result<String, KeyError> {
        self.sign_with(Algorithm::RS256, typ, claims, now)
    }

    /// Whether a key of `alg` may sign at `now`.
    pub fn can_sign(&self, alg: Algorithm, now: OffsetDateTime) -> bool {
        self.signers
            .iter()
            .any(|k| k.alg == alg && k.use_from <= now)
    }

    /// Signs with the newest key of `alg` allowed to sign at `now`.
    pub fn sign_with(
        &self,
        alg: Algorithm,
        typ: &str,
        claims: &impl Serialize,
        now: OffsetDateTime,
    ) -> Result<String, KeyError> {
        let key = self
            .signers
            .iter()
            .filter(|k| k.alg == alg && k.use_from <= now)
            .max_by_key(|k| k.use_from)
            .ok_or(KeyError::NoActiveKey)?;
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_owned());
        let json = |e: serde_json::Error| KeyError::SignFailed(e.to_string());
        let head = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).map_err(json)?);
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(json)?);
        let message = format!("{head}.{body}");
        let signature = key.prepared.sign(message.as_bytes())?;
        Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The verification key for `kid`.
    pub fn verifier(&self, kid: &str) -> Option<&(Algorithm, DecodingKey)> {
        self.verifiers.get(kid)
    }

    /// Decodes a JWT that one of our keys signed for `issuer`: its `kid` must be ours and its
    /// `alg` that key's algorithm (so never `none`, and no algorithm confusion); `configure`
    /// decides the rest (expiry, required claims). Returns the header too, for `typ` checks.
    pub fn verify<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        configure: impl FnOnce(&mut jsonwebtoken::Validation),
    ) -> Option<(Header, T)> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let (alg, key) = self.verifier(header.kid.as_deref()?)?;
        if header.alg != *alg {
            return None;
        }
        let mut v = jsonwebtoken::Validation::new(*alg);
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        configure(&mut v);
        let claims = jsonwebtoken::decode::<T>(token, key, &v).ok()?.claims;
        Some((header, claims))
    }
}

/// The current key set, shared by every request and replaced whole on reload.
#[derive(Clone)]
pub struct Keys {
    current: Arc<RwLock<Arc<KeySet>>>,
    sealer: Arc<Sealer>,
}

impl Keys {
    /// Loads the published keys, creating the first one on an empty database.
    pub async fn load(db: &Db, sealer: Sealer, now: OffsetDateTime) -> Result<Self, KeyError> {
        let mut rows = key_store::published(db, now).await?;
        if rows.is_empty() {
            key_store::insert(db, &generate(&sealer, now, now)?).await?;
            rows = key_store::published(db, now).await?;
        }
        let set = KeySet::load(&rows, &sealer)?;
        Ok(Self {
            current: Arc::new(RwLock::new(Arc::new(set))),
            sealer: Arc::new(sealer),
        })
    }

    /// The key set now in use.
    pub fn current(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key set, re-read from the database first when it has no key of `alg` that
    /// may sign now (a client registered a new algorithm since the last reload).
    pub async fn for_alg(
        &self,
        db: &Db,
        alg: Algorithm,
        now: OffsetDateTime,
    ) -> Result<Arc<KeySet>, KeyError> {
        let set = self.current();
        if set.can_sign(alg, now) {
            return Ok(set);
        }
        self.reload(db, now).await?;
        Ok(self.current())
    }

    /// Re-reads the keys from the database (another node may have rotated them).
    pub async fn reload(&self, db: &Db, now: OffsetDateTime) -> Result<(), KeyError> {
        let rows = key_store::published(db, now).await?;
        if rows.is_empty() {
            return Err(KeyError::NoActiveKey);
        }
        let set = Arc::new(KeySet::load(&rows, &self.sealer)?);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}

/// Adds a new key for every algorithm in use that signs from `now + ROTATION_LEAD`, and
/// schedules the older keys to leave the JWKS `RETIRE_AFTER` later. Returns the new
/// RS256 `kid`.
pub async fn rotate(db: &Db, sealer: &Sealer, now: OffsetDateTime) -> Result<String, KeyError> {
    let use_from = now + ROTATION_LEAD;
    let older = key_store::published(db, now).await?;
    let mut rsa_kid = String::new();
    for alg in ID_TOKEN_ALGS {
        if alg != Algorithm::RS256 && !older.iter().any(|k| k.alg == alg_name(alg)) {
            continue;
        }
        let row = generate_alg(sealer, alg, now, use_from)?;
        key_store::insert(db, &row).await?;
        if alg == Algorithm::RS256 {
            rsa_kid = row.kid;
        }
    }
    for old in older {
        key_store::retire(db, &old.kid, use_from + RETIRE_AFTER).await?;
    }
    Ok(rsa_kid)
}

/// Makes sure a key of `alg` is published and may sign now (a client registered it for
/// its ID tokens); `true` when one was made.
pub async fn ensure_alg(
    db: &Db,
    sealer: &Sealer,
    alg: Algorithm,
    now: OffsetDateTime,
) -> Result<bool, KeyError> {
    let published = key_store::published(db, now).await?;
    if published
        .iter()
        .any(|k| k.alg == alg_name(alg) && k.use_from <= now)
    {
        return Ok(false);
    }
    key_store::insert(db, &generate_alg(sealer, alg, now, now)?).await?;
    Ok(true)
}

/// Generates an RSA-2048 key (SPEC §4: RS256 by default) and seals its private part.
pub fn generate(
    sealer: &Sealer,
    now: OffsetDateTime,
    use_from: OffsetDateTime,
) -> Result<KeyRow, KeyError> {
    generate_alg(sealer, Algorithm::RS256, now, use_from)
}

/// Generates a key for `alg` (RSA-2048, P-256 or Ed25519, with aws-lc-rs) and seals its
/// PKCS#8 private part.
pub fn generate_alg(
    sealer: &Sealer,
    alg: Algorithm,
    now: OffsetDateTime,
    use_from: OffsetDateTime,
) -> Result<KeyRow, KeyError> {
    let der: zeroize::Zeroizing<Vec<u8>> = zeroize::Zeroizing::new(match alg {
        Algorithm::RS256 => KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| KeyError::Generate)?
            .as_der()
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| KeyError::Generate)?
            .to_pkcs8v1()
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        Algorithm::EdDSA => Ed25519KeyPair::generate()
            .map_err(|_| KeyError::Generate)?
            .to_pkcs8v1()
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        _ => return Err(KeyError::Generate),
    });
    let encoding = encoding_key(alg, &der).map_err(|_| KeyError::Generate)?;
    let mut kid_bytes = [0u8; 12];
    crypto::fill_random(&mut kid_bytes)?;
    let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
    let mut jwk = Jwk::from_encoding_key(&encoding, alg)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|_| KeyError::Generate)?;
    Ok(KeyRow {
        private_key: sealer.seal(kid.as_bytes(), &der)?,
        kid,
        alg: alg_name(alg).into(),
        public_jwk,
        created_at: now,
        use_from,
        retired_at: None,
    })
}

/// jsonwebtoken reads RSA keys as PKCS#1 DER or as PEM; aws-lc-rs gives PKCS#8 DER, which
/// its PEM reader accepts as a `PRIVATE KEY` block.
fn pkcs8_pem(der: &[u8]) -> zeroize::Zeroizing<String> {
    let b64 = zeroize::Zeroizing::new(STANDARD.encode(der));
    let mut pem = String::with_capacity(b64.len() + 80);
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    zeroize::Zeroizing::new(pem)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn a_generated_key_signs_and_its_jwk_verifies_without_private_parts() {
        let mk = MasterKey::from_base64(&STANDARD.encode([3u8; 32])).unwrap();
        let sealer = mk.sealer("signing-keys").unwrap();
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let row = generate(&sealer, now, now).unwrap();
        for private in ["\"d\"", "\"p\"", "\"q\"", "\"dp\""] {
            assert!(!row.public_jwk.contains(private), "{private} in JWK");
        }
        let set = KeySet::load(std::slice::from_ref(&row), &sealer).unwrap();
        #[derive(Serialize, serde::Deserialize)]
        struct C {
            sub: String,
            exp: i64,
        }
        let token = set
            .sign(
                "JWT",
                &C {
                    sub: "x".into(),
                    exp: 4_000_000_000,
                },
                now,
            )
            .unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(row.kid.as_str()));
        let (alg, key) = set.verifier(&row.kid).unwrap();
        let data =
            jsonwebtoken::decode::<C>(&token, key, &jsonwebtoken::Validation::new(*alg)).unwrap();
        assert_eq!(data.claims.sub, "x");
        // A key that may only sign later is published but not used.
        let later = generate(&sealer, now, now + Duration::hours(1)).unwrap();
        let set = KeySet::load(&[row.clone(), later.clone()], &sealer).unwrap();
        let token = set
            .sign(
                "JWT",
                &C {
                    sub: "y".into(),
                    exp: 4_000_000_000,
                },
                now,
            )
            .unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid,
            Some(row.kid.clone())
        );
        assert!(String::from_utf8_lossy(&set.jwks()).contains(&later.kid));
        // ES256 and EdDSA keys sign with their own algorithm and verify from their JWK.
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let other = generate_alg(&sealer, alg, now, now).unwrap();
            assert!(!other.public_jwk.contains("\"d\""));
            let set = KeySet::load(&[row.clone(), other.clone()], &sealer).unwrap();
            let token = set
                .sign_with(
                    alg,
                    "JWT",
                    &C {
                        sub: "z".into(),
                        exp: 4_000_000_000,
                    },
                    now,
                )
                .unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, alg);
            assert_eq!(header.kid.as_deref(), Some(other.kid.as_str()));
            let (_, key) = set.verifier(&other.kid).unwrap();
            let jwk: Jwk = serde_json::from_str(&other.public_jwk).unwrap();
            assert!(DecodingKey::from_jwk(&jwk).is_ok());
            jsonwebtoken::decode::<C>(&token, key, &jsonwebtoken::Validation::new(alg)).unwrap();
            // The default stays RS256.
            let token = set
                .sign(
                    "JWT",
                    &C {
                        sub: "r".into(),
                        exp: 4_000_000_000,
                    },
                    now,
                )
                .unwrap();
            assert_eq!(
                jsonwebtoken::decode_header(&token).unwrap().alg,
                Algorithm::RS256
            );
        }
        // A sealed key moved to another kid does not open (AAD binds it to its row).
        let mut swapped = later;
        swapped.private_key = row.private_key.clone();
        assert!(KeySet::load(&[swapped], &sealer).is_err());
    }
}
