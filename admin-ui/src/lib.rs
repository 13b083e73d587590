//! The "Offerte Portaal" shell: the home page at `/` with the products the signed-in user
//! may use, signed in through the idp as the OIDC client `offerteportaal`.
//!
//! It owns its pages only. Who the user is and what rights they hold come from the
//! relying-party session (the idp's claims); which products exist comes from the product
//! registry. It names no product itself (SPEC §1, "Products are plugins") and will manage
//! data only through the idp's admin API.

mod api;
mod approvals;
mod audit;
mod console;
mod form;
mod head_offices;
mod home;
mod import;
mod mfa_status;
mod offices;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use product_registry::Registry;
use relying_party::{
    BACKCHANNEL_PATH, CALLBACK_PATH, DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, EVENTS_PATH,
    LOGOUT_PATH, RelyingParty, RpError, RpSettings,
};
use web_kit::Templates;

/// The admin UI's OIDC client id at the idp.
pub const CLIENT_ID: &str = "offerteportaal";

/// The admin UI's session cookie.
pub const COOKIE_NAME: &str = "portaal_sessie";

/// Every route of [`AdminUi::router`] with its methods, the relying party's included, for
/// the whole-portal header test (SECURITY HD-02); a unit test fails when the two disagree.
pub const ROUTES: web_kit::headers::RouteTable = &[
    ("GET", "/"),
    ("GET", "/gebruikers"),
    ("GET", "/gebruikers/nieuw"),
    ("POST", "/gebruikers/nieuw"),
    ("GET", "/gebruikers/{id}"),
    ("POST", "/gebruikers/{id}"),
    ("POST", "/gebruikers/{id}/deactiveren"),
    ("POST", "/gebruikers/{id}/activeren"),
    ("POST", "/gebruikers/{id}/activatiemail"),
    ("POST", "/gebruikers/{id}/2fa"),
    ("POST", "/gebruikers/{id}/afmelden"),
    ("GET", "/subkantoren"),
    ("GET", "/subkantoren/nieuw"),
    ("POST", "/subkantoren/nieuw"),
    ("GET", "/subkantoren/{id}"),
    ("POST", "/subkantoren/{id}"),
    ("POST", "/subkantoren/{id}/deactiveren"),
    ("POST", "/subkantoren/{id}/activeren"),
    ("POST", "/subkantoren/{id}/verwijderen"),
    ("POST", "/subkantoren/{id}/activatiemail"),
    ("GET", "/beheer/hoofdkantoren"),
    ("GET", "/beheer/hoofdkantoren/nieuw"),
    ("POST", "/beheer/hoofdkantoren/nieuw"),
    ("GET", "/beheer/hoofdkantoren/{id}"),
    ("POST", "/beheer/hoofdkantoren/{id}"),
    ("POST", "/beheer/hoofdkantoren/{id}/deactiveren"),
    ("POST", "/beheer/hoofdkantoren/{id}/activeren"),
    ("POST", "/beheer/hoofdkantoren/{id}/activatiemail"),
    ("GET", "/auditlog"),
    ("GET", "/auditlog.csv"),
    ("GET", "/2fa-status"),
    ("POST", "/2fa-status/{id}/herinnering"),
    ("POST", "/2fa-status/beleid/{id}"),
    ("GET", "/beheer/zoeken"),
    ("GET", "/beheer/clients"),
    ("POST", "/beheer/clients"),
    ("GET", "/beheer/import"),
    ("POST", "/beheer/import"),
    ("GET", "/beheer/import/{id}"),
    ("GET", "/beheer/import/{id}/rapport.csv"),
    ("POST", "/beheer/import/{id}/importeren"),
    ("POST", "/beheer/import/{id}/annuleren"),
    ("GET", "/beheer/goedkeuringen"),
    ("POST", "/beheer/goedkeuringen/{id}/goedkeuren"),
    ("POST", "/beheer/goedkeuringen/{id}/afwijzen"),
    ("GET", CALLBACK_PATH),
    ("POST", LOGOUT_PATH),
    ("POST", BACKCHANNEL_PATH),
    ("POST", EVENTS_PATH),
];

/// What the admin UI needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct AdminUiSettings {
    /// The portal's public base URL without a trailing slash, e.g.
    /// `http://127.0.0.1:8080`. The registered redirect URI is `{public_url}/auth/callback`
    /// and the post-logout redirect URI `{public_url}/`.
    pub public_url: String,
    /// The idp's issuer URL, e.g. `http://127.0.0.1:8080/idp`.
    pub issuer: String,
    /// The secret of the client `offerteportaal`.
    pub client_secret: String,
    /// Mark cookies `Secure` (off only for a plain-http development address).
    pub secure_cookies: bool,
    /// The idp's admin API, e.g. `http://localhost:8080/api/v1`.
    pub api_url: String,
}

impl AdminUiSettings {
    /// The relying-party settings these imply.
    pub fn relying_party(&self) -> RpSettings {
        let base = self.public_url.trim_end_matches('/');
        RpSettings {
            issuer: self.issuer.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: self.client_secret.clone(),
            redirect_uri: format!("{base}{CALLBACK_PATH}"),
            post_logout_redirect_uri: Some(format!("{base}/")),
            cookie_name: COOKIE_NAME.to_owned(),
            cookie_path: "/".to_owned(),
            secure_cookies: self.secure_cookies,
            // offline_access: a refresh token, so the admin API stays reachable for as
            // long as the session lasts (access tokens live minutes).
            scopes: format!("{DEFAULT_SCOPES} offline_access"),
            session_lifetime: DEFAULT_SESSION_LIFETIME,
        }
    }
}

