//! Imports as an upsert by advisor number with a plan (issue 10), on both databases: the
//! same file twice is all unchanged the second time; a changed row changes the name, the
//! rights and `allow_sub_offices` and never the e-mail address; a preview is applied only
//! as it was planned; a change whose office moved on since the plan rolls the whole job
//! back; activation mails are queued in batches of `MAILS_PER_MINUTE` a minute.

use std::path::PathBuf;

use idp::Idp;
use idp::config::{RawSettings, Settings};
use idp::imports::{self, Action, ImportError, MAILS_PER_MINUTE};
use idp::store::Db;
use idp::store::accounts::{self, Principal};
use idp::store::imports as jobs;
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{insurer_admin, registry, store, user_id};

async fn portal(db: &TestDatabase) -> (Idp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("idp-import-{}", Uuid::new_v4().simple()));
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

async fn admin(db: &Db) -> Principal {
    let admin = insurer_admin("beheer@verzekeraar.nl");
    store(db, &admin).await;
    accounts::principal(db, user_id(&admin), &registry())
        .await
        .expect("principal")
        .expect("the admin exists")
}

async fn scalar(db: &Db, sql: &'static str) -> i64 {
    idp::with_db!(db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .expect("query")
}

/// What an import may touch: offices (with their versions and fields), users, mails,
/// links, audit entries.
async fn snapshot(db: &Db) -> Vec<String> {
    let offices: Vec<(String, String, String, String, bool, i64)> = idp::with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT number, name, email, rights, allow_sub_offices, version FROM offices ORDER BY number",
        )
        .fetch_all(pool)
        .await
    })
    .expect("offices");
    let mut all: Vec<String> = offices.iter().map(|o| format!("{o:?}")).collect();
    for sql in [
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM outbox",
        "SELECT COUNT(*) FROM user_tokens",
        "SELECT COUNT(*) FROM audit_log",
    ] {
        all.push(format!("{sql}: {}", scalar(db, sql).await));
    }
    all
}

/// Applies a file at once (as the CLI does) and returns the job.
async fn apply(idp: &Idp, file: &str) -> jobs::JobView {
    let plan = imports::plan_file(&idp.state, file.as_bytes())
        .await
        .unwrap()
        .unwrap();
    let id = imports::store_plan(&idp.state, &plan, None, None, true, idp.state.now())
        .await
        .unwrap();
    imports::run(&idp.state, id).await.unwrap();
    let job = jobs::get(&idp.state.db, id).await.unwrap().unwrap();
    assert_eq!(job.state, "done");
    job
}

const FIRST: &str = "advisor_number;name;email;rights;allow_sub_offices\n\
    80001;Advies Een;een@import.nl;DIP DIL;ja\n\
    80002;Advies Twee;twee@import.nl;ORV;nee\n\
    80003;Advies Drie;drie@import.nl;DIP;\n";

