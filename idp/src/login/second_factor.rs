//! The second step of a sign-in (SPEC F1–F3): after the password, "Vul hieronder de
//! 6-cijferige code uit de authenticator in:" with "Verstuur", or a recovery code, or a
//! passkey (`login::passkey`).
//!
//! Until the step completes there is no session (SECURITY AU-08): the browser holds only a
//! five-minute step cookie. A code counts once, for a step later than the last accepted
//! one, in the same transaction that creates the session (MF-02). Five wrong codes discard
//! the step and the password is asked again; ten in 15 minutes lock the second step of the
//! account (MF-03). Every attempt is audited (L1), a replay as its own event (AD-04).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::client::ClientIp;
use super::step::{self, Begin};
use super::{limits, notice, session};
use crate::domain::factor::{self, SecondFactor};
use crate::domain::throttle::{Counter, Decision};
use crate::domain::{recovery, totp};
use crate::error::PageError;
use crate::extract::PageForm;
use crate::mfa_policy::AtSignIn;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit::{self, AuditRecord};
use crate::store::factors::{self, Completion, EndSessions, Proof, Refused};
use crate::store::outbox::NewMail;
use crate::store::steps::{self, Step, StepKind};

/// Wrong codes after which a step is discarded (MF-03).
pub const MAX_FAILURES: i64 = 5;

/// Where a sign-in goes once the password was right: to the second step when the user has
/// a factor, to enrolment when one is required and missing (F2, under the office tree's
/// policy: `mfa_policy`), else straight into a session (before the mandatory date,
/// enrolment is offered on the Profiel page). A sign-in under grace (issue 10) also gets
/// a password-only session, counted, and a page that says how many remain.
pub async fn after_password(
    app: &AppState,
    jar: CookieJar,
    principal: &Principal,
    return_to: String,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Response, PageError> {
    let user_id = principal.user.id;
    let summary = factors::summary(&app.db, user_id).await?;
    let (kind, secret, target) = if summary.any() {
        (StepKind::SecondFactor, None, "/2fa")
    } else {
        match crate::mfa_policy::at_sign_in(app, user_id, ip, now).await? {
            AtSignIn::Enrol => {
                let seed = totp::Seed::generate().map_err(PageError::internal)?;
                (
                    StepKind::Enrol,
                    Some(seed.secret().to_vec()),
                    "/2fa/instellen",
                )
            }
            AtSignIn::Session => {
                let jar = session::start(app, jar, user_id, "pwd", now)
                    .await
                    .map_err(PageError::failed)?;
                return Ok((jar, Redirect::to(&return_to)).into_response());
            }
            AtSignIn::Grace { left } => {
                // The `amr` stays `pwd`, so tokens carry ACR_PASSWORD (MF-10: truthful).
                let jar = session::start(app, jar, user_id, "pwd", now)
                    .await
                    .map_err(PageError::failed)?;
                return Ok((jar, grace_page(app, left, &return_to)).into_response());
            }
        }
    };
    let jar = step::begin(
        app,
        jar,
        Begin {
            kind,
            user_id: Some(user_id),
            amr: "pwd".into(),
            return_to,
            secret,
            ceremony: None,
        },
        now,
    )
    .await
    .map_err(PageError::failed)?;
    Ok((jar, Redirect::to(&app.idp_path(target))).into_response())
}

#[derive(Serialize)]
struct GraceCtx<'a> {
    left: u32,
    setup_url: String,
    next: &'a str,
}

/// "Nog N keer inloggen zonder tweede factor" after a grace sign-in (issue 10), with the
/// way to set it up now and the way on to where the sign-in was going.
fn grace_page(app: &AppState, left: u32, return_to: &str) -> Response {
    let mut res = app.templates.page(
        StatusCode::OK,
        "idp/mfa_grace.html",
        GraceCtx {
            left,
            setup_url: format!("{}#beveiliging", app.idp_path("/account")),
            next: return_to,
        },
    );
    res.headers_mut().extend([web_kit::headers::no_store()]);
    res
}

