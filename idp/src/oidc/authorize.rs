//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636).
//!
//! `check` is pure: it judges a request against the registered client. Until `client_id`
//! and `redirect_uri` are known good, every error is a page at the provider and never a
//! redirect (RFC 6749 §4.1.2.1); after that, errors go back to the client with `state`
//! and `iss` (RFC 9207).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use time::Duration;
use url::Url;

use crate::crypto;
use crate::domain::factor;
use crate::error::PageError;
use crate::extract::{PageForm, PageQuery};
use crate::login::session;
use crate::state::AppState;
use crate::store::clients::Client;
use crate::store::codes::{self, CodeGrant};
use crate::store::pushed;

/// How long an authorization code lives (SECURITY OP-07: ≤ 60 s).
pub const CODE_TTL: Duration = Duration::seconds(60);

/// The parameters of an authorization request, as received.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub(crate) client_id: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) response_type: Option<String>,
    pub(crate) scope: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) code_challenge_method: Option<String>,
    pub(crate) prompt: Option<String>,
    pub(crate) max_age: Option<String>,
    pub(crate) request: Option<String>,
    pub(crate) request_uri: Option<String>,
    /// RFC 9449 §10: the thumbprint of the client's DPoP key, to bind the code to.
    pub(crate) dpop_jkt: Option<String>,
    #[serde(flatten)]
    pub(crate) other: std::collections::BTreeMap<String, String>,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// The redirect URI to answer to (registered, byte for byte).
    pub redirect_uri: String,
    /// Granted scopes, space-separated (`openid` first).
    pub scope: String,
    /// Echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`.
    pub prompt_none: bool,
    /// `prompt=login`.
    pub prompt_login: bool,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// Returned to the client.
    pub state: Option<String>,
    /// RFC 9449 §10: the code is bound to this DPoP key thumbprint.
    pub dpop_jkt: Option<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Shown as a page: the client or its redirect URI cannot be trusted.
    Page(&'static str),
    /// Sent back to the client's redirect URI.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// RFC 6749 error code.
        error: &'static str,
        /// Description.
        description: &'static str,
        /// The client's state.
        state: Option<String>,
    },
}

const SUPPORTED_SCOPES: [&str; 5] = ["openid", "portal", "profile", "email", "offline_access"];

/// Judges a plain (not pushed) request `p` against `client`. Pure.
pub fn check(p: &AuthorizeParams, client: &Client) -> Result<Validated, Refusal> {
    check_request(p, client, false)
}

