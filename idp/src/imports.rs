//! Bulk import of head offices from a CSV export of the appointment register (issue 6,
//! SPEC O1): the flow behind `POST /api/v1/imports` and the console's upload page.
//!
//! The whole file is checked first (`domain::import`, against what the database holds);
//! one bad row and nothing is stored. A good file becomes a job (`store::imports`) and a
//! background worker applies it row by row: each head office with its main user,
//! activation mail and audit entry in one transaction, together with the row's outcome
//! and the job's progress. A row that fails then (another admin took the advisor number a
//! moment ago) is recorded in the report and the others go on.
//!
//! If the node dies mid-import the job stays `running` with a lease that runs out within
//! [`LEASE`]. Any node then takes it over and goes on with the rows that have no outcome
//! yet: the sweep every node runs ([`spawn_resume`]) and every status request
//! ([`status`]) try to. A row is never applied twice: its outcome commits with its office.
//! No HTTP here; the API maps [`ImportError`] to problems.

use std::time::Duration as StdDuration;

use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use web_kit::Texts;

use crate::domain::NewHeadOffice;
use crate::domain::import::{self, ImportRow, RowError, RowProblem};
use crate::domain::office_admin::may_add_head_office;
use crate::domain::rights::format_rights;
use crate::manage::actor_of;
use crate::provision::{ProvisionError, head_office_account};
use crate::state::{AppState, Core};
use crate::store::accounts::Principal;
use crate::store::audit::{self, AuditRecord};
use crate::store::imports::{self as jobs, CREATED, JobRow, JobView, NewJobRow};
use crate::store::{Constraint, StoreError};

/// How long a worker holds a job without progress before another node may take it over.
pub const LEASE: Duration = Duration::seconds(60);

/// How often every node looks for jobs whose worker died.
pub const SWEEP: StdDuration = StdDuration::from_secs(30);

/// The text key of a row that failed for a reason of ours (not a rule).
const FAILED: &str = "import.failed_row";

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Only insurer admins import head offices (O1, SECURITY AC-05).
    #[error("only insurer admins import head offices")]
    Forbidden,
    /// The file has bad rows; nothing was stored.
    #[error("{} row(s) refused", .0.len())]
    Refused(Vec<RowError>),
    /// No such job.
    #[error("no such import")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The Dutch reason for a refused row.
pub fn explain(texts: &Texts, problem: &RowProblem) -> String {
    let text = texts.text(problem.text_key());
    match problem.detail() {
        Some(d) if text.contains('{') => text
            .replace("{column}", &d)
            .replace("{value}", &d)
            .replace("{line}", &d),
        Some(d) => format!("{text} ({d})"),
        None => text,
    }
}

/// Reads and checks a whole file against the database (O1, U3): the head offices, or
/// every bad row.
pub async fn check_file(
    core: &Core,
    bytes: &[u8],
) -> Result<Result<Vec<ImportRow>, Vec<RowError>>, StoreError> {
    let taken = jobs::taken(&core.db).await?;
    Ok(import::check(
        &import::decode(bytes),
        &core.registry,
        &taken,
    ))
}

