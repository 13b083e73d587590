//! A fresh, empty database per test: a temp SQLite file or a new PostgreSQL database named by a
//! UUID (as zero2prod's `tests/api/helpers.rs` does), and the [`both_databases!`] macro that runs
//! one storage contract test on both.
//!
//! It only creates and removes databases; it applies no migrations and knows no schema, so the
//! calling crate connects and migrates with its own code.

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection as _, Executor as _, PgConnection};
use url::Url;
use uuid::Uuid;

/// The environment variable naming the PostgreSQL server used for tests. Its database is only
/// used to run `CREATE DATABASE`/`DROP DATABASE`; each test gets a database of its own.
pub const POSTGRES_URL_VAR: &str = "PORTAL_TEST_POSTGRES_URL";

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// An unreachable host must not hang a test run: give up on PostgreSQL after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The two database engines the portal supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite, the default for a single installation.
    Sqlite,
    /// PostgreSQL (15 in CI).
    Postgres,
}

impl Backend {
    /// Lower-case name, as used in test names (`…::sqlite`, `…::postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fresh, empty database that lives as long as this value.
///
/// On drop, the SQLite temp directory is removed and the PostgreSQL database is dropped
/// (best effort: errors are ignored, so a crashed run can leave `test_…` databases behind).
#[derive(Debug)]
pub struct TestDatabase {
    /// The sqlx connection URL: `sqlite:///tmp/portal-test-…/portal.db?mode=rwc` or
    /// `postgres://…/test_<uuid>`.
    pub url: String,
    /// Which engine [`TestDatabase::url`] points at.
    pub backend: Backend,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    RemoveDir(PathBuf),
    DropDatabase { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::RemoveDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::DropDatabase { admin_url, name } => {
                // Drop is synchronous and may run inside the test's runtime, where a nested
                // `block_on` would panic: do the async work on a thread with its own runtime.
                let admin_url = admin_url.clone();
                let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                let worker = std::thread::spawn(move || {
                    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    runtime.block_on(async move {
                        let connect = PgConnection::connect(&admin_url);
                        if let Ok(Ok(mut conn)) =
                            tokio::time::timeout(CONNECT_TIMEOUT, connect).await
                        {
                            let _ = conn.execute(AssertSqlSafe(sql)).await;
                            let _ = conn.close().await;
                        }
                    });
                });
                let _ = worker.join();
            }
        }
    }
}

/// Tells a `both_databases!` wrapper what to return when the PostgreSQL half is skipped, so
/// contract tests may return `()` or a `Result` and use `?`.
pub trait TestOutcome {
    /// The value of a skipped test: it passes.
    fn skipped() -> Self;
}

impl TestOutcome for () {
    fn skipped() -> Self {}
}

impl<E> TestOutcome for Result<(), E> {
    fn skipped() -> Self {
        Ok(())
    }
}

/// A fresh database for the current test, named after the current thread (libtest names each
/// test's thread after the test). See [`fresh_database_named`].
pub async fn fresh_database(backend: Backend) -> Option<TestDatabase> {
    let thread = std::thread::current();
    let test_name = thread.name().unwrap_or("<unnamed test>");
    fresh_database_named(backend, test_name).await
}

/// A fresh database; `test_name` is only used in the skip message.
///
/// Returns `None` only when PostgreSQL cannot be reached outside CI, after printing
/// `SKIPPED (no PostgreSQL at …): <test name>` straight to stderr (not through the captured
/// `eprintln!`, so it shows even when the test passes).
///
/// # Panics
/// When PostgreSQL cannot be reached and `CI=true` (a silent skip in CI would hide a broken
/// backend), when `CREATE DATABASE` fails, or when no temp directory can be created.
pub async fn fresh_database_named(backend: Backend, test_name: &str) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => Some(fresh_sqlite()),
        Backend::Postgres => fresh_postgres(test_name).await,
    }
}

