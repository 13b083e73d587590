//! The link that confirms a new login e-mail (SECURITY AC-10). An administrator's change
//! of an activated user's e-mail waits in `store::email_changes`; the link goes to the new
//! address, and only its owner's confirmation makes it the login. Opening the link shows
//! the address and a form and changes nothing (ML-02); the POST applies it, tells the old
//! address (ML-05) and is audited.
//!
//! The form asks for the account's password as well. The link proves that the new
//! mailbox is reachable; the password proves that the account's owner wants it. Without
//! it, an administrator who gave a user an address of his own could confirm it himself,
//! ask for a password reset there and take the account over. The password is checked
//! under the account's sign-in throttle (AV-01), and a wrong one is audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::client::ClientIp;
use super::notice::{self, Change};
use super::{limits, second_factor::entry_for};
use crate::crypto;
use crate::domain::identifier::LoginName;
use crate::domain::throttle::{Counter, Decision};
use crate::error::PageError;
use crate::extract::{PageForm, PagePath};
use crate::hasher::Verdict;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit;
use crate::store::email_changes::{self, Confirmed};

/// The confirmation form: the account's current password.
#[derive(Deserialize)]
pub struct ConfirmForm {
    /// The password of the account whose login changes.
    pub password: SecretString,
}

#[derive(Serialize)]
struct Ctx {
    new_email: String,
    action: String,
    /// A refusal shown above the form (a wrong password, the throttle).
    error_key: Option<&'static str>,
    message_key: Option<&'static str>,
    done: bool,
    login_url: String,
}

fn form_page(
    app: &AppState,
    status: StatusCode,
    token: &str,
    new_email: String,
    error_key: Option<&'static str>,
) -> Response {
    page_with(
        app,
        status,
        Ctx {
            new_email,
            action: app.idp_path(&format!("/email/{token}")),
            error_key,
            message_key: None,
            done: false,
            login_url: app.idp_path("/login"),
        },
    )
}

fn page_with(app: &AppState, status: StatusCode, ctx: Ctx) -> Response {
    let mut res = app.templates.page(status, "idp/email_change.html", ctx);
    res.headers_mut().extend([web_kit::headers::no_store()]);
    res
}

fn message(app: &AppState, status: StatusCode, key: &'static str, done: bool) -> Response {
    page_with(
        app,
        status,
        Ctx {
            new_email: String::new(),
            action: String::new(),
            error_key: None,
            message_key: Some(key),
            done,
            login_url: app.idp_path("/login"),
        },
    )
}

/// `GET /email/{token}`: the new address and a button; changes nothing.
pub async fn page(
    State(app): State<AppState>,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let hash = crypto::token_hash(&token);
    let Some(found) = email_changes::find(&app.db, &hash, app.now()).await? else {
        return Ok(message(
            &app,
            StatusCode::NOT_FOUND,
            "email_change.gone",
            false,
        ));
    };
    Ok(form_page(
        &app,
        StatusCode::OK,
        &token,
        found.new_email,
        None,
    ))
}

/// `POST /email/{token}`: with the account's password, the new address becomes the
/// login; the old one is told.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let hash = crypto::token_hash(&token);
    let gone = || message(&app, StatusCode::NOT_FOUND, "email_change.gone", false);
    let Some(found) = email_changes::find(&app.db, &hash, now).await? else {
        return Ok(gone());
    };
    let Some(p) = accounts::principal(&app.db, found.user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in)
    else {
        return Ok(gone());
    };
    let again = |status, key| form_page(&app, status, &token, found.new_email.clone(), Some(key));

    // The owner's password, under the account's sign-in throttle (AV-01).
    let account = p.user.id.to_string();
    let counters = [(Counter::LoginAccount, account.as_str())];
    if let Decision::Blocked { .. } = limits::check(&app, &counters, now).await? {
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            "account.password_locked",
        ));
    }
    let stored = accounts::find_login(
        &app.db,
        &LoginName::Email(p.user.email.clone()),
        &app.registry,
    )
    .await?
    .and_then(|(u, hash)| (u.id == p.user.id).then_some(hash))
    .flatten();
    let verdict = app
        .hasher
        .verify(form.password, stored.clone())
        .await
        .map_err(PageError::internal)?;
    if stored.is_none() || verdict == Verdict::Wrong {
        limits::hit(&app, &counters, now).await?;
        let mut entry = entry_for(&p, ip, "email_change.failed");
        entry.detail = serde_json::json!({ "reason": "wrong_password" });
        audit::record(&app.db, &entry, now).await?;
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_change.password_wrong",
        ));
    }

    let mail = notice::mail(&app, &p.user.name, &p.user.email, Change::EmailChanged, now)
        .map_err(PageError::internal)?;
    let mut entry = entry_for(&p, ip, "user.email_confirmed");
    entry.detail = serde_json::json!({
        "before": { "email": p.user.email.as_str() },
        "after": { "email": found.new_email },
    });
    let outcome = email_changes::confirm(
        &app.db,
        &hash,
        &found,
        &entry,
        std::slice::from_ref(&mail),
        now,
    )
    .await?;
    Ok(match outcome {
        Confirmed::Done => {
            crate::store::throttle::clear(&app.db, Counter::LoginAccount, &account).await?;
            app.mail_wake.notify_one();
            message(&app, StatusCode::OK, "email_change.done", true)
        }
        Confirmed::Gone => gone(),
        Confirmed::Taken => message(&app, StatusCode::CONFLICT, "email_change.taken", false),
    })
}
