//! `GET /api/v1/me/office`: the signed-in user's own office, for the product portals. A
//! quote carries the number, name and address of the office that made it (SPEC P2), and
//! product mail goes to the office e-mail with a copy to the head office (P3).
//!
//! Unlike the admin routes ([`super::Caller`]) this one takes a token of any registered
//! client, for any signed-in portal user, employees included, as long as the token was
//! granted the `portal` scope (SPEC §4: the scope that already carries `office` and
//! `head_office` in the token). It is least privilege by construction (SECURITY AC-01,
//! AC-03): no path or query names an office, so it can only ever answer about the caller's
//! own; a query string is refused rather than ignored, so no client comes to believe it
//! chose the office. It reads, changes nothing and audits nothing.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::{self, Problem, ProblemSchema};
use super::users::OfficeKindJson;
use super::{bearer_token, text};
use crate::domain::manage::Scope;
use crate::domain::{OfficeKind, Role};
use crate::oidc::claims;
use crate::oidc::userinfo::{grant_live, verify_access_token};
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::offices;

/// The scope a token needs for this route (SPEC §4).
pub const PORTAL_SCOPE: &str = "portal";

/// RFC 6750 §3.1: the token is good but lacks the scope this route needs.
const INSUFFICIENT_SCOPE: &str = "Bearer error=\"insufficient_scope\", scope=\"portal\"";

/// A signed-in portal user: a live access token of any registered client, with the
/// `portal` scope, of a user who may still sign in (SPEC O6).
#[derive(Debug)]
pub struct PortalUser {
    /// Who.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for PortalUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let unauthorized = || Problem::unauthorized(text(app, "api.unauthorized"));
        let internal = |e| problem::store(e, text(app, "error.internal"));
        let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
        // Signature, `typ: at+jwt`, issuer and expiry (SECURITY OP-22). Only this provider
        // signs such tokens, and only for a client registered with it.
        let claims = verify_access_token(app, token).ok_or_else(unauthorized)?;
        // A revoked grant (logout, code reuse, deactivation: OP-07, OP-19, SE-05) ends the
        // token before its expiry; a service client's token has no grant and no user.
        if !grant_live(app, &claims).await.map_err(internal)? {
            return Err(unauthorized());
        }
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| unauthorized())?;
        // O6: an inactive user, office or head office has no access, whatever the token.
        let principal = accounts::principal(&app.db, user_id, &app.registry)
            .await
            .map_err(internal)?
            .filter(claims::may_sign_in)
            .ok_or_else(unauthorized)?;
        // OP-21: a token that was not granted `portal` gets no portal data.
        if !claims.scope.split_whitespace().any(|s| s == PORTAL_SCOPE) {
            return Err(Problem::forbidden(text(app, "api.portal_scope_required"))
                .with_challenge(INSUFFICIENT_SCOPE));
        }
        Ok(Self { principal })
    }
}

/// The caller's office as a quote prints it (P2).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MyOffice)]
pub struct MyOfficeJson {
    /// Office id (the `office.id` claim).
    pub id: Uuid,
    /// Head office or sub-office.
    pub kind: OfficeKindJson,
    /// The number on a quote: the advisor number of a head office, the sub-office's own
    /// number (Nummer) of a sub-office.
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
    /// The office e-mail: where quotes are sent (O3, P2).
    #[schema(example = "zuid@onderbemiddeling.nl")]
    pub email: String,
}

/// The head office above the caller's office; for a head office, the office itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MyHeadOffice)]
pub struct MyHeadOfficeJson {
    /// Office id (the `head_office.id` claim).
    pub id: Uuid,
    /// Advisor number.
    #[schema(example = "12345")]
    pub number: String,
    /// Naam.
    #[schema(example = "Voorbeeld Advies")]
    pub name: String,
    /// The head office's e-mail: it gets a copy of every product e-mail to a sub-office or
    /// an employee (P3).
    #[schema(example = "info@voorbeeldadvies.nl")]
    pub email: String,
}

/// `GET /api/v1/me/office`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MyOfficeAnswer)]
pub struct MeOfficeJson {
    /// The office the caller belongs to.
    pub office: MyOfficeJson,
    /// Its head office (the office itself when that is a head office).
    pub head_office: MyHeadOfficeJson,
}

/// The signed-in user's own office and its head office, for a quote (P2) and for the
/// product mail and its copy to the head office (P3). Any client's token with scope
/// `portal`; employees too. Takes no parameters: it never answers about another office.
#[utoipa::path(
    get, path = "/api/v1/me/office", tag = "me",
    responses(
        (status = 200, description = "The caller's office and its head office", body = MeOfficeJson,
         headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "A query string was sent; the route takes none", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token, or the user, its office or its head office is no longer active", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "The token was not granted the `portal` scope (`WWW-Authenticate: Bearer error=\"insufficient_scope\"`)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "The caller belongs to no office (an insurer admin)", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn office(
    State(app): State<AppState>,
    user: PortalUser,
    uri: Uri,
) -> Result<Response, Problem> {
    // AC-01, AC-03: nothing in the request may name an office (not even by mistake).
    if uri.query().is_some() {
        return Err(Problem::bad_request(text(&app, "api.no_parameters")));
    }
    let p = &user.principal;
    let no_office = || Problem::not_found(text(&app, "api.no_office"));
    // U1: insurer admins belong to the insurer, not to an office.
    if p.user.role == Role::InsurerAdmin {
        return Err(no_office());
    }
    let own = p.office.as_ref().ok_or_else(no_office)?;
    // Read within the caller's own office only: the scope is in the SQL (AC-03).
    let view = offices::get(&app.db, Scope::OfficeTree(own.id), own.id, &app.registry)
        .await
        .map_err(|e| problem::store(e, text(&app, "error.internal")))?
        .ok_or_else(no_office)?;
    // O6: deactivated since the token was checked above.
    if !view.active {
        return Err(Problem::unauthorized(text(&app, "api.unauthorized")));
    }
    let head_office = match view.kind {
        OfficeKind::HeadOffice => MyHeadOfficeJson {
            id: view.id,
            number: view.number.clone(),
            name: view.name.clone(),
            email: view.email.clone(),
        },
        OfficeKind::SubOffice => {
            let head = p
                .head_office
                .as_ref()
                .filter(|h| Some(h.id) == view.parent_id);
            let Some(head) = head else {
                return Err(Problem::internal(
                    "a sub-office without its head office",
                    text(&app, "error.internal"),
                ));
            };
            MyHeadOfficeJson {
                id: head.id,
                number: head.number.clone(),
                name: head.name.clone(),
                email: head.email.to_string(),
            }
        }
    };
    let body = MeOfficeJson {
        office: MyOfficeJson {
            id: view.id,
            kind: match view.kind {
                OfficeKind::HeadOffice => OfficeKindJson::HeadOffice,
                OfficeKind::SubOffice => OfficeKindJson::SubOffice,
            },
            number: view.number,
            name: view.name,
            address: view.address,
            postcode: view.postcode,
            city: view.city,
            phone: view.phone,
            email: view.email,
        },
        head_office,
    };
    // HD-03, OP-11: personal data from a bearer call is never cached.
    let mut res = Json(body).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
