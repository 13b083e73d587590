//! The one-time set-up link printed on an empty portal: it creates the first insurer
//! admin with a password (SECURITY AU-06: no default accounts).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::activation::link_error;
use crate::crypto;
use crate::domain::{Email, Role, parse_name};
use crate::error::PageError;
use crate::extract::{PageForm, PagePath};
use crate::state::AppState;
use crate::store::accounts::NewUserRecord;
use crate::store::audit::AuditRecord;
use crate::store::tokens::{self, LinkState};
use crate::store::{Constraint, StoreError};

/// The set-up form.
#[derive(Deserialize)]
pub struct SetupForm {
    name: String,
    email: String,
    password: SecretString,
    password_repeat: SecretString,
}

#[derive(Serialize)]
struct Ctx<'a> {
    action: String,
    name: &'a str,
    email: &'a str,
    error_key: Option<&'static str>,
}

fn form_page(
    app: &AppState,
    token: &str,
    name: &str,
    email: &str,
    status: StatusCode,
    error_key: Option<&'static str>,
) -> Response {
    app.templates.page(
        status,
        "idp/setup.html",
        Ctx {
            action: app.idp_path(&format!("/setup/{token}")),
            name,
            email,
            error_key,
        },
    )
}

/// `GET /setup/{token}`.
pub async fn page(
    State(app): State<AppState>,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    match tokens::peek_setup(&app.db, &crypto::token_hash(&token), app.now()).await? {
        LinkState::Valid { .. } => Ok(form_page(&app, &token, "", "", StatusCode::OK, None)),
        other => Err(link_error(&other)),
    }
}

/// `POST /setup/{token}`.
pub async fn submit(
    State(app): State<AppState>,
    PagePath(token): PagePath<String>,
    PageForm(form): PageForm<SetupForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let hash = crypto::token_hash(&token);
    let state = tokens::peek_setup(&app.db, &hash, now).await?;
    if !matches!(state, LinkState::Valid { .. }) {
        return Err(link_error(&state));
    }
    let again = |key| {
        Ok(form_page(
            &app,
            &token,
            &form.name,
            &form.email,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(key),
        ))
    };
    let (Ok(name), Ok(email)) = (parse_name(&form.name), Email::parse(&form.email)) else {
        return again("setup.invalid");
    };
    let password = form.password.expose_secret();
    if password != form.password_repeat.expose_secret() {
        return again("activate.mismatch");
    }
    if let Err(problem) = app.passwords.check(password, &[email.local_part(), &name]) {
        return again(problem.text_key());
    }
    let phc = app
        .hasher
        .hash(form.password.clone())
        .await
        .map_err(PageError::internal)?;
    let id = Uuid::now_v7();
    let admin = NewUserRecord {
        id,
        office_id: None,
        role: Role::InsurerAdmin,
        name,
        email: email.to_string(),
        rights: String::new(),
        password_hash: Some(phc),
    };
    let audit = AuditRecord {
        actor_id: Some(id),
        target_user_id: Some(id),
        ..AuditRecord::new("insurer_admin.created")
    };
    match tokens::consume_setup(&app.db, &hash, &admin, &audit, now).await {
        Ok(LinkState::Valid { .. }) => Ok(app.templates.page(
            StatusCode::OK,
            "idp/activated.html",
            serde_json::json!({ "home": format!("{}/", app.settings.public_url) }),
        )),
        Ok(other) => Err(link_error(&other)),
        Err(StoreError::Conflict {
            constraint: Constraint::UserEmail,
        }) => again("rule.email_in_use"),
        Err(e) => Err(e.into()),
    }
}
