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
    now.date() >= required_from
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
