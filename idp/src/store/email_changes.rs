//! A new login e-mail waiting for the new address to confirm it (SECURITY AC-10). An
//! administrator's change of an activated user's e-mail is stored here instead of on the
//! user: the old address stays the login, and gets every link (a reset too), until the
//! owner of the new address follows the link mailed to it. The link is kept only as its
//! hash (KS-01); a user has at most one change waiting, the newest.

use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::tokens::void_links;
use super::{Constraint, Db, StoreError, at, with_db};

/// A change to store (inside the user update that asks for it, `users::update`).
#[derive(Debug, Clone)]
pub struct PendingEmail {
    /// The new address, normalised.
    pub new_email: String,
    /// SHA-256 of the link's token.
    pub token_hash: Vec<u8>,
    /// The administrator who asked.
    pub requested_by: Uuid,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
}

/// Stores `p` as the change waiting for `user`, replacing an older one, inside `$tx`.
macro_rules! replace_pending {
    ($tx:expr, $user:expr, $p:expr, $now:expr) => {{
        let p: &$crate::store::email_changes::PendingEmail = $p;
        sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
            .bind($user)
            .execute(&mut **$tx)
            .await?;
        sqlx::query(
            "INSERT INTO email_changes (user_id, new_email, token_hash, requested_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($user)
        .bind(&p.new_email)
        .bind(&p.token_hash)
        .bind(p.requested_by)
        .bind($now)
        .bind($crate::store::at(p.expires_at))
        .execute(&mut **$tx)
        .await?;
    }};
}
pub(crate) use replace_pending;

/// The new address waiting for `user_id`'s confirmation, if a link for it still works.
pub async fn pending(
    db: &Db,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<String>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT new_email FROM email_changes WHERE user_id = $1 AND expires_at > $2"
    )
    .bind(user_id)
    .bind(at(now))
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// Whose change waits for `email`, if anyone's does (an address is one account's login,
/// U3, or one account's pending login, never two).
pub async fn waiting_for_address(
    db: &Db,
    email: &str,
    now: OffsetDateTime,
) -> Result<Option<Uuid>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_scalar::<_, Uuid>(
        "SELECT user_id FROM email_changes WHERE new_email = $1 AND expires_at > $2"
    )
    .bind(email)
    .bind(at(now))
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// Forgets the changes whose link expired before `before` (housekeeping).
pub async fn purge(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "DELETE FROM email_changes WHERE expires_at < $1"
    )
    .bind(at(before))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}

/// A waiting change, found by its link.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Found {
    /// Whose login changes.
    pub user_id: Uuid,
    /// To what.
    pub new_email: String,
}

/// The change whose link hashes to `token_hash`, if it still works.
pub async fn find(
    db: &Db,
    token_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Found>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, Found>(
        "SELECT user_id, new_email FROM email_changes WHERE token_hash = $1 AND expires_at > $2"
    )
    .bind(token_hash)
    .bind(at(now))
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// What became of a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The new address is the login now.
    Done,
    /// The link no longer works (used, replaced by a newer change, or expired).
    Gone,
    /// Another account took the address meanwhile (U3); nothing changed.
    Taken,
}

/// Makes the waiting change of `found` the user's login, in one transaction: the new
/// address replaces the old (a new version of the user), links mailed to the old address
/// stop working, the change is used up, and `audit` and `mails` (the notice to the old
/// address) are stored with it.
pub async fn confirm(
    db: &Db,
    token_hash: &[u8],
    found: &Found,
    audit: &AuditRecord,
    mails: &[NewMail],
    now: OffsetDateTime,
) -> Result<Confirmed, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The user's row first, as every change of a user takes it: a confirmation and an
        // administrator's change of the same user then wait for each other instead of
        // locking in opposite orders (a deadlock on PostgreSQL).
        sqlx::query("UPDATE users SET version = version WHERE id = $1")
            .bind(found.user_id)
            .execute(&mut *tx)
            .await?;
        let taken = sqlx::query(
            "DELETE FROM email_changes
             WHERE token_hash = $1 AND user_id = $2 AND new_email = $3 AND expires_at > $4",
        )
        .bind(token_hash)
        .bind(found.user_id)
        .bind(&found.new_email)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken != 1 {
            return Ok(Confirmed::Gone);
        }
        let changed = sqlx::query(
            "UPDATE users SET email = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        )
        .bind(&found.new_email)
        .bind(now)
        .bind(found.user_id)
        .execute(&mut *tx)
        .await;
        match changed.map_err(StoreError::from) {
            Ok(r) if r.rows_affected() == 1 => {}
            Ok(_) => return Ok(Confirmed::Gone),
            Err(StoreError::Conflict {
                constraint: Constraint::UserEmail,
            }) => return Ok(Confirmed::Taken),
            Err(e) => return Err(e),
        }
        void_links!(tx, found.user_id, now);
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(Confirmed::Done)
    })
}
