//! Who may manage whom (SPEC U2, U4, U5, A4, F3; SECURITY AC-01…AC-07): the one place
//! that says which users an administrator sees, edits, resends an activation mail to or
//! resets, and which changes to a user are refused whoever asks. Pure: the caller loads
//! the people and offices; the store applies [`Scope`] in its SQL.

use product_registry::Registry;
use uuid::Uuid;

use super::RuleError;
use super::office::OfficeKind;
use super::rights::{Rights, check_sub_office_rights, check_user_rights};
use super::user::Role;

/// Who acts, as far as the rules need to know.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    /// Its id.
    pub id: Uuid,
    /// Its role.
    pub role: Role,
    /// Its office (none for insurer admins).
    pub office_id: Option<Uuid>,
}

/// The user acted upon.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its id.
    pub id: Uuid,
    /// Its role.
    pub role: Role,
    /// Its office.
    pub office_id: Option<Uuid>,
    /// The head office above its office, when its office is a sub-office.
    pub head_office_id: Option<Uuid>,
}

/// The users an actor may see at all; the store turns it into a `WHERE` clause
/// (SECURITY AC-03: scoped in SQL, not loaded and then checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every user (insurer admins).
    Everyone,
    /// The users of this office and of its sub-offices (a main user; a sub-office has
    /// none, so its main user sees its own office).
    OfficeTree(Uuid),
    /// No one (employees).
    Nobody,
}

/// U2: what an actor sees.
pub fn scope(actor: &Actor) -> Scope {
    match (actor.role, actor.office_id) {
        (Role::InsurerAdmin, _) => Scope::Everyone,
        (Role::MainUser, Some(office)) => Scope::OfficeTree(office),
        _ => Scope::Nobody,
    }
}

/// Whether `target` lies within `scope`.
pub fn in_scope(scope: Scope, target: &Target) -> bool {
    match scope {
        Scope::Everyone => true,
        Scope::OfficeTree(office) => {
            target.office_id == Some(office) || target.head_office_id == Some(office)
        }
        Scope::Nobody => false,
    }
}

/// What an actor wants to do with a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Read it.
    View,
    /// Change its name, e-mail, rights or active flag.
    Edit,
    /// A4: resend its activation mail.
    SendActivation,
    /// F3: reset its second factors.
    ResetFactors,
}

impl Act {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
            Self::SendActivation => "send_activation",
            Self::ResetFactors => "reset_factors",
        }
    }
}

/// The answer of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Go ahead.
    Allowed,
    /// The target is outside what the actor may see: answer as if it did not exist, so
    /// ids of other offices cannot be probed (SECURITY AC-01).
    Hidden,
    /// The actor sees the target but may not do this to it.
    Refused,
}

/// The one rule of who may do what to whom:
/// - an insurer admin sees everyone, edits the users of offices (not insurer admins,
///   AC-05/AC-07), resends anyone's activation mail (A4) and resets anyone's second factors
///   but another insurer admin's (F3, AC-07);
/// - a main user sees and edits the users of its office and of its sub-offices (U2, O3),
///   resends the activation mail of its office's users and of its sub-offices' main users
///   (A4), and resets the second factors of its office tree (F3);
/// - employees administer no one;
/// - nobody resets their own second factors this way (they have the Beveiliging page).
pub fn decide(actor: &Actor, target: &Target, act: Act) -> Access {
    if !in_scope(scope(actor), target) {
        return Access::Hidden;
    }
    let allowed = match (actor.role, act) {
        (_, Act::View) => true,
        (_, Act::ResetFactors) if actor.id == target.id => false,
        (Role::InsurerAdmin, Act::Edit | Act::ResetFactors) => target.role != Role::InsurerAdmin,
        (Role::InsurerAdmin, Act::SendActivation) => true,
        (Role::MainUser, Act::Edit | Act::ResetFactors) => true,
        (Role::MainUser, Act::SendActivation) => {
            target.office_id == actor.office_id || target.role == Role::MainUser
        }
        (Role::Employee, _) => false,
    };
    if allowed {
        Access::Allowed
    } else {
        Access::Refused
    }
}

