//! Bad input on every idp route (issue 4): no parameters, each required one missing,
//! oversized values, invalid UTF-8 and percent garbage, the wrong content type, repeated
//! parameters and wrong methods. Every answer is the spec's (an OAuth JSON error, a Bearer
//! challenge or a Dutch page), never a 5xx, and the server still answers afterwards.
//! Reflected input comes back escaped (SECURITY OP-15, IO-02), and the security headers
//! are on pages, JSON and error answers alike (HD-02, HD-03).
//!
//! The walk runs on both databases: the refusals happen before, between and after store
//! reads (client lookup, link tokens, throttle counters), and each backend must fail soft.

use base64::Engine;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use testkit::TestDatabase;

use crate::support::Portal;

const SECRET: &str = "bad-input-client-secret-0123456789";
const REDIRECT: &str = "https://rp.example.nl/cb";
const XSS: &str = "\"><script>alert(1)</script>";

/// Every idp route with its methods, as `idp::oidc::routes` and `idp::login::routes`
/// declare them. `every_route_is_walked` fails when the router gains a route that is not
/// listed here (and so not walked below).
const ROUTES: [(&str, &[&str]); 33] = [
    ("/.well-known/openid-configuration", &["get"]),
    ("/jwks", &["get"]),
    ("/authorize", &["get", "post"]),
    ("/par", &["post"]),
    ("/token", &["post"]),
    ("/introspect", &["post"]),
    ("/revoke", &["post"]),
    ("/end_session", &["get", "post"]),
    ("/userinfo", &["get", "post"]),
    ("/login", &["get", "post"]),
    ("/activate/{token}", &["get", "post"]),
    ("/activate", &["get", "post"]),
    ("/forgot", &["get", "post"]),
    ("/requested/{kind}", &["get"]),
    ("/reset/{token}", &["get", "post"]),
    ("/setup/{token}", &["get", "post"]),
    ("/email/{token}", &["get", "post"]),
    ("/2fa", &["get", "post"]),
    ("/2fa/herstelcode", &["post"]),
    ("/2fa/instellen", &["get", "post"]),
    ("/passkey/register/start", &["post"]),
    ("/passkey/register/finish", &["post"]),
    ("/passkey/2fa/start", &["post"]),
    ("/passkey/2fa/finish", &["post"]),
    ("/passkey/login/start", &["post"]),
    ("/passkey/login/finish", &["post"]),
    ("/account", &["get"]),
    ("/account/totp", &["post"]),
    ("/account/herstelcodes", &["post"]),
    ("/account/naam", &["post"]),
    ("/account/wachtwoord", &["post"]),
    ("/account/passkeys/{id}/verwijderen", &["post"]),
    ("/account/sessies/{id}/afmelden", &["post"]),
];

/// The routes and methods a router module's source declares.
fn declared(source: &str) -> Vec<(String, Vec<&'static str>)> {
    source
        .split(".route(")
        .skip(1)
        .map(|chunk| {
            let path = chunk.split('"').nth(1).unwrap().to_owned();
            let methods = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| chunk.contains(&format!("{m}(")))
                .collect();
            (path, methods)
        })
        .collect()
}

#[test]
fn every_route_is_walked() {
    let mut found = declared(include_str!("../../idp/src/oidc/mod.rs"));
    found.extend(declared(include_str!("../../idp/src/login/mod.rs")));
    let listed: Vec<(String, Vec<&str>)> = ROUTES
        .iter()
        .map(|(p, m)| ((*p).to_owned(), m.to_vec()))
        .collect();
    assert_eq!(
        found, listed,
        "the idp router changed: walk the new route in bad_input.rs and list it in ROUTES"
    );
}

