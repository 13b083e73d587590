//! Profiel (issue 6): the signed-in user changes its own name and password at the idp,
//! through the real binary on both databases. A wrong current password changes nothing
//! and counts against the sign-in throttle; a new password follows the activation rules;
//! the change ends the user's other sessions and is mailed; an old sign-in must sign in
//! again first (MF-06).

use std::time::Duration;

use testkit::TestDatabase;

use crate::admin_api::{EMPLOYEE, demo};
use crate::support::{Browser, Portal, attribute};

const NEW_PASSWORD: &str = "zeven zwanen zwemmen zuidwaarts";

async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/idp/account").await;
    let account = browser.sign_in(&page, login, password).await;
    assert!(
        account.body.contains("Wachtwoord wijzigen"),
        "{}",
        account.body
    );
    browser
}

async fn password_hash(portal: &Portal, email: &str) -> String {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, String>(
        "SELECT password_hash FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await)
    .unwrap()
}

async fn audit_count(portal: &Portal, action: &str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_log WHERE action = $1"
    )
    .bind(action)
    .fetch_one(pool)
    .await)
    .unwrap()
}

/// Whether a fresh browser can sign in with `password`.
async fn can_sign_in(portal: &Portal, login: &str, password: &str) -> bool {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/idp/account").await;
    let after = browser.sign_in(&page, login, password).await;
    after.body.contains("Wachtwoord wijzigen")
}

