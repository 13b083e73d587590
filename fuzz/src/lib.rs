//! What the fuzz targets share: one tokio runtime, the identity provider on a throw-away
//! SQLite database with the clients the targets talk to, and a relying party in front of
//! the test OP. Each is built once per fuzzing process, on first use; every input then
//! runs against the same instance, as requests run against one server.
//!
//! Nothing here decides what an input means: the targets call the portal's own parsers
//! and handlers. This crate only gives them something to run against, and the keys to
//! sign tokens that those parsers must accept or refuse.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use idp::Idp;
use idp::config::{RawSettings, Settings};
use idp::store::clients::{self, Client};
use product_registry::Registry;
use relying_party::test_op::TestOp;
use relying_party::{MemorySessionStore, RelyingParty, RpSettings};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// With `FUZZ_TRACE=1` in the environment, prints what a target did with an input (which
/// consumer accepted or refused it, and why), to see how deep inputs reach or to read a
/// crash input's story. Silent otherwise.
pub fn trace(what: std::fmt::Arguments<'_>) {
    static ON: OnceLock<bool> = OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some_and(|v| v == "1")) {
        eprintln!("{what}");
    }
}

/// The runtime every target's async code runs on: one worker thread (the machine running
/// CI has two cores, and libFuzzer's own loop runs on the calling thread).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Runs `f` to completion on [`runtime`].
pub fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A directory of its own for this process under the temporary directory (`fuzz/run`
/// points `TMPDIR` into `fuzz/target`, so nothing is left in `/tmp`).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portal-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A confidential client of the code flow, with refresh tokens and a post-logout URI.
pub const WEB_CLIENT: &str = "fuzz-web";
/// Its secret.
pub const WEB_SECRET: &str = "fuzz-web-secret-0123456789abcdefghijklmnop";
/// Its one redirect URI.
pub const WEB_REDIRECT: &str = "https://rp.example/cb";
/// Its post-logout redirect URI.
pub const WEB_AFTER_LOGOUT: &str = "https://rp.example/na-afmelden";
/// A service client (client credentials only).
pub const SERVICE_CLIENT: &str = "fuzz-service";
/// Its secret.
pub const SERVICE_SECRET: &str = "fuzz-service-secret-0123456789abcdefghijkl";
/// A client that authenticates with `private_key_jwt`, with [`CLIENT_KEY_PEM`]'s public key.
pub const KEY_CLIENT: &str = "fuzz-keys";

/// The private key of [`KEY_CLIENT`]: the test OP's "foreign" test-only key, so that a target
/// can sign client assertions the provider must accept.
pub const CLIENT_KEY_PEM: &str =
    include_str!("../../relying-party/src/test_op/test-only-foreign-key.pem");
/// The test OP's signing key (`kid` `test-key`), so that a target can sign ID tokens and
/// logout tokens the relying party must accept.
pub const OP_KEY_PEM: &str = include_str!("../../relying-party/src/test_op/test-only-op-key.pem");
/// The `kid` the test OP publishes [`OP_KEY_PEM`] under.
pub const OP_KID: &str = "test-key";

/// The identity provider, opened on its own SQLite file, with the fuzzing clients.
pub struct Provider {
    /// The opened provider (its state holds the keys, database and settings).
    pub idp: Idp,
    /// Its routes, as the portal mounts them.
    pub router: Router,
    /// `iss` of its tokens.
    pub issuer: String,
    /// The path its routes live under (`/idp`).
    pub path: String,
}

impl Provider {
    /// Sends one request through the provider's routes and reads the whole answer.
    pub fn call(&self, request: Request<Body>) -> (Response<()>, Vec<u8>) {
        block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes().to_vec())
                .unwrap_or_default();
            (Response::from_parts(parts, ()), bytes)
        })
    }

    /// The absolute path of one of the provider's routes.
    pub fn route(&self, route: &str) -> String {
        format!("{}{route}", self.path)
    }
}

