//! The MFA mandate over the API (issue 10, `crate::mfa_policy`):
//!
//! - `GET /me/mfa`: the caller's own standing, for the portal home's countdown banner (any
//!   signed-in portal user, like `/me/office`; it answers about the caller only).
//! - `GET /mfa/status`: who has no second factor yet (2FA-status page): an insurer admin
//!   sees every office (`?office_id=` narrows it to one office tree), a main user its own
//!   tree only, whatever it asks (SECURITY AC-03: the scope is in the SQL).
//! - `POST /users/{id}/mfa-reminder`: "Herinnering sturen", at most once per 24 hours
//!   per user (429 otherwise), audited `mfa.reminder_sent`.
//! - `GET`/`PATCH /offices/{id}/mfa-policy`: a head office's date and grace; insurer
//!   admins only, audited `office.mfa_policy_changed`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Date;
use utoipa::ToSchema;
use uuid::Uuid;

use super::me::PortalUser;
use super::problem::{Problem, ProblemSchema};
use super::{ApiJson, ApiQuery, Caller, text};
use crate::domain::Role;
use crate::domain::factor::Mandate;
use crate::domain::manage::{self as rules, Scope};
use crate::login::client::ClientIp;
use crate::manage::{self, ManageError, actor_of};
use crate::mfa_policy::{self, Manual};
use crate::state::AppState;
use crate::store::audit::{self, AuditRecord};
use crate::store::mfa;

/// Most grace sign-ins a head office can be given.
pub const MAX_GRACE: u32 = 100;

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /api/v1/me/mfa`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MyMfa)]
pub struct MyMfaJson {
    /// From this day (UTC) a second factor is required for the caller.
    #[schema(example = "2026-07-01")]
    pub required_from: String,
    /// Whether the caller has a second factor.
    pub has_second_factor: bool,
    /// Whole days until `required_from`, while it lies ahead and no factor is set up.
    pub days_left: Option<i64>,
    /// Password-only sign-ins left after the date, while under grace.
    pub grace_left: Option<u32>,
    /// The date has come, no grace is left and no factor is set up: the next sign-in
    /// must set one up (this session is the last grace sign-in's).
    pub required_now: bool,
}

/// The caller's own 2FA standing, for the countdown banner (issue 10).
#[utoipa::path(
    get, path = "/api/v1/me/mfa", tag = "me",
    responses(
        (status = 200, description = "The caller's 2FA standing", body = MyMfaJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "The token was not granted the `portal` scope", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn me(State(app): State<AppState>, user: PortalUser) -> Result<Response, Problem> {
    let now = app.now();
    let (policy, mandate) = mfa_policy::standing(&app, user.principal.user.id, now)
        .await
        .map_err(|e| Problem::failed(&app, e))?;
    let body = MyMfaJson {
        required_from: policy.required_from.to_string(),
        has_second_factor: mandate == Mandate::Met,
        days_left: match mandate {
            Mandate::NotYet { days_left } => Some(days_left),
            _ => None,
        },
        grace_left: match mandate {
            Mandate::GraceLeft(n) => Some(n),
            _ => None,
        },
        required_now: mandate == Mandate::Required,
    };
    Ok(no_store(Json(body).into_response()))
}

/// `?office_id=` of the status list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// An office whose tree to list (insurer admins; a main user's own tree regardless).
    pub office_id: Option<Uuid>,
}

/// One user without a second factor.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MfaStatusUser)]
pub struct StatusUserJson {
    /// User id.
    pub id: Uuid,
    /// Naam.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// `main_user` or `employee`.
    pub role: String,
    /// The user's office id.
    pub office_id: Option<Uuid>,
    /// Its name.
    pub office_name: Option<String>,
    /// Its number.
    pub office_number: Option<String>,
    /// Since when a second factor is (or will be) required, `YYYY-MM-DD`.
    pub required_from: String,
    /// Whether it is required now (the date has come).
    pub required_now: bool,
    /// Grace sign-ins left (after the date, with grace).
    pub grace_left: Option<u32>,
    /// The last "Herinnering sturen" for this date, RFC 3339.
    pub reminded_at: Option<String>,
}

/// `GET /api/v1/mfa/status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MfaStatus)]
pub struct StatusJson {
    /// Who has no second factor yet (at most 1000).
    pub users: Vec<StatusUserJson>,
}

