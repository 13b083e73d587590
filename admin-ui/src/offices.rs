//! **Subkantoren** (SPEC O2–O7, manual "Subkantoren beheren"): for the main user of a head
//! office that the insurer allowed to work with sub-offices, the overview of its
//! sub-offices, "nieuw subkantoor" with the form "Nieuw subkantoor aanmaken", and editing
//! by clicking the name (save, deactivate, re-activate, delete, a new activation mail for
//! the sub-office's main user).
//!
//! Like Gebruikers, every read and change goes through the idp's admin API with the
//! signed-in user's token; the API decides (SECURITY AC-01…AC-06) and its Dutch refusal is
//! shown as it is. The checks here only decide which page to show: a forged post still
//! meets the API's, which scopes every query to the caller's office tree in SQL (AC-03).
//! The rights checkboxes come from the product registry: only products a sub-office may
//! hold (O4) and its head office holds.

use crate::form::{PageForm, PageQuery};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, OfficeKind, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::offices::{NewSubOffice, OfficeChange, OfficeDetail};
use crate::api::{ApiError, seg};

/// Whether the menu shows "Subkantoren" to `user` (O2: "Als u ingelogd bent als
/// Hoofdgebruiker van een hoofdkantoor, ziet u in het menu een extra optie
/// 'Subkantoren'", once the insurer allowed it).
///
/// How the shell learns O2: the ID token names the office kind but not whether the insurer
/// allowed it sub-offices, so the shell reads the user's own office through the admin API
/// (`GET /api/v1/offices/{own id}`) whenever it renders a page with the menu, and only for
/// the main user of a head office (everyone else is answered without a call). We chose
/// this over keeping the flag in the relying-party session at sign-in: the insurer grants
/// or withdraws O2 at any moment and a session lasts hours, so a flag from sign-in would
/// show a link that is refused or hide one that works; and the session type is shared
/// with every product portal, which has no use for it. The read is one local call by id;
/// the Subkantoren pages ask again themselves, and the API decides every change anyway.
pub(crate) async fn shows_sub_offices(app: &AppState, user: &SignedInUser, token: &str) -> bool {
    let Some(office) = head_office_of_main_user(user) else {
        return false;
    };
    match app.api.office(token, &office).await {
        Ok(o) => o.is_head_office() && o.allow_sub_offices,
        Err(e) => {
            tracing::debug!(error = %e, "own office not readable for the menu");
            false
        }
    }
}

/// The id of the user's office if the user is the main user of a head office.
fn head_office_of_main_user(user: &SignedInUser) -> Option<String> {
    let office = user.office.as_ref()?;
    (user.role == Role::MainUser && office.kind == OfficeKind::HeadOffice)
        .then(|| office.id.clone())
}

/// [`shows_sub_offices`] for a page that has only the cookie jar.
pub(crate) async fn shows_sub_offices_for(
    app: &AppState,
    user: &SignedInUser,
    jar: &CookieJar,
) -> bool {
    if head_office_of_main_user(user).is_none() {
        return false;
    }
    match app.rp.access_token(jar).await {
        Ok(Some(token)) => shows_sub_offices(app, user, &token).await,
        _ => false,
    }
}

/// One rights checkbox or column: a product from the registry.
#[derive(Serialize)]
pub(crate) struct RightColumn {
    pub(crate) code: String,
    pub(crate) label: String,
}

/// The page telling a signed-in user that this part is not theirs.
#[derive(Serialize)]
struct Refusal<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    sub_offices_menu: bool,
    message_key: &'static str,
    back: &'static str,
}

/// A refusal page (403, or 404 for an office that is not the user's) with the menu.
pub(crate) fn refusal(
    app: &AppState,
    user: &SignedInUser,
    status: StatusCode,
    sub_offices_menu: bool,
    message_key: &'static str,
) -> Response {
    no_store(app.templates.page(
        status,
        "admin/office_refused.html",
        Refusal {
            user,
            logout_action: app.rp.logout_action(),
            sub_offices_menu,
            message_key,
            back: "/",
        },
    ))
}

