//! Users as the admin API manages them (issue 6; SECURITY AC-03): lists and look-ups are
//! scoped in the SQL, and a change is stored only from the version it was made from, with
//! its audit entry, mails, and (on deactivation) the end of the user's sessions, together.

use idp::crypto;
use idp::domain::manage::Scope;
use idp::store::audit::AuditRecord;
use idp::store::sessions::{self, NewSession};
use idp::store::tokens::{self, LinkState, Purpose};
use idp::store::users::{self, Filter, Updated, UserUpdate};
use idp::store::{Constraint, Db, StoreError};
use testkit::TestDatabase;
use time::Duration;
use uuid::Uuid;

use crate::support::{
    T0, count, employee, head_office, insurer_admin, mail, office_id, open, registry, store,
    sub_office, user_id, with_link,
};

/// Two head offices, the first with a sub-office, each office with an employee, and an
/// insurer admin. Returns (head A, sub S of A, head B) office ids.
async fn offices(db: &Db) -> (Uuid, Uuid, Uuid) {
    let a = head_office("11111", "info@a.nl", "DIP,DIL,ORV");
    let b = head_office("22222", "info@b.nl", "DIL");
    store(db, &a).await;
    store(db, &b).await;
    let s = sub_office(office_id(&a), "S1", "info@s.nl", "DIP");
    store(db, &s).await;
    for (office, login) in [
        (office_id(&a), "emp@a.nl"),
        (office_id(&s), "emp@s.nl"),
        (office_id(&b), "emp@b.nl"),
    ] {
        store(db, &employee(office, login, "")).await;
    }
    store(db, &insurer_admin("admin@verzekeraar.nl")).await;
    (office_id(&a), office_id(&s), office_id(&b))
}

async fn emails(db: &Db, scope: Scope, filter: &Filter) -> Vec<String> {
    users::list(db, scope, filter, users::Page::first(), &registry())
        .await
        .unwrap()
        .rows
        .into_iter()
        .map(|v| v.user.email.to_string())
        .collect()
}

async fn id_of(db: &Db, email: &str) -> Uuid {
    idp::with_db!(db, |pool| sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await)
    .unwrap()
}

fn change<'a>(id: Uuid, version: i64, name: &'a str, audit: &'a AuditRecord) -> UserUpdate<'a> {
    UserUpdate {
        id,
        expected_version: version,
        name,
        email: "emp@a.nl",
        rights: "",
        active: true,
        end_sessions: false,
        void_links: false,
        pending_email: None,
        mails: &[],
        audit,
        decision: None,
    }
}

