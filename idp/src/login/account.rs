//! Profiel → Beveiliging at the identity provider: the signed-in user's name and e-mail,
//! and the second factors: "Nu activeren" for the authenticator app, new recovery codes,
//! and passkeys (named, removable; added with `login::passkey`).
//!
//! Every change needs a sign-in within the last five minutes (SECURITY MF-06); an older
//! session is sent to sign in again first. Each change is audited and mailed to the owner.
//! The last second factor cannot be removed once 2FA is mandatory.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::client::ClientIp;
use super::second_factor::entry_for;
use super::step::{self, Begin};
use super::{enrol, notice, session};
use crate::domain::{recovery, totp};
use crate::error::PageError;
use crate::extract::{PagePath, PageQuery};
use crate::oidc::claims;
use crate::oidc::end_session::logout_deliveries;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::factors::{self, Completion, EndSessions, Proof};
use crate::store::steps::StepKind;
use crate::store::{grants, sessions};

/// How recent a sign-in must be to change a factor (MF-06).
pub const STEP_UP: Duration = Duration::minutes(5);

/// `?melding=` on the page: what just happened.
#[derive(Deserialize)]
pub struct AccountQuery {
    melding: Option<String>,
}

#[derive(Serialize)]
struct PasskeyRow {
    name: String,
    added: String,
    last_used: Option<String>,
    remove_action: String,
}

/// One row of Sessies (SE-06).
#[derive(Serialize)]
struct SessionRow {
    /// Text key of how it signed in.
    method: &'static str,
    since: String,
    last_seen: String,
    /// The browser showing the page.
    this: bool,
    end_action: String,
}

#[derive(Serialize)]
struct Ctx {
    name: String,
    email: String,
    totp: bool,
    mandatory_from: String,
    recovery_left: i64,
    passkeys: Vec<PasskeyRow>,
    passkeys_on: bool,
    sessions: Vec<SessionRow>,
    totp_action: String,
    recovery_action: String,
    passkey_start: String,
    passkey_finish: String,
    name_action: String,
    password_action: String,
    notice_key: Option<&'static str>,
    error_key: Option<&'static str>,
    home: &'static str,
}

fn day(t: OffsetDateTime) -> String {
    t.format(format_description!("[day]-[month]-[year]"))
        .unwrap_or_default()
}

/// A moment as the Dutch read it, in UTC as every time the portal shows.
fn moment(t: OffsetDateTime) -> String {
    t.format(format_description!("[day]-[month]-[year] [hour]:[minute]"))
        .unwrap_or_default()
}

/// How a session signed in, as a text key, from its `amr` (RFC 8176).
fn method_key(amr: &str) -> &'static str {
    let has = |v: &str| amr.split(',').any(|a| a == v);
    match (has("pwd"), has("hwk") || has("swk"), has("otp")) {
        (false, true, _) => "account.session_passkey",
        (true, true, _) => "account.session_password_passkey",
        (true, false, true) => "account.session_password_app",
        _ => "account.session_password",
    }
}

