//! `GET /api/v1/me/office` (SPEC P2, P3) on SQLite and PostgreSQL, with the demo offices:
//! head office 12345 "Voorbeeld Advies" with employee Ilse, its sub-office Z01
//! "Onderbemiddeling Zuid" with employee Tim, and head office 67890 "Pensioenhuis Noord".
//!
//! Tokens are real: a code is stored for a signed-in session (as `/authorize` does) and
//! redeemed at the real token endpoint by a product client (`dip`, not an admin client),
//! and the route is called through the real API router.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use base64::Engine;
use idp::Idp;
use idp::config::{RawSettings, Settings};
use idp::crypto;
use idp::domain::Email;
use idp::store::accounts;
use idp::store::clients::{self, Client};
use idp::store::codes::{self, CodeGrant};
use idp::store::sessions::{self, NewSession};
use product_registry::Registry;
use serde_json::Value;
use testkit::TestDatabase;
use time::Duration;
use tower::ServiceExt;
use uuid::Uuid;

const ROUTE: &str = "/api/v1/me/office";
const SECRET: &str = "a-product-client-secret-0123456789";
const REDIRECT: &str = "https://dip.example.nl/cb";

const HEAD_MAIN: &str = "info@voorbeeldadvies.nl";
const HEAD_EMPLOYEE: &str = "ilse@voorbeeldadvies.nl";
const SUB_EMPLOYEE: &str = "tim@onderbemiddeling.nl";
const ADMIN: &str = "beheer@offerteportaal.local";

/// The demo portal with the product client `dip` (code flow) and the service client
/// `batch` (client credentials only). Neither is an admin client.
async fn open(db: &TestDatabase) -> (Idp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("idp-me-office-{}", Uuid::new_v4().simple()));
    let settings = Settings::from_raw(RawSettings {
        database_url: db.url.clone(),
        data_dir: dir.display().to_string(),
        master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ..RawSettings::default()
    })
    .unwrap();
    let idp = Idp::open(settings, Registry::builtin().unwrap())
        .await
        .unwrap();
    idp::demo::seed(&idp.state, idp.state.now()).await.unwrap();
    assert!(!idp.state.settings.admin_clients.iter().any(|c| c == "dip"));
    for (id, grant) in [
        ("dip", "authorization_code"),
        ("batch", "client_credentials"),
    ] {
        let client = Client {
            client_id: id.into(),
            name: id.into(),
            secret_hash: Some(crypto::token_hash(SECRET)),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            require_pkce: true,
            grant_types: vec![grant.into()],
            jwks: None,
            id_token_alg: "RS256".into(),
            access_token_alg: "RS256".into(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        };
        clients::upsert(&idp.state.db, &client, idp.state.now())
            .await
            .unwrap();
    }
    (idp, dir)
}

async fn user_id(idp: &Idp, email: &str) -> Uuid {
    accounts::user_by_email(
        &idp.state.db,
        &Email::parse(email).unwrap(),
        &idp.state.registry,
    )
    .await
    .unwrap()
    .unwrap()
    .id
}

