//! Bulk writing of rows: `COPY … FROM STDIN` on PostgreSQL, multi-row `INSERT`s in large
//! transactions on SQLite (with `synchronous = OFF` on this connection only).
//!
//! Values go to SQLite through sqlx's own encoders, so they are stored exactly as the
//! portal's queries bind them (UUIDs as 16-byte blobs, times as RFC 3339 text). On
//! PostgreSQL the COPY text format carries the same values as text.

use std::str::FromStr;
use std::time::Instant;

use anyhow::{Context as _, Result};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, SqliteConnection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

/// One column value.
#[derive(Debug, Clone)]
pub enum V {
    /// A UUID.
    Uuid(Uuid),
    /// Text.
    Text(String),
    /// Shared text (the JSON of a priced request or result).
    Shared(std::sync::Arc<str>),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A point in time.
    Time(OffsetDateTime),
    /// Bytes.
    Bytes(Vec<u8>),
    /// SQL NULL in a UUID column.
    NullUuid,
    /// SQL NULL in a text column.
    NullText,
}

/// A table and the columns written, in the order of each row's values.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Name.
    pub name: &'static str,
    /// Columns.
    pub columns: &'static [&'static str],
}

/// A connection of either kind, opened for filling.
pub enum Conn {
    /// SQLite.
    Sqlite(SqliteConnection),
    /// PostgreSQL.
    Pg(PgConnection),
}

/// Rows per SQLite transaction.
const SQLITE_COMMIT_EVERY: usize = 100_000;
/// Bytes per COPY message.
const COPY_CHUNK: usize = 1 << 20;

impl Conn {
    /// Opens one connection to `url` for bulk writing.
    pub async fn open(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Off)
                .foreign_keys(true)
                .pragma("cache_size", "-262144")
                .pragma("temp_store", "memory");
            Ok(Self::Sqlite(
                SqliteConnection::connect_with(&options).await?,
            ))
        } else {
            let mut c = PgConnection::connect_with(&PgConnectOptions::from_str(url)?).await?;
            sqlx::raw_sql("SET synchronous_commit = off")
                .execute(&mut c)
                .await?;
            Ok(Self::Pg(c))
        }
    }

    /// Runs `sql` (no parameters, no rows).
    pub async fn exec(&mut self, sql: &'static str) -> Result<()> {
        match self {
            Self::Sqlite(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
            Self::Pg(c) => {
                sqlx::raw_sql(sql).execute(c).await?;
            }
        }
        Ok(())
    }

    /// Whether `sql` (one `SELECT EXISTS (…)` or a count) answers non-zero.
    pub async fn any(&mut self, sql: &'static str) -> Result<bool> {
        let n: i64 = match self {
            Self::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await?,
            Self::Pg(c) => {
                let b: bool = sqlx::query_scalar(sql).fetch_one(c).await?;
                i64::from(b)
            }
        };
        Ok(n != 0)
    }

    /// Writes every row of `rows` into `table` within the caller's transaction (PostgreSQL) or
    /// in transactions of [`SQLITE_COMMIT_EVERY`] rows (SQLite), reporting progress on stderr.
    pub async fn write(
        &mut self,
        table: Table,
        rows: impl Iterator<Item = Vec<V>>,
        expected: usize,
    ) -> Result<usize> {
        let started = Instant::now();
        let mut progress = Progress::new(table.name, expected, started);
        let n = match self {
            Self::Sqlite(c) => write_sqlite(c, table, rows, &mut progress).await,
            Self::Pg(c) => write_pg(c, table, rows, &mut progress).await,
        }
        .with_context(|| format!("writing {}", table.name))?;
        progress.done(n);
        Ok(n)
    }
}

/// Progress lines on stderr, about every tenth of the way.
struct Progress {
    table: &'static str,
    expected: usize,
    next: usize,
    started: Instant,
}

impl Progress {
    fn new(table: &'static str, expected: usize, started: Instant) -> Self {
        Self {
            table,
            expected,
            next: (expected / 10).max(1),
            started,
        }
    }

    fn tick(&mut self, n: usize) {
        if n >= self.next && self.expected >= 50_000 {
            eprintln!(
                "  {}: {n} / {} ({:.1} s)",
                self.table,
                self.expected,
                self.started.elapsed().as_secs_f64()
            );
            self.next += (self.expected / 10).max(1);
        }
    }

    fn done(&self, n: usize) {
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "  {}: {n} rows in {secs:.1} s ({:.0} rows/s)",
            self.table,
            n as f64 / secs.max(1e-9)
        );
    }
}

