//! Offices and users: provisioning (an office with its main user, or a user alone, with
//! its activation link, mail and audit entry in one transaction) and the look-ups that
//! sign-in and token issuance need.

use product_registry::Registry;
use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::AuditRecord;
use super::outbox::NewMail;
use super::tokens::NewUserToken;
use super::{Db, StoreError, at, with_db};
use crate::domain::identifier::LoginName;
use crate::domain::rights::read_rights;
use crate::domain::{Email, Office, OfficeKind, Role, User};

/// An office to create.
#[derive(Debug, Clone)]
pub struct NewOfficeRecord {
    /// Id.
    pub id: Uuid,
    /// Head or sub.
    pub kind: OfficeKind,
    /// The head office of a sub-office.
    pub parent_id: Option<Uuid>,
    /// Head offices only.
    pub advisor_number: Option<String>,
    /// The advisor number or the sub-office number.
    pub number: String,
    /// Name.
    pub name: String,
    /// Address fields (sub-offices; empty for head offices created from the register).
    pub address: String,
    /// Postcode, `1234 AB`.
    pub postcode: String,
    /// City.
    pub city: String,
    /// Phone.
    pub phone: String,
    /// Office e-mail, normalised.
    pub email: String,
    /// Stored rights (`DIP,DIL`).
    pub rights: String,
    /// O2.
    pub allow_sub_offices: bool,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    /// Id (the `sub`).
    pub id: Uuid,
    /// Office (`None` for insurer admins).
    pub office_id: Option<Uuid>,
    /// Role.
    pub role: Role,
    /// Name.
    pub name: String,
    /// Login e-mail, normalised.
    pub email: String,
    /// Stored rights.
    pub rights: String,
    /// An argon2id PHC string when the password is set at creation (the first insurer
    /// admin); otherwise `None` until activation.
    pub password_hash: Option<String>,
}

/// Everything one new account brings along, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The office created with its main user (O1), if any.
    pub office: Option<NewOfficeRecord>,
    /// The user.
    pub user: NewUserRecord,
    /// The activation link (A2), if the user must activate.
    pub token: Option<NewUserToken>,
    /// The activation mail, if one is sent now.
    pub mail: Option<NewMail>,
    /// The audit entry.
    pub audit: AuditRecord,
}

/// One account of a batch was refused; nothing of the batch was stored.
#[derive(Debug, thiserror::Error)]
#[error("account {index}: {error}")]
pub struct BatchError {
    /// Position in the batch (0-based).
    pub index: usize,
    /// Why.
    #[source]
    pub error: StoreError,
}

/// Inserts one account (its office, user, activation link, mail and audit entry) through
/// a transaction `$tx` of either database; an `async` block, so `?` stays inside it.
macro_rules! insert_account {
    ($tx:ident, $acc:expr, $now:expr) => {
        async {
            let acc: &$crate::store::accounts::NewAccount = $acc;
            let now: time::OffsetDateTime = $now;
            if let Some(o) = &acc.office {
                sqlx::query(
                    "INSERT INTO offices (id, kind, parent_id, advisor_number, number, name, address, postcode,
                        city, phone, email, rights, allow_sub_offices, active, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, TRUE, 1, $14, $14)",
                )
                .bind(o.id)
                .bind(o.kind.as_str())
                .bind(o.parent_id)
                .bind(o.advisor_number.as_deref())
                .bind(&o.number)
                .bind(&o.name)
                .bind(&o.address)
                .bind(&o.postcode)
                .bind(&o.city)
                .bind(&o.phone)
                .bind(&o.email)
                .bind(&o.rights)
                .bind(o.allow_sub_offices)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            }
            let u = &acc.user;
            sqlx::query(
                "INSERT INTO users (id, office_id, role, name, email, rights, active, password_hash,
                    activated_at, version, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $8, 1, $9, $9)",
            )
            .bind(u.id)
            .bind(u.office_id)
            .bind(u.role.as_str())
            .bind(&u.name)
            .bind(&u.email)
            .bind(&u.rights)
            .bind(u.password_hash.as_deref())
            .bind(u.password_hash.as_ref().map(|_| now))
            .bind(now)
            .execute(&mut *$tx)
            .await?;
            if let Some(t) = &acc.token {
                $crate::store::tokens::insert_user_token!(&mut *$tx, t, now)?;
            }
            if let Some(m) = &acc.mail {
                $crate::store::outbox::insert_mail!(&mut *$tx, m, now)?;
            }
            $crate::store::audit::insert_audit!(&mut *$tx, &acc.audit, now)?;
            Ok::<(), sqlx::Error>(())
        }
    };
}
pub(crate) use insert_account;

