//! The append-only audit log (SPEC L1). The database refuses updates and deletes
//! (triggers on both kinds), so the application can only add. The one exception is the
//! retention purge ([`purge`], issue 10): migration 0012 lets a DELETE through only for
//! rows older than a cutoff the purge itself sets in its transaction, never for the last
//! 30 days (SECURITY AD-03).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
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

/// What the audit view asks for (SPEC L1): filters, newest first, one page at a time.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only the entries of this office's tree (the office and, for a head office, its
    /// sub-offices, deleted ones included). The caller checks that it manages it.
    pub office_id: Option<Uuid>,
    /// Only the entries in which this user acted or was acted upon.
    pub user_id: Option<Uuid>,
    /// Only this action (`login.failed`), or every action starting with it when it ends
    /// with a dot (`login.`).
    pub action: Option<String>,
    /// Only entries at or after this moment.
    pub from: Option<OffsetDateTime>,
    /// Only entries before this moment.
    pub until: Option<OffsetDateTime>,
    /// Only entries older than this one (the keyset cursor: ids are UUIDv7, so they sort
    /// by time).
    pub before: Option<Uuid>,
    /// At most this many entries; clamped to 1..=[`MAX_PAGE`].
    pub limit: i64,
}

/// The largest page the audit view returns.
pub const MAX_PAGE: i64 = 100;

/// A user named in an entry, with what the reader may know of it. The name and e-mail
/// are `None` for a user that no longer exists or lies outside the reader's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedUser {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// An office named in an entry; name and number as for [`NamedUser`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedOffice {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: Option<String>,
    /// Advisor number or the sub-office's number.
    pub number: Option<String>,
}

/// One entry as the audit view shows it.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// Entry id.
    pub id: Uuid,
    /// When.
    pub at: OffsetDateTime,
    /// What (`user.created`).
    pub action: String,
    /// Who acted; `None` for the system or an anonymous visitor.
    pub actor: Option<NamedUser>,
    /// On whom.
    pub target_user: Option<NamedUser>,
    /// On which office.
    pub target_office: Option<NamedOffice>,
    /// From which address.
    pub ip: Option<String>,
    /// The stored JSON detail.
    pub detail: String,
}

/// One page of the audit view.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// The cursor of the next (older) page; `None` on the last page.
    pub next: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: Uuid,
    at: OffsetDateTime,
    action: String,
    actor_id: Option<Uuid>,
    target_user_id: Option<Uuid>,
    target_office_id: Option<Uuid>,
    ip: Option<String>,
    detail: String,
    actor_name: Option<String>,
    actor_email: Option<String>,
    target_user_name: Option<String>,
    target_user_email: Option<String>,
    target_office_name: Option<String>,
    target_office_number: Option<String>,
}

impl EntryRow {
    fn into_entry(self) -> AuditEntry {
        AuditEntry {
            id: self.id,
            at: self.at,
            action: self.action,
            actor: self.actor_id.map(|id| NamedUser {
                id,
                name: self.actor_name,
                email: self.actor_email,
            }),
            target_user: self.target_user_id.map(|id| NamedUser {
                id,
                name: self.target_user_name,
                email: self.target_user_email,
            }),
            target_office: self.target_office_id.map(|id| NamedOffice {
                id,
                name: self.target_office_name,
                number: self.target_office_number,
            }),
            ip: self.ip,
            detail: self.detail,
        }
    }
}

/// The offices of the tree rooted at `$root` (its id as text in `$text`): the office, its
/// sub-offices, and its sub-offices that were deleted (O7 deletes the office row; the
/// `office.deleted` entry keeps the parent in its detail, read with `$json`, the
/// database's own JSON path expression).
macro_rules! tree {
    ($root:literal, $text:literal, $json:literal) => {
        concat!(
            "(SELECT o.id FROM offices o WHERE o.id = ",
            $root,
            " OR o.parent_id = ",
            $root,
            " UNION SELECT d.target_office_id FROM audit_log d
               WHERE d.action = 'office.deleted' AND d.target_office_id IS NOT NULL AND ",
            $json,
            " = ",
            $text,
            ")"
        )
    };
}

