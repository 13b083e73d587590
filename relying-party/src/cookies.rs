//! The two cookies of a relying party: the session cookie and the sign-in attempt cookie.
//! Both hold only a random id, are `HttpOnly`, `SameSite=Lax`, scoped to the portal's path,
//! and `Secure` unless a development address turned that off.
//!
//! `Lax`, not `Strict` (SECURITY SE-01 asks `Strict` of the admin UI): the callback arrives
//! as a top-level navigation from the idp, and when the idp runs on another site a `Strict`
//! cookie set there is withheld on the redirect that follows, which loops the sign-in.
//! Cross-site POSTs are refused by the CSRF origin check, not by the cookie.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::ids::CookieValue;
use crate::settings::CookieSettings;
use crate::store::LOGIN_ATTEMPT_LIFETIME;

fn base(name: &str, value: String, settings: &CookieSettings) -> Cookie<'static> {
    Cookie::build((name.to_owned(), value))
        .path(settings.path.clone())
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure)
        .build()
}

/// The session cookie: no `Max-Age`, so it ends with the browser; the server ends it at
/// the session's expiry in any case.
pub(crate) fn session_cookie(id: &CookieValue, settings: &CookieSettings) -> Cookie<'static> {
    base(&settings.session_name, id.secret().to_owned(), settings)
}

/// The cookie that binds sign-in attempts to this browser (SECURITY RP-01); it lives as
/// long as an attempt.
pub(crate) fn login_cookie(id: &CookieValue, settings: &CookieSettings) -> Cookie<'static> {
    let mut cookie = base(&settings.login_name, id.secret().to_owned(), settings);
    cookie.set_max_age(LOGIN_ATTEMPT_LIFETIME);
    cookie
}

/// The session id this browser presents, if it has the shape of one of ours.
pub(crate) fn session_id(jar: &CookieJar, settings: &CookieSettings) -> Option<CookieValue> {
    jar.get(&settings.session_name)
        .and_then(|c| CookieValue::parse(c.value()))
}

/// The sign-in binding id this browser presents, if any.
pub(crate) fn login_id(jar: &CookieJar, settings: &CookieSettings) -> Option<CookieValue> {
    jar.get(&settings.login_name)
        .and_then(|c| CookieValue::parse(c.value()))
}

/// Removes the session cookie (same name and path, so the browser drops it).
pub(crate) fn without_session(jar: CookieJar, settings: &CookieSettings) -> CookieJar {
    jar.remove(
        Cookie::build(settings.session_name.clone())
            .path(settings.path.clone())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings(secure: bool) -> CookieSettings {
        CookieSettings {
            session_name: "dip_sessie".into(),
            login_name: "dip_sessie_login".into(),
            path: "/dip".into(),
            secure,
        }
    }

    #[test]
    fn session_cookie_attributes() {
        let id = CookieValue::generate().unwrap();
        let c = session_cookie(&id, &settings(true));
        assert_eq!(c.name(), "dip_sessie");
        assert_eq!(c.value(), id.secret());
        assert_eq!(c.path(), Some("/dip"));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.same_site(), Some(SameSite::Lax));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.domain(), None, "host-only");
        assert_eq!(c.max_age(), None);
        let header = c.to_string();
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/dip"] {
            assert!(header.contains(part), "{header}");
        }
    }

    #[test]
    fn development_cookies_are_not_secure_and_login_cookie_is_short_lived() {
        let id = CookieValue::generate().unwrap();
        let c = login_cookie(&id, &settings(false));
        assert_eq!(c.name(), "dip_sessie_login");
        assert!(!c.to_string().contains("Secure"));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.max_age(), Some(LOGIN_ATTEMPT_LIFETIME));
    }

    #[test]
    fn ids_are_read_back_and_garbage_is_ignored() {
        let s = settings(true);
        let id = CookieValue::generate().unwrap();
        let jar = CookieJar::new().add(session_cookie(&id, &s));
        assert_eq!(session_id(&jar, &s), Some(id));
        let jar = CookieJar::new().add(Cookie::new("dip_sessie", "planted"));
        assert_eq!(session_id(&jar, &s), None);
        assert_eq!(login_id(&jar, &s), None);
    }

    #[test]
    fn removal_keeps_the_path() {
        use axum::http::{HeaderMap, header};
        use axum::response::IntoResponse;
        let s = settings(true);
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "dip_sessie=x".parse().unwrap());
        let response = without_session(CookieJar::from_headers(&headers), &s).into_response();
        let removal = response.headers()[header::SET_COOKIE].to_str().unwrap();
        assert!(removal.starts_with("dip_sessie=;"), "{removal}");
        assert!(
            removal.contains("Path=/dip") && removal.contains("Max-Age=0"),
            "{removal}"
        );
    }
}
