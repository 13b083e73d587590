//! Passkeys (SPEC F4, SECURITY MF-08, MF-09): registration under Beveiliging or during a
//! forced enrolment, as the second step of a sign-in, and passwordless sign-in
//! ("Inloggen met passkey").
//!
//! The WebAuthn ceremonies are `webauthn-rs`; the relying-party id is the issuer's host
//! and the only origin the issuer's, so an assertion made for any other site (a product
//! portal's included) fails. User verification is required in every ceremony, so a
//! passkey alone is two factors (something held, something known or been).
//!
//! Each ceremony has two halves. `…/start` is fetched by `passkey.js` and answers the
//! options as JSON; the challenge state is kept sealed on a pending step of this browser
//! (never in a cookie), taken off it by the answer, so a challenge answers once and dies
//! with the step after five minutes. `…/finish` is an ordinary form post carrying the
//! browser's answer, so the result is an ordinary page or redirect and the form's CSRF
//! check is the one every form has.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::account::STEP_UP;
use super::client::ClientIp;
use super::second_factor::{self, entry_for, start_over};
use super::step::{self, Begin};
use super::{enrol, limits, notice, session};
use crate::domain::factor::{self, SecondFactor};
use crate::domain::recovery;
use crate::domain::throttle::{Counter, Decision};
use crate::error::PageError;
use crate::extract::PageForm;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit::{self, AuditRecord};
use crate::store::factors::{self, Completion, EndSessions, NewPasskey, Proof, StoredPasskey};
use crate::store::steps::{self, Step, StepKind};
use web_kit::paths::safe_return_to;

/// The relying party for `issuer`, or `None` when its host is no domain name (an IP
/// address cannot be a WebAuthn RP id).
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Offerte Portaal")
        .timeout(std::time::Duration::from_secs(240))
        .build()
        .ok()
}

/// The answer of a `…/start` that cannot begin a ceremony.
fn refused(status: StatusCode) -> Response {
    (status, Json(serde_json::json!({ "error": "refused" }))).into_response()
}

fn webauthn(app: &AppState) -> Result<&Webauthn, Box<Response>> {
    app.webauthn
        .as_deref()
        .ok_or_else(|| Box::new(refused(StatusCode::NOT_FOUND)))
}

/// The browser's answer, as `passkey.js` posts it.
#[derive(Deserialize)]
pub struct AnswerForm {
    /// The credential as JSON (base64url fields).
    credential: String,
    /// The name for a new passkey (registration only).
    name: Option<String>,
}

/// `return_to` from the sign-in page.
#[derive(Deserialize)]
pub struct LoginStartForm {
    return_to: Option<String>,
}

fn json_state<T: serde::Serialize>(state: &T) -> Result<Vec<u8>, PageError> {
    serde_json::to_vec(state).map_err(PageError::internal)
}

fn sealed_passkey(app: &AppState, id: Uuid, passkey: &Passkey) -> Result<Vec<u8>, PageError> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(passkey).map_err(PageError::internal)?);
    app.passkey_sealer
        .seal(id.as_bytes(), &plain)
        .map_err(PageError::internal)
}

fn open_passkey(app: &AppState, stored: &StoredPasskey) -> Result<Passkey, PageError> {
    let plain = app
        .passkey_sealer
        .open(stored.id.as_bytes(), &stored.credential)
        .map_err(PageError::internal)?;
    serde_json::from_slice(&plain).map_err(PageError::internal)
}

/// Whether the credential may be synced off its device (`swk`) rather than bound to it
/// (`hwk`): the backup-eligible flag the authenticator set at registration.
fn backup_eligible(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v.pointer("/cred/backup_eligible").and_then(|b| b.as_bool()))
        .unwrap_or(true)
}

/// Takes the ceremony state off the browser's step of one of `kinds`.
async fn take<T: serde::de::DeserializeOwned>(
    app: &AppState,
    jar: &CookieJar,
    kinds: &[StepKind],
    now: OffsetDateTime,
) -> Result<Option<(Step, T)>, PageError> {
    let Some(step) = step::current(app, jar, kinds, now).await? else {
        return Ok(None);
    };
    let Some(sealed) = steps::take_ceremony(&app.db, &step.id_hash, now).await? else {
        return Ok(None);
    };
    let plain = step::open(app, &step, &sealed).map_err(PageError::internal)?;
    let state = serde_json::from_slice(&plain).map_err(PageError::internal)?;
    Ok(Some((step, state)))
}

