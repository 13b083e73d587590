//! `portal serve`: the identity provider, the Offerte Portaal shell and the product
//! portals in one process. The three parts talk over HTTP even here (the portals are
//! OIDC clients of the provider), so each can later run on its own.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use idp::Idp;
use idp::config::Settings;
use idp::quotes::QuoteCheck;
use product_adapters::store::ProductDb;
use product_adapters::{PortalSettings, Portals};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::cli::ServeArgs;
use crate::commands;

/// The client id of the Offerte Portaal shell.
const SHELL_CLIENT: &str = "offerteportaal";

/// A request not answered within this time gets 408, so a slow sender cannot hold a task
/// for ever (SECURITY AV-06).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping process waits for its outbox workers' last pass.
const WORKER_GRACE: Duration = Duration::from_secs(30);

pub async fn run(settings: Settings, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(code) = &args.only {
        return run_only(settings, code, args.client_secret.as_deref()).await;
    }
    let listen = settings.listen;
    let https = settings.https();
    if !https {
        tracing::warn!(
            "the portal is served over plain http ({}): cookies are not marked Secure; use https in production",
            settings.public_url
        );
    }
    let public_url = settings.public_url.clone();
    let issuer = settings.issuer.clone();
    let database = settings.database_url.clone();
    // Start-up waits mostly on database connections (on PostgreSQL each is a TCP, TLS and
    // SCRAM handshake): the products' database is opened and migrated while the idp starts.
    // The first random bytes seed aws-lc's generator (CPU-jitter entropy, tens of ms):
    // done on a blocking thread meanwhile, not later on the start-up path.
    tokio::task::spawn_blocking(|| idp::crypto::random_token().map(drop));
    let products_url = settings.products_database_url.clone();
    let products = tokio::spawn(async move {
        let db = ProductDb::connect(&products_url).await?;
        db.migrate().await?;
        Ok::<_, product_adapters::store::StoreError>(db)
    });
    let idp = commands::open(settings).await?;
    if idp.created_master_key {
        println!(
            "a new master key was written to {}/master.key: keep it safe and back it up; without it the signing keys cannot be read",
            idp.state.settings.data_dir.display()
        );
    }
    let products = products
        .await
        .context("opening the products' database")?
        .context("opening the products' database")?;
    let (app, portals) = build(&idp, products, &public_url, &issuer, https).await?;

    if args.demo {
        let (logins, password) = idp::demo::seed(&idp.state, idp.state.now()).await?;
        println!("Demo data is ready. Every demo account uses the password: {password}");
        for l in logins {
            println!("  {:<32} {}", l.login, l.description);
        }
        let advisors: Vec<_> = idp::demo::advisors(&idp.state)
            .await?
            .into_iter()
            .map(|a| product_adapters::demo::DemoAdvisor {
                advisor: product_adapters::store::quotes::Advisor {
                    id: a.user_id,
                    name: a.name,
                    email: a.email,
                    role: a.role.to_owned(),
                },
                office: product_adapters::store::quotes::OfficeSnapshot {
                    id: a.office_id,
                    head_office_id: a.head_office_id,
                    kind: a.office_kind.to_owned(),
                    number: a.office_number,
                    name: a.office_name,
                    address: a.address,
                    postcode: a.postcode,
                    city: a.city,
                    email: a.office_email,
                    head_office_email: a.head_office_email,
                },
                rights: a.rights,
            })
            .collect();
        let quotes = product_adapters::demo::seed(&portals, &advisors).await?;
        if quotes > 0 {
            println!("  {quotes} demo quotes are in the product portals' dashboards");
        }
    }
    if let Some(link) = idp::provision::setup_link(&idp.state, idp.state.now()).await? {
        println!(
            "No insurer admin exists yet. Create the first one with this one-time link (valid for 24 hours):"
        );
        println!("  {link}");
    }

    let (stop_workers, stop) = tokio::sync::watch::channel(false);
    let workers = [
        idp.mailer.clone().spawn(stop.clone()),
        portals.mailer().spawn(stop),
    ];
    idp.spawn_key_refresh();
    idp.spawn_client_watch();
    idp.spawn_housekeeping();
    idp.spawn_import_resume();
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("setting PORTAL_LISTEN: cannot listen on {listen}"))?;
    let kind = idp.state.db.kind();
    println!(
        "Offerte Portaal listens on {public_url}/ ({kind}: {})",
        redact(&database)
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    stop_outbox_workers(stop_workers, workers).await;
    Ok(ExitCode::SUCCESS)
}

