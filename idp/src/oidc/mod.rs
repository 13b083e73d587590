//! The OpenID Connect endpoints (SPEC §4): discovery, JWKS, authorize, token, userinfo,
//! introspection (RFC 7662), revocation (RFC 7009), RP-initiated and back-channel logout,
//! pushed authorization requests (RFC 9126) and DPoP (RFC 9449).
//! HTTP glue only; the protocol checks are pure functions next to their handlers.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod dpop;
pub mod end_session;
pub mod introspect;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every route of [`routes`] with its methods, for the whole-portal header test
/// (SECURITY HD-02); `crate::tests` fails when the two disagree.
pub const ROUTES: web_kit::headers::RouteTable = &[
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/jwks"),
    ("GET", "/authorize"),
    ("POST", "/authorize"),
    ("POST", "/par"),
    ("POST", "/token"),
    ("POST", "/introspect"),
    ("POST", "/revoke"),
    ("GET", "/end_session"),
    ("POST", "/end_session"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
];

/// The protocol routes, relative to the issuer path.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::document),
        )
        .route("/jwks", get(discovery::jwks))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/par", post(par::par))
        .route("/token", post(token::token))
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(revoke::revoke))
        .route(
            "/end_session",
            get(end_session::get).post(end_session::post),
        )
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
}
