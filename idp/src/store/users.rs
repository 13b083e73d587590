//! Users as the admin API manages them (issue 6): listed and read within the caller's
//! [`Scope`] (applied in the SQL, SECURITY AC-03), and changed with optimistic
//! concurrency: the version the caller saw is part of the `UPDATE`'s `WHERE`, so of two
//! changes made from the same version exactly one succeeds. A change commits with its
//! audit entry, its mails and, when the user is deactivated, the end of its sessions and
//! grants (O6, SE-05), or not at all.

use product_registry::Registry;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::email_changes::{PendingEmail, replace_pending};
use super::factors::end_sessions;
use super::outbox::{NewMail, insert_mail};
use super::tokens::void_links;
use super::{Db, StoreError, at, with_db};
use crate::domain::manage::Scope;
use crate::domain::rights::read_rights;
use crate::domain::{Email, OfficeKind, Rights, Role, User};

/// The office a user belongs to, as the admin API shows it.
#[derive(Debug, Clone)]
pub struct OfficeSummary {
    /// Id.
    pub id: Uuid,
    /// Advisor number (head office) or the sub-office's number.
    pub number: String,
    /// Name.
    pub name: String,
    /// Head or sub.
    pub kind: OfficeKind,
    /// The head office of a sub-office.
    pub parent_id: Option<Uuid>,
    /// The office's rights.
    pub rights: Rights,
}

/// A user with its office and version.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// Bumped by every change; the API's ETag.
    pub version: i64,
    /// Its office (none for insurer admins).
    pub office: Option<OfficeSummary>,
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: Uuid,
    office_id: Option<Uuid>,
    role: String,
    name: String,
    email: String,
    rights: String,
    active: bool,
    activated_at: Option<OffsetDateTime>,
    version: i64,
    office_number: Option<String>,
    office_name: Option<String>,
    office_kind: Option<String>,
    office_parent_id: Option<Uuid>,
    office_rights: Option<String>,
}

impl ViewRow {
    fn into_view(self, registry: &Registry) -> Result<UserView, StoreError> {
        let office = match (self.office_id, self.office_kind) {
            (Some(id), Some(kind)) => Some(OfficeSummary {
                id,
                number: self.office_number.unwrap_or_default(),
                name: self.office_name.unwrap_or_default(),
                kind: OfficeKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("office kind {kind}")))?,
                parent_id: self.office_parent_id,
                rights: read_rights(self.office_rights.as_deref().unwrap_or(""), registry),
            }),
            _ => None,
        };
        Ok(UserView {
            user: User {
                id: self.id,
                office_id: self.office_id,
                role: Role::parse(&self.role)
                    .ok_or_else(|| StoreError::Corrupt(format!("role {}", self.role)))?,
                name: self.name,
                email: Email::read(&self.email)
                    .map_err(|_| StoreError::Corrupt("user e-mail".into()))?,
                rights: read_rights(&self.rights, registry),
                active: self.active,
                activated: self.activated_at.is_some(),
            },
            version: self.version,
            office,
        })
    }
}

/// The columns and joins of a [`UserView`] (macros, so that `concat!` keeps SQL static).
macro_rules! view_select {
    () => {
        "SELECT u.id, u.office_id, u.role, u.name, u.email, u.rights, u.active, u.activated_at,
                u.version, o.number AS office_number, o.name AS office_name,
                o.kind AS office_kind, o.parent_id AS office_parent_id, o.rights AS office_rights
         FROM users u
         LEFT JOIN offices o ON o.id = u.office_id
         LEFT JOIN offices h ON h.id = o.parent_id"
    };
}
/// The scope as SQL: `$1` is the office whose tree the caller sees, or NULL for everyone.
macro_rules! in_scope {
    () => {
        " WHERE ($1 IS NULL OR u.office_id = $1 OR o.parent_id = $1)"
    };
}

/// The order of the list: by office (a head office, then its sub-offices, by name), then by
/// name; insurer admins last.
macro_rules! list_order {
    () => {
        " ORDER BY o.id IS NULL, COALESCE(h.name, o.name), COALESCE(h.id, o.id),
                  o.parent_id IS NOT NULL, o.name, o.id, u.name, u.id"
    };
}

