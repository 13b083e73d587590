//! Tests of the test kit itself: the SMTP sink receives what lettre sends, a fresh database is
//! writable on both backends, and the macro's output runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use sqlx::{Executor as _, Row as _};
use testkit::{Backend, SmtpSink, TestDatabase, fresh_database};

fn mailbox(s: &str) -> Mailbox {
    s.parse().unwrap()
}

async fn send(sink: &SmtpSink, to: &str, subject: &str, body: &str) {
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .build();
    let message = Message::builder()
        .from(mailbox("Offerte Portaal <noreply@offerteportaal.test>"))
        .to(mailbox(to))
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .unwrap();
    mailer.send(message).await.unwrap();
}

#[tokio::test]
async fn smtp_sink_receives_what_lettre_sends() {
    let sink = SmtpSink::start();
    assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}", sink.port()));
    assert!(sink.messages().is_empty());

    send(
        &sink,
        "jan@kantoor.test",
        "Activeer uw account",
        "Beste Jan, één link.",
    )
    .await;
    send(
        &sink,
        "piet@kantoor.test",
        "Wachtwoord herstellen",
        "Beste Piet",
    )
    .await;

    let mail = sink
        .wait_for(|m| m.to == ["piet@kantoor.test"], Duration::from_secs(5))
        .await
        .expect("mail for piet arrives");
    assert_eq!(mail.from, "noreply@offerteportaal.test");
    assert!(
        mail.data.contains("Subject: Wachtwoord herstellen"),
        "{}",
        mail.data
    );

    let all = sink.messages();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].to, ["jan@kantoor.test"]);
    assert!(
        all[0].data.contains("Beste Jan, =C3=A9=C3=A9n link.")
            || all[0].data.contains("Beste Jan, één link."),
        "{}",
        all[0].data
    );
}

#[tokio::test]
async fn smtp_sink_wait_for_gives_up_after_timeout() {
    let sink = SmtpSink::start();
    let started = std::time::Instant::now();
    let found = sink.wait_for(|_| true, Duration::from_millis(100)).await;
    assert!(found.is_none());
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn free_port_can_be_bound() {
    let port = testkit::free_port();
    assert_ne!(port, 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}

#[tokio::test]
async fn fresh_sqlite_database_is_writable_and_removed_on_drop() {
    let db = fresh_database(Backend::Sqlite)
        .await
        .expect("sqlite is always there");
    assert_eq!(db.backend, Backend::Sqlite);
    assert!(
        db.url.starts_with("sqlite:///") && db.url.ends_with("/portal.db?mode=rwc"),
        "{}",
        db.url
    );
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    pool.execute("CREATE TABLE t (v TEXT NOT NULL); INSERT INTO t VALUES ('x')")
        .await
        .unwrap();
    let v: String = sqlx::query("SELECT v FROM t")
        .fetch_one(&pool)
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, "x");
    pool.close().await;

    let file = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc")
        .to_owned();
    assert!(std::path::Path::new(&file).exists());
    drop(db);
    assert!(!std::path::Path::new(&file).exists());
}

#[tokio::test]
async fn two_fresh_databases_are_distinct() {
    let a = fresh_database(Backend::Sqlite).await.unwrap();
    let b = fresh_database(Backend::Sqlite).await.unwrap();
    assert_ne!(a.url, b.url);
}

testkit::both_databases! {
    /// The contract-test shape: written once, run on SQLite and PostgreSQL.
    async fn fresh_database_is_empty_and_writable(db: &TestDatabase) -> Result<(), sqlx::Error> {
        let sql = "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
        let insert = "INSERT INTO t (id, v) VALUES ($1, $2)";
        let count = "SELECT COUNT(*) FROM t";
        let n: i64 = match db.backend {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&db.url).await?;
                pool.execute(sql).await?;
                sqlx::query(insert).bind(1_i64).bind("een").execute(&pool).await?;
                sqlx::query(count).fetch_one(&pool).await?.get(0)
            }
            Backend::Postgres => {
                assert!(db.url.contains("/test_"), "{}", db.url);
                let pool = sqlx::PgPool::connect(&db.url).await?;
                pool.execute(sql).await?;
                sqlx::query(insert).bind(1_i32).bind("een").execute(&pool).await?;
                sqlx::query(count).fetch_one(&pool).await?.get(0)
            }
        };
        assert_eq!(n, 1);
        Ok(())
    }

    /// A body returning `()` works too.
    async fn backend_matches_url(db: &TestDatabase) {
        assert!(db.url.starts_with(match db.backend {
            Backend::Sqlite => "sqlite://",
            Backend::Postgres => "postgres://",
        }));
    }
}

#[tokio::test]
async fn postgres_database_is_created_and_dropped_on_drop() {
    // Skips (loudly) without PostgreSQL, like the macro's halves.
    let Some(db) = fresh_database(Backend::Postgres).await else {
        return;
    };
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    assert!(name.starts_with("test_") && name.len() == 5 + 32, "{name}");
    let admin_url = std::env::var(testkit::POSTGRES_URL_VAR)
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let exists = "SELECT COUNT(*) FROM pg_database WHERE datname = $1";
    let before: i64 = sqlx::query_scalar(exists)
        .bind(&name)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(before, 1);

    // Still connected when dropped: the drop must not wait for this pool.
    let user = sqlx::PgPool::connect(&db.url).await.unwrap();
    user.execute("SELECT 1").await.unwrap();
    drop(db);
    let after: i64 = sqlx::query_scalar(exists)
        .bind(&name)
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(after, 0);
}
