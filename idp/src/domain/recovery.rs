//! Recovery codes (SPEC F3): ten single-use codes shown once at enrolment, each able to
//! stand in for one authenticator code.
//!
//! Each code holds 120 random bits, so a SHA-256 of it is as safe to store as a password
//! hash would be (SECURITY MF-05 asks for argon2id only below 112 bits), and checking one
//! costs one index lookup rather than ten argon2 runs.

use std::fmt;

use data_encoding::BASE32_NOPAD;
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError};

/// How many codes a set has.
pub const SET_SIZE: usize = 10;
/// Random bytes per code (120 bits).
const CODE_BYTES: usize = 15;

/// One recovery code as shown to its owner once. `Debug` never shows it.
pub struct RecoveryCode(Zeroizing<String>);

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([redacted])")
    }
}

impl RecoveryCode {
    /// The code in groups of four, lower case: `abcd-efgh-…`.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> Vec<u8> {
        hash_typed(&self.0).unwrap_or_default()
    }
}

/// A fresh set of codes.
pub fn generate_set() -> Result<Vec<RecoveryCode>, CryptoError> {
    (0..SET_SIZE).map(|_| generate()).collect()
}

fn generate() -> Result<RecoveryCode, CryptoError> {
    let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
    crypto::fill_random(bytes.as_mut_slice())?;
    let plain = Zeroizing::new(BASE32_NOPAD.encode(bytes.as_slice()).to_ascii_lowercase());
    let grouped: Vec<&str> = plain
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    Ok(RecoveryCode(Zeroizing::new(grouped.join("-"))))
}

/// The stored hash of what a person typed, if it has the shape of a recovery code:
/// spaces and dashes dropped, case ignored.
pub fn hash_typed(typed: &str) -> Option<Vec<u8>> {
    let plain: Zeroizing<String> = Zeroizing::new(
        typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase(),
    );
    let bytes = BASE32_NOPAD.decode(plain.as_bytes()).ok()?;
    (bytes.len() == CODE_BYTES).then(|| crypto::token_hash(&plain))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_of_120_bits() {
        let set = generate_set().unwrap();
        assert_eq!(set.len(), 10);
        let mut hashes: Vec<Vec<u8>> = set.iter().map(RecoveryCode::hash).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), 10);
        for code in &set {
            assert_eq!(code.secret().len(), 24 + 5, "six groups of four");
            assert!(!code.hash().is_empty());
        }
    }

    #[test]
    fn typed_codes_match_however_they_are_spaced_or_cased() {
        let code = generate().unwrap();
        let stored = code.hash();
        let shouty = code.secret().to_ascii_uppercase();
        let spaced = code.secret().replace('-', " ");
        let bare = code.secret().replace('-', "");
        for typed in [code.secret(), &shouty, &spaced, &bare] {
            assert_eq!(hash_typed(typed).as_deref(), Some(stored.as_slice()));
        }
    }

    #[test]
    fn anything_else_is_no_recovery_code() {
        assert_eq!(hash_typed("123456"), None);
        assert_eq!(hash_typed(""), None);
        assert_eq!(hash_typed("abcd-efgh-ijkl-mnop-qrst-uvw1"), None);
    }

    #[test]
    fn debug_never_shows_a_code() {
        let code = generate().unwrap();
        assert_eq!(format!("{code:?}"), "RecoveryCode([redacted])");
    }
}
