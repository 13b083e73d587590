//! Four-eyes (issue 10) through the real binary on both databases, with the demo offices
//! and `PORTAL_FOUR_EYES` at its default: an insurer admin asks to allow Pensioenhuis
//! Noord (67890) sub-offices; the change waits (202) and nothing changes; the requester
//! cannot approve it, a main user cannot even list it; a second insurer admin approves it
//! and it is applied, with both admins in the audit log.

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{ADMIN, CLIENT, EMPLOYEE, MAIN, REDIRECT, SECRET, call, token_for};
use crate::support::{Browser, Portal, attribute, unescape};

const SECOND: &str = "bram@offerteportaal.local";
const SECOND_PASSWORD: &str = "twee paar ogen zien meer dan een";

/// The demo portal with the admin client, four-eyes on, and a second, activated insurer
/// admin; the demo password.
async fn portal(db: &TestDatabase) -> (Portal, String) {
    let mut portal = Portal::new(db);
    portal.set_env("PORTAL_ADMIN_CLIENTS", &format!("offerteportaal,{CLIENT}"));
    portal.set_env("PORTAL_FOUR_EYES", idp::config::DEFAULT_FOUR_EYES);
    portal.start_with(&["--demo"]).await;
    let password = portal.demo_password().await;
    for args in [
        vec![
            "client",
            "add",
            "--id",
            CLIENT,
            "--secret",
            SECRET,
            "--redirect-uri",
            REDIRECT,
        ],
        vec![
            "user",
            "add-insurer-admin",
            "--email",
            SECOND,
            "--name",
            "Bram Tweede",
        ],
    ] {
        let out = portal.cli(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let link = portal.activation_link(SECOND).await;
    let done = Browser::new(&portal.base)
        .post(
            &link,
            &[
                ("password", SECOND_PASSWORD),
                ("password_repeat", SECOND_PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    (portal, password)
}

/// (actor, detail) of the entries with `action`, oldest first.
async fn entries(portal: &Portal, action: &str) -> Vec<(String, Value)> {
    let db = portal.db().await;
    let rows: Vec<(Option<uuid::Uuid>, String)> = idp::with_db!(&db, |pool| sqlx::query_as(
        "SELECT actor_id, detail FROM audit_log WHERE action = $1 ORDER BY id"
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap());
    rows.into_iter()
        .map(|(a, d)| {
            (
                a.map(|a| a.to_string()).unwrap_or_default(),
                serde_json::from_str(&d).unwrap(),
            )
        })
        .collect()
}

async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    browser
}

async fn count(portal: &Portal) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_log"
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn id_of(portal: &Portal, sql: &'static str, key: &str) -> String {
    let db = portal.db().await;
    let id: uuid::Uuid = idp::with_db!(&db, |pool| sqlx::query_scalar(sql)
        .bind(key)
        .fetch_one(pool)
        .await
        .unwrap());
    id.to_string()
}

async fn count_rows(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

testkit::both_databases! {
    async fn allowing_sub_offices_waits_for_a_second_admin(db: &TestDatabase) {
        let (portal, password) = portal(db).await;
        let a = token_for(&portal, ADMIN, &password).await;
        let b = token_for(&portal, SECOND, SECOND_PASSWORD).await;
        let main = token_for(&portal, MAIN, &password).await;
        let noord = id_of(&portal, "SELECT id FROM offices WHERE number = $1", "67890").await;
        let a_id = id_of(&portal, "SELECT id FROM users WHERE email = $1", ADMIN).await;
        let b_id = id_of(&portal, "SELECT id FROM users WHERE email = $1", SECOND).await;

        // A asks: 202 with the waiting change; the office is as it was.
        let asked = call(&portal, "PATCH", &format!("/offices/{noord}"), &a,
            Some(json!({"allow_sub_offices": true})), Some("\"1\"")).await;
        assert_eq!(asked.status, 202, "{}", asked.body);
        assert_eq!(asked.detail(), "Deze wijziging wacht op goedkeuring door een tweede beheerder.");
        assert_eq!(asked.body["status"], "waiting");
        assert_eq!(asked.body["text"], "Salesdesk Leven wil Pensioenhuis Noord (67890) subkantoren toestaan");
        let change = asked.body["id"].as_str().unwrap().to_owned();
        let office = call(&portal, "GET", &format!("/offices/{noord}"), &a, None, None).await;
        assert_eq!(office.body["allow_sub_offices"], false);
        assert_eq!(office.header("etag").as_deref(), Some("\"1\""));

        // Creating instead of changing gets no further (review of issue 10): a user or a
        // head office cannot be made with what a change would have to wait for.
        let users_before = count_rows(&portal, "SELECT COUNT(*) FROM users").await;
        let offices_before = count_rows(&portal, "SELECT COUNT(*) FROM offices").await;
        let user = call(&portal, "POST", "/users", &main,
            Some(json!({"name": "Olaf Orv", "email": "olaf@voorbeeldadvies.nl", "rights": ["DIP", "ORV"]})), None).await;
        assert_eq!(user.status, 422, "{}", user.body);
        assert_eq!(user.body["field"], "rights");
        assert!(user.detail().contains("tweede beheerder"), "{}", user.detail());
        for body in [
            json!({"advisor_number": "24680", "name": "West", "email": "info@west.nl", "rights": ["DIP", "ORV"]}),
            json!({"advisor_number": "24680", "name": "West", "email": "info@west.nl", "rights": ["DIP"], "allow_sub_offices": true}),
        ] {
            let office = call(&portal, "POST", "/offices", &a, Some(body), None).await;
            assert_eq!(office.status, 422, "{}", office.body);
            assert!(office.detail().contains("tweede beheerder"), "{}", office.detail());
        }
        assert_eq!(count_rows(&portal, "SELECT COUNT(*) FROM users").await, users_before);
        assert_eq!(count_rows(&portal, "SELECT COUNT(*) FROM offices").await, offices_before);

        // Approvers see it; a main user never approves; A cannot approve its own.
        let list = call(&portal, "GET", "/approvals", &b, None, None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(list.body["items"][0]["id"], change.as_str());
        assert_eq!(call(&portal, "GET", "/approvals", &main, None, None).await.status, 403);
        let own = call(&portal, "POST", &format!("/approvals/{change}/approve"), &a, None, None).await;
        assert_eq!(own.status, 403, "{}", own.body);
        assert!(own.detail().contains("eigen wijziging"), "{}", own.detail());
        let office = call(&portal, "GET", &format!("/offices/{noord}"), &a, None, None).await;
        assert_eq!(office.body["allow_sub_offices"], false);

        // B approves: applied; the log has both admins (AD-02: the decision and the update
        // it applies, two entries).
        let before = count(&portal).await;
        let approved = call(&portal, "POST", &format!("/approvals/{change}/approve"), &b, None, None).await;
        assert_eq!(approved.status, 200, "{}", approved.body);
        assert_eq!(approved.body["status"], "approved");
        assert_eq!(count(&portal).await, before + 2);
        let office = call(&portal, "GET", &format!("/offices/{noord}"), &a, None, None).await;
        assert_eq!(office.body["allow_sub_offices"], true);
        assert_eq!(office.header("etag").as_deref(), Some("\"2\""));
        let requested = entries(&portal, "change.requested").await;
        assert_eq!(requested.len(), 1);
        assert_eq!(requested[0].0, a_id);
        let decided = entries(&portal, "change.approved").await;
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].0, b_id);
        assert_eq!(decided[0].1["requested_by"]["id"], a_id.as_str());
        assert_eq!(entries(&portal, "office.updated").await.last().unwrap().0, b_id);
        let list = call(&portal, "GET", "/approvals", &b, None, None).await;
        assert_eq!(list.body["items"], json!([]));

        // In the console: Nick (main user) gives his employee Ilse ORV; the edit page says
        // it waits. Salesdesk Leven sees it under Goedkeuringen and rejects it: one entry,
        // Ilse unchanged. A main user has no Goedkeuringen.
        let ilse = id_of(&portal, "SELECT id FROM users WHERE email = $1", EMPLOYEE).await;
        let user = call(&portal, "GET", &format!("/users/{ilse}"), &b, None, None).await;
        let tag = user.header("etag").unwrap();
        let nick = signed_in(&portal, MAIN, &password).await;
        let edit = nick.get(&format!("/gebruikers/{ilse}")).await;
        let version = attribute(&edit.body, "name=\"version\"", "value").unwrap();
        let saved = nick
            .post(&format!("/gebruikers/{ilse}"), &[("name", "Ilse de Vries"), ("email", EMPLOYEE), ("version", &version),
                  ("rechten", "DIP"), ("rechten", "DIL"), ("rechten", "ORV")])
            .await;
        assert!(saved.body.contains("Deze wijziging wacht op goedkeuring door een tweede beheerder."), "{}", saved.body);
        assert_eq!(nick.get("/beheer/goedkeuringen").await.status, 403);
        let admin = signed_in(&portal, ADMIN, &password).await;
        let home = admin.get("/").await;
        assert!(home.body.contains("href=\"/beheer/goedkeuringen\""), "the menu: {}", home.body);
        let page = admin.get("/beheer/goedkeuringen").await;
        let sentence = "Nick Jansen wil Ilse de Vries het recht ORV geven";
        let row = &page.body[page.body.find(sentence).unwrap_or_else(|| panic!("{}", page.body))..];
        let reject = row
            .split("action=\"")
            .skip(1)
            .filter_map(|r| r.split('"').next())
            .map(unescape)
            .find(|a| a.ends_with("/afwijzen"))
            .unwrap();
        let before = count(&portal).await;
        let done = admin.post(&reject, &[]).await;
        assert!(done.body.contains("De wijziging is afgewezen; er is niets gewijzigd."), "{}", done.body);
        assert!(!done.body.contains(sentence));
        assert_eq!(count(&portal).await, before + 1);
        assert_eq!(entries(&portal, "change.rejected").await.len(), 1);
        let after = call(&portal, "GET", &format!("/users/{ilse}"), &b, None, None).await;
        assert_eq!(after.body["rights"], user.body["rights"]);
        assert_eq!(after.header("etag"), Some(tag));
    }
}
