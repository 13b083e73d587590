//! Managing users (issue 6; SPEC U1–U5, A4, O6, L1): the flows behind the admin API's user
//! routes. Each asks `domain::manage` who may do what, checks the input with the domain's
//! parsers, and stores the change with its audit entry and e-mails in one transaction
//! (the `store` functions). No HTTP here: the API maps [`ManageError`] to problems in one
//! place (`api::problem`).

use product_registry::Registry;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::approvals::{self, Gate, Hold};
use crate::domain::manage::{
    self, Access, Act, Actor, ChangeRefused, OfficeOf, Scope, Target, check_change, decide,
};
use crate::domain::office_admin::OfficeRefused;
use crate::domain::rights::format_rights;
use crate::domain::{Email, Rights, Role, RuleError, parse_name};
use crate::events::{self, Subject};
use crate::login::notice::{self, Change};
use crate::mail::MailError;
use crate::oidc::end_session::{LogoutError, logout_deliveries};
use crate::provision::{self, ProvisionError};
use crate::state::Core;
use crate::store::accounts::{self, NewAccount, NewUserRecord, Principal};
use crate::store::approvals::Kind;
use crate::store::audit::{self, AuditRecord};
use crate::store::email_changes;
use crate::store::tokens::{self, Purpose};
use crate::store::users::{self, Filter, Page, Paged, Updated, UserUpdate, UserView};
use crate::store::{Constraint, StoreError, grants};

/// A field of a user, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `name`.
    Name,
    /// `email`.
    Email,
    /// `rights`.
    Rights,
    /// `office_id`.
    OfficeId,
    /// `advisor_number` (a head office, O1).
    AdvisorNumber,
    /// `number` (a sub-office's own number, O3).
    Number,
    /// `address`.
    Address,
    /// `postcode`.
    Postcode,
    /// `city`.
    City,
    /// `phone`.
    Phone,
}

impl Field {
    /// The name in the API's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Email => "email",
            Self::Rights => "rights",
            Self::OfficeId => "office_id",
            Self::AdvisorNumber => "advisor_number",
            Self::Number => "number",
            Self::Address => "address",
            Self::Postcode => "postcode",
            Self::City => "city",
            Self::Phone => "phone",
        }
    }
}

