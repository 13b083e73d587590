//! Bulk import of head offices in the admin API (issue 6, SPEC O1): a CSV export of the
//! appointment register in, a job with progress and a report out. Thin handlers over
//! `crate::imports`; insurer admins only.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::{Problem, ProblemSchema};
use super::{Caller, text};
use crate::imports::{self, ImportError, RowResult, Status};
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
    /// Not created (e.g. the advisor number was taken meanwhile); `reason` says why.
    Refused,
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
    /// What happened.
    pub result: ResultJson,
    /// Why not, in Dutch.
    pub reason: Option<String>,
    /// The office created.
    pub office_id: Option<Uuid>,
}

/// An import: its progress and, per row, its result.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Import)]
pub struct ImportJson {
    /// Id.
    pub id: Uuid,
    /// `running` or `done`.
    pub state: StateJson,
    /// Rows in the file.
    pub total: i64,
    /// Rows with a result.
    pub done: i64,
    /// Head offices created.
    pub created: i64,
    /// Rows not created.
    pub refused: i64,
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
        Self {
            id: s.job.id,
            state: if s.job.state == "done" {
                StateJson::Done
            } else {
                StateJson::Running
            },
            total: s.job.total,
            done: s.job.done,
            created: s.job.created,
            refused: i64::try_from(refused).unwrap_or(i64::MAX),
            rows: s
                .rows
                .iter()
                .map(|r| RowJson {
                    line: r.line,
                    advisor_number: r.advisor_number.clone(),
                    name: r.name.clone(),
                    email: r.email.clone(),
                    result: match r.result {
                        RowResult::Pending => ResultJson::Pending,
                        RowResult::Created => ResultJson::Created,
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

/// O1 in bulk: checks the whole file first: if any row is bad, every bad row is named and
/// nothing is stored. Otherwise the import starts in the background: each head office
/// with its main user (the office e-mail as login), activation mail and audit entry.
/// Insurer admins only.
#[utoipa::path(
    post, path = "/api/v1/imports", tag = "imports",
    request_body(
        content = String, content_type = "text/csv",
        description = "The register's export: a heading with advisor_number, name, email, rights \
            and optionally allow_sub_offices (ja/nee), separated by `,` or `;`, UTF-8 or \
            Windows-1252; rights such as `DIP,DIL` (quoted) or `DIP DIL`. At most 5 MiB."
    ),
    responses(
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
    req: Request,
) -> Response {
    let body = match csv_body(&app, req).await {
        Ok(b) => b,
        Err(p) => return p.into_response(),
    };
    let id = match imports::start(&app, &caller.principal, &body, ip.text(), app.now()).await {
        Ok(id) => id,
        Err(e) => return problem(&app, e),
    };
    let status = match imports::status(&app, &caller.principal, id).await {
        Ok(s) => s,
        Err(e) => return problem(&app, e),
    };
    let mut res = (StatusCode::ACCEPTED, Json(ImportJson::of(&status))).into_response();
    if let Ok(location) = format!("/api/v1/imports/{id}").parse() {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
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
