//! Persistence of everything the identity provider owns, on SQLite or PostgreSQL.
//!
//! One SQL text serves both databases: `Db` is an enum of the two pools and `with_db!`
//! expands one body per pool type (the pattern of Vaultwarden's `db_run!`), so a query is
//! compiled twice and checked on both by the storage tests. One public function is one
//! use case and one transaction: a change, its audit entry and its e-mails commit
//! together or not at all. Unique violations become `StoreError::Conflict` here, never in
//! handlers. This module holds no rules about content; the domain module does.
#![warn(missing_docs)]

pub mod accounts;
pub mod approvals;
pub mod audit;
pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod email_changes;
pub mod event_streams;
pub mod factors;
pub mod grants;
pub mod imports;
pub mod keys;
pub mod mfa;
pub mod offices;
pub mod outbox;
pub mod profile;
pub mod pushed;
pub mod sessions;
pub mod steps;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;

/// A pool of connections to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    /// An embedded SQLite file (the all-in-one portal, development, demos).
    Sqlite(SqlitePool),
    /// PostgreSQL (production, several nodes).
    Postgres(PgPool),
}

/// Expands `$body` once for each pool type, with `$pool` bound to the pool.
#[macro_export]
#[doc(hidden)]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_db;

/// The unique constraints whose violation is a rule of SPEC §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// U3: user e-mail addresses are unique.
    UserEmail,
    /// O3: office e-mail addresses are unique.
    OfficeEmail,
    /// O1: advisor numbers are unique.
    AdvisorNumber,
    /// O3: a sub-office number is unique within its head office.
    OfficeNumber,
    /// U1: one main user per office.
    MainUser,
    /// Any other unique key (a client id, a token hash).
    Other(String),
}

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the change; nothing was written.
    #[error("conflict on {constraint:?}")]
    Conflict {
        /// Which constraint.
        constraint: Constraint,
    },
    /// A row that must exist does not.
    #[error("not found")]
    NotFound,
    /// A stored value could not be read back (a bad enum text, a damaged ciphertext).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("PORTAL_DATABASE_URL must start with sqlite:// or postgres:// (got {0})")]
    UnsupportedUrl(String),
    /// A change was committed, but the signal to other processes could not be written
    /// (the client stamp beside a SQLite file): running servers may serve the old one.
    #[error(
        "committed, but the change signal {path} could not be written: {error}; restart running servers"
    )]
    SignalFailed {
        /// The stamp file.
        path: String,
        /// Why.
        error: String,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error()
            && db.is_unique_violation()
        {
            let name = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            return Self::Conflict {
                constraint: classify(&name),
            };
        }
        if matches!(e, sqlx::Error::RowNotFound) {
            return Self::NotFound;
        }
        Self::Database(e)
    }
}

/// What a database failure means for whoever asked: the two conditions a person or a
/// client can be told about, because nothing was stored and the same request can be sent
/// again later. Every other failure stays an internal error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The database cannot be reached or is busy right now: PostgreSQL restarts, refuses
    /// connections or ended ours, no pooled connection was free within the acquire timeout,
    /// or another process held SQLite's write lock for longer than the busy timeout.
    Unavailable,
    /// The database's disk is full (SQLite `SQLITE_FULL`, PostgreSQL `53100`, `ENOSPC`):
    /// waiting alone does not help, someone has to make room.
    StorageFull,
}

impl StoreError {
    /// Whether this failure is an outage of the database rather than a fault of ours, and
    /// which. The transaction it happened in is rolled back as a whole; only a connection
    /// lost during the commit itself leaves open whether the commit arrived.
    pub fn outage(&self) -> Option<Outage> {
        match self {
            Self::Database(e) => sqlx_outage(e),
            _ => None,
        }
    }

    /// The database is unreachable or busy for now ([`Outage::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        self.outage() == Some(Outage::Unavailable)
    }

    /// The database's disk is full ([`Outage::StorageFull`]).
    pub fn is_storage_full(&self) -> bool {
        self.outage() == Some(Outage::StorageFull)
    }
}

