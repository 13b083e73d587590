//! Sign-in and enrolment steps that are not a session (SECURITY AU-08): the password was
//! right but the second factor is still due, an authenticator app is being set up, or a
//! WebAuthn ceremony waits for the browser's answer. The browser holds a random id; the
//! table holds its SHA-256, any pending TOTP seed and any WebAuthn state as AEAD
//! ciphertext bound to the row. A step lives five minutes at most and is deleted by the
//! transaction that completes it, so it completes once.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, StoreError, at, with_db};

/// What a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Password accepted; a TOTP code, recovery code or passkey is due.
    SecondFactor,
    /// Password accepted; the user has no second factor and must set one up (F2).
    Enrol,
    /// "Inloggen met passkey": a discoverable WebAuthn challenge, no user yet.
    PasskeyLogin,
    /// A signed-in user is setting up an authenticator app (Beveiliging).
    TotpSetup,
    /// A signed-in user is registering a passkey (Beveiliging).
    PasskeyRegister,
}

impl StepKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondFactor => "second_factor",
            Self::Enrol => "enrol",
            Self::PasskeyLogin => "passkey_login",
            Self::TotpSetup => "totp_setup",
            Self::PasskeyRegister => "passkey_register",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "second_factor" => Self::SecondFactor,
            "enrol" => Self::Enrol,
            "passkey_login" => Self::PasskeyLogin,
            "totp_setup" => Self::TotpSetup,
            "passkey_register" => Self::PasskeyRegister,
            _ => return None,
        })
    }
}

/// A step to store.
#[derive(Debug, Clone)]
pub struct NewStep {
    /// SHA-256 of the cookie value.
    pub id_hash: Vec<u8>,
    /// What for.
    pub kind: StepKind,
    /// Whose (none for a passkey sign-in before the passkey names its user).
    pub user_id: Option<Uuid>,
    /// Factors proven so far (`pwd`).
    pub amr: String,
    /// Where the sign-in returns to (a checked local path).
    pub return_to: String,
    /// A TOTP seed awaiting its first code, sealed.
    pub secret: Option<Vec<u8>>,
    /// A WebAuthn ceremony state, sealed.
    pub ceremony: Option<Vec<u8>>,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

/// A stored step that has not expired.
#[derive(Debug, Clone)]
pub struct Step {
    /// SHA-256 of the cookie value.
    pub id_hash: Vec<u8>,
    /// What for.
    pub kind: StepKind,
    /// Whose.
    pub user_id: Option<Uuid>,
    /// Factors proven so far.
    pub amr: String,
    /// Where to go afterwards.
    pub return_to: String,
    /// Sealed TOTP seed.
    pub secret: Option<Vec<u8>>,
    /// Sealed WebAuthn state.
    pub ceremony: Option<Vec<u8>>,
    /// Wrong codes so far.
    pub failures: i64,
    /// When it ends.
    pub expires_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct StepRow {
    id_hash: Vec<u8>,
    kind: String,
    user_id: Option<Uuid>,
    amr: String,
    return_to: String,
    secret: Option<Vec<u8>>,
    ceremony: Option<Vec<u8>>,
    failures: i64,
    expires_at: OffsetDateTime,
}

/// Stores a new step.
pub async fn create(db: &Db, s: &NewStep, now: OffsetDateTime) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "INSERT INTO pending_steps (id_hash, kind, user_id, amr, return_to, secret, ceremony,
            failures, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)"
    )
    .bind(&s.id_hash)
    .bind(s.kind.as_str())
    .bind(s.user_id)
    .bind(&s.amr)
    .bind(&s.return_to)
    .bind(s.secret.as_deref())
    .bind(s.ceremony.as_deref())
    .bind(at(now))
    .bind(at(s.expires_at))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The step with this id hash, if it exists and has not expired.
pub async fn find(
    db: &Db,
    id_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Step>, StoreError> {
    let row = with_db!(db, |pool| sqlx::query_as::<_, StepRow>(
        "SELECT id_hash, kind, user_id, amr, return_to, secret, ceremony, failures, expires_at
         FROM pending_steps WHERE id_hash = $1 AND expires_at > $2"
    )
    .bind(id_hash)
    .bind(at(now))
    .fetch_optional(pool)
    .await)?;
    let Some(r) = row else { return Ok(None) };
    let kind = StepKind::parse(&r.kind).ok_or_else(|| StoreError::Corrupt(r.kind.clone()))?;
    Ok(Some(Step {
        id_hash: r.id_hash,
        kind,
        user_id: r.user_id,
        amr: r.amr,
        return_to: r.return_to,
        secret: r.secret,
        ceremony: r.ceremony,
        failures: r.failures,
        expires_at: r.expires_at,
    }))
}

/// Puts a (new) WebAuthn challenge state on a step, replacing any earlier one.
pub async fn set_ceremony(
    db: &Db,
    id_hash: &[u8],
    ceremony: &[u8],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "UPDATE pending_steps SET ceremony = $1 WHERE id_hash = $2 AND expires_at > $3"
    )
    .bind(ceremony)
    .bind(id_hash)
    .bind(at(now))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Takes the WebAuthn challenge state off a step: a challenge answers once (MF-08). Of
/// two parallel answers, one gets it.
pub async fn take_ceremony(
    db: &Db,
    id_hash: &[u8],
    now: OffsetDateTime,
) -> Result<Option<Vec<u8>>, StoreError> {
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        // A write first: it locks the row (PostgreSQL) or the database (SQLite), so a
        // parallel take waits and then finds the state gone.
        let locked = sqlx::query(
            "UPDATE pending_steps SET ceremony = ceremony
             WHERE id_hash = $1 AND expires_at > $2 AND ceremony IS NOT NULL",
        )
        .bind(id_hash)
        .bind(at(now))
        .execute(&mut *tx)
        .await?;
        if locked.rows_affected() != 1 {
            return Ok(None);
        }
        let state: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT ceremony FROM pending_steps WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("UPDATE pending_steps SET ceremony = NULL WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok::<Option<Vec<u8>>, StoreError>(state)
    })
}

/// Counts one attempt at a step's code before the code is looked at, so parallel guesses
/// cannot outrun the limit (SECURITY MF-03): returns the attempt's number, or `None` when
/// the step is gone or has had `max` attempts already. The check and the count are one
/// statement.
pub async fn attempt(
    db: &Db,
    id_hash: &[u8],
    max: i64,
    now: OffsetDateTime,
) -> Result<Option<i64>, StoreError> {
    let n = with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
        "UPDATE pending_steps SET failures = failures + 1
         WHERE id_hash = $1 AND expires_at > $2 AND failures < $3 RETURNING failures"
    )
    .bind(id_hash)
    .bind(at(now))
    .bind(max)
    .fetch_optional(pool)
    .await)?;
    Ok(n)
}

/// Deletes a step (cancelled, or replaced by a new one).
pub async fn discard(db: &Db, id_hash: &[u8]) -> Result<(), StoreError> {
    with_db!(db, |pool| sqlx::query(
        "DELETE FROM pending_steps WHERE id_hash = $1"
    )
    .bind(id_hash)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes every step that ended before `before` (housekeeping).
pub async fn purge(db: &Db, before: OffsetDateTime) -> Result<u64, StoreError> {
    let n = with_db!(db, |pool| sqlx::query(
        "DELETE FROM pending_steps WHERE expires_at < $1"
    )
    .bind(at(before))
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}
