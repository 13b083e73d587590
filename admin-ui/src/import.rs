//! **Importeren** in the insurer's console (issue 6, SPEC O1): head offices in bulk from
//! a CSV export of the appointment register. The admin uploads the file; this page hands
//! it to the idp's admin API as a preview (issue 10; the API checks it whole and refuses
//! it whole), and shows per row what would happen: a new head office, a change (old →
//! new), or nothing. "Importeren" confirms exactly that plan (its fingerprint is in the
//! form; the API refuses it when the database changed meanwhile, and the page says so),
//! "Annuleren" forgets it. Then the job's progress with a `<progress>` bar that refreshes
//! itself without JavaScript, and finally the summary and the report to download. The
//! forms are protected from cross-site posts as every form of the portal (SECURITY SE-07).
//!
//! Insurer admins only: the menu shows the link to them alone, this page refuses others,
//! and the API refuses them again (it decides; this page only avoids a useless form).

use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use relying_party::{MaybeUser, Role, SignedInUser};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::api::ApiError;
use crate::api::import::{Import, ImportRow, RowError, Upload};
use crate::form::PageForm;
use crate::users::{api_failure, no_store};

/// The largest upload this page takes: the API's file limit plus room for the multipart
/// framing. The portal's general body limit is far smaller, so the route sets this one.
pub(crate) const UPLOAD_LIMIT: usize = web_kit::limits::IMPORT_LIMIT + 16 * 1024;

const HERE: &str = "/beheer/import";

#[derive(Serialize)]
struct FormPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    error: Option<String>,
    detail: Option<String>,
    errors: Vec<RowError>,
}

#[derive(Serialize)]
struct StatusPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    id: String,
    running: bool,
    total: i64,
    done: i64,
    created: i64,
    changed: i64,
    unchanged: i64,
    refused: i64,
    refused_rows: Vec<ImportRow>,
}

/// A row of the preview as the table shows it.
#[derive(Serialize)]
struct PreviewRow {
    line: i64,
    advisor_number: String,
    name: String,
    /// `create`, `change` or `unchanged`.
    action: String,
    /// `veld: oud → nieuw` per changed field.
    changes: Vec<String>,
    /// The e-mail address that is not applied, explained.
    email_notice: Option<String>,
}

#[derive(Serialize)]
struct PreviewPage<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    id: String,
    fingerprint: String,
    counts: String,
    rows: Vec<PreviewRow>,
}

/// The confirmation of a preview: the plan's fingerprint as shown.
#[derive(Deserialize)]
pub(crate) struct ConfirmForm {
    fingerprint: String,
}

#[derive(Serialize)]
struct NotAllowed<'a> {
    user: &'a SignedInUser,
    logout_action: String,
    detail: String,
}

/// The signed-in insurer admin and a live API token, or the response to give instead.
async fn insurer_admin(
    app: &AppState,
    user: Option<SignedInUser>,
    jar: &CookieJar,
    here: &str,
) -> Result<(SignedInUser, String), Response> {
    let Some(user) = user else {
        return Err(app.rp.sign_in(jar.clone(), here).await);
    };
    if user.role != Role::InsurerAdmin {
        return Err(no_store(app.templates.page(
            StatusCode::FORBIDDEN,
            "admin/import_not_allowed.html",
            NotAllowed {
                logout_action: app.rp.logout_action(),
                detail: app.templates.texts().text("import.not_allowed"),
                user: &user,
            },
        )));
    }
    match app.rp.access_token(jar).await {
        Ok(Some(token)) => Ok((user, token)),
        Ok(None) => Err(app.rp.sign_in(jar.clone(), here).await),
        Err(e) => Err(app.rp.failure(e).into_response()),
    }
}

fn form_page(app: &AppState, status: StatusCode, page: FormPage<'_>) -> Response {
    no_store(app.templates.page(status, "admin/import.html", page))
}

/// `GET /beheer/import`: the upload form with the columns explained.
pub(crate) async fn form(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
) -> Response {
    let (user, _) = match insurer_admin(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    form_page(
        &app,
        StatusCode::OK,
        FormPage {
            logout_action: app.rp.logout_action(),
            user: &user,
            error: None,
            detail: None,
            errors: Vec::new(),
        },
    )
}

/// The bytes of the form's file field `bestand`; `Err` with the text key of the reason.
async fn file_of(upload: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, &'static str> {
    let mut multipart = upload.map_err(|_| "import.no_file")?;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("bestand") => {
                let bytes = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        "import.too_large"
                    } else {
                        "import.no_file"
                    }
                })?;
                return if bytes.is_empty() {
                    Err("import.no_file")
                } else {
                    Ok(bytes.to_vec())
                };
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("import.no_file"),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err("import.too_large");
            }
            Err(_) => return Err("import.no_file"),
        }
    }
}

