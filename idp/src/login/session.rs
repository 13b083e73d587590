//! The provider's sign-in session cookie: a random 256-bit id, kept in the database as its
//! SHA-256. `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` with the `__Host-` prefix
//! when the issuer is https (SECURITY SE-01).

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::{self, CryptoError};
use crate::oidc::claims;
use crate::state::AppState;
use crate::store::sessions::{self, NewSession};
use crate::store::{StoreError, accounts};

/// The cookie's name on plain http (development) and on https.
fn cookie_name(app: &AppState) -> &'static str {
    if app.settings.https() {
        "__Host-idp_sessie"
    } else {
        "idp_sessie"
    }
}

/// A valid session of an active user.
#[derive(Debug, Clone)]
pub struct Current {
    /// SHA-256 of the cookie value.
    pub id_hash: Vec<u8>,
    /// Who.
    pub user_id: Uuid,
    /// When they authenticated.
    pub auth_time: OffsetDateTime,
    /// How.
    pub amr: String,
}

/// The session the browser presents, if it is valid now: not revoked, within its absolute
/// and idle lifetimes, and its user and offices still active (O6).
pub async fn current(
    app: &AppState,
    jar: &CookieJar,
    now: OffsetDateTime,
) -> Result<Option<Current>, StoreError> {
    let Some(cookie) = jar.get(cookie_name(app)) else {
        return Ok(None);
    };
    let id_hash = crypto::token_hash(cookie.value());
    let Some(s) = sessions::find(&app.db, &id_hash).await? else {
        return Ok(None);
    };
    let live = s.revoked_at.is_none()
        && s.expires_at > now
        && s.last_seen_at + app.settings.session_idle > now;
    if !live {
        return Ok(None);
    }
    let active = accounts::principal(&app.db, s.user_id, &app.registry)
        .await?
        .is_some_and(|p| claims::may_sign_in(&p));
    if !active {
        return Ok(None);
    }
    sessions::touch(&app.db, &id_hash, now).await?;
    Ok(Some(Current {
        id_hash,
        user_id: s.user_id,
        auth_time: s.auth_time,
        amr: s.amr,
    }))
}

/// Starts a new session for `user_id` and returns the jar with its cookie. A new id every
/// time: a cookie planted before sign-in is never the signed-in one (SE-02).
pub async fn start(
    app: &AppState,
    jar: CookieJar,
    user_id: Uuid,
    amr: &str,
    now: OffsetDateTime,
) -> Result<CookieJar, StartError> {
    let (id, session) = prepare(app, user_id, amr, now)?;
    sessions::create(&app.db, &session, now).await?;
    Ok(with_cookie(app, jar, id))
}

/// A new session id and its row, for a caller that stores the row in its own transaction
/// (a second factor's completion, SECURITY MF-02). Hand the id to [`with_cookie`] once the
/// row is stored.
pub fn prepare(
    app: &AppState,
    user_id: Uuid,
    amr: &str,
    now: OffsetDateTime,
) -> Result<(String, NewSession), CryptoError> {
    let id = crypto::random_token()?;
    let session = NewSession {
        id_hash: crypto::token_hash(&id),
        user_id,
        auth_time: now,
        amr: amr.to_owned(),
        expires_at: now + app.settings.session_ttl,
    };
    Ok((id, session))
}

/// The jar with the session cookie for `id`.
pub fn with_cookie(app: &AppState, jar: CookieJar, id: String) -> CookieJar {
    let cookie = Cookie::build((cookie_name(app), id))
        .path("/")
        .http_only(true)
        .secure(app.settings.https())
        .same_site(SameSite::Lax)
        .build();
    jar.add(cookie)
}

/// A session could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No random id.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Not stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The id hash of the session cookie the browser presents, valid or not (logout ends it
/// whatever its state).
pub fn presented(app: &AppState, jar: &CookieJar) -> Option<Vec<u8>> {
    jar.get(cookie_name(app))
        .map(|c| crypto::token_hash(c.value()))
}

/// The jar without the session cookie.
pub fn forget(app: &AppState, jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(cookie_name(app)).path("/").build())
}
