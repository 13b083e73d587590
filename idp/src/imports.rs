//! Bulk import of head offices from a CSV export of the appointment register (issue 6,
//! SPEC O1): the flow behind `POST /api/v1/imports`, the console's upload page and
//! `portal office import`.
//!
//! The whole file is checked first (`domain::import`, against what the database holds);
//! one bad row and nothing is stored. A good file is then planned ([`plan`], issue 10), an
//! idempotent upsert by advisor number: each row is a new head office (with its main user
//! and activation mail), a change of the head office with that advisor number (its name,
//! rights and whether it may have sub-offices), or leaves it unchanged. A row's e-mail
//! address is never applied to an existing office: the office e-mail is its main user's
//! login, and a login changes only through the confirmed e-mail change of SECURITY AC-10
//! (the new address confirms, with the account's password). Taking it from a file would
//! let whoever edits the register move a login to another mailbox, so a differing address
//! is reported (`email_notice`) and left alone; the main user's name is not touched either
//! (the person may have changed it).
//!
//! The plan becomes a job (`store::imports`): applied at once (the API without preview,
//! the CLI), or kept as a preview until the admin confirms it with the plan's
//! [fingerprint](Plan::fingerprint) ([`preview`], [`confirm`]): the file is planned again
//! against the database then, and a different plan (an office changed meanwhile) is
//! refused with [`ImportError::PlanChanged`] instead of applying something else. A
//! background worker applies a confirmed job in one transaction, all or nothing: a change
//! whose office moved on since the plan, or a new office whose advisor number or e-mail
//! was taken a moment ago, rolls the whole job back and the report says which row and why.
//! Activation mails are queued in the durable outbox in batches of [`MAILS_PER_MINUTE`],
//! one batch a minute, so a large import does not flood the mail server.
//!
//! If the node dies mid-import the job stays `running` with a lease that runs out within
//! [`LEASE`]. Any node then takes it over: the sweep every node runs ([`spawn_resume`]) and
//! every status request ([`status`]) try to. The transaction never commits half.
//! No HTTP here; the API maps [`ImportError`] to problems.

use std::collections::HashMap;
use std::time::Duration as StdDuration;

use product_registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use web_kit::Texts;

use crate::approvals;
use crate::domain::NewHeadOffice;
use crate::domain::import::{self, ImportRow, RowError, RowProblem};
use crate::domain::manage::Scope;
use crate::domain::office_admin::may_add_head_office;
use crate::domain::rights::{format_rights, read_rights};
use crate::events;
use crate::manage::{actor_of, rights_json};
use crate::oidc::end_session::logout_deliveries;
use crate::provision::{ProvisionError, head_office_account};
use crate::state::{AppState, Core};
use crate::store::accounts::Principal;
use crate::store::audit::{self, AuditRecord};
use crate::store::imports::{
    self as jobs, Applied, CHANGED, CREATED, ExistingHead, HeadChange, JobRow, JobView, NewJob,
    NewJobRow, PlannedJobRow, RowOp, UNCHANGED, action,
};
use crate::store::{Constraint, StoreError, grants, offices};

/// How long a worker holds a job without progress before another node may take it over.
pub const LEASE: Duration = Duration::seconds(60);

/// How often every node looks for jobs whose worker died.
pub const SWEEP: StdDuration = StdDuration::from_secs(30);

/// How long a preview nobody confirmed or cancelled is kept; the sweep forgets older ones.
pub const PREVIEW_TTL: Duration = Duration::hours(24);

/// The text key of a row that failed for a reason of ours (not a rule).
const FAILED: &str = "import.failed_row";

/// The text key of a row whose head office changed between the plan and its application.
const STALE: &str = "import.stale_row";

/// How many activation mails of one import are queued per minute (issue 10): the first
/// batch is due at once, the next a minute later, and so on. The outbox sends e-mail in
/// the order of its due time, so a batch due later never holds up other mail (a
/// password reset asked for meanwhile goes first).
pub const MAILS_PER_MINUTE: usize = 20;

