//! The data generator's parts: the plan of offices and users ([`model`]), priced quotes
//! ([`quotes`]), bulk writing ([`sink`]) and the query checks ([`check`]).

pub mod check;
pub mod model;
pub mod names;
pub mod quotes;
pub mod rng;
pub mod sink;

use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use idp::hasher::{Hasher, Verdict};
use idp::oidc_clients::{ClientRequest, prepare};
use idp::store::Db;
use product_adapters::store::ProductDb;
use secrecy::SecretString;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use model::{Plan, Sizes, admin_login, rights_text};
use quotes::{QuoteStream, Templates, applicant_details};
use rng::Rng;
use sink::{Conn, Table, V};

/// What to fill and where.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The idp's database.
    pub database_url: String,
    /// The product portals' database.
    pub products_database_url: String,
    /// How much.
    pub sizes: Sizes,
    /// Every user's password.
    pub password: String,
    /// The seed of every random choice.
    pub seed: u64,
    /// Where to write the summary as JSON, if anywhere.
    pub summary: Option<std::path::PathBuf>,
}

/// The client id of bench client `n` (1-based).
pub fn client_id(n: usize) -> String {
    format!("bench-{n:04}")
}

/// The secret of bench client `n`.
pub fn client_secret(n: usize) -> String {
    format!("bench-secret-{n:04}-0123456789abcdefghijklmn")
}

const OFFICES: Table = Table {
    name: "offices",
    columns: &[
        "id",
        "kind",
        "parent_id",
        "advisor_number",
        "number",
        "name",
        "address",
        "postcode",
        "city",
        "phone",
        "email",
        "rights",
        "allow_sub_offices",
        "active",
        "version",
        "created_at",
        "updated_at",
    ],
};

const USERS: Table = Table {
    name: "users",
    columns: &[
        "id",
        "office_id",
        "role",
        "name",
        "email",
        "rights",
        "active",
        "password_hash",
        "activated_at",
        "version",
        "created_at",
        "updated_at",
    ],
};

const CLIENTS: Table = Table {
    name: "clients",
    columns: &[
        "client_id",
        "name",
        "secret_hash",
        "redirect_uris",
        "post_logout_redirect_uris",
        "backchannel_logout_uri",
        "require_pkce",
        "grant_types",
        "jwks",
        "id_token_alg",
        "access_token_alg",
        "created_at",
        "updated_at",
    ],
};

const QUOTES: Table = Table {
    name: "quotes",
    columns: &[
        "id",
        "product",
        "variant",
        "seq",
        "office_id",
        "head_office_id",
        "office_kind",
        "office_number",
        "office_name",
        "office_address",
        "office_postcode",
        "office_city",
        "office_email",
        "head_office_email",
        "user_id",
        "user_name",
        "user_email",
        "user_role",
        "client_name",
        "tariff_version",
        "request",
        "result",
        "amount_cents",
        "created_at",
    ],
};

const APPLICATIONS: Table = Table {
    name: "applications",
    columns: &[
        "id",
        "quote_id",
        "product",
        "applicant_name",
        "applicant_address",
        "applicant_postcode",
        "applicant_city",
        "applicant_iban",
        "result",
        "user_id",
        "user_name",
        "created_at",
    ],
};

/// Migrates both databases exactly as `portal migrate` does (the idp's migrations, then
/// the product portals' with their own bookkeeping table).
pub async fn migrate(database_url: &str, products_database_url: &str) -> Result<(Db, ProductDb)> {
    let db = Db::connect(database_url)
        .await
        .context("cannot open the portal's database")?;
    db.migrate()
        .await
        .context("cannot migrate the portal's database")?;
    let products = ProductDb::connect(products_database_url)
        .await
        .context("cannot open the product portals' database")?;
    products
        .migrate()
        .await
        .context("cannot migrate the product portals' database")?;
    Ok((db, products))
}

