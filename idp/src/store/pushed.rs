//! Pushed authorization requests (RFC 9126): kept by the SHA-256 of their `request_uri`,
//! bound to the client that pushed them, used once, short-lived (SECURITY OP-18).

use time::OffsetDateTime;

use super::{Db, StoreError, at, with_db};

/// A pushed request as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Pushed {
    /// The client that pushed it (authenticated at `/par`).
    pub client_id: String,
    /// The authorization request's parameters (JSON), checked when pushed.
    pub params: String,
    /// When it was pushed: a `prompt=login` or `max_age` in it is met by a sign-in after this.
    pub created_at: OffsetDateTime,
    /// End of validity.
    pub expires_at: OffsetDateTime,
}

/// Stores a pushed request under the hash of its `request_uri`.
pub async fn insert(db: &Db, uri_hash: &[u8], p: &Pushed) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO pushed_requests (uri_hash, client_id, params, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(uri_hash)
        .bind(&p.client_id)
        .bind(&p.params)
        .bind(at(p.created_at))
        .bind(at(p.expires_at))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The live request of `client_id` under this hash, left in place (the person may first
/// have to sign in). Another client's request, or an expired one, is `None`.
pub async fn find(
    db: &Db,
    uri_hash: &[u8],
    client_id: &str,
    now: OffsetDateTime,
) -> Result<Option<Pushed>, StoreError> {
    let row = with_db!(db, |pool| {
        sqlx::query_as::<_, Pushed>(
            "SELECT client_id, params, created_at, expires_at FROM pushed_requests
             WHERE uri_hash = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(uri_hash)
        .bind(client_id)
        .bind(at(now))
        .fetch_optional(pool)
        .await
    })?;
    Ok(row)
}

/// Uses the request up: `true` for exactly one caller, however many race (RFC 9126 §4:
/// single use); `false` when it was used, expired, or is another client's.
pub async fn take(
    db: &Db,
    uri_hash: &[u8],
    client_id: &str,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| {
        sqlx::query(
            "DELETE FROM pushed_requests WHERE uri_hash = $1 AND client_id = $2 AND expires_at > $3",
        )
        .bind(uri_hash)
        .bind(client_id)
        .bind(at(now))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Forgets requests that expired before `before` (hourly housekeeping).
pub async fn purge(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| {
        sqlx::query("DELETE FROM pushed_requests WHERE expires_at <= $1")
            .bind(at(before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// Records a DPoP proof (by the hash of its key thumbprint and `jti`) until `expires_at`;
/// `false` when it was seen before: a replay (RFC 9449 §11.1). In the database, so that a
/// proof replayed at another node is refused too.
pub async fn remember_proof(
    db: &Db,
    proof_hash: &[u8],
    expires_at: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| {
        sqlx::query(
            "INSERT INTO dpop_proofs (proof_hash, expires_at) VALUES ($1, $2)
             ON CONFLICT (proof_hash) DO NOTHING",
        )
        .bind(proof_hash)
        .bind(at(expires_at))
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Forgets proofs that are stale anyway (hourly housekeeping).
pub async fn purge_proofs(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| {
        sqlx::query("DELETE FROM dpop_proofs WHERE expires_at <= $1")
            .bind(at(before))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n)
}
