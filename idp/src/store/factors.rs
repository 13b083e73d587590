//! Second factors (SPEC F1–F4): a user's authenticator app, recovery codes and passkeys,
//! and the one transaction that accepts a proof.
//!
//! [`complete`] is where a second factor takes effect: the proof is consumed (the TOTP
//! step moves forward only if it is later than the last one, a recovery code is marked
//! used only if it was unused, the pending step is deleted only if it still exists), and
//! in the same transaction the session is created, the audit entries and notice mails are
//! written and, when asked, other sessions end. If any condition fails nothing is
//! written, so a code is accepted once, on one node, however many arrive together
//! (SECURITY MF-02, MF-05).

use time::OffsetDateTime;
use uuid::Uuid;

use super::audit::{AuditRecord, insert_audit};
use super::outbox::{NewMail, insert_mail};
use super::sessions::NewSession;
use super::{Db, StoreError, at, with_db};

/// Replaces the user's recovery codes with `$codes` inside transaction `$tx`.
macro_rules! replace_recovery {
    ($tx:expr, $user:expr, $codes:expr, $now:expr) => {{
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind($user)
            .execute(&mut **$tx)
            .await?;
        for hash in $codes.iter() {
            sqlx::query(
                "INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(hash)
            .bind($user)
            .bind($now)
            .execute(&mut **$tx)
            .await?;
        }
    }};
}

/// Revokes the user's sessions (all, or all but one) and the grants made in them.
macro_rules! end_sessions {
    ($tx:expr, $user:expr, $keep:expr, $now:expr) => {{
        let keep: Option<&[u8]> = $keep;
        let keep = keep.unwrap_or(&[]);
        sqlx::query(
            "UPDATE grants SET revoked_at = $1
             WHERE user_id = $2 AND revoked_at IS NULL AND session_hash <> $3",
        )
        .bind($now)
        .bind($user)
        .bind(keep)
        .execute(&mut **$tx)
        .await?;
        sqlx::query(
            "UPDATE idp_sessions SET revoked_at = $1
             WHERE user_id = $2 AND revoked_at IS NULL AND id_hash <> $3",
        )
        .bind($now)
        .bind($user)
        .bind(keep)
        .execute(&mut **$tx)
        .await?;
        // A code issued in such a session but not yet redeemed dies with it.
        sqlx::query(
            "UPDATE auth_codes SET used_at = $1
             WHERE user_id = $2 AND used_at IS NULL AND session_hash <> $3",
        )
        .bind($now)
        .bind($user)
        .bind(keep)
        .execute(&mut **$tx)
        .await?;
    }};
}

/// Locks the user's row for the rest of transaction `$tx`, so that changes to one user's
/// factors run one after the other on PostgreSQL too (a write first, which SQLite needs
/// anyway to take its lock at the start).
macro_rules! lock_user {
    ($tx:expr, $user:expr) => {{
        sqlx::query("UPDATE users SET version = version WHERE id = $1")
            .bind($user)
            .execute(&mut **$tx)
            .await?;
    }};
}

/// How many factors the user has, inside transaction `$tx`.
macro_rules! factor_count {
    ($tx:expr, $user:expr) => {{
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1)
                  + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
        )
        .bind($user)
        .fetch_one(&mut **$tx)
        .await?;
        n
    }};
}
pub(crate) use end_sessions;

/// A user's stored authenticator app.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredTotp {
    /// The seed, sealed with the user id as associated data.
    pub secret: Vec<u8>,
    /// The step of the last accepted code.
    pub last_step: i64,
}

/// A stored passkey.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredPasskey {
    /// Row id (the associated data of its ciphertext).
    pub id: Uuid,
    /// Whose.
    pub user_id: Uuid,
    /// The WebAuthn credential id.
    pub credential_id: Vec<u8>,
    /// The name its owner gave it.
    pub name: String,
    /// The webauthn-rs `Passkey` as JSON, sealed.
    pub credential: Vec<u8>,
    /// Whether the credential may be synced to other devices (then `swk`, else `hwk`).
    pub backup_eligible: bool,
    /// Registered.
    pub created_at: OffsetDateTime,
    /// Last used to sign in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a user has set up, for the Beveiliging page and the sign-in decision.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// An authenticator app is set up.
    pub totp: bool,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<StoredPasskey>,
    /// Unused recovery codes.
    pub recovery_left: i64,
}