/// When the activation mail of the `index`-th new office (0-based) of an import applied
/// at `now` is due.
pub fn mail_due(now: OffsetDateTime, index: usize) -> OffsetDateTime {
    let batch = i64::try_from(index / MAILS_PER_MINUTE).unwrap_or(i64::MAX / 120);
    now + Duration::minutes(batch)
}

/// Why an import was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Only insurer admins import head offices (O1, SECURITY AC-05).
    #[error("only insurer admins import head offices")]
    Forbidden,
    /// The file has bad rows; nothing was stored.
    #[error("{} row(s) refused", .0.len())]
    Refused(Vec<RowError>),
    /// No such job (or not one in the state asked for: a preview to confirm or cancel).
    #[error("no such import")]
    NotFound,
    /// The database changed since the preview: planned again, the file does something
    /// else now. Nothing was applied.
    #[error("the plan changed since the preview")]
    PlanChanged,
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

/// A field a row changes, as a person reads it (`before` → `after`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// `name`, `rights` or `allow_sub_offices`.
    pub field: String,
    /// The office's value (rights as `DIP,DIL`, yes/no as `ja`/`nee`).
    pub before: String,
    /// The file's value.
    pub after: String,
}

/// What a row does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A new head office with its main user and activation mail.
    Create,
    /// The head office with this advisor number changes these fields.
    Change(Vec<FieldChange>),
    /// The head office with this advisor number already matches the file.
    Unchanged,
}

/// A planned row.
#[derive(Debug, Clone)]
pub struct PlannedRow {
    /// The line in the file.
    pub line: u64,
    /// The head office as the file has it.
    pub office: NewHeadOffice,
    /// What it does.
    pub action: Action,
    /// The existing head office and its version (change, unchanged).
    pub existing: Option<(Uuid, i64)>,
    /// The existing office's e-mail address when the file holds another: reported, never
    /// applied (see the module's documentation).
    pub email_notice: Option<String>,
}

/// What a file would do, row by row.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every row, in the file's order.
    pub rows: Vec<PlannedRow>,
}

/// How many rows create, change and leave alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// New head offices.
    pub create: usize,
    /// Changed head offices.
    pub change: usize,
    /// Head offices left as they are.
    pub unchanged: usize,
}

fn yes_no(v: bool) -> String {
    if v { "ja" } else { "nee" }.to_owned()
}

impl Plan {
    /// The counts.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.rows {
            match r.action {
                Action::Create => c.create += 1,
                Action::Change(_) => c.change += 1,
                Action::Unchanged => c.unchanged += 1,
            }
        }
        c
    }

    /// SHA-256 (hex) over every row's line, values, action and the office and version it
    /// was planned from: equal fingerprints mean the same rows doing the same to the same
    /// versions. A preview's confirmation must name it.
    pub fn fingerprint(&self, registry: &Registry) -> String {
        let mut h = Sha256::new();
        for r in &self.rows {
            let (kind, changes) = match &r.action {
                Action::Create => (action::CREATE, String::new()),
                Action::Change(c) => (action::CHANGE, serde_json::to_string(c).unwrap_or_default()),
                Action::Unchanged => (action::UNCHANGED, String::new()),
            };
            let (office, version) = r
                .existing
                .map_or((String::new(), String::new()), |(id, v)| {
                    (id.to_string(), v.to_string())
                });
            // Each field length-prefixed, so no two different rows hash alike.
            for part in [
                r.line.to_string().as_str(),
                r.office.advisor_number.as_str(),
                &r.office.name,
                r.office.email.as_str(),
                &format_rights(&r.office.rights, registry),
                &yes_no(r.office.allow_sub_offices),
                kind,
                &changes,
                &office,
                &version,
                r.email_notice.as_deref().unwrap_or(""),
            ] {
                h.update((part.len() as u64).to_be_bytes());
                h.update(part.as_bytes());
            }
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    }

    /// The rows as a job stores them.
    fn job_rows(&self, registry: &Registry) -> Vec<PlannedJobRow> {
        self.rows
            .iter()
            .map(|r| {
                let (kind, changes) = match &r.action {
                    Action::Create => (action::CREATE, None),
                    Action::Change(c) => (action::CHANGE, serde_json::to_string(c).ok()),
                    Action::Unchanged => (action::UNCHANGED, None),
                };
                PlannedJobRow {
                    row: NewJobRow {
                        line: i64::try_from(r.line).unwrap_or(i64::MAX),
                        advisor_number: r.office.advisor_number.as_str().to_owned(),
                        name: r.office.name.clone(),
                        email: r.office.email.as_str().to_owned(),
                        rights: format_rights(&r.office.rights, registry),
                        allow_sub_offices: r.office.allow_sub_offices,
                    },
                    action: kind,
                    office_id: r.existing.map(|e| e.0),
                    office_version: r.existing.map(|e| e.1),
                    changes,
                    email_notice: r.email_notice.clone(),
                }
            })
            .collect()
    }
}

