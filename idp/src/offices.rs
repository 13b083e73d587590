//! Managing offices (issue 6; SPEC O1–O7, L1): the flows behind the admin API's office
//! routes. Each asks `domain::office_admin` who may do what, checks the input with the
//! domain's parsers, and stores the change with its audit entry, mails and back-channel
//! logouts in one transaction. No HTTP here: the API maps [`ManageError`] to problems in
//! one place (`api::problem`).

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::approvals::{self, Gate, Hold};
use crate::domain::manage::{self, Access, Actor, OfficeOf, Scope, check_rights};
use crate::domain::office::{
    AdvisorNumber, parse_address, parse_city, parse_office_number, parse_phone, parse_postcode,
};
use crate::domain::office_admin::{
    OfficeAct, OfficeChangeAsked, OfficeTarget, check_add_sub_office, check_delete,
    check_office_change, decide_office, may_add_head_office,
};
use crate::domain::rights::format_rights;
use crate::domain::{Email, NewHeadOffice, OfficeKind, Rights, Role, RuleError, parse_name};
use crate::events::{self, Subject};
use crate::manage::{Field, ManageError, actor_of, invalid, parse_rights, rights_json};
use crate::oidc::end_session::logout_deliveries;
use crate::provision::{self, ProvisionError};
use crate::quotes::{self, QuoteAnswer};
use crate::state::Core;
use crate::store::accounts::{self, NewAccount, NewOfficeRecord, NewUserRecord, Principal};
use crate::store::approvals::Kind;
use crate::store::audit::{self, AuditRecord};
use crate::store::offices::{self, OfficeFilter, OfficeUpdate, OfficeView, Outcome};
use crate::store::tokens::Purpose;
use crate::store::users::{Page, Paged};
use crate::store::{Constraint, StoreError, grants};

/// The rule's view of an office.
pub fn office_target(v: &OfficeView) -> OfficeTarget {
    OfficeTarget {
        id: v.id,
        kind: v.kind,
        parent_id: v.parent_id,
        allow_sub_offices: v.allow_sub_offices,
    }
}

/// A unique value taken, as the field it is about.
fn taken(e: StoreError) -> ManageError {
    let (field, error) = match &e {
        StoreError::Conflict { constraint } => match constraint {
            Constraint::UserEmail => (Field::Email, RuleError::EmailInUse),
            Constraint::OfficeEmail => (Field::Email, RuleError::OfficeEmailInUse),
            Constraint::AdvisorNumber => (Field::AdvisorNumber, RuleError::AdvisorNumberInUse),
            Constraint::OfficeNumber => (Field::Number, RuleError::OfficeNumberInUse),
            Constraint::MainUser | Constraint::Other(_) => return ManageError::Store(e),
        },
        _ => return ManageError::Store(e),
    };
    ManageError::Taken { field, error }
}

/// Records a refusal on an office (SECURITY AC-01, AD-01): who, which id, which act.
async fn deny(
    core: &Core,
    actor: &Actor,
    office_id: Option<Uuid>,
    act: OfficeAct,
    hidden: bool,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), ManageError> {
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(actor.id);
    entry.target_office_id = office_id;
    entry.ip = ip.map(str::to_owned);
    entry.detail =
        json!({ "act": act.as_str(), "answer": if hidden { "not_found" } else { "forbidden" } });
    audit::record(&core.db, &entry, now).await?;
    Ok(())
}

/// The office `id` if the caller may do `act` to it; a refusal is audited with the id
/// asked for, whether or not such an office exists.
async fn target(
    core: &Core,
    actor: &Actor,
    id: Uuid,
    act: OfficeAct,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
    let found = offices::get(&core.db, manage::scope(actor), id, &core.registry).await?;
    let access = match &found {
        Some(v) => decide_office(actor, &office_target(v), act),
        None => Access::Hidden,
    };
    if let (Some(v), Access::Allowed) = (found, access) {
        return Ok(v);
    }
    let hidden = access == Access::Hidden;
    deny(core, actor, Some(id), act, hidden, ip, now).await?;
    Err(if hidden {
        ManageError::OfficeNotFound
    } else {
        ManageError::OfficeForbidden
    })
}

