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

    /// The SQL condition on the `quotes q` table with `placeholder` bound to [`Self::id`].
    pub fn sql(&self, placeholder: &str) -> String {
        match self {
            Self::Tree(_) => format!("q.head_office_id = {placeholder}"),
            Self::Office(_) => format!("q.office_id = {placeholder}"),
        }
    }

    /// The id the condition is bound to.
    pub fn id(&self) -> Uuid {
        match self {
            Self::Tree(id) | Self::Office(id) => *id,
        }
    }
}