#[derive(Serialize)]
struct Ctx {
    action: String,
    recovery_action: String,
    cancel_url: String,
    passkey_start: String,
    passkey_finish: String,
    has_totp: bool,
    has_passkeys: bool,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
}

async fn render(
    app: &AppState,
    status: StatusCode,
    step: &Step,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
) -> Result<Response, PageError> {
    let summary = match step.user_id {
        Some(id) => factors::summary(&app.db, id).await?,
        None => factors::Summary::default(),
    };
    let mut res = app.templates.page(
        status,
        "idp/second_factor.html",
        Ctx {
            action: app.idp_path("/2fa"),
            recovery_action: app.idp_path("/2fa/herstelcode"),
            cancel_url: app.idp_path("/login"),
            passkey_start: app.idp_path("/passkey/2fa/start"),
            passkey_finish: app.idp_path("/passkey/2fa/finish"),
            has_totp: summary.totp,
            has_passkeys: !summary.passkeys.is_empty() && app.webauthn.is_some(),
            error_key,
            retry_minutes,
        },
    );
    res.headers_mut().extend([web_kit::headers::no_store()]);
    super::signin::allow_form_action_to_client(app, &mut res, &step.return_to).await?;
    if let Some(minutes) = retry_minutes
        && let Ok(v) = HeaderValue::from_str(&(minutes * 60).to_string())
    {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(res)
}

/// Back to the sign-in page with a message: the step is gone.
pub fn start_over(app: &AppState, jar: CookieJar, key: &'static str) -> Response {
    let url = format!("{}?melding={}", app.idp_path("/login"), key);
    (step::forget(app, jar), Redirect::to(&url)).into_response()
}

/// As [`start_over`], keeping where the sign-in was going (an OIDC client's request).
pub fn start_over_to(
    app: &AppState,
    jar: CookieJar,
    key: &'static str,
    return_to: &str,
) -> Response {
    let url = format!(
        "{}?melding={}&return_to={}",
        app.idp_path("/login"),
        key,
        form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
    );
    (step::forget(app, jar), Redirect::to(&url)).into_response()
}

/// `GET /2fa`.
pub async fn page(State(app): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let now = app.now();
    match step::current(&app, &jar, &[StepKind::SecondFactor], now).await? {
        Some(s) => render(&app, StatusCode::OK, &s, None, None).await,
        None => Ok(start_over(&app, jar, "expired")),
    }
}

/// The TOTP form.
#[derive(Deserialize)]
pub struct CodeForm {
    /// What was typed.
    code: String,
}

/// The recovery-code form.
#[derive(Deserialize)]
pub struct RecoveryForm {
    /// What was typed.
    recovery_code: String,
}

/// `POST /2fa`: a code from the authenticator app.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some((step, principal)) = pending(&app, &jar, now).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let attempt = match admit(&app, ip, &jar, &step, &principal, now).await? {
        Ok(n) => n,
        Err(res) => return Ok(res),
    };
    let user_id = principal.user.id;
    let matched = match factors::totp(&app.db, user_id).await? {
        Some(stored) => {
            let seed = app
                .seeds
                .open(user_id.as_bytes(), &stored.secret)
                .map_err(PageError::internal)?;
            totp::Seed::from_bytes(seed).matching_step(&form.code, now)
        }
        None => None,
    };
    let wrong_code = Wrong {
        method: "totp",
        error_key: "second.wrong",
        attempt,
    };
    let Some(matched) = matched else {
        return wrong(&app, ip, jar, &step, &principal, wrong_code, now).await;
    };
    let proof = Proof::Totp { step: matched };
    let second = SecondFactor::Totp;
    match finish(&app, ip, jar, &step, &principal, proof, second, now).await? {
        Ok(res) => Ok(res),
        Err((jar, Refused::Replay)) => {
            // AD-04: a code accepted before, offered again: alertable.
            tracing::warn!(user = %user_id, step = matched, "a TOTP code was offered again");
            let mut entry = entry_for(&principal, ip, "totp.replayed");
            entry.detail = serde_json::json!({ "step": matched });
            audit::record(&app.db, &entry, now).await?;
            let replay = Wrong {
                method: "totp_replay",
                ..wrong_code
            };
            wrong(&app, ip, jar, &step, &principal, replay, now).await
        }
        Err((jar, _)) => Ok(start_over(&app, jar, "expired")),
    }
}

