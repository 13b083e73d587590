//! Authorization codes: stored as hashes, single-use, short-lived (SECURITY OP-07, OP-08).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, at, with_db};

/// A code and everything it is bound to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: Uuid,
    /// The session it came from.
    pub session_hash: Vec<u8>,
    /// The redirect URI of the authorization request (must match at the token endpoint).
    pub redirect_uri: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// The client's nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// How.
    pub amr: String,
    /// End of validity.
    pub expires_at: OffsetDateTime,
}

/// Stores a code by its hash.
pub async fn insert(
    db: &Db,
    code_hash: &[u8],
    g: &CodeGrant,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO auth_codes (code_hash, client_id, user_id, session_hash, redirect_uri, scope, nonce,
            code_challenge, auth_time, amr, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )
    .bind(code_hash)
    .bind(&g.client_id)
    .bind(g.user_id)
    .bind(&g.session_hash)
    .bind(&g.redirect_uri)
    .bind(&g.scope)
    .bind(g.nonce.as_deref())
    .bind(g.code_challenge.as_deref())
    .bind(at(g.auth_time))
    .bind(&g.amr)
    .bind(at(now))
    .bind(at(g.expires_at))
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks the code used and returns its grant, atomically: of any number of concurrent
/// redemptions exactly one gets `Some`. Expiry is judged by the caller, who has `now`.
pub async fn redeem(
    db: &Db,
    code_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<CodeGrant>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, CodeGrant>(
        "UPDATE auth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL
         RETURNING client_id, user_id, session_hash, redirect_uri, scope, nonce, code_challenge,
                   auth_time, amr, expires_at"
    )
    .bind(at(now))
    .bind(code_hash)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}