#[derive(Serialize)]
struct Problem<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    sub_offices_menu: bool,
    detail: String,
    back: &'a str,
    back_key: &'a str,
}

/// What a page shows for an API answer that is not a refusal of the input: a new sign-in,
/// the API's Dutch refusal with its status, or "not reachable".
pub(crate) async fn failure(
    app: &AppState,
    jar: &CookieJar,
    user: &SignedInUser,
    here: &str,
    (back, back_key): (&str, &str),
    e: ApiError,
) -> Response {
    let (status, detail) = match e {
        ApiError::SignedOut => return app.rp.sign_in(jar.clone(), here).await,
        ApiError::StepUp => return app.rp.sign_in_again(jar.clone(), here).await,
        ApiError::Refused { status, detail } => (status, detail),
        ApiError::Unavailable(cause) => {
            tracing::error!(error = %cause, "admin API unavailable");
            (
                StatusCode::BAD_GATEWAY,
                app.templates.texts().text("users.unavailable"),
            )
        }
    };
    // Only the Subkantoren pages lead back to their list, and only for a user who has it.
    let sub_offices_menu = back == LIST;
    no_store(app.templates.page(
        status,
        "admin/office_problem.html",
        Problem {
            user,
            logout_action: app.rp.logout_action(),
            sub_offices_menu,
            detail,
            back,
            back_key,
        },
    ))
}

pub(crate) fn no_store(res: Response) -> Response {
    ([web_kit::headers::no_store()], res).into_response()
}

/// A refusal of the input is shown on the form itself (422); a refusal of the act (403,
/// 404: not the user's office) keeps its status.
pub(crate) fn form_status(status: StatusCode) -> StatusCode {
    if status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND {
        status
    } else if status.is_client_error() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    }
}

/// The rights of the product registry that `keep` accepts, in registry order.
pub(crate) fn right_columns(
    app: &AppState,
    keep: impl Fn(&product_registry::Product) -> bool,
) -> Vec<RightColumn> {
    app.registry
        .products()
        .iter()
        .filter(|p| keep(p))
        .map(|p| RightColumn {
            code: p.code.as_str().to_owned(),
            label: p.label.clone(),
        })
        .collect()
}

/// Whether two lists of right codes are the same set.
pub(crate) fn same_rights(a: &[String], b: &[String]) -> bool {
    let norm = |l: &[String]| {
        let mut v: Vec<String> = l.iter().map(|r| r.trim().to_ascii_uppercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

/// `Some(new)` when it differs from `old` (after trimming): only real changes are sent, so
/// a field the form cannot fill (an empty address of a head office) is left alone.
pub(crate) fn changed<'a>(new: &'a str, old: &str) -> Option<&'a str> {
    let new = new.trim();
    (new != old).then_some(new)
}

const LIST: &str = "/subkantoren";
const BACK: (&str, &str) = (LIST, "offices.back_to_list");

/// The signed-in main user of a head office allowed sub-offices, a live token and that
/// head office; or the page to show instead (sign-in, or a Dutch refusal).
struct HeadManager {
    user: SignedInUser,
    token: String,
    head: OfficeDetail,
}

async fn head_manager(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
    here: &str,
) -> Result<HeadManager, Response> {
    // Refuse before asking for a token: an employee, an insurer admin and a sub-office's
    // main user have no Subkantoren (O2, O5); the API would refuse their calls as well.
    if let Some(u) = &user
        && head_office_of_main_user(u).is_none()
    {
        return Err(refusal(
            app,
            u,
            StatusCode::FORBIDDEN,
            false,
            "offices.only_head_main_user",
        ));
    }
    let (user, token) = crate::users::manager(app, user, jar, here).await?;
    let Some(own) = head_office_of_main_user(&user) else {
        return Err(refusal(
            app,
            &user,
            StatusCode::FORBIDDEN,
            false,
            "offices.only_head_main_user",
        ));
    };
    let head = match app.api.office(&token, &own).await {
        Ok(h) => h,
        Err(e) => return Err(failure(app, jar, &user, here, ("/", "portal.back"), e).await),
    };
    if !head.is_head_office() || !head.allow_sub_offices {
        // O2: only the insurer ("via Salesdesk Leven") allows sub-offices.
        return Err(refusal(
            app,
            &user,
            StatusCode::FORBIDDEN,
            false,
            "offices.not_authorised",
        ));
    }
    Ok(HeadManager { user, token, head })
}

/// The products a sub-office of `head` may hold: those sub-offices may hold at all (O4,
/// so never ORV) that the head office holds itself.
fn sub_office_columns(app: &AppState, head: &OfficeDetail) -> Vec<RightColumn> {
    right_columns(app, |p| {
        p.sub_offices && head.rights.iter().any(|r| r == p.code.as_str())
    })
}

#[derive(Serialize)]
struct Row {
    id: String,
    name: String,
    number: String,
    city: String,
    email: String,
    rights: String,
    active: bool,
}

#[derive(Serialize)]
struct ListPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    sub_offices_menu: bool,
    rows: Vec<Row>,
    notice_key: Option<&'static str>,
}