/// The offices the caller manages, filtered.
pub async fn list(
    core: &Core,
    caller: &Principal,
    filter: &OfficeFilter,
    page: Page,
) -> Result<Paged<OfficeView>, ManageError> {
    let scope = manage::scope(&actor_of(caller));
    Ok(offices::list(&core.db, scope, filter, page, &core.registry).await?)
}

/// One office the caller manages.
pub async fn get(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
    target(core, &actor_of(caller), id, OfficeAct::View, ip, now).await
}

async fn reread(core: &Core, id: Uuid) -> Result<OfficeView, ManageError> {
    offices::get(&core.db, Scope::Everyone, id, &core.registry)
        .await?
        .ok_or(ManageError::OfficeNotFound)
}

/// A head office as asked for (O1).
#[derive(Debug, Clone)]
pub struct NewHead {
    /// Adviseursnummer.
    pub advisor_number: String,
    /// Naam.
    pub name: String,
    /// Office e-mail, also its main user's login.
    pub email: String,
    /// The appointment's right codes.
    pub rights: Vec<String>,
    /// O2.
    pub allow_sub_offices: bool,
}

/// O1: the insurer creates a head office with its main user and activation mail (one
/// transaction, `provision::add_head_office`).
pub async fn create_head_office(
    core: &Core,
    caller: &Principal,
    input: &NewHead,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
    let actor = actor_of(caller);
    if !may_add_head_office(&actor) {
        deny(
            core,
            &actor,
            None,
            OfficeAct::AddHeadOffice,
            false,
            ip.as_deref(),
            now,
        )
        .await?;
        return Err(ManageError::OfficeForbidden);
    }
    let office = NewHeadOffice {
        advisor_number: AdvisorNumber::parse(&input.advisor_number)
            .map_err(invalid(Field::AdvisorNumber))?,
        name: parse_name(&input.name).map_err(invalid(Field::Name))?,
        email: Email::parse(&input.email).map_err(invalid(Field::Email))?,
        rights: parse_rights(&input.rights, &core.registry)?,
        allow_sub_offices: input.allow_sub_offices,
    };
    // Four-eyes (issue 10): what a change would have to wait for cannot be had by creating
    // the office with it (the rights field names both kinds).
    let held = approvals::office_kinds(
        core,
        false,
        office.allow_sub_offices,
        &Rights::new(),
        &office.rights,
    );
    if !held.is_empty() {
        return Err(invalid(Field::Rights)(RuleError::SecondApproverNeeded(
            held.join(", "),
        )));
    }
    let id = provision::add_head_office_from(core, &office, Some(actor.id), ip, now)
        .await
        .map_err(|e| match e {
            ProvisionError::Rule(RuleError::AdvisorNumberInUse) => ManageError::Taken {
                field: Field::AdvisorNumber,
                error: RuleError::AdvisorNumberInUse,
            },
            ProvisionError::Rule(error @ (RuleError::EmailInUse | RuleError::OfficeEmailInUse)) => {
                ManageError::Taken {
                    field: Field::Email,
                    error,
                }
            }
            other => ManageError::Provision(other),
        })?;
    reread(core, id).await
}

/// A sub-office as asked for: the fields of "Nieuw subkantoor aanmaken" (O3); the
/// Hoofdkantoor is the office it is created under.
#[derive(Debug, Clone)]
pub struct NewSub {
    /// Naam.
    pub name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// Telefoon.
    pub phone: String,
    /// E-mailadres: unique office e-mail, the main user's login (O5).
    pub email: String,
    /// Nummer: unique within the head office.
    pub number: String,
    /// Rechten.
    pub rights: Vec<String>,
    /// "Zend e-mail met activatielink naar subkantoor".
    pub send_activation: bool,
}