/// `POST /2fa/herstelcode`: one of the recovery codes.
pub async fn submit_recovery(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<RecoveryForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some((step, principal)) = pending(&app, &jar, now).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let attempt = match admit(&app, ip, &jar, &step, &principal, now).await? {
        Ok(n) => n,
        Err(res) => return Ok(res),
    };
    let wrong_code = Wrong {
        method: "recovery",
        error_key: "second.recovery_wrong",
        attempt,
    };
    let Some(hash) = recovery::hash_typed(&form.recovery_code) else {
        return wrong(&app, ip, jar, &step, &principal, wrong_code, now).await;
    };
    let proof = Proof::Recovery { code_hash: &hash };
    let second = SecondFactor::RecoveryCode;
    match finish(&app, ip, jar, &step, &principal, proof, second, now).await? {
        Ok(res) => Ok(res),
        Err((jar, Refused::UnknownRecoveryCode)) => {
            wrong(&app, ip, jar, &step, &principal, wrong_code, now).await
        }
        Err((jar, _)) => Ok(start_over(&app, jar, "expired")),
    }
}

/// The browser's second-factor step and its user, if the step is live and the user may
/// still sign in (deactivation during the step ends it, O6).
pub async fn pending(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
) -> Result<Option<(Step, Principal)>, PageError> {
    let Some(step) = step::current(app, jar, &[StepKind::SecondFactor], now).await? else {
        return Ok(None);
    };
    let Some(user_id) = step.user_id else {
        return Ok(None);
    };
    let principal = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in);
    Ok(principal.map(|p| (step, p)))
}

/// Lets one attempt at a code go ahead, counted before the code is looked at so parallel
/// guesses cannot outrun the limits (SECURITY MF-03): the address must not be locked
/// (AV-04), the step must have had fewer than five attempts, and the account fewer than
/// ten wrong codes in 15 minutes. Returns the attempt's number, or the answer to give
/// instead (429 with `Retry-After`, or back to the password).
pub async fn admit(
    app: &AppState,
    ip: ClientIp,
    jar: &CookieJar,
    step: &Step,
    principal: &Principal,
    now: OffsetDateTime,
) -> Result<Result<i64, Response>, PageError> {
    let account = principal.user.id.to_string();
    let ip_text = ip.text();
    let locked = match limits::check(app, &counters(&account, ip_text.as_deref()), now).await? {
        Decision::Blocked {
            retry_after_minutes,
        } => Some(retry_after_minutes),
        Decision::Allowed => None,
    };
    let Some(attempt) = steps::attempt(&app.db, &step.id_hash, MAX_FAILURES, now).await? else {
        return Ok(Err(start_over_to(
            app,
            jar.clone(),
            "too_many",
            &step.return_to,
        )));
    };
    let locked = match locked {
        Some(m) => Some(m),
        None if limits::hit(app, &[(Counter::SecondFactorAccount, &account)], now).await? => {
            Some(Counter::SecondFactorAccount.limit().window.whole_minutes())
        }
        None => None,
    };
    if let Some(minutes) = locked {
        let mut entry = entry_for(principal, ip, "login.second_factor_locked");
        entry.detail = serde_json::json!({ "retry_after_minutes": minutes });
        audit::record(&app.db, &entry, now).await?;
        let res = render(
            app,
            StatusCode::TOO_MANY_REQUESTS,
            step,
            None,
            Some(minutes),
        )
        .await?;
        return Ok(Err(res));
    }
    Ok(Ok(attempt))
}

/// The counters a wrong code adds to: the account's second step and the address.
fn counters<'a>(account: &'a str, ip: Option<&'a str>) -> Vec<(Counter, &'a str)> {
    let mut c = vec![(Counter::SecondFactorAccount, account)];
    if let Some(ip) = ip {
        c.push((Counter::LoginIp, ip));
    }
    c
}

