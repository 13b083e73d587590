//! Users in the admin API (SPEC U1–U5, A4, F3): the JSON shapes and thin handlers over
//! the flows in `crate::manage`. Who may do what is decided there (`domain::manage`);
//! here a request is decoded, a flow called and its answer shaped.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{Problem, ProblemSchema};
use super::{ApiJson, ApiQuery, Caller, IfMatch, etag, text};
use crate::domain::{OfficeKind, Role};
use crate::login::client::ClientIp;
use crate::manage::{self, NewUser, UserChange};
use crate::provision::{self, FactorReset, SessionsEnded};
use crate::state::AppState;
use crate::store::email_changes;
use crate::store::users::{Filter, Page, UserView};

/// A user's role (SPEC U1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Role)]
pub enum RoleJson {
    /// Hoofdgebruiker: one per office.
    MainUser,
    /// Medewerker.
    Employee,
    /// The insurer's staff; no office.
    InsurerAdmin,
}

impl From<Role> for RoleJson {
    fn from(r: Role) -> Self {
        match r {
            Role::MainUser => Self::MainUser,
            Role::Employee => Self::Employee,
            Role::InsurerAdmin => Self::InsurerAdmin,
        }
    }
}

/// Head office or sub-office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = OfficeKind)]
pub enum OfficeKindJson {
    /// Hoofdkantoor.
    HeadOffice,
    /// Subkantoor.
    SubOffice,
}

/// The office a user belongs to (the whole office: `GET /api/v1/offices/{id}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UserOffice)]
pub struct OfficeJson {
    /// Office id.
    pub id: Uuid,
    /// Advisor number (head office) or the sub-office's own number.
    pub number: String,
    /// Name.
    pub name: String,
    /// Head or sub.
    pub kind: OfficeKindJson,
}

/// A user as the admin API shows it. Never a password hash, seed or token (AC-07).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    /// The stable id (the `sub` of its tokens).
    pub id: Uuid,
    /// Naam.
    pub name: String,
    /// E-mailadres, the login.
    pub email: String,
    /// Role.
    pub role: RoleJson,
    /// Whether the account may sign in.
    pub active: bool,
    /// Whether the user has set a password through its activation link.
    pub activated: bool,
    /// The user's own rights, in registry order (the token's rights are these ∩ the
    /// office's, U4).
    #[schema(example = json!(["DIP", "DIL"]))]
    pub rights: Vec<String>,
    /// Its office; `null` for insurer admins.
    pub office: Option<OfficeJson>,
    /// Bumped by every change; also the `ETag`, to send back as `If-Match`.
    pub version: i64,
    /// A new login e-mail waiting for its owner to confirm it through the link mailed to
    /// it (AC-10); until then `email` is the login. Only on a single user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_pending: Option<String>,
}

impl UserJson {
    fn of(v: &UserView, app: &AppState) -> Self {
        Self {
            id: v.user.id,
            name: v.user.name.clone(),
            email: v.user.email.to_string(),
            role: v.user.role.into(),
            active: v.user.active,
            activated: v.user.activated,
            rights: app
                .registry
                .ordered(&v.user.rights)
                .into_iter()
                .map(|r| r.to_string())
                .collect(),
            office: v.office.as_ref().map(|o| OfficeJson {
                id: o.id,
                number: o.number.clone(),
                name: o.name.clone(),
                kind: match o.kind {
                    OfficeKind::HeadOffice => OfficeKindJson::HeadOffice,
                    OfficeKind::SubOffice => OfficeKindJson::SubOffice,
                },
            }),
            version: v.version,
            email_pending: None,
        }
    }
}

/// `GET /api/v1/users`: one page.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UserList)]
pub struct UserListJson {
    /// Ordered by office (a head office, then its sub-offices) and name.
    pub users: Vec<UserJson>,
    /// This page's number (1-based).
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// The next page's number, to send as `page` with the same filters and `limit`;
    /// `null` on the last page.
    pub next: Option<u32>,
}

/// The page a list query asks for: `page` (default 1) and `limit` (default 50, at most
/// 200); anything else is 400.
pub(crate) fn page_of(
    app: &AppState,
    page: Option<u32>,
    limit: Option<u32>,
) -> Result<Page, Problem> {
    Page::new(page.unwrap_or(1), limit.unwrap_or(Page::DEFAULT_LIMIT))
        .ok_or_else(|| Problem::bad_request(text(app, "zoeken.bad_page")))
}

