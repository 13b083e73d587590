//! The `portal` scope's claims (SPEC §4), built from a user and its offices.

use serde::Serialize;

use crate::domain::rights::{OfficeRights, effective_rights};
use crate::domain::{Office, Role};
use crate::store::accounts::Principal;
use product_registry::Registry;

/// `office` claim.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeClaim {
    /// Office id.
    pub id: String,
    /// Advisor number or sub-office number.
    pub number: String,
    /// Name.
    pub name: String,
    /// `head_office` or `sub_office`.
    pub kind: &'static str,
}

/// `head_office` claim.
#[derive(Debug, Clone, Serialize)]
pub struct HeadOfficeClaim {
    /// Office id.
    pub id: String,
    /// Advisor number.
    pub number: String,
    /// Name.
    pub name: String,
}

/// The claims of the `portal` scope.
#[derive(Debug, Clone, Serialize)]
pub struct PortalClaims {
    /// Display name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// Activated through a link sent to it.
    pub email_verified: bool,
    /// `main_user`, `employee`, `insurer_admin`.
    pub role: &'static str,
    /// Effective rights (U4), in registry order.
    pub rights: Vec<String>,
    /// The user's office.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeClaim>,
    /// The head office (the office itself for a head office's users).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head_office: Option<HeadOfficeClaim>,
}

/// Whether a principal may hold tokens at all: user, office and head office active (O6).
pub fn may_sign_in(p: &Principal) -> bool {
    p.user.active
        && p.office.as_ref().is_none_or(|o| o.active)
        && p.head_office.as_ref().is_none_or(|o| o.active)
}

/// U4's effective rights of a principal.
pub fn rights_of(p: &Principal, registry: &Registry) -> Vec<String> {
    let Some(office) = &p.office else {
        return Vec::new();
    };
    let office_rights = OfficeRights {
        rights: &office.rights,
        active: office.active,
    };
    let head = p.head_office.as_ref().map(|h| OfficeRights {
        rights: &h.rights,
        active: h.active,
    });
    let set = effective_rights(
        &p.user.rights,
        p.user.active,
        p.user.role == Role::MainUser,
        &office_rights,
        head.as_ref(),
        registry,
    );
    registry
        .ordered(&set)
        .into_iter()
        .map(|c| c.to_string())
        .collect()
}

fn head_claim(o: &Office) -> HeadOfficeClaim {
    HeadOfficeClaim {
        id: o.id.to_string(),
        number: o.number.clone(),
        name: o.name.clone(),
    }
}

/// The `portal` claims of a principal.
pub fn portal_claims(p: &Principal, registry: &Registry) -> PortalClaims {
    PortalClaims {
        name: p.user.name.clone(),
        email: p.user.email.to_string(),
        email_verified: p.user.activated,
        role: p.user.role.as_str(),
        rights: rights_of(p, registry),
        office: p.office.as_ref().map(|o| OfficeClaim {
            id: o.id.to_string(),
            number: o.number.clone(),
            name: o.name.clone(),
            kind: o.kind.as_str(),
        }),
        head_office: p.head_office.as_ref().or(p.office.as_ref()).map(head_claim),
    }
}
