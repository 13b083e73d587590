//! Grants, refresh tokens, introspection, revocation and client credentials (SPEC §4;
//! SECURITY OP-07, OP-19, OP-20, OP-22), as clients registered with `portal client add`
//! see them over HTTP, on both databases.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use testkit::TestDatabase;

use crate::oidc::{PASSWORD, pkce, query_param, url_form};
use crate::support::{Browser, Portal};

const SECRET: &str = "a-client-secret:with%odd+characters-0123456789";
const OTHER_SECRET: &str = "another-client-secret-0123456789-abcdef";
const SERVICE_SECRET: &str = "service-client-secret-0123456789-abcdef";
const REDIRECT: &str = "https://rp.example.nl/cb";
const OTHER_REDIRECT: &str = "https://ander.example.nl/cb";

/// A P-256 key made for this test with openssl, and its public JWKS (kid `rp-1`).
const RP_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxD2lk+23A+esTlxW
t3hVJAAB3PQ5d5kTfLr76g4iu8OhRANCAAQdtyRLZ7yXgfNk/6nvM0GnYxhdy1xg
G3P0c916TDKIe8Dnohua3VRqkrQODOh+0sTMyHBRTKcvzbG9Z8EbnMIv
-----END PRIVATE KEY-----
";
const RP_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"rp-1","use":"sig","alg":"ES256","x":"HbckS2e8l4HzZP-p7zNBp2MYXctcYBtz9HPdekwyiHs","y":"wOeiG5rdVGqStA4M6H7SxMzIcFFMpy_Nsb1nwRucwi8"}]}"#;

