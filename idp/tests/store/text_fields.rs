//! SECURITY IO-01 (issue 9): hostile text in every free-text field, on both databases.
//!
//! Each property generates its cases with proptest first (quotes, backslashes, the `LIKE`
//! wildcards, `'; DROP TABLE users; --`, NUL and other control characters, bidi overrides,
//! combining marks, emoji and other astral characters, CR/LF, and strings up to 10 kB) and
//! then runs them, one after the other, against one database per property and backend.
//! The cases are drawn afresh on every run (no shrinking: a failure prints the input).
//!
//! What is checked, per field: a value the domain accepts is stored and read back exactly
//! as the domain normalises it (trimmed, and for e-mail addresses NFKC and lower case,
//! nothing else); a value it refuses is refused with the domain's error and leaves every
//! table as it was; a search with any text returns without error and never lists a row
//! that does not contain the text; nothing panics.

use std::path::PathBuf;

use idp::Idp;
use idp::api::audit::{AuditParams, parse as parse_audit_params};
use idp::config::{RawSettings, Settings};
use idp::domain::import::{RowError, RowProblem};
use idp::domain::manage::Scope;
use idp::domain::{Email, RuleError};
use idp::imports;
use idp::manage::{Field, ManageError, NewUser, UserChange};
use idp::offices::{NewSub, OfficeChange};
use idp::oidc_clients::{ClientError, ClientRefused, ClientRequest};
use idp::store::accounts::Principal;
use idp::store::accounts::{self, BatchError};
use idp::store::audit::{self, AuditPage, AuditQuery, AuditRecord};
use idp::store::clients::{self, Taken};
use idp::store::imports::{self as jobs, NewJobRow};
use idp::store::offices::{self, OfficeFilter};
use idp::store::users::{self, Filter, Page};
use idp::store::{Db, StoreError, profile};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use testkit::{Backend, TestDatabase};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use crate::support::{
    T0, count, employee, head_office, insurer_admin, office_id, open, registry, store, sub_office,
    user_id,
};

/// Cases per property and database: enough to meet every kind of piece several times,
/// few enough that the file runs in seconds.
const CASES: u32 = 32;

/// Every table a write in this file may touch, for the before/after counts of a refusal.
const TABLES: [&str; 8] = [
    "offices",
    "users",
    "user_tokens",
    "outbox",
    "audit_log",
    "import_jobs",
    "import_rows",
    "clients",
];

/// Pieces of text that break naive SQL, `LIKE`, JSON, CSV or display code, none of them a
/// control character.
const PIECES: &[&str] = &[
    "'",
    "''",
    "\"",
    "\\",
    "\\\\",
    "%",
    "_",
    "%_",
    "\\%",
    "'; DROP TABLE users; --",
    "\"); DELETE FROM offices; --",
    "\u{202E}",                   // RIGHT-TO-LEFT OVERRIDE
    "\u{2066}",                   // LEFT-TO-RIGHT ISOLATE
    "\u{2067}",                   // RIGHT-TO-LEFT ISOLATE
    "\u{2068}",                   // FIRST STRONG ISOLATE
    "\u{2069}",                   // POP DIRECTIONAL ISOLATE
    "\u{200B}",                   // ZERO WIDTH SPACE
    "\u{200F}",                   // RIGHT-TO-LEFT MARK
    "\u{FEFF}",                   // BYTE ORDER MARK
    "\u{2028}",                   // LINE SEPARATOR (white space, not a control character)
    "e\u{301}",                   // e + COMBINING ACUTE ACCENT
    "\u{301}\u{308}",             // combining marks with nothing to sit on
    "\u{FB01}",                   // LATIN SMALL LIGATURE FI (NFKC: "fi")
    "\u{FF2A}\u{FF41}n",          // full-width "Ja" (NFKC: "Ja")
    "\u{2163}",                   // ROMAN NUMERAL FOUR
    "\u{1F469}\u{200D}\u{1F4BB}", // woman technologist (a ZWJ sequence)
    "\u{1F1F3}\u{1F1F1}",         // flag NL
    "\u{1D518}\u{1D52B}",         // mathematical fraktur letters
    "\u{10FFFD}",                 // the last private-use code point
    "\u{5D0}\u{5D1}",             // Hebrew letters
    "\u{627}\u{644}",             // Arabic letters
    "\u{DF}",                     // sharp s
    "\u{130}",                    // capital I with dot above
    "\u{3A3}\u{39F}",             // Greek capitals
    "\u{132}sselmeer",            // Dutch IJ ligature
    "\u{D6}",                     // O with diaeresis
    " ",
    "\u{A0}",   // NO-BREAK SPACE
    "\u{3000}", // IDEOGRAPHIC SPACE
    "Jan",
    "de Vries",
    "B.V.",
    "a",
    "0",
];

/// Control characters (Unicode Cc), which no free-text field of the domain takes.
const CONTROLS: &[&str] = &[
    "\0", "\r", "\n", "\r\n", "\t", "\u{7}", "\u{1B}", "\u{7F}", "\u{85}", "\u{9F}",
];

/// One piece, a control character now and then when `controls`.
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

/// `parts` repeated until exactly `chars` characters.
fn fill_chars(parts: &[String], chars: usize) -> String {
    parts.concat().chars().cycle().take(chars).collect()
}

