//! **Hoofdkantoren**, the insurer's console (SPEC O1, O2, O6): the head offices with a
//! search box, "Nieuw hoofdkantoor" (Adviseursnummer, Naam, E-mailadres, the appointment's
//! rights, "Mag werken met subkantoren"), and a head office's page (its appointment, the
//! sub-office permission, contact data, deactivate / re-activate, its main user's
//! activation mail, its sub-offices).
//!
//! For insurer admins only; the API refuses everyone else as well (O1: only the insurer
//! creates head offices and sets appointments; O2: only the insurer allows sub-offices).
//! The rights checkboxes are every product of the registry, ORV included.

use crate::form::{PageForm, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::offices::{NewHeadOffice, OfficeChange, OfficeDetail};
use crate::api::{ApiError, seg};
use crate::offices::{
    RightColumn, changed, failure, form_status, no_store, refusal, right_columns, same_rights,
};

const LIST: &str = "/beheer/hoofdkantoren";
const BACK: (&str, &str) = (LIST, "head_offices.back_to_list");

/// The signed-in insurer admin and a live token, or the page to show instead.
async fn insurer(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
    here: &str,
) -> Result<(SignedInUser, String), Response> {
    if let Some(u) = &user
        && u.role != Role::InsurerAdmin
    {
        let menu = crate::offices::shows_sub_offices_for(app, u, jar).await;
        return Err(refusal(
            app,
            u,
            StatusCode::FORBIDDEN,
            menu,
            "head_offices.only_insurer",
        ));
    }
    crate::users::manager(app, user, jar, here).await
}

fn all_rights(app: &AppState) -> Vec<RightColumn> {
    right_columns(app, |_| true)
}

#[derive(Serialize)]
struct Row {
    id: String,
    number: String,
    name: String,
    email: String,
    city: String,
    rights: String,
    allow_sub_offices: bool,
    active: bool,
}

#[derive(Serialize)]
struct ListPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    q: String,
    rows: Vec<Row>,
    notice_key: Option<&'static str>,
}

/// `?q=` (the search box) and `?melding=`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    q: Option<String>,
    melding: Option<String>,
}

/// `GET /beheer/hoofdkantoren`.
pub(crate) async fn list(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let (user, token) = match insurer(&app, user, &jar, LIST).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let search = q.q.unwrap_or_default();
    let offices = match app
        .api
        .offices(&token, Some("head_office"), Some(&search))
        .await
    {
        Ok(o) => o,
        Err(e) => return failure(&app, &jar, &user, LIST, ("/", "portal.back"), e).await,
    };
    let rows = offices
        .into_iter()
        .map(|o| Row {
            rights: o.rights.join(", "),
            id: o.id,
            number: o.number,
            name: o.name,
            email: o.email,
            city: o.city,
            allow_sub_offices: o.allow_sub_offices,
            active: o.active,
        })
        .collect();
    let notice_key = match q.melding.as_deref() {
        Some("aangemaakt") => Some("head_offices.created"),
        Some("opgeslagen") => Some("offices.saved"),
        Some("gedeactiveerd") => Some("offices.deactivated"),
        Some("geactiveerd") => Some("offices.reactivated"),
        Some("activatiemail") => Some("offices.activation_sent"),
        _ => None,
    };
    no_store(app.templates.page(
        StatusCode::OK,
        "admin/head_offices.html",
        ListPage {
            user: &user,
            logout_action: app.rp.logout_action(),
            q: search,
            rows,
            notice_key,
        },
    ))
}

#[derive(Serialize)]
struct SubRow {
    name: String,
    number: String,
    city: String,
    rights: String,
    active: bool,
}

#[derive(Serialize)]
struct MainUser {
    id: String,
    email: String,
    activated: bool,
}

#[derive(Serialize)]
struct FormPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    columns: Vec<RightColumn>,
    id: Option<String>,
    version: Option<i64>,
    advisor_number: String,
    name: String,
    email: String,
    address: String,
    postcode: String,
    city: String,
    phone: String,
    rights: Vec<String>,
    allow_sub_offices: bool,
    active: bool,
    main_user: Option<MainUser>,
    sub_offices: Vec<SubRow>,
    error: Option<String>,
    /// Issue 10: the head office's 2FA date and grace (its own form on this page).
    mfa_policy: Option<crate::api::mfa::MfaPolicy>,
}