/// `POST /beheer/import`: hands the file to the API as a preview. Planned → the preview
/// page; rows refused → the form with every line's reason and that nothing was imported.
pub(crate) async fn upload(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    upload: Result<Multipart, MultipartRejection>,
) -> Response {
    let (user, token) = match insurer_admin(&app, user, &jar, HERE).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let refused = |status: StatusCode,
                   error: Option<String>,
                   detail: Option<String>,
                   errors: Vec<RowError>| {
        form_page(
            &app,
            status,
            FormPage {
                logout_action: app.rp.logout_action(),
                user: &user,
                error,
                detail,
                errors,
            },
        )
    };
    let bytes = match file_of(upload).await {
        Ok(b) => b,
        Err(key) => {
            let status = if key == "import.too_large" {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return refused(
                status,
                Some(app.templates.texts().text(key)),
                None,
                Vec::new(),
            );
        }
    };
    match app.api.start_import(&token, bytes).await {
        Ok(Upload::Started(job)) => {
            Redirect::to(&format!("{HERE}/{}", crate::api::seg(&job.id))).into_response()
        }
        Ok(Upload::Refused { detail, errors }) => {
            refused(StatusCode::UNPROCESSABLE_ENTITY, None, Some(detail), errors)
        }
        Err(ApiError::Refused { status, detail }) if status.is_client_error() => {
            refused(status, Some(detail), None, Vec::new())
        }
        Err(e) => api_failure(&app, &jar, HERE, e).await,
    }
}

/// `GET /beheer/import/{id}`: a preview's table with "Importeren" and "Annuleren"; or the
/// progress, refreshed every second while it runs; when done, the summary, the rows not
/// applied and "Rapport downloaden".
pub(crate) async fn status(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let here = format!("{HERE}/{}", crate::api::seg(&id));
    let (user, token) = match insurer_admin(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let job = match app.api.import(&token, &id).await {
        Ok(j) => j,
        Err(e) => return api_failure(&app, &jar, &here, e).await,
    };
    if job.state == "preview" {
        return preview_page(&app, &user, job);
    }
    let running = job.state != "done";
    no_store(
        app.templates.page(
            StatusCode::OK,
            "admin/import_status.html",
            StatusPage {
                logout_action: app.rp.logout_action(),
                user: &user,
                id: job.id,
                running,
                total: job.total,
                done: job.done,
                created: job.created,
                changed: job.changed,
                unchanged: job.unchanged,
                refused: job.refused,
                refused_rows: job
                    .rows
                    .into_iter()
                    .filter(|r| r.result == "refused")
                    .collect(),
            },
        ),
    )
}

/// `GET /beheer/import/{id}/rapport.csv`: the API's report as a download.
pub(crate) async fn report(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let id = crate::api::seg(&id);
    let here = format!("{HERE}/{id}");
    let (_, token) = match insurer_admin(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let csv = match app.api.import_report(&token, &id).await {
        Ok(c) => c,
        Err(e) => return api_failure(&app, &jar, &here, e).await,
    };
    let mut res = Response::new(Body::from(csv));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    // `id` is a UUID (or `-`), so the file name needs no escaping.
    if let Ok(v) = format!("attachment; filename=\"importrapport-{id}.csv\"").parse() {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    no_store(res)
}

/// The preview: per row regelnummer, adviseursnummer, naam and what happens (for a change
/// each field's old → new value), the counts, and the two buttons.
fn preview_page(app: &AppState, user: &SignedInUser, job: Import) -> Response {
    let texts = app.templates.texts();
    let counts = texts
        .text("import.preview_counts")
        .replace("{create}", &job.planned.create.to_string())
        .replace("{change}", &job.planned.change.to_string())
        .replace("{unchanged}", &job.planned.unchanged.to_string());
    let rows = job
        .rows
        .into_iter()
        .map(|r| PreviewRow {
            line: r.line,
            advisor_number: r.advisor_number,
            name: r.name,
            changes: r
                .changes
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}",
                        texts.text(&format!("import.field_{}", c.field)),
                        c.before,
                        c.after
                    )
                })
                .collect(),
            email_notice: r.email_notice.map(|e| {
                texts
                    .text("import.email_not_applied")
                    .replace("{email}", &e)
            }),
            action: r.action,
        })
        .collect();
    no_store(app.templates.page(
        StatusCode::OK,
        "admin/import_preview.html",
        PreviewPage {
            logout_action: app.rp.logout_action(),
            user,
            id: crate::api::seg(&job.id),
            fingerprint: job.fingerprint.unwrap_or_default(),
            counts,
            rows,
        },
    ))
}

/// `POST /beheer/import/{id}/importeren`: applies the preview as shown. When the database
/// changed since the preview, nothing is applied and the upload form says so (409).
pub(crate) async fn confirm(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(form): PageForm<ConfirmForm>,
) -> Response {
    let id = crate::api::seg(&id);
    let here = format!("{HERE}/{id}");
    let (user, token) = match insurer_admin(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    match app.api.confirm_import(&token, &id, &form.fingerprint).await {
        Ok(()) => Redirect::to(&here).into_response(),
        Err(ApiError::Refused { status, detail }) if status == StatusCode::CONFLICT => form_page(
            &app,
            StatusCode::CONFLICT,
            FormPage {
                logout_action: app.rp.logout_action(),
                user: &user,
                error: Some(detail),
                detail: None,
                errors: Vec::new(),
            },
        ),
        Err(e) => api_failure(&app, &jar, &here, e).await,
    }
}

/// `POST /beheer/import/{id}/annuleren`: forgets the preview; back to the upload form,
/// which says that nothing changed.
pub(crate) async fn cancel(
    State(app): State<AppState>,
    MaybeUser(user): MaybeUser,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let id = crate::api::seg(&id);
    let here = format!("{HERE}/{id}");
    let (user, token) = match insurer_admin(&app, user, &jar, &here).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    match app.api.cancel_import(&token, &id).await {
        Ok(()) => form_page(
            &app,
            StatusCode::OK,
            FormPage {
                logout_action: app.rp.logout_action(),
                user: &user,
                error: None,
                detail: Some(app.templates.texts().text("import.cancelled")),
                errors: Vec::new(),
            },
        ),
        Err(e) => api_failure(&app, &jar, &here, e).await,
    }
}
