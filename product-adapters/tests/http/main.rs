//! HTTP tests of the product portals against the relying party's test OP: the whole
//! sign-in over real sockets, the rights guard (SPEC P1) and the RP checks (SECURITY
//! RP-01, RP-02).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod events;
mod guard;
mod sign_in;

use std::collections::BTreeMap;

use product_adapters::{PortalError, PortalSettings, Portals, builtin_adapters};
use product_registry::Registry;
use relying_party::test_op::{TestOp, TestUser};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use web_kit::Templates;

/// The portals on one port and a test OP on another, clients registered.
pub struct App {
    pub url: String,
    pub op: TestOp,
    server: JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub fn settings(public_url: &str, issuer: &str, registry: &Registry) -> PortalSettings {
    PortalSettings {
        public_url: public_url.into(),
        issuer: issuer.into(),
        secure_cookies: false,
        client_secrets: registry
            .products()
            .iter()
            .map(|p| (p.client_id.clone(), format!("geheim-{}", p.client_id)))
            .collect::<BTreeMap<_, _>>(),
        api_url: format!("{issuer}/api/v1"),
        database_url: format!(
            "sqlite://{}/portal-http-{}.db",
            std::env::temp_dir().display(),
            uuid::Uuid::now_v7()
        ),
        tariff_dir: "config/tariffs".into(),
        smtp_url: None,
        mail_dir: std::env::temp_dir().join("portal-http-mail"),
        mail_from: "Offerte Portaal <noreply@offerteportaal.local>".into(),
        only: None,
    }
}

/// The built-in portals' routes for `settings`.
pub async fn router(
    settings: &PortalSettings,
    registry: &Registry,
) -> Result<axum::Router, PortalError> {
    let portals = Portals::start(
        builtin_adapters(),
        settings,
        registry,
        &Templates::load().unwrap(),
    )
    .await?;
    Ok(portals.router())
}

/// Starts the portals of `registry` and an OP that signs in `user`.
pub async fn spawn_with(registry: Registry, user: Option<TestUser>) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let op = TestOp::start().await;
    for p in registry.products() {
        let redirect = format!("{url}{}/auth/callback", p.path);
        op.register_client(&p.client_id, &format!("geheim-{}", p.client_id), &redirect);
    }
    op.sign_in_as(user);
    let app = router(&settings(&url, &op.issuer, &registry), &registry)
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    App { url, op, server }
}

pub async fn spawn(user: Option<TestUser>) -> App {
    spawn_with(Registry::builtin().unwrap(), user).await
}
