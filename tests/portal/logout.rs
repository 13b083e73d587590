//! RP-initiated logout and back-channel logout (SPEC §4; SECURITY OP-19, OP-24, OP-25) on
//! both databases: a client registered with `portal client add` and a back-channel
//! receiver the test runs on 127.0.0.1; and signing out of the Offerte Portaal shell.

use std::time::Duration;

use axum::routing::post;
use axum::{Form, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use testkit::TestDatabase;
use tokio::sync::mpsc;

use crate::oidc::{PASSWORD, pkce, query_param};
use crate::support::{Browser, Portal};

const SECRET: &str = "logout-client-secret-0123456789-abcdef";
const REDIRECT: &str = "https://rp.example.nl/cb";
const AFTER: &str = "https://rp.example.nl/na-afmelden";

/// A back-channel logout endpoint that hands every `logout_token` to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    receiver_on(0).await
}

/// The same endpoint on a given port of 127.0.0.1 (0: any free one).
async fn receiver_on(port: u16) -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/backchannel",
        post(
            move |Form(form): Form<std::collections::HashMap<String, String>>| {
                let tx = tx.clone();
                async move {
                    if let Some(t) = form.get("logout_token") {
                        let _ = tx.send(t.clone());
                    }
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/backchannel"), rx)
}

fn authorize_url(base: &str, challenge: &str, prompt: Option<&str>) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/idp/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "extern")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal offline_access")
        .append_pair("state", "st")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    if let Some(p) = prompt {
        url.query_pairs_mut().append_pair("prompt", p);
    }
    url.to_string()
}

