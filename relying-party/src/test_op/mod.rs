//! A minimal OpenID Provider for tests only (cargo feature `test-op`): discovery, JWKS,
//! an authorization endpoint that signs in a preset user at once, a token endpoint with
//! `client_secret_basic` and PKCE S256, a userinfo endpoint that answers with the preset
//! user as it is now, and an end-session endpoint.
//!
//! It lets the admin UI and the product portals be tested over real HTTP without the idp
//! crate, and it can hand out bad ID tokens on purpose ([`Tamper`]) to prove the relying
//! party refuses them (SECURITY RP-01, RP-02). It is not an identity provider: it
//! authenticates nobody and must never be built into the portal binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openidconnect::core::{
    CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreResponseType, CoreRsaPrivateSigningKey,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    Audience, AuthUrl, AuthenticationMethodReference, EmptyAdditionalProviderMetadata,
    EndSessionUrl, EndUserEmail, EndUserName, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl,
    LogoutProviderMetadata, Nonce, PkceCodeChallenge, PkceCodeVerifier, PrivateSigningKey,
    ProviderMetadataWithLogout, ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl,
};
use tokio::task::JoinHandle;

use crate::claims::{HeadOffice, Office, OfficeKind, PortalClaims, PortalIdTokenClaims, Role};
use crate::flow::PortalIdToken;
use crate::ids::CookieValue;

const OP_KEY: &str = include_str!("test-only-op-key.pem");
const FOREIGN_KEY: &str = include_str!("test-only-foreign-key.pem");

/// A bad ID token the test OP can hand out instead of a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// A correct token.
    None,
    /// `nonce` is not the one the client sent.
    WrongNonce,
    /// `aud` names another client.
    WrongAudience,
    /// `iss` names another issuer.
    WrongIssuer,
    /// `exp` has passed.
    Expired,
    /// `alg: none`, no signature.
    Unsigned,
    /// Signed by a key the JWKS does not hold (same `kid`).
    ForeignKey,
}

/// The user the test OP signs in.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// `sub`.
    pub sub: String,
    /// `name`.
    pub name: String,
    /// `email`.
    pub email: String,
    /// `role`.
    pub role: Role,
    /// `rights`.
    pub rights: Vec<String>,
    /// `office`.
    pub office: Option<Office>,
    /// `head_office`.
    pub head_office: Option<HeadOffice>,
}

impl TestUser {
    /// An employee of the head office "Voorbeeld Advies" (12345) with these rights.
    pub fn employee(rights: &[&str]) -> Self {
        Self {
            sub: "7d1b0c5e-2f3a-4b6c-8d9e-0a1b2c3d4e5f".into(),
            name: "Ilse de Vries".into(),
            email: "ilse@voorbeeldadvies.nl".into(),
            role: Role::Employee,
            rights: rights.iter().map(|r| (*r).to_owned()).collect(),
            office: Some(Office {
                id: "o-1".into(),
                number: "12345".into(),
                name: "Voorbeeld Advies".into(),
                kind: OfficeKind::HeadOffice,
            }),
            head_office: Some(HeadOffice {
                id: "o-1".into(),
                number: "12345".into(),
                name: "Voorbeeld Advies".into(),
            }),
        }
    }
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    challenge: String,
    user: TestUser,
}

struct OpState {
    issuer: String,
    key: CoreRsaPrivateSigningKey,
    foreign_key: CoreRsaPrivateSigningKey,
    next_key: CoreRsaPrivateSigningKey,
    rotated: std::sync::atomic::AtomicBool,
    clients: Mutex<HashMap<String, (String, String)>>,
    user: Mutex<Option<TestUser>>,
    tamper: Mutex<Tamper>,
    grants: Mutex<HashMap<String, Grant>>,
    last_authorize: Mutex<HashMap<String, String>>,
    discoveries: AtomicUsize,
    token_requests: AtomicUsize,
    userinfo_requests: AtomicUsize,
    userinfo_down: std::sync::atomic::AtomicBool,
}

