//! Bulk import of head offices in the admin API (issue 6, SPEC O1): a CSV export of the
//! appointment register in, a job with progress and a report out. Issue 10: each row is
//! planned as a new head office, a change of the one with its advisor number, or
//! unchanged; `?preview=true` stores the plan without applying it, to be confirmed
//! (`POST /imports/{id}/confirm` with the plan's fingerprint) or cancelled. Thin handlers
//! over `crate::imports`; insurer admins only.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use serde::Deserialize;
use utoipa::IntoParams;

use super::problem::{Problem, ProblemSchema};
use super::{ApiJson, ApiQuery, Caller, text};
use crate::imports::{self, Action, ImportError, RowResult, Status};
use crate::login::client::ClientIp;
use crate::state::AppState;

/// The largest file accepted: about 50,000 offices, far more than the register holds.
/// Larger than the portal's general body limit, so this route reads its body itself.
pub const IMPORT_LIMIT: usize = web_kit::limits::IMPORT_LIMIT;

/// The state of an import.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImportState)]
pub enum StateJson {
    /// A plan that waits for its confirmation; nothing was applied.
    Preview,
    /// Rows are being applied.
    Running,
    /// Every row has its result.
    Done,
}

/// What happened to a row.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImportRowResult)]
pub enum ResultJson {
    /// Not applied yet.
    Pending,
    /// The head office and its main user exist; the activation mail is on its way.
    Created,
    /// The head office with this advisor number was changed (`changes`).
    Changed,
    /// The head office with this advisor number already matched.
    Unchanged,
    /// Not applied (e.g. the advisor number was taken meanwhile, and so nothing of the
    /// file was); `reason` says why.
    Refused,
}

/// What the plan does with a row.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImportRowAction)]
pub enum ActionJson {
    /// A new head office with its main user and activation mail.
    Create,
    /// The head office with this advisor number changes (`changes`).
    Change,
    /// The head office with this advisor number already matches.
    Unchanged,
}

/// A field a row changes.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportFieldChange)]
pub struct ChangeJson {
    /// `name`, `rights` or `allow_sub_offices`.
    pub field: String,
    /// The office's value now.
    pub before: String,
    /// The file's value.
    pub after: String,
}

/// How many rows the plan creates, changes and leaves alone.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportPlanCounts)]
pub struct PlannedJson {
    /// New head offices.
    pub create: usize,
    /// Changed head offices.
    pub change: usize,
    /// Head offices left as they are.
    pub unchanged: usize,
}

/// A row of an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportRow)]
pub struct RowJson {
    /// The line in the file.
    pub line: i64,
    /// Adviseursnummer.
    pub advisor_number: String,
    /// Naam.
    pub name: String,
    /// E-mailadres (also the main user's login).
    pub email: String,
    /// What the plan does with it.
    pub action: ActionJson,
    /// The fields a change changes.
    pub changes: Vec<ChangeJson>,
    /// The office's e-mail address when the file holds another: never applied (a login
    /// changes only through its confirmation, SECURITY AC-10).
    pub email_notice: Option<String>,
    /// What happened.
    pub result: ResultJson,
    /// Why not, in Dutch.
    pub reason: Option<String>,
    /// The office created, changed or left alone.
    pub office_id: Option<Uuid>,
}

/// An import: its progress and, per row, its result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Import)]
pub struct ImportJson {
    /// Id.
    pub id: Uuid,
    /// `preview`, `running` or `done`.
    pub state: StateJson,
    /// Rows in the file.
    pub total: i64,
    /// Rows with a result.
    pub done: i64,
    /// Head offices created.
    pub created: i64,
    /// Head offices changed.
    pub changed: i64,
    /// Head offices that already matched.
    pub unchanged: i64,
    /// Rows not applied.
    pub refused: i64,
    /// What the plan does.
    pub planned: PlannedJson,
    /// A preview's plan, to name in its confirmation.
    pub fingerprint: Option<String>,
    /// Every row, in the file's order.
    pub rows: Vec<RowJson>,
}