/// Judges `p` against `client`; `pushed` when the parameters came through `/par` (RFC 9126),
/// which is where they are judged first, by this same function. Pure.
pub fn check_request(
    p: &AuthorizeParams,
    client: &Client,
    pushed: bool,
) -> Result<Validated, Refusal> {
    // RFC 6749 §4.1.2.1: a missing, invalid or mismatching redirect URI is never redirected to.
    let redirect_uri = match &p.redirect_uri {
        Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.clone(),
        Some(_) => return Err(Refusal::Page("authorize.bad_redirect_uri")),
        None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
        None => return Err(Refusal::Page("authorize.bad_redirect_uri")),
    };
    let back = |error, description| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description,
        state: p.state.clone(),
    };
    if p.request.is_some() {
        return Err(back(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    // A pushed request's own `request_uri` (RFC 9126) was resolved before this; any other is
    // not fetched (SECURITY OP-17).
    if p.request_uri.is_some() {
        return Err(back(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    // RFC 9126 §5: a client registered for PAR sends nothing else.
    if client.require_pushed_authorization_requests && !pushed {
        return Err(back(
            "invalid_request",
            "this client must use pushed authorization requests (PAR)",
        ));
    }
    // RFC 9449 §10: a base64url SHA-256 thumbprint (43 characters).
    let dpop_jkt = match p.dpop_jkt.as_deref() {
        None => None,
        Some(j)
            if j.len() == 43
                && j.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(j.to_owned())
        }
        Some(_) => return Err(back("invalid_request", "dpop_jkt is not a key thumbprint")),
    };
    match p.response_type.as_deref() {
        Some("code") => {}
        Some(_) => return Err(back("unsupported_response_type", "only response_type=code")),
        None => return Err(back("invalid_request", "response_type is missing")),
    }
    let requested: Vec<&str> = p
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if !requested.contains(&"openid") {
        return Err(back("invalid_scope", "the openid scope is required"));
    }
    // Unknown scopes are dropped, not refused (OIDC Core §3.1.2.1). OIDC Core §11:
    // `offline_access` is granted only to a client an insurer admin registered for refresh
    // tokens (that registration stands in for the consent prompt); otherwise it is dropped.
    let scope = SUPPORTED_SCOPES
        .iter()
        .filter(|s| requested.contains(s))
        .filter(|s| **s != "offline_access" || client.allows("refresh_token"))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    // RFC 7636 §4.3: a challenge without a method is `plain`, which we do not accept.
    let code_challenge = match (&p.code_challenge, p.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => Some(c.clone()),
        (Some(_), _) => {
            return Err(back(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (None, Some(_)) => return Err(back("invalid_request", "code_challenge is missing")),
        (None, None) if client.require_pkce => {
            return Err(back("invalid_request", "PKCE (S256) is required"));
        }
        (None, None) => None,
    };
    let prompts: Vec<&str> = p
        .prompt
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let prompt_none = prompts.contains(&"none");
    let prompt_login = prompts.contains(&"login");
    if prompt_none && prompts.len() > 1 {
        return Err(back("invalid_request", "prompt=none cannot be combined"));
    }
    let max_age = match p.max_age.as_deref() {
        None | Some("") => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(back(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ));
            }
        },
    };
    Ok(Validated {
        redirect_uri,
        scope,
        nonce: p.nonce.clone(),
        code_challenge,
        prompt_none,
        prompt_login,
        max_age,
        state: p.state.clone(),
        dpop_jkt,
    })
}

/// `GET /authorize`.
pub async fn get(
    State(app): State<AppState>,
    jar: CookieJar,
    PageQuery(p): PageQuery<AuthorizeParams>,
) -> Result<Response, PageError> {
    authorize(&app, &jar, p).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: both methods are supported).
pub async fn post(
    State(app): State<AppState>,
    jar: CookieJar,
    PageForm(p): PageForm<AuthorizeParams>,
) -> Result<Response, PageError> {
    authorize(&app, &jar, p).await
}

/// A pushed request (RFC 9126) that `/authorize` was called with.
struct PushedRef {
    /// Its `request_uri`, as the client sent it.
    uri: String,
    /// The hash it is stored under.
    uri_hash: Vec<u8>,
    /// When it was pushed: a sign-in since then meets its `prompt=login` and `max_age`.
    pushed_at: time::OffsetDateTime,
}

async fn authorize(
    app: &AppState,
    jar: &CookieJar,
    p: AuthorizeParams,
) -> Result<Response, PageError> {
    let Some(client_id) = p.client_id.as_deref() else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "authorize.unknown_client",
        ));
    };
    let Some(client) = app.clients.get(&app.db, client_id).await? else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "authorize.unknown_client",
        ));
    };
    // RFC 9126 §4: `client_id` and a pushed `request_uri` stand for the pushed parameters,
    // and every other parameter is ignored. Another client's, a used or an expired one is a
    // page (its redirect URI is not known).
    let pushed_uri = p
        .request_uri
        .as_deref()
        .filter(|u| u.starts_with(super::par::URN_PREFIX));
    let (p, pushed) = match pushed_uri {
        Some(uri) => {
            let uri_hash = crypto::token_hash(uri);
            let found = pushed::find(&app.db, &uri_hash, &client.client_id, app.now()).await?;
            let Some(found) = found else {
                return Err(PageError::new(
                    StatusCode::BAD_REQUEST,
                    "authorize.bad_request_uri",
                ));
            };
            let params: AuthorizeParams =
                serde_json::from_str(&found.params).map_err(PageError::internal)?;
            let r = PushedRef {
                uri: uri.to_owned(),
                uri_hash,
                pushed_at: found.created_at,
            };
            (params, Some(r))
        }
        None => (p, None),
    };
    let v = match check_request(&p, &client, pushed.is_some()) {
        Ok(v) => v,
        Err(Refusal::Page(key)) => return Err(PageError::new(StatusCode::BAD_REQUEST, key)),
        Err(Refusal::Redirect {
            redirect_uri,
            error,
            description,
            state,
        }) => {
            return Ok(redirect_error(
                app,
                &redirect_uri,
                error,
                description,
                state.as_deref(),
            ));
        }
    };
    let now = app.now();
    let signed_in = session::current(app, jar, now).await?;
    // A pushed request's `prompt=login` and `max_age` are met by a sign-in after the push
    // (the parameters cannot be dropped from the way back through the sign-in page).
    let since_push =
        |s: &session::Current| pushed.as_ref().is_some_and(|r| s.auth_time >= r.pushed_at);
    let fresh_enough = |s: &session::Current| {
        v.max_age
            .is_none_or(|max| (now - s.auth_time).whole_seconds() <= max)
            || since_push(s)
    };
    let login_done = |s: &session::Current| !v.prompt_login || since_push(s);
    // F2: once 2FA is mandatory, a password-only session (from before the date, or from
    // before a 2FA reset) is no sign-in for a client.
    // Issue 10: under the office tree's policy, a grace sign-in's session counts too.
    let strong_enough = match &signed_in {
        Some(s) => {
            factor::is_multi_factor(&s.amr)
                || crate::mfa_policy::session_suffices(app, s.user_id, &s.amr, s.auth_time, now)
                    .await?
        }
        None => false,
    };
    let session = match signed_in {
        Some(s) if login_done(&s) && fresh_enough(&s) && strong_enough => s,
        _ if v.prompt_none => {
            if let Some(r) = &pushed {
                pushed::take(&app.db, &r.uri_hash, &client.client_id, now).await?;
            }
            return Ok(redirect_error(
                app,
                &v.redirect_uri,
                "login_required",
                "no session",
                v.state.as_deref(),
            ));
        }
        _ => {
            let back = match &pushed {
                // The way back names the pushed request (and its redirect URI, which the
                // sign-in page allows as the form's destination).
                Some(r) => AuthorizeParams {
                    client_id: Some(client.client_id.clone()),
                    request_uri: Some(r.uri.clone()),
                    redirect_uri: Some(v.redirect_uri.clone()),
                    ..AuthorizeParams::default()
                },
                None => p,
            };
            return Ok(to_login(app, &back));
        }
    };
    // RFC 9126 §4, OP-18: a pushed request is used once; of two racing, one gets the code.
    if let Some(r) = &pushed
        && !pushed::take(&app.db, &r.uri_hash, &client.client_id, now).await?
    {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "authorize.bad_request_uri",
        ));
    }
    let code = crypto::random_token().map_err(PageError::internal)?;
    let grant = CodeGrant {
        client_id: client.client_id.clone(),
        user_id: session.user_id,
        session_hash: session.id_hash.clone(),
        redirect_uri: v.redirect_uri.clone(),
        scope: v.scope.clone(),
        nonce: v.nonce.clone(),
        code_challenge: v.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        expires_at: now + CODE_TTL,
        dpop_jkt: v.dpop_jkt.clone(),
    };
    codes::insert(&app.db, &crypto::token_hash(&code), &grant, now).await?;
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = v.state.as_deref() {
        pairs.push(("state", s));
    }
    pairs.push(("iss", app.settings.issuer.as_str()));
    Ok(Redirect::to(&with_query(&v.redirect_uri, &pairs)).into_response())
}

