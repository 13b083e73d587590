//! Provisioning: creating head offices with their main users (O1), importing them in bulk
//! from the appointment register, adding insurer admins, and the set-up link. Each is one
//! transaction with its activation links, e-mails and audit entries.

use std::collections::HashSet;

use lettre::message::Mailbox;
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crypto::{self, CryptoError};
use crate::domain::rights::format_rights;
use crate::domain::{Email, NewHeadOffice, OfficeKind, Role, RuleError};
use crate::mail::{self, MailError};
use crate::state::Core;
use crate::store::accounts::{
    self, BatchError, NewAccount, NewOfficeRecord, NewUserRecord, Principal,
};
use crate::store::audit::AuditRecord;
use crate::store::email_changes::PendingEmail;
use crate::store::tokens::{self, NewUserToken, Purpose};
use crate::store::{Constraint, StoreError};

/// Why provisioning refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A rule of SPEC §3 refused the input.
    #[error("{0}")]
    Rule(#[from] RuleError),
    /// One row of a batch was refused; nothing was stored.
    #[error("row {index}: {error}")]
    Row {
        /// Position in the batch (0-based).
        index: usize,
        /// Why.
        error: RuleError,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mail could not be composed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A back-channel logout token could not be made.
    #[error(transparent)]
    Logout(#[from] crate::oidc::end_session::LogoutError),
}

/// The rule a unique violation stands for.
fn rule_of(constraint: &Constraint) -> Option<RuleError> {
    match constraint {
        Constraint::UserEmail => Some(RuleError::EmailInUse),
        Constraint::OfficeEmail => Some(RuleError::OfficeEmailInUse),
        Constraint::AdvisorNumber => Some(RuleError::AdvisorNumberInUse),
        Constraint::OfficeNumber => Some(RuleError::OfficeNumberInUse),
        Constraint::MainUser | Constraint::Other(_) => None,
    }
}

impl From<BatchError> for ProvisionError {
    fn from(e: BatchError) -> Self {
        match &e.error {
            StoreError::Conflict { constraint } => match rule_of(constraint) {
                Some(error) => Self::Row {
                    index: e.index,
                    error,
                },
                None => Self::Store(e.error),
            },
            _ => Self::Store(e.error),
        }
    }
}

#[derive(Serialize)]
struct LinkMail<'a> {
    name: &'a str,
    link: &'a str,
    valid_days: i64,
    valid_minutes: i64,
    office: Option<&'a str>,
}

/// A new activation (A2) or password-reset (A5) link for a user, with its mail
/// (`mail/activation.*` or `mail/reset.*`), ready to store with `tokens::issue` or inside a
/// provisioning batch.
pub fn link_mail(
    core: &Core,
    purpose: Purpose,
    user_id: Uuid,
    name: &str,
    email: &Email,
    office: Option<&str>,
    now: OffsetDateTime,
) -> Result<(NewUserToken, crate::store::outbox::NewMail), ProvisionError> {
    let token = crypto::random_token()?;
    let (path, template, ttl) = match purpose {
        Purpose::Activation => (
            "/activate/",
            "activation",
            core.settings.activation_link_ttl,
        ),
        Purpose::Reset => ("/reset/", "reset", core.settings.reset_link_ttl),
    };
    let link = core.idp_url(&format!("{path}{token}"));
    let mail = sealed_link_mail(core, template, name, email, &link, ttl, office)?;
    Ok((
        NewUserToken {
            hash: crypto::token_hash(&token),
            user_id,
            purpose,
            expires_at: now + ttl,
        },
        mail,
    ))
}

/// The sealed outbox row of `template`'s mail to `name <email>` with `link`, valid for
/// `ttl`: the one place the link mails are composed.
fn sealed_link_mail(
    core: &Core,
    template: &'static str,
    name: &str,
    email: &Email,
    link: &str,
    ttl: Duration,
    office: Option<&str>,
) -> Result<crate::store::outbox::NewMail, ProvisionError> {
    let to = Mailbox::new(
        Some(name.to_owned()),
        email.as_str().parse().map_err(MailError::from)?,
    );
    let content = mail::compose(
        &core.templates,
        template,
        to,
        LinkMail {
            name,
            link,
            valid_days: ttl.whole_days().max(1),
            valid_minutes: ttl.whole_minutes().max(1),
            office,
        },
    )?;
    Ok(mail::seal(&core.outbox, template, &content)?)
}

/// AC-10: the confirmation link for a new login e-mail, with its mail to the new address
/// (`mail/email_change.*`), ready to store with the user update that asks for it. The link
/// lives as long as an activation link.
pub fn email_change_mail(
    core: &Core,
    name: &str,
    new_email: &Email,
    requested_by: Uuid,
    now: OffsetDateTime,
) -> Result<(PendingEmail, crate::store::outbox::NewMail), ProvisionError> {
    let token = crypto::random_token()?;
    let ttl = core.settings.activation_link_ttl;
    let link = core.idp_url(&format!("/email/{token}"));
    let mail = sealed_link_mail(core, "email_change", name, new_email, &link, ttl, None)?;
    Ok((
        PendingEmail {
            new_email: new_email.as_str().to_owned(),
            token_hash: crypto::token_hash(&token),
            requested_by,
            expires_at: now + ttl,
        },
        mail,
    ))
}

/// The account batch for a head office and its main user (O1): the office e-mail is the
/// main user's login, and the activation mail goes out.
pub(crate) fn head_office_account(
    core: &Core,
    o: &NewHeadOffice,
    actor: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<NewAccount, ProvisionError> {
    let office_id = Uuid::now_v7();
    let user_id = Uuid::now_v7();
    let rights = format_rights(&o.rights, &core.registry);
    let (token, mail) = link_mail(
        core,
        Purpose::Activation,
        user_id,
        &o.name,
        &o.email,
        Some(&o.name),
        now,
    )?;
    let mut audit = AuditRecord::new("office.created");
    audit.actor_id = actor;
    audit.target_office_id = Some(office_id);
    audit.target_user_id = Some(user_id);
    audit.detail = serde_json::json!({
        "after": { "advisor_number": o.advisor_number.as_str(), "name": o.name, "email": o.email.as_str(),
                   "rights": rights, "allow_sub_offices": o.allow_sub_offices }
    });
    Ok(NewAccount {
        office: Some(NewOfficeRecord {
            id: office_id,
            kind: OfficeKind::HeadOffice,
            parent_id: None,
            advisor_number: Some(o.advisor_number.to_string()),
            number: o.advisor_number.to_string(),
            name: o.name.clone(),
            address: String::new(),
            postcode: String::new(),
            city: String::new(),
            phone: String::new(),
            email: o.email.to_string(),
            rights: rights.clone(),
            allow_sub_offices: o.allow_sub_offices,
        }),
        user: NewUserRecord {
            id: user_id,
            office_id: Some(office_id),
            role: Role::MainUser,
            name: o.name.clone(),
            email: o.email.to_string(),
            rights,
            password_hash: None,
        },
        token: Some(token),
        mail: Some(mail),
        audit,
    })
}

/// O1: creates a head office with its main user and sends the activation mail.
pub async fn add_head_office(
    core: &Core,
    office: &NewHeadOffice,
    actor: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Uuid, ProvisionError> {
    add_head_office_from(core, office, actor, None, now).await
}

/// As [`add_head_office`], asked for from `ip` (the admin API), which the audit entry
/// records.
pub async fn add_head_office_from(
    core: &Core,
    office: &NewHeadOffice,
    actor: Option<Uuid>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Uuid, ProvisionError> {
    let mut account = head_office_account(core, office, actor, now)?;
    account.audit.ip = ip;
    let office_id = account.office.as_ref().map(|o| o.id).unwrap_or_default();
    accounts::provision(&core.db, std::slice::from_ref(&account), now)
        .await
        .map_err(|e| match ProvisionError::from(e) {
            ProvisionError::Row { error, .. } => ProvisionError::Rule(error),
            other => other,
        })?;
    core.mail_wake.notify_one();
    Ok(office_id)
}

/// Checks a batch for duplicates among its own rows (O1, O3, U3), before the database sees
/// it: the first row that repeats an advisor number or an e-mail is reported.
pub fn check_batch(offices: &[NewHeadOffice]) -> Result<(), ProvisionError> {
    let mut numbers = HashSet::new();
    let mut emails = HashSet::new();
    for (index, o) in offices.iter().enumerate() {
        if !numbers.insert(o.advisor_number.as_str()) {
            return Err(ProvisionError::Row {
                index,
                error: RuleError::AdvisorNumberInUse,
            });
        }
        if !emails.insert(o.email.as_str()) {
            return Err(ProvisionError::Row {
                index,
                error: RuleError::EmailInUse,
            });
        }
    }
    Ok(())
}

/// Imports head offices all-or-nothing. `progress` is called as rows are prepared.
pub async fn import_head_offices(
    core: &Core,
    offices: &[NewHeadOffice],
    actor: Option<Uuid>,
    now: OffsetDateTime,
    progress: &dyn Fn(usize),
) -> Result<usize, ProvisionError> {
    check_batch(offices)?;
    let mut batch = Vec::with_capacity(offices.len());
    for (i, o) in offices.iter().enumerate() {
        batch.push(head_office_account(core, o, actor, now)?);
        progress(i + 1);
    }
    accounts::provision(&core.db, &batch, now).await?;
    core.mail_wake.notify_one();
    Ok(batch.len())
}

/// Adds an insurer admin (U1: no office) who activates by the mailed link.
pub async fn add_insurer_admin(
    core: &Core,
    name: &str,
    email: &str,
    actor: Option<Uuid>,
    now: OffsetDateTime,
) -> Result<Uuid, ProvisionError> {
    let name = crate::domain::parse_name(name)?;
    let email = Email::parse(email)?;
    let id = Uuid::now_v7();
    let (token, mail) = link_mail(core, Purpose::Activation, id, &name, &email, None, now)?;
    let mut audit = AuditRecord::new("insurer_admin.created");
    audit.actor_id = actor;
    audit.target_user_id = Some(id);
    let account = NewAccount {
        office: None,
        user: NewUserRecord {
            id,
            office_id: None,
            role: Role::InsurerAdmin,
            name,
            email: email.to_string(),
            rights: String::new(),
            password_hash: None,
        },
        token: Some(token),
        mail: Some(mail),
        audit,
    };
    accounts::provision(&core.db, std::slice::from_ref(&account), now)
        .await
        .map_err(|e| match ProvisionError::from(e) {
            ProvisionError::Row { error, .. } => ProvisionError::Rule(error),
            other => other,
        })?;
    core.mail_wake.notify_one();
    Ok(id)
}

/// On a portal without any insurer admin: a fresh one-time link (valid one day) that
/// creates the first one. `None` once an insurer admin exists.
pub async fn setup_link(
    core: &Core,
    now: OffsetDateTime,
) -> Result<Option<String>, ProvisionError> {
    if accounts::has_insurer_admin(&core.db).await? {
        return Ok(None);
    }
    let token = crypto::random_token()?;
    tokens::new_setup_link(
        &core.db,
        &crypto::token_hash(&token),
        now,
        now + Duration::days(1),
    )
    .await?;
    Ok(Some(core.idp_url(&format!("/setup/{token}"))))
}

/// The `act` of a refused 2FA reset in the audit log.
const RESET_ACT: &str = "reset_second_factors";
/// The `act` of a refused "end every session" in the audit log.
const END_SESSIONS_ACT: &str = "end_sessions";

/// Whether `actor` may reset the factors of, or end the sessions of, `target` (F3,
/// SECURITY AC-07): a main user the users of its office tree, an insurer admin anyone but
/// another insurer admin (`domain::factor::may_reset`).
fn may_act_on(actor: &Principal, target: &Principal) -> bool {
    use crate::domain::factor::{self, Actor, Target};
    factor::may_reset(
        &Actor {
            id: actor.user.id,
            role: actor.user.role,
            office_id: actor.user.office_id,
        },
        &Target {
            id: target.user.id,
            role: target.user.role,
            office_id: target.user.office_id,
            head_office_id: target.head_office.as_ref().map(|h| h.id),
        },
    )
}

/// The result of an administrator's request to end someone's sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsEnded {
    /// Done: this many sessions were live; they, their tokens and codes have ended and
    /// their relying parties are told; audited.
    Done(u64),
    /// The actor may not act on this user (AC-07); nothing changed, the refusal audited.
    Forbidden,
    /// No such user.
    NoSuchUser,
}

/// SECURITY SE-06: `actor` (a main user or insurer admin, as for a 2FA reset) ends every
/// session of `target` at once, e.g. for a lost laptop: the sessions, their grants and
/// unredeemed codes end in one transaction with the audit entry (`user.sessions_ended`)
/// and the back-channel logout deliveries to the relying parties that hold one (O6).
/// The user's password and factors are left as they are.
pub async fn end_sessions(
    core: &Core,
    actor: &Principal,
    target: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<SessionsEnded, ProvisionError> {
    let Some(t) = accounts::principal(&core.db, target, &core.registry).await? else {
        refusal_audited(
            core,
            Some(actor),
            target,
            END_SESSIONS_ACT,
            "not_found",
            ip,
            now,
        )
        .await?;
        return Ok(SessionsEnded::NoSuchUser);
    };
    if !may_act_on(actor, &t) {
        refusal_audited(
            core,
            Some(actor),
            target,
            END_SESSIONS_ACT,
            "forbidden",
            ip,
            now,
        )
        .await?;
        return Ok(SessionsEnded::Forbidden);
    }
    let mut entry = AuditRecord::new("user.sessions_ended");
    entry.actor_id = Some(actor.user.id);
    entry.target_user_id = Some(t.user.id);
    entry.target_office_id = t.user.office_id;
    entry.ip = ip;
    entry.detail = serde_json::json!({ "via": "admin" });
    let targets = crate::store::grants::logout_targets_of_user(&core.db, t.user.id).await?;
    let mails = crate::oidc::end_session::logout_deliveries(core, &targets, now)?;
    let live =
        crate::store::factors::end_all_sessions(&core.db, t.user.id, &entry, &mails, now).await?;
    core.mail_wake.notify_one();
    Ok(SessionsEnded::Done(live))
}

/// The result of a request to reset someone's second factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorReset {
    /// Done: factors gone, sessions and tokens ended, audited, owner notified.
    Done,
    /// The actor may not reset this user's factors (F3, AC-07); nothing changed.
    Forbidden,
    /// No such user.
    NoSuchUser,
}

/// SECURITY AC-01: an admin's refused 2FA reset is audited like every other refused admin
/// action (`admin.denied`, as idp::manage writes them); the operator at the command line
/// (no actor) is not an admin action.
async fn refusal_audited(
    core: &Core,
    actor: Option<&Principal>,
    target: Uuid,
    act: &str,
    answer: &str,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ProvisionError> {
    let Some(actor) = actor else {
        return Ok(());
    };
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(actor.user.id);
    entry.target_user_id = Some(target);
    entry.ip = ip;
    entry.detail = serde_json::json!({ "act": act, "answer": answer });
    crate::store::audit::record(&core.db, &entry, now).await?;
    Ok(())
}

/// F3, MF-07: resets `target`'s second factors. `actor` is the main user or insurer admin
/// asking (checked with `domain::factor::may_reset`), or `None` for the server's operator
/// on the command line. The user's app, recovery codes and passkeys are removed, every
/// session and token ends, the act is audited and the user gets a notice; at the next
/// sign-in the user enrols again.
pub async fn reset_second_factors(
    core: &Core,
    actor: Option<&Principal>,
    target: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<FactorReset, ProvisionError> {
    let Some(t) = accounts::principal(&core.db, target, &core.registry).await? else {
        refusal_audited(core, actor, target, RESET_ACT, "not_found", ip, now).await?;
        return Ok(FactorReset::NoSuchUser);
    };
    if let Some(a) = actor
        && !may_act_on(a, &t)
    {
        refusal_audited(core, actor, target, RESET_ACT, "forbidden", ip, now).await?;
        return Ok(FactorReset::Forbidden);
    }
    let before = crate::store::factors::summary(&core.db, target).await?;
    let mut entry = AuditRecord::new("mfa.reset");
    entry.actor_id = actor.map(|a| a.user.id);
    entry.target_user_id = Some(t.user.id);
    entry.target_office_id = t.user.office_id;
    entry.ip = ip;
    entry.detail = serde_json::json!({
        "via": if actor.is_some() { "admin" } else { "cli" },
        "before": { "totp": before.totp, "passkeys": before.passkeys.len(), "recovery_codes": before.recovery_left },
        "after": { "totp": false, "passkeys": 0, "recovery_codes": 0 },
    });
    let mail = crate::login::notice::mail(
        core,
        &t.user.name,
        &t.user.email,
        crate::login::notice::Change::FactorsReset,
        now,
    )?;
    // Every session ends: the relying parties that hold one are told (back-channel logout,
    // O6), in the same transaction.
    let targets = crate::store::grants::logout_targets_of_user(&core.db, t.user.id).await?;
    let mut mails = vec![mail];
    mails.extend(crate::oidc::end_session::logout_deliveries(
        core, &targets, now,
    )?);
    crate::store::factors::reset(&core.db, t.user.id, &entry, &mails, now).await?;
    core.mail_wake.notify_one();
    Ok(FactorReset::Done)
}
