//! HTTP tests of the Offerte Portaal shell against the relying party's test OP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod home;

use admin_ui::{AdminUi, AdminUiSettings};
use product_registry::Registry;
use relying_party::test_op::{TestOp, TestUser};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use web_kit::Templates;

/// The admin UI on one port and a test OP on another, its client registered.
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

pub async fn spawn(user: Option<TestUser>) -> App {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let op = TestOp::start().await;
    op.register_client(
        admin_ui::CLIENT_ID,
        "geheim",
        &format!("{url}/auth/callback"),
    );
    op.sign_in_as(user);
    let settings = AdminUiSettings {
        public_url: url.clone(),
        issuer: op.issuer.clone(),
        client_secret: "geheim".into(),
        secure_cookies: false,
        api_url: format!("{url}/api/v1"),
    };
    let ui = AdminUi::new(
        &settings,
        &Registry::builtin().unwrap(),
        Templates::load().unwrap(),
    )
    .unwrap();
    let app = ui.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    App { url, op, server }
}
