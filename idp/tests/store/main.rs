//! The identity provider's storage contract tests (STYLE §8, layer 2). Each behaviour is
//! written once and runs on SQLite and on PostgreSQL, each time on a fresh database
//! (`testkit::both_databases!`), so one SQL text is checked on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod audit;
mod client_cache;
mod codes;
mod event_streams;
mod factors;
mod imports;
mod keys;
mod outbox;
mod pushed;
mod rights;
mod sessions;
mod steps;
mod support;
mod text_fields;
mod tokens;
mod users;
