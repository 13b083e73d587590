//! The pages a person sees at the identity provider: sign-in (A1), the activation link
//! that sets the first password (A2), asking for a new activation mail (A3), the
//! forgotten-password mail and its link (A5), and the one-time set-up of the first
//! insurer admin.
//! Second factors (issue 5) plug in after the password step in `signin`.

pub mod activation;
pub mod client;
pub mod limits;
pub mod request;
pub mod reset;
pub mod session;
pub mod setup;
pub mod signin;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The login routes, relative to the issuer path.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(signin::page).post(signin::submit))
        .route(
            "/activate/{token}",
            get(activation::page).post(activation::submit),
        )
        .route(
            "/activate",
            get(request::activation_page).post(request::activation_submit),
        )
        .route(
            "/forgot",
            get(request::reset_page).post(request::reset_submit),
        )
        .route("/requested/{kind}", get(request::sent))
        .route("/reset/{token}", get(reset::page).post(reset::submit))
        .route("/setup/{token}", get(setup::page).post(setup::submit))
}

/// The password form fields shared by activation and set-up.
#[derive(serde::Deserialize)]
pub struct PasswordForm {
    /// The new password.
    pub password: secrecy::SecretString,
    /// The same, typed again.
    pub password_repeat: secrecy::SecretString,
}
