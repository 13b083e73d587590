//! The product portals as plugins (SPEC §1, "Products are plugins").
//!
//! A product is a registry entry (`config/products.toml`) plus a [`ProductAdapter`]. This
//! crate mounts every registered product that has an adapter at its registry `path`, each
//! as its own OIDC relying party (client id from the registry) with its own session
//! cookie, and puts every adapter route behind one rights guard: signed out → sign in
//! (silent while the idp session lasts), signed in without the product's right → 403
//! (SPEC P1), otherwise the adapter's page. Rights are read from the session's claims on
//! every request (SECURITY RP-04).
//!
//! It owns the portals' pages and data: quotes priced by the `pricing` engine from the
//! tariff files (SPEC §7, P5), their PDFs, the applications made from them, the
//! dashboards (P4) and product mail (P2, P3), in its own tables (`migrations/products/`).
//! It never changes users, offices or rights: those belong to the idp, which it asks only
//! for the signed-in person's own office (`GET /api/v1/me/office`).

mod adapter;
pub mod application;
pub mod demo;
mod dil;
mod dip;
pub mod document;
pub mod example;
pub mod forms;
mod hints;
mod internal;
pub mod letterhead;
pub mod mail;
mod orv;
mod pages;
mod portal;
pub mod scope;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use pricing::Tariffs;
use product_registry::{Registry, RightCode};
use relying_party::{
    BACKCHANNEL_PATH, CALLBACK_PATH, DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, EVENTS_PATH,
    LOGOUT_PATH, RelyingParty, RpError, RpSettings,
};
use tokio::sync::Notify;
use uuid::Uuid;
use web_kit::Templates;

pub use adapter::{Context, DashboardRow, Described, Priced, ProductAdapter, QuoteLookupError};
pub use portal::{PortalUser, ProductPortal};

use crate::letterhead::Letterheads;
use crate::mail::{ProductMailer, Transport};
use crate::store::ProductDb;

/// The adapters shipped with the portal: DIP, DIL, ORV, and the example of a fourth
/// product ([`example::Uitvaart`], `UVZ`), mounted only when the registry names it.
pub fn builtin_adapters() -> Vec<Arc<dyn ProductAdapter>> {
    vec![
        Arc::new(dip::Dip),
        Arc::new(dil::Dil),
        Arc::new(orv::Orv),
        Arc::new(example::Uitvaart),
    ]
}

/// Every route of one product portal with its methods, relative to the product's path, for
/// the whole-portal header test (SECURITY HD-02): the pages behind the rights guard
/// ([`guarded_routes`]), the O7 endpoint ([`open_routes`]) and the relying party's. A unit
/// test fails when these and the routers disagree, also when an adapter brings routes of
/// its own ([`ProductAdapter::routes`]; no shipped adapter does).
pub const ROUTES: web_kit::headers::RouteTable = &[
    ("GET", "/"),
    ("GET", "/offertes/nieuw"),
    ("POST", "/offertes/nieuw"),
    ("GET", "/offertes/{id}"),
    ("GET", "/offertes/{id}/pdf"),
    ("GET", "/offertes/{id}/aanvraag"),
    ("POST", "/offertes/{id}/aanvraag"),
    ("GET", "/dashboard"),
    ("GET", "/internal/quotes"),
    ("GET", CALLBACK_PATH),
    ("POST", LOGOUT_PATH),
    ("POST", BACKCHANNEL_PATH),
    ("POST", EVENTS_PATH),
];

/// The pages of one product that sit behind its rights guard, relative to its path, before
/// the guard and state are applied: the standard ones and the adapter's own.
pub fn guarded_routes(adapter: &dyn ProductAdapter) -> Router<ProductPortal> {
    pages::routes().merge(adapter.routes())
}

/// The routes of one product outside the rights guard: O7 for an idp in another process,
/// where no person signs in; it is authenticated by the idp's signed question instead.
pub fn open_routes() -> Router<ProductPortal> {
    Router::new().route("/internal/quotes", axum::routing::get(internal::quotes))
}

/// What the product portals need to know about their surroundings.
#[derive(Clone)]
pub struct PortalSettings {
    /// The portal's public base URL without a trailing slash, e.g.
    /// `http://127.0.0.1:8080`. A product at `/dip` registers the redirect URI
    /// `{public_url}/dip/auth/callback` and the post-logout redirect URI `{public_url}/`.
    pub public_url: String,
    /// The idp's issuer URL, e.g. `http://127.0.0.1:8080/idp`.
    pub issuer: String,
    /// Mark cookies `Secure` (off only for a plain-http development address).
    pub secure_cookies: bool,
    /// Client secrets by client id (the registry's `client_id`s).
    pub client_secrets: BTreeMap<String, String>,
    /// The idp's admin API, e.g. `http://127.0.0.1:8080/api/v1` (the letterhead route).
    pub api_url: String,
    /// The products' database (`sqlite://…` or `postgres://…`); may be the idp's.
    pub database_url: String,
    /// Where the tariff files are (`dip.toml`, `dil.toml`, `orv.toml`); a missing file
    /// means the shipped tariff of that product.
    pub tariff_dir: PathBuf,
    /// The SMTP server for product mail; `None` writes `.eml` files into `mail_dir`.
    pub smtp_url: Option<String>,
    /// Where `.eml` files go without SMTP.
    pub mail_dir: PathBuf,
    /// The sender of product mail.
    pub mail_from: String,
    /// `None`: the all-in-one portal, which mounts every product with an adapter except
    /// those the registry says run elsewhere (`url`). `Some(code)`: `portal serve --only
    /// code`, which mounts that product alone.
    pub only: Option<String>,
}

