//! The idp's `portal` claims (SPEC §4) and the signed-in user a portal keeps from them.
//!
//! Parsing only: this module trusts nothing by itself. Its types are filled from an ID
//! token *after* openidconnect has verified signature, `iss`, `aud`, `exp` and `nonce`
//! (see `flow.rs`). Users are keyed on (`iss`, `sub`), never on e-mail (SECURITY RP-02).

use openidconnect::core::CoreGenderClaim;
use openidconnect::{AdditionalClaims, IdTokenClaims};
use product_registry::RightCode;
use serde::{Deserialize, Serialize};

/// A user's role (SPEC §2, U1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A medewerker of an office.
    Employee,
    /// The hoofdgebruiker (beheerder) of an office.
    MainUser,
    /// The insurer's own staff (Salesdesk Leven); belongs to no office.
    InsurerAdmin,
}

impl Role {
    /// The claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::MainUser => "main_user",
            Self::InsurerAdmin => "insurer_admin",
        }
    }
}

/// Whether an office is a head office or a sub-office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficeKind {
    /// Hoofdkantoor (rechtstreekse aanstelling).
    HeadOffice,
    /// Subkantoor (onderbemiddeling).
    SubOffice,
}

/// The `office` claim: the office the user belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Office {
    /// Stable office id (UUID).
    pub id: String,
    /// Advisor number (head office) or office number (sub-office); printed on quotes.
    pub number: String,
    /// Office name.
    pub name: String,
    /// Head office or sub-office.
    pub kind: OfficeKind,
}

/// The `head_office` claim: the head office above the user's office (itself, for a head
/// office).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadOffice {
    /// Stable office id (UUID).
    pub id: String,
    /// Advisor number.
    pub number: String,
    /// Office name.
    pub name: String,
}

/// The non-standard claims the idp puts in the ID token for scope `portal`.
///
/// `name`, `email`, `email_verified` and `amr` are standard claims that openidconnect
/// parses itself, so they are not repeated here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalClaims {
    /// The user's role.
    pub role: Role,
    /// Effective rights (SPEC U4), as right codes.
    #[serde(default)]
    pub rights: Vec<String>,
    /// Absent for insurer admins.
    #[serde(default)]
    pub office: Option<Office>,
    /// Absent for insurer admins.
    #[serde(default)]
    pub head_office: Option<HeadOffice>,
    /// The idp session id, if the idp sends one: what a back-channel logout token names
    /// (OpenID Back-Channel Logout 1.0 §2.4), kept now so issue 7 can end sessions by it.
    #[serde(default)]
    pub sid: Option<String>,
}

impl AdditionalClaims for PortalClaims {}

/// Verified ID token claims with the portal claims.
pub type PortalIdTokenClaims = IdTokenClaims<PortalClaims, CoreGenderClaim>;

/// The signed-in user as a portal keeps it server-side for the length of the session.
/// Rights checks read `rights` on every request (SECURITY RP-04).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedInUser {
    /// The `iss` the user was signed in by; with `subject` the user's key.
    pub issuer: String,
    /// The stable user id (`sub`).
    pub subject: String,
    /// Display name (`name`; falls back to the e-mail address, then the subject).
    pub name: String,
    /// E-mail address, for display only (never a key).
    pub email: Option<String>,
    /// Whether the idp verified the e-mail address.
    pub email_verified: bool,
    /// The user's role.
    pub role: Role,
    /// Effective rights, well-formed codes only.
    pub rights: Vec<RightCode>,
    /// The user's office; absent for insurer admins.
    pub office: Option<Office>,
    /// The head office above it; absent for insurer admins.
    pub head_office: Option<HeadOffice>,
    /// How the user authenticated (RFC 8176 values such as `pwd`, `otp`, `hwk`).
    pub amr: Vec<String>,
    /// The idp session id, if sent (for back-channel logout, issue 7).
    pub sid: Option<String>,
}

