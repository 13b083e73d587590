//! Event streams (issue 10): which clients receive rights events, and where. A stream is
//! the push delivery of the OpenID Shared Signals Framework reduced to what this portal
//! needs: one receiver endpoint per client (RFC 8935), to which the idp POSTs signed
//! Security Event Tokens (RFC 8417) about the users the client holds a live grant for.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, at, with_db};

/// Sets (or replaces) the receiver endpoint of `client_id`'s stream.
pub async fn set(
    db: &Db,
    client_id: &str,
    endpoint: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| {
        sqlx::query(
        "INSERT INTO event_streams (client_id, endpoint, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (client_id) DO UPDATE SET endpoint = excluded.endpoint, updated_at = excluded.updated_at"
    )
    .bind(client_id)
    .bind(endpoint)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Ends `client_id`'s stream; `false` when it had none.
pub async fn remove(db: &Db, client_id: &str) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "DELETE FROM event_streams WHERE client_id = $1"
    )
    .bind(client_id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The clients that have a stream, by id.
pub async fn clients(db: &Db) -> Result<Vec<String>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT client_id FROM event_streams ORDER BY client_id"
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// A client to tell about a user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventTarget {
    /// The client.
    pub client_id: String,
    /// Its stream's receiver endpoint.
    pub endpoint: String,
    /// The user the event is about.
    pub user_id: Uuid,
}

/// Every client with a stream that got tokens in a session of `user_id` that is live, or
/// ended at or after `since` (by the change the event is about).
pub async fn targets_of_user(
    db: &Db,
    user_id: Uuid,
    since: OffsetDateTime,
) -> Result<Vec<EventTarget>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, EventTarget>(
        "SELECT DISTINCT g.client_id, e.endpoint, g.user_id
         FROM grants g
         JOIN event_streams e ON e.client_id = g.client_id
         JOIN idp_sessions s ON s.id_hash = g.session_hash
         WHERE g.user_id = $1 AND (s.revoked_at IS NULL OR s.revoked_at >= $2)
         ORDER BY g.client_id, g.user_id"
    )
    .bind(user_id)
    .bind(at(since))
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}

/// Every (client with a stream, user) pair with a session live or ended at or after
/// `since`, for the users of `office_id` and of its sub-offices.
pub async fn targets_of_office(
    db: &Db,
    office_id: Uuid,
    since: OffsetDateTime,
) -> Result<Vec<EventTarget>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, EventTarget>(
        "SELECT DISTINCT g.client_id, e.endpoint, g.user_id
         FROM grants g
         JOIN event_streams e ON e.client_id = g.client_id
         JOIN idp_sessions s ON s.id_hash = g.session_hash
         JOIN users u ON u.id = g.user_id
         JOIN offices o ON o.id = u.office_id
         WHERE (o.id = $1 OR o.parent_id = $1) AND (s.revoked_at IS NULL OR s.revoked_at >= $2)
         ORDER BY g.client_id, g.user_id"
    )
    .bind(office_id)
    .bind(at(since))
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}
