//! Issue 4, "Sign-in, activation and passwords": asking for a new activation mail (A3),
//! "Wachtwoord vergeten" (A5), throttling of failed passwords per account and per address
//! (SECURITY AV-01, AV-04) and the audit trail of it all (L1, AD-01), through the real
//! binary on both databases.

use reqwest::StatusCode;
use testkit::TestDatabase;

use crate::support::{Browser, Page, Portal, attribute};

const PASSWORD: &str = "blauwe tulpen in de lente";
const NEW_PASSWORD: &str = "zeven zwanen op de gracht";
const THROTTLED: &str = "Te veel mislukte pogingen. Probeer het over 15 minuten opnieuw.";
const SIGN_IN_FAILED: &str =
    "De combinatie van adviseursnummer of e-mailadres en wachtwoord is onbekend";

fn add_head(portal: &Portal, number: &str, name: &str, email: &str) {
    let out = portal.cli(&[
        "office", "add-head", "--number", number, "--name", name, "--email", email, "--rights",
        "DIP,DIL",
    ]);
    assert!(
        out.status.success(),
        "add-head failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Adds a head office and activates its main user with `PASSWORD`.
async fn active_head(portal: &Portal, number: &str, email: &str) {
    add_head(portal, number, "Voorbeeld Advies", email);
    let link = portal.activation_link(email).await;
    let done = Browser::new(&portal.base)
        .post(
            &link,
            &[("password", PASSWORD), ("password_repeat", PASSWORD)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
}

/// Follows a link on `page` by its exact text.
async fn click(browser: &Browser, page: &Page, text: &str) -> Page {
    let at = page
        .body
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text:?}: {}", page.body));
    let start = page.body[..at].rfind("<a ").unwrap();
    let href = attribute(&page.body[start..], "<a", "href").unwrap();
    let url = reqwest::Url::parse(&page.url).unwrap().join(&href).unwrap();
    browser.get(url.as_str()).await
}

/// The text of the main section, without the form (for comparing answers).
fn main_text(page: &Page) -> String {
    let start = page.body.find("<main>").unwrap();
    let end = page.body.find("</main>").unwrap();
    page.body[start..end].to_owned()
}

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    let n = idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .unwrap();
    db.close().await;
    n
}

/// (action, ip, detail) of every audit entry, oldest first.
async fn audit(portal: &Portal) -> Vec<(String, Option<String>, String)> {
    let db = portal.db().await;
    let rows = idp::with_db!(&db, |pool| sqlx::query_as::<
        _,
        (String, Option<String>, String),
    >(
        "SELECT action, ip, detail FROM audit_log ORDER BY id"
    )
    .fetch_all(pool)
    .await)
    .unwrap();
    db.close().await;
    rows
}

/// One sign-in POST from `client` (sent as X-Forwarded-For when given); no redirects followed.
async fn post_login(
    portal: &Portal,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    login_at(&portal.base, client, username, password).await
}

async fn login_at(
    base: &str,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = http.post(format!("{base}/idp/login")).form(&[
        ("username", username),
        ("password", password),
        ("return_to", "/"),
    ]);
    if let Some(ip) = client {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

testkit::both_databases! {
    /// A3: "Activeer hier uw account" on the sign-in page mails a new link to a not yet
    /// activated main user; the older link stops working and the new one activates.
    async fn a3_mails_a_new_activation_link_that_replaces_the_old(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_head(&portal, "12345", "Voorbeeld Advies", "info@voorbeeld.nl");
        let first = portal.nth_link("info@voorbeeld.nl", "/idp/activate/", 1).await;

        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let form = click(&browser, &login, "Activeer hier uw account").await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("Stuur mij de activatiemail"), "{}", form.body);
        assert!(form.body.contains("name=\"email\"") && form.body.contains("name=\"advisor_number\""));
        let action = attribute(&form.body, "<form", "action").unwrap();
        let answer = browser.post(&action, &[("email", " Info@Voorbeeld.nl"), ("advisor_number", "12345")]).await;
        assert_eq!(answer.status, 200);
        assert!(answer.hops.len() == 2, "303 to the answer page: {:?}", answer.hops);
        assert!(answer.body.contains("ontvangt u binnen enkele minuten een e-mail"), "{}", answer.body);

        let second = portal.nth_link("info@voorbeeld.nl", "/idp/activate/", 2).await;
        assert_ne!(first, second);
        let old = browser.get(&first).await;
        assert_eq!(old.status, 410);
        assert!(old.body.contains("verlopen of vervangen"), "{}", old.body);
        let done = browser.post(&second, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw account is geactiveerd"));
        let home = browser.sign_in(&browser.get("/").await, "12345", PASSWORD).await;
        assert!(home.body.contains("Welkom, Voorbeeld Advies"), "{}", home.body);

        // Once activated, asking again sends nothing.
        browser.post(&action, &[("email", "info@voorbeeld.nl"), ("advisor_number", "12345")]).await;
        let audit = audit(&portal).await;
        let requests: Vec<_> = audit.iter().filter(|(a, _, _)| a == "activation.requested").collect();
        assert_eq!(requests.len(), 2);
        assert!(requests[0].2.contains("\"sent\"") && requests[1].2.contains("\"no_match\""), "{requests:?}");
        assert!(requests.iter().all(|(_, ip, _)| ip.as_deref() == Some("127.0.0.1")));
        assert!(audit.iter().any(|(a, ip, _)| a == "user.activated" && ip.as_deref() == Some("127.0.0.1")));
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(portal.mails_to("info@voorbeeld.nl"), 2);
    }

    /// A3 with data that match nothing: the same answer, no mail, no new link.
    async fn a3_with_data_that_match_nothing_answers_the_same(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_head(&portal, "12345", "Voorbeeld Advies", "info@voorbeeld.nl");
        active_head(&portal, "67890", "actief@kantoor.nl").await;
        portal.nth_link("info@voorbeeld.nl", "/idp/activate/", 1).await;
        let tokens = count(&portal, "SELECT COUNT(*) FROM user_tokens").await;

        let browser = Browser::new(&portal.base);
        let action = format!("{}/idp/activate", portal.base);
        let mut answers = Vec::new();
        for (email, number) in [
            ("info@voorbeeld.nl", "99999"),      // wrong advisor number
            ("onbekend@voorbeeld.nl", "12345"),  // unknown address
            ("actief@kantoor.nl", "67890"),      // already activated
            ("info@voorbeeld.nl", "67890"),      // another office's number
            ("geen adres", "12345"),             // not an address at all
        ] {
            let page = browser.post(&action, &[("email", email), ("advisor_number", number)]).await;
            assert_eq!(page.status, 200);
            answers.push(main_text(&page));
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM user_tokens").await, tokens, "no new link");
        assert_eq!(portal.mails_to("info@voorbeeld.nl"), 1, "no mail");
        assert_eq!(portal.mails_to("actief@kantoor.nl"), 1, "no mail");

        let matched = browser.post(&action, &[("email", "info@voorbeeld.nl"), ("advisor_number", "12345")]).await;
        portal.nth_link("info@voorbeeld.nl", "/idp/activate/", 2).await;
        for a in &answers {
            assert_eq!(a, &main_text(&matched), "the same answer whether or not anything matched");
        }
    }

    /// A5: "Wachtwoord vergeten" mails a reset link; opening it changes nothing, the POST
    /// sets the password once, signs no one in and ends the sessions signed in before.
    async fn a5_reset_sets_a_new_password_and_ends_every_session(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal, "12345", "info@voorbeeld.nl").await;
        let before = Browser::new(&portal.base);
        let home = before.sign_in(&before.get("/").await, "info@voorbeeld.nl", PASSWORD).await;
        assert!(home.body.contains("Welkom, Voorbeeld Advies"), "{}", home.body);
        let grants: i64 = count(&portal, "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL").await;
        assert_eq!(grants, 1, "the shell's sign-in holds one grant");

        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let form = click(&browser, &login, "Wachtwoord vergeten").await;
        assert_eq!(form.status, 200);
        let action = attribute(&form.body, "<form", "action").unwrap();
        let answer = browser.post(&action, &[("email", "INFO@voorbeeld.nl")]).await;
        assert_eq!(answer.status, 200);
        assert!(answer.body.contains("Als dit e-mailadres hoort bij een actief account"), "{}", answer.body);
        let link = portal.nth_link("info@voorbeeld.nl", "/idp/reset/", 1).await;
        let mail = portal.smtp.messages().into_iter().last().unwrap();
        assert!(mail.data.contains("Subject: Nieuw wachtwoord"), "{}", mail.data);
        assert!(mail.data.contains("(minuten): 30"), "30 minutes by default: {}", mail.data);

        for _ in 0..2 {
            let page = browser.get(&link).await;
            assert_eq!(page.status, 200);
            assert!(page.body.contains("Kies een nieuw wachtwoord"), "{}", page.body);
        }
        let weak = browser.post(&link, &[("password", "welkom123"), ("password_repeat", "welkom123")]).await;
        assert_eq!(weak.status, 422, "the NIST rules apply");
        let done = browser.post(&link, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw wachtwoord is gewijzigd"));
        let again = browser.post(&link, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert_eq!(again.status, 410);
        assert!(again.body.contains("Deze link is al gebruikt. Uw wachtwoord is al gewijzigd."), "{}", again.body);

        // ML-04: the reset signed no one in, and the session from before is over.
        let page = browser.get("/").await;
        assert!(page.url.contains("/idp/login"), "not signed in by the reset: {}", page.url);
        // The idp session from before is over: a portal not yet visited cannot sign in
        // through it any more. (The shell's own session at `/` ends only once back-channel
        // logout reaches the relying parties; that is not part of this change.)
        // ML-04, OP-19: the grant behind the shell's tokens (from the sign-in before the
        // reset) is revoked with it.
        let live_grants: i64 = count(&portal, "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL").await;
        assert_eq!(live_grants, 0, "every grant of the user ends with the reset");
        let page = before.get("/dip").await;
        assert!(page.hops.iter().any(|h| h.contains("/idp/authorize")), "{:?}", page.hops);
        assert!(page.url.contains("/idp/login"), "the old session is over: {:?}", page.hops);
        let open: i64 = count(&portal, "SELECT COUNT(*) FROM idp_sessions WHERE revoked_at IS NULL").await;
        assert_eq!(open, 0);

        let (status, body) = post_login(&portal, None, "12345", PASSWORD).await;
        assert_eq!(status, 200);
        assert!(body.contains(SIGN_IN_FAILED), "the old password is gone");
        let (status, _) = post_login(&portal, None, "12345", NEW_PASSWORD).await;
        assert_eq!(status, 303);
        let audit = audit(&portal).await;
        assert!(audit.iter().any(|(a, ip, d)| a == "reset.requested" && ip.as_deref() == Some("127.0.0.1") && d.contains("\"sent\"")));
        assert!(audit.iter().any(|(a, ip, _)| a == "password.reset" && ip.as_deref() == Some("127.0.0.1")));
    }

    /// A5 for an unknown or not yet activated address: the same answer, and nothing is sent.
    async fn a5_for_an_unknown_address_answers_the_same_and_sends_nothing(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_head(&portal, "12345", "Voorbeeld Advies", "nieuw@voorbeeld.nl");
        active_head(&portal, "67890", "actief@kantoor.nl").await;
        let browser = Browser::new(&portal.base);
        let action = format!("{}/idp/forgot", portal.base);
        let unknown = browser.post(&action, &[("email", "onbekend@voorbeeld.nl")]).await;
        let inactive = browser.post(&action, &[("email", "nieuw@voorbeeld.nl")]).await;
        let known = browser.post(&action, &[("email", "actief@kantoor.nl")]).await;
        portal.nth_link("actief@kantoor.nl", "/idp/reset/", 1).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(main_text(&unknown), main_text(&known));
        assert_eq!(main_text(&inactive), main_text(&known));
        assert_eq!(portal.mails_to("nieuw@voorbeeld.nl"), 1, "only its activation mail");
        assert_eq!(portal.mails_to("onbekend@voorbeeld.nl"), 0);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM user_tokens WHERE purpose = 'reset'").await, 1);
        let outcomes: Vec<String> = audit(&portal).await.into_iter().filter(|(a, _, _)| a == "reset.requested").map(|(_, _, d)| d).collect();
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes[0].contains("no_match") && outcomes[1].contains("no_match") && outcomes[2].contains("sent"), "{outcomes:?}");

        // ML-03: at most three mails an hour per account; the fourth request still gets
        // the same answer, but nothing is sent.
        let mut last = known;
        for _ in 0..3 {
            last = browser.post(&action, &[("email", "actief@kantoor.nl")]).await;
        }
        assert_eq!(main_text(&last), main_text(&unknown));
        portal.nth_link("actief@kantoor.nl", "/idp/reset/", 3).await;
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM user_tokens WHERE purpose = 'reset'").await, 3);
        assert_eq!(portal.mails_to("actief@kantoor.nl"), 4, "activation + three resets");
        let last_outcome = audit(&portal).await.into_iter().rev().find(|(a, _, _)| a == "reset.requested").unwrap();
        assert!(last_outcome.2.contains("throttled"), "{last_outcome:?}");
    }

    /// AV-01, AV-04 behind a trusted proxy: five failures lock the account (then even the
    /// right password is refused with the throttle text, from any address); thirty lock
    /// the address, not another one. Every attempt is audited with address and reason.
    async fn failed_passwords_lock_the_account_and_the_address(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.set_env("PORTAL_TRUSTED_PROXIES", "127.0.0.1");
        portal.start().await;
        active_head(&portal, "12345", "info@voorbeeld.nl").await;
        active_head(&portal, "67890", "ander@kantoor.nl").await;
        let a = Some("198.51.100.1");

        for _ in 0..5 {
            let (status, body) = post_login(&portal, a, "12345", "fout wachtwoord nummer een").await;
            assert_eq!(status, 200);
            assert!(body.contains(SIGN_IN_FAILED));
        }
        for client in [a, Some("198.51.100.2")] {
            let (status, body) = post_login(&portal, client, "info@voorbeeld.nl", PASSWORD).await;
            assert_eq!(status, 429, "locked, even with the right password");
            assert!(body.contains(THROTTLED), "{body}");
            assert!(!body.contains(SIGN_IN_FAILED));
        }
        let (status, _) = post_login(&portal, a, "12345", "nog een fout wachtwoord").await;
        assert_eq!(status, 429, "a wrong password during the lock gets the same answer");
        // The address itself is not locked: another account signs in from it.
        let (status, _) = post_login(&portal, a, "ander@kantoor.nl", PASSWORD).await;
        assert_eq!(status, 303);

        // Thirty failures from one address (spread over unknown names) lock that address.
        let b = "198.51.100.9";
        let statuses = failures_at_once(&portal, 30, |_| b.to_owned()).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");
        let (status, body) = post_login(&portal, Some(b), "ander@kantoor.nl", PASSWORD).await;
        assert_eq!(status, 429);
        assert!(body.contains(THROTTLED), "{body}");
        let (status, _) = post_login(&portal, Some("198.51.100.10"), "ander@kantoor.nl", PASSWORD).await;
        assert_eq!(status, 303, "another address is unaffected");

        let audit = audit(&portal).await;
        let reason = |ip: &str, r: &str| audit.iter().filter(|(a, i, d)| a == "login.failed" && i.as_deref() == Some(ip) && d.contains(&format!("\"{r}\""))).count();
        assert_eq!(reason("198.51.100.1", "wrong_password"), 5);
        assert_eq!(reason("198.51.100.1", "throttled"), 2);
        assert_eq!(reason("198.51.100.2", "throttled"), 1);
        assert_eq!(reason(b, "unknown"), 30);
        assert_eq!(reason(b, "throttled"), 1);
        assert!(audit.iter().any(|(a, i, _)| a == "login.succeeded" && i.as_deref() == Some("198.51.100.10")));
        let failures = count(&portal, "SELECT hits FROM signin_throttle WHERE kind = 'login_ip' AND subject = '198.51.100.9'").await;
        assert_eq!(failures, 30, "every parallel failure counted once");
    }

    /// AV-04 without trusted proxies: X-Forwarded-For is ignored, so changing it neither
    /// escapes an address lock nor changes the audited address. A good sign-in clears the
    /// account's failures; the not-activated reason is audited.
    async fn a_spoofed_forwarded_for_is_ignored(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal, "12345", "info@voorbeeld.nl").await;
        add_head(&portal, "67890", "Nieuw Kantoor", "nieuw@kantoor.nl");

        for _ in 0..4 {
            post_login(&portal, Some("203.0.113.5"), "12345", "fout wachtwoord nummer een").await;
        }
        let (status, _) = post_login(&portal, None, "12345", PASSWORD).await;
        assert_eq!(status, 303);
        for _ in 0..4 {
            post_login(&portal, None, "12345", "fout wachtwoord nummer twee").await;
        }
        let (status, _) = post_login(&portal, None, "12345", PASSWORD).await;
        assert_eq!(status, 303, "the good sign-in cleared the first four failures");
        let (status, body) = post_login(&portal, Some("203.0.113.6"), "nieuw@kantoor.nl", PASSWORD).await;
        assert_eq!(status, 200);
        assert!(body.contains(SIGN_IN_FAILED));

        // 21 more failures (30 in all), each "from" another forwarded address: all of
        // them come from 127.0.0.1.
        failures_at_once(&portal, 21, |i| format!("203.0.113.{}", 100 + i)).await;
        let (status, body) = post_login(&portal, Some("192.0.2.200"), "12345", PASSWORD).await;
        assert_eq!(status, 429, "the lock is on the real peer");
        assert!(body.contains(THROTTLED));

        let audit = audit(&portal).await;
        assert!(audit.iter().filter(|(a, _, _)| a.starts_with("login.")).all(|(_, ip, _)| ip.as_deref() == Some("127.0.0.1")), "{audit:?}");
        assert!(audit.iter().any(|(a, _, d)| a == "login.failed" && d.contains("\"not_activated\"")));
    }

    /// AU-03: a password hashed with older parameters is hashed again at the next good
    /// sign-in, and the new hash verifies.
    async fn an_outdated_hash_is_replaced_at_sign_in(db: &TestDatabase) {
        use argon2::PasswordHasher as _;
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal, "12345", "info@voorbeeld.nl").await;
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(PASSWORD.as_bytes())
        .unwrap()
        .to_string();
        let db = portal.db().await;
        idp::with_db!(&db, |pool| sqlx::query("UPDATE users SET password_hash = $1 WHERE email = 'info@voorbeeld.nl'")
            .bind(&weak)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .unwrap();
        let (status, _) = post_login(&portal, None, "12345", PASSWORD).await;
        assert_eq!(status, 303);
        let stored: String = idp::with_db!(&db, |pool| sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'info@voorbeeld.nl'")
            .fetch_one(pool)
            .await)
        .unwrap();
        db.close().await;
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        let (status, _) = post_login(&portal, None, "info@voorbeeld.nl", PASSWORD).await;
        assert_eq!(status, 303, "the new hash verifies");
    }
}

/// Sends `n` failing sign-ins at once, from forwarded address `client(i)` with user
/// `raden{i}@voorbeeld.nl`; returns their statuses.
async fn failures_at_once(
    portal: &Portal,
    n: usize,
    client: impl Fn(usize) -> String,
) -> Vec<StatusCode> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let base = portal.base.clone();
        let ip = client(i);
        set.spawn(async move {
            login_at(
                &base,
                Some(&ip),
                &format!("raden{i}@voorbeeld.nl"),
                "geraden wachtwoord",
            )
            .await
            .0
        });
    }
    set.join_all().await
}
