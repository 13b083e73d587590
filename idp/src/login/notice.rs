//! Notice mails about a change to how someone signs in (SECURITY MF-05, MF-06, MF-07,
//! ML-05): a new or reset authenticator app, a passkey added or removed, a recovery code
//! used or renewed, a login e-mail changed by an administrator. They carry no secret and no link that acts; they say what happened,
//! when, and what to do if it was not the owner. Never copied to a head office (P3).

use lettre::message::Mailbox;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::domain::email::Email;
use crate::mail::{self, MailError};
use crate::state::Core;
use crate::store::outbox::NewMail;

/// What changed; each has its sentence under `notice_mail.<key>` in `nl.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// An authenticator app was set up (or replaced).
    TotpEnrolled,
    /// A passkey was registered.
    PasskeyAdded,
    /// A passkey was removed.
    PasskeyRemoved,
    /// A recovery code was used to sign in.
    RecoveryCodeUsed,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRenewed,
    /// An administrator reset the second factors.
    FactorsReset,
    /// An administrator asked for a new login e-mail; the new address has yet to confirm
    /// it (sent to the old address, AC-10).
    EmailChangeRequested,
    /// The login e-mail changed (sent to the old address, ML-05).
    EmailChanged,
    /// The owner changed its password on Profiel.
    PasswordChanged,
}

impl Change {
    fn key(self) -> &'static str {
        match self {
            Self::TotpEnrolled => "notice_mail.totp_enrolled",
            Self::PasskeyAdded => "notice_mail.passkey_added",
            Self::PasskeyRemoved => "notice_mail.passkey_removed",
            Self::RecoveryCodeUsed => "notice_mail.recovery_code_used",
            Self::RecoveryCodesRenewed => "notice_mail.recovery_codes_renewed",
            Self::FactorsReset => "notice_mail.factors_reset",
            Self::EmailChangeRequested => "notice_mail.email_change_requested",
            Self::EmailChanged => "notice_mail.email_changed",
            Self::PasswordChanged => "notice_mail.password_changed",
        }
    }
}

#[derive(Serialize)]
struct Ctx<'a> {
    name: &'a str,
    change: &'static str,
    when: String,
}

/// The sealed outbox row of a notice to `name <email>`.
pub fn mail(
    core: &Core,
    name: &str,
    email: &Email,
    change: Change,
    now: OffsetDateTime,
) -> Result<NewMail, MailError> {
    let to = Mailbox::new(Some(name.to_owned()), email.as_str().parse()?);
    let when = now
        .format(format_description!(
            "[day]-[month]-[year] [hour]:[minute] UTC"
        ))
        .unwrap_or_default();
    let content = mail::compose(
        &core.templates,
        "security_notice",
        to,
        Ctx {
            name,
            change: change.key(),
            when,
        },
    )?;
    mail::seal(&core.outbox, "security_notice", &content)
}
