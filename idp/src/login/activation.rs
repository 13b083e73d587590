//! The activation link (SPEC A2) and, with the same mechanics, the password-reset link
//! (A5): opening one shows the set-password form and changes nothing (SECURITY ML-02);
//! submitting the form checks the password against the NIST rules, then consumes the link
//! and sets the password in one transaction. A used, expired or unknown link gets its own
//! clear Dutch page and changes nothing. A reset also ends every session of the user and
//! signs no one in (ML-04).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Serialize;

use super::PasswordForm;
use super::client::ClientIp;
use crate::crypto;
use crate::error::PageError;
use crate::extract::{PageForm, PagePath};
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::AuditRecord;
use crate::store::tokens::{self, LinkState, Purpose};

/// What differs between the activation link and the reset link.
pub(crate) struct LinkKind {
    /// The token purpose.
    pub purpose: Purpose,
    /// The route prefix, before the token.
    pub path: &'static str,
    /// The set-password form.
    pub form: &'static str,
    /// The page after success.
    pub done: &'static str,
    /// Text for a link used before.
    pub used: &'static str,
    /// Text for a link that expired or was replaced.
    pub expired: &'static str,
    /// Text for an unknown link.
    pub unknown: &'static str,
    /// The audit action on success.
    pub action: &'static str,
}

/// A2.
pub(crate) const ACTIVATION: LinkKind = LinkKind {
    purpose: Purpose::Activation,
    path: "/activate/",
    form: "idp/activate.html",
    done: "idp/activated.html",
    used: "activate.used",
    expired: "activate.expired",
    unknown: "activate.unknown",
    action: "user.activated",
};

#[derive(Serialize)]
struct FormCtx {
    action: String,
    name: String,
    email: String,
    error_key: Option<&'static str>,
}

#[derive(Serialize)]
struct DoneCtx {
    home: String,
}

/// The page for an activation (or set-up) link that cannot be used.
pub(crate) fn link_error(state: &LinkState) -> PageError {
    link_error_for(&ACTIVATION, state)
}

/// The page for a link of `kind` that cannot be used.
pub(crate) fn link_error_for(kind: &LinkKind, state: &LinkState) -> PageError {
    match state {
        LinkState::Used => PageError::new(StatusCode::GONE, kind.used),
        LinkState::Expired => PageError::new(StatusCode::GONE, kind.expired),
        LinkState::Unknown | LinkState::Valid { .. } => {
            PageError::new(StatusCode::NOT_FOUND, kind.unknown)
        }
    }
}

async fn form_page(
    app: &AppState,
    kind: &LinkKind,
    token: &str,
    user_id: uuid::Uuid,
    status: StatusCode,
    error_key: Option<&'static str>,
) -> Result<Response, PageError> {
    let principal = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .ok_or_else(|| link_error_for(kind, &LinkState::Unknown))?;
    Ok(app.templates.page(
        status,
        kind.form,
        FormCtx {
            action: app.idp_path(&format!("{}{token}", kind.path)),
            name: principal.user.name,
            email: principal.user.email.to_string(),
            error_key,
        },
    ))
}

/// Shows the set-password form of a link; changes nothing.
pub(crate) async fn show(
    app: &AppState,
    kind: &LinkKind,
    token: &str,
) -> Result<Response, PageError> {
    let state = tokens::peek(&app.db, &crypto::token_hash(token), kind.purpose, app.now()).await?;
    match state {
        LinkState::Valid { user_id } => {
            form_page(app, kind, token, user_id, StatusCode::OK, None).await
        }
        other => Err(link_error_for(kind, &other)),
    }
}

/// Checks the new password, then consumes the link and sets it.
pub(crate) async fn set_password(
    app: &AppState,
    kind: &LinkKind,
    ip: ClientIp,
    token: &str,
    form: PasswordForm,
) -> Result<Response, PageError> {
    let now = app.now();
    let hash = crypto::token_hash(token);
    let user_id = match tokens::peek(&app.db, &hash, kind.purpose, now).await? {
        LinkState::Valid { user_id } => user_id,
        other => return Err(link_error_for(kind, &other)),
    };
    let principal = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .ok_or_else(|| link_error_for(kind, &LinkState::Unknown))?;
    let password = form.password.expose_secret();
    if password != form.password_repeat.expose_secret() {
        return form_page(
            app,
            kind,
            token,
            user_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("activate.mismatch"),
        )
        .await;
    }
    let mut context = vec![
        principal.user.email.local_part(),
        principal.user.name.as_str(),
    ];
    if let Some(o) = &principal.office {
        context.push(o.name.as_str());
        context.push(o.number.as_str());
    }
    if let Err(problem) = app.passwords.check(password, &context) {
        return form_page(
            app,
            kind,
            token,
            user_id,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(problem.text_key()),
        )
        .await;
    }
    let phc = app
        .hasher
        .hash(form.password)
        .await
        .map_err(PageError::internal)?;
    let audit = AuditRecord {
        target_office_id: principal.user.office_id,
        ip: ip.text(),
        ..AuditRecord::new(kind.action)
    };
    // A reset ends every session (ML-04): the relying parties holding one are told by
    // back-channel logout, queued in the same transaction.
    let logouts = if kind.purpose == Purpose::Reset {
        let targets = crate::store::grants::logout_targets_of_user(&app.db, user_id).await?;
        crate::oidc::end_session::logout_deliveries(app, &targets, now)
            .map_err(PageError::internal)?
    } else {
        Vec::new()
    };
    let consumed =
        tokens::consume_and_set_password(&app.db, &hash, kind.purpose, &phc, &audit, &logouts, now)
            .await?;
    if !logouts.is_empty() {
        app.mail_wake.notify_one();
    }
    match consumed {
        LinkState::Valid { .. } => Ok(app.templates.page(
            StatusCode::OK,
            kind.done,
            DoneCtx {
                home: format!("{}/", app.settings.public_url),
            },
        )),
        other => Err(link_error_for(kind, &other)),
    }
}

/// `GET /activate/{token}`.
pub async fn page(
    State(app): State<AppState>,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    show(&app, &ACTIVATION, &token).await
}

/// `POST /activate/{token}`.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    set_password(&app, &ACTIVATION, ip, &token, form).await
}
