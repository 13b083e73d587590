//! The activation link (SPEC A2): opening it shows the set-password form and changes
//! nothing (SECURITY ML-02); submitting the form checks the password against the NIST
//! rules (A5), then consumes the link and sets the password in one transaction. A used,
//! expired or unknown link gets its own clear Dutch page and changes nothing.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use serde::Serialize;

use super::PasswordForm;
use crate::crypto;
use crate::error::PageError;
use crate::state::AppState;
use crate::store::accounts;
use crate::store::audit::AuditRecord;
use crate::store::tokens::{self, LinkState, Purpose};

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

/// The page for a link that cannot be used.
pub(crate) fn link_error(state: &LinkState) -> PageError {
    match state {
        LinkState::Used => PageError::new(StatusCode::GONE, "activate.used"),
        LinkState::Expired => PageError::new(StatusCode::GONE, "activate.expired"),
        LinkState::Unknown | LinkState::Valid { .. } => {
            PageError::new(StatusCode::NOT_FOUND, "activate.unknown")
        }
    }
}

async fn form_page(
    app: &AppState,
    token: &str,
    user_id: uuid::Uuid,
    status: StatusCode,
    error_key: Option<&'static str>,
) -> Result<Response, PageError> {
    let principal = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .ok_or_else(|| link_error(&LinkState::Unknown))?;
    Ok(app.templates.page(
        status,
        "idp/activate.html",
        FormCtx {
            action: app.idp_path(&format!("/activate/{token}")),
            name: principal.user.name,
            email: principal.user.email.to_string(),
            error_key,
        },
    ))
}

/// `GET /activate/{token}`.
pub async fn page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let state = tokens::peek(
        &app.db,
        &crypto::token_hash(&token),
        Purpose::Activation,
        app.now(),
    )
    .await?;
    match state {
        LinkState::Valid { user_id } => {
            form_page(&app, &token, user_id, StatusCode::OK, None).await
        }
        other => Err(link_error(&other)),
    }
}

/// `POST /activate/{token}`.
pub async fn submit(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let hash = crypto::token_hash(&token);
    let user_id = match tokens::peek(&app.db, &hash, Purpose::Activation, now).await? {
        LinkState::Valid { user_id } => user_id,
        other => return Err(link_error(&other)),
    };
    let principal = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .ok_or_else(|| link_error(&LinkState::Unknown))?;
    let password = form.password.expose_secret();
    if password != form.password_repeat.expose_secret() {
        return form_page(
            &app,
            &token,
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
            &app,
            &token,
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
        ..AuditRecord::new("user.activated")
    };
    match tokens::consume_and_set_password(&app.db, &hash, Purpose::Activation, &phc, &audit, now)
        .await?
    {
        LinkState::Valid { .. } => Ok(app.templates.page(
            StatusCode::OK,
            "idp/activated.html",
            DoneCtx {
                home: format!("{}/", app.settings.public_url),
            },
        )),
        other => Err(link_error(&other)),
    }
}