/// Refuses any database that is not empty: fill adds an activated insurer admin, users
/// with a known password and clients with predictable secrets, which must never land in
/// a database that serves people (SECURITY AU-06, KS-03).
async fn refuse_filled(idp: &mut Conn, products: &mut Conn) -> Result<()> {
    let found = idp
        .any(
            "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM offices)
                 OR EXISTS (SELECT 1 FROM clients)",
        )
        .await?;
    let quotes = products.any("SELECT EXISTS (SELECT 1 FROM quotes)").await?;
    if found || quotes {
        bail!(
            "the database is not empty ({}): fill writes users with a known password and \
             clients with predictable secrets, so it only fills a fresh database made for the \
             benchmark: a new SQLite file, or a PostgreSQL database just CREATEd",
            match (found, quotes) {
                (true, true) => "users, offices or clients, and quotes",
                (true, false) => "users, offices or clients",
                _ => "quotes",
            }
        );
    }
    Ok(())
}

/// One argon2id PHC string for `password`, made by the idp's own hasher (its parameters)
/// and checked by it.
async fn password_hash(password: &str) -> Result<String> {
    let hasher = Hasher::new(1)?;
    let phc = hasher.hash(SecretString::from(password.to_owned())).await?;
    let verdict = hasher
        .verify(SecretString::from(password.to_owned()), Some(phc.clone()))
        .await?;
    if verdict != Verdict::Right {
        bail!("the idp's hasher does not accept its own hash ({verdict:?})");
    }
    Ok(phc)
}

fn office_rows(plan: &Plan) -> impl Iterator<Item = Vec<V>> + '_ {
    plan.offices.iter().map(|o| {
        let parent = (!o.head).then(|| plan.offices[o.head_index].id);
        vec![
            V::Uuid(o.id),
            V::Text(if o.head { "head_office" } else { "sub_office" }.into()),
            parent.map_or(V::NullUuid, V::Uuid),
            if o.head {
                V::Text(o.number.clone())
            } else {
                V::NullText
            },
            V::Text(o.number.clone()),
            V::Text(o.name.clone()),
            V::Text(o.address.clone()),
            V::Text(o.postcode.clone()),
            V::Text(o.city.clone()),
            V::Text(o.phone.clone()),
            V::Text(o.email.clone()),
            V::Text(rights_text(o.rights)),
            V::Bool(o.allow_sub_offices),
            V::Bool(true),
            V::Int(1),
            V::Time(o.created_at),
            V::Time(o.created_at),
        ]
    })
}

fn user_rows<'a>(plan: &'a Plan, phc: &'a str) -> impl Iterator<Item = Vec<V>> + 'a {
    let admin = vec![
        V::Uuid(plan.admin_id),
        V::NullUuid,
        V::Text("insurer_admin".into()),
        V::Text("Bench Beheerder".into()),
        V::Text(admin_login()),
        V::Text(String::new()),
        V::Bool(true),
        V::Text(phc.to_owned()),
        V::Time(plan.admin_created_at),
        V::Int(1),
        V::Time(plan.admin_created_at),
        V::Time(plan.admin_created_at),
    ];
    std::iter::once(admin).chain(plan.users.iter().map(move |u| {
        vec![
            V::Uuid(u.id),
            V::Uuid(plan.offices[u.office].id),
            V::Text(u.role().into()),
            V::Text(u.name.clone()),
            V::Text(u.email()),
            V::Text(rights_text(u.rights)),
            V::Bool(true),
            V::Text(phc.to_owned()),
            V::Time(u.created_at),
            V::Int(1),
            V::Time(u.created_at),
            V::Time(u.created_at),
        ]
    }))
}

