//! Offices: head offices with a direct appointment (O1) and their sub-offices (O3).

use std::fmt;

use product_registry::Registry;
use uuid::Uuid;

use super::rights::{Rights, parse_rights};
use super::{Email, RuleError, parse_name};

/// Head office or sub-office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficeKind {
    /// A head office: a direct appointment with the insurer.
    HeadOffice,
    /// A sub-office under one head office.
    SubOffice,
}

impl OfficeKind {
    /// The stored and claimed form (`head_office`, `sub_office`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HeadOffice => "head_office",
            Self::SubOffice => "sub_office",
        }
    }

    /// Reads the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "head_office" => Some(Self::HeadOffice),
            "sub_office" => Some(Self::SubOffice),
            _ => None,
        }
    }
}

/// An advisor number: 1–20 letters, digits or hyphens, stored in upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct AdvisorNumber(String);

impl AdvisorNumber {
    /// Parses and normalises an advisor number.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let n = raw.trim().to_ascii_uppercase();
        let ok = (1..=20).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !n.starts_with('-');
        if ok {
            Ok(Self(n))
        } else {
            Err(RuleError::InvalidAdvisorNumber)
        }
    }

    /// The number as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdvisorNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Dutch postcode, normalised to `1234 AB` (O3).
pub fn parse_postcode(raw: &str) -> Result<String, RuleError> {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = compact.as_bytes();
    let ok = b.len() == 6
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[0] != b'0'
        && b[4..].iter().all(u8::is_ascii_uppercase);
    if ok {
        Ok(format!("{} {}", &compact[..4], &compact[4..]))
    } else {
        Err(RuleError::InvalidPostcode)
    }
}

/// A line of text of at most 200 characters without control characters, trimmed.
fn short_text(raw: &str) -> Option<String> {
    let t = raw.trim();
    let len = t.chars().count();
    (len > 0 && len <= 200 && !t.chars().any(char::is_control)).then(|| t.to_owned())
}

/// O3 "Adres": street and house number, 1–200 characters.
pub fn parse_address(raw: &str) -> Result<String, RuleError> {
    short_text(raw).ok_or(RuleError::InvalidAddress)
}

/// O3 "Plaats": 1–200 characters.
pub fn parse_city(raw: &str) -> Result<String, RuleError> {
    short_text(raw).ok_or(RuleError::InvalidCity)
}

/// O3 "Telefoon": digits with the usual separators (space, `-`, `(`, `)`, a leading `+`),
/// 6 to 15 digits (ITU-T E.164), at most 30 characters; kept as typed, trimmed.
pub fn parse_phone(raw: &str) -> Result<String, RuleError> {
    let t = raw.trim();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let body = t.strip_prefix('+').unwrap_or(t);
    let ok = t.len() <= 30
        && (6..=15).contains(&digits)
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'));
    if ok {
        Ok(t.to_owned())
    } else {
        Err(RuleError::InvalidPhone)
    }
}

/// O3 "Nummer": the sub-office's own number, 1–20 letters, digits or hyphens, stored in
/// upper case (the form of an advisor number).
pub fn parse_office_number(raw: &str) -> Result<String, RuleError> {
    AdvisorNumber::parse(raw)
        .map(|n| n.0)
        .map_err(|_| RuleError::InvalidOfficeNumber)
}

/// An office as stored.
#[derive(Debug, Clone)]
pub struct Office {
    /// Stable id.
    pub id: Uuid,
    /// Head or sub.
    pub kind: OfficeKind,
    /// The head office of a sub-office.
    pub parent_id: Option<Uuid>,
    /// The advisor number (head office) or the sub-office's own number.
    pub number: String,
    /// Name.
    pub name: String,
    /// Office e-mail: the main user's login, and where quotes are sent.
    pub email: Email,
    /// The appointment (head office) or what the head office gave (sub-office).
    pub rights: Rights,
    /// O2: whether the insurer allowed this head office to work with sub-offices.
    pub allow_sub_offices: bool,
    /// O6: inactive offices have no access.
    pub active: bool,
}

/// O1: what the insurer provides to create a head office, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHeadOffice {
    /// The advisor number, unique across all offices.
    pub advisor_number: AdvisorNumber,
    /// The office name.
    pub name: String,
    /// The office e-mail, also the main user's login.
    pub email: Email,
    /// The appointment: which products the office may sell.
    pub rights: Rights,
    /// O2: whether it may work with sub-offices.
    pub allow_sub_offices: bool,
}

