//! The queries behind the Gebruikers list and the DIL/DIP dashboard on the filled
//! database: their plans (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN (ANALYZE, BUFFERS)` on
//! PostgreSQL) and their times over a few hundred runs through the stores' own functions
//! (`idp::store::users::list`, `product_adapters::store::quotes::{list, offices}`), the
//! way the admin API and the dashboard page call them.
//!
//! The Gebruikers list's plans are asked for the store's own SQL texts
//! (`idp::store::users::{LIST_TREE, LIST_SEARCH, LIST_OFFICES_WALK}`). The dashboard's
//! texts are made by macros inside `product-adapters/src/store/quotes.rs` and are copied
//! below: keep those in step. The times come from the real functions.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use idp::domain::manage::Scope as UserScope;
use idp::store::Db;
use idp::store::users::{self, Filter, Page};
use product_adapters::scope::Scope as QuoteScope;
use product_adapters::store::ProductDb;
use product_adapters::store::quotes::{self, ListFilter};
use product_registry::Registry;
use sqlx::AssertSqlSafe;
use uuid::Uuid;

/// `product_adapters::store::quotes::list` (`list_sql!` with its `cond!`s; up to eight
/// products).
fn quotes_list_sql(tree: bool, number: bool, office: bool) -> String {
    let scope = if tree {
        "q.head_office_id = $1"
    } else {
        "q.office_id = $1"
    };
    let number = if number {
        "q.product = $4 AND q.seq = $5"
    } else {
        "($4 IS NULL OR (q.product = $4 AND q.seq = $5))"
    };
    let office = if office {
        "q.office_id = $7"
    } else {
        "($7 IS NULL OR q.office_id = $7)"
    };
    format!(
        "SELECT q.id, q.product, q.variant, q.seq, q.office_id, q.head_office_id, q.office_kind,
            q.office_number, q.office_name, q.office_address, q.office_postcode, q.office_city,
            q.office_email, q.head_office_email, q.user_id, q.user_name, q.user_email, q.user_role,
            q.client_name, q.tariff_version, q.request, q.result, q.amount_cents, q.created_at,
            a.id AS a_id, a.applicant_name AS a_name, a.applicant_address AS a_address,
            a.applicant_postcode AS a_postcode, a.applicant_city AS a_city, a.applicant_iban AS a_iban,
            a.result AS a_result, a.user_name AS a_user_name, a.created_at AS a_created_at
       FROM quotes q LEFT JOIN applications a ON a.quote_id = q.id WHERE {scope} AND q.product IN ($2, $10, $11, $12, $13, $14, $15, $16) AND ($3 IS NULL OR (a.id IS NOT NULL) = $3) AND {number} AND ($6 IS NULL OR LOWER(q.client_name) LIKE $6) AND {office} ORDER BY q.created_at DESC, q.id DESC LIMIT $8 OFFSET $9"
    )
}

/// `product_adapters::store::quotes::offices` (`offices_sql!`).
fn quote_offices_sql(tree: bool) -> String {
    let scope = if tree {
        "q.head_office_id = $1"
    } else {
        "q.office_id = $1"
    };
    format!(
        "SELECT DISTINCT q.office_id, q.office_name, q.office_number FROM quotes q WHERE {scope} AND q.product IN ($2, $3, $4, $5, $6, $7, $8, $9) ORDER BY q.office_name, q.office_number"
    )
}

/// Rows on a dashboard page (`product_adapters::pages::DASHBOARD_PAGE`).
const DASHBOARD_PAGE: u32 = 25;
/// Rows on a Gebruikers page (`admin_ui::users::PAGE_SIZE`).
const USERS_PAGE: u32 = 50;

/// Whom the checks read as.
#[derive(Debug, Clone)]
pub struct Subjects {
    /// The head office with the most users in its tree.
    pub big_head: Uuid,
    /// Its users (whole tree).
    pub big_head_users: i64,
    /// Its sub-office with the fewest users (the office filter's worst case).
    pub small_sub_of_big_head: Option<Uuid>,
    /// The sub-office with the most users.
    pub big_sub: Uuid,
    /// Its users.
    pub big_sub_users: i64,
}

