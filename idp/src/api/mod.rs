//! The admin API (issue 6): JSON under `/api/v1`, called with a bearer access token of
//! this provider, for the management UI and the insurer's own tools. Every route takes a
//! [`Caller`], so authentication and the "who may administer at all" rule sit in one place;
//! the per-target rules are in `domain`. Errors are RFC 9457 problems (`problem`).
//!
//! Only access tokens issued to a client in `PORTAL_ADMIN_CLIENTS` (default: the portal's
//! own shell) are accepted: a main user's token held by some product portal or third party
//! cannot administer anything (SECURITY AC-01).
//!
//! One route is not administration: `GET /me/office` (`me`) answers any signed-in portal
//! user, through any registered client's token with scope `portal`, about the user's own
//! office only, for the product portals' quotes and mail (SPEC P2, P3).

pub mod approvals;
pub mod audit;
pub mod clients;
pub mod imports;
pub mod me;
pub mod mfa;
pub mod offices;
pub mod openapi;
pub mod outbox;
pub mod problem;
pub mod users;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::domain::Role;
use crate::oidc::claims;
use crate::oidc::userinfo::{grant_live, verify_access_token};
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use problem::Problem;

/// Every route of [`routes`] with its methods, relative to `/api/v1`, for the whole-portal
/// header test (SECURITY HD-02); `crate::tests` fails when the two disagree.
pub const ROUTES: web_kit::headers::RouteTable = &[
    ("GET", "/openapi.json"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/{id}"),
    ("PATCH", "/users/{id}"),
    ("POST", "/users/{id}/activation"),
    ("POST", "/users/{id}/second-factors/reset"),
    ("POST", "/users/{id}/sessions/end"),
    ("GET", "/offices"),
    ("POST", "/offices"),
    ("GET", "/offices/{id}"),
    ("PATCH", "/offices/{id}"),
    ("DELETE", "/offices/{id}"),
    ("POST", "/offices/{id}/sub-offices"),
    ("GET", "/audit"),
    ("GET", "/audit.csv"),
    ("GET", "/clients"),
    ("POST", "/clients"),
    ("POST", "/imports"),
    ("GET", "/imports/{id}"),
    ("GET", "/imports/{id}/report.csv"),
    ("POST", "/imports/{id}/confirm"),
    ("POST", "/imports/{id}/cancel"),
    ("GET", "/outbox"),
    ("GET", "/me/office"),
    ("GET", "/me/mfa"),
    ("GET", "/mfa/status"),
    ("POST", "/users/{id}/mfa-reminder"),
    ("GET", "/offices/{id}/mfa-policy"),
    ("PATCH", "/offices/{id}/mfa-policy"),
    ("GET", "/approvals"),
    ("POST", "/approvals/{id}/approve"),
    ("POST", "/approvals/{id}/reject"),
    ("POST", "/users/{id}/main-user"),
];

/// The admin API's routes, to be nested at `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::get).patch(users::update))
        .route("/users/{id}/activation", post(users::send_activation))
        .route(
            "/users/{id}/second-factors/reset",
            post(users::reset_second_factors),
        )
        .route("/users/{id}/sessions/end", post(users::end_sessions))
        .route("/offices", get(offices::list).post(offices::create))
        .route(
            "/offices/{id}",
            get(offices::get)
                .patch(offices::update)
                .delete(offices::delete),
        )
        .route(
            "/offices/{id}/sub-offices",
            post(offices::create_sub_office),
        )
        // The audit log (SPEC L1).
        .route("/audit", get(audit::list))
        // …and as a CSV file for Excel (issue 10).
        .route("/audit.csv", get(audit::export_csv))
        // The insurer's console: OIDC clients (issue 6).
        .route("/clients", get(clients::list).post(clients::create))
        // Bulk import of head offices (issue 6, O1); the upload reads its own, larger
        // body limit (`imports::IMPORT_LIMIT`).
        .route("/imports", post(imports::start))
        .route("/imports/{id}", get(imports::get))
        .route("/imports/{id}/report.csv", get(imports::report))
        // Issue 10: a preview is confirmed or cancelled.
        .route("/imports/{id}/confirm", post(imports::confirm))
        .route("/imports/{id}/cancel", post(imports::cancel))
        // The e-mail backlog, for the insurer's console (issue 9).
        .route("/outbox", get(outbox::get))
        // The caller's own office, for the product portals (SPEC P2, P3); not admin.
        .route("/me/office", get(me::office))
        // Four-eyes: changes waiting for a second approver (issue 10).
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
        .route("/users/{id}/main-user", post(approvals::make_main_user))
        // The MFA mandate per head office (issue 10).
        .route("/me/mfa", get(mfa::me))
        .route("/mfa/status", get(mfa::status))
        .route("/users/{id}/mfa-reminder", post(mfa::remind))
        .route(
            "/offices/{id}/mfa-policy",
            get(mfa::get_policy).patch(mfa::set_policy),
        )
}

/// The bearer token of the `Authorization` header (RFC 6750 §2.1), the only place one is
/// read from: never the query string (§2.3, SECURITY OP-22).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The authenticated caller of an admin route: an active main user or insurer admin,
/// holding a live access token of an admin client.
#[derive(Debug)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// When the user last authenticated, from the access token (unix seconds).
    pub auth_time: Option<i64>,
}

