//! Rules about second factors (SPEC F1–F4): when one is required, what a sign-in's `amr`
//! and `acr` say, and who may reset another user's factors.

use time::{Date, OffsetDateTime};

/// How the second step of a sign-in was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// A code from the authenticator app.
    Totp,
    /// One of the recovery codes (a one-time password too).
    RecoveryCode,
    /// A passkey; `synced` when the credential may leave its device (backup eligible).
    Passkey {
        /// Backup eligible (`swk`) or device-bound (`hwk`).
        synced: bool,
    },
}

/// Whether a user without a second factor must set one up before any session (F2): from
/// the configured date on (UTC).
pub fn required(now: OffsetDateTime, required_from: Date) -> bool {
    now.to_offset(time::UtcOffset::UTC).date() >= required_from
}

/// A head office's 2FA mandate (issue 10): from which day a second factor is required and
/// how many password-only sign-ins are still allowed after it. A sub-office follows its
/// head office; insurer admins, who have no office, follow the setting without grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The first day (UTC) on which a second factor is required.
    pub required_from: Date,
    /// Password-only sign-ins allowed from that day on (0: none, the plain F2 rule).
    pub grace_logins: u32,
}

impl Policy {
    /// The policy of an office tree: the head office's own date, else the setting's
    /// (`PORTAL_MFA_REQUIRED_FROM`), and its grace. `None` for both (a user without an
    /// office) is the setting without grace.
    pub fn of_tree(setting: Date, own_from: Option<Date>, grace_logins: Option<i64>) -> Self {
        Self {
            required_from: own_from.unwrap_or(setting),
            grace_logins: grace_logins
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or(0),
        }
    }
}

/// Where a user stands under a [`Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mandate {
    /// The user has a second factor: nothing to do.
    Met,
    /// Before the date: a password alone still signs in; `days_left` whole days to go
    /// (1 on the day before).
    NotYet {
        /// Days until the date.
        days_left: i64,
    },
    /// From the date on, with `n` password-only sign-ins of grace left (n ≥ 1).
    GraceLeft(u32),
    /// A second factor must be set up before any session (F2).
    Required,
}

/// The rule of the MFA mandate (issue 10, SPEC F2): given the tree's `policy`, `now`,
/// whether the user has a second factor and how many grace sign-ins the user has used
/// for this date.
pub fn mandate(policy: &Policy, now: OffsetDateTime, has_factor: bool, grace_used: u32) -> Mandate {
    if has_factor {
        return Mandate::Met;
    }
    let today = now.to_offset(time::UtcOffset::UTC).date();
    if !required(now, policy.required_from) {
        return Mandate::NotYet {
            days_left: (policy.required_from - today).whole_days(),
        };
    }
    match policy.grace_logins.checked_sub(grace_used) {
        Some(n) if n > 0 => Mandate::GraceLeft(n),
        _ => Mandate::Required,
    }
}

/// Whether a session or grant from a sign-in with `amr` at `auth_time` still counts at
/// `now` under `policy` (F2, MF-01): a second factor always does; a password alone before
/// the date, or when it was a grace sign-in (made on or after the date under a policy
/// with grace: without a factor, no other password-only sign-in is let through then).
/// Taking the grace away (0) ends such sessions at their next use.
pub fn session_suffices(
    policy: &Policy,
    now: OffsetDateTime,
    amr: &str,
    auth_time: OffsetDateTime,
) -> bool {
    is_multi_factor(amr)
        || !required(now, policy.required_from)
        || (policy.grace_logins > 0 && required(auth_time, policy.required_from))
}

/// The `amr` of a session (RFC 8176), comma-separated as stored: `pwd` then the second
/// factor and `mfa`. A passkey proves possession of a key and, because user verification
/// is required, a user gesture (`user`); a recovery code is a one-time password (`otp`).
/// The key is claimed as `swk`: `hwk` would assert a hardware-secured key, which only an
/// attestation could prove, and the portal asks for none (SECURITY MF-10: truthful).
pub fn amr_with_password(second: Option<SecondFactor>) -> String {
    match second {
        None => "pwd".into(),
        Some(SecondFactor::Totp | SecondFactor::RecoveryCode) => "pwd,otp,mfa".into(),
        Some(SecondFactor::Passkey { synced }) => format!("pwd,{},user,mfa", key_kind(synced)),
    }
}

/// The `amr` of a passwordless passkey sign-in: the key and the verified user, two
/// factors in one gesture (F4: it satisfies the 2FA rule).
pub fn amr_passkey_only(synced: bool) -> String {
    format!("{},user,mfa", key_kind(synced))
}

fn key_kind(_synced: bool) -> &'static str {
    // Device-bound (not backup-eligible) is not the same as hardware-secured: without an
    // attestation neither is known, so never `hwk`.
    "swk"
}