/// Sends the browser to the sign-in page, which returns to this request without the
/// `prompt` and `max_age` that forced it (they are satisfied by signing in now).
fn to_login(app: &AppState, p: &AuthorizeParams) -> Response {
    let mut again = p.clone();
    again.prompt = None;
    again.max_age = None;
    let query = serde_urlencoded::to_string(&again).unwrap_or_default();
    let return_to = format!("{}?{query}", app.idp_path("/authorize"));
    let login = with_query(
        &app.idp_path("/login"),
        &[("return_to", return_to.as_str())],
    );
    Redirect::to(&login).into_response()
}

fn redirect_error(
    app: &AppState,
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", app.settings.issuer.as_str()));
    Redirect::to(&with_query(redirect_uri, &pairs)).into_response()
}

/// Appends query parameters to a URL or a path, keeping its own query. Public for the
/// fuzz targets (SECURITY IO-06).
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let encoded = serde_urlencoded::to_string(pairs).unwrap_or_default();
    if let Ok(mut url) = Url::parse(base) {
        url.query_pairs_mut().extend_pairs(pairs);
        return url.to_string();
    }
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{encoded}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn client() -> Client {
        Client {
            client_id: "dip".into(),
            name: "DIP".into(),
            secret_hash: None,
            redirect_uris: vec!["https://rp.nl/cb".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            require_pkce: true,
            grant_types: vec!["authorization_code".into()],
            jwks: None,
            id_token_alg: "RS256".into(),
            access_token_alg: "RS256".into(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("dip".into()),
            redirect_uri: Some("https://rp.nl/cb".into()),
            response_type: Some("code".into()),
            scope: Some("openid portal offline_access".into()),
            state: Some("s".into()),
            nonce: Some("n".into()),
            code_challenge: Some("a".repeat(43)),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_request_passes_and_unknown_scopes_are_dropped() {
        let v = check(&params(), &client()).unwrap();
        assert_eq!(v.scope, "openid portal");
        assert_eq!(v.redirect_uri, "https://rp.nl/cb");
        let mut offline = client();
        offline.grant_types.push("refresh_token".into());
        assert_eq!(
            check(&params(), &offline).unwrap().scope,
            "openid portal offline_access"
        );
    }

    #[test]
    fn redirect_uri_variants_get_a_page_never_a_redirect() {
        for bad in [
            "https://rp.nl/cb/",
            "https://rp.nl/CB",
            "https://rp.nl/cb?x=1",
            "https://rp.nl/cb#f",
            "http://rp.nl/cb",
            "https://rp.nl.evil.tld/cb",
            "https://rp.nl@evil.tld/cb",
            "https://rp.nl/cb/..;/x",
            "https://rp.nl/%2e%2e/cb",
        ] {
            let mut p = params();
            p.redirect_uri = Some(bad.into());
            assert_eq!(
                check(&p, &client()),
                Err(Refusal::Page("authorize.bad_redirect_uri")),
                "{bad}"
            );
        }
        let mut two = client();
        two.redirect_uris.push("https://rp.nl/other".into());
        let mut p = params();
        p.redirect_uri = None;
        assert!(matches!(check(&p, &two), Err(Refusal::Page(_))));
        assert!(
            check(&p, &client()).is_ok(),
            "one registered URI may be omitted"
        );
    }

    #[test]
    fn pkce_is_s256_only_and_required() {
        let err = |p: AuthorizeParams| match check(&p, &client()) {
            Err(Refusal::Redirect { error, .. }) => error,
            other => panic!("{other:?}"),
        };
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(err(p), "invalid_request");
        let mut p = params();
        p.code_challenge_method = None;
        assert_eq!(err(p), "invalid_request");
        let mut p = params();
        p.code_challenge = None;
        p.code_challenge_method = None;
        assert_eq!(err(p.clone()), "invalid_request");
        let mut relaxed = client();
        relaxed.require_pkce = false;
        assert!(check(&p, &relaxed).is_ok());
    }

    #[test]
    fn errors_after_the_redirect_uri_go_back_with_state() {
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(
            check(&p, &client()),
            Err(Refusal::Redirect {
                redirect_uri: "https://rp.nl/cb".into(),
                error: "unsupported_response_type",
                description: "only response_type=code",
                state: Some("s".into()),
            })
        );
        let mut p = params();
        p.scope = Some("portal".into());
        assert!(matches!(
            check(&p, &client()),
            Err(Refusal::Redirect {
                error: "invalid_scope",
                ..
            })
        ));
        let mut p = params();
        p.request = Some("x".into());
        assert!(matches!(
            check(&p, &client()),
            Err(Refusal::Redirect {
                error: "request_not_supported",
                ..
            })
        ));
    }

    #[test]
    fn a_par_client_sends_only_pushed_requests_and_dpop_jkt_is_a_thumbprint() {
        let mut par = client();
        par.require_pushed_authorization_requests = true;
        assert!(matches!(
            check(&params(), &par),
            Err(Refusal::Redirect {
                error: "invalid_request",
                ..
            })
        ));
        assert!(check_request(&params(), &par, true).is_ok());
        let mut p = params();
        p.dpop_jkt = Some("kort".into());
        assert!(check(&p, &client()).is_err());
        p.dpop_jkt = Some("a".repeat(43));
        assert_eq!(check(&p, &client()).unwrap().dpop_jkt, Some("a".repeat(43)));
    }

    #[test]
    fn prompt_and_max_age() {
        let mut p = params();
        p.prompt = Some("none login".into());
        assert!(check(&p, &client()).is_err());
        let mut p = params();
        p.prompt = Some("login".into());
        p.max_age = Some("10".into());
        let v = check(&p, &client()).unwrap();
        assert!(v.prompt_login && !v.prompt_none);
        assert_eq!(v.max_age, Some(10));
        let mut p = params();
        p.max_age = Some("-1".into());
        assert!(check(&p, &client()).is_err());
    }

    #[test]
    fn query_parameters_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://rp.nl/cb", &[("code", "a b"), ("state", "x&y")]),
            "https://rp.nl/cb?code=a+b&state=x%26y"
        );
        assert_eq!(
            with_query("https://rp.nl/cb?k=1", &[("code", "c")]),
            "https://rp.nl/cb?k=1&code=c"
        );
        assert_eq!(
            with_query("/idp/login", &[("return_to", "/a?b=c")]),
            "/idp/login?return_to=%2Fa%3Fb%3Dc"
        );
    }

    // Property tests (SECURITY IO-06): the checker is total, and a redirect URI that is not
    // byte-equal to a registered one is never redirected to, whatever else the request says.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn text() -> impl Strategy<Value = Option<String>> {
            proptest::option::of(prop_oneof![
                any::<String>(),
                "[a-z ]{0,40}",
                Just("openid".to_owned()),
                Just("code".to_owned()),
                Just("S256".to_owned()),
                Just("none login".to_owned()),
                "-?[0-9]{1,25}",
                "[A-Za-z0-9_-]{43}",
            ])
        }

        prop_compose! {
            fn arbitrary_params()(
                a in proptest::collection::vec(text(), 13),
                other in proptest::collection::btree_map("[a-z_]{1,12}", any::<String>(), 0..4),
            ) -> AuthorizeParams {
                let mut it = a.into_iter();
                let mut next = || it.next().flatten();
                AuthorizeParams {
                    client_id: next(),
                    redirect_uri: next(),
                    response_type: next(),
                    scope: next(),
                    state: next(),
                    nonce: next(),
                    code_challenge: next(),
                    code_challenge_method: next(),
                    prompt: next(),
                    max_age: next(),
                    request: next(),
                    request_uri: next(),
                    dpop_jkt: next(),
                    other,
                }
            }
        }

        proptest! {
            #[test]
            fn check_is_total(p in arbitrary_params(), pkce in any::<bool>()) {
                let mut c = client();
                c.require_pkce = pkce;
                match check(&p, &c) {
                    Ok(v) => prop_assert!(c.redirect_uris.contains(&v.redirect_uri)),
                    Err(Refusal::Redirect { redirect_uri, .. }) => {
                        prop_assert!(c.redirect_uris.contains(&redirect_uri));
                    }
                    Err(Refusal::Page(_)) => {}
                }
            }

            #[test]
            fn a_foreign_redirect_uri_is_always_a_page(
                mut p in arbitrary_params(),
                uri in prop_oneof![
                    any::<String>(),
                    "https://rp\\.nl/cb.{1,20}",
                    ".{0,5}https://rp\\.nl/cb",
                    "(?i)HTTPS://RP\\.NL/CB",
                ],
            ) {
                prop_assume!(uri != "https://rp.nl/cb");
                p.redirect_uri = Some(uri);
                prop_assert_eq!(
                    check(&p, &client()),
                    Err(Refusal::Page("authorize.bad_redirect_uri"))
                );
            }
        }
    }
}
