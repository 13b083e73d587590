//! The link that confirms a new login e-mail (SECURITY AC-10). An administrator's change
//! of an activated user's e-mail waits in `store::email_changes`; the link goes to the new
//! address, and only its owner's confirmation makes it the login. Opening the link shows
//! the address and a button and changes nothing (ML-02); the POST applies it, tells the
//! old address (ML-05) and is audited. No sign-in is needed: the link is the proof that
//! the new address is reachable, as an activation link is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::client::ClientIp;
use super::notice::{self, Change};
use crate::crypto;
use crate::error::PageError;
use crate::extract::PagePath;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::AuditRecord;
use crate::store::email_changes::{self, Confirmed};

#[derive(Serialize)]
struct Ctx {
    new_email: String,
    action: String,
    message_key: Option<&'static str>,
    done: bool,
    login_url: String,
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
    Ok(page_with(
        &app,
        StatusCode::OK,
        Ctx {
            new_email: found.new_email,
            action: app.idp_path(&format!("/email/{token}")),
            message_key: None,
            done: false,
            login_url: app.idp_path("/login"),
        },
    ))
}

/// `POST /email/{token}`: the new address becomes the login; the old one is told.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let now = app.now();
    let hash = crypto::token_hash(&token);
    let gone = || message(&app, StatusCode::NOT_FOUND, "email_change.gone", false);
    let Some(found) = email_changes::find(&app.db, &hash, now).await? else {
        return Ok(gone());
    };
    let Some(p) = accounts::principal(&app.db, found.user_id, &app.registry).await? else {
        return Ok(gone());
    };
    let mail = notice::mail(&app, &p.user.name, &p.user.email, Change::EmailChanged, now)
        .map_err(PageError::internal)?;
    let mut entry = AuditRecord::new("user.email_confirmed");
    entry.actor_id = Some(p.user.id);
    entry.target_user_id = Some(p.user.id);
    entry.target_office_id = p.user.office_id;
    entry.ip = ip.text();
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
            app.mail_wake.notify_one();
            message(&app, StatusCode::OK, "email_change.done", true)
        }
        Confirmed::Gone => gone(),
        Confirmed::Taken => message(&app, StatusCode::CONFLICT, "email_change.taken", false),
    })
}
