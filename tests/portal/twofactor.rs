//! Issue 5, two-factor authentication (SPEC F1–F3) through the real binary on both
//! databases: forced enrolment with no session before it is done (SECURITY AU-08), the
//! code page of the manual, codes accepted once (MF-02), five wrong codes discarding the
//! step (MF-03), recovery codes (MF-05), the lost-phone reset (MF-07), the mandatory date
//! (F2), and `amr`/`acr` as an OIDC client sees them (MF-10). A real Chromium with an
//! authenticator app's and a passkey's part is in `browser_2fa.rs`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp::domain::factor::{ACR_MFA, ACR_PASSWORD};
use idp::domain::totp::{Seed, step_at};
use serde_json::Value;
use testkit::TestDatabase;
use time::OffsetDateTime;

use crate::oidc::{pkce, query_param, url_form};
use crate::support::{Browser, Page, Portal, attribute, quoted_printable};

const PASSWORD: &str = "blauwe tulpen in de lente";
const LOGIN: &str = "info@voorbeeld.nl";
const CODE_PAGE: &str = "Vul hieronder de 6-cijferige code uit de authenticator in:";
const SETUP_TITLE: &str = "Twee-factor-authenticatie instellen";
const WRONG_CODE: &str = "Deze code is onjuist of verlopen.";
const HOME: &str = "Welkom";
const REDIRECT: &str = "https://rp.example.nl/cb";
const SECRET: &str = "a-client-secret-for-the-2fa-tests-0123456789";

/// A portal where 2FA is mandatory (the shipped default date, 2025-07-01).
async fn mandatory(db: &TestDatabase) -> Portal {
    let mut portal = Portal::new(db);
    portal.set_env("PORTAL_MFA_REQUIRED_FROM", "2025-07-01");
    portal.start().await;
    portal
}

