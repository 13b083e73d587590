//! Four-eyes for what matters (issue 10): a change that `PORTAL_FOUR_EYES` lists is not
//! applied when it is asked for, but waits for a second insurer admin.
//!
//! - The office and user flows (`offices::update`, `manage::update`) run every check of
//!   the change first, as always; only a change that would be applied and that contains a
//!   listed kind (an office's sub-offices allowed, false → true; a listed right such as
//!   ORV added to an office's or a user's rights) is diverted here by [`hold`]. The whole
//!   request waits, its other fields too: what the requester sent is applied as one, or
//!   not at all. It is stored with its `change.requested` entry in one transaction and
//!   nothing else changes; the API answers 202 Accepted.
//! - [`approve`]: an insurer admin who is not the requester (SECURITY AC-01: a main user
//!   never approves; the requester's own approval is refused, audited and 403) applies the
//!   stored request through the same flow, with the same checks, against the version the
//!   requester saw. The decision (a conditional UPDATE: still waiting, not the requester's)
//!   and its `change.approved` entry are stored in the transaction of the change itself
//!   (`store::approvals::approve_in!`), so the change and its approval commit together or
//!   not at all, and two approvers never both apply it. A target that changed meanwhile
//!   is not overwritten: the change is marked stale (`change.stale`, 409) and must be
//!   asked for again; so is one that breaks a rule by now (the flow's answer, e.g. 422).
//! - [`reject`]: the same admins mark it rejected (`change.rejected`); nothing is applied.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::FourEyes;
use crate::domain::manage::{Actor, Scope};
use crate::domain::rights::format_rights;
use crate::domain::{Rights, Role};
use crate::events::{self, Subject};
use crate::manage::{self, ManageError, UserChange, actor_of, rights_json};
use crate::offices::{self, OfficeChange};
use crate::state::Core;
use crate::store::accounts::Principal;
use crate::store::approvals::{
    self as store, Decision, Kind, MainUserChange, NewPending, Outcome, Pending,
};
use crate::store::audit::{self, AuditRecord};
use crate::store::{Constraint, StoreError, users};

/// Whether a flow may divert a listed change (a request) or applies it (an approval).
#[derive(Debug, Clone, Copy)]
pub enum Gate<'a> {
    /// A request: a listed change waits for a second approver.
    FourEyes,
    /// An approved change: applied as it is, with its decision stored in the same
    /// transaction (`None`: no pending change to decide).
    Approved(Option<&'a Decision<'a>>),
}

impl<'a> Gate<'a> {
    /// Whether a listed change waits.
    pub fn holds(self) -> bool {
        matches!(self, Self::FourEyes)
    }

    /// The approval to store with the change.
    pub fn decision(self) -> Option<&'a Decision<'a>> {
        match self {
            Self::FourEyes => None,
            Self::Approved(d) => d,
        }
    }
}