/// The name-or-e-mail filter on `$n`.
macro_rules! name_or_email {
    ($n:literal) => {
        concat!(
            "LOWER(u.name) LIKE ",
            $n,
            " ESCAPE '\\' OR LOWER(u.email) LIKE ",
            $n,
            " ESCAPE '\\'"
        )
    };
}

// The list's SQL texts that are `pub` are so for the benchmark's plan checks
// (`bench/src/fill/check.rs` asks the database how it runs exactly these texts).

/// `$1` is the office whose tree the caller sees; `$2` an office filter; `$3` the text
/// filter. The tree is found through the offices table's keys, then its users (a
/// condition mixing both tables, as in `in_scope!`, is answered by reading every user).
pub const LIST_TREE: &str = concat!(
    view_select!(),
    " WHERE (o.id = $1 OR o.parent_id = $1)
        AND ($2 IS NULL OR u.office_id = $2)
        AND ($3 IS NULL OR ",
    name_or_email!("$3"),
    ")",
    list_order!(),
    " LIMIT $4 OFFSET $5"
);

/// Everyone, one office (`$1`), the text filter `$2`.
const LIST_OFFICE: &str = concat!(
    view_select!(),
    " WHERE u.office_id = $1 AND ($2 IS NULL OR ",
    name_or_email!("$2"),
    ")",
    list_order!(),
    " LIMIT $3 OFFSET $4"
);

/// Everyone whose name or e-mail contains `$1` (every user is read: a text search).
pub const LIST_SEARCH: &str = concat!(
    view_select!(),
    " WHERE ",
    name_or_email!("$1"),
    list_order!(),
    " LIMIT $2 OFFSET $3"
);

/// Everyone in an office, unfiltered, in the order of [`list_order!`] without sorting them
/// all: the head offices are walked by name (index `offices_kind_name`), each followed by
/// its own sub-offices; only the users of the head offices a page reaches are sorted. A
/// head office's name and id are what `COALESCE(h.name, o.name)` and `COALESCE(h.id, o.id)`
/// give for every office of its tree.
pub const LIST_OFFICES_WALK: &str =
    "SELECT u.id, u.office_id, u.role, u.name, u.email, u.rights, u.active, u.activated_at,
            u.version, o.number AS office_number, o.name AS office_name,
            o.kind AS office_kind, o.parent_id AS office_parent_id, o.rights AS office_rights
     FROM offices hd
     JOIN offices o ON o.id = hd.id OR o.parent_id = hd.id
     JOIN users u ON u.office_id = o.id
     WHERE hd.kind = 'head_office'
     ORDER BY hd.name, hd.id, o.parent_id IS NOT NULL, o.name, o.id, u.name, u.id
     LIMIT $1 OFFSET $2";

/// The users without an office (insurer admins), who follow everyone else.
const LIST_NO_OFFICE: &str = concat!(
    view_select!(),
    " WHERE u.office_id IS NULL ORDER BY u.name, u.id LIMIT $1 OFFSET $2"
);

/// The `$1` of [`in_scope!`]; `None` when the scope holds no one.
fn scope_param(scope: Scope) -> Option<Option<Uuid>> {
    match scope {
        Scope::Everyone => Some(None),
        Scope::OfficeTree(office) => Some(Some(office)),
        Scope::Nobody => None,
    }
}

/// Filters of the list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only the users of this office.
    pub office_id: Option<Uuid>,
    /// Only users whose name or e-mail contains this text, ignoring case.
    pub q: Option<String>,
}

/// Whether a search for `text` can match no stored value: one with a NUL. No name, e-mail
/// address, number or city holds a control character (the domain refuses them), PostgreSQL
/// refuses a NUL in a text parameter, and SQLite's `LIKE` would end the pattern at it
/// (`%\0` would match everything). Such a search lists nothing, without asking the database.
pub(crate) fn matches_nothing(text: Option<&str>) -> bool {
    text.is_some_and(|t| t.contains('\0'))
}

/// A `LIKE` pattern for "contains `text`", with `\` as the escape character.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One page of a list (issue 6: an insurer admin may face 100,000 users). The order of
/// each list ends in a unique id, so it is total: across the pages of an unchanged list
/// every row comes exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: u32,
    /// Rows per page, 1 to [`Page::MAX_LIMIT`].
    pub limit: u32,
}

