//! Changes a signed-in user makes to its own account on Profiel: its name and its
//! password. Each is one transaction with its audit entry and notice mail; the version
//! is bumped, so an administrator editing the same user meanwhile gets a 412 instead of
//! silently writing the old name back.

use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::factors::end_sessions;
use super::outbox::{NewMail, insert_mail};
use super::{Db, StoreError, at, with_db};

/// Sets the user's display name. `false` when the user is gone or inactive (nothing
/// changed).
pub async fn set_name(
    db: &Db,
    user_id: Uuid,
    name: &str,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET name = $1, updated_at = $2, version = version + 1
             WHERE id = $3 AND active",
        )
        .bind(name)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if n.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}

/// A password the owner changed, knowing the old one.
#[derive(Debug)]
pub struct PasswordChange<'a> {
    /// Whose.
    pub user_id: Uuid,
    /// The PHC string the change was checked against; the change applies only if it is
    /// still the stored one (two parallel changes cannot both win).
    pub old_hash: &'a str,
    /// The new PHC string.
    pub new_hash: &'a str,
    /// The session making the change: it stays; every other session, its grants and
    /// unredeemed codes end (SECURITY SE-05, ML-04).
    pub keep_session: &'a [u8],
    /// The audit entry.
    pub audit: &'a AuditRecord,
    /// The notice to the owner and the back-channel logout tokens of the ended sessions.
    pub mails: &'a [NewMail],
}

/// Applies a password change; `false` when the stored hash is no longer `old_hash` (or
/// the user is inactive): nothing changed.
pub async fn change_password(
    db: &Db,
    c: &PasswordChange<'_>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, updated_at = $2, version = version + 1
             WHERE id = $3 AND password_hash = $4 AND active",
        )
        .bind(c.new_hash)
        .bind(now)
        .bind(c.user_id)
        .bind(c.old_hash)
        .execute(&mut *tx)
        .await?;
        if n.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        end_sessions!(&mut tx, c.user_id, Some(c.keep_session), now);
        // A half-done sign-in with the old password dies too.
        sqlx::query("DELETE FROM pending_steps WHERE user_id = $1")
            .bind(c.user_id)
            .execute(&mut *tx)
            .await?;
        insert_audit!(&mut *tx, c.audit, now)?;
        for m in c.mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}