/// Why a user could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// No such user, or one outside the caller's scope (SECURITY AC-01: the same answer).
    #[error("no such user")]
    NotFound,
    /// The act needs a sign-in within the last five minutes (SECURITY AC-08).
    #[error("a recent sign-in is required")]
    StepUpRequired,
    /// The caller sees the user but may not do this to it.
    #[error("not allowed")]
    Refused,
    /// A field's value breaks a rule (U3 aside).
    #[error("{}: {error}", field.as_str())]
    Invalid {
        /// Which field.
        field: Field,
        /// Why.
        error: RuleError,
    },
    /// A change no actor may make (U5, U4).
    #[error(transparent)]
    Change(#[from] ChangeRefused),
    /// No such office, or one outside the caller's scope (AC-01: the same answer).
    #[error("no such office")]
    OfficeNotFound,
    /// The caller sees the office but may not do this to it.
    #[error("not allowed on this office")]
    OfficeForbidden,
    /// The office changed since the version the caller saw; nothing was stored.
    #[error("stale office version")]
    OfficeStale,
    /// A change to an office that is refused (O1, O2, O5, U5).
    #[error(transparent)]
    Office(#[from] OfficeRefused),
    /// O1, O3, U3: a unique value (advisor number, office number, e-mail) is taken;
    /// nothing was stored.
    #[error("{}: {error}", field.as_str())]
    Taken {
        /// Which field.
        field: Field,
        /// Which rule.
        error: RuleError,
    },
    /// O7: a product holds quotes of the office; nothing was deleted.
    #[error("the office holds quotes in {0:?}")]
    HasQuotes(Vec<String>),
    /// O7: a product could not say whether the office holds quotes; nothing was deleted
    /// (fail closed).
    #[error("no answer about quotes from {0:?}")]
    QuotesUnknown(Vec<String>),
    /// An insurer admin must say in which office the user is created (U1).
    #[error("office required")]
    OfficeRequired,
    /// The office does not exist or is outside the caller's scope.
    #[error("unknown office")]
    UnknownOffice,
    /// U3: the e-mail address belongs to another user; nothing was stored.
    #[error("e-mail address in use")]
    EmailInUse,
    /// The user changed since the version the caller saw; nothing was stored.
    #[error("stale version")]
    Stale,
    /// A4: the account is activated already.
    #[error("already activated")]
    AlreadyActivated,
    /// The account is deactivated; a link would not work.
    #[error("user inactive")]
    Inactive,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mail or link could not be made.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A notice could not be composed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// A logout token could not be made.
    #[error(transparent)]
    Logout(#[from] LogoutError),
    /// Four-eyes (issue 10): the change waits for a second approver; nothing was applied.
    #[error("waiting for a second approver")]
    Waiting(Box<crate::store::approvals::Pending>),
}

pub(crate) fn invalid(field: Field) -> impl Fn(RuleError) -> ManageError {
    move |error| ManageError::Invalid { field, error }
}

fn store_error(e: StoreError) -> ManageError {
    match e {
        StoreError::Conflict {
            constraint: Constraint::UserEmail,
        } => ManageError::EmailInUse,
        other => ManageError::Store(other),
    }
}

/// The rule's view of the caller.
pub fn actor_of(p: &Principal) -> Actor {
    Actor {
        id: p.user.id,
        role: p.user.role,
        office_id: p.user.office_id,
    }
}

/// The rule's view of a user.
pub fn target_of(v: &UserView) -> Target {
    Target {
        id: v.user.id,
        role: v.user.role,
        office_id: v.user.office_id,
        head_office_id: v.office.as_ref().and_then(|o| o.parent_id),
    }
}

/// Reads each right code; an unknown one is refused by name.
pub(crate) fn parse_rights(codes: &[String], registry: &Registry) -> Result<Rights, ManageError> {
    codes
        .iter()
        .map(|c| {
            registry
                .right(c.trim())
                .map_err(|_| RuleError::UnknownRight(c.clone()))
        })
        .collect::<Result<Rights, RuleError>>()
        .map_err(invalid(Field::Rights))
}

pub(crate) fn rights_json(rights: &Rights, registry: &Registry) -> Vec<String> {
    registry
        .ordered(rights)
        .into_iter()
        .map(|r| r.to_string())
        .collect()
}

/// U2: the users the caller manages, filtered.
pub async fn list(
    core: &Core,
    caller: &Principal,
    filter: &Filter,
    page: Page,
) -> Result<Paged<UserView>, ManageError> {
    let scope = manage::scope(&actor_of(caller));
    Ok(users::list(&core.db, scope, filter, page, &core.registry).await?)
}

/// The user `id` if the caller may do `act` to it. A refusal is audited (SECURITY AC-01,
/// AD-01) with the id asked for, whether or not such a user exists.
async fn target(
    core: &Core,
    actor: &Actor,
    id: Uuid,
    act: Act,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<UserView, ManageError> {
    let found = users::get(&core.db, manage::scope(actor), id, &core.registry).await?;
    let access = match &found {
        Some(view) => decide(actor, &target_of(view), act),
        None => Access::Hidden,
    };
    if let (Some(view), Access::Allowed) = (found, access) {
        return Ok(view);
    }
    let refused = access == Access::Refused;
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(actor.id);
    entry.target_user_id = Some(id);
    entry.ip = ip.map(str::to_owned);
    entry.detail =
        json!({ "act": act.as_str(), "answer": if refused { "forbidden" } else { "not_found" } });
    audit::record(&core.db, &entry, now).await?;
    Err(if refused {
        ManageError::Refused
    } else {
        ManageError::NotFound
    })
}

/// One user the caller manages.
pub async fn get(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<UserView, ManageError> {
    target(core, &actor_of(caller), id, Act::View, ip, now).await
}

/// A new user as asked for.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Naam.
    pub name: String,
    /// E-mailadres, the login.
    pub email: String,
    /// Right codes.
    pub rights: Vec<String>,
    /// The office; the caller's own when `None`.
    pub office_id: Option<Uuid>,
}

/// U2 "Nieuwe gebruiker": creates an employee (U1: an office has one main user, made with
/// the office) in the caller's office or one of its sub-offices (an insurer admin: the
/// office it names), with rights within the office's (U4, O4), and mails the activation
/// link (A2), all in one transaction with its audit entry.
pub async fn create(
    core: &Core,
    caller: &Principal,
    input: &NewUser,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<UserView, ManageError> {
    let actor = actor_of(caller);
    let name = parse_name(&input.name).map_err(invalid(Field::Name))?;
    let email = Email::parse(&input.email).map_err(invalid(Field::Email))?;
    let rights = parse_rights(&input.rights, &core.registry)?;
    let office_id = input
        .office_id
        .or(caller.user.office_id)
        .ok_or(ManageError::OfficeRequired)?;
    let office = accounts::office(&core.db, office_id, &core.registry)
        .await?
        .filter(|o| manage::may_create_in(&actor, o.id, o.parent_id))
        .ok_or(ManageError::UnknownOffice)?;
    // U3 also against an address that waits to become someone's login (AC-10).
    if email_changes::waiting_for_address(&core.db, email.as_str(), now)
        .await?
        .is_some()
    {
        return Err(ManageError::EmailInUse);
    }
    let head = match office.parent_id {
        Some(id) => accounts::office(&core.db, id, &core.registry).await?,
        None => None,
    };
    manage::check_rights(
        &rights,
        OfficeOf {
            kind: office.kind,
            rights: &office.rights,
            head_rights: head.as_ref().map(|h| &h.rights),
        },
        &core.registry,
    )
    .map_err(invalid(Field::Rights))?;
    // Four-eyes (issue 10): a listed right cannot be given by creating a user with it.
    let held = approvals::user_kinds(core, &Rights::new(), &rights);
    if !held.is_empty() {
        return Err(invalid(Field::Rights)(RuleError::SecondApproverNeeded(
            held.join(", "),
        )));
    }

    let id = Uuid::now_v7();
    let (token, mail) = provision::link_mail(
        core,
        Purpose::Activation,
        id,
        &name,
        &email,
        Some(&office.name),
        now,
    )?;
    let mut audit = AuditRecord::new("user.created");
    audit.actor_id = Some(actor.id);
    audit.target_user_id = Some(id);
    audit.target_office_id = Some(office.id);
    audit.ip = ip;
    audit.detail = json!({
        "after": { "name": name, "email": email.as_str(), "role": Role::Employee.as_str(),
                   "rights": rights_json(&rights, &core.registry), "office_id": office.id,
                   "active": true }
    });
    let account = NewAccount {
        office: None,
        user: NewUserRecord {
            id,
            office_id: Some(office.id),
            role: Role::Employee,
            name,
            email: email.to_string(),
            rights: format_rights(&rights, &core.registry),
            password_hash: None,
        },
        token: Some(token),
        mail: Some(mail),
        audit,
    };
    accounts::provision(&core.db, std::slice::from_ref(&account), now)
        .await
        .map_err(|e| store_error(e.error))?;
    core.mail_wake.notify_one();
    users::get(&core.db, Scope::Everyone, id, &core.registry)
        .await?
        .ok_or(ManageError::NotFound)
}

/// A change as asked for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// Naam.
    pub name: Option<String>,
    /// E-mailadres.
    pub email: Option<String>,
    /// Right codes, the whole new set.
    pub rights: Option<Vec<String>>,
    /// Actief.
    pub active: Option<bool>,
    /// Whether the caller signed in within the last five minutes: a new e-mail (a new
    /// login) needs it (SECURITY AC-08).
    pub recent_sign_in: bool,
}

/// U2: changes a user's name, e-mail, rights or active flag, made from `version`.
/// U5: nobody deactivates itself, and a main user's rights stay its office's. A new
/// e-mail is audited and the old address gets a notice (ML-05); links mailed to it stop
/// working. Deactivating ends the user's sessions and grants and tells the clients that
/// listen (back-channel logout), in the same transaction (O6, SE-05). A change that
/// changes nothing stores nothing. A change that `PORTAL_FOUR_EYES` lists waits for a
/// second approver ([`ManageError::Waiting`], issue 10).
pub async fn update(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    version: i64,
    change: &UserChange,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<UserView, ManageError> {
    update_as(core, caller, id, version, change, Gate::FourEyes, ip, now).await
}

/// [`update`], or with [`Gate::Approved`] the approved change applied as it is
/// (`approvals::approve`).
#[allow(clippy::too_many_arguments)]
pub async fn update_as(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    version: i64,
    change: &UserChange,
    gate: Gate<'_>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<UserView, ManageError> {
    let actor = actor_of(caller);
    let view = target(core, &actor, id, Act::Edit, ip.as_deref(), now).await?;
    if view.version != version {
        return Err(ManageError::Stale);
    }
    let registry = &core.registry;
    let before = &view.user;
    let name = match &change.name {
        Some(n) => parse_name(n).map_err(invalid(Field::Name))?,
        None => before.name.clone(),
    };
    let email = match &change.email {
        Some(e) => Email::parse(e).map_err(invalid(Field::Email))?,
        None => before.email.clone(),
    };
    let rights = match &change.rights {
        Some(r) => Some(parse_rights(r, registry)?),
        None => None,
    };
    let active = change.active.unwrap_or(before.active);
    let deactivate = before.active && !active;
    let office_rights = view.office.as_ref().map(|o| &o.rights);
    check_change(
        &actor,
        &target_of(&view),
        deactivate,
        rights.as_ref(),
        office_rights,
    )?;
    if let (Some(r), Some(office)) = (&rights, &view.office)
        && before.role != Role::MainUser
    {
        let head = match office.parent_id {
            Some(h) => accounts::office(&core.db, h, registry).await?,
            None => None,
        };
        manage::check_rights(
            r,
            OfficeOf {
                kind: office.kind,
                rights: &office.rights,
                head_rights: head.as_ref().map(|h| &h.rights),
            },
            registry,
        )
        .map_err(invalid(Field::Rights))?;
    }
    let rights = rights.unwrap_or_else(|| before.rights.clone());

    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    if name != before.name {
        old.insert("name".into(), json!(before.name));
        new.insert("name".into(), json!(name));
    }
    let email_changed = email != before.email;
    if email_changed && !change.recent_sign_in {
        return Err(ManageError::StepUpRequired);
    }
    // AC-10: an activated user's new address becomes the login only once its owner has
    // confirmed it through the link mailed to it; until then the old one signs in and
    // gets every link. A user not yet activated has never used the address: it changes at
    // once, and the next activation link goes to the new one (which confirms it).
    let confirm_first = email_changed && before.activated;
    if email_changed {
        if let Some(other) = accounts::user_by_email(&core.db, &email, registry).await?
            && other.id != id
        {
            return Err(ManageError::EmailInUse);
        }
        if email_changes::waiting_for_address(&core.db, email.as_str(), now)
            .await?
            .is_some_and(|other| other != id)
        {
            return Err(ManageError::EmailInUse);
        }
        old.insert("email".into(), json!(before.email.as_str()));
        let key = if confirm_first {
            "email_pending"
        } else {
            "email"
        };
        new.insert(key.into(), json!(email.as_str()));
    }
    if rights != before.rights {
        old.insert(
            "rights".into(),
            json!(rights_json(&before.rights, registry)),
        );
        new.insert("rights".into(), json!(rights_json(&rights, registry)));
    }
    if active != before.active {
        old.insert("active".into(), json!(before.active));
        new.insert("active".into(), json!(active));
    }
    // Four-eyes (issue 10): a listed change, checked as above, waits for a second approver.
    let wants = approvals::user_kinds(core, &before.rights, &rights);
    if gate.holds() && !wants.is_empty() {
        let hold = Hold {
            kind: Kind::User,
            target_id: id,
            target_office_id: before.office_id,
            version,
            request: approvals::user_request(change),
            wants,
            before: &old,
            after: &new,
        };
        return Err(approvals::hold(core, &actor, hold, ip, now).await);
    }
    if new.is_empty() {
        return Ok(view);
    }

    let mut mails = Vec::new();
    let mut pending = None;
    if email_changed {
        // ML-05: the old address learns of it (with no link that acts).
        let told = if confirm_first {
            Change::EmailChangeRequested
        } else {
            Change::EmailChanged
        };
        mails.push(notice::mail(core, &before.name, &before.email, told, now)?);
    }
    if confirm_first {
        let (p, mail) = provision::email_change_mail(core, &name, &email, actor.id, now)?;
        mails.push(mail);
        pending = Some(p);
    }
    // P1 and O6 for the portals (issue 10): a portal with an event stream is told the new
    // rights, or that the sessions are revoked, and applies it to the live session. One
    // without a stream has its session ended by a back-channel logout when a right is
    // taken away, and signs the person in again (silently, while the idp session lasts)
    // with the new rights. A deactivation ends the idp sessions too: every portal is told.
    if deactivate || rights != before.rights {
        mails.push(events::queue(&core.outbox, Subject::User(id), now)?);
    }
    let narrowed = !before.rights.is_subset(&rights);
    if deactivate || narrowed {
        let mut targets = grants::logout_targets_of_user(&core.db, id).await?;
        if !deactivate {
            targets = events::without_streams(&core.db, targets).await?;
        }
        mails.extend(logout_deliveries(core, &targets, now)?);
    }
    let mut audit = AuditRecord::new("user.updated");
    audit.actor_id = Some(actor.id);
    audit.target_user_id = Some(id);
    audit.target_office_id = before.office_id;
    audit.ip = ip;
    audit.detail = json!({ "before": old, "after": new });
    let stored_rights = format_rights(&rights, registry);
    let outcome = users::update(
        &core.db,
        &UserUpdate {
            id,
            expected_version: version,
            name: &name,
            email: if confirm_first {
                before.email.as_str()
            } else {
                email.as_str()
            },
            rights: &stored_rights,
            active,
            end_sessions: deactivate,
            void_links: email_changed && !confirm_first,
            pending_email: pending.as_ref(),
            mails: &mails,
            audit: &audit,
            decision: gate.decision(),
        },
        now,
    )
    .await
    .map_err(store_error)?;
    if outcome == Updated::Stale {
        return Err(ManageError::Stale);
    }
    if !mails.is_empty() {
        core.mail_wake.notify_one();
    }
    users::get(&core.db, Scope::Everyone, id, registry)
        .await?
        .ok_or(ManageError::NotFound)
}

/// A4: mails a new activation link to a user who has not activated yet; older links stop
/// working (A2). Audited with the caller.
pub async fn send_activation(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ManageError> {
    let actor = actor_of(caller);
    let view = target(core, &actor, id, Act::SendActivation, ip.as_deref(), now).await?;
    if view.user.activated {
        return Err(ManageError::AlreadyActivated);
    }
    if !view.user.active {
        return Err(ManageError::Inactive);
    }
    let (token, mail) = provision::link_mail(
        core,
        Purpose::Activation,
        id,
        &view.user.name,
        &view.user.email,
        view.office.as_ref().map(|o| o.name.as_str()),
        now,
    )?;
    let mut audit = AuditRecord::new("activation.sent");
    audit.actor_id = Some(actor.id);
    audit.target_user_id = Some(id);
    audit.target_office_id = view.user.office_id;
    audit.ip = ip;
    audit.detail = json!({ "via": "admin", "to": view.user.email.as_str() });
    tokens::issue(&core.db, &token, &mail, &audit, now).await?;
    core.mail_wake.notify_one();
    Ok(())
}