/// An audit entry about `p`'s sign-in.
pub fn entry_for(p: &Principal, ip: ClientIp, action: &'static str) -> AuditRecord {
    let mut entry = AuditRecord::new(action);
    entry.actor_id = Some(p.user.id);
    entry.target_user_id = Some(p.user.id);
    entry.target_office_id = p.user.office_id;
    entry.ip = ip.text();
    entry
}

/// What a wrong answer was.
#[derive(Debug, Clone, Copy)]
pub struct Wrong {
    /// `totp`, `recovery`, `passkey`… for the audit log.
    pub method: &'static str,
    /// The text shown.
    pub error_key: &'static str,
    /// The attempt's number on the step ([`admit`]).
    pub attempt: i64,
}

/// A wrong answer: counted on the address (the step and the account were counted by
/// [`admit`]), audited; the fifth discards the step.
pub async fn wrong(
    app: &AppState,
    ip: ClientIp,
    jar: CookieJar,
    step: &Step,
    principal: &Principal,
    w: Wrong,
    now: OffsetDateTime,
) -> Result<Response, PageError> {
    if let Some(text) = ip.text() {
        limits::hit(app, &[(Counter::LoginIp, text.as_str())], now).await?;
    }
    let mut entry = entry_for(principal, ip, "login.second_factor_failed");
    entry.detail = serde_json::json!({ "method": w.method, "failures": w.attempt });
    audit::record(&app.db, &entry, now).await?;
    if w.attempt >= MAX_FAILURES {
        steps::discard(&app.db, &step.id_hash).await?;
        return Ok(start_over_to(app, jar, "too_many", &step.return_to));
    }
    let res = render(app, StatusCode::OK, step, Some(w.error_key), None).await?;
    Ok((jar, res).into_response())
}

/// Completes a sign-in step with `proof`: session, audit and notices in one transaction
/// (`factors::complete`), then the session cookie and the way back. A refusal hands the
/// jar back with the reason; nothing was written.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    app: &AppState,
    ip: ClientIp,
    jar: CookieJar,
    step: &Step,
    principal: &Principal,
    proof: Proof<'_>,
    second: SecondFactor,
    now: OffsetDateTime,
) -> Result<Result<Response, (CookieJar, Refused)>, PageError> {
    let user = &principal.user;
    let amr = factor::amr_with_password(Some(second));
    let (id, session) = session::prepare(app, user.id, &amr, now).map_err(PageError::internal)?;
    let mut entry = entry_for(principal, ip, "login.second_factor");
    entry.detail = serde_json::json!({ "method": method_name(second), "amr": amr });
    let mut mails: Vec<NewMail> = Vec::new();
    if second == SecondFactor::RecoveryCode {
        // MF-05: each use of a recovery code is told to the owner.
        mails.push(
            notice::mail(
                app,
                &user.name,
                &user.email,
                notice::Change::RecoveryCodeUsed,
                now,
            )
            .map_err(PageError::internal)?,
        );
    }
    let c = Completion {
        user_id: user.id,
        step: Some(&step.id_hash),
        proof,
        session: Some(&session),
        end_sessions: EndSessions::None,
        audit: std::slice::from_ref(&entry),
        mails: &mails,
    };
    if let Err(why) = factors::complete(&app.db, &c, now).await? {
        return Ok(Err((jar, why)));
    }
    if !mails.is_empty() {
        app.mail_wake.notify_one();
    }
    // The right factor forgives the account's counted attempts (as a right password does).
    crate::store::throttle::clear(&app.db, Counter::SecondFactorAccount, &user.id.to_string())
        .await?;
    let jar = session::with_cookie(app, step::forget(app, jar), id);
    Ok(Ok((jar, Redirect::to(&step.return_to)).into_response()))
}

fn method_name(second: SecondFactor) -> &'static str {
    match second {
        SecondFactor::Totp => "totp",
        SecondFactor::RecoveryCode => "recovery_code",
        SecondFactor::Passkey { .. } => "passkey",
    }
}
