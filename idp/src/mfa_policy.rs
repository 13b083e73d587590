//! The MFA mandate as a policy, not a switch (issue 10, SPEC F2): per head office the date
//! from which a second factor is required (default: `PORTAL_MFA_REQUIRED_FROM`) and a
//! grace of N password-only sign-ins after it; reminders 14 and 3 days before the date
//! through the outbox; "Herinnering sturen" on the Tweefactor-status page.
//!
//! The rule is `domain::factor::mandate` (pure, unit-tested); this module reads what it
//! needs from the store and composes the mails. With the defaults (no date of its own,
//! no grace) every answer is the plain F2 rule's.

use serde::Serialize;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use crate::domain::factor::{self, Mandate, Policy};
use crate::mail::{self, MailError};
use crate::state::Core;
use crate::store::accounts::Principal;
use crate::store::audit::{self, AuditRecord};
use crate::store::mfa::{self, Reminder, WithoutFactor};
use crate::store::outbox::NewMail;
use crate::store::{StoreError, factors};

/// The days before the date on which the housekeeping reminds (issue 10).
pub const REMINDER_DAYS: [i64; 2] = [14, 3];

/// How long "Herinnering sturen" waits before the same user can be reminded again.
pub const MANUAL_THROTTLE: Duration = Duration::hours(24);

/// A reminder could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail could not be composed or sealed.
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// The policy of `user_id`'s office tree.
pub async fn policy_of_user(core: &Core, user_id: Uuid) -> Result<Policy, StoreError> {
    let row = mfa::policy_of_user(&core.db, user_id).await?;
    Ok(Policy::of_tree(
        core.settings.mfa_required_from,
        row.mfa_required_from,
        row.mfa_grace_logins,
    ))
}

/// F2, MF-01 for a session or grant from a sign-in with `amr` at `auth_time` (authorize,
/// token refresh): see `factor::session_suffices`. A second factor needs no look-up.
pub async fn session_suffices(
    core: &Core,
    user_id: Uuid,
    amr: &str,
    auth_time: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    if factor::is_multi_factor(amr) {
        return Ok(true);
    }
    let policy = policy_of_user(core, user_id).await?;
    Ok(factor::session_suffices(&policy, now, amr, auth_time))
}

/// Where `user_id` stands, with the policy it stands under.
pub async fn standing(
    core: &Core,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<(Policy, Mandate), StoreError> {
    let policy = policy_of_user(core, user_id).await?;
    let has_factor = factors::summary(&core.db, user_id).await?.any();
    let used = if has_factor {
        0
    } else {
        mfa::grace_used(&core.db, user_id, policy.required_from).await?
    };
    Ok((policy, factor::mandate(&policy, now, has_factor, used)))
}

/// What a right password without a second factor leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtSignIn {
    /// A password-only session (before the date).
    Session,
    /// A password-only session under grace; `left` more such sign-ins remain.
    Grace {
        /// Grace sign-ins left after this one.
        left: u32,
    },
    /// Set up a second factor first (F2).
    Enrol,
}

/// The password step of `user_id`, who has no second factor: before the date a session;
/// under grace one grace sign-in is taken (counted in the store, once, on any node) and
/// audited `mfa.grace_login`; otherwise enrolment.
pub async fn at_sign_in(
    core: &Core,
    user_id: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<AtSignIn, StoreError> {
    let policy = policy_of_user(core, user_id).await?;
    let used = mfa::grace_used(&core.db, user_id, policy.required_from).await?;
    match factor::mandate(&policy, now, false, used) {
        Mandate::Met | Mandate::NotYet { .. } => Ok(AtSignIn::Session),
        Mandate::Required => Ok(AtSignIn::Enrol),
        Mandate::GraceLeft(_) => {
            let taken =
                mfa::use_grace(&core.db, user_id, policy.required_from, policy.grace_logins)
                    .await?;
            let Some(used) = taken else {
                return Ok(AtSignIn::Enrol);
            };
            let left = policy.grace_logins.saturating_sub(used);
            let mut entry = AuditRecord::new("mfa.grace_login");
            entry.actor_id = Some(user_id);
            entry.target_user_id = Some(user_id);
            entry.ip = ip;
            entry.detail = serde_json::json!({
                "required_from": policy.required_from.to_string(),
                "used": used,
                "left": left,
            });
            audit::record(&core.db, &entry, now).await?;
            Ok(AtSignIn::Grace { left })
        }
    }
}

/// `dd-mm-jjjj`, as the manual writes dates.
pub fn dutch_date(d: Date) -> String {
    format!("{:02}-{:02}-{}", d.day(), u8::from(d.month()), d.year())
}

/// Which automatic reminder is due `days_left` days before the date, given those sent.
pub fn due_reminder(days_left: i64, had_d14: bool, had_d3: bool) -> Option<Reminder> {
    if days_left <= 0 {
        None
    } else if days_left <= REMINDER_DAYS[1] {
        (!had_d3).then_some(Reminder::Days3)
    } else if days_left <= REMINDER_DAYS[0] {
        (!had_d14).then_some(Reminder::Days14)
    } else {
        None
    }
}

#[derive(Serialize)]
struct ReminderMail<'a> {
    name: &'a str,
    date: String,
    days_left: Option<i64>,
    grace_left: Option<u32>,
    link: String,
}

