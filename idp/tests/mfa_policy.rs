//! The MFA mandate per head office (issue 10) on SQLite and PostgreSQL, with the demo
//! offices: head office 12345 "Voorbeeld Advies" (Nick, Ilse), its sub-office Z01
//! "Onderbemiddeling Zuid" (Sanne, Tim), head office 67890 "Pensioenhuis Noord" (Eva,
//! Joost). Nobody has a second factor at the start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idp::Idp;
use idp::config::{RawSettings, Settings};
use idp::domain::Email;
use idp::mfa_policy::{self, AtSignIn, Manual};
use idp::store::accounts::{self, Principal};
use idp::store::audit::AuditRecord;
use idp::store::mfa;
use product_registry::Registry;
use testkit::TestDatabase;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

async fn open(db: &TestDatabase, setting: Date) -> Idp {
    let dir = std::env::temp_dir().join(format!("idp-mfa-{}", Uuid::new_v4().simple()));
    let settings = Settings::from_raw(RawSettings {
        database_url: db.url.clone(),
        data_dir: dir.display().to_string(),
        master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        mfa_required_from: setting.to_string(),
        ..RawSettings::default()
    })
    .unwrap();
    let idp = Idp::open(settings, Registry::builtin().unwrap())
        .await
        .unwrap();
    idp::demo::seed(&idp.state, idp.state.now()).await.unwrap();
    idp
}

async fn who(idp: &Idp, email: &str) -> Principal {
    let user = accounts::user_by_email(
        &idp.state.db,
        &Email::parse(email).unwrap(),
        &idp.state.registry,
    )
    .await
    .unwrap()
    .unwrap();
    accounts::principal(&idp.state.db, user.id, &idp.state.registry)
        .await
        .unwrap()
        .unwrap()
}

