//! Offices as the admin API manages them (issue 6; SPEC O1–O7): listed and read within the
//! caller's [`Scope`] (in the SQL, SECURITY AC-03), changed with optimistic concurrency
//! (the version the caller saw is in the `UPDATE`'s `WHERE`), deactivated together with the
//! end of every session and grant of its users and of its sub-offices' users (O6), and a
//! sub-office deleted with its users and everything they hold, but not their audit entries
//! (O7). Each change commits with its audit entry and queued deliveries, or not at all.
//! New offices are stored by `accounts::provision` (one office with its main user).

use product_registry::Registry;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::users::{Page, Paged, contains_pattern, matches_nothing};
use super::{Db, StoreError, at, with_db};
use crate::domain::manage::Scope;
use crate::domain::rights::read_rights;
use crate::domain::{OfficeKind, Rights};

/// An office with every field the admin API shows, and its version.
#[derive(Debug, Clone)]
pub struct OfficeView {
    /// Id.
    pub id: Uuid,
    /// Head or sub.
    pub kind: OfficeKind,
    /// The head office of a sub-office.
    pub parent_id: Option<Uuid>,
    /// Advisor number (head office) or the sub-office's own number.
    pub number: String,
    /// Naam.
    pub name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// Telefoon.
    pub phone: String,
    /// Office e-mail (the main user's login at creation; where quotes are sent).
    pub email: String,
    /// The appointment (head office) or what the head office gave (sub-office).
    pub rights: Rights,
    /// O2.
    pub allow_sub_offices: bool,
    /// O6.
    pub active: bool,
    /// Bumped by every change; the API's ETag.
    pub version: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    kind: String,
    parent_id: Option<Uuid>,
    number: String,
    name: String,
    address: String,
    postcode: String,
    city: String,
    phone: String,
    email: String,
    rights: String,
    allow_sub_offices: bool,
    active: bool,
    version: i64,
}

impl Row {
    fn into_view(self, registry: &Registry) -> Result<OfficeView, StoreError> {
        Ok(OfficeView {
            id: self.id,
            kind: OfficeKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("office kind {}", self.kind)))?,
            parent_id: self.parent_id,
            number: self.number,
            name: self.name,
            address: self.address,
            postcode: self.postcode,
            city: self.city,
            phone: self.phone,
            email: self.email,
            rights: read_rights(&self.rights, registry),
            allow_sub_offices: self.allow_sub_offices,
            active: self.active,
            version: self.version,
        })
    }
}

/// The columns of an [`OfficeView`] and the scope as SQL: `$1` is the office whose tree
/// the caller sees, or NULL for every office (macros, so that `concat!` keeps SQL static).
macro_rules! office_select {
    () => {
        "SELECT o.id, o.kind, o.parent_id, o.number, o.name, o.address, o.postcode, o.city,
                o.phone, o.email, o.rights, o.allow_sub_offices, o.active, o.version
         FROM offices o
         LEFT JOIN offices h ON h.id = o.parent_id
         WHERE ($1 IS NULL OR o.id = $1 OR o.parent_id = $1)"
    };
}

/// The `$1` of [`office_select!`]; `None` when the scope holds nothing.
fn scope_param(scope: Scope) -> Option<Option<Uuid>> {
    match scope {
        Scope::Everyone => Some(None),
        Scope::OfficeTree(office) => Some(Some(office)),
        Scope::Nobody => None,
    }
}

/// Filters of the list.
#[derive(Debug, Clone, Default)]
pub struct OfficeFilter {
    /// Only head offices or only sub-offices.
    pub kind: Option<OfficeKind>,
    /// Only offices whose name, number, e-mail or city contains this text, ignoring case.
    pub q: Option<String>,
}

/// One page of the offices within `scope` that pass `filter`: each head office followed
/// by its sub-offices, by name. The scope is part of the SQL (AC-03).
pub async fn list(
    db: &Db,
    scope: Scope,
    filter: &OfficeFilter,
    page: Page,
    registry: &Registry,
) -> Result<Paged<OfficeView>, StoreError> {
    let tree = match scope_param(scope) {
        Some(tree) if !matches_nothing(filter.q.as_deref()) => tree,
        _ => {
            return Ok(Paged {
                rows: Vec::new(),
                more: false,
            });
        }
    };
    let sql = concat!(
        office_select!(),
        " AND ($2 IS NULL OR o.kind = $2)
          AND ($3 IS NULL OR LOWER(o.name) LIKE $3 ESCAPE '\\' OR LOWER(o.number) LIKE $3 ESCAPE '\\'
               OR LOWER(o.email) LIKE $3 ESCAPE '\\' OR LOWER(o.city) LIKE $3 ESCAPE '\\')
         ORDER BY COALESCE(h.name, o.name), COALESCE(h.id, o.id), o.parent_id IS NOT NULL,
                  o.name, o.id
         LIMIT $4 OFFSET $5"
    );
    let q = filter.q.as_deref().map(contains_pattern);
    let mut rows = with_db!(db, |pool| sqlx::query_as::<_, Row>(sql)
        .bind(tree)
        .bind(filter.kind.map(OfficeKind::as_str))
        .bind(q.as_deref())
        .bind(page.sql_limit())
        .bind(page.sql_offset())
        .fetch_all(pool)
        .await)?;
    let more = page.cut(&mut rows);
    let rows = rows
        .into_iter()
        .map(|r| r.into_view(registry))
        .collect::<Result<_, _>>()?;
    Ok(Paged { rows, more })
}

