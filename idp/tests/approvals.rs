//! Four-eyes (issue 10) on SQLite and PostgreSQL, through the real flows and store, with
//! the demo offices: head office 12345 "Voorbeeld Advies" (DIP, DIL, ORV; Nick, Ilse),
//! head office 67890 "Pensioenhuis Noord" (DIL, no sub-offices; Eva, Joost), the insurer
//! admin beheer@offerteportaal.local and, added here, a second insurer admin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idp::Idp;
use idp::approvals::{self, ApprovalError};
use idp::config::{RawSettings, Settings};
use idp::domain::Email;
use idp::domain::manage::Scope;
use idp::manage::{self, ManageError, UserChange};
use idp::offices::{self, OfficeChange};
use idp::store::accounts::{self, Principal};
use idp::store::approvals::{self as store, Outcome, Pending};
use idp::store::{offices as office_store, users};
use product_registry::Registry;
use testkit::TestDatabase;
use uuid::Uuid;

async fn open(db: &TestDatabase, four_eyes: Option<&str>) -> Idp {
    let idp = open_with(db, four_eyes).await;
    idp::demo::seed(&idp.state, idp.state.now()).await.unwrap();
    idp::provision::add_insurer_admin(
        &idp.state,
        "Bram Tweede",
        "bram@offerteportaal.local",
        None,
        idp.state.now(),
    )
    .await
    .unwrap();
    idp
}