/// The `next` of a page's answer.
pub(crate) fn next_of(page: Page, more: bool) -> Option<u32> {
    more.then_some(page.number.saturating_add(1))
}

/// "Nieuwe gebruiker".
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewUser)]
pub struct NewUserJson {
    /// Naam.
    #[schema(example = "Ilse de Vries")]
    pub name: String,
    /// E-mailadres: unique, the login (U3).
    #[schema(example = "ilse@voorbeeldadvies.nl")]
    pub email: String,
    /// Right codes, within the office's (U4); never `ORV` in a sub-office (O4).
    #[schema(example = json!(["DIP"]))]
    pub rights: Vec<String>,
    /// The office; default the caller's. A main user may name its own office or one of
    /// its sub-offices; an insurer admin must name one.
    #[serde(default)]
    pub office_id: Option<Uuid>,
}

/// A change: only the fields sent change. Role, office and credentials cannot be set
/// here (AC-06): such a field gets 400.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserPatch)]
pub struct UserPatchJson {
    /// Naam.
    #[serde(default)]
    pub name: Option<String>,
    /// E-mailadres, the new login; the old address gets a notice.
    #[serde(default)]
    pub email: Option<String>,
    /// The whole new set of right codes. A main user's rights are its office's.
    #[serde(default)]
    pub rights: Option<Vec<String>>,
    /// `false` deactivates: the user's sessions and tokens end at once (O6).
    #[serde(default)]
    pub active: Option<bool>,
}

/// Filters of `GET /api/v1/users` (insurer admins mostly; a main user's list is its
/// office tree whatever it asks).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the users of this office.
    pub office_id: Option<Uuid>,
    /// Only users whose name or e-mail contains this text (case-insensitive).
    pub q: Option<String>,
    /// The page, 1-based (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Users per page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn user_id(app: &AppState, raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found(text(app, "api.user_not_found")))
}

/// A user with its `ETag` and the new e-mail waiting for confirmation, if any.
async fn user_response(
    app: &AppState,
    status: StatusCode,
    v: &UserView,
) -> Result<Response, Problem> {
    let pending = email_changes::pending(&app.db, v.user.id, app.now())
        .await
        .map_err(|e| Problem::failed(app, e))?;
    let json = UserJson {
        email_pending: pending,
        ..UserJson::of(v, app)
    };
    let mut res = (status, Json(json)).into_response();
    if let Ok(tag) = etag(v.version).parse() {
        res.headers_mut().insert(header::ETAG, tag);
    }
    Ok(res)
}

/// U2: the users the caller manages.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users", params(ListQuery),
    responses(
        (status = 200, description = "One page of the users, by office and name; `next` is the following page", body = UserListJson),
        (status = 400, description = "A malformed query, or a page or limit out of range", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<UserListJson>, Problem> {
    let filter = Filter {
        office_id: q.office_id,
        q: q.q.filter(|s| !s.trim().is_empty()),
    };
    let page = page_of(&app, q.page, q.limit)?;
    let found = manage::list(&app, &caller.principal, &filter, page)
        .await
        .map_err(|e| Problem::of(&app, e))?;
    let users = found.rows.iter().map(|u| UserJson::of(u, &app)).collect();
    Ok(Json(UserListJson {
        users,
        page: page.number,
        limit: page.limit,
        next: next_of(page, found.more),
    }))
}

/// One user the caller manages.
#[utoipa::path(
    get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = UserJson,
         headers(("ETag" = String, description = "The version, quoted: send it back as If-Match"))),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = user_id(&app, &id)?;
    let view = manage::get(&app, &caller.principal, id, ip.text().as_deref(), app.now())
        .await
        .map_err(|e| Problem::of(&app, e))?;
    user_response(&app, StatusCode::OK, &view).await
}

