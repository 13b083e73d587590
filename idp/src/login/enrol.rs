//! Setting up the authenticator app (SPEC F1, F2): the QR code and the key as text, then
//! one code to confirm. Reached two ways: forced, straight after the password when 2FA is
//! mandatory and the user has no factor yet (the step is then a sign-in: confirming it
//! creates the session); or from Profiel → Beveiliging → "Nu activeren" (the step belongs
//! to the signed-in user's session, and the change ends the user's other sessions).
//!
//! The seed is made here, shown once, and held sealed in the step until the code confirms
//! it (SECURITY MF-04); the confirming code's step is used up like any other (MF-02). The
//! confirmation replaces any earlier app and recovery codes in one transaction and shows
//! the ten new recovery codes once (F3, MF-05).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::client::ClientIp;
use super::second_factor::{MAX_FAILURES, entry_for, start_over};
use super::{limits, notice, session, step};
use crate::domain::factor::{self, SecondFactor};
use crate::domain::throttle::{Counter, Decision};
use crate::domain::{recovery, totp};
use crate::error::PageError;
use crate::extract::PageForm;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit;
use crate::store::factors::{self, Completion, EndSessions, Proof};
use crate::store::steps::{self, Step, StepKind};

#[derive(Serialize)]
struct Ctx {
    action: String,
    cancel_url: String,
    forced: bool,
    qr_svg: String,
    key: String,
    account: String,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
    passkey_start: Option<String>,
    passkey_finish: Option<String>,
}

/// The confirmation form.
#[derive(Deserialize)]
pub struct ConfirmForm {
    /// The code the app shows.
    code: String,
}

/// A live set-up step, its user, and (for a set-up from Beveiliging) the session it
/// belongs to.
struct Setup {
    step: Step,
    principal: Principal,
    session: Option<session::Current>,
}

