//! E-mail addresses as logins (U3, SECURITY AU-01): trimmed, NFKC-normalised and lower
//! case at write and at lookup, so `Jan@X.nl ` and `jan@x.nl` are one address.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::RuleError;

/// A normalised e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Normalises and checks a new address, one that is to be stored: [`Self::read`]'s
    /// rules, and an address the mailer (lettre, RFC 5321/6531) accepts. An address lettre
    /// refuses (`jan.@x.nl`, `(jan)@x.nl`) would be stored and then fail every mail to it.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let email = Self::read(raw)?;
        if email.0.parse::<lettre::Address>().is_ok() {
            Ok(email)
        } else {
            Err(RuleError::InvalidEmail)
        }
    }

    /// Normalises and checks an address read back from the database or typed to look one
    /// up: one `@`, a non-empty local part, a domain with a dot, no spaces or control
    /// characters, at most 254 characters. Rows stored before [`Self::parse`] asked the
    /// mailer stay readable, and their owners can still sign in.
    pub fn read(raw: &str) -> Result<Self, RuleError> {
        let normal: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        let Some((local, domain)) = normal.split_once('@') else {
            return Err(RuleError::InvalidEmail);
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.contains('@')
            && normal.len() <= 254
            && !normal.chars().any(|c| {
                c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
            });
        if ok {
            Ok(Self(normal))
        } else {
            Err(RuleError::InvalidEmail)
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@` (a context word the password may not contain).
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or("")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn case_width_and_spaces_are_normalised() {
        let a = Email::parse("  Jan@X.nl ").unwrap();
        let b = Email::parse("jan@x.nl").unwrap();
        assert_eq!(a, b);
        // NFKC folds full-width letters: ｊａｎ → jan.
        assert_eq!(Email::parse("ｊａｎ@x.nl").unwrap(), b);
        assert_eq!(a.local_part(), "jan");
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "jan",
            "jan@",
            "@x.nl",
            "jan@x",
            "jan@.nl",
            "jan@x.nl.",
            "jan@@x.nl",
            "ja n@x.nl",
            "jan@x..nl",
            "jan@x.nl\r\nBcc: a@b.nl",
            "<jan@x.nl>",
            "jan.@x.nl",
            ".jan@x.nl",
            "j..an@x.nl",
            "(jan)@x.nl",
        ] {
            assert_eq!(Email::parse(bad), Err(RuleError::InvalidEmail), "{bad:?}");
        }
        let long = format!("{}@x.nl", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn an_address_the_mailer_refuses_is_no_new_address_but_stays_readable() {
        for odd in ["jan.@x.nl", "(jan)@x.nl"] {
            assert_eq!(Email::parse(odd), Err(RuleError::InvalidEmail), "{odd}");
            assert_eq!(
                Email::read(odd).map(|e| e.to_string()),
                Ok(odd.to_owned()),
                "{odd}"
            );
        }
        assert_eq!(Email::read(" Jan@X.nl "), Email::parse("jan@x.nl"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // Parsing is total, and a parsed address parses to itself (one login, one form).
            #[test]
            fn parsing_is_idempotent(
                raw in prop_oneof![
                    any::<String>(),
                    "[ a-zA-Z0-9._+-]{1,10}@[a-zA-Z0-9.-]{1,10}\\.[a-z]{2,3} ?",
                    "\\PC{1,8}@\\PC{1,8}\\.nl",
                    // Letters whose case mapping and compatibility forms interact.
                    "[\u{130}\u{1e9e}\u{2126}\u{212a}\u{212b}\u{fb00}\u{3f4}\u{3a3}\u{3c2}\u{345}\u{307}\u{ff21}a-z]{1,6}@x\\.nl",
                ],
            ) {
                if let Ok(e) = Email::parse(&raw) {
                    prop_assert_eq!(Email::parse(e.as_str()), Ok(e.clone()));
                    prop_assert!(e.as_str().len() <= 254);
                }
            }
        }
    }
}
