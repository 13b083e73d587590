//! Who may manage which office (SPEC O1–O7; SECURITY AC-01…AC-05): the one place that
//! says which offices an administrator sees, edits, adds a sub-office under or deletes,
//! and which changes to an office are refused whoever asks. Pure: the caller loads the
//! offices; the store applies [`Scope`] in its SQL (AC-03).

use uuid::Uuid;

use super::manage::{Access, Actor, Scope, scope};
use super::office::OfficeKind;
use super::user::Role;

/// The office acted upon.
#[derive(Debug, Clone, Copy)]
pub struct OfficeTarget {
    /// Its id.
    pub id: Uuid,
    /// Head or sub.
    pub kind: OfficeKind,
    /// Its head office, for a sub-office.
    pub parent_id: Option<Uuid>,
    /// O2: whether the insurer allowed it sub-offices.
    pub allow_sub_offices: bool,
}

/// Whether `target` lies within `scope`: an insurer admin sees every office, a main user
/// its own office and that office's sub-offices (a sub-office has none, so its main user
/// sees its own office only), an employee none.
pub fn office_in_scope(scope: Scope, target: &OfficeTarget) -> bool {
    match scope {
        Scope::Everyone => true,
        Scope::OfficeTree(own) => target.id == own || target.parent_id == Some(own),
        Scope::Nobody => false,
    }
}

/// What an actor wants to do with an office.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfficeAct {
    /// Read it.
    View,
    /// Change its fields, rights or active flag (which of them: [`check_office_change`]).
    Edit,
    /// O7: delete it.
    Delete,
    /// O3: create a sub-office under it.
    AddSubOffice,
    /// O1: create a head office (no target; the insurer's act).
    AddHeadOffice,
}

impl OfficeAct {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view_office",
            Self::Edit => "edit_office",
            Self::Delete => "delete_office",
            Self::AddSubOffice => "add_sub_office",
            Self::AddHeadOffice => "add_head_office",
        }
    }
}

/// The one rule of who may do what to which office:
/// - an insurer admin: everything (what an office may become is checked separately);
/// - a main user: sees its office tree; edits its own office's contact data and its
///   sub-offices (O3); deletes its sub-offices (O7); adds sub-offices under its own office
///   only (O3, whether that is allowed: [`check_add_sub_office`]);
/// - employees: nothing (outside every scope).
///
/// Outside the actor's scope the answer is [`Access::Hidden`], so ids of other offices
/// cannot be probed (AC-01).
pub fn decide_office(actor: &Actor, target: &OfficeTarget, act: OfficeAct) -> Access {
    if !office_in_scope(scope(actor), target) {
        return Access::Hidden;
    }
    let own = actor.office_id == Some(target.id);
    let allowed = match (actor.role, act) {
        (_, OfficeAct::View) => true,
        (Role::InsurerAdmin, _) => true,
        (Role::MainUser, OfficeAct::Edit) => true,
        (Role::MainUser, OfficeAct::Delete) => !own && target.parent_id == actor.office_id,
        (Role::MainUser, OfficeAct::AddSubOffice) => own,
        (Role::MainUser, OfficeAct::AddHeadOffice) | (Role::Employee, _) => false,
    };
    if allowed {
        Access::Allowed
    } else {
        Access::Refused
    }
}

/// O1: only the insurer creates head offices.
pub fn may_add_head_office(actor: &Actor) -> bool {
    actor.role == Role::InsurerAdmin
}

/// A change to an office that is refused whoever may otherwise edit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfficeRefused {
    /// O5: sub-offices have no sub-offices of their own.
    #[error("a sub-office has no sub-offices")]
    SubUnderSub,
    /// O2: the insurer has not allowed this head office to work with sub-offices.
    #[error("sub-offices not allowed for this head office")]
    SubOfficesNotAllowed,
    /// U5 for offices: a main user cannot deactivate (or re-activate) its own office.
    #[error("a main user cannot deactivate its own office")]
    OwnOfficeLockOut,
    /// O1: a head office's appointment (its rights) is set by the insurer; a main user sets
    /// the rights of its sub-offices only.
    #[error("only the insurer sets these rights")]
    RightsByInsurer,
    /// O2: only the insurer allows sub-offices.
    #[error("only the insurer allows sub-offices")]
    AllowByInsurer,
    /// O5: a sub-office cannot be allowed sub-offices.
    #[error("a sub-office cannot be allowed sub-offices")]
    AllowOnSubOffice,
    /// O7: only sub-offices can be deleted (a head office is deactivated).
    #[error("only sub-offices can be deleted")]
    HeadOfficeDelete,
}

