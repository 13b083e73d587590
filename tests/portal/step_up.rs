//! SECURITY AC-08: changing another user's e-mail (its login) and resetting its 2FA need
//! a sign-in within the last five minutes. Through the real binary on both databases: an
//! access token from an older sign-in gets the RFC 9470 step-up challenge and changes
//! nothing; other changes still work with it; after signing in again the same change
//! goes through. In the UI the refusal sends the person to sign in again (`prompt=login`)
//! and back to the page.

use testkit::TestDatabase;

use crate::admin_api::{ADMIN, CLIENT, EMPLOYEE, MAIN, access_token, call, demo, user_id};
use crate::support::{Browser, Portal, attribute};

const NEW_EMAIL: &str = "ilse.devries@voorbeeldadvies.nl";

/// Moves every idp session's sign-in ten minutes into the past.
async fn age_sign_ins(portal: &Portal) {
    let db = portal.db().await;
    let then = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
    let then = then.replace_nanosecond(0).unwrap();
    idp::with_db!(&db, |pool| sqlx::query(
        "UPDATE idp_sessions SET auth_time = $1"
    )
    .bind(then)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
}

async fn email_of(portal: &Portal, id: &str) -> String {
    let db = portal.db().await;
    let id = uuid::Uuid::parse_str(id).unwrap();
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT email FROM users WHERE id = $1"
    )
    .bind(id)
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .unwrap()
}