testkit::both_databases! {
    /// Idempotent: the first import creates three head offices; the same file again plans
    /// three unchanged rows and applying it changes nothing (no version, row, mail or
    /// link more; only the import's own audit entries).
    async fn the_same_file_twice_is_all_unchanged_the_second_time(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let first = apply(&idp, FIRST).await;
        assert_eq!((first.created, first.changed, first.unchanged), (3, 0, 0));
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM offices WHERE advisor_number LIKE '8000%'").await, 3);

        let plan = imports::plan_file(core, FIRST.as_bytes()).await.unwrap().unwrap();
        assert!(plan.rows.iter().all(|r| r.action == Action::Unchanged && r.email_notice.is_none()), "{plan:?}");
        let c = plan.counts();
        assert_eq!((c.create, c.change, c.unchanged), (0, 0, 3));
        let before = snapshot(&core.db).await;
        let audit = scalar(&core.db, "SELECT COUNT(*) FROM audit_log").await;
        let second = apply(&idp, FIRST).await;
        assert_eq!((second.created, second.changed, second.unchanged), (0, 0, 3));
        let after = snapshot(&core.db).await;
        // Only import.started and import.finished were added.
        assert_eq!(before[..before.len() - 1], after[..after.len() - 1]);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM audit_log").await, audit + 2);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A changed row: name, rights and allow_sub_offices are planned as old → new and
    /// applied in one transaction, audited as office.updated with before and after. A
    /// differing e-mail is reported and never applied (AC-10: a login changes only
    /// through its own confirmation).
    async fn a_changed_row_changes_the_office_but_never_its_email(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        apply(&idp, FIRST).await;
        let version = scalar(&core.db, "SELECT version FROM offices WHERE advisor_number = '80001'").await;
        let file = "advisor_number;name;email;rights;allow_sub_offices\n\
            80001;Advies Een B.V.;een@import.nl;DIP;nee\n\
            80002;Advies Twee;ander@elders.nl;ORV;nee\n\
            80003;Advies Drie;drie@import.nl;DIP;\n\
            80004;Advies Vier;vier@import.nl;DIL;\n";
        let plan = imports::plan_file(core, file.as_bytes()).await.unwrap().unwrap();
        let actions: Vec<&Action> = plan.rows.iter().map(|r| &r.action).collect();
        let Action::Change(changes) = actions[0] else { panic!("{plan:?}") };
        let fields: Vec<(&str, &str, &str)> = changes.iter()
            .map(|c| (c.field.as_str(), c.before.as_str(), c.after.as_str())).collect();
        assert_eq!(fields, [
            ("name", "Advies Een", "Advies Een B.V."),
            ("rights", "DIP,DIL", "DIP"),
            ("allow_sub_offices", "ja", "nee"),
        ]);
        assert_eq!(actions[1], &Action::Unchanged);
        assert_eq!(plan.rows[1].email_notice.as_deref(), Some("twee@import.nl"));
        assert_eq!(actions[2], &Action::Unchanged);
        assert_eq!(actions[3], &Action::Create);

        let job = apply(&idp, file).await;
        assert_eq!((job.created, job.changed, job.unchanged), (1, 1, 2));
        assert_eq!(scalar(&core.db, "SELECT version FROM offices WHERE advisor_number = '80001'").await, version + 1);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM offices WHERE advisor_number = '80001'
            AND name = 'Advies Een B.V.' AND rights = 'DIP' AND allow_sub_offices = FALSE").await, 1);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.updated'").await, 1);
        let detail: String = idp::with_db!(&core.db, |pool| sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'office.updated'").fetch_one(pool).await).unwrap();
        let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
        assert_eq!(detail["before"]["name"], "Advies Een");
        assert_eq!(detail["after"]["rights"], serde_json::json!(["DIP"]));
        assert_eq!(detail["import_id"], serde_json::json!(job.id));
        // The e-mail stayed: the office's and the main user's login.
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM offices WHERE email = 'ander@elders.nl'").await, 0);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM users WHERE email = 'ander@elders.nl'").await, 0);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM users WHERE email = 'twee@import.nl'").await, 1);
        // The report says per row what was done.
        let status = jobs::rows(&core.db, job.id).await.unwrap();
        let report = imports::report_csv(core.templates.texts(), &imports::Status {
            rows: imports::report_rows(core.templates.texts(), status),
            job,
        });
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[1], "2,80001,Advies Een B.V.,een@import.nl,\"Gewijzigd: naam: Advies Een → Advies Een B.V.; rechten: DIP,DIL → DIP; subkantoren: ja → nee\"", "{report}");
        assert!(lines[2].starts_with("3,80002,Advies Twee,ander@elders.nl,Ongewijzigd (e-mailadres niet overgenomen"), "{report}");
        assert!(lines[2].contains("twee@import.nl"), "{report}");
        assert_eq!(lines[3], "4,80003,Advies Drie,drie@import.nl,Ongewijzigd");
        assert_eq!(lines[4], "5,80004,Advies Vier,vier@import.nl,Aangemaakt");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A preview is applied only as planned: no worker takes it; a wrong fingerprint is
    /// refused; after an office changed, the right fingerprint is refused too (planned
    /// again, the file does something else) and nothing was applied. Cancelled, it is gone.
    async fn a_preview_is_applied_only_as_it_was_planned(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let app = &idp.state;
        let caller = admin(&app.db).await;
        apply(&idp, FIRST).await;
        let file = "advisor_number,name,email,rights\n80001,Advies Een Nieuw,een@import.nl,DIP\n80009,Advies Negen,negen@import.nl,DIP\n";
        let id = imports::preview(app, &caller, file.as_bytes(), None, app.now()).await.unwrap();
        let before = snapshot(&app.db).await;
        imports::run(app, id).await.unwrap();
        assert_eq!(jobs::orphaned(&app.db, app.now() + Duration::hours(1)).await.unwrap(), Vec::<Uuid>::new());
        let job = jobs::get(&app.db, id).await.unwrap().unwrap();
        assert!(!job.confirmed && job.state == "running" && job.done == 0, "{job:?}");
        let fingerprint = job.fingerprint.clone().unwrap();
        assert!(matches!(imports::confirm(app, &caller, id, "0000", None, app.now()).await, Err(ImportError::PlanChanged)));

        // Someone renames the office between the preview and "Importeren".
        idp::with_db!(&app.db, |pool| sqlx::query(
            "UPDATE offices SET name = 'Intussen', version = version + 1 WHERE advisor_number = '80001'")
            .execute(pool).await.map(|r| r.rows_affected())).unwrap();
        let snap = snapshot(&app.db).await;
        assert!(matches!(imports::confirm(app, &caller, id, &fingerprint, None, app.now()).await, Err(ImportError::PlanChanged)));
        assert_eq!(snapshot(&app.db).await, snap, "nothing applied");
        assert_ne!(before, snap);

        // A preview that still holds is applied as shown.
        idp::with_db!(&app.db, |pool| sqlx::query(
            "UPDATE offices SET name = 'Advies Een', version = version + 1 WHERE advisor_number = '80001'")
            .execute(pool).await.map(|r| r.rows_affected())).unwrap();
        let second = imports::preview(app, &caller, file.as_bytes(), None, app.now()).await.unwrap();
        let print = jobs::get(&app.db, second).await.unwrap().unwrap().fingerprint.unwrap();
        imports::confirm(app, &caller, second, &print, None, app.now()).await.unwrap();
        // Confirmed once only.
        assert!(matches!(imports::confirm(app, &caller, second, &print, None, app.now()).await, Err(ImportError::NotFound)));
        // The confirmation started its worker; this one waits for it to finish.
        let mut job = jobs::get(&app.db, second).await.unwrap().unwrap();
        for _ in 0..200 {
            if job.state == "done" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            job = jobs::get(&app.db, second).await.unwrap().unwrap();
        }
        assert_eq!((job.state.as_str(), job.created, job.changed), ("done", 1, 1));
        assert_eq!(scalar(&app.db, "SELECT COUNT(*) FROM offices WHERE name = 'Advies Een Nieuw'").await, 1);

        // The sweep forgets previews older than PREVIEW_TTL, never a confirmed job.
        assert_eq!(jobs::purge_previews(&app.db, app.now() - imports::PREVIEW_TTL).await.unwrap(), 0);
        let old = imports::preview(app, &caller, file.as_bytes(), None, app.now() - Duration::hours(25)).await.unwrap();
        assert_eq!(jobs::purge_previews(&app.db, app.now() - imports::PREVIEW_TTL).await.unwrap(), 1);
        assert!(jobs::get(&app.db, old).await.unwrap().is_none());
        assert!(jobs::get(&app.db, second).await.unwrap().is_some());
        imports::cancel(app, &caller, id, None, app.now()).await.unwrap();
        assert!(jobs::get(&app.db, id).await.unwrap().is_none());
        assert!(matches!(imports::cancel(app, &caller, second, None, app.now()).await, Err(ImportError::NotFound)));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// All or nothing: when an office moves on between the plan and the transaction, the
    /// job applies nothing, its row says why and the others that they were not applied.
    async fn a_stale_change_rolls_the_whole_job_back(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        apply(&idp, FIRST).await;
        let file = "advisor_number,name,email,rights\n80005,Advies Vijf,vijf@import.nl,DIP\n80002,Advies Twee Nieuw,twee@import.nl,ORV\n";
        let plan = imports::plan_file(core, file.as_bytes()).await.unwrap().unwrap();
        let id = imports::store_plan(core, &plan, None, None, true, core.now()).await.unwrap();
        idp::with_db!(&core.db, |pool| sqlx::query(
            "UPDATE offices SET version = version + 1 WHERE advisor_number = '80002'")
            .execute(pool).await.map(|r| r.rows_affected())).unwrap();
        let before = snapshot(&core.db).await;
        imports::run(core, id).await.unwrap();
        let after = snapshot(&core.db).await;
        assert_eq!(before[..before.len() - 1], after[..after.len() - 1], "nothing applied");
        let rows = jobs::rows(&core.db, id).await.unwrap();
        assert_eq!(rows[0].outcome.as_deref(), Some(jobs::NOT_APPLIED));
        assert_eq!(rows[1].outcome.as_deref(), Some("import.stale_row"));
        let job = jobs::get(&core.db, id).await.unwrap().unwrap();
        assert_eq!((job.state.as_str(), job.done, job.created), ("done", 2, 0));
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM audit_log WHERE action = 'import.failed'").await, 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Four-eyes (default `PORTAL_FOUR_EYES`): a row that would allow sub-offices or add
    /// ORV to an existing head office is refused with the kinds it holds, and nothing of
    /// the file is planned; taking a right away or a new office with ORV is no such change.
    async fn a_change_that_needs_a_second_admin_is_refused(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        apply(&idp, FIRST).await;
        let file = "advisor_number;name;email;rights;allow_sub_offices\n\
            80001;Advies Een;een@import.nl;DIP;ja\n\
            80002;Advies Twee;twee@import.nl;ORV DIP;ja\n\
            80003;Advies Drie;drie@import.nl;DIP ORV;nee\n\
            80006;Advies Zes;zes@import.nl;ORV;ja\n";
        let errors = imports::plan_file(core, file.as_bytes()).await.unwrap().unwrap_err();
        let texts = core.templates.texts();
        let reasons: Vec<(u64, String)> = errors.iter().map(|e| (e.line, imports::explain(texts, &e.problem))).collect();
        assert_eq!(reasons.iter().map(|r| r.0).collect::<Vec<_>>(), [3, 4], "{reasons:?}");
        assert!(reasons[0].1.starts_with("Deze wijziging (allow_sub_offices) vraagt goedkeuring door een tweede beheerder"), "{reasons:?}");
        assert!(reasons[1].1.starts_with("Deze wijziging (right:ORV) vraagt"), "{reasons:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Throttled batches: a 25-row import queues 25 activation mails, the first
    /// MAILS_PER_MINUTE due at once and the rest a minute later; each link is valid for
    /// as long from its mail's time.
    async fn activation_mails_are_queued_in_batches_a_minute_apart(db: &TestDatabase) {
        let (idp, dir) = portal(db).await;
        let core = &idp.state;
        let mut file = String::from("advisor_number,name,email,rights\n");
        for i in 0..25 {
            file.push_str(&format!("9{i:04},Kantoor {i},kantoor{i}@import.nl,DIP\n"));
        }
        let job = apply(&idp, &file).await;
        assert_eq!(job.created, 25);
        let due: Vec<OffsetDateTime> = idp::with_db!(&core.db, |pool| sqlx::query_scalar(
            "SELECT next_attempt_at FROM outbox WHERE kind = 'activation' ORDER BY next_attempt_at")
            .fetch_all(pool).await).unwrap();
        assert_eq!(due.len(), 25);
        assert_eq!(MAILS_PER_MINUTE, 20);
        let first = due[0];
        assert!(due[..20].iter().all(|t| *t == first), "{due:?}");
        assert!(due[20..].iter().all(|t| *t == first + Duration::minutes(1)), "{due:?}");
        let expiry: Vec<OffsetDateTime> = idp::with_db!(&core.db, |pool| sqlx::query_scalar(
            "SELECT expires_at FROM user_tokens ORDER BY expires_at").fetch_all(pool).await).unwrap();
        assert_eq!(expiry[24] - expiry[0], Duration::minutes(1));
        // Only the first batch is due now: the mailer sends 20 and leaves 5 waiting.
        let sent = idp.mailer.deliver_due(first).await.unwrap_or(0);
        assert_eq!(sent, 20);
        assert_eq!(scalar(&core.db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").await, 5);
        let _ = std::fs::remove_dir_all(dir);
    }
}
