//! Asking for a mail with a link: "Activeer hier uw account" (SPEC A3) and
//! "Wachtwoord vergeten" (A5), both reached from the sign-in page.
//!
//! Whatever was entered, the answer is the same page after the same work: one argon2
//! verification on every request, so neither text nor timing tells whether an account
//! exists (SECURITY ML-03). A match gets a new link (older ones of that purpose stop
//! working) and its mail through the outbox. Requests are limited per client address and
//! mails per account; past a limit nothing is sent, and the answer is still the same.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::client::ClientIp;
use super::limits;
use crate::domain::throttle::Counter;
use crate::domain::{AdvisorNumber, Email, OfficeKind};
use crate::error::PageError;
use crate::extract::{PageForm, PagePath};
use crate::oidc::claims;
use crate::provision;
use crate::state::AppState;
use crate::store::accounts::{self, Principal};
use crate::store::audit::{self, AuditRecord};
use crate::store::tokens::{self, Purpose};

/// The "Activeer hier uw account" form.
#[derive(Deserialize)]
pub struct ActivationRequest {
    /// E-mailadres.
    email: String,
    /// Adviseursnummer (of the head office).
    advisor_number: String,
}

/// The "Wachtwoord vergeten" form.
#[derive(Deserialize)]
pub struct ResetRequest {
    /// E-mailadres.
    email: String,
}

#[derive(Serialize)]
struct FormCtx {
    action: String,
    login_url: String,
}

/// `GET /activate`.
pub async fn activation_page(State(app): State<AppState>) -> Response {
    form(&app, "idp/request_activation.html", "/activate")
}

/// `GET /forgot`.
pub async fn reset_page(State(app): State<AppState>) -> Response {
    form(&app, "idp/request_reset.html", "/forgot")
}

fn form(app: &AppState, template: &str, path: &str) -> Response {
    app.templates.page(
        StatusCode::OK,
        template,
        FormCtx {
            action: app.idp_path(path),
            login_url: app.idp_path("/login"),
        },
    )
}

/// `POST /activate`: 303 to the one answer page.
pub async fn activation_submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PageForm(f): PageForm<ActivationRequest>,
) -> Result<Response, PageError> {
    request_activation(&app, ip, &f.email, &f.advisor_number, app.now()).await?;
    Ok(Redirect::to(&app.idp_path("/requested/activation")).into_response())
}

/// `POST /forgot`: 303 to the one answer page.
pub async fn reset_submit(
    State(app): State<AppState>,
    ip: ClientIp,
    PageForm(f): PageForm<ResetRequest>,
) -> Result<Response, PageError> {
    request_reset(&app, ip, &f.email, app.now()).await?;
    Ok(Redirect::to(&app.idp_path("/requested/reset")).into_response())
}

/// `GET /requested/{activation|reset}`: the same answer for every input.
pub async fn sent(
    State(app): State<AppState>,
    PagePath(kind): PagePath<String>,
) -> Result<Response, PageError> {
    #[derive(Serialize)]
    struct Ctx {
        prefix: &'static str,
        login_url: String,
    }
    let prefix = match kind.as_str() {
        "activation" => "request_activation",
        "reset" => "request_reset",
        _ => return Err(PageError::new(StatusCode::NOT_FOUND, "activate.unknown")),
    };
    Ok(app.templates.page(
        StatusCode::OK,
        "idp/requested.html",
        Ctx {
            prefix,
            login_url: app.idp_path("/login"),
        },
    ))
}

/// What became of a request (audit detail only; the person always sees the same page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A link was mailed.
    Sent,
    /// Nothing matched.
    NoMatch,
    /// Too many requests from the address or mails for the account.
    Throttled,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::NoMatch => "no_match",
            Self::Throttled => "throttled",
        }
    }
}

/// A3: whether `p` is a not yet activated account of the office tree of the head office
/// with `number`: its main user, an employee, or a user of one of its sub-offices.
pub fn may_request_activation(p: &Principal, number: &AdvisorNumber) -> bool {
    let head = p.head_office.as_ref().or(p.office.as_ref());
    !p.user.activated
        && claims::may_sign_in(p)
        && head.is_some_and(|h| h.kind == OfficeKind::HeadOffice && h.number == number.as_str())
}

/// A5: only an active, activated account gets a reset link.
pub fn may_request_reset(p: &Principal) -> bool {
    p.user.activated && claims::may_sign_in(p)
}

/// A3's flow; returns what happened (for tests and the audit log).
pub async fn request_activation(
    app: &AppState,
    ip: ClientIp,
    email: &str,
    advisor_number: &str,
    now: OffsetDateTime,
) -> Result<Outcome, PageError> {
    let number = AdvisorNumber::parse(advisor_number).ok();
    let found = match (Email::read(email).ok(), &number) {
        (Some(e), Some(n)) => principal_by_email(app, &e)
            .await?
            .filter(|p| may_request_activation(p, n)),
        _ => None,
    };
    send_link(
        app,
        ip,
        found,
        Purpose::Activation,
        "activation.requested",
        now,
    )
    .await
}