impl std::fmt::Debug for PortalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSettings")
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("secure_cookies", &self.secure_cookies)
            .field("api_url", &self.api_url)
            .field("tariff_dir", &self.tariff_dir)
            .field(
                "client_secrets",
                &self.client_secrets.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why the product portals could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// A product with an adapter has no client secret in the settings.
    #[error("no client secret for product client '{0}'")]
    MissingSecret(String),
    /// A relying party's settings are unusable.
    #[error(transparent)]
    RelyingParty(#[from] RpError),
    /// The products' database could not be opened or migrated.
    #[error("products' database: {0}")]
    Store(#[from] store::StoreError),
    /// A tariff file is unusable.
    #[error("tariff: {0}")]
    Tariff(#[from] pricing::TariffError),
    /// Product mail cannot be sent as configured.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// The idp's letterhead route cannot be used.
    #[error(transparent)]
    Letterhead(#[from] letterhead::LetterheadError),
    /// The sender address is malformed.
    #[error("PORTAL_MAIL_FROM: {0}")]
    MailFrom(String),
}

impl PortalSettings {
    /// The relying-party settings of the product at `path` signing in as `client_id`.
    pub fn relying_party(&self, client_id: &str, path: &str) -> Result<RpSettings, PortalError> {
        let base = self.public_url.trim_end_matches('/');
        let secret = self
            .client_secrets
            .get(client_id)
            .ok_or_else(|| PortalError::MissingSecret(client_id.to_owned()))?;
        let cookie_stem = path.trim_start_matches('/').replace('-', "_");
        Ok(RpSettings {
            issuer: self.issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: secret.clone(),
            redirect_uri: format!("{base}{path}{CALLBACK_PATH}"),
            post_logout_redirect_uri: Some(format!("{base}/")),
            cookie_name: format!("{cookie_stem}_sessie"),
            cookie_path: path.to_owned(),
            secure_cookies: self.secure_cookies,
            // offline_access: the portal refreshes its access token to ask the idp for the
            // office's letterhead (P2); a refused refresh ends the session (O6).
            scopes: format!("{DEFAULT_SCOPES} offline_access"),
            session_lifetime: DEFAULT_SESSION_LIFETIME,
        })
    }
}

/// The product portals of one process: their shared context, adapters and routes.
pub struct Portals {
    ctx: Arc<Context>,
    adapters: Vec<Arc<dyn ProductAdapter>>,
    router: Router,
    mailer: ProductMailer,
}

impl Portals {
    /// Opens the products' database (migrating it), loads the tariffs and mounts every
    /// registered product that has one of `adapters` at its registry `path`, each as its
    /// own OIDC relying party. The registry decides what exists: a product without an
    /// adapter is not mounted here (it may be served elsewhere), and an adapter whose code
    /// the registry lacks is ignored.
    pub async fn start(
        adapters: Vec<Arc<dyn ProductAdapter>>,
        settings: &PortalSettings,
        registry: &Registry,
        templates: &Templates,
    ) -> Result<Self, PortalError> {
        let db = ProductDb::connect(&settings.database_url).await?;
        db.migrate().await?;
        Self::start_on(db, adapters, settings, registry, templates).await
    }

    /// [`Portals::start`] on a database opened and migrated already (the all-in-one portal
    /// opens it while the idp starts, so that the two connections are made side by side).
    pub async fn start_on(
        db: ProductDb,
        adapters: Vec<Arc<dyn ProductAdapter>>,
        settings: &PortalSettings,
        registry: &Registry,
        templates: &Templates,
    ) -> Result<Self, PortalError> {
        let tariffs = Tariffs::load_dir(&settings.tariff_dir)?;
        let mail_waker = Arc::new(Notify::new());
        let ctx = Arc::new(Context {
            db: db.clone(),
            tariffs,
            letterheads: Letterheads::new(&settings.api_url)?,
            templates: templates.clone(),
            mail_waker: mail_waker.clone(),
        });
        let from = settings
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| PortalError::MailFrom(e.to_string()))?;
        let transport = Transport::new(settings.smtp_url.as_deref(), settings.mail_dir.clone())
            .map_err(mail::MailError::from)?;
        let mailer = ProductMailer::new(db, transport, from, mail_waker);
        let (router, adapters) = mount(&adapters, &ctx, settings, registry)?;
        Ok(Self {
            ctx,
            adapters,
            router,
            mailer,
        })
    }

    /// Every portal's routes.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The worker delivering product mail; spawn it once per process.
    pub fn mailer(&self) -> ProductMailer {
        self.mailer.clone()
    }

    /// The shared context (tests, the demo seed).
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The adapter of right `code` mounted here, if any.
    pub fn adapter(&self, code: &str) -> Option<Arc<dyn ProductAdapter>> {
        self.adapters.iter().find(|a| a.code() == code).cloned()
    }

    /// O7 for product `code`: `Err` when no adapter here can say.
    pub async fn has_quotes(&self, code: &str, office_id: Uuid) -> Result<bool, QuoteLookupError> {
        let adapter = self
            .adapter(code)
            .ok_or_else(|| QuoteLookupError("no adapter for this product here".into()))?;
        adapter.has_quotes(&self.ctx, office_id).await
    }
}

/// Mounts the products that run here; returns their routes and their adapters.
fn mount(
    adapters: &[Arc<dyn ProductAdapter>],
    ctx: &Arc<Context>,
    settings: &PortalSettings,
    registry: &Registry,
) -> Result<(Router, Vec<Arc<dyn ProductAdapter>>), PortalError> {
    let mut app = Router::new();
    let mut mounted = Vec::new();
    for adapter in adapters {
        let known = RightCode::parse(adapter.code())
            .ok()
            .and_then(|code| registry.get(&code));
        if known.is_none() {
            tracing::info!(
                code = adapter.code(),
                "adapter for a product the registry does not name; not mounted"
            );
        }
    }
    let with_adapter = |code: &str| adapters.iter().find(|a| a.code() == code).cloned();
    let runs_here = |product: &product_registry::Product| match &settings.only {
        Some(code) => product.code.as_str() == code,
        None => product.url.is_none(),
    };
    for product in registry.products() {
        if !runs_here(product) {
            tracing::info!(code = %product.code, "this product runs elsewhere; not mounted");
            continue;
        }
        let Some(adapter) = with_adapter(product.code.as_str()) else {
            tracing::info!(code = %product.code, "no adapter for this product here; not mounted");
            continue;
        };
        let rp = Arc::new(RelyingParty::new(
            &settings.relying_party(&product.client_id, &product.path)?,
            ctx.templates.clone(),
        )?);
        let dashboard = registry
            .products()
            .iter()
            .filter(|p| runs_here(p))
            .filter_map(|p| {
                let a = with_adapter(p.code.as_str())?;
                (a.dashboard() == adapter.dashboard()).then(|| (p.clone(), a))
            })
            .collect();
        let portal = ProductPortal::new(
            product.clone(),
            rp.clone(),
            adapter.clone(),
            ctx.clone(),
            dashboard,
            settings.public_url.trim_end_matches('/').to_owned(),
        );
        let pages = guarded_routes(adapter.as_ref())
            .route_layer(middleware::from_fn_with_state(
                portal.clone(),
                portal::guard,
            ))
            .merge(open_routes())
            .with_state(portal);
        // `nest_service` serves both `/dip` and `/dip/` as the adapter's `/`; `nest` would
        // leave `/dip/` unrouted.
        app = app.nest_service(&product.path, pages.merge(rp.routes()));
        mounted.push(adapter);
    }
    Ok((app, mounted))
}

#[cfg(test)]
mod route_table_tests {
    use super::*;

    /// The table the header test walks is the routers' own (SECURITY HD-02), for every
    /// shipped adapter.
    #[test]
    fn the_route_table_lists_every_route() -> Result<(), Box<dyn std::error::Error>> {
        let rp = Arc::new(RelyingParty::new(
            &RpSettings {
                issuer: "http://127.0.0.1:8080/idp".into(),
                client_id: "dip".into(),
                client_secret: "a-secret-for-the-route-table-test-0123456789".into(),
                redirect_uri: format!("http://127.0.0.1:8080/dip{CALLBACK_PATH}"),
                post_logout_redirect_uri: None,
                cookie_name: "dip_sessie".into(),
                cookie_path: "/dip".into(),
                secure_cookies: false,
                scopes: DEFAULT_SCOPES.into(),
                session_lifetime: DEFAULT_SESSION_LIFETIME,
            },
            Templates::load()?,
        )?);
        for adapter in builtin_adapters() {
            let mut served = web_kit::headers::route_paths(
                &guarded_routes(adapter.as_ref()).merge(open_routes()),
            );
            served.extend(web_kit::headers::route_paths(&rp.routes()));
            assert_eq!(
                web_kit::headers::compare_route_table(&served, ROUTES),
                Ok(()),
                "{}",
                adapter.code()
            );
        }
        Ok(())
    }
}
