//! Throttle counters (SECURITY AV-01, AV-02, AV-04, ML-03), shared by every node through
//! the database. Counting is one atomic upsert, so parallel failures each add exactly one;
//! the rules that read the counts live in `domain::throttle`.

use time::OffsetDateTime;

use super::{Db, StoreError, at, with_db};
use crate::domain::throttle::{Count, Counter};

#[derive(sqlx::FromRow)]
struct CountRow {
    hits: i64,
    window_start: OffsetDateTime,
}

impl From<CountRow> for Count {
    fn from(r: CountRow) -> Self {
        Self {
            hits: r.hits,
            window_start: r.window_start,
        }
    }
}

/// Adds one event to a counter and returns the counter after it. A window that began
/// before `since` is over: the event starts a new window at `now` with one hit.
pub async fn hit(
    db: &Db,
    counter: Counter,
    subject: &str,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Count, StoreError> {
    // SET expressions see the row as it was before the update, on both databases.
    let row = with_db!(db, |pool| sqlx::query_as::<_, CountRow>(
        "INSERT INTO signin_throttle (kind, subject, window_start, hits) VALUES ($1, $2, $3, 1)
         ON CONFLICT (kind, subject) DO UPDATE SET
            hits = CASE WHEN signin_throttle.window_start <= $4 THEN 1
                        ELSE signin_throttle.hits + 1 END,
            window_start = CASE WHEN signin_throttle.window_start <= $4 THEN $3
                                ELSE signin_throttle.window_start END
         RETURNING hits, window_start"
    )
    .bind(counter.as_str())
    .bind(subject)
    .bind(at(now))
    .bind(at(since))
    .fetch_one(pool)
    .await)?;
    Ok(row.into())
}

/// The counter as it stands, if its window is still running (began after `since`).
pub async fn current(
    db: &Db,
    counter: Counter,
    subject: &str,
    since: OffsetDateTime,
) -> Result<Option<Count>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, CountRow>(
        "SELECT hits, window_start FROM signin_throttle
         WHERE kind = $1 AND subject = $2 AND window_start > $3"
    )
    .bind(counter.as_str())
    .bind(subject)
    .bind(at(since))
    .fetch_optional(pool)
    .await)?;
    Ok(row.map(Count::from))
}

/// Forgets a counter (a good sign-in or a password reset clears the account's failures).
pub async fn clear(db: &Db, counter: Counter, subject: &str) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "DELETE FROM signin_throttle WHERE kind = $1 AND subject = $2"
    )
    .bind(counter.as_str())
    .bind(subject)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Removes counters whose window began before `before` (housekeeping, SECURITY AV-06).
pub async fn purge(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "DELETE FROM signin_throttle WHERE window_start < $1"
    )
    .bind(at(before))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}