/// The bench clients, checked and hashed by the idp's own registration code.
fn client_rows(n: usize, at: OffsetDateTime) -> Result<Vec<Vec<V>>> {
    (1..=n)
        .map(|i| {
            let prepared = prepare(&ClientRequest {
                client_id: client_id(i),
                name: Some(format!("Bench client {i}")),
                secret: Some(client_secret(i)),
                grant_types: vec!["client_credentials".into()],
                require_pkce: true,
                id_token_alg: "RS256".into(),
                ..ClientRequest::default()
            })
            .map_err(|e| anyhow::anyhow!("client {i}: {e}"))?;
            let c = prepared.client;
            Ok(vec![
                V::Text(c.client_id),
                V::Text(c.name),
                c.secret_hash.map_or(V::NullText, V::Bytes),
                V::Text(serde_json::to_string(&c.redirect_uris)?),
                V::Text(serde_json::to_string(&c.post_logout_redirect_uris)?),
                c.backchannel_logout_uri.map_or(V::NullText, V::Text),
                V::Bool(c.require_pkce),
                V::Text(c.grant_types.join(" ")),
                c.jwks.map_or(V::NullText, V::Text),
                V::Text(c.id_token_alg),
                V::Text(c.access_token_alg),
                V::Time(at),
                V::Time(at),
            ])
        })
        .collect()
}

/// Fills both databases and prints where to sign in.
pub async fn fill(s: &Settings) -> Result<()> {
    let started = Instant::now();
    let now = idp::store::at(OffsetDateTime::now_utc());
    let quotes_from = now - Duration::days(730);
    let origin = quotes_from - Duration::days(400);

    // The plan first: refuse impossible sizes before touching a database.
    let t = Instant::now();
    let plan = model::plan(&s.sizes, origin, s.seed)?;
    let templates = Templates::price(quotes_from, now, s.seed)?;
    let planned = t.elapsed();

    let (db, products_db) = migrate(&s.database_url, &s.products_database_url).await?;
    db.close().await;
    products_db.close().await;
    eprintln!("migrated ({:.1} s)", started.elapsed().as_secs_f64());

    let mut idp = Conn::open(&s.database_url).await?;
    let mut products = Conn::open(&s.products_database_url).await?;
    refuse_filled(&mut idp, &mut products).await?;

    let t = Instant::now();
    let phc = password_hash(&s.password).await?;
    eprintln!(
        "password hashed once with the idp's hasher ({:.2} s)",
        t.elapsed().as_secs_f64()
    );

    eprintln!(
        "planned {} offices and {} users, priced {} requests ({:.1} s)",
        plan.offices.len(),
        plan.users.len(),
        templates.len(),
        planned.as_secs_f64()
    );

    // The idp: offices, users, clients; one transaction on PostgreSQL.
    let t = Instant::now();
    if let Conn::Pg(_) = idp {
        idp.exec("BEGIN").await?;
    }
    idp.write(OFFICES, office_rows(&plan), plan.offices.len())
        .await?;
    idp.write(USERS, user_rows(&plan, &phc), plan.users.len() + 1)
        .await?;
    let clients = client_rows(s.sizes.clients, origin)?;
    idp.write(CLIENTS, clients.into_iter(), s.sizes.clients)
        .await?;
    if let Conn::Pg(_) = idp {
        idp.exec("COMMIT").await?;
    }
    eprintln!("idp written ({:.1} s)", t.elapsed().as_secs_f64());

    // The products: quotes, applications, counters.
    let t = Instant::now();
    let last = read_counters(&mut products).await?;
    if let Conn::Pg(_) = products {
        products.exec("BEGIN").await?;
    }
    let mut stream = QuoteStream::new(
        &plan,
        &templates,
        s.sizes.quotes,
        quotes_from,
        now,
        last,
        s.seed,
    );
    if s.sizes.quotes > 0 && !stream.anyone_quotes() {
        bail!("no user holds a right to quote");
    }
    let quote_rows = QuoteRows {
        plan: &plan,
        stream: &mut stream,
    };
    let made = products.write(QUOTES, quote_rows, s.sizes.quotes).await?;
    let applications = std::mem::take(&mut stream.applications);
    let last = stream.last;
    let mut rng = Rng::fork(s.seed, 4);
    let n_apps = applications.len();
    let app_rows = applications.into_iter().map(|a| {
        let (address, postcode, city, iban) = applicant_details(&mut rng);
        let u = &plan.users[a.user];
        vec![
            V::Uuid(a.id),
            V::Uuid(a.quote_id),
            V::Text(quotes::code(a.product).into()),
            V::Text(a.applicant_name),
            V::Text(address),
            V::Text(postcode),
            V::Text(city),
            V::Text(iban),
            V::Shared(a.result),
            V::Uuid(u.id),
            V::Text(u.name.clone()),
            V::Time(a.created_at),
        ]
    });
    products.write(APPLICATIONS, app_rows, n_apps).await?;
    write_counters(&mut products, last).await?;
    if let Conn::Pg(_) = products {
        products.exec("COMMIT").await?;
    }
    eprintln!("products written ({:.1} s)", t.elapsed().as_secs_f64());

    let t = Instant::now();
    // PostgreSQL: what autovacuum would soon do, done now, so the first measurement sees
    // the steady state (statistics, and a visibility map for index-only scans). SQLite: no
    // ANALYZE, as the portal never runs one; the WAL is folded into the file.
    let same_pg = matches!(idp, Conn::Pg(_)) && s.database_url == s.products_database_url;
    for c in [&mut idp, &mut products] {
        match c {
            Conn::Pg(_) => c.exec("VACUUM (ANALYZE)").await?,
            Conn::Sqlite(_) => c.exec("PRAGMA wal_checkpoint(TRUNCATE)").await?,
        }
        if same_pg {
            break;
        }
    }
    eprintln!(
        "{} ({:.1} s)",
        match idp {
            Conn::Pg(_) => "vacuumed and analysed",
            Conn::Sqlite(_) => "checkpointed",
        },
        t.elapsed().as_secs_f64()
    );
    let total = started.elapsed();
    summary(
        s,
        &plan,
        made,
        n_apps,
        last,
        total,
        templates.mean_payload(),
    )?;
    Ok(())
}

