//! Where a relying party keeps its per-browser state: sign-in attempts (state, nonce, PKCE
//! verifier) and signed-in sessions. Tokens and claims stay here, server-side; the browser
//! only holds random ids (BFF, SECURITY RP-04).
//!
//! [`SessionStore`] is the seam for sharing this state between nodes: the in-memory
//! [`MemorySessionStore`] serves the all-in-one process, and a database-backed store can
//! replace it when several portal nodes run side by side (issue 9). The store applies no
//! rules beyond expiry and single use; what a session may do is decided by its caller.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::claims::SignedInUser;
use crate::ids::StoreKey;

/// How long a sign-in attempt may take, from the redirect to the idp to the callback.
pub const LOGIN_ATTEMPT_LIFETIME: Duration = Duration::minutes(10);

/// Sign-in attempts kept per browser: one per tab that started a sign-in; the oldest goes.
pub const MAX_ATTEMPTS_PER_BROWSER: usize = 5;

/// One sign-in in progress, bound to the browser that started it (SECURITY RP-01).
#[derive(Clone)]
pub struct PendingLogin {
    /// The `state` sent to the idp; the callback must return exactly this.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE (S256) code verifier.
    pub pkce_verifier: String,
    /// The local path to return to after sign-in (already checked as local).
    pub return_to: String,
    /// When the attempt is forgotten.
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in session.
#[derive(Clone)]
pub struct Session {
    /// Who is signed in, with the claims the rights checks read.
    pub user: SignedInUser,
    /// The raw ID token, kept server-side as the `id_token_hint` for RP-initiated logout.
    pub id_token: String,
    /// When the session began.
    pub signed_in_at: OffsetDateTime,
    /// When the session ends: `signed_in_at` + the configured lifetime (8 h by default).
    pub expires_at: OffsetDateTime,
    /// The access token (and, with scope `offline_access`, the refresh token) for calling
    /// the idp's APIs on the user's behalf; server-side only.
    pub tokens: Option<ApiTokens>,
    /// Rights events (issue 10) and token refreshes since the user's rights and role were
    /// last read from the idp; while above 0 they are read again (userinfo) on the next
    /// request. 0 right after sign-in.
    pub claims_stale: u32,
}

/// Tokens kept with a session.
#[derive(Clone)]
pub struct ApiTokens {
    /// The bearer access token.
    pub access_token: String,
    /// When it stops working.
    pub access_expires_at: OffsetDateTime,
    /// The refresh token, rotated on every use.
    pub refresh_token: Option<String>,
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiTokens")
            .field("access_token", &"[redacted]")
            .field("access_expires_at", &self.access_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("id_token", &"[redacted]")
            .field("signed_in_at", &self.signed_in_at)
            .field("expires_at", &self.expires_at)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("session store unavailable: {0}")]
pub struct StoreError(pub String);

/// Server-side state of one relying party, keyed by hashes of cookie values.
///
/// Every method takes `now` so that expiry is decided by the caller's clock (and tests can
/// pin it); an expired entry is never returned, whether or not it has been purged yet.
///
/// Issue 7 adds, for back-channel logout and rights events, a way to end every session of
/// an idp session (`sid`) or of a user (`iss`, `sub`); [`SignedInUser`] already keeps both.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Keeps a sign-in attempt for `browser` until `login.expires_at`. A browser keeps at
    /// most [`MAX_ATTEMPTS_PER_BROWSER`]; beyond that the oldest is dropped.
    async fn insert_login(
        &self,
        browser: &StoreKey,
        login: PendingLogin,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Removes and returns the unexpired attempt of `browser` whose `state` equals `state`.
    /// Single use: the same state never matches twice.
    async fn take_login(
        &self,
        browser: &StoreKey,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingLogin>, StoreError>;

    /// Stores a new session under `key`.
    async fn insert_session(
        &self,
        key: &StoreKey,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The session under `key`, if it has not expired.
    async fn session(
        &self,
        key: &StoreKey,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError>;

    /// Ends the session under `key` (sign-out, or a new sign-in replacing it).
    async fn remove_session(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Ends every session of idp session `sid` or, without one, of user `sub` (a
    /// back-channel logout); returns how many ended.
    async fn remove_sessions_of(
        &self,
        sid: Option<&str>,
        sub: Option<&str>,
    ) -> Result<usize, StoreError>;

    /// Replaces the tokens of the session under `key`, leaving its user as it is now (a
    /// rights event may have changed it while the tokens were being refreshed); `false`
    /// when the session is gone.
    async fn replace_tokens(&self, key: &StoreKey, tokens: ApiTokens) -> Result<bool, StoreError>;

    /// Applies a rights event (issue 10) to every session of user `sub` signed in by
    /// `issuer`: their rights shrink to those also in `rights` (never grow: an event may
    /// arrive late or out of order), and they are marked stale, so that the next request
    /// reads the user's rights and role from the idp. Returns how many sessions there were.
    async fn narrow_claims(
        &self,
        issuer: &str,
        sub: &str,
        rights: &[product_registry::RightCode],
    ) -> Result<usize, StoreError>;

    /// Marks the session under `key` stale (its tokens were refreshed: the rights are read
    /// again on the next request, which repairs a rights event that never arrived).
    async fn mark_stale(&self, key: &StoreKey) -> Result<(), StoreError>;

    /// Stores the rights and role just read from the idp for the session under `key`, if
    /// no rights event or refresh marked it stale again since `seen` was read (that one
    /// may be newer than what was read); returns the session's user as it is now.
    async fn reload_claims(
        &self,
        key: &StoreKey,
        seen: u32,
        rights: Vec<product_registry::RightCode>,
        role: crate::claims::Role,
    ) -> Result<Option<SignedInUser>, StoreError>;

    /// Forgets every expired attempt and session; returns how many entries went.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<usize, StoreError>;

    /// Records the `jti` of a logout token until `expires_at`; `false` when it was
    /// recorded before and has not expired (a replay, SECURITY RP-03).
    async fn remember_jti(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Whether a returned `state` equals the one sent, in constant time (SECURITY KS-03).
pub fn state_matches(expected: &str, returned: &str) -> bool {
    expected.as_bytes().ct_eq(returned.as_bytes()).into()
}

/// How often the memory store sweeps expired entries while being written to.
const PURGE_INTERVAL: Duration = Duration::minutes(1);

/// Browsers with a sign-in in progress that the memory store keeps at most; past this the
/// oldest attempt goes, so a flood of anonymous visits cannot grow memory without bound
/// (SECURITY AV-06).
pub const MAX_BROWSERS_SIGNING_IN: usize = 20_000;

/// The in-process store of the all-in-one portal. State is lost on restart (users sign in
/// again, silently while their idp session lasts) and is not shared between nodes.
#[derive(Default)]
pub struct MemorySessionStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    logins: HashMap<StoreKey, Vec<PendingLogin>>,
    sessions: HashMap<StoreKey, Session>,
    /// Logout-token ids seen, until their token expires.
    jtis: HashMap<String, OffsetDateTime>,
    last_purge: Option<OffsetDateTime>,
}

impl Inner {
    fn purge(&mut self, now: OffsetDateTime) -> usize {
        let before = self.sessions.len() + self.logins.values().map(Vec::len).sum::<usize>();
        self.sessions.retain(|_, s| s.expires_at > now);
        self.jtis.retain(|_, expires_at| *expires_at > now);
        self.logins.retain(|_, attempts| {
            attempts.retain(|a| a.expires_at > now);
            !attempts.is_empty()
        });
        self.last_purge = Some(now);
        let after = self.sessions.len() + self.logins.values().map(Vec::len).sum::<usize>();
        before - after
    }

    fn purge_now_and_then(&mut self, now: OffsetDateTime) {
        if self.last_purge.is_none_or(|t| now - t >= PURGE_INTERVAL) {
            self.purge(now);
        }
    }

    /// Drops the browser whose newest attempt is oldest, to make room for another.
    fn evict_oldest_browser(&mut self) {
        let oldest = self
            .logins
            .iter()
            .min_by_key(|(_, attempts)| attempts.iter().map(|a| a.expires_at).max())
            .map(|(key, _)| *key);
        if let Some(key) = oldest {
            self.logins.remove(&key);
        }
    }
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The maps stay consistent even if a holder panicked (each write is one insert or
        // remove), so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert_login(
        &self,
        browser: &StoreKey,
        login: PendingLogin,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.purge_now_and_then(now);
        if !inner.logins.contains_key(browser) && inner.logins.len() >= MAX_BROWSERS_SIGNING_IN {
            inner.evict_oldest_browser();
        }
        let attempts = inner.logins.entry(*browser).or_default();
        attempts.retain(|a| a.expires_at > now);
        if attempts.len() >= MAX_ATTEMPTS_PER_BROWSER {
            attempts.remove(0);
        }
        attempts.push(login);
        Ok(())
    }

    async fn take_login(
        &self,
        browser: &StoreKey,
        state: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let mut inner = self.lock();
        let Some(attempts) = inner.logins.get_mut(browser) else {
            return Ok(None);
        };
        // Look at every attempt so the time taken does not depend on which one matched.
        let mut found = None;
        for (i, attempt) in attempts.iter().enumerate() {
            if state_matches(&attempt.state, state) {
                found = Some(i);
            }
        }
        let taken = found.map(|i| attempts.remove(i));
        if attempts.is_empty() {
            inner.logins.remove(browser);
        }
        Ok(taken.filter(|a| a.expires_at > now))
    }

    async fn insert_session(
        &self,
        key: &StoreKey,
        session: Session,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.purge_now_and_then(now);
        inner.sessions.insert(*key, session);
        Ok(())
    }

    async fn session(
        &self,
        key: &StoreKey,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.lock();
        match inner.sessions.get(key) {
            Some(s) if s.expires_at > now => Ok(Some(s.clone())),
            Some(_) => {
                inner.sessions.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn remove_session(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.lock().sessions.remove(key);
        Ok(())
    }

    async fn remove_sessions_of(
        &self,
        sid: Option<&str>,
        sub: Option<&str>,
    ) -> Result<usize, StoreError> {
        if sid.is_none() && sub.is_none() {
            return Ok(0);
        }
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| {
            let same_sid = sid.is_none_or(|sid| s.user.sid.as_deref() == Some(sid));
            let same_sub = sub.is_none_or(|sub| s.user.subject == sub);
            !(same_sid && same_sub)
        });
        Ok(before - inner.sessions.len())
    }

    async fn replace_tokens(&self, key: &StoreKey, tokens: ApiTokens) -> Result<bool, StoreError> {
        Ok(match self.lock().sessions.get_mut(key) {
            Some(s) => {
                s.tokens = Some(tokens);
                true
            }
            None => false,
        })
    }

    async fn narrow_claims(
        &self,
        issuer: &str,
        sub: &str,
        rights: &[product_registry::RightCode],
    ) -> Result<usize, StoreError> {
        let mut touched = 0;
        for s in self.lock().sessions.values_mut() {
            if s.user.subject == sub && s.user.issuer == issuer {
                s.user.rights.retain(|r| rights.contains(r));
                s.claims_stale = s.claims_stale.saturating_add(1);
                touched += 1;
            }
        }
        Ok(touched)
    }

    async fn mark_stale(&self, key: &StoreKey) -> Result<(), StoreError> {
        if let Some(s) = self.lock().sessions.get_mut(key) {
            s.claims_stale = s.claims_stale.saturating_add(1);
        }
        Ok(())
    }

    async fn reload_claims(
        &self,
        key: &StoreKey,
        seen: u32,
        rights: Vec<product_registry::RightCode>,
        role: crate::claims::Role,
    ) -> Result<Option<SignedInUser>, StoreError> {
        let mut inner = self.lock();
        let Some(s) = inner.sessions.get_mut(key) else {
            return Ok(None);
        };
        if s.claims_stale == seen {
            s.user.rights = rights;
            s.user.role = role;
            s.claims_stale = 0;
        }
        Ok(Some(s.user.clone()))
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<usize, StoreError> {
        Ok(self.lock().purge(now))
    }

    async fn remember_jti(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        inner.purge_now_and_then(now);
        match inner.jtis.get(jti) {
            Some(until) if *until > now => Ok(false),
            _ => {
                inner.jtis.insert(jti.to_owned(), expires_at);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::claims::Role;
    use crate::ids::CookieValue;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

    fn key() -> StoreKey {
        CookieValue::generate().unwrap().key()
    }

    fn attempt(state: &str, now: OffsetDateTime) -> PendingLogin {
        PendingLogin {
            state: state.into(),
            nonce: format!("nonce-{state}"),
            pkce_verifier: "v".into(),
            return_to: "/dip".into(),
            expires_at: now + LOGIN_ATTEMPT_LIFETIME,
        }
    }

    fn session(now: OffsetDateTime) -> Session {
        Session {
            user: SignedInUser {
                issuer: "http://127.0.0.1:8080/idp".into(),
                subject: "s".into(),
                name: "Ilse de Vries".into(),
                email: None,
                email_verified: false,
                role: Role::Employee,
                rights: vec![],
                office: None,
                head_office: None,
                amr: vec![],
                sid: None,
            },
            id_token: "eyJ.secret.token".into(),
            tokens: Some(ApiTokens {
                access_token: "eyJ.secret.access".into(),
                access_expires_at: now,
                refresh_token: Some("secret-refresh".into()),
            }),
            signed_in_at: now,
            expires_at: now + Duration::hours(8),
            claims_stale: 0,
        }
    }

    #[test]
    fn state_is_compared_exactly() {
        assert!(state_matches("abc", "abc"));
        assert!(!state_matches("abc", "abd"));
        assert!(!state_matches("abc", "ab"));
        assert!(!state_matches("abc", ""));
    }

    #[tokio::test]
    async fn an_attempt_is_taken_once_and_only_by_its_own_browser() {
        let store = MemorySessionStore::new();
        let (mine, other) = (key(), key());
        store
            .insert_login(&mine, attempt("s1", NOW), NOW)
            .await
            .unwrap();
        // Another browser presenting my state gets nothing (RP-01), and my attempt survives.
        assert!(store.take_login(&other, "s1", NOW).await.unwrap().is_none());
        assert!(
            store
                .take_login(&mine, "wrong", NOW)
                .await
                .unwrap()
                .is_none()
        );
        let got = store.take_login(&mine, "s1", NOW).await.unwrap().unwrap();
        assert_eq!(got.nonce, "nonce-s1");
        assert!(
            store.take_login(&mine, "s1", NOW).await.unwrap().is_none(),
            "replay"
        );
    }

    #[tokio::test]
    async fn two_tabs_may_sign_in_at_once_but_attempts_are_capped() {
        let store = MemorySessionStore::new();
        let browser = key();
        for i in 0..=MAX_ATTEMPTS_PER_BROWSER {
            store
                .insert_login(&browser, attempt(&format!("s{i}"), NOW), NOW)
                .await
                .unwrap();
        }
        assert!(
            store
                .take_login(&browser, "s0", NOW)
                .await
                .unwrap()
                .is_none(),
            "oldest dropped"
        );
        assert!(
            store
                .take_login(&browser, "s1", NOW)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .take_login(&browser, "s5", NOW)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn an_expired_attempt_is_refused() {
        let store = MemorySessionStore::new();
        let browser = key();
        store
            .insert_login(&browser, attempt("s", NOW), NOW)
            .await
            .unwrap();
        let later = NOW + LOGIN_ATTEMPT_LIFETIME;
        assert!(
            store
                .take_login(&browser, "s", later)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn sessions_expire_and_are_purged() {
        let store = MemorySessionStore::new();
        let (a, b) = (key(), key());
        store.insert_session(&a, session(NOW), NOW).await.unwrap();
        let later = NOW + Duration::hours(4);
        store
            .insert_session(&b, session(later), later)
            .await
            .unwrap();
        store
            .insert_login(&key(), attempt("s", NOW), NOW)
            .await
            .unwrap();

        let just_before = NOW + Duration::hours(8) - Duration::seconds(1);
        assert!(store.session(&a, just_before).await.unwrap().is_some());
        let at_expiry = NOW + Duration::hours(8);
        assert!(
            store.session(&a, at_expiry).await.unwrap().is_none(),
            "expired is never returned"
        );
        assert!(store.session(&b, at_expiry).await.unwrap().is_some());

        // The sign-in attempt is long expired; session b lives until later + 8 h.
        assert_eq!(store.purge_expired(at_expiry).await.unwrap(), 1);
        assert_eq!(
            store
                .purge_expired(later + Duration::hours(8))
                .await
                .unwrap(),
            1
        );
        assert!(store.lock().sessions.is_empty() && store.lock().logins.is_empty());
    }

    #[tokio::test]
    async fn writes_sweep_expired_entries_and_sign_out_removes_at_once() {
        let store = MemorySessionStore::new();
        let (a, b) = (key(), key());
        store.insert_session(&a, session(NOW), NOW).await.unwrap();
        let next_day = NOW + Duration::days(1);
        store
            .insert_session(&b, session(next_day), next_day)
            .await
            .unwrap();
        assert_eq!(store.lock().sessions.len(), 1, "a was swept by the write");
        store.remove_session(&b).await.unwrap();
        assert!(store.session(&b, next_day).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_flood_of_anonymous_sign_ins_stays_bounded() {
        let store = MemorySessionStore::new();
        let first = key();
        store
            .insert_login(&first, attempt("first", NOW), NOW)
            .await
            .unwrap();
        for _ in 0..MAX_BROWSERS_SIGNING_IN {
            let later = NOW + Duration::seconds(1);
            store
                .insert_login(&key(), attempt("x", later), later)
                .await
                .unwrap();
        }
        assert_eq!(store.lock().logins.len(), MAX_BROWSERS_SIGNING_IN);
        assert!(
            store
                .take_login(&first, "first", NOW)
                .await
                .unwrap()
                .is_none(),
            "oldest evicted"
        );
    }

    #[test]
    fn debug_hides_tokens_and_attempt_secrets() {
        assert!(!format!("{:?}", session(NOW)).contains("secret"));
        assert!(!format!("{:?}", attempt("geheime-state", NOW)).contains("geheime"));
    }
}
