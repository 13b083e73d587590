//! The admin API's first route (issue 5's 2FA reset, the start of issue 6's API), through
//! the real binary on both databases, with the demo offices: a head office with an
//! employee and a sub-office, and a second head office. Each attempt an attacker would try
//! gets its refusal and changes nothing; the allowed reset makes the user enrol again.

use serde_json::Value;
use testkit::TestDatabase;

use crate::oidc::{pkce, query_param, url_form};
use crate::support::{Browser, Portal, attribute};

pub(crate) const CLIENT: &str = "beheer-test";
pub(crate) const OTHER_CLIENT: &str = "extern";
pub(crate) const SECRET: &str = "an-admin-test-client-secret-0123456789";
pub(crate) const REDIRECT: &str = "https://beheer.example.nl/cb";

pub(crate) const ADMIN: &str = "beheer@offerteportaal.local";
pub(crate) const MAIN: &str = "info@voorbeeldadvies.nl";
pub(crate) const EMPLOYEE: &str = "ilse@voorbeeldadvies.nl";
pub(crate) const SUB_MAIN: &str = "zuid@onderbemiddeling.nl";
pub(crate) const SUB_EMPLOYEE: &str = "tim@onderbemiddeling.nl";
pub(crate) const STRANGER: &str = "joost@pensioenhuisnoord.nl";