async fn office_id(idp: &Idp, number: &str) -> Uuid {
    idp::with_db!(&idp.state.db, |pool| sqlx::query_scalar(
        "SELECT id FROM offices WHERE number = $1"
    )
    .bind(number)
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn execute(idp: &Idp, sql: &'static str, id: Uuid) {
    let n = idp::with_db!(&idp.state.db, |pool| sqlx::query(sql)
        .bind(id)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected());
    assert_eq!(n, 1, "{sql}");
}

fn basic(client: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{SECRET}"));
    format!("Basic {b64}")
}

async fn post_token(idp: &Idp, client: &str, form: String) -> Value {
    let req = Request::post("/idp/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, basic(client))
        .body(Body::from(form))
        .unwrap();
    let res = idp.router().oneshot(req).await.unwrap();
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// An access token of `dip` for `email`, granted `scope`: the user signed in (a session,
/// password and app code), `/authorize` stored a code, and the client redeems it.
async fn token(idp: &Idp, email: &str, scope: &str) -> String {
    let core = &idp.state;
    let now = core.now();
    let session = crypto::token_hash(&crypto::random_token().unwrap());
    sessions::create(
        &core.db,
        &NewSession {
            id_hash: session.clone(),
            user_id: user_id(idp, email).await,
            auth_time: now,
            amr: "pwd,otp,mfa".into(),
            expires_at: now + Duration::hours(10),
        },
        now,
    )
    .await
    .unwrap();
    let code = crypto::random_token().unwrap();
    codes::insert(
        &core.db,
        &crypto::token_hash(&code),
        &CodeGrant {
            client_id: "dip".into(),
            user_id: user_id(idp, email).await,
            session_hash: session,
            redirect_uri: REDIRECT.into(),
            scope: scope.into(),
            nonce: None,
            code_challenge: None,
            auth_time: now,
            amr: "pwd,otp,mfa".into(),
            expires_at: now + Duration::seconds(60),
            dpop_jkt: None,
        },
        now,
    )
    .await
    .unwrap();
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let body = post_token(idp, "dip", form).await;
    assert_eq!(body["scope"], scope);
    body["access_token"].as_str().unwrap().to_owned()
}

/// `GET {uri}` through the API router with `authorization` as the header, if any.
async fn call(idp: &Idp, uri: &str, authorization: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::get(uri);
    if let Some(a) = authorization {
        req = req.header(header::AUTHORIZATION, a);
    }
    let res = idp
        .api_router()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, headers, json)
}

async fn me(idp: &Idp, token: &str) -> (StatusCode, HeaderMap, Value) {
    call(idp, ROUTE, Some(&format!("Bearer {token}"))).await
}

/// A problem document (RFC 9457) with the Dutch text of `key` as its detail.
fn assert_problem(
    idp: &Idp,
    (status, headers, body): &(StatusCode, HeaderMap, Value),
    code: u16,
    key: &str,
) {
    assert_eq!(status.as_u16(), code, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(body["status"], code);
    let text = idp::api::text(&idp.state, key);
    assert_ne!(text, key, "{key} is in templates/nl.toml");
    assert_eq!(body["detail"], text.as_str(), "{body}");
}

fn unauthorized(idp: &Idp, answer: &(StatusCode, HeaderMap, Value)) {
    assert_problem(idp, answer, 401, "api.unauthorized");
    assert_eq!(
        answer.1[header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    assert!(answer.2.get("office").is_none(), "{}", answer.2);
}

testkit::both_databases! {
    /// P2, P3 for a head office: an employee and the main user, through a product client's
    /// token, get their office with address, and `head_office` is the office itself.
    async fn a_head_office_user_gets_its_own_office(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let head = office_id(&idp, "12345").await;
        for email in [HEAD_EMPLOYEE, HEAD_MAIN] {
            let t = token(&idp, email, "openid portal").await;
            let (status, headers, body) = me(&idp, &t).await;
            assert_eq!(status, StatusCode::OK, "{email}: {body}");
            assert_eq!(headers[header::CACHE_CONTROL], "no-store", "HD-03");
            assert_eq!(headers[header::CONTENT_TYPE], "application/json");
            assert_eq!(body["office"], serde_json::json!({
                "id": head.to_string(),
                "kind": "head_office",
                "number": "12345",
                "name": "Voorbeeld Advies",
                "address": "Coolsingel 1",
                "postcode": "3011 AD",
                "city": "Rotterdam",
                "phone": "010 123 45 67",
                "email": "info@voorbeeldadvies.nl",
            }), "{email}");
            assert_eq!(body["head_office"], serde_json::json!({
                "id": head.to_string(),
                "number": "12345",
                "name": "Voorbeeld Advies",
                "email": "info@voorbeeldadvies.nl",
            }), "{email}");
            assert_eq!(body.as_object().unwrap().len(), 2, "nothing else: {body}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    /// P2, P3 for a sub-office: its employee gets the sub-office's number, name and address
    /// (for the quote) and the head office's number, name and e-mail (for the copy).
    async fn a_sub_office_employee_gets_its_sub_office_and_head_office(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let head = office_id(&idp, "12345").await;
        let sub = office_id(&idp, "Z01").await;
        let t = token(&idp, SUB_EMPLOYEE, "openid portal").await;
        let (status, headers, body) = me(&idp, &t).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "HD-03");
        assert_eq!(body["office"], serde_json::json!({
            "id": sub.to_string(),
            "kind": "sub_office",
            "number": "Z01",
            "name": "Onderbemiddeling Zuid",
            "address": "Markt 5",
            "postcode": "5611 EB",
            "city": "Eindhoven",
            "phone": "040 765 43 21",
            "email": "zuid@onderbemiddeling.nl",
        }));
        assert_eq!(body["head_office"], serde_json::json!({
            "id": head.to_string(),
            "number": "12345",
            "name": "Voorbeeld Advies",
            "email": "info@voorbeeldadvies.nl",
        }));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// SECURITY OP-21: a token not granted `portal` gets 403 with the RFC 6750 challenge;
    /// an insurer admin, who belongs to no office (U1), gets 404.
    async fn without_portal_scope_or_office_there_is_nothing(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let t = token(&idp, HEAD_EMPLOYEE, "openid").await;
        let answer = me(&idp, &t).await;
        assert_problem(&idp, &answer, 403, "api.portal_scope_required");
        assert_eq!(
            answer.1[header::WWW_AUTHENTICATE],
            "Bearer error=\"insufficient_scope\", scope=\"portal\""
        );
        assert!(answer.2.get("office").is_none());

        let t = token(&idp, ADMIN, "openid portal").await;
        let answer = me(&idp, &t).await;
        assert_problem(&idp, &answer, 404, "api.no_office");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// SECURITY OP-22: no token, another scheme, garbage, a forged signature, a token sent
    /// in the query string, and a service client's token (no user, no grant) all get 401.
    async fn no_or_a_bad_token_is_unauthorized(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let good = token(&idp, HEAD_EMPLOYEE, "openid portal").await;
        assert_eq!(me(&idp, &good).await.0, StatusCode::OK);
        let (head, rest) = good.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("{head}.{payload}.{flipped}{}", &signature[1..]);
        let service = post_token(&idp, "batch", "grant_type=client_credentials".into()).await;
        let service = service["access_token"].as_str().unwrap().to_owned();
        for auth in [
            None,
            Some(String::new()),
            Some("Bearer".into()),
            Some("Bearer ".into()),
            Some("Bearer not-a-token".into()),
            Some(format!("Basic {good}")),
            Some(format!("bearer{good}")),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {head}.{payload}.")),
            Some(format!("Bearer {service}")),
        ] {
            let answer = call(&idp, ROUTE, auth.as_deref()).await;
            unauthorized(&idp, &answer);
        }
        let answer = call(&idp, &format!("{ROUTE}?access_token={good}"), None).await;
        unauthorized(&idp, &answer);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// O6, SE-05: the token dies with its user, office or head office, and with its grant,
    /// within its lifetime. Each is switched off in the database alone (grants left live)
    /// and switched on again, so each check is shown on its own.
    async fn a_deactivated_user_or_office_or_revoked_grant_is_unauthorized(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let tim = user_id(&idp, SUB_EMPLOYEE).await;
        let sub = office_id(&idp, "Z01").await;
        let head = office_id(&idp, "12345").await;
        let t = token(&idp, SUB_EMPLOYEE, "openid portal").await;
        assert_eq!(me(&idp, &t).await.0, StatusCode::OK);
        for (off, on, id) in [
            ("UPDATE users SET active = FALSE WHERE id = $1", "UPDATE users SET active = TRUE WHERE id = $1", tim),
            ("UPDATE offices SET active = FALSE WHERE id = $1", "UPDATE offices SET active = TRUE WHERE id = $1", sub),
            ("UPDATE offices SET active = FALSE WHERE id = $1", "UPDATE offices SET active = TRUE WHERE id = $1", head),
        ] {
            execute(&idp, off, id).await;
            unauthorized(&idp, &me(&idp, &t).await);
            execute(&idp, on, id).await;
            assert_eq!(me(&idp, &t).await.0, StatusCode::OK, "{on}");
        }
        let n = idp::with_db!(&idp.state.db, |pool| sqlx::query(
            "UPDATE grants SET revoked_at = $1 WHERE user_id = $2"
        )
        .bind(idp.state.now())
        .bind(tim)
        .execute(pool)
        .await
        .unwrap()
        .rows_affected());
        assert_eq!(n, 1);
        unauthorized(&idp, &me(&idp, &t).await);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// AC-01, AC-03: nothing in the request can name another office. A query string is
    /// refused (and another office's data never appears), and no path takes an id.
    async fn no_query_or_path_names_another_office(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let noord = office_id(&idp, "67890").await;
        let t = token(&idp, SUB_EMPLOYEE, "openid portal").await;
        let auth = format!("Bearer {t}");
        for query in [
            format!("office_id={noord}"),
            format!("id={noord}"),
            "number=67890".to_owned(),
            String::new(),
        ] {
            let answer = call(&idp, &format!("{ROUTE}?{query}"), Some(&auth)).await;
            assert_problem(&idp, &answer, 400, "api.no_parameters");
            assert!(!answer.2.to_string().contains("Noord"), "{}", answer.2);
        }
        for path in [
            format!("{ROUTE}/{noord}"),
            format!("/api/v1/me/offices/{noord}"),
            format!("/api/v1/me/{noord}/office"),
        ] {
            let (status, _, body) = call(&idp, &path, Some(&auth)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert!(!body.to_string().contains("Noord"), "{path}: {body}");
        }
        let (status, _, body) = call(&idp, ROUTE, Some(&auth)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["office"]["number"], "Z01");
        let _ = std::fs::remove_dir_all(dir);
    }
}
