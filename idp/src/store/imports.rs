//! Import jobs (issue 6, SPEC O1): a checked file of head offices, stored as a job with
//! one row per office before anything is created, then applied row by row by a worker that
//! holds a lease on the job. Progress lives here, so every node answers the same; a job
//! whose lease ran out (its node died) can be taken over by any node and goes on with the
//! rows that have no outcome yet. A row's outcome and its office commit together, so no
//! row is applied twice.
//!
//! Issue 10: each row is planned before it is stored (`crate::imports::plan`): a new head
//! office (`create`), a change of the head office with its advisor number (`change`, with
//! the version it was planned from) or `unchanged`. A job may wait unconfirmed as a
//! preview; a worker takes only confirmed jobs. [`apply_plan`] applies every pending row of
//! a job in one transaction (all or nothing): a change whose office moved on since the
//! plan, or a new office whose advisor number or e-mail was taken meanwhile, rolls the
//! whole job back, and [`fail`] records why.

use time::OffsetDateTime;
use uuid::Uuid;

use super::accounts::{NewAccount, insert_account};
use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::{Constraint, Db, StoreError, at, with_db};
use crate::domain::import::Taken;

/// The outcome of a row that was created.
pub const CREATED: &str = "created";
/// The outcome of a row whose head office was changed.
pub const CHANGED: &str = "changed";
/// The outcome of a row whose head office already matched the file.
pub const UNCHANGED: &str = "unchanged";
/// The outcome of the rows of a job that failed as a whole (another row's reason).
pub const NOT_APPLIED: &str = "import.not_applied";

/// The planned action of a row (`import_rows.action`; NULL is an older job's create).
pub mod action {
    /// A new head office with its main user.
    pub const CREATE: &str = "create";
    /// A change of the existing head office.
    pub const CHANGE: &str = "change";
    /// The existing head office already matches.
    pub const UNCHANGED: &str = "unchanged";
}

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

/// A row of a new job with its plan (issue 10).
#[derive(Debug, Clone)]
pub struct PlannedJobRow {
    /// The row as checked.
    pub row: NewJobRow,
    /// One of [`action`].
    pub action: &'static str,
    /// The existing head office (change, unchanged).
    pub office_id: Option<Uuid>,
    /// Its version when planned.
    pub office_version: Option<i64>,
    /// The fields a change changes, as JSON.
    pub changes: Option<String>,
    /// The existing office's e-mail when the file's differs (never applied).
    pub email_notice: Option<String>,
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
    /// `None` while pending, [`CREATED`], [`CHANGED`], [`UNCHANGED`], or the text key of
    /// why not.
    pub outcome: Option<String>,
    /// The office created, or the existing one a change or unchanged row is about.
    pub office_id: Option<Uuid>,
    /// One of [`action`]; `None` (an older job) is a create.
    pub action: Option<String>,
    /// The existing office's version when planned.
    pub office_version: Option<i64>,
    /// The fields a change changes, as JSON `[{"field", "before", "after"}]`.
    pub changes: Option<String>,
    /// The existing office's e-mail when the file's differs (never applied).
    pub email_notice: Option<String>,
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
    /// Rows whose head office was changed.
    pub changed: i64,
    /// Rows whose head office already matched.
    pub unchanged: i64,
    /// When it was uploaded.
    pub created_at: OffsetDateTime,
    /// When the last row was applied.
    pub finished_at: Option<OffsetDateTime>,
    /// Until when a worker holds the job.
    pub lease_until: Option<OffsetDateTime>,
    /// `false`: a preview, not applied until confirmed.
    pub confirmed: bool,
    /// SHA-256 of the plan, which a confirmation must name.
    pub fingerprint: Option<String>,
}

/// Stores a new running job with its rows and the audit entry of the upload, in one
/// transaction. Every row is a create (the form of jobs before issue 10).
pub async fn create(
    db: &Db,
    id: Uuid,
    actor_id: Option<Uuid>,
    ip: Option<&str>,
    rows: &[NewJobRow],
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let planned: Vec<PlannedJobRow> = rows
        .iter()
        .map(|r| PlannedJobRow {
            row: r.clone(),
            action: action::CREATE,
            office_id: None,
            office_version: None,
            changes: None,
            email_notice: None,
        })
        .collect();
    let job = NewJob {
        id,
        actor_id,
        ip,
        confirmed: true,
        fingerprint: None,
    };
    create_planned(db, &job, &planned, audit, now).await
}