/// A running test OP on `127.0.0.1`; stops when dropped.
pub struct TestOp {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `{base_url}/idp`.
    pub issuer: String,
    state: Arc<OpState>,
    server: JoinHandle<()>,
}

impl Drop for TestOp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestOp {
    /// Binds a free port and serves the OP at `/idp`.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        Self::start_on(listener, base_url).await
    }

    /// Serves the OP at `/idp` on a listener the caller bound (to know the URL earlier).
    pub async fn start_on(listener: tokio::net::TcpListener, base_url: String) -> Self {
        let issuer = format!("{base_url}/idp");
        let kid = Some(JsonWebKeyId::new("test-key".into()));
        let state = Arc::new(OpState {
            issuer: issuer.clone(),
            key: CoreRsaPrivateSigningKey::from_pem(OP_KEY, kid.clone()).unwrap(),
            foreign_key: CoreRsaPrivateSigningKey::from_pem(FOREIGN_KEY, kid).unwrap(),
            next_key: CoreRsaPrivateSigningKey::from_pem(
                FOREIGN_KEY,
                Some(JsonWebKeyId::new("test-key-2".into())),
            )
            .unwrap(),
            rotated: std::sync::atomic::AtomicBool::new(false),
            clients: Mutex::default(),
            user: Mutex::default(),
            tamper: Mutex::new(Tamper::None),
            grants: Mutex::default(),
            last_authorize: Mutex::default(),
            discoveries: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            userinfo_requests: AtomicUsize::new(0),
            userinfo_down: std::sync::atomic::AtomicBool::new(false),
        });
        let app = Router::new()
            .route("/idp/.well-known/openid-configuration", get(discovery))
            .route("/idp/jwks", get(jwks))
            .route("/idp/authorize", get(authorize))
            .route("/idp/token", post(token))
            .route("/idp/userinfo", get(userinfo))
            .route("/idp/end_session", get(|| async { "afgemeld" }))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url,
            issuer,
            state,
            server,
        }
    }

    /// Registers a confidential client with one redirect URI.
    pub fn register_client(&self, id: &str, secret: &str, redirect_uri: &str) {
        self.state
            .clients
            .lock()
            .unwrap()
            .insert(id.into(), (secret.into(), redirect_uri.into()));
    }

    /// Signs `claims` as a JWT with header `typ` and the OP's current key (RS256), as the
    /// idp signs logout tokens and security events.
    pub fn sign_jwt(&self, typ: &str, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.typ = Some(typ.into());
        header.kid = Some("test-key".into());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(OP_KEY.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// The user `/authorize` signs in from now on (`None`: answers `login_required`).
    pub fn sign_in_as(&self, user: Option<TestUser>) {
        *self.state.user.lock().unwrap() = user;
    }

    /// Makes the token endpoint hand out bad ID tokens.
    pub fn tamper(&self, tamper: Tamper) {
        *self.state.tamper.lock().unwrap() = tamper;
    }

    /// Rotates the signing key: tokens are signed with a new key (new `kid`), and the
    /// JWKS lists both, as an idp does during a rollover.
    pub fn rotate_key(&self) {
        self.state.rotated.store(true, Ordering::SeqCst);
    }

    /// The query of the last authorization request.
    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.state.last_authorize.lock().unwrap().clone()
    }

    /// How often discovery was fetched.
    pub fn discoveries(&self) -> usize {
        self.state.discoveries.load(Ordering::SeqCst)
    }

    /// How often the token endpoint was called.
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    /// How often the userinfo endpoint was called.
    pub fn userinfo_requests(&self) -> usize {
        self.state.userinfo_requests.load(Ordering::SeqCst)
    }

    /// Makes userinfo answer 503 (`true`) or work again (`false`).
    pub fn userinfo_down(&self, down: bool) {
        self.state.userinfo_down.store(down, Ordering::SeqCst);
    }
}

