//! **Gebruikers** (SPEC U2, manual "Nieuwe gebruikers aanmaken?"): the users of the main
//! user's office (and sub-offices), "Nieuwe gebruiker", editing by clicking the name,
//! deactivating and re-activating, a new activation mail, and resetting 2FA.
//!
//! Every read and change goes through the idp's admin API with the signed-in user's
//! token; the API decides what is allowed and its Dutch refusal is shown as it is. The
//! rights columns and checkboxes come from the product registry.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, OfficeKind, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::{ApiError, NewUser, User, UserChange};
use crate::form::{PageForm, PageQuery};

/// One column or checkbox per product the user may hand out.
#[derive(Serialize)]
struct RightColumn {
    code: String,
    label: String,
}

#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    email: String,
    role_key: &'static str,
    active: bool,
    activated: bool,
    office: String,
    rights: Vec<bool>,
}

#[derive(Serialize)]
struct ListPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    columns: Vec<RightColumn>,
    rows: Vec<Row>,
    show_office: bool,
    notice_key: Option<&'static str>,
    /// O2: the menu item "Subkantoren" (see `offices::shows_sub_offices`).
    sub_offices_menu: bool,
    /// Paging: this page's number, and the previous and next page when there are.
    page: u32,
    previous: Option<u32>,
    next: Option<u32>,
}

#[derive(Serialize)]
struct FormPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    columns: Vec<RightColumn>,
    /// Editing (with id and version) or new.
    id: Option<String>,
    version: Option<i64>,
    name: String,
    email: String,
    rights: Vec<String>,
    active: bool,
    activated: bool,
    is_main_user: bool,
    /// A new e-mail waiting for its owner's confirmation (AC-10).
    email_pending: Option<String>,
    error: Option<String>,
}

/// `?melding=` on the list.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    melding: Option<String>,
    /// The page (issue 6: an insurer admin may face 100,000 users).
    /// Text, so that a malformed value shows page 1 rather than a bare 400.
    pagina: Option<String>,
}

/// Users per page of the list.
const PAGE_SIZE: u32 = 50;

/// `?pagina=`: a page number from 1; anything else is page 1.
pub(crate) fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// The user form.
#[derive(Deserialize)]
pub(crate) struct UserForm {
    name: String,
    email: String,
    #[serde(default)]
    rechten: Vec<String>,
    version: Option<i64>,
}

/// The version a button acts on.
#[derive(Deserialize)]
pub(crate) struct VersionForm {
    version: i64,
}

fn role_key(role: &str) -> &'static str {
    match role {
        "main_user" => "users.role_main_user",
        "insurer_admin" => "users.role_insurer_admin",
        _ => "users.role_employee",
    }
}

/// The products `user` can hand out: the ones it holds itself (a main user holds all of
/// its office's), and for a sub-office only those sub-offices may hold (O4).
fn columns(app: &AppState, user: &SignedInUser) -> Vec<RightColumn> {
    let sub = user
        .office
        .as_ref()
        .is_some_and(|o| o.kind == OfficeKind::SubOffice);
    app.registry
        .products()
        .iter()
        .filter(|p| user.role == Role::InsurerAdmin || user.has_right(&p.code))
        .filter(|p| !sub || p.sub_offices)
        .map(|p| RightColumn {
            code: p.code.as_str().to_owned(),
            label: p.label.clone(),
        })
        .collect()
}

/// The signed-in manager and a live API token, or the response to give instead.
pub(crate) async fn manager(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
    here: &str,
) -> Result<(SignedInUser, String), Response> {
    let Some(user) = user else {
        return Err(app.rp.sign_in(jar.clone(), here).await);
    };
    if user.role == Role::Employee {
        let page = app.templates.page(
            StatusCode::FORBIDDEN,
            "admin/not_allowed.html",
            NotAllowed {
                logout_action: app.rp.logout_action(),
                user: &user,
            },
        );
        return Err(page);
    }
    match app.rp.access_token(jar).await {
        Ok(Some(token)) => Ok((user, token)),
        Ok(None) => Err(app.rp.sign_in(jar.clone(), here).await),
        Err(e) => Err(app.rp.failure(e).into_response()),
    }
}

#[derive(Serialize)]
struct NotAllowed<'a> {
    user: &'a SignedInUser,
    logout_action: String,
}