impl SignedInUser {
    /// Builds the user from claims that openidconnect has already verified. Malformed
    /// right codes are dropped (and logged): a right that cannot be named grants nothing.
    pub fn from_verified(claims: &PortalIdTokenClaims) -> Self {
        let extra = claims.additional_claims();
        let email = claims.email().map(|e| e.as_str().to_owned());
        let subject = claims.subject().as_str().to_owned();
        let name = claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .or_else(|| email.clone())
            .unwrap_or_else(|| subject.clone());
        let rights = extra
            .rights
            .iter()
            .filter_map(|raw| match RightCode::parse(raw) {
                Ok(code) => Some(code),
                Err(_) => {
                    tracing::warn!(right = %raw.escape_debug(), "ignoring a malformed right claim");
                    None
                }
            })
            .collect();
        Self {
            issuer: claims.issuer().as_str().to_owned(),
            subject,
            name,
            email,
            email_verified: claims.email_verified().unwrap_or(false),
            role: extra.role,
            rights,
            office: extra.office.clone(),
            head_office: extra.head_office.clone(),
            amr: claims
                .auth_method_refs()
                .map(|refs| refs.iter().map(|r| r.as_str().to_owned()).collect())
                .unwrap_or_default(),
            sid: extra.sid.clone(),
        }
    }

    /// Whether the session's claims carry `code`.
    pub fn has_right(&self, code: &RightCode) -> bool {
        self.rights.contains(code)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example from the brief, as the idp sends it, plus the protocol claims.
    fn example_claims() -> serde_json::Value {
        serde_json::json!({
            "iss": "http://127.0.0.1:8080/idp", "aud": "dip", "exp": 2_000_000_000, "iat": 1_900_000_000,
            "nonce": "n",
            "sub": "0b6f5a3e-0000-4000-8000-000000000001", "name": "Ilse de Vries",
            "email": "ilse@x.nl", "email_verified": true,
            "role": "employee", "rights": ["DIP", "DIL", "not a code"],
            "office": {"id": "o1", "number": "12345", "name": "Voorbeeld Advies", "kind": "sub_office"},
            "head_office": {"id": "h1", "number": "12345", "name": "Voorbeeld Advies"},
            "amr": ["pwd", "otp"]
        })
    }

    #[test]
    fn portal_claims_parse_into_the_user() {
        let claims: PortalIdTokenClaims = serde_json::from_value(example_claims()).unwrap();
        let user = SignedInUser::from_verified(&claims);
        assert_eq!(user.subject, "0b6f5a3e-0000-4000-8000-000000000001");
        assert_eq!(user.issuer, "http://127.0.0.1:8080/idp");
        assert_eq!(user.name, "Ilse de Vries");
        assert_eq!(user.email.as_deref(), Some("ilse@x.nl"));
        assert!(user.email_verified);
        assert_eq!(user.role, Role::Employee);
        assert_eq!(user.rights.len(), 2, "the malformed code is dropped");
        assert!(user.has_right(&RightCode::parse("DIL").unwrap()));
        assert!(!user.has_right(&RightCode::parse("ORV").unwrap()));
        assert_eq!(user.office.as_ref().unwrap().kind, OfficeKind::SubOffice);
        assert_eq!(user.head_office.as_ref().unwrap().number, "12345");
        assert_eq!(user.amr, ["pwd", "otp"]);
    }

    #[test]
    fn an_insurer_admin_has_no_office_and_a_missing_name_falls_back() {
        let mut v = example_claims();
        let o = v.as_object_mut().unwrap();
        for k in ["office", "head_office", "name", "rights", "amr"] {
            o.remove(k);
        }
        o.insert("role".into(), "insurer_admin".into());
        let claims: PortalIdTokenClaims = serde_json::from_value(v).unwrap();
        let user = SignedInUser::from_verified(&claims);
        assert_eq!(user.role, Role::InsurerAdmin);
        assert!(user.office.is_none() && user.head_office.is_none() && user.rights.is_empty());
        assert_eq!(user.name, "ilse@x.nl");
    }

    #[test]
    fn an_unknown_role_is_refused() {
        let mut v = example_claims();
        v["role"] = "superuser".into();
        assert!(serde_json::from_value::<PortalIdTokenClaims>(v).is_err());
    }
}