/// Registers the portal's own OIDC clients and assembles every route; the product portals
/// are returned beside the routes so the caller can start their mail worker.
pub async fn build(
    idp: &Idp,
    products: ProductDb,
    public_url: &str,
    issuer: &str,
    https: bool,
) -> anyhow::Result<(Router, Arc<Portals>)> {
    let registry = idp.state.registry.clone();
    let templates = idp.state.templates.clone();
    let shell_secret = idp
        .register_own_client(
            SHELL_CLIENT,
            "Offerte Portaal",
            &format!("{public_url}/auth/callback"),
            &format!("{public_url}/"),
            &format!("{public_url}{}", relying_party::BACKCHANNEL_PATH),
            true,
        )
        .await?;
    // Issue 10: the shell and every product portal here receive rights events (signed
    // security events) at their own events endpoint, and apply them to live sessions.
    idp.set_event_stream(
        SHELL_CLIENT,
        &format!("{public_url}{}", relying_party::EVENTS_PATH),
    )
    .await?;
    let mut client_secrets = BTreeMap::new();
    // A product that runs in a process of its own (`url` in the registry) has its client
    // registered by the operator (`portal client add`), with that process's URIs.
    for p in registry.products().iter().filter(|p| p.url.is_none()) {
        let redirect = format!("{public_url}{}/auth/callback", p.path);
        let secret = idp
            .register_own_client(
                &p.client_id,
                &p.name,
                &redirect,
                &format!("{public_url}/"),
                &format!("{public_url}{}{}", p.path, relying_party::BACKCHANNEL_PATH),
                // Refresh tokens: a portal asks the idp for the office's letterhead (P2)
                // with a fresh access token; a refused refresh ends its session (O6).
                true,
            )
            .await?;
        idp.set_event_stream(
            &p.client_id,
            &format!("{public_url}{}{}", p.path, relying_party::EVENTS_PATH),
        )
        .await?;
        client_secrets.insert(p.client_id.clone(), secret);
    }
    let shell = admin_ui::AdminUi::new(
        &admin_ui::AdminUiSettings {
            public_url: public_url.to_owned(),
            issuer: issuer.to_owned(),
            client_secret: shell_secret,
            secure_cookies: https,
            api_url: format!("{public_url}/api/v1"),
        },
        &registry,
        templates.clone(),
    )?;
    let settings = &idp.state.settings;
    let portals = Arc::new(
        Portals::start_on(
            products,
            product_adapters::builtin_adapters(),
            &PortalSettings {
                public_url: public_url.to_owned(),
                issuer: issuer.to_owned(),
                secure_cookies: https,
                client_secrets,
                api_url: format!("{public_url}/api/v1"),
                database_url: settings.products_database_url.clone(),
                tariff_dir: settings.tariff_dir.clone(),
                smtp_url: settings.smtp_url.clone(),
                mail_dir: settings.data_dir.join("mail"),
                mail_from: settings.mail_from.to_string(),
                only: None,
            },
            &registry,
            &templates,
        )
        .await?,
    );
    idp.set_quote_checks(quote_checks(idp, &registry)?);
    let app = Router::new()
        .merge(idp.router())
        .merge(idp.api_router())
        .merge(shell.router())
        .merge(portals.router());
    Ok((harden(app, https), portals))
}