/// The quotes of a stream as rows.
struct QuoteRows<'p, 's> {
    plan: &'p Plan,
    stream: &'s mut QuoteStream<'p>,
}

impl Iterator for QuoteRows<'_, '_> {
    type Item = Vec<V>;

    fn next(&mut self) -> Option<Vec<V>> {
        let q = self.stream.next()?;
        let u = &self.plan.users[q.user];
        let o = &self.plan.offices[u.office];
        let h = &self.plan.offices[o.head_index];
        Some(vec![
            V::Uuid(q.id),
            V::Text(quotes::code(q.product).into()),
            V::Text(q.template.variant.into()),
            V::Int(q.seq),
            V::Uuid(o.id),
            V::Uuid(h.id),
            V::Text(if o.head { "head_office" } else { "sub_office" }.into()),
            V::Text(o.number.clone()),
            V::Text(o.name.clone()),
            V::Text(o.address.clone()),
            V::Text(o.postcode.clone()),
            V::Text(o.city.clone()),
            V::Text(o.email.clone()),
            V::Text(h.email.clone()),
            V::Uuid(u.id),
            V::Text(u.name.clone()),
            V::Text(u.email()),
            V::Text(u.role().into()),
            V::Text(q.client_name),
            V::Text(q.template.tariff_version),
            V::Shared(q.template.request),
            V::Shared(q.template.result),
            V::Int(q.template.amount_cents),
            V::Time(q.created_at),
        ])
    }
}

/// The products' counters as they stand (DIP, DIL, ORV).
async fn read_counters(products: &mut Conn) -> Result<[i64; 3]> {
    let rows: Vec<(String, i64)> = match products {
        Conn::Sqlite(c) => {
            sqlx::query_as("SELECT product, last FROM quote_numbers")
                .fetch_all(c)
                .await?
        }
        Conn::Pg(c) => {
            sqlx::query_as("SELECT product, last FROM quote_numbers")
                .fetch_all(c)
                .await?
        }
    };
    let mut last = [0i64; 3];
    for (p, n) in rows {
        if let Some(i) = ["DIP", "DIL", "ORV"].iter().position(|c| *c == p) {
            last[i] = n;
        }
    }
    Ok(last)
}

