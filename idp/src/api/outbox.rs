//! The outbox's backlog in the admin API (issue 9): `GET /api/v1/outbox` tells the insurer
//! whether e-mail is going out, and if not, since when it waits and what the mail server
//! last answered. Insurer admins only: the backlog spans every office, so a main user gets
//! 403, audited as `admin.denied` like the other insurer-only lists (AC-01, AC-09). It
//! reads and changes nothing; the worker in `crate::mail` owns the queue.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::problem::{self, Problem, ProblemSchema};
use super::{Caller, text};
use crate::domain::Role;
use crate::login::client::ClientIp;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::audit::{self, AuditRecord};
use crate::store::outbox::{self, Backlog};

/// `GET /api/v1/outbox`: the fields of the store's [`Backlog`], times in RFC 3339 (UTC).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OutboxBacklog)]
pub struct OutboxJson {
    /// E-mails not yet delivered (back-channel logout deliveries not counted).
    #[schema(example = 5)]
    pub waiting: i64,
    /// When the oldest waiting e-mail was queued; `null` when none waits.
    #[schema(example = "2026-12-03T14:05:00Z")]
    pub oldest_queued_at: Option<String>,
    /// How often sending the oldest waiting e-mail has failed.
    pub attempts: i32,
    /// The mail server's last answer for the oldest waiting e-mail (outside text).
    pub last_error: Option<String>,
    /// When the oldest waiting e-mail is tried again.
    pub next_attempt_at: Option<String>,
    /// E-mails the mail server refused for good (5xx) in the last seven days: given up,
    /// never sent.
    pub given_up: i64,
    /// Back-channel logout deliveries not yet accepted by their portal.
    pub deliveries_waiting: i64,
}

fn rfc3339(at: Option<OffsetDateTime>) -> Option<String> {
    at.and_then(|t| t.format(&Rfc3339).ok())
}

impl From<Backlog> for OutboxJson {
    fn from(b: Backlog) -> Self {
        Self {
            waiting: b.waiting,
            oldest_queued_at: rfc3339(b.oldest_queued_at),
            attempts: b.attempts,
            last_error: b.last_error,
            next_attempt_at: rfc3339(b.next_attempt_at),
            given_up: b.given_up,
            deliveries_waiting: b.deliveries_waiting,
        }
    }
}

/// Why the backlog was not given.
#[derive(Debug)]
pub enum BacklogError {
    /// The caller is no insurer admin.
    Forbidden,
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for BacklogError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The backlog for an insurer admin; anyone else is refused, and the refusal audited.
pub async fn backlog(
    app: &AppState,
    caller: &Caller,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Backlog, BacklogError> {
    if caller.principal.user.role != Role::InsurerAdmin {
        let mut entry = AuditRecord::new("admin.denied");
        entry.actor_id = Some(caller.principal.user.id);
        entry.ip = ip;
        entry.detail = json!({ "act": "read_outbox", "answer": "forbidden" });
        audit::record(&app.db, &entry, now).await?;
        return Err(BacklogError::Forbidden);
    }
    Ok(outbox::backlog(&app.db).await?)
}

/// The e-mail backlog: how many wait, since when, why, and how many were refused.
#[utoipa::path(
    get, path = "/api/v1/outbox", tag = "outbox",
    responses(
        (status = 200, description = "The backlog of the outbox", body = OutboxJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
) -> Result<Json<OutboxJson>, Problem> {
    match backlog(&app, &caller, ip.text(), app.now()).await {
        Ok(b) => Ok(Json(b.into())),
        Err(BacklogError::Forbidden) => Err(Problem::forbidden(text(&app, "outbox.insurer_only"))),
        Err(BacklogError::Store(e)) => Err(problem::store(e, text(&app, "error.internal"))),
    }
}
