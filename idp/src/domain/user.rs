//! Users: one main user per office, employees, and the insurer's own admins (U1).

use uuid::Uuid;

use super::Email;
use super::rights::Rights;

/// U1: a user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The office's main user (hoofdgebruiker); one per office, created with the office.
    MainUser,
    /// An employee (medewerker) of an office.
    Employee,
    /// The insurer's staff; belongs to no office.
    InsurerAdmin,
}

impl Role {
    /// The stored and claimed form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MainUser => "main_user",
            Self::Employee => "employee",
            Self::InsurerAdmin => "insurer_admin",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "main_user" => Some(Self::MainUser),
            "employee" => Some(Self::Employee),
            "insurer_admin" => Some(Self::InsurerAdmin),
            _ => None,
        }
    }

    /// U1: whether a user of this role belongs to an office. Insurer admins do not; every
    /// other user does.
    pub fn belongs_to_office(self) -> bool {
        !matches!(self, Self::InsurerAdmin)
    }
}

/// A user as stored (without the password hash, which never leaves the store's sign-in
/// path).
#[derive(Debug, Clone)]
pub struct User {
    /// The stable `sub`.
    pub id: Uuid,
    /// The office; `None` only for insurer admins (U1).
    pub office_id: Option<Uuid>,
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// Login e-mail, normalised.
    pub email: Email,
    /// The rights given to the user (U4 caps them by the office).
    pub rights: Rights,
    /// Whether the account may sign in.
    pub active: bool,
    /// Whether a password was set through the activation link (A2).
    pub activated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u1_roles_round_trip_and_only_insurer_admins_have_no_office() {
        for role in [Role::MainUser, Role::Employee, Role::InsurerAdmin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::MainUser.belongs_to_office());
        assert!(Role::Employee.belongs_to_office());
        assert!(!Role::InsurerAdmin.belongs_to_office());
        assert_eq!(Role::parse("root"), None);
    }
}
