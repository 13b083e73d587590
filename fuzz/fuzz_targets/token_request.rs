//! The token endpoint (RFC 6749 §3.2, §4.1.3, §4.4, §6), whole: `POST /idp/token` through
//! the provider's real routes, on a SQLite database holding a code-flow client, a service
//! client (client credentials) and a `private_key_jwt` client. The input reaches the form
//! extractor (content type, size, repeated names), client authentication (Basic, form
//! secret, client assertion parsing against the client's JWKS), the grant dispatch and the
//! code and refresh-token lookups.
//!
//! Input: byte 0 chooses the `Authorization` header (bits 0–2) and the content type
//! (bits 3–4); for the raw header modes the first line of the rest is the header, and
//! the remaining bytes are the body.
//!
//! Must hold: no panic and no 5xx; every answer is `no-store` (SECURITY OP-11); a token is
//! only handed out to a request that presented a registered client's secret.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use portal_fuzz::{SERVICE_CLIENT, SERVICE_SECRET, WEB_CLIENT, WEB_SECRET, provider};

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let p = provider();
    let (authorization, body): (Option<Vec<u8>>, &[u8]) = match flags & 0b111 {
        1 => (Some(basic(WEB_CLIENT, WEB_SECRET).into_bytes()), rest),
        2 => (
            Some(basic(SERVICE_CLIENT, SERVICE_SECRET).into_bytes()),
            rest,
        ),
        3 | 4 => {
            let cut = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let line = &rest[..cut];
            let body = rest.get(cut + 1..).unwrap_or_default();
            let value = if flags & 0b111 == 3 {
                [b"Basic ".as_slice(), line].concat()
            } else {
                line.to_vec()
            };
            (Some(value), body)
        }
        5 => (Some(basic(WEB_CLIENT, "not-the-secret").into_bytes()), rest),
        _ => (None, rest),
    };
    let content_type = match (flags >> 3) & 0b11 {
        0 => "application/x-www-form-urlencoded",
        1 => "application/x-www-form-urlencoded; charset=UTF-8",
        2 => "Application/X-WWW-Form-Urlencoded",
        _ => "application/json",
    };
    let mut request = Request::post(p.route("/token")).header(header::CONTENT_TYPE, content_type);
    if let Some(value) = &authorization {
        request = request.header(header::AUTHORIZATION, value.as_slice());
    }
    // A header value that HTTP would not carry never reaches the provider.
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    let (response, answer) = p.call(request);
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{status} for {:?}: {}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        response
            .headers()
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{status} without no-store"
    );
    if status == StatusCode::OK {
        // Which secrets did the request present? The header's (decoded as the provider
        // does) and the form's `client_secret`.
        let mut presented: Vec<String> = form_urlencoded::parse(body)
            .filter(|(k, _)| k == "client_secret")
            .map(|(_, v)| v.into_owned())
            .collect();
        if let Some(b64) = authorization
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.strip_prefix("Basic "))
            && let Some((_, secret)) = idp::oidc::client_auth::parse_basic(b64)
        {
            presented.push(secret);
        }
        assert!(
            presented
                .iter()
                .any(|s| s == WEB_SECRET || s == SERVICE_SECRET),
            "a token without a client secret: {:?}",
            String::from_utf8_lossy(body)
        );
        let json: serde_json::Value = serde_json::from_slice(&answer).expect("a JSON answer");
        assert!(json["access_token"].is_string() && json["token_type"] == "Bearer");
    }
});
