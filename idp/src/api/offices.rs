//! Offices in the admin API (SPEC O1–O7): the JSON shapes and thin handlers over the flows
//! in `crate::offices`. Who may do what is decided in `domain::office_admin`; here a
//! request is decoded, a flow called and its answer shaped.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{Problem, ProblemSchema};
use super::users::{OfficeKindJson, next_of, page_of};
use super::{ApiJson, ApiQuery, Caller, IfMatch, etag, text};
use crate::domain::OfficeKind;
use crate::login::client::ClientIp;
use crate::offices::{self, NewHead, NewSub, OfficeChange};
use crate::state::AppState;
use crate::store::offices::{OfficeFilter, OfficeView};

/// An office as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Office)]
pub struct OfficeFullJson {
    /// Office id.
    pub id: Uuid,
    /// Head office (direct appointment) or sub-office.
    pub kind: OfficeKindJson,
    /// The head office of a sub-office; `null` for a head office.
    pub parent_id: Option<Uuid>,
    /// Advisor number (head office) or the sub-office's own number (Nummer).
    #[schema(example = "Z01")]
    pub number: String,
    /// Naam.
    #[schema(example = "Onderbemiddeling Zuid")]
    pub name: String,
    /// Adres.
    #[schema(example = "Markt 5")]
    pub address: String,
    /// Postcode, `1234 AB`.
    #[schema(example = "5611 EB")]
    pub postcode: String,
    /// Plaats.
    #[schema(example = "Eindhoven")]
    pub city: String,
    /// Telefoon.
    #[schema(example = "040 765 43 21")]
    pub phone: String,
    /// Office e-mail: where quotes are sent; the main user's login at creation.
    #[schema(example = "zuid@onderbemiddeling.nl")]
    pub email: String,
    /// The office's rights, in registry order.
    #[schema(example = json!(["DIP", "DIL"]))]
    pub rights: Vec<String>,
    /// O2: whether the insurer allowed this head office to work with sub-offices.
    pub allow_sub_offices: bool,
    /// O6: an inactive office and (for a head office) its sub-offices have no access.
    pub active: bool,
    /// Bumped by every change; also the `ETag`, to send back as `If-Match`.
    pub version: i64,
}

impl OfficeFullJson {
    fn of(v: &OfficeView, app: &AppState) -> Self {
        Self {
            id: v.id,
            kind: match v.kind {
                OfficeKind::HeadOffice => OfficeKindJson::HeadOffice,
                OfficeKind::SubOffice => OfficeKindJson::SubOffice,
            },
            parent_id: v.parent_id,
            number: v.number.clone(),
            name: v.name.clone(),
            address: v.address.clone(),
            postcode: v.postcode.clone(),
            city: v.city.clone(),
            phone: v.phone.clone(),
            email: v.email.clone(),
            rights: app
                .registry
                .ordered(&v.rights)
                .into_iter()
                .map(|r| r.to_string())
                .collect(),
            allow_sub_offices: v.allow_sub_offices,
            active: v.active,
            version: v.version,
        }
    }
}

/// `GET /api/v1/offices`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OfficeList)]
pub struct OfficeListJson {
    /// Each head office followed by its sub-offices, by name.
    pub offices: Vec<OfficeFullJson>,
    /// This page's number (1-based).
    pub page: u32,
    /// The page size.
    pub limit: u32,
    /// The next page's number, to send as `page` with the same filters and `limit`;
    /// `null` on the last page.
    pub next: Option<u32>,
}

/// O1: a new head office (the insurer's console).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewHeadOffice)]
pub struct NewHeadOfficeJson {
    /// Adviseursnummer: unique across all offices; also a login of the main user.
    #[schema(example = "24680")]
    pub advisor_number: String,
    /// Naam.
    #[schema(example = "Advieshuis West")]
    pub name: String,
    /// Office e-mail, unique: the main user's login, who gets the activation mail.
    #[schema(example = "info@advieshuiswest.nl")]
    pub email: String,
    /// The appointment: which products the office may sell.
    #[schema(example = json!(["DIP", "DIL", "ORV"]))]
    pub rights: Vec<String>,
    /// O2: may it work with sub-offices.
    #[serde(default)]
    pub allow_sub_offices: bool,
}