/// One office, if it exists within `scope`.
pub async fn get(
    db: &Db,
    scope: Scope,
    id: Uuid,
    registry: &Registry,
) -> Result<Option<OfficeView>, StoreError> {
    let Some(tree) = scope_param(scope) else {
        return Ok(None);
    };
    let sql = concat!(office_select!(), " AND o.id = $2");
    let row = with_db!(db, |pool| sqlx::query_as::<_, Row>(sql)
        .bind(tree)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(|r| r.into_view(registry)).transpose()
}

/// A change to store: the office's fields as they become, and what comes with it.
#[derive(Debug, Clone)]
pub struct OfficeUpdate<'a> {
    /// Which office.
    pub id: Uuid,
    /// The version the change was made from (the `If-Match`).
    pub expected_version: i64,
    /// Naam.
    pub name: &'a str,
    /// Adres.
    pub address: &'a str,
    /// Postcode.
    pub postcode: &'a str,
    /// Plaats.
    pub city: &'a str,
    /// Telefoon.
    pub phone: &'a str,
    /// Stored rights.
    pub rights: &'a str,
    /// O2.
    pub allow_sub_offices: bool,
    /// O6.
    pub active: bool,
    /// The office is being deactivated: end the sessions and grants of every user of it
    /// and of its sub-offices (O6).
    pub end_sessions: bool,
    /// Back-channel logout deliveries to queue.
    pub mails: &'a [NewMail],
    /// The audit entry.
    pub audit: &'a AuditRecord,
    /// Four-eyes (issue 10): the approval this change applies, stored with it.
    pub decision: Option<&'a super::approvals::Decision<'a>>,
}

/// What became of a versioned change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored.
    Done,
    /// The office changed since the expected version (or is gone); nothing was written.
    Stale,
}

/// The users of an office and of its sub-offices, as a subquery on `$2`.
macro_rules! tree_users {
    () => {
        "(SELECT u.id FROM users u JOIN offices t ON t.id = u.office_id
          WHERE t.id = $2 OR t.parent_id = $2)"
    };
}

/// Applies a change in one transaction, the versioned `UPDATE` first (see
/// `users::update` for why on SQLite).
pub async fn update(
    db: &Db,
    change: &OfficeUpdate<'_>,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let done: Option<Uuid> = sqlx::query_scalar(
            "UPDATE offices SET name = $1, address = $2, postcode = $3, city = $4, phone = $5,
                rights = $6, allow_sub_offices = $7, active = $8, version = version + 1,
                updated_at = $9
             WHERE id = $10 AND version = $11
             RETURNING id",
        )
        .bind(change.name)
        .bind(change.address)
        .bind(change.postcode)
        .bind(change.city)
        .bind(change.phone)
        .bind(change.rights)
        .bind(change.allow_sub_offices)
        .bind(change.active)
        .bind(now)
        .bind(change.id)
        .bind(change.expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        if done.is_none() {
            return Ok(Outcome::Stale);
        }
        if change.end_sessions {
            for sql in [
                concat!(
                    "UPDATE grants SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id IN ",
                    tree_users!()
                ),
                concat!(
                    "UPDATE idp_sessions SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id IN ",
                    tree_users!()
                ),
                concat!(
                    "UPDATE auth_codes SET used_at = $1 WHERE used_at IS NULL AND user_id IN ",
                    tree_users!()
                ),
            ] {
                sqlx::query(sql)
                    .bind(now)
                    .bind(change.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for m in change.mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        insert_audit!(&mut *tx, change.audit, now)?;
        super::approvals::approve_in!(tx, change.decision, now);
        tx.commit().await?;
        Ok(Outcome::Done)
    })
}

/// O7: deletes sub-office `id` (made from `expected_version`) with its users and what they
/// hold (links, sessions, codes, grants, refresh tokens, second factors, pending sign-in
/// steps), queues `mails` (back-channel logouts) and writes `audit`, in one transaction.
/// Audit entries about the office and its users stay (they hold no foreign keys). A head
/// office is never deleted here: the statement matches sub-offices only.
pub async fn delete_sub_office(
    db: &Db,
    id: Uuid,
    expected_version: i64,
    mails: &[NewMail],
    audit: &AuditRecord,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // A write first: it takes SQLite's lock and settles a race with a change.
        let found: Option<Uuid> = sqlx::query_scalar(
            "UPDATE offices SET version = version + 1, updated_at = $1
             WHERE id = $2 AND version = $3 AND kind = 'sub_office'
             RETURNING id",
        )
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(Outcome::Stale);
        }
        for sql in [
            "DELETE FROM refresh_tokens WHERE grant_id IN
                (SELECT g.id FROM grants g JOIN users u ON u.id = g.user_id WHERE u.office_id = $1)",
            "DELETE FROM grants WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM auth_codes WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM idp_sessions WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM user_tokens WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM email_changes WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM totp_factors WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM recovery_codes WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM passkeys WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM pending_steps WHERE user_id IN (SELECT id FROM users WHERE office_id = $1)",
            "DELETE FROM users WHERE office_id = $1",
            "DELETE FROM offices WHERE id = $1 AND kind = 'sub_office'",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        insert_audit!(&mut *tx, audit, now)?;
        tx.commit().await?;
        Ok(Outcome::Done)
    })
}