/// `?melding=` on the list.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    melding: Option<String>,
}

/// `GET /subkantoren`: "een overzicht van de ingevoerde kantoren".
pub(crate) async fn list(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageQuery(q): PageQuery<ListQuery>,
) -> Response {
    let m = match head_manager(&app, user, &jar, LIST).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let offices = match app.api.offices(&m.token, Some("sub_office"), None).await {
        Ok(o) => o,
        Err(e) => return failure(&app, &jar, &m.user, LIST, ("/", "portal.back"), e).await,
    };
    let rows = offices
        .into_iter()
        .filter(|o| o.parent_id.as_deref() == Some(m.head.id.as_str()))
        .map(|o| Row {
            rights: o.rights.join(", "),
            id: o.id,
            name: o.name,
            number: o.number,
            city: o.city,
            email: o.email,
            active: o.active,
        })
        .collect();
    let notice_key = match q.melding.as_deref() {
        Some("aangemaakt") => Some("offices.created"),
        Some("aangemaakt-mail") => Some("offices.created_mail"),
        Some("opgeslagen") => Some("offices.saved"),
        Some("gedeactiveerd") => Some("offices.deactivated"),
        Some("geactiveerd") => Some("offices.reactivated"),
        Some("verwijderd") => Some("offices.deleted"),
        Some("activatiemail") => Some("offices.activation_sent"),
        _ => None,
    };
    no_store(app.templates.page(
        StatusCode::OK,
        "admin/sub_offices.html",
        ListPage {
            user: &m.user,
            logout_action: app.rp.logout_action(),
            sub_offices_menu: true,
            rows,
            notice_key,
        },
    ))
}

/// The sub-office's main user, as the edit page offers its activation mail.
#[derive(Serialize)]
struct MainUser {
    id: String,
    name: String,
    email: String,
    activated: bool,
}

/// One head office to choose under "Hoofdkantoor".
#[derive(Serialize)]
struct Choice {
    id: String,
    label: String,
}

#[derive(Serialize)]
struct FormPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    sub_offices_menu: bool,
    columns: Vec<RightColumn>,
    head_offices: Vec<Choice>,
    /// Editing (with id and version) or new.
    id: Option<String>,
    version: Option<i64>,
    head_office: String,
    name: String,
    address: String,
    postcode: String,
    city: String,
    phone: String,
    email: String,
    number: String,
    rights: Vec<String>,
    send_activation: bool,
    active: bool,
    main_user: Option<MainUser>,
    error: Option<String>,
}

/// The form "Nieuw subkantoor aanmaken" and the sub-office's details.
#[derive(Deserialize)]
pub(crate) struct SubOfficeForm {
    #[serde(default)]
    head_office: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    rechten: Vec<String>,
    send_activation: Option<String>,
    version: Option<i64>,
}

/// The version a button acts on.
#[derive(Deserialize)]
pub(crate) struct VersionForm {
    version: i64,
}