fn fresh_sqlite() -> TestDatabase {
    // A file, not `sqlite::memory:`: an in-memory database exists once per pooled connection.
    let dir = std::env::temp_dir().join(format!("portal-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("testkit: cannot create {}: {e}", dir.display()));
    let file = dir.join("portal.db");
    TestDatabase {
        url: format!("sqlite://{}?mode=rwc", file.display()),
        backend: Backend::Sqlite,
        cleanup: Cleanup::RemoveDir(dir),
    }
}

async fn fresh_postgres(test_name: &str) -> Option<TestDatabase> {
    let admin_url =
        std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let shown = redacted(&admin_url);

    let mut conn =
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(&admin_url)).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return unreachable_postgres(&shown, test_name, &e.to_string()),
            Err(_) => return unreachable_postgres(&shown, test_name, "connect timed out"),
        };

    let name = format!("test_{}", Uuid::new_v4().simple());
    conn.execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
        .await
        .unwrap_or_else(|e| panic!("testkit: CREATE DATABASE {name} on {shown} failed: {e}"));
    let _ = conn.close().await;

    let mut url = Url::parse(&admin_url)
        .unwrap_or_else(|e| panic!("testkit: {POSTGRES_URL_VAR} is not a URL ({e}): {shown}"));
    url.set_path(&format!("/{name}"));
    Some(TestDatabase {
        url: url.into(),
        backend: Backend::Postgres,
        cleanup: Cleanup::DropDatabase { admin_url, name },
    })
}

fn unreachable_postgres(shown: &str, test_name: &str, cause: &str) -> Option<TestDatabase> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "testkit: no PostgreSQL at {shown} ({cause}) and CI=true, so this is a failure, \
             not a skip. Start PostgreSQL or set {POSTGRES_URL_VAR}."
        );
    }
    // Written to the real stderr: libtest captures `eprintln!` of passing tests, and a skip
    // that nobody sees is how a backend silently stops being tested.
    let line = format!(
        "\n!!! SKIPPED (no PostgreSQL at {shown}): {test_name} [{cause}; set {POSTGRES_URL_VAR}, or CI=true to fail]\n"
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.into()
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

/// Writes a storage contract test once and runs it on both databases.
///
/// Each `async fn name(db: &TestDatabase)` (optionally returning `Result<(), E>`, so `?` works)
/// is kept as written, and a module of the same name gets two tests, `name::sqlite` and
/// `name::postgres`, each on a fresh database from [`fresh_database_named`](crate::fresh_database_named).
/// `cargo test name` runs both halves; `cargo test ::postgres` runs every PostgreSQL half.
/// Without a reachable PostgreSQL the `postgres` half prints `SKIPPED …` and passes, unless
/// `CI=true`, where it fails.
///
/// The tests are plain `#[test]` functions driving a current-thread tokio runtime (what
/// `#[tokio::test]` expands to), so the calling crate needs no tokio macros. They are named
/// `name::sqlite` rather than `name_sqlite` because `macro_rules!` cannot build identifiers.
///
/// ```
/// use sqlx::Executor as _;
/// use testkit::{Backend, TestDatabase};
///
/// testkit::both_databases! {
///     /// A row written can be read back.
///     async fn insert_then_select(db: &TestDatabase) -> Result<(), sqlx::Error> {
///         // The calling crate connects with its own `Db::connect(&db.url)` and migrates.
///         let sql = "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('x')";
///         match db.backend {
///             Backend::Sqlite => drop(sqlx::SqlitePool::connect(&db.url).await?.execute(sql).await?),
///             Backend::Postgres => drop(sqlx::PgPool::connect(&db.url).await?.execute(sql).await?),
///         }
///         Ok(())
///     }
/// }
/// # fn main() {}
/// ```
///
/// Invoke it at module level (not inside a function: the generated modules call
/// `super::name`). Several functions may go in one invocation.
#[macro_export]
macro_rules! both_databases {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($db:ident : $db_ty:ty) $(-> $ret:ty)? $body:block
    )*) => {$(
        $(#[$meta])*
        async fn $name($db: $db_ty) $(-> $ret)? $body

        // A module may share the function's name: modules and functions live in different
        // namespaces, so `super::$name` below is the function.
        mod $name {
            // The parent's imports, so a return type like `Result<(), StoreError>` resolves.
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() $(-> $ret)? {
                $crate::block_on(async {
                    let Some(db) = $crate::fresh_database_named(
                        $crate::Backend::Sqlite,
                        concat!(module_path!(), "::sqlite"),
                    )
                    .await
                    else {
                        return $crate::TestOutcome::skipped();
                    };
                    super::$name(&db).await
                })
            }

            #[test]
            fn postgres() $(-> $ret)? {
                $crate::block_on(async {
                    let Some(db) = $crate::fresh_database_named(
                        $crate::Backend::Postgres,
                        concat!(module_path!(), "::postgres"),
                    )
                    .await
                    else {
                        return $crate::TestOutcome::skipped();
                    };
                    super::$name(&db).await
                })
            }
        }
    )*};
}
