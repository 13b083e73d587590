//! `portal office import FILE.csv [--dry-run]`: head offices from a CSV export of the
//! appointment register, all or nothing. The file is read, checked and planned by the same
//! code as the console's upload (`idp::domain::import`, `idp::imports`): every bad row is
//! reported with its line number and Dutch reason, and then nothing of the file is stored.
//! A good file is an upsert by advisor number (issue 10): each row creates its head office,
//! changes the one with its advisor number (name, rights, sub-offices), or leaves it
//! alone; a differing e-mail address is reported and never applied (see `idp::imports`).
//! `--dry-run` prints that plan and changes nothing; without it the plan is applied in
//! one transaction, each office's creation or change audited, and the activation mails
//! queued in batches of `idp::imports::MAILS_PER_MINUTE` a minute. Semicolon-separated
//! files (as Dutch spreadsheet programs write them) are read as well as comma-separated
//! ones.

use std::process::ExitCode;

use anyhow::Context;
use idp::imports::{Action, Plan, RowResult};
use indicatif::ProgressBar;

use crate::cli::ImportArgs;
use crate::commands;

/// How long the command waits for its own import, should a server's sweep have taken it
/// over first (it then applies the same transaction).
const WAIT: std::time::Duration = std::time::Duration::from_secs(120);

pub async fn run(settings: idp::config::Settings, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let idp = commands::open(settings).await?;
    let texts = idp.state.templates.texts().clone();
    let file = a.file.display().to_string();
    let plan = match idp::imports::plan_file(&idp.state, &bytes).await? {
        Ok(plan) => plan,
        Err(errors) => {
            for e in &errors {
                eprintln!(
                    "{file}:{}: {}",
                    e.line,
                    idp::imports::explain(&texts, &e.problem)
                );
            }
            eprintln!("{} row(s) refused; nothing was imported", errors.len());
            return Ok(ExitCode::from(2));
        }
    };
    print_plan(&file, &plan);
    let c = plan.counts();
    let counts = format!(
        "{} new, {} changed, {} unchanged",
        c.create, c.change, c.unchanged
    );
    if a.dry_run {
        println!("{counts}");
        println!("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    let now = idp.state.now();
    let id = idp::imports::store_plan(&idp.state, &plan, None, None, true, now).await?;
    let started = std::time::Instant::now();
    // One transaction: no progress to count, but a sign of life for a large file.
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!(
        "applying {} row(s) in one transaction",
        plan.rows.len()
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let job = loop {
        idp::imports::run(&idp.state, id).await?;
        let job = idp::store::imports::get(&idp.state.db, id)
            .await?
            .context("the import disappeared")?;
        if job.state == "done" {
            break job;
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "the import {id} is still being applied by a server; see its report in the console"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    spinner.finish_and_clear();
    let rows = idp::store::imports::rows(&idp.state.db, id).await?;
    let report = idp::imports::report_rows(&texts, rows);
    let failed: Vec<_> = report
        .iter()
        .filter(|r| r.result == RowResult::Refused)
        .collect();
    // All or nothing: one row that could not be applied (taken or changed a moment ago)
    // rolled the whole file back; the others say so.
    if job.created + job.changed + job.unchanged < job.total {
        let not_applied = texts.text(idp::store::imports::NOT_APPLIED);
        for r in failed
            .iter()
            .filter(|r| r.reason.as_deref() != Some(not_applied.as_str()))
        {
            eprintln!("{file}:{}: {}", r.line, r.reason.as_deref().unwrap_or(""));
        }
        eprintln!("nothing was imported");
        return Ok(ExitCode::from(2));
    }
    println!("{counts}");
    println!(
        "{} head office(s) created, {} changed; activation e-mails queued",
        job.created, job.changed
    );
    let sent = idp.mailer.deliver_due(idp.state.now()).await.unwrap_or(0);
    println!("{sent} e-mail(s) sent now; the portal sends the rest");
    Ok(ExitCode::SUCCESS)
}

/// One line per row: `FILE:LINE: NUMBER NAME: what happens`.
fn print_plan(file: &str, plan: &Plan) {
    for r in &plan.rows {
        let what = match &r.action {
            Action::Create => "new head office with main user and activation e-mail".to_owned(),
            Action::Change(changes) => {
                let fields: Vec<String> = changes
                    .iter()
                    .map(|c| format!("{} '{}' -> '{}'", c.field, c.before, c.after))
                    .collect();
                format!("change {}", fields.join(", "))
            }
            Action::Unchanged => "unchanged".to_owned(),
        };
        let mut line = format!(
            "{file}:{}: {} {}: {what}",
            r.line,
            r.office.advisor_number.as_str(),
            r.office.name
        );
        if let Some(email) = &r.email_notice {
            line.push_str(&format!(
                " (e-mail {} not applied: the office keeps {email})",
                r.office.email.as_str()
            ));
        }
        println!("{line}");
    }
}