async fn write_sqlite(
    c: &mut SqliteConnection,
    table: Table,
    rows: impl Iterator<Item = Vec<V>>,
    progress: &mut Progress,
) -> Result<usize> {
    // SQLite allows 32,766 parameters per statement; stay well below.
    let per_batch = (20_000 / table.columns.len()).clamp(1, 1000);
    let sql_for = |n: usize| {
        let one = format!("({})", vec!["?"; table.columns.len()].join(","));
        format!(
            "INSERT INTO {} ({}) VALUES {}",
            table.name,
            table.columns.join(", "),
            vec![one; n].join(",")
        )
    };
    let full = sql_for(per_batch);
    let mut batch: Vec<Vec<V>> = Vec::with_capacity(per_batch);
    let mut written = 0usize;
    let mut in_tx = 0usize;
    sqlx::raw_sql("BEGIN").execute(&mut *c).await?;
    for row in rows {
        batch.push(row);
        if batch.len() == per_batch {
            insert_sqlite(c, &full, &mut batch).await?;
            written += per_batch;
            in_tx += per_batch;
            progress.tick(written);
            if in_tx >= SQLITE_COMMIT_EVERY {
                sqlx::raw_sql("COMMIT; BEGIN").execute(&mut *c).await?;
                in_tx = 0;
            }
        }
    }
    if !batch.is_empty() {
        let n = batch.len();
        insert_sqlite(c, &sql_for(n), &mut batch).await?;
        written += n;
    }
    sqlx::raw_sql("COMMIT").execute(&mut *c).await?;
    Ok(written)
}

async fn insert_sqlite(c: &mut SqliteConnection, sql: &str, batch: &mut Vec<Vec<V>>) -> Result<()> {
    let mut q = sqlx::query(AssertSqlSafe(sql.to_owned()));
    for row in batch.drain(..) {
        for v in row {
            q = match v {
                V::Uuid(u) => q.bind(u),
                V::Text(s) => q.bind(s),
                V::Shared(s) => q.bind(s.to_string()),
                V::Int(i) => q.bind(i),
                V::Bool(b) => q.bind(b),
                V::Time(t) => q.bind(t),
                V::Bytes(b) => q.bind(b),
                V::NullUuid => q.bind(None::<Uuid>),
                V::NullText => q.bind(None::<String>),
            };
        }
    }
    q.execute(&mut *c).await?;
    Ok(())
}

async fn write_pg(
    c: &mut PgConnection,
    table: Table,
    rows: impl Iterator<Item = Vec<V>>,
    progress: &mut Progress,
) -> Result<usize> {
    let statement = format!(
        "COPY {} ({}) FROM STDIN",
        table.name,
        table.columns.join(", ")
    );
    let mut copy = c.copy_in_raw(&statement).await?;
    let mut buf = String::with_capacity(COPY_CHUNK + 64 * 1024);
    let mut written = 0usize;
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                buf.push('\t');
            }
            copy_value(&mut buf, v)?;
        }
        buf.push('\n');
        written += 1;
        if buf.len() >= COPY_CHUNK {
            copy.send(std::mem::take(&mut buf).into_bytes()).await?;
            buf.reserve(COPY_CHUNK + 64 * 1024);
            progress.tick(written);
        }
    }
    if !buf.is_empty() {
        copy.send(buf.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(written)
}

/// One value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage
/// return escaped.
fn copy_value(buf: &mut String, v: &V) -> Result<()> {
    match v {
        V::Uuid(u) => buf.push_str(&u.hyphenated().to_string()),
        V::Text(s) => copy_text(buf, s),
        V::Shared(s) => copy_text(buf, s),
        V::Int(i) => buf.push_str(&i.to_string()),
        V::Bool(b) => buf.push(if *b { 't' } else { 'f' }),
        V::Time(t) => buf.push_str(&t.format(&Rfc3339)?),
        V::Bytes(b) => {
            buf.push_str("\\\\x");
            for byte in b {
                buf.push_str(&format!("{byte:02x}"));
            }
        }
        V::NullUuid | V::NullText => buf.push_str("\\N"),
    }
    Ok(())
}

fn copy_text(buf: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let mut b = String::new();
        copy_text(&mut b, "a\\b\tc\nd\re\"f");
        assert_eq!(b, "a\\\\b\\tc\\nd\\re\"f");
        let mut b = String::new();
        let _ = copy_value(&mut b, &V::Bytes(vec![0, 255]));
        assert_eq!(b, "\\\\x00ff");
    }
}