/// Why an approval or rejection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// Only insurer admins decide (a main user never does).
    #[error("not an approver")]
    NotApprover,
    /// The requester cannot decide its own change (SECURITY AC-01).
    #[error("own change")]
    OwnChange,
    /// No such change.
    #[error("no such change")]
    NotFound,
    /// Decided already (by someone else, or a moment ago).
    #[error("decided already")]
    Decided,
    /// The target changed since the change was asked for; it is marked stale.
    #[error("the target changed meanwhile")]
    Stale,
    /// The change could not be applied (a rule of the flow); it is marked stale.
    #[error(transparent)]
    Manage(#[from] ManageError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The listed kinds an office change contains.
pub fn office_kinds(
    core: &Core,
    allow_before: bool,
    allow_after: bool,
    rights_before: &Rights,
    rights_after: &Rights,
) -> Vec<String> {
    let listed = &core.settings.four_eyes;
    let mut kinds = Vec::new();
    if !allow_before && allow_after && listed.contains(&FourEyes::AllowSubOffices) {
        kinds.push("allow_sub_offices".to_owned());
    }
    kinds.extend(added_rights(core, rights_before, rights_after));
    kinds
}

/// The listed kinds a user change contains.
pub fn user_kinds(core: &Core, rights_before: &Rights, rights_after: &Rights) -> Vec<String> {
    added_rights(core, rights_before, rights_after)
}

fn added_rights(core: &Core, before: &Rights, after: &Rights) -> Vec<String> {
    after
        .difference(before)
        .map(ToString::to_string)
        .filter(|code| {
            core.settings
                .four_eyes
                .contains(&FourEyes::Right(code.clone()))
        })
        .map(|code| format!("right:{code}"))
        .collect()
}

/// A change a flow diverts: what it is about, the request, and the difference it makes.
#[derive(Debug)]
pub struct Hold<'a> {
    /// Office or user.
    pub kind: Kind,
    /// Its id.
    pub target_id: Uuid,
    /// The office the entry names (the user's office for a user).
    pub target_office_id: Option<Uuid>,
    /// The version the request was made against.
    pub version: i64,
    /// The request as sent.
    pub request: Value,
    /// The listed kinds it contains.
    pub wants: Vec<String>,
    /// The changed fields before.
    pub before: &'a Map<String, Value>,
    /// …and after.
    pub after: &'a Map<String, Value>,
}

/// Stores the change with its `change.requested` entry and answers
/// [`ManageError::Waiting`]; nothing of it is applied.
pub async fn hold(
    core: &Core,
    actor: &Actor,
    hold: Hold<'_>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> ManageError {
    let id = Uuid::now_v7();
    let change = json!({
        "request": hold.request,
        "wants": hold.wants,
        "before": hold.before,
        "after": hold.after,
    });
    let mut entry = AuditRecord::new("change.requested");
    entry.actor_id = Some(actor.id);
    entry.target_office_id = hold.target_office_id;
    if hold.kind == Kind::User {
        entry.target_user_id = Some(hold.target_id);
    }
    entry.ip = ip;
    entry.detail = json!({
        "change_id": id, "kind": hold.kind.as_str(), "wants": hold.wants,
        "before": hold.before, "after": hold.after,
    });
    let pending = NewPending {
        id,
        kind: hold.kind,
        target_id: hold.target_id,
        change,
        version: hold.version,
        requested_by: actor.id,
    };
    if let Err(e) = store::insert(&core.db, &pending, &entry, now).await {
        return ManageError::Store(e);
    }
    match store::get(&core.db, id).await {
        Ok(Some(p)) => ManageError::Waiting(Box::new(p)),
        Ok(None) => ManageError::Store(StoreError::NotFound),
        Err(e) => ManageError::Store(e),
    }
}

/// An office request as stored.
pub fn office_request(c: &OfficeChange) -> Value {
    json!({
        "name": c.name, "address": c.address, "postcode": c.postcode, "city": c.city,
        "phone": c.phone, "rights": c.rights, "allow_sub_offices": c.allow_sub_offices,
        "active": c.active,
    })
}

/// A user request as stored (the step-up is the approver's, see [`approve`]).
pub fn user_request(c: &UserChange) -> Value {
    json!({ "name": c.name, "email": c.email, "rights": c.rights, "active": c.active })
}

#[derive(Deserialize)]
struct OfficeRequest {
    name: Option<String>,
    address: Option<String>,
    postcode: Option<String>,
    city: Option<String>,
    phone: Option<String>,
    rights: Option<Vec<String>>,
    allow_sub_offices: Option<bool>,
    active: Option<bool>,
}

#[derive(Deserialize)]
struct UserRequest {
    /// `main_user`: [`make_main_user`].
    role: Option<String>,
    name: Option<String>,
    email: Option<String>,
    rights: Option<Vec<String>>,
    active: Option<bool>,
}

fn request_of<T: for<'de> Deserialize<'de>>(p: &Pending) -> Result<T, StoreError> {
    let request = p.change.get("request").cloned().unwrap_or(Value::Null);
    serde_json::from_value(request)
        .map_err(|e| StoreError::Corrupt(format!("pending change {}: {e}", p.id)))
}