/// Plans checked rows against the head offices the database holds (issue 10): a row
/// whose advisor number is unknown creates its head office; otherwise it changes the
/// name, rights and `allow_sub_offices` that differ, or nothing. The e-mail address is
/// compared, never planned as a change (see the module's documentation). Pure.
pub fn plan(rows: Vec<ImportRow>, heads: &[ExistingHead], registry: &Registry) -> Plan {
    let by_number: HashMap<&str, &ExistingHead> = heads
        .iter()
        .map(|h| (h.advisor_number.as_str(), h))
        .collect();
    let rows = rows
        .into_iter()
        .map(|r| {
            let Some(head) = by_number.get(r.office.advisor_number.as_str()) else {
                return PlannedRow {
                    line: r.line,
                    office: r.office,
                    action: Action::Create,
                    existing: None,
                    email_notice: None,
                };
            };
            let mut changes = Vec::new();
            if head.name != r.office.name {
                changes.push(FieldChange {
                    field: "name".into(),
                    before: head.name.clone(),
                    after: r.office.name.clone(),
                });
            }
            let before = format_rights(&read_rights(&head.rights, registry), registry);
            let after = format_rights(&r.office.rights, registry);
            if before != after {
                changes.push(FieldChange {
                    field: "rights".into(),
                    before,
                    after,
                });
            }
            if head.allow_sub_offices != r.office.allow_sub_offices {
                changes.push(FieldChange {
                    field: "allow_sub_offices".into(),
                    before: yes_no(head.allow_sub_offices),
                    after: yes_no(r.office.allow_sub_offices),
                });
            }
            let email_notice = (!head.email.eq_ignore_ascii_case(r.office.email.as_str()))
                .then(|| head.email.clone());
            PlannedRow {
                line: r.line,
                office: r.office,
                action: if changes.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Change(changes)
                },
                existing: Some((head.id, head.version)),
                email_notice,
            }
        })
        .collect();
    Plan { rows }
}

/// Reads, checks and plans a whole file against the database: the plan, or every bad
/// row (O1, U3; issue 10). Changes nothing: `portal office import --dry-run` is this.
pub async fn plan_file(
    core: &Core,
    bytes: &[u8],
) -> Result<Result<Plan, Vec<RowError>>, StoreError> {
    let rows = match check_file(core, bytes).await? {
        Ok(rows) => rows,
        Err(errors) => return Ok(Err(errors)),
    };
    let heads = jobs::heads(&core.db).await?;
    let plan = plan(rows, &heads, &core.registry);
    let held = needs_approval(core, &plan, &heads);
    if held.is_empty() {
        Ok(Ok(plan))
    } else {
        Ok(Err(held))
    }
}

/// The rows that would change their head office in a way the four-eyes setting lets only
/// a second admin approve (`crate::approvals`): an import applies at once, so such a row
/// is refused with the kinds it holds, and the change is made by hand (where it waits for
/// its approval) before the file is imported again.
fn needs_approval(core: &Core, plan: &Plan, heads: &[ExistingHead]) -> Vec<RowError> {
    let by_id: HashMap<Uuid, &ExistingHead> = heads.iter().map(|h| (h.id, h)).collect();
    plan.rows
        .iter()
        .filter(|r| matches!(r.action, Action::Change(_)))
        .filter_map(|r| {
            let head = by_id.get(&r.existing?.0)?;
            let before = read_rights(&head.rights, &core.registry);
            let kinds = approvals::office_kinds(
                core,
                head.allow_sub_offices,
                r.office.allow_sub_offices,
                &before,
                &r.office.rights,
            );
            (!kinds.is_empty()).then(|| RowError {
                line: r.line,
                problem: RowProblem::NeedsApproval(kinds.join(", ")),
            })
        })
        .collect()
}

