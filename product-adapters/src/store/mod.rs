//! The product portals' own data on SQLite or PostgreSQL: quotes, the applications made from
//! them and the outbox of product mail (`migrations/products/`).
//!
//! The store is shared by every adapter (a quote row names its product), so a new product
//! needs no table of its own: what is particular to it lives in the quote's `request` and
//! `result` JSON. It has its own migration bookkeeping (`_product_migrations`), so it can
//! live in the idp's database (the all-in-one portal) or in one of its own
//! (`portal serve --only dip`). It holds no rules about who may see what beyond the scope
//! each query is given; those are in [`crate::scope`]. One public function is one
//! transaction: a quote and its mail commit together or not at all.

pub mod outbox;
pub mod quotes;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use time::OffsetDateTime;

/// The table that records which product migrations ran, apart from the idp's.
const MIGRATIONS_TABLE: &str = "_product_migrations";

/// A pool of connections to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum ProductDb {
    /// An embedded SQLite file.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Expands `$body` once for each pool type, with `$pool` bound to the pool: one SQL text,
/// compiled for both databases and tested on both.
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::ProductDb::Sqlite($pool) => $body,
            $crate::store::ProductDb::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_db;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key refused the change (an application already exists for the quote; two
    /// quotes drew the same number at once); nothing was written.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("the products' database URL must start with sqlite:// or postgres:// (got {0})")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error()
            && db.is_unique_violation()
        {
            return Self::Conflict(db.message().to_owned());
        }
        Self::Database(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}

impl ProductDb {
    /// Connects to `url` (`sqlite://…` or `postgres://…`); a SQLite file is created when
    /// missing, in WAL mode, so it can be shared with the idp in one process.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Ok(Self::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(PgConnectOptions::from_str(url)?)
                .await?;
            Ok(Self::Postgres(pool))
        } else {
            let scheme = url.split(':').next().unwrap_or("").to_owned();
            Err(StoreError::UnsupportedUrl(scheme))
        }
    }

    /// Applies the embedded product migrations, recorded in their own table.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(pool) => {
                let mut m = sqlx::migrate!("../migrations/products/sqlite");
                m.dangerous_set_table_name(MIGRATIONS_TABLE);
                m.run(pool).await?;
            }
            Self::Postgres(pool) => {
                let mut m = sqlx::migrate!("../migrations/products/postgres");
                m.dangerous_set_table_name(MIGRATIONS_TABLE);
                m.run(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

/// A point in time as every table stores it: UTC, whole seconds (SQLite compares its RFC
/// 3339 text correctly only when every value has the same shape).
pub fn at(t: OffsetDateTime) -> OffsetDateTime {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.replace_nanosecond(0).unwrap_or(utc)
}