/// The changes waiting, for an insurer admin (everyone else: [`ApprovalError::NotApprover`]).
pub async fn waiting(core: &Core, caller: &Principal) -> Result<Vec<Pending>, ApprovalError> {
    if caller.user.role != Role::InsurerAdmin {
        return Err(ApprovalError::NotApprover);
    }
    Ok(store::waiting(&core.db).await?)
}

/// The changes waiting for one office or user, for whoever may see it: the edit page's
/// notice. The caller's access to the target is the flow's (`offices::get`, `manage::get`).
pub async fn waiting_for(
    core: &Core,
    kind: Kind,
    target_id: Uuid,
) -> Result<Vec<Pending>, StoreError> {
    store::waiting_for(&core.db, kind, target_id).await
}

/// Records a refused decision (SECURITY AD-01).
async fn deny(
    core: &Core,
    caller: &Principal,
    act: &str,
    p: Option<&Pending>,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(caller.user.id);
    entry.ip = ip.map(str::to_owned);
    if let Some(p) = p {
        match p.kind {
            Kind::Office => entry.target_office_id = Some(p.target_id),
            Kind::User => entry.target_user_id = Some(p.target_id),
        }
    }
    entry.detail = json!({ "act": act, "answer": "forbidden", "change_id": p.map(|p| p.id) });
    audit::record(&core.db, &entry, now).await
}

/// The entry of a decision: by `caller`, about `p`, naming the requester.
async fn decision_entry(
    core: &Core,
    action: &'static str,
    caller: &Principal,
    p: &Pending,
    ip: Option<String>,
) -> Result<AuditRecord, StoreError> {
    let mut entry = AuditRecord::new(action);
    entry.actor_id = Some(caller.user.id);
    entry.ip = ip;
    match p.kind {
        Kind::Office => entry.target_office_id = Some(p.target_id),
        Kind::User => {
            entry.target_user_id = Some(p.target_id);
            entry.target_office_id =
                users::get(&core.db, Scope::Everyone, p.target_id, &core.registry)
                    .await?
                    .and_then(|v| v.user.office_id);
        }
    }
    entry.detail = json!({
        "change_id": p.id, "kind": p.kind.as_str(),
        "requested_by": { "id": p.requested_by, "name": p.requested_by_name },
        "requested_at": p.requested_at.unix_timestamp(),
        "wants": p.change.get("wants"),
        "before": p.change.get("before"), "after": p.change.get("after"),
    });
    Ok(entry)
}

