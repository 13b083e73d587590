//! A1: what a person types as their login: an e-mail address, or (for a head office's
//! main user) the advisor number.

use super::{AdvisorNumber, Email};

/// The login name, recognised by its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    /// An e-mail address: every user.
    Email(Email),
    /// An advisor number: only the main user of that head office.
    AdvisorNumber(AdvisorNumber),
}

impl LoginName {
    /// Anything with an `@` is an e-mail address, anything else an advisor number.
    /// `None` when it is neither; the caller answers exactly as for a wrong password.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.contains('@') {
            Email::read(raw).ok().map(Self::Email)
        } else {
            AdvisorNumber::parse(raw).ok().map(Self::AdvisorNumber)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a1_email_or_advisor_number() {
        assert!(
            matches!(LoginName::parse(" Nick@X.nl"), Some(LoginName::Email(e)) if e.as_str() == "nick@x.nl")
        );
        assert!(
            matches!(LoginName::parse("12345"), Some(LoginName::AdvisorNumber(n)) if n.as_str() == "12345")
        );
        assert_eq!(LoginName::parse("not an id"), None);
        assert_eq!(LoginName::parse("a@b"), None);
    }
}
