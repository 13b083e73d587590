//! `portal`: the Offerte Portaal in one binary. Parses the command line, loads the
//! settings and hands over to `serve` or one of the administrative commands.

mod cli;
mod commands;
mod import;
mod serve;
mod settings;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    let settings = settings::load(args.config.as_deref())?;
    match args
        .command
        .unwrap_or(cli::Command::Serve(cli::ServeArgs::default()))
    {
        cli::Command::Serve(a) => serve::run(settings, a).await,
        cli::Command::Migrate => commands::migrate(settings).await,
        cli::Command::Office(cli::OfficeCommand::AddHead(a)) => {
            commands::add_head(settings, a).await
        }
        cli::Command::Office(cli::OfficeCommand::Import(a)) => import::run(settings, a).await,
        cli::Command::User(cli::UserCommand::AddInsurerAdmin(a)) => {
            commands::add_insurer_admin(settings, a).await
        }
        cli::Command::User(cli::UserCommand::ResetTwoFactor(a)) => {
            commands::reset_two_factor(settings, a).await
        }
        cli::Command::Client(cli::ClientCommand::Add(a)) => commands::add_client(settings, a).await,
        cli::Command::Keys(cli::KeysCommand::Rotate) => commands::rotate_keys(settings).await,
    }
}
