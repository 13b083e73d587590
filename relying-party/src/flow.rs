//! The relying party itself: discovery (lazy, cached), the authorization code flow with
//! PKCE and nonce, ID token verification, and the session it ends in.
//!
//! Protocol work is done by `openidconnect`; this module decides what is kept where. The
//! browser gets random ids only, state/nonce/verifier and tokens stay in the
//! [`SessionStore`]. It renders nothing itself: errors go out as [`Failure`] pages.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, CsrfToken, EndSessionUrl, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IdToken, LogoutRequest, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadataWithLogout, RefreshToken, RequestTokenError,
    SignatureVerificationError, TokenResponse as _,
};
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::RwLock;
use web_kit::Templates;

use crate::claims::{PortalClaims, SignedInUser};
use crate::cookies;
use crate::error::{Failure, RpError};
use crate::ids::CookieValue;
use crate::settings::{Checked, RpSettings};
use crate::store::{
    ApiTokens, LOGIN_ATTEMPT_LIFETIME, MemorySessionStore, PendingLogin, Session, SessionStore,
};
use product_registry::RightCode;

/// The event a logout token must carry (Back-Channel Logout 1.0 §2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The header `typ` of a logout token (Back-Channel Logout 1.0 §2.4).
const LOGOUT_TYP: &str = "logout+jwt";

/// The header `typ` of a Security Event Token (RFC 8417 §2.3).
const SET_TYP: &str = "secevent+jwt";

/// CAEP 1.0 §3.2: the user's claims changed; the new values are in `claims`.
const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";

/// CAEP 1.0 §3.1: the user's sessions are revoked.
const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// The clock leeway of every idp JWT check, in seconds.
const JWT_LEEWAY_SECONDS: u64 = 60;

/// The claims of a logout token that matter here.
#[derive(Deserialize)]
struct LogoutClaims {
    sub: Option<String>,
    sid: Option<String>,
    jti: Option<String>,
    exp: i64,
    events: Option<serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// The claims of a Security Event Token that matter here (RFC 8417 §2.2, SSF 1.0 §3).
#[derive(Deserialize)]
struct SetClaims {
    jti: Option<String>,
    exp: i64,
    sub_id: Option<SubjectId>,
    events: serde_json::Map<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// SSF 1.0 §3: the subject, as issuer and subject identifier.
#[derive(Deserialize)]
struct SubjectId {
    format: String,
    iss: String,
    sub: String,
}

/// CAEP 1.0 §3.2's event, with the claims this portal keeps.
#[derive(Deserialize)]
struct ClaimsChange {
    claims: ChangedClaims,
}

#[derive(Deserialize)]
struct ChangedClaims {
    rights: Vec<String>,
}

/// What a security event did here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventApplied {
    /// This many sessions lost the rights the event no longer lists, and read their
    /// rights and role from the idp at their next request.
    ClaimsChanged(usize),
    /// This many sessions ended.
    SessionsRevoked(usize),
    /// An event type this portal does not act on (RFC 8935 §2.2: accepted all the same).
    Ignored,
    /// A SET whose `jti` was taken before: acknowledged, nothing done again.
    Duplicate,
}

/// The tokens of a token response, with the access token's end.
fn api_tokens<R: openidconnect::OAuth2TokenResponse>(
    response: &R,
    now: OffsetDateTime,
) -> ApiTokens {
    let lifetime = response
        .expires_in()
        .and_then(|d| time::Duration::try_from(d).ok())
        .unwrap_or(time::Duration::minutes(5));
    ApiTokens {
        access_token: response.access_token().secret().clone(),
        access_expires_at: now + lifetime,
        refresh_token: response.refresh_token().map(|t| t.secret().clone()),
    }
}

/// An ID token with the idp's portal claims.
pub type PortalIdToken = IdToken<
    PortalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The client as discovery leaves it: authorization endpoint set, token and userinfo
/// endpoints as advertised.
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long discovery (and so the key set) is trusted before it is fetched again. A key
/// the cache does not know also triggers a fetch, so a key rotation needs no wait.
const DISCOVERY_TTL: StdDuration = StdDuration::from_secs(3600);

/// A JWT anyone can POST to us (a logout token, an O7 question) with a `kid` we do not
/// know makes us fetch the idp's keys again, but no sooner than this after the last
/// fetch: otherwise every such POST would cost the idp a discovery and a JWKS request
/// (an amplification). The idp publishes a new key before it signs with it, so a real
/// new key is in the copy we have, or in the next one. ID tokens come from our own
/// token request, not from a stranger, and refetch at once.
const UNKNOWN_KID_REFETCH: StdDuration = StdDuration::from_secs(10);

/// The only ID token signature algorithm accepted (SECURITY RP-02): our clients are
/// registered for RS256, so `none`, HS256 with a public key and anything else fail.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 1] = [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256];

struct Provider {
    client: DiscoveredClient,
    end_session: Option<EndSessionUrl>,
    /// The idp's keys as `jsonwebtoken` reads them, for logout tokens.
    jwks: jsonwebtoken::jwk::JwkSet,
    fetched: Instant,
}

/// The query of `GET …/auth/callback` (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state we sent.
    pub state: Option<String>,
    /// The issuer that answered (RFC 9207).
    pub iss: Option<String>,
    /// An error code instead of a code.
    pub error: Option<String>,
}