/// Plans a stored job's rows again against the database as it is now.
async fn replan(core: &Core, rows: &[JobRow]) -> Result<Option<Plan>, StoreError> {
    let mut checked = Vec::with_capacity(rows.len());
    for r in rows {
        match NewHeadOffice::parse(
            &r.advisor_number,
            &r.name,
            &r.email,
            &r.rights,
            r.allow_sub_offices,
            &core.registry,
        ) {
            Ok(office) => checked.push(ImportRow {
                line: u64::try_from(r.line).unwrap_or(0),
                office,
            }),
            // A rule changed (a right left the registry): not the plan that was shown.
            Err(_) => return Ok(None),
        }
    }
    let heads = jobs::heads(&core.db).await?;
    Ok(Some(plan(checked, &heads, &core.registry)))
}

/// Insurer admins only; a refusal is audited.
async fn allowed(
    core: &Core,
    caller: &Principal,
    act: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Uuid, ImportError> {
    let actor = actor_of(caller);
    if !may_add_head_office(&actor) {
        let mut entry = AuditRecord::new("admin.denied");
        entry.actor_id = Some(actor.id);
        entry.ip = ip.map(str::to_owned);
        entry.detail = json!({ "act": act, "answer": "forbidden" });
        audit::record(&core.db, &entry, now).await?;
        return Err(ImportError::Forbidden);
    }
    Ok(actor.id)
}

/// Checks and plans the file and, if every row is good, stores the job and starts its
/// worker. Insurer admins only; a refusal is audited.
pub async fn start(
    app: &AppState,
    caller: &Principal,
    bytes: &[u8],
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Uuid, ImportError> {
    let actor = allowed(app, caller, "import", ip.as_deref(), now).await?;
    let plan = plan_file(app, bytes).await?.map_err(ImportError::Refused)?;
    let id = store_plan(app, &plan, Some(actor), ip.as_deref(), true, now).await?;
    spawn(app.clone(), id);
    Ok(id)
}

/// Stores a planned job: confirmed (applied by the next worker) or a preview. The CLI
/// stores one with no actor.
pub async fn store_plan(
    core: &Core,
    plan: &Plan,
    actor: Option<Uuid>,
    ip: Option<&str>,
    confirmed: bool,
    now: OffsetDateTime,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    let counts = plan.counts();
    let fingerprint = plan.fingerprint(&core.registry);
    let mut entry = AuditRecord::new(if confirmed {
        "import.started"
    } else {
        "import.previewed"
    });
    entry.actor_id = actor;
    entry.ip = ip.map(str::to_owned);
    entry.detail = json!({
        "import_id": id, "rows": plan.rows.len(), "create": counts.create,
        "change": counts.change, "unchanged": counts.unchanged,
    });
    let job = NewJob {
        id,
        actor_id: actor,
        ip,
        confirmed,
        fingerprint: Some(&fingerprint),
    };
    jobs::create_planned(&core.db, &job, &plan.job_rows(&core.registry), &entry, now).await?;
    Ok(id)
}

/// The preview step (issue 10): checks and plans the file and stores the plan as a job
/// that nothing applies until [`confirm`]. Insurer admins only.
pub async fn preview(
    app: &AppState,
    caller: &Principal,
    bytes: &[u8],
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Uuid, ImportError> {
    let actor = allowed(app, caller, "import", ip.as_deref(), now).await?;
    let plan = plan_file(app, bytes).await?.map_err(ImportError::Refused)?;
    Ok(store_plan(app, &plan, Some(actor), ip.as_deref(), false, now).await?)
}

/// "Importeren" on a preview: applies exactly the plan that was shown, named by its
/// `fingerprint`. The stored rows are planned again against the database first; if that
/// plan differs (an office changed, an advisor number was taken), nothing is applied and
/// the answer is [`ImportError::PlanChanged`]. The worker's transaction still checks
/// every office's version, for a change in the moment between.
pub async fn confirm(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    fingerprint: &str,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ImportError> {
    let actor = allowed(app, caller, "import", ip.as_deref(), now).await?;
    let job = jobs::get(&app.db, id).await?.ok_or(ImportError::NotFound)?;
    if job.confirmed || job.state != "running" {
        return Err(ImportError::NotFound);
    }
    let stored = job.fingerprint.as_deref().unwrap_or("");
    if stored != fingerprint {
        return Err(ImportError::PlanChanged);
    }
    let rows = jobs::rows(&app.db, id).await?;
    let again = replan(app, &rows).await?;
    if again.is_none_or(|p| p.fingerprint(&app.registry) != stored) {
        return Err(ImportError::PlanChanged);
    }
    let mut entry = AuditRecord::new("import.started");
    entry.actor_id = Some(actor);
    entry.ip = ip;
    entry.detail = json!({ "import_id": id, "rows": job.total, "preview": true });
    if !jobs::confirm(&app.db, id, stored, &entry, now).await? {
        return Err(ImportError::NotFound);
    }
    spawn(app.clone(), id);
    Ok(())
}

/// "Annuleren" on a preview: forgets it. Insurer admins only.
pub async fn cancel(
    app: &AppState,
    caller: &Principal,
    id: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ImportError> {
    let actor = allowed(app, caller, "import", ip.as_deref(), now).await?;
    let mut entry = AuditRecord::new("import.cancelled");
    entry.actor_id = Some(actor);
    entry.ip = ip;
    entry.detail = json!({ "import_id": id });
    if jobs::cancel(&app.db, id, &entry, now).await? {
        Ok(())
    } else {
        Err(ImportError::NotFound)
    }
}

/// Runs the job's worker in the background.
pub fn spawn(app: AppState, id: Uuid) {
    tokio::spawn(async move {
        if let Err(e) = run(&app, id).await {
            tracing::warn!(import = %id, error = %e, "import paused; another node or the next sweep goes on with it");
        }
    });
}

/// Every [`SWEEP`], takes over the jobs whose worker died (their lease ran out), and
/// forgets the previews older than [`PREVIEW_TTL`].
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
            if let Err(e) = jobs::purge_previews(&app.db, app.now() - PREVIEW_TTL).await {
                tracing::warn!(error = %e, "old import previews not purged");
            }
        }
    })
}

/// Applies the job's pending rows in one transaction, if this worker gets the lease (a
/// confirmed job only); then the job is done, with every row's outcome, or failed as a
/// whole with the reason on the row that failed.
pub async fn run(core: &Core, id: Uuid) -> Result<(), ImportError> {
    let now = core.now();
    if !jobs::claim(&core.db, id, now, now + LEASE).await? {
        return Ok(());
    }
    let job = jobs::get(&core.db, id)
        .await?
        .ok_or(ImportError::NotFound)?;
    let rows = jobs::pending(&core.db, id).await?;
    let mut ops = Vec::with_capacity(rows.len());
    let mut mails = 0_usize;
    let mut counts = Counts::default();
    for row in &rows {
        match op_of(core, &job, row, &mut mails, now).await? {
            Ok(op) => {
                match &op {
                    RowOp::Create { .. } => counts.create += 1,
                    RowOp::Change { .. } => counts.change += 1,
                    RowOp::Unchanged { .. } => counts.unchanged += 1,
                }
                ops.push(op);
            }
            Err(key) => return fail(core, &job, row.position, key).await,
        }
    }
    let mut entry = AuditRecord::new("import.finished");
    entry.actor_id = job.actor_id;
    entry.ip.clone_from(&job.ip);
    entry.detail = json!({
        "import_id": id, "rows": job.total, "created": counts.create,
        "changed": counts.change, "unchanged": counts.unchanged, "refused": 0,
    });
    match jobs::apply_plan(&core.db, id, &ops, &entry, now).await? {
        Applied::Done => {
            core.mail_wake.notify_one();
            Ok(())
        }
        Applied::NotRunning => Ok(()),
        Applied::Stale { position } => fail(core, &job, position, STALE).await,
        // O1, U3: taken since the file was checked (another admin, another import).
        Applied::Conflict {
            position,
            constraint,
        } => {
            let key = match constraint {
                Constraint::AdvisorNumber => "rule.advisor_number_in_use",
                Constraint::UserEmail => "rule.email_in_use",
                Constraint::OfficeEmail => "rule.office_email_in_use",
                _ => FAILED,
            };
            fail(core, &job, position, key).await
        }
    }
}

/// Ends the job as not applied, with `key` on the row at `position`.
async fn fail(core: &Core, job: &JobView, position: i64, key: &str) -> Result<(), ImportError> {
    tracing::warn!(import = %job.id, position, reason = key, "import not applied");
    let mut entry = AuditRecord::new("import.failed");
    entry.actor_id = job.actor_id;
    entry.ip.clone_from(&job.ip);
    entry.detail =
        json!({ "import_id": job.id, "rows": job.total, "position": position, "reason": key });
    jobs::fail(&core.db, job.id, position, key, &entry, core.now()).await?;
    Ok(())
}

/// What a stored row does, ready for the transaction; `Err` with the text key of why the
/// row (and so the job) cannot be applied. `mails` counts the activation mails so far, for
/// their batches.
async fn op_of(
    core: &Core,
    job: &JobView,
    row: &JobRow,
    mails: &mut usize,
    now: OffsetDateTime,
) -> Result<Result<RowOp, &'static str>, ImportError> {
    let office = match NewHeadOffice::parse(
        &row.advisor_number,
        &row.name,
        &row.email,
        &row.rights,
        row.allow_sub_offices,
        &core.registry,
    ) {
        Ok(o) => o,
        Err(e) => return Ok(Err(e.text_key())),
    };
    let planned = row.action.as_deref().unwrap_or(action::CREATE);
    let existing = row.office_id.zip(row.office_version);
    match (planned, existing) {
        (action::CREATE, _) => {
            let mut account = match head_office_account(core, &office, job.actor_id, now) {
                Ok(a) => a,
                Err(ProvisionError::Rule(r)) => return Ok(Err(r.text_key())),
                Err(e) => {
                    tracing::warn!(import = %job.id, line = row.line, error = %e, "import row not prepared");
                    return Ok(Err(FAILED));
                }
            };
            let due = mail_due(now, *mails);
            *mails += 1;
            // The link is valid for as long from when its mail goes out.
            if let Some(token) = account.token.as_mut() {
                token.expires_at = due + core.settings.activation_link_ttl;
            }
            account.audit.ip.clone_from(&job.ip);
            if let Some(detail) = account.audit.detail.as_object_mut() {
                detail.insert("import_id".into(), json!(job.id));
            }
            Ok(Ok(RowOp::Create {
                position: row.position,
                account: Box::new(account),
                mail_due: due,
            }))
        }
        (action::UNCHANGED, Some((office_id, expected_version))) => Ok(Ok(RowOp::Unchanged {
            position: row.position,
            office_id,
            expected_version,
        })),
        (action::CHANGE, Some((office_id, expected_version))) => {
            let Some(view) = offices::get(&core.db, Scope::Everyone, office_id, &core.registry)
                .await
                .map_err(ImportError::Store)?
                .filter(|v| v.version == expected_version)
            else {
                return Ok(Err(STALE));
            };
            let registry = &core.registry;
            let mut old = serde_json::Map::new();
            let mut new = serde_json::Map::new();
            if view.name != office.name {
                old.insert("name".into(), json!(view.name));
                new.insert("name".into(), json!(office.name));
            }
            if view.rights != office.rights {
                old.insert("rights".into(), json!(rights_json(&view.rights, registry)));
                new.insert(
                    "rights".into(),
                    json!(rights_json(&office.rights, registry)),
                );
            }
            if view.allow_sub_offices != office.allow_sub_offices {
                old.insert("allow_sub_offices".into(), json!(view.allow_sub_offices));
                new.insert("allow_sub_offices".into(), json!(office.allow_sub_offices));
            }
            // Four-eyes (checked in the plan; again here, for a setting changed since).
            if !approvals::office_kinds(
                core,
                view.allow_sub_offices,
                office.allow_sub_offices,
                &view.rights,
                &office.rights,
            )
            .is_empty()
            {
                return Ok(Err("import.needs_approval_row"));
            }
            // A changed right reaches its people's portal sessions as in a change by hand
            // (`crate::offices::update`, P1, O6, issue 10): a rights event for the portals
            // with an event stream, a back-channel logout for the others when one is taken.
            let mut mails = Vec::new();
            if view.rights != office.rights {
                match events::queue(&core.outbox, events::Subject::Office(office_id), now) {
                    Ok(m) => mails.push(m),
                    Err(e) => {
                        tracing::warn!(import = %job.id, line = row.line, error = %e, "rights event not prepared");
                        return Ok(Err(FAILED));
                    }
                }
            }
            if !view.rights.is_subset(&office.rights) {
                let targets = grants::logout_targets_of_office(&core.db, office_id).await?;
                let targets = events::without_streams(&core.db, targets).await?;
                match logout_deliveries(core, &targets, now) {
                    Ok(m) => mails.extend(m),
                    Err(e) => {
                        tracing::warn!(import = %job.id, line = row.line, error = %e, "logouts not prepared");
                        return Ok(Err(FAILED));
                    }
                }
            }
            let mut audit = AuditRecord::new("office.updated");
            audit.actor_id = job.actor_id;
            audit.target_office_id = Some(office_id);
            audit.ip.clone_from(&job.ip);
            audit.detail = json!({ "before": old, "after": new, "import_id": job.id });
            Ok(Ok(RowOp::Change {
                position: row.position,
                change: HeadChange {
                    office_id,
                    expected_version,
                    name: office.name.clone(),
                    rights: format_rights(&office.rights, registry),
                    allow_sub_offices: office.allow_sub_offices,
                },
                mails,
                audit: Box::new(audit),
            }))
        }
        _ => Ok(Err(FAILED)),
    }
}