/// The text every property sends: short mixes with and without control characters,
/// strings around the 200-character limit, strings up to 10 kB, and arbitrary Unicode.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(piece(false), 0..10).prop_map(|p| p.concat()),
        3 => prop::collection::vec(piece(true), 1..10).prop_map(|p| p.concat()),
        2 => (prop::collection::vec(piece(false), 1..4), 195usize..=205)
            .prop_map(|(p, n)| fill_chars(&p, n)),
        2 => (
            any::<bool>(),
            prop::collection::vec(piece(false), 1..6),
            prop_oneof![Just(10_240usize), 0usize..=10_240],
        )
            .prop_map(|(controls, p, n)| {
                let s = fill_bytes(&p, n);
                if controls { format!("{s}\0") } else { s }
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

/// The rule of a name, an address and a city (SPEC U1, O3; `domain::parse_name`,
/// `domain::office::parse_address`/`parse_city`), stated again here: white space (Unicode
/// White_Space) around it is dropped; what remains is 1 to 200 characters with no
/// control character (Unicode Cc: U+0000–U+001F, U+007F–U+009F). Nothing else changes it.
fn one_line(raw: &str) -> Option<String> {
    let t = raw.trim_matches(char::is_whitespace);
    let len = t.chars().count();
    let control = t
        .chars()
        .any(|c| matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}'));
    ((1..=200).contains(&len) && !control).then(|| t.to_owned())
}

/// How an accepted e-mail address is stored (SECURITY AU-01): trimmed, NFKC, lower case.
fn email_form(raw: &str) -> String {
    raw.trim().nfkc().collect::<String>().to_lowercase()
}

/// Rows of every table in [`TABLES`].
async fn counts(db: &Db) -> Vec<(&'static str, i64)> {
    let mut all = Vec::new();
    for table in TABLES {
        all.push((table, count(db, table).await));
    }
    all
}

/// A text column of the row with `id`, read with SQL of its own.
async fn column(db: &Db, sql: &'static str, id: Uuid) -> String {
    idp::with_db!(db, |pool| sqlx::query_scalar::<_, String>(sql)
        .bind(id)
        .fetch_one(pool)
        .await)
    .expect("stored row")
}

/// The JSON detail of audit entry `id`, read with SQL of its own.
async fn detail(db: &Db, id: Uuid) -> Value {
    let text = column(db, "SELECT detail FROM audit_log WHERE id = $1", id).await;
    serde_json::from_str(&text).expect("the detail is JSON")
}

/// The detail of the one entry of `action` about user or office `id`.
async fn detail_of(db: &Db, action: &str, id: Uuid) -> Value {
    let text: String = idp::with_db!(db, |pool| sqlx::query_scalar(
        "SELECT detail FROM audit_log
         WHERE action = $1 AND (target_office_id = $2 OR target_user_id = $2)"
    )
    .bind(action)
    .bind(id)
    .fetch_one(pool)
    .await)
    .expect("one audit entry");
    serde_json::from_str(&text).expect("the detail is JSON")
}

/// The identity provider on the test database, for the flows the admin API calls.
async fn portal(db: &TestDatabase) -> (Idp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("idp-text-{}", Uuid::new_v4().simple()));
    let settings = Settings::from_raw(RawSettings {
        database_url: db.url.clone(),
        data_dir: dir.display().to_string(),
        master_key: Some(crate::support::MASTER_KEY.into()),
        ..RawSettings::default()
    })
    .expect("settings");
    let idp = Idp::open(settings, registry()).await.expect("idp");
    (idp, dir)
}

/// An insurer admin (the caller) and a head office that may have sub-offices.
async fn admin_and_head(db: &Db) -> (Principal, Uuid) {
    let admin = insurer_admin("beheer@verzekeraar.nl");
    let head = head_office("10001", "hoofd@kantoor.nl", "DIP,DIL");
    store(db, &admin).await;
    store(db, &head).await;
    let caller = accounts::principal(db, user_id(&admin), &registry())
        .await
        .expect("principal")
        .expect("the admin exists");
    (caller, office_id(&head))
}

/// What the domain says of a name, address or city, as the flows report it.
fn expect_line(raw: &str, field: Field, error: RuleError) -> Result<String, ManageError> {
    one_line(raw).ok_or(ManageError::Invalid { field, error })
}

/// What a change of a name, address or city leaves: the current value when none is asked.
fn expect_change(
    new: Option<&str>,
    current: &str,
    field: Field,
    error: RuleError,
) -> Result<String, ManageError> {
    new.map_or(Ok(current.to_owned()), |v| expect_line(v, field, error))
}

/// Every audit entry, newest first, that passes `query` (a full page).
async fn audit_page(db: &Db, query: AuditQuery) -> Result<AuditPage, StoreError> {
    let query = AuditQuery {
        limit: audit::MAX_PAGE,
        ..query
    };
    audit::search(db, Scope::Everyone, &query).await
}

/// Action filters the audit property asks besides drawn text: real actions and prefixes,
/// wildcards, near misses.
const ACTIONS: &[&str] = &[
    "profile.name_changed",
    "profile.",
    "office.deleted",
    "office.",
    "office.created",
    "%",
    "_",
    "profile_name_changed",
    "profile%",
    "\\",
];

fn same_refusal(want: &ManageError, got: &ManageError) -> bool {
    matches!(
        (want, got),
        (
            ManageError::Invalid { field: a, error: e },
            ManageError::Invalid { field: b, error: f },
        ) if a == b && e == f
    )
}

testkit::both_databases! {
    /// The store keeps whatever text it is given, byte for byte, in office names,
    /// addresses and cities, user names (insert and the Profiel update) and audit details,
    /// up to 10 kB; the one exception is NUL, which PostgreSQL does not store in text: there
    /// the write fails as a database error and leaves nothing behind. (The domain never lets
    /// a NUL reach the store; the later properties show that.) An audit detail is JSON, so
    /// a NUL in it is stored escaped and kept on both.
    async fn the_store_keeps_text_byte_for_byte(db: &TestDatabase) {
        let store_db = open(db).await;
        let db_ = &store_db;
        for (i, (text, other)) in cases((hostile(), hostile())).into_iter().enumerate() {
            let mut account = head_office(&format!("{}", 20_000 + i), &format!("o{i}@t.nl"), "DIP");
            let office = account.office.as_mut().expect("an office");
            office.name.clone_from(&text);
            office.address.clone_from(&text);
            office.city.clone_from(&text);
            account.user.name.clone_from(&text);
            account.audit.detail = json!({ "after": { "name": text, "note": [text, 1] } });
            let (oid, uid, aid) = (office.id, account.user.id, account.audit.id);
            let before = counts(db_).await;
            let stored = accounts::provision(db_, std::slice::from_ref(&account), T0).await;
            if text.contains('\0') && db.backend == Backend::Postgres {
                assert!(
                    matches!(stored, Err(BatchError { error: StoreError::Database(_), .. })),
                    "case {i} {text:?}: {stored:?}"
                );
                assert_eq!(counts(db_).await, before, "case {i}: nothing stored");
                continue;
            }
            stored.unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            for sql in [
                "SELECT name FROM offices WHERE id = $1",
                "SELECT address FROM offices WHERE id = $1",
                "SELECT city FROM offices WHERE id = $1",
            ] {
                assert_eq!(column(db_, sql, oid).await, text, "case {i}: {sql}");
            }
            let view = offices::get(db_, Scope::Everyone, oid, &registry()).await.unwrap().unwrap();
            assert_eq!((&view.name, &view.address, &view.city), (&text, &text, &text), "case {i}");
            assert_eq!(column(db_, "SELECT name FROM users WHERE id = $1", uid).await, text, "case {i}");
            assert_eq!(detail(db_, aid).await, account.audit.detail, "case {i}");

            // Profiel: the user's own name change, with its audit entry.
            let mut entry = AuditRecord::new("profile.name_changed");
            entry.target_user_id = Some(uid);
            entry.detail = json!({ "before": { "name": text }, "after": { "name": other } });
            let before = counts(db_).await;
            let changed = profile::set_name(db_, uid, &other, &entry, T0).await;
            if other.contains('\0') && db.backend == Backend::Postgres {
                assert!(matches!(changed, Err(StoreError::Database(_))), "case {i} {other:?}: {changed:?}");
                assert_eq!(counts(db_).await, before, "case {i}: nothing stored");
                assert_eq!(column(db_, "SELECT name FROM users WHERE id = $1", uid).await, text);
                continue;
            }
            assert!(changed.unwrap_or_else(|e| panic!("case {i} {other:?}: {e:?}")));
            let view = users::get(db_, Scope::Everyone, uid, &registry()).await.unwrap().unwrap();
            assert_eq!(view.user.name, other, "case {i}");
            assert_eq!(detail(db_, entry.id).await, entry.detail, "case {i}");
        }
    }

    /// O3: a sub-office's name, address and city, through the flow the admin API calls
    /// (`offices::create_sub_office`), and a head office's through `offices::update`: a
    /// value the domain accepts is stored trimmed and otherwise unchanged, in the row and
    /// in the audit entry; any other is refused as that field's `Invalid` and nothing is
    /// stored.
    async fn office_fields_keep_what_the_domain_accepts(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let (caller, head) = admin_and_head(&core.db).await;
        for (i, (text, which)) in cases((hostile(), 0u8..4)).into_iter().enumerate() {
            let pick = |n: u8, fixed: &str| if which == n || which == 3 { text.clone() } else { fixed.to_owned() };
            let input = NewSub {
                name: pick(0, "Subkantoor"),
                address: pick(1, "Markt 1"),
                postcode: "1234 AB".into(),
                city: pick(2, "Utrecht"),
                phone: "030-1234567".into(),
                email: format!("sub{i}@kantoor.nl"),
                number: format!("S{i}"),
                rights: vec!["DIP".into()],
                send_activation: false,
            };
            // The flow checks the fields in this order and reports the first bad one.
            let want = expect_line(&input.name, Field::Name, RuleError::InvalidName).and_then(|n| {
                let a = expect_line(&input.address, Field::Address, RuleError::InvalidAddress)?;
                let c = expect_line(&input.city, Field::City, RuleError::InvalidCity)?;
                Ok((n, a, c))
            });
            let before = counts(&core.db).await;
            let got = idp::offices::create_sub_office(core, &caller, head, &input, None, T0).await;
            match (&want, got) {
                (Ok((name, address, city)), Ok(view)) => {
                    assert_eq!((&view.name, &view.address, &view.city), (name, address, city), "case {i} {text:?}");
                    for (sql, want) in [
                        ("SELECT name FROM offices WHERE id = $1", name),
                        ("SELECT address FROM offices WHERE id = $1", address),
                        ("SELECT city FROM offices WHERE id = $1", city),
                    ] {
                        assert_eq!(&column(&core.db, sql, view.id).await, want, "case {i} {text:?}: {sql}");
                    }
                    let after = &detail_of(&core.db, "office.created", view.id).await["after"];
                    assert_eq!((&after["name"], &after["address"], &after["city"]),
                        (&json!(name), &json!(address), &json!(city)), "case {i} {text:?}");
                }
                (Err(want), Err(got)) if same_refusal(want, &got) => {
                    assert_eq!(counts(&core.db).await, before, "case {i} {text:?}: nothing stored");
                }
                (want, got) => panic!("case {i} {text:?}: expected {want:?}, got {got:?}"),
            }

            // The same text as the head office's new name, address or city.
            let current = offices::get(&core.db, Scope::Everyone, head, &registry()).await.unwrap().unwrap();
            let field = |n: u8| (which == n || which == 3).then(|| text.clone());
            let change = OfficeChange { name: field(0), address: field(1), city: field(2), ..OfficeChange::default() };
            let want = (|| {
                let n = expect_change(change.name.as_deref(), &current.name, Field::Name, RuleError::InvalidName)?;
                let a = expect_change(change.address.as_deref(), &current.address, Field::Address, RuleError::InvalidAddress)?;
                let c = expect_change(change.city.as_deref(), &current.city, Field::City, RuleError::InvalidCity)?;
                Ok::<_, ManageError>((n, a, c))
            })();
            let before = counts(&core.db).await;
            let got = idp::offices::update(core, &caller, head, current.version, &change, None, T0).await;
            match (&want, got) {
                (Ok((name, address, city)), Ok(view)) => {
                    assert_eq!((&view.name, &view.address, &view.city), (name, address, city), "case {i} {text:?}");
                    assert_eq!(&column(&core.db, "SELECT name FROM offices WHERE id = $1", head).await, name);
                    assert_eq!(&column(&core.db, "SELECT address FROM offices WHERE id = $1", head).await, address);
                    assert_eq!(&column(&core.db, "SELECT city FROM offices WHERE id = $1", head).await, city);
                }
                (Err(want), Err(got)) if same_refusal(want, &got) => {
                    assert_eq!(counts(&core.db).await, before, "case {i} {text:?}: nothing stored");
                }
                (want, got) => panic!("case {i} {text:?}: update expected {want:?}, got {got:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// U1/U2: a user's name and login e-mail through `manage::create`, and the name again
    /// through `manage::update`: an accepted name is stored trimmed, an accepted address
    /// trimmed, NFKC-normalised and lower case (AU-01), in the row and in the audit entry;
    /// anything else is refused as `Invalid` name or e-mail and nothing is stored.
    async fn user_fields_keep_what_the_domain_accepts(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let (caller, head) = admin_and_head(&core.db).await;
        let fixed = employee(head, "vast@kantoor.nl", "");
        store(&core.db, &fixed).await;
        let local = prop_oneof![
            2 => "[a-zA-Z0-9.'%_+\\\\-]{1,20}",
            1 => prop::collection::vec(piece(false), 1..4).prop_map(|p| p.concat()),
            1 => hostile(),
        ];
        for (i, (name, local)) in cases((hostile(), local)).into_iter().enumerate() {
            let email = format!("{local}@t{i}.nl");
            let want = expect_line(&name, Field::Name, RuleError::InvalidName).and_then(|n| {
                Email::parse(&email)
                    .map(|e| (n, e))
                    .map_err(|error| ManageError::Invalid { field: Field::Email, error })
            });
            let input = NewUser { name: name.clone(), email: email.clone(), rights: Vec::new(), office_id: Some(head) };
            let before = counts(&core.db).await;
            let got = idp::manage::create(core, &caller, &input, None, T0).await;
            match (&want, got) {
                (Ok((n, e)), Ok(view)) => {
                    assert_eq!(e.as_str(), email_form(&email), "case {i} {email:?}: the stored form");
                    assert_eq!((&view.user.name, &view.user.email), (n, e), "case {i}");
                    let id = view.user.id;
                    assert_eq!(&column(&core.db, "SELECT name FROM users WHERE id = $1", id).await, n, "case {i} {name:?}");
                    assert_eq!(column(&core.db, "SELECT email FROM users WHERE id = $1", id).await, e.as_str(), "case {i}");
                    let after = &detail_of(&core.db, "user.created", id).await["after"];
                    assert_eq!((&after["name"], &after["email"]), (&json!(n), &json!(e.as_str())), "case {i}");
                }
                (Err(want), Err(got)) if same_refusal(want, &got) => {
                    assert_eq!(counts(&core.db).await, before, "case {i}: nothing stored");
                }
                (want, got) => panic!("case {i} {name:?} {email:?}: expected {want:?}, got {got:?}"),
            }

            let current = users::get(&core.db, Scope::Everyone, user_id(&fixed), &registry()).await.unwrap().unwrap();
            let change = UserChange { name: Some(name.clone()), ..UserChange::default() };
            let want = expect_line(&name, Field::Name, RuleError::InvalidName);
            let before = counts(&core.db).await;
            let got = idp::manage::update(core, &caller, user_id(&fixed), current.version, &change, None, T0).await;
            match (&want, got) {
                (Ok(n), Ok(view)) => {
                    assert_eq!(&view.user.name, n, "case {i}");
                    assert_eq!(&column(&core.db, "SELECT name FROM users WHERE id = $1", user_id(&fixed)).await, n);
                }
                (Err(want), Err(got)) if same_refusal(want, &got) => {
                    assert_eq!(counts(&core.db).await, before, "case {i}: nothing stored");
                }
                (want, got) => panic!("case {i} {name:?}: update expected {want:?}, got {got:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// O1 import: a name in a CSV file (quoted, so it may hold the separator, quotes and
    /// line breaks) is checked like any name; an accepted one is kept exactly in the job's
    /// row and in the office the worker creates; a refused one is reported on its line as
    /// an invalid name and nothing is stored.
    async fn import_rows_keep_what_the_domain_accepts(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let (caller, _) = admin_and_head(&core.db).await;
        for (i, name) in cases(hostile()).into_iter().enumerate() {
            let number = format!("{}", 30_000 + i);
            let file = format!(
                "advisor_number,name,email,rights\n{number},\"{}\",import{i}@kantoor.nl,DIP\n",
                name.replace('"', "\"\"")
            );
            let before = counts(&core.db).await;
            let checked = imports::check_file(core, file.as_bytes()).await.expect("the file is read");
            match (one_line(&name), checked) {
                (Some(want), Ok(rows)) => {
                    assert_eq!(rows.len(), 1, "case {i} {name:?}");
                    assert_eq!(rows[0].office.name, want, "case {i} {name:?}");
                    let id = Uuid::now_v7();
                    let row = NewJobRow {
                        line: 2,
                        advisor_number: number.clone(),
                        name: rows[0].office.name.clone(),
                        email: rows[0].office.email.as_str().to_owned(),
                        rights: "DIP".into(),
                        allow_sub_offices: false,
                    };
                    let mut entry = AuditRecord::new("import.started");
                    entry.actor_id = Some(caller.user.id);
                    jobs::create(&core.db, id, Some(caller.user.id), None, &[row], &entry, T0).await.unwrap();
                    assert_eq!(jobs::rows(&core.db, id).await.unwrap()[0].name, want, "case {i}");
                    imports::run(core, id).await.unwrap();
                    let stored = jobs::rows(&core.db, id).await.unwrap();
                    assert_eq!(stored[0].outcome.as_deref(), Some(jobs::CREATED), "case {i} {name:?}");
                    let office = stored[0].office_id.expect("the office created");
                    assert_eq!(column(&core.db, "SELECT name FROM offices WHERE id = $1", office).await, want, "case {i}");
                }
                (None, Err(errors)) => {
                    let want = vec![RowError { line: 2, problem: RowProblem::Rule(RuleError::InvalidName) }];
                    assert_eq!(errors, want, "case {i} {name:?}");
                    assert_eq!(counts(&core.db).await, before, "case {i}: nothing stored");
                }
                (want, got) => panic!("case {i} {name:?}: expected {want:?}, got {got:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Names (of users, offices and cities) the search properties store: the `LIKE` wildcards,
/// quotes, a backslash, SQL, letters with and without case, bidi and emoji.
const SEEDS: [&str; 14] = [
    "100% Zeker B.V.",
    "Onder_streep Advies",
    "O'Brien & Zn.",
    "\"Aanhalingstekens\" Verzekeringen",
    "Schuine\\streep",
    "'; DROP TABLE users; --",
    "\u{DC}nal \u{D6}zt\u{FC}rk",
    "\u{132}sselmeer Advies",
    "Stra\u{DF}e 5",
    "\u{1F469}\u{200D}\u{1F4BB} Digitaal",
    "\u{202E}kcab\u{202C} Noord",
    "E\u{301}tienne",
    "abc",
    "ABC",
];

/// The login of seed `i`: two of them hold a wildcard themselves.
fn seed_email(i: usize) -> String {
    match i {
        0 => "honderd%@zoek.nl".into(),
        1 => "onder_streep@zoek.nl".into(),
        _ => format!("z{i}@zoek.nl"),
    }
}

/// What a search may be asked: any hostile text, a piece of a stored name, or a wildcard.
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

/// Queries that every run of the search properties asks, besides the drawn ones.
const WILDCARDS: &[&str] = &[
    "%", "_", "\\", "%%", "_%", "\\%", "'", "\"", "\0", "%\0", "\0%",
];

/// `Σ` lowers to `ς` at the end of a word: the same letter for a search.
fn sigma(c: char) -> char {
    if c == '\u{3C2}' { '\u{3C3}' } else { c }
}

/// Whether `haystack` contains `q` ignoring case, under either reading of "lower case" a
/// database may use (Unicode's full mapping, or one character for one).
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

/// Whether every database must find `q` wherever it occurs literally: it holds no NUL and
/// only characters whose case both databases fold alike (ASCII, or letters without case).
fn literal(q: &str) -> bool {
    q.chars().all(|c| {
        c != '\0'
            && (c.is_ascii()
                || (c.to_lowercase().eq(std::iter::once(c))
                    && c.to_uppercase().eq(std::iter::once(c))))
    })
}

/// Whether a filter on `action` may list an entry of `entry`: the action itself, or a
/// prefix ending in a dot.
fn action_matches(filter: &str, entry: &str) -> bool {
    if filter.ends_with('.') {
        entry.starts_with(filter)
    } else {
        entry == filter
    }
}

/// The audit view's rule for its `action` parameter (`api::audit::parse`), stated again:
/// trimmed; at most 64 bytes of `a-z`, `0-9`, `_` and `.`, not starting with a dot.
fn well_formed_action(raw: &str) -> Option<Option<String>> {
    let t = raw.trim();
    if t.is_empty() {
        return Some(None);
    }
    let ok = t.len() <= 64
        && t.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.'))
        && !t.starts_with('.');
    ok.then(|| Some(t.to_owned()))
}

/// How a client's name is stored: control characters dropped, trimmed, the client id
/// when nothing is left, at most 200 characters.
fn client_name(raw: &str, client_id: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| !matches!(c, '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}'))
        .collect();
    let t = kept.trim();
    let t = if t.is_empty() { client_id } else { t };
    t.chars().take(200).collect()
}

testkit::both_databases! {
    /// U2, O3 searches (`users::list` in each of its SQL texts, `offices::list`): any text
    /// is answered without error, every row listed contains the text (ignoring case) in a
    /// searched column, so `%`, `_`, `\` and NUL match only themselves, and a row that
    /// holds the text literally is listed.
    async fn searches_take_any_text_literally(db: &TestDatabase) {
        let store_db = open(db).await;
        let db_ = &store_db;
        let head = head_office("10001", "hoofd@zoek.nl", "DIP,DIL");
        store(db_, &head).await;
        let head = office_id(&head);
        store(db_, &insurer_admin("beheer@zoek.nl")).await;
        let mut seed_users = Vec::new();
        let mut seed_offices = Vec::new();
        for (i, seed) in SEEDS.iter().enumerate() {
            let mut user = employee(head, &seed_email(i), "");
            user.user.name = (*seed).to_owned();
            store(db_, &user).await;
            seed_users.push((user_id(&user), *seed, user.user.email.clone()));
            let mut office = sub_office(head, &format!("K{i}"), &format!("k{i}@zoek.nl"), "DIP");
            let record = office.office.as_mut().expect("an office");
            record.name = (*seed).to_owned();
            record.city = (*seed).to_owned();
            let number = record.number.clone();
            store(db_, &office).await;
            seed_offices.push((office_id(&office), *seed, number, office.user.email.clone()));
        }
        let reg = registry();
        let page = Page::new(1, Page::MAX_LIMIT).expect("a page");
        let queries = WILDCARDS.iter().map(|q| (*q).to_owned()).chain(cases(query()));
        for (i, q) in queries.enumerate() {
            let user_lists = [
                (Scope::Everyone, None),
                (Scope::OfficeTree(head), None),
                (Scope::Everyone, Some(head)),
            ];
            for (scope, office) in user_lists {
                let filter = Filter { office_id: office, q: Some(q.clone()) };
                let found = users::list(db_, scope, &filter, page, &reg)
                    .await
                    .unwrap_or_else(|e| panic!("case {i} {q:?} {scope:?}: {e:?}"));
                for v in &found.rows {
                    assert!(
                        contains_ignoring_case(&v.user.name, &q) || contains_ignoring_case(v.user.email.as_str(), &q),
                        "case {i} {q:?} {scope:?}: listed {:?} <{}>", v.user.name, v.user.email
                    );
                }
                if literal(&q) {
                    for (id, name, email) in &seed_users {
                        if name.contains(q.as_str()) || email.contains(q.as_str()) {
                            assert!(found.rows.iter().any(|v| v.user.id == *id), "case {i} {q:?} {scope:?}: missed {name:?}");
                        }
                    }
                }
            }
            for scope in [Scope::Everyone, Scope::OfficeTree(head)] {
                let filter = OfficeFilter { kind: None, q: Some(q.clone()) };
                let found = offices::list(db_, scope, &filter, page, &reg)
                    .await
                    .unwrap_or_else(|e| panic!("case {i} {q:?} {scope:?}: {e:?}"));
                for o in &found.rows {
                    assert!(
                        [&o.name, &o.number, &o.email, &o.city].iter().any(|c| contains_ignoring_case(c, &q)),
                        "case {i} {q:?} {scope:?}: listed office {:?}", o.name
                    );
                }
                if literal(&q) {
                    for (id, name, number, email) in &seed_offices {
                        if [*name, number.as_str(), email.as_str()].iter().any(|c| c.contains(q.as_str())) {
                            assert!(found.rows.iter().any(|o| o.id == *id), "case {i} {q:?} {scope:?}: missed office {name:?}");
                        }
                    }
                }
            }
        }
    }

    /// L1: an audit entry's detail (JSON) keeps any text, NUL included (JSON escapes it),
    /// read back as written, also when the entry is an `office.deleted` one that the office
    /// filter reads with the database's JSON functions. The `action` filter takes any text:
    /// the store answers without error and lists only matching entries; the audit view's
    /// parameter check lets only well-formed actions through (`audit.bad_action` else).
    async fn audit_entries_keep_any_text(db: &TestDatabase) {
        let store_db = open(db).await;
        let db_ = &store_db;
        let head = head_office("10001", "hoofd@audit.nl", "DIP");
        store(db_, &head).await;
        let (head, uid) = (office_id(&head), user_id(&head));
        let actions = select(ACTIONS).prop_map(str::to_owned);
        let filter = prop_oneof![2 => hostile(), 2 => actions, 1 => "[a-z_.%\\\\]{0,20}"];
        for (i, (text, action)) in cases((hostile(), filter)).into_iter().enumerate() {
            let mut entry = AuditRecord::new("profile.name_changed");
            entry.target_user_id = Some(uid);
            entry.detail = json!({ "before": { "name": text }, "after": { "name": text }, "note": [text, "x"] });
            audit::record(db_, &entry, T0).await.unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            assert_eq!(detail(db_, entry.id).await, entry.detail, "case {i} {text:?}");
            let page = audit_page(db_, AuditQuery { user_id: Some(uid), ..AuditQuery::default() })
                .await
                .unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            let read = page.entries.iter().find(|e| e.id == entry.id).expect("the entry is listed");
            assert_eq!(serde_json::from_str::<Value>(&read.detail).unwrap(), entry.detail, "case {i}");

            // A deleted sub-office's entry names its head office in the detail (O7), read
            // by the office filter with the database's JSON functions. Its values come from
            // the office's row, which never holds a NUL (the domain refuses control
            // characters; PostgreSQL could not store one): PostgreSQL's `json`/`jsonb`
            // cannot read a `\u0000` escape, so such an entry would fail the filter there.
            let office_text = text.replace('\0', "");
            let mut deleted = AuditRecord::new("office.deleted");
            deleted.target_office_id = Some(Uuid::now_v7());
            deleted.detail = json!({ "before": { "kind": "sub_office", "parent_id": head, "name": office_text } });
            audit::record(db_, &deleted, T0).await.unwrap_or_else(|e| panic!("case {i} {text:?}: {e:?}"));
            let page = audit_page(db_, AuditQuery { office_id: Some(head), ..AuditQuery::default() })
                .await
                .unwrap_or_else(|e| panic!("case {i} {text:?}: the office filter: {e:?}"));
            assert!(page.entries.iter().any(|e| e.id == deleted.id), "case {i} {text:?}: the deleted office's entry");

            let page = audit_page(db_, AuditQuery { action: Some(action.clone()), ..AuditQuery::default() })
                .await
                .unwrap_or_else(|e| panic!("case {i} action {action:?}: {e:?}"));
            for e in &page.entries {
                assert!(action_matches(&action, &e.action), "case {i} action {action:?}: listed {}", e.action);
            }
            for stored in ["profile.name_changed", "office.deleted"] {
                if action_matches(&action, stored) {
                    assert!(page.entries.iter().any(|e| e.action == stored), "case {i} action {action:?}: missed {stored}");
                }
            }
            let params = AuditParams { action: Some(action.clone()), ..AuditParams::default() };
            match (well_formed_action(&action), parse_audit_params(&params)) {
                (Some(want), Ok(f)) => assert_eq!(f.action, want, "case {i} {action:?}"),
                (None, Err(bad)) => assert_eq!((bad.key, bad.field), ("audit.bad_action", "action"), "case {i} {action:?}"),
                (want, got) => panic!("case {i} action {action:?}: expected {want:?}, got {got:?}"),
            }
        }
    }

    /// OP-04 and the client list: a client's name is stored with control characters
    /// dropped, trimmed and cut at 200 characters (the id when nothing is left); a redirect,
    /// post-logout or back-channel URI that the checks accept is stored byte for byte and
    /// holds no control character or white space; one they refuse stores nothing.
    async fn client_registrations_keep_what_they_accept(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let tail = prop_oneof![
            2 => prop::collection::vec(piece(false), 0..4).prop_map(|p| p.concat()),
            1 => hostile(),
        ];
        for (i, (name, tail)) in cases((hostile(), tail)).into_iter().enumerate() {
            let id = format!("rp-{i}");
            let request = ClientRequest {
                client_id: id.clone(),
                name: Some(name.clone()),
                redirect_uris: vec![format!("https://rp.example/cb/{tail}")],
                post_logout_redirect_uris: vec![format!("https://rp.example/na/{tail}")],
                backchannel_logout_uri: Some(format!("https://rp.example/bc/{tail}")),
                require_pkce: true,
                id_token_alg: "RS256".into(),
                ..ClientRequest::default()
            };
            let plain = tail.chars().all(|c| !c.is_control() && !c.is_whitespace() && c != '#' && c != '*');
            let before = counts(&core.db).await;
            let registered = match idp::oidc_clients::prepare(&request) {
                Ok(prepared) => idp::oidc_clients::store(core, None, &prepared, Taken::Refuse, None, T0).await,
                Err(e) => Err(e),
            };
            match registered {
                Ok(()) => {
                    let c = clients::get(&core.db, &id).await.unwrap().expect("the client");
                    assert_eq!(c.name, client_name(&name, &id), "case {i} {name:?}");
                    assert_eq!(c.redirect_uris, request.redirect_uris, "case {i} {tail:?}");
                    assert_eq!(c.post_logout_redirect_uris, request.post_logout_redirect_uris, "case {i} {tail:?}");
                    assert_eq!(c.backchannel_logout_uri, request.backchannel_logout_uri, "case {i} {tail:?}");
                    assert!(!tail.chars().any(|c| c.is_control() || c.is_whitespace()), "case {i}: accepted {tail:?}");
                    let entry = idp::with_db!(&core.db, |pool| sqlx::query_scalar::<_, String>(
                        "SELECT detail FROM audit_log WHERE action = 'client.registered' AND detail LIKE $1"
                    )
                    .bind(format!("%\"client_id\":\"{id}\"%"))
                    .fetch_one(pool)
                    .await)
                    .expect("the audit entry");
                    let entry: Value = serde_json::from_str(&entry).unwrap();
                    assert_eq!(entry["name"], json!(c.name), "case {i}");
                }
                Err(ClientError::Refused(ClientRefused::Uri { .. })) if !plain => {
                    assert_eq!(counts(&core.db).await, before, "case {i} {tail:?}: nothing stored");
                }
                Err(e) => panic!("case {i} name {name:?} tail {tail:?}: {e:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

// Regressions found by the properties above (issue 9), fixed cases that always run.
testkit::both_databases! {
    /// A NUL in a search text matched every row on SQLite (its `LIKE` ended the pattern at
    /// the NUL, leaving `%`) and failed on PostgreSQL (a NUL in a text parameter, a 500).
    async fn a_nul_in_a_search_lists_nothing(db: &TestDatabase) {
        let store_db = open(db).await;
        let db_ = &store_db;
        let head = head_office("10001", "hoofd@nul.nl", "DIP");
        store(db_, &head).await;
        let head = office_id(&head);
        store(db_, &sub_office(head, "S1", "sub@nul.nl", "DIP")).await;
        let page = Page::new(1, Page::MAX_LIMIT).expect("a page");
        for q in ["\0", "\0%", "%\0", "hoofd\0", "\0\0"] {
            for scope in [Scope::Everyone, Scope::OfficeTree(head)] {
                let filter = Filter { office_id: None, q: Some(q.into()) };
                let users = users::list(db_, scope, &filter, page, &registry()).await;
                assert!(users.as_ref().is_ok_and(|p| p.rows.is_empty()), "{q:?} {scope:?}: {users:?}");
                let filter = OfficeFilter { kind: None, q: Some(q.into()) };
                let found = offices::list(db_, scope, &filter, page, &registry()).await;
                assert!(found.as_ref().is_ok_and(|p| p.rows.is_empty()), "{q:?} {scope:?}: {found:?}");
            }
            let filter = Filter { office_id: Some(head), q: Some(q.into()) };
            let users = users::list(db_, Scope::Everyone, &filter, page, &registry()).await;
            assert!(users.as_ref().is_ok_and(|p| p.rows.is_empty()), "{q:?}: {users:?}");
        }
    }

    /// The audit view's store: a NUL in the action filter failed on PostgreSQL (a 500).
    async fn a_nul_in_the_action_filter_lists_nothing(db: &TestDatabase) {
        let store_db = open(db).await;
        let db_ = &store_db;
        let head = head_office("10001", "hoofd@nul.nl", "DIP");
        store(db_, &head).await;
        for action in ["\0", "office.deleted\0", "office.\0"] {
            let query = AuditQuery { action: Some(action.into()), limit: 10, ..AuditQuery::default() };
            let page = audit::search(db_, Scope::Everyone, &query).await;
            assert!(page.as_ref().is_ok_and(|p| p.entries.is_empty()), "{action:?}: {:?}", page.map(|p| p.entries.len()));
        }
    }

    /// A client's name or back-channel URI with a NUL failed on PostgreSQL (a 500); a CR/LF
    /// was kept in the name and in URIs. Now control characters leave the name and make a
    /// URI refused, with nothing stored.
    async fn client_registrations_refuse_or_drop_control_characters(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let request = |id: &str, name: &str, back: &str| ClientRequest {
            client_id: id.into(),
            name: Some(name.into()),
            redirect_uris: vec!["https://rp.example/cb".into()],
            backchannel_logout_uri: Some(back.into()),
            require_pkce: true,
            id_token_alg: "RS256".into(),
            ..ClientRequest::default()
        };
        let ok = request("rp-a", "Acme\0 CRM\r\n", "https://rp.example/bc");
        let prepared = idp::oidc_clients::prepare(&ok).expect("accepted");
        idp::oidc_clients::store(core, None, &prepared, Taken::Refuse, None, T0).await.expect("stored");
        assert_eq!(clients::get(&core.db, "rp-a").await.unwrap().expect("the client").name, "Acme CRM");
        let before = counts(&core.db).await;
        for back in ["https://rp.example/bc\0", "https://rp.example/bc\r\nX: y", "https://rp.example/b c"] {
            let refused = idp::oidc_clients::prepare(&request("rp-b", "B", back));
            assert!(
                matches!(refused, Err(ClientError::Refused(ClientRefused::Uri { .. }))),
                "{back:?}: {refused:?}"
            );
        }
        assert_eq!(counts(&core.db).await, before);
        let _ = std::fs::remove_dir_all(dir);
    }
}