/// Where a new user may be created: a main user in its own office or one of its
/// sub-offices; an insurer admin in any office (U1: never without one).
pub fn may_create_in(actor: &Actor, office_id: Uuid, office_parent_id: Option<Uuid>) -> bool {
    match scope(actor) {
        Scope::Everyone => true,
        Scope::OfficeTree(own) => office_id == own || office_parent_id == Some(own),
        Scope::Nobody => false,
    }
}

/// What the rights rule needs to know of a user's office.
#[derive(Debug, Clone, Copy)]
pub struct OfficeOf<'a> {
    /// Head or sub.
    pub kind: OfficeKind,
    /// The office's rights.
    pub rights: &'a Rights,
    /// The head office's rights, for a sub-office.
    pub head_rights: Option<&'a Rights>,
}

/// U4, O4: the rights a user of `office` may be given: within the office's rights (and,
/// for a sub-office, within its head office's), and never a right that sub-offices may
/// not hold (ORV). Refused, not silently trimmed, so the person sees why.
pub fn check_rights(
    requested: &Rights,
    office: OfficeOf<'_>,
    registry: &Registry,
) -> Result<(), RuleError> {
    if office.kind == OfficeKind::SubOffice {
        check_sub_office_rights(requested, office.rights, registry)?;
        if let Some(head) = office.head_rights {
            check_user_rights(requested, head)?;
        }
    }
    check_user_rights(requested, office.rights)
}

/// A change to a user that no actor may make, whatever its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    /// U5: a main user cannot deactivate itself.
    #[error("a main user cannot deactivate itself")]
    SelfDeactivation,
    /// U4, U5: a main user holds exactly its office's rights; they change with the office.
    #[error("a main user's rights are its office's")]
    MainUserRights,
}

impl ChangeRefused {
    /// The key of the Dutch text in `templates/nl.toml`.
    pub fn text_key(self) -> &'static str {
        match self {
            Self::SelfDeactivation => "api.self_deactivation",
            Self::MainUserRights => "api.main_user_rights",
        }
    }

    /// The field of the change it is about.
    pub fn field(self) -> &'static str {
        match self {
            Self::SelfDeactivation => "active",
            Self::MainUserRights => "rights",
        }
    }
}