/// A row's result as a person reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowResult {
    /// Not applied yet (or a preview).
    Pending,
    /// Created, with its main user and activation mail.
    Created,
    /// Its head office was changed.
    Changed,
    /// Its head office already matched.
    Unchanged,
    /// Not applied; the reason is in the row.
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
    /// What the plan does with it.
    pub action: Action,
    /// What happened.
    pub result: RowResult,
    /// Why not, in Dutch.
    pub reason: Option<String>,
    /// The office created, changed or left alone.
    pub office_id: Option<Uuid>,
    /// The existing office's e-mail address when the file holds another (not applied).
    pub email_notice: Option<String>,
}

/// A job and its rows.
#[derive(Debug, Clone)]
pub struct Status {
    /// The job and its counts.
    pub job: JobView,
    /// Every row, in the file's order.
    pub rows: Vec<ReportRow>,
}

impl Status {
    /// What the plan does, counted.
    pub fn planned(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.rows {
            match r.action {
                Action::Create => c.create += 1,
                Action::Change(_) => c.change += 1,
                Action::Unchanged => c.unchanged += 1,
            }
        }
        c
    }
}

/// A job for an insurer admin. A running job whose worker died is taken over here, so
/// polling any node moves it on.
pub async fn status(app: &AppState, caller: &Principal, id: Uuid) -> Result<Status, ImportError> {
    if !may_add_head_office(&actor_of(caller)) {
        return Err(ImportError::Forbidden);
    }
    let job = jobs::get(&app.db, id).await?.ok_or(ImportError::NotFound)?;
    if job.confirmed && job.state == "running" && job.lease_until.is_none_or(|t| t <= app.now()) {
        spawn(app.clone(), id);
    }
    let rows = jobs::rows(&app.db, id).await?;
    Ok(Status {
        rows: report_rows(app.templates.texts(), rows),
        job,
    })
}