/// Stores every account of `batch` or none of them (an all-or-nothing import, or a single
/// office created in the console or the CLI).
pub async fn provision(
    db: &Db,
    batch: &[NewAccount],
    now: OffsetDateTime,
) -> Result<(), BatchError> {
    let fail = |index| {
        move |error: sqlx::Error| BatchError {
            index,
            error: error.into(),
        }
    };
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await.map_err(fail(0))?;
        for (i, acc) in batch.iter().enumerate() {
            insert_account!(tx, acc, now).await.map_err(fail(i))?;
        }
        tx.commit()
            .await
            .map_err(fail(batch.len().saturating_sub(1)))
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct OfficeRow {
    id: Uuid,
    kind: String,
    parent_id: Option<Uuid>,
    number: String,
    name: String,
    email: String,
    rights: String,
    allow_sub_offices: bool,
    active: bool,
}

impl OfficeRow {
    fn into_office(self, registry: &Registry) -> Result<Office, StoreError> {
        Ok(Office {
            id: self.id,
            kind: OfficeKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("office kind {}", self.kind)))?,
            parent_id: self.parent_id,
            number: self.number,
            name: self.name,
            email: Email::read(&self.email)
                .map_err(|_| StoreError::Corrupt("office e-mail".into()))?,
            rights: read_rights(&self.rights, registry),
            allow_sub_offices: self.allow_sub_offices,
            active: self.active,
        })
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    office_id: Option<Uuid>,
    role: String,
    name: String,
    email: String,
    rights: String,
    active: bool,
    activated_at: Option<OffsetDateTime>,
    password_hash: Option<String>,
}

impl UserRow {
    fn into_user(self, registry: &Registry) -> Result<(User, Option<String>), StoreError> {
        let user = User {
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
        };
        Ok((user, self.password_hash))
    }
}

/// The user columns every look-up reads (a macro so that `concat!` keeps SQL static).
macro_rules! user_columns {
    () => {
        "u.id, u.office_id, u.role, u.name, u.email, u.rights, u.active, u.activated_at, u.password_hash"
    };
}
/// The office columns every look-up reads.
macro_rules! office_columns {
    () => {
        "id, kind, parent_id, number, name, email, rights, allow_sub_offices, active"
    };
}

/// A user with the password hash, found by login name (A1): by e-mail for everyone, by
/// advisor number only for the main user of that head office.
pub async fn find_login(
    db: &Db,
    name: &LoginName,
    registry: &Registry,
) -> Result<Option<(User, Option<String>)>, StoreError> {
    let row = match name {
        LoginName::Email(email) => {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.email = $1"
            );
            with_db!(db, |pool| sqlx::query_as::<_, UserRow>(sql)
                .bind(email.as_str())
                .fetch_optional(pool)
                .await)?
        }
        LoginName::AdvisorNumber(number) => {
            let sql = concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u JOIN offices o ON o.id = u.office_id
                 WHERE o.advisor_number = $1 AND u.role = 'main_user'"
            );
            with_db!(db, |pool| sqlx::query_as::<_, UserRow>(sql)
                .bind(number.as_str())
                .fetch_optional(pool)
                .await)?
        }
    };
    row.map(|r| r.into_user(registry)).transpose()
}

/// A user with the offices above it: what a token says about them.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user: User,
    /// Its office (none for insurer admins).
    pub office: Option<Office>,
    /// The head office above a sub-office.
    pub head_office: Option<Office>,
}

/// An office joined to a user's row (`LEFT JOIN`, so every column may be NULL): the office
/// columns of [`office_columns!`] under a prefix, `o_` for the user's office, `h_` for the
/// head office above it.
macro_rules! joined_office_row {
    ($name:ident, $id:literal, $kind:literal, $parent_id:literal, $number:literal, $oname:literal,
     $email:literal, $rights:literal, $allow:literal, $active:literal) => {
        #[derive(sqlx::FromRow)]
        struct $name {
            #[sqlx(rename = $id)]
            id: Option<Uuid>,
            #[sqlx(rename = $kind)]
            kind: Option<String>,
            #[sqlx(rename = $parent_id)]
            parent_id: Option<Uuid>,
            #[sqlx(rename = $number)]
            number: Option<String>,
            #[sqlx(rename = $oname)]
            name: Option<String>,
            #[sqlx(rename = $email)]
            email: Option<String>,
            #[sqlx(rename = $rights)]
            rights: Option<String>,
            #[sqlx(rename = $allow)]
            allow_sub_offices: Option<bool>,
            #[sqlx(rename = $active)]
            active: Option<bool>,
        }

        impl $name {
            /// The office, when the join found one; a row missing a NOT NULL column is corrupt.
            fn into_office(self, registry: &Registry) -> Result<Option<Office>, StoreError> {
                let Some(id) = self.id else { return Ok(None) };
                let missing = || StoreError::Corrupt(format!("office {id}: a column is NULL"));
                OfficeRow {
                    id,
                    kind: self.kind.ok_or_else(missing)?,
                    parent_id: self.parent_id,
                    number: self.number.ok_or_else(missing)?,
                    name: self.name.ok_or_else(missing)?,
                    email: self.email.ok_or_else(missing)?,
                    rights: self.rights.ok_or_else(missing)?,
                    allow_sub_offices: self.allow_sub_offices.ok_or_else(missing)?,
                    active: self.active.ok_or_else(missing)?,
                }
                .into_office(registry)
                .map(Some)
            }
        }
    };
}