// ----- Registration -----

/// Who is registering: a signed-in user (Beveiliging, after a recent sign-in), or a user
/// in a forced enrolment step.
enum Registrant {
    Session(session::Current, Box<Principal>),
    Enrolling(Step, Box<Principal>),
}

async fn registrant(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
    kinds: &[StepKind],
) -> Result<Option<Registrant>, PageError> {
    if let Some(step) = step::current(app, jar, &[StepKind::Enrol], now).await?
        && kinds.contains(&StepKind::Enrol)
        && let Some(user_id) = step.user_id
        && let Some(p) = active(app, user_id).await?
    {
        return Ok(Some(Registrant::Enrolling(step, Box::new(p))));
    }
    let Some(current) = session::current(app, jar, now).await? else {
        return Ok(None);
    };
    // MF-06, MF-09: a full, recent sign-in.
    if now - current.auth_time > STEP_UP {
        return Ok(None);
    }
    let Some(p) = active(app, current.user_id).await? else {
        return Ok(None);
    };
    // MF-09: a user who has a factor registers another only from a two-factor session.
    if !factor::is_multi_factor(&current.amr) && factors::summary(&app.db, p.user.id).await?.any() {
        return Ok(None);
    }
    Ok(Some(Registrant::Session(current, Box::new(p))))
}

async fn active(app: &AppState, user_id: Uuid) -> Result<Option<Principal>, PageError> {
    Ok(accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in))
}

