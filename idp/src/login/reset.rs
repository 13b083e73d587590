//! The password-reset link (SPEC A5): the activation link's mechanics for an active
//! account, with its own texts. Setting the password ends every session of the user and
//! signs no one in (SECURITY ML-04); it also lifts a sign-in lock (AV-03).

use axum::extract::State;
use axum::response::Response;

use super::PasswordForm;
use super::activation::{self, LinkKind};
use super::client::ClientIp;
use crate::error::PageError;
use crate::extract::{PageForm, PagePath};
use crate::state::AppState;
use crate::store::tokens::Purpose;

/// A5.
pub(crate) const RESET: LinkKind = LinkKind {
    purpose: Purpose::Reset,
    path: "/reset/",
    form: "idp/reset.html",
    done: "idp/reset_done.html",
    used: "reset.used",
    expired: "reset.expired",
    unknown: "reset.unknown",
    action: "password.reset",
};

/// `GET /reset/{token}`: the form; changes nothing (ML-02).
pub async fn page(
    State(app): State<AppState>,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    activation::show(&app, &RESET, &token).await
}

/// `POST /reset/{token}`.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    activation::set_password(&app, &RESET, ip, &token, form).await
}