/// O2–O5: creates a sub-office under head office `head_id` with its main user (the office
/// e-mail as login) and, if asked, the activation mail, in one transaction with the audit
/// entry. Rights lie within the head office's and never include a product that
/// sub-offices may not hold (ORV).
pub async fn create_sub_office(
    core: &Core,
    caller: &Principal,
    head_id: Uuid,
    input: &NewSub,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
    let actor = actor_of(caller);
    let head = target(
        core,
        &actor,
        head_id,
        OfficeAct::AddSubOffice,
        ip.as_deref(),
        now,
    )
    .await?;
    check_add_sub_office(&office_target(&head))?;
    let name = parse_name(&input.name).map_err(invalid(Field::Name))?;
    let address = parse_address(&input.address).map_err(invalid(Field::Address))?;
    let postcode = parse_postcode(&input.postcode).map_err(invalid(Field::Postcode))?;
    let city = parse_city(&input.city).map_err(invalid(Field::City))?;
    let phone = parse_phone(&input.phone).map_err(invalid(Field::Phone))?;
    let email = Email::parse(&input.email).map_err(invalid(Field::Email))?;
    let number = parse_office_number(&input.number).map_err(invalid(Field::Number))?;
    let rights = parse_rights(&input.rights, &core.registry)?;
    check_rights(
        &rights,
        OfficeOf {
            kind: OfficeKind::SubOffice,
            rights: &rights,
            head_rights: Some(&head.rights),
        },
        &core.registry,
    )
    .map_err(invalid(Field::Rights))?;

    let office_id = Uuid::now_v7();
    let user_id = Uuid::now_v7();
    let stored_rights = format_rights(&rights, &core.registry);
    let (token, mail) = if input.send_activation {
        let (t, m) = provision::link_mail(
            core,
            Purpose::Activation,
            user_id,
            &name,
            &email,
            Some(&name),
            now,
        )?;
        (Some(t), Some(m))
    } else {
        (None, None)
    };
    let mut audit = AuditRecord::new("office.created");
    audit.actor_id = Some(actor.id);
    audit.target_office_id = Some(office_id);
    audit.target_user_id = Some(user_id);
    audit.ip = ip;
    audit.detail = json!({
        "after": { "kind": OfficeKind::SubOffice.as_str(), "parent_id": head.id, "number": number,
                   "name": name, "address": address, "postcode": postcode, "city": city,
                   "phone": phone, "email": email.as_str(),
                   "rights": rights_json(&rights, &core.registry), "active": true },
        "main_user": { "id": user_id, "email": email.as_str() },
        "activation_mail": input.send_activation,
    });
    let account = NewAccount {
        office: Some(NewOfficeRecord {
            id: office_id,
            kind: OfficeKind::SubOffice,
            parent_id: Some(head.id),
            advisor_number: None,
            number,
            name: name.clone(),
            address,
            postcode,
            city,
            phone,
            email: email.to_string(),
            rights: stored_rights.clone(),
            allow_sub_offices: false,
        }),
        user: NewUserRecord {
            id: user_id,
            office_id: Some(office_id),
            role: Role::MainUser,
            name,
            email: email.to_string(),
            rights: stored_rights,
            password_hash: None,
        },
        token,
        mail,
        audit,
    };
    accounts::provision(&core.db, std::slice::from_ref(&account), now)
        .await
        .map_err(|e| taken(e.error))?;
    if input.send_activation {
        core.mail_wake.notify_one();
    }
    reread(core, office_id).await
}

/// A change as asked for; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OfficeChange {
    /// Naam.
    pub name: Option<String>,
    /// Adres.
    pub address: Option<String>,
    /// Postcode.
    pub postcode: Option<String>,
    /// Plaats.
    pub city: Option<String>,
    /// Telefoon.
    pub phone: Option<String>,
    /// Rechten, the whole new set.
    pub rights: Option<Vec<String>>,
    /// O2.
    pub allow_sub_offices: Option<bool>,
    /// O6.
    pub active: Option<bool>,
}