/// AU-07: every way in is documented. Each idp route (and each admin API route) is named in
/// `docs/SIGN-IN.md` with the factors it needs.
#[test]
fn every_route_is_documented() {
    let doc = include_str!("../../docs/SIGN-IN.md");
    let mut routes: Vec<String> = ROUTES.iter().map(|(p, _)| (*p).to_owned()).collect();
    routes.extend(
        declared(include_str!("../../idp/src/api/mod.rs"))
            .into_iter()
            .map(|(p, _)| format!("/api/v1{p}")),
    );
    let missing: Vec<&String> = routes
        .iter()
        .filter(|r| !doc.contains(&format!("`{r}`")) && !doc.contains(&format!(" {r}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "routes not described in docs/SIGN-IN.md: {missing:?}"
    );
}

/// A plain HTTP client: no cookies, no redirects followed.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Walk {
    base: String,
    http: reqwest::Client,
}

/// What a refusal must look like.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A Dutch HTML page with this status.
    Page(u16),
    /// RFC 6749 §5.2 JSON with this status and `error`.
    OAuth(u16, &'static str),
    /// A 303 back to the client carrying this `error`.
    Back(&'static str),
    /// Just this status (protocol answers that are not errors, or 405).
    Status(u16),
}

impl Walk {
    fn url(&self, path: &str) -> String {
        format!("{}/idp{path}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if !body.is_empty() {
            req = req.body(body);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, Vec::new()).await
    }

    async fn form(&self, path: &str, body: &str) -> Response {
        self.send(
            Method::POST,
            path,
            Some("application/x-www-form-urlencoded"),
            body.as_bytes().to_vec(),
        )
        .await
    }

    /// Asserts the answer and returns its body.
    async fn check(&self, what: &str, res: Response, expect: Expect) -> String {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{what}: a server error {status}: {body}"
        );
        let ctype = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        match expect {
            Expect::Page(code) => {
                assert_eq!(status.as_u16(), code, "{what}: {body}");
                assert!(ctype.starts_with("text/html"), "{what}: {ctype} {body}");
                assert!(body.contains("lang=\"nl\""), "{what}: not our page: {body}");
            }
            Expect::OAuth(code, error) => {
                assert_eq!(status.as_u16(), code, "{what}: {body}");
                assert!(ctype.starts_with("application/json"), "{what}: {ctype}");
                let json: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(json["error"], error, "{what}: {body}");
                assert_eq!(headers["cache-control"], "no-store", "{what}");
            }
            Expect::Back(error) => {
                assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {body}");
                let location = headers["location"].to_str().unwrap();
                assert!(location.starts_with(REDIRECT), "{what}: {location}");
                assert_eq!(
                    crate::oidc::query_param(location, "error").as_deref(),
                    Some(error),
                    "{what}: {location}"
                );
            }
            Expect::Status(code) => assert_eq!(status.as_u16(), code, "{what}: {body}"),
        }
        body
    }

    /// Sends `GET /idp{target}` over a bare connection and returns the answer's status.
    async fn raw_get(&self, target: &[u8]) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut req = b"GET /idp".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        // The server may answer and close before it has read everything.
        let _ = conn.write_all(&req).await;
        let mut answer = Vec::new();
        let _ = conn.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no answer: {text}"))
    }

    async fn still_alive(&self) {
        let res = self
            .http
            .get(format!("{}/healthz", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}

fn basic() -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("extern:{SECRET}"));
    format!("Basic {b64}")
}

/// A valid authorization request's parameters for the registered client, minus `skip`.
fn authorize_query(skip: &str, extra: &[(&str, &str)]) -> String {
    let (_, challenge) = crate::oidc::pkce();
    let mut pairs = vec![
        ("client_id", "extern"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid portal"),
        ("state", "st"),
        ("nonce", "no"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.retain(|(k, _)| *k != skip);
    pairs.extend_from_slice(extra);
    enc(&pairs)
}

/// `application/x-www-form-urlencoded` text of `pairs`.
fn enc<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .finish()
}

async fn start(db: &TestDatabase) -> (Portal, Walk) {
    let mut portal = Portal::new(db);
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let walk = Walk {
        base: portal.base.clone(),
        http: client(),
    };
    (portal, walk)
}

async fn authorize(w: &Walk) {
    use Expect::*;
    // Before the client and redirect URI are known good: a page, never a redirect.
    w.check("authorize, nothing", w.get("/authorize").await, Page(400))
        .await;
    w.check(
        "authorize, no client_id",
        w.get(&format!("/authorize?{}", authorize_query("client_id", &[])))
            .await,
        Page(400),
    )
    .await;
    w.check(
        "authorize, foreign redirect_uri",
        w.get(&format!(
            "/authorize?{}",
            authorize_query("redirect_uri", &[("redirect_uri", "https://evil.tld/cb")])
        ))
        .await,
        Page(400),
    )
    .await;
    w.check(
        "authorize, repeated client_id",
        w.get(&format!(
            "/authorize?{}",
            authorize_query("", &[("client_id", "extern")])
        ))
        .await,
        Page(400),
    )
    .await;
    w.check(
        "authorize, percent garbage",
        w.get("/authorize?client_id=%ff%fe%zz&redirect_uri=%&%%")
            .await,
        Page(400),
    )
    .await;
    let page = w
        .check(
            "authorize, reflected state on the error page",
            w.get(&format!(
                "/authorize?{}",
                enc(&[("client_id", "nobody"), ("state", XSS)])
            ))
            .await,
            Page(400),
        )
        .await;
    assert!(!page.contains("<script>alert"), "{page}");
    // After: back to the client with the error.
    for (skip, error) in [
        ("response_type", "invalid_request"),
        ("scope", "invalid_scope"),
        ("code_challenge", "invalid_request"),
    ] {
        w.check(
            &format!("authorize, no {skip}"),
            w.get(&format!("/authorize?{}", authorize_query(skip, &[])))
                .await,
            Back(error),
        )
        .await;
    }
    for (param, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        w.check(
            &format!("authorize, {param}"),
            w.get(&format!(
                "/authorize?{}",
                authorize_query("", &[(param, "https://evil.tld/r")])
            ))
            .await,
            Back(error),
        )
        .await;
    }
    // OP-15: unknown and display parameters are no error; reflected ones come back escaped.
    let res = w
        .get(&format!(
            "/authorize?{}",
            authorize_query(
                "",
                &[
                    ("unknown_thing", "x"),
                    ("display", XSS),
                    ("ui_locales", XSS),
                    ("login_hint", XSS),
                    ("acr_values", XSS),
                ]
            )
        ))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let login = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(login.starts_with("/idp/login?return_to="), "{login}");
    let page = w
        .check(
            "login page from authorize",
            w.http
                .get(format!("{}{login}", w.base))
                .send()
                .await
                .unwrap(),
            Status(200),
        )
        .await;
    assert!(!page.contains("<script>alert"), "{page}");
    // POST /authorize: the same checker; a bad body is a page.
    w.check(
        "authorize POST, good",
        w.form("/authorize", &authorize_query("", &[])).await,
        Status(303),
    )
    .await;
    w.check(
        "authorize POST, json",
        w.send(
            Method::POST,
            "/authorize",
            Some("application/json"),
            br#"{"client_id":"extern"}"#.to_vec(),
        )
        .await,
        Page(400),
    )
    .await;
    w.check(
        "authorize POST, no content type",
        w.send(
            Method::POST,
            "/authorize",
            None,
            b"client_id=extern".to_vec(),
        )
        .await,
        Page(400),
    )
    .await;
    w.check(
        "authorize POST, 100 kB",
        w.form(
            "/authorize",
            &authorize_query("", &[("state", &"s".repeat(100_000))]),
        )
        .await,
        Page(413),
    )
    .await;
    // 100 kB in a URL (more than an HTTP client will build) and raw bytes that are not
    // UTF-8 in the request line: refused by the HTTP server, never a 5xx.
    let long = format!(
        "/authorize?{}",
        authorize_query("", &[("nonce", &"n".repeat(100_000))])
    );
    for target in [long.into_bytes(), b"/login?return_to=/\xff\xfe".to_vec()] {
        let status = w.raw_get(&target).await;
        assert!((400..500).contains(&status), "{status}");
    }
}

async fn token_endpoints(w: &Walk) {
    use Expect::*;
    let post = |path: &'static str, ct: Option<&'static str>, body: String, auth: bool| {
        let mut req = w.http.post(w.url(path));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        if auth {
            req = req.header("authorization", basic());
        }
        req.body(body).send()
    };
    let form = Some("application/x-www-form-urlencoded");
    let json = Some("application/json");
    let big = "x".repeat(100_000);
    for path in ["/par", "/token", "/introspect", "/revoke"] {
        let what = |s: &str| format!("{path}, {s}");
        w.check(
            &what("no body, no auth"),
            post(path, None, String::new(), false).await.unwrap(),
            OAuth(400, "invalid_request"),
        )
        .await;
        w.check(
            &what("empty form, no auth"),
            post(path, form, String::new(), false).await.unwrap(),
            OAuth(401, "invalid_client"),
        )
        .await;
        w.check(
            &what("json"),
            post(path, json, r#"{"token":"x"}"#.into(), true)
                .await
                .unwrap(),
            OAuth(400, "invalid_request"),
        )
        .await;
        w.check(
            &what("repeated parameter"),
            post(path, form, "token=a&token=b&grant_type=x".into(), true)
                .await
                .unwrap(),
            OAuth(400, "invalid_request"),
        )
        .await;
        w.check(
            &what("100 kB"),
            post(path, form, format!("token={big}&code={big}"), true)
                .await
                .unwrap(),
            OAuth(413, "invalid_request"),
        )
        .await;
        w.check(
            &what("garbage basic"),
            w.http
                .post(w.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", "Basic %%%===")
                .body("token=x")
                .send()
                .await
                .unwrap(),
            OAuth(401, "invalid_client"),
        )
        .await;
        w.check(
            &what("percent garbage"),
            post(path, form, "token=%ff%zz%&grant_type=%C3%28".into(), true)
                .await
                .unwrap(),
            match path {
                "/token" => OAuth(400, "unsupported_grant_type"),
                // RFC 9126 §2.3: judged as /authorize judges it (no response_type).
                "/par" => OAuth(400, "invalid_request"),
                _ => Status(200),
            },
        )
        .await;
    }
    w.check(
        "token, no grant_type",
        post("/token", form, "code=x".into(), true).await.unwrap(),
        OAuth(400, "invalid_request"),
    )
    .await;
    w.check(
        "token, no code",
        post("/token", form, "grant_type=authorization_code".into(), true)
            .await
            .unwrap(),
        OAuth(400, "invalid_request"),
    )
    .await;
    w.check(
        "token, unknown code",
        post(
            "/token",
            form,
            format!("grant_type=authorization_code&code=x&redirect_uri={REDIRECT}"),
            true,
        )
        .await
        .unwrap(),
        OAuth(400, "invalid_grant"),
    )
    .await;
    w.check(
        "token, password grant",
        post(
            "/token",
            form,
            "grant_type=password&username=a&password=b&unknown=1".into(),
            true,
        )
        .await
        .unwrap(),
        OAuth(400, "unsupported_grant_type"),
    )
    .await;
    for path in ["/introspect", "/revoke"] {
        w.check(
            &format!("{path}, no token"),
            post(path, form, "token_type_hint=access_token".into(), true)
                .await
                .unwrap(),
            OAuth(400, "invalid_request"),
        )
        .await;
    }
}

async fn userinfo(w: &Walk) {
    let bearer = |res: &Response| {
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    for method in [Method::GET, Method::POST] {
        let res = w.send(method.clone(), "/userinfo", None, Vec::new()).await;
        assert!(bearer(&res).starts_with("Bearer"), "{method}");
        w.check("userinfo, no token", res, Expect::Status(401))
            .await;
        let res = w
            .http
            .request(method.clone(), w.url("/userinfo"))
            .header("authorization", format!("Bearer {}", "x".repeat(10_000)))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert!(bearer(&res).contains("invalid_token"), "{method}");
        w.check("userinfo, garbage token", res, Expect::Status(401))
            .await;
        // OP-22: a token in the query string is refused, never used.
        let res = w
            .send(
                method.clone(),
                "/userinfo?access_token=abc",
                None,
                Vec::new(),
            )
            .await;
        assert!(bearer(&res).contains("invalid_request"), "{method}");
        w.check("userinfo, token in query", res, Expect::Status(400))
            .await;
    }
    let res = w
        .http
        .get(w.url("/userinfo"))
        .header("authorization", format!("Bearer {}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());
}

async fn pages(w: &Walk) {
    use Expect::*;
    let big = "x".repeat(100_000);
    // GET pages without parameters.
    for (path, status) in [
        ("/login", 200),
        ("/activate", 200),
        ("/forgot", 200),
        ("/end_session", 200),
        ("/activate/unknown-token", 404),
        ("/reset/unknown-token", 404),
        ("/setup/unknown-token", 404),
        ("/email/unknown-token", 404),
        ("/requested/other", 404),
        ("/requested/reset", 200),
    ] {
        w.check(&format!("GET {path}"), w.get(path).await, Page(status))
            .await;
    }
    // The e-mail confirmation: an unknown link is the same page by POST; a form without
    // the password is a 400 before any link is looked at.
    w.check(
        "POST /email/unknown-token",
        w.form("/email/unknown-token", "password=x").await,
        Page(404),
    )
    .await;
    w.check(
        "POST /email/unknown-token, no password",
        w.form("/email/unknown-token", "").await,
        Page(400),
    )
    .await;
    // A path segment that is not UTF-8, and repeated query parameters.
    for path in [
        "/activate/%ff%fe",
        "/reset/%ff",
        "/setup/%c3%28",
        "/email/%ff",
        "/requested/%ff",
        "/login?return_to=/a&return_to=/b",
        "/end_session?state=a&state=b",
    ] {
        w.check(&format!("GET {path}"), w.get(path).await, Page(400))
            .await;
    }
    let page = w
        .check(
            "login, reflected return_to",
            w.get(&format!(
                "/login?{}",
                enc(&[("return_to", format!("/{XSS}"))])
            ))
            .await,
            Status(200),
        )
        .await;
    assert!(!page.contains("<script>alert"), "{page}");
    let page = w
        .check(
            "end_session, garbage hint",
            w.get(&format!(
                "/end_session?id_token_hint=a.b.c&state={}",
                url::form_urlencoded::byte_serialize(XSS.as_bytes()).collect::<String>()
            ))
            .await,
            Status(200),
        )
        .await;
    assert!(!page.contains("<script>alert"), "{page}");
    // Forms: no body, a missing field, the wrong type, repeated and oversized fields.
    let forms: [(&str, &str, &str); 7] = [
        ("/login", "password=p", "username=u&password=p"),
        (
            "/activate",
            "email=a%40b.nl",
            "email=a%40b.nl&advisor_number=1",
        ),
        ("/forgot", "", "email=a%40b.nl"),
        (
            "/activate/unknown-token",
            "password=p",
            "password=p&password_repeat=p",
        ),
        (
            "/reset/unknown-token",
            "password=p",
            "password=p&password_repeat=p",
        ),
        (
            "/setup/unknown-token",
            "name=n&email=a%40b.nl&password=p",
            "name=n&email=a%40b.nl&password=p&password_repeat=p",
        ),
        ("/end_session", "confirm=yes&confirm=no", "confirm=no"),
    ];
    for (path, missing, good) in forms {
        let what = |s: &str| format!("POST {path}, {s}");
        if path != "/end_session" {
            w.check(
                &what("nothing"),
                w.send(Method::POST, path, None, Vec::new()).await,
                Page(400),
            )
            .await;
            w.check(&what("empty form"), w.form(path, "").await, Page(400))
                .await;
        }
        w.check(
            &what("missing field"),
            w.form(path, missing).await,
            Page(400),
        )
        .await;
        w.check(
            &what("json"),
            w.send(Method::POST, path, Some("application/json"), b"{}".to_vec())
                .await,
            Page(400),
        )
        .await;
        w.check(
            &what("multipart"),
            w.send(
                Method::POST,
                path,
                Some("multipart/form-data; boundary=x"),
                good.as_bytes().to_vec(),
            )
            .await,
            Page(400),
        )
        .await;
        w.check(
            &what("repeated"),
            w.form(path, &format!("{good}&{good}")).await,
            Page(400),
        )
        .await;
        w.check(
            &what("100 kB"),
            w.form(path, &format!("{good}&filler={big}")).await,
            Page(413),
        )
        .await;
        let res = w.form(path, &format!("{good}&unknown=%ff%zz%")).await;
        assert!(
            !res.status().is_server_error() && res.status() != StatusCode::BAD_REQUEST,
            "POST {path}, unknown parameter: {}",
            res.status()
        );
    }
    // A failed sign-in reflects the username, escaped; 10 kB of it is no problem.
    for username in [XSS.to_owned(), "ü\u{202e}\u{200b}'\"\\".repeat(1000)] {
        let body = enc(&[
            ("username", username.as_str()),
            ("password", "p"),
            ("return_to", &format!("/{XSS}")),
        ]);
        let page = w
            .check(
                "login, odd username",
                w.form("/login", &body).await,
                Status(200),
            )
            .await;
        assert!(!page.contains("<script>alert"), "{page}");
    }
}

/// The second-factor and account routes without a pending step or a session: the person
/// is sent to sign in (303), a ceremony start is refused as JSON, and malformed forms get
/// the Dutch 400/413 page before any step is looked at (AU-08: nothing here acts without
/// the step cookie).
async fn second_factor_routes(w: &Walk) {
    use Expect::*;
    for path in ["/2fa", "/2fa/instellen", "/account"] {
        let res = w.get(path).await;
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.contains("/idp/login"), "GET {path}: {location}");
        w.check(&format!("GET {path}"), res, Status(303)).await;
    }
    for path in [
        "/account/totp",
        "/account/herstelcodes",
        "/account/naam",
        "/account/wachtwoord",
        "/account/passkeys/x/verwijderen",
        "/account/passkeys/%ff/verwijderen",
        "/account/sessies/x/afmelden",
        "/account/sessies/%ff/afmelden",
    ] {
        let res = w.form(path, "").await;
        assert!(
            !res.status().is_server_error(),
            "POST {path}: {}",
            res.status()
        );
        assert!(
            res.status() == StatusCode::SEE_OTHER || res.status() == StatusCode::BAD_REQUEST,
            "POST {path}: {}",
            res.status()
        );
    }
    // Passkeys are off on an IP-address issuer (this harness): starts say so as JSON.
    for path in [
        "/passkey/register/start",
        "/passkey/2fa/start",
        "/passkey/login/start",
    ] {
        let res = w.form(path, "").await;
        let status = res.status().as_u16();
        let body = w.check(&format!("POST {path}"), res, Status(status)).await;
        assert!(matches!(status, 403 | 404), "POST {path}: {status} {body}");
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"], "refused", "POST {path}");
    }
    let big = "x".repeat(100_000);
    let forms: [(&str, &str, &str); 6] = [
        ("/2fa", "", "code=123456"),
        ("/2fa/herstelcode", "", "recovery_code=abcd-efgh"),
        ("/2fa/instellen", "", "code=123456"),
        (
            "/passkey/register/finish",
            "name=n",
            "credential=%7B%7D&name=n",
        ),
        ("/passkey/2fa/finish", "name=n", "credential=%7B%7D"),
        ("/passkey/login/finish", "name=n", "credential=%7B%7D"),
    ];
    for (path, missing, good) in forms {
        let what = |s: &str| format!("POST {path}, {s}");
        w.check(
            &what("missing field"),
            w.form(path, missing).await,
            Page(400),
        )
        .await;
        w.check(
            &what("json"),
            w.send(Method::POST, path, Some("application/json"), b"{}".to_vec())
                .await,
            Page(400),
        )
        .await;
        w.check(
            &what("repeated"),
            w.form(path, &format!("{good}&{good}")).await,
            Page(400),
        )
        .await;
        w.check(
            &what("100 kB"),
            w.form(path, &format!("{good}&filler={big}")).await,
            Page(413),
        )
        .await;
        // Well-formed but without a step: back to the sign-in page, nothing done; the
        // passkey answers find no passkeys here at all (IP-address issuer).
        let res = w.form(path, good).await;
        if path.starts_with("/passkey/") {
            w.check(&what("no passkeys"), res, Page(404)).await;
        } else {
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", what("no step"));
        }
    }
}

/// TRACE (and other methods a route does not serve) get 405 on every route (HD-03).
async fn methods(w: &Walk) {
    for (path, served) in ROUTES {
        let path = path
            .replace("{token}", "t")
            .replace("{kind}", "reset")
            .replace("{id}", "x");
        for method in [Method::TRACE, Method::PUT, Method::DELETE, Method::PATCH]
            .into_iter()
            .chain((!served.contains(&"post")).then_some(Method::POST))
            .chain((!served.contains(&"get")).then_some(Method::GET))
        {
            let res = w.send(method.clone(), &path, None, Vec::new()).await;
            assert_eq!(
                res.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
        }
    }
}

/// HD-02, HD-03 on a page, a JSON answer, an error page and a refusal.
async fn headers(w: &Walk) {
    let answers = [
        ("login page", w.get("/login").await),
        (
            "discovery",
            w.get("/.well-known/openid-configuration").await,
        ),
        ("error page", w.get("/authorize").await),
        ("oauth error", w.form("/token", "").await),
        ("too large", w.form("/token", &"x".repeat(100_000)).await),
        (
            "405",
            w.send(Method::TRACE, "/login", None, Vec::new()).await,
        ),
    ];
    for (what, res) in answers {
        let h = res.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(get("x-frame-options"), "DENY", "{what}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
        assert!(
            get("content-security-policy").contains("frame-ancestors 'none'"),
            "{what}"
        );
        assert!(h.get("server").is_none(), "{what}: a Server header");
        assert!(h.get("x-powered-by").is_none(), "{what}");
    }
}

testkit::both_databases! {
    async fn bad_input_on_every_idp_route_gets_the_specs_answer(db: &TestDatabase) {
        let (_portal, w) = start(db).await;
        authorize(&w).await;
        w.still_alive().await;
        token_endpoints(&w).await;
        w.still_alive().await;
        userinfo(&w).await;
        w.still_alive().await;
        pages(&w).await;
        w.still_alive().await;
        second_factor_routes(&w).await;
        w.still_alive().await;
        methods(&w).await;
        headers(&w).await;
        w.still_alive().await;
    }
}
