//! Four-eyes over the API (issue 10, `crate::approvals`):
//!
//! - `PATCH /offices/{id}` and `PATCH /users/{id}` answer a change that `PORTAL_FOUR_EYES`
//!   lists with 202 Accepted and the waiting change ([`accepted`]); nothing is applied.
//! - `GET /approvals`: the changes waiting, for insurer admins (a main user never
//!   approves: 403).
//! - `POST /approvals/{id}/approve`: a different insurer admin than the requester applies
//!   it (the requester: 403, audited); a target changed meanwhile: 409, marked stale.
//! - `POST /approvals/{id}/reject`: the same admins reject it; nothing is applied.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::{Problem, ProblemSchema};
use super::{Caller, IfMatch, text};
use crate::approvals::{self, ApprovalError};
use crate::audit_text;
use crate::login::client::ClientIp;
use crate::state::AppState;
use crate::store::approvals::{Kind, Outcome, Pending};
use crate::store::audit::{AuditEntry, NamedOffice, NamedUser};

/// Someone named in a change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ApprovalPerson)]
pub struct PersonJson {
    /// User id.
    pub id: Uuid,
    /// Naam (`null` once the user is gone).
    pub name: Option<String>,
}

/// A change that needs a second approver (four-eyes, issue 10).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Approval)]
pub struct ApprovalJson {
    /// The change's id.
    pub id: Uuid,
    /// `office` or `user`.
    #[schema(example = "office")]
    pub kind: String,
    /// The office's or user's id.
    pub target_id: Uuid,
    /// Its name.
    #[schema(example = "Voorbeeld Advies")]
    pub target_name: Option<String>,
    /// An office's advisor or own number; a user's e-mail.
    #[schema(example = "12345")]
    pub target_label: Option<String>,
    /// The change in Dutch.
    #[schema(example = "Nick Jansen wil Voorbeeld Advies (12345) subkantoren toestaan")]
    pub text: String,
    /// The listed kinds it contains: `allow_sub_offices`, `right:<CODE>`.
    pub wants: Vec<String>,
    /// The changed fields as they were…
    pub before: serde_json::Value,
    /// …and as asked for (the whole request waits, not only the listed part).
    pub after: serde_json::Value,
    /// The target's version the change was made against; it is applied only to that one.
    pub version: i64,
    /// Who asked.
    pub requested_by: PersonJson,
    /// When (RFC 3339).
    pub requested_at: String,
    /// `waiting`, `approved`, `rejected` or `stale` (the target changed meanwhile).
    #[schema(example = "waiting")]
    pub status: String,
    /// Who decided.
    pub decided_by: Option<Uuid>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// In the 202 answer: "Deze wijziging wacht op goedkeuring door een tweede beheerder."
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /api/v1/approvals`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ApprovalList)]
pub struct ApprovalListJson {
    /// Oldest first.
    pub items: Vec<ApprovalJson>,
}

impl ApprovalJson {
    /// The change as the API shows it.
    pub fn of(app: &AppState, p: &Pending) -> Self {
        let get = |k: &str| p.change.get(k).cloned().unwrap_or(serde_json::Value::Null);
        let entry = AuditEntry {
            id: p.id,
            at: p.requested_at,
            action: "change.requested".to_owned(),
            actor: Some(NamedUser {
                id: p.requested_by,
                name: p.requested_by_name.clone(),
                email: None,
            }),
            target_user: (p.kind == Kind::User).then(|| NamedUser {
                id: p.target_id,
                name: p.target_name.clone(),
                email: p.target_label.clone(),
            }),
            target_office: (p.kind == Kind::Office).then(|| NamedOffice {
                id: p.target_id,
                name: p.target_name.clone(),
                number: p.target_label.clone(),
            }),
            ip: None,
            detail: serde_json::json!({
                "kind": p.kind.as_str(), "before": get("before"), "after": get("after"),
            })
            .to_string(),
        };
        Self {
            id: p.id,
            kind: p.kind.as_str().to_owned(),
            target_id: p.target_id,
            target_name: p.target_name.clone(),
            target_label: p.target_label.clone(),
            text: audit_text::wish(app.templates.texts(), &entry),
            wants: serde_json::from_value(get("wants")).unwrap_or_default(),
            before: get("before"),
            after: get("after"),
            version: p.version,
            requested_by: PersonJson {
                id: p.requested_by,
                name: p.requested_by_name.clone(),
            },
            requested_at: p.requested_at.format(&Rfc3339).unwrap_or_default(),
            status: p.outcome.map_or("waiting", Outcome::as_str).to_owned(),
            decided_by: p.decided_by,
            decided_at: p.decided_at.and_then(|t| t.format(&Rfc3339).ok()),
            detail: None,
        }
    }
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The answer to a change that waits: 202 with the change and the Dutch notice.
pub fn accepted(app: &AppState, p: &Pending) -> Response {
    let mut body = ApprovalJson::of(app, p);
    body.detail = Some(text(app, "approvals.waiting"));
    let mut res = no_store((StatusCode::ACCEPTED, Json(body)).into_response());
    if let Ok(location) = format!("/api/v1/approvals/{}", p.id).parse() {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

/// The one place an approval failure becomes a problem.
fn problem(app: &AppState, e: ApprovalError) -> Problem {
    let t = |key: &str| text(app, key);
    match e {
        ApprovalError::NotApprover => Problem::forbidden(t("approvals.not_approver")),
        ApprovalError::OwnChange => Problem::forbidden(t("approvals.own_change")),
        ApprovalError::NotFound => Problem::not_found(t("approvals.not_found")),
        ApprovalError::Decided => Problem::conflict(t("approvals.decided")),
        ApprovalError::Stale => Problem::conflict(t("approvals.stale")),
        ApprovalError::Manage(e) => Problem::of(app, e),
        ApprovalError::Store(e) => Problem::failed(app, e),
    }
}

fn change_id(app: &AppState, raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found(text(app, "approvals.not_found")))
}

/// The changes waiting for a second approver (issue 10).
#[utoipa::path(
    get, path = "/api/v1/approvals", tag = "approvals",
    responses(
        (status = 200, description = "The waiting changes, oldest first", body = ApprovalListJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin (a main user never approves)", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(State(app): State<AppState>, caller: Caller) -> Result<Response, Problem> {
    let waiting = approvals::waiting(&app, &caller.principal)
        .await
        .map_err(|e| problem(&app, e))?;
    let items = waiting.iter().map(|p| ApprovalJson::of(&app, p)).collect();
    Ok(no_store(Json(ApprovalListJson { items }).into_response()))
}

/// Approves a waiting change and applies it through the office or user flow, with the
/// same checks, to the version it was made against.
#[utoipa::path(
    post, path = "/api/v1/approvals/{id}/approve", tag = "approvals",
    params(("id" = Uuid, Path, description = "The change's id")),
    responses(
        (status = 200, description = "Approved and applied", body = ApprovalJson),
        (status = 401, description = "No valid access token; or, with the RFC 9470 `insufficient_user_authentication` challenge, a sign-in older than 5 minutes while the change holds a new e-mail (AC-08): it keeps waiting", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin, or the requester itself (audited)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such change", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Decided already, or the office or user changed meanwhile (the change is then marked stale)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "The change breaks a rule now; it is marked stale", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn approve(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = change_id(&app, &id)?;
    let recent = caller.require_recent_sign_in(&app).is_ok();
    let p = approvals::approve(&app, &caller.principal, id, recent, ip.text(), app.now())
        .await
        .map_err(|e| problem(&app, e))?;
    Ok(no_store(Json(ApprovalJson::of(&app, &p)).into_response()))
}

/// Rejects a waiting change; nothing of it is applied.
#[utoipa::path(
    post, path = "/api/v1/approvals/{id}/reject", tag = "approvals",
    params(("id" = Uuid, Path, description = "The change's id")),
    responses(
        (status = 200, description = "Rejected", body = ApprovalJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin, or the requester itself (audited)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such change", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "Decided already", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn reject(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = change_id(&app, &id)?;
    let p = approvals::reject(&app, &caller.principal, id, ip.text(), app.now())
        .await
        .map_err(|e| problem(&app, e))?;
    Ok(no_store(Json(ApprovalJson::of(&app, &p)).into_response()))
}

/// U1: makes an active employee its office's main user; the main user becomes an
/// employee. With `main_user` in `PORTAL_FOUR_EYES` (the default) it waits for a second
/// insurer admin.
#[utoipa::path(
    post, path = "/api/v1/users/{id}/main-user", tag = "users",
    params(
        ("id" = Uuid, Path, description = "The employee's id"),
        ("If-Match" = String, Header, description = "The ETag the change was made from, e.g. \"3\""),
    ),
    responses(
        (status = 202, description = "Four-eyes: waits for a second insurer admin; nothing was changed", body = ApprovalJson),
        (status = 204, description = "Done (four-eyes off for `main_user`, or an approval applied it)"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin (audited), or not an active employee of an office", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 412, description = "Changed by someone else since that version", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn make_main_user(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    IfMatch(version): IfMatch,
) -> Result<Response, Problem> {
    let id =
        Uuid::parse_str(&id).map_err(|_| Problem::not_found(text(&app, "api.user_not_found")))?;
    let version = version.unwrap_or(0);
    match approvals::make_main_user(
        &app,
        &caller.principal,
        id,
        version,
        approvals::Gate::FourEyes,
        ip.text(),
        app.now(),
    )
    .await
    {
        Ok(()) => Ok(no_store(StatusCode::NO_CONTENT.into_response())),
        Err(crate::manage::ManageError::Waiting(p)) => Ok(accepted(&app, &p)),
        Err(e) => Err(Problem::of(&app, e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    /// The OpenAPI document describes the approval routes and the 202 of both PATCHes.
    #[test]
    fn the_document_describes_four_eyes() {
        let doc: serde_json::Value = serde_json::from_str(super::super::openapi::json()).unwrap();
        let paths = &doc["paths"];
        for status in ["200", "401", "403"] {
            assert!(paths["/api/v1/approvals"]["get"]["responses"][status].is_object());
        }
        for act in ["approve", "reject"] {
            let post = &paths[format!("/api/v1/approvals/{{id}}/{act}").as_str()]["post"];
            for status in ["200", "403", "404", "409"] {
                assert!(post["responses"][status].is_object(), "{act} {status}");
            }
        }
        for path in ["/api/v1/offices/{id}", "/api/v1/users/{id}"] {
            let accepted = &paths[path]["patch"]["responses"]["202"];
            assert!(accepted.is_object(), "{path}");
            assert!(
                accepted.to_string().contains("Approval"),
                "{path}: {accepted}"
            );
        }
        let approval = &doc["components"]["schemas"]["Approval"]["properties"];
        for field in [
            "id",
            "kind",
            "target_id",
            "text",
            "wants",
            "before",
            "after",
            "version",
            "requested_by",
            "requested_at",
            "status",
            "decided_by",
            "decided_at",
            "detail",
        ] {
            assert!(approval[field].is_object(), "Approval.{field}");
        }
    }
}