/// An RFC 7523 client assertion of `sleutel` for `aud`, living `ttl` seconds.
fn assertion(aud: &str, ttl: i64, jti: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("rp-1".into());
    let claims = serde_json::json!({"iss": "sleutel", "sub": "sleutel", "aud": aud, "iat": now, "exp": now + ttl, "jti": jti});
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_pem(RP_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn with_assertion(
    portal: &Portal,
    path: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut all = vec![
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    all.extend_from_slice(form);
    reqwest::Client::new()
        .post(format!("{}/idp/{path}", portal.base))
        .form(&all)
        .send()
        .await
        .unwrap()
}

/// A portal with a head office (DIP, DIL) whose main user has activated the account in `Browser`, the
/// client `extern` (code + refresh), `ander` (code + refresh) and `dienst` (service).
async fn portal_with_clients(db: &TestDatabase) -> (Portal, Browser) {
    let mut portal = Portal::new(db);
    portal.start().await;
    let out = portal.cli(&[
        "office",
        "add-head",
        "--number",
        "12345",
        "--name",
        "Voorbeeld Advies",
        "--email",
        "info@voorbeeld.nl",
        "--rights",
        "DIP,DIL",
    ]);
    assert!(out.status.success());
    for (id, secret, redirect) in [
        ("extern", SECRET, REDIRECT),
        ("ander", OTHER_SECRET, OTHER_REDIRECT),
    ] {
        let out = portal.cli(&[
            "client",
            "add",
            "--id",
            id,
            "--secret",
            secret,
            "--redirect-uri",
            redirect,
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = portal.cli(&[
        "client",
        "add",
        "--id",
        "dienst",
        "--secret",
        SERVICE_SECRET,
        "--grant-type",
        "client_credentials",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = portal.activation_link("info@voorbeeld.nl").await;
    let browser = Browser::new(&portal.base);
    browser
        .post(
            &link,
            &[("password", PASSWORD), ("password_repeat", PASSWORD)],
        )
        .await;
    (portal, browser)
}

/// Runs the code flow for `extern` (the browser is signed in) and returns the code and
/// its verifier.
async fn code_for(portal: &Portal, browser: &Browser, scope: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", portal.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "extern")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let mut page = browser.get(url.as_str()).await;
    if page.body.contains("name=\"username\"") {
        page = browser.sign_in(&page, "info@voorbeeld.nl", PASSWORD).await;
    }
    assert!(page.url.starts_with(REDIRECT), "{:?}", page.hops);
    (query_param(&page.url, "code").unwrap(), verifier)
}

/// POSTs a form to an idp endpoint as client `id` (client_secret_basic).
async fn post_as(
    portal: &Portal,
    path: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let basic = STANDARD.encode(format!("{id}:{}", url_form(secret)));
    reqwest::Client::new()
        .post(format!("{}/idp/{path}", portal.base))
        .header("authorization", format!("Basic {basic}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn redeem(portal: &Portal, code: &str, verifier: &str) -> reqwest::Response {
    post_as(
        portal,
        "token",
        "extern",
        SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(portal: &Portal, id: &str, secret: &str, token: &str) -> reqwest::Response {
    post_as(
        portal,
        "token",
        id,
        secret,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn tokens(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

async fn error_of(res: reqwest::Response) -> String {
    assert_eq!(res.status(), 400);
    res.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn userinfo_status(portal: &Portal, access: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/idp/userinfo", portal.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The payload of a JWT, unverified (the signature is checked in tests/portal/oidc.rs).
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"))
}

testkit::both_databases! {
    async fn code_reuse_and_refresh_reuse_revoke_their_grant(db: &TestDatabase) {
        let (portal, browser) = portal_with_clients(db).await;
        let discovery: Value = reqwest::get(format!("{}/idp/.well-known/openid-configuration", portal.base)).await.unwrap().json().await.unwrap();
        assert_eq!(discovery["grant_types_supported"], serde_json::json!(["authorization_code", "refresh_token", "client_credentials"]));
        assert!(discovery["scopes_supported"].to_string().contains("offline_access"));

        // OP-07: a second redemption of a code revokes what the first one got.
        let (code, verifier) = code_for(&portal, &browser, "openid portal offline_access").await;
        let first = tokens(redeem(&portal, &code, &verifier).await).await;
        assert_eq!(s(&first, "scope"), "openid portal offline_access");
        let access = s(&first, "access_token");
        assert!(payload(access)["grant_id"].is_string());
        assert_eq!(payload(access)["sid"], payload(s(&first, "id_token"))["sid"]);
        assert_eq!(userinfo_status(&portal, access).await, 200);
        assert_eq!(error_of(redeem(&portal, &code, &verifier).await).await, "invalid_grant");
        assert_eq!(userinfo_status(&portal, access).await, 401, "the first redemption's token is revoked");
        assert_eq!(error_of(refresh(&portal, "extern", SECRET, s(&first, "refresh_token")).await).await, "invalid_grant");

        // OP-19: bound to the client; rotated on use; a replay revokes the family.
        let (code, verifier) = code_for(&portal, &browser, "openid portal offline_access").await;
        let t1 = tokens(redeem(&portal, &code, &verifier).await).await;
        let rt1 = s(&t1, "refresh_token").to_owned();
        assert_eq!(error_of(refresh(&portal, "ander", OTHER_SECRET, &rt1).await).await, "invalid_grant");
        let t2 = tokens(refresh(&portal, "extern", SECRET, &rt1).await).await;
        let rt2 = s(&t2, "refresh_token").to_owned();
        assert_ne!(rt1, rt2, "rotated");
        assert_eq!(rt2.len(), 43, "256 random bits");
        let id2 = payload(s(&t2, "id_token"));
        assert!(id2.get("nonce").is_none(), "OIDC Core §12.2: no nonce after a refresh");
        assert_eq!(id2["auth_time"], payload(s(&t1, "id_token"))["auth_time"]);
        assert_eq!(userinfo_status(&portal, s(&t2, "access_token")).await, 200);
        assert_eq!(error_of(refresh(&portal, "extern", SECRET, &rt1).await).await, "invalid_grant");
        assert_eq!(error_of(refresh(&portal, "extern", SECRET, &rt2).await).await, "invalid_grant", "the newest is revoked too");
        assert_eq!(userinfo_status(&portal, s(&t2, "access_token")).await, 401);

        // O6 / OP-20: a refresh reads the rights again, and an inactive user gets nothing.
        let (code, verifier) = code_for(&portal, &browser, "openid portal offline_access").await;
        let t = tokens(redeem(&portal, &code, &verifier).await).await;
        assert_eq!(payload(s(&t, "access_token"))["rights"], serde_json::json!(["DIP", "DIL"]));
        let pool = portal.db().await;
        idp::with_db!(&pool, |p| sqlx::query("UPDATE offices SET rights = 'DIP'").execute(p).await.map(|r| r.rows_affected())).unwrap();
        let t = tokens(refresh(&portal, "extern", SECRET, s(&t, "refresh_token")).await).await;
        assert_eq!(payload(s(&t, "access_token"))["rights"], serde_json::json!(["DIP"]));
        assert_eq!(payload(s(&t, "id_token"))["rights"], serde_json::json!(["DIP"]));
        idp::with_db!(&pool, |p| sqlx::query("UPDATE users SET active = FALSE").execute(p).await.map(|r| r.rows_affected())).unwrap();
        assert_eq!(error_of(refresh(&portal, "extern", SECRET, s(&t, "refresh_token")).await).await, "invalid_grant");
        pool.close().await;
    }

    async fn introspection_revocation_and_client_credentials(db: &TestDatabase) {
        let (portal, browser) = portal_with_clients(db).await;
        let (code, verifier) = code_for(&portal, &browser, "openid portal offline_access").await;
        let t = tokens(redeem(&portal, &code, &verifier).await).await;
        let (access, rt) = (s(&t, "access_token").to_owned(), s(&t, "refresh_token").to_owned());
        let introspect = |id: &'static str, secret: &'static str, token: String| {
            let portal = &portal;
            async move {
                let res = post_as(portal, "introspect", id, secret, &[("token", &token)]).await;
                assert_eq!(res.status(), 200);
                assert_eq!(res.headers()["cache-control"], "no-store");
                res.json::<Value>().await.unwrap()
            }
        };
        // RFC 7662: the client's own live tokens are active, with their facts.
        let at = introspect("extern", SECRET, access.clone()).await;
        assert_eq!(at["active"], true);
        assert_eq!(at["token_type"], "access_token");
        assert_eq!(at["client_id"], "extern");
        assert_eq!(at["sub"], payload(&access)["sub"]);
        assert_eq!(at["scope"], "openid portal offline_access");
        let r = introspect("extern", SECRET, rt.clone()).await;
        assert_eq!(r["active"], true);
        assert_eq!(r["token_type"], "refresh_token");
        // Another client's, or nonsense: inactive and nothing else.
        assert_eq!(introspect("ander", OTHER_SECRET, access.clone()).await, serde_json::json!({"active": false}));
        assert_eq!(introspect("ander", OTHER_SECRET, rt.clone()).await, serde_json::json!({"active": false}));
        assert_eq!(introspect("extern", SECRET, "x.y.z".into()).await, serde_json::json!({"active": false}));
        let anonymous = reqwest::Client::new().post(format!("{}/idp/introspect", portal.base)).form(&[("token", access.as_str())]).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        let wrong = post_as(&portal, "introspect", "extern", OTHER_SECRET, &[("token", &access)]).await;
        assert_eq!(wrong.status(), 401);

        // RFC 7009: another client's revocation does nothing (still 200); the owner's
        // revocation of the refresh token ends the grant, access token included.
        let res = post_as(&portal, "revoke", "ander", OTHER_SECRET, &[("token", &rt)]).await;
        assert_eq!(res.status(), 200);
        assert_eq!(introspect("extern", SECRET, rt.clone()).await["active"], true);
        let res = post_as(&portal, "revoke", "extern", SECRET, &[("token", &rt), ("token_type_hint", "refresh_token")]).await;
        assert_eq!(res.status(), 200);
        assert_eq!(introspect("extern", SECRET, rt.clone()).await["active"], false);
        assert_eq!(introspect("extern", SECRET, access.clone()).await["active"], false);
        assert_eq!(userinfo_status(&portal, &access).await, 401);
        assert_eq!(error_of(refresh(&portal, "extern", SECRET, &rt).await).await, "invalid_grant");
        let res = post_as(&portal, "revoke", "extern", SECRET, &[("token", "unknown")]).await;
        assert_eq!(res.status(), 200, "RFC 7009 §2.2: unknown tokens are not an error");
        // Revoking an access token ends its grant as well.
        let (code, verifier) = code_for(&portal, &browser, "openid portal").await;
        let t = tokens(redeem(&portal, &code, &verifier).await).await;
        assert!(t.get("refresh_token").is_none(), "no offline_access asked, no refresh token");
        let access = s(&t, "access_token").to_owned();
        post_as(&portal, "revoke", "extern", SECRET, &[("token", &access)]).await;
        assert_eq!(userinfo_status(&portal, &access).await, 401);

        // Client credentials: a token with no user and no portal claims, for service
        // clients only.
        let res = post_as(&portal, "token", "dienst", SERVICE_SECRET, &[("grant_type", "client_credentials")]).await;
        let cc = tokens(res).await;
        assert!(cc.get("id_token").is_none() && cc.get("refresh_token").is_none());
        let claims = payload(s(&cc, "access_token"));
        assert_eq!(claims["sub"], "dienst");
        assert_eq!(claims["client_id"], "dienst");
        for absent in ["rights", "role", "office", "grant_id", "sid", "auth_time"] {
            assert!(claims.get(absent).is_none(), "{absent} in {claims}");
        }
        assert_eq!(userinfo_status(&portal, s(&cc, "access_token")).await, 401);
        let i = introspect("dienst", SERVICE_SECRET, s(&cc, "access_token").to_owned()).await;
        assert_eq!(i["active"], true);
        assert_eq!(i["sub"], "dienst");
        let res = post_as(&portal, "token", "extern", SECRET, &[("grant_type", "client_credentials")]).await;
        assert_eq!(error_of(res).await, "unauthorized_client");
        let res = post_as(&portal, "token", "dienst", SERVICE_SECRET, &[("grant_type", "client_credentials"), ("scope", "openid portal")]).await;
        assert_eq!(error_of(res).await, "invalid_scope");
        let res = post_as(&portal, "token", "dienst", SERVICE_SECRET, &[("grant_type", "refresh_token"), ("refresh_token", &rt)]).await;
        assert_eq!(error_of(res).await, "unauthorized_client");
    }

    async fn private_key_jwt_authenticates_once_per_assertion(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let jwks = portal.data_dir.join("sleutel.jwks.json");
        std::fs::write(&jwks, RP_JWKS).unwrap();
        let out = portal.cli(&["client", "add", "--id", "sleutel", "--grant-type", "client_credentials", "--jwks-file", jwks.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(&jwks, RP_JWKS.replace("\"kid\"", "\"d\":\"AAAA\",\"kid\"")).unwrap();
        let out = portal.cli(&["client", "add", "--id", "lek", "--grant-type", "client_credentials", "--jwks-file", jwks.to_str().unwrap()]);
        assert!(!out.status.success(), "a JWKS with private parts is refused");
        let discovery: Value = reqwest::get(format!("{}/idp/.well-known/openid-configuration", portal.base)).await.unwrap().json().await.unwrap();
        assert!(discovery["token_endpoint_auth_methods_supported"].to_string().contains("private_key_jwt"));

        let token_endpoint = format!("{}/idp/token", portal.base);
        let grant = [("grant_type", "client_credentials")];
        let a = assertion(&token_endpoint, 60, "jti-1");
        let cc = tokens(with_assertion(&portal, "token", &a, &grant).await).await;
        assert_eq!(payload(s(&cc, "access_token"))["sub"], "sleutel");
        // RFC 7523 §3: one use per jti; aud must name us; exp must be in the future.
        let replay = with_assertion(&portal, "token", &a, &grant).await;
        assert_eq!(replay.status(), 401);
        for bad in [assertion("https://elders.example.nl/token", 60, "jti-2"), assertion(&token_endpoint, -120, "jti-3"), assertion(&token_endpoint, 60, "")] {
            assert_eq!(with_assertion(&portal, "token", &bad, &grant).await.status(), 401);
        }
        // The issuer and the endpoint itself are good audiences too (introspection here).
        let i = with_assertion(&portal, "introspect", &assertion(&format!("{}/idp", portal.base), 60, "jti-4"), &[("token", s(&cc, "access_token"))]).await;
        assert_eq!(i.status(), 200);
        assert_eq!(i.json::<Value>().await.unwrap()["active"], true);
        // A secret does not work for a key-only client.
        let res = post_as(&portal, "token", "sleutel", SERVICE_SECRET, &grant).await;
        assert_eq!(res.status(), 401);
    }

    /// Client registrations are served from memory (idp::store::client_cache), yet a secret
    /// replaced with the CLI, another process, stops working at once on SQLite (the stamp
    /// beside the file) and as soon as PostgreSQL's notification arrives on PostgreSQL.
    async fn a_replaced_client_secret_stops_working(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let add = |secret: &str| {
            let out = portal.cli(&["client", "add", "--id", "dienst", "--secret", secret, "--grant-type", "client_credentials"]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        };
        let grant = [("grant_type", "client_credentials")];
        add(SERVICE_SECRET);
        for _ in 0..3 {
            assert_eq!(post_as(&portal, "token", "dienst", SERVICE_SECRET, &grant).await.status(), 200);
        }
        let replacement = "vervangen-dienst-geheim-0123456789-abcdef";
        add(replacement);
        let mut old = post_as(&portal, "token", "dienst", SERVICE_SECRET, &grant).await.status();
        if db.backend == testkit::Backend::Postgres {
            for _ in 0..200 {
                if old == 401 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                old = post_as(&portal, "token", "dienst", SERVICE_SECRET, &grant).await.status();
            }
        }
        assert_eq!(old, 401, "the replaced secret still works");
        assert_eq!(post_as(&portal, "token", "dienst", replacement, &grant).await.status(), 200);
    }

    async fn tokens_come_in_the_registered_algorithms(db: &TestDatabase) {
        let (portal, browser) = portal_with_clients(db).await;
        let issuer = format!("{}/idp", portal.base);
        let jwks = || async {
            let set: jsonwebtoken::jwk::JwkSet = reqwest::get(format!("{}/idp/jwks", portal.base)).await.unwrap().json().await.unwrap();
            assert!(!serde_json::to_string(&set).unwrap().contains("\"d\""), "no private parts");
            set
        };
        // Verifies `jwt` with the JWKS key its header names, in algorithm `alg`, for `aud`.
        let verify = |jwt: String, alg: jsonwebtoken::Algorithm, aud: &'static str| {
            let jwks = jwks();
            let issuer = issuer.clone();
            async move {
                let header = jsonwebtoken::decode_header(&jwt).unwrap();
                assert_eq!(header.alg, alg, "{jwt}");
                let set = jwks.await;
                let jwk = set.find(header.kid.as_deref().unwrap()).expect("kid in JWKS");
                let mut v = jsonwebtoken::Validation::new(alg);
                v.set_audience(&[aud]);
                v.set_issuer(&[issuer.as_str()]);
                jsonwebtoken::decode::<Value>(&jwt, &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(), &v).unwrap().claims
            }
        };
        for (alg, name) in [(jsonwebtoken::Algorithm::EdDSA, "EdDSA"), (jsonwebtoken::Algorithm::ES256, "ES256")] {
            let add = |extra: &[&str]| {
                let mut args = vec![
                    "client", "add", "--id", "extern", "--secret", SECRET, "--redirect-uri", REDIRECT,
                    "--grant-type", "authorization_code", "--grant-type", "refresh_token", "--id-token-alg", name,
                ];
                args.extend_from_slice(extra);
                let out = portal.cli(&args);
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            };
            add(&[]);
            let (code, verifier) = code_for(&portal, &browser, "openid portal").await;
            let t = tokens(redeem(&portal, &code, &verifier).await).await;
            let claims = verify(s(&t, "id_token").to_owned(), alg, "extern").await;
            assert_eq!(claims["nonce"], "n");
            // Access tokens stay RS256 unless the registration names their algorithm too.
            verify(s(&t, "access_token").to_owned(), jsonwebtoken::Algorithm::RS256, "extern").await;
            add(&["--access-token-alg", name]);
            let (code, verifier) = code_for(&portal, &browser, "openid portal offline_access").await;
            let t = tokens(redeem(&portal, &code, &verifier).await).await;
            let access = verify(s(&t, "access_token").to_owned(), alg, "extern").await;
            assert_eq!(access["rights"], serde_json::json!(["DIP", "DIL"]));
            // The provider's own checks take it: userinfo, introspection, and the refresh.
            assert_eq!(userinfo_status(&portal, s(&t, "access_token")).await, 200);
            let i = post_as(&portal, "introspect", "extern", SECRET, &[("token", s(&t, "access_token"))]).await;
            assert_eq!(i.json::<Value>().await.unwrap()["active"], true);
            let r = tokens(refresh(&portal, "extern", SECRET, s(&t, "refresh_token")).await).await;
            verify(s(&r, "access_token").to_owned(), alg, "extern").await;
        }
        // A service client with ES256 access tokens (PERFORMANCE.md's ES256 workload).
        let out = portal.cli(&[
            "client", "add", "--id", "dienst-es", "--secret", SERVICE_SECRET, "--grant-type", "client_credentials",
            "--access-token-alg", "ES256",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let cc = tokens(post_as(&portal, "token", "dienst-es", SERVICE_SECRET, &[("grant_type", "client_credentials")]).await).await;
        let claims = verify(s(&cc, "access_token").to_owned(), jsonwebtoken::Algorithm::ES256, "dienst-es").await;
        assert_eq!(claims["sub"], "dienst-es");
        let i = post_as(&portal, "introspect", "dienst-es", SERVICE_SECRET, &[("token", s(&cc, "access_token"))]).await;
        assert_eq!(i.json::<Value>().await.unwrap()["active"], true);
        // An unknown algorithm is refused at registration and nothing is stored.
        let out = portal.cli(&["client", "add", "--id", "kapot", "--secret", SERVICE_SECRET, "--grant-type", "client_credentials", "--access-token-alg", "HS256"]);
        assert!(!out.status.success());
        let res = post_as(&portal, "token", "kapot", SERVICE_SECRET, &[("grant_type", "client_credentials")]).await;
        assert_eq!(res.status(), 401);
    }
}