testkit::both_databases! {
    async fn an_old_sign_in_cannot_change_a_login_or_reset_2fa(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = Browser::new(&portal.base);
        let page = browser.get("/idp/account").await;
        browser.sign_in(&page, MAIN, &password).await;
        age_sign_ins(&portal).await;
        // The idp session is reused: the token carries the old auth_time.
        let old = access_token(&portal, &browser, CLIENT, MAIN, &password).await;
        let ilse = user_id(&portal, EMPLOYEE).await;
        let path = format!("/users/{ilse}");
        let got = call(&portal, "GET", &path, &old, None, None).await;
        assert_eq!(got.status, 200, "{}", got.body);
        let tag = got.header("etag").unwrap();
        let audit_before = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.updated'").await;
        let mails_before = count(&portal, "SELECT COUNT(*) FROM outbox").await;

        let refused = call(&portal, "PATCH", &path, &old, Some(serde_json::json!({ "email": NEW_EMAIL })), Some(&tag)).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        let challenge = refused.header("www-authenticate").unwrap();
        assert!(challenge.contains("error=\"insufficient_user_authentication\""), "{challenge}");
        assert!(challenge.contains("max_age=\"300\""), "{challenge}");
        assert!(refused.body["detail"].as_str().unwrap().contains("opnieuw inloggen"), "{}", refused.body);
        assert_eq!(email_of(&portal, &ilse).await, EMPLOYEE);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.updated'").await, audit_before);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM outbox").await, mails_before);

        let reset = call(&portal, "POST", &format!("{path}/second-factors/reset"), &old, None, None).await;
        assert_eq!(reset.status, 401, "{}", reset.body);
        assert!(reset.header("www-authenticate").unwrap().contains("insufficient_user_authentication"));
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'mfa.reset%'").await, 0);

        // A change that is no new login still goes with the old sign-in.
        let renamed = call(&portal, "PATCH", &path, &old, Some(serde_json::json!({ "name": "Ilse de Vries-Smit" })), Some(&tag)).await;
        assert_eq!(renamed.status, 200, "{}", renamed.body);
        let tag = renamed.header("etag").unwrap();

        // Signed in again: the same change goes through.
        let fresh = access_token(&portal, &Browser::new(&portal.base), CLIENT, MAIN, &password).await;
        let done = call(&portal, "PATCH", &path, &fresh, Some(serde_json::json!({ "email": NEW_EMAIL })), Some(&tag)).await;
        assert_eq!(done.status, 200, "{}", done.body);
        // AC-10: it waits for the new address to confirm it.
        assert_eq!(done.body["email_pending"], NEW_EMAIL, "{}", done.body);
        assert_eq!(email_of(&portal, &ilse).await, EMPLOYEE);
    }

    /// AC-08 for the 2FA policy (issue 10): a later date or a grace loosens 2FA for a whole
    /// office tree, so an insurer admin's old sign-in cannot set it; a fresh one can.
    async fn an_old_sign_in_cannot_loosen_an_offices_2fa_policy(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = Browser::new(&portal.base);
        let page = browser.get("/idp/account").await;
        browser.sign_in(&page, ADMIN, &password).await;
        age_sign_ins(&portal).await;
        let old = access_token(&portal, &browser, CLIENT, ADMIN, &password).await;
        let offices = call(&portal, "GET", "/offices", &old, None, None).await;
        assert_eq!(offices.status, 200, "{}", offices.body);
        let head = offices.body["offices"].as_array().unwrap().iter()
            .find(|o| o["number"] == "12345").expect("Voorbeeld Advies")["id"].as_str().unwrap().to_owned();
        let path = format!("/offices/{head}/mfa-policy");
        let loosen = serde_json::json!({ "required_from": "2099-01-01", "grace_logins": 100 });
        let refused = call(&portal, "PATCH", &path, &old, Some(loosen.clone()), None).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert!(refused.header("www-authenticate").unwrap().contains("insufficient_user_authentication"));
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.mfa_policy_changed'").await, 0);

        let fresh = access_token(&portal, &Browser::new(&portal.base), CLIENT, ADMIN, &password).await;
        let done = call(&portal, "PATCH", &path, &fresh, Some(loosen), None).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.mfa_policy_changed'").await, 1);
    }

    async fn the_ui_asks_to_sign_in_again_before_a_new_login(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = Browser::new(&portal.base);
        let page = browser.get("/idp/account").await;
        browser.sign_in(&page, MAIN, &password).await;
        age_sign_ins(&portal).await;
        // The shell signs in through the idp session: its token carries the old sign-in.
        let home = browser.get("/").await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let ilse = user_id(&portal, EMPLOYEE).await;
        let edit = browser.get(&format!("/gebruikers/{ilse}")).await;
        let main = &edit.body[edit.body.find("<main>").unwrap()..];
        let action = attribute(main, "<form", "action").unwrap();
        let version = attribute(&edit.body, "name=\"version\"", "value").unwrap();
        let form = [("name", "Ilse de Vries"), ("email", NEW_EMAIL), ("rechten", "DIP"), ("version", version.as_str())];
        let asked = browser.post(&action, &form).await;
        // prompt=login: the sign-in page, although the idp session is live.
        assert!(asked.body.contains("name=\"username\""), "{}", asked.body);
        assert!(asked.hops.iter().any(|h| h.contains("prompt=login")), "{:?}", asked.hops);
        assert_eq!(email_of(&portal, &ilse).await, EMPLOYEE, "nothing changed");

        let back = browser.sign_in(&asked, MAIN, &password).await;
        assert!(back.url.ends_with(&format!("/gebruikers/{ilse}")), "{}", back.url);
        let saved = browser.post(&action, &form).await;
        assert!(saved.body.contains("De wijzigingen zijn opgeslagen."), "{}", saved.body);
        assert!(saved.body.contains("bevestigingslink"), "AC-10 is told: {}", saved.body);
        // AC-10: the edit page shows the address waiting for its confirmation.
        let edit = browser.get(&format!("/gebruikers/{ilse}")).await;
        assert!(edit.body.contains("Wacht op bevestiging") && edit.body.contains(NEW_EMAIL), "{}", edit.body);
        assert_eq!(email_of(&portal, &ilse).await, EMPLOYEE);
        let link = portal.nth_link(NEW_EMAIL, "/idp/email/", 1).await;
        let page = Browser::new(&portal.base).get(&link).await;
        let confirm = attribute(&page.body, "<form", "action").unwrap();
        let done = Browser::new(&portal.base).post(&confirm, &[("password", password.as_str())]).await;
        assert!(done.body.contains("Uw e-mailadres is gewijzigd."), "{}", done.body);
        assert_eq!(email_of(&portal, &ilse).await, NEW_EMAIL);
    }
}