impl Caller {
    /// SECURITY AC-08: changing another user's e-mail, resetting 2FA and managing clients
    /// need a sign-in within the last five minutes (the same window as MF-06). An older
    /// one gets the RFC 9470 step-up challenge, and nothing is changed.
    pub fn require_recent_sign_in(&self, app: &AppState) -> Result<(), Problem> {
        let now = app.now().unix_timestamp();
        let recent = self
            .auth_time
            .is_some_and(|t| now - t <= crate::login::account::STEP_UP.whole_seconds());
        if recent {
            Ok(())
        } else {
            Err(Problem::step_up(text(app, "api.step_up")))
        }
    }
}

/// Dutch text for `key`.
pub fn text(app: &AppState, key: &str) -> String {
    app.templates.texts().text(key)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let unauthorized = || Problem::unauthorized(text(app, "api.unauthorized"));
        let token = bearer_token(&parts.headers).ok_or_else(unauthorized)?;
        let claims = verify_access_token(app, token).ok_or_else(unauthorized)?;
        if !app.settings.admin_clients.contains(&claims.client_id) {
            return Err(Problem::forbidden(text(app, "api.not_an_admin_client")));
        }
        let live = grant_live(app, &claims)
            .await
            .map_err(|e| problem::store(e, text(app, "error.internal")))?;
        if !live {
            return Err(unauthorized());
        }
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| unauthorized())?;
        let principal = accounts::principal(&app.db, user_id, &app.registry)
            .await
            .map_err(|e| problem::store(e, text(app, "error.internal")))?
            .filter(claims::may_sign_in)
            .ok_or_else(unauthorized)?;
        if principal.user.role == Role::Employee {
            return Err(Problem::forbidden(text(app, "api.employee")));
        }
        Ok(Self {
            principal,
            auth_time: claims.auth_time,
        })
    }
}

/// A JSON request body. Anything else becomes a problem: not JSON → 415, over the body
/// limit → 413, malformed or with a field the route does not take → 400 (the DTOs deny
/// unknown fields, SECURITY AC-06), a required field missing → 422 naming it.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || m.ends_with("+json"));
        if !is_json {
            return Err(Problem::unsupported_media_type(text(app, "api.not_json")));
        }
        let body = axum::body::to_bytes(req.into_body(), web_kit::limits::BODY_LIMIT)
            .await
            .map_err(|_| Problem::too_large(text(app, "api.too_large")))?;
        serde_json::from_slice(&body)
            .map(Self)
            .map_err(|e| json_problem(app, &e))
    }
}

/// The fields the API's bodies know, so a missing one can be named.
const FIELDS: [&str; 13] = [
    "name",
    "email",
    "rights",
    "office_id",
    "active",
    "advisor_number",
    "number",
    "address",
    "postcode",
    "city",
    "phone",
    "allow_sub_offices",
    "send_activation",
];

/// serde's message names the field (`unknown field `role``, `missing field `name``).
fn json_problem(app: &AppState, e: &serde_json::Error) -> Problem {
    let msg = e.to_string();
    let quoted = |prefix: &str| {
        msg.split_once(prefix)
            .and_then(|(_, rest)| rest.split_once('`'))
            .map(|(name, _)| name.chars().take(64).collect::<String>())
    };
    if let Some(name) = quoted("unknown field `") {
        return Problem::bad_request(text(app, "api.unknown_field").replace("{field}", &name));
    }
    if let Some(name) = quoted("missing field `")
        && let Some(field) = FIELDS.iter().find(|f| **f == name)
    {
        let label = text(app, &format!("api.field.{field}"));
        return Problem::unprocessable(
            format!("{label}: {}", text(app, "api.missing_field")),
            Some(field),
        );
    }
    Problem::bad_request(text(app, "api.bad_request"))
}

/// A query string; a malformed or repeated parameter gets 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        crate::extract::decode(query.as_bytes())
            .map(Self)
            .map_err(|_| Problem::bad_request(text(app, "api.bad_request")))
    }
}

/// The version a change is made from: `If-Match: "<version>"` (RFC 9110 §13.1.1). Without
/// it, or with `*`, the change is refused with 428 (RFC 6585 §3), so no one overwrites
/// another's change unseen; a value that is no version of ours matches nothing (412).
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

impl FromRequestParts<AppState> for IfMatch {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let value = parts
            .headers
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && *v != "*")
            .ok_or_else(|| Problem::precondition_required(text(app, "api.if_match_required")))?;
        Ok(Self(parse_etag(value)))
    }
}

/// `"7"` → 7. Weak tags never match for `If-Match` (RFC 9110 §13.1.1: strong comparison).
pub fn parse_etag(value: &str) -> Option<i64> {
    value
        .strip_prefix('"')?
        .strip_suffix('"')?
        .parse::<i64>()
        .ok()
        .filter(|v| *v > 0)
}

/// The ETag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_versions() {
        assert_eq!(etag(3), "\"3\"");
        assert_eq!(parse_etag(&etag(3)), Some(3));
        for bad in [
            "3",
            "W/\"3\"",
            "\"x\"",
            "\"-1\"",
            "\"0\"",
            "\"",
            "\"3\", \"4\"",
        ] {
            assert_eq!(parse_etag(bad), None, "{bad}");
        }
    }
}