/// "Nieuwe gebruiker": an employee, with its activation mail.
#[utoipa::path(
    post, path = "/api/v1/users", tag = "users", request_body = NewUserJson,
    responses(
        (status = 201, description = "Created; the activation mail is on its way", body = UserJson,
         headers(("Location" = String, description = "The new user's URL"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Malformed, or a field that cannot be set", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Dit e-mailadres is al in gebruik", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule; `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<NewUserJson>,
) -> Result<Response, Problem> {
    let input = NewUser {
        name: body.name,
        email: body.email,
        rights: body.rights,
        office_id: body.office_id,
    };
    let view = manage::create(&app, &caller.principal, &input, ip.text(), app.now())
        .await
        .map_err(|e| Problem::of(&app, e))?;
    let mut res = user_response(&app, StatusCode::CREATED, &view).await?;
    if let Ok(location) = format!("/api/v1/users/{}", view.user.id).parse() {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// Changes a user's name, e-mail, rights or active flag.
#[utoipa::path(
    patch, path = "/api/v1/users/{id}", tag = "users", request_body = UserPatchJson,
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("If-Match" = String, Header, description = "The ETag the change was made from, e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "Changed", body = UserJson,
         headers(("ETag" = String, description = "The new version"))),
        (status = 202, description = "Four-eyes (PORTAL_FOUR_EYES, e.g. ORV granted): the whole change waits for a second insurer admin; nothing was changed", body = crate::api::approvals::ApprovalJson),
        (status = 400, description = "Malformed, or a field that cannot be set (role, office_id, …)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token; or, with an RFC 9470 `insufficient_user_authentication` challenge, a sign-in older than 5 minutes (AC-08: a new e-mail, a 2FA reset)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or not of this user", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Dit e-mailadres is al in gebruik", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since that version", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule (U4, U5); `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    ApiJson(body): ApiJson<UserPatchJson>,
) -> Result<Response, Problem> {
    let id = user_id(&app, &id)?;
    let change = UserChange {
        name: body.name,
        email: body.email,
        rights: body.rights,
        active: body.active,
        recent_sign_in: caller.require_recent_sign_in(&app).is_ok(),
    };
    // A tag that is no version of ours matches nothing; the flow still hides unknown ids.
    let version = version.unwrap_or(0);
    let view = match manage::update(
        &app,
        &caller.principal,
        id,
        version,
        &change,
        ip.text(),
        app.now(),
    )
    .await
    {
        Ok(view) => view,
        Err(manage::ManageError::Waiting(p)) => {
            return Ok(crate::api::approvals::accepted(&app, &p));
        }
        Err(e) => return Err(Problem::of(&app, e)),
    };
    user_response(&app, StatusCode::OK, &view).await
}

/// A4: resends the activation mail; older links stop working.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/activation", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 202, description = "A new activation mail is on its way"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or not of this user", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Already activated, or deactivated", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn send_activation(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = user_id(&app, &id)?;
    manage::send_activation(&app, &caller.principal, id, ip.text(), app.now())
        .await
        .map_err(|e| Problem::of(&app, e))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /api/v1/users/{id}/second-factors/reset` (SPEC F3, SECURITY MF-07): a main user
/// for the users of its office tree, an insurer admin for anyone but another insurer
/// admin. The user's app, recovery codes and passkeys are removed, every session and
/// token ends, the act is audited and the user is mailed; 204 on success. A user the
/// caller may not manage is 404 whether or not it exists, so ids cannot be probed.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/second-factors/reset", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Reset: the user enrols again at its next sign-in"),
        (status = 401, description = "No valid access token; or, with an RFC 9470 `insufficient_user_authentication` challenge, a sign-in older than 5 minutes (AC-08: a new e-mail, a 2FA reset)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller may reset", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn reset_second_factors(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(text(&app, "api.user_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    caller.require_recent_sign_in(&app)?;
    let outcome =
        provision::reset_second_factors(&app, Some(&caller.principal), id, ip.text(), app.now())
            .await
            .map_err(|e| Problem::failed(&app, e))?;
    match outcome {
        FactorReset::Done => Ok(StatusCode::NO_CONTENT.into_response()),
        FactorReset::Forbidden | FactorReset::NoSuchUser => Err(not_found()),
    }
}

/// `POST /api/v1/users/{id}/sessions/end` (SECURITY SE-06): a main user for the users of
/// its office tree, an insurer admin for anyone but another insurer admin (as for a 2FA
/// reset) signs the user out everywhere: every session, its tokens and codes end, the
/// product portals are told (back-channel logout), and the act is audited; 204. The
/// password and second factors stay. A user the caller may not manage is 404 whether or
/// not it exists.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/sessions/end", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn end_sessions(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(text(&app, "api.user_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let outcome = provision::end_sessions(&app, &caller.principal, id, ip.text(), app.now())
        .await
        .map_err(|e| Problem::failed(&app, e))?;
    match outcome {
        SessionsEnded::Done(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        SessionsEnded::Forbidden | SessionsEnded::NoSuchUser => Err(not_found()),
    }
}