impl Summary {
    /// Whether the user has any second factor.
    pub fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// The user's authenticator app, if set up.
pub async fn totp(db: &Db, user_id: Uuid) -> Result<Option<StoredTotp>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, StoredTotp>(
        "SELECT secret, last_step FROM totp_factors WHERE user_id = $1"
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    Ok(row)
}

macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, name, credential, backup_eligible, created_at, last_used_at"
    };
}

/// The user's passkeys, oldest first.
pub async fn passkeys(db: &Db, user_id: Uuid) -> Result<Vec<StoredPasskey>, StoreError> {
    let sql = concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
    );
    let rows = with_db!(db, |pool| sqlx::query_as::<_, StoredPasskey>(sql)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
    Ok(rows)
}

/// The passkey with this WebAuthn credential id, whoever owns it.
pub async fn passkey_by_credential(
    db: &Db,
    credential_id: &[u8],
) -> Result<Option<StoredPasskey>, StoreError> {
    let sql = concat!(
        "SELECT ",
        passkey_columns!(),
        " FROM passkeys WHERE credential_id = $1"
    );
    let row = with_db!(db, |pool| sqlx::query_as::<_, StoredPasskey>(sql)
        .bind(credential_id)
        .fetch_optional(pool)
        .await)?;
    Ok(row)
}

/// Everything the user has set up.
pub async fn summary(db: &Db, user_id: Uuid) -> Result<Summary, StoreError> {
    let totp = totp(db, user_id).await?.is_some();
    let passkeys = passkeys(db, user_id).await?;
    let recovery_left: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL"
    )
    .bind(user_id)
    .fetch_one(pool)
    .await)?;
    Ok(Summary {
        totp,
        passkeys,
        recovery_left,
    })
}

/// A new passkey to store.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    /// Row id.
    pub id: Uuid,
    /// The WebAuthn credential id (unique over all users, MF-09).
    pub credential_id: Vec<u8>,
    /// The name its owner gave it.
    pub name: String,
    /// The sealed `Passkey`.
    pub credential: Vec<u8>,
    /// Synced (`swk`) or device-bound (`hwk`).
    pub backup_eligible: bool,
}

/// What a completion proves or changes.
#[derive(Debug, Clone)]
pub enum Proof<'a> {
    /// A TOTP code valid for `step`: accepted only if `step` is after the last one.
    Totp {
        /// The matched step.
        step: i64,
    },
    /// An unused recovery code.
    Recovery {
        /// Its SHA-256.
        code_hash: &'a [u8],
    },
    /// A passkey assertion; the credential is stored back with its new counter.
    Passkey {
        /// Row id.
        id: Uuid,
        /// The sealed, updated credential.
        credential: &'a [u8],
    },
    /// A first TOTP code for a new seed: the app is (re)placed and a new set of recovery
    /// codes replaces the old one.
    EnrolTotp {
        /// Only if the user has no factor yet (a forced enrolment: a step made before the
        /// user enrolled elsewhere must not replace that factor).
        first_only: bool,
        /// The sealed seed.
        secret: &'a [u8],
        /// The step the confirming code was valid for (it is used up too, MF-02).
        step: i64,
        /// SHA-256 of each new recovery code.
        recovery: &'a [Vec<u8>],
    },
    /// A new set of recovery codes; the old set is void (MF-05).
    NewRecoveryCodes {
        /// SHA-256 of each.
        recovery: &'a [Vec<u8>],
    },
    /// A new passkey; with `recovery`, also the first set of recovery codes.
    RegisterPasskey {
        /// Only if the user has no factor yet (as for `EnrolTotp`).
        first_only: bool,
        /// The passkey.
        passkey: &'a NewPasskey,
        /// Recovery codes to store when the user had none (first factor).
        recovery: &'a [Vec<u8>],
    },
}

/// Which sessions of the user end with the change (SECURITY SE-05).
#[derive(Debug, Clone, Copy)]
pub enum EndSessions<'a> {
    /// None.
    None,
    /// All but the one with this id hash (the one making the change).
    AllBut(&'a [u8]),
}

