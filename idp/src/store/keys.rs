//! Signing keys: the private key sealed under the master key, the public JWK in clear.

use time::OffsetDateTime;

use super::{Db, StoreError, at, with_db};

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyRow {
    /// Key id (`kid`).
    pub kid: String,
    /// JOSE algorithm, e.g. `RS256`.
    pub alg: String,
    /// The sealed PKCS#8 private key.
    pub private_key: Vec<u8>,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// Created.
    pub created_at: OffsetDateTime,
    /// Signs from this time on; published in JWKS before it.
    pub use_from: OffsetDateTime,
    /// No longer published after this time.
    pub retired_at: Option<OffsetDateTime>,
}

/// Stores a new key.
pub async fn insert(db: &Db, k: &KeyRow) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_key, public_jwk, created_at, use_from, retired_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.private_key)
    .bind(&k.public_jwk)
    .bind(at(k.created_at))
    .bind(at(k.use_from))
    .bind(k.retired_at.map(at))
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Every key not yet retired at `now`, oldest first.
pub async fn published(db: &Db, now: OffsetDateTime) -> Result<Vec<KeyRow>, StoreError> {
    let rows = with_db!(db, |pool| {
        sqlx::query_as::<_, KeyRow>(
        "SELECT kid, alg, private_key, public_jwk, created_at, use_from, retired_at FROM signing_keys
         WHERE retired_at IS NULL OR retired_at > $1 ORDER BY use_from, kid"
    )
    .bind(at(now))
    .fetch_all(pool)
    .await
    })?;
    Ok(rows)
}

/// Sets when a key stops being published (the tokens it signed have expired by then).
pub async fn retire(db: &Db, kid: &str, at_time: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL"
    )
    .bind(at(at_time))
    .bind(kid)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
