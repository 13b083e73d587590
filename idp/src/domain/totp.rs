//! Time-based one-time passwords as the manual's authenticator apps compute them
//! (SPEC F1: RFC 6238, HMAC-SHA-1, 6 digits, 30-second steps).
//!
//! The arithmetic is `totp-rs`; the rules are ours: a code counts in the step before, the
//! current step and the step after (F3), and only for a step later than the last one the
//! user had accepted, so a code is never accepted twice (RFC 6238 §5.2, SECURITY MF-02).
//! Which step was last is kept by the store; here it is an argument.

use std::fmt;

use qrcode::QrCode;
use qrcode::render::svg;
use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Totp};
use zeroize::Zeroizing;

use crate::crypto::{self, CryptoError};

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Steps accepted either side of the current one.
pub const SKEW: i64 = 1;
/// The issuer an authenticator app shows above the code.
pub const APP_ISSUER: &str = "Offerte Portaal";

/// A 160-bit TOTP seed (MF-04). `Debug` never shows it.
#[derive(Clone)]
pub struct Seed(Zeroizing<Vec<u8>>);

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

/// Why a seed could not be made or shown.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// No randomness.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The seed or the account name is unusable for an otpauth URI.
    #[error("totp: {0}")]
    Totp(String),
    /// The QR code could not be built.
    #[error("qr code: {0}")]
    Qr(String),
}

