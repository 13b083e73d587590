//! Secrets at rest and the random values the portal hands out.
//!
//! The master key never lives in the database: it comes from `PORTAL_MASTER_KEY` or a
//! file under the data directory (generated, mode 0600, on first run). Each purpose
//! (signing keys, outbox mail) gets its own AES-256-GCM key derived with HKDF, and every
//! ciphertext is bound to its row by the associated data, so swapping two ciphertexts
//! between rows fails to decrypt (SECURITY KS-02). Tokens handed to people (activation
//! links, codes, session ids) are 256 random bits from the OS generator and only their
//! SHA-256 is stored (KS-01, KS-03).

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a secret could not be loaded, sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The master key is not 32 bytes of base64.
    #[error("the master key must be 32 bytes, base64-encoded ({0})")]
    BadMasterKey(&'static str),
    /// The master key file could not be read or written.
    #[error("master key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The operating system's random generator failed.
    #[error("the random generator failed")]
    Random,
    /// A ciphertext is damaged, belongs to another row, or was sealed under another key.
    #[error("a sealed value did not open (wrong key, wrong row or damaged)")]
    Open,
}

/// The key that encrypts every secret at rest.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    /// Parses a base64-encoded 32-byte key.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| CryptoError::BadMasterKey("not base64"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::BadMasterKey("not 32 bytes"))?;
        Ok(Self(Zeroizing::new(key)))
    }

    /// Reads the key from `path`, or creates it there (owner-only) when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), CryptoError> {
        let io = |source| CryptoError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_base64(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                fill_random(key.as_mut_slice())?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                write_private(path, STANDARD.encode(key.as_slice()).as_bytes()).map_err(io)?;
                Ok((Self(key), true))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The sealing key for one purpose, such as `"signing-keys"` or `"outbox"`.
    pub fn sealer(&self, purpose: &'static str) -> Result<Sealer, CryptoError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"offerte-portaal master key v1");
        let prk = salt.extract(self.0.as_slice());
        let info = [purpose.as_bytes()];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| CryptoError::Random)?;
        let unbound: UnboundKey = okm.into();
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            purpose,
        })
    }

    /// A secret derived for `label`, stable for as long as the master key is: the secrets
    /// of the portal's own OIDC clients in the all-in-one process, so that every node and
    /// every restart agrees on them without storing them anywhere.
    pub fn derive_secret(&self, label: &str) -> Result<String, CryptoError> {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"offerte-portaal derived secret v1");
        let prk = salt.extract(self.0.as_slice());
        let info = [label.as_bytes()];
        let okm = prk
            .expand(&info, DerivedLen)
            .map_err(|_| CryptoError::Random)?;
        let mut out = Zeroizing::new([0u8; 32]);
        okm.fill(out.as_mut_slice())
            .map_err(|_| CryptoError::Random)?;
        Ok(URL_SAFE_NO_PAD.encode(out.as_slice()))
    }
}

struct DerivedLen;
impl hkdf::KeyType for DerivedLen {
    fn len(&self) -> usize {
        32
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// AES-256-GCM for one purpose. Output: nonce ‖ ciphertext ‖ tag.
pub struct Sealer {
    key: LessSafeKey,
    purpose: &'static str,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({})", self.purpose)
    }
}

impl Sealer {
    /// Encrypts `plain`, bound to `row` (the table's key of the row it is stored in).
    pub fn seal(&self, row: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let mut buf = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(row),
                &mut buf,
            )
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`Sealer::seal`] produced for the same `row`.
    pub fn open(&self, row: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(row), buf.as_mut_slice())
            .map_err(|_| CryptoError::Open)?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// Fills `buf` from the operating system's random generator.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

/// A fresh 256-bit secret token, URL-safe base64 (43 characters).
pub fn random_token() -> Result<String, CryptoError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    fill_random(bytes.as_mut_slice())?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}

/// The SHA-256 of a token: what the database keeps instead of the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_values_open_only_for_their_row_and_purpose() {
        let k = key();
        let s = k.sealer("signing-keys").unwrap();
        let sealed = s.seal(b"row-1", b"secret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(s.open(b"row-1", &sealed).unwrap().as_slice(), b"secret");
        assert!(matches!(s.open(b"row-2", &sealed), Err(CryptoError::Open)));
        let other = k.sealer("outbox").unwrap();
        assert!(matches!(
            other.open(b"row-1", &sealed),
            Err(CryptoError::Open)
        ));
        let mut damaged = sealed.clone();
        if let Some(last) = damaged.last_mut() {
            *last ^= 1;
        }
        assert!(s.open(b"row-1", &damaged).is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes() {
        assert!(MasterKey::from_base64("not base64!").is_err());
        assert!(MasterKey::from_base64(&STANDARD.encode([1u8; 16])).is_err());
    }

    #[test]
    fn master_key_file_is_created_once_and_private() {
        let dir = std::env::temp_dir().join(format!("mk-{}", random_token().unwrap()));
        let path = dir.join("master.key");
        let (_, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (_, created_again) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created_again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 32);
        assert!(same(&token_hash(&a), &token_hash(&a)));
        assert!(!same(&token_hash(&a), &token_hash(&b)));
    }

    #[test]
    fn derived_secrets_are_stable_per_label() {
        let k = key();
        assert_eq!(
            k.derive_secret("dip").unwrap(),
            k.derive_secret("dip").unwrap()
        );
        assert_ne!(
            k.derive_secret("dip").unwrap(),
            k.derive_secret("dil").unwrap()
        );
    }
}
