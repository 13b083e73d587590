//! Cookie headers: the relying party's session lookup (`RelyingParty::current_user` and
//! `still_valid`, as its `MaybeUser` extractor runs them on a `CookieJar` read from the
//! request headers, with `CookieValue::parse` deciding what is an id of ours) and the
//! identity provider's session cookie (`GET /idp/end_session`, which reads the browser's
//! session through the real routes and database).
//!
//! Input: `Cookie` header values separated by newlines (a browser may send several).
//!
//! Must hold: no panic and no 5xx; the planted session is found only when the header
//! carries its exact value under the session cookie's name, and any value the parser
//! accepts has the shape of an id we issue.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum_extra::extract::cookie::CookieJar;
use libfuzzer_sys::fuzz_target;
use portal_fuzz::{RP_COOKIE, block_on, provider, relying_side};
use relying_party::{CookieValue, Role, Session, SessionStore, SignedInUser};
use time::OffsetDateTime;

/// The value of the one session the relying party knows.
fn planted() -> &'static CookieValue {
    static V: OnceLock<CookieValue> = OnceLock::new();
    V.get_or_init(|| {
        let side = relying_side();
        let value = CookieValue::parse("fuzz-planted-session-id-0123456789abcdefghi")
            .expect("an id of the issued shape");
        let now = OffsetDateTime::now_utc();
        let user = SignedInUser {
            issuer: side.op.issuer.clone(),
            subject: "7d1b0c5e-2f3a-4b6c-8d9e-0a1b2c3d4e5f".into(),
            name: "Ilse de Vries".into(),
            email: None,
            email_verified: false,
            role: Role::Employee,
            rights: vec![],
            office: None,
            head_office: None,
            amr: vec!["pwd".into()],
            sid: Some("sid".into()),
        };
        let session = Session {
            user,
            id_token: String::new(),
            signed_in_at: now,
            expires_at: now + time::Duration::days(365),
            tokens: None,
            claims_stale: 0,
        };
        block_on(side.store.insert_session(&value.key(), session, now)).expect("planted");
        value
    })
}

fuzz_target!(|data: &[u8]| {
    let planted = planted();
    let mut headers = HeaderMap::new();
    for line in data.split(|b| *b == b'\n').take(4) {
        if let Ok(v) = HeaderValue::from_bytes(line) {
            headers.append(header::COOKIE, v);
        }
    }
    let jar = CookieJar::from_headers(&headers);

    // The relying party.
    let side = relying_side();
    let presented = jar.get(RP_COOKIE).map(|c| c.value().to_owned());
    if let Some(v) = &presented
        && let Some(parsed) = CookieValue::parse(v)
    {
        assert_eq!(parsed.secret(), v);
        assert!(
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
    let user = block_on(side.rp.current_user(&jar)).expect("the memory store does not fail");
    assert_eq!(
        user.is_some(),
        presented.as_deref() == Some(planted.secret()),
        "session found for {presented:?}"
    );
    let valid = block_on(side.rp.still_valid(&jar)).expect("no tokens, so no idp call");
    assert_eq!(valid, user.is_some());

    // The identity provider: its session cookie, read through its routes.
    let p = provider();
    let mut request = Request::get(p.route("/end_session"));
    for v in headers.get_all(header::COOKIE) {
        request = request.header(header::COOKIE, v);
    }
    let Ok(request) = request.body(Body::empty()) else {
        return;
    };
    let (response, _) = p.call(request);
    assert!(
        response.status().is_success(),
        "end_session answered {} to cookies {:?}",
        response.status(),
        String::from_utf8_lossy(data)
    );
});
