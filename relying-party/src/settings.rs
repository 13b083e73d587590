//! What one relying party is configured with, and the one check that turns those strings
//! into typed protocol values at construction time.
//!
//! It owns no state and does no I/O: a bad URL or cookie name stops start-up here rather
//! than failing on a visitor's first request.

use std::fmt;

use openidconnect::{ClientId, ClientSecret, IssuerUrl, PostLogoutRedirectUrl, RedirectUrl, Scope};
use time::Duration;

use crate::error::RpError;

/// How long a portal session lasts after sign-in, whatever the ID token's own `exp`
/// (which only bounds how long the token is accepted at the callback). 8 hours is a
/// working day, the admin absolute timeout proposed in SECURITY SE-03.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::hours(8);

/// The scopes every portal asks for: `portal` adds the rights and office claims (SPEC §4).
pub const DEFAULT_SCOPES: &str = "openid portal";

/// The settings of one relying party (the admin UI, or one product portal).
#[derive(Clone)]
pub struct RpSettings {
    /// The identity provider's issuer, e.g. `http://127.0.0.1:8080/idp`. Discovery is read
    /// from `{issuer}/.well-known/openid-configuration`; the discovery document and every ID
    /// token must name exactly this string as `iss`.
    pub issuer: String,
    /// This client's id at the idp (`offerteportaal`, or a registry `client_id`).
    pub client_id: String,
    /// This client's secret, sent with `client_secret_basic` at the token endpoint.
    pub client_secret: String,
    /// The absolute callback URL registered at the idp, ending in [`crate::CALLBACK_PATH`],
    /// e.g. `http://127.0.0.1:8080/dip/auth/callback`.
    pub redirect_uri: String,
    /// Where the idp sends the browser after sign-out (must be registered at the idp as a
    /// post-logout redirect URI). `None`: sign-out ends the idp session without a way back.
    pub post_logout_redirect_uri: Option<String>,
    /// The session cookie's name, e.g. `dip_sessie`. The sign-in attempt cookie is named
    /// `{cookie_name}_login`.
    pub cookie_name: String,
    /// The path both cookies are scoped to, e.g. `/dip` (the portal's mount point).
    pub cookie_path: String,
    /// Mark cookies `Secure`. Only a plain-http development address may turn this off.
    pub secure_cookies: bool,
    /// Space-separated scopes, normally [`DEFAULT_SCOPES`]; must include `openid`.
    pub scopes: String,
    /// Absolute session lifetime, normally [`DEFAULT_SESSION_LIFETIME`].
    pub session_lifetime: Duration,
}

impl fmt::Debug for RpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("cookie_name", &self.cookie_name)
            .field("cookie_path", &self.cookie_path)
            .field("secure_cookies", &self.secure_cookies)
            .field("scopes", &self.scopes)
            .field("session_lifetime", &self.session_lifetime)
            .finish()
    }
}

/// The cookie part of the settings, shared by the cookie builders.
#[derive(Debug, Clone)]
pub(crate) struct CookieSettings {
    pub(crate) session_name: String,
    pub(crate) login_name: String,
    pub(crate) path: String,
    pub(crate) secure: bool,
}

/// [`RpSettings`] after the check: typed values only.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub(crate) issuer: IssuerUrl,
    pub(crate) client_id: ClientId,
    pub(crate) client_secret: ClientSecret,
    pub(crate) redirect_uri: RedirectUrl,
    pub(crate) post_logout_redirect_uri: Option<PostLogoutRedirectUrl>,
    /// The scopes other than `openid`, which openidconnect always sends itself.
    pub(crate) extra_scopes: Vec<Scope>,
    pub(crate) cookies: CookieSettings,
    pub(crate) session_lifetime: Duration,
}

impl RpSettings {
    /// Checks the settings once; every later use relies on the typed result.
    pub(crate) fn check(&self) -> Result<Checked, RpError> {
        let bad = |what: &str| RpError::Settings(format!("{} for client {}", what, self.client_id));
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|_| bad("issuer is not a URL"))?;
        if self.client_id.trim().is_empty() || self.client_secret.is_empty() {
            return Err(bad("client id or secret is empty"));
        }
        let redirect_uri = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|_| bad("redirect_uri is not an absolute URL"))?;
        let post_logout_redirect_uri = match &self.post_logout_redirect_uri {
            Some(uri) => Some(
                PostLogoutRedirectUrl::new(uri.clone())
                    .map_err(|_| bad("post_logout_redirect_uri is not an absolute URL"))?,
            ),
            None => None,
        };
        let scopes: Vec<&str> = self.scopes.split_whitespace().collect();
        if !scopes.contains(&"openid") {
            return Err(bad("scopes lack openid"));
        }
        let extra_scopes = scopes
            .into_iter()
            .filter(|s| *s != "openid")
            .map(|s| Scope::new(s.to_owned()))
            .collect();
        if !is_cookie_name(&self.cookie_name) {
            return Err(bad("cookie name must be letters, digits, '_' or '-'"));
        }
        if !self.cookie_path.starts_with('/') || self.cookie_path.contains([';', ',', ' ']) {
            return Err(bad("cookie path must be a plain path starting with /"));
        }
        if self.session_lifetime <= Duration::ZERO {
            return Err(bad("session lifetime must be positive"));
        }
        Ok(Checked {
            issuer,
            client_id: ClientId::new(self.client_id.clone()),
            client_secret: ClientSecret::new(self.client_secret.clone()),
            redirect_uri,
            post_logout_redirect_uri,
            extra_scopes,
            cookies: CookieSettings {
                session_name: self.cookie_name.clone(),
                login_name: format!("{}_login", self.cookie_name),
                path: self.cookie_path.clone(),
                secure: self.secure_cookies,
            },
            session_lifetime: self.session_lifetime,
        })
    }
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Settings as the DIP portal uses them on a development address.
    pub(crate) fn dip() -> RpSettings {
        RpSettings {
            issuer: "http://127.0.0.1:8080/idp".into(),
            client_id: "dip".into(),
            client_secret: "geheim-geheim".into(),
            redirect_uri: "http://127.0.0.1:8080/dip/auth/callback".into(),
            post_logout_redirect_uri: Some("http://127.0.0.1:8080/".into()),
            cookie_name: "dip_sessie".into(),
            cookie_path: "/dip".into(),
            secure_cookies: true,
            scopes: DEFAULT_SCOPES.into(),
            session_lifetime: DEFAULT_SESSION_LIFETIME,
        }
    }

    #[test]
    fn good_settings_check_and_openid_is_not_sent_twice() {
        let c = dip().check().unwrap();
        let extra: Vec<_> = c.extra_scopes.iter().map(|s| s.as_str()).collect();
        assert_eq!(extra, ["portal"]);
        assert_eq!(c.cookies.login_name, "dip_sessie_login");
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080/idp");
    }

    #[test]
    fn bad_settings_are_refused_at_start_up() {
        let cases: [fn(&mut RpSettings); 7] = [
            |s| s.issuer = "not a url".into(),
            |s| s.redirect_uri = "/dip/auth/callback".into(),
            |s| s.scopes = "portal".into(),
            |s| s.cookie_name = "dip sessie".into(),
            |s| s.cookie_path = "dip".into(),
            |s| s.client_secret = String::new(),
            |s| s.session_lifetime = Duration::ZERO,
        ];
        for change in cases {
            let mut s = dip();
            change(&mut s);
            assert!(matches!(s.check(), Err(RpError::Settings(_))), "{s:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", dip()).contains("geheim"));
    }
}
