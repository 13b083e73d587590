//! `portal office import FILE.csv`: head offices from a CSV export of the appointment
//! register, all or nothing. The file is read by the same parser and checks as the
//! console's upload (`idp::domain::import`, `idp::imports`): every bad row is reported
//! with its line number and Dutch reason, and then nothing of the file is stored.
//! Semicolon-separated files (as Dutch spreadsheet programs write them) are read as well
//! as comma-separated ones.

use std::process::ExitCode;

use anyhow::Context;
use idp::domain::NewHeadOffice;
use idp::provision::ProvisionError;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::ImportArgs;
use crate::commands;

pub async fn run(settings: idp::config::Settings, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let idp = commands::open(settings).await?;
    let texts = idp.state.templates.texts().clone();
    let rows = match idp::imports::check_file(&idp.state, &bytes).await? {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!(
                    "{}:{}: {}",
                    a.file.display(),
                    e.line,
                    idp::imports::explain(&texts, &e.problem)
                );
            }
            eprintln!("{} row(s) refused; nothing was imported", errors.len());
            return Ok(ExitCode::from(2));
        }
    };
    let offices: Vec<NewHeadOffice> = rows.iter().map(|r| r.office.clone()).collect();
    let bar = ProgressBar::new(offices.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("preparing");
    let progress = |n: usize| bar.set_position(n as u64);
    let result =
        idp::provision::import_head_offices(&idp.state, &offices, None, idp.state.now(), &progress)
            .await;
    bar.finish_and_clear();
    match result {
        Ok(n) => {
            println!("{n} head office(s) imported; activation e-mails queued");
            let sent = idp.mailer.deliver_due(idp.state.now()).await.unwrap_or(0);
            println!("{sent} e-mail(s) sent now; the portal sends the rest");
            Ok(ExitCode::SUCCESS)
        }
        // Taken between the check and the transaction (another admin, at that moment).
        Err(ProvisionError::Row { index, error }) => {
            let line = rows.get(index).map_or(0, |r| r.line);
            eprintln!(
                "{}:{line}: {}",
                a.file.display(),
                texts.text(error.text_key())
            );
            eprintln!("nothing was imported");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(anyhow::Error::from(e).context("nothing was imported")),
    }
}
