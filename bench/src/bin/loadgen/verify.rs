//! "Real tokens": a sample of what a run received is verified against the issuer's JWKS
//! (signature, `iss`, `exp`), as a resource server would.

use anyhow::{Context, bail};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};

/// Verifies `token` with the key its `kid` names in `jwks_url`; answers the algorithm.
pub async fn against_jwks(
    http: &reqwest::Client,
    jwks_url: &str,
    issuer: &str,
    token: &str,
) -> anyhow::Result<String> {
    let jwks: JwkSet = http
        .get(jwks_url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
        .context("JWKS")?;
    let header = decode_header(token).context("token header")?;
    let kid = header.kid.context("the token has no kid")?;
    let Some(jwk) = jwks.find(&kid) else {
        bail!("kid {kid} is not in {jwks_url}");
    };
    let key = DecodingKey::from_jwk(jwk)?;
    let mut rules = Validation::new(header.alg);
    rules.set_issuer(&[issuer]);
    rules.validate_aud = false;
    decode::<serde_json::Value>(token, &key, &rules).context("verifying the sample token")?;
    Ok(format!("{:?}", header.alg))
}
