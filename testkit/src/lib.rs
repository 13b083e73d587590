//! Test support shared by every crate of the workspace: a fresh database per test on SQLite or
//! PostgreSQL ([`fresh_database`], [`both_databases!`]), an in-process SMTP server that keeps what
//! it receives ([`SmtpSink`]) and [`free_port`].
//!
//! It owns nothing of the product: it must not depend on `idp` or any other workspace crate
//! (they dev-depend on it), so it hands out URLs and ports, and each test builds its own store or
//! app from them.
//!
//! PostgreSQL is found through `PORTAL_TEST_POSTGRES_URL` (default
//! `postgres://postgres:postgres@127.0.0.1:5432/postgres`). When it cannot be reached a test skips
//! its PostgreSQL half with a loud `SKIPPED` line on stderr, unless `CI=true`, where it fails.

// This is test-support code: a failure to set up a fixture (no temp dir, no socket) must fail the
// test that asked for it, loudly and at once, so panicking is the right behaviour here.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]
#![warn(missing_docs)]

mod database;
mod port;
mod smtp_sink;

pub use database::{
    Backend, POSTGRES_URL_VAR, TestDatabase, TestOutcome, fresh_database, fresh_database_named,
};
pub use port::free_port;
pub use smtp_sink::{ReceivedMail, SmtpSink};

/// Runs a test future to completion on a fresh current-thread runtime, exactly as
/// `#[tokio::test]` would. Used by [`both_databases!`] so that calling crates need no `tokio`
/// macros of their own.
#[doc(hidden)]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("testkit: cannot build a tokio runtime")
        .block_on(future)
}