/// A job to store.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Id.
    pub id: Uuid,
    /// Who uploaded it.
    pub actor_id: Option<Uuid>,
    /// From where.
    pub ip: Option<&'a str>,
    /// `false`: a preview that waits for its confirmation.
    pub confirmed: bool,
    /// SHA-256 of the plan.
    pub fingerprint: Option<&'a str>,
}

/// Stores a new running job (or preview) with its planned rows and the audit entry of the
/// upload, in one transaction.
pub async fn create_planned(
    db: &Db,
    job: &NewJob<'_>,
    rows: &[PlannedJobRow],
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    let id = job.id;
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO import_jobs (id, actor_id, ip, state, total, done, created_at, updated_at,
                confirmed, fingerprint)
             VALUES ($1, $2, $3, 'running', $4, 0, $5, $5, $6, $7)",
        )
        .bind(id)
        .bind(job.actor_id)
        .bind(job.ip)
        .bind(total)
        .bind(now)
        .bind(job.confirmed)
        .bind(job.fingerprint)
        .execute(&mut *tx)
        .await?;
        for (position, p) in rows.iter().enumerate() {
            let r = &p.row;
            sqlx::query(
                "INSERT INTO import_rows (job_id, position, line, advisor_number, name, email, rights,
                    allow_sub_offices, action, office_id, office_version, changes, email_notice)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(r.line)
            .bind(&r.advisor_number)
            .bind(&r.name)
            .bind(&r.email)
            .bind(&r.rights)
            .bind(r.allow_sub_offices)
            .bind(p.action)
            .bind(p.office_id)
            .bind(p.office_version)
            .bind(p.changes.as_deref())
            .bind(p.email_notice.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

/// Confirms a preview whose plan is `fingerprint`, with the audit entry of the
/// confirmation; from then on a worker may apply it. `false` when the job is no
/// unconfirmed preview with that fingerprint (confirmed twice, cancelled, another plan).
pub async fn confirm(
    db: &Db,
    id: Uuid,
    fingerprint: &str,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE import_jobs SET confirmed = TRUE, updated_at = $1
             WHERE id = $2 AND state = 'running' AND NOT confirmed AND fingerprint = $3",
        )
        .bind(now)
        .bind(id)
        .bind(fingerprint)
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

/// Forgets an unconfirmed preview ("Annuleren"), with the audit entry; `false` when it is
/// no unconfirmed preview (then nothing changes).
pub async fn cancel(
    db: &Db,
    id: Uuid,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The job first: it takes the lock a concurrent confirmation waits for.
        let n = sqlx::query(
            "UPDATE import_jobs SET updated_at = $1 WHERE id = $2 AND state = 'running' AND NOT confirmed",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM import_rows WHERE job_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM import_jobs WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
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
         WHERE id = $2 AND state = 'running' AND confirmed
           AND (lease_until IS NULL OR lease_until <= $3)"
    )
    .bind(at(until))
    .bind(id)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Confirmed running jobs whose lease ran out (or that never had one): their worker is
/// gone. A preview waits for its confirmation, not for a worker.
pub async fn orphaned(db: &Db, now: OffsetDateTime) -> Result<Vec<Uuid>, StoreError> {
    let ids = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT id FROM import_jobs
         WHERE state = 'running' AND confirmed AND (lease_until IS NULL OR lease_until <= $1)
         ORDER BY id"
    )
    .bind(at(now))
    .fetch_all(pool)
    .await)?;
    Ok(ids)
}

/// The columns of a [`JobRow`].
macro_rules! row_select {
    () => {
        "SELECT position, line, advisor_number, name, email, rights, allow_sub_offices, outcome,
                office_id, action, office_version, changes, email_notice
         FROM import_rows"
    };
}

/// A head office's fields as an import row changes them.
#[derive(Debug, Clone)]
pub struct HeadChange {
    /// The office.
    pub office_id: Uuid,
    /// The version the row was planned from.
    pub expected_version: i64,
    /// Naam.
    pub name: String,
    /// Stored rights.
    pub rights: String,
    /// O2.
    pub allow_sub_offices: bool,
}

/// What one pending row of a job does when the job is applied.
#[derive(Debug, Clone)]
pub enum RowOp {
    /// A new head office with its main user, activation link and audit entry; its
    /// activation mail (the account's) is queued to go out at `mail_due`.
    Create {
        /// The row.
        position: i64,
        /// The account.
        account: Box<NewAccount>,
        /// When the activation mail may go (throttled batches).
        mail_due: OffsetDateTime,
    },
    /// A change of an existing head office, with its audit entry and the back-channel
    /// logouts of a narrowing of its rights.
    Change {
        /// The row.
        position: i64,
        /// The change.
        change: HeadChange,
        /// Back-channel logout deliveries.
        mails: Vec<NewMail>,
        /// The audit entry.
        audit: Box<AuditRecord>,
    },
    /// Nothing to change: the office must still be at the version the plan saw.
    Unchanged {
        /// The row.
        position: i64,
        /// The office.
        office_id: Uuid,
        /// Its version when planned.
        expected_version: i64,
    },
}

/// What became of [`apply_plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Every row applied; the job is done.
    Done,
    /// The job was done already (another worker) or is no confirmed running job; nothing
    /// was written.
    NotRunning,
    /// The office of the row at `position` changed since the plan (or is gone); nothing
    /// was written.
    Stale {
        /// The row.
        position: i64,
    },
    /// The row at `position` clashed with a unique value taken since the plan; nothing
    /// was written.
    Conflict {
        /// The row.
        position: i64,
        /// Which value.
        constraint: Constraint,
    },
}