/// `POST /passkey/register/start`: creation options for a new passkey; every passkey the
/// user has is excluded, so one authenticator is not registered twice (MF-09).
pub async fn register_start(
    State(app): State<AppState>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let now = app.now();
    let wa = match webauthn(&app) {
        Ok(wa) => wa,
        Err(res) => return Ok(*res),
    };
    let kinds = [StepKind::Enrol, StepKind::PasskeyRegister];
    let Some(who) = registrant(&app, &jar, now, &kinds).await? else {
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let principal = match &who {
        Registrant::Session(_, p) | Registrant::Enrolling(_, p) => p,
    };
    let user = &principal.user;
    let existing = factors::passkeys(&app.db, user.id).await?;
    let exclude = existing
        .iter()
        .map(|p| p.credential_id.clone())
        .collect::<Vec<_>>();
    let (options, state) = wa
        .start_passkey_registration(user.id, user.email.as_str(), &user.name, Some(exclude))
        .map_err(PageError::internal)?;
    let state = json_state(&state)?;
    let jar = match &who {
        Registrant::Enrolling(step, _) => {
            let sealed = step::seal(&app, step, &state).map_err(PageError::internal)?;
            steps::set_ceremony(&app.db, &step.id_hash, &sealed, now).await?;
            jar
        }
        Registrant::Session(..) => step::begin(
            &app,
            jar,
            Begin {
                kind: StepKind::PasskeyRegister,
                user_id: Some(user.id),
                amr: String::new(),
                return_to: app.idp_path("/account"),
                secret: None,
                ceremony: Some(state),
            },
            now,
        )
        .await
        .map_err(PageError::failed)?,
    };
    // A passkey signs in without a user name only if the authenticator keeps it
    // (a discoverable credential); webauthn-rs leaves that to the authenticator.
    let mut options = serde_json::to_value(&options).map_err(PageError::internal)?;
    if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection")
        && let Some(sel) = sel.as_object_mut()
    {
        sel.insert("residentKey".into(), "required".into());
        sel.insert("requireResidentKey".into(), true.into());
    }
    Ok((jar, no_store_json(options)).into_response())
}

fn no_store_json(v: serde_json::Value) -> Response {
    let mut res = Json(v).into_response();
    res.headers_mut().extend([web_kit::headers::no_store()]);
    res
}

/// `POST /passkey/register/finish`: verifies the new credential and stores it. In a
/// forced enrolment it is the user's first factor: the sign-in completes, and the ten
/// recovery codes are shown.
pub async fn register_finish(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some(wa) = app.webauthn.clone() else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found"));
    };
    let kinds = [StepKind::Enrol, StepKind::PasskeyRegister];
    let Some(who) = registrant(&app, &jar, now, &kinds).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let Some((step, state)) = take::<PasskeyRegistration>(&app, &jar, &kinds, now).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let (principal, session_hash) = match &who {
        Registrant::Enrolling(_, p) => (p, None),
        Registrant::Session(s, p) => (p, Some(s.id_hash.clone())),
    };
    if step.user_id != Some(principal.user.id) {
        return Ok(start_over(&app, jar, "expired"));
    }
    let user = &principal.user;
    let back = |jar: CookieJar| -> Response {
        if session_hash.is_some() {
            (
                step::forget(&app, jar),
                Redirect::to(&format!(
                    "{}?melding=passkey_failed",
                    app.idp_path("/account")
                )),
            )
                .into_response()
        } else {
            (jar, enrol::to_setup(&app)).into_response()
        }
    };
    let credential: Option<RegisterPublicKeyCredential> =
        serde_json::from_str(&form.credential).ok();
    let passkey = credential.and_then(|c| wa.finish_passkey_registration(&c, &state).ok());
    let Some(passkey) = passkey else {
        let mut entry = entry_for(principal, ip, "mfa.passkey_failed");
        entry.detail = serde_json::json!({ "ceremony": "register" });
        audit::record(&app.db, &entry, now).await?;
        return Ok(back(jar));
    };
    let id = Uuid::now_v7();
    let name = passkey_name(form.name.as_deref());
    let new = NewPasskey {
        id,
        credential_id: passkey.cred_id().to_vec(),
        name: name.clone(),
        credential: sealed_passkey(&app, id, &passkey)?,
        backup_eligible: backup_eligible(&passkey),
    };
    let had_factor = factors::summary(&app.db, user.id).await?.any();
    let codes = if had_factor {
        Vec::new()
    } else {
        recovery::generate_set().map_err(PageError::internal)?
    };
    let hashes: Vec<Vec<u8>> = codes.iter().map(recovery::RecoveryCode::hash).collect();
    let enrolling = matches!(who, Registrant::Enrolling(..));
    let prepared = if enrolling {
        let amr = factor::amr_with_password(Some(SecondFactor::Passkey {
            synced: new.backup_eligible,
        }));
        Some(session::prepare(&app, user.id, &amr, now).map_err(PageError::internal)?)
    } else {
        None
    };
    let mut entry = entry_for(principal, ip, "mfa.passkey_added");
    entry.detail = serde_json::json!({ "passkey": id, "name": name, "during_sign_in": enrolling });
    let mail = notice::mail(
        &app,
        &user.name,
        &user.email,
        notice::Change::PasskeyAdded,
        now,
    )
    .map_err(PageError::internal)?;
    let c = Completion {
        user_id: user.id,
        step: Some(&step.id_hash),
        proof: Proof::RegisterPasskey {
            first_only: enrolling,
            passkey: &new,
            recovery: &hashes,
        },
        session: prepared.as_ref().map(|(_, s)| s),
        end_sessions: match &session_hash {
            Some(keep) => EndSessions::AllBut(keep),
            None => EndSessions::None,
        },
        audit: std::slice::from_ref(&entry),
        mails: std::slice::from_ref(&mail),
    };
    match factors::complete(&app.db, &c, now).await? {
        Ok(()) => {}
        Err(factors::Refused::DuplicatePasskey) => return Ok(back(jar)),
        Err(_) => return Ok(start_over(&app, jar, "expired")),
    }
    app.mail_wake.notify_one();
    let next = if enrolling {
        step.return_to.clone()
    } else {
        app.idp_path("/account")
    };
    let mut jar = step::forget(&app, jar);
    if let Some((id, _)) = prepared {
        jar = session::with_cookie(&app, jar, id);
    }
    if codes.is_empty() {
        return Ok((jar, Redirect::to(&next)).into_response());
    }
    let mut res = enrol::show_codes(&app, &codes, &next);
    if enrolling {
        super::signin::allow_form_action_to_client(&app, &mut res, &next).await?;
    }
    Ok((jar, res).into_response())
}

/// A passkey's name: trimmed, at most 60 characters, "Passkey" when empty.
fn passkey_name(raw: Option<&str>) -> String {
    let name: String = raw
        .unwrap_or("")
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    if name.is_empty() {
        "Passkey".into()
    } else {
        name
    }
}

// ----- Second factor -----

