//! Issue 10, the MFA mandate per head office, through the real binary on both databases
//! with the demo offices (Voorbeeld Advies with its sub-office Onderbemiddeling Zuid, and
//! Pensioenhuis Noord): a grace of two password-only sign-ins, then enrolment; the
//! insurer sets a head office's date and grace over the API; the home page counts down;
//! a main user's 2FA-status page lists its own tree only, and "Herinnering sturen" mails
//! once per 24 hours.

use serde_json::json;
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};

use crate::admin_api::{ADMIN, EMPLOYEE, MAIN, STRANGER, call, demo, token_for, user_id};
use crate::support::{Browser, Portal, attribute};

const SETUP_TITLE: &str = "Twee-factor-authenticatie instellen";

async fn office_id(portal: &Portal, number: &'static str) -> String {
    let db = portal.db().await;
    let id: uuid::Uuid = idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT id FROM offices WHERE number = $1"
    )
    .bind(number)
    .fetch_one(pool)
    .await
    .unwrap());
    id.to_string()
}

/// Signs in with a password from the home page; returns the page after the password.
async fn password_sign_in(
    portal: &Portal,
    login: &str,
    password: &str,
) -> (Browser, crate::support::Page) {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let after = browser.sign_in(&page, login, password).await;
    (browser, after)
}

testkit::both_databases! {
    /// Grace of 2 for Voorbeeld Advies (2FA mandatory since 2025-07-01): two password-only
    /// sign-ins get through and say how many remain, the third must set 2FA up; Pensioenhuis
    /// Noord (no grace) must at once.
    async fn a_grace_of_two_lets_two_sign_ins_through_then_forces_setup(db: &TestDatabase) {
        let (portal, password) = demo(db, true).await;
        let head = uuid::Uuid::parse_str(&office_id(&portal, "12345").await).unwrap();
        let saved = idp::store::mfa::set_policy(
            &portal.db().await,
            head,
            None,
            2,
            &idp::store::audit::AuditRecord::new("office.mfa_policy_changed"),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        assert!(saved);

        let (browser, first) = password_sign_in(&portal, EMPLOYEE, &password).await;
        assert!(first.body.contains("Nog 1 keer inloggen zonder tweede factor."), "{}", first.body);
        // Onward to the portal: the grace session is a sign-in for the client, and the home
        // page says how many remain.
        let next = attribute(&first.body, "id=\"grace-continue\"", "href").unwrap();
        let home = browser.get(&next).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        assert!(home.body.contains("id=\"mfa-banner\""), "{}", home.body);

        let (browser, second) = password_sign_in(&portal, EMPLOYEE, &password).await;
        assert!(second.body.contains("Dit was de laatste keer inloggen zonder tweede factor."), "{}", second.body);
        // That session still reaches the portal, whose home page says 2FA is required now.
        let next = attribute(&second.body, "id=\"grace-continue\"", "href").unwrap();
        let home = browser.get(&next).await;
        assert!(home.body.contains("Twee-factor-authenticatie is nu verplicht voor uw account."), "{}", home.body);

        let (_, third) = password_sign_in(&portal, EMPLOYEE, &password).await;
        assert!(third.url.ends_with("/idp/2fa/instellen"), "{}", third.url);
        assert!(third.body.contains(SETUP_TITLE));

        let (_, other_tree) = password_sign_in(&portal, STRANGER, &password).await;
        assert!(other_tree.body.contains(SETUP_TITLE), "no grace for Pensioenhuis Noord");
    }

    /// The insurer gives Voorbeeld Advies a date ten days ahead (API, validated, insurer
    /// only). Nick's home page counts down; his 2FA-status page lists his tree, not
    /// Pensioenhuis Noord's; "Herinnering sturen" mails Ilse once, a second try within 24
    /// hours is refused.
    async fn the_status_page_shows_the_own_tree_and_reminds_once(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let head = office_id(&portal, "12345").await;
        let date = (OffsetDateTime::now_utc() + Duration::days(10)).date().to_string();
        let path = format!("/offices/{head}/mfa-policy");
        let bad = call(&portal, "PATCH", &path, &admin, Some(json!({ "required_from": "1-7-2026", "grace_logins": 0 })), None).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        let set = call(&portal, "PATCH", &path, &admin, Some(json!({ "required_from": date, "grace_logins": 1 })), None).await;
        assert_eq!(set.status, 200, "{}", set.body);
        assert_eq!(set.body["effective_from"], date.as_str());
        let main = token_for(&portal, MAIN, &password).await;
        let refused = call(&portal, "PATCH", &path, &main, Some(json!({ "required_from": null, "grace_logins": 0 })), None).await;
        assert_eq!(refused.status, 403, "only the insurer sets a policy");
        // The head office's edit page in the console carries the same policy as a form.
        let noord = office_id(&portal, "67890").await;
        let (console, _) = password_sign_in(&portal, ADMIN, &password).await;
        let edit = console.get(&format!("/beheer/hoofdkantoren/{noord}")).await;
        assert!(edit.body.contains("2FA-beleid"), "{}", edit.body);
        let action = attribute(&edit.body, "name=\"terug\"", "value").unwrap();
        assert_eq!(action, "hoofdkantoor");
        let saved = console
            .post(
                &format!("/2fa-status/beleid/{noord}"),
                &[("terug", "hoofdkantoor"), ("verplicht_vanaf", ""), ("keer", "3")],
            )
            .await;
        assert!(saved.body.contains("De wijzigingen zijn opgeslagen."), "{}", saved.body);
        let policy = call(&portal, "GET", &format!("/offices/{noord}/mfa-policy"), &admin, None, None).await;
        assert_eq!(policy.body["grace_logins"], 3, "{}", policy.body);
        assert_eq!(policy.body["required_from"], serde_json::Value::Null);
        // A main user asking for another tree still gets its own (AC-03).
        let listed = call(&portal, "GET", &format!("/mfa/status?office_id={noord}"), &main, None, None).await;
        assert_eq!(listed.status, 200);
        let emails: Vec<&str> = listed.body["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert!(emails.contains(&EMPLOYEE) && !emails.contains(&STRANGER), "{emails:?}");

        let (browser, home) = password_sign_in(&portal, MAIN, &password).await;
        assert!(home.body.contains("is twee-factor-authenticatie verplicht. Nog 10 dagen."), "{}", home.body);
        let status = browser.get("/2fa-status").await;
        assert_eq!(status.status, 200, "{}", status.body);
        assert!(status.body.contains("Ilse de Vries") && status.body.contains("Tim de Boer"), "{}", status.body);
        assert!(!status.body.contains("Joost") && !status.body.contains("Eva Mulder"), "another tree");

        let ilse = user_id(&portal, EMPLOYEE).await;
        let before = portal.mails_to(EMPLOYEE);
        let sent = browser.post(&format!("/2fa-status/{ilse}/herinnering"), &[("kantoor", "")]).await;
        assert!(sent.body.contains("De herinnering is verstuurd."), "{}", sent.body);
        let again = browser.post(&format!("/2fa-status/{ilse}/herinnering"), &[("kantoor", "")]).await;
        assert!(again.body.contains("de afgelopen 24 uur al een herinnering gekregen"), "{}", again.body);
        for _ in 0..200 {
            if portal.mails_to(EMPLOYEE) > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(portal.mails_to(EMPLOYEE), before + 1, "one reminder");
        // Another tree's user: not found for Nick, nothing sent.
        let joost = user_id(&portal, STRANGER).await;
        let hidden = call(&portal, "POST", &format!("/users/{joost}/mfa-reminder"), &main, None, None).await;
        assert_eq!(hidden.status, 404);
    }
}
