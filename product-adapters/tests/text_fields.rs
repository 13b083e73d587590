//! SECURITY IO-01 (issue 9): hostile text in the product store's free-text fields, on both
//! databases: the insured's name as the quote form takes it, the office and advisor as the
//! quote keeps them (SPEC P2), an application's applicant, and the dashboard's search.
//!
//! Each property draws its cases with proptest first (quotes, backslashes, the `LIKE`
//! wildcards, `'; DROP TABLE users; --`, NUL and other control characters, bidi controls,
//! combining marks, emoji and other astral characters, CR/LF, up to 10 kB) and then runs
//! them one after the other on one database per property and backend. The cases are drawn
//! afresh on every run (no shrinking: a failure prints the input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pricing::Tariffs;
use product_adapters::forms::Fields;
use product_adapters::letterhead::Letterheads;
use product_adapters::scope::Scope;
use product_adapters::store::outbox::{NewProductMail, ProductMail};
use product_adapters::store::quotes::{
    self, Advisor, ListFilter, NewApplication, NewQuote, OfficeSnapshot,
};
use product_adapters::store::{ProductDb, StoreError};
use product_adapters::{Context, builtin_adapters};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sqlx::AssertSqlSafe;
use testkit::{Backend, TestDatabase};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const T0: OffsetDateTime = time::macros::datetime!(2026-03-01 09:00:00 UTC);

/// Cases per property and database.
const CASES: u32 = 32;

/// Every table a quote or an application writes.
const TABLES: [&str; 4] = ["quotes", "quote_numbers", "applications", "product_outbox"];

/// Pieces of text that break naive SQL, `LIKE`, JSON or display code; none is a control
/// character.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "\\",
    "%",
    "_",
    "%_",
    "\\%",
    "'; DROP TABLE users; --",
    "\u{202E}",
    "\u{2066}",
    "\u{2069}",
    "\u{200B}",
    "\u{FEFF}",
    "e\u{301}",
    "\u{301}",
    "\u{FB01}",
    "\u{1F469}\u{200D}\u{1F4BB}",
    "\u{1F1F3}\u{1F1F1}",
    "\u{1D518}",
    "\u{DF}",
    "\u{130}",
    "\u{3A3}",
    "\u{D6}",
    " ",
    "\u{A0}",
    "Jan",
    "de Vries",
    "a",
    "0",
    "-",
    "DIP-",
    "42",
];

/// Control characters (Unicode Cc).
const CONTROLS: &[&str] = &["\0", "\r", "\n", "\r\n", "\t", "\u{1B}", "\u{7F}", "\u{85}"];

fn piece(controls: bool) -> BoxedStrategy<String> {
    let plain = select(PIECES).prop_map(str::to_owned);
    if controls {
        prop_oneof![4 => plain, 1 => select(CONTROLS).prop_map(str::to_owned)].boxed()
    } else {
        plain.boxed()
    }
}

/// `parts` repeated until `len` bytes, cut back to a character boundary.
fn fill_bytes(parts: &[String], len: usize) -> String {
    let unit = parts.concat();
    if unit.is_empty() {
        return unit;
    }
    let mut s = unit.repeat(len / unit.len() + 1);
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Short mixes with and without control characters, strings around the 200-character
/// limit, strings up to 10 kB, and arbitrary Unicode.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(piece(false), 0..10).prop_map(|p| p.concat()),
        3 => prop::collection::vec(piece(true), 1..10).prop_map(|p| p.concat()),
        2 => (prop::collection::vec(piece(false), 1..4), 195usize..=205)
            .prop_map(|(p, n)| p.concat().chars().cycle().take(n).collect()),
        2 => (
            any::<bool>(),
            prop::collection::vec(piece(false), 1..6),
            prop_oneof![Just(10_240usize), 0usize..=10_240],
        )
            .prop_map(|(nul, p, n)| {
                let s = fill_bytes(&p, n);
                if nul { format!("{s}\0") } else { s }
            }),
        1 => any::<String>(),
    ]
}

/// Draws `CASES` values of `strategy` (a fresh seed each run).
fn cases<S: Strategy>(strategy: S) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        ..Config::default()
    });
    (0..CASES)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("a case can be drawn")
                .current()
        })
        .collect()
}

/// The quote form's rule for a text (`forms::Reader::text`), stated again: the value is
/// trimmed (Unicode White_Space), then 1 to 200 characters with no control character
/// (Cc) and none of the invisible and bidi characters the form lists.
fn form_text(raw: &str) -> Option<String> {
    let t = raw.trim_matches(char::is_whitespace);
    let invisible = |c: char| {
        matches!(c,
            '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}'
            | '\u{AD}' | '\u{61C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
    };
    let len = t.chars().count();
    ((1..=200).contains(&len) && !t.chars().any(invisible)).then(|| t.to_owned())
}

/// Runs `$body` with `$pool` bound to the pool of either database (the crate's own
/// dispatch macro is private to it).
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            ProductDb::Sqlite($pool) => $body,
            ProductDb::Postgres($pool) => $body,
        }
    };
}