/// Checks the file and, if every row is good, stores the job and starts its worker.
/// Insurer admins only; a refusal is audited.
pub async fn start(
    app: &AppState,
    caller: &Principal,
    bytes: &[u8],
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Uuid, ImportError> {
    let actor = actor_of(caller);
    if !may_add_head_office(&actor) {
        let mut entry = AuditRecord::new("admin.denied");
        entry.actor_id = Some(actor.id);
        entry.ip = ip;
        entry.detail = json!({ "act": "import", "answer": "forbidden" });
        audit::record(&app.db, &entry, now).await?;
        return Err(ImportError::Forbidden);
    }
    let rows = check_file(app, bytes)
        .await?
        .map_err(ImportError::Refused)?;
    let id = Uuid::now_v7();
    let stored: Vec<NewJobRow> = rows
        .iter()
        .map(|r| NewJobRow {
            line: i64::try_from(r.line).unwrap_or(i64::MAX),
            advisor_number: r.office.advisor_number.as_str().to_owned(),
            name: r.office.name.clone(),
            email: r.office.email.as_str().to_owned(),
            rights: format_rights(&r.office.rights, &app.registry),
            allow_sub_offices: r.office.allow_sub_offices,
        })
        .collect();
    let mut entry = AuditRecord::new("import.started");
    entry.actor_id = Some(actor.id);
    entry.ip.clone_from(&ip);
    entry.detail = json!({ "import_id": id, "rows": stored.len() });
    jobs::create(
        &app.db,
        id,
        Some(actor.id),
        ip.as_deref(),
        &stored,
        &entry,
        now,
    )
    .await?;
    spawn(app.clone(), id);
    Ok(id)
}

/// Runs the job's worker in the background.
pub fn spawn(app: AppState, id: Uuid) {
    tokio::spawn(async move {
        if let Err(e) = run(&app, id).await {
            tracing::warn!(import = %id, error = %e, "import paused; another node or the next sweep goes on with it");
        }
    });
}

/// Every [`SWEEP`], takes over the jobs whose worker died (their lease ran out).
pub fn spawn_resume(app: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP);
        loop {
            tick.tick().await;
            match jobs::orphaned(&app.db, app.now()).await {
                Ok(ids) => {
                    for id in ids {
                        if let Err(e) = run(&app, id).await {
                            tracing::warn!(import = %id, error = %e, "import not resumed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "imports not checked"),
            }
        }
    })
}

/// Applies the job's pending rows, if this worker gets the lease; then marks it done.
pub async fn run(core: &Core, id: Uuid) -> Result<(), ImportError> {
    let now = core.now();
    if !jobs::claim(&core.db, id, now, now + LEASE).await? {
        return Ok(());
    }
    let job = jobs::get(&core.db, id)
        .await?
        .ok_or(ImportError::NotFound)?;
    while let Some(row) = jobs::next_pending(&core.db, id).await? {
        apply(core, &job, &row).await?;
        core.mail_wake.notify_one();
    }
    let job = jobs::get(&core.db, id)
        .await?
        .ok_or(ImportError::NotFound)?;
    let mut entry = AuditRecord::new("import.finished");
    entry.actor_id = job.actor_id;
    entry.ip.clone_from(&job.ip);
    entry.detail = json!({
        "import_id": id, "rows": job.total, "created": job.created, "refused": job.total - job.created
    });
    jobs::finish(&core.db, id, &entry, core.now()).await?;
    Ok(())
}

/// One row: its office with main user, mail and audit entry, or the reason it failed. A
/// database failure stops the worker (the row stays pending, to be retried).
async fn apply(core: &Core, job: &JobView, row: &JobRow) -> Result<(), ImportError> {
    let now = core.now();
    let lease = now + LEASE;
    let office = NewHeadOffice::parse(
        &row.advisor_number,
        &row.name,
        &row.email,
        &row.rights,
        row.allow_sub_offices,
        &core.registry,
    );
    let account = match office {
        Ok(o) => head_office_account(core, &o, job.actor_id, now),
        Err(e) => Err(ProvisionError::Rule(e)),
    };
    let mut account = match account {
        Ok(a) => a,
        Err(e) => {
            let key = match &e {
                ProvisionError::Rule(r) => r.text_key(),
                _ => FAILED,
            };
            tracing::warn!(import = %job.id, line = row.line, error = %e, "import row not created");
            jobs::refuse(&core.db, job.id, row.position, key, now, lease).await?;
            return Ok(());
        }
    };
    account.audit.ip.clone_from(&job.ip);
    if let Some(detail) = account.audit.detail.as_object_mut() {
        detail.insert("import_id".into(), json!(job.id));
    }
    match jobs::apply(&core.db, job.id, row.position, &account, now, lease).await {
        Ok(_) => Ok(()),
        // O1, U3: taken since the file was checked (another admin, another import).
        Err(StoreError::Conflict { constraint }) => {
            let key = match constraint {
                Constraint::AdvisorNumber => "rule.advisor_number_in_use",
                Constraint::UserEmail => "rule.email_in_use",
                Constraint::OfficeEmail => "rule.office_email_in_use",
                _ => FAILED,
            };
            jobs::refuse(&core.db, job.id, row.position, key, now, lease).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A row's result as a person reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowResult {
    /// Not applied yet.
    Pending,
    /// Created, with its main user and activation mail.
    Created,
    /// Not created; the reason is in the row.
    Refused,
}

/// A row of the report.
#[derive(Debug, Clone)]
pub struct ReportRow {
    /// The line in the file.
    pub line: i64,
    /// Adviseursnummer.
    pub advisor_number: String,
    /// Naam.
    pub name: String,
    /// E-mailadres.
    pub email: String,
    /// What happened.
    pub result: RowResult,
    /// Why not, in Dutch.
    pub reason: Option<String>,
    /// The office created.
    pub office_id: Option<Uuid>,
}

/// A job and its rows.
#[derive(Debug, Clone)]
pub struct Status {
    /// The job and its counts.
    pub job: JobView,
    /// Every row, in the file's order.
    pub rows: Vec<ReportRow>,
}

/// A job for an insurer admin. A running job whose worker died is taken over here, so
/// polling any node moves it on.
pub async fn status(app: &AppState, caller: &Principal, id: Uuid) -> Result<Status, ImportError> {
    if !may_add_head_office(&actor_of(caller)) {
        return Err(ImportError::Forbidden);
    }
    let job = jobs::get(&app.db, id).await?.ok_or(ImportError::NotFound)?;
    if job.state == "running" && job.lease_until.is_none_or(|t| t <= app.now()) {
        spawn(app.clone(), id);
    }
    let texts = app.templates.texts();
    let rows = jobs::rows(&app.db, id)
        .await?
        .into_iter()
        .map(|r| {
            let (result, reason) = match r.outcome.as_deref() {
                None => (RowResult::Pending, None),
                Some(CREATED) => (RowResult::Created, None),
                Some(key) => (RowResult::Refused, Some(texts.text(key))),
            };
            ReportRow {
                line: r.line,
                advisor_number: r.advisor_number,
                name: r.name,
                email: r.email,
                result,
                reason,
                office_id: r.office_id,
            }
        })
        .collect();
    Ok(Status { job, rows })
}

/// The report as CSV (RFC 4180, UTF-8): regel, adviseursnummer, naam, e-mailadres,
/// resultaat. A cell a spreadsheet would run as a formula is quoted with `'` (SECURITY
/// IO-05).
pub fn report_csv(texts: &Texts, status: &Status) -> String {
    let mut out = csv::WriterBuilder::new().from_writer(Vec::new());
    let header = ["line", "advisor_number", "name", "email", "result"]
        .map(|k| texts.text(&format!("import.report_{k}")));
    let _ = out.write_record(&header);
    for r in &status.rows {
        let result = match (r.result, &r.reason) {
            (RowResult::Created, _) => texts.text("import.result_created"),
            (RowResult::Pending, _) => texts.text("import.result_pending"),
            (RowResult::Refused, reason) => format!(
                "{}: {}",
                texts.text("import.result_refused"),
                reason.as_deref().unwrap_or("")
            ),
        };
        let _ = out.write_record([
            r.line.to_string(),
            neutral(&r.advisor_number),
            neutral(&r.name),
            neutral(&r.email),
            neutral(&result),
        ]);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// SECURITY IO-05: a cell starting with `= + - @` (or a tab or carriage return) would be
/// a formula in a spreadsheet; a leading `'` keeps it text.
pub(crate) fn neutral(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn io05_formulas_are_neutralised_in_the_report() {
        assert_eq!(neutral("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutral("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutral("Kantoor Een"), "Kantoor Een");
    }

    #[test]
    fn reasons_read_in_dutch_with_their_detail() {
        let texts = Texts::load().unwrap();
        let missing = explain(&texts, &RowProblem::MissingColumn("email"));
        assert!(
            missing.contains("email") && !missing.contains('{'),
            "{missing}"
        );
        let repeated = explain(&texts, &RowProblem::RepeatedEmail { first_line: 2 });
        assert!(
            repeated.contains('2') && !repeated.contains('{'),
            "{repeated}"
        );
        let right = explain(
            &texts,
            &RowProblem::Rule(crate::domain::RuleError::UnknownRight("XYZ".into())),
        );
        assert_eq!(right, "Dit recht bestaat niet. (XYZ)");
        for p in [
            RowProblem::Malformed,
            RowProblem::NoRows,
            RowProblem::NotYesOrNo("x".into()),
            RowProblem::RepeatedAdvisorNumber { first_line: 3 },
        ] {
            assert!(texts.get(p.text_key()).is_some(), "{}", p.text_key());
        }
        for key in [
            FAILED,
            "import.result_created",
            "import.result_pending",
            "import.result_refused",
        ] {
            assert!(texts.get(key).is_some(), "{key}");
        }
    }
}