impl<'a> FormPage<'a> {
    fn new(app: &AppState, user: &'a SignedInUser) -> Self {
        Self {
            user,
            logout_action: app.rp.logout_action(),
            columns: all_rights(app),
            id: None,
            version: None,
            advisor_number: String::new(),
            name: String::new(),
            email: String::new(),
            address: String::new(),
            postcode: String::new(),
            city: String::new(),
            phone: String::new(),
            rights: Vec::new(),
            allow_sub_offices: false,
            active: true,
            main_user: None,
            sub_offices: Vec::new(),
            error: None,
            mfa_policy: None,
        }
    }
}

/// "Nieuw hoofdkantoor" and a head office's details.
#[derive(Deserialize)]
pub(crate) struct HeadOfficeForm {
    #[serde(default)]
    advisor_number: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    rechten: Vec<String>,
    allow_sub_offices: Option<String>,
    version: Option<i64>,
}

/// The version a button acts on.
#[derive(Deserialize)]
pub(crate) struct VersionForm {
    version: i64,
}

fn form_page(app: &AppState, status: StatusCode, page: FormPage<'_>) -> Response {
    no_store(
        app.templates
            .page(status, "admin/head_office_form.html", page),
    )
}

fn edit_path(id: &str) -> String {
    format!("{LIST}/{}", seg(id))
}

/// `GET /beheer/hoofdkantoren/nieuw`.
pub(crate) async fn new_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    match insurer(&app, user, &jar, "/beheer/hoofdkantoren/nieuw").await {
        Ok((user, _)) => form_page(&app, StatusCode::OK, FormPage::new(&app, &user)),
        Err(res) => res,
    }
}

/// `POST /beheer/hoofdkantoren/nieuw`: the head office with its main user, who gets the
/// activation mail (O1).
pub(crate) async fn create(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageForm(form): PageForm<HeadOfficeForm>,
) -> Response {
    let here = "/beheer/hoofdkantoren/nieuw";
    let (user, token) = match insurer(&app, user, &jar, here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let allow = form.allow_sub_offices.is_some();
    let new = NewHeadOffice {
        advisor_number: form.advisor_number.trim(),
        name: form.name.trim(),
        email: form.email.trim(),
        rights: &form.rechten,
        allow_sub_offices: allow,
    };
    match app.api.create_head_office(&token, &new).await {
        Ok(_) => Redirect::to(&format!("{LIST}?melding=aangemaakt")).into_response(),
        Err(ApiError::Refused { status, detail }) => form_page(
            &app,
            form_status(status),
            FormPage {
                advisor_number: form.advisor_number,
                name: form.name,
                email: form.email,
                rights: form.rechten,
                allow_sub_offices: allow,
                error: Some(detail),
                ..FormPage::new(&app, &user)
            },
        ),
        Err(e) => failure(&app, &jar, &user, here, BACK, e).await,
    }
}

/// Head office `id`, or the page to show instead.
async fn head_office(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    id: &str,
) -> Result<OfficeDetail, Response> {
    match app.api.office(token, id).await {
        Ok(o) if o.is_head_office() => Ok(o),
        Ok(_) => Err(refusal(
            app,
            user,
            StatusCode::NOT_FOUND,
            false,
            "offices.not_found",
        )),
        Err(e) => Err(failure(app, jar, user, &edit_path(id), BACK, e).await),
    }
}

/// The details page of `o`: its main user and its sub-offices read as well.
async fn details<'a>(
    app: &AppState,
    user: &'a SignedInUser,
    token: &str,
    o: OfficeDetail,
    error: Option<String>,
) -> Result<FormPage<'a>, ApiError> {
    let main_user = app
        .api
        .users_of_office(token, &o.id)
        .await?
        .into_iter()
        .find(|u| u.role == "main_user" && u.office.as_ref().is_some_and(|of| of.id == o.id))
        .map(|u| MainUser {
            id: u.id,
            email: u.email,
            activated: u.activated,
        });
    let sub_offices = app
        .api
        .offices(token, Some("sub_office"), None)
        .await?
        .into_iter()
        .filter(|s| s.parent_id.as_deref() == Some(o.id.as_str()))
        .map(|s| SubRow {
            rights: s.rights.join(", "),
            name: s.name,
            number: s.number,
            city: s.city,
            active: s.active,
        })
        .collect();
    let mfa_policy = Some(app.api.mfa_policy(token, &o.id).await?);
    Ok(FormPage {
        mfa_policy,
        id: Some(o.id),
        version: Some(o.version),
        advisor_number: o.number,
        name: o.name,
        email: o.email,
        address: o.address,
        postcode: o.postcode,
        city: o.city,
        phone: o.phone,
        rights: o.rights,
        allow_sub_offices: o.allow_sub_offices,
        active: o.active,
        main_user,
        sub_offices,
        error,
        ..FormPage::new(app, user)
    })
}