impl Page {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size.
    pub const MAX_LIMIT: u32 = 200;

    /// Page `number` of `limit` rows; `None` for page 0 or a size outside 1..=200.
    pub fn new(number: u32, limit: u32) -> Option<Self> {
        (number >= 1 && (1..=Self::MAX_LIMIT).contains(&limit)).then_some(Self { number, limit })
    }

    /// The first page of the default size.
    pub fn first() -> Self {
        Self {
            number: 1,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// `LIMIT` of the query: one row more than the page, to learn whether a next page
    /// exists without counting the whole list.
    pub(crate) fn sql_limit(self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// `OFFSET` of the query.
    pub(crate) fn sql_offset(self) -> i64 {
        (i64::from(self.number) - 1) * i64::from(self.limit)
    }

    /// Cuts the extra row off; `true` when there was one (a next page exists).
    pub(crate) fn cut<T>(self, rows: &mut Vec<T>) -> bool {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        more
    }
}

/// One page of rows, and whether another follows.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The rows of the page.
    pub rows: Vec<T>,
    /// Whether the next page holds rows.
    pub more: bool,
}

/// U2: one page of the users within `scope` that pass `filter`, ordered by office (a head
/// office, then its sub-offices) and then by name; insurer admins last. The scope is part
/// of the SQL (AC-03), so no page holds a user outside it.
pub async fn list(
    db: &Db,
    scope: Scope,
    filter: &Filter,
    page: Page,
    registry: &Registry,
) -> Result<Paged<UserView>, StoreError> {
    let tree = match scope_param(scope) {
        Some(tree) if !matches_nothing(filter.q.as_deref()) => tree,
        _ => {
            return Ok(Paged {
                rows: Vec::new(),
                more: false,
            });
        }
    };
    let q = filter.q.as_deref().map(contains_pattern);
    let (limit, offset) = (page.sql_limit(), page.sql_offset());
    // One SQL text per kind of list, so that each is answered from an index (a `$n IS NULL
    // OR …` condition is not, and PostgreSQL's generic plan of one text for every case
    // reads every row).
    let mut rows = match (tree, filter.office_id, q.as_deref()) {
        (Some(tree), office, q) => with_db!(db, |pool| sqlx::query_as::<_, ViewRow>(LIST_TREE)
            .bind(tree)
            .bind(office)
            .bind(q)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await)?,
        (None, Some(office), q) => with_db!(db, |pool| sqlx::query_as::<_, ViewRow>(LIST_OFFICE)
            .bind(office)
            .bind(q)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await)?,
        (None, None, Some(q)) => with_db!(db, |pool| sqlx::query_as::<_, ViewRow>(LIST_SEARCH)
            .bind(q)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await)?,
        (None, None, None) => list_everyone(db, limit, offset).await?,
    };
    let more = page.cut(&mut rows);
    let rows = rows
        .into_iter()
        .map(|r| r.into_view(registry))
        .collect::<Result<_, _>>()?;
    Ok(Paged { rows, more })
}

/// Everyone, unfiltered: the users of offices ([`LIST_OFFICES_WALK`]), then, on the page
/// that reaches past them, the users without an office. Both reads see one snapshot.
async fn list_everyone(db: &Db, limit: i64, offset: i64) -> Result<Vec<ViewRow>, StoreError> {
    let postgres = matches!(db, Db::Postgres(_));
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        if postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut rows: Vec<ViewRow> = sqlx::query_as(LIST_OFFICES_WALK)
            .bind(limit)
            .bind(offset)
            .fetch_all(&mut *tx)
            .await?;
        let found = i64::try_from(rows.len()).unwrap_or(i64::MAX);
        if found < limit {
            // The users of offices end on this page: `offset + found` of them, or (when
            // the page lies wholly past them) as many as are counted.
            let in_offices = if found > 0 {
                offset + found
            } else {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM users WHERE office_id IS NOT NULL",
                )
                .fetch_one(&mut *tx)
                .await?
            };
            let rest: Vec<ViewRow> = sqlx::query_as(LIST_NO_OFFICE)
                .bind(limit - found)
                .bind((offset + found - in_offices).max(0))
                .fetch_all(&mut *tx)
                .await?;
            rows.extend(rest);
        }
        tx.commit().await?;
        Ok::<_, StoreError>(rows)
    })
}

