//! The authorization request (OIDC Core §3.1.2.1): a query string or form body, decoded by
//! the provider's own extractor (`idp::extract::decode`, which refuses repeated names) and
//! judged by `idp::oidc::authorize::check` against two registered clients.
//!
//! Must hold, whatever the input: no panic; the answer never names a redirect URI that is
//! not registered byte for byte; a presented URI that is not registered is always an
//! error page (RFC 6749 §4.1.2.1), never a redirect; a granted request has `openid`, a
//! PKCE challenge of legal length when the client requires PKCE, a non-negative
//! `max_age`; and the request the sign-in page sends the browser back with
//! (`serde_urlencoded` of the parameters) decodes to the same request.
#![no_main]

use idp::oidc::authorize::{AuthorizeParams, Refusal, check};
use idp::store::clients::Client;
use libfuzzer_sys::fuzz_target;

fn client(id: &str, uris: &[&str], pkce: bool, grants: &[&str]) -> Client {
    Client {
        client_id: id.into(),
        name: id.into(),
        secret_hash: None,
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        post_logout_redirect_uris: vec![],
        backchannel_logout_uri: None,
        require_pkce: pkce,
        grant_types: grants.iter().map(|g| (*g).to_owned()).collect(),
        jwks: None,
        id_token_alg: "RS256".into(),
        access_token_alg: "RS256".into(),
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(params) = idp::extract::decode::<AuthorizeParams>(data) else {
        return;
    };
    // `decode` refused repeated names, so this is the one value the request carries.
    let presented = form_urlencoded::parse(data)
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    let clients = [
        client(
            "dip",
            &["https://rp.example/cb"],
            true,
            &["authorization_code"],
        ),
        client(
            "crm",
            &[
                "https://crm.example/cb?tenant=1",
                "http://127.0.0.1:8080/cb",
            ],
            false,
            &["authorization_code", "refresh_token"],
        ),
    ];
    for c in &clients {
        let registered = |uri: &str| c.redirect_uris.iter().any(|r| r == uri);
        match check(&params, c) {
            Ok(v) => {
                assert!(
                    registered(&v.redirect_uri),
                    "granted for {:?}",
                    v.redirect_uri
                );
                if let Some(p) = &presented {
                    assert_eq!(&v.redirect_uri, p, "answered to another URI than asked");
                }
                assert!(v.scope.split(' ').next() == Some("openid"), "{:?}", v.scope);
                assert!(
                    !v.scope.contains("offline_access") || c.allows("refresh_token"),
                    "offline_access for a client without refresh tokens"
                );
                match &v.code_challenge {
                    Some(ch) => assert!((43..=128).contains(&ch.len())),
                    None => assert!(!c.require_pkce, "PKCE skipped"),
                }
                assert!(v.max_age.is_none_or(|m| m >= 0));
                assert!(!(v.prompt_none && v.prompt_login));
            }
            Err(Refusal::Redirect { redirect_uri, .. }) => {
                assert!(registered(&redirect_uri), "redirected to {redirect_uri:?}");
                if let Some(p) = &presented {
                    assert_eq!(&redirect_uri, p);
                }
            }
            Err(Refusal::Page(_)) => {}
        }
        if let Some(p) = &presented
            && !registered(p)
        {
            assert!(matches!(check(&params, c), Err(Refusal::Page(_))));
        }
    }
    // The sign-in page returns to `/authorize?{serde_urlencoded(params)}`: that query must
    // decode to the same request, or the person lands on another one after signing in.
    if let Ok(again) = serde_urlencoded::to_string(&params) {
        let back: AuthorizeParams =
            idp::extract::decode(again.as_bytes()).expect("our own query decodes");
        assert_eq!(
            serde_urlencoded::to_string(&back).ok().as_deref(),
            Some(again.as_str()),
            "the request changed on its way through the sign-in page"
        );
    }
});