async fn open(db: &TestDatabase) -> ProductDb {
    let store = ProductDb::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn counts(db: &ProductDb) -> Vec<(&'static str, i64)> {
    let mut all = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n = with_pool!(db, |pool| sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
            .fetch_one(pool)
            .await)
        .unwrap();
        all.push((table, n));
    }
    all
}

/// A text column of the row with `id`, read with SQL of its own.
async fn column(db: &ProductDb, sql: &'static str, id: Uuid) -> String {
    with_pool!(db, |pool| sqlx::query_scalar::<_, String>(sql)
        .bind(id)
        .fetch_one(pool)
        .await)
    .expect("stored row")
}

fn office(id: Uuid, head: Uuid, text: &str) -> OfficeSnapshot {
    OfficeSnapshot {
        id,
        head_office_id: head,
        kind: if id == head {
            "head_office"
        } else {
            "sub_office"
        }
        .into(),
        number: text.into(),
        name: text.into(),
        address: text.into(),
        postcode: "1234 AB".into(),
        city: text.into(),
        email: format!("{}@example.nl", id.simple()),
        head_office_email: "head@example.nl".into(),
    }
}

fn new_quote(office: OfficeSnapshot, advisor: &str, client: &str) -> NewQuote {
    NewQuote {
        id: Uuid::now_v7(),
        product: "DIP".into(),
        variant: "DIZP".into(),
        office,
        advisor: Advisor {
            id: Uuid::now_v7(),
            name: advisor.into(),
            email: "adviseur@example.nl".into(),
            role: "employee".into(),
        },
        client_name: client.into(),
        tariff_version: "T-1".into(),
        request: serde_json::json!({ "client_name": client }),
        result: serde_json::json!({}),
        amount_cents: 100,
    }
}

/// Stores a quote; its number's running part.
async fn store_quote(db: &ProductDb, q: &NewQuote, minutes: i64) -> Result<i64, StoreError> {
    let seq = quotes::next_number(db, &q.product).await?;
    quotes::create(db, q, seq, None, T0 + Duration::minutes(minutes)).await?;
    Ok(seq)
}

fn mail() -> NewProductMail {
    NewProductMail {
        id: Uuid::now_v7(),
        kind: "application",
        mail: ProductMail {
            to: vec!["sub@example.nl".into()],
            cc: Vec::new(),
            subject: "Aanvraag".into(),
            text: String::new(),
            html: String::new(),
            attachment: None,
            attachment_name: None,
        },
    }
}

/// Insured's names the search property stores: wildcards, quotes, a backslash, SQL,
/// letters with and without case, emoji. (The form refuses bidi and invisible characters,
/// so none is here.)
const SEEDS: [&str; 12] = [
    "100% Zeker",
    "Onder_streep",
    "O'Brien",
    "\"Aanhalingstekens\"",
    "Schuine\\streep",
    "'; DROP TABLE users; --",
    "\u{DC}nal \u{D6}zt\u{FC}rk",
    "Stra\u{DF}e",
    "\u{1F469}\u{200D}\u{1F4BB} Digitaal",
    "E\u{301}tienne",
    "abc",
    "ABC",
];

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => hostile(),
        3 => (select(&SEEDS[..]), any::<Index>(), any::<Index>()).prop_map(|(seed, a, b)| {
            let chars: Vec<char> = seed.chars().collect();
            let (a, b) = (a.index(chars.len() + 1), b.index(chars.len() + 1));
            chars[a.min(b)..a.max(b)].iter().collect()
        }),
        1 => select(WILDCARDS).prop_map(str::to_owned),
    ]
}

/// Queries that every run of the search property asks, besides the drawn ones.
const WILDCARDS: &[&str] = &[
    "%", "_", "\\", "%%", "_%", "\\%", "a\\", "'", "\0", "%\0", "\0%",
];

fn sigma(c: char) -> char {
    if c == '\u{3C2}' { '\u{3C3}' } else { c }
}

/// Whether `haystack` contains `q` ignoring case, under Unicode's full lower-case mapping
/// or one character for one.
fn contains_ignoring_case(haystack: &str, q: &str) -> bool {
    let full = |s: &str| -> String { s.chars().flat_map(char::to_lowercase).map(sigma).collect() };
    let simple = |s: &str| -> String {
        s.chars()
            .map(|c| c.to_lowercase().next().unwrap_or(c))
            .map(sigma)
            .collect()
    };
    let q = q.to_lowercase();
    full(haystack).contains(&full(&q)) || simple(haystack).contains(&simple(&q))
}