/// The provider, opened on first use.
pub fn provider() -> &'static Provider {
    static P: OnceLock<Provider> = OnceLock::new();
    P.get_or_init(|| block_on(open_provider()))
}

async fn open_provider() -> Provider {
    let dir = scratch_dir("idp");
    let settings = Settings::from_raw(RawSettings {
        database_url: format!("sqlite://{}?mode=rwc", dir.join("portal.db").display()),
        data_dir: dir.display().to_string(),
        master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ..RawSettings::default()
    })
    .expect("fuzzing settings");
    let issuer = settings.issuer.clone();
    let path = settings.issuer_path.clone();
    let idp = Idp::open(
        settings,
        Registry::builtin().expect("the built-in registry"),
    )
    .await
    .expect("the provider opens");
    let now = idp.state.now();
    let client_jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_rsa_pem(CLIENT_KEY_PEM.as_bytes()).expect("PEM"),
        jsonwebtoken::Algorithm::RS256,
    )
    .expect("a JWK");
    let jwks = serde_json::json!({ "keys": [client_jwk] }).to_string();
    let base = Client {
        client_id: String::new(),
        name: "fuzz".into(),
        secret_hash: None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        require_pkce: true,
        grant_types: vec![],
        jwks: None,
        id_token_alg: "RS256".into(),
        access_token_alg: "RS256".into(),
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
    };
    for client in [
        Client {
            client_id: WEB_CLIENT.into(),
            secret_hash: Some(idp::crypto::token_hash(WEB_SECRET)),
            redirect_uris: vec![WEB_REDIRECT.into()],
            post_logout_redirect_uris: vec![WEB_AFTER_LOGOUT.into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..base.clone()
        },
        Client {
            client_id: SERVICE_CLIENT.into(),
            secret_hash: Some(idp::crypto::token_hash(SERVICE_SECRET)),
            grant_types: vec!["client_credentials".into()],
            ..base.clone()
        },
        Client {
            client_id: KEY_CLIENT.into(),
            jwks: Some(jwks),
            grant_types: vec!["client_credentials".into()],
            ..base.clone()
        },
    ] {
        clients::upsert(&idp.state.db, &client, now)
            .await
            .expect("a fuzzing client is stored");
    }
    idp.state.clients.changed();
    let router = idp.router();
    Provider {
        idp,
        router,
        issuer,
        path,
    }
}

/// The relying party's client id at the test OP.
pub const RP_CLIENT: &str = "dip";
/// The relying party's session cookie.
pub const RP_COOKIE: &str = "dip_sessie";

/// A relying party (as the DIP portal runs it) in front of a running test OP.
pub struct RelyingSide {
    /// The test OP: serves discovery and the JWKS holding [`OP_KEY_PEM`]'s public key.
    pub op: TestOp,
    /// The relying party.
    pub rp: RelyingParty,
    /// Its session store, for planting a session.
    pub store: Arc<MemorySessionStore>,
}

/// The relying party and its test OP, started on first use.
pub fn relying_side() -> &'static RelyingSide {
    static R: OnceLock<RelyingSide> = OnceLock::new();
    R.get_or_init(|| {
        // The OP's server task must live on the shared runtime, not a temporary one.
        let op = block_on(TestOp::start());
        let settings = RpSettings {
            issuer: op.issuer.clone(),
            client_id: RP_CLIENT.into(),
            client_secret: "dip-secret".into(),
            redirect_uri: format!("{}/dip/auth/callback", op.base_url),
            post_logout_redirect_uri: Some(format!("{}/", op.base_url)),
            cookie_name: RP_COOKIE.into(),
            cookie_path: "/dip".into(),
            secure_cookies: false,
            scopes: relying_party::DEFAULT_SCOPES.into(),
            session_lifetime: relying_party::DEFAULT_SESSION_LIFETIME,
        };
        let store = Arc::new(MemorySessionStore::new());
        let templates = web_kit::Templates::load().expect("templates");
        let rp = RelyingParty::with_store(&settings, templates, store.clone())
            .expect("relying-party settings");
        RelyingSide { op, rp, store }
    })
}