/// The stored rows as the report shows them.
pub fn report_rows(texts: &Texts, rows: Vec<JobRow>) -> Vec<ReportRow> {
    rows.into_iter()
        .map(|r| {
            let (result, reason) = match r.outcome.as_deref() {
                None => (RowResult::Pending, None),
                Some(CREATED) => (RowResult::Created, None),
                Some(CHANGED) => (RowResult::Changed, None),
                Some(UNCHANGED) => (RowResult::Unchanged, None),
                Some(key) => (RowResult::Refused, Some(texts.text(key))),
            };
            let action = match r.action.as_deref() {
                Some(action::CHANGE) => Action::Change(
                    r.changes
                        .as_deref()
                        .and_then(|c| serde_json::from_str(c).ok())
                        .unwrap_or_default(),
                ),
                Some(action::UNCHANGED) => Action::Unchanged,
                _ => Action::Create,
            };
            ReportRow {
                line: r.line,
                advisor_number: r.advisor_number,
                name: r.name,
                email: r.email,
                action,
                result,
                reason,
                office_id: r.office_id,
                email_notice: r.email_notice,
            }
        })
        .collect()
}

/// A change in Dutch: `naam: Oud → Nieuw`.
pub fn describe_change(texts: &Texts, c: &FieldChange) -> String {
    format!(
        "{}: {} → {}",
        texts.text(&format!("import.field_{}", c.field)),
        c.before,
        c.after
    )
}

