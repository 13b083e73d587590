//! The pages a person sees at the identity provider: sign-in (A1), the activation link
//! that sets the first password (A2), asking for a new activation mail (A3), the
//! forgotten-password mail and its link (A5), and the one-time set-up of the first
//! insurer admin.
//! After the password comes the second factor (`second_factor`, `enrol`, `passkey`);
//! Profiel → Beveiliging (`account`) manages the factors.

pub mod account;
pub mod activation;
pub mod client;
pub mod email_change;
pub mod enrol;
pub mod limits;
pub mod notice;
pub mod passkey;
pub mod profile;
pub mod request;
pub mod reset;
pub mod second_factor;
pub mod session;
pub mod setup;
pub mod signin;
pub mod step;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// Every route of [`routes`] with its methods, for the whole-portal header test
/// (SECURITY HD-02); `crate::tests` fails when the two disagree.
pub const ROUTES: web_kit::headers::RouteTable = &[
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/activate/{token}"),
    ("POST", "/activate/{token}"),
    ("GET", "/activate"),
    ("POST", "/activate"),
    ("GET", "/forgot"),
    ("POST", "/forgot"),
    ("GET", "/requested/{kind}"),
    ("GET", "/reset/{token}"),
    ("POST", "/reset/{token}"),
    ("GET", "/setup/{token}"),
    ("POST", "/setup/{token}"),
    ("GET", "/2fa"),
    ("POST", "/2fa"),
    ("POST", "/2fa/herstelcode"),
    ("GET", "/2fa/instellen"),
    ("POST", "/2fa/instellen"),
    ("POST", "/passkey/register/start"),
    ("POST", "/passkey/register/finish"),
    ("POST", "/passkey/2fa/start"),
    ("POST", "/passkey/2fa/finish"),
    ("POST", "/passkey/login/start"),
    ("POST", "/passkey/login/finish"),
    ("GET", "/account"),
    ("POST", "/account/totp"),
    ("POST", "/account/herstelcodes"),
    ("POST", "/account/naam"),
    ("POST", "/account/wachtwoord"),
    ("POST", "/account/passkeys/{id}/verwijderen"),
    ("POST", "/account/sessies/{id}/afmelden"),
    ("GET", "/email/{token}"),
    ("POST", "/email/{token}"),
];

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
        .route(
            "/email/{token}",
            get(email_change::page).post(email_change::submit),
        )
        .route("/2fa", get(second_factor::page).post(second_factor::submit))
        .route("/2fa/herstelcode", post(second_factor::submit_recovery))
        .route("/2fa/instellen", get(enrol::page).post(enrol::submit))
        .route("/passkey/register/start", post(passkey::register_start))
        .route("/passkey/register/finish", post(passkey::register_finish))
        .route("/passkey/2fa/start", post(passkey::second_start))
        .route("/passkey/2fa/finish", post(passkey::second_finish))
        .route("/passkey/login/start", post(passkey::login_start))
        .route("/passkey/login/finish", post(passkey::login_finish))
        .route("/account", get(account::page))
        .route("/account/totp", post(account::start_totp))
        .route("/account/herstelcodes", post(account::new_recovery_codes))
        .route("/account/naam", post(profile::change_name))
        .route("/account/wachtwoord", post(profile::change_password))
        .route(
            "/account/passkeys/{id}/verwijderen",
            post(account::remove_passkey),
        )
        .route("/account/sessies/{id}/afmelden", post(account::end_session))
}

/// The password form fields shared by activation and set-up.
#[derive(serde::Deserialize)]
pub struct PasswordForm {
    /// The new password.
    pub password: secrecy::SecretString,
    /// The same, typed again.
    pub password_repeat: secrecy::SecretString,
}
