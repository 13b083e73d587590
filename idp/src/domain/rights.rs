//! Rights: which products a user may quote and apply for (SPEC O1, O4, U4).

use std::collections::BTreeSet;

use product_registry::{Registry, RightCode};

use super::RuleError;

/// A set of right codes, each known to the product registry.
pub type Rights = BTreeSet<RightCode>;

/// Parses a comma-separated list (`DIP,DIL`) of rights the registry knows.
pub fn parse_rights(list: &str, registry: &Registry) -> Result<Rights, RuleError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            registry
                .right(s)
                .map_err(|_| RuleError::UnknownRight(s.to_owned()))
        })
        .collect()
}

/// Stored form: the codes in registry order, comma-separated.
pub fn format_rights(rights: &Rights, registry: &Registry) -> String {
    let ordered: Vec<String> = registry
        .ordered(rights)
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    ordered.join(",")
}

/// Reads the stored form back. Codes the registry no longer knows are dropped: a product
/// taken out of the registry grants nothing.
pub fn read_rights(stored: &str, registry: &Registry) -> Rights {
    stored
        .split(',')
        .filter_map(|s| registry.right(s).ok())
        .collect()
}

/// O4: the rights a sub-office may be given. Refused (not silently dropped) when a right
/// is not for sub-offices or exceeds the head office's appointment, so the person who
/// asked sees why.
pub fn check_sub_office_rights(
    requested: &Rights,
    head_office: &Rights,
    registry: &Registry,
) -> Result<(), RuleError> {
    let allowed = registry.sub_office_rights();
    for r in requested {
        if !allowed.contains(r) {
            return Err(RuleError::RightNotForSubOffices(r.to_string()));
        }
        if !head_office.contains(r) {
            return Err(RuleError::RightExceedsOffice(r.to_string()));
        }
    }
    Ok(())
}

/// U4: a user's rights must lie within the office's rights.
pub fn check_user_rights(requested: &Rights, office: &Rights) -> Result<(), RuleError> {
    match requested.iter().find(|r| !office.contains(*r)) {
        Some(r) => Err(RuleError::RightExceedsOffice(r.to_string())),
        None => Ok(()),
    }
}

/// What the effective-rights rule needs to know of one office.
#[derive(Debug, Clone)]
pub struct OfficeRights<'a> {
    /// The office's rights (a head office's appointment, or what its head gave a sub-office).
    pub rights: &'a Rights,
    /// Whether the office is active (O6).
    pub active: bool,
}

/// U4: the rights a token carries. User rights ∩ office rights ∩ (for a sub-office) the
/// head office's rights, minus the rights sub-offices may not hold (O4); empty when the
/// user or any office above it is inactive (O6). A main user holds all its office's rights.
pub fn effective_rights(
    user_rights: &Rights,
    user_active: bool,
    is_main_user: bool,
    office: &OfficeRights<'_>,
    head_office: Option<&OfficeRights<'_>>,
    registry: &Registry,
) -> Rights {
    if !user_active || !office.active || head_office.is_some_and(|h| !h.active) {
        return Rights::new();
    }
    let mut rights: Rights = if is_main_user {
        office.rights.clone()
    } else {
        user_rights.intersection(office.rights).cloned().collect()
    };
    if let Some(head) = head_office {
        let sub_allowed = registry.sub_office_rights();
        rights.retain(|r| head.rights.contains(r) && sub_allowed.contains(r));
    }
    rights.retain(|r| registry.get(r).is_some());
    rights
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::type_complexity)]
    use super::*;

    fn reg() -> Registry {
        Registry::builtin().unwrap()
    }
    fn set(list: &str) -> Rights {
        parse_rights(list, &reg()).unwrap()
    }
    fn names(r: &Rights) -> String {
        format_rights(r, &reg())
    }

    #[test]
    fn parse_and_format_round_trip_in_registry_order() {
        assert_eq!(names(&set("orv, dip")), "DIP,ORV");
        assert_eq!(read_rights("ORV,DIP,GONE", &reg()), set("DIP,ORV"));
        assert_eq!(
            parse_rights("DIP,XYZ", &reg()),
            Err(RuleError::UnknownRight("XYZ".into()))
        );
    }

    #[test]
    fn o4_sub_offices_never_hold_orv_and_stay_within_the_head_office() {
        let head = set("DIP,DIL,ORV");
        assert!(check_sub_office_rights(&set("DIP,DIL"), &head, &reg()).is_ok());
        assert_eq!(
            check_sub_office_rights(&set("DIP,ORV"), &head, &reg()),
            Err(RuleError::RightNotForSubOffices("ORV".into()))
        );
        assert_eq!(
            check_sub_office_rights(&set("DIL"), &set("DIP"), &reg()),
            Err(RuleError::RightExceedsOffice("DIL".into()))
        );
    }

    #[test]
    fn u4_user_rights_within_office() {
        assert!(check_user_rights(&set("DIP"), &set("DIP,DIL")).is_ok());
        assert_eq!(
            check_user_rights(&set("ORV"), &set("DIP,DIL")),
            Err(RuleError::RightExceedsOffice("ORV".into()))
        );
    }

    #[test]
    fn u4_effective_rights_table() {
        let r = reg();
        let all = set("DIP,DIL,ORV");
        let dip_dil = set("DIP,DIL");
        let dip = set("DIP");
        let office = |rights: &'static Rights, active| OfficeRights { rights, active };
        let all: &'static Rights = Box::leak(Box::new(all));
        let dip_dil: &'static Rights = Box::leak(Box::new(dip_dil));
        let dip: &'static Rights = Box::leak(Box::new(dip));
        // (user rights, user active, main user, office, head office) → expected
        let cases: Vec<(
            &Rights,
            bool,
            bool,
            OfficeRights<'_>,
            Option<OfficeRights<'_>>,
            &str,
        )> = vec![
            // employee of a head office: intersection
            (all, true, false, office(dip_dil, true), None, "DIP,DIL"),
            (dip, true, false, office(dip_dil, true), None, "DIP"),
            // main user holds all of the office's rights whatever is stored on the user
            (&EMPTY, true, true, office(all, true), None, "DIP,DIL,ORV"),
            // inactive user, office or head office: nothing
            (all, false, false, office(all, true), None, ""),
            (all, true, true, office(all, false), None, ""),
            (
                all,
                true,
                true,
                office(dip_dil, true),
                Some(office(all, false)),
                "",
            ),
            // sub-office: capped by the head office and never ORV (O4), even if stored
            (
                all,
                true,
                true,
                office(all, true),
                Some(office(all, true)),
                "DIP,DIL",
            ),
            (
                all,
                true,
                false,
                office(dip_dil, true),
                Some(office(dip, true)),
                "DIP",
            ),
        ];
        for (i, (user, ua, main, off, head, want)) in cases.into_iter().enumerate() {
            let got = effective_rights(user, ua, main, &off, head.as_ref(), &r);
            assert_eq!(names(&got), want, "case {i}");
        }
    }

    static EMPTY: Rights = Rights::new();
}