/// One OIDC client of the idp with its browser sessions (the admin UI, or one product
/// portal). Cheap to share behind an `Arc`.
pub struct RelyingParty {
    config: Checked,
    http: reqwest::Client,
    provider: RwLock<Option<Arc<Provider>>>,
    /// When a stranger's unknown `kid` last made us fetch the keys, whether or not the
    /// fetch worked: a failing idp must not turn every forged JWT into a fetch.
    unknown_kid_fetch: std::sync::Mutex<Option<Instant>>,
    store: Arc<dyn SessionStore>,
    templates: Templates,
}

impl RelyingParty {
    /// A relying party with an in-memory session store. Does no I/O: discovery happens on
    /// first use, because in the all-in-one process the idp is not listening yet.
    pub fn new(settings: &RpSettings, templates: Templates) -> Result<Self, RpError> {
        Self::with_store(settings, templates, Arc::new(MemorySessionStore::new()))
    }

    /// A relying party keeping its state in `store` (e.g. a database shared by nodes).
    pub fn with_store(
        settings: &RpSettings,
        templates: Templates,
        store: Arc<dyn SessionStore>,
    ) -> Result<Self, RpError> {
        let http = reqwest::Client::builder()
            // Following redirects would open the back channel to SSRF (openidconnect docs).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(StdDuration::from_secs(5))
            .timeout(StdDuration::from_secs(15))
            .build()
            .map_err(|e| RpError::Settings(format!("http client: {e}")))?;
        Ok(Self {
            config: settings.check()?,
            http,
            provider: RwLock::new(None),
            unknown_kid_fetch: std::sync::Mutex::new(None),
            store,
            templates,
        })
    }

    /// The templates error pages are rendered with.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Where this portal is mounted, which is also its cookie path: `/dip`, or `/`.
    pub fn mount_path(&self) -> &str {
        &self.config.cookies.path
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        self.config.client_id.as_str()
    }

    /// Wraps an error for rendering; its page offers to sign in again from this portal.
    pub fn failure(&self, error: RpError) -> Failure {
        Failure {
            error,
            templates: self.templates.clone(),
            retry: self.config.cookies.path.clone(),
        }
    }

    /// The signed-in user of this browser, if its session cookie names a live session.
    pub async fn current_user(&self, jar: &CookieJar) -> Result<Option<SignedInUser>, RpError> {
        let Some(id) = cookies::session_id(jar, &self.config.cookies) else {
            return Ok(None);
        };
        let session = self
            .store
            .session(&id.key(), OffsetDateTime::now_utc())
            .await?;
        match session {
            Some(s) if s.claims_stale > 0 && s.tokens.is_some() => {
                self.reload_claims(jar, &id.key(), s).await
            }
            other => Ok(other.map(|s| s.user)),
        }
    }