async fn reminders_queued(idp: &Idp) -> i64 {
    idp::with_db!(&idp.state.db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'mfa_reminder'"
    )
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn set_policy(idp: &Idp, office: Uuid, from: Option<Date>, grace: u32) {
    let saved = mfa::set_policy(
        &idp.state.db,
        office,
        from,
        grace,
        &AuditRecord::new("office.mfa_policy_changed"),
        idp.state.now(),
    )
    .await
    .unwrap();
    assert!(saved);
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

testkit::both_databases! {
    /// The housekeeping's reminders: 14 days before, then 3 days before, each once per
    /// user and date however often it runs; a new date is a new mandate.
    async fn reminders_go_once_each(db: &TestDatabase) {
        let setting = today() + Duration::days(10);
        let idp = open(db, setting).await;
        let now = OffsetDateTime::now_utc();
        let first = mfa_policy::queue_reminders(&idp.state, now).await.unwrap();
        // All seven demo users (the insurer admin too) are activated and have no factor.
        assert_eq!(first, 7);
        assert_eq!(reminders_queued(&idp).await, 7);
        assert_eq!(mfa_policy::queue_reminders(&idp.state, now).await.unwrap(), 0, "once");
        assert_eq!(reminders_queued(&idp).await, 7);
        // Eight days on, three days before: the 3-day reminder, once.
        let later = now + Duration::days(8);
        assert_eq!(mfa_policy::queue_reminders(&idp.state, later).await.unwrap(), 7);
        assert_eq!(mfa_policy::queue_reminders(&idp.state, later).await.unwrap(), 0);
        // A head office moved to a date further off: its tree is reminded for that date;
        // after it, nothing (the date has come).
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        let head = nick.user.office_id.unwrap();
        set_policy(&idp, head, Some(today() + Duration::days(40)), 0).await;
        let much_later = now + Duration::days(27);
        assert_eq!(
            mfa_policy::queue_reminders(&idp.state, much_later).await.unwrap(),
            4,
            "Nick, Ilse, Sanne and Tim: the 14-day reminder of the new date"
        );
        assert_eq!(reminders_queued(&idp).await, 18);
        let past = now + Duration::days(41);
        assert_eq!(mfa_policy::queue_reminders(&idp.state, past).await.unwrap(), 0);
    }

    /// Grace of 2: two password-only sign-ins, then enrolment; a sub-office follows its
    /// head office; another head office keeps the setting (here: passed, no grace).
    async fn grace_is_counted_per_tree(db: &TestDatabase) {
        let idp = open(db, today() - Duration::days(1)).await;
        let now = OffsetDateTime::now_utc();
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        set_policy(&idp, nick.user.office_id.unwrap(), None, 2).await;
        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await.user.id;
        let tim = who(&idp, "tim@onderbemiddeling.nl").await.user.id;
        let joost = who(&idp, "joost@pensioenhuisnoord.nl").await.user.id;
        let state = &idp.state;
        assert_eq!(mfa_policy::at_sign_in(state, ilse, None, now).await.unwrap(), AtSignIn::Grace { left: 1 });
        assert_eq!(mfa_policy::at_sign_in(state, ilse, None, now).await.unwrap(), AtSignIn::Grace { left: 0 });
        assert_eq!(mfa_policy::at_sign_in(state, ilse, None, now).await.unwrap(), AtSignIn::Enrol);
        assert_eq!(mfa_policy::at_sign_in(state, tim, None, now).await.unwrap(), AtSignIn::Grace { left: 1 }, "the sub-office follows");
        assert_eq!(mfa_policy::at_sign_in(state, joost, None, now).await.unwrap(), AtSignIn::Enrol);
        // The grace session counts at authorize and refresh; a password-only one from
        // before the date does not; none at all in the tree without grace.
        assert!(mfa_policy::session_suffices(state, ilse, "pwd", now, now).await.unwrap());
        assert!(!mfa_policy::session_suffices(state, ilse, "pwd", now - Duration::days(2), now).await.unwrap());
        assert!(!mfa_policy::session_suffices(state, joost, "pwd", now, now).await.unwrap());
        // Twenty parallel grace sign-ins of a fresh user never get more than the grace.
        let sanne = who(&idp, "zuid@onderbemiddeling.nl").await.user.id;
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let db = state.db.clone();
                let from = today() - Duration::days(1);
                tokio::spawn(async move { mfa::use_grace(&db, sanne, from, 2).await.unwrap() })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                granted += 1;
            }
        }
        assert_eq!(granted, 2);
        // A new date is a new mandate, with a fresh grace.
        set_policy(&idp, nick.user.office_id.unwrap(), Some(today()), 2).await;
        assert_eq!(mfa_policy::at_sign_in(state, ilse, None, now).await.unwrap(), AtSignIn::Grace { left: 1 });
    }

    /// Only a head office has a policy; a sub-office's users with grace and reminder rows
    /// can still be deleted with it (O7: the rows go along, ON DELETE CASCADE).
    async fn policy_rows_follow_the_offices(db: &TestDatabase) {
        let idp = open(db, today() - Duration::days(1)).await;
        let state = &idp.state;
        let sanne = who(&idp, "zuid@onderbemiddeling.nl").await;
        let sub = sanne.user.office_id.unwrap();
        let refused = mfa::set_policy(&state.db, sub, None, 3, &AuditRecord::new("office.mfa_policy_changed"), state.now()).await.unwrap();
        assert!(!refused, "a sub-office follows its head office");
        assert_eq!(mfa::policy_of_head_office(&state.db, sub).await.unwrap(), None);
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        set_policy(&idp, nick.user.office_id.unwrap(), None, 2).await;
        let tim = who(&idp, "tim@onderbemiddeling.nl").await.user.id;
        let now = OffsetDateTime::now_utc();
        assert_eq!(mfa_policy::at_sign_in(state, tim, None, now).await.unwrap(), AtSignIn::Grace { left: 1 });
        assert_eq!(mfa_policy::send_manual(state, &nick, tim, None, now).await.unwrap(), Manual::Sent);
        let version: i64 = idp::with_db!(&state.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT CAST(version AS BIGINT) FROM offices WHERE id = $1"
        )
        .bind(sub)
        .fetch_one(pool)
        .await)
        .unwrap();
        let deleted = idp::store::offices::delete_sub_office(&state.db, sub, version, &[], &AuditRecord::new("office.deleted"), now).await.unwrap();
        assert_eq!(deleted, idp::store::offices::Outcome::Done);
        let left: i64 = idp::with_db!(&state.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM mfa_grace) + (SELECT COUNT(*) FROM mfa_reminders)"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(left, 0);
    }

    /// The 2FA-status list is scoped to the tree asked for; "Herinnering sturen" goes at
    /// most once per 24 hours per user.
    async fn status_list_and_manual_reminder(db: &TestDatabase) {
        let idp = open(db, today() + Duration::days(30)).await;
        let state = &idp.state;
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        let sanne = who(&idp, "zuid@onderbemiddeling.nl").await;
        let names = |rows: Vec<mfa::WithoutFactor>| {
            let mut n: Vec<String> = rows.into_iter().map(|w| w.name).collect();
            n.sort();
            n
        };
        let head_tree = mfa::without_factor(&state.db, nick.user.office_id, state.settings.mfa_required_from).await.unwrap();
        assert_eq!(names(head_tree), ["Ilse de Vries", "Nick Jansen", "Sanne Bakker", "Tim de Boer"]);
        let sub_tree = mfa::without_factor(&state.db, sanne.user.office_id, state.settings.mfa_required_from).await.unwrap();
        assert_eq!(names(sub_tree), ["Sanne Bakker", "Tim de Boer"]);
        let all = mfa::without_factor(&state.db, None, state.settings.mfa_required_from).await.unwrap();
        assert_eq!(all.len(), 6, "every office user, not the insurer admin");
        // O6: a deactivated office's users cannot sign in; they are neither listed nor reminded.
        idp::with_db!(&state.db, |pool| sqlx::query(
            "UPDATE offices SET active = FALSE WHERE number = '67890'"
        )
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .unwrap();
        let active_only = mfa::without_factor(&state.db, None, state.settings.mfa_required_from)
            .await
            .unwrap();
        assert_eq!(names(active_only), ["Ilse de Vries", "Nick Jansen", "Sanne Bakker", "Tim de Boer"]);

        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await.user.id;
        let now = OffsetDateTime::now_utc();
        assert_eq!(mfa_policy::send_manual(state, &nick, ilse, None, now).await.unwrap(), Manual::Sent);
        assert_eq!(mfa_policy::send_manual(state, &nick, ilse, None, now + Duration::hours(23)).await.unwrap(), Manual::TooSoon);
        assert_eq!(reminders_queued(&idp).await, 1);
        assert_eq!(mfa_policy::send_manual(state, &nick, ilse, None, now + Duration::hours(25)).await.unwrap(), Manual::Sent);
        assert_eq!(reminders_queued(&idp).await, 2);
        let listed = mfa::one_without_factor(&state.db, ilse, state.settings.mfa_required_from).await.unwrap().unwrap();
        assert!(listed.reminded_at.is_some());
    }
}