/// A bound value of a plan's query.
#[derive(Debug, Clone)]
enum B {
    Uuid(Option<Uuid>),
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                B::Uuid(v) => q.bind(*v),
                B::Text(v) => q.bind(v.clone()),
                B::Int(v) => q.bind(*v),
                B::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// The plan of `sql` with `binds`, one line per step.
async fn plan(db: &Db, sql: &str, binds: &[B]) -> Result<Vec<String>> {
    Ok(match db {
        Db::Sqlite(pool) => {
            let q = bind_all!(
                sqlx::query_as::<_, (i64, i64, i64, String)>(AssertSqlSafe(format!(
                    "EXPLAIN QUERY PLAN {sql}"
                ))),
                binds
            );
            let rows = q.fetch_all(pool).await?;
            // Indent by depth: each row names its parent's id.
            let mut depth: std::collections::HashMap<i64, usize> = Default::default();
            rows.into_iter()
                .map(|(id, parent, _, detail)| {
                    let d = depth.get(&parent).map_or(0, |d| d + 1);
                    depth.insert(id, d);
                    format!("{}{detail}", "  ".repeat(d))
                })
                .collect()
        }
        Db::Postgres(pool) => {
            let q = bind_all!(
                sqlx::query_scalar::<_, String>(AssertSqlSafe(format!(
                    "EXPLAIN (ANALYZE, BUFFERS) {sql}"
                ))),
                binds
            );
            q.fetch_all(pool).await?
        }
    })
}

/// The same for the products' database.
async fn plan_products(db: &ProductDb, sql: &str, binds: &[B]) -> Result<Vec<String>> {
    let as_idp = match db {
        ProductDb::Sqlite(p) => Db::Sqlite(p.clone()),
        ProductDb::Postgres(p) => Db::Postgres(p.clone()),
    };
    plan(&as_idp, sql, binds).await
}

/// p50, p99 and max of `runs` calls of `f`, after a few unmeasured ones.
async fn time<F, Fut>(runs: usize, mut f: F) -> Result<(Duration, Duration, Duration, usize)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize>>,
{
    let mut rows = 0;
    for _ in 0..10 {
        rows = f().await?;
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        rows = f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    let at = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i]
    };
    Ok((
        at(0.50),
        at(0.99),
        times.last().copied().unwrap_or_default(),
        rows,
    ))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Finds the subjects in a filled database.
pub async fn subjects(db: &Db) -> Result<Subjects> {
    let head_sql = "SELECT COALESCE(o.parent_id, o.id) AS head, COUNT(*) AS n
        FROM users u JOIN offices o ON o.id = u.office_id
        GROUP BY COALESCE(o.parent_id, o.id) ORDER BY n DESC, head LIMIT 1";
    let sub_sql = "SELECT u.office_id, COUNT(*) AS n
        FROM users u JOIN offices o ON o.id = u.office_id WHERE o.kind = 'sub_office'
        GROUP BY u.office_id ORDER BY n DESC, u.office_id LIMIT 1";
    let small_sql = "SELECT o.id FROM offices o LEFT JOIN users u ON u.office_id = o.id
        WHERE o.parent_id = $1 GROUP BY o.id ORDER BY COUNT(u.id), o.id LIMIT 1";
    let (big_head, big_head_users, big_sub, big_sub_users, small) = match db {
        Db::Sqlite(p) => {
            let (h, hn): (Uuid, i64) = sqlx::query_as(head_sql).fetch_one(p).await?;
            let (s, sn): (Uuid, i64) = sqlx::query_as(sub_sql).fetch_one(p).await?;
            let small: Option<Uuid> = sqlx::query_scalar(small_sql)
                .bind(h)
                .fetch_optional(p)
                .await?;
            (h, hn, s, sn, small)
        }
        Db::Postgres(p) => {
            let (h, hn): (Uuid, i64) = sqlx::query_as(head_sql).fetch_one(p).await?;
            let (s, sn): (Uuid, i64) = sqlx::query_as(sub_sql).fetch_one(p).await?;
            let small: Option<Uuid> = sqlx::query_scalar(small_sql)
                .bind(h)
                .fetch_optional(p)
                .await?;
            (h, hn, s, sn, small)
        }
    };
    Ok(Subjects {
        big_head,
        big_head_users,
        small_sub_of_big_head: small,
        big_sub,
        big_sub_users,
    })
}

/// Prints the plans and the times.
pub async fn run(db: &Db, products: &ProductDb, runs: usize, show_plans: bool) -> Result<()> {
    let registry = Registry::builtin().context("the built-in product registry")?;
    let s = subjects(db).await.context("finding the subjects")?;
    eprintln!(
        "checks on {}: head office {} ({} users in its tree), sub-office {} ({} users), {runs} runs each",
        db.kind(),
        s.big_head,
        s.big_head_users,
        s.big_sub,
        s.big_sub_users
    );

    // The Gebruikers list: scope, page.
    let user_cases: Vec<(&str, UserScope, Option<String>, u32)> = vec![
        (
            "gebruikers: insurer admin, page 1",
            UserScope::Everyone,
            None,
            1,
        ),
        (
            "gebruikers: insurer admin, page 1000",
            UserScope::Everyone,
            None,
            1000,
        ),
        (
            "gebruikers: insurer admin, search 'jansen'",
            UserScope::Everyone,
            Some("jansen".into()),
            1,
        ),
        (
            "gebruikers: head-office main user, page 1",
            UserScope::OfficeTree(s.big_head),
            None,
            1,
        ),
        (
            "gebruikers: sub-office main user, page 1",
            UserScope::OfficeTree(s.big_sub),
            None,
            1,
        ),
    ];
    let mut table = Vec::new();
    for (name, scope, q, page) in user_cases {
        let page = Page::new(page, USERS_PAGE).context("page")?;
        let filter = Filter {
            office_id: None,
            q: q.clone(),
        };
        if show_plans {
            let pattern = q.as_deref().map(|t| format!("%{t}%"));
            let limit = B::Int(Some(i64::from(page.limit) + 1));
            let offset = B::Int(Some((i64::from(page.number) - 1) * i64::from(page.limit)));
            let (sql, binds) = match (scope, pattern) {
                (UserScope::OfficeTree(o), p) => (
                    users::LIST_TREE.to_owned(),
                    vec![B::Uuid(Some(o)), B::Uuid(None), B::Text(p), limit, offset],
                ),
                (_, Some(p)) => (
                    users::LIST_SEARCH.to_owned(),
                    vec![B::Text(Some(p)), limit, offset],
                ),
                (_, None) => (users::LIST_OFFICES_WALK.to_owned(), vec![limit, offset]),
            };
            print_plan(name, &plan(db, &sql, &binds).await?);
        }
        let t = time(runs, || async {
            let p = idp::store::users::list(db, scope, &filter, page, &registry).await?;
            Ok(p.rows.len())
        })
        .await?;
        table.push((name.to_owned(), t));
    }

    // The DIL/DIP dashboard: what `pages::dashboard` asks for.
    let dip_dil = vec!["DIP".to_owned(), "DIL".to_owned()];
    let tree = QuoteScope::Tree(s.big_head);
    let sub = QuoteScope::Office(s.big_sub);
    let base = ListFilter {
        products: dip_dil.clone(),
        applied: None,
        search: None,
        office_id: None,
        page: 1,
        limit: DASHBOARD_PAGE,
    };
    let mut quote_cases: Vec<(&str, QuoteScope, ListFilter)> = vec![
        ("dashboard: head office, page 1", tree.clone(), base.clone()),
        ("dashboard: sub-office, page 1", sub.clone(), base.clone()),
        (
            "dashboard: head office, aanvragen",
            tree.clone(),
            ListFilter {
                applied: Some(true),
                ..base.clone()
            },
        ),
        (
            "dashboard: head office, search 'jansen'",
            tree.clone(),
            ListFilter {
                search: Some("jansen".into()),
                ..base.clone()
            },
        ),
        (
            "dashboard: head office, page 20",
            tree.clone(),
            ListFilter {
                page: 20,
                ..base.clone()
            },
        ),
    ];
    if let Some(small) = s.small_sub_of_big_head {
        quote_cases.push((
            "dashboard: head office, kantoor = its smallest sub-office",
            tree.clone(),
            ListFilter {
                office_id: Some(small),
                ..base.clone()
            },
        ));
    }
    for (name, scope, filter) in quote_cases {
        if show_plans {
            let (t, o) = scope.binds();
            let limit = i64::from(filter.limit);
            let name_pattern = filter
                .search
                .as_deref()
                .map(|s| format!("%{}%", s.to_lowercase()));
            let mut binds = vec![
                B::Uuid(t.or(o)),
                B::Text(filter.products.first().cloned()),
                B::Bool(filter.applied),
                B::Text(None),
                B::Int(None),
                B::Text(name_pattern),
                B::Uuid(filter.office_id),
                B::Int(Some(limit + 1)),
                B::Int(Some(i64::from(filter.page.max(1) - 1) * limit)),
            ];
            binds.extend((1..8).map(|i| B::Text(filter.products.get(i).cloned())));
            let sql = quotes_list_sql(t.is_some(), false, filter.office_id.is_some());
            print_plan(name, &plan_products(products, &sql, &binds).await?);
        }
        let t = time(runs, || async {
            let p = quotes::list(products, &filter, &scope).await?;
            Ok(p.quotes.len())
        })
        .await?;
        table.push((name.to_owned(), t));
    }
    for (name, scope) in [
        ("dashboard: head office, its offices (kantoor filter)", tree),
        ("dashboard: sub-office, its offices", sub),
    ] {
        if show_plans {
            let (t, o) = scope.binds();
            let mut binds = vec![B::Uuid(t.or(o))];
            binds.extend((0..8).map(|i| B::Text(dip_dil.get(i).cloned())));
            let sql = quote_offices_sql(t.is_some());
            print_plan(name, &plan_products(products, &sql, &binds).await?);
        }
        let t = time(runs, || async {
            Ok(quotes::offices(products, &dip_dil, &scope).await?.len())
        })
        .await?;
        table.push((name.to_owned(), t));
    }

    println!();
    println!(
        "| query ({}) | rows | p50 ms | p99 ms | max ms |",
        db.kind()
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, (p50, p99, max, rows)) in table {
        println!(
            "| {name} | {rows} | {} | {} | {} |",
            ms(p50),
            ms(p99),
            ms(max)
        );
    }
    Ok(())
}

fn print_plan(name: &str, lines: &[String]) {
    eprintln!("\n-- plan: {name}");
    for l in lines {
        eprintln!("   {l}");
    }
}