/// Whether both databases must find `q` wherever it occurs literally (no NUL; only ASCII
/// and characters without case).
fn literal(q: &str) -> bool {
    q.chars().all(|c| {
        c != '\0'
            && (c.is_ascii()
                || (c.to_lowercase().eq(std::iter::once(c))
                    && c.to_uppercase().eq(std::iter::once(c))))
    })
}

/// A quote number as the dashboard reads one (`DIP-0000042`, `dip-42`).
fn quote_number(s: &str) -> Option<(String, i64)> {
    let (product, digits) = s.split_once('-')?;
    let seq = digits.parse::<i64>().ok().filter(|n| *n > 0)?;
    (!product.is_empty() && product.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| (product.to_ascii_uppercase(), seq))
}

testkit::both_databases! {
    /// P2: the insured's name as the DIP quote form reads it is the name the quote keeps:
    /// trimmed, and otherwise byte for byte; a name the form refuses is reported under
    /// `client_name` (and so never reaches the store).
    async fn quotes_keep_the_name_the_form_accepts(db: &TestDatabase) {
        let store = open(db).await;
        let ctx = Context {
            db: store.clone(),
            tariffs: Tariffs::builtin(),
            letterheads: Letterheads::new("http://127.0.0.1:9/api/v1").unwrap(),
            templates: web_kit::Templates::load().unwrap(),
            mail_waker: Arc::new(tokio::sync::Notify::new()),
        };
        let dip = builtin_adapters().into_iter().find(|a| a.code() == "DIP").unwrap();
        let today = time::Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
        let demo = dip.demo_form(today).expect("a demo form");
        let head = Uuid::now_v7();
        for (i, name) in cases(hostile()).into_iter().enumerate() {
            let form: Fields = demo.clone().set("client_name", &name);
            match (form_text(&name), dip.price(&ctx, &form, today)) {
                (Some(want), Ok(priced)) => {
                    assert_eq!(priced.client_name, want, "case {i} {name:?}");
                    let q = new_quote(office(head, head, "Kantoor"), "Adviseur", &priced.client_name);
                    store_quote(&store, &q, i64::try_from(i).unwrap()).await.unwrap();
                    let got = quotes::get(&store, "DIP", q.id, &Scope::Tree(head)).await.unwrap().expect("the quote");
                    assert_eq!(got.client_name, want, "case {i} {name:?}");
                    assert_eq!(column(&store, "SELECT client_name FROM quotes WHERE id = $1", q.id).await, want);
                }
                (None, Err(errors)) => {
                    assert!(errors.get("client_name").is_some(), "case {i} {name:?}: {errors:?}");
                }
                (want, got) => panic!("case {i} {name:?}: expected {want:?}, got {got:?}"),
            }
        }
    }

    /// P2/P5: the store keeps whatever text it is given in the quote's office snapshot
    /// (number, name, address, city), the advisor's name, the insured's name and an
    /// application's applicant (name, address, city), byte for byte, up to 10 kB, except a
    /// NUL, which PostgreSQL does not store in text: there the write fails as a database
    /// error and leaves every table as it was.
    async fn the_store_keeps_text_byte_for_byte(db: &TestDatabase) {
        let store = open(db).await;
        let head = Uuid::now_v7();
        for (i, text) in cases(hostile()).into_iter().enumerate() {
            let refused = text.contains('\0') && db.backend == Backend::Postgres;
            let q = new_quote(office(head, head, &text), &text, &text);
            let before = counts(&store).await;
            let stored = quotes::create(&store, &q, i64::try_from(i).unwrap() + 1, None, T0).await;
            if refused {
                assert!(matches!(stored, Err(StoreError::Database(_))), "case {i} {text:?}: {stored:?}");
                assert_eq!(counts(&store).await, before, "case {i}: nothing stored");
                continue;
            }
            stored.unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            let got = quotes::get(&store, "DIP", q.id, &Scope::Tree(head)).await.unwrap().expect("the quote");
            assert_eq!(got.office, q.office, "case {i} {text:?}");
            assert_eq!(got.advisor, q.advisor, "case {i} {text:?}");
            assert_eq!(got.client_name, text, "case {i} {text:?}");
            assert_eq!(got.request, q.request, "case {i} {text:?}");
            for sql in [
                "SELECT office_name FROM quotes WHERE id = $1",
                "SELECT office_address FROM quotes WHERE id = $1",
                "SELECT user_name FROM quotes WHERE id = $1",
            ] {
                assert_eq!(column(&store, sql, q.id).await, text, "case {i}: {sql}");
            }

            let application = NewApplication {
                id: Uuid::now_v7(),
                quote_id: q.id,
                product: "DIP".into(),
                applicant_name: text.clone(),
                applicant_address: text.clone(),
                applicant_postcode: "1234 AB".into(),
                applicant_city: text.clone(),
                applicant_iban: "NL91ABNA0417164300".into(),
                result: serde_json::json!({}),
                user_id: q.advisor.id,
                user_name: text.clone(),
            };
            quotes::apply(&store, &application, &mail(), T0).await.unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            for sql in [
                "SELECT applicant_name FROM applications WHERE id = $1",
                "SELECT applicant_address FROM applications WHERE id = $1",
                "SELECT applicant_city FROM applications WHERE id = $1",
                "SELECT user_name FROM applications WHERE id = $1",
            ] {
                assert_eq!(column(&store, sql, application.id).await, text, "case {i}: {sql}");
            }
        }
    }

    /// P4: the dashboard's search takes any text without error; a quote number finds that
    /// quote, anything else (trimmed, its first 100 characters) is part of the insured's
    /// name: every quote listed contains it ignoring case, so `%`, `_`, `\` and NUL match
    /// only themselves, and a quote whose name holds it literally is listed.
    async fn the_dashboard_search_takes_any_text_literally(db: &TestDatabase) {
        let store = open(db).await;
        let head = Uuid::now_v7();
        let mut seeded = Vec::new();
        for (i, seed) in SEEDS.iter().enumerate() {
            let q = new_quote(office(head, head, "Kantoor"), "Adviseur", seed);
            store_quote(&store, &q, i64::try_from(i).unwrap()).await.unwrap();
            seeded.push((q.id, *seed));
        }
        let queries = WILDCARDS.iter().map(|q| (*q).to_owned()).chain(cases(query()));
        for (i, q) in queries.enumerate() {
            let filter = ListFilter {
                products: vec!["DIP".into()],
                applied: None,
                search: Some(q.clone()),
                office_id: None,
                page: 1,
                limit: 200,
            };
            let found = quotes::list(&store, &filter, &Scope::Tree(head))
                .await
                .unwrap_or_else(|e| panic!("case {i} {q:?}: {e:?}"));
            let asked: String = q.trim().chars().take(100).collect();
            if asked.is_empty() {
                assert_eq!(found.quotes.len(), seeded.len(), "case {i} {q:?}: no search, every quote");
                continue;
            }
            if let Some((product, seq)) = quote_number(&asked) {
                for quote in &found.quotes {
                    assert_eq!((&quote.product, quote.seq), (&product, seq), "case {i} {q:?}");
                }
                continue;
            }
            for quote in &found.quotes {
                assert!(contains_ignoring_case(&quote.client_name, &asked), "case {i} {q:?}: listed {:?}", quote.client_name);
            }
            if literal(&asked) {
                for (id, name) in &seeded {
                    if name.contains(asked.as_str()) {
                        assert!(found.quotes.iter().any(|quote| quote.id == *id), "case {i} {q:?}: missed {name:?}");
                    }
                }
            }
        }
    }
}