/// One accepted proof and everything that goes with it.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    /// Whose factor.
    pub user_id: Uuid,
    /// The pending step this completes; it must still exist, be this user's (or no one's
    /// yet: a passkey sign-in) and is deleted.
    pub step: Option<&'a [u8]>,
    /// The proof.
    pub proof: Proof<'a>,
    /// The session to start, if the step was a sign-in.
    pub session: Option<&'a NewSession>,
    /// Sessions to end.
    pub end_sessions: EndSessions<'a>,
    /// Audit entries.
    pub audit: &'a [AuditRecord],
    /// Notice mails.
    pub mails: &'a [NewMail],
}

/// Why a completion was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The pending step expired, was used, or was discarded.
    StepGone,
    /// The TOTP step is not later than the last accepted one (a replay).
    Replay,
    /// The recovery code is unknown or used.
    UnknownRecoveryCode,
    /// The passkey is gone (removed meanwhile).
    UnknownPasskey,
    /// The credential id is already registered (MF-09).
    DuplicatePasskey,
}

/// Accepts a proof and applies its consequences in one transaction (module docs).
pub async fn complete(
    db: &Db,
    c: &Completion<'_>,
    now: OffsetDateTime,
) -> Result<Result<(), Refused>, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        lock_user!(&mut tx, c.user_id);
        if let Some(step) = c.step {
            let gone = sqlx::query(
                "DELETE FROM pending_steps
                 WHERE id_hash = $1 AND (user_id = $2 OR user_id IS NULL) AND expires_at > $3",
            )
            .bind(step)
            .bind(c.user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if gone.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(Err(Refused::StepGone));
            }
        }
        let refused = match &c.proof {
            Proof::Totp { step } => {
                let n = sqlx::query(
                    "UPDATE totp_factors SET last_step = $1 WHERE user_id = $2 AND last_step < $1",
                )
                .bind(*step)
                .bind(c.user_id)
                .execute(&mut *tx)
                .await?;
                (n.rows_affected() != 1).then_some(Refused::Replay)
            }
            Proof::Recovery { code_hash } => {
                let n = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1
                     WHERE code_hash = $2 AND user_id = $3 AND used_at IS NULL",
                )
                .bind(now)
                .bind(*code_hash)
                .bind(c.user_id)
                .execute(&mut *tx)
                .await?;
                (n.rows_affected() != 1).then_some(Refused::UnknownRecoveryCode)
            }
            Proof::Passkey { id, credential } => {
                let n = sqlx::query(
                    "UPDATE passkeys SET credential = $1, last_used_at = $2
                     WHERE id = $3 AND user_id = $4",
                )
                .bind(*credential)
                .bind(now)
                .bind(*id)
                .bind(c.user_id)
                .execute(&mut *tx)
                .await?;
                (n.rows_affected() != 1).then_some(Refused::UnknownPasskey)
            }
            Proof::EnrolTotp {
                first_only: true, ..
            }
            | Proof::RegisterPasskey {
                first_only: true, ..
            } if factor_count!(&mut tx, c.user_id) > 0 => Some(Refused::StepGone),
            Proof::EnrolTotp {
                secret,
                step,
                recovery,
                ..
            } => {
                sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
                    .bind(c.user_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO totp_factors (user_id, secret, last_step, created_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(c.user_id)
                .bind(*secret)
                .bind(*step)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                replace_recovery!(&mut tx, c.user_id, recovery, now);
                None
            }
            Proof::NewRecoveryCodes { recovery } => {
                replace_recovery!(&mut tx, c.user_id, recovery, now);
                None
            }
            Proof::RegisterPasskey {
                passkey, recovery, ..
            } => {
                let inserted = sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, name, credential,
                        backup_eligible, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (credential_id) DO NOTHING",
                )
                .bind(passkey.id)
                .bind(c.user_id)
                .bind(&passkey.credential_id)
                .bind(&passkey.name)
                .bind(&passkey.credential)
                .bind(passkey.backup_eligible)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() == 1 && !recovery.is_empty() {
                    replace_recovery!(&mut tx, c.user_id, recovery, now);
                }
                (inserted.rows_affected() != 1).then_some(Refused::DuplicatePasskey)
            }
        };
        if let Some(why) = refused {
            tx.rollback().await?;
            return Ok(Err(why));
        }
        if let EndSessions::AllBut(keep) = c.end_sessions {
            end_sessions!(&mut tx, c.user_id, Some(keep), now);
        }
        if let Some(s) = c.session {
            sqlx::query(
                "INSERT INTO idp_sessions (id_hash, user_id, auth_time, amr, created_at,
                    last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
            )
            .bind(&s.id_hash)
            .bind(s.user_id)
            .bind(at(s.auth_time))
            .bind(&s.amr)
            .bind(now)
            .bind(at(s.expires_at))
            .execute(&mut *tx)
            .await?;
        }
        for a in c.audit {
            insert_audit!(&mut *tx, a, now)?;
        }
        for m in c.mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    })
}

