//! Profiel: the signed-in user changes its own name and password (issue 6). The e-mail
//! address is the login name and is changed by a main user or the insurer under
//! Gebruikers (U2), which notifies the old address (ML-05); the page says so.
//!
//! A name change needs only the session. A password change (SECURITY AU-05) needs a
//! sign-in within the last five minutes — with the second factor, once the user has one —
//! *and* the current password, and sends a notice mail; every failed current password
//! counts against the account's sign-in throttle, so the form cannot be used to guess
//! (AV-01). The new password meets the same policy as activation (AU-04); the change ends
//! every other session with its grants and unredeemed codes and tells their relying
//! parties by back-channel logout (SE-05).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::account::{back_with, render, signed_in, stepped_up};
use super::client::ClientIp;
use super::second_factor::entry_for;
use super::{limits, notice};
use crate::domain::identifier::LoginName;
use crate::domain::parse_name;
use crate::domain::throttle::{Counter, Decision};
use crate::error::PageError;
use crate::extract::PageForm;
use crate::hasher::Verdict;
use crate::oidc::end_session::logout_deliveries;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::{audit, grants, profile};

/// The name form.
#[derive(Deserialize)]
pub struct NameForm {
    name: String,
}

/// The password form.
#[derive(Deserialize)]
pub struct PasswordChangeForm {
    current_password: SecretString,
    password: SecretString,
    password_repeat: SecretString,
}

/// `POST /account/naam`.
pub async fn change_name(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<NameForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let (current, principal) = match signed_in(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let this = current.id_hash.as_slice();
    let name = match parse_name(&form.name) {
        Ok(name) => name,
        Err(e) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return render(&app, this, &principal, status, None, Some(e.text_key())).await;
        }
    };
    if name == principal.user.name {
        return Ok(back_with(&app, "naam"));
    }
    let mut entry = entry_for(&principal, ip, "profile.name_changed");
    entry.detail = json!({ "before": { "name": principal.user.name }, "after": { "name": name } });
    if !profile::set_name(&app.db, principal.user.id, &name, &entry, now).await? {
        let status = StatusCode::CONFLICT;
        return render(
            &app,
            this,
            &principal,
            status,
            None,
            Some("account.changed_meanwhile"),
        )
        .await;
    }
    Ok(back_with(&app, "naam"))
}

/// `POST /account/wachtwoord`.
pub async fn change_password(
    State(app): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<PasswordChangeForm>,
) -> Result<Response, PageError> {
    let now = app.now();
    let (current, principal) = match stepped_up(&app, &jar, now).await? {
        Ok(found) => found,
        Err(res) => return Ok(res),
    };
    let refuse = |key: &'static str| {
        let app = app.clone();
        let principal = principal.clone();
        let this = current.id_hash.clone();
        async move {
            render(
                &app,
                &this,
                &principal,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(key),
            )
            .await
        }
    };

    // The current password, under the account's sign-in throttle (AV-01).
    let user = &principal.user;
    let account = user.id.to_string();
    let counters = [(Counter::LoginAccount, account.as_str())];
    if let Decision::Blocked { .. } = limits::check(&app, &counters, now).await? {
        return refuse("account.password_locked").await;
    }
    let stored = accounts::find_login(
        &app.db,
        &LoginName::Email(user.email.clone()),
        &app.registry,
    )
    .await?
    .and_then(|(u, hash)| (u.id == user.id).then_some(hash))
    .flatten();
    let verdict = app
        .hasher
        .verify(form.current_password.clone(), stored.clone())
        .await
        .map_err(PageError::internal)?;
    let Some(old_hash) = stored.filter(|_| verdict != Verdict::Wrong) else {
        limits::hit(&app, &counters, now).await?;
        let mut entry = entry_for(&principal, ip, "password.change_failed");
        entry.detail = json!({ "reason": "wrong_password" });
        audit::record(&app.db, &entry, now).await?;
        return refuse("account.password_wrong").await;
    };

    // The new one: the activation rules (AU-04).
    let new = form.password.expose_secret();
    if new != form.password_repeat.expose_secret() {
        return refuse("activate.mismatch").await;
    }
    if new == form.current_password.expose_secret() {
        return refuse("account.password_same").await;
    }
    if let Err(problem) = app.passwords.check(new, &context(&principal)) {
        return refuse(problem.text_key()).await;
    }
    let new_hash = app
        .hasher
        .hash(form.password)
        .await
        .map_err(PageError::internal)?;

    // SE-05: the other sessions end; their relying parties are told (back-channel).
    let mut mails = vec![
        notice::mail(
            &app,
            &user.name,
            &user.email,
            notice::Change::PasswordChanged,
            now,
        )
        .map_err(PageError::internal)?,
    ];
    let others: Vec<_> = grants::logout_targets_of_user(&app.db, user.id)
        .await?
        .into_iter()
        .filter(|t| !is_this_session(&current.id_hash, t))
        .collect();
    mails.extend(logout_deliveries(&app, &others, now).map_err(PageError::internal)?);
    let entry = entry_for(&principal, ip, "password.changed");
    let change = profile::PasswordChange {
        user_id: user.id,
        old_hash: &old_hash,
        new_hash: &new_hash,
        keep_session: &current.id_hash,
        audit: &entry,
        mails: &mails,
    };
    if !profile::change_password(&app.db, &change, now).await? {
        return refuse("account.changed_meanwhile").await;
    }
    crate::store::throttle::clear(&app.db, Counter::LoginAccount, &account).await?;
    app.mail_wake.notify_one();
    Ok(back_with(&app, "wachtwoord"))
}

/// Words a password must not be built on: the user's and the office's names and numbers.
fn context(p: &Principal) -> Vec<&str> {
    let mut words = vec![p.user.email.local_part(), p.user.name.as_str()];
    if let Some(o) = &p.office {
        words.push(o.name.as_str());
        words.push(o.number.as_str());
    }
    words
}

/// Whether a logout target belongs to the session making the change (its `sid` is the
/// one derived from that session).
fn is_this_session(id_hash: &[u8], target: &grants::LogoutTarget) -> bool {
    grants::sid_of(id_hash) == target.sid
}