/// U4, U5: checks a change of `target` by `actor`. `rights` is the requested new set (if
/// any), `office_rights` those of the target's office. A main user's rights can only be
/// "changed" to what they already are (the office's); nobody deactivates itself.
pub fn check_change(
    actor: &Actor,
    target: &Target,
    deactivate: bool,
    rights: Option<&Rights>,
    office_rights: Option<&Rights>,
) -> Result<(), ChangeRefused> {
    if deactivate && actor.id == target.id {
        return Err(ChangeRefused::SelfDeactivation);
    }
    if let Some(requested) = rights
        && target.role == Role::MainUser
        && Some(requested) != office_rights
    {
        return Err(ChangeRefused::MainUserRights);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::rights::parse_rights;

    struct Tree {
        head: Uuid,
        sub: Uuid,
        other: Uuid,
    }

    fn tree() -> Tree {
        Tree {
            head: Uuid::now_v7(),
            sub: Uuid::now_v7(),
            other: Uuid::now_v7(),
        }
    }

    fn actor(role: Role, office: Option<Uuid>) -> Actor {
        Actor {
            id: Uuid::now_v7(),
            role,
            office_id: office,
        }
    }

    fn target(role: Role, office: Option<Uuid>, head: Option<Uuid>) -> Target {
        Target {
            id: Uuid::now_v7(),
            role,
            office_id: office,
            head_office_id: head,
        }
    }

    fn me(a: &Actor, head: Option<Uuid>) -> Target {
        Target {
            id: a.id,
            role: a.role,
            office_id: a.office_id,
            head_office_id: head,
        }
    }

    #[test]
    fn scopes_follow_the_office_tree() {
        let t = tree();
        assert_eq!(scope(&actor(Role::InsurerAdmin, None)), Scope::Everyone);
        assert_eq!(
            scope(&actor(Role::MainUser, Some(t.head))),
            Scope::OfficeTree(t.head)
        );
        assert_eq!(scope(&actor(Role::Employee, Some(t.head))), Scope::Nobody);
        assert_eq!(
            scope(&actor(Role::MainUser, None)),
            Scope::Nobody,
            "corrupt"
        );
        let head_tree = Scope::OfficeTree(t.head);
        assert!(in_scope(
            head_tree,
            &target(Role::Employee, Some(t.head), None)
        ));
        assert!(in_scope(
            head_tree,
            &target(Role::Employee, Some(t.sub), Some(t.head))
        ));
        assert!(!in_scope(
            head_tree,
            &target(Role::Employee, Some(t.other), None)
        ));
        assert!(!in_scope(
            head_tree,
            &target(Role::InsurerAdmin, None, None)
        ));
        let sub_tree = Scope::OfficeTree(t.sub);
        assert!(!in_scope(
            sub_tree,
            &target(Role::MainUser, Some(t.head), None)
        ));
        assert!(in_scope(
            sub_tree,
            &target(Role::Employee, Some(t.sub), Some(t.head))
        ));
    }

    #[test]
    fn who_may_do_what_to_whom() {
        use Access::*;
        use Act::*;
        let t = tree();
        let head_main = actor(Role::MainUser, Some(t.head));
        let sub_main = actor(Role::MainUser, Some(t.sub));
        let admin = actor(Role::InsurerAdmin, None);
        let employee = actor(Role::Employee, Some(t.head));
        let head_employee = target(Role::Employee, Some(t.head), None);
        let sub_main_t = me(&sub_main, Some(t.head));
        let sub_employee = target(Role::Employee, Some(t.sub), Some(t.head));
        let stranger = target(Role::Employee, Some(t.other), None);
        let other_admin = target(Role::InsurerAdmin, None, None);
        // (actor, target, act) → expected
        let cases = [
            (&head_main, &head_employee, View, Allowed),
            (&head_main, &head_employee, Edit, Allowed),
            (&head_main, &head_employee, SendActivation, Allowed),
            (&head_main, &head_employee, ResetFactors, Allowed),
            (&head_main, &sub_main_t, Edit, Allowed),
            (&head_main, &sub_main_t, SendActivation, Allowed),
            (&head_main, &sub_employee, View, Allowed),
            (&head_main, &sub_employee, Edit, Allowed),
            // A4: the head office resends to the sub-office's main user, who does its own.
            (&head_main, &sub_employee, SendActivation, Refused),
            (&head_main, &sub_employee, ResetFactors, Allowed),
            // IDOR: another office, an insurer admin: as if they did not exist.
            (&head_main, &stranger, View, Hidden),
            (&head_main, &stranger, Edit, Hidden),
            (&head_main, &stranger, SendActivation, Hidden),
            (&head_main, &other_admin, View, Hidden),
            // A sub-office's main user: its own office only, never the head office.
            (&sub_main, &head_employee, View, Hidden),
            (&sub_main, &head_employee, Edit, Hidden),
            (&sub_main, &sub_employee, Edit, Allowed),
            (&sub_main, &sub_employee, SendActivation, Allowed),
            // The insurer admin: everyone, but no edit or reset of an insurer admin.
            (&admin, &stranger, Edit, Allowed),
            (&admin, &sub_employee, SendActivation, Allowed),
            (&admin, &other_admin, View, Allowed),
            (&admin, &other_admin, Edit, Refused),
            (&admin, &other_admin, ResetFactors, Refused),
            (&admin, &other_admin, SendActivation, Allowed),
            // Employees: no one, not even a colleague.
            (&employee, &head_employee, View, Hidden),
            (&employee, &head_employee, Edit, Hidden),
        ];
        for (i, (a, tg, act, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide(a, tg, act), want, "case {i}: {act:?}");
        }
        // Oneself: seen and edited (within U5), never a 2FA reset through the admin path.
        let head_me = me(&head_main, None);
        assert_eq!(decide(&head_main, &head_me, Edit), Allowed);
        assert_eq!(decide(&head_main, &head_me, ResetFactors), Refused);
        let admin_me = me(&admin, None);
        assert_eq!(decide(&admin, &admin_me, View), Allowed);
        assert_eq!(decide(&admin, &admin_me, ResetFactors), Refused);
    }

    #[test]
    fn new_users_only_in_the_actors_office_tree() {
        let t = tree();
        let head_main = actor(Role::MainUser, Some(t.head));
        let sub_main = actor(Role::MainUser, Some(t.sub));
        assert!(may_create_in(&head_main, t.head, None));
        assert!(may_create_in(&head_main, t.sub, Some(t.head)));
        assert!(!may_create_in(&head_main, t.other, None));
        assert!(may_create_in(&sub_main, t.sub, Some(t.head)));
        assert!(
            !may_create_in(&sub_main, t.head, None),
            "not the head office"
        );
        assert!(may_create_in(
            &actor(Role::InsurerAdmin, None),
            t.other,
            None
        ));
        assert!(!may_create_in(
            &actor(Role::Employee, Some(t.head)),
            t.head,
            None
        ));
    }

    #[test]
    fn u4_o4_rights_of_a_user_follow_its_office() {
        let reg = Registry::builtin().unwrap();
        let set = |s: &str| parse_rights(s, &reg).unwrap();
        let all = set("DIP,DIL,ORV");
        let dip_dil = set("DIP,DIL");
        let dip = set("DIP");
        let head = OfficeOf {
            kind: OfficeKind::HeadOffice,
            rights: &all,
            head_rights: None,
        };
        assert!(check_rights(&all, head, &reg).is_ok());
        let small_head = OfficeOf {
            kind: OfficeKind::HeadOffice,
            rights: &dip,
            head_rights: None,
        };
        assert_eq!(
            check_rights(&dip_dil, small_head, &reg),
            Err(RuleError::RightExceedsOffice("DIL".into()))
        );
        let sub = OfficeOf {
            kind: OfficeKind::SubOffice,
            rights: &dip_dil,
            head_rights: Some(&all),
        };
        assert!(check_rights(&dip, sub, &reg).is_ok());
        assert_eq!(
            check_rights(&set("ORV"), sub, &reg),
            Err(RuleError::RightNotForSubOffices("ORV".into()))
        );
        // A sub-office whose stored rights outgrew its head office's (a later cut of the
        // appointment): the head office's cap still holds.
        let outgrown = OfficeOf {
            kind: OfficeKind::SubOffice,
            rights: &dip_dil,
            head_rights: Some(&dip),
        };
        assert_eq!(
            check_rights(&set("DIL"), outgrown, &reg),
            Err(RuleError::RightExceedsOffice("DIL".into()))
        );
        assert!(check_rights(&Rights::new(), outgrown, &reg).is_ok());
    }

    #[test]
    fn u5_no_lock_out_and_main_user_rights_are_the_offices() {
        let reg = Registry::builtin().unwrap();
        let set = |s: &str| parse_rights(s, &reg).unwrap();
        let t = tree();
        let main = actor(Role::MainUser, Some(t.head));
        let main_t = me(&main, None);
        let office = set("DIP,DIL");
        assert_eq!(
            check_change(&main, &main_t, true, None, Some(&office)),
            Err(ChangeRefused::SelfDeactivation)
        );
        assert_eq!(
            check_change(&main, &main_t, false, Some(&set("DIP")), Some(&office)),
            Err(ChangeRefused::MainUserRights),
            "U5: no removing its own rights"
        );
        assert!(check_change(&main, &main_t, false, Some(&office), Some(&office)).is_ok());
        assert!(check_change(&main, &main_t, false, None, Some(&office)).is_ok());
        // Another main user (a sub-office's): deactivation yes, rights no.
        let sub_main = target(Role::MainUser, Some(t.sub), Some(t.head));
        assert!(check_change(&main, &sub_main, true, None, Some(&office)).is_ok());
        assert_eq!(
            check_change(&main, &sub_main, false, Some(&set("DIP")), Some(&office)),
            Err(ChangeRefused::MainUserRights)
        );
        // An employee: both.
        let employee = target(Role::Employee, Some(t.head), None);
        assert!(check_change(&main, &employee, true, Some(&set("DIP")), Some(&office)).is_ok());
    }
}
