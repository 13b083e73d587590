//! Sign-in with advisor number or e-mail and password (SPEC A1).
//!
//! Every failure (unknown login, wrong password, not activated, inactive user or office)
//! gives the same page with the same text, after the same argon2 work (SECURITY AU-02).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::session;
use crate::domain::identifier::LoginName;
use crate::error::PageError;
use crate::hasher::Verdict;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::{self, AuditRecord};
use web_kit::paths::safe_return_to;

/// `?return_to=` of the sign-in page.
#[derive(Deserialize)]
pub struct PageQuery {
    return_to: Option<String>,
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    /// Advisor number or e-mail.
    username: String,
    /// Password.
    password: SecretString,
    /// Where to go afterwards (a local path).
    return_to: Option<String>,
}

#[derive(Serialize)]
struct Ctx<'a> {
    action: String,
    return_to: &'a str,
    username: &'a str,
    error_key: Option<&'static str>,
}

fn render(
    app: &AppState,
    status: StatusCode,
    return_to: &str,
    username: &str,
    error_key: Option<&'static str>,
) -> Response {
    app.templates.page(
        status,
        "idp/login.html",
        Ctx {
            action: app.idp_path("/login"),
            return_to,
            username,
            error_key,
        },
    )
}

/// `GET /login`.
pub async fn page(State(app): State<AppState>, Query(q): Query<PageQuery>) -> Response {
    let return_to = safe_return_to(q.return_to.as_deref(), "/");
    render(&app, StatusCode::OK, return_to, "", None)
}

/// `POST /login`: checks the password and starts a session, then returns (303, never 307:
/// the password is not posted on, SECURITY OP-16) to where the person came from.
pub async fn submit(
    State(app): State<AppState>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(form.return_to.as_deref(), "/").to_owned();
    let now = app.now();
    let found = match LoginName::parse(&form.username) {
        Some(name) => accounts::find_login(&app.db, &name, &app.registry).await?,
        None => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verdict = app
        .hasher
        .verify(form.password, hash)
        .await
        .map_err(PageError::internal)?;
    let principal = match (&user, verdict) {
        (Some(u), Verdict::Right | Verdict::RightButOutdated) => {
            accounts::principal(&app.db, u.id, &app.registry)
                .await?
                .filter(|p| p.user.activated && claims::may_sign_in(p))
        }
        _ => None,
    };
    let mut entry = AuditRecord::new(if principal.is_some() {
        "login.succeeded"
    } else {
        "login.failed"
    });
    entry.target_user_id = user.as_ref().map(|u| u.id);
    entry.target_office_id = user.as_ref().and_then(|u| u.office_id);
    audit::record(&app.db, &entry, now).await?;
    let Some(principal) = principal else {
        return Ok(render(
            &app,
            StatusCode::OK,
            &return_to,
            form.username.trim(),
            Some("login.failed"),
        ));
    };
    // Second factors (SPEC F1–F4) hook in here, before a session exists (SECURITY AU-08).
    let jar = session::start(&app, jar, principal.user.id, "pwd", now)
        .await
        .map_err(PageError::internal)?;
    Ok((jar, Redirect::to(&return_to)).into_response())
}
