//! `client_secret_basic` (RFC 6749 §2.3.1): `idp::oidc::client_auth::parse_basic`, which
//! reads the part of `Authorization: Basic …` after the scheme.
//!
//! The input is used twice: as that header text (when it is UTF-8), and as the source of
//! an id and a secret that a client encodes by the RFC (form-encode each, join with `:`,
//! base64), or base64-encodes without the form encoding.
//!
//! Must hold: no panic on any text; spaces around the value do not change the answer;
//! credentials encoded by the RFC come back as the same id and secret, whatever
//! characters they hold; and base64 of `id:secret` is never refused when the id has no
//! colon.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idp::oidc::client_auth::parse_basic;
use libfuzzer_sys::fuzz_target;

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        let parsed = parse_basic(header);
        let padded = format!(" {header}\t");
        assert_eq!(
            parse_basic(&padded),
            parsed,
            "whitespace changed the answer"
        );
    }
    let mut u = Unstructured::new(data);
    let (Ok(id), Ok(secret)) = (String::arbitrary(&mut u), String::arbitrary(&mut u)) else {
        return;
    };
    let encoded = STANDARD.encode(format!("{}:{}", form(&id), form(&secret)));
    assert_eq!(
        parse_basic(&encoded),
        Some((id.clone(), secret.clone())),
        "RFC 6749 §2.3.1 credentials lost"
    );
    let plain = parse_basic(&STANDARD.encode(format!("{id}:{secret}")));
    if !id.contains(':') {
        assert!(plain.is_some(), "base64 of `id:secret` refused");
    }
});