/// O3 "Nieuw subkantoor aanmaken"; the Hoofdkantoor is the office in the path.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewSubOffice)]
pub struct NewSubOfficeJson {
    /// Naam.
    #[schema(example = "Onderbemiddeling Oost")]
    pub name: String,
    /// Adres.
    #[schema(example = "Oude Markt 12")]
    pub address: String,
    /// Postcode, `1234 AB`.
    #[schema(example = "7511 GB")]
    pub postcode: String,
    /// Plaats.
    #[schema(example = "Enschede")]
    pub city: String,
    /// Telefoon.
    #[schema(example = "053 123 45 67")]
    pub phone: String,
    /// E-mailadres: "Uniek kantoor e-mailadres. Naar dit e-mailadres worden de offertes
    /// verzonden." Also the login of the sub-office's main user (O5).
    #[schema(example = "oost@onderbemiddeling.nl")]
    pub email: String,
    /// Nummer: "Uniek kantoornummer. Als een subkantoor een offerte maakt dan wordt dit
    /// nummer gebruikt in de offerte." Unique within the head office.
    #[schema(example = "O02")]
    pub number: String,
    /// Rechten: within the head office's, never `ORV` (O4).
    #[schema(example = json!(["DIP"]))]
    pub rights: Vec<String>,
    /// "Zend e-mail met activatielink naar subkantoor": when `false`, send it later with
    /// `POST /api/v1/users/{id}/activation`.
    pub send_activation: bool,
}

/// A change: only the fields sent change. Kind, parent, number and e-mail cannot be
/// changed here (AC-06): such a field gets 400.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OfficePatch)]
pub struct OfficePatchJson {
    /// Naam.
    #[serde(default)]
    pub name: Option<String>,
    /// Adres.
    #[serde(default)]
    pub address: Option<String>,
    /// Postcode.
    #[serde(default)]
    pub postcode: Option<String>,
    /// Plaats.
    #[serde(default)]
    pub city: Option<String>,
    /// Telefoon.
    #[serde(default)]
    pub phone: Option<String>,
    /// The whole new set of rights: the insurer for a head office, the head office's main
    /// user for its sub-offices (within its own rights, never `ORV`).
    #[serde(default)]
    pub rights: Option<Vec<String>>,
    /// O2: insurer admins only, head offices only.
    #[serde(default)]
    pub allow_sub_offices: Option<bool>,
    /// `false` deactivates: every session and token of its users (and of its sub-offices'
    /// users) ends at once (O6). Not for one's own office.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Filters of `GET /api/v1/offices`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfficeQuery {
    /// Only offices whose name, number, e-mail or city contains this text.
    pub q: Option<String>,
    /// Only `head_office` or only `sub_office`.
    pub kind: Option<String>,
    /// The page, 1-based (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Offices per page (default 50, at most 200).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

fn office_id(app: &AppState, raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found(text(app, "api.office_not_found")))
}