/// A head office whose main user has activated with `PASSWORD`.
async fn active_head(portal: &Portal) {
    let out = portal.cli(&[
        "office",
        "add-head",
        "--number",
        "12345",
        "--name",
        "Voorbeeld Advies",
        "--email",
        LOGIN,
        "--rights",
        "DIP,DIL",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = portal.activation_link(LOGIN).await;
    let done = Browser::new(&portal.base)
        .post(
            &link,
            &[("password", PASSWORD), ("password_repeat", PASSWORD)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
}

/// The code an authenticator app shows for `seed`, `steps_ahead` steps from now.
fn code(seed: &Seed, steps_ahead: i64) -> String {
    seed.code_at_step(step_at(OffsetDateTime::now_utc()) + steps_ahead)
        .unwrap()
}

/// Posts the form of `page` whose `<form` tag comes first after `marker`, with `fields`.
async fn submit(browser: &Browser, page: &Page, marker: &str, fields: &[(&str, &str)]) -> Page {
    let from = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} on {}: {}", page.url, page.body));
    let action = attribute(&page.body[from..], "<form", "action").unwrap();
    let url = reqwest::Url::parse(&page.url)
        .unwrap()
        .join(&action)
        .unwrap();
    browser.post(url.as_str(), fields).await
}

/// Signs in with the password from the home page; returns the page after it.
async fn password_step(portal: &Portal, browser: &Browser) -> Page {
    let login = browser.get(&format!("{}/", portal.base)).await;
    browser.sign_in(&login, LOGIN, PASSWORD).await
}

/// The forced enrolment, done: reads the key off the page like a person typing it into
/// an app, confirms with the current code, and returns the seed, the recovery codes and
/// the time step whose code confirmed it.
async fn enrol(portal: &Portal, browser: &Browser) -> (Seed, Vec<String>, i64) {
    let setup = password_step(portal, browser).await;
    assert!(setup.url.ends_with("/idp/2fa/instellen"), "{}", setup.url);
    assert!(setup.body.contains(SETUP_TITLE));
    assert!(setup.body.contains("<svg"), "the QR code is on the page");
    let key = between(&setup.body, "id=\"totp-key\" class=\"key\">", "</code>");
    let seed = Seed::from_display_key(&key).expect("a base32 key on the page");
    let step = step_at(OffsetDateTime::now_utc());
    let confirm = seed.code_at_step(step).unwrap();
    let codes_page = submit(browser, &setup, "<form", &[("code", &confirm)]).await;
    assert!(
        codes_page.body.contains("Uw herstelcodes"),
        "{}",
        codes_page.body
    );
    let codes: Vec<String> = codes_page
        .body
        .split("<li><code>")
        .skip(1)
        .map(|s| s[..s.find("</code>").unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes");
    let next = attribute(&codes_page.body, "class=\"button\"", "href").unwrap();
    let home = browser.get(&next).await;
    assert!(home.body.contains(HOME), "{}", home.body);
    (seed, codes, step)
}

fn between(body: &str, start: &str, end: &str) -> String {
    let from = body.find(start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let to = body[from..].find(end).unwrap() + from;
    body[from..to].to_owned()
}

async fn sign_out(portal: &Portal, browser: &Browser) {
    let home = browser.get(&format!("{}/", portal.base)).await;
    let action = attribute(&home.body, "<nav", "action").unwrap();
    browser.post(&format!("{}{action}", portal.base), &[]).await;
}

/// Whether a mail to the user arrives (within 20 s) whose text says `words`.
async fn mail_saying(portal: &Portal, words: &str) -> bool {
    portal
        .smtp
        .wait_for(
            |m| m.to.iter().any(|t| t == LOGIN) && quoted_printable(&m.data).contains(words),
            std::time::Duration::from_secs(20),
        )
        .await
        .is_some()
}

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

testkit::both_databases! {
    async fn enrolment_is_forced_and_no_session_exists_before_it_is_done(db: &TestDatabase) {
        let portal = mandatory(db).await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let setup = password_step(&portal, &browser).await;
        assert!(setup.body.contains(SETUP_TITLE), "{}", setup.body);
        assert!(setup.body.contains("Twee-factor-authenticatie is verplicht"));
        // AU-08: the password alone is no session: the portal and /authorize still ask
        // for a sign-in, and no session row exists.
        let home = browser.get(&format!("{}/", portal.base)).await;
        assert!(home.body.contains("name=\"username\""), "{}", home.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM idp_sessions").await, 0);
        // A wrong code keeps the person on the page with the manual's words.
        let setup = browser.get(&format!("{}/idp/2fa/instellen", portal.base)).await;
        let key = between(&setup.body, "id=\"totp-key\" class=\"key\">", "</code>");
        let seed = Seed::from_display_key(&key).unwrap();
        let wrong = format!("{:06}", (code(&seed, 0).parse::<u32>().unwrap() + 1) % 1_000_000);
        let again = submit(&browser, &setup, "<form", &[("code", &wrong)]).await;
        assert!(again.body.contains("Deze code klopt niet"), "{}", again.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM totp_factors").await, 0);
        // The seed never rests in the clear (MF-04).
        let db_handle = portal.db().await;
        let (stored,): (Vec<u8>,) = idp::with_db!(&db_handle, |pool| sqlx::query_as(
            "SELECT secret FROM pending_steps").fetch_one(pool).await.unwrap());
        assert!(!stored.windows(seed.secret().len()).any(|w| w == seed.secret()));
    }

    async fn an_enrolled_user_signs_in_with_a_code_that_counts_once(db: &TestDatabase) {
        let portal = mandatory(db).await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let (seed, _, step) = enrol(&portal, &browser).await;
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM totp_factors").await, 1);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL").await, 10);
        // The owner hears of it (MF-06, ML-05).
        assert!(mail_saying(&portal, "Er is zojuist een authenticator-app ingesteld").await);

        sign_out(&portal, &browser).await;
        let second = password_step(&portal, &browser).await;
        assert!(second.url.ends_with("/idp/2fa"), "{}", second.url);
        assert!(second.body.contains(CODE_PAGE));
        assert!(second.body.contains(">Verstuur</button>"));
        assert!(second.body.contains("6-cijferige code"));
        // The code of the step the enrolment used is spent (MF-02): refused, audited. It is
        // that step's code, not the current one: a 30 s boundary may have passed since.
        let spent = seed.code_at_step(step).unwrap();
        let replay = submit(&browser, &second, "<form", &[("code", &spent)]).await;
        assert!(replay.body.contains(WRONG_CODE), "{}", replay.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'totp.replayed'").await, 1);
        // The step after it is in the window (now or one ahead) and fresh.
        let fresh = seed.code_at_step(step + 1).unwrap();
        let home = submit(&browser, &replay, "<form", &[("code", &fresh)]).await;
        assert!(home.body.contains(HOME), "{}", home.body);
        // And it too counts once, from another browser.
        let other = Browser::new(&portal.base);
        let second = password_step(&portal, &other).await;
        let replay = submit(&other, &second, "<form", &[("code", &fresh)]).await;
        assert!(replay.body.contains(WRONG_CODE), "{}", replay.body);
    }

    async fn five_wrong_codes_discard_the_step(db: &TestDatabase) {
        let portal = mandatory(db).await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let (seed, _, _) = enrol(&portal, &browser).await;
        sign_out(&portal, &browser).await;
        let live = "SELECT COUNT(*) FROM idp_sessions WHERE revoked_at IS NULL";
        let before = count(&portal, live).await;
        let mut page = password_step(&portal, &browser).await;
        let good = code(&seed, 1);
        let bad = format!("{:06}", (good.parse::<u32>().unwrap() + 500_000) % 1_000_000);
        for _ in 0..4 {
            page = submit(&browser, &page, "<form", &[("code", &bad)]).await;
            assert!(page.body.contains(WRONG_CODE), "{}", page.body);
        }
        let fifth = submit(&browser, &page, "<form", &[("code", &bad)]).await;
        assert!(fifth.body.contains("te vaak een onjuiste code"), "{}", fifth.body);
        assert!(fifth.body.contains("name=\"username\""), "back to the password");
        // The step is gone: even the right code now leads back to the sign-in page.
        let late = browser.post(&format!("{}/idp/2fa", portal.base), &[("code", &good)]).await;
        assert!(late.body.contains("name=\"username\""), "{}", late.body);
        assert_eq!(count(&portal, live).await, before, "no session came of it");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'login.second_factor_failed'").await, 5);
    }

    async fn a_recovery_code_works_once_and_its_use_is_told(db: &TestDatabase) {
        let portal = mandatory(db).await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let (_, codes, _) = enrol(&portal, &browser).await;
        sign_out(&portal, &browser).await;
        let page = password_step(&portal, &browser).await;
        let typed = codes[3].to_uppercase().replace('-', " ");
        let from = page.body.find("<h2>").unwrap();
        let action = attribute(&page.body[from..], "<form", "action").unwrap();
        let home = browser.post(&format!("{}{action}", portal.base), &[("recovery_code", &typed)]).await;
        assert!(home.body.contains(HOME), "{}", home.body);
        assert!(mail_saying(&portal, "ingelogd met een van uw herstelcodes").await,
            "MF-05: each use sends a mail");

        sign_out(&portal, &browser).await;
        let page = password_step(&portal, &browser).await;
        assert!(page.body.contains(CODE_PAGE));
        let again = browser.post(&format!("{}{action}", portal.base), &[("recovery_code", &typed)]).await;
        assert!(again.body.contains("Deze herstelcode is onbekend of al gebruikt."), "{}", again.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL").await, 1);
    }

    async fn a_reset_by_the_operator_makes_the_user_enrol_again(db: &TestDatabase) {
        let portal = mandatory(db).await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        enrol(&portal, &browser).await;
        let out = portal.cli(&["user", "reset-2fa", "--email", LOGIN]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM totp_factors").await, 0);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM recovery_codes").await, 0);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM idp_sessions WHERE revoked_at IS NULL").await, 0);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'mfa.reset'").await, 1);
        assert!(mail_saying(&portal, "opnieuw ingesteld door een beheerder").await,
            "MF-07: the user is told");
        // The next sign-in is an enrolment again.
        let fresh = Browser::new(&portal.base);
        let setup = password_step(&portal, &fresh).await;
        assert!(setup.body.contains(SETUP_TITLE), "{}", setup.body);
        // An unknown address changes nothing and says so.
        let out = portal.cli(&["user", "reset-2fa", "--email", "niemand@voorbeeld.nl"]);
        assert_eq!(out.status.code(), Some(2));
    }

    async fn before_the_mandatory_date_a_password_signs_in_and_2fa_is_offered(db: &TestDatabase) {
        // The harness's default date lies in the future.
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let home = password_step(&portal, &browser).await;
        assert!(home.body.contains(HOME), "{}", home.body);
        assert!(home.body.contains("Beveilig uw account met twee-factor-authenticatie."));
        assert!(home.body.contains("Nu activeren"));
    }

    async fn after_the_date_a_password_only_session_no_longer_signs_in(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal).await;
        let browser = Browser::new(&portal.base);
        let home = password_step(&portal, &browser).await;
        assert!(home.body.contains(HOME));
        // The date passes (a restart with the shipped default): the idp session from the
        // password alone no longer counts; the person signs in and must enrol.
        portal.set_env("PORTAL_MFA_REQUIRED_FROM", "2025-07-01");
        portal.start().await;
        let page = browser.get(&format!("{}/", portal.base)).await;
        assert!(page.body.contains("name=\"username\""), "{}", page.body);
        let setup = browser.sign_in(&page, LOGIN, PASSWORD).await;
        assert!(setup.body.contains(SETUP_TITLE), "{}", setup.body);
    }

    async fn a_client_sees_amr_and_acr_match_what_happened(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        active_head(&portal).await;
        let out = portal.cli(&["client", "add", "--id", "extern", "--secret", SECRET, "--redirect-uri", REDIRECT]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // Before the date: the password alone.
        let browser = Browser::new(&portal.base);
        let claims = id_token_claims(&portal, &browser, None).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        assert_eq!(claims["acr"], ACR_PASSWORD);

        // After it: password and app code.
        portal.set_env("PORTAL_MFA_REQUIRED_FROM", "2025-07-01");
        portal.start().await;
        let browser = Browser::new(&portal.base);
        let (seed, _, _) = enrol(&portal, &browser).await;
        let browser = Browser::new(&portal.base);
        let claims = id_token_claims(&portal, &browser, Some(&seed)).await;
        assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
        assert_eq!(claims["acr"], ACR_MFA);
        let discovery: Value = reqwest::get(format!("{}/idp/.well-known/openid-configuration", portal.base))
            .await.unwrap().json().await.unwrap();
        let supported = discovery["acr_values_supported"].as_array().unwrap();
        assert!(supported.contains(&Value::from(ACR_MFA)) && supported.contains(&Value::from(ACR_PASSWORD)));
    }
}

/// Runs code + PKCE for client `extern` through the sign-in (with the app's next code when
/// `seed` is given) and returns the ID token's claims (signature checked elsewhere; here
/// only what they say).
async fn id_token_claims(portal: &Portal, browser: &Browser, seed: Option<&Seed>) -> Value {
    let (verifier, challenge) = pkce();
    let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", portal.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "extern")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal")
        .append_pair("state", "s1")
        .append_pair("nonce", "n1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let login = browser.get(url.as_str()).await;
    let mut after = browser.sign_in(&login, LOGIN, PASSWORD).await;
    if let Some(seed) = seed {
        assert!(after.body.contains(CODE_PAGE), "{}", after.body);
        after = submit(browser, &after, "<form", &[("code", &code(seed, 1))]).await;
    }
    assert!(
        after.url.starts_with(REDIRECT),
        "{} {}",
        after.url,
        after.body
    );
    let code = query_param(&after.url, "code").unwrap();
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("extern:{}", url_form(SECRET)));
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