/// Parses an optional field, or keeps the current value.
fn field_or(
    new: Option<&String>,
    current: &str,
    parse: fn(&str) -> Result<String, RuleError>,
    field: Field,
) -> Result<String, ManageError> {
    match new {
        Some(v) => parse(v).map_err(invalid(field)),
        None => Ok(current.to_owned()),
    }
}

/// O1–O6: changes an office made from `version`. Contact data: whoever may edit it;
/// rights: the insurer (head offices) or the head office (its sub-offices, within its own
/// rights, never ORV); allowing sub-offices: the insurer; active: not one's own office.
/// Deactivating ends every session and grant of the office's users and, for a head
/// office, of its sub-offices' users, and queues the back-channel logouts, in the same
/// transaction (O6). A change that changes nothing stores nothing. A change that
/// `PORTAL_FOUR_EYES` lists waits for a second approver (`ManageError::Waiting`, issue 10).
pub async fn update(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    version: i64,
    change: &OfficeChange,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
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
    change: &OfficeChange,
    gate: Gate<'_>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<OfficeView, ManageError> {
    let actor = actor_of(caller);
    let view = target(core, &actor, id, OfficeAct::Edit, ip.as_deref(), now).await?;
    if view.version != version {
        return Err(ManageError::OfficeStale);
    }
    let registry = &core.registry;
    let name = field_or(change.name.as_ref(), &view.name, parse_name, Field::Name)?;
    let address = field_or(
        change.address.as_ref(),
        &view.address,
        parse_address,
        Field::Address,
    )?;
    let postcode = field_or(
        change.postcode.as_ref(),
        &view.postcode,
        parse_postcode,
        Field::Postcode,
    )?;
    let city = field_or(change.city.as_ref(), &view.city, parse_city, Field::City)?;
    let phone = field_or(
        change.phone.as_ref(),
        &view.phone,
        parse_phone,
        Field::Phone,
    )?;
    let rights = match &change.rights {
        Some(r) => parse_rights(r, registry)?,
        None => view.rights.clone(),
    };
    let allow = change.allow_sub_offices.unwrap_or(view.allow_sub_offices);
    let active = change.active.unwrap_or(view.active);
    let target_rule = office_target(&view);
    check_office_change(
        &actor,
        &target_rule,
        OfficeChangeAsked {
            rights: rights != view.rights,
            allow_sub_offices: allow != view.allow_sub_offices,
            active: active != view.active,
        },
    )?;
    if rights != view.rights
        && let Some(parent) = view.parent_id
    {
        let head = reread(core, parent).await?;
        check_rights(
            &rights,
            OfficeOf {
                kind: OfficeKind::SubOffice,
                rights: &rights,
                head_rights: Some(&head.rights),
            },
            registry,
        )
        .map_err(invalid(Field::Rights))?;
    }

    let mut old = serde_json::Map::new();
    let mut new = serde_json::Map::new();
    for (key, before, after) in [
        ("name", &view.name, &name),
        ("address", &view.address, &address),
        ("postcode", &view.postcode, &postcode),
        ("city", &view.city, &city),
        ("phone", &view.phone, &phone),
    ] {
        if before != after {
            old.insert(key.into(), json!(before));
            new.insert(key.into(), json!(after));
        }
    }
    if rights != view.rights {
        old.insert("rights".into(), json!(rights_json(&view.rights, registry)));
        new.insert("rights".into(), json!(rights_json(&rights, registry)));
    }
    if allow != view.allow_sub_offices {
        old.insert("allow_sub_offices".into(), json!(view.allow_sub_offices));
        new.insert("allow_sub_offices".into(), json!(allow));
    }
    if active != view.active {
        old.insert("active".into(), json!(view.active));
        new.insert("active".into(), json!(active));
    }
    // Four-eyes (issue 10): a listed change, checked as above, waits for a second approver.
    let wants = approvals::office_kinds(core, view.allow_sub_offices, allow, &view.rights, &rights);
    if gate.holds() && !wants.is_empty() {
        let hold = Hold {
            kind: Kind::Office,
            target_id: id,
            target_office_id: Some(id),
            version,
            request: approvals::office_request(change),
            wants,
            before: &old,
            after: &new,
        };
        return Err(approvals::hold(core, &actor, hold, ip, now).await);
    }
    if new.is_empty() {
        return Ok(view);
    }
    let deactivate = view.active && !active;
    // A right taken from the office (the appointment, or what a head office gives its
    // sub-office) reaches its people's portal sessions (P1, O6, issue 10): a portal with an
    // event stream is told each person's new rights, or that the sessions are revoked; one
    // without a stream has the sessions ended, and the next request signs in again with
    // the narrowed rights. A deactivation ends the idp sessions too: every portal is told.
    let mut mails = Vec::new();
    if deactivate || rights != view.rights {
        mails.push(events::queue(&core.outbox, Subject::Office(id), now)?);
    }
    let narrowed = !view.rights.is_subset(&rights);
    if deactivate || narrowed {
        let mut targets = grants::logout_targets_of_office(&core.db, id).await?;
        if !deactivate {
            targets = events::without_streams(&core.db, targets).await?;
        }
        mails.extend(logout_deliveries(core, &targets, now)?);
    }
    let mut audit = AuditRecord::new("office.updated");
    audit.actor_id = Some(actor.id);
    audit.target_office_id = Some(id);
    audit.ip = ip;
    audit.detail = json!({ "before": old, "after": new });
    let stored_rights = format_rights(&rights, registry);
    let outcome = offices::update(
        &core.db,
        &OfficeUpdate {
            id,
            expected_version: version,
            name: &name,
            address: &address,
            postcode: &postcode,
            city: &city,
            phone: &phone,
            rights: &stored_rights,
            allow_sub_offices: allow,
            active,
            end_sessions: deactivate,
            mails: &mails,
            audit: &audit,
            decision: gate.decision(),
        },
        now,
    )
    .await?;
    if outcome == Outcome::Stale {
        return Err(ManageError::OfficeStale);
    }
    if !mails.is_empty() {
        core.mail_wake.notify_one();
    }
    reread(core, id).await
}