impl HeadManager {
    fn page(&self, app: &AppState) -> FormPage<'_> {
        FormPage {
            user: &self.user,
            logout_action: app.rp.logout_action(),
            sub_offices_menu: true,
            columns: sub_office_columns(app, &self.head),
            // A main user manages exactly one head office: its own (O3).
            head_offices: vec![Choice {
                id: self.head.id.clone(),
                label: format!("{} ({})", self.head.name, self.head.number),
            }],
            id: None,
            version: None,
            head_office: self.head.id.clone(),
            name: String::new(),
            address: String::new(),
            postcode: String::new(),
            city: String::new(),
            phone: String::new(),
            email: String::new(),
            number: String::new(),
            rights: Vec::new(),
            send_activation: false,
            active: true,
            main_user: None,
            error: None,
        }
    }

    /// The details of sub-office `o`, with its main user if found.
    fn edit_page(
        &self,
        app: &AppState,
        o: OfficeDetail,
        main_user: Option<MainUser>,
        error: Option<String>,
    ) -> FormPage<'_> {
        FormPage {
            id: Some(o.id),
            version: Some(o.version),
            name: o.name,
            address: o.address,
            postcode: o.postcode,
            city: o.city,
            phone: o.phone,
            email: o.email,
            number: o.number,
            rights: o.rights,
            active: o.active,
            main_user,
            error,
            ..self.page(app)
        }
    }

    /// Sub-office `id` of this head office, or the page to show instead: the API answers
    /// 404 for an office outside the user's tree (AC-01); the head office itself is not a
    /// sub-office and gets the same answer here.
    async fn sub_office(
        &self,
        app: &AppState,
        jar: &CookieJar,
        here: &str,
        id: &str,
    ) -> Result<OfficeDetail, Response> {
        match app.api.office(&self.token, id).await {
            Ok(o) if o.is_sub_office() && o.parent_id.as_deref() == Some(self.head.id.as_str()) => {
                Ok(o)
            }
            Ok(_) => Err(refusal(
                app,
                &self.user,
                StatusCode::NOT_FOUND,
                true,
                "offices.not_found",
            )),
            Err(e) => Err(failure(app, jar, &self.user, here, BACK, e).await),
        }
    }

    /// The main user of office `id` (O5: created with the office, the office e-mail as
    /// login), if the API lists one.
    async fn main_user_of(&self, app: &AppState, id: &str) -> Result<Option<MainUser>, ApiError> {
        let users = app.api.users_of_office(&self.token, id).await?;
        Ok(users
            .into_iter()
            .find(|u| u.role == "main_user" && u.office.as_ref().is_some_and(|o| o.id == id))
            .map(|u| MainUser {
                id: u.id,
                name: u.name,
                email: u.email,
                activated: u.activated,
            }))
    }

    /// The edit page of `id`, freshly read, with `error` and `status`.
    async fn show(
        &self,
        app: &AppState,
        jar: &CookieJar,
        id: &str,
        status: StatusCode,
        error: Option<String>,
    ) -> Response {
        let here = edit_path(id);
        let office = match self.sub_office(app, jar, &here, id).await {
            Ok(o) => o,
            Err(res) => return res,
        };
        let main_user = match self.main_user_of(app, &office.id).await {
            Ok(u) => u,
            Err(e) => return failure(app, jar, &self.user, &here, BACK, e).await,
        };
        form_page(app, status, self.edit_page(app, office, main_user, error))
    }
}

fn form_page(app: &AppState, status: StatusCode, page: FormPage<'_>) -> Response {
    no_store(
        app.templates
            .page(status, "admin/sub_office_form.html", page),
    )
}

fn edit_path(id: &str) -> String {
    format!("{LIST}/{}", seg(id))
}

/// `GET /subkantoren/nieuw`: "Nieuw subkantoor aanmaken".
pub(crate) async fn new_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    let here = "/subkantoren/nieuw";
    match head_manager(&app, user, &jar, here).await {
        Ok(m) => form_page(&app, StatusCode::OK, m.page(&app)),
        Err(res) => res,
    }
}