/// Signs in if needed and returns the tokens of one code exchange.
async fn tokens(portal: &Portal, browser: &Browser) -> Value {
    let (verifier, challenge) = pkce();
    let mut page = browser
        .get(&authorize_url(&portal.base, &challenge, None))
        .await;
    if page.body.contains("name=\"username\"") {
        page = browser.sign_in(&page, "info@voorbeeld.nl", PASSWORD).await;
    }
    let code = query_param(&page.url, "code").unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_id", "extern"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The error a `prompt=none` request gets back (`None`: a code, the session lives).
async fn silent_error(portal: &Portal, browser: &Browser) -> Option<String> {
    let (_, challenge) = pkce();
    let page = browser
        .get(&authorize_url(&portal.base, &challenge, Some("none")))
        .await;
    assert!(page.url.starts_with(REDIRECT), "{:?}", page.hops);
    query_param(&page.url, "error")
}

fn end_session_url(base: &str, hint: &str, after: &str) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/idp/end_session")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", hint)
        .append_pair("post_logout_redirect_uri", after)
        .append_pair("client_id", "extern")
        .append_pair("state", "weg");
    url.to_string()
}

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn refresh_status(portal: &Portal, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", "extern"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The audit entries of back-channel deliveries so far: (action, detail).
async fn delivery_audit(portal: &Portal) -> Vec<(String, Value)> {
    let db = portal.db().await;
    let rows: Vec<(String, String)> = idp::with_db!(&db, |pool| {
        sqlx::query_as(
        "SELECT action, detail FROM audit_log WHERE action LIKE 'logout.deliver%' ORDER BY at, id"
    )
    .fetch_all(pool)
    .await
    })
    .unwrap();
    rows.into_iter()
        .map(|(a, d)| (a, serde_json::from_str(&d).unwrap()))
        .collect()
}

testkit::both_databases! {
    /// Issue 9: a client whose back-channel endpoint is down gets the logout token once
    /// it is back: the outbox retries with back-off, and every attempt is audited.
    async fn a_logout_reaches_a_client_that_was_down_once_it_is_back(db: &TestDatabase) {
        let port = testkit::free_port();
        let backchannel = format!("http://127.0.0.1:{port}/backchannel");
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP"]);
        assert!(out.status.success());
        let out = portal.cli(&[
            "client", "add", "--id", "extern", "--secret", SECRET, "--redirect-uri", REDIRECT,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--post-logout-redirect-uri", AFTER, "--backchannel-logout-uri", &backchannel,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        let tokens = tokens(&portal, &browser).await;
        let hint = tokens["id_token"].as_str().unwrap();
        let sub = claims(hint)["sub"].as_str().unwrap().to_owned();
        let page = browser.get(&end_session_url(&portal.base, hint, AFTER)).await;
        assert_eq!(page.url, format!("{AFTER}?state=weg"));

        // Nothing listens: the delivery fails, is audited, and is tried again later.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let failures = loop {
            let failures: Vec<Value> = delivery_audit(&portal).await.into_iter()
                .filter(|(a, _)| a == "logout.delivery_failed").map(|(_, d)| d).collect();
            if failures.len() >= 2 {
                break failures;
            }
            assert!(tokio::time::Instant::now() < deadline, "no retries: {failures:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!((failures[0]["attempt"].as_i64(), failures[1]["attempt"].as_i64()), (Some(1), Some(2)));
        assert_eq!(failures[0]["client_id"], "extern");
        assert_eq!(failures[0]["uri"], backchannel.as_str());
        assert!(failures[0]["error"].is_string());
        assert!(
            failures[1]["next_attempt_at"].as_i64().unwrap() > failures[0]["next_attempt_at"].as_i64().unwrap(),
            "the waits grow"
        );

        // The client comes back and gets the token, once.
        let (_, mut received) = receiver_on(port).await;
        let token = tokio::time::timeout(Duration::from_secs(60), received.recv()).await.expect("the logout never arrived").unwrap();
        assert_eq!(claims(&token)["sub"], sub.as_str());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let delivered = loop {
            let found = delivery_audit(&portal).await.into_iter().find(|(a, _)| a == "logout.delivered");
            if let Some((_, d)) = found {
                break d;
            }
            assert!(tokio::time::Instant::now() < deadline, "the delivery is not audited");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(delivered["attempt"].as_i64().unwrap() >= 3, "{delivered}");
        assert_eq!(delivered["client_id"], "extern");
        let signature = token.split('.').nth(2).unwrap();
        assert!(delivery_audit(&portal).await.iter().all(|(_, d)| !d.to_string().contains(signature)), "no token in the log");
        let db = portal.db().await;
        let target: Option<uuid::Uuid> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT target_user_id FROM audit_log WHERE action = 'logout.delivered'"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(target, Some(uuid::Uuid::parse_str(&sub).unwrap()), "the user whose session ended");
        assert_eq!(idp::store::outbox::pending(&db).await.unwrap(), 0);
        assert!(tokio::time::timeout(Duration::from_secs(2), received.recv()).await.is_err(), "delivered once");
    }

    async fn logout_ends_the_session_and_tells_the_clients(db: &TestDatabase) {
        let (backchannel, mut received) = receiver().await;
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP"]);
        assert!(out.status.success());
        let out = portal.cli(&[
            "client", "add", "--id", "extern", "--secret", SECRET, "--redirect-uri", REDIRECT,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--post-logout-redirect-uri", AFTER, "--backchannel-logout-uri", &backchannel,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let discovery: Value = reqwest::get(format!("{}/idp/.well-known/openid-configuration", portal.base)).await.unwrap().json().await.unwrap();
        assert_eq!(discovery["end_session_endpoint"], format!("{}/idp/end_session", portal.base));
        assert_eq!(discovery["backchannel_logout_supported"], true);
        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        let first = tokens(&portal, &browser).await;
        let hint = first["id_token"].as_str().unwrap();

        // OP-24: a foreign-signed or alg=none hint never redirects; the person is asked,
        // and nothing ends until they confirm.
        let mut forged = hint.to_owned();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let parts: Vec<&str> = hint.split('.').collect();
        let unsigned = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        for bad in [forged.as_str(), unsigned.as_str(), ""] {
            let page = browser.get(&end_session_url(&portal.base, bad, AFTER)).await;
            assert_eq!(page.status, 200);
            assert_eq!(page.hops.len(), 1, "no redirect: {:?}", page.hops);
            assert!(page.body.contains("Ja, uitloggen"), "{}", page.body);
        }
        assert_eq!(silent_error(&portal, &browser).await, None, "still signed in");

        // A good hint with a post-logout URI that is not registered byte for byte: the
        // session ends, but the browser stays at the idp.
        let page = browser.get(&end_session_url(&portal.base, hint, &format!("{AFTER}?x=1"))).await;
        assert_eq!(page.status, 200);
        assert_eq!(page.hops.len(), 1, "no redirect: {:?}", page.hops);
        assert!(page.body.contains("U bent uitgelogd"), "{}", page.body);
        assert_eq!(silent_error(&portal, &browser).await.as_deref(), Some("login_required"));
        assert_eq!(refresh_status(&portal, first["refresh_token"].as_str().unwrap()).await, 400, "OP-19: logout revokes refresh tokens");

        // Signed in again: a good hint and a registered URI go back to the client with state.
        let second = tokens(&portal, &browser).await;
        let hint = second["id_token"].as_str().unwrap();
        let sid = claims(hint)["sid"].as_str().unwrap().to_owned();
        let page = browser.get(&end_session_url(&portal.base, hint, AFTER)).await;
        assert_eq!(page.url, format!("{AFTER}?state=weg"));
        assert_eq!(silent_error(&portal, &browser).await.as_deref(), Some("login_required"));

        // OP-25: a logout token per ended session reached the client's back-channel URI.
        let jwks: JwkSet = reqwest::get(format!("{}/idp/jwks", portal.base)).await.unwrap().json().await.unwrap();
        let issuer = format!("{}/idp", portal.base);
        let mut sids = Vec::new();
        for _ in 0..2 {
            let token = tokio::time::timeout(Duration::from_secs(20), received.recv()).await.expect("no logout token").unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
            let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
            let mut v = Validation::new(header.alg);
            v.set_audience(&["extern"]);
            v.set_issuer(&[issuer.as_str()]);
            v.set_required_spec_claims(&["iss", "aud", "exp", "sub"]);
            let c = jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &v).unwrap().claims;
            assert!(c["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object(), "{c}");
            assert!(c.get("nonce").is_none());
            assert!(c["jti"].is_string());
            assert_eq!(c["sub"], claims(hint)["sub"]);
            let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
            assert!((1..=120).contains(&lifetime), "{lifetime}");
            sids.push(c["sid"].as_str().unwrap().to_owned());
        }
        assert!(sids.contains(&sid), "{sids:?} lacks {sid}");
        assert!(sids.contains(&claims(first["id_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned()));
    }

    async fn signing_out_of_the_shell_ends_the_idp_session(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP"]);
        assert!(out.status.success());
        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, "info@voorbeeld.nl", PASSWORD).await;
        assert!(!home.body.contains("name=\"username\""), "signed in: {:?}", home.hops);
        let after = browser.post("/auth/logout", &[]).await;
        assert!(after.hops.iter().any(|h| h.contains("/idp/end_session")), "{:?}", after.hops);
        assert!(after.body.contains("name=\"username\""), "the idp session ended too: {:?}", after.hops);
    }
}
