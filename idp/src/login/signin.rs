//! Sign-in with advisor number or e-mail and password (SPEC A1).
//!
//! Every failure (unknown login, wrong password, not activated, inactive user or office)
//! gives the same page with the same text, after the same argon2 work (SECURITY AU-02).
//! Failed passwords count per account and per client address in the database (AV-01,
//! AV-02, AV-04); past a limit the attempt is refused with its own text before the
//! password is looked at, so a right password during a lock fails like a wrong one.
//! Every attempt is audited with its address and, internally, its reason (L1, AD-01).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::client::ClientIp;
use super::{limits, second_factor};
use crate::domain::identifier::LoginName;
use crate::domain::throttle::{Counter, Decision};
use crate::error::PageError;
use crate::extract::{PageForm, PageQuery};
use crate::hasher::Verdict;
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit::{self, AuditRecord};
use web_kit::paths::safe_return_to;

/// `?return_to=` of the sign-in page.
#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
    /// Why the person is back here: `expired` or `too_many` (a discarded second step).
    melding: Option<String>,
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct LoginForm {
    /// Advisor number or e-mail.
    username: String,
    /// Password.
    password: SecretString,
    /// Where to go afterwards (a local path).
    return_to: Option<String>,
}

#[derive(Serialize)]
struct Ctx<'a> {
    action: String,
    activate_url: String,
    forgot_url: String,
    return_to: &'a str,
    username: &'a str,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
    passkey_start: Option<String>,
    passkey_finish: Option<String>,
}

/// Why a sign-in failed. Internal only: the audit log keeps it, the person never sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// No such login name.
    Unknown,
    /// The password does not match.
    WrongPassword,
    /// The account has no password yet.
    NotActivated,
    /// The user or an office above it is inactive (O6).
    Inactive,
    /// Too many failures for the account or the address.
    Throttled,
}

impl FailReason {
    /// As written in the audit detail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::WrongPassword => "wrong_password",
            Self::NotActivated => "not_activated",
            Self::Inactive => "inactive",
            Self::Throttled => "throttled",
        }
    }
}

/// The outcome of one sign-in attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The password is right and the account may sign in.
    SignedIn(Box<Principal>),
    /// Refused with the one sign-in error text.
    Failed,
    /// Refused before checking: too many failures; try again after this many minutes.
    Throttled(i64),
}

async fn render(
    app: &AppState,
    status: StatusCode,
    return_to: &str,
    username: &str,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
) -> Result<Response, PageError> {
    let mut res = app.templates.page(
        status,
        "idp/login.html",
        Ctx {
            action: app.idp_path("/login"),
            activate_url: app.idp_path("/activate"),
            forgot_url: app.idp_path("/forgot"),
            return_to,
            username,
            error_key,
            retry_minutes,
            passkey_start: app
                .webauthn
                .is_some()
                .then(|| app.idp_path("/passkey/login/start")),
            passkey_finish: app
                .webauthn
                .is_some()
                .then(|| app.idp_path("/passkey/login/finish")),
        },
    );
    allow_form_action_to_client(app, &mut res, return_to).await?;
    Ok(res)
}

/// Widens the page's `form-action` to the origin of the client that `return_to` goes back
/// to (see [`client_origin`]); every page whose form ends a sign-in needs it.
pub async fn allow_form_action_to_client(
    app: &AppState,
    res: &mut Response,
    return_to: &str,
) -> Result<(), PageError> {
    if let Some(origin) = client_origin(app, return_to).await?
        && let Ok(csp) = HeaderValue::from_str(&web_kit::headers::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ))
    {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    Ok(())
}

/// The origin of the client an authorization request in `return_to` goes back to, when the
/// client exists and the redirect URI is one it registered (byte for byte, as `/authorize`
/// checks it).
///
/// HD-01 keeps forms to ourselves (`form-action 'self'`), but browsers hold every redirect
/// of a form's navigation to `form-action` too: the sign-in POST answers 303 to
/// `/authorize`, which answers 303 to the client's redirect URI. Without that one origin
/// on this page, Chromium blocks the way back to every client on another origin (found
/// by tests/portal/interop.rs).
async fn client_origin(app: &AppState, return_to: &str) -> Result<Option<String>, PageError> {
    let Some((path, query)) = return_to.split_once('?') else {
        return Ok(None);
    };
    if path != app.idp_path("/authorize") {
        return Ok(None);
    }
    let mut client_id = None;
    let mut redirect_uri = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "client_id" => client_id = Some(v.into_owned()),
            "redirect_uri" => redirect_uri = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(client_id) = client_id else {
        return Ok(None);
    };
    let Some(client) = app.clients.get(&app.db, &client_id).await? else {
        return Ok(None);
    };
    let uri = match redirect_uri {
        Some(uri) if client.redirect_uris.contains(&uri) => uri,
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        _ => return Ok(None),
    };
    // Only http(s) origins are CSP host sources; an app's private scheme stays out.
    let origin = url::Url::parse(&uri).ok().map(|u| u.origin());
    Ok(origin
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization()))
}