joined_office_row!(
    OwnOfficeRow,
    "o_id",
    "o_kind",
    "o_parent_id",
    "o_number",
    "o_name",
    "o_email",
    "o_rights",
    "o_allow_sub_offices",
    "o_active"
);
joined_office_row!(
    HeadOfficeRow,
    "h_id",
    "h_kind",
    "h_parent_id",
    "h_number",
    "h_name",
    "h_email",
    "h_rights",
    "h_allow_sub_offices",
    "h_active"
);

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    #[sqlx(flatten)]
    user: UserRow,
    #[sqlx(flatten)]
    office: OwnOfficeRow,
    #[sqlx(flatten)]
    head_office: HeadOfficeRow,
}

/// Loads a user and its office chain, in one query (every sign-in, refresh, userinfo and
/// API call reads it).
pub async fn principal(
    db: &Db,
    user_id: Uuid,
    registry: &Registry,
) -> Result<Option<Principal>, StoreError> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        ", o.id AS o_id, o.kind AS o_kind, o.parent_id AS o_parent_id, o.number AS o_number,
            o.name AS o_name, o.email AS o_email, o.rights AS o_rights,
            o.allow_sub_offices AS o_allow_sub_offices, o.active AS o_active,
            h.id AS h_id, h.kind AS h_kind, h.parent_id AS h_parent_id, h.number AS h_number,
            h.name AS h_name, h.email AS h_email, h.rights AS h_rights,
            h.allow_sub_offices AS h_allow_sub_offices, h.active AS h_active
         FROM users u
         LEFT JOIN offices o ON o.id = u.office_id
         LEFT JOIN offices h ON h.id = o.parent_id
         WHERE u.id = $1"
    );
    let row = with_db!(db, |pool| sqlx::query_as::<_, PrincipalRow>(sql)
        .bind(user_id)
        .fetch_optional(pool)
        .await)?;
    let Some(row) = row else { return Ok(None) };
    let (user, _) = row.user.into_user(registry)?;
    Ok(Some(Principal {
        user,
        office: row.office.into_office(registry)?,
        head_office: row.head_office.into_office(registry)?,
    }))
}

/// One office by id.
pub async fn office(db: &Db, id: Uuid, registry: &Registry) -> Result<Option<Office>, StoreError> {
    let sql = concat!("SELECT ", office_columns!(), " FROM offices WHERE id = $1");
    let row = with_db!(db, |pool| sqlx::query_as::<_, OfficeRow>(sql)
        .bind(id)
        .fetch_optional(pool)
        .await)?;
    row.map(|r| r.into_office(registry)).transpose()
}

/// One head office by advisor number.
pub async fn head_office_by_number(
    db: &Db,
    number: &str,
    registry: &Registry,
) -> Result<Option<Office>, StoreError> {
    let sql = concat!(
        "SELECT ",
        office_columns!(),
        " FROM offices WHERE advisor_number = $1"
    );
    let row = with_db!(db, |pool| sqlx::query_as::<_, OfficeRow>(sql)
        .bind(number)
        .fetch_optional(pool)
        .await)?;
    row.map(|r| r.into_office(registry)).transpose()
}

/// Whether any insurer admin exists (an empty portal offers the set-up link).
pub async fn has_insurer_admin(db: &Db) -> Result<bool, StoreError> {
    let n: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'insurer_admin'"
    )
    .fetch_one(pool)
    .await)?;
    Ok(n > 0)
}

/// The user whose login is `email`.
pub async fn user_by_email(
    db: &Db,
    email: &Email,
    registry: &Registry,
) -> Result<Option<User>, StoreError> {
    Ok(find_login(db, &LoginName::Email(email.clone()), registry)
        .await?
        .map(|(u, _)| u))
}

/// Replaces a user's password hash (a re-hash with newer parameters, AU-03).
pub async fn set_password_hash(
    db: &Db,
    user_id: Uuid,
    hash: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3"
    )
    .bind(hash)
    .bind(at(now))
    .bind(user_id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