/// `POST /subkantoren/nieuw`: "Opslaan". The Hoofdkantoor chosen goes to the API as it
/// is: an office that is not the user's is refused there (404, AC-01), nothing stored.
pub(crate) async fn create(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    PageForm(form): PageForm<SubOfficeForm>,
) -> Response {
    let here = "/subkantoren/nieuw";
    let m = match head_manager(&app, user, &jar, here).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let send_activation = form.send_activation.is_some();
    let new = NewSubOffice {
        name: form.name.trim(),
        address: form.address.trim(),
        postcode: form.postcode.trim(),
        city: form.city.trim(),
        phone: form.phone.trim(),
        email: form.email.trim(),
        number: form.number.trim(),
        rights: &form.rechten,
        send_activation,
    };
    let head = form.head_office.trim();
    match app.api.create_sub_office(&m.token, head, &new).await {
        Ok(_) => {
            let melding = if send_activation {
                "aangemaakt-mail"
            } else {
                "aangemaakt"
            };
            Redirect::to(&format!("{LIST}?melding={melding}")).into_response()
        }
        Err(ApiError::Refused { status, detail }) => form_page(
            &app,
            form_status(status),
            FormPage {
                head_office: form.head_office,
                name: form.name,
                address: form.address,
                postcode: form.postcode,
                city: form.city,
                phone: form.phone,
                email: form.email,
                number: form.number,
                rights: form.rechten,
                send_activation,
                error: Some(detail),
                ..m.page(&app)
            },
        ),
        Err(e) => failure(&app, &jar, &m.user, here, BACK, e).await,
    }
}

/// `GET /subkantoren/{id}`: the sub-office's details, reached by clicking its name.
pub(crate) async fn edit_form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = edit_path(&id);
    match head_manager(&app, user, &jar, &here).await {
        Ok(m) => m.show(&app, &jar, &id, StatusCode::OK, None).await,
        Err(res) => res,
    }
}

/// `POST /subkantoren/{id}`: "Opslaan" on the details, with `If-Match` the version the
/// form was read at; only fields that differ are sent. E-mailadres and Nummer are fixed
/// once created (the API refuses them, AC-06), so the form shows them without a field.
pub(crate) async fn save(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<SubOfficeForm>,
) -> Response {
    let here = edit_path(&id);
    let m = match head_manager(&app, user, &jar, &here).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let Some(version) = form.version else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let current = match m.sub_office(&app, &jar, &here, &id).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let change = OfficeChange {
        name: changed(&form.name, &current.name),
        address: changed(&form.address, &current.address),
        postcode: changed(&form.postcode, &current.postcode),
        city: changed(&form.city, &current.city),
        phone: changed(&form.phone, &current.phone),
        rights: (!same_rights(&form.rechten, &current.rights)).then_some(form.rechten.as_slice()),
        ..OfficeChange::default()
    };
    match app.api.update_office(&m.token, &id, version, &change).await {
        Ok(_) => Redirect::to(&format!("{LIST}?melding=opgeslagen")).into_response(),
        Err(ApiError::Refused { status, detail }) => {
            let main_user = m.main_user_of(&app, &current.id).await.ok().flatten();
            let mut shown = current;
            shown.name = form.name;
            shown.address = form.address;
            shown.postcode = form.postcode;
            shown.city = form.city;
            shown.phone = form.phone;
            shown.rights = form.rechten;
            if status != StatusCode::PRECONDITION_FAILED {
                // Keep the version the person started from, so a retry is still checked.
                shown.version = version;
            }
            form_page(
                &app,
                form_status(status),
                m.edit_page(&app, shown, main_user, Some(detail)),
            )
        }
        Err(e) => failure(&app, &jar, &m.user, &here, BACK, e).await,
    }
}