    /// Issue 10: reads the user's rights and role from the idp's userinfo endpoint, with
    /// the session's access token (refreshed if need be), after a rights event or a token
    /// refresh marked the session stale. A refused refresh has ended the session (`None`);
    /// an idp that cannot be asked leaves the session as it is (its rights only ever
    /// narrowed by events) until the next request tries again.
    async fn reload_claims(
        &self,
        jar: &CookieJar,
        key: &crate::ids::StoreKey,
        session: Session,
    ) -> Result<Option<SignedInUser>, RpError> {
        let access = match self.access_token(jar).await {
            Ok(Some(a)) => a,
            Ok(None) => {
                let now = OffsetDateTime::now_utc();
                return Ok(self.store.session(key, now).await?.map(|s| s.user));
            }
            Err(e) => {
                tracing::warn!(error = %e, "rights not read again: no access token now");
                return Ok(Some(session.user));
            }
        };
        // Counted after any refresh above: an event or refresh from here on is newer than
        // what userinfo answers, and keeps the session stale.
        let Some(current) = self.store.session(key, OffsetDateTime::now_utc()).await? else {
            return Ok(None);
        };
        let seen = current.claims_stale;
        let (rights, role) = match self.userinfo(&access, &current.user.subject).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "rights not read again: userinfo failed");
                return Ok(Some(current.user));
            }
        };
        Ok(self.store.reload_claims(key, seen, rights, role).await?)
    }

    /// The user's `rights` and `role` from the idp's userinfo endpoint (OIDC Core §5.3),
    /// for the subject the session belongs to (a response about anyone else is refused).
    async fn userinfo(
        &self,
        access_token: &str,
        subject: &str,
    ) -> Result<(Vec<RightCode>, crate::claims::Role), RpError> {
        let provider = self.provider().await?;
        let request = provider
            .client
            .user_info(
                openidconnect::AccessToken::new(access_token.to_owned()),
                Some(openidconnect::SubjectIdentifier::new(subject.to_owned())),
            )
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        let claims: openidconnect::UserInfoClaims<PortalClaims, CoreGenderClaim> = request
            .request_async(&self.http)
            .await
            .map_err(|e| RpError::Discovery(format!("userinfo: {e}")))?;
        let extra = claims.additional_claims();
        let rights = extra
            .rights
            .iter()
            .filter_map(|raw| RightCode::parse(raw).ok())
            .collect();
        Ok((rights, extra.role))
    }

    /// Sends the browser to the idp to sign in (303), remembering `return_to` for after the
    /// callback; anything but a local path is replaced by the portal's home.
    pub async fn sign_in(&self, jar: CookieJar, return_to: &str) -> Response {
        self.redirect_to_sign_in(jar, return_to, false).await
    }

    /// As [`Self::sign_in`], but the idp asks for the password (and second factor) again
    /// even when its own session is live (`prompt=login`): for an act that needs a recent
    /// sign-in, after the API answered with an RFC 9470 step-up challenge.
    pub async fn sign_in_again(&self, jar: CookieJar, return_to: &str) -> Response {
        self.redirect_to_sign_in(jar, return_to, true).await
    }

    async fn redirect_to_sign_in(&self, jar: CookieJar, return_to: &str, again: bool) -> Response {
        match self
            .start_login(jar, return_to, again, OffsetDateTime::now_utc())
            .await
        {
            Ok((jar, url)) => (
                [web_kit::headers::no_store()],
                jar,
                Redirect::to(url.as_str()),
            )
                .into_response(),
            Err(e) => self.failure(e).into_response(),
        }
    }

    /// Starts a sign-in: fresh state, nonce and PKCE verifier, kept server-side under this
    /// browser's binding cookie (SECURITY RP-01). `return_to` is kept only if it is a local
    /// path. Returns the authorization URL.
    pub async fn begin_login(
        &self,
        jar: CookieJar,
        return_to: &str,
        now: OffsetDateTime,
    ) -> Result<(CookieJar, url::Url), RpError> {
        self.start_login(jar, return_to, false, now).await
    }

    async fn start_login(
        &self,
        jar: CookieJar,
        return_to: &str,
        again: bool,
        now: OffsetDateTime,
    ) -> Result<(CookieJar, url::Url), RpError> {
        let provider = self.provider().await?;
        let browser = match cookies::login_id(&jar, &self.config.cookies) {
            Some(id) => id,
            None => CookieValue::generate().map_err(|e| RpError::Random(e.to_string()))?,
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.config.extra_scopes.iter().cloned())
            .set_pkce_challenge(challenge);
        if again {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        let (url, state, nonce) = request.url();
        let login = PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            // Checked again here so that no caller can make the callback an open redirect
            // (SECURITY IO-03).
            return_to: web_kit::paths::safe_return_to(Some(return_to), self.mount_path())
                .to_owned(),
            expires_at: now + LOGIN_ATTEMPT_LIFETIME,
        };
        self.store.insert_login(&browser.key(), login, now).await?;
        let jar = jar.add(cookies::login_cookie(&browser, &self.config.cookies));
        Ok((jar, url))
    }

    /// Completes a sign-in at the callback: checks the state against this browser's
    /// attempts, exchanges the code (client_secret_basic + PKCE), verifies the ID token and
    /// starts a new session. Returns the jar with the session cookie and where to go next.
    pub async fn finish_login(
        &self,
        jar: CookieJar,
        params: CallbackParams,
        now: OffsetDateTime,
    ) -> Result<(CookieJar, String), RpError> {
        // RFC 9207 §2.4: when the idp names itself, it must be the issuer we asked.
        if params
            .iss
            .as_deref()
            .is_some_and(|iss| iss != self.config.issuer.as_str())
        {
            return Err(RpError::IssuerMismatch);
        }
        let browser = cookies::login_id(&jar, &self.config.cookies).ok_or(RpError::UnknownLogin)?;
        let state = params
            .state
            .as_deref()
            .ok_or(RpError::BadCallback("state"))?;
        let login = self
            .store
            .take_login(&browser.key(), state, now)
            .await?
            .ok_or(RpError::UnknownLogin)?;
        // RFC 6749 §4.1.2.1: an error response instead of a code.
        if let Some(error) = params.error {
            return Err(RpError::Refused(printable(&error)));
        }
        let code = params.code.ok_or(RpError::BadCallback("code"))?;

        let (raw_id_token, user, tokens) = self.redeem(code, &login, now).await?;
        let session = Session {
            user,
            id_token: raw_id_token,
            tokens: Some(tokens),
            signed_in_at: now,
            expires_at: now + self.config.session_lifetime,
            claims_stale: 0,
        };
        // SECURITY SE-02: a session id that existed before sign-in is never the signed-in one.
        if let Some(old) = cookies::session_id(&jar, &self.config.cookies) {
            self.store.remove_session(&old.key()).await?;
        }
        let id = CookieValue::generate().map_err(|e| RpError::Random(e.to_string()))?;
        tracing::info!(
            client = %self.config.client_id.as_str(),
            sub = %session.user.subject,
            "signed in"
        );
        self.store.insert_session(&id.key(), session, now).await?;
        let jar = jar.add(cookies::session_cookie(&id, &self.config.cookies));
        Ok((jar, login.return_to))
    }

    /// Exchanges the code and verifies the ID token; on a key the cached set lacks,
    /// fetches discovery again once (the idp may have rotated its keys).
    async fn redeem(
        &self,
        code: String,
        login: &PendingLogin,
        now: OffsetDateTime,
    ) -> Result<(String, SignedInUser, ApiTokens), RpError> {
        let provider = self.provider().await?;
        let response = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| RpError::Discovery(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(describe_token_error)?;
        let raw = response
            .id_token()
            .ok_or(RpError::MissingIdToken)?
            .to_string();
        let user = self.verify_id_token(&provider, &raw, &login.nonce).await?;
        Ok((raw, user, api_tokens(&response, now)))
    }

    /// Parses and verifies an ID token with `provider`'s keys, fetching discovery again
    /// once on a key the cached set lacks (the idp may have rotated its keys).
    async fn verify_id_token(
        &self,
        provider: &Arc<Provider>,
        raw: &str,
        nonce: &str,
    ) -> Result<SignedInUser, RpError> {
        let id_token =
            PortalIdToken::from_str(raw).map_err(|e| RpError::IdToken(format!("parse: {e}")))?;
        let nonce = Nonce::new(nonce.to_owned());
        match verify(provider, &id_token, &nonce) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.refresh(Some(provider)).await?;
                verify(&fresh, &id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| RpError::IdToken(e.to_string()))
    }

    /// The callback's ID token check on its own, for the fuzz targets (SECURITY IO-06):
    /// what [`Self::finish_login`] does with the token the idp returned for a sign-in
    /// that sent `nonce`. Not for application code, which signs in through the callback.
    #[doc(hidden)]
    pub async fn check_id_token(&self, raw: &str, nonce: &str) -> Result<SignedInUser, RpError> {
        let provider = self.provider().await?;
        self.verify_id_token(&provider, raw, nonce).await
    }

    /// Back-Channel Logout 1.0 §2.6: checks a logout token from the idp (RS256 with one of
    /// its keys, header `typ` `logout+jwt`, our issuer and client as `aud`, not expired, the
    /// back-channel event, a `sid` or `sub`, no `nonce`, a `jti` not seen before) and ends
    /// the sessions it names. Returns how many ended.
    pub async fn backchannel_logout(&self, token: &str) -> Result<usize, RpError> {
        let bad = |why: &str| RpError::IdToken(format!("logout token: {why}"));
        let claims: LogoutClaims = self
            .decode_idp_jwt(token, Some(LOGOUT_TYP))
            .await
            .map_err(|e| bad(&e.to_string()))?;
        let event = claims
            .events
            .as_ref()
            .and_then(|e| e.get(BACKCHANNEL_EVENT))
            .is_some_and(serde_json::Value::is_object);
        if !event || claims.nonce.is_some() || (claims.sid.is_none() && claims.sub.is_none()) {
            return Err(bad("not a logout token"));
        }
        // SECURITY RP-03: each logout token is taken once; its jti is kept until it expires
        // (plus the leeway the signature check allows).
        let jti = claims
            .jti
            .as_deref()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| bad("no jti"))?;
        let now = OffsetDateTime::now_utc();
        let until = OffsetDateTime::from_unix_timestamp(claims.exp)
            .ok()
            .and_then(|exp| exp.checked_add(time::Duration::seconds(JWT_LEEWAY_SECONDS as i64)))
            .ok_or_else(|| bad("exp"))?;
        if !self.store.remember_jti(jti, until, now).await? {
            return Err(bad("replayed"));
        }
        let ended = self
            .store
            .remove_sessions_of(claims.sid.as_deref(), claims.sub.as_deref())
            .await?;
        tracing::info!(client = %self.config.client_id.as_str(), ended, "back-channel logout");
        Ok(ended)
    }

    /// RFC 8935 §2.2: checks a Security Event Token pushed by the idp (issue 10) and
    /// applies it to this portal's sessions of its subject. The token must be RS256 with one
    /// of the idp's keys, header `typ` `secevent+jwt`, our issuer and client as `aud`, not
    /// expired, with an `iss_sub` subject of our issuer and no `nonce`; one whose `jti` was
    /// taken before is acknowledged and does nothing again (SECURITY RP-03). CAEP
    /// `token-claims-change` takes the rights the event no longer lists and marks the
    /// sessions to read their claims again; `session-revoked` ends the sessions.
    pub async fn security_event(&self, token: &str) -> Result<EventApplied, RpError> {
        let bad = |why: &str| RpError::IdToken(format!("security event: {why}"));
        let set: SetClaims = self
            .decode_idp_jwt(token, Some(SET_TYP))
            .await
            .map_err(|e| bad(&e.to_string()))?;
        if set.nonce.is_some() {
            return Err(bad("a nonce"));
        }
        let issuer = self.config.issuer.as_str();
        let sub = match &set.sub_id {
            Some(s) if s.format == "iss_sub" && s.iss == issuer && !s.sub.is_empty() => &s.sub,
            _ => return Err(bad("sub_id")),
        };
        let jti = set
            .jti
            .as_deref()
            .filter(|j| !j.is_empty())
            .ok_or_else(|| bad("no jti"))?;
        let now = OffsetDateTime::now_utc();
        let until = OffsetDateTime::from_unix_timestamp(set.exp)
            .ok()
            .and_then(|exp| exp.checked_add(time::Duration::seconds(JWT_LEEWAY_SECONDS as i64)))
            .ok_or_else(|| bad("exp"))?;
        // RFC 8935 §2.2: a SET delivered again (its acknowledgement was lost) is acknowledged
        // again and changes nothing; it was applied the first time.
        if !self.store.remember_jti(jti, until, now).await? {
            return Ok(EventApplied::Duplicate);
        }
        let client = self.config.client_id.as_str();
        if set.events.contains_key(SESSION_REVOKED) {
            let ended = self.store.remove_sessions_of(None, Some(sub)).await?;
            tracing::info!(client, ended, "security event: sessions revoked");
            return Ok(EventApplied::SessionsRevoked(ended));
        }
        let Some(raw) = set.events.get(TOKEN_CLAIMS_CHANGE) else {
            tracing::info!(client, "security event of another type; nothing to do");
            return Ok(EventApplied::Ignored);
        };
        let change: ClaimsChange =
            serde_json::from_value(raw.clone()).map_err(|e| bad(&e.to_string()))?;
        let rights: Vec<RightCode> = change
            .claims
            .rights
            .iter()
            .filter_map(|raw| RightCode::parse(raw).ok())
            .collect();
        // Events may arrive late, twice or out of order, and carry no order a portal could
        // trust across idp nodes: one only ever takes rights away at once; what the user
        // holds now is read from the idp on the session's next request.
        let changed = self.store.narrow_claims(issuer, sub, &rights).await?;
        tracing::info!(client, changed, "security event: claims changed");
        Ok(EventApplied::ClaimsChanged(changed))
    }

    /// Verifies a JWT the idp signed for this client, such as its O7 question to a product
    /// portal: RS256 with one of the idp's published keys (the JWKS is fetched again for an
    /// unknown `kid`, at most once per [`UNKNOWN_KID_REFETCH`]), header `typ` exactly `typ`, our issuer, our client id as `aud`, and
    /// `iat` and `exp` present and not expired (60 s leeway).
    pub async fn verify_idp_jwt<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<T, RpError> {
        self.decode_idp_jwt(token, Some(typ)).await
    }

    async fn decode_idp_jwt<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        typ: Option<&str>,
    ) -> Result<T, RpError> {
        let bad = |why: &str| RpError::IdToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|e| bad(&e.to_string()))?;
        if header.alg != jsonwebtoken::Algorithm::RS256 {
            return Err(bad("algorithm"));
        }
        if let Some(typ) = typ
            && header.typ.as_deref() != Some(typ)
        {
            return Err(bad("typ"));
        }
        let kid = header.kid.ok_or_else(|| bad("no kid"))?;
        let mut provider = self.provider().await?;
        if provider.jwks.find(&kid).is_none()
            && provider.fetched.elapsed() >= UNKNOWN_KID_REFETCH
            && self.may_fetch_for_unknown_kid()
        {
            provider = self.refresh(Some(&provider)).await?;
        }
        let jwk = provider.jwks.find(&kid).ok_or_else(|| bad("unknown key"))?;
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| bad(&e.to_string()))?;
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_issuer(&[self.config.issuer.as_str()]);
        v.set_audience(&[self.config.client_id.as_str()]);
        v.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
        v.leeway = JWT_LEEWAY_SECONDS;
        Ok(jsonwebtoken::decode::<T>(token, &key, &v)
            .map_err(|e| bad(&e.to_string()))?
            .claims)
    }

    /// A live access token of this browser's session for calling the idp's APIs, refreshed
    /// with the session's refresh token (rotated, SECURITY OP-19) when it has expired or
    /// is about to. `None` when there is no session, or the idp no longer honours its
    /// tokens (the user was deactivated, signed out elsewhere, or reset): the caller then
    /// sends the person to sign in again.
    pub async fn access_token(&self, jar: &CookieJar) -> Result<Option<String>, RpError> {
        let Some(id) = cookies::session_id(jar, &self.config.cookies) else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        let Some(session) = self.store.session(&id.key(), now).await? else {
            return Ok(None);
        };
        let Some(tokens) = session.tokens.clone() else {
            return Ok(None);
        };
        if tokens.access_expires_at > now + time::Duration::seconds(20) {
            return Ok(Some(tokens.access_token));
        }
        let Some(refresh) = tokens.refresh_token else {
            return Ok(None);
        };
        let provider = self.provider().await?;
        let refresh = RefreshToken::new(refresh);
        let request = provider
            .client
            .exchange_refresh_token(&refresh)
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        let response = match request.request_async(&self.http).await {
            Ok(r) => r,
            // The idp answered no: the grant is gone (deactivated, signed out, reset).
            Err(e @ RequestTokenError::ServerResponse(_)) => {
                tracing::info!(error = %describe_token_error(e), "refresh refused; session ends");
                self.store.remove_session(&id.key()).await?;
                return Ok(None);
            }
            // The idp could not be asked: the session stays, the caller shows "try again".
            Err(e) => return Err(RpError::Discovery(describe_token_error(e).to_string())),
        };
        let mut fresh = api_tokens(&response, now);
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = session
                .tokens
                .as_ref()
                .and_then(|t| t.refresh_token.clone());
        }
        let access = fresh.access_token.clone();
        // Only the tokens: the user may have changed meanwhile (a rights event).
        if !self.store.replace_tokens(&id.key(), fresh).await? {
            return Ok(None);
        }
        // The rights are read again on the next request: a rights event that never
        // arrived is repaired within one access-token lifetime (issue 10).
        self.store.mark_stale(&id.key()).await?;
        Ok(Some(access))
    }

    /// Whether the idp still honours this browser's session, so that a deactivation reaches
    /// the portal even when its back-channel logout was lost (SPEC O6, SECURITY SE-05): a
    /// session holding tokens refreshes its access token once that has expired (at most
    /// once per access-token lifetime, default 5 minutes), and a refused refresh ends it.
    /// A session without tokens is not checked here. `Err` when the idp cannot be asked.
    pub async fn still_valid(&self, jar: &CookieJar) -> Result<bool, RpError> {
        let Some(id) = cookies::session_id(jar, &self.config.cookies) else {
            return Ok(false);
        };
        let now = OffsetDateTime::now_utc();
        let Some(session) = self.store.session(&id.key(), now).await? else {
            return Ok(false);
        };
        if session.tokens.is_none() {
            return Ok(true);
        }
        Ok(self.access_token(jar).await?.is_some())
    }

    /// Ends this browser's session here and returns where to send it: the idp's
    /// end-session endpoint (RP-initiated logout) when it advertises one, else the
    /// post-logout page, else `/`.
    pub async fn sign_out(&self, jar: CookieJar) -> Result<(CookieJar, String), RpError> {
        let mut id_token = None;
        if let Some(id) = cookies::session_id(&jar, &self.config.cookies) {
            let now = OffsetDateTime::now_utc();
            id_token = self
                .store
                .session(&id.key(), now)
                .await?
                .map(|s| s.id_token);
            self.store.remove_session(&id.key()).await?;
        }
        let jar = cookies::without_session(jar, &self.config.cookies);
        let after = self
            .config
            .post_logout_redirect_uri
            .as_ref()
            .map_or_else(|| "/".to_owned(), |u| u.as_str().to_owned());
        // Without a session there is nothing to end at the idp; discovery failing must not
        // keep a user from signing out locally.
        let provider = match id_token {
            Some(_) => self.provider().await.ok(),
            None => None,
        };
        let hint = id_token.and_then(|raw| PortalIdToken::from_str(&raw).ok());
        let location = match (provider.as_ref().and_then(|p| p.end_session.clone()), hint) {
            (Some(endpoint), Some(hint)) => {
                let mut request = LogoutRequest::from(endpoint)
                    .set_id_token_hint(&hint)
                    .set_client_id(self.config.client_id.clone());
                if let Some(uri) = &self.config.post_logout_redirect_uri {
                    request = request.set_post_logout_redirect_uri(uri.clone());
                }
                request.http_get_url().to_string()
            }
            _ => after,
        };
        Ok((jar, location))
    }

    /// The discovered provider, from cache while fresh.
    /// Whether an unknown `kid` in a JWT anyone can POST may make us fetch the keys now: at
    /// most once per [`UNKNOWN_KID_REFETCH`], counting failed fetches too (SECURITY AV-06).
    fn may_fetch_for_unknown_kid(&self) -> bool {
        let mut last = self
            .unknown_kid_fetch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_REFETCH) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    async fn provider(&self) -> Result<Arc<Provider>, RpError> {
        if let Some(p) = self.provider.read().await.as_ref()
            && p.fetched.elapsed() < DISCOVERY_TTL
        {
            return Ok(p.clone());
        }
        self.refresh(None).await
    }

    /// Fetches discovery again. `distrusted` is the copy a caller found wanting (a key it
    /// lacks); if another request replaced it meanwhile, that newer copy is used instead,
    /// so concurrent callbacks after a key rotation fetch once. A failed fetch falls back
    /// to the cached copy when there is one.
    async fn refresh(&self, distrusted: Option<&Arc<Provider>>) -> Result<Arc<Provider>, RpError> {
        let mut slot = self.provider.write().await;
        if let Some(p) = slot.as_ref() {
            let usable = match distrusted {
                Some(old) => !Arc::ptr_eq(old, p),
                None => p.fetched.elapsed() < DISCOVERY_TTL,
            };
            if usable {
                return Ok(p.clone());
            }
        }
        match self.discover().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *slot = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match slot.as_ref() {
                Some(stale) => {
                    tracing::warn!(error = %e, "discovery refresh failed; using the cached copy");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn discover(&self) -> Result<Provider, RpError> {
        // Also fetches the JWKS and checks that the document names our issuer exactly.
        let metadata =
            ProviderMetadataWithLogout::discover_async(self.config.issuer.clone(), &self.http)
                .await
                .map_err(|e| RpError::Discovery(e.to_string()))?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let jwks = serde_json::to_value(metadata.jwks())
            .and_then(serde_json::from_value)
            .map_err(|e| RpError::Discovery(format!("jwks: {e}")))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            self.config.client_id.clone(),
            Some(self.config.client_secret.clone()),
        )
        .set_redirect_uri(self.config.redirect_uri.clone());
        tracing::info!(issuer = %self.config.issuer.as_str(), client = %self.config.client_id.as_str(), "discovered the idp");
        Ok(Provider {
            client,
            end_session,
            jwks,
            fetched: Instant::now(),
        })
    }
}

/// Verifies signature (RS256 only, key from the JWKS), `iss`, `aud`, `exp` and `nonce`.
fn verify(
    provider: &Provider,
    id_token: &PortalIdToken,
    nonce: &Nonce,
) -> Result<SignedInUser, ClaimsVerificationError> {
    let verifier = provider
        .client
        .id_token_verifier()
        .set_allowed_algs(ALLOWED_ALGS);
    id_token
        .claims(&verifier, nonce)
        .map(SignedInUser::from_verified)
}

/// Describes a token endpoint failure for the log without the response body, which could
/// hold tokens (SECURITY KS-04).
fn describe_token_error<RE, T>(e: RequestTokenError<RE, T>) -> RpError
where
    RE: std::error::Error + 'static,
    T: openidconnect::ErrorResponse + 'static,
{
    RpError::TokenExchange(match e {
        RequestTokenError::ServerResponse(r) => format!("error response: {r}"),
        RequestTokenError::Request(r) => format!("request: {r}"),
        RequestTokenError::Parse(p, _body) => format!("unparseable response at {}", p.path()),
        RequestTokenError::Other(o) => o,
    })
}

/// Keeps a value from the query fit for a log line: short, printable ASCII.
fn printable(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn error_codes_from_the_query_are_made_safe_to_log() {
        assert_eq!(printable("access_denied"), "access_denied");
        assert_eq!(printable("a\nFAKE b"), "aFAKEb");
        assert_eq!(printable(&"x".repeat(500)).len(), 64);
    }
}