impl OfficeRefused {
    /// The key of the Dutch text in `templates/nl.toml`.
    pub fn text_key(self) -> &'static str {
        match self {
            Self::SubUnderSub => "api.sub_under_sub",
            Self::SubOfficesNotAllowed => "api.sub_offices_not_allowed",
            Self::OwnOfficeLockOut => "api.own_office_lock_out",
            Self::RightsByInsurer => "api.office_rights_by_insurer",
            Self::AllowByInsurer => "api.allow_by_insurer",
            Self::AllowOnSubOffice => "api.allow_on_sub_office",
            Self::HeadOfficeDelete => "api.head_office_delete",
        }
    }

    /// The field of the request it is about, if one.
    pub fn field(self) -> Option<&'static str> {
        match self {
            Self::OwnOfficeLockOut => Some("active"),
            Self::RightsByInsurer => Some("rights"),
            Self::AllowByInsurer | Self::AllowOnSubOffice => Some("allow_sub_offices"),
            Self::SubUnderSub | Self::SubOfficesNotAllowed | Self::HeadOfficeDelete => None,
        }
    }

    /// Whether the actor lacks the authority (403) rather than the office the property
    /// (422).
    pub fn forbidden(self) -> bool {
        matches!(
            self,
            Self::SubOfficesNotAllowed | Self::RightsByInsurer | Self::AllowByInsurer
        )
    }
}

/// O2, O5: a sub-office may be added under `head` only if it is a head office the insurer
/// allowed to work with sub-offices (for insurer admins too: allowing comes first).
pub fn check_add_sub_office(head: &OfficeTarget) -> Result<(), OfficeRefused> {
    if head.kind == OfficeKind::SubOffice {
        return Err(OfficeRefused::SubUnderSub);
    }
    if !head.allow_sub_offices {
        return Err(OfficeRefused::SubOfficesNotAllowed);
    }
    Ok(())
}

/// What a change would change (only real changes count: sending the current value is no
/// change).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfficeChangeAsked {
    /// The rights change.
    pub rights: bool,
    /// The sub-offices flag changes.
    pub allow_sub_offices: bool,
    /// The active flag changes.
    pub active: bool,
}

/// O1, O2, O5, U5: checks a change of `target` by `actor`, who may edit it
/// ([`decide_office`]).
pub fn check_office_change(
    actor: &Actor,
    target: &OfficeTarget,
    asked: OfficeChangeAsked,
) -> Result<(), OfficeRefused> {
    let insurer = actor.role == Role::InsurerAdmin;
    if asked.active && actor.office_id == Some(target.id) {
        return Err(OfficeRefused::OwnOfficeLockOut);
    }
    if asked.allow_sub_offices {
        if !insurer {
            return Err(OfficeRefused::AllowByInsurer);
        }
        if target.kind == OfficeKind::SubOffice {
            return Err(OfficeRefused::AllowOnSubOffice);
        }
    }
    let own_sub_office = target.parent_id.is_some() && target.parent_id == actor.office_id;
    if asked.rights && !insurer && !own_sub_office {
        return Err(OfficeRefused::RightsByInsurer);
    }
    Ok(())
}

