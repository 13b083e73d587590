//! The browser's handle on a pending step (`store::steps`): a random 256-bit id in a
//! cookie of its own, never the session cookie, so a half-finished sign-in is no session
//! anywhere (SECURITY AU-08). Starting a step replaces the browser's earlier one.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crypto::{self, CryptoError};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::steps::{self, NewStep, Step, StepKind};

/// How long a step lives (AU-08, MF-08: at most five minutes).
pub const LIFETIME: Duration = Duration::minutes(5);

fn cookie_name(app: &AppState) -> &'static str {
    if app.settings.https() {
        "__Host-idp_stap"
    } else {
        "idp_stap"
    }
}

/// What a new step holds besides its id. No `Debug`: it may carry a TOTP seed in the
/// clear (SECURITY KS-04).
#[derive(Clone)]
pub struct Begin {
    /// What for.
    pub kind: StepKind,
    /// Whose.
    pub user_id: Option<Uuid>,
    /// Factors proven so far.
    pub amr: String,
    /// Where to go afterwards.
    pub return_to: String,
    /// A TOTP seed awaiting its first code (plain; sealed here).
    pub secret: Option<Vec<u8>>,
    /// A WebAuthn ceremony state (plain JSON; sealed here).
    pub ceremony: Option<Vec<u8>>,
}

/// A step could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// No random id, or a ciphertext did not open.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts a step and returns the jar with its cookie; the browser's earlier step, if any,
/// is discarded.
pub async fn begin(
    app: &AppState,
    jar: CookieJar,
    b: Begin,
    now: OffsetDateTime,
) -> Result<CookieJar, StepError> {
    if let Some(old) = presented(app, &jar) {
        steps::discard(&app.db, &old).await?;
    }
    let id = crypto::random_token()?;
    let id_hash = crypto::token_hash(&id);
    let seal = |plain: Option<Vec<u8>>| -> Result<Option<Vec<u8>>, CryptoError> {
        plain
            .map(|p| app.step_sealer.seal(&id_hash, &zeroize::Zeroizing::new(p)))
            .transpose()
    };
    steps::create(
        &app.db,
        &NewStep {
            id_hash: id_hash.clone(),
            kind: b.kind,
            user_id: b.user_id,
            amr: b.amr,
            return_to: b.return_to,
            secret: seal(b.secret)?,
            ceremony: seal(b.ceremony)?,
            expires_at: now + LIFETIME,
        },
        now,
    )
    .await?;
    let cookie = Cookie::build((cookie_name(app), id))
        .path("/")
        .http_only(true)
        .secure(app.settings.https())
        .same_site(SameSite::Lax)
        .max_age(time::Duration::minutes(5))
        .build();
    Ok(jar.add(cookie))
}

/// The browser's live step of one of `kinds`, if any.
pub async fn current(
    app: &AppState,
    jar: &CookieJar,
    kinds: &[StepKind],
    now: OffsetDateTime,
) -> Result<Option<Step>, StoreError> {
    let Some(id_hash) = presented(app, jar) else {
        return Ok(None);
    };
    Ok(steps::find(&app.db, &id_hash, now)
        .await?
        .filter(|s| kinds.contains(&s.kind)))
}

/// Opens a sealed value of `step` (its seed or ceremony state).
pub fn open(
    app: &AppState,
    step: &Step,
    sealed: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    app.step_sealer.open(&step.id_hash, sealed)
}

/// Seals a value for `step` (a new ceremony state on an existing step).
pub fn seal(app: &AppState, step: &Step, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
    app.step_sealer.seal(&step.id_hash, plain)
}

/// The id hash of the step cookie the browser presents, valid or not.
pub fn presented(app: &AppState, jar: &CookieJar) -> Option<Vec<u8>> {
    jar.get(cookie_name(app))
        .map(|c| crypto::token_hash(c.value()))
}

/// The jar without the step cookie.
pub fn forget(app: &AppState, jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(cookie_name(app)).path("/").build())
}
