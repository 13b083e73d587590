//! Passkeys (SPEC F4, SECURITY MF-08, MF-09): registration under Beveiliging, as the
//! second step of a sign-in, and passwordless sign-in ("Inloggen met passkey").
//!
//! The WebAuthn ceremonies are `webauthn-rs`; the relying-party id is the issuer's host
//! and the only origin the issuer's, so an assertion made for any other site (a product
//! portal's included) fails. User verification is required in every ceremony, so a
//! passkey alone is two factors (something held, something known or been).

use url::Url;
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party for `issuer`, or `None` when its host is no domain name (an IP
/// address cannot be a WebAuthn RP id).
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    let url = Url::parse(issuer).ok()?;
    let host = match url.host()? {
        url::Host::Domain(d) => d.to_owned(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Offerte Portaal")
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rp_id_is_the_issuer_host_and_ip_addresses_have_none() {
        assert!(relying_party("http://localhost:8080/idp").is_some());
        assert!(relying_party("https://portaal.example.nl/idp").is_some());
        assert!(relying_party("http://127.0.0.1:8080/idp").is_none());
        assert!(relying_party("http://[::1]:8080/idp").is_none());
    }
}