/// What became of a passkey removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Removed, audited, mailed; the user's other sessions ended.
    Removed,
    /// No such passkey of this user; nothing changed.
    NotFound,
    /// It was the user's last factor and `keep_one` was asked; nothing changed.
    LastFactor,
}

/// Removes one of the user's passkeys, with its audit entry and notice mail, and ends the
/// user's other sessions (SECURITY SE-05: a 2FA change ends them; `keep` is the session
/// making the change). With `keep_one`, refuses to remove the last factor (MF-06), checked
/// inside the transaction so two parallel removals cannot both pass.
#[allow(clippy::too_many_arguments)]
pub async fn remove_passkey(
    db: &Db,
    user_id: Uuid,
    id: Uuid,
    keep: &[u8],
    keep_one: bool,
    audit: &AuditRecord,
    mails: &[NewMail],
    now: OffsetDateTime,
) -> Result<Removal, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        lock_user!(&mut tx, user_id);
        let n = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if n.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Removal::NotFound);
        }
        if keep_one && factor_count!(&mut tx, user_id) == 0 {
            tx.rollback().await?;
            return Ok(Removal::LastFactor);
        }
        end_sessions!(&mut tx, user_id, Some(keep), now);
        insert_audit!(&mut *tx, audit, now)?;
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok::<Removal, StoreError>(Removal::Removed)
    })
}

/// Removes every second factor of a user (F3: an admin's 2FA reset, MF-07): app,
/// recovery codes and passkeys; ends all sessions and grants and discards pending steps,
/// so the user signs in again and enrols anew. With its audit entry and notice mail.
pub async fn reset(
    db: &Db,
    user_id: Uuid,
    audit: &AuditRecord,
    mails: &[NewMail],
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        lock_user!(&mut tx, user_id);
        for sql in [
            "DELETE FROM totp_factors WHERE user_id = $1",
            "DELETE FROM recovery_codes WHERE user_id = $1",
            "DELETE FROM passkeys WHERE user_id = $1",
            "DELETE FROM pending_steps WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        end_sessions!(&mut tx, user_id, None, now);
        insert_audit!(&mut *tx, audit, now)?;
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })
}

/// Ends every session of `user_id` and the grants and unredeemed codes made in them (an
/// administrator's "Uitloggen op alle apparaten", SECURITY SE-06), with `audit` and the
/// back-channel deliveries `mails` in the same transaction; the audit detail gets the
/// number of sessions that were live (`sessions`), which is returned.
pub async fn end_all_sessions(
    db: &Db,
    user_id: Uuid,
    audit: &AuditRecord,
    mails: &[NewMail],
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let now = at(now);
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        lock_user!(&mut tx, user_id);
        let live: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM idp_sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        end_sessions!(&mut tx, user_id, None, now);
        let mut audit = audit.clone();
        if let Some(detail) = audit.detail.as_object_mut() {
            detail.insert("sessions".into(), live.into());
        }
        insert_audit!(&mut *tx, &audit, now)?;
        for m in mails {
            insert_mail!(&mut *tx, m, now)?;
        }
        tx.commit().await?;
        Ok::<u64, StoreError>(u64::try_from(live).unwrap_or(0))
    })
}