/// Who in the caller's scope has no second factor yet (issue 10).
#[utoipa::path(
    get, path = "/api/v1/mfa/status", tag = "mfa",
    params(StatusQuery),
    responses(
        (status = 200, description = "Users without a second factor", body = StatusJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Response, Problem> {
    let tree = match rules::scope(&actor_of(&caller.principal)) {
        Scope::Everyone => q.office_id,
        // A main user sees its own tree, whatever it asked for (AC-03).
        Scope::OfficeTree(own) => Some(own),
        Scope::Nobody => return Err(Problem::forbidden(text(&app, "api.employee"))),
    };
    let now = app.now();
    let rows = mfa::without_factor(&app.db, tree, app.settings.mfa_required_from)
        .await
        .map_err(|e| Problem::failed(&app, e))?;
    let users = rows
        .into_iter()
        .map(|w| {
            let policy = crate::domain::factor::Policy::of_tree(
                app.settings.mfa_required_from,
                w.mfa_required_from,
                w.mfa_grace_logins,
            );
            let used = w
                .grace_used
                .and_then(|u| u32::try_from(u).ok())
                .unwrap_or(0);
            let mandate = crate::domain::factor::mandate(&policy, now, false, used);
            StatusUserJson {
                id: w.user_id,
                name: w.name,
                email: w.email,
                role: w.role,
                office_id: w.office_id,
                office_name: w.office_name,
                office_number: w.office_number,
                required_from: policy.required_from.to_string(),
                required_now: !matches!(mandate, Mandate::NotYet { .. }),
                grace_left: match mandate {
                    Mandate::GraceLeft(n) => Some(n),
                    _ => None,
                },
                reminded_at: w.reminded_at.and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
            }
        })
        .collect();
    Ok(no_store(Json(StatusJson { users }).into_response()))
}

/// "Herinnering sturen" (issue 10): a reminder mail to a user without a second factor,
/// at most once per 24 hours per user.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/mfa-reminder", tag = "mfa",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 202, description = "The reminder is queued"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or not one the caller manages", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The user has a second factor by now", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 429, description = "A reminder went to this user less than 24 hours ago", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn remind(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let not_found = || Problem::not_found(text(&app, "api.user_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let now = app.now();
    // Only a user the caller manages (AC-01: others are 404, and the refusal is audited).
    manage::get(&app, &caller.principal, id, ip.text().as_deref(), now)
        .await
        .map_err(|e| match e {
            ManageError::NotFound => not_found(),
            e => Problem::of(&app, e),
        })?;
    match mfa_policy::send_manual(&app, &caller.principal, id, ip.text(), now)
        .await
        .map_err(|e| Problem::failed(&app, e))?
    {
        Manual::Sent => Ok(StatusCode::ACCEPTED.into_response()),
        Manual::NotNeeded => Err(Problem::conflict(text(&app, "mfa.not_needed"))),
        Manual::TooSoon => Err(Problem {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too Many Requests",
            detail: text(&app, "mfa.too_soon"),
            field: None,
            challenge: None,
            retry_after: false,
        }),
    }
}

/// A head office's 2FA policy.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = MfaPolicy)]
pub struct PolicyJson {
    /// The head office's own date, `YYYY-MM-DD`; `null`: the portal's setting.
    pub required_from: Option<String>,
    /// The date in force (its own or the setting's).
    pub effective_from: String,
    /// Password-only sign-ins allowed after the date.
    pub grace_logins: u32,
}

/// A new 2FA policy for a head office; both fields are required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MfaPolicyChange)]
pub struct PolicyPatchJson {
    /// `YYYY-MM-DD`, or `null` for the portal's setting.
    pub required_from: Option<String>,
    /// 0 to 100.
    pub grace_logins: u32,
}

fn policy_json(app: &AppState, p: &mfa::TreePolicy) -> PolicyJson {
    PolicyJson {
        required_from: p.mfa_required_from.map(|d| d.to_string()),
        effective_from: p
            .mfa_required_from
            .unwrap_or(app.settings.mfa_required_from)
            .to_string(),
        grace_logins: p
            .mfa_grace_logins
            .and_then(|g| u32::try_from(g).ok())
            .unwrap_or(0),
    }
}

/// Insurer admins only; others get 403 and the refusal is audited.
async fn insurer_only(
    app: &AppState,
    caller: &Caller,
    act: &'static str,
    ip: Option<String>,
) -> Result<(), Problem> {
    if caller.principal.user.role == Role::InsurerAdmin {
        return Ok(());
    }
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(caller.principal.user.id);
    entry.ip = ip;
    entry.detail = json!({ "act": act, "answer": "forbidden" });
    audit::record(&app.db, &entry, app.now())
        .await
        .map_err(|e| Problem::failed(app, e))?;
    Err(Problem::forbidden(text(app, "mfa.insurer_only")))
}

/// A head office's 2FA policy (issue 10).
#[utoipa::path(
    get, path = "/api/v1/offices/{id}/mfa-policy", tag = "offices",
    params(("id" = Uuid, Path, description = "The head office's id")),
    responses(
        (status = 200, description = "The policy", body = PolicyJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such head office", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get_policy(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    insurer_only(&app, &caller, "read_mfa_policy", ip.text()).await?;
    let not_found = || Problem::not_found(text(&app, "api.office_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let p = mfa::policy_of_head_office(&app.db, id)
        .await
        .map_err(|e| Problem::failed(&app, e))?
        .ok_or_else(not_found)?;
    Ok(no_store(Json(policy_json(&app, &p)).into_response()))
}

/// Sets a head office's 2FA date and grace (issue 10); its sub-offices follow it.
#[utoipa::path(
    patch, path = "/api/v1/offices/{id}/mfa-policy", tag = "offices",
    params(("id" = Uuid, Path, description = "The head office's id")),
    request_body = PolicyPatchJson,
    responses(
        (status = 200, description = "Saved", body = PolicyJson),
        (status = 401, description = "No valid access token; or, with an RFC 9470 `insufficient_user_authentication` challenge, a sign-in older than 5 minutes (AC-08)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such head office", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A bad date or grace", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn set_policy(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PolicyPatchJson>,
) -> Result<Response, Problem> {
    insurer_only(&app, &caller, "set_mfa_policy", ip.text()).await?;
    // AC-08: a later date or a grace loosens 2FA for a whole office tree, so it needs a
    // recent sign-in, as the other security-relevant acts of the admin API do.
    caller.require_recent_sign_in(&app)?;
    let not_found = || Problem::not_found(text(&app, "api.office_not_found"));
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let date = match body.required_from.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => Some(parse_date(raw).ok_or_else(|| {
            Problem::unprocessable(text(&app, "mfa.bad_date"), Some("required_from"))
        })?),
    };
    if body.grace_logins > MAX_GRACE {
        return Err(Problem::unprocessable(
            text(&app, "mfa.bad_grace"),
            Some("grace_logins"),
        ));
    }
    let before = mfa::policy_of_head_office(&app.db, id)
        .await
        .map_err(|e| Problem::failed(&app, e))?
        .ok_or_else(not_found)?;
    let mut entry = AuditRecord::new("office.mfa_policy_changed");
    entry.actor_id = Some(caller.principal.user.id);
    entry.target_office_id = Some(id);
    entry.ip = ip.text();
    entry.detail = json!({
        "old": { "mfa_required_from": before.mfa_required_from.map(|d| d.to_string()),
                 "mfa_grace_logins": before.mfa_grace_logins },
        "new": { "mfa_required_from": date.map(|d| d.to_string()),
                 "mfa_grace_logins": body.grace_logins },
    });
    let now = app.now();
    let saved = mfa::set_policy(&app.db, id, date, body.grace_logins, &entry, now)
        .await
        .map_err(|e| Problem::failed(&app, e))?;
    if !saved {
        return Err(not_found());
    }
    let after = mfa::TreePolicy {
        mfa_required_from: date,
        mfa_grace_logins: Some(i64::from(body.grace_logins)),
    };
    Ok(no_store(Json(policy_json(&app, &after)).into_response()))
}

/// `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw, &format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_the_mfa_routes() {
        #![allow(clippy::unwrap_used)]
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::json()).unwrap();
        for (path, method) in [
            ("/api/v1/me/mfa", "get"),
            ("/api/v1/mfa/status", "get"),
            ("/api/v1/users/{id}/mfa-reminder", "post"),
            ("/api/v1/offices/{id}/mfa-policy", "get"),
            ("/api/v1/offices/{id}/mfa-policy", "patch"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
        let remind = &doc["paths"]["/api/v1/users/{id}/mfa-reminder"]["post"]["responses"];
        assert!(remind["429"].is_object(), "the throttle is documented");
    }

    #[test]
    fn dates_are_iso() {
        assert_eq!(
            parse_date("2026-07-01"),
            Some(time::macros::date!(2026 - 07 - 01))
        );
        for bad in ["1-7-2026", "2026-13-01", "2026-02-30", "morgen", ""] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