testkit::both_databases! {
    /// U2, AC-02, AC-03: a main user's scope is its office and its sub-offices, in office
    /// order; a sub-office's is itself; an employee's is no one; filters narrow within it.
    async fn lists_and_look_ups_are_scoped_in_sql(db: &TestDatabase) {
        let db = open(db).await;
        let (a, s, b) = offices(&db).await;
        let all = Filter::default();
        assert_eq!(
            emails(&db, Scope::OfficeTree(a), &all).await,
            ["emp@a.nl", "info@a.nl", "emp@s.nl", "info@s.nl"],
            "the head office, then its sub-office; by name within each"
        );
        assert_eq!(emails(&db, Scope::OfficeTree(s), &all).await, ["emp@s.nl", "info@s.nl"]);
        assert_eq!(emails(&db, Scope::Everyone, &all).await.len(), 7);
        assert!(emails(&db, Scope::Nobody, &all).await.is_empty());
        // Filters never widen the scope.
        let in_b = Filter { office_id: Some(b), q: None };
        assert!(emails(&db, Scope::OfficeTree(a), &in_b).await.is_empty());
        assert_eq!(emails(&db, Scope::Everyone, &in_b).await, ["emp@b.nl", "info@b.nl"]);
        let search = |q: &str| Filter { office_id: None, q: Some(q.to_owned()) };
        assert_eq!(emails(&db, Scope::OfficeTree(a), &search("EMP@")).await, ["emp@a.nl", "emp@s.nl"]);
        assert!(emails(&db, Scope::OfficeTree(a), &search("b.nl")).await.is_empty());
        assert!(emails(&db, Scope::Everyone, &search("_")).await.is_empty(), "_ is no wildcard");
        assert_eq!(emails(&db, Scope::Everyone, &search("gebruiker admin@")).await, ["admin@verzekeraar.nl"]);

        let reg = registry();
        let emp_b = id_of(&db, "emp@b.nl").await;
        assert!(users::get(&db, Scope::OfficeTree(a), emp_b, &reg).await.unwrap().is_none());
        let emp_s = id_of(&db, "emp@s.nl").await;
        let seen = users::get(&db, Scope::OfficeTree(a), emp_s, &reg).await.unwrap().unwrap();
        let office = seen.office.unwrap();
        assert_eq!((office.id, office.parent_id, seen.version), (s, Some(a), 1));
        let head = id_of(&db, "info@a.nl").await;
        assert!(users::get(&db, Scope::OfficeTree(s), head, &reg).await.unwrap().is_none());
        let admin = id_of(&db, "admin@verzekeraar.nl").await;
        let admin_view = users::get(&db, Scope::Everyone, admin, &reg).await.unwrap().unwrap();
        assert!(admin_view.office.is_none());
    }

    /// U2 for an insurer admin (issue 8: read by walking the head offices by name): every
    /// head office, then its sub-offices, by name within each, and the insurer admins last;
    /// pages of every size cut that one order, across the last office user and the first
    /// admin too, and a page past the end is empty.
    async fn everyones_pages_cut_one_order(db: &TestDatabase) {
        let db = open(db).await;
        offices(&db).await;
        store(&db, &insurer_admin("beheer@verzekeraar.nl")).await;
        let all = emails(&db, Scope::Everyone, &Filter::default()).await;
        assert_eq!(
            all,
            [
                "emp@a.nl", "info@a.nl", "emp@s.nl", "info@s.nl", "emp@b.nl", "info@b.nl",
                "admin@verzekeraar.nl", "beheer@verzekeraar.nl",
            ]
        );
        let reg = registry();
        for limit in 1..=9 {
            let mut paged = Vec::new();
            for number in 1..=10 {
                let page = users::Page::new(number, limit).unwrap();
                let p = users::list(&db, Scope::Everyone, &Filter::default(), page, &reg)
                    .await
                    .unwrap();
                paged.extend(p.rows.into_iter().map(|v| v.user.email.to_string()));
                if !p.more {
                    break;
                }
            }
            assert_eq!(paged, all, "pages of {limit}");
        }
        let past = users::list(&db, Scope::Everyone, &Filter::default(), users::Page::new(5, 2).unwrap(), &reg)
            .await
            .unwrap();
        assert!(past.rows.is_empty() && !past.more);
    }

    /// Optimistic concurrency: a change made from an old version writes nothing at all.
    async fn a_change_from_a_stale_version_writes_nothing(db: &TestDatabase) {
        let db = open(db).await;
        offices(&db).await;
        let id = id_of(&db, "emp@a.nl").await;
        let audit = AuditRecord { target_user_id: Some(id), ..AuditRecord::new("user.updated") };
        let first = users::update(&db, &change(id, 1, "Eerste", &audit), T0).await.unwrap();
        assert_eq!(first, Updated::Done(2));
        let audits = count(&db, "audit_log").await;
        let audit2 = AuditRecord { target_user_id: Some(id), ..AuditRecord::new("user.updated") };
        let stale = users::update(&db, &change(id, 1, "Tweede", &audit2), T0).await.unwrap();
        assert_eq!(stale, Updated::Stale);
        assert_eq!(count(&db, "audit_log").await, audits);
        let view = users::get(&db, Scope::Everyone, id, &registry()).await.unwrap().unwrap();
        assert_eq!((view.user.name.as_str(), view.version), ("Eerste", 2));
        let gone = users::update(&db, &change(Uuid::now_v7(), 1, "X", &audit2), T0).await.unwrap();
        assert_eq!(gone, Updated::Stale);
    }

    /// U3: a change to another user's e-mail is a conflict, and nothing of it is stored.
    async fn a_taken_email_is_a_conflict_and_writes_nothing(db: &TestDatabase) {
        let db = open(db).await;
        offices(&db).await;
        let id = id_of(&db, "emp@a.nl").await;
        let audit = AuditRecord::new("user.updated");
        let mails = [mail("emp@a.nl", b"sealed notice")];
        let taken = UserUpdate { email: "emp@b.nl", mails: &mails, ..change(id, 1, "X", &audit) };
        let (audits, outbox) = (count(&db, "audit_log").await, count(&db, "outbox").await);
        match users::update(&db, &taken, T0).await {
            Err(StoreError::Conflict { constraint: Constraint::UserEmail }) => {}
            other => panic!("expected a conflict on the e-mail, got {other:?}"),
        }
        assert_eq!((count(&db, "audit_log").await, count(&db, "outbox").await), (audits, outbox));
        let view = users::get(&db, Scope::Everyone, id, &registry()).await.unwrap().unwrap();
        assert_eq!((view.user.email.as_str(), view.version), ("emp@a.nl", 1));
    }

    /// O6, SE-05: deactivating ends every session of the user in the same transaction;
    /// a new e-mail voids the links mailed to the old one.
    async fn deactivation_ends_sessions_and_a_new_email_voids_links(db: &TestDatabase) {
        let db = open(db).await;
        let (a, ..) = offices(&db).await;
        let account = with_link(employee(a, "nieuw@a.nl", ""), "activation-token");
        store(&db, &account).await;
        let id = user_id(&account);
        let other = id_of(&db, "emp@a.nl").await;
        for (user, cookie) in [(id, "cookie-1"), (id, "cookie-2"), (other, "cookie-3")] {
            let s = NewSession {
                id_hash: crypto::token_hash(cookie),
                user_id: user,
                auth_time: T0,
                amr: "pwd".to_owned(),
                expires_at: T0 + Duration::hours(8),
            };
            sessions::create(&db, &s, T0).await.unwrap();
        }
        let audit = AuditRecord::new("user.updated");
        let mails = [mail("nieuw@a.nl", b"sealed notice")];
        let outbox = count(&db, "outbox").await;
        let off = UserUpdate {
            email: "ander@a.nl",
            active: false,
            end_sessions: true,
            void_links: true,
            mails: &mails,
            ..change(id, 1, "Nieuw", &audit)
        };
        assert_eq!(users::update(&db, &off, T0).await.unwrap(), Updated::Done(2));
        for (cookie, ended) in [("cookie-1", true), ("cookie-2", true), ("cookie-3", false)] {
            let s = sessions::find(&db, &crypto::token_hash(cookie)).await.unwrap().unwrap();
            assert_eq!(s.revoked_at.is_some(), ended, "{cookie}");
        }
        assert_eq!(count(&db, "outbox").await, outbox + 1);
        // Re-activate to see the link itself, not the inactive account.
        let audit2 = AuditRecord::new("user.updated");
        let on = UserUpdate { email: "ander@a.nl", ..change(id, 2, "Nieuw", &audit2) };
        assert_eq!(users::update(&db, &on, T0).await.unwrap(), Updated::Done(3));
        let state = tokens::peek(&db, &crypto::token_hash("activation-token"), Purpose::Activation, T0)
            .await
            .unwrap();
        assert_eq!(state, LinkState::Expired);
    }

    /// AC-10: a new e-mail waits beside the user, the old one staying the login; the
    /// confirmation makes it the login once, voids the old address's links, and refuses an
    /// address another account took meanwhile (nothing changes then); an expired link is
    /// found no more.
    async fn a_waiting_email_becomes_the_login_only_when_confirmed(db: &TestDatabase) {
        use idp::store::email_changes::{self, Confirmed, PendingEmail};
        let db = open(db).await;
        let (a, ..) = offices(&db).await;
        let account = with_link(employee(a, "wacht@a.nl", ""), "reset-token");
        store(&db, &account).await;
        let id = user_id(&account);
        let other = id_of(&db, "emp@a.nl").await;
        let pending = |email: &str, token: &str| PendingEmail {
            new_email: email.to_owned(),
            token_hash: crypto::token_hash(token),
            requested_by: other,
            expires_at: T0 + Duration::days(7),
        };
        let (a1, a2, a3, a4) = (
            AuditRecord::new("user.updated"),
            AuditRecord::new("user.updated"),
            AuditRecord::new("user.updated"),
            AuditRecord::new("user.updated"),
        );
        let first = pending("bezet@a.nl", "link-1");
        let ask = UserUpdate { email: "wacht@a.nl", pending_email: Some(&first), ..change(id, 1, "Wacht", &a1) };
        assert_eq!(users::update(&db, &ask, T0).await.unwrap(), Updated::Done(2));
        assert_eq!(email_changes::pending(&db, id, T0).await.unwrap().as_deref(), Some("bezet@a.nl"));
        assert_eq!(users::get(&db, Scope::Everyone, id, &registry()).await.unwrap().unwrap().user.email.as_str(), "wacht@a.nl");

        // Someone else takes the address before it is confirmed: refused, nothing changes.
        let taken = UserUpdate { email: "bezet@a.nl", ..change(other, 1, "Ander", &a2) };
        assert_eq!(users::update(&db, &taken, T0).await.unwrap(), Updated::Done(2));
        let found = email_changes::find(&db, &crypto::token_hash("link-1"), T0).await.unwrap().unwrap();
        let done = AuditRecord::new("user.email_confirmed");
        let audits = count(&db, "audit_log").await;
        assert_eq!(email_changes::confirm(&db, &crypto::token_hash("link-1"), &found, &done, &[], T0).await.unwrap(), Confirmed::Taken);
        assert_eq!(count(&db, "audit_log").await, audits);
        assert_eq!(users::get(&db, Scope::Everyone, id, &registry()).await.unwrap().unwrap().version, 2);

        // A newer change replaces it; the older link is found no more.
        let second = pending("nieuw@a.nl", "link-2");
        let again = UserUpdate { email: "wacht@a.nl", pending_email: Some(&second), ..change(id, 2, "Wacht", &a3) };
        assert_eq!(users::update(&db, &again, T0).await.unwrap(), Updated::Done(3));
        assert_eq!(email_changes::find(&db, &crypto::token_hash("link-1"), T0).await.unwrap(), None);
        let found = email_changes::find(&db, &crypto::token_hash("link-2"), T0).await.unwrap().unwrap();
        assert_eq!(found.new_email, "nieuw@a.nl");
        let mails = [mail("wacht@a.nl", b"sealed notice")];
        let (audits, outbox) = (count(&db, "audit_log").await, count(&db, "outbox").await);
        assert_eq!(email_changes::confirm(&db, &crypto::token_hash("link-2"), &found, &done, &mails, T0).await.unwrap(), Confirmed::Done);
        let view = users::get(&db, Scope::Everyone, id, &registry()).await.unwrap().unwrap();
        assert_eq!((view.user.email.as_str(), view.version), ("nieuw@a.nl", 4));
        assert_eq!((count(&db, "audit_log").await, count(&db, "outbox").await), (audits + 1, outbox + 1));
        assert_eq!(email_changes::pending(&db, id, T0).await.unwrap(), None);
        let state = tokens::peek(&db, &crypto::token_hash("reset-token"), Purpose::Activation, T0).await.unwrap();
        assert_eq!(state, LinkState::Expired, "links to the old address stop working");
        // Once only.
        assert_eq!(email_changes::confirm(&db, &crypto::token_hash("link-2"), &found, &done, &[], T0).await.unwrap(), Confirmed::Gone);

        // A link past its end is found no more.
        let third = pending("later@a.nl", "link-3");
        let late = UserUpdate { email: "nieuw@a.nl", pending_email: Some(&third), ..change(id, 4, "Wacht", &a4) };
        assert_eq!(users::update(&db, &late, T0).await.unwrap(), Updated::Done(5));
        let after = T0 + Duration::days(8);
        assert_eq!(email_changes::waiting_for_address(&db, "later@a.nl", T0).await.unwrap(), Some(id));
        assert_eq!(email_changes::find(&db, &crypto::token_hash("link-3"), after).await.unwrap(), None);
        assert_eq!(email_changes::pending(&db, id, after).await.unwrap(), None);
        assert_eq!(email_changes::waiting_for_address(&db, "later@a.nl", after).await.unwrap(), None);
        assert_eq!(email_changes::purge(&db, after).await.unwrap(), 1);

        // Deactivating the user drops a change that waits.
        let a5 = AuditRecord::new("user.updated");
        let fourth = pending("weer@a.nl", "link-4");
        let ask = UserUpdate { email: "nieuw@a.nl", pending_email: Some(&fourth), ..change(id, 5, "Wacht", &a5) };
        assert_eq!(users::update(&db, &ask, T0).await.unwrap(), Updated::Done(6));
        let a6 = AuditRecord::new("user.updated");
        let off = UserUpdate { email: "nieuw@a.nl", active: false, end_sessions: true, ..change(id, 6, "Wacht", &a6) };
        assert_eq!(users::update(&db, &off, T0).await.unwrap(), Updated::Done(7));
        assert_eq!(email_changes::find(&db, &crypto::token_hash("link-4"), T0).await.unwrap(), None);
    }
}