/// `GET /idp/userinfo`: the preset user's claims now, for the access token this OP issues.
async fn userinfo(State(op): State<Arc<OpState>>, headers: HeaderMap) -> Response {
    op.userinfo_requests.fetch_add(1, Ordering::SeqCst);
    if op.userinfo_down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let user = op.user.lock().unwrap().clone();
    match (bearer, user) {
        (Some("test-access-token"), Some(u)) => axum::Json(serde_json::json!({
            "sub": u.sub, "name": u.name, "email": u.email, "role": u.role,
            "rights": u.rights, "office": u.office, "head_office": u.head_office,
        }))
        .into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn discovery(State(op): State<Arc<OpState>>) -> Response {
    op.discoveries.fetch_add(1, Ordering::SeqCst);
    let url = |p: &str| format!("{}{p}", op.issuer);
    let metadata = ProviderMetadataWithLogout::new(
        IssuerUrl::new(op.issuer.clone()).unwrap(),
        AuthUrl::new(url("/authorize")).unwrap(),
        JsonWebKeySetUrl::new(url("/jwks")).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        LogoutProviderMetadata {
            end_session_endpoint: Some(EndSessionUrl::new(url("/end_session")).unwrap()),
            additional_metadata: EmptyAdditionalProviderMetadata {},
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token")).unwrap()))
    .set_userinfo_endpoint(Some(
        openidconnect::UserInfoUrl::new(url("/userinfo")).unwrap(),
    ));
    axum::Json(metadata).into_response()
}

async fn jwks(State(op): State<Arc<OpState>>) -> Response {
    let mut keys = vec![op.key.as_verification_key()];
    if op.rotated.load(Ordering::SeqCst) {
        keys.push(op.next_key.as_verification_key());
    }
    axum::Json(CoreJsonWebKeySet::new(keys)).into_response()
}

async fn authorize(
    State(op): State<Arc<OpState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    *op.last_authorize.lock().unwrap() = q.clone();
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let registered = op.clients.lock().unwrap().get(&get("client_id")).cloned();
    // RFC 6749 §4.1.2.1: a bad client or redirect_uri gets an error page, no redirect.
    let Some((_, redirect_uri)) = registered.filter(|(_, r)| *r == get("redirect_uri")) else {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    };
    let mut back = url::Url::parse(&redirect_uri).unwrap();
    let user = op.user.lock().unwrap().clone();
    {
        let mut pairs = back.query_pairs_mut();
        match user {
            _ if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() => {
                pairs.append_pair("error", "invalid_request");
            }
            None => {
                pairs.append_pair("error", "login_required");
            }
            Some(user) => {
                let code = CookieValue::generate().unwrap().secret().to_owned();
                op.grants.lock().unwrap().insert(
                    code.clone(),
                    Grant {
                        client_id: get("client_id"),
                        redirect_uri: redirect_uri.clone(),
                        nonce: get("nonce"),
                        challenge: get("code_challenge"),
                        user,
                    },
                );
                pairs.append_pair("code", &code);
            }
        }
        pairs.append_pair("state", &get("state"));
        pairs.append_pair("iss", &op.issuer);
    }
    Redirect::to(back.as_str()).into_response()
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn oauth_error(code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "error": code })),
    )
        .into_response()
}

async fn token(
    State(op): State<Arc<OpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    op.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some((client_id, secret)) = basic_auth(&headers) else {
        return oauth_error("invalid_client");
    };
    let registered = op.clients.lock().unwrap().get(&client_id).cloned();
    if registered.is_none_or(|(s, _)| s != secret) {
        return oauth_error("invalid_client");
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return oauth_error("unsupported_grant_type");
    }
    let Some(grant) = op.grants.lock().unwrap().remove(&get("code")) else {
        return oauth_error("invalid_grant");
    };
    let verifier = PkceCodeVerifier::new(get("code_verifier"));
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
    if grant.client_id != client_id
        || grant.redirect_uri != get("redirect_uri")
        || challenge.as_str() != grant.challenge
    {
        return oauth_error("invalid_grant");
    }
    let tamper = *op.tamper.lock().unwrap();
    let id_token = id_token(&op, &grant, tamper);
    axum::Json(serde_json::json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

fn id_token(op: &OpState, grant: &Grant, tamper: Tamper) -> String {
    let now = chrono::Utc::now();
    let exp = match tamper {
        Tamper::Expired => now - chrono::Duration::minutes(1),
        _ => now + chrono::Duration::minutes(5),
    };
    let issuer = match tamper {
        Tamper::WrongIssuer => "http://evil.example/idp".to_owned(),
        _ => op.issuer.clone(),
    };
    let audience = match tamper {
        Tamper::WrongAudience => "another-client".to_owned(),
        _ => grant.client_id.clone(),
    };
    let nonce = match tamper {
        Tamper::WrongNonce => "another-nonce".to_owned(),
        _ => grant.nonce.clone(),
    };
    let user = &grant.user;
    let claims = PortalIdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience)],
        exp,
        now,
        StandardClaims::new(SubjectIdentifier::new(user.sub.clone()))
            .set_name(Some(EndUserName::new(user.name.clone()).into()))
            .set_email(Some(EndUserEmail::new(user.email.clone())))
            .set_email_verified(Some(true)),
        PortalClaims {
            role: user.role,
            rights: user.rights.clone(),
            office: user.office.clone(),
            head_office: user.head_office.clone(),
            sid: Some("test-sid".into()),
        },
    )
    .set_nonce(Some(Nonce::new(nonce)))
    .set_auth_method_refs(Some(vec![
        AuthenticationMethodReference::new("pwd".into()),
        AuthenticationMethodReference::new("otp".into()),
    ]));
    let alg = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
    match tamper {
        Tamper::Unsigned => {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
            let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
            format!("{header}.{body}.")
        }
        Tamper::ForeignKey => PortalIdToken::new(claims, &op.foreign_key, alg, None, None)
            .unwrap()
            .to_string(),
        _ if op.rotated.load(Ordering::SeqCst) => {
            PortalIdToken::new(claims, &op.next_key, alg, None, None)
                .unwrap()
                .to_string()
        }
        _ => PortalIdToken::new(claims, &op.key, alg, None, None)
            .unwrap()
            .to_string(),
    }
}