/// O7: only a sub-office can be deleted; whether a product holds a quote of it is asked
/// of the products by the caller.
pub fn check_delete(target: &OfficeTarget) -> Result<(), OfficeRefused> {
    if target.kind == OfficeKind::HeadOffice {
        return Err(OfficeRefused::HeadOfficeDelete);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Tree {
        head: OfficeTarget,
        closed_head: OfficeTarget,
        sub: OfficeTarget,
        other: OfficeTarget,
    }

    fn office(kind: OfficeKind, parent: Option<Uuid>, allow: bool) -> OfficeTarget {
        OfficeTarget {
            id: Uuid::now_v7(),
            kind,
            parent_id: parent,
            allow_sub_offices: allow,
        }
    }

    fn tree() -> Tree {
        let head = office(OfficeKind::HeadOffice, None, true);
        Tree {
            sub: office(OfficeKind::SubOffice, Some(head.id), false),
            head,
            closed_head: office(OfficeKind::HeadOffice, None, false),
            other: office(OfficeKind::HeadOffice, None, true),
        }
    }

    fn actor(role: Role, office: Option<Uuid>) -> Actor {
        Actor {
            id: Uuid::now_v7(),
            role,
            office_id: office,
        }
    }

    #[test]
    fn who_may_do_what_to_which_office() {
        use Access::*;
        use OfficeAct::*;
        let t = tree();
        let head_main = actor(Role::MainUser, Some(t.head.id));
        let sub_main = actor(Role::MainUser, Some(t.sub.id));
        let admin = actor(Role::InsurerAdmin, None);
        let employee = actor(Role::Employee, Some(t.head.id));
        let cases = [
            (&head_main, &t.head, View, Allowed),
            (&head_main, &t.sub, View, Allowed),
            (&head_main, &t.head, Edit, Allowed),
            (&head_main, &t.sub, Edit, Allowed),
            (&head_main, &t.sub, Delete, Allowed),
            (&head_main, &t.head, Delete, Refused),
            (&head_main, &t.head, AddSubOffice, Allowed),
            (&head_main, &t.sub, AddSubOffice, Refused),
            // IDOR: another head office is as if it did not exist.
            (&head_main, &t.other, View, Hidden),
            (&head_main, &t.other, Edit, Hidden),
            (&head_main, &t.other, Delete, Hidden),
            (&head_main, &t.other, AddSubOffice, Hidden),
            // A sub-office's main user: its own office only.
            (&sub_main, &t.sub, View, Allowed),
            (&sub_main, &t.head, View, Hidden),
            (&sub_main, &t.sub, Delete, Refused),
            (&sub_main, &t.sub, AddSubOffice, Allowed),
            (&sub_main, &t.head, AddSubOffice, Hidden),
            (&admin, &t.other, Edit, Allowed),
            (&admin, &t.sub, Delete, Allowed),
            (&admin, &t.closed_head, AddSubOffice, Allowed),
            (&employee, &t.head, View, Hidden),
            (&employee, &t.head, Edit, Hidden),
        ];
        for (i, (a, o, act, want)) in cases.into_iter().enumerate() {
            assert_eq!(decide_office(a, o, act), want, "case {i}: {act:?}");
        }
        assert!(may_add_head_office(&admin));
        assert!(!may_add_head_office(&head_main));
        assert!(!may_add_head_office(&employee));
    }

    #[test]
    fn o2_o5_sub_offices_only_under_an_allowed_head_office() {
        let t = tree();
        assert_eq!(check_add_sub_office(&t.head), Ok(()));
        assert_eq!(
            check_add_sub_office(&t.closed_head),
            Err(OfficeRefused::SubOfficesNotAllowed)
        );
        assert_eq!(
            check_add_sub_office(&t.sub),
            Err(OfficeRefused::SubUnderSub),
            "no sub under sub, even if the flag were set"
        );
        let flagged_sub = OfficeTarget {
            allow_sub_offices: true,
            ..t.sub
        };
        assert_eq!(
            check_add_sub_office(&flagged_sub),
            Err(OfficeRefused::SubUnderSub)
        );
    }

    #[test]
    fn office_changes_follow_o1_o2_and_the_lock_out_rule() {
        let t = tree();
        let head_main = actor(Role::MainUser, Some(t.head.id));
        let sub_main = actor(Role::MainUser, Some(t.sub.id));
        let admin = actor(Role::InsurerAdmin, None);
        let ask = |rights, allow_sub_offices, active| OfficeChangeAsked {
            rights,
            allow_sub_offices,
            active,
        };
        let none = OfficeChangeAsked::default();
        // Contact data: anyone who may edit.
        assert_eq!(check_office_change(&head_main, &t.head, none), Ok(()));
        assert_eq!(check_office_change(&sub_main, &t.sub, none), Ok(()));
        // Lock-out: no (de)activating one's own office.
        for (a, o) in [(&head_main, &t.head), (&sub_main, &t.sub)] {
            assert_eq!(
                check_office_change(a, o, ask(false, false, true)),
                Err(OfficeRefused::OwnOfficeLockOut)
            );
        }
        assert_eq!(
            check_office_change(&head_main, &t.sub, ask(false, false, true)),
            Ok(())
        );
        assert_eq!(
            check_office_change(&admin, &t.head, ask(false, false, true)),
            Ok(())
        );
        // Rights: the insurer for head offices, the head office for its sub-offices.
        assert_eq!(
            check_office_change(&head_main, &t.head, ask(true, false, false)),
            Err(OfficeRefused::RightsByInsurer)
        );
        assert_eq!(
            check_office_change(&sub_main, &t.sub, ask(true, false, false)),
            Err(OfficeRefused::RightsByInsurer)
        );
        assert_eq!(
            check_office_change(&head_main, &t.sub, ask(true, false, false)),
            Ok(())
        );
        assert_eq!(
            check_office_change(&admin, &t.head, ask(true, false, false)),
            Ok(())
        );
        // Allowing sub-offices: the insurer, for head offices.
        assert_eq!(
            check_office_change(&head_main, &t.head, ask(false, true, false)),
            Err(OfficeRefused::AllowByInsurer)
        );
        assert_eq!(
            check_office_change(&admin, &t.sub, ask(false, true, false)),
            Err(OfficeRefused::AllowOnSubOffice)
        );
        assert_eq!(
            check_office_change(&admin, &t.closed_head, ask(false, true, false)),
            Ok(())
        );
        assert!(OfficeRefused::AllowByInsurer.forbidden());
        assert!(!OfficeRefused::OwnOfficeLockOut.forbidden());
    }

    #[test]
    fn o7_only_sub_offices_are_deleted() {
        let t = tree();
        assert_eq!(check_delete(&t.sub), Ok(()));
        assert_eq!(check_delete(&t.head), Err(OfficeRefused::HeadOfficeDelete));
    }
}