/// The users that belong to the tree rooted at `$root` now.
macro_rules! tree_users {
    ($root:literal) => {
        concat!(
            "(SELECT mu.id FROM users mu JOIN offices mo ON mo.id = mu.office_id
              WHERE mo.id = ",
            $root,
            " OR mo.parent_id = ",
            $root,
            ")"
        )
    };
}

/// SECURITY AC-03, AC-02: whether entry `a` belongs to the tree rooted at `$root` (NULL:
/// every entry). An entry belongs to a tree when one of its users acted, or when it is
/// about the tree's offices or users. A refusal (`admin.denied`) belongs only to the
/// actor's tree: the office or user it names may be another tree's, and that tree is
/// not told who probed it.
macro_rules! in_tree {
    ($root:literal, $text:literal, $json:literal) => {
        concat!(
            "(",
            $root,
            " IS NULL OR a.actor_id IN ",
            tree_users!($root),
            " OR (a.action <> 'admin.denied' AND (a.target_office_id IN ",
            tree!($root, $text, $json),
            " OR a.target_user_id IN ",
            tree_users!($root),
            ")))"
        )
    };
}

/// The audit view's query. `$1`/`$2`: the reader's tree (NULL for an insurer admin);
/// `$3`/`$4`: the office filter's tree; `$5` user; `$6` exact action; `$7` action prefix;
/// `$8`/`$9` period; `$10` cursor; `$11` limit. Names are joined only for users and
/// offices the reader may see (SECURITY AC-02): a refusal it caused names another
/// tree's user by id, never by name. Acting users are named when they are insurer admins
/// (no office), of the tree, or of the tree's head office.
macro_rules! search_sql {
    ($json:literal) => {
        concat!(
            "SELECT a.id, a.at, a.action, a.actor_id, a.target_user_id, a.target_office_id,
                    a.ip, a.detail,
                    au.name AS actor_name, au.email AS actor_email,
                    tu.name AS target_user_name, tu.email AS target_user_email,
                    tof.name AS target_office_name, tof.number AS target_office_number
             FROM audit_log a
             LEFT JOIN users au ON au.id = a.actor_id
                  AND ($1 IS NULL OR au.office_id IS NULL OR au.id IN ",
            tree_users!("$1"),
            " OR au.office_id = (SELECT s.parent_id FROM offices s WHERE s.id = $1))
             LEFT JOIN users tu ON tu.id = a.target_user_id
                  AND ($1 IS NULL OR tu.id IN ",
            tree_users!("$1"),
            ")
             LEFT JOIN offices tof ON tof.id = a.target_office_id
                  AND ($1 IS NULL OR tof.id = $1 OR tof.parent_id = $1)
             WHERE ",
            in_tree!("$1", "$2", $json),
            " AND ",
            in_tree!("$3", "$4", $json),
            " AND ($5 IS NULL OR a.actor_id = $5 OR a.target_user_id = $5)
              AND ($6 IS NULL OR a.action = $6)
              AND ($7 IS NULL OR substr(a.action, 1, length($7)) = $7)
              AND ($8 IS NULL OR a.at >= $8)
              AND ($9 IS NULL OR a.at < $9)
              AND ($10 IS NULL OR a.id < $10)
             ORDER BY a.id DESC
             LIMIT $11"
        )
    };
}

/// The same query for each database: only the JSON path expression differs.
const SEARCH_SQLITE: &str = search_sql!("json_extract(d.detail, '$.before.parent_id')");
const SEARCH_POSTGRES: &str = search_sql!("(d.detail::jsonb #>> '{before,parent_id}')");

/// SPEC L1: the entries `scope` may see that pass `query`, newest first, one page.
/// The scope is part of the SQL (SECURITY AC-03): an insurer admin sees every entry, a
/// main user those of its office tree, an employee none.
pub async fn search(
    db: &Db,
    scope: crate::domain::manage::Scope,
    query: &AuditQuery,
) -> Result<AuditPage, StoreError> {
    use crate::domain::manage::Scope;
    // An action with a NUL names no entry (actions are the code's own words), and
    // PostgreSQL refuses a NUL in a text parameter: such a search lists nothing, like an
    // employee's.
    let nul_action = query.action.as_deref().is_some_and(|a| a.contains('\0'));
    let root = match scope {
        Scope::Everyone if !nul_action => None,
        Scope::OfficeTree(office) if !nul_action => Some(office),
        _ => {
            return Ok(AuditPage {
                entries: Vec::new(),
                next: None,
            });
        }
    };
    let limit = query.limit.clamp(1, MAX_PAGE);
    let (exact, prefix) = match query.action.as_deref() {
        Some(a) if a.ends_with('.') => (None, Some(a)),
        Some(a) => (Some(a), None),
        None => (None, None),
    };
    let root_text = root.map(|r| r.to_string());
    let office_text = query.office_id.map(|o| o.to_string());
    let from = query.from.map(super::at);
    let until = query.until.map(super::at);
    macro_rules! run {
        ($pool:expr, $sql:expr) => {
            sqlx::query_as::<_, EntryRow>($sql)
                .bind(root)
                .bind(root_text.as_deref())
                .bind(query.office_id)
                .bind(office_text.as_deref())
                .bind(query.user_id)
                .bind(exact)
                .bind(prefix)
                .bind(from)
                .bind(until)
                .bind(query.before)
                .bind(limit + 1)
                .fetch_all($pool)
                .await
        };
    }
    let mut rows = match db {
        Db::Sqlite(pool) => run!(pool, SEARCH_SQLITE),
        Db::Postgres(pool) => run!(pool, SEARCH_POSTGRES),
    }?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries: rows.into_iter().map(EntryRow::into_entry).collect(),
        next,
    })
}