/// Applies every pending row of a confirmed job in one transaction, with each row's
/// outcome, and marks the job done with `finished` (its audit entry), or writes nothing
/// (issue 10: all or nothing). The job's row is written first: on PostgreSQL that locks
/// it, so a second worker waits and then finds the job done.
pub async fn apply_plan(
    db: &Db,
    id: Uuid,
    ops: &[RowOp],
    finished: &AuditRecord,
    now: OffsetDateTime,
) -> Result<Applied, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE import_jobs SET updated_at = $1 WHERE id = $2 AND state = 'running' AND confirmed",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(Applied::NotRunning);
        }
        for op in ops {
            let (position, outcome, office_id) = match op {
                RowOp::Create {
                    position,
                    account,
                    mail_due,
                } => {
                    let mut without_mail = (**account).clone();
                    let mail = without_mail.mail.take();
                    let inserted = async {
                        insert_account!(tx, &without_mail, now).await?;
                        if let Some(m) = &mail {
                            // Its place in the line and its first attempt: the batch's time.
                            insert_mail!(&mut *tx, m, *mail_due)?;
                        }
                        Ok::<(), sqlx::Error>(())
                    }
                    .await;
                    match inserted.map_err(StoreError::from) {
                        Ok(()) => {}
                        Err(StoreError::Conflict { constraint }) => {
                            return Ok(Applied::Conflict {
                                position: *position,
                                constraint,
                            });
                        }
                        Err(e) => return Err(e),
                    }
                    (*position, CREATED, account.office.as_ref().map(|o| o.id))
                }
                RowOp::Change {
                    position,
                    change,
                    mails,
                    audit,
                } => {
                    let done: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE offices SET name = $1, rights = $2, allow_sub_offices = $3,
                            version = version + 1, updated_at = $4
                         WHERE id = $5 AND version = $6 AND kind = 'head_office'
                         RETURNING id",
                    )
                    .bind(&change.name)
                    .bind(&change.rights)
                    .bind(change.allow_sub_offices)
                    .bind(now)
                    .bind(change.office_id)
                    .bind(change.expected_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if done.is_none() {
                        return Ok(Applied::Stale {
                            position: *position,
                        });
                    }
                    for m in mails {
                        insert_mail!(&mut *tx, m, now)?;
                    }
                    insert_audit!(&mut *tx, audit, now)?;
                    (*position, CHANGED, Some(change.office_id))
                }
                RowOp::Unchanged {
                    position,
                    office_id,
                    expected_version,
                } => {
                    // A write, so the check holds until commit (a row lock on PostgreSQL,
                    // the database lock on SQLite); it changes nothing.
                    let same: Option<Uuid> = sqlx::query_scalar(
                        "UPDATE offices SET version = version WHERE id = $1 AND version = $2
                         RETURNING id",
                    )
                    .bind(office_id)
                    .bind(expected_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if same.is_none() {
                        return Ok(Applied::Stale {
                            position: *position,
                        });
                    }
                    (*position, UNCHANGED, Some(*office_id))
                }
            };
            let n = sqlx::query(
                "UPDATE import_rows SET outcome = $1, office_id = $2
                 WHERE job_id = $3 AND position = $4 AND outcome IS NULL",
            )
            .bind(outcome)
            .bind(office_id)
            .bind(id)
            .bind(position)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(Applied::NotRunning);
            }
        }
        sqlx::query(
            "UPDATE import_jobs SET state = 'done', done = total, finished_at = $1, updated_at = $1,
                lease_until = NULL
             WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        insert_audit!(&mut *tx, finished, now)?;
        tx.commit().await?;
        Ok::<Applied, StoreError>(Applied::Done)
    })
}

