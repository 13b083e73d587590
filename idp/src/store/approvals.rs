//! Changes waiting for a second approver (four-eyes, issue 10; `crate::approvals`). A
//! listed change is stored here with its `change.requested` audit entry in one
//! transaction, and decided once: the decision is a conditional UPDATE (`outcome IS NULL`,
//! and never by the requester, SECURITY AC-01), stored with its audit entry in one
//! transaction, so two approvers, or an approver and a rejecter, never both decide.

use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::{Db, StoreError, at, with_db};

/// What a pending change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An office (`offices::update`).
    Office,
    /// A user (`manage::update`).
    User,
}

impl Kind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Office => "office",
            Self::User => "user",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "office" => Ok(Self::Office),
            "user" => Ok(Self::User),
            other => Err(StoreError::Corrupt(format!("pending change kind {other}"))),
        }
    }
}

/// How a change was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A second admin approved it; it was applied.
    Approved,
    /// A second admin rejected it; nothing was applied.
    Rejected,
    /// The target changed since the change was asked for; nothing was applied.
    Stale,
}

impl Outcome {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Stale => "stale",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            "stale" => Ok(Self::Stale),
            other => Err(StoreError::Corrupt(format!(
                "pending change outcome {other}"
            ))),
        }
    }
}

/// An approval, stored in the transaction of the change it applies (`offices::update`,
/// `users::update`, [`make_main_user`]): the change and its decision commit together.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The pending change.
    pub id: Uuid,
    /// The approver (never the requester: the UPDATE says so).
    pub by: Uuid,
    /// `change.approved`.
    pub audit: &'a AuditRecord,
}

/// The constraint named when an approval finds its change decided already (or the
/// approver is its requester): the transaction is rolled back.
pub const DECIDED: &str = "pending_changes_decided";

/// Inside the transaction `$tx` of a change: marks the waiting change of `$d`
/// (`Option<&Decision>`) approved with its entry, or returns a [`DECIDED`] conflict, so
/// the whole transaction rolls back.
macro_rules! approve_in {
    ($tx:expr, $d:expr, $now:expr) => {{
        let d: Option<&$crate::store::approvals::Decision<'_>> = $d;
        if let Some(d) = d {
            let n = sqlx::query(
                "UPDATE pending_changes SET outcome = 'approved', decided_by = $1, decided_at = $2
                 WHERE id = $3 AND outcome IS NULL AND requested_by <> $1",
            )
            .bind(d.by)
            .bind($now)
            .bind(d.id)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err($crate::store::StoreError::Conflict {
                    constraint: $crate::store::Constraint::Other(
                        $crate::store::approvals::DECIDED.to_owned(),
                    ),
                });
            }
            $crate::store::audit::insert_audit!(&mut *$tx, d.audit, $now)?;
        }
    }};
}
pub(crate) use approve_in;

/// A change to store.
#[derive(Debug, Clone)]
pub struct NewPending {
    /// Its id.
    pub id: Uuid,
    /// Office or user.
    pub kind: Kind,
    /// The office or user.
    pub target_id: Uuid,
    /// The request, as JSON.
    pub change: serde_json::Value,
    /// The target's version it was made against.
    pub version: i64,
    /// Who asked.
    pub requested_by: Uuid,
}

/// A stored change, with the names the approvers read.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its id.
    pub id: Uuid,
    /// Office or user.
    pub kind: Kind,
    /// The office or user.
    pub target_id: Uuid,
    /// The target's name (`None` once it is gone).
    pub target_name: Option<String>,
    /// An office's advisor or own number; a user's e-mail.
    pub target_label: Option<String>,
    /// The request, as JSON.
    pub change: serde_json::Value,
    /// The target's version it was made against.
    pub version: i64,
    /// Who asked.
    pub requested_by: Uuid,
    /// Their name.
    pub requested_by_name: Option<String>,
    /// When.
    pub requested_at: OffsetDateTime,
    /// Who decided.
    pub decided_by: Option<Uuid>,
    /// When.
    pub decided_at: Option<OffsetDateTime>,
    /// `None` while it waits.
    pub outcome: Option<Outcome>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    target_id: Uuid,
    change: String,
    version: i64,
    requested_by: Uuid,
    requested_at: OffsetDateTime,
    decided_by: Option<Uuid>,
    decided_at: Option<OffsetDateTime>,
    outcome: Option<String>,
    requester_name: Option<String>,
    office_name: Option<String>,
    office_label: Option<String>,
    user_name: Option<String>,
    user_email: Option<String>,
}

impl Row {
    fn into_pending(self) -> Result<Pending, StoreError> {
        let kind = Kind::parse(&self.kind)?;
        let (target_name, target_label) = match kind {
            Kind::Office => (self.office_name, self.office_label),
            Kind::User => (self.user_name, self.user_email),
        };
        Ok(Pending {
            id: self.id,
            kind,
            target_id: self.target_id,
            target_name,
            target_label,
            change: serde_json::from_str(&self.change)
                .map_err(|e| StoreError::Corrupt(format!("pending change: {e}")))?,
            version: self.version,
            requested_by: self.requested_by,
            requested_by_name: self.requester_name,
            requested_at: self.requested_at,
            decided_by: self.decided_by,
            decided_at: self.decided_at,
            outcome: self.outcome.as_deref().map(Outcome::parse).transpose()?,
        })
    }
}