/// The retention purge's own entry: how many rows it removed and the retention.
pub const PURGED: &str = "audit.purged";

/// The shortest retention the database lets the purge use: migration 0012 refuses a
/// cutoff within the last 30 days.
pub const MIN_RETENTION_DAYS: i64 = 30;

/// Issue 10, SECURITY AD-03: removes the entries older than `retention_days` before
/// `now`, and records that it did (one `audit.purged` entry, only when it removed any).
/// The cutoff, the deletion and the entry are one transaction; the database lets the
/// DELETE through only for rows older than the cutoff set in that transaction (SQLite:
/// the one-row table `audit_purge`, emptied again before commit; PostgreSQL: the
/// transaction-local setting `portal.audit_purge_before`). Returns the rows removed.
pub async fn purge(db: &Db, retention_days: i64, now: OffsetDateTime) -> Result<u64, StoreError> {
    let cutoff = super::at(now - time::Duration::days(retention_days));
    let mut entry = AuditRecord::new(PURGED);
    let detail = |rows: u64| {
        serde_json::json!({
            "rows": rows,
            "days": retention_days,
            "before": cutoff.format(&Rfc3339).unwrap_or_default(),
        })
    };
    let removed = match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO audit_purge (id, before) VALUES (1, $1)")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM audit_purge WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            if n > 0 {
                entry.detail = detail(n);
                insert_audit!(&mut *tx, &entry, now)?;
            }
            tx.commit().await?;
            n
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT set_config('portal.audit_purge_before', $1, true)")
                .bind(cutoff.format(&Rfc3339).unwrap_or_default())
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                entry.detail = detail(n);
                insert_audit!(&mut *tx, &entry, now)?;
            }
            tx.commit().await?;
            n
        }
    };
    Ok(removed)
}