/// The details page of head office `id`, freshly read.
async fn show(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let here = edit_path(id);
    let office = match head_office(app, jar, user, token, id).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    match details(app, user, token, office, error).await {
        Ok(page) => form_page(app, status, page),
        Err(e) => failure(app, jar, user, &here, BACK, e).await,
    }
}

/// `GET /beheer/hoofdkantoren/{id}`.
pub(crate) async fn edit_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = edit_path(&id);
    match insurer(&app, user, &jar, &here).await {
        Ok((user, token)) => show(&app, &jar, &user, &token, &id, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// `POST /beheer/hoofdkantoren/{id}`: "Opslaan", with `If-Match`; only fields that differ
/// are sent. Adviseursnummer and E-mailadres are fixed (AC-06).
pub(crate) async fn save(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<HeadOfficeForm>,
) -> Response {
    let here = edit_path(&id);
    let (user, token) = match insurer(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let Some(version) = form.version else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let current = match head_office(&app, &jar, &user, &token, &id).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let allow = form.allow_sub_offices.is_some();
    let change = OfficeChange {
        name: changed(&form.name, &current.name),
        address: changed(&form.address, &current.address),
        postcode: changed(&form.postcode, &current.postcode),
        city: changed(&form.city, &current.city),
        phone: changed(&form.phone, &current.phone),
        rights: (!same_rights(&form.rechten, &current.rights)).then_some(form.rechten.as_slice()),
        allow_sub_offices: (allow != current.allow_sub_offices).then_some(allow),
        active: None,
    };
    match app.api.update_office(&token, &id, version, &change).await {
        Ok(_) => Redirect::to(&format!("{LIST}?melding=opgeslagen")).into_response(),
        Err(ApiError::Refused { status, detail }) => {
            let stale = status == StatusCode::PRECONDITION_FAILED;
            let mut shown = current;
            shown.name = form.name;
            shown.address = form.address;
            shown.postcode = form.postcode;
            shown.city = form.city;
            shown.phone = form.phone;
            shown.rights = form.rechten;
            shown.allow_sub_offices = allow;
            if !stale {
                shown.version = version;
            }
            match details(&app, &user, &token, shown, Some(detail)).await {
                Ok(page) => form_page(&app, form_status(status), page),
                Err(e) => failure(&app, &jar, &user, &here, BACK, e).await,
            }
        }
        Err(e) => failure(&app, &jar, &user, &here, BACK, e).await,
    }
}

async fn after_action(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    token: &str,
    id: &str,
    result: Result<(), ApiError>,
    melding: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("{LIST}?melding={melding}")).into_response(),
        Err(ApiError::Refused { status, detail }) => {
            show(app, jar, user, token, id, form_status(status), Some(detail)).await
        }
        Err(e) => failure(app, jar, user, &edit_path(id), BACK, e).await,
    }
}

async fn set_active(
    app: AppState,
    user: Option<SignedInUser>,
    jar: CookieJar,
    id: String,
    version: i64,
    active: bool,
) -> Response {
    let here = edit_path(&id);
    let (user, token) = match insurer(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    if let Err(res) = head_office(&app, &jar, &user, &token, &id).await {
        return res;
    }
    let change = OfficeChange {
        active: Some(active),
        ..OfficeChange::default()
    };
    let result = app
        .api
        .update_office(&token, &id, version, &change)
        .await
        .map(|_| ());
    let melding = if active {
        "geactiveerd"
    } else {
        "gedeactiveerd"
    };
    after_action(&app, &jar, &user, &token, &id, result, melding).await
}

/// `POST /beheer/hoofdkantoren/{id}/deactiveren` (O6: its users and its sub-offices' users
/// lose access).
pub(crate) async fn deactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, false).await
}

/// `POST /beheer/hoofdkantoren/{id}/activeren`.
pub(crate) async fn reactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, true).await
}

/// `POST /beheer/hoofdkantoren/{id}/activatiemail`: a new activation mail for the head
/// office's main user (A4).
pub(crate) async fn resend_activation(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = edit_path(&id);
    let (user, token) = match insurer(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let office = match head_office(&app, &jar, &user, &token, &id).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let main = match app.api.users_of_office(&token, &office.id).await {
        Ok(users) => users.into_iter().find(|u| {
            u.role == "main_user" && u.office.as_ref().is_some_and(|o| o.id == office.id)
        }),
        Err(e) => return failure(&app, &jar, &user, &here, BACK, e).await,
    };
    let result = match main {
        Some(main) => app.api.resend_activation(&token, &main.id).await,
        None => Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: app.templates.texts().text("offices.no_main_user"),
        }),
    };
    after_action(&app, &jar, &user, &token, &id, result, "activatiemail").await
}