/// The columns of [`Row`], from `pending_changes` with the names joined.
macro_rules! select {
    () => {
        "SELECT p.id, p.kind, p.target_id, p.change, p.version, p.requested_by,
        p.requested_at, p.decided_by, p.decided_at, p.outcome, r.name AS requester_name,
        o.name AS office_name, COALESCE(o.advisor_number, o.number) AS office_label,
        u.name AS user_name, u.email AS user_email
    FROM pending_changes p
    LEFT JOIN users r ON r.id = p.requested_by
    LEFT JOIN offices o ON p.kind = 'office' AND o.id = p.target_id
    LEFT JOIN users u ON p.kind = 'user' AND u.id = p.target_id "
    };
}

/// Stores `p` with its `change.requested` entry, in one transaction.
pub async fn insert(
    db: &Db,
    p: &NewPending,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO pending_changes (id, kind, target_id, change, version, requested_by, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.id)
        .bind(p.kind.as_str())
        .bind(p.target_id)
        .bind(p.change.to_string())
        .bind(p.version)
        .bind(p.requested_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(())
    })
}

/// Every change still waiting, oldest first.
pub async fn waiting(db: &Db) -> Result<Vec<Pending>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, Row>(concat!(
        select!(),
        "WHERE p.outcome IS NULL ORDER BY p.requested_at, p.id"
    ))
    .fetch_all(pool)
    .await)?;
    rows.into_iter().map(Row::into_pending).collect()
}

/// The changes still waiting for one office or user, oldest first.
pub async fn waiting_for(db: &Db, kind: Kind, target_id: Uuid) -> Result<Vec<Pending>, StoreError> {
    let rows = with_db!(db, |pool| sqlx::query_as::<_, Row>(concat!(
        select!(),
        "WHERE p.outcome IS NULL AND p.kind = $1 AND p.target_id = $2
         ORDER BY p.requested_at, p.id"
    ))
    .bind(kind.as_str())
    .bind(target_id)
    .fetch_all(pool)
    .await)?;
    rows.into_iter().map(Row::into_pending).collect()
}

/// One change, decided or not.
pub async fn get(db: &Db, id: Uuid) -> Result<Option<Pending>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, Row>(concat!(
        select!(),
        "WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    row.map(Row::into_pending).transpose()
}

/// Decides change `id` as `outcome` by `by`, with `audit`, in one transaction, if it is
/// still in state `from` (`None`: waiting). Approving or rejecting is never done by the
/// requester (the SQL says so too); `Stale` may follow an approval whose apply found the
/// target changed. `false`: someone else decided first, or `by` asked for it; nothing
/// was stored.
pub async fn decide(
    db: &Db,
    id: Uuid,
    from: Option<Outcome>,
    outcome: Outcome,
    by: Uuid,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    let own_allowed = outcome == Outcome::Stale;
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let done = sqlx::query(
            "UPDATE pending_changes SET outcome = $1, decided_by = $2, decided_at = $3
             WHERE id = $4 AND COALESCE(outcome, '') = $5 AND ($6 OR requested_by <> $2)",
        )
        .bind(outcome.as_str())
        .bind(by)
        .bind(now)
        .bind(id)
        .bind(from.map_or("", Outcome::as_str))
        .bind(own_allowed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            return Ok(false);
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(true)
    })
}

/// The main user of `office_id`, if it has one.
pub async fn main_user_of(db: &Db, office_id: Uuid) -> Result<Option<(Uuid, String)>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, (Uuid, String)>(
        "SELECT id, name FROM users WHERE office_id = $1 AND role = 'main_user'"
    )
    .bind(office_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// What [`make_main_user`] stores.
#[derive(Debug)]
pub struct MainUserChange<'a> {
    /// The office.
    pub office_id: Uuid,
    /// The employee who becomes its main user…
    pub user_id: Uuid,
    /// …at this version.
    pub expected_version: i64,
    /// …with the office's rights (U4: the main user has all of them).
    pub rights: &'a str,
    /// The rights events for both people.
    pub mails: &'a [super::outbox::NewMail],
    /// `user.main_user_changed`.
    pub audit: &'a AuditRecord,
    /// The approval it applies, stored with it.
    pub decision: Option<&'a Decision<'a>>,
}

/// U1: makes an active employee of the office its main user and the main user an employee,
/// in one transaction (the old main user first: one main user per office is a unique
/// index). `false`: the employee changed since `expected_version` or is no active employee
/// of the office; nothing was stored.
pub async fn make_main_user(
    db: &Db,
    c: &MainUserChange<'_>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // The employee's row first, as every change of a user takes it.
        let found: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET version = version WHERE id = $1 AND version = $2
                AND office_id = $3 AND role = 'employee' AND active = TRUE
             RETURNING version",
        )
        .bind(c.user_id)
        .bind(c.expected_version)
        .bind(c.office_id)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE users SET role = 'employee', version = version + 1, updated_at = $1
             WHERE office_id = $2 AND role = 'main_user'",
        )
        .bind(now)
        .bind(c.office_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE users SET role = 'main_user', rights = $1, version = version + 1, updated_at = $2
             WHERE id = $3",
        )
        .bind(c.rights)
        .bind(now)
        .bind(c.user_id)
        .execute(&mut *tx)
        .await?;
        for m in c.mails {
            super::outbox::insert_mail!(&mut *tx, m, now)?;
        }
        insert_audit!(&mut *tx, c.audit, now)?;
        approve_in!(tx, c.decision, now);
        tx.commit().await?;
        Ok(true)
    })
}
