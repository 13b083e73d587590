//! The random values that bind a browser to server-side state: the session id and the
//! sign-in attempt id, each 256 bits from the OS CSPRNG (SECURITY KS-03).
//!
//! The cookie carries the value; the store only ever sees its SHA-256 ([`StoreKey`]), so a
//! dump of a session store holds nothing a browser could present.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Bytes of randomness in a cookie value.
const ID_BYTES: usize = 32;
/// Length of a cookie value: 32 bytes in unpadded base64url.
const ID_CHARS: usize = 43;

/// A random cookie value (a session id or a browser's sign-in binding). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct CookieValue(String);

impl CookieValue {
    /// A fresh value from the OS random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts a value read from a cookie only if it has the shape we issue; anything else
    /// is treated as no cookie at all.
    pub fn parse(raw: &str) -> Option<Self> {
        let shaped = raw.len() == ID_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self(raw.to_owned()))
    }

    /// The value to put in the cookie.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The key under which the store keeps the state this value points to.
    pub fn key(&self) -> StoreKey {
        StoreKey(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl fmt::Debug for CookieValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CookieValue([redacted])")
    }
}

/// SHA-256 of a [`CookieValue`]: what a [`crate::SessionStore`] is keyed by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// The hash, e.g. for a database column.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A short prefix is enough to correlate log lines and reveals nothing usable.
        write!(
            f,
            "StoreKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_values_are_distinct_parse_back_and_hash_stably() {
        let a = CookieValue::generate().unwrap();
        let b = CookieValue::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.secret().len(), ID_CHARS);
        let again = CookieValue::parse(a.secret()).unwrap();
        assert_eq!(again.key(), a.key());
        assert_ne!(a.key(), b.key());
        assert!(!format!("{a:?}").contains(a.secret()));
    }

    #[test]
    fn foreign_cookie_values_are_ignored() {
        for raw in ["", "abc", &"x".repeat(44), &format!("{}=", "a".repeat(42))] {
            assert!(CookieValue::parse(raw).is_none(), "{raw:?}");
        }
    }
}
