//! The append-only audit log (SPEC L1). The database refuses updates and deletes
//! (triggers on both kinds), so the application can only add.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, with_db};

/// One audit entry: who did what to whom, from where.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// Entry id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// The user who acted; `None` for the system or an anonymous visitor.
    pub actor_id: Option<Uuid>,
    /// What happened, e.g. `office.created`, `login.failed`.
    pub action: &'static str,
    /// The user acted upon.
    pub target_user_id: Option<Uuid>,
    /// The office acted upon (for the office tree's view of the log).
    pub target_office_id: Option<Uuid>,
    /// The client address, when there was one.
    pub ip: Option<String>,
    /// Before/after values and other detail, as JSON. Never a secret.
    pub detail: serde_json::Value,
}

impl AuditRecord {
    /// An entry with a fresh id and no detail.
    pub fn new(action: &'static str) -> Self {
        Self {
            id: Uuid::now_v7(),
            actor_id: None,
            action,
            target_user_id: None,
            target_office_id: None,
            ip: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }
}

/// Inserts an audit record through an executor (a transaction of either database).
macro_rules! insert_audit {
    ($exec:expr, $rec:expr, $now:expr) => {{
        let rec: &$crate::store::audit::AuditRecord = $rec;
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor_id, action, target_user_id, target_office_id, ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(rec.id)
        .bind($crate::store::at($now))
        .bind(rec.actor_id)
        .bind(rec.action)
        .bind(rec.target_user_id)
        .bind(rec.target_office_id)
        .bind(rec.ip.as_deref())
        .bind(rec.detail.to_string())
        .execute($exec)
        .await
        .map(|r| r.rows_affected())
    }};
}
pub(crate) use insert_audit;

/// Records one event on its own (sign-in attempts and other acts that change nothing else).
pub async fn record(db: &Db, rec: &AuditRecord, now: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| insert_audit!(pool, rec, now))?;
    Ok(())
}

/// One stored entry, as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    /// Entry id.
    pub id: Uuid,
    /// When.
    pub at: OffsetDateTime,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// What.
    pub action: String,
    /// On whom.
    pub target_user_id: Option<Uuid>,
    /// On which office.
    pub target_office_id: Option<Uuid>,
    /// JSON detail.
    pub detail: String,
}

/// The newest entries about one user (the audit view comes with issue 6; tests use this).
pub async fn for_user(db: &Db, user_id: Uuid, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, actor_id, action, target_user_id, target_office_id, detail
         FROM audit_log WHERE target_user_id = $1 OR actor_id = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(user_id)
    .bind(limit)
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}