testkit::both_databases! {
    async fn a_user_changes_its_name(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, EMPLOYEE, &password).await;
        let account = browser.get("/idp/account").await;
        // The form whose field is the name posts to the name route.
        let field = account.body.find("name=\"name\"").expect("a name field");
        let form = account.body[..field].rfind("<form").unwrap();
        let action = attribute(&account.body[form..], "<form", "action").unwrap();
        assert!(action.ends_with("/account/naam"), "{action}");

        // An empty name is refused in Dutch and nothing changes.
        let refused = browser.post(&action, &[("name", "   ")]).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("Vul een naam in"), "{}", refused.body);
        assert_eq!(audit_count(&portal, "profile.name_changed").await, 0);

        let done = browser.post(&action, &[("name", "Ilse van Dijk")]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw naam is gewijzigd."), "{}", done.body);
        assert!(done.body.contains("value=\"Ilse van Dijk\""), "{}", done.body);
        assert_eq!(audit_count(&portal, "profile.name_changed").await, 1);

        // The shell greets the new name after a fresh sign-in (it comes from the claims).
        let shell = Browser::new(&portal.base);
        let page = shell.get("/").await;
        let home = shell.sign_in(&page, EMPLOYEE, &password).await;
        assert!(home.body.contains("Ilse van Dijk"), "{}", home.body);
    }

    async fn a_wrong_current_password_changes_nothing(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, EMPLOYEE, &password).await;
        let before = password_hash(&portal, EMPLOYEE).await;
        let refused = browser
            .post("/idp/account/wachtwoord", &[
                ("current_password", "niet mijn wachtwoord echt niet"),
                ("password", NEW_PASSWORD),
                ("password_repeat", NEW_PASSWORD),
            ])
            .await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("Het huidige wachtwoord klopt niet."), "{}", refused.body);
        assert_eq!(password_hash(&portal, EMPLOYEE).await, before);
        assert_eq!(audit_count(&portal, "password.change_failed").await, 1);
        // It counts as a failed sign-in of the account (AV-01).
        let db = portal.db().await;
        let hits: i64 = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM signin_throttle WHERE kind = 'login_account' AND hits >= 1"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert!(hits >= 1, "the failure was not counted");

        // The new password's rules are the activation's: a mismatch, the same password,
        // and a common password are each refused and change nothing.
        for (new, repeat, text) in [
            (NEW_PASSWORD, "iets anders dan het nieuwe", "De twee wachtwoorden zijn niet gelijk."),
            (password.as_str(), password.as_str(), "hetzelfde als het huidige"),
            ("password1234", "password1234", "veelgebruikte of gelekte"),
        ] {
            let refused = browser
                .post("/idp/account/wachtwoord", &[
                    ("current_password", password.as_str()),
                    ("password", new),
                    ("password_repeat", repeat),
                ])
                .await;
            assert_eq!(refused.status, 422, "{new}: {}", refused.body);
            assert!(refused.body.contains(text), "{text}: {}", refused.body);
            assert_eq!(password_hash(&portal, EMPLOYEE).await, before);
        }
        assert!(can_sign_in(&portal, EMPLOYEE, &password).await);
    }

    async fn a_password_change_ends_other_sessions_and_is_mailed(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let other = signed_in(&portal, EMPLOYEE, &password).await;
        let browser = signed_in(&portal, EMPLOYEE, &password).await;
        let done = browser
            .post("/idp/account/wachtwoord", &[
                ("current_password", password.as_str()),
                ("password", NEW_PASSWORD),
                ("password_repeat", NEW_PASSWORD),
            ])
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw wachtwoord is gewijzigd."), "{}", done.body);

        // This session goes on; the other one has ended (SE-05).
        assert!(browser.get("/idp/account").await.body.contains("Wachtwoord wijzigen"));
        let ended = other.get("/idp/account").await;
        assert!(ended.body.contains("name=\"username\""), "{}", ended.body);

        assert!(can_sign_in(&portal, EMPLOYEE, NEW_PASSWORD).await);
        assert!(!can_sign_in(&portal, EMPLOYEE, &password).await);
        assert_eq!(audit_count(&portal, "password.changed").await, 1);
        let mail = portal
            .smtp
            .wait_for(
                |m| m.to.iter().any(|t| t == EMPLOYEE)
                    && crate::support::quoted_printable(&m.data).contains("wachtwoord van uw account is zojuist gewijzigd"),
                Duration::from_secs(20),
            )
            .await;
        assert!(mail.is_some(), "no notice mail");
    }

    async fn an_old_sign_in_must_sign_in_again_before_a_password_change(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, EMPLOYEE, &password).await;
        // The sign-in happened ten minutes ago.
        let db = portal.db().await;
        let ten_minutes_ago = time::OffsetDateTime::now_utc() - time::Duration::minutes(10);
        idp::with_db!(&db, |pool| sqlx::query("UPDATE idp_sessions SET auth_time = $1")
            .bind(ten_minutes_ago)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .unwrap();
        let before = password_hash(&portal, EMPLOYEE).await;
        let page = browser
            .post("/idp/account/wachtwoord", &[
                ("current_password", password.as_str()),
                ("password", NEW_PASSWORD),
                ("password_repeat", NEW_PASSWORD),
            ])
            .await;
        assert!(page.body.contains("name=\"username\""), "{}", page.body);
        assert!(page.url.contains("melding=reauth"), "{}", page.url);
        assert_eq!(password_hash(&portal, EMPLOYEE).await, before);
    }

    /// SE-06: Profiel lists the user's live sessions; ending another one (after a recent
    /// sign-in) ends it at the idp and in the portal (back-channel logout), is audited,
    /// and is refused for a session that is not one's own.
    async fn a_user_sees_its_sessions_and_ends_another_one(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let elsewhere = Browser::new(&portal.base);
        let home = elsewhere.sign_in(&elsewhere.get("/").await, EMPLOYEE, &password).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let browser = signed_in(&portal, EMPLOYEE, &password).await;

        let account = browser.get("/idp/account").await;
        assert!(account.body.contains("<h3 id=\"sessies\">Sessies</h3>"), "{}", account.body);
        assert_eq!(account.body.matches("Deze sessie").count(), 1, "{}", account.body);
        assert_eq!(account.body.matches("afmelden\"><button").count(), 1, "one other session: {}", account.body);
        assert!(account.body.contains("Wachtwoord en authenticator-app") || account.body.contains(">Wachtwoord<"));
        let button = account.body.find(">Afmelden</button>").unwrap();
        let form = account.body[..button].rfind("<form").unwrap();
        let action = attribute(&account.body[form..], "<form", "action").unwrap();

        // Someone else cannot end it, even knowing its name.
        let main = signed_in(&portal, crate::admin_api::MAIN, &password).await;
        let refused = main.post(&action, &[]).await;
        assert_eq!(refused.status, 404, "{}", refused.body);
        assert_eq!(audit_count(&portal, "session.ended").await, 0);
        assert!(elsewhere.get("/").await.body.contains("Welkom"), "still signed in");

        let done = browser.post(&action, &[]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("De sessie is afgemeld."), "{}", done.body);
        assert_eq!(done.body.matches("afmelden\"><button").count(), 0, "{}", done.body);
        assert_eq!(audit_count(&portal, "session.ended").await, 1);
        assert!(signed_out_within_seconds(&elsewhere).await, "the portal session outlived it");
        // This browser goes on; a second try finds nothing to end.
        assert!(browser.get("/idp/account").await.body.contains("Wachtwoord wijzigen"));
        assert_eq!(browser.post(&action, &[]).await.status, 404);
        assert_eq!(audit_count(&portal, "session.ended").await, 1);
    }

    /// SE-06: a main user signs one of its users out on every device from Gebruikers: the
    /// portal session ends within seconds (back-channel logout), the act is audited, and
    /// the password still works.
    async fn a_main_user_signs_a_user_out_everywhere(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let ilse = Browser::new(&portal.base);
        let home = ilse.sign_in(&ilse.get("/").await, EMPLOYEE, &password).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let main = Browser::new(&portal.base);
        main.sign_in(&main.get("/").await, crate::admin_api::MAIN, &password).await;
        let id = crate::admin_api::user_id(&portal, EMPLOYEE).await;
        let edit = main.get(&format!("/gebruikers/{id}")).await;
        assert!(edit.body.contains(">Uitloggen op alle apparaten</button>"), "{}", edit.body);
        let done = main.post(&format!("/gebruikers/{id}/afmelden"), &[]).await;
        assert!(done.body.contains("De gebruiker is op alle apparaten uitgelogd."), "{}", done.body);
        assert!(signed_out_within_seconds(&ilse).await, "the portal session outlived it");
        assert_eq!(audit_count(&portal, "user.sessions_ended").await, 1);
        assert!(can_sign_in(&portal, EMPLOYEE, &password).await);
        // The main user's own session goes on.
        assert!(main.get("/gebruikers").await.body.contains("Gebruikers"));
    }

    /// O6, ML-04: a password reset and a 2FA reset end the user's sessions at the idp *and*
    /// in the portal: the shell is told by back-channel logout and signs the browser out
    /// within seconds.
    async fn resets_sign_the_user_out_of_the_portal(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;

        // "Wachtwoord vergeten": Ilse's portal session ends when the new password is set.
        let ilse = Browser::new(&portal.base);
        let home = ilse.sign_in(&ilse.get("/").await, EMPLOYEE, &password).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let other = Browser::new(&portal.base);
        other.post("/idp/forgot", &[("email", EMPLOYEE)]).await;
        let link = portal.nth_link(EMPLOYEE, "/idp/reset/", 1).await;
        let set = other.post(&link, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert_eq!(set.status, 200, "{}", set.body);
        assert!(signed_out_within_seconds(&ilse).await, "the reset left the portal session alive");

        // A 2FA reset by the main user ends it too.
        let ilse = Browser::new(&portal.base);
        let home = ilse.sign_in(&ilse.get("/").await, EMPLOYEE, NEW_PASSWORD).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let main = Browser::new(&portal.base);
        main.sign_in(&main.get("/").await, crate::admin_api::MAIN, &password).await;
        let id = crate::admin_api::user_id(&portal, EMPLOYEE).await;
        let done = main.post(&format!("/gebruikers/{id}/2fa"), &[]).await;
        assert!(done.body.contains("De twee-factor-authenticatie is gewist."), "{}", done.body);
        assert!(signed_out_within_seconds(&ilse).await, "the 2FA reset left the portal session alive");
    }
}

/// Polls the shell until it asks `browser` to sign in; `false` after ten seconds.
async fn signed_out_within_seconds(browser: &Browser) -> bool {
    for _ in 0..100 {
        if browser.get("/").await.body.contains("name=\"username\"") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