/// One response as a test sees it.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The URL requested.
    pub url: String,
    /// The status code.
    pub status: u16,
    /// The `Location` header, resolved against `url`.
    pub location: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// The `Cache-Control` header.
    pub cache_control: Option<String>,
    /// The body as text.
    pub body: String,
}

/// A browser for tests: keeps cookies, follows redirects only when asked, one hop at a
/// time, so that every hop can be checked.
pub struct Browser {
    client: reqwest::Client,
    base_url: String,
}

impl Browser {
    /// A fresh browser (no cookies) for the app at `base_url`.
    pub fn new(base_url: &str) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http") {
            url.to_owned()
        } else {
            format!("{}{url}", self.base_url)
        }
    }

    async fn hop(url: String, response: reqwest::Response) -> Hop {
        let headers = response.headers().clone();
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = text(header::LOCATION).map(|l| {
            url::Url::parse(&url)
                .and_then(|base| base.join(&l))
                .map(|u| u.to_string())
                .unwrap_or(l)
        });
        Hop {
            status: response.status().as_u16(),
            location,
            set_cookies: headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect(),
            cache_control: text(header::CACHE_CONTROL),
            body: response.text().await.unwrap(),
            url,
        }
    }

    /// `GET` one URL (absolute, or a path of the app).
    pub async fn get(&self, url: &str) -> Hop {
        let url = self.absolute(url);
        let response = self.client.get(&url).send().await.unwrap();
        Self::hop(url, response).await
    }

    /// `POST` an empty form to one URL.
    pub async fn post(&self, url: &str) -> Hop {
        let url = self.absolute(url);
        let response = self
            .client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        Self::hop(url, response).await
    }

    /// `GET` `url` and follow redirects (at most 10); returns every hop, the page last.
    pub async fn visit(&self, url: &str) -> Vec<Hop> {
        let mut hops = vec![self.get(url).await];
        while let Some(next) = hops.last().and_then(|h| h.location.clone()) {
            assert!(hops.len() < 10, "redirect loop: {hops:#?}");
            hops.push(self.get(&next).await);
        }
        hops
    }
}
