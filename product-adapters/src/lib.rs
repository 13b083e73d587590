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
//! It owns the portals' pages and, from issue 7 on, their quotes, applications and
//! dashboards. It never changes users, offices or rights: those belong to the idp.

mod dil;
mod dip;
mod orv;
mod portal;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use product_registry::{Registry, RightCode};
use relying_party::{
    CALLBACK_PATH, DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, RelyingParty, RpError, RpSettings,
};
use uuid::Uuid;
use web_kit::Templates;

pub use portal::{PortalUser, ProductPortal};

/// The contract every product implements to plug into the portal.
///
/// An adapter is found by its registry code; the registry entry supplies name, path and
/// OIDC client, so an adapter holds no configuration of its own. Everything an adapter's
/// routes serve is reached only through the rights guard, which puts the signed-in user in
/// the request ([`PortalUser`]).
///
/// # What issue 7 adds to this contract
/// Quote existence (SPEC O7) is [`ProductAdapter::has_quotes`], answering "no" until an
/// adapter holds quotes. These are deliberately not here yet, rather than stubbed; each is
/// a method every adapter must then implement:
/// - **Dashboard rows (SPEC P4)**: the quotes and applications of an office tree, for the
///   DIL/DIP dashboard and the ORV list.
/// - **Back-channel logout (SECURITY RP-03)**: a receiver at `{path}/auth/backchannel-logout`
///   that ends the sessions of a `sid` (kept in every session today).
/// - **Rights events**: a receiver that ends or narrows sessions when the idp changes a
///   user's or an office's rights (SPEC O6), so a change need not wait for the session to
///   expire.
pub trait ProductAdapter: Send + Sync + 'static {
    /// The right code of the registry entry this adapter serves, e.g. `DIP`.
    fn code(&self) -> &'static str;

    /// The adapter's pages, relative to the product's path (`/` is the product's start
    /// page). All of them are behind the rights guard.
    fn routes(&self) -> Router<ProductPortal>;

    /// **Quote existence (SPEC O7)**: whether `office_id` (or one of its users) ever made a
    /// quote in this product, asked by the idp before it deletes a sub-office. `Err` means
    /// "cannot say" and refuses the deletion (fail closed).
    ///
    /// The default answers "no": the adapters hold no quotes yet (issue 7). An adapter that
    /// stores quotes must override it.
    fn has_quotes(&self, office_id: Uuid) -> Result<bool, QuoteLookupError> {
        let _ = office_id;
        Ok(false)
    }
}

/// A product could not say whether an office holds quotes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QuoteLookupError(pub String);

/// The adapters shipped with the portal.
pub fn builtin_adapters() -> Vec<Box<dyn ProductAdapter>> {
    vec![Box::new(dip::Dip), Box::new(dil::Dil), Box::new(orv::Orv)]
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
}

impl std::fmt::Debug for PortalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSettings")
            .field("public_url", &self.public_url)
            .field("issuer", &self.issuer)
            .field("secure_cookies", &self.secure_cookies)
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
            scopes: DEFAULT_SCOPES.to_owned(),
            session_lifetime: DEFAULT_SESSION_LIFETIME,
        })
    }
}

/// The built-in adapters mounted for every registry product that has one.
pub fn router(
    settings: &PortalSettings,
    registry: &Registry,
    templates: &Templates,
) -> Result<Router, PortalError> {
    router_with(builtin_adapters(), settings, registry, templates)
}

/// As [`router`], with a chosen set of adapters (a new product, or a test). The registry
/// decides what exists: a product without an adapter is not mounted here (it may be served
/// elsewhere), and an adapter whose code the registry lacks is ignored.
pub fn router_with(
    adapters: Vec<Box<dyn ProductAdapter>>,
    settings: &PortalSettings,
    registry: &Registry,
    templates: &Templates,
) -> Result<Router, PortalError> {
    let mut app = Router::new();
    for adapter in &adapters {
        let known = RightCode::parse(adapter.code())
            .ok()
            .and_then(|code| registry.get(&code));
        if known.is_none() {
            tracing::warn!(
                code = adapter.code(),
                "adapter for a product the registry lacks; not mounted"
            );
        }
    }
    for product in registry.products() {
        let Some(adapter) = adapters.iter().find(|a| a.code() == product.code.as_str()) else {
            tracing::info!(code = %product.code, "no adapter for this product here; not mounted");
            continue;
        };
        let rp = Arc::new(RelyingParty::new(
            &settings.relying_party(&product.client_id, &product.path)?,
            templates.clone(),
        )?);
        let portal = ProductPortal::new(product.clone(), rp.clone(), templates.clone());
        let pages = adapter
            .routes()
            .route_layer(middleware::from_fn_with_state(
                portal.clone(),
                portal::guard,
            ))
            .with_state(portal);
        // `nest_service` serves both `/dip` and `/dip/` as the adapter's `/`; `nest` would
        // leave `/dip/` unrouted.
        app = app.nest_service(&product.path, pages.merge(rp.routes()));
    }
    Ok(app)
}