/// What the page shows for an API failure that is not a refusal of the input.
pub(crate) async fn api_failure(
    app: &AppState,
    jar: &CookieJar,
    here: &str,
    e: ApiError,
) -> Response {
    match e {
        ApiError::SignedOut => app.rp.sign_in(jar.clone(), here).await,
        // AC-08: back to the same page after a fresh sign-in, where the person repeats it.
        ApiError::StepUp => app.rp.sign_in_again(jar.clone(), here).await,
        ApiError::Refused { status, detail } => (
            status,
            app.templates
                .page(status, "admin/problem.html", Problem { detail }),
        )
            .into_response(),
        ApiError::Unavailable(cause) => {
            tracing::error!(error = %cause, "admin API unavailable");
            app.templates.page(
                StatusCode::BAD_GATEWAY,
                "admin/problem.html",
                Problem {
                    detail: app.templates.texts().text("users.unavailable"),
                },
            )
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Problem {
    pub(crate) detail: String,
}

pub(crate) fn no_store(res: Response) -> Response {
    ([web_kit::headers::no_store()], res).into_response()
}

/// `GET /gebruikers`.
pub(crate) async fn list(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let (user, token) = match manager(&app, user, &jar, "/gebruikers").await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let page = page_number(q.pagina.as_deref());
    let found = match app.api.users_page(&token, "", page, PAGE_SIZE).await {
        Ok(p) => p,
        Err(e) => return api_failure(&app, &jar, "/gebruikers", e).await,
    };
    let (next, users) = (found.next, found.users);
    let columns = columns(&app, &user);
    let own_office = user.office.as_ref().map(|o| o.id.clone());
    let show_office = users
        .iter()
        .any(|u| u.office.as_ref().map(|o| &o.id) != own_office.as_ref());
    let rows = users
        .into_iter()
        .map(|u| Row {
            rights: columns
                .iter()
                .map(|c| u.rights.iter().any(|r| r == &c.code))
                .collect(),
            role_key: role_key(&u.role),
            office: u
                .office
                .as_ref()
                .map(|o| format!("{} ({})", o.name, o.number))
                .unwrap_or_default(),
            id: u.id,
            name: u.name,
            email: u.email,
            active: u.active,
            activated: u.activated,
        })
        .collect();
    let notice_key = match q.melding.as_deref() {
        Some("aangemaakt") => Some("users.created"),
        Some("opgeslagen") => Some("users.saved"),
        Some("activatiemail") => Some("users.activation_sent"),
        Some("2fa") => Some("users.factors_reset"),
        Some("afgemeld") => Some("users.sessions_ended"),
        Some("bevestigen") => Some("users.email_confirm_sent"),
        _ => None,
    };
    no_store(app.templates.page(
        StatusCode::OK,
        "admin/users.html",
        ListPage {
            logout_action: app.rp.logout_action(),
            user: &user,
            columns,
            rows,
            show_office,
            notice_key,
            sub_offices_menu: crate::offices::shows_sub_offices(&app, &user, &token).await,
            page,
            previous: (page > 1).then_some(page - 1),
            next,
        },
    ))
}

fn form_page(app: &AppState, status: StatusCode, page: FormPage<'_>) -> Response {
    no_store(app.templates.page(status, "admin/user_form.html", page))
}

/// `GET /gebruikers/nieuw`: "Nieuwe gebruiker".
pub(crate) async fn new_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    let (user, _) = match manager(&app, user, &jar, "/gebruikers/nieuw").await {
        Ok(found) => found,
        Err(res) => return res,
    };
    form_page(
        &app,
        StatusCode::OK,
        FormPage {
            logout_action: app.rp.logout_action(),
            columns: columns(&app, &user),
            user: &user,
            id: None,
            version: None,
            name: String::new(),
            email: String::new(),
            rights: Vec::new(),
            active: true,
            activated: false,
            is_main_user: false,
            email_pending: None,
            error: None,
        },
    )
}

/// `POST /gebruikers/nieuw`: "Opslaan".
pub(crate) async fn create(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageForm(form): PageForm<UserForm>,
) -> Response {
    let (user, token) = match manager(&app, user, &jar, "/gebruikers/nieuw").await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let new = NewUser {
        name: form.name.trim(),
        email: form.email.trim(),
        rights: &form.rechten,
    };
    match app.api.create_user(&token, &new).await {
        Ok(_) => Redirect::to("/gebruikers?melding=aangemaakt").into_response(),
        Err(ApiError::Refused { status, detail }) => form_page(
            &app,
            status_for_form(status),
            FormPage {
                logout_action: app.rp.logout_action(),
                columns: columns(&app, &user),
                user: &user,
                id: None,
                version: None,
                name: form.name,
                email: form.email,
                rights: form.rechten,
                active: true,
                activated: false,
                is_main_user: false,
                email_pending: None,
                error: Some(detail),
            },
        ),
        Err(e) => api_failure(&app, &jar, "/gebruikers/nieuw", e).await,
    }
}

/// A refusal of the input is shown on the form itself.
fn status_for_form(status: StatusCode) -> StatusCode {
    if status.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    }
}

fn edit_page<'a>(
    app: &AppState,
    user: &'a SignedInUser,
    u: User,
    error: Option<String>,
) -> FormPage<'a> {
    FormPage {
        logout_action: app.rp.logout_action(),
        columns: columns(app, user),
        user,
        is_main_user: u.role == "main_user",
        id: Some(u.id),
        version: Some(u.version),
        name: u.name,
        email: u.email,
        rights: u.rights,
        active: u.active,
        activated: u.activated,
        email_pending: u.email_pending,
        error,
    }
}