/// The signed-in user, or where to send a browser that is not.
pub(crate) async fn signed_in(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
) -> Result<Result<(session::Current, Principal), Response>, PageError> {
    let to_login = || {
        let back = app.idp_path("/account");
        let url = format!(
            "{}?return_to={}",
            app.idp_path("/login"),
            form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        Redirect::to(&url).into_response()
    };
    let Some(current) = session::current(app, jar, now).await? else {
        return Ok(Err(to_login()));
    };
    let Some(principal) = accounts::principal(&app.db, current.user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in)
    else {
        return Ok(Err(to_login()));
    };
    Ok(Ok((current, principal)))
}

/// The signed-in user if the sign-in is recent enough for a change (MF-06); otherwise a
/// redirect to sign in again and come back.
pub(crate) async fn stepped_up(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
) -> Result<Result<(session::Current, Principal), Response>, PageError> {
    let (current, principal) = match signed_in(app, jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(Err(res)),
    };
    if now - current.auth_time > STEP_UP {
        let back = app.idp_path("/account");
        let url = format!(
            "{}?melding=reauth&return_to={}",
            app.idp_path("/login"),
            form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
        );
        return Ok(Err(Redirect::to(&url).into_response()));
    }
    Ok(Ok((current, principal)))
}

pub(crate) fn back_with(app: &AppState, melding: &str) -> Response {
    Redirect::to(&format!("{}?melding={melding}", app.idp_path("/account"))).into_response()
}

/// `GET /account`.
pub async fn page(
    State(app): State<AppState>,
    jar: CookieJar,
    PageQuery(q): PageQuery<AccountQuery>,
) -> Result<Response, PageError> {
    let now = app.now();
    let (current, principal) = match signed_in(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let (notice_key, error_key) = match q.melding.as_deref() {
        Some("removed") => (Some("account.removed"), None),
        Some("last_factor") => (None, Some("account.last_factor")),
        Some("passkey_failed") => (None, Some("passkey.add_failed")),
        Some("naam") => (Some("account.name_saved"), None),
        Some("wachtwoord") => (Some("account.password_saved"), None),
        Some("afgemeld") => (Some("account.session_ended"), None),
        _ => (None, None),
    };
    render(
        &app,
        &current.id_hash,
        &principal,
        StatusCode::OK,
        notice_key,
        error_key,
    )
    .await
}

/// The Profiel page of `principal` with a notice or an error (`error_key` may name a
/// problem of the name or password form, shown at the top of the page).
pub(crate) async fn render(
    app: &AppState,
    this_session: &[u8],
    principal: &Principal,
    status: StatusCode,
    notice_key: Option<&'static str>,
    error_key: Option<&'static str>,
) -> Result<Response, PageError> {
    let user = &principal.user;
    let summary = factors::summary(&app.db, user.id).await?;
    let passkeys = summary
        .passkeys
        .iter()
        .map(|p| PasskeyRow {
            name: p.name.clone(),
            added: day(p.created_at),
            last_used: p.last_used_at.map(day),
            remove_action: app.idp_path(&format!("/account/passkeys/{}/verwijderen", p.id)),
        })
        .collect();
    let now = app.now();
    let sessions = sessions::live_of_user(&app.db, user.id, now)
        .await?
        .into_iter()
        .filter(|s| s.last_seen_at + app.settings.session_idle > now)
        .map(|s| SessionRow {
            method: method_key(&s.amr),
            since: moment(s.created_at),
            last_seen: moment(s.last_seen_at),
            this: s.id_hash == this_session,
            end_action: app.idp_path(&format!("/account/sessies/{}/afmelden", hex(&s.id_hash))),
        })
        .collect();
    // Issue 10: the date of the user's office tree (its head office's, else the setting).
    let mandatory = crate::mfa_policy::policy_of_user(app, user.id)
        .await?
        .required_from;
    let mut res = app.templates.page(
        status,
        "idp/account.html",
        Ctx {
            name: user.name.clone(),
            email: user.email.as_str().to_owned(),
            totp: summary.totp,
            mandatory_from: format!(
                "{:02}-{:02}-{}",
                mandatory.day(),
                u8::from(mandatory.month()),
                mandatory.year()
            ),
            recovery_left: summary.recovery_left,
            passkeys,
            passkeys_on: app.webauthn.is_some(),
            sessions,
            totp_action: app.idp_path("/account/totp"),
            recovery_action: app.idp_path("/account/herstelcodes"),
            passkey_start: app.idp_path("/passkey/register/start"),
            passkey_finish: app.idp_path("/passkey/register/finish"),
            name_action: app.idp_path("/account/naam"),
            password_action: app.idp_path("/account/wachtwoord"),
            notice_key,
            error_key,
            home: "/",
        },
    );
    res.headers_mut().extend([web_kit::headers::no_store()]);
    Ok(res)
}

/// `POST /account/totp`: "Nu activeren" (or replace the app): a fresh seed in a set-up
/// step of this session, then the QR page.
pub async fn start_totp(
    State(app): State<AppState>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let now = app.now();
    let (_, principal) = match stepped_up(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let seed = totp::Seed::generate().map_err(PageError::internal)?;
    let jar = step::begin(
        &app,
        jar,
        Begin {
            kind: StepKind::TotpSetup,
            user_id: Some(principal.user.id),
            amr: String::new(),
            return_to: app.idp_path("/account"),
            secret: Some(seed.secret().to_vec()),
            ceremony: None,
        },
        now,
    )
    .await
    .map_err(PageError::failed)?;
    Ok((jar, enrol::to_setup(&app)).into_response())
}

/// `POST /account/herstelcodes`: a new set of recovery codes; the old set stops working.
pub async fn new_recovery_codes(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let now = app.now();
    let (_, principal) = match stepped_up(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let user = &principal.user;
    if !factors::summary(&app.db, user.id).await?.any() {
        // Codes stand in for a factor; without one there is nothing to recover.
        return Ok(back_with(&app, "none"));
    }
    let codes = recovery::generate_set().map_err(PageError::internal)?;
    let hashes: Vec<Vec<u8>> = codes.iter().map(recovery::RecoveryCode::hash).collect();
    let entry = entry_for(&principal, ip, "mfa.recovery_codes_renewed");
    let mail = notice::mail(
        &app,
        &user.name,
        &user.email,
        notice::Change::RecoveryCodesRenewed,
        now,
    )
    .map_err(PageError::internal)?;
    let c = Completion {
        user_id: user.id,
        step: None,
        proof: Proof::NewRecoveryCodes { recovery: &hashes },
        session: None,
        end_sessions: EndSessions::None,
        audit: std::slice::from_ref(&entry),
        mails: std::slice::from_ref(&mail),
    };
    if factors::complete(&app.db, &c, now).await?.is_err() {
        return Err(PageError::internal("recovery codes not replaced"));
    }
    app.mail_wake.notify_one();
    Ok(enrol::show_codes(&app, &codes, &app.idp_path("/account")))
}

/// `POST /account/passkeys/{id}/verwijderen`.
pub async fn remove_passkey(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let now = app.now();
    let (current, principal) = match stepped_up(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let user = &principal.user;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found"));
    };
    let summary = factors::summary(&app.db, user.id).await?;
    let Some(passkey) = summary.passkeys.iter().find(|p| p.id == id) else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found"));
    };
    let mut entry = entry_for(&principal, ip, "mfa.passkey_removed");
    entry.detail = serde_json::json!({ "passkey": passkey.id, "name": passkey.name });
    let mail = notice::mail(
        &app,
        &user.name,
        &user.email,
        notice::Change::PasskeyRemoved,
        now,
    )
    .map_err(PageError::internal)?;
    // MF-06: never the last factor (checked in the transaction).
    let removal = factors::remove_passkey(
        &app.db,
        user.id,
        id,
        &current.id_hash,
        true,
        &entry,
        std::slice::from_ref(&mail),
        now,
    )
    .await?;
    match removal {
        factors::Removal::Removed => {
            app.mail_wake.notify_one();
            Ok(back_with(&app, "removed"))
        }
        factors::Removal::LastFactor => Ok(back_with(&app, "last_factor")),
        factors::Removal::NotFound => Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /account/sessies/{id}/afmelden` (SECURITY SE-06): ends one of the user's own
/// sessions, after a recent sign-in like every change here. Its relying parties are told
/// (back-channel logout), and it is audited. The session is named by its id's hash; one
/// that is not the user's, or no longer live, is not found. The browser's own session is
/// ended by signing out.
pub async fn end_session(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PagePath(id): PagePath<String>,
) -> Result<Response, PageError> {
    let now = app.now();
    let (current, principal) = match stepped_up(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let not_found = || PageError::new(StatusCode::NOT_FOUND, "error.not_found");
    let id_hash = unhex(&id).ok_or_else(not_found)?;
    if id_hash == current.id_hash {
        return Err(not_found());
    }
    let targets = grants::logout_targets(&app.db, &id_hash).await?;
    let deliveries = logout_deliveries(&app, &targets, now).map_err(PageError::failed)?;
    let mut entry = entry_for(&principal, ip, "session.ended");
    entry.detail = serde_json::json!({ "by": "owner", "clients": targets.len() });
    if !sessions::end_own(
        &app.db,
        &id_hash,
        principal.user.id,
        &deliveries,
        &entry,
        now,
    )
    .await?
    {
        return Err(not_found());
    }
    app.mail_wake.notify_one();
    Ok(back_with(&app, "afgemeld"))
}

/// A session id hash from the page: 64 hex digits, else nothing.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
