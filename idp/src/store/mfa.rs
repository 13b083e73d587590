//! The MFA mandate as a policy (issue 10, SPEC F2): each head office's date and grace,
//! the grace sign-ins a user used, the reminders sent, and the list of who has no second
//! factor yet. The rule itself is `domain::factor::mandate`.
//!
//! Grace is counted per user and mandate date with one conditional upsert, and each
//! reminder is a row keyed by user, date and kind written in the transaction of its mail,
//! so several nodes never hand out one grace sign-in too many nor send a reminder twice.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::{Db, StoreError, at, with_db};

/// At most this many rows on the compliance list (a bound, not a page: a tree this size
/// is the insurer's whole book; the filter per office narrows it).
pub const LIST_LIMIT: i64 = 1000;

/// A head office's own policy: its date (`None`: the setting) and its grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct TreePolicy {
    /// The head office's own date.
    pub mfa_required_from: Option<Date>,
    /// Its grace of password-only sign-ins; `None` for a user without an office.
    pub mfa_grace_logins: Option<i64>,
}

/// The policy of the tree `user_id` belongs to: its head office's (a sub-office follows
/// its head office), or nothing for a user without an office (insurer admins).
pub async fn policy_of_user(db: &Db, user_id: Uuid) -> Result<TreePolicy, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, TreePolicy>(
        "SELECT h.mfa_required_from, h.mfa_grace_logins
         FROM users u
         LEFT JOIN offices o ON o.id = u.office_id
         LEFT JOIN offices h ON h.id = COALESCE(o.parent_id, o.id)
         WHERE u.id = $1"
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row.unwrap_or_default())
}

/// The own policy of head office `office_id`; `None` when it is no head office.
pub async fn policy_of_head_office(
    db: &Db,
    office_id: Uuid,
) -> Result<Option<TreePolicy>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, TreePolicy>(
        "SELECT mfa_required_from, mfa_grace_logins FROM offices
         WHERE id = $1 AND kind = 'head_office'"
    )
    .bind(office_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

/// Sets head office `office_id`'s date and grace, with its audit entry, in one
/// transaction; `false` when it is no head office (nothing written).
pub async fn set_policy(
    db: &Db,
    office_id: Uuid,
    required_from: Option<Date>,
    grace_logins: u32,
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "UPDATE offices SET mfa_required_from = $1, mfa_grace_logins = $2, updated_at = $3
             WHERE id = $4 AND kind = 'head_office'",
        )
        .bind(required_from)
        .bind(i64::from(grace_logins))
        .bind(now)
        .bind(office_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(true)
    })
}

/// The grace sign-ins `user_id` used for the mandate of `required_from`.
pub async fn grace_used(db: &Db, user_id: Uuid, required_from: Date) -> Result<u32, StoreError> {
    let used = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT used FROM mfa_grace WHERE user_id = $1 AND required_from = $2"
    )
    .bind(user_id)
    .bind(required_from)
    .fetch_optional(pool)
    .await)?;
    Ok(used.and_then(|u| u32::try_from(u).ok()).unwrap_or(0))
}

/// Takes one grace sign-in of `limit` for `user_id` under the mandate of `required_from`:
/// the number used after this one, or `None` when none was left (nothing written). One
/// statement, so parallel sign-ins on any node never get more than `limit` together.
pub async fn use_grace(
    db: &Db,
    user_id: Uuid,
    required_from: Date,
    limit: u32,
) -> Result<Option<u32>, StoreError> {
    if limit == 0 {
        return Ok(None);
    }
    let used = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "INSERT INTO mfa_grace (user_id, required_from, used) VALUES ($1, $2, 1)
         ON CONFLICT (user_id, required_from)
         DO UPDATE SET used = mfa_grace.used + 1 WHERE mfa_grace.used < $3
         RETURNING used"
    )
    .bind(user_id)
    .bind(required_from)
    .bind(i64::from(limit))
    .fetch_optional(pool)
    .await)?;
    Ok(used.and_then(|u| u32::try_from(u).ok()))
}

/// Someone who has no second factor yet, for the compliance page and the reminders.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WithoutFactor {
    /// The user.
    pub user_id: Uuid,
    /// Name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// `main_user` or `employee` (`insurer_admin` only among the reminders).
    pub role: String,
    /// The user's office.
    pub office_id: Option<Uuid>,
    /// Its name.
    pub office_name: Option<String>,
    /// Its number.
    pub office_number: Option<String>,
    /// The head office's own date (`None`: the setting).
    pub mfa_required_from: Option<Date>,
    /// The head office's grace (`None` without an office).
    pub mfa_grace_logins: Option<i64>,
    /// Grace sign-ins used for the effective date.
    pub grace_used: Option<i64>,
    /// The last "Herinnering sturen" for the effective date.
    pub reminded_at: Option<OffsetDateTime>,
    /// Whether the 14-day reminder went out for the effective date.
    pub had_d14: bool,
    /// Whether the 3-day reminder went out for the effective date.
    pub had_d3: bool,
}

