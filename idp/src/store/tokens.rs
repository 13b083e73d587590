//! Activation and password-reset links (A2, A5) and the one-time set-up link (AU-06).
//! Only SHA-256 hashes of the tokens are stored. A link is consumed by the POST that sets
//! the password, never by opening it (SECURITY ML-02), and a new link makes the older
//! ones of the same purpose expire.

use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::NewUserRecord;
use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::{Db, StoreError, at, with_db};
use crate::domain::throttle::Counter;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A2: first password.
    Activation,
    /// A5: forgotten password.
    Reset,
}

impl Purpose {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "activation",
            Self::Reset => "reset",
        }
    }
}

/// A link to store.
#[derive(Debug, Clone)]
pub struct NewUserToken {
    /// SHA-256 of the token.
    pub hash: Vec<u8>,
    /// Whose.
    pub user_id: Uuid,
    /// For what.
    pub purpose: Purpose,
    /// Until when.
    pub expires_at: OffsetDateTime,
}

/// Inserts a link, first making older unused links of the same user and purpose expire.
macro_rules! insert_user_token {
    ($exec:expr, $tok:expr, $now:expr) => {{
        let tok: &$crate::store::tokens::NewUserToken = $tok;
        let now = $crate::store::at($now);
        let exec = $exec;
        let voided = sqlx::query(
            "UPDATE user_tokens SET expires_at = $1
             WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(tok.user_id)
        .bind(tok.purpose.as_str())
        .execute(&mut *exec)
        .await
        .map(|r| r.rows_affected());
        match voided {
            Err(e) => Err(e),
            Ok(_) => sqlx::query(
                "INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&tok.hash)
            .bind(tok.user_id)
            .bind(tok.purpose.as_str())
            .bind(now)
            .bind($crate::store::at(tok.expires_at))
            .execute(&mut *exec)
            .await
            .map(|r| r.rows_affected()),
        }
    }};
}
pub(crate) use insert_user_token;

/// Ends the user's links that are still open (activation, reset) inside transaction `$tx`:
/// they went to an address that is no longer the login.
macro_rules! void_links {
    ($tx:expr, $user:expr, $now:expr) => {{
        sqlx::query(
            "UPDATE user_tokens SET expires_at = $1
             WHERE user_id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind($now)
        .bind($user)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use void_links;

/// The state of a presented link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Valid: it may set the password of this user.
    Valid {
        /// Whose link.
        user_id: Uuid,
    },
    /// It was used before.
    Used,
    /// Its time is over, or a newer link replaced it.
    Expired,
    /// No such link (or the account is inactive).
    Unknown,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    user_id: Uuid,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    active: bool,
}

/// Looks at a link without consuming it (the GET that shows the password form).
pub async fn peek(
    db: &Db,
    hash: &[u8],
    purpose: Purpose,
    now: OffsetDateTime,
) -> Result<LinkState, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, TokenRow>(
        "SELECT t.user_id, t.expires_at, t.used_at, u.active FROM user_tokens t
         JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.purpose = $2"
    )
    .bind(hash)
    .bind(purpose.as_str())
    .fetch_optional(pool)
    .await)?;
    Ok(state_of(row, now))
}

fn state_of(row: Option<TokenRow>, now: OffsetDateTime) -> LinkState {
    match row {
        None => LinkState::Unknown,
        Some(r) if !r.active => LinkState::Unknown,
        Some(r) if r.used_at.is_some() => LinkState::Used,
        Some(r) if r.expires_at <= at(now) => LinkState::Expired,
        Some(r) => LinkState::Valid { user_id: r.user_id },
    }
}

/// Consumes a link and sets the user's password in one transaction, with its audit entry;
/// a reset link also revokes every session of the user and clears its sign-in failures.
/// Returns the state the link was in; only `Valid` changed anything. Two concurrent
/// submissions of one link cannot both succeed (`UPDATE … WHERE used_at IS NULL`).
pub async fn consume_and_set_password(
    db: &Db,
    hash: &[u8],
    purpose: Purpose,
    password_hash: &str,
    audit: &AuditRecord,
    mails: &[NewMail],
    now: OffsetDateTime,
) -> Result<LinkState, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The guarded write comes first: on SQLite a transaction that reads before it
        // writes fails with "database is locked" when another one committed in between,
        // so two submissions of one link must race on this single statement.
        let taken: Option<Uuid> = sqlx::query_scalar(
            "UPDATE user_tokens SET used_at = $1
             WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1
               AND user_id IN (SELECT id FROM users WHERE active)
             RETURNING user_id",
        )
        .bind(now)
        .bind(hash)
        .bind(purpose.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(user_id) = taken else {
            // Nothing changed; say why from the row as it is.
            let row = sqlx::query_as::<_, TokenRow>(
                "SELECT t.user_id, t.expires_at, t.used_at, u.active FROM user_tokens t
                 JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.purpose = $2",
            )
            .bind(hash)
            .bind(purpose.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            return Ok(match state_of(row, now) {
                LinkState::Valid { .. } => LinkState::Used,
                other => other,
            });
        };
        let state = LinkState::Valid { user_id };
        sqlx::query(
            "UPDATE users SET password_hash = $1, activated_at = COALESCE(activated_at, $2),
                updated_at = $2, version = version + 1 WHERE id = $3",
        )
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        if purpose == Purpose::Reset {
            // SECURITY ML-04: a reset ends every session of the user; AV-03: and lifts a
            // sign-in lock, so others cannot lock the owner out for good.
            sqlx::query(
                "UPDATE idp_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            // ML-04, OP-19: and every grant (access and refresh tokens) the user holds.
            sqlx::query(
                "UPDATE grants SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            // A half-done sign-in with the old password dies too (a pending second
            // factor or enrolment step).
            sqlx::query("DELETE FROM pending_steps WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM signin_throttle WHERE kind = $1 AND subject = $2")
                .bind(Counter::LoginAccount.as_str())
                .bind(user_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let mut audit = audit.clone();
        audit.target_user_id = Some(user_id);
        audit.actor_id = Some(user_id);
        insert_audit!(&mut *tx, &audit, now)?;
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok(state)
    })
}

/// Sends a new link: stores it (voiding older ones), queues its mail and audits, together.
pub async fn issue(
    db: &Db,
    token: &NewUserToken,
    mail: &NewMail,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        insert_user_token!(&mut *tx, token, now)?;
        insert_mail!(&mut *tx, mail, now)?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

/// Replaces any unused set-up link with a new one.
pub async fn new_setup_link(
    db: &Db,
    hash: &[u8],
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(hash)
        .bind(at(now))
        .bind(at(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

#[derive(sqlx::FromRow)]
struct SetupRow {
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

/// Looks at a set-up link without consuming it.
pub async fn peek_setup(
    db: &Db,
    hash: &[u8],
    now: OffsetDateTime,
) -> Result<LinkState, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, SetupRow>(
        "SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = $1"
    )
    .bind(hash)
    .fetch_optional(pool)
    .await)?;
    Ok(match row {
        None => LinkState::Unknown,
        Some(r) if r.used_at.is_some() => LinkState::Used,
        Some(r) if r.expires_at <= at(now) => LinkState::Expired,
        Some(_) => LinkState::Valid {
            user_id: Uuid::nil(),
        },
    })
}

/// Consumes a set-up link and creates the first insurer admin with its password, in one
/// transaction.
pub async fn consume_setup(
    db: &Db,
    hash: &[u8],
    admin: &NewUserRecord,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<LinkState, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let taken = sqlx::query(
            "UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(LinkState::Used);
        }
        sqlx::query(
            "INSERT INTO users (id, office_id, role, name, email, rights, active, password_hash,
                activated_at, version, created_at, updated_at)
             VALUES ($1, NULL, 'insurer_admin', $2, $3, '', TRUE, $4, $5, 1, $5, $5)",
        )
        .bind(admin.id)
        .bind(&admin.name)
        .bind(&admin.email)
        .bind(admin.password_hash.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(LinkState::Valid { user_id: admin.id })
    })
}
