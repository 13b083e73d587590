//! Builders for the records the store takes, and probes that read rows directly, so each
//! contract test says only what it checks.

use idp::crypto::{self, MasterKey, Sealer};
use idp::domain::{Email, OfficeKind, Role};
use idp::oidc::claims;
use idp::store::accounts::{self, BatchError, NewAccount, NewOfficeRecord, NewUserRecord};
use idp::store::audit::AuditRecord;
use idp::store::outbox::NewMail;
use idp::store::tokens::{NewUserToken, Purpose};
use idp::store::{Constraint, Db, StoreError};
use product_registry::Registry;
use sqlx::AssertSqlSafe;
use testkit::TestDatabase;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The fixed "now" of every test.
pub const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

/// The master key of the tests (the bytes 0..32).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Another valid master key, to show that sealed values open only under the right one.
pub const OTHER_MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// How long an activation link lives in these tests (the default of SPEC A2).
pub const LINK_TTL: Duration = Duration::days(7);

/// Every table the store writes, for the before/after counts of all-or-nothing checks.
pub const ACCOUNT_TABLES: [&str; 5] = ["offices", "users", "user_tokens", "outbox", "audit_log"];

/// Connects to the fresh test database and applies the migrations.
pub async fn open(db: &TestDatabase) -> Db {
    let store = Db::connect(&db.url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// The product registry shipped with the portal (DIP, DIL for everyone; ORV not for sub-offices).
pub fn registry() -> Registry {
    Registry::builtin().expect("built-in registry")
}

/// The master key's sealer for `purpose`.
pub fn sealer(key: &str, purpose: &'static str) -> Sealer {
    MasterKey::from_base64(key)
        .expect("test master key")
        .sealer(purpose)
        .expect("sealer")
}

/// An address as every write path stores it: through `Email::parse`.
pub fn email(raw: &str) -> String {
    Email::parse(raw).expect("valid e-mail").to_string()
}

fn office(
    kind: OfficeKind,
    parent_id: Option<Uuid>,
    advisor_number: Option<&str>,
    number: &str,
    office_email: &str,
    rights: &str,
) -> NewOfficeRecord {
    NewOfficeRecord {
        id: Uuid::now_v7(),
        kind,
        parent_id,
        advisor_number: advisor_number.map(str::to_owned),
        number: number.to_owned(),
        name: format!("Kantoor {number}"),
        address: "Dorpsstraat 1".to_owned(),
        postcode: "1234 AB".to_owned(),
        city: "Utrecht".to_owned(),
        phone: "030-1234567".to_owned(),
        email: email(office_email),
        rights: rights.to_owned(),
        allow_sub_offices: true,
    }
}

fn user(office_id: Option<Uuid>, role: Role, user_email: &str, rights: &str) -> NewUserRecord {
    NewUserRecord {
        id: Uuid::now_v7(),
        office_id,
        role,
        name: format!("Gebruiker {user_email}"),
        email: email(user_email),
        rights: rights.to_owned(),
        password_hash: None,
    }
}

fn account(
    office: Option<NewOfficeRecord>,
    user: NewUserRecord,
    action: &'static str,
) -> NewAccount {
    let audit = AuditRecord {
        target_office_id: office.as_ref().map(|o| o.id).or(user.office_id),
        target_user_id: Some(user.id),
        ..AuditRecord::new(action)
    };
    NewAccount {
        office,
        user,
        token: None,
        mail: None,
        audit,
    }
}

/// O1: a head office with its main user, whose login is the office e-mail.
pub fn head_office(advisor_number: &str, office_email: &str, rights: &str) -> NewAccount {
    let o = office(
        OfficeKind::HeadOffice,
        None,
        Some(advisor_number),
        advisor_number,
        office_email,
        rights,
    );
    let u = user(Some(o.id), Role::MainUser, office_email, rights);
    account(Some(o), u, "office.created")
}

/// O3/O5: a sub-office of `head` with its main user, whose login is the office e-mail.
pub fn sub_office(head: Uuid, number: &str, office_email: &str, rights: &str) -> NewAccount {
    let o = office(
        OfficeKind::SubOffice,
        Some(head),
        None,
        number,
        office_email,
        rights,
    );
    let u = user(Some(o.id), Role::MainUser, office_email, rights);
    account(Some(o), u, "office.created")
}

/// U1: an employee of an existing office.
pub fn employee(office_id: Uuid, user_email: &str, rights: &str) -> NewAccount {
    account(
        None,
        user(Some(office_id), Role::Employee, user_email, rights),
        "user.created",
    )
}

/// U1: a user of `role` in `office_id` (or in none), for the rules the database enforces.
pub fn user_in(office_id: Option<Uuid>, role: Role, user_email: &str) -> NewAccount {
    account(None, user(office_id, role, user_email, ""), "user.created")
}

/// U1: an insurer admin (no office).
pub fn insurer_admin(user_email: &str) -> NewAccount {
    user_in(None, Role::InsurerAdmin, user_email)
}

/// The id of the office an account creates.
pub fn office_id(account: &NewAccount) -> Uuid {
    account.office.as_ref().expect("account with an office").id
}

/// The id of the user an account creates.
pub fn user_id(account: &NewAccount) -> Uuid {
    account.user.id
}

/// Adds an activation link for `token` (valid for [`LINK_TTL`] from [`T0`]) and its mail.
pub fn with_link(mut account: NewAccount, token: &str) -> NewAccount {
    account.token = Some(link(
        account.user.id,
        Purpose::Activation,
        token,
        T0 + LINK_TTL,
    ));
    account.mail = Some(mail(&account.user.email, b"sealed activation mail"));
    account
}

/// A link for `token`: only its SHA-256 is stored.
pub fn link(
    user_id: Uuid,
    purpose: Purpose,
    token: &str,
    expires_at: OffsetDateTime,
) -> NewUserToken {
    NewUserToken {
        hash: crypto::token_hash(token),
        user_id,
        purpose,
        expires_at,
    }
}

/// An outbox mail with an opaque payload.
pub fn mail(recipient: &str, payload: &[u8]) -> NewMail {
    NewMail {
        id: Uuid::now_v7(),
        kind: "activation",
        recipient: recipient.to_owned(),
        payload: payload.to_vec(),
    }
}

/// Stores one account at [`T0`]; the test fails if the store refuses it.
pub async fn store(db: &Db, account: &NewAccount) {
    accounts::provision(db, std::slice::from_ref(account), T0)
        .await
        .unwrap_or_else(|e| panic!("provision {}: {e}", account.user.email));
}

/// Tries to store one account at [`T0`].
pub async fn try_store(db: &Db, account: &NewAccount) -> Result<(), BatchError> {
    accounts::provision(db, std::slice::from_ref(account), T0).await
}

/// The position and constraint of a refused batch; fails the test on anything else.
pub fn conflict(result: Result<(), BatchError>) -> (usize, Constraint) {
    match result {
        Err(BatchError {
            index,
            error: StoreError::Conflict { constraint },
        }) => (index, constraint),
        Err(e) => panic!("expected a unique-constraint conflict, got {e:?}"),
        Ok(()) => panic!("expected a unique-constraint conflict, but it was stored"),
    }
}

/// Whether a refused batch was refused by a CHECK constraint of the schema.
pub fn is_check_violation(result: &Result<(), BatchError>) -> bool {
    match result {
        Err(BatchError {
            error: StoreError::Database(sqlx::Error::Database(e)),
            ..
        }) => e.kind() == sqlx::error::ErrorKind::CheckViolation,
        _ => false,
    }
}

/// Rows in `table`.
pub async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    idp::with_db!(db, |pool| sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
        .fetch_one(pool)
        .await)
    .expect("count rows")
}

/// Rows in each of [`ACCOUNT_TABLES`].
pub async fn counts(db: &Db) -> Vec<(&'static str, i64)> {
    let mut all = Vec::new();
    for table in ACCOUNT_TABLES {
        all.push((table, count(db, table).await));
    }
    all
}

/// Runs one statement with one id bound as `$1` (a state change no store function makes
/// yet, such as deactivating an office), returning the rows it touched.
pub async fn exec(db: &Db, sql: &'static str, id: Uuid) -> Result<u64, sqlx::Error> {
    idp::with_db!(db, |pool| sqlx::query(sql)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The stored password hash of a user, read from its row.
pub async fn password_hash(db: &Db, user_id: Uuid) -> Option<String> {
    idp::with_db!(db, |pool| sqlx::query_scalar::<_, Option<String>>(
        "SELECT password_hash FROM users WHERE id = $1"
    )
    .bind(user_id)
    .fetch_one(pool)
    .await)
    .expect("user row")
}

/// Whether the link with this token was marked used, read from its row.
pub async fn link_used(db: &Db, token: &str) -> bool {
    let used: Option<OffsetDateTime> = idp::with_db!(db, |pool| sqlx::query_scalar(
        "SELECT used_at FROM user_tokens WHERE token_hash = $1"
    )
    .bind(crypto::token_hash(token))
    .fetch_one(pool)
    .await)
    .expect("link row");
    used.is_some()
}

/// How many audit entries of `action` concern `user_id`.
pub async fn audit_count(db: &Db, user_id: Uuid, action: &str) -> usize {
    idp::store::audit::for_user(db, user_id, 1000)
        .await
        .expect("audit entries")
        .iter()
        .filter(|row| row.action == action)
        .count()
}

/// U4: what a token would say about a user, through the store: whether it may sign in and
/// its effective rights (registry order).
pub async fn access(db: &Db, user_id: Uuid) -> (bool, Vec<String>) {
    let registry = registry();
    let principal = accounts::principal(db, user_id, &registry)
        .await
        .expect("principal")
        .expect("user exists");
    (
        claims::may_sign_in(&principal),
        claims::rights_of(&principal, &registry),
    )
}

/// Lower-case hex, as PostgreSQL shows `bytea` and SQLite's `hex()` (lowered) shows a blob.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every value of every table, as a grep of a database dump sees it (SECURITY KS-01): on
/// SQLite each column's raw bytes and its hex, plus the database files themselves; on
/// PostgreSQL each row as JSON text (`bytea` as hex).
pub async fn dump(db: &Db, test_db: &TestDatabase) -> Vec<u8> {
    let mut out = Vec::new();
    match db {
        Db::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                for column in columns {
                    let sql = format!(
                        r#"SELECT CAST("{column}" AS BLOB), lower(hex("{column}")) FROM "{table}""#
                    );
                    let rows: Vec<(Option<Vec<u8>>, String)> = sqlx::query_as(AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await
                        .expect("column values");
                    for (raw, hexed) in rows {
                        out.extend(raw.unwrap_or_default());
                        out.push(b'\n');
                        out.extend(hexed.into_bytes());
                        out.push(b'\n');
                    }
                }
            }
            let path = test_db
                .url
                .trim_start_matches("sqlite://")
                .split('?')
                .next()
                .unwrap_or_default()
                .to_owned();
            for file in [path.clone(), format!("{path}-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    out.extend(bytes);
                }
            }
        }
        Db::Postgres(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for table in tables {
                let sql = format!(r#"SELECT row_to_json(t)::text FROM "{table}" t"#);
                let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .expect("rows");
                for row in rows {
                    out.extend(row.into_bytes());
                    out.push(b'\n');
                }
            }
        }
    }
    out
}

/// A head office numbered `n` (its advisor number and e-mail derive from it), stored at
/// [`T0`]; the id of its main user.
pub async fn some_user(db: &Db, n: u32) -> Uuid {
    let account = head_office(&format!("{}", 70000 + n), &format!("info@{n}.nl"), "DIP");
    store(db, &account).await;
    user_id(&account)
}

/// A session of `user_id` whose cookie value is `cookie`, live for eight hours from [`T0`].
pub fn session_of(user_id: Uuid, cookie: &str) -> idp::store::sessions::NewSession {
    idp::store::sessions::NewSession {
        id_hash: crypto::token_hash(cookie),
        user_id,
        auth_time: T0,
        amr: "pwd,otp".to_owned(),
        expires_at: T0 + Duration::hours(8),
    }
}

/// A pending step of `kind` for `user_id` whose cookie value is `cookie`, ending at
/// `expires_at`, with no seed and no ceremony.
pub fn step_of(
    kind: idp::store::steps::StepKind,
    user_id: Option<Uuid>,
    cookie: &str,
    expires_at: OffsetDateTime,
) -> idp::store::steps::NewStep {
    idp::store::steps::NewStep {
        id_hash: crypto::token_hash(cookie),
        kind,
        user_id,
        amr: "pwd".to_owned(),
        return_to: "/idp/authorize?client_id=dip".to_owned(),
        secret: None,
        ceremony: None,
        expires_at,
    }
}