/// The columns and joins of [`WithoutFactor`]; `$1` is the setting's date. Active,
/// activated users of active offices only (O6: the others cannot sign in; one not yet
/// activated enrols on activation, MF-01).
macro_rules! without_factor_sql {
    ($where:literal) => {
        concat!(
            "SELECT u.id AS user_id, u.name, u.email, u.role, o.id AS office_id,
                    o.name AS office_name, o.number AS office_number,
                    h.mfa_required_from, h.mfa_grace_logins,
                    g.used AS grace_used, r.sent_at AS reminded_at,
                    EXISTS (SELECT 1 FROM mfa_reminders d WHERE d.user_id = u.id AND d.kind = 'd14'
                            AND d.required_from = COALESCE(h.mfa_required_from, $1)) AS had_d14,
                    EXISTS (SELECT 1 FROM mfa_reminders d WHERE d.user_id = u.id AND d.kind = 'd3'
                            AND d.required_from = COALESCE(h.mfa_required_from, $1)) AS had_d3
             FROM users u
             LEFT JOIN offices o ON o.id = u.office_id
             LEFT JOIN offices h ON h.id = COALESCE(o.parent_id, o.id)
             LEFT JOIN mfa_grace g ON g.user_id = u.id
                  AND g.required_from = COALESCE(h.mfa_required_from, $1)
             LEFT JOIN mfa_reminders r ON r.user_id = u.id AND r.kind = 'manual'
                  AND r.required_from = COALESCE(h.mfa_required_from, $1)
             WHERE u.active = TRUE AND u.activated_at IS NOT NULL
               AND (o.id IS NULL OR o.active = TRUE) AND (h.id IS NULL OR h.active = TRUE)
               AND NOT EXISTS (SELECT 1 FROM totp_factors t WHERE t.user_id = u.id)
               AND NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = u.id)
               AND ",
            $where
        )
    };
}

/// Who in an office tree has no second factor yet (SECURITY AC-03: scoped in SQL):
/// `tree` is an office whose users and whose sub-offices' users are listed, `None` every
/// office's users. `setting` is `PORTAL_MFA_REQUIRED_FROM`. At most [`LIST_LIMIT`], by
/// office number and name.
pub async fn without_factor(
    db: &Db,
    tree: Option<Uuid>,
    setting: Date,
) -> Result<Vec<WithoutFactor>, StoreError> {
    let rows = match tree {
        Some(office) => {
            const SQL: &str = concat!(
                without_factor_sql!("u.office_id IS NOT NULL AND (o.id = $2 OR o.parent_id = $2)"),
                " ORDER BY o.number, u.name, u.id LIMIT $3"
            );
            with_db!(db, |pool| sqlx::query_as::<_, WithoutFactor>(SQL)
                .bind(setting)
                .bind(office)
                .bind(LIST_LIMIT)
                .fetch_all(pool)
                .await)?
        }
        None => {
            const SQL: &str = concat!(
                without_factor_sql!("u.office_id IS NOT NULL"),
                " ORDER BY o.number, u.name, u.id LIMIT $2"
            );
            with_db!(db, |pool| sqlx::query_as::<_, WithoutFactor>(SQL)
                .bind(setting)
                .bind(LIST_LIMIT)
                .fetch_all(pool)
                .await)?
        }
    };
    Ok(rows)
}

/// One user without a second factor, if `user_id` is active, activated and has none.
pub async fn one_without_factor(
    db: &Db,
    user_id: Uuid,
    setting: Date,
) -> Result<Option<WithoutFactor>, StoreError> {
    const SQL: &str = without_factor_sql!("u.id = $2");
    let row = with_db!(db, |pool| sqlx::query_as::<_, WithoutFactor>(SQL)
        .bind(setting)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// Everyone without a second factor whose mandate date lies in `(today, last]`: the
/// candidates for the 14- and 3-day reminders (insurer admins included: the setting
/// applies to them).
pub async fn reminder_candidates(
    db: &Db,
    setting: Date,
    today: Date,
    last: Date,
) -> Result<Vec<WithoutFactor>, StoreError> {
    const SQL: &str = concat!(
        without_factor_sql!(
            "COALESCE(h.mfa_required_from, $1) > $2 AND COALESCE(h.mfa_required_from, $1) <= $3"
        ),
        " ORDER BY u.id"
    );
    let rows = with_db!(db, |pool| sqlx::query_as::<_, WithoutFactor>(SQL)
        .bind(setting)
        .bind(today)
        .bind(last)
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// Which reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reminder {
    /// 14 days before the date (the housekeeping).
    Days14,
    /// 3 days before the date (the housekeeping).
    Days3,
    /// "Herinnering sturen" on the compliance page.
    Manual,
}

impl Reminder {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Days14 => "d14",
            Self::Days3 => "d3",
            Self::Manual => "manual",
        }
    }
}

/// Records reminder `kind` for `user_id` and the mandate of `required_from`, and queues
/// `mail` with `audit` in the same transaction. The 14- and 3-day reminders go once per
/// user and date (a second call, on any node, writes nothing); a manual one again only
/// when the last was sent at or before `throttle_before`. `false`: nothing was written.
#[allow(clippy::too_many_arguments)]
pub async fn send_reminder(
    db: &Db,
    user_id: Uuid,
    required_from: Date,
    kind: Reminder,
    mail: &NewMail,
    audit: &AuditRecord,
    throttle_before: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let n = sqlx::query(
            "INSERT INTO mfa_reminders (user_id, required_from, kind, sent_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, required_from, kind)
             DO UPDATE SET sent_at = excluded.sent_at
             WHERE mfa_reminders.kind = 'manual' AND mfa_reminders.sent_at <= $5",
        )
        .bind(user_id)
        .bind(required_from)
        .bind(kind.as_str())
        .bind(now)
        .bind(at(throttle_before))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        insert_mail!(&mut *tx, mail, now)?;
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(true)
    })
}
