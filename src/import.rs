//! `portal office import FILE.csv`: head offices from a CSV export of the appointment
//! register, all or nothing. Every bad row is reported with its line number and reason,
//! and then nothing of the file is stored. Semicolon-separated files (as Dutch
//! spreadsheet programs write them) are read as well as comma-separated ones.

use std::process::ExitCode;

use anyhow::Context;
use idp::domain::{NewHeadOffice, RuleError};
use idp::provision::ProvisionError;
use indicatif::{ProgressBar, ProgressStyle};
use product_registry::Registry;

use crate::cli::ImportArgs;
use crate::commands;

/// One refused row.
#[derive(Debug, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file.
    pub line: u64,
    /// Why, in words a person understands.
    pub reason: String,
}

const COLUMNS: [&str; 5] = [
    "advisor_number",
    "name",
    "email",
    "rights",
    "allow_sub_offices",
];

/// Parses the file into head offices with their line numbers, or every row's problem.
pub fn parse(
    text: &str,
    registry: &Registry,
    explain: &dyn Fn(&RuleError) -> String,
) -> Result<Vec<(u64, NewHeadOffice)>, Vec<RowError>> {
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.contains(';') && !first.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect(),
        Err(e) => {
            return Err(vec![RowError {
                line: 1,
                reason: e.to_string(),
            }]);
        }
    };
    let mut index = [0usize; 5];
    for (i, col) in COLUMNS.iter().enumerate() {
        match header.iter().position(|h| h == col) {
            Some(p) => index[i] = p,
            None if *col == "allow_sub_offices" => index[i] = usize::MAX,
            None => {
                return Err(vec![RowError {
                    line: 1,
                    reason: format!(
                        "column '{col}' is missing (expected: {})",
                        COLUMNS.join(", ")
                    ),
                }]);
            }
        }
    }
    let mut offices = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError {
                    line,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(index[i]).unwrap_or("");
        let allow = match field(4).to_ascii_lowercase().as_str() {
            "" | "0" | "nee" | "no" | "false" | "n" => Ok(false),
            "1" | "ja" | "yes" | "true" | "j" | "y" => Ok(true),
            other => Err(format!("allow_sub_offices '{other}' is not ja/nee")),
        };
        let rights = field(3).replace([';', ' ', '/', '|'], ",");
        let parsed = allow.and_then(|allow| {
            NewHeadOffice::parse(field(0), field(1), field(2), &rights, allow, registry)
                .map_err(|e| explain(&e))
        });
        match parsed {
            Ok(o) => offices.push((line, o)),
            Err(reason) => errors.push(RowError { line, reason }),
        }
    }
    if errors.is_empty() && offices.is_empty() {
        errors.push(RowError {
            line: 1,
            reason: "the file has no rows".into(),
        });
    }
    if errors.is_empty() {
        Ok(offices)
    } else {
        Err(errors)
    }
}

pub async fn run(settings: idp::config::Settings, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let idp = commands::open(settings).await?;
    let texts = idp.state.templates.texts().clone();
    let explain = |e: &RuleError| texts.text(e.text_key());
    let rows = match parse(&text, &idp.state.registry, &explain) {
        Ok(rows) => rows,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}:{}: {}", a.file.display(), e.line, e.reason);
            }
            eprintln!("{} row(s) refused; nothing was imported", errors.len());
            return Ok(ExitCode::from(2));
        }
    };
    let offices: Vec<NewHeadOffice> = rows.iter().map(|(_, o)| o.clone()).collect();
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
        Err(ProvisionError::Row { index, error }) => {
            let line = rows.get(index).map_or(0, |(l, _)| *l);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn explain(e: &RuleError) -> String {
        e.text_key().to_owned()
    }

    #[test]
    fn a_good_file_parses_with_line_numbers_either_delimiter() {
        let reg = Registry::builtin().unwrap();
        let csv = "advisor_number,name,email,rights,allow_sub_offices\n111,Een,een@x.nl,\"DIP,DIL\",ja\n222,Twee,twee@x.nl,ORV,\n";
        let rows = parse(csv, &reg, &explain).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert!(rows[0].1.allow_sub_offices);
        assert_eq!(rows[1].1.rights.len(), 1);
        let semi = "advisor_number;name;email;rights\n333;Drie;drie@x.nl;DIP DIL\n";
        assert_eq!(parse(semi, &reg, &explain).unwrap()[0].1.rights.len(), 2);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let reg = Registry::builtin().unwrap();
        let csv = "advisor_number,name,email,rights\n111,Een,een@x.nl,DIP\n222,Twee,not-an-email,DIP\n333,,drie@x.nl,DIP\n444,Vier,vier@x.nl,XYZ\n";
        let errors = parse(csv, &reg, &explain).unwrap_err();
        assert_eq!(
            errors,
            vec![
                RowError {
                    line: 3,
                    reason: "rule.invalid_email".into()
                },
                RowError {
                    line: 4,
                    reason: "rule.invalid_name".into()
                },
                RowError {
                    line: 5,
                    reason: "rule.unknown_right".into()
                },
            ]
        );
        assert_eq!(
            parse("name,email\n", &reg, &explain).unwrap_err()[0].line,
            1
        );
        assert!(parse("advisor_number,name,email,rights\n", &reg, &explain).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn cell() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9@.;, \"\\n\\r-]{0,12}",
                Just("DIP,DIL".to_owned()),
                Just("ja".to_owned()),
            ]
        }

        proptest! {
            // IO-06: whatever a spreadsheet exports, the import answers rows or errors.
            #[test]
            fn parsing_never_panics(
                text in any::<String>(),
                rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..7), 0..6),
                semicolon in any::<bool>(),
            ) {
                let reg = Registry::builtin().unwrap();
                let _ = parse(&text, &reg, &explain);
                let sep = if semicolon { ";" } else { "," };
                let mut file = COLUMNS.join(sep);
                for r in rows {
                    file.push('\n');
                    file.push_str(&r.join(sep));
                }
                let _ = parse(&file, &reg, &explain);
            }
        }
    }
}