/// A demo portal with two registered clients, of which only `CLIENT` may administer.
/// 2FA is not yet mandatory here (the harness's date), so a password signs in; the reset's
/// effect on a mandatory-2FA sign-in is shown in `a_reset_user_must_enrol_again`.
pub(crate) async fn demo(db: &TestDatabase, mandatory: bool) -> (Portal, String) {
    let mut portal = Portal::new(db);
    portal.set_env("PORTAL_ADMIN_CLIENTS", &format!("offerteportaal,{CLIENT}"));
    if mandatory {
        portal.set_env("PORTAL_MFA_REQUIRED_FROM", "2025-07-01");
    }
    portal.start_with(&["--demo"]).await;
    let password = portal.demo_password().await;
    for id in [CLIENT, OTHER_CLIENT] {
        let out = portal.cli(&[
            "client",
            "add",
            "--id",
            id,
            "--secret",
            SECRET,
            "--redirect-uri",
            REDIRECT,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (portal, password)
}

/// An access token of `client` for the user signed in (or signing in) in `browser`.
pub(crate) async fn access_token(
    portal: &Portal,
    browser: &Browser,
    client: &str,
    login: &str,
    password: &str,
) -> String {
    let (verifier, challenge) = pkce();
    let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", portal.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut page = browser.get(url.as_str()).await;
    if page.body.contains("name=\"username\"") {
        page = browser.sign_in(&page, login, password).await;
    }
    assert!(page.url.starts_with(REDIRECT), "{} {}", page.url, page.body);
    let code = query_param(&page.url, "code").unwrap();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{client}:{}", url_form(SECRET)),
    );
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
    tokens["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn token_for(portal: &Portal, login: &str, password: &str) -> String {
    access_token(portal, &Browser::new(&portal.base), CLIENT, login, password).await
}

pub(crate) async fn user_id(portal: &Portal, email: &'static str) -> String {
    let db = portal.db().await;
    let id: uuid::Uuid = idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT id FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap());
    id.to_string()
}

async fn resets_of(portal: &Portal, email: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_log a JOIN users u ON u.id = a.target_user_id
         WHERE a.action = 'mfa.reset' AND u.email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// Calls the reset; returns the status and the body.
async fn reset(portal: &Portal, token: Option<&str>, target: &str) -> (u16, String, String) {
    let mut req = reqwest::Client::new().post(format!(
        "{}/api/v1/users/{target}/second-factors/reset",
        portal.base
    ));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ctype, res.text().await.unwrap())
}

/// One answer of the API.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    pub(crate) fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }
}

/// Calls `method path` with a bearer token, a JSON body and an `If-Match` as given.
pub(crate) async fn call(
    portal: &Portal,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Answer {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v1{path}", portal.base);
    let mut req = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    if status >= 400 {
        let ctype = headers["content-type"].to_str().unwrap();
        assert_eq!(ctype, "application/problem+json", "{status} {body}");
        assert_eq!(body["status"], status, "{body}");
    }
    Answer {
        status,
        headers,
        body,
    }
}

testkit::both_databases! {
    async fn who_may_reset_whose_second_factors(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        // A main user: its own employee and its sub-office's users.
        for target in [EMPLOYEE, SUB_MAIN, SUB_EMPLOYEE] {
            let (status, _, body) = reset(&portal, Some(&main), &user_id(&portal, target).await).await;
            assert_eq!(status, 204, "{target}: {body}");
            assert_eq!(resets_of(&portal, target).await, 1, "{target}");
        }
        // IDOR: another office's user, the insurer admin, itself, an unknown id: 404, nothing.
        for target in [STRANGER, ADMIN, MAIN] {
            let (status, ctype, body) = reset(&portal, Some(&main), &user_id(&portal, target).await).await;
            assert_eq!(status, 404, "{target}: {body}");
            assert_eq!(ctype, "application/problem+json");
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["status"], 404);
            assert_eq!(problem["detail"], "Deze gebruiker bestaat niet of valt niet onder uw beheer.");
            assert_eq!(resets_of(&portal, target).await, 0, "{target}");
        }
        let (status, _, _) = reset(&portal, Some(&main), &uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(status, 404);
        let (status, _, _) = reset(&portal, Some(&main), "geen-uuid").await;
        assert_eq!(status, 404);

        // A sub-office's main user: not the head office's people.
        let sub = token_for(&portal, SUB_MAIN, &password).await;
        let (status, _, _) = reset(&portal, Some(&sub), &user_id(&portal, EMPLOYEE).await).await;
        assert_eq!(status, 404);
        assert_eq!(resets_of(&portal, EMPLOYEE).await, 1, "unchanged since the main user's reset");

        // An employee: never.
        let employee = token_for(&portal, EMPLOYEE, &password).await;
        let (status, _, body) = reset(&portal, Some(&employee), &user_id(&portal, SUB_EMPLOYEE).await).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(resets_of(&portal, SUB_EMPLOYEE).await, 1);

        // The insurer admin: anyone of an office, not itself.
        let admin = token_for(&portal, ADMIN, &password).await;
        let (status, _, _) = reset(&portal, Some(&admin), &user_id(&portal, STRANGER).await).await;
        assert_eq!(status, 204);
        let (status, _, _) = reset(&portal, Some(&admin), &user_id(&portal, ADMIN).await).await;
        assert_eq!(status, 404);
        assert_eq!(resets_of(&portal, ADMIN).await, 0);
    }

    async fn only_live_tokens_of_admin_clients_are_accepted(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let target = user_id(&portal, EMPLOYEE).await;
        let (status, ctype, _) = reset(&portal, None, &target).await;
        assert_eq!((status, ctype.as_str()), (401, "application/problem+json"));
        let (status, _, _) = reset(&portal, Some("not.a.token"), &target).await;
        assert_eq!(status, 401);
        // The main user's own token, but held by a client that may not administer.
        let foreign = access_token(&portal, &Browser::new(&portal.base), OTHER_CLIENT, MAIN, &password).await;
        let (status, _, body) = reset(&portal, Some(&foreign), &target).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("Deze toepassing mag het beheer niet gebruiken."));
        // A token whose grant was revoked (the user signed out everywhere: a reset of the
        // main user by the insurer admin ends it).
        let main = token_for(&portal, MAIN, &password).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let (status, _, _) = reset(&portal, Some(&admin), &user_id(&portal, MAIN).await).await;
        assert_eq!(status, 204);
        let (status, _, _) = reset(&portal, Some(&main), &target).await;
        assert_eq!(status, 401, "the main user's token died with its sessions");
        assert_eq!(resets_of(&portal, EMPLOYEE).await, 0);
    }

    async fn a_reset_user_must_enrol_again(db: &TestDatabase) {
        let (portal, password) = demo(db, true).await;
        // The employee sets up an app at its first sign-in.
        let employee = Browser::new(&portal.base);
        let login = employee.get("/").await;
        let setup = employee.sign_in(&login, EMPLOYEE, &password).await;
        let key = setup.body.split("id=\"totp-key\" class=\"key\">").nth(1).unwrap();
        let seed = idp::domain::totp::Seed::from_display_key(&key[..key.find("</code>").unwrap()]).unwrap();
        let code = seed.code_at_step(idp::domain::totp::step_at(time::OffsetDateTime::now_utc())).unwrap();
        let action = attribute(&setup.body, "<form", "action").unwrap();
        let codes = employee.post(&format!("{}{action}", portal.base), &[("code", &code)]).await;
        assert!(codes.body.contains("Uw herstelcodes"), "{}", codes.body);
        // The insurer admin, signed in with its own 2FA, resets it.
        let admin_browser = Browser::new(&portal.base);
        let login = admin_browser.get("/").await;
        let setup = admin_browser.sign_in(&login, ADMIN, &password).await;
        let key = setup.body.split("id=\"totp-key\" class=\"key\">").nth(1).unwrap();
        let admin_seed = idp::domain::totp::Seed::from_display_key(&key[..key.find("</code>").unwrap()]).unwrap();
        let code = admin_seed.code_at_step(idp::domain::totp::step_at(time::OffsetDateTime::now_utc())).unwrap();
        let action = attribute(&setup.body, "<form", "action").unwrap();
        admin_browser.post(&format!("{}{action}", portal.base), &[("code", &code)]).await;
        let admin = access_token(&portal, &admin_browser, CLIENT, ADMIN, &password).await;
        let (status, _, body) = reset(&portal, Some(&admin), &user_id(&portal, EMPLOYEE).await).await;
        assert_eq!(status, 204, "{body}");
        // The employee's session is over, and the next sign-in is an enrolment.
        let page = employee.get("/").await;
        assert!(page.body.contains("name=\"username\""), "{}", page.body);
        let setup = employee.sign_in(&page, EMPLOYEE, &password).await;
        assert!(setup.body.contains("Twee-factor-authenticatie instellen"), "{}", setup.body);
        let db = portal.db().await;
        let actor: Option<uuid::Uuid> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT actor_id FROM audit_log WHERE action = 'mfa.reset'").fetch_one(pool).await.unwrap());
        assert_eq!(actor.map(|a| a.to_string()), Some(user_id(&portal, ADMIN).await), "audited with its actor");
    }
}
