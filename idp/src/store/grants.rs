//! Grants and refresh tokens. A grant is one redeemed authorization code: every access,
//! ID and refresh token of that redemption carries or references its id, so revoking the
//! grant (code reuse, refresh-token reuse, RFC 7009 revocation) ends them all at once.
//! Refresh tokens are kept as SHA-256 hashes, bound to their client, and rotated on every
//! use; a used one presented again revokes its whole family, the newest too (OP-19).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, at, with_db};

/// The `sid` claim of an idp session: a hash of the session's stored id hash, so it
/// names the session without revealing anything that opens it.
pub fn sid_of(session_hash: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"sid:");
    h.update(session_hash);
    URL_SAFE_NO_PAD.encode(&h.finalize()[..16])
}

/// A stored grant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Grant {
    /// Grant id (carried by its access tokens).
    pub id: Uuid,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: Uuid,
    /// The session's `sid`.
    pub sid: String,
    /// Granted scope, space-separated.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: OffsetDateTime,
    /// How.
    pub amr: String,
    /// End of its refresh tokens.
    pub expires_at: OffsetDateTime,
    /// Ended early.
    pub revoked_at: Option<OffsetDateTime>,
}

impl Grant {
    /// Whether tokens of this grant may still be used at `now` (access tokens check
    /// only revocation; their own `exp` bounds them).
    pub fn live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// `SELECT` of one grant by id (a literal, so both databases get the same text).
macro_rules! select_grant {
    () => {
        "SELECT id, client_id, user_id, sid, scope, auth_time, amr, expires_at, revoked_at
         FROM grants WHERE id = $1"
    };
}

/// The grant with this id.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<Grant>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, Grant>(select_grant!())
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// Revokes a grant; `true` when it was live until now.
pub async fn revoke(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
    )
    .bind(at(now))
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Stores a new refresh token of a grant.
pub async fn issue_refresh(
    db: &Db,
    token_hash: &[u8],
    grant_id: Uuid,
    client_id: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(token_hash)
    .bind(grant_id)
    .bind(client_id)
    .bind(at(now))
    .bind(at(expires_at))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A stored refresh token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshToken {
    /// Its grant.
    pub grant_id: Uuid,
    /// The client it is bound to.
    pub client_id: String,
    /// Idle end.
    pub expires_at: OffsetDateTime,
    /// Rotated away.
    pub used_at: Option<OffsetDateTime>,
}

/// The refresh token with this hash, whatever its state.
pub async fn find_refresh(db: &Db, token_hash: &[u8]) -> Result<Option<RefreshToken>, StoreError> {
    let row = with_db!(db, |pool| {
        sqlx::query_as::<_, RefreshToken>(
        "SELECT grant_id, client_id, expires_at, used_at FROM refresh_tokens WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await
    })?;
    Ok(row)
}

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// The token was live: it is now used, `new_hash` is stored in its place, and this is
    /// its (live) grant.
    Rotated(Box<Grant>),
    /// The token had been used before (or was used concurrently): its grant is revoked.
    Reused {
        /// The revoked grant.
        grant_id: Uuid,
    },
    /// Unknown, another client's, expired, or of a revoked or ended grant. Nothing changed.
    Refused,
}

/// Rotates a refresh token in one transaction (RFC 9700 §4.14.2): marks `old_hash` used
/// and stores `new_hash` in the same grant, valid until `now + idle` but never past the
/// grant's absolute end. A token presented by a client other than its own is refused
/// without effect (OP-19).
pub async fn rotate_refresh(
    db: &Db,
    old_hash: &[u8],
    new_hash: &[u8],
    client_id: &str,
    idle: time::Duration,
    now: OffsetDateTime,
) -> Result<Rotation, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // Write first: of concurrent uses exactly one takes the token (the others wait for
        // its row lock and then find it used), and SQLite takes its write lock up front.
        let taken: Option<Uuid> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET used_at = $1
             WHERE token_hash = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > $1
             RETURNING grant_id",
        )
        .bind(now)
        .bind(old_hash)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant_id) = taken else {
            let token = sqlx::query_as::<_, RefreshToken>(
                "SELECT grant_id, client_id, expires_at, used_at FROM refresh_tokens
                 WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            return match token {
                Some(t) if t.client_id == client_id && t.used_at.is_some() => {
                    sqlx::query(
                        "UPDATE grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(t.grant_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Rotation::Reused {
                        grant_id: t.grant_id,
                    })
                }
                _ => Ok(Rotation::Refused),
            };
        };
        let grant = sqlx::query_as::<_, Grant>(select_grant!())
            .bind(grant_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(grant) = grant.filter(|g| g.live() && g.expires_at > now) else {
            tx.commit().await?;
            return Ok(Rotation::Refused);
        };
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_hash)
        .bind(grant.id)
        .bind(client_id)
        .bind(now)
        .bind(at((now + idle).min(grant.expires_at)))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(Box::new(grant)))
    })
}

