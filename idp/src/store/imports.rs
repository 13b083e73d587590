//! Import jobs (issue 6, SPEC O1): a checked file of head offices, stored as a job with
//! one row per office before anything is created, then applied row by row by a worker that
//! holds a lease on the job. Progress lives here, so every node answers the same; a job
//! whose lease ran out (its node died) can be taken over by any node and goes on with the
//! rows that have no outcome yet. A row's outcome and its office commit together, so no
//! row is applied twice.

use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{NewAccount, insert_account};
use super::audit::{AuditRecord, insert_audit};
use super::{Db, StoreError, at, with_db};
use crate::domain::import::Taken;

/// The outcome of a row that was created.
pub const CREATED: &str = "created";

/// A row of a new job: a head office as checked, in the file's order.
#[derive(Debug, Clone)]
pub struct NewJobRow {
    /// 1-based line of the file.
    pub line: i64,
    /// Normalised advisor number.
    pub advisor_number: String,
    /// Name.
    pub name: String,
    /// Normalised e-mail address.
    pub email: String,
    /// Stored rights (`DIP,DIL`).
    pub rights: String,
    /// O2.
    pub allow_sub_offices: bool,
}

/// A row as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    /// 0-based order.
    pub position: i64,
    /// 1-based line of the file.
    pub line: i64,
    /// Advisor number.
    pub advisor_number: String,
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Stored rights.
    pub rights: String,
    /// O2.
    pub allow_sub_offices: bool,
    /// `None` while pending, [`CREATED`], or the text key of why not.
    pub outcome: Option<String>,
    /// The office created.
    pub office_id: Option<Uuid>,
}

/// A job as stored, with its counts.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobView {
    /// Id.
    pub id: Uuid,
    /// Who uploaded it.
    pub actor_id: Option<Uuid>,
    /// From where.
    pub ip: Option<String>,
    /// `running` or `done`.
    pub state: String,
    /// Rows in the file.
    pub total: i64,
    /// Rows with an outcome.
    pub done: i64,
    /// Rows created.
    pub created: i64,
    /// When it was uploaded.
    pub created_at: OffsetDateTime,
    /// When the last row was applied.
    pub finished_at: Option<OffsetDateTime>,
    /// Until when a worker holds the job.
    pub lease_until: Option<OffsetDateTime>,
}

/// Stores a new running job with its rows and the audit entry of the upload, in one
/// transaction.
pub async fn create(
    db: &Db,
    id: Uuid,
    actor_id: Option<Uuid>,
    ip: Option<&str>,
    rows: &[NewJobRow],
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO import_jobs (id, actor_id, ip, state, total, done, created_at, updated_at)
             VALUES ($1, $2, $3, 'running', $4, 0, $5, $5)",
        )
        .bind(id)
        .bind(actor_id)
        .bind(ip)
        .bind(total)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (position, r) in rows.iter().enumerate() {
            sqlx::query(
                "INSERT INTO import_rows (job_id, position, line, advisor_number, name, email, rights, allow_sub_offices)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(r.line)
            .bind(&r.advisor_number)
            .bind(&r.name)
            .bind(&r.email)
            .bind(&r.rights)
            .bind(r.allow_sub_offices)
            .execute(&mut *tx)
            .await?;
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

/// Takes the lease on a running job until `until`, if no live lease is held; `false` when
/// another worker holds it or the job is done.
pub async fn claim(
    db: &Db,
    id: Uuid,
    now: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "UPDATE import_jobs SET lease_until = $1
         WHERE id = $2 AND state = 'running' AND (lease_until IS NULL OR lease_until <= $3)"
    )
    .bind(at(until))
    .bind(id)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Running jobs whose lease ran out (or that never had one): their worker is gone.
pub async fn orphaned(db: &Db, now: OffsetDateTime) -> Result<Vec<Uuid>, StoreError> {
    let ids = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM import_jobs
         WHERE state = 'running' AND (lease_until IS NULL OR lease_until <= $1) ORDER BY id"
    )
    .bind(at(now))
    .fetch_all(pool)
    .await)?;
    Ok(ids)
}