/// O7: deletes a sub-office made from `version`, if no product holds a quote of it. Every
/// product is asked (`Core::quote_checks`); "yes" from any refuses the deletion, and so
/// does a product that cannot answer (fail closed). The office's users go with it, their
/// sessions end (with back-channel logouts); audit entries stay.
pub async fn delete(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    version: i64,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ManageError> {
    let actor = actor_of(caller);
    let view = target(core, &actor, id, OfficeAct::Delete, ip.as_deref(), now).await?;
    check_delete(&office_target(&view))?;
    if view.version != version {
        return Err(ManageError::OfficeStale);
    }
    match quotes::ask(&core.quote_checks(), id).await {
        QuoteAnswer::None => {}
        QuoteAnswer::Held(products) => return Err(ManageError::HasQuotes(products)),
        QuoteAnswer::Unknown(products) => return Err(ManageError::QuotesUnknown(products)),
    }
    let targets = grants::logout_targets_of_office(&core.db, id).await?;
    let mails = logout_deliveries(core, &targets, now)?;
    let mut audit = AuditRecord::new("office.deleted");
    audit.actor_id = Some(actor.id);
    audit.target_office_id = Some(id);
    audit.ip = ip;
    audit.detail = json!({
        "before": { "kind": view.kind.as_str(), "parent_id": view.parent_id, "number": view.number,
                    "name": view.name, "email": view.email,
                    "rights": rights_json(&view.rights, &core.registry), "active": view.active },
    });
    let outcome = offices::delete_sub_office(&core.db, id, version, &mails, &audit, now).await?;
    if outcome == Outcome::Stale {
        return Err(ManageError::OfficeStale);
    }
    if !mails.is_empty() {
        core.mail_wake.notify_one();
    }
    Ok(())
}
