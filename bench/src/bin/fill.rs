//! `fill`: the data generator of issue 8. Fills an empty portal database with a realistic
//! broker market and checks the queries that must stay fast on it.
//!
//! ```text
//! fill --database-url sqlite://data/bench.db --password 'Bench-wachtwoord-2026!' --check
//! fill --database-url postgres://postgres:postgres@127.0.0.1:5432/bench_fill \
//!      --password 'Bench-wachtwoord-2026!' --users 100000 --offices 10000 --quotes 1000000
//! fill --database-url … --check-only          # plans and times on a filled database
//! ```
//!
//! **Migrations** run first, as `portal migrate` runs them (the idp's, then the product
//! portals' recorded in `_product_migrations`); the products' database defaults to the
//! idp's (the all-in-one portal), as in the portal's settings.
//!
//! **What is made** (defaults): 10,000 offices, a quarter of them head offices (advisor
//! numbers `10000001`…); 60 % of the head offices have sub-offices (numbers `S001`…,
//! Zipf-sized: the biggest chain has ~170 sub-offices and ~1,400 users), each sub-office holding DIP
//! and/or DIL within its head office's appointment (O4: never ORV). Every office has one
//! main user whose login is also the office e-mail; 100,000 users in all, active and
//! activated, every one with the same password (one argon2id hash made once by the idp's
//! own `Hasher` and stored for everyone). Employees hold all, one or none of their office's
//! rights. One insurer admin. 1,000 OIDC clients for `client_credentials`. 1,000,000
//! quotes over the last two years, in time order, by users who hold the product (DIP
//! 45 %, DIL 35 %, ORV 20 % where held), each with a request and result priced by the
//! `pricing` engine; 18 % have an application. No audit entries or mails are written.
//!
//! **Logins**: user *N* (1 ≤ N ≤ `--users`) is `user{N}@bench.example`; users are
//! numbered office by office (each head office, then its sub-offices), the main user of
//! an office first. The insurer admin is `admin@bench.example`. A head office's main user
//! may also sign in with the advisor number. All with `--password`.
//! **Clients**: `bench-0001` … `bench-{clients}` with secret
//! `bench-secret-{NNNN}-0123456789abcdefghijklmn` (the same four digits), grant type
//! `client_credentials`, stored as the idp stores them (SHA-256 of the secret).
//!
//! The summary (stdout, and `--summary FILE` as JSON) names the biggest head office and
//! sub-office with their main users' and an employee's logins.
//!
//! **Idempotence and safety**: a database that holds any user, office, client or quote
//! is refused (fill writes a known password and predictable client secrets); fill a
//! fresh one (delete the SQLite file, or DROP and CREATE the PostgreSQL
//! database). On SQLite the rows are committed every 100,000 rows with `synchronous = OFF`
//! on the filling connection, so an interrupted fill leaves part of the data: start again
//! from an empty file. On PostgreSQL each database is filled in one transaction (COPY)
//! and `VACUUM (ANALYZE)`d afterwards; SQLite is not analysed (the portal never does).
//!
//! **Checks** (`--check`, `--check-only`): the plans and p50/p99 of the Gebruikers list
//! and the DIL/DIP dashboard queries, through the stores' own functions (see
//! `bench/src/fill/check.rs`).

#[path = "../fill/mod.rs"]
mod fill;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Fills a portal database with offices, users, clients and quotes for the benchmarks.
#[derive(Debug, Parser)]
#[command(name = "fill", version)]
struct Args {
    /// The idp's database: sqlite://FILE or postgres://…
    #[arg(long, env = "PORTAL_DATABASE_URL")]
    database_url: String,
    /// The product portals' database; the idp's when absent (the all-in-one portal).
    #[arg(long, env = "PORTAL_PRODUCTS_DATABASE_URL")]
    products_database_url: Option<String>,
    /// Users in offices (main users and employees; the insurer admin comes on top).
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// Offices, head and sub.
    #[arg(long, default_value_t = 10_000)]
    offices: usize,
    /// Of which head offices; a quarter of --offices when absent.
    #[arg(long)]
    head_offices: Option<usize>,
    /// Quotes.
    #[arg(long, default_value_t = 1_000_000)]
    quotes: usize,
    /// OIDC clients for client_credentials.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Every user's password (required unless --check-only).
    #[arg(long, env = "BENCH_PASSWORD", required_unless_present = "check_only")]
    password: Option<String>,
    /// The seed of every random choice: the same seed, the same data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// After filling, print the plans and times of the Gebruikers list and dashboard queries.
    #[arg(long)]
    check: bool,
    /// Only run the checks, on an already filled database.
    #[arg(long)]
    check_only: bool,
    /// Timed runs per checked query.
    #[arg(long, default_value_t = 300)]
    runs: usize,
    /// Leave the plans out of the checks' output (times only).
    #[arg(long)]
    no_plans: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(a: Args) -> anyhow::Result<()> {
    let products_url = a
        .products_database_url
        .clone()
        .unwrap_or_else(|| a.database_url.clone());
    if !a.check_only {
        let settings = fill::Settings {
            database_url: a.database_url.clone(),
            products_database_url: products_url.clone(),
            sizes: fill::model::Sizes {
                users: a.users,
                offices: a.offices,
                head_offices: a.head_offices.unwrap_or((a.offices / 4).max(1)),
                quotes: a.quotes,
                clients: a.clients,
            },
            password: a.password.clone().unwrap_or_default(),
            seed: a.seed,
            summary: a.summary.clone(),
        };
        fill::fill(&settings).await?;
    }
    if a.check || a.check_only {
        let (db, products) = fill::migrate(&a.database_url, &products_url).await?;
        fill::check::run(&db, &products, a.runs.max(1), !a.no_plans).await?;
        db.close().await;
        products.close().await;
    }
    Ok(())
}