/// `GET /gebruikers/{id}`: the user's details, reached by clicking the name.
pub(crate) async fn edit_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    match app.api.user(&token, &id).await {
        Ok(u) => form_page(&app, StatusCode::OK, edit_page(&app, &user, u, None)),
        Err(e) => api_failure(&app, &jar, &here, e).await,
    }
}

/// `POST /gebruikers/{id}`: "Opslaan" on the user's details.
pub(crate) async fn save(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<UserForm>,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let Some(version) = form.version else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let current = match app.api.user(&token, &id).await {
        Ok(u) => u,
        Err(e) => return api_failure(&app, &jar, &here, e).await,
    };
    // A main user's rights are its office's: the form shows them, it does not send them.
    let rights = (current.role != "main_user").then_some(form.rechten.as_slice());
    // Only a new e-mail is sent: it is a new login and needs a recent sign-in (AC-08).
    let email = form.email.trim();
    let change = UserChange {
        name: Some(form.name.trim()),
        email: (!email.eq_ignore_ascii_case(&current.email)).then_some(email),
        rights,
        active: None,
    };
    match app.api.update_user(&token, &id, version, &change).await {
        // AC-10: a new e-mail of an activated user waits for its confirmation; say so.
        Ok(saved) if change.email.is_some() && saved.email_pending.is_some() => {
            Redirect::to("/gebruikers?melding=bevestigen").into_response()
        }
        Ok(_) => Redirect::to("/gebruikers?melding=opgeslagen").into_response(),
        Err(ApiError::Refused { status, detail }) => {
            let mut shown = current;
            shown.name = form.name;
            shown.email = form.email;
            if rights.is_some() {
                shown.rights = form.rechten;
            }
            if status != StatusCode::PRECONDITION_FAILED {
                // Keep the version the person started from, so a retry is still checked.
                shown.version = version;
            }
            form_page(
                &app,
                status_for_form(status),
                edit_page(&app, &user, shown, Some(detail)),
            )
        }
        Err(e) => api_failure(&app, &jar, &here, e).await,
    }
}

/// `POST /gebruikers/{id}/actief` and `…/inactief`: deactivate or re-activate.
async fn set_active(
    app: AppState,
    user: Option<SignedInUser>,
    jar: CookieJar,
    id: String,
    version: i64,
    active: bool,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let change = UserChange {
        active: Some(active),
        ..UserChange::default()
    };
    let result = app
        .api
        .update_user(&token, &id, version, &change)
        .await
        .map(|_| ());
    after_action(&app, &jar, &user, &token, &id, &here, result, "opgeslagen").await
}

/// The answer to a button on a user's page: back to the list with `melding` when it
/// worked; the API's refusal shown on the user's page (freshly read); anything else as
/// [`api_failure`].
#[allow(clippy::too_many_arguments)]
async fn after_action(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    id: &str,
    here: &str,
    result: Result<(), ApiError>,
    melding: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/gebruikers?melding={melding}")).into_response(),
        Err(ApiError::Refused { status, detail }) => match app.api.user(token, id).await {
            Ok(u) => form_page(
                app,
                status_for_form(status),
                edit_page(app, user, u, Some(detail)),
            ),
            Err(e) => api_failure(app, jar, here, e).await,
        },
        Err(e) => api_failure(app, jar, here, e).await,
    }
}

/// `POST /gebruikers/{id}/deactiveren`.
pub(crate) async fn deactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, false).await
}

/// `POST /gebruikers/{id}/activeren`.
pub(crate) async fn reactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, true).await
}

/// `POST /gebruikers/{id}/activatiemail`: a new activation mail (A4).
pub(crate) async fn resend_activation(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let result = app.api.resend_activation(&token, &id).await.map(|_| ());
    after_action(
        &app,
        &jar,
        &user,
        &token,
        &id,
        &here,
        result,
        "activatiemail",
    )
    .await
}

/// `POST /gebruikers/{id}/2fa`: the user sets up two-factor authentication anew (F3).
pub(crate) async fn reset_second_factors(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let result = app.api.reset_second_factors(&token, &id).await.map(|_| ());
    after_action(&app, &jar, &user, &token, &id, &here, result, "2fa").await
}

/// `POST /gebruikers/{id}/afmelden`: the user is signed out on every device (SE-06); the
/// password and two-factor authentication stay.
pub(crate) async fn end_sessions(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/gebruikers/{}", crate::api::seg(&id));
    let (user, token) = match manager(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let result = app.api.end_sessions(&token, &id).await;
    after_action(&app, &jar, &user, &token, &id, &here, result, "afgemeld").await
}