/// Ends a running job that could not be applied (issue 10, all or nothing): the row at
/// `position` gets `reason` (a text key), every other pending row [`NOT_APPLIED`], and the
/// job is done with `audit`. `false` when the job is not running.
pub async fn fail(
    db: &Db,
    id: Uuid,
    position: i64,
    reason: &str,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE import_jobs SET state = 'done', done = total, finished_at = $1, updated_at = $1,
                lease_until = NULL
             WHERE id = $2 AND state = 'running' AND confirmed",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE import_rows SET outcome = $1
             WHERE job_id = $2 AND position = $3 AND outcome IS NULL",
        )
        .bind(reason)
        .bind(id)
        .bind(position)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE import_rows SET outcome = $1 WHERE job_id = $2 AND outcome IS NULL")
            .bind(NOT_APPLIED)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok::<bool, StoreError>(true)
    })
}

/// Forgets the previews (never confirmed nor cancelled) uploaded before `before`, with
/// their rows; returns how many went. Confirmed jobs and their reports stay.
pub async fn purge_previews(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let before = at(before);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "DELETE FROM import_rows WHERE job_id IN
               (SELECT id FROM import_jobs WHERE NOT confirmed AND state = 'running' AND created_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(
            "DELETE FROM import_jobs WHERE NOT confirmed AND state = 'running' AND created_at < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok::<u64, StoreError>(n)
    })
}

/// The rows of a job that have no outcome yet, in the file's order.
pub async fn pending(db: &Db, id: Uuid) -> Result<Vec<JobRow>, StoreError> {
    let rows = with_db!(db, |pool| {
        sqlx::query_as::<_, JobRow>(concat!(
            row_select!(),
            " WHERE job_id = $1 AND outcome IS NULL ORDER BY position"
        ))
        .bind(id)
        .fetch_all(pool)
        .await
    })?;
    Ok(rows)
}

/// One job with its counts.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<JobView>, StoreError> {
    let job = with_db!(db, |pool| {
        sqlx::query_as::<_, JobView>(
        "SELECT j.id, j.actor_id, j.ip, j.state, j.total, j.done,
                (SELECT COUNT(*) FROM import_rows r WHERE r.job_id = j.id AND r.outcome = 'created') AS created,
                (SELECT COUNT(*) FROM import_rows r WHERE r.job_id = j.id AND r.outcome = 'changed') AS changed,
                (SELECT COUNT(*) FROM import_rows r WHERE r.job_id = j.id AND r.outcome = 'unchanged') AS unchanged,
                j.created_at, j.finished_at, j.lease_until, j.confirmed, j.fingerprint
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
        sqlx::query_as::<_, JobRow>(concat!(
            row_select!(),
            " WHERE job_id = $1 ORDER BY position"
        ))
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

/// A head office as an import compares a row with it (issue 10).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExistingHead {
    /// Id.
    pub id: Uuid,
    /// Adviseursnummer.
    pub advisor_number: String,
    /// Naam.
    pub name: String,
    /// Office e-mail (its main user's login at creation).
    pub email: String,
    /// Stored rights.
    pub rights: String,
    /// O2.
    pub allow_sub_offices: bool,
    /// O6.
    pub active: bool,
    /// Bumped by every change.
    pub version: i64,
}

/// Every head office with an advisor number, to plan a file against.
pub async fn heads(db: &Db) -> Result<Vec<ExistingHead>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, ExistingHead>(
        "SELECT id, advisor_number, name, email, rights, allow_sub_offices, active, version
         FROM offices WHERE kind = 'head_office' AND advisor_number IS NOT NULL"
    )
    .fetch_all(pool)
    .await)?;
    Ok(rows)
}
