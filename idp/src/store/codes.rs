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
    /// RFC 9449 §10: the thumbprint of the key the token request must prove, if bound.
    pub dpop_jkt: Option<String>,
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
            code_challenge, auth_time, amr, created_at, expires_at, dpop_jkt)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
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
    .bind(g.dpop_jkt.as_deref())
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// What a redemption found.
#[derive(Debug, Clone)]
pub enum Redeemed {
    /// First use: the code is now used and its grant row exists (with the given id).
    Fresh(Box<CodeGrant>),
    /// The code was used before; the grant of that first redemption (if one was made) has
    /// been revoked (SECURITY OP-07).
    Reused {
        /// The grant of the first redemption.
        grant_id: Option<Uuid>,
    },
    /// No such code.
    Unknown,
}

/// Marks the code used and records the grant `grant_id` made from it, atomically: of any
/// number of concurrent redemptions exactly one gets `Fresh` (OP-08). A later redemption
/// revokes that grant, and with it every token issued from it (OP-07). Expiry and the
/// bindings are judged by the caller, who revokes the grant when they do not hold.
pub async fn redeem(
    db: &Db,
    code_hash: &[u8],
    grant_id: Uuid,
    grant_expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Redeemed, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as::<_, CodeGrant>(
            "UPDATE auth_codes SET used_at = $1, grant_id = $3
             WHERE code_hash = $2 AND used_at IS NULL
             RETURNING client_id, user_id, session_hash, redirect_uri, scope, nonce, code_challenge,
                       auth_time, amr, expires_at, dpop_jkt",
        )
        .bind(now)
        .bind(code_hash)
        .bind(grant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match row {
            Some(g) => {
                sqlx::query(
                    "INSERT INTO grants (id, client_id, user_id, session_hash, sid, scope, auth_time,
                        amr, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(grant_id)
                .bind(&g.client_id)
                .bind(g.user_id)
                .bind(&g.session_hash)
                .bind(super::grants::sid_of(&g.session_hash))
                .bind(&g.scope)
                .bind(at(g.auth_time))
                .bind(&g.amr)
                .bind(now)
                .bind(at(grant_expires_at))
                .execute(&mut *tx)
                .await?;
                Redeemed::Fresh(Box::new(g))
            }
            None => {
                let first: Option<Option<Uuid>> =
                    sqlx::query_scalar("SELECT grant_id FROM auth_codes WHERE code_hash = $1")
                        .bind(code_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                match first {
                    None => Redeemed::Unknown,
                    Some(first) => {
                        if let Some(id) = first {
                            sqlx::query(
                                "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                            )
                            .bind(now)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        }
                        Redeemed::Reused { grant_id: first }
                    }
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    })
}