/// The outage behind `error`, looking through its chain of sources: for the flows whose
/// own error type wraps a [`StoreError`] (or its `sqlx::Error`, when the wrapper is
/// `#[error(transparent)]`).
pub fn outage_in(error: &(dyn std::error::Error + 'static)) -> Option<Outage> {
    let mut next = Some(error);
    while let Some(e) = next {
        let found = if let Some(s) = e.downcast_ref::<StoreError>() {
            s.outage()
        } else if let Some(s) = e.downcast_ref::<sqlx::Error>() {
            sqlx_outage(s)
        } else if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_outage(io)
        } else {
            None
        };
        if found.is_some() {
            return found;
        }
        next = e.source();
    }
    None
}

fn sqlx_outage(e: &sqlx::Error) -> Option<Outage> {
    match e {
        // No connection within the pool's acquire timeout: PostgreSQL is down (sqlx
        // retries a refused connect until then) or every connection is busy.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Outage::Unavailable),
        sqlx::Error::Io(io) => io_outage(io),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                postgres_outage(&code)
            } else {
                sqlite_outage(code.parse().ok()?)
            }
        }
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs (appendix A of its manual).
fn postgres_outage(sqlstate: &str) -> Option<Outage> {
    match sqlstate {
        // 53100 disk_full.
        "53100" => Some(Outage::StorageFull),
        // 57P01 admin_shutdown (a fast shutdown or restart ends our sessions), 57P02
        // crash_shutdown, 57P03 cannot_connect_now (starting up or shutting down), 53300
        // too_many_connections.
        "57P01" | "57P02" | "57P03" | "53300" => Some(Outage::Unavailable),
        // Class 08: connection exceptions.
        s if s.starts_with("08") => Some(Outage::Unavailable),
        _ => None,
    }
}

/// SQLite result codes; sqlx reports the extended code, whose low byte is the primary
/// one (<https://www.sqlite.org/rescode.html>).
fn sqlite_outage(extended: i32) -> Option<Outage> {
    const SQLITE_BUSY: i32 = 5;
    const SQLITE_LOCKED: i32 = 6;
    const SQLITE_FULL: i32 = 13;
    match extended & 0xff {
        // The write lock stayed taken past the busy timeout (BUSY), or a table is locked
        // by another connection of this process (LOCKED).
        SQLITE_BUSY | SQLITE_LOCKED => Some(Outage::Unavailable),
        SQLITE_FULL => Some(Outage::StorageFull),
        _ => None,
    }
}

fn io_outage(e: &std::io::Error) -> Option<Outage> {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::StorageFull => Some(Outage::StorageFull),
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::BrokenPipe
        | K::UnexpectedEof
        | K::TimedOut
        | K::AddrNotAvailable
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown => Some(Outage::Unavailable),
        _ => None,
    }
}

/// Maps a PostgreSQL constraint name (`users_email_key`) or a SQLite message
/// (`UNIQUE constraint failed: users.email`) to the rule it guards.
fn classify(name: &str) -> Constraint {
    let n = name.to_ascii_lowercase();
    if n.contains("users_one_main_user") || n.contains("users.office_id") {
        Constraint::MainUser
    } else if n.contains("users_email") || n.contains("users.email") {
        Constraint::UserEmail
    } else if n.contains("advisor_number") {
        Constraint::AdvisorNumber
    } else if n.contains("offices_email") || n.contains("offices.email") {
        Constraint::OfficeEmail
    } else if n.contains("offices_number_per_head") || n.contains("offices.number") {
        Constraint::OfficeNumber
    } else {
        Constraint::Other(name.to_owned())
    }
}

impl Db {
    /// Connects to `url` (`sqlite://…` or `postgres://…`). A SQLite file is created when
    /// missing and runs in WAL mode with foreign keys on and a busy timeout, so the CLI
    /// and a running server can share it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            let scheme = url.split(':').next().unwrap_or("").to_owned();
            Err(StoreError::UnsupportedUrl(scheme))
        }
    }

    /// Applies the embedded migrations of this database's kind.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
            Self::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// `sqlite` or `postgres`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection (tests, shutdown).
    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