/// One user, if it exists within `scope`.
pub async fn get(
    db: &Db,
    scope: Scope,
    id: Uuid,
    registry: &Registry,
) -> Result<Option<UserView>, StoreError> {
    let Some(tree) = scope_param(scope) else {
        return Ok(None);
    };
    let sql = concat!(view_select!(), in_scope!(), " AND u.id = $2");
    let row = with_db!(db, |pool| sqlx::query_as::<_, ViewRow>(sql)
        .bind(tree)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(|r| r.into_view(registry)).transpose()
}

/// A change to store: the user's fields as they become, and what comes with it.
#[derive(Debug, Clone)]
pub struct UserUpdate<'a> {
    /// Whose.
    pub id: Uuid,
    /// The version the change was made from (the `If-Match`).
    pub expected_version: i64,
    /// New name.
    pub name: &'a str,
    /// New login e-mail, normalised.
    pub email: &'a str,
    /// New stored rights.
    pub rights: &'a str,
    /// New active flag.
    pub active: bool,
    /// The user is being deactivated: end its sessions and grants (O6, SE-05).
    pub end_sessions: bool,
    /// The e-mail changes: links mailed to the old address stop working.
    pub void_links: bool,
    /// A new e-mail that waits for its confirmation (AC-10), replacing one that waited.
    pub pending_email: Option<&'a PendingEmail>,
    /// Mails and back-channel logout deliveries to queue.
    pub mails: &'a [NewMail],
    /// The audit entry.
    pub audit: &'a AuditRecord,
    /// Four-eyes (issue 10): the approval this change applies, stored with it.
    pub decision: Option<&'a super::approvals::Decision<'a>>,
}

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// Stored; the user's new version.
    Done(i64),
    /// The user changed since `expected_version` (or is gone); nothing was written.
    Stale,
}

/// Applies a change in one transaction. The versioned `UPDATE` comes first: on SQLite a
/// transaction that reads before it writes fails when another one committed in between,
/// so two concurrent changes must race on this one statement, and the loser sees a
/// version that no longer matches.
pub async fn update(
    db: &Db,
    change: &UserUpdate<'_>,
    now: OffsetDateTime,
) -> Result<Updated, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET name = $1, email = $2, rights = $3, active = $4,
                version = version + 1, updated_at = $5
             WHERE id = $6 AND version = $7
             RETURNING version",
        )
        .bind(change.name)
        .bind(change.email)
        .bind(change.rights)
        .bind(change.active)
        .bind(now)
        .bind(change.id)
        .bind(change.expected_version)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(version) = version else {
            return Ok(Updated::Stale);
        };
        if change.void_links {
            void_links!(tx, change.id, now);
        }
        if change.end_sessions {
            end_sessions!(&mut tx, change.id, None, now);
            // A deactivated user's new e-mail waits no longer (AC-10).
            sqlx::query("DELETE FROM email_changes WHERE user_id = $1")
                .bind(change.id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(p) = change.pending_email {
            replace_pending!(&mut tx, change.id, p, now);
        }
        for m in change.mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        insert_audit!(&mut *tx, change.audit, now)?;
        super::approvals::approve_in!(tx, change.decision, now);
        tx.commit().await?;
        Ok(Updated::Done(version))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("Ilse"), "%ilse%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn pages_fetch_one_row_more_and_cut_it() {
        assert_eq!(Page::new(0, 50), None);
        assert_eq!(Page::new(1, 0), None);
        assert_eq!(Page::new(1, 201), None);
        let p = Page::new(3, 200).unwrap_or(Page::first());
        assert_eq!((p.sql_limit(), p.sql_offset()), (201, 400));
        let mut rows: Vec<u32> = (0..201).collect();
        assert!(p.cut(&mut rows));
        assert_eq!(rows.len(), 200);
        let mut rows: Vec<u32> = (0..200).collect();
        assert!(!p.cut(&mut rows));
        assert_eq!(
            Page::first(),
            Page {
                number: 1,
                limit: 50
            }
        );
    }
}
