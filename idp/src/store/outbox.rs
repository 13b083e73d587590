//! The durable outbox of e-mails and back-channel logout deliveries. A mail is a row written in the same transaction as the
//! change that causes it; a worker (`crate::mail`) delivers due rows, retrying with
//! back-off. Rows are claimed with a lease (`locked_until`) so that several nodes, or the
//! CLI and a server, never send one mail twice at the same time.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, at, with_db};

/// A mail to be queued: the payload is already sealed under the outbox key, bound to `id`.
#[derive(Debug, Clone)]
pub struct NewMail {
    /// Row id (also the AEAD associated data of the payload).
    pub id: Uuid,
    /// What kind of mail (`activation`, …), for the backlog view and logs.
    pub kind: &'static str,
    /// The main recipient, for the backlog view and logs (not secret).
    pub recipient: String,
    /// The sealed message.
    pub payload: Vec<u8>,
}

/// Inserts a mail through an executor (a transaction of either database).
macro_rules! insert_mail {
    ($exec:expr, $mail:expr, $now:expr) => {{
        let mail: &$crate::store::outbox::NewMail = $mail;
        let now = $crate::store::at($now);
        sqlx::query(
            "INSERT INTO outbox (id, kind, recipient, payload, attempts, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, 0, $5, $5)",
        )
        .bind(mail.id)
        .bind(mail.kind)
        .bind(&mail.recipient)
        .bind(&mail.payload)
        .bind(now)
        .execute($exec)
        .await
        .map(|r| r.rows_affected())
    }};
}
pub(crate) use insert_mail;

/// A mail due for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueMail {
    /// Row id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Main recipient.
    pub recipient: String,
    /// The sealed message.
    pub payload: Option<Vec<u8>>,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// Up to `limit` unsent mails whose time has come, oldest first (delivery keeps order).
pub async fn due(db: &Db, now: OffsetDateTime, limit: i64) -> Result<Vec<DueMail>, StoreError> {
    let now = at(now);
    let rows = with_db!(db, |pool| sqlx::query_as::<_, DueMail>(
        "SELECT id, kind, recipient, payload, attempts FROM outbox
         WHERE sent_at IS NULL AND next_attempt_at <= $1
           AND (locked_until IS NULL OR locked_until <= $1)
         ORDER BY created_at, id LIMIT $2"
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Takes a lease on one mail until `until`; `false` when another worker holds it.
pub async fn claim(
    db: &Db,
    id: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let done = with_db!(db, |pool| sqlx::query(
        "UPDATE outbox SET locked_until = $1
         WHERE id = $2 AND sent_at IS NULL AND (locked_until IS NULL OR locked_until <= $3)"
    )
    .bind(at(until))
    .bind(id)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Marks a mail delivered and erases its content (it held a link that must not linger).
pub async fn mark_sent(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE outbox SET sent_at = $1, payload = NULL, locked_until = NULL, last_error = NULL WHERE id = $2"
    )
    .bind(at(now))
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Gives a row up for good (a back-channel delivery whose token expired): it counts as
/// finished, its content is erased, and `error` says why.
pub async fn abandon(
    db: &Db,
    id: Uuid,
    now: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE outbox SET sent_at = $1, payload = NULL, locked_until = NULL, last_error = $2 WHERE id = $3"
    )
    .bind(at(now))
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_failed(
    db: &Db,
    id: Uuid,
    next_attempt_at: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, locked_until = NULL, last_error = $2
         WHERE id = $3"
    )
    .bind(at(next_attempt_at))
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// How many mails wait to be delivered (the backlog).
pub async fn pending(db: &Db) -> Result<i64, StoreError> {
    let n: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"
    )
    .fetch_one(pool)
    .await)?;
    Ok(n)
}
