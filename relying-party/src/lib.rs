//! The OpenID Connect relying-party side of the portal, shared by the admin UI and every
//! product portal: sign-in through the idp (authorization code + PKCE + nonce), ID token
//! verification with the portal claims, and the server-side session that follows.
//!
//! It owns the browser's sign-in and session state and nothing else: it has no pages of
//! its own beyond the error page, and decides no rights. Callers read the
//! [`SignedInUser`] it returns and apply their own rules to it on every request
//! (SECURITY RP-04). Tokens never leave the server (BFF).
//!
//! ```no_run
//! # async fn demo() -> Result<(), relying_party::RpError> {
//! use std::sync::Arc;
//! use relying_party::{RelyingParty, RpSettings, DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME};
//! let templates = web_kit::Templates::load().map_err(|e| relying_party::RpError::Settings(e.to_string()))?;
//! let rp = Arc::new(RelyingParty::new(
//!     &RpSettings {
//!         issuer: "http://127.0.0.1:8080/idp".into(),
//!         client_id: "dip".into(),
//!         client_secret: "…".into(),
//!         redirect_uri: "http://127.0.0.1:8080/dip/auth/callback".into(),
//!         post_logout_redirect_uri: Some("http://127.0.0.1:8080/".into()),
//!         cookie_name: "dip_sessie".into(),
//!         cookie_path: "/dip".into(),
//!         secure_cookies: false,
//!         scopes: DEFAULT_SCOPES.into(),
//!         session_lifetime: DEFAULT_SESSION_LIFETIME,
//!     },
//!     templates,
//! )?);
//! let app: axum::Router = axum::Router::new().nest("/dip", rp.routes());
//! # Ok(()) }
//! ```

mod claims;
mod cookies;
mod error;
mod flow;
mod ids;
mod routes;
mod settings;
mod store;
#[cfg(feature = "test-op")]
pub mod test_op;

pub use claims::{
    HeadOffice, Office, OfficeKind, PortalClaims, PortalIdTokenClaims, Role, SignedInUser,
};
pub use error::{Failure, RpError};
pub use flow::{CallbackParams, EventApplied, PortalIdToken, RelyingParty};
pub use ids::{CookieValue, StoreKey};
pub use routes::{BACKCHANNEL_PATH, CALLBACK_PATH, EVENTS_PATH, LOGOUT_PATH, MaybeUser};
pub use settings::{DEFAULT_SCOPES, DEFAULT_SESSION_LIFETIME, RpSettings};
pub use store::{
    ApiTokens, LOGIN_ATTEMPT_LIFETIME, MAX_ATTEMPTS_PER_BROWSER, MAX_BROWSERS_SIGNING_IN,
    MemorySessionStore, PendingLogin, Session, SessionStore, StoreError, state_matches,
};
