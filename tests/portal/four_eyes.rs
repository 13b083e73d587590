//! Four-eyes (issue 10) through the real binary on both databases, with the demo offices
//! and `PORTAL_FOUR_EYES` at its default: an insurer admin asks to allow Pensioenhuis
//! Noord (67890) sub-offices; the change waits (202) and nothing changes; the requester
//! cannot approve it, a main user cannot even list it; a second insurer admin approves it
//! and it is applied, with both admins in the audit log.

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{ADMIN, CLIENT, EMPLOYEE, MAIN, REDIRECT, SECRET, call, token_for};
use crate::support::{Browser, Portal};

const SECOND: &str = "bram@offerteportaal.local";
const SECOND_PASSWORD: &str = "twee paar ogen zien meer dan een";

/// The demo portal with the admin client, four-eyes on, and a second, activated insurer
/// admin; the demo password.
async fn portal(db: &TestDatabase) -> (Portal, String) {
    let mut portal = Portal::new(db);
    portal.set_env("PORTAL_ADMIN_CLIENTS", &format!("offerteportaal,{CLIENT}"));
    portal.set_env("PORTAL_FOUR_EYES", idp::config::DEFAULT_FOUR_EYES);
    portal.start_with(&["--demo"]).await;
    let mut password = None;
    for _ in 0..100 {
        password = portal
            .output()
            .lines()
            .find_map(|l| l.split("the password: ").nth(1))
            .map(|p| p.trim().to_owned());
        if password.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
    (portal, password.expect("the demo password is printed"))
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

        // B asks to give Nick's employee Ilse ORV; A rejects it: one entry, Ilse unchanged.
        let ilse = id_of(&portal, "SELECT id FROM users WHERE email = $1", EMPLOYEE).await;
        let user = call(&portal, "GET", &format!("/users/{ilse}"), &b, None, None).await;
        let mut rights = user.body["rights"].as_array().unwrap().clone();
        assert!(!rights.contains(&json!("ORV")));
        rights.push(json!("ORV"));
        let tag = user.header("etag").unwrap();
        let asked = call(&portal, "PATCH", &format!("/users/{ilse}"), &b, Some(json!({"rights": rights})), Some(&tag)).await;
        assert_eq!(asked.status, 202, "{}", asked.body);
        assert_eq!(asked.body["wants"], json!(["right:ORV"]));
        let before = count(&portal).await;
        let rejected = call(&portal, "POST", &format!("/approvals/{}/reject", asked.body["id"].as_str().unwrap()), &a, None, None).await;
        assert_eq!(rejected.status, 200, "{}", rejected.body);
        assert_eq!(rejected.body["status"], "rejected");
        assert_eq!(count(&portal).await, before + 1);
        let after = call(&portal, "GET", &format!("/users/{ilse}"), &b, None, None).await;
        assert_eq!(after.body["rights"], user.body["rights"]);
        assert_eq!(after.header("etag"), Some(tag));
    }
}