/// `POST /passkey/2fa/start`: request options for the passkeys of the user whose password
/// was just accepted.
pub async fn second_start(
    State(app): State<AppState>,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let now = app.now();
    let wa = match webauthn(&app) {
        Ok(wa) => wa,
        Err(res) => return Ok(*res),
    };
    let Some((step, principal)) = second_factor::pending(&app, &jar, now).await? else {
        return Ok(refused(StatusCode::FORBIDDEN));
    };
    let mut keys = Vec::new();
    for stored in factors::passkeys(&app.db, principal.user.id).await? {
        keys.push(open_passkey(&app, &stored)?);
    }
    if keys.is_empty() {
        return Ok(refused(StatusCode::FORBIDDEN));
    }
    let (options, state) = wa
        .start_passkey_authentication(&keys)
        .map_err(PageError::internal)?;
    let sealed = step::seal(&app, &step, &json_state(&state)?).map_err(PageError::internal)?;
    steps::set_ceremony(&app.db, &step.id_hash, &sealed, now).await?;
    let options = serde_json::to_value(&options).map_err(PageError::internal)?;
    Ok(no_store_json(options))
}

/// `POST /passkey/2fa/finish`: the assertion as the second factor.
pub async fn second_finish(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some(wa) = app.webauthn.clone() else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found"));
    };
    let Some((step, principal)) = second_factor::pending(&app, &jar, now).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let attempt = match second_factor::admit(&app, ip, &jar, &step, &principal, now).await? {
        Ok(n) => n,
        Err(res) => return Ok(res),
    };
    let Some((_, state)) =
        take::<PasskeyAuthentication>(&app, &jar, &[StepKind::SecondFactor], now).await?
    else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let verified = match serde_json::from_str::<PublicKeyCredential>(&form.credential) {
        Ok(answer) => wa.finish_passkey_authentication(&answer, &state).ok(),
        Err(_) => None,
    };
    let found = match &verified {
        Some(result) => {
            let stored = factors::passkey_by_credential(&app.db, result.cred_id()).await?;
            stored.filter(|s| s.user_id == principal.user.id)
        }
        None => None,
    };
    let (Some(result), Some(stored)) = (verified, found) else {
        let w = second_factor::Wrong {
            method: "passkey",
            error_key: "passkey.failed",
            attempt,
        };
        return second_factor::wrong(&app, ip, jar, &step, &principal, w, now).await;
    };
    let mut passkey = open_passkey(&app, &stored)?;
    passkey.update_credential(&result);
    let sealed = sealed_passkey(&app, stored.id, &passkey)?;
    let proof = Proof::Passkey {
        id: stored.id,
        credential: &sealed,
    };
    let second = SecondFactor::Passkey {
        synced: stored.backup_eligible,
    };
    match second_factor::finish(&app, ip, jar, &step, &principal, proof, second, now).await? {
        Ok(res) => Ok(res),
        Err((jar, _)) => Ok(start_over(&app, jar, "expired")),
    }
}

// ----- Passwordless sign-in -----

/// `POST /passkey/login/start`: a discoverable challenge; the browser lets the person pick
/// one of this site's passkeys, so no user name is asked and none is revealed.
pub async fn login_start(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<LoginStartForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let wa = match webauthn(&app) {
        Ok(wa) => wa,
        Err(res) => return Ok(*res),
    };
    if ip_blocked(&app, ip, now).await? {
        return Ok(refused(StatusCode::TOO_MANY_REQUESTS));
    }
    let (options, state) = wa
        .start_discoverable_authentication()
        .map_err(PageError::internal)?;
    let return_to = safe_return_to(form.return_to.as_deref(), "/").to_owned();
    let jar = step::begin(
        &app,
        jar,
        Begin {
            kind: StepKind::PasskeyLogin,
            user_id: None,
            amr: String::new(),
            return_to,
            secret: None,
            ceremony: Some(json_state(&state)?),
        },
        now,
    )
    .await
    .map_err(PageError::failed)?;
    let mut options = serde_json::to_value(&options).map_err(PageError::internal)?;
    // webauthn-rs asks for conditional mediation (autofill); this is a button.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    Ok((jar, no_store_json(options)).into_response())
}

async fn ip_blocked(app: &AppState, ip: ClientIp, now: OffsetDateTime) -> Result<bool, PageError> {
    let Some(ip) = ip.text() else {
        return Ok(false);
    };
    Ok(matches!(
        limits::check(app, &[(Counter::LoginIp, ip.as_str())], now).await?,
        Decision::Blocked { .. }
    ))
}