impl Seed {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, TotpError> {
        let mut bytes = Zeroizing::new(vec![0u8; 20]);
        crypto::fill_random(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A seed as stored (after the store opened its ciphertext).
    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The seed from the key as [`Seed::display_key`] shows it (spaces and case do not
    /// matter), as a person would type it into an app.
    pub fn from_display_key(key: &str) -> Option<Self> {
        let plain: String = key
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let bytes = data_encoding::BASE32_NOPAD.decode(plain.as_bytes()).ok()?;
        (bytes.len() >= 16).then(|| Self(Zeroizing::new(bytes)))
    }

    /// The raw bytes, to seal.
    pub fn secret(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, account: &str) -> Result<Totp, TotpError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(STEP_SECONDS as u64)
            .with_skew(SKEW as u16)
            .with_secret(self.0.as_slice())
            .with_account_name(account.replace(':', ""))
            .with_issuer(Some(APP_ISSUER))
            .build()
            .map_err(|e| TotpError::Totp(e.to_string()))
    }

    /// The key as the apps let one type it: base32, in groups of four.
    pub fn display_key(&self) -> Result<String, TotpError> {
        let text = self.totp("x")?.secret().to_base32();
        let grouped: Vec<String> = text
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        Ok(grouped.join(" "))
    }

    /// The `otpauth://totp/…` URI for the QR code, labelled with the user's e-mail.
    pub fn otpauth_uri(&self, account: &str) -> Result<String, TotpError> {
        self.totp(account)?
            .to_url()
            .map_err(|e| TotpError::Totp(e.to_string()))
    }

    /// The QR code of the otpauth URI as an inline SVG element.
    pub fn qr_svg(&self, account: &str) -> Result<String, TotpError> {
        let uri = Zeroizing::new(self.otpauth_uri(account)?);
        let code = QrCode::new(uri.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
        let image = code
            .render::<svg::Color<'_>>()
            .min_dimensions(220, 220)
            .quiet_zone(true)
            .build();
        // Inline in the page: no XML declaration.
        Ok(match image.find("<svg") {
            Some(i) => image[i..].to_owned(),
            None => image,
        })
    }

    /// The code for `step`, as an app shows it (tests compute codes this way too).
    pub fn code_at_step(&self, step: i64) -> Result<String, TotpError> {
        let t = self.totp("x")?;
        Ok(t.generate(step.max(0) as u64 * STEP_SECONDS as u64)
            .to_string())
    }

    /// The step at which a typed code is valid at `now`, if any: the current step or
    /// one either side. Every candidate is compared in constant time.
    pub fn matching_step(&self, typed: &str, now: OffsetDateTime) -> Option<i64> {
        let typed = normalise(typed)?;
        let current = step_at(now);
        let mut found = None;
        for step in current - SKEW..=current + SKEW {
            let Ok(expected) = self.code_at_step(step) else {
                return None;
            };
            if crypto::same(expected.as_bytes(), typed.as_bytes()) {
                found = Some(step);
            }
        }
        found
    }
}

/// The RFC 6238 time step of `now`.
pub fn step_at(now: OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(STEP_SECONDS)
}

/// Six digits from what a person typed: spaces and dashes are dropped; anything else
/// makes it no code at all.
pub fn normalise(typed: &str) -> Option<String> {
    let digits: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether a code valid for `step` may be accepted after `last_step` (MF-02): only a
/// later step, so neither the same code again nor an older one.
pub fn is_fresh(step: i64, last_step: Option<i64>) -> bool {
    last_step.is_none_or(|last| step > last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use time::macros::datetime;

    /// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890" and its published
    /// 8-digit values; the 6-digit code is their last six digits.
    #[test]
    fn computes_the_rfc_6238_test_vectors() {
        let seed = Seed::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()));
        let cases = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ];
        for (t, eight) in cases {
            let code = seed.code_at_step(t / STEP_SECONDS).unwrap();
            assert_eq!(code, eight[2..], "T = {t}");
        }
    }

    #[test]
    fn accepts_one_step_either_side_and_no_further() {
        let seed = Seed::generate().unwrap();
        let now = datetime!(2026-11-25 10:00:15 UTC);
        let step = step_at(now);
        for offset in -1..=1 {
            let code = seed.code_at_step(step + offset).unwrap();
            assert_eq!(seed.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = seed.code_at_step(step + offset).unwrap();
            // Another step's code may collide by chance (1 in 10^6): only then allow it.
            let collides = (-1..=1).any(|o| seed.code_at_step(step + o).unwrap() == code);
            if !collides {
                assert_eq!(seed.matching_step(&code, now), None, "offset {offset}");
            }
        }
    }

    #[test]
    fn the_window_follows_the_clock_at_step_boundaries() {
        let seed = Seed::generate().unwrap();
        let start = datetime!(2026-11-25 10:00:00 UTC);
        let code = seed.code_at_step(step_at(start)).unwrap();
        // Valid through the next step, gone two steps on.
        assert!(
            seed.matching_step(&code, start + time::Duration::seconds(59))
                .is_some()
        );
        let later = start + time::Duration::seconds(60);
        let collides = (-1..=1).any(|o| seed.code_at_step(step_at(later) + o).unwrap() == code);
        if !collides {
            assert_eq!(seed.matching_step(&code, later), None);
        }
    }

    #[test]
    fn a_step_is_fresh_only_after_the_last_accepted_one() {
        assert!(is_fresh(100, None));
        assert!(is_fresh(101, Some(100)));
        assert!(!is_fresh(100, Some(100)), "the same code twice");
        assert!(!is_fresh(99, Some(100)), "an older code after a newer one");
    }

    #[test]
    fn typed_codes_are_normalised_or_refused() {
        assert_eq!(normalise(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalise("123-456").as_deref(), Some("123456"));
        assert_eq!(normalise("12345"), None);
        assert_eq!(normalise("1234567"), None);
        assert_eq!(normalise("12345a"), None);
        assert_eq!(
            normalise("１２３４５６"),
            None,
            "full-width digits are not ASCII"
        );
    }

    #[test]
    fn the_qr_code_and_key_describe_the_same_seed() {
        let seed = Seed::generate().unwrap();
        let uri = seed.otpauth_uri("ilse@voorbeeld.nl").unwrap();
        let key = seed.display_key().unwrap().replace(' ', "");
        assert!(uri.starts_with("otpauth://totp/Offerte%20Portaal:ilse%40voorbeeld.nl?"));
        assert!(uri.contains(&format!("secret={key}")));
        assert!(uri.contains("issuer=Offerte%20Portaal"));
        assert_eq!(key.len(), 32, "160 bits in base32");
        let typed = Seed::from_display_key(&seed.display_key().unwrap().to_lowercase()).unwrap();
        assert_eq!(typed.secret(), seed.secret());
        let svg = seed.qr_svg("ilse@voorbeeld.nl").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn debug_never_shows_the_seed() {
        let seed = Seed::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()));
        assert_eq!(format!("{seed:?}"), "Seed([redacted])");
    }
}