/// The e-mail notice in Dutch.
pub fn describe_email_notice(texts: &Texts, office_email: &str) -> String {
    texts
        .text("import.email_not_applied")
        .replace("{email}", office_email)
}

/// The report as CSV (RFC 4180, UTF-8): regel, adviseursnummer, naam, e-mailadres,
/// resultaat: aangemaakt, gewijzigd (with each field's old → new value), ongewijzigd, or
/// fout with the reason; a differing e-mail address that was not applied is noted. A
/// cell a spreadsheet would run as a formula is quoted with `'` (SECURITY IO-05).
pub fn report_csv(texts: &Texts, status: &Status) -> String {
    let mut out = csv::WriterBuilder::new().from_writer(Vec::new());
    let header = ["line", "advisor_number", "name", "email", "result"]
        .map(|k| texts.text(&format!("import.report_{k}")));
    let _ = out.write_record(&header);
    for r in &status.rows {
        let mut result = match (r.result, &r.reason) {
            (RowResult::Created, _) => texts.text("import.result_created"),
            (RowResult::Changed, _) => {
                let fields: Vec<String> = match &r.action {
                    Action::Change(c) => c.iter().map(|c| describe_change(texts, c)).collect(),
                    _ => Vec::new(),
                };
                format!(
                    "{}: {}",
                    texts.text("import.result_changed"),
                    fields.join("; ")
                )
            }
            (RowResult::Unchanged, _) => texts.text("import.result_unchanged"),
            (RowResult::Pending, _) => texts.text("import.result_pending"),
            (RowResult::Refused, reason) => format!(
                "{}: {}",
                texts.text("import.result_refused"),
                reason.as_deref().unwrap_or("")
            ),
        };
        if let Some(email) = &r.email_notice {
            result.push_str(" (");
            result.push_str(&describe_email_notice(texts, email));
            result.push(')');
        }
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
            RowProblem::NeedsApproval("right:ORV".into()),
        ] {
            assert!(texts.get(p.text_key()).is_some(), "{}", p.text_key());
        }
        for key in [
            FAILED,
            STALE,
            jobs::NOT_APPLIED,
            "import.result_changed",
            "import.result_unchanged",
            "import.field_name",
            "import.field_rights",
            "import.field_allow_sub_offices",
            "import.email_not_applied",
            "import.needs_approval_row",
            "import.result_created",
            "import.result_pending",
            "import.result_refused",
        ] {
            assert!(texts.get(key).is_some(), "{key}");
        }
    }
}