impl NewHeadOffice {
    /// Checks the raw fields against O1 and the registry.
    pub fn parse(
        advisor_number: &str,
        name: &str,
        email: &str,
        rights: &str,
        allow_sub_offices: bool,
        registry: &Registry,
    ) -> Result<Self, RuleError> {
        Ok(Self {
            advisor_number: AdvisorNumber::parse(advisor_number)?,
            name: parse_name(name)?,
            email: Email::parse(email)?,
            rights: parse_rights(rights, registry)?,
            allow_sub_offices,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn advisor_numbers() {
        assert_eq!(AdvisorNumber::parse(" 12345 ").unwrap().as_str(), "12345");
        assert_eq!(AdvisorNumber::parse("ab-12").unwrap().as_str(), "AB-12");
        for bad in ["", "-1", "12 34", "1234567890123456789012", "12;DROP"] {
            assert!(AdvisorNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn postcodes() {
        assert_eq!(parse_postcode("1234ab").unwrap(), "1234 AB");
        assert_eq!(parse_postcode(" 3011 AD ").unwrap(), "3011 AD");
        for bad in ["0123 AB", "123 AB", "1234 A", "1234 A1", "ABCD EF"] {
            assert!(parse_postcode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn o3_sub_office_fields() {
        assert_eq!(parse_address(" Markt 5 ").unwrap(), "Markt 5");
        assert_eq!(parse_address(""), Err(RuleError::InvalidAddress));
        assert_eq!(parse_address("a\nb"), Err(RuleError::InvalidAddress));
        assert_eq!(
            parse_address(&"x".repeat(201)),
            Err(RuleError::InvalidAddress)
        );
        assert_eq!(parse_city("Eindhoven").unwrap(), "Eindhoven");
        assert_eq!(parse_city("  "), Err(RuleError::InvalidCity));
        for ok in [
            "040 765 43 21",
            "+31 40 7654321",
            "(040) 765-4321",
            "0612345678",
        ] {
            assert_eq!(parse_phone(ok).unwrap(), ok, "{ok:?}");
        }
        for bad in [
            "",
            "12345",
            "040 abc",
            "++31 40 7654321",
            "1234567890123456",
            "0;DROP",
        ] {
            assert_eq!(parse_phone(bad), Err(RuleError::InvalidPhone), "{bad:?}");
        }
        assert_eq!(parse_office_number(" z01 ").unwrap(), "Z01");
        assert_eq!(
            parse_office_number("Z 01"),
            Err(RuleError::InvalidOfficeNumber)
        );
        assert_eq!(parse_office_number(""), Err(RuleError::InvalidOfficeNumber));
    }

    #[test]
    fn o1_new_head_office_checks_every_field() {
        let reg = Registry::builtin().unwrap();
        let ok = NewHeadOffice::parse(
            "12345",
            " Voorbeeld Advies ",
            "Info@Voorbeeld.nl",
            "DIP,DIL",
            false,
            &reg,
        )
        .unwrap();
        assert_eq!(ok.name, "Voorbeeld Advies");
        assert_eq!(ok.email.as_str(), "info@voorbeeld.nl");
        assert_eq!(ok.rights.len(), 2);
        assert_eq!(
            NewHeadOffice::parse("12345", "", "a@b.nl", "DIP", false, &reg),
            Err(RuleError::InvalidName)
        );
        assert_eq!(
            NewHeadOffice::parse("12345", "X", "a@b.nl", "DIP,FOO", false, &reg),
            Err(RuleError::UnknownRight("FOO".into()))
        );
        assert_eq!(
            NewHeadOffice::parse("1 2", "X", "a@b.nl", "DIP", false, &reg),
            Err(RuleError::InvalidAdvisorNumber)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn advisor_numbers_parse_to_themselves(
                raw in prop_oneof![any::<String>(), " ?[a-zA-Z0-9-]{0,22} ?"],
            ) {
                if let Ok(n) = AdvisorNumber::parse(&raw) {
                    prop_assert_eq!(AdvisorNumber::parse(n.as_str()), Ok(n.clone()));
                }
            }
        }
    }
}