/// A client to tell, by back-channel logout, that a session ended.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogoutTarget {
    /// The client.
    pub client_id: String,
    /// Its registered back-channel logout URI.
    pub backchannel_logout_uri: String,
    /// The session's user.
    pub user_id: Uuid,
    /// The session's `sid`.
    pub sid: String,
}

/// Every client that got tokens in the session `session_hash` and registered a
/// back-channel logout URI (OIDC Back-Channel Logout 1.0 §2.7).
pub async fn logout_targets(db: &Db, session_hash: &[u8]) -> Result<Vec<LogoutTarget>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, LogoutTarget>(
        "SELECT DISTINCT g.client_id, c.backchannel_logout_uri, g.user_id, g.sid
         FROM grants g JOIN clients c ON c.client_id = g.client_id
         WHERE g.session_hash = $1 AND c.backchannel_logout_uri IS NOT NULL
         ORDER BY g.client_id"
    )
    .bind(session_hash)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Every client with a back-channel logout URI that got tokens in a live session of
/// `user_id`: whom to tell when all of the user's sessions end (O6).
pub async fn logout_targets_of_user(
    db: &Db,
    user_id: Uuid,
) -> Result<Vec<LogoutTarget>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, LogoutTarget>(
        "SELECT DISTINCT g.client_id, c.backchannel_logout_uri, g.user_id, g.sid
         FROM grants g
         JOIN clients c ON c.client_id = g.client_id
         JOIN idp_sessions s ON s.id_hash = g.session_hash
         WHERE g.user_id = $1 AND s.revoked_at IS NULL AND c.backchannel_logout_uri IS NOT NULL
         ORDER BY g.client_id, g.sid"
    )
    .bind(user_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Every client with a back-channel logout URI that got tokens in a live session of a
/// user of `office_id` or of one of its sub-offices: whom to tell when an office is
/// deactivated or deleted (O6, O7).
pub async fn logout_targets_of_office(
    db: &Db,
    office_id: Uuid,
) -> Result<Vec<LogoutTarget>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, LogoutTarget>(
        "SELECT DISTINCT g.client_id, c.backchannel_logout_uri, g.user_id, g.sid
         FROM grants g
         JOIN clients c ON c.client_id = g.client_id
         JOIN idp_sessions s ON s.id_hash = g.session_hash
         JOIN users u ON u.id = g.user_id
         JOIN offices o ON o.id = u.office_id
         WHERE (o.id = $1 OR o.parent_id = $1)
           AND s.revoked_at IS NULL AND c.backchannel_logout_uri IS NOT NULL
         ORDER BY g.client_id, g.sid"
    )
    .bind(office_id)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// The session (its id hash) whose `sid` is `sid`, if a grant of it exists.
pub async fn session_of_sid(db: &Db, sid: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let row: Option<Vec<u8>> = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT session_hash FROM grants WHERE sid = $1 LIMIT 1"
    )
    .bind(sid)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}