/// An office with its `ETag`.
fn office_response(app: &AppState, status: StatusCode, v: &OfficeView) -> Response {
    let mut res = (status, Json(OfficeFullJson::of(v, app))).into_response();
    if let Ok(tag) = etag(v.version).parse() {
        res.headers_mut().insert(header::ETAG, tag);
    }
    if status == StatusCode::CREATED
        && let Ok(location) = format!("/api/v1/offices/{}", v.id).parse()
    {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

/// The offices the caller manages: an insurer admin all, a head office's main user its
/// office and its sub-offices, a sub-office's main user its own office.
#[utoipa::path(
    get, path = "/api/v1/offices", tag = "offices", params(OfficeQuery),
    responses(
        (status = 200, description = "One page of the offices, each head office followed by its sub-offices; `next` is the following page", body = OfficeListJson),
        (status = 400, description = "A malformed query (an unknown kind, a page or limit out of range)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OfficeQuery>,
) -> Result<Json<OfficeListJson>, Problem> {
    let kind = match q.kind.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(
            OfficeKind::parse(k).ok_or_else(|| Problem::bad_request(text(&app, "api.bad_kind")))?,
        ),
    };
    let filter = OfficeFilter {
        kind,
        q: q.q.filter(|s| !s.trim().is_empty()),
    };
    let page = page_of(&app, q.page, q.limit)?;
    let found = offices::list(&app, &caller.principal, &filter, page)
        .await
        .map_err(|e| Problem::of(&app, e))?;
    let offices = found
        .rows
        .iter()
        .map(|o| OfficeFullJson::of(o, &app))
        .collect();
    Ok(Json(OfficeListJson {
        offices,
        page: page.number,
        limit: page.limit,
        next: next_of(page, found.more),
    }))
}

/// One office the caller manages.
#[utoipa::path(
    get, path = "/api/v1/offices/{id}", tag = "offices",
    params(("id" = Uuid, Path, description = "The office's id")),
    responses(
        (status = 200, description = "The office", body = OfficeFullJson,
         headers(("ETag" = String, description = "The version, quoted: send it back as If-Match"))),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such office, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = office_id(&app, &id)?;
    let view = offices::get(&app, &caller.principal, id, ip.text().as_deref(), app.now())
        .await
        .map_err(|e| Problem::of(&app, e))?;
    Ok(office_response(&app, StatusCode::OK, &view))
}

/// O1: a head office with its main user (the office e-mail as login), who gets the
/// activation mail. Insurer admins only.
#[utoipa::path(
    post, path = "/api/v1/offices", tag = "offices", request_body = NewHeadOfficeJson,
    responses(
        (status = 201, description = "Created; the main user's activation mail is on its way", body = OfficeFullJson,
         headers(("Location" = String, description = "The new office's URL"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Malformed, or a field that cannot be set", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The advisor number or e-mail is in use; `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule; `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<NewHeadOfficeJson>,
) -> Result<Response, Problem> {
    let input = NewHead {
        advisor_number: body.advisor_number,
        name: body.name,
        email: body.email,
        rights: body.rights,
        allow_sub_offices: body.allow_sub_offices,
    };
    let view = offices::create_head_office(&app, &caller.principal, &input, ip.text(), app.now())
        .await
        .map_err(|e| Problem::of(&app, e))?;
    Ok(office_response(&app, StatusCode::CREATED, &view))
}

/// O3 "Nieuw subkantoor aanmaken" under head office `{id}`: its main user (the office
/// e-mail as login, O5) and, if asked, the activation mail, in one transaction. The head
/// office's main user, when the insurer allowed it sub-offices (O2), or an insurer admin.
#[utoipa::path(
    post, path = "/api/v1/offices/{id}/sub-offices", tag = "offices", request_body = NewSubOfficeJson,
    params(("id" = Uuid, Path, description = "The head office's id (Hoofdkantoor)")),
    responses(
        (status = 201, description = "Created", body = OfficeFullJson,
         headers(("Location" = String, description = "The new office's URL"), ("ETag" = String, description = "Its version"))),
        (status = 400, description = "Malformed, or a field that cannot be set", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator of this head office, or the head office is not allowed sub-offices (O2)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such office, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The e-mail or number is in use; `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule (O3, O4), or the office is a sub-office (O5)", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create_sub_office(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewSubOfficeJson>,
) -> Result<Response, Problem> {
    let id = office_id(&app, &id)?;
    let input = NewSub {
        name: body.name,
        address: body.address,
        postcode: body.postcode,
        city: body.city,
        phone: body.phone,
        email: body.email,
        number: body.number,
        rights: body.rights,
        send_activation: body.send_activation,
    };
    let view =
        offices::create_sub_office(&app, &caller.principal, id, &input, ip.text(), app.now())
            .await
            .map_err(|e| Problem::of(&app, e))?;
    Ok(office_response(&app, StatusCode::CREATED, &view))
}

/// Changes an office's contact data, rights, sub-office permission or active flag.
#[utoipa::path(
    patch, path = "/api/v1/offices/{id}", tag = "offices", request_body = OfficePatchJson,
    params(
        ("id" = Uuid, Path, description = "The office's id"),
        ("If-Match" = String, Header, description = "The ETag the change was made from, e.g. \"3\""),
    ),
    responses(
        (status = 200, description = "Changed", body = OfficeFullJson,
         headers(("ETag" = String, description = "The new version"))),
        (status = 202, description = "Four-eyes (PORTAL_FOUR_EYES): the whole change waits for a second insurer admin; nothing was changed", body = crate::api::approvals::ApprovalJson),
        (status = 400, description = "Malformed, or a field that cannot be set (kind, number, email, …)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator, or a change only the insurer makes", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such office, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since that version", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule (O3, O4, own office); `field` names it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn update(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
    ApiJson(body): ApiJson<OfficePatchJson>,
) -> Result<Response, Problem> {
    let id = office_id(&app, &id)?;
    let change = OfficeChange {
        name: body.name,
        address: body.address,
        postcode: body.postcode,
        city: body.city,
        phone: body.phone,
        rights: body.rights,
        allow_sub_offices: body.allow_sub_offices,
        active: body.active,
    };
    // A tag that is no version of ours matches nothing; the flow still hides unknown ids.
    let version = version.unwrap_or(0);
    let view = match offices::update(
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
        Err(crate::manage::ManageError::Waiting(p)) => {
            return Ok(crate::api::approvals::accepted(&app, &p));
        }
        Err(e) => return Err(Problem::of(&app, e)),
    };
    Ok(office_response(&app, StatusCode::OK, &view))
}

/// O7: deletes a sub-office with its users, if no product holds a quote of it. Every
/// product is asked; one that cannot answer refuses the deletion (503, fail closed).
#[utoipa::path(
    delete, path = "/api/v1/offices/{id}", tag = "offices",
    params(
        ("id" = Uuid, Path, description = "The sub-office's id"),
        ("If-Match" = String, Header, description = "The ETag the deletion was decided on, e.g. \"3\""),
    ),
    responses(
        (status = 204, description = "Deleted, with its users; audit entries stay"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator of this sub-office", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such office, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "A product holds quotes of it", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since that version", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A head office (deactivate it instead)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 503, description = "A product could not say whether it holds quotes; nothing was deleted", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn delete(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
) -> Result<Response, Problem> {
    let id = office_id(&app, &id)?;
    offices::delete(
        &app,
        &caller.principal,
        id,
        version.unwrap_or(0),
        ip.text(),
        app.now(),
    )
    .await
    .map_err(|e| Problem::of(&app, e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
