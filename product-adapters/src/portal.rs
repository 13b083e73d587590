//! What every product portal shares: its state (registry entry, relying party, templates),
//! the rights guard in front of every adapter route, and the start page.
//!
//! The guard is the only way into an adapter's pages, so a route cannot forget the check
//! (deny by default): a handler gets the user only through [`PortalUser`], which the guard
//! alone provides.

use std::sync::Arc;

use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use product_registry::Product;
use relying_party::{RelyingParty, SignedInUser};
use serde::Serialize;
use web_kit::Templates;

use crate::adapter::{Context, ProductAdapter};
use web_kit::paths::safe_return_to;

/// The state of one product portal's routes.
#[derive(Clone)]
pub struct ProductPortal {
    inner: Arc<Inner>,
}

struct Inner {
    product: Product,
    rp: Arc<RelyingParty>,
    templates: Templates,
    adapter: Arc<dyn ProductAdapter>,
    ctx: Arc<Context>,
    public_url: String,
    /// The products of this portal's dashboard with their adapters.
    dashboard: Vec<(Product, Arc<dyn ProductAdapter>)>,
}

#[derive(Serialize)]
struct PageContext<'a, T: Serialize> {
    product: &'a Product,
    user: &'a SignedInUser,
    logout_action: String,
    dashboard_name: &'static str,
    #[serde(flatten)]
    page: T,
}

impl ProductPortal {
    pub(crate) fn new(
        product: Product,
        rp: Arc<RelyingParty>,
        adapter: Arc<dyn ProductAdapter>,
        ctx: Arc<Context>,
        dashboard: Vec<(Product, Arc<dyn ProductAdapter>)>,
        public_url: String,
    ) -> Self {
        let templates = ctx.templates.clone();
        Self {
            inner: Arc::new(Inner {
                product,
                rp,
                templates,
                adapter,
                ctx,
                public_url,
                dashboard,
            }),
        }
    }

    /// The product's public base URL: `https://portal.example/dip`.
    pub fn public_base(&self) -> String {
        format!("{}{}", self.inner.public_url, self.inner.product.path)
    }

    /// The product's adapter.
    pub fn adapter(&self) -> &dyn ProductAdapter {
        self.inner.adapter.as_ref()
    }

    /// What every adapter works with.
    pub fn context(&self) -> &Context {
        &self.inner.ctx
    }

    /// The registry entries of the products sharing this portal's dashboard (itself
    /// included), in registry order.
    pub fn dashboard_products(&self) -> &[(Product, Arc<dyn ProductAdapter>)] {
        &self.inner.dashboard
    }

    /// The product's registry entry.
    pub fn product(&self) -> &Product {
        &self.inner.product
    }

    /// The product's relying party (its sessions).
    pub fn relying_party(&self) -> &Arc<RelyingParty> {
        &self.inner.rp
    }

    /// Renders one of the portal's pages for `user`, never cached (SECURITY HD-03). The
    /// template gets `product`, `user` and `logout_action`.
    pub fn page(&self, status: StatusCode, template: &str, user: &SignedInUser) -> Response {
        self.render(status, template, user, ())
    }

    /// As [`Self::page`], with the page's own values beside them.
    pub fn render(
        &self,
        status: StatusCode,
        template: &str,
        user: &SignedInUser,
        page: impl Serialize,
    ) -> Response {
        let ctx = PageContext {
            product: self.product(),
            user,
            logout_action: self.inner.rp.logout_action(),
            dashboard_name: self.adapter().dashboard(),
            page,
        };
        let html = self.inner.templates.page(status, template, ctx);
        ([web_kit::headers::no_store()], html).into_response()
    }
}

/// The signed-in user holding the product's right, as checked by the guard for this very
/// request. Extracting it on a route outside the guard fails with 500.
#[derive(Debug, Clone)]
pub struct PortalUser(pub SignedInUser);

impl<S: Send + Sync> FromRequestParts<S> for PortalUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<PortalUser>().cloned().ok_or_else(|| {
            tracing::error!(path = %parts.uri.path(), "a portal route is not behind the rights guard");
            StatusCode::INTERNAL_SERVER_ERROR
        })
    }
}

/// The rights guard (SPEC P1, SECURITY RP-04), run before every adapter route:
/// no session → sign in and come back here; no right → 403 page; else the route runs.
pub(crate) async fn guard(
    State(portal): State<ProductPortal>,
    OriginalUri(uri): OriginalUri,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    let rp = portal.relying_party();
    let user = match rp.current_user(&jar).await {
        Ok(user) => user,
        Err(e) => return rp.failure(e).into_response(),
    };
    let Some(user) = user else {
        // Only a GET can be repeated after sign-in; anything else starts at the home page.
        let wanted = if request.method() == Method::GET {
            uri.path_and_query().map(|p| p.as_str())
        } else {
            None
        };
        let return_to = safe_return_to(wanted, &portal.product().path);
        return rp.sign_in(jar, return_to).await;
    };
    // O6 even when a back-channel logout was lost: the idp must still honour the session.
    match rp.still_valid(&jar).await {
        Ok(true) => {}
        Ok(false) => {
            let return_to = safe_return_to(None, &portal.product().path);
            return rp.sign_in(jar, return_to).await;
        }
        Err(e) => return rp.failure(e).into_response(),
    }
    if !user.has_right(&portal.product().code) {
        tracing::info!(sub = %user.subject, product = %portal.product().code, "no right for this product");
        return portal.page(StatusCode::FORBIDDEN, "portal/forbidden.html", &user);
    }
    request.extensions_mut().insert(PortalUser(user));
    next.run(request).await
}

/// A product's start page: a greeting, the product and the user's office.
pub(crate) async fn home(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
) -> Response {
    portal.page(StatusCode::OK, "portal/home.html", &user)
}