async fn write_counters(products: &mut Conn, last: [i64; 3]) -> Result<()> {
    let sql = "INSERT INTO quote_numbers (product, last) VALUES ($1, $2)
               ON CONFLICT (product) DO UPDATE SET last = excluded.last";
    for (code, n) in ["DIP", "DIL", "ORV"].into_iter().zip(last) {
        if n == 0 {
            continue;
        }
        match products {
            Conn::Sqlite(c) => {
                sqlx::query(sql).bind(code).bind(n).execute(c).await?;
            }
            Conn::Pg(c) => {
                sqlx::query(sql).bind(code).bind(n).execute(c).await?;
            }
        }
    }
    Ok(())
}

/// Prints what was made and how to sign in, and writes it as JSON if asked.
fn summary(
    s: &Settings,
    plan: &Plan,
    quotes: usize,
    applications: usize,
    last: [i64; 3],
    total: std::time::Duration,
    mean_payload: usize,
) -> Result<()> {
    let tree_users = |h: usize| -> usize {
        let o = &plan.offices[h];
        (h..=h + o.subs).map(|i| plan.offices[i].user_count).sum()
    };
    let heads: Vec<usize> = (0..plan.offices.len())
        .filter(|&i| plan.offices[i].head)
        .collect();
    let big_head = heads
        .iter()
        .copied()
        .max_by_key(|&h| (tree_users(h), std::cmp::Reverse(h)))
        .unwrap_or(0);
    let small_head = heads
        .iter()
        .copied()
        .find(|&h| plan.offices[h].user_count == 1 && plan.offices[h].subs == 0);
    let big_sub = (0..plan.offices.len())
        .filter(|&i| !plan.offices[i].head)
        .max_by_key(|&i| (plan.offices[i].user_count, std::cmp::Reverse(i)));
    let login_of = |office: usize| plan.users[plan.offices[office].main_user].email();
    let employee_of = |office: usize| {
        let o = &plan.offices[office];
        (o.user_count > 1).then(|| plan.users[o.first_user + 1].email())
    };
    let b = &plan.offices[big_head];
    let mut out = json!({
        "database_url": redact(&s.database_url),
        "products_database_url": redact(&s.products_database_url),
        "password": s.password,
        "login_scheme": "user{N}@bench.example, N = 1..users; the insurer admin is admin@bench.example",
        "users": plan.users.len(),
        "offices": plan.offices.len(),
        "head_offices": heads.len(),
        "quotes": quotes,
        "applications": applications,
        "quote_numbers": { "DIP": last[0], "DIL": last[1], "ORV": last[2] },
        "clients": s.sizes.clients,
        "client_scheme": "client_id bench-{NNNN}, secret bench-secret-{NNNN}-0123456789abcdefghijklmn, N = 1..clients, grant client_credentials",
        "client_example": { "client_id": client_id(1), "client_secret": client_secret(1) },
        "insurer_admin": admin_login(),
        "biggest_head_office": {
            "id": b.id, "name": b.name, "advisor_number": b.number,
            "sub_offices": b.subs, "users_in_tree": tree_users(big_head),
            "main_user": login_of(big_head), "employee": employee_of(big_head),
            "main_user_rights": model::rights_text(plan.users[b.main_user].rights),
        },
        "seconds": total.as_secs_f64(),
        "mean_request_result_bytes": mean_payload,
    });
    if let Some(i) = big_sub {
        let o = &plan.offices[i];
        out["biggest_sub_office"] = json!({
            "id": o.id, "name": o.name, "number": o.number, "users": o.user_count,
            "main_user": login_of(i), "employee": employee_of(i),
            "head_office": plan.offices[o.head_index].name,
        });
    }
    if let Some(h) = small_head {
        out["one_person_head_office"] = json!({ "id": plan.offices[h].id, "main_user": login_of(h), "advisor_number": plan.offices[h].number });
    }
    let text = serde_json::to_string_pretty(&out)?;
    if let Some(path) = &s.summary {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{text}");
    eprintln!(
        "filled in {:.1} s: {} users ({} offices, {} head offices) + 1 insurer admin, {} clients, {quotes} quotes, {applications} applications",
        total.as_secs_f64(),
        plan.users.len(),
        plan.offices.len(),
        heads.len(),
        s.sizes.clients
    );
    Ok(())
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
