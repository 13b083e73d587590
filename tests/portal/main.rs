//! Whole-portal tests: the real `portal` binary as a process, driven over HTTP and through
//! its command line, on SQLite and on PostgreSQL, with mail through a real SMTP server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_api;
mod admin_offices;
mod admin_users;
mod attacks;
mod audit;
mod bad_input;
mod browser_2fa;
mod browser_beheer;
mod browser_products;
mod cli;
mod console;
mod dpop;
mod faults_db;
mod first_path;
mod four_eyes;
mod gebruikers;
mod headers;
mod import;
mod interop;
mod lifecycle;
mod logout;
mod mail_outage;
mod mfa_policy;
mod nodes;
mod oidc;
mod only;
mod products;
mod products_session;
mod profiel;
mod registry;
mod rust_client;
mod shutdown;
mod signin;
mod step_up;
mod subkantoren;
mod support;
mod tokens;
mod twofactor;