/// What every process serves besides its parts, and the layers around all of it.
fn harden(app: Router, https: bool) -> Router {
    let app = app
        .merge(web_kit::assets::routes())
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        // Every state-changing request of every part must come from our own pages
        // (Sec-Fetch-Site / Origin, SECURITY SE-07, AU-09); cookies are SameSite as well.
        .layer(tower_http::csrf::CsrfLayer::new())
        // Every part reads bodies through axum extractors, which honour this limit, or
        // through the idp's own (`idp::extract`), which apply the same number and answer 413
        // in their audience's form (a Dutch page, OAuth JSON) instead of tower-http's bare
        // one. A handler that ever reads a raw body stream must apply the limit itself.
        .layer(DefaultBodyLimit::max(web_kit::limits::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    // Every answer carries a request id, and a panic anywhere below is a 500 that names it
    // (HD-03); the security headers go on that answer as on any other.
    web_kit::headers::secure(web_kit::requests::identify(app), https)
}

/// `portal serve --only CODE`: one product portal on its own, against its own database,
/// signing in at the idp named by PORTAL_ISSUER (SPEC §1: each part can run alone).
async fn run_only(
    settings: Settings,
    code: &str,
    client_secret: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let registry = crate::settings::registry(&settings)?;
    let right = product_registry::RightCode::parse(&code.to_ascii_uppercase())
        .with_context(|| format!("--only {code}: not a right code"))?;
    let product = registry
        .get(&right)
        .with_context(|| format!("--only {code}: the product registry has no such product"))?
        .clone();
    let secret = client_secret.with_context(|| {
        format!(
            "--only {}: set PORTAL_CLIENT_SECRET to the secret of client '{}', registered at the idp with `portal client add`",
            product.code, product.client_id
        )
    })?;
    let https = settings.https();
    let public_url = settings.public_url.clone();
    // The idp's admin API lives at the root of the idp's public address, beside its
    // issuer path (`https://idp.example.nl/idp` → `https://idp.example.nl/api/v1`).
    let idp_base = settings
        .issuer
        .strip_suffix(&settings.issuer_path)
        .unwrap_or(&settings.issuer)
        .trim_end_matches('/')
        .to_owned();
    let templates = web_kit::Templates::load()?;
    let portals = Portals::start(
        product_adapters::builtin_adapters(),
        &PortalSettings {
            public_url: public_url.clone(),
            issuer: settings.issuer.clone(),
            secure_cookies: https,
            client_secrets: BTreeMap::from([(product.client_id.clone(), secret.to_owned())]),
            api_url: format!("{idp_base}/api/v1"),
            database_url: settings.products_database_url.clone(),
            tariff_dir: settings.tariff_dir.clone(),
            smtp_url: settings.smtp_url.clone(),
            mail_dir: settings.data_dir.join("mail"),
            mail_from: settings.mail_from.to_string(),
            only: Some(product.code.to_string()),
        },
        &registry,
        &templates,
    )
    .await?;
    portals
        .adapter(product.code.as_str())
        .with_context(|| format!("--only {}: no adapter for this product", product.code))?;
    let (stop_workers, stop) = tokio::sync::watch::channel(false);
    let workers = [portals.mailer().spawn(stop)];
    let app = harden(portals.router(), https);
    let listener = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "setting PORTAL_LISTEN: cannot listen on {}",
            settings.listen
        )
    })?;
    println!(
        "{} listens on {public_url}{}/ (signs in at {}; quotes in {})",
        product.name,
        product.path,
        settings.issuer,
        redact(&settings.products_database_url)
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    stop_outbox_workers(stop_workers, workers).await;
    Ok(ExitCode::SUCCESS)
}

/// After the last request is answered: tells the outbox workers to stop and waits until
/// each has finished the pass under way, so a mail being handed to the SMTP server is
/// marked sent before the process ends. A pass that hangs (an SMTP server that stops
/// answering; lettre gives up after 20 s per mail) is not waited for beyond
/// `WORKER_GRACE`: its claimed rows are then taken up again after their claim lapses.
async fn stop_outbox_workers(
    stop: tokio::sync::watch::Sender<bool>,
    workers: impl IntoIterator<Item = tokio::task::JoinHandle<()>>,
) {
    let _ = stop.send(true);
    let all = async {
        for worker in workers {
            let _ = worker.await;
        }
    };
    match tokio::time::timeout(WORKER_GRACE, all).await {
        Ok(_) => tracing::info!("outbox workers stopped"),
        Err(_) => tracing::warn!(
            "outbox workers still busy after {} s; stopping without them",
            WORKER_GRACE.as_secs()
        ),
    }
}

/// O7: one quote check per registered product, over the product portal's internal
/// endpoint (STYLE: the parts talk over HTTP even in one process, so each can run alone):
/// at the registry's `url` for a portal running elsewhere, else at this process's own
/// listening address. A product that cannot answer (no adapter, not running) makes the
/// deletion fail closed.
fn quote_checks(
    idp: &Idp,
    registry: &product_registry::Registry,
) -> anyhow::Result<Vec<Arc<dyn QuoteCheck>>> {
    let settings = &idp.state.settings;
    let here = own_address(settings.listen);
    registry
        .products()
        .iter()
        .map(|p| -> anyhow::Result<Arc<dyn QuoteCheck>> {
            let url = match &p.url {
                Some(url) => url.clone(),
                None => format!("{here}{}", p.path),
            };
            Ok(Arc::new(idp::quotes::HttpQuoteCheck::new(
                p.code.as_str(),
                &p.client_id,
                &url,
                &settings.issuer,
                idp.state.keys.clone(),
            )?))
        })
        .collect()
}

/// How this process reaches itself: its listening address, with an unspecified address
/// (`0.0.0.0`, `::`) replaced by the loopback address of the same family.
fn own_address(listen: std::net::SocketAddr) -> String {
    let ip = match listen.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => {
            std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        }
        ip => ip,
    };
    format!("http://{}", std::net::SocketAddr::new(ip, listen.port()))
}

/// Hides a password in a database URL for printing.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_process_reaches_itself_on_its_listening_address() {
        let at = |s: &str| own_address(s.parse().unwrap());
        assert_eq!(at("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(at("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(at("[::]:8443"), "http://[::1]:8443");
        assert_eq!(at("10.1.2.3:80"), "http://10.1.2.3:80");
    }
}
