//! The administrative commands: each opens the identity provider, does one thing in one
//! transaction, and delivers the mail it queued.

use std::process::ExitCode;

use anyhow::Context;
use idp::config::Settings;
use idp::domain::NewHeadOffice;
use idp::oidc_clients::{ClientError, ClientRequest};
use idp::store::clients::Taken;
use idp::{Idp, keys};

use crate::cli::{AddClientArgs, AddHeadArgs, AddInsurerAdminArgs, ResetTwoFactorArgs};
use crate::settings;

/// Opens the identity provider for a command.
pub async fn open(settings: Settings) -> anyhow::Result<Idp> {
    let registry = settings::registry(&settings)?;
    Idp::open(settings, registry)
        .await
        .context("cannot open the portal's database")
}

/// Sends what the command queued, so that mail leaves even when no server runs. A mail
/// that cannot be sent now stays queued; a running or later server retries it.
async fn deliver(idp: &Idp) {
    match idp.mailer.deliver_due(idp.state.now()).await {
        Ok(n) if n > 0 => println!("{n} e-mail(s) sent"),
        Ok(_) => println!("the e-mail is queued and will be sent by the portal"),
        Err(e) => println!("the e-mail is queued; sending now failed: {e}"),
    }
}

fn text(idp: &Idp, key: &str) -> String {
    idp.state.templates.texts().text(key)
}

pub async fn migrate(settings: Settings) -> anyhow::Result<ExitCode> {
    let products_url = settings.products_database_url.clone();
    let idp = open(settings).await?;
    println!("database migrated ({})", idp.state.db.kind());
    let products = product_adapters::store::ProductDb::connect(&products_url)
        .await
        .context("cannot open the product portals' database")?;
    products
        .migrate()
        .await
        .context("cannot migrate the product portals' database")?;
    products.close().await;
    println!("product portals' database migrated");
    Ok(ExitCode::SUCCESS)
}

pub async fn add_head(settings: Settings, a: AddHeadArgs) -> anyhow::Result<ExitCode> {
    let idp = open(settings).await?;
    let office = match NewHeadOffice::parse(
        &a.number,
        &a.name,
        &a.email,
        &a.rights,
        a.allow_sub_offices,
        &idp.state.registry,
    ) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("refused: {}", text(&idp, e.text_key()));
            return Ok(ExitCode::from(2));
        }
    };
    match idp::provision::add_head_office(&idp.state, &office, None, idp.state.now()).await {
        Ok(id) => {
            println!(
                "head office {} ({}) created: {id}",
                office.name, office.advisor_number
            );
            println!(
                "activation e-mail for the main user queued to {}",
                office.email
            );
            deliver(&idp).await;
            Ok(ExitCode::SUCCESS)
        }
        Err(idp::provision::ProvisionError::Rule(e)) => {
            eprintln!("refused: {}", text(&idp, e.text_key()));
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn add_insurer_admin(
    settings: Settings,
    a: AddInsurerAdminArgs,
) -> anyhow::Result<ExitCode> {
    let idp = open(settings).await?;
    match idp::provision::add_insurer_admin(&idp.state, &a.name, &a.email, None, idp.state.now())
        .await
    {
        Ok(id) => {
            println!(
                "insurer admin {} created: {id}; activation e-mail queued",
                a.email.trim()
            );
            deliver(&idp).await;
            Ok(ExitCode::SUCCESS)
        }
        Err(idp::provision::ProvisionError::Rule(e)) => {
            eprintln!("refused: {}", text(&idp, e.text_key()));
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn reset_two_factor(
    settings: Settings,
    a: ResetTwoFactorArgs,
) -> anyhow::Result<ExitCode> {
    let idp = open(settings).await?;
    let core = &idp.state;
    let user = match idp::domain::Email::parse(&a.email) {
        Ok(email) => idp::store::accounts::user_by_email(&core.db, &email, &core.registry).await?,
        Err(_) => None,
    };
    let Some(user) = user else {
        eprintln!("refused: no user with e-mail address {}", a.email.trim());
        return Ok(ExitCode::from(2));
    };
    match idp::provision::reset_second_factors(core, None, user.id, None, core.now()).await? {
        idp::provision::FactorReset::Done => {
            println!(
                "two-factor authentication of {} reset; all sessions ended; notice e-mail queued",
                user.email.as_str()
            );
            deliver(&idp).await;
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprintln!("refused: {other:?}");
            Ok(ExitCode::from(2))
        }
    }
}

pub async fn add_client(settings: Settings, a: AddClientArgs) -> anyhow::Result<ExitCode> {
    let idp = open(settings).await?;
    let jwks = match &a.jwks_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => None,
    };
    // The same checks and secret as the console's registration (idp::clients).
    let request = ClientRequest {
        client_id: a.id.clone(),
        name: a.name.clone(),
        secret: a.secret.clone(),
        jwks,
        redirect_uris: a.redirect_uris,
        post_logout_redirect_uris: a.post_logout_redirect_uris,
        backchannel_logout_uri: a.backchannel_logout_uri,
        grant_types: a.grant_types,
        require_pkce: !a.insecure_no_pkce,
        id_token_alg: a.id_token_alg.clone(),
        access_token_alg: Some(a.access_token_alg.clone()),
        require_pushed_authorization_requests: a.require_par,
        dpop_bound_access_tokens: a.dpop,
    };
    let prepared = match idp::oidc_clients::prepare(&request) {
        Ok(p) => p,
        Err(ClientError::Refused(why)) => {
            eprintln!("refused: {why}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e.into()),
    };
    // The same rules as the client's other URIs: absolute, https (http only on loopback).
    if let Some(uri) = &a.events_uri
        && let Err(why) = idp::oidc_clients::check_client_uri(uri)
    {
        eprintln!("refused: --events-uri {uri}: {why}");
        return Ok(ExitCode::from(2));
    }
    let client = &prepared.client;
    // SPEC §4: a client may have its ID tokens (and its access tokens) signed ES256 or
    // EdDSA; a key of that kind is made and published the first time one is registered.
    for name in [&client.id_token_alg, &client.access_token_alg] {
        let alg = keys::ID_TOKEN_ALGS
            .into_iter()
            .find(|a| keys::alg_name(*a) == name.as_str())
            .context("the signing algorithm must be RS256, ES256 or EdDSA")?;
        if keys::ensure_alg(&idp.state.db, &idp.key_sealer()?, alg, idp.state.now()).await? {
            println!("a new {name} signing key is published");
        }
    }
    // The operator may replace a registration (a new secret, other URIs).
    idp::oidc_clients::store(
        &idp.state,
        None,
        &prepared,
        Taken::Replace,
        None,
        idp.state.now(),
    )
    .await?;
    println!("client {} registered", client.client_id);
    if let Some(uri) = &a.events_uri {
        idp.set_event_stream(&client.client_id, uri).await?;
        println!("rights events for {} go to {uri}", client.client_id);
    }
    if let Some(secret) = &prepared.generated_secret {
        // Printed once, to the operator's terminal only: the portal keeps just its hash.
        println!("client secret (shown once, store it in the client now): {secret}");
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rotate_keys(settings: Settings) -> anyhow::Result<ExitCode> {
    let idp = open(settings).await?;
    let kid = keys::rotate(&idp.state.db, &idp.key_sealer()?, idp.state.now()).await?;
    println!(
        "new signing key {kid} published; it signs from {} minutes from now, on every node",
        keys::ROTATION_LEAD.whole_minutes()
    );
    Ok(ExitCode::SUCCESS)
}