async fn setup(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
) -> Result<Option<Setup>, PageError> {
    let kinds = [StepKind::Enrol, StepKind::TotpSetup];
    let Some(step) = step::current(app, jar, &kinds, now).await? else {
        return Ok(None);
    };
    let Some(user_id) = step.user_id else {
        return Ok(None);
    };
    let Some(principal) = accounts::principal(&app.db, user_id, &app.registry)
        .await?
        .filter(claims::may_sign_in)
    else {
        return Ok(None);
    };
    let session = if step.kind == StepKind::TotpSetup {
        // Only the session that started it may finish it.
        match session::current(app, jar, now).await? {
            Some(s) if s.user_id == user_id => Some(s),
            _ => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(Setup {
        step,
        principal,
        session,
    }))
}

fn seed_of(app: &AppState, s: &Step) -> Result<totp::Seed, PageError> {
    let sealed = s
        .secret
        .as_deref()
        .ok_or_else(|| PageError::internal("set-up step without a seed"))?;
    let plain = step::open(app, s, sealed).map_err(PageError::internal)?;
    Ok(totp::Seed::from_bytes(plain))
}

async fn render(
    app: &AppState,
    status: StatusCode,
    s: &Setup,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
) -> Result<Response, PageError> {
    let seed = seed_of(app, &s.step)?;
    let account = s.principal.user.email.as_str().to_owned();
    let forced = s.step.kind == StepKind::Enrol;
    let passkeys_on = app.webauthn.is_some();
    let mut res = app.templates.page(
        status,
        "idp/totp_setup.html",
        Ctx {
            action: app.idp_path("/2fa/instellen"),
            cancel_url: if forced {
                app.idp_path("/login")
            } else {
                app.idp_path("/account")
            },
            forced,
            qr_svg: seed.qr_svg(&account).map_err(PageError::internal)?,
            key: seed.display_key().map_err(PageError::internal)?,
            account,
            error_key,
            retry_minutes,
            passkey_start: passkeys_on.then(|| app.idp_path("/passkey/register/start")),
            passkey_finish: passkeys_on.then(|| app.idp_path("/passkey/register/finish")),
        },
    );
    res.headers_mut().extend([web_kit::headers::no_store()]);
    Ok(res)
}

/// `GET /2fa/instellen`.
pub async fn page(State(app): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let now = app.now();
    match setup(&app, &jar, now).await? {
        Some(s) => render(&app, StatusCode::OK, &s, None, None).await,
        None => Ok(start_over(&app, jar, "expired")),
    }
}

/// `POST /2fa/instellen`: confirms the app with one code.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let Some(s) = setup(&app, &jar, now).await? else {
        return Ok(start_over(&app, jar, "expired"));
    };
    let user = &s.principal.user;
    let subject = user.id.to_string();
    // As at the code page: the attempt is counted before the code is looked at (MF-03),
    // and the address's lock applies (AV-04).
    let ip_text = ip.text();
    let mut counters = vec![(Counter::SecondFactorAccount, subject.as_str())];
    if let Some(text) = &ip_text {
        counters.push((Counter::LoginIp, text.as_str()));
    }
    let mut locked = match limits::check(&app, &counters, now).await? {
        Decision::Blocked {
            retry_after_minutes,
        } => Some(retry_after_minutes),
        Decision::Allowed => None,
    };
    let Some(attempt) = steps::attempt(&app.db, &s.step.id_hash, MAX_FAILURES, now).await? else {
        return Ok(start_over(&app, jar, "too_many"));
    };
    if locked.is_none()
        && limits::hit(&app, &[(Counter::SecondFactorAccount, &subject)], now).await?
    {
        locked = Some(Counter::SecondFactorAccount.limit().window.whole_minutes());
    }
    if let Some(minutes) = locked {
        let mut res = render(&app, StatusCode::TOO_MANY_REQUESTS, &s, None, Some(minutes)).await?;
        if let Ok(v) = axum::http::HeaderValue::from_str(&(minutes * 60).to_string()) {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        return Ok(res);
    }
    let seed = seed_of(&app, &s.step)?;
    let Some(matched) = seed.matching_step(&form.code, now) else {
        if let Some(text) = &ip_text {
            limits::hit(&app, &[(Counter::LoginIp, text.as_str())], now).await?;
        }
        let mut entry = entry_for(&s.principal, ip, "mfa.totp_setup_failed");
        entry.detail = serde_json::json!({ "failures": attempt });
        audit::record(&app.db, &entry, now).await?;
        if attempt >= MAX_FAILURES {
            steps::discard(&app.db, &s.step.id_hash).await?;
            return Ok(start_over(&app, jar, "too_many"));
        }
        return render(&app, StatusCode::OK, &s, Some("enrol.wrong"), None).await;
    };

    let sealed_seed = app
        .seeds
        .seal(user.id.as_bytes(), seed.secret())
        .map_err(PageError::internal)?;
    let codes = recovery::generate_set().map_err(PageError::internal)?;
    let hashes: Vec<Vec<u8>> = codes.iter().map(recovery::RecoveryCode::hash).collect();
    let forced = s.step.kind == StepKind::Enrol;
    let prepared = if forced {
        let amr = factor::amr_with_password(Some(SecondFactor::Totp));
        Some(session::prepare(&app, user.id, &amr, now).map_err(PageError::internal)?)
    } else {
        None
    };
    let mut entry = entry_for(&s.principal, ip, "mfa.totp_enrolled");
    entry.detail = serde_json::json!({ "during_sign_in": forced });
    let mut entries = vec![entry];
    if forced {
        let mut signed_in = entry_for(&s.principal, ip, "login.second_factor");
        signed_in.detail = serde_json::json!({ "method": "totp_enrolment" });
        entries.push(signed_in);
    }
    let mail = notice::mail(
        &app,
        &user.name,
        &user.email,
        notice::Change::TotpEnrolled,
        now,
    )
    .map_err(PageError::internal)?;
    let c = Completion {
        user_id: user.id,
        step: Some(&s.step.id_hash),
        proof: Proof::EnrolTotp {
            first_only: forced,
            secret: &sealed_seed,
            step: matched,
            recovery: &hashes,
        },
        session: prepared.as_ref().map(|(_, session)| session),
        end_sessions: match &s.session {
            // SE-05: a 2FA change ends the user's other sessions.
            Some(current) => EndSessions::AllBut(&current.id_hash),
            None => EndSessions::None,
        },
        audit: &entries,
        mails: std::slice::from_ref(&mail),
    };
    if factors::complete(&app.db, &c, now).await?.is_err() {
        return Ok(start_over(&app, jar, "expired"));
    }
    app.mail_wake.notify_one();
    crate::store::throttle::clear(&app.db, Counter::SecondFactorAccount, &subject).await?;
    let next = if forced {
        s.step.return_to.clone()
    } else {
        app.idp_path("/account")
    };
    let mut jar = step::forget(&app, jar);
    if let Some((id, _)) = prepared {
        jar = session::with_cookie(&app, jar, id);
    }
    Ok((jar, show_codes(&app, &codes, &next)).into_response())
}

/// The page that shows a new set of recovery codes once.
pub fn show_codes(app: &AppState, codes: &[recovery::RecoveryCode], next: &str) -> Response {
    #[derive(Serialize)]
    struct Codes<'a> {
        codes: Vec<&'a str>,
        next: &'a str,
    }
    let mut res = app.templates.page(
        StatusCode::OK,
        "idp/recovery_codes.html",
        Codes {
            codes: codes.iter().map(recovery::RecoveryCode::secret).collect(),
            next,
        },
    );
    res.headers_mut().extend([web_kit::headers::no_store()]);
    res
}

/// Keeps `Redirect` and the second-factor module in one place for the account page.
pub(crate) fn to_setup(app: &AppState) -> Redirect {
    Redirect::to(&app.idp_path("/2fa/instellen"))
}