/// The reminder mail (`mail/mfa_reminder.*`) to `w` under `policy`.
fn reminder_mail(
    core: &Core,
    w: &WithoutFactor,
    policy: &Policy,
    now: OffsetDateTime,
) -> Result<NewMail, MfaError> {
    let used = w
        .grace_used
        .and_then(|u| u32::try_from(u).ok())
        .unwrap_or(0);
    let (days_left, grace_left) = match factor::mandate(policy, now, false, used) {
        Mandate::NotYet { days_left } => (Some(days_left), None),
        Mandate::GraceLeft(n) => (None, Some(n)),
        Mandate::Met | Mandate::Required => (None, None),
    };
    let to = lettre::message::Mailbox::new(
        Some(w.name.clone()),
        w.email.parse().map_err(MailError::from)?,
    );
    let content = mail::compose(
        &core.templates,
        "mfa_reminder",
        to,
        ReminderMail {
            name: &w.name,
            date: dutch_date(policy.required_from),
            days_left,
            grace_left,
            link: format!("{}#beveiliging", core.idp_url("/account")),
        },
    )?;
    Ok(mail::seal(&core.outbox, "mfa_reminder", &content)?)
}

fn policy_of_row(core: &Core, w: &WithoutFactor) -> Policy {
    Policy::of_tree(
        core.settings.mfa_required_from,
        w.mfa_required_from,
        w.mfa_grace_logins,
    )
}

/// The hourly housekeeping's part: queues the 14- and 3-day reminders that are due, each
/// once per user and date, on any node (the store's reminder row is written with the
/// mail). Returns how many were queued.
pub async fn queue_reminders(core: &Core, now: OffsetDateTime) -> Result<usize, MfaError> {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let last = today.saturating_add(Duration::days(REMINDER_DAYS[0]));
    let candidates =
        mfa::reminder_candidates(&core.db, core.settings.mfa_required_from, today, last).await?;
    let mut queued = 0;
    for w in &candidates {
        let policy = policy_of_row(core, w);
        let days_left = (policy.required_from - today).whole_days();
        let Some(kind) = due_reminder(days_left, w.had_d14, w.had_d3) else {
            continue;
        };
        let mail = reminder_mail(core, w, &policy, now)?;
        let mut entry = AuditRecord::new("mfa.reminder_sent");
        entry.target_user_id = Some(w.user_id);
        entry.target_office_id = w.office_id;
        entry.detail = serde_json::json!({
            "via": "housekeeping",
            "kind": kind.as_str(),
            "required_from": policy.required_from.to_string(),
        });
        if mfa::send_reminder(
            &core.db,
            w.user_id,
            policy.required_from,
            kind,
            &mail,
            &entry,
            now,
            now,
        )
        .await?
        {
            queued += 1;
        }
    }
    if queued > 0 {
        core.mail_wake.notify_one();
    }
    Ok(queued)
}

/// What became of "Herinnering sturen".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    /// Queued.
    Sent,
    /// The user has a second factor by now (or is inactive or not activated).
    NotNeeded,
    /// A reminder went to this user less than [`MANUAL_THROTTLE`] ago; nothing queued.
    TooSoon,
}

/// "Herinnering sturen" by `caller` (already checked to see `target`, SECURITY AC-01) for
/// `target`: a reminder mail, audited `mfa.reminder_sent`, at most once per
/// [`MANUAL_THROTTLE`] per user, so the button cannot be used to flood a mailbox.
pub async fn send_manual(
    core: &Core,
    caller: &Principal,
    target: Uuid,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Manual, MfaError> {
    let Some(w) =
        mfa::one_without_factor(&core.db, target, core.settings.mfa_required_from).await?
    else {
        return Ok(Manual::NotNeeded);
    };
    let policy = policy_of_row(core, &w);
    let mail = reminder_mail(core, &w, &policy, now)?;
    let mut entry = AuditRecord::new("mfa.reminder_sent");
    entry.actor_id = Some(caller.user.id);
    entry.target_user_id = Some(w.user_id);
    entry.target_office_id = w.office_id;
    entry.ip = ip;
    entry.detail = serde_json::json!({
        "via": "admin",
        "kind": Reminder::Manual.as_str(),
        "required_from": policy.required_from.to_string(),
    });
    let sent = mfa::send_reminder(
        &core.db,
        w.user_id,
        policy.required_from,
        Reminder::Manual,
        &mail,
        &entry,
        now - MANUAL_THROTTLE,
        now,
    )
    .await?;
    if !sent {
        return Ok(Manual::TooSoon);
    }
    core.mail_wake.notify_one();
    Ok(Manual::Sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_go_14_and_3_days_before_once_each() {
        assert_eq!(due_reminder(15, false, false), None);
        assert_eq!(due_reminder(14, false, false), Some(Reminder::Days14));
        assert_eq!(due_reminder(10, true, false), None);
        assert_eq!(due_reminder(4, false, false), Some(Reminder::Days14));
        assert_eq!(due_reminder(3, true, false), Some(Reminder::Days3));
        assert_eq!(
            due_reminder(2, false, false),
            Some(Reminder::Days3),
            "a date set late: only the 3-day one"
        );
        assert_eq!(due_reminder(1, true, true), None);
        assert_eq!(due_reminder(0, false, false), None);
        assert_eq!(due_reminder(-3, false, false), None);
    }

    #[test]
    fn dates_read_as_in_the_manual() {
        assert_eq!(
            dutch_date(time::macros::date!(2025 - 07 - 01)),
            "01-07-2025"
        );
    }
}
