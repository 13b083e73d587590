//! The durable outbox of product mail (quotes and application confirmations, SPEC P2, P3).
//! A mail row is written in the same transaction as the quote or application it reports,
//! and delivered by [`crate::mail::ProductMailer`], retrying with back-off; rows are
//! claimed with a lease so several nodes never send one mail twice at the same time.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ProductDb, StoreError, at, with_db};

/// A composed product mail, as queued.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProductMail {
    /// Recipients: the office e-mail, and the advisor's own when it differs.
    pub to: Vec<String>,
    /// Copies: the head office of a sub-office or employee (P3).
    pub cc: Vec<String>,
    /// One line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
    /// The quote's PDF (base64), attached.
    pub attachment: Option<String>,
    /// The attachment's file name.
    pub attachment_name: Option<String>,
}

/// A mail row to insert.
#[derive(Debug, Clone)]
pub struct NewProductMail {
    /// Id (UUIDv7: the delivery order).
    pub id: Uuid,
    /// `quote` or `application`.
    pub kind: &'static str,
    /// The mail.
    pub mail: ProductMail,
}

/// Inserts a mail row on an open transaction of either database.
macro_rules! insert_mail {
    ($exec:expr, $mail:expr, $now:expr) => {{
        let row: &$crate::store::outbox::NewProductMail = $mail;
        let payload = serde_json::to_string(&row.mail)?;
        sqlx::query(
            "INSERT INTO product_outbox (id, kind, payload, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, 0, $4, $4)",
        )
        .bind(row.id)
        .bind(row.kind)
        .bind(payload)
        .bind($now)
        .execute($exec)
        .await
        .map(|_| ())
    }};
}
pub(crate) use insert_mail;

/// A row due for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueMail {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// The mail (JSON).
    pub payload: Option<String>,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// The rows that may go at `now`, oldest first, up to the first one that must still wait
/// (for its retry, or because another worker holds it): mail goes out in the order it was
/// queued, on every node. At most `limit`.
pub async fn due(
    db: &ProductDb,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<DueMail>, StoreError> {
    let now = at(now);
    let line = with_db!(db, |pool| sqlx::query_as::<_, InLine>(
        "SELECT id, kind, payload, attempts,
                (next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)) AS ready
         FROM product_outbox
         WHERE sent_at IS NULL
         ORDER BY created_at, id LIMIT $2"
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    Ok(line
        .into_iter()
        .map_while(|m| m.ready.then_some(m.mail))
        .collect())
}

/// An unsent row in the line, and whether it may go now.
#[derive(sqlx::FromRow)]
struct InLine {
    #[sqlx(flatten)]
    mail: DueMail,
    ready: bool,
}

/// Gives row `id` up for good (the server refused it): it counts as finished, its content
/// is dropped, and `error` says why.
pub async fn abandon(
    db: &ProductDb,
    id: Uuid,
    now: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
            "UPDATE product_outbox SET sent_at = $1, payload = NULL, locked_until = NULL, last_error = $2
             WHERE id = $3",
        )
        .bind(at(now))
        .bind(error)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Takes the lease of row `id` until `until`; `false` when another worker holds it.
pub async fn claim(
    db: &ProductDb,
    id: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "UPDATE product_outbox SET locked_until = $1
         WHERE id = $2 AND sent_at IS NULL AND (locked_until IS NULL OR locked_until <= $3)"
    )
    .bind(at(until))
    .bind(id)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Marks row `id` delivered and drops its content.
pub async fn mark_sent(db: &ProductDb, id: Uuid, now: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE product_outbox SET sent_at = $1, payload = NULL, locked_until = NULL, last_error = NULL
         WHERE id = $2"
    )
    .bind(at(now))
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Records a failed attempt; the row is tried again at `next`.
pub async fn mark_failed(
    db: &ProductDb,
    id: Uuid,
    next: OffsetDateTime,
    error: &str,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "UPDATE product_outbox SET attempts = attempts + 1, next_attempt_at = $1, locked_until = NULL,
                last_error = $2
         WHERE id = $3"
    )
    .bind(at(next))
    .bind(error)
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// How many mails wait to be delivered.
pub async fn pending(db: &ProductDb) -> Result<i64, StoreError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM product_outbox WHERE sent_at IS NULL"
    )
    .fetch_one(pool)
    .await)?)
}