// Regressions found by the search property (issue 9), as fixed cases that always run.
testkit::both_databases! {
    /// The search dropped `%` and `_` instead of escaping them, so `_` or `%` listed every
    /// quote and `r_str` missed "Onder_streep"; a `\` escaped the closing `%` on
    /// PostgreSQL only; a NUL failed on PostgreSQL (a 500) and ended the pattern on SQLite.
    async fn the_dashboard_search_matches_wildcards_literally(db: &TestDatabase) {
        let store = open(db).await;
        let head = Uuid::now_v7();
        for (i, name) in ["Onder_streep", "100% Zeker", "Schuine\\streep", "ABC"].iter().enumerate() {
            let q = new_quote(office(head, head, "Kantoor"), "Adviseur", name);
            store_quote(&store, &q, i64::try_from(i).unwrap()).await.unwrap();
        }
        let search = |s: &str| ListFilter {
            products: vec!["DIP".into()],
            applied: None,
            search: Some(s.into()),
            office_id: None,
            page: 1,
            limit: 25,
        };
        for (q, want) in [
            ("_", vec!["Onder_streep"]),
            ("r_str", vec!["Onder_streep"]),
            ("%", vec!["100% Zeker"]),
            ("0% z", vec!["100% Zeker"]),
            ("\\", vec!["Schuine\\streep"]),
            ("e\\s", vec!["Schuine\\streep"]),
            ("\0", vec![]),
            ("%\0", vec![]),
            ("abc", vec!["ABC"]),
        ] {
            let found = quotes::list(&store, &search(q), &Scope::Tree(head)).await;
            let names: Vec<String> = found
                .unwrap_or_else(|e| panic!("{q:?}: {e:?}"))
                .quotes
                .into_iter()
                .map(|quote| quote.client_name)
                .collect();
            assert_eq!(names, want, "{q:?}");
        }
    }
}
