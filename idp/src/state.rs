//! What every request handler of the identity provider shares.

use std::ops::Deref;
use std::sync::Arc;

use product_registry::Registry;
use time::OffsetDateTime;
use tokio::sync::Notify;
use web_kit::Templates;

use crate::config::Settings;
use crate::crypto::Sealer;
use crate::domain::password::PasswordPolicy;
use crate::hasher::Hasher;
use crate::keys::Keys;
use crate::quotes::QuoteChecks;
use crate::store::{Db, at};

/// The identity provider's shared state.
pub struct Core {
    /// Checked settings.
    pub settings: Settings,
    /// The database.
    pub db: Db,
    /// The product line.
    pub registry: Registry,
    /// Pages and mails.
    pub templates: Templates,
    /// Signing keys in memory.
    pub keys: Keys,
    /// Client registrations in memory, dropped on any change (store::client_cache).
    pub clients: Arc<crate::store::client_cache::ClientCache>,
    /// Seals outbox payloads.
    pub outbox: Arc<Sealer>,
    /// Seals TOTP seeds (associated data: the user id, SECURITY MF-04).
    pub seeds: Arc<Sealer>,
    /// Seals passkey credentials (associated data: the passkey's row id).
    pub passkey_sealer: Arc<Sealer>,
    /// WebAuthn with the issuer's host as relying-party id; `None` when that host is an
    /// IP address, which WebAuthn does not allow (passkeys are then not offered).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Seals what a pending sign-in step holds (associated data: the step's id hash).
    pub step_sealer: Arc<Sealer>,
    /// Wakes the mail worker after a mail was queued.
    pub mail_wake: Arc<Notify>,
    /// NIST password rules.
    pub passwords: Arc<PasswordPolicy>,
    /// argon2id behind a semaphore.
    pub hasher: Hasher,
    /// The discovery document, serialised once.
    pub discovery: axum::body::Bytes,
    /// O7: one check per product, asked before a sub-office is deleted.
    pub quote_checks: std::sync::RwLock<QuoteChecks>,
}

impl Core {
    /// The current time as the store keeps it (UTC, whole seconds). The one place the
    /// identity provider reads the clock; rules get `now` passed in.
    pub fn now(&self) -> OffsetDateTime {
        at(OffsetDateTime::now_utc())
    }

    /// An absolute URL of an idp page, from the configured issuer, never from the request's
    /// Host header (SECURITY IO-04).
    pub fn idp_url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.issuer)
    }

    /// The quote checks in use (a cheap clone, so no lock is held while they run).
    pub fn quote_checks(&self) -> QuoteChecks {
        self.quote_checks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the quote checks.
    pub fn set_quote_checks(&self, checks: Vec<Arc<dyn crate::quotes::QuoteCheck>>) {
        *self
            .quote_checks
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::from(checks);
    }

    /// A path of an idp page as the browser sees it (under the issuer's path).
    pub fn idp_path(&self, path: &str) -> String {
        format!("{}{path}", self.settings.issuer_path)
    }
}

/// Cheap to clone; handed to every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Core>);

impl Deref for AppState {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.0
    }
}
