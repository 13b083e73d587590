//! Sign-in sessions at the identity provider. The browser holds a random id; the table
//! holds its SHA-256, so any node can serve the session and a database dump reveals no
//! usable id (SECURITY SE-01, KS-01).

use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::{Db, StoreError, at, with_db};

/// A session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie value.
    pub id_hash: Vec<u8>,
    /// Who signed in.
    pub user_id: Uuid,
    /// When they proved who they are (the `auth_time` claim).
    pub auth_time: OffsetDateTime,
    /// How (`pwd`, later `otp`, `hwk`…), comma-separated.
    pub amr: String,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
}

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    /// Who.
    pub user_id: Uuid,
    /// When they authenticated.
    pub auth_time: OffsetDateTime,
    /// How.
    pub amr: String,
    /// Last request seen (idle timeout).
    pub last_seen_at: OffsetDateTime,
    /// Absolute end.
    pub expires_at: OffsetDateTime,
    /// Ended early (logout, deactivation).
    pub revoked_at: Option<OffsetDateTime>,
}

/// Stores a new session.
pub async fn create(db: &Db, s: &NewSession, now: OffsetDateTime) -> Result<(), StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO idp_sessions (id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $5, $6)"
    )
    .bind(&s.id_hash)
    .bind(s.user_id)
    .bind(at(s.auth_time))
    .bind(&s.amr)
    .bind(now)
    .bind(at(s.expires_at))
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The session with this id hash, whatever its state; the caller judges validity.
pub async fn find(db: &Db, id_hash: &[u8]) -> Result<Option<Session>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, Session>(
        "SELECT user_id, auth_time, amr, last_seen_at, expires_at, revoked_at
         FROM idp_sessions WHERE id_hash = $1"
    )
    .bind(id_hash)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// Records activity (for the idle timeout).
pub async fn touch(db: &Db, id_hash: &[u8], now: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "UPDATE idp_sessions SET last_seen_at = $1 WHERE id_hash = $2"
    )
    .bind(at(now))
    .bind(id_hash)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A session as its owner sees it under Profiel → Sessies (SECURITY SE-06).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnSession {
    /// SHA-256 of the cookie value: what the page names it by (it reveals no cookie).
    pub id_hash: Vec<u8>,
    /// How its owner signed in.
    pub amr: String,
    /// When it began.
    pub created_at: OffsetDateTime,
    /// Last request seen.
    pub last_seen_at: OffsetDateTime,
}

/// The most sessions Profiel lists, the most recently used first; older ones end with a
/// password change (SE-05) or an administrator's "Uitloggen op alle apparaten".
pub const LISTED_SESSIONS: i64 = 50;

/// The user's sessions that are neither ended nor past their absolute end, the most
/// recently used first (the caller judges the idle timeout, as for the browser's own).
pub async fn live_of_user(
    db: &Db,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<OwnSession>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, OwnSession>(
        "SELECT id_hash, amr, created_at, last_seen_at FROM idp_sessions
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
         ORDER BY last_seen_at DESC LIMIT $3"
    )
    .bind(user_id)
    .bind(at(now))
    .bind(LISTED_SESSIONS)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Ends a session (logout) in one transaction: the session is revoked, every grant made
/// in it is revoked (its refresh tokens and access tokens stop working, SECURITY OP-19),
/// a code issued in it and not yet redeemed is spent, and the back-channel logout
/// deliveries for its clients are queued in the outbox.
/// Returns whether the session was live until now.
pub async fn end(
    db: &Db,
    id_hash: &[u8],
    deliveries: &[NewMail],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    end_where(db, id_hash, None, deliveries, None, now).await
}

/// Ends the session `id_hash` if it is a live one of `owner` (SE-06: a user ends one of
/// its own sessions from Profiel), as [`end`] does, with `audit` in the same transaction.
/// Another user's session, or one already ended, is left alone and `false` returned.
pub async fn end_own(
    db: &Db,
    id_hash: &[u8],
    owner: Uuid,
    deliveries: &[NewMail],
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    end_where(db, id_hash, Some(owner), deliveries, Some(audit), now).await
}

async fn end_where(
    db: &Db,
    id_hash: &[u8],
    owner: Option<Uuid>,
    deliveries: &[NewMail],
    audit: Option<&AuditRecord>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let at_now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE idp_sessions SET revoked_at = $1
             WHERE id_hash = $2 AND revoked_at IS NULL AND ($3 IS NULL OR user_id = $3)",
        )
        .bind(at_now)
        .bind(id_hash)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        // A logout of an already ended session still revokes what is left of it; a
        // request about someone else's session changes nothing.
        if owner.is_some() && !ended {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE grants SET revoked_at = $1 WHERE session_hash = $2 AND revoked_at IS NULL",
        )
        .bind(at_now)
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
        // A code issued in the session but not yet redeemed dies with it.
        sqlx::query(
            "UPDATE auth_codes SET used_at = $1 WHERE session_hash = $2 AND used_at IS NULL",
        )
        .bind(at_now)
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
        for d in deliveries {
            insert_mail!(&mut *tx, d, at_now)?;
        }
        if let Some(rec) = audit {
            insert_audit!(&mut *tx, rec, now)?;
        }
        tx.commit().await?;
        Ok(ended)
    })
}