/// A point in time as every table stores it: UTC, whole seconds. SQLite keeps times as
/// RFC 3339 text, which compares correctly in SQL only when every value has the same
/// shape; whole seconds give that shape on both databases.
pub fn at(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_names_of_both_databases_map_to_rules() {
        for (name, want) in [
            ("users_email_key", Constraint::UserEmail),
            (
                "UNIQUE constraint failed: users.email",
                Constraint::UserEmail,
            ),
            ("users_one_main_user_per_office", Constraint::MainUser),
            (
                "UNIQUE constraint failed: users.office_id",
                Constraint::MainUser,
            ),
            ("offices_advisor_number_key", Constraint::AdvisorNumber),
            (
                "UNIQUE constraint failed: offices.advisor_number",
                Constraint::AdvisorNumber,
            ),
            ("offices_email_key", Constraint::OfficeEmail),
            (
                "UNIQUE constraint failed: offices.email",
                Constraint::OfficeEmail,
            ),
            ("offices_number_per_head", Constraint::OfficeNumber),
            (
                "UNIQUE constraint failed: offices.parent_id, offices.number",
                Constraint::OfficeNumber,
            ),
        ] {
            assert_eq!(classify(name), want, "{name}");
        }
    }

    #[test]
    fn outages_of_both_databases_are_told_apart_from_faults() {
        for (code, want) in [
            ("57P01", Some(Outage::Unavailable)),
            ("57P03", Some(Outage::Unavailable)),
            ("08006", Some(Outage::Unavailable)),
            ("53300", Some(Outage::Unavailable)),
            ("53100", Some(Outage::StorageFull)),
            ("23505", None),
            ("42P01", None),
        ] {
            assert_eq!(postgres_outage(code), want, "{code}");
        }
        // Primary and extended SQLite codes: BUSY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED,
        // FULL; a constraint (2067) and IOERR_READ (266) are faults, not outages.
        for (code, want) in [
            (5, Some(Outage::Unavailable)),
            (517, Some(Outage::Unavailable)),
            (773, Some(Outage::Unavailable)),
            (6, Some(Outage::Unavailable)),
            (13, Some(Outage::StorageFull)),
            (2067, None),
            (266, None),
        ] {
            assert_eq!(sqlite_outage(code), want, "{code}");
        }
        let timed_out = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(timed_out.is_unavailable());
        let refused = StoreError::from(sqlx::Error::Io(
            std::io::ErrorKind::ConnectionRefused.into(),
        ));
        assert!(refused.is_unavailable());
        let full = StoreError::from(sqlx::Error::Io(std::io::ErrorKind::StorageFull.into()));
        assert!(full.is_storage_full());
        assert_eq!(StoreError::NotFound.outage(), None);
        assert_eq!(StoreError::from(sqlx::Error::RowNotFound).outage(), None);
        assert_eq!(StoreError::Corrupt("x".into()).outage(), None);
    }

    #[test]
    fn an_outage_is_found_behind_a_wrapping_error() {
        #[derive(Debug, thiserror::Error)]
        enum Flow {
            #[error(transparent)]
            Store(#[from] StoreError),
            #[error("mail: {0}")]
            Mail(#[source] StoreError),
        }
        let transparent = Flow::from(StoreError::from(sqlx::Error::PoolTimedOut));
        assert_eq!(outage_in(&transparent), Some(Outage::Unavailable));
        let wrapped = Flow::Mail(StoreError::from(sqlx::Error::Io(
            std::io::ErrorKind::StorageFull.into(),
        )));
        assert_eq!(outage_in(&wrapped), Some(Outage::StorageFull));
        assert_eq!(outage_in(&Flow::from(StoreError::NotFound)), None);
    }
}