/// A5's flow; returns what happened (for tests and the audit log).
pub async fn request_reset(
    app: &AppState,
    ip: ClientIp,
    email: &str,
    now: OffsetDateTime,
) -> Result<Outcome, PageError> {
    let found = match Email::read(email).ok() {
        Some(e) => principal_by_email(app, &e).await?.filter(may_request_reset),
        None => None,
    };
    send_link(app, ip, found, Purpose::Reset, "reset.requested", now).await
}

async fn principal_by_email(app: &AppState, email: &Email) -> Result<Option<Principal>, PageError> {
    let Some(user) = accounts::user_by_email(&app.db, email, &app.registry).await? else {
        return Ok(None);
    };
    Ok(accounts::principal(&app.db, user.id, &app.registry).await?)
}

/// Counts the request, mails a link to `found` if the limits allow, audits, and pays the
/// same argon2 cost whatever happened.
async fn send_link(
    app: &AppState,
    ip: ClientIp,
    found: Option<Principal>,
    purpose: Purpose,
    action: &'static str,
    now: OffsetDateTime,
) -> Result<Outcome, PageError> {
    // ML-03: comparable work for every answer; this dwarfs the queries and the mail.
    app.hasher
        .verify(SecretString::from(String::new()), None)
        .await
        .map_err(PageError::internal)?;
    let ip_text = ip.text();
    let ip_over = match &ip_text {
        Some(ip) => limits::hit(app, &[(Counter::MailIp, ip.as_str())], now).await?,
        None => false,
    };
    let mut entry = AuditRecord::new(action);
    entry.ip = ip_text;
    let outcome = match found {
        None => Outcome::NoMatch,
        Some(_) if ip_over => Outcome::Throttled,
        Some(p) => {
            entry.target_user_id = Some(p.user.id);
            entry.target_office_id = p.user.office_id;
            let subject = format!("{}:{}", purpose.as_str(), p.user.id);
            if limits::hit(app, &[(Counter::MailAccount, subject.as_str())], now).await? {
                Outcome::Throttled
            } else {
                entry.detail = serde_json::json!({ "outcome": Outcome::Sent.as_str() });
                let office = p.office.as_ref().map(|o| o.name.as_str());
                let (token, mail) = provision::link_mail(
                    app,
                    purpose,
                    p.user.id,
                    &p.user.name,
                    &p.user.email,
                    office,
                    now,
                )
                .map_err(PageError::internal)?;
                tokens::issue(&app.db, &token, &mail, &entry, now).await?;
                app.mail_wake.notify_one();
                return Ok(Outcome::Sent);
            }
        }
    };
    entry.detail = serde_json::json!({ "outcome": outcome.as_str() });
    audit::record(&app.db, &entry, now).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{Office, Role, User};
    use uuid::Uuid;

    fn office(kind: OfficeKind, number: &str, parent: Option<Uuid>) -> Office {
        Office {
            id: Uuid::now_v7(),
            kind,
            parent_id: parent,
            number: number.into(),
            name: "Kantoor".into(),
            email: Email::parse(&format!("kantoor{number}@x.nl")).unwrap(),
            rights: Default::default(),
            allow_sub_offices: true,
            active: true,
        }
    }

    fn user(office: &Office, role: Role) -> User {
        User {
            id: Uuid::now_v7(),
            office_id: Some(office.id),
            role,
            name: "Ilse".into(),
            email: Email::parse("ilse@x.nl").unwrap(),
            rights: Default::default(),
            active: true,
            activated: false,
        }
    }

    #[test]
    fn a3_matches_users_of_the_head_offices_tree_that_are_not_activated() {
        let n = |s: &str| AdvisorNumber::parse(s).unwrap();
        let head = office(OfficeKind::HeadOffice, "12345", None);
        let sub = office(OfficeKind::SubOffice, "7", Some(head.id));
        let main = Principal {
            user: user(&head, Role::MainUser),
            office: Some(head.clone()),
            head_office: None,
        };
        let employee = Principal {
            user: user(&head, Role::Employee),
            ..main.clone()
        };
        let sub_user = Principal {
            user: user(&sub, Role::MainUser),
            office: Some(sub.clone()),
            head_office: Some(head.clone()),
        };
        for p in [&main, &employee, &sub_user] {
            assert!(may_request_activation(p, &n("12345")));
            assert!(!may_request_activation(p, &n("67890")), "another office");
            assert!(!may_request_reset(p), "not activated yet");
        }
        assert!(
            !may_request_activation(&sub_user, &n("7")),
            "the sub-office's own number is no advisor number"
        );
        let mut activated = main.clone();
        activated.user.activated = true;
        assert!(!may_request_activation(&activated, &n("12345")));
        assert!(may_request_reset(&activated));
        let mut closed = sub_user.clone();
        closed.head_office.as_mut().unwrap().active = false;
        assert!(!may_request_activation(&closed, &n("12345")), "O6");
        closed.user.activated = true;
        assert!(!may_request_reset(&closed), "O6");
        let admin = Principal {
            user: User {
                office_id: None,
                role: Role::InsurerAdmin,
                ..main.user.clone()
            },
            office: None,
            head_office: None,
        };
        assert!(!may_request_activation(&admin, &n("12345")));
    }
}