/// `POST /passkey/login/finish`: the assertion names its user; the passkey must be that
/// user's, the user active, the signature and user verification good. Then a session, as
/// after a password and a second factor.
pub async fn login_finish(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<AnswerForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some(wa) = app.webauthn.clone() else {
        return Err(PageError::new(StatusCode::NOT_FOUND, "error.not_found"));
    };
    if ip_blocked(&app, ip, now).await? {
        return Ok(start_over(&app, jar, "expired"));
    }
    let Some((step, state)) =
        take::<DiscoverableAuthentication>(&app, &jar, &[StepKind::PasskeyLogin], now).await?
    else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let answer = serde_json::from_str::<PublicKeyCredential>(&form.credential).ok();
    let identified = answer
        .as_ref()
        .and_then(|a| wa.identify_discoverable_authentication(a).ok())
        .map(|(user, cred)| (user, cred.to_vec()));
    let stored = match &identified {
        Some((user_id, cred)) => factors::passkey_by_credential(&app.db, cred)
            .await?
            .filter(|s| s.user_id == *user_id),
        None => None,
    };
    let principal = match &stored {
        Some(s) => active(&app, s.user_id).await?,
        None => None,
    };
    let (Some(answer), Some(stored), Some(principal)) = (answer, stored, principal) else {
        return login_failed(&app, ip, jar, &step, identified.map(|(u, _)| u), now).await;
    };
    let mut passkey = open_passkey(&app, &stored)?;
    let Ok(result) = wa.finish_discoverable_authentication_v2(&answer, state, &passkey) else {
        return login_failed(&app, ip, jar, &step, Some(principal.user.id), now).await;
    };
    passkey.update_credential(&result);
    let sealed = sealed_passkey(&app, stored.id, &passkey)?;
    let amr = factor::amr_passkey_only(stored.backup_eligible);
    let (id, session) =
        session::prepare(&app, principal.user.id, &amr, now).map_err(PageError::internal)?;
    let mut entry = entry_for(&principal, ip, "login.succeeded");
    entry.detail = serde_json::json!({ "method": "passkey", "amr": amr });
    let c = Completion {
        user_id: principal.user.id,
        step: Some(&step.id_hash),
        proof: Proof::Passkey {
            id: stored.id,
            credential: &sealed,
        },
        session: Some(&session),
        end_sessions: EndSessions::None,
        audit: std::slice::from_ref(&entry),
        mails: &[],
    };
    if factors::complete(&app.db, &c, now).await?.is_err() {
        return Ok(start_over(&app, jar, "expired"));
    }
    let jar = session::with_cookie(&app, step::forget(&app, jar), id);
    let mut res = Redirect::to(&step.return_to).into_response();
    super::signin::allow_form_action_to_client(&app, &mut res, &step.return_to).await?;
    Ok((jar, res).into_response())
}

async fn login_failed(
    app: &AppState,
    ip: ClientIp,
    jar: CookieJar,
    step: &Step,
    user: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Response, PageError> {
    if let Some(text) = ip.text() {
        limits::hit(app, &[(Counter::LoginIp, text.as_str())], now).await?;
    }
    let mut entry = AuditRecord::new("login.failed");
    entry.ip = ip.text();
    entry.target_user_id = user;
    entry.detail = serde_json::json!({ "reason": "passkey" });
    audit::record(&app.db, &entry, now).await?;
    steps::discard(&app.db, &step.id_hash).await?;
    let url = format!(
        "{}?melding=passkey_failed&return_to={}",
        app.idp_path("/login"),
        form_urlencoded::byte_serialize(step.return_to.as_bytes()).collect::<String>()
    );
    Ok((step::forget(app, jar), Redirect::to(&url)).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_rp_id_is_the_issuer_host_and_ip_addresses_have_none() {
        assert!(relying_party("http://localhost:8080/idp").is_some());
        assert!(relying_party("https://portaal.example.nl/idp").is_some());
        assert!(relying_party("http://127.0.0.1:8080/idp").is_none());
        assert!(relying_party("http://[::1]:8080/idp").is_none());
    }

    #[test]
    fn passkey_names_are_trimmed_bounded_and_never_empty() {
        assert_eq!(passkey_name(Some("  Laptop  ")), "Laptop");
        assert_eq!(passkey_name(Some("")), "Passkey");
        assert_eq!(passkey_name(None), "Passkey");
        assert_eq!(passkey_name(Some("a\u{0}b")), "ab");
        assert_eq!(passkey_name(Some(&"x".repeat(100))).chars().count(), 60);
    }
}