/// The first row without an outcome.
pub async fn next_pending(db: &Db, id: Uuid) -> Result<Option<JobRow>, StoreError> {
    let row = with_db!(db, |pool| {
        sqlx::query_as::<_, JobRow>(
        "SELECT position, line, advisor_number, name, email, rights, allow_sub_offices, outcome, office_id
         FROM import_rows WHERE job_id = $1 AND outcome IS NULL ORDER BY position LIMIT 1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    })?;
    Ok(row)
}

/// Counts a row done and renews the lease.
macro_rules! progress {
    ($exec:expr, $id:expr, $now:expr, $until:expr) => {
        sqlx::query(
            "UPDATE import_jobs SET done = done + 1, updated_at = $1, lease_until = $2 WHERE id = $3",
        )
        .bind($now)
        .bind(at($until))
        .bind($id)
        .execute($exec)
        .await
    };
}

/// Applies one row in one transaction: its account (office, main user, activation link,
/// mail, audit entry), its outcome, the job's progress and a renewed lease. `false` when
/// the row already had an outcome (nothing is stored then).
pub async fn apply(
    db: &Db,
    id: Uuid,
    position: i64,
    account: &NewAccount,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    let office_id = account.office.as_ref().map(|o| o.id);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The row first: on PostgreSQL this locks it, so a second worker waits and then
        // finds it done.
        let n = sqlx::query(
            "UPDATE import_rows SET outcome = $1
             WHERE job_id = $2 AND position = $3 AND outcome IS NULL",
        )
        .bind(CREATED)
        .bind(id)
        .bind(position)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        insert_account!(tx, account, now).await?;
        // After the office exists (the column references it).
        sqlx::query("UPDATE import_rows SET office_id = $1 WHERE job_id = $2 AND position = $3")
            .bind(office_id)
            .bind(id)
            .bind(position)
            .execute(&mut *tx)
            .await?;
        progress!(&mut *tx, id, now, lease_until)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}

/// Records why a row was not created (`reason`: a text key), counts it done and renews
/// the lease. `false` when the row already had an outcome.
pub async fn refuse(
    db: &Db,
    id: Uuid,
    position: i64,
    reason: &str,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE import_rows SET outcome = $1
             WHERE job_id = $2 AND position = $3 AND outcome IS NULL",
        )
        .bind(reason)
        .bind(id)
        .bind(position)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        progress!(&mut *tx, id, now, lease_until)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}

/// Marks the job done when no row is pending, with the audit entry of its end, and
/// releases the lease. `false` while rows are pending.
pub async fn finish(
    db: &Db,
    id: Uuid,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE import_jobs SET state = 'done', finished_at = $1, updated_at = $1, lease_until = NULL
             WHERE id = $2 AND state = 'running'
               AND NOT EXISTS (SELECT 1 FROM import_rows WHERE job_id = $2 AND outcome IS NULL)",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}

/// One job with its counts.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<JobView>, StoreError> {
    let job = with_db!(db, |pool| {
        sqlx::query_as::<_, JobView>(
        "SELECT j.id, j.actor_id, j.ip, j.state, j.total, j.done,
                (SELECT COUNT(*) FROM import_rows r WHERE r.job_id = j.id AND r.outcome = 'created') AS created,
                j.created_at, j.finished_at, j.lease_until
         FROM import_jobs j WHERE j.id = $1"
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    })?;
    Ok(job)
}

/// Every row of a job, in the file's order.
pub async fn rows(db: &Db, id: Uuid) -> Result<Vec<JobRow>, StoreError> {
    let rows = with_db!(db, |pool| {
        sqlx::query_as::<_, JobRow>(
        "SELECT position, line, advisor_number, name, email, rights, allow_sub_offices, outcome, office_id
         FROM import_rows WHERE job_id = $1 ORDER BY position"
    )
    .bind(id)
    .fetch_all(pool)
    .await
    })?;
    Ok(rows)
}

/// The advisor numbers and e-mail addresses the database holds, to check a file against
/// (O1, U3) before anything is stored. The unique indexes still decide at write time.
pub async fn taken(db: &Db) -> Result<Taken, StoreError> {
    let (numbers, emails): (Vec<String>, Vec<String>) = with_db!(db, |pool| {
        let numbers = sqlx::query_scalar(
            "SELECT advisor_number FROM offices WHERE advisor_number IS NOT NULL",
        )
        .fetch_all(pool)
        .await?;
        let emails = sqlx::query_scalar("SELECT email FROM offices UNION SELECT email FROM users")
            .fetch_all(pool)
            .await?;
        Ok::<_, StoreError>((numbers, emails))
    })?;
    Ok(Taken {
        advisor_numbers: numbers.into_iter().collect(),
        emails: emails.into_iter().collect(),
    })
}