impl ImportJson {
    fn of(s: &Status) -> Self {
        let refused = s
            .rows
            .iter()
            .filter(|r| r.result == RowResult::Refused)
            .count();
        let planned = s.planned();
        let preview = !s.job.confirmed;
        Self {
            id: s.job.id,
            state: if s.job.state == "done" {
                StateJson::Done
            } else if preview {
                StateJson::Preview
            } else {
                StateJson::Running
            },
            total: s.job.total,
            done: s.job.done,
            created: s.job.created,
            changed: s.job.changed,
            unchanged: s.job.unchanged,
            refused: i64::try_from(refused).unwrap_or(i64::MAX),
            planned: PlannedJson {
                create: planned.create,
                change: planned.change,
                unchanged: planned.unchanged,
            },
            fingerprint: if preview {
                s.job.fingerprint.clone()
            } else {
                None
            },
            rows: s
                .rows
                .iter()
                .map(|r| RowJson {
                    line: r.line,
                    advisor_number: r.advisor_number.clone(),
                    name: r.name.clone(),
                    email: r.email.clone(),
                    action: match r.action {
                        Action::Create => ActionJson::Create,
                        Action::Change(_) => ActionJson::Change,
                        Action::Unchanged => ActionJson::Unchanged,
                    },
                    changes: match &r.action {
                        Action::Change(c) => c
                            .iter()
                            .map(|c| ChangeJson {
                                field: c.field.clone(),
                                before: c.before.clone(),
                                after: c.after.clone(),
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    email_notice: r.email_notice.clone(),
                    result: match r.result {
                        RowResult::Pending => ResultJson::Pending,
                        RowResult::Created => ResultJson::Created,
                        RowResult::Changed => ResultJson::Changed,
                        RowResult::Unchanged => ResultJson::Unchanged,
                        RowResult::Refused => ResultJson::Refused,
                    },
                    reason: r.reason.clone(),
                    office_id: r.office_id,
                })
                .collect(),
        }
    }
}

/// A refused row of a file.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportRowError)]
pub struct RowErrorJson {
    /// The line in the file (1: the file as a whole, e.g. a missing column).
    #[schema(example = 3)]
    pub line: u64,
    /// Why, in Dutch.
    #[schema(example = "Vul een geldig e-mailadres in.")]
    pub reason: String,
}

/// A file with bad rows: a problem document (RFC 9457) with every row's line and reason
/// as the extension member `errors`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ImportRefused)]
pub struct RefusedJson {
    /// Always `about:blank`.
    #[serde(rename = "type")]
    #[schema(rename = "type", example = "about:blank")]
    pub kind: &'static str,
    /// `Unprocessable Entity`.
    pub title: &'static str,
    /// 422.
    pub status: u16,
    /// That nothing was imported, in Dutch.
    pub detail: String,
    /// Every bad row.
    pub errors: Vec<RowErrorJson>,
}

fn problem(app: &AppState, e: ImportError) -> Response {
    match e {
        ImportError::Forbidden => {
            Problem::forbidden(text(app, "import.insurer_only")).into_response()
        }
        ImportError::NotFound => Problem::not_found(text(app, "import.not_found")).into_response(),
        ImportError::PlanChanged => {
            Problem::conflict(text(app, "import.plan_changed")).into_response()
        }
        ImportError::Refused(errors) => {
            let texts = app.templates.texts();
            let body = RefusedJson {
                kind: "about:blank",
                title: "Unprocessable Entity",
                status: 422,
                detail: texts.text("import.nothing_imported"),
                errors: errors
                    .iter()
                    .map(|e| RowErrorJson {
                        line: e.line,
                        reason: imports::explain(texts, &e.problem),
                    })
                    .collect(),
            };
            let mut res = (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
            res
        }
        ImportError::Store(e) => Problem::failed(app, e).into_response(),
    }
}

/// The id in the path; anything else is no import (404).
fn import_id(raw: &str) -> Result<Uuid, ImportError> {
    Uuid::parse_str(raw).map_err(|_| ImportError::NotFound)
}

/// Reads a CSV body up to [`IMPORT_LIMIT`]: not CSV → 415, larger → 413.
async fn csv_body(app: &AppState, req: Request) -> Result<axum::body::Bytes, Problem> {
    let media = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("text/csv" | "application/csv" | "text/plain")
    ) {
        return Err(Problem::unsupported_media_type(text(app, "import.not_csv")));
    }
    let too_large = || Problem::too_large(text(app, "import.too_large"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > IMPORT_LIMIT) {
        return Err(too_large());
    }
    axum::body::to_bytes(req.into_body(), IMPORT_LIMIT)
        .await
        .map_err(|_| too_large())
}

/// `?preview=true`: the plan is stored and shown, not applied.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// Store the plan as a preview (state `preview`) that nothing applies until it is
    /// confirmed.
    #[serde(default)]
    pub preview: bool,
}

/// O1 in bulk: checks the whole file first: if any row is bad, every bad row is named and
/// nothing is stored. Otherwise each row is planned (issue 10: an upsert by advisor
/// number): a new head office with its main user (the office e-mail as login), activation
/// mail and audit entry; a change of the name, rights or `allow_sub_offices` of the head
/// office with that advisor number; or nothing. A differing e-mail address is reported in
/// `email_notice` and never applied. Without `preview` the plan is applied in the
/// background, in one transaction; with it, the plan waits for `confirm`. Insurer admins
/// only.
#[utoipa::path(
    post, path = "/api/v1/imports", tag = "imports", params(StartQuery),
    request_body(
        content = String, content_type = "text/csv",
        description = "The register's export: a heading with advisor_number, name, email, rights \
            and optionally allow_sub_offices (ja/nee), separated by `,` or `;`, UTF-8 or \
            Windows-1252; rights such as `DIP,DIL` (quoted) or `DIP DIL`. At most 5 MiB."
    ),
    responses(
        (status = 201, description = "A preview: the plan, with its fingerprint; nothing applied", body = ImportJson,
         headers(("Location" = String, description = "The import's URL"))),
        (status = 202, description = "Accepted; the import runs", body = ImportJson,
         headers(("Location" = String, description = "The import's URL, to poll"))),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 413, description = "The file is larger than 5 MiB", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as text/csv", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "Rows are bad (each named with line and reason); nothing was imported", body = RefusedJson, content_type = "application/problem+json"),
    )
)]
pub async fn start(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiQuery(query): ApiQuery<StartQuery>,
    req: Request,
) -> Response {
    let body = match csv_body(&app, req).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let started = if query.preview {
        imports::preview(&app, &caller.principal, &body, ip.text(), app.now()).await
    } else {
        imports::start(&app, &caller.principal, &body, ip.text(), app.now()).await
    };
    let id = match started {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    let code = if query.preview {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    };
    job_answer(&app, &caller, id, code).await
}

/// The job as JSON with `code` and its Location.
async fn job_answer(app: &AppState, caller: &Caller, id: Uuid, code: StatusCode) -> Response {
    let status = match imports::status(app, &caller.principal, id).await {
        Ok(s) => s,
        Err(e) => return problem(app, e),
    };
    let mut res = (code, Json(ImportJson::of(&status))).into_response();
    if let Ok(location) = format!("/api/v1/imports/{id}").parse() {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The confirmation of a preview.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[schema(as = ImportConfirm)]
pub struct ConfirmJson {
    /// The `fingerprint` of the preview that was shown.
    pub fingerprint: String,
}

/// Applies a preview exactly as it was shown (issue 10): the `fingerprint` must be the
/// preview's, and the stored rows, planned again against the database now, must give the
/// same plan; otherwise 409 and nothing is applied (upload the file again for a new
/// preview). Insurer admins only.
#[utoipa::path(
    post, path = "/api/v1/imports/{id}/confirm", tag = "imports",
    params(("id" = Uuid, Path, description = "The preview's id")),
    request_body = ConfirmJson,
    responses(
        (status = 202, description = "Accepted; the import runs", body = ImportJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such preview (or already confirmed or cancelled)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The plan changed since the preview; nothing applied", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn confirm(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConfirmJson>,
) -> Response {
    let id = match import_id(&id) {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    let confirmed = imports::confirm(
        &app,
        &caller.principal,
        id,
        &body.fingerprint,
        ip.text(),
        app.now(),
    )
    .await;
    match confirmed {
        Ok(()) => job_answer(&app, &caller, id, StatusCode::ACCEPTED).await,
        Err(e) => problem(&app, e),
    }
}

/// Forgets a preview ("Annuleren"); nothing of it was applied. Insurer admins only.
#[utoipa::path(
    post, path = "/api/v1/imports/{id}/cancel", tag = "imports",
    params(("id" = Uuid, Path, description = "The preview's id")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such preview (or already confirmed)", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn cancel(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    Path(id): Path<String>,
) -> Response {
    let id = match import_id(&id) {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    match imports::cancel(&app, &caller.principal, id, ip.text(), app.now()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => problem(&app, e),
    }
}

/// An import's progress and every row's result; any node answers.
#[utoipa::path(
    get, path = "/api/v1/imports/{id}", tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    responses(
        (status = 200, description = "The import", body = ImportJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> Response {
    let id = match import_id(&id) {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    match imports::status(&app, &caller.principal, id).await {
        Ok(s) => {
            let mut res = Json(ImportJson::of(&s)).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => problem(&app, e),
    }
}

/// The report: one line per row with regel, adviseursnummer, naam, e-mailadres and
/// resultaat.
#[utoipa::path(
    get, path = "/api/v1/imports/{id}/report.csv", tag = "imports",
    params(("id" = Uuid, Path, description = "The import's id")),
    responses(
        (status = 200, description = "The report (UTF-8 CSV with a heading)", body = String, content_type = "text/csv"),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn report(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let id = match import_id(&id) {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    match imports::status(&app, &caller.principal, id).await {
        Ok(s) => {
            let csv = imports::report_csv(app.templates.texts(), &s);
            let mut res = Response::new(Body::from(csv));
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = format!("attachment; filename=\"importrapport-{id}.csv\"").parse() {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(e) => problem(&app, e),
    }
}