/// The `acr` for an `amr` (SECURITY MF-10). A passkey is phishing-resistant: `phr` (OpenID
/// EAP ACR Values 1.0); `phrh` would also claim a hardware-bound key, which only an
/// attestation could prove, so it is neither issued nor advertised. Password plus an app
/// code is two factors but not phishing-resistant; a password alone is one factor.
pub fn acr_for(amr: &str) -> &'static str {
    let has = |v: &str| amr.split(',').any(|a| a == v);
    if has("hwk") || has("swk") {
        "phr"
    } else if has("mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// `acr` of a password with a second factor that is not phishing-resistant.
pub const ACR_MFA: &str = "urn:offerteportaal:acr:mfa";
/// `acr` of a password alone (before the mandatory date).
pub const ACR_PASSWORD: &str = "urn:offerteportaal:acr:pwd";
/// Every `acr` the provider issues, for discovery.
pub const ACR_VALUES: [&str; 3] = ["phr", ACR_MFA, ACR_PASSWORD];

/// Whether the session's `amr` satisfies the 2FA rule.
pub fn is_multi_factor(amr: &str) -> bool {
    amr.split(',').any(|a| a == "mfa")
}

pub use super::manage::{Actor, Target};

/// F3: an insurer admin may reset anyone's second factors but another insurer admin's
/// (SECURITY AC-07: no reset of an equal or higher privilege); a main user those of the
/// users of its own office and of its sub-offices. Nobody resets their own this way
/// (they have the Beveiliging page), and employees reset no one. The rule itself is
/// `manage::decide`, with every other rule of who may manage whom.
pub fn may_reset(actor: &Actor, target: &Target) -> bool {
    use super::manage::{Access, Act, decide};
    decide(actor, target, Act::ResetFactors) == Access::Allowed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::Role;
    use time::macros::{date, datetime};
    use uuid::Uuid;

    #[test]
    fn required_from_the_configured_day_on() {
        let from = date!(2025 - 07 - 01);
        assert!(!required(datetime!(2025-06-30 23:59:59 UTC), from));
        assert!(required(datetime!(2025-07-01 00:00:00 UTC), from));
        assert!(required(datetime!(2026-11-25 10:00:00 UTC), from));
    }

    fn policy(grace: u32) -> Policy {
        Policy {
            required_from: date!(2026 - 07 - 01),
            grace_logins: grace,
        }
    }

    #[test]
    fn a_sub_office_follows_the_head_office_else_the_setting() {
        let setting = date!(2025 - 07 - 01);
        let own = Policy::of_tree(setting, Some(date!(2026 - 01 - 01)), Some(3));
        assert_eq!(own.required_from, date!(2026 - 01 - 01));
        assert_eq!(own.grace_logins, 3);
        let default = Policy::of_tree(setting, None, Some(0));
        assert_eq!(default.required_from, setting);
        let no_office = Policy::of_tree(setting, None, None);
        assert_eq!(
            no_office,
            Policy {
                required_from: setting,
                grace_logins: 0
            }
        );
        assert_eq!(Policy::of_tree(setting, None, Some(-1)).grace_logins, 0);
    }

    #[test]
    fn the_mandate_counts_down_then_grants_grace_then_requires() {
        let p = policy(2);
        assert_eq!(
            mandate(&p, datetime!(2026-06-17 08:00 UTC), false, 0),
            Mandate::NotYet { days_left: 14 }
        );
        assert_eq!(
            mandate(&p, datetime!(2026-06-30 23:59:59 UTC), false, 0),
            Mandate::NotYet { days_left: 1 }
        );
        assert_eq!(
            mandate(&p, datetime!(2026-07-01 00:00 UTC), false, 0),
            Mandate::GraceLeft(2)
        );
        assert_eq!(
            mandate(&p, datetime!(2026-07-02 00:00 UTC), false, 1),
            Mandate::GraceLeft(1)
        );
        assert_eq!(
            mandate(&p, datetime!(2026-07-02 00:00 UTC), false, 2),
            Mandate::Required
        );
        assert_eq!(
            mandate(&p, datetime!(2026-07-02 00:00 UTC), false, 7),
            Mandate::Required,
            "more used than allowed (the grace was lowered)"
        );
        assert_eq!(
            mandate(&policy(0), datetime!(2026-07-01 00:00 UTC), false, 0),
            Mandate::Required,
            "without grace: the plain F2 rule"
        );
        assert_eq!(
            mandate(&p, datetime!(2026-07-02 00:00 UTC), true, 2),
            Mandate::Met
        );
        // The day is UTC's, whatever offset `now` carries.
        assert_eq!(
            mandate(&policy(0), datetime!(2026-07-01 01:30 +02:00), false, 0),
            Mandate::NotYet { days_left: 1 }
        );
    }

    #[test]
    fn defaults_keep_the_f2_rule() {
        // No head-office date, no grace: `mandate` says what `required` said.
        let setting = date!(2025 - 07 - 01);
        let p = Policy::of_tree(setting, None, None);
        for now in [
            datetime!(2025-06-30 23:59:59 UTC),
            datetime!(2025-07-01 00:00 UTC),
            datetime!(2026-11-25 10:00 UTC),
        ] {
            assert_eq!(
                mandate(&p, now, false, 0) == Mandate::Required,
                required(now, setting)
            );
            assert_eq!(
                session_suffices(&p, now, "pwd", now - time::Duration::hours(1)),
                !required(now, setting)
            );
            assert!(session_suffices(&p, now, "pwd,otp,mfa", now));
        }
    }

    #[test]
    fn a_grace_session_counts_a_session_from_before_the_date_does_not() {
        let p = policy(2);
        let after = datetime!(2026-07-03 09:00 UTC);
        assert!(session_suffices(
            &p,
            after,
            "pwd",
            datetime!(2026-07-03 08:00 UTC)
        ));
        assert!(
            !session_suffices(&p, after, "pwd", datetime!(2026-06-30 22:00 UTC)),
            "a password-only session from before the date is no grace sign-in"
        );
        assert!(
            !session_suffices(&policy(0), after, "pwd", datetime!(2026-07-03 08:00 UTC)),
            "grace taken away"
        );
        assert!(session_suffices(
            &p,
            datetime!(2026-06-30 09:00 UTC),
            "pwd",
            datetime!(2026-06-30 08:00 UTC)
        ));
    }

    #[test]
    fn amr_says_what_happened() {
        assert_eq!(amr_with_password(None), "pwd");
        assert_eq!(amr_with_password(Some(SecondFactor::Totp)), "pwd,otp,mfa");
        assert_eq!(
            amr_with_password(Some(SecondFactor::RecoveryCode)),
            "pwd,otp,mfa"
        );
        assert_eq!(
            amr_with_password(Some(SecondFactor::Passkey { synced: false })),
            "pwd,swk,user,mfa",
            "no hwk without an attestation"
        );
        assert_eq!(amr_passkey_only(true), "swk,user,mfa");
        assert!(!is_multi_factor("pwd"));
        assert!(is_multi_factor(&amr_passkey_only(false)));
    }

    #[test]
    fn acr_follows_amr() {
        assert_eq!(acr_for("pwd"), ACR_PASSWORD);
        assert_eq!(acr_for("pwd,otp,mfa"), ACR_MFA);
        assert_eq!(
            acr_for("hwk,user,mfa"),
            "phr",
            "phrh only with an attestation"
        );
        assert_eq!(acr_for("swk,user,mfa"), "phr");
        assert_eq!(acr_for("pwd,swk,user,mfa"), "phr");
        for v in ["pwd", "pwd,otp,mfa", "hwk,user,mfa", "swk,user,mfa"] {
            assert!(ACR_VALUES.contains(&acr_for(v)));
        }
    }

    fn user(role: Role, office: Option<Uuid>, head: Option<Uuid>) -> Target {
        Target {
            id: Uuid::new_v4(),
            role,
            office_id: office,
            head_office_id: head,
        }
    }

    fn actor(t: &Target) -> Actor {
        Actor {
            id: t.id,
            role: t.role,
            office_id: t.office_id,
        }
    }

    #[test]
    fn who_may_reset_whom() {
        let head = Some(Uuid::new_v4());
        let sub = Some(Uuid::new_v4());
        let other = Some(Uuid::new_v4());
        let admin = user(Role::InsurerAdmin, None, None);
        let admin2 = user(Role::InsurerAdmin, None, None);
        let main = user(Role::MainUser, head, None);
        let employee = user(Role::Employee, head, None);
        let sub_main = user(Role::MainUser, sub, head);
        let sub_employee = user(Role::Employee, sub, head);
        let stranger = user(Role::Employee, other, None);

        // Insurer admins: anyone but insurer admins.
        for t in [&main, &employee, &sub_main, &sub_employee, &stranger] {
            assert!(may_reset(&actor(&admin), t));
        }
        assert!(!may_reset(&actor(&admin), &admin2));
        // A head office's main user: its office and its sub-offices.
        for t in [&employee, &sub_main, &sub_employee] {
            assert!(may_reset(&actor(&main), t));
        }
        assert!(!may_reset(&actor(&main), &stranger), "another office");
        assert!(!may_reset(&actor(&main), &admin));
        // A sub-office's main user: its own office only, not the head office.
        assert!(may_reset(&actor(&sub_main), &sub_employee));
        assert!(!may_reset(&actor(&sub_main), &employee));
        assert!(!may_reset(&actor(&sub_main), &main));
        // Employees: no one. Nobody: themselves.
        assert!(!may_reset(&actor(&employee), &sub_employee));
        for t in [&admin, &main, &employee] {
            assert!(!may_reset(&actor(t), t));
        }
    }
}
