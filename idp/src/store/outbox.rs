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

/// The outbox kinds that are not e-mails but deliveries to clients: each stands alone
/// (no line to keep), and the backlog counts them apart. `rights_event` rows are turned
/// into `security_event` rows by `crate::events` before anything is posted.
macro_rules! delivery_kinds {
    () => {
        "('backchannel_logout', 'security_event', 'rights_event')"
    };
}

/// The delivery kinds posted as they are (each stands alone).
macro_rules! posted_kinds {
    () => {
        "('backchannel_logout', 'security_event')"
    };
}

/// What may be delivered at `now`, oldest first: every back-channel delivery and security
/// event whose time has come (each stands alone), and then the e-mails up to the first one
/// that must still wait. E-mail goes out in the order it was queued: while the oldest
/// unsent mail waits for its retry, or another worker holds it, the mails queued after it
/// wait too, on every node. At most `limit` of each.
pub async fn due(db: &Db, now: OffsetDateTime, limit: i64) -> Result<Vec<DueMail>, StoreError> {
    let now = at(now);
    let standalone = concat!(
        "SELECT id, kind, recipient, payload, attempts FROM outbox
         WHERE sent_at IS NULL AND kind IN ",
        posted_kinds!(),
        " AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)
         ORDER BY created_at, id LIMIT $2"
    );
    let mut rows = with_db!(db, |pool| sqlx::query_as::<_, DueMail>(standalone)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    let in_line = concat!(
        "SELECT id, kind, recipient, payload, attempts,
                (next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)) AS ready
         FROM outbox
         WHERE sent_at IS NULL AND kind NOT IN ",
        delivery_kinds!(),
        " ORDER BY created_at, id LIMIT $2"
    );
    let line = with_db!(db, |pool| sqlx::query_as::<_, InLine>(in_line)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
    rows.extend(line.into_iter().map_while(|m| m.ready.then_some(m.mail)));
    Ok(rows)
}

/// The rows of `kind` due at `now`, oldest first, at most `limit` (each stands alone).
pub async fn due_of_kind(
    db: &Db,
    kind: &str,
    now: OffsetDateTime,
    limit: i64,
) -> Result<Vec<DueMail>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, DueMail>(
        "SELECT id, kind, recipient, payload, attempts FROM outbox
         WHERE sent_at IS NULL AND kind = $3 AND next_attempt_at <= $1
           AND (locked_until IS NULL OR locked_until <= $1)
         ORDER BY created_at, id LIMIT $2"
    )
    .bind(at(now))
    .bind(limit)
    .bind(kind)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Replaces row `id` by `rows` in one transaction: they are queued and it counts as done
/// (its content erased), or neither happens.
pub async fn expand(
    db: &Db,
    id: Uuid,
    rows: &[NewMail],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        for row in rows {
            insert_mail!(&mut *tx, row, now)?;
        }
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, payload = NULL, locked_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(at(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// An unsent e-mail in the line, and whether it may go now.
#[derive(sqlx::FromRow)]
struct InLine {
    #[sqlx(flatten)]
    mail: DueMail,
    ready: bool,
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

/// The state of the outbox, for the insurer's view of it (issue 9: an SMTP outage shows).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backlog {
    /// E-mails not yet delivered.
    pub waiting: i64,
    /// When the oldest of them was queued.
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_queued_at: Option<OffsetDateTime>,
    /// How often sending the oldest has failed.
    pub attempts: i32,
    /// Why it failed last (the mail server's answer), if it did.
    pub last_error: Option<String>,
    /// When it is tried again.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// E-mails the server refused for good (given up, with their reason kept) in the last
    /// [`KEEP_DONE`]; older ones are purged.
    pub given_up: i64,
    /// Back-channel logout deliveries and rights events not yet accepted by their client.
    pub deliveries_waiting: i64,
}

/// The outbox's backlog: what waits, since when, and why.
pub async fn backlog(db: &Db) -> Result<Backlog, StoreError> {
    type Head = (OffsetDateTime, i32, Option<String>, OffsetDateTime);
    let counts = concat!(
        "SELECT COUNT(CASE WHEN sent_at IS NULL AND kind NOT IN ",
        delivery_kinds!(),
        " THEN 1 END), COUNT(CASE WHEN sent_at IS NULL AND kind IN ",
        delivery_kinds!(),
        " THEN 1 END), COUNT(CASE WHEN sent_at IS NOT NULL AND last_error IS NOT NULL AND kind NOT IN ",
        delivery_kinds!(),
        " THEN 1 END) FROM outbox"
    );
    let (waiting, deliveries_waiting, given_up): (i64, i64, i64) =
        with_db!(db, |pool| sqlx::query_as(counts).fetch_one(pool).await)?;
    let first = concat!(
        "SELECT created_at, attempts, last_error, next_attempt_at FROM outbox
         WHERE sent_at IS NULL AND kind NOT IN ",
        delivery_kinds!(),
        " ORDER BY created_at, id LIMIT 1"
    );
    let head: Option<Head> = with_db!(db, |pool| sqlx::query_as(first).fetch_optional(pool).await)?;
    Ok(Backlog {
        waiting,
        oldest_queued_at: head.as_ref().map(|h| h.0),
        attempts: head.as_ref().map_or(0, |h| h.1),
        last_error: head.as_ref().and_then(|h| h.2.clone()),
        next_attempt_at: head.as_ref().map(|h| h.3),
        given_up,
        deliveries_waiting,
    })
}

/// How long a sent or abandoned e-mail (its sealed payload, its recipient, its last error)
/// is kept after it left the queue: long enough for the insurer to see what was given up
/// this week (`Backlog::given_up`), no longer than that (data minimisation).
pub const KEEP_DONE: time::Duration = time::Duration::days(7);

/// Forgets the e-mails and deliveries that left the queue (sent, or given up) before
/// `before`; the waiting ones are never touched. Returns how many went.
pub async fn purge(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1"
    )
    .bind(at(before))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
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

#[cfg(test)]
mod kinds {
    /// The SQL lists name exactly the kinds the code queues.
    #[test]
    fn the_delivery_kinds_in_sql_are_the_ones_queued() {
        let all = [
            crate::mail::BACKCHANNEL_KIND,
            crate::mail::SECURITY_EVENT_KIND,
            crate::events::RIGHTS_EVENT_KIND,
        ];
        assert_eq!(
            delivery_kinds!(),
            format!("('{}', '{}', '{}')", all[0], all[1], all[2])
        );
        assert_eq!(posted_kinds!(), format!("('{}', '{}')", all[0], all[1]));
    }
}