/// Shared by the admin UI's handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) rp: Arc<RelyingParty>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) templates: Templates,
    pub(crate) api: api::Api,
}

impl FromRef<AppState> for Arc<RelyingParty> {
    fn from_ref(state: &AppState) -> Self {
        state.rp.clone()
    }
}

/// The admin UI, ready to be mounted at the root of the portal.
#[derive(Clone)]
pub struct AdminUi {
    state: AppState,
}

impl AdminUi {
    /// Builds the admin UI. Does no I/O: the idp is discovered on the first sign-in.
    pub fn new(
        settings: &AdminUiSettings,
        registry: &Registry,
        templates: Templates,
    ) -> Result<Self, RpError> {
        let rp = RelyingParty::new(&settings.relying_party(), templates.clone())?;
        let api = api::Api::new(&settings.api_url)
            .map_err(|e| RpError::Settings(format!("admin API client: {e}")))?;
        Ok(Self {
            state: AppState {
                rp: Arc::new(rp),
                registry: Arc::new(registry.clone()),
                templates,
                api,
            },
        })
    }

    /// `GET /`, `GET /auth/callback` and `POST /auth/logout`, state applied; merge it into
    /// the portal's router at the root.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(home::show))
            .route("/gebruikers", get(users::list))
            .route(
                "/gebruikers/nieuw",
                get(users::new_form).post(users::create),
            )
            .route("/gebruikers/{id}", get(users::edit_form).post(users::save))
            .route("/gebruikers/{id}/deactiveren", post(users::deactivate))
            .route("/gebruikers/{id}/activeren", post(users::reactivate))
            .route(
                "/gebruikers/{id}/activatiemail",
                post(users::resend_activation),
            )
            .route("/gebruikers/{id}/2fa", post(users::reset_second_factors))
            .route("/gebruikers/{id}/afmelden", post(users::end_sessions))
            // Subkantoren (O2-O7) and the insurer's Hoofdkantoren (O1, O2, O6).
            .route("/subkantoren", get(offices::list))
            .route(
                "/subkantoren/nieuw",
                get(offices::new_form).post(offices::create),
            )
            .route(
                "/subkantoren/{id}",
                get(offices::edit_form).post(offices::save),
            )
            .route("/subkantoren/{id}/deactiveren", post(offices::deactivate))
            .route("/subkantoren/{id}/activeren", post(offices::reactivate))
            .route("/subkantoren/{id}/verwijderen", post(offices::delete))
            .route(
                "/subkantoren/{id}/activatiemail",
                post(offices::resend_activation),
            )
            .route("/beheer/hoofdkantoren", get(head_offices::list))
            .route(
                "/beheer/hoofdkantoren/nieuw",
                get(head_offices::new_form).post(head_offices::create),
            )
            .route(
                "/beheer/hoofdkantoren/{id}",
                get(head_offices::edit_form).post(head_offices::save),
            )
            .route(
                "/beheer/hoofdkantoren/{id}/deactiveren",
                post(head_offices::deactivate),
            )
            .route(
                "/beheer/hoofdkantoren/{id}/activeren",
                post(head_offices::reactivate),
            )
            .route(
                "/beheer/hoofdkantoren/{id}/activatiemail",
                post(head_offices::resend_activation),
            )
            // Auditlog (SPEC L1).
            .route("/auditlog", get(audit::show))
            .route("/auditlog.csv", get(audit::export))
            // 2FA-status: the MFA mandate per head office (issue 10).
            .route(mfa_status::HERE, get(mfa_status::show))
            .route("/2fa-status/{id}/herinnering", post(mfa_status::remind))
            .route("/2fa-status/beleid/{id}", post(mfa_status::save_policy))
            // The insurer's console: search and OIDC clients (issue 6).
            .route("/beheer/zoeken", get(console::search))
            .route(
                "/beheer/clients",
                get(console::clients).post(console::register),
            )
            // Importeren (issue 6): the upload takes a file larger than the portal's
            // general body limit.
            .route(
                "/beheer/import",
                get(import::form)
                    .post(import::upload)
                    .layer(DefaultBodyLimit::max(import::UPLOAD_LIMIT)),
            )
            .route("/beheer/import/{id}", get(import::status))
            .route("/beheer/import/{id}/importeren", post(import::confirm))
            .route("/beheer/import/{id}/annuleren", post(import::cancel))
            .route("/beheer/import/{id}/rapport.csv", get(import::report))
            // Goedkeuringen: four-eyes (issue 10).
            .route(approvals::HERE, get(approvals::list))
            .route(
                "/beheer/goedkeuringen/{id}/goedkeuren",
                post(approvals::approve),
            )
            .route(
                "/beheer/goedkeuringen/{id}/afwijzen",
                post(approvals::reject),
            )
            .with_state(self.state.clone())
            .merge(self.state.rp.routes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table the header test walks is the router's own (SECURITY HD-02).
    #[test]
    fn the_route_table_lists_every_route() -> Result<(), Box<dyn std::error::Error>> {
        let settings = AdminUiSettings {
            public_url: "http://127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080/idp".into(),
            client_secret: "a-secret-for-the-route-table-test-0123456789".into(),
            secure_cookies: false,
            api_url: "http://127.0.0.1:8080/api/v1".into(),
        };
        let ui = AdminUi::new(&settings, &Registry::builtin()?, Templates::load()?)?;
        assert_eq!(
            web_kit::headers::check_route_table(&ui.router(), ROUTES),
            Ok(())
        );
        Ok(())
    }
}