/// The answer to a button on a sub-office's page: the list with `melding` when it worked;
/// the API's refusal on the office's page (freshly read); anything else as [`failure`].
async fn after_action(
    app: &AppState,
    jar: &CookieJar,
    m: &HeadManager,
    id: &str,
    result: Result<(), ApiError>,
    melding: &str,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("{LIST}?melding={melding}")).into_response(),
        Err(ApiError::Refused { status, detail }) => {
            m.show(app, jar, id, form_status(status), Some(detail))
                .await
        }
        Err(e) => failure(app, jar, &m.user, &edit_path(id), BACK, e).await,
    }
}

/// Deactivates or re-activates (O6: an inactive office has no access to the portal).
async fn set_active(
    app: AppState,
    user: Option<SignedInUser>,
    jar: CookieJar,
    id: String,
    version: i64,
    active: bool,
) -> Response {
    let here = edit_path(&id);
    let m = match head_manager(&app, user, &jar, &here).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    if let Err(res) = m.sub_office(&app, &jar, &here, &id).await {
        return res;
    }
    let change = OfficeChange {
        active: Some(active),
        ..OfficeChange::default()
    };
    let result = app
        .api
        .update_office(&m.token, &id, version, &change)
        .await
        .map(|_| ());
    let melding = if active {
        "geactiveerd"
    } else {
        "gedeactiveerd"
    };
    after_action(&app, &jar, &m, &id, result, melding).await
}

/// `POST /subkantoren/{id}/deactiveren`.
pub(crate) async fn deactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, false).await
}

/// `POST /subkantoren/{id}/activeren`.
pub(crate) async fn reactivate(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    set_active(app, user, jar, id, form.version, true).await
}

/// `POST /subkantoren/{id}/verwijderen` (O7): the API asks every product whether the
/// office made quotes; its 409 or 503 is shown on the office's page as it is.
pub(crate) async fn delete(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<VersionForm>,
) -> Response {
    let here = edit_path(&id);
    let m = match head_manager(&app, user, &jar, &here).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    if let Err(res) = m.sub_office(&app, &jar, &here, &id).await {
        return res;
    }
    let result = app.api.delete_office(&m.token, &id, form.version).await;
    after_action(&app, &jar, &m, &id, result, "verwijderd").await
}

/// `POST /subkantoren/{id}/activatiemail`: a new activation mail for the sub-office's main
/// user (O5 "opnieuw versturen", A4).
pub(crate) async fn resend_activation(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = edit_path(&id);
    let m = match head_manager(&app, user, &jar, &here).await {
        Ok(m) => m,
        Err(res) => return res,
    };
    let office = match m.sub_office(&app, &jar, &here, &id).await {
        Ok(o) => o,
        Err(res) => return res,
    };
    let result = match m.main_user_of(&app, &office.id).await {
        Ok(Some(main)) => app.api.resend_activation(&m.token, &main.id).await,
        Ok(None) => Err(ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: app.templates.texts().text("offices.no_main_user"),
        }),
        Err(e) => Err(e),
    };
    after_action(&app, &jar, &m, &id, result, "activatiemail").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_compare_as_sets() {
        let l = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(same_rights(&l(&["DIL", "DIP"]), &l(&["DIP", "DIL"])));
        assert!(same_rights(&l(&["dip"]), &l(&["DIP"])));
        assert!(!same_rights(&l(&["DIP"]), &l(&["DIP", "DIL"])));
        assert!(same_rights(&l(&[]), &l(&[])));
    }

    #[test]
    fn only_changed_fields_are_sent() {
        assert_eq!(changed(" Markt 5 ", "Markt 5"), None);
        assert_eq!(changed("Markt 6", "Markt 5"), Some("Markt 6"));
        assert_eq!(changed("", ""), None);
    }

    #[test]
    fn refusals_of_the_act_keep_their_status() {
        assert_eq!(form_status(StatusCode::NOT_FOUND), StatusCode::NOT_FOUND);
        assert_eq!(form_status(StatusCode::FORBIDDEN), StatusCode::FORBIDDEN);
        assert_eq!(
            form_status(StatusCode::CONFLICT),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            form_status(StatusCode::PRECONDITION_FAILED),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            form_status(StatusCode::SERVICE_UNAVAILABLE),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