/// `GET /login`.
pub async fn page(
    State(app): State<AppState>,
    PageQuery(q): PageQuery<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(q.return_to.as_deref(), "/");
    let notice = match q.melding.as_deref() {
        Some("expired") => Some("second.expired"),
        Some("too_many") => Some("second.too_many"),
        Some("reauth") => Some("account.reauth"),
        Some("passkey_failed") => Some("passkey.failed"),
        _ => None,
    };
    render(&app, StatusCode::OK, return_to, "", notice, None).await
}

/// `POST /login`: checks the password and starts a session, then returns (303, never 307:
/// the password is not posted on, SECURITY OP-16) to where the person came from.
pub async fn submit(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<LoginForm>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(form.return_to.as_deref(), "/").to_owned();
    let now = app.now();
    let username = form.username.trim();
    match sign_in(&app, ip, &form.username, form.password, now).await? {
        Attempt::SignedIn(principal) => {
            // Second factors (SPEC F1–F4): no session before they are done (AU-08).
            second_factor::after_password(&app, jar, &principal, return_to, ip.text(), now).await
        }
        Attempt::Failed => {
            render(
                &app,
                StatusCode::OK,
                &return_to,
                username,
                Some("login.failed"),
                None,
            )
            .await
        }
        Attempt::Throttled(minutes) => {
            let mut res = render(
                &app,
                StatusCode::TOO_MANY_REQUESTS,
                &return_to,
                username,
                None,
                Some(minutes),
            )
            .await?;
            if let Ok(v) = HeaderValue::from_str(&(minutes * 60).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(res)
        }
    }
}

/// One sign-in attempt: throttle check, password check, counters, re-hash, audit.
pub async fn sign_in(
    app: &AppState,
    ip: ClientIp,
    username: &str,
    password: SecretString,
    now: OffsetDateTime,
) -> Result<Attempt, PageError> {
    let name = LoginName::parse(username);
    let found = match &name {
        Some(name) => accounts::find_login(&app.db, name, &app.registry).await?,
        None => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let account = match &user {
        Some(u) => u.id.to_string(),
        None => limits::unknown_login_subject(username),
    };
    let ip_text = ip.text();
    let mut counters = vec![(Counter::LoginAccount, account.as_str())];
    if let Some(ip) = &ip_text {
        counters.push((Counter::LoginIp, ip.as_str()));
    }

    let mut entry = AuditRecord::new("login.failed");
    entry.ip = ip_text.clone();
    entry.target_user_id = user.as_ref().map(|u| u.id);
    entry.target_office_id = user.as_ref().and_then(|u| u.office_id);

    if let Decision::Blocked {
        retry_after_minutes,
    } = limits::check(app, &counters, now).await?
    {
        entry.detail = serde_json::json!({ "reason": FailReason::Throttled.as_str() });
        audit::record(&app.db, &entry, now).await?;
        return Ok(Attempt::Throttled(retry_after_minutes));
    }

    let has_password = hash.is_some();
    let verdict = app
        .hasher
        .verify(password.clone(), hash)
        .await
        .map_err(PageError::internal)?;
    let checked = match (&user, verdict) {
        (None, _) => Err(FailReason::Unknown),
        (Some(_), Verdict::Wrong) if !has_password => Err(FailReason::NotActivated),
        (Some(_), Verdict::Wrong) => Err(FailReason::WrongPassword),
        (Some(u), Verdict::Right | Verdict::RightButOutdated) => {
            match accounts::principal(&app.db, u.id, &app.registry).await? {
                Some(p) if !p.user.activated => Err(FailReason::NotActivated),
                Some(p) if claims::may_sign_in(&p) => Ok(p),
                _ => Err(FailReason::Inactive),
            }
        }
    };
    let principal = match checked {
        Ok(p) => p,
        Err(reason) => {
            limits::hit(app, &counters, now).await?;
            entry.detail = serde_json::json!({ "reason": reason.as_str() });
            audit::record(&app.db, &entry, now).await?;
            return Ok(Attempt::Failed);
        }
    };
    // A good sign-in forgives the account's failures; other addresses keep theirs.
    crate::store::throttle::clear(&app.db, Counter::LoginAccount, &account).await?;
    if verdict == Verdict::RightButOutdated {
        // AU-03: store a hash with today's parameters while the password is at hand.
        let fresh = app
            .hasher
            .hash(password)
            .await
            .map_err(PageError::internal)?;
        accounts::set_password_hash(&app.db, principal.user.id, &fresh, now).await?;
    }
    entry.action = "login.succeeded";
    entry.actor_id = Some(principal.user.id);
    audit::record(&app.db, &entry, now).await?;
    Ok(Attempt::SignedIn(Box::new(principal)))
}
