//! The OIDC contract (SPEC §4) as a third-party client sees it: a client registered with
//! `portal client add` runs the authorization code flow with PKCE by hand, verifies the ID
//! token against the JWKS, and calls userinfo; and the ways a request is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::Value;
use sha2::{Digest, Sha256};
use testkit::TestDatabase;

use crate::support::{Browser, Portal};

pub(crate) const PASSWORD: &str = "blauwe tulpen in de lente";
const SECRET: &str = "a-client-secret:with%odd+characters-0123456789";
const REDIRECT: &str = "https://rp.example.nl/cb";

pub(crate) fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn authorize_url(base: &str, challenge: &str, state: &str, nonce: &str) -> String {
    let mut url = reqwest::Url::parse(&format!("{base}/idp/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "extern")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

async fn redeem(portal: &Portal, code: &str, verifier: &str, secret: &str) -> reqwest::Response {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("extern:{}", url_form(secret)));
    reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap()
}

/// RFC 6749 §2.3.1: the secret is form-urlencoded before Basic encoding.
pub(crate) fn url_form(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

testkit::both_databases! {
    async fn a_registered_client_gets_verified_tokens_with_portal_claims(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP,DIL"]);
        assert!(out.status.success());
        let out = portal.cli(&["client", "add", "--id", "extern", "--secret", SECRET, "--redirect-uri", REDIRECT]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;

        let discovery: Value = reqwest::get(format!("{}/idp/.well-known/openid-configuration", portal.base)).await.unwrap().json().await.unwrap();
        let issuer = format!("{}/idp", portal.base);
        assert_eq!(discovery["issuer"], issuer.as_str());
        assert_eq!(discovery["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        // `none` is never offered as a signing algorithm or client authentication (SPEC §4).
        assert_eq!(discovery["id_token_signing_alg_values_supported"], serde_json::json!(["RS256", "ES256", "EdDSA"]));
        assert!(!discovery["token_endpoint_auth_methods_supported"].to_string().contains("none"));

        // Signed out: the authorization request goes through the sign-in page, then back to
        // the client with code, state and iss.
        let (verifier, challenge) = pkce();
        let start = browser.get(&authorize_url(&portal.base, &challenge, "st-1", "n-1")).await;
        assert!(start.url.contains("/idp/login"));
        let back = browser.sign_in(&start, "info@voorbeeld.nl", PASSWORD).await;
        assert!(back.url.starts_with(REDIRECT), "{}", back.url);
        assert_eq!(query_param(&back.url, "state").as_deref(), Some("st-1"));
        assert_eq!(query_param(&back.url, "iss"), Some(issuer.clone()));
        let code = query_param(&back.url, "code").unwrap();

        // A wrong secret is refused before the code is touched.
        let wrong = redeem(&portal, &code, &verifier, "not-the-secret-0123456789-0123456789").await;
        assert_eq!(wrong.status(), 401);
        let res = redeem(&portal, &code, &verifier, SECRET).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let tokens: Value = res.json().await.unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        let access = tokens["access_token"].as_str().unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();

        // The ID token verifies against the published keys (RS256) and carries SPEC §4's claims.
        let jwks: JwkSet = reqwest::get(format!("{}/idp/jwks", portal.base)).await.unwrap().json().await.unwrap();
        let header = jsonwebtoken::decode_header(id_token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid in JWKS");
        let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["extern"]);
        validation.set_issuer(&[issuer.as_str()]);
        let claims = jsonwebtoken::decode::<Value>(id_token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap().claims;
        assert_eq!(claims["nonce"], "n-1");
        assert_eq!(claims["rights"], serde_json::json!(["DIP", "DIL"]));
        assert_eq!(claims["role"], "main_user");
        assert_eq!(claims["email"], "info@voorbeeld.nl");
        assert_eq!(claims["office"]["number"], "12345");
        assert_eq!(claims["office"]["kind"], "head_office");
        assert_eq!(claims["head_office"]["name"], "Voorbeeld Advies");
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        let at_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
        assert_eq!(claims["at_hash"], at_hash.as_str());
        assert_eq!(jsonwebtoken::decode_header(access).unwrap().typ.as_deref(), Some("at+jwt"));

        // Userinfo with the access token; a bad token gets 401 with a Bearer challenge.
        let http = reqwest::Client::new();
        let info: Value = http.get(format!("{}/idp/userinfo", portal.base)).bearer_auth(access).send().await.unwrap().json().await.unwrap();
        assert_eq!(info["sub"], claims["sub"]);
        assert_eq!(info["rights"], serde_json::json!(["DIP", "DIL"]));
        let bad = http.get(format!("{}/idp/userinfo", portal.base)).bearer_auth("x.y.z").send().await.unwrap();
        assert_eq!(bad.status(), 401);
        assert!(bad.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));

        // A code works once (OP-07).
        let again = redeem(&portal, &code, &verifier, SECRET).await;
        assert_eq!(again.status(), 400);
        assert_eq!(again.json::<Value>().await.unwrap()["error"], "invalid_grant");

        // Signed in now: no sign-in page; a wrong PKCE verifier is refused (OP-06).
        let (_, challenge2) = pkce();
        let back = browser.get(&authorize_url(&portal.base, &challenge2, "st-2", "n-2")).await;
        assert!(back.url.starts_with(REDIRECT), "SSO: {:?}", back.hops);
        let code2 = query_param(&back.url, "code").unwrap();
        let res = redeem(&portal, &code2, &verifier, SECRET).await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
}

/// Requests that must never redirect (RFC 6749 §4.1.2.1) and those that go back with an error.
#[tokio::test]
async fn untrusted_requests_get_a_page_and_bad_requests_go_back_with_state() {
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let mut portal = Portal::new(&db);
    portal.start().await;
    let out = portal.cli(&[
        "client",
        "add",
        "--id",
        "extern",
        "--secret",
        SECRET,
        "--redirect-uri",
        REDIRECT,
    ]);
    assert!(out.status.success());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (_, challenge) = pkce();
    let good = authorize_url(&portal.base, &challenge, "st", "n");
    for (what, url) in [
        (
            "unknown client",
            good.replace("client_id=extern", "client_id=nobody"),
        ),
        (
            "unregistered redirect",
            good.replace("rp.example.nl%2Fcb", "rp.example.nl%2Fcb%2F"),
        ),
        (
            "foreign host",
            good.replace("rp.example.nl", "rp.example.nl.evil.tld"),
        ),
    ] {
        let res = http.get(&url).send().await.unwrap();
        assert_eq!(res.status(), 400, "{what}");
        assert!(
            res.headers().get("location").is_none(),
            "{what} must not redirect"
        );
        let body = res.text().await.unwrap();
        assert!(body.contains("Er ging iets mis"), "{what}: {body}");
    }
    // Once the client and redirect URI are trusted, errors go back with state and iss.
    let no_pkce = good.replace(
        &format!("&code_challenge={challenge}&code_challenge_method=S256"),
        "",
    );
    let res = http.get(&no_pkce).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT));
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&location, "state").as_deref(), Some("st"));
    // No password grant (AU-06).
    let res = http
        .post(format!("{}/idp/token", portal.base))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "extern"),
            ("client_secret", SECRET),
            ("username", "x"),
            ("password", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

/// SECURITY AU-09, SE-07: a form posted from another site is refused (login CSRF).
#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let mut portal = Portal::new(&db);
    portal.start().await;
    let http = reqwest::Client::new();
    let form = [
        ("username", "12345"),
        ("password", PASSWORD),
        ("return_to", "/"),
    ];
    let cross = http
        .post(format!("{}/idp/login", portal.base))
        .header("sec-fetch-site", "cross-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    let foreign = http
        .post(format!("{}/idp/login", portal.base))
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let own = http
        .post(format!("{}/idp/login", portal.base))
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "our own page may post");
    let logout = http
        .post(format!("{}/auth/logout", portal.base))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 403, "the shell's forms are covered too");
}