/// The portal over `db` as it is (no seeding), with `PORTAL_FOUR_EYES` if given.
async fn open_with(db: &TestDatabase, four_eyes: Option<&str>) -> Idp {
    let dir = std::env::temp_dir().join(format!("idp-4eyes-{}", Uuid::new_v4().simple()));
    let mut raw = RawSettings {
        database_url: db.url.clone(),
        data_dir: dir.display().to_string(),
        master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ..RawSettings::default()
    };
    if let Some(f) = four_eyes {
        raw.four_eyes = f.into();
    }
    Idp::open(
        Settings::from_raw(raw).unwrap(),
        Registry::builtin().unwrap(),
    )
    .await
    .unwrap()
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

async fn office(idp: &Idp, number: &str) -> office_store::OfficeView {
    let page = office_store::list(
        &idp.state.db,
        Scope::Everyone,
        &office_store::OfficeFilter::default(),
        idp::store::users::Page {
            number: 1,
            limit: 100,
        },
        &idp.state.registry,
    )
    .await
    .unwrap();
    page.rows.into_iter().find(|o| o.number == number).unwrap()
}

/// (action, actor, detail) of every entry with `action`, oldest first.
async fn entries(idp: &Idp, action: &str) -> Vec<(Option<Uuid>, serde_json::Value)> {
    let rows: Vec<(Option<Uuid>, String)> = idp::with_db!(&idp.state.db, |pool| sqlx::query_as(
        "SELECT actor_id, detail FROM audit_log WHERE action = $1 ORDER BY id"
    )
    .bind(action)
    .fetch_all(pool)
    .await)
    .unwrap();
    rows.into_iter()
        .map(|(a, d)| (a, serde_json::from_str(&d).unwrap()))
        .collect()
}

fn waiting(r: Result<impl std::fmt::Debug, ManageError>) -> Pending {
    match r {
        Err(ManageError::Waiting(p)) => *p,
        other => panic!("expected a waiting change, got {other:?}"),
    }
}

const ADMIN: &str = "beheer@offerteportaal.local";
const SECOND: &str = "bram@offerteportaal.local";

testkit::both_databases! {
    /// Allowing sub-offices waits with its `change.requested` entry and changes nothing,
    /// the phone in the same request neither; the requester and a main user cannot
    /// approve it; a second admin's approval applies the whole request once.
    async fn a_listed_office_change_waits_for_a_second_admin(db: &TestDatabase) {
        let idp = open(db, None).await;
        let (core, now) = (&idp.state, idp.state.now());
        let (a, b) = (who(&idp, ADMIN).await, who(&idp, SECOND).await);
        let noord = office(&idp, "67890").await;
        assert!(!noord.allow_sub_offices);
        let change = OfficeChange {
            allow_sub_offices: Some(true),
            phone: Some("050 111 22 33".into()),
            ..OfficeChange::default()
        };
        let p = waiting(offices::update(core, &a, noord.id, noord.version, &change, None, now).await);
        assert_eq!((p.target_id, p.version, p.requested_by, p.outcome), (noord.id, noord.version, a.user.id, None));
        assert_eq!(p.target_name.as_deref(), Some("Pensioenhuis Noord"));
        let after = office(&idp, "67890").await;
        assert_eq!((after.allow_sub_offices, &after.phone, after.version), (false, &noord.phone, noord.version), "nothing applied");
        let requested = entries(&idp, "change.requested").await;
        assert_eq!(requested.len(), 1);
        assert_eq!(requested[0].0, Some(a.user.id));
        assert_eq!(requested[0].1["change_id"], p.id.to_string());
        assert_eq!(requested[0].1["wants"], serde_json::json!(["allow_sub_offices"]));
        assert_eq!(store::waiting(&core.db).await.unwrap().len(), 1);

        // The requester: refused and audited; a main user never approves.
        let denied = entries(&idp, "admin.denied").await.len();
        let own = approvals::approve(core, &a, p.id, true, None, now).await;
        assert!(matches!(own, Err(ApprovalError::OwnChange)), "{own:?}");
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        let main = approvals::approve(core, &nick, p.id, true, None, now).await;
        assert!(matches!(main, Err(ApprovalError::NotApprover)), "{main:?}");
        assert!(matches!(approvals::waiting(core, &nick).await, Err(ApprovalError::NotApprover)));
        assert_eq!(entries(&idp, "admin.denied").await.len(), denied + 2);
        assert!(!office(&idp, "67890").await.allow_sub_offices);

        // A second admin approves: the whole request is applied, once.
        let done = approvals::approve(core, &b, p.id, true, None, now).await.unwrap();
        assert_eq!((done.outcome, done.decided_by), (Some(Outcome::Approved), Some(b.user.id)));
        let applied = office(&idp, "67890").await;
        assert!(applied.allow_sub_offices);
        assert_eq!(applied.phone, "050 111 22 33");
        assert_eq!(applied.version, noord.version + 1);
        let approved = entries(&idp, "change.approved").await;
        assert_eq!(approved.len(), 1);
        assert_eq!(approved[0].0, Some(b.user.id));
        assert_eq!(approved[0].1["requested_by"]["id"], a.user.id.to_string());
        let updated = entries(&idp, "office.updated").await;
        assert_eq!(updated.last().unwrap().0, Some(b.user.id));
        assert!(store::waiting(&core.db).await.unwrap().is_empty());
        let again = approvals::approve(core, &b, p.id, true, None, now).await;
        assert!(matches!(again, Err(ApprovalError::Decided)), "{again:?}");
        let r = approvals::reject(core, &b, p.id, None, now).await;
        assert!(matches!(r, Err(ApprovalError::Decided)), "{r:?}");
    }

    /// A main user granting ORV waits too; a rejection leaves the user as it was.
    async fn a_rejected_change_leaves_the_target_unchanged(db: &TestDatabase) {
        let idp = open(db, None).await;
        let (core, now) = (&idp.state, idp.state.now());
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await;
        let view = users::get(&core.db, Scope::Everyone, ilse.user.id, &core.registry).await.unwrap().unwrap();
        let before: Vec<String> = view.user.rights.iter().map(ToString::to_string).collect();
        assert!(!before.contains(&"ORV".to_owned()));
        let mut rights = before.clone();
        rights.push("ORV".into());
        let change = UserChange { rights: Some(rights), ..UserChange::default() };
        let p = waiting(manage::update(core, &nick, ilse.user.id, view.version, &change, None, now).await);
        assert_eq!(entries(&idp, "change.requested").await[0].1["wants"], serde_json::json!(["right:ORV"]));

        let admin = who(&idp, ADMIN).await;
        // AC-08: a new e-mail in a waiting change needs the approver's recent sign-in; without
        // it the change keeps waiting.
        let mut with_email = change.clone();
        with_email.email = Some("ilse.nieuw@voorbeeldadvies.nl".into());
        with_email.recent_sign_in = true;
        let q = waiting(manage::update(core, &nick, ilse.user.id, view.version, &with_email, None, now).await);
        let stepped = approvals::approve(core, &admin, q.id, false, None, now).await;
        assert!(matches!(stepped, Err(ApprovalError::Manage(ManageError::StepUpRequired))), "{stepped:?}");
        assert_eq!(store::get(&core.db, q.id).await.unwrap().unwrap().outcome, None, "still waiting");
        approvals::reject(core, &admin, q.id, None, now).await.unwrap();
        let done = approvals::reject(core, &admin, p.id, None, now).await.unwrap();
        assert_eq!(done.outcome, Some(Outcome::Rejected));
        let after = users::get(&core.db, Scope::Everyone, ilse.user.id, &core.registry).await.unwrap().unwrap();
        assert_eq!(after.version, view.version);
        assert_eq!(after.user.rights, view.user.rights);
        let rejected = entries(&idp, "change.rejected").await;
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].0, Some(admin.user.id));
        assert_eq!(rejected[0].1["requested_by"]["id"], nick.user.id.to_string());
        let late = approvals::approve(core, &admin, p.id, true, None, now).await;
        assert!(matches!(late, Err(ApprovalError::Decided)), "{late:?}");
        // Taking a right away is no listed change: applied at once.
        let fewer = UserChange { rights: Some(vec!["DIP".into()]), ..UserChange::default() };
        manage::update(core, &nick, ilse.user.id, view.version, &fewer, None, now).await.unwrap();
    }

    /// U1: making an employee main user waits too; a second admin's approval swaps the
    /// roles in one go (one main user per office), the new one with the office's rights.
    async fn making_a_main_user_waits_and_swaps_the_roles(db: &TestDatabase) {
        let idp = open(db, None).await;
        let (core, now) = (&idp.state, idp.state.now());
        let (a, b) = (who(&idp, ADMIN).await, who(&idp, SECOND).await);
        let nick = who(&idp, "info@voorbeeldadvies.nl").await;
        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await;
        let version = users::get(&core.db, Scope::Everyone, ilse.user.id, &core.registry).await.unwrap().unwrap().version;
        let gate = approvals::Gate::FourEyes;
        let refused = approvals::make_main_user(core, &nick, ilse.user.id, version, gate, None, now).await;
        assert!(matches!(refused, Err(ManageError::Refused)), "only insurer admins: {refused:?}");
        let p = waiting(approvals::make_main_user(core, &a, ilse.user.id, version, gate, None, now).await);
        assert_eq!(entries(&idp, "change.requested").await[0].1["wants"], serde_json::json!(["main_user"]));
        assert_eq!(who(&idp, "ilse@voorbeeldadvies.nl").await.user.role, idp::domain::Role::Employee);
        assert!(matches!(approvals::approve(core, &a, p.id, true, None, now).await, Err(ApprovalError::OwnChange)));
        approvals::approve(core, &b, p.id, true, None, now).await.unwrap();
        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await;
        assert_eq!(ilse.user.role, idp::domain::Role::MainUser);
        let codes: Vec<String> = ilse.user.rights.iter().map(ToString::to_string).collect();
        assert_eq!(codes, ["DIL", "DIP", "ORV"], "the office's rights");
        assert_eq!(who(&idp, "info@voorbeeldadvies.nl").await.user.role, idp::domain::Role::Employee);
        let changed = entries(&idp, "user.main_user_changed").await;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].0, Some(b.user.id));
        assert_eq!(changed[0].1["previous_main_user"]["id"], nick.user.id.to_string());
        // The new main user is no employee any more: asking again is refused.
        let again = approvals::make_main_user(core, &a, ilse.user.id, version + 1, approvals::Gate::Approved(None), None, now).await;
        assert!(matches!(again, Err(ManageError::Refused)), "{again:?}");
    }

    /// The approval is stored in the transaction of the change it applies: two approvers
    /// at once apply it once, with one `change.approved`; a change applied with a decision
    /// that no longer holds (rejected meanwhile) is rolled back whole.
    async fn an_approval_and_its_change_commit_together(db: &TestDatabase) {
        let idp = open(db, None).await;
        let (core, now) = (&idp.state, idp.state.now());
        idp::provision::add_insurer_admin(core, "Carla Derde", "carla@offerteportaal.local", None, now).await.unwrap();
        let (a, b, c) = (who(&idp, ADMIN).await, who(&idp, SECOND).await, who(&idp, "carla@offerteportaal.local").await);
        let noord = office(&idp, "67890").await;
        let allow = OfficeChange { allow_sub_offices: Some(true), ..OfficeChange::default() };
        let p = waiting(offices::update(core, &a, noord.id, noord.version, &allow, None, now).await);
        let (first, second) = tokio::join!(
            approvals::approve(core, &b, p.id, true, None, now),
            approvals::approve(core, &c, p.id, true, None, now),
        );
        assert!(first.is_ok() != second.is_ok(), "exactly one applies: {first:?} {second:?}");
        assert_eq!(entries(&idp, "change.approved").await.len(), 1);
        assert_eq!(office(&idp, "67890").await.version, noord.version + 1);
        assert_eq!(store::get(&core.db, p.id).await.unwrap().unwrap().outcome, Some(Outcome::Approved));

        // A decision that no longer holds takes its change down with it.
        let ilse = who(&idp, "ilse@voorbeeldadvies.nl").await;
        let version = users::get(&core.db, Scope::Everyone, ilse.user.id, &core.registry).await.unwrap().unwrap().version;
        let q = waiting(approvals::make_main_user(core, &a, ilse.user.id, version, approvals::Gate::FourEyes, None, now).await);
        approvals::reject(core, &c, q.id, None, now).await.unwrap();
        let entry = idp::store::audit::AuditRecord::new("change.approved");
        let decision = store::Decision { id: q.id, by: b.user.id, audit: &entry };
        let office_id = ilse.user.office_id.unwrap();
        let change = store::MainUserChange {
            office_id, user_id: ilse.user.id, expected_version: version, rights: "DIP,DIL,ORV",
            mails: &[], audit: &idp::store::audit::AuditRecord::new("user.main_user_changed"), decision: Some(&decision),
        };
        let refused = store::make_main_user(&core.db, &change, now).await;
        assert!(matches!(&refused, Err(idp::store::StoreError::Conflict { constraint: idp::store::Constraint::Other(c) }) if c == store::DECIDED), "{refused:?}");
        assert_eq!(who(&idp, "ilse@voorbeeldadvies.nl").await.user.role, idp::domain::Role::Employee, "rolled back");
        assert!(entries(&idp, "user.main_user_changed").await.is_empty());
        assert_eq!(entries(&idp, "change.approved").await.len(), 1);
    }

    /// A target changed after the request is not overwritten: the approval finds it stale
    /// and marks it so; with the setting empty nothing waits.
    async fn a_change_made_against_an_old_version_goes_stale(db: &TestDatabase) {
        let idp = open(db, None).await;
        let (core, now) = (&idp.state, idp.state.now());
        let (a, b) = (who(&idp, ADMIN).await, who(&idp, SECOND).await);
        let noord = office(&idp, "67890").await;
        let allow = OfficeChange { allow_sub_offices: Some(true), ..OfficeChange::default() };
        let p = waiting(offices::update(core, &a, noord.id, noord.version, &allow, None, now).await);
        let rename = OfficeChange { name: Some("Pensioenhuis Noord BV".into()), ..OfficeChange::default() };
        offices::update(core, &a, noord.id, noord.version, &rename, None, now).await.unwrap();
        let stale = approvals::approve(core, &b, p.id, true, None, now).await;
        assert!(matches!(stale, Err(ApprovalError::Stale)), "{stale:?}");
        assert_eq!(store::get(&core.db, p.id).await.unwrap().unwrap().outcome, Some(Outcome::Stale));
        assert_eq!(entries(&idp, "change.stale").await.len(), 1);
        assert!(entries(&idp, "change.approved").await.is_empty());
        assert!(!office(&idp, "67890").await.allow_sub_offices);
        drop(idp);

        let off = open_with(db, Some("")).await;
        let a = who(&off, ADMIN).await;
        let noord = office(&off, "67890").await;
        let view = offices::update(&off.state, &a, noord.id, noord.version, &allow, None, off.state.now()).await.unwrap();
        assert!(view.allow_sub_offices, "PORTAL_FOUR_EYES empty: applied at once");
    }
}
