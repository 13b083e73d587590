//! The admin API (issue 6): JSON under `/api/v1`, called with a bearer access token of
//! this provider, for the management UI and the insurer's own tools. Every route takes a
//! [`Caller`], so authentication and the "who may administer at all" rule sit in one place;
//! the per-target rules are in `domain`. Errors are RFC 9457 problems (`problem`).
//!
//! Only access tokens issued to a client in `PORTAL_ADMIN_CLIENTS` (default: the portal's
//! own shell) are accepted: a main user's token held by some product portal or third party
//! cannot administer anything (SECURITY AC-01).

pub mod problem;
pub mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use axum::routing::post;
use uuid::Uuid;

use crate::domain::Role;
use crate::oidc::claims;
use crate::oidc::userinfo::{grant_live, verify_access_token};
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use problem::Problem;

/// The admin API's routes, to be nested at `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/users/{id}/second-factors/reset",
        post(users::reset_second_factors),
    )
}

/// The authenticated caller of an admin route: an active main user or insurer admin,
/// holding a live access token of an admin client.
#[derive(Debug)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
}

/// Dutch text for `key`.
pub fn text(app: &AppState, key: &str) -> String {
    app.templates.texts().text(key)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Problem> {
        let unauthorized = || Problem::unauthorized(text(app, "api.unauthorized"));
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(unauthorized)?;
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
        Ok(Self { principal })
    }
}