/// A change still waiting, if the caller may decide it.
async fn decidable(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    act: &str,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<Pending, ApprovalError> {
    if caller.user.role != Role::InsurerAdmin {
        deny(core, caller, act, None, ip, now).await?;
        return Err(ApprovalError::NotApprover);
    }
    let p = store::get(&core.db, id)
        .await?
        .ok_or(ApprovalError::NotFound)?;
    if p.outcome.is_some() {
        return Err(ApprovalError::Decided);
    }
    if p.requested_by == caller.user.id {
        deny(core, caller, act, Some(&p), ip, now).await?;
        return Err(ApprovalError::OwnChange);
    }
    Ok(p)
}

/// The target's current version, if it still exists.
async fn current_version(core: &Core, p: &Pending) -> Result<Option<i64>, StoreError> {
    Ok(match p.kind {
        Kind::Office => {
            crate::store::offices::get(&core.db, Scope::Everyone, p.target_id, &core.registry)
                .await?
                .map(|v| v.version)
        }
        Kind::User => users::get(&core.db, Scope::Everyone, p.target_id, &core.registry)
            .await?
            .map(|v| v.version),
    })
}

/// Marks `p` stale (from `from`) with its `change.stale` entry.
async fn mark_stale(
    core: &Core,
    caller: &Principal,
    p: &Pending,
    from: Option<Outcome>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let entry = decision_entry(core, "change.stale", caller, p, ip).await?;
    store::decide(
        &core.db,
        p.id,
        from,
        Outcome::Stale,
        caller.user.id,
        &entry,
        now,
    )
    .await?;
    Ok(())
}

/// Approves change `id` and applies it through its flow as `caller` (an insurer admin
/// other than the requester), against the version the requester saw. `recent_sign_in`
/// is the approver's (a new e-mail needs it, SECURITY AC-08).
pub async fn approve(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    recent_sign_in: bool,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Pending, ApprovalError> {
    let p = decidable(core, caller, id, "approve_change", ip.as_deref(), now).await?;
    if current_version(core, &p).await? != Some(p.version) {
        mark_stale(core, caller, &p, None, ip, now).await?;
        return Err(ApprovalError::Stale);
    }
    // A new e-mail in the request needs the approver's recent sign-in (AC-08): asked
    // before deciding, so a step-up leaves the change waiting.
    let new_email = p
        .change
        .pointer("/request/email")
        .is_some_and(|e| !e.is_null());
    if p.kind == Kind::User && new_email && !recent_sign_in {
        return Err(ApprovalError::Manage(ManageError::StepUpRequired));
    }
    // The decision is stored in the transaction of the change it applies: both or
    // neither (a change decided meanwhile rolls the apply back).
    let entry = decision_entry(core, "change.approved", caller, &p, ip.clone()).await?;
    let decision = Decision {
        id: p.id,
        by: caller.user.id,
        audit: &entry,
    };
    let gate = Gate::Approved(Some(&decision));
    let applied = match p.kind {
        Kind::Office => {
            let r: OfficeRequest = request_of(&p)?;
            let change = OfficeChange {
                name: r.name,
                address: r.address,
                postcode: r.postcode,
                city: r.city,
                phone: r.phone,
                rights: r.rights,
                allow_sub_offices: r.allow_sub_offices,
                active: r.active,
            };
            offices::update_as(
                core,
                caller,
                p.target_id,
                p.version,
                &change,
                gate,
                ip.clone(),
                now,
            )
            .await
            .map(|_| ())
        }
        Kind::User => {
            let r: UserRequest = request_of(&p)?;
            if r.role.as_deref() == Some("main_user") {
                return finish(
                    core,
                    caller,
                    &p,
                    make_main_user(core, caller, p.target_id, p.version, gate, ip.clone(), now)
                        .await,
                    ip,
                    now,
                )
                .await;
            }
            let change = UserChange {
                name: r.name,
                email: r.email,
                rights: r.rights,
                active: r.active,
                recent_sign_in,
            };
            manage::update_as(
                core,
                caller,
                p.target_id,
                p.version,
                &change,
                gate,
                ip.clone(),
                now,
            )
            .await
            .map(|_| ())
        }
    };
    finish(core, caller, &p, applied, ip, now).await
}

/// After the apply of an approved change: the change as it now stands, or, when it could
/// not be applied, marked stale.
async fn finish<T>(
    core: &Core,
    caller: &Principal,
    p: &Pending,
    applied: Result<T, ManageError>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Pending, ApprovalError> {
    match applied {
        Ok(_) => Ok(store::get(&core.db, p.id)
            .await?
            .unwrap_or_else(|| p.clone())),
        Err(ManageError::Store(StoreError::Conflict {
            constraint: Constraint::Other(c),
        })) if c == store::DECIDED => Err(ApprovalError::Decided),
        Err(e) => {
            // Not applied (the target changed, or the change breaks a rule now): nothing
            // was stored with it; the change is marked stale so it leaves the list, and
            // can be asked for again.
            mark_stale(core, caller, p, None, ip, now).await?;
            Err(match e {
                ManageError::OfficeStale | ManageError::Stale => ApprovalError::Stale,
                other => ApprovalError::Manage(other),
            })
        }
    }
}

/// U1 (issue 10): makes the active employee `id` (at `version`) its office's main user;
/// the main user becomes an employee. Insurer admins only (others: 403, audited); the new
/// main user gets the office's rights (U4). With `main_user` in `PORTAL_FOUR_EYES` the
/// change waits for a second admin ([`ManageError::Waiting`]). Both people's portals are
/// told their new role and rights (rights events), in the same transaction.
pub async fn make_main_user(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    version: i64,
    gate: Gate<'_>,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ManageError> {
    let view = manage::get(core, caller, id, ip.as_deref(), now).await?;
    if caller.user.role != Role::InsurerAdmin {
        deny_user(core, caller, &view, ip.as_deref(), now).await?;
        return Err(ManageError::Refused);
    }
    if view.version != version {
        return Err(ManageError::Stale);
    }
    let Some(office) = view.office.as_ref() else {
        return Err(ManageError::Refused);
    };
    if view.user.role != Role::Employee || !view.user.active {
        return Err(ManageError::Refused);
    }
    let before = Map::from_iter([("role".to_owned(), json!("employee"))]);
    let after = Map::from_iter([("role".to_owned(), json!("main_user"))]);
    if gate.holds() && core.settings.four_eyes.contains(&FourEyes::MainUser) {
        let hold_it = Hold {
            kind: Kind::User,
            target_id: id,
            target_office_id: Some(office.id),
            version,
            request: json!({ "role": "main_user" }),
            wants: vec!["main_user".to_owned()],
            before: &before,
            after: &after,
        };
        return Err(hold(core, &actor_of(caller), hold_it, ip, now).await);
    }
    let previous = store::main_user_of(&core.db, office.id).await?;
    let mut mails = vec![events::queue(&core.outbox, Subject::User(id), now)?];
    if let Some((old, _)) = &previous {
        mails.push(events::queue(&core.outbox, Subject::User(*old), now)?);
    }
    let mut entry = AuditRecord::new("user.main_user_changed");
    entry.actor_id = Some(caller.user.id);
    entry.target_user_id = Some(id);
    entry.target_office_id = Some(office.id);
    entry.ip = ip;
    entry.detail = json!({
        "before": { "role": "employee", "rights": rights_json(&view.user.rights, &core.registry) },
        "after": { "role": "main_user", "rights": rights_json(&office.rights, &core.registry) },
        "previous_main_user": previous.as_ref().map(|(id, name)| json!({ "id": id, "name": name })),
    });
    let rights = format_rights(&office.rights, &core.registry);
    let change = MainUserChange {
        office_id: office.id,
        user_id: id,
        expected_version: version,
        rights: &rights,
        mails: &mails,
        audit: &entry,
        decision: gate.decision(),
    };
    if !store::make_main_user(&core.db, &change, now).await? {
        return Err(ManageError::Stale);
    }
    core.mail_wake.notify_one();
    Ok(())
}

/// Records a refused "make main user" (SECURITY AD-01).
async fn deny_user(
    core: &Core,
    caller: &Principal,
    view: &users::UserView,
    ip: Option<&str>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut entry = AuditRecord::new("admin.denied");
    entry.actor_id = Some(caller.user.id);
    entry.target_user_id = Some(view.user.id);
    entry.ip = ip.map(str::to_owned);
    entry.detail = json!({ "act": "make_main_user", "answer": "forbidden" });
    audit::record(&core.db, &entry, now).await
}

/// Rejects change `id`; nothing of it is applied.
pub async fn reject(
    core: &Core,
    caller: &Principal,
    id: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Pending, ApprovalError> {
    let p = decidable(core, caller, id, "reject_change", ip.as_deref(), now).await?;
    let entry = decision_entry(core, "change.rejected", caller, &p, ip).await?;
    let decided = store::decide(
        &core.db,
        p.id,
        None,
        Outcome::Rejected,
        caller.user.id,
        &entry,
        now,
    )
    .await?;
    if !decided {
        return Err(ApprovalError::Decided);
    }
    Ok(store::get(&core.db, p.id).await?.unwrap_or(p))
}
