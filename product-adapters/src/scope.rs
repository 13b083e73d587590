//! Who sees which quotes (SPEC P4): a head-office user sees every quote of its office tree
//! (its own office, its sub-offices and all their people); a sub-office user sees its own
//! office's. The scope is read from the session's claims on every request (P1, SECURITY
//! RP-04) and applied in SQL by the store.

use relying_party::{OfficeKind, SignedInUser};
use uuid::Uuid;

/// The quotes a reader may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every quote whose head office is this one.
    Tree(Uuid),
    /// Every quote of this (sub-)office.
    Office(Uuid),
}

impl Scope {
    /// The scope of a signed-in user; `None` for someone without an office (an insurer
    /// admin), who makes no quotes.
    pub fn of(user: &SignedInUser) -> Option<Self> {
        let office = user.office.as_ref()?;
        let id = Uuid::parse_str(&office.id).ok()?;
        match office.kind {
            OfficeKind::HeadOffice => Some(Self::Tree(id)),
            OfficeKind::SubOffice => Some(Self::Office(id)),
        }
    }

    /// The store's two scope parameters: (head office of a whole tree, single office);
    /// exactly one is bound.
    pub fn binds(&self) -> (Option<Uuid>, Option<Uuid>) {
        match self {
            Self::Tree(id) => (Some(*id), None),
            Self::Office(id) => (None, Some(*id)),
        }
    }
}
