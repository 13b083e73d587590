//! The Offerte Portaal identity provider: an OpenID Connect provider and the owner of
//! offices, users and rights.
//!
//! `Idp::open` builds everything from checked settings (database, master key, signing
//! keys, templates, mail); `Idp::router` gives its HTTP routes, mounted under the issuer's
//! path. The portal binary and the tests build the same `Idp`. Rules live in `domain`,
//! storage in `store`, HTTP in `oidc` and `login`.

pub mod api;
pub mod approvals;
pub mod audit_text;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod extract;
pub mod hasher;
pub mod imports;
pub mod keys;
pub mod login;
pub mod mail;
pub mod manage;
pub mod mfa_policy;
pub mod offices;
pub mod oidc;
pub mod oidc_clients;
pub mod provision;
pub mod quotes;
pub mod state;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use product_registry::Registry;
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use tower_http::csrf::CsrfLayer;
use web_kit::Templates;

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::domain::password::PasswordPolicy;
use crate::hasher::Hasher;
use crate::keys::Keys;
use crate::mail::{Mailer, Transport};
use crate::state::{AppState, Core};
use crate::store::Db;
use crate::store::clients::{self, Client};

/// Start-up failed; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory could not be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// Which.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The master key is unusable.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
    /// The database is unreachable or a migration failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Signing keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    /// Templates or texts are broken.
    #[error(transparent)]
    Templates(#[from] web_kit::TemplateError),
    /// Mail transport misconfigured.
    #[error(transparent)]
    Mail(#[from] mail::MailError),
    /// The password list did not load.
    #[error(transparent)]
    Passwords(#[from] domain::password::PolicyLoadError),
    /// argon2 failed.
    #[error(transparent)]
    Hash(#[from] hasher::HashError),
}

/// The provider's routes relative to the issuer path, before state and layers: the
/// protocol's (`oidc::ROUTES`) and the sign-in pages' (`login::ROUTES`).
pub fn routes() -> Router<AppState> {
    Router::new().merge(oidc::routes()).merge(login::routes())
}

/// The identity provider, opened.
pub struct Idp {
    /// Shared state of every handler.
    pub state: AppState,
    /// The outbox worker.
    pub mailer: Mailer,
    master: Arc<MasterKey>,
    /// Whether the master key file was created just now (first run).
    pub created_master_key: bool,
}

impl Idp {
    /// Opens the database (applying migrations), the master key and the signing keys.
    pub async fn open(settings: Settings, registry: Registry) -> Result<Self, StartError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(|source| StartError::DataDir {
            path: settings.data_dir.display().to_string(),
            source,
        })?;
        let (master, created_master_key) = match &settings.master_key {
            Some(k) => (MasterKey::from_base64(k.expose_secret())?, false),
            None => MasterKey::load_or_create(&settings.data_dir.join("master.key"))?,
        };
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let now = store::at(OffsetDateTime::now_utc());
        let keys = Keys::load(&db, master.sealer("signing-keys")?, now).await?;
        let outbox = Arc::new(master.sealer("outbox")?);
        let transport =
            Transport::new(settings.smtp_url.as_deref(), settings.data_dir.join("mail"))
                .map_err(mail::MailError::from)?;
        let mailer = Mailer::new(
            db.clone(),
            outbox.clone(),
            transport,
            settings.mail_from.clone(),
        )?
        .with_events(events::Expander::new(
            db.clone(),
            registry.clone(),
            keys.clone(),
            settings.issuer.clone(),
            outbox.clone(),
        ));
        let settings_issuer = settings.issuer.clone();
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let clients = Arc::new(store::client_cache::ClientCache::new(&db));
        let core = Core {
            discovery: axum::body::Bytes::from(oidc::discovery::build(&settings.issuer)),
            templates: Templates::load()?,
            passwords: Arc::new(PasswordPolicy::shipped()?),
            hasher: Hasher::new(parallel)?,
            mail_wake: mailer.waker(),
            settings,
            db,
            registry,
            keys,
            clients,
            outbox,
            seeds: Arc::new(master.sealer("totp-seeds")?),
            passkey_sealer: Arc::new(master.sealer("passkeys")?),
            step_sealer: Arc::new(master.sealer("pending-steps")?),
            webauthn: login::passkey::relying_party(&settings_issuer).map(Arc::new),
            quote_checks: std::sync::RwLock::new(Arc::from(Vec::new())),
        };
        Ok(Self {
            state: AppState(Arc::new(core)),
            mailer,
            master: Arc::new(master),
            created_master_key,
        })
    }

    /// The routes of the provider, mounted under the issuer's path (`/idp`).
    pub fn router(&self) -> Router {
        let inner = routes()
            .layer(axum::middleware::from_fn_with_state(
                self.state.clone(),
                error::render_page_errors,
            ))
            .layer(CsrfLayer::new())
            .with_state(self.state.clone());
        let path = &self.state.settings.issuer_path;
        if path.is_empty() || path == "/" {
            inner
        } else {
            Router::new().nest(path, inner)
        }
    }

    /// The admin API, to be nested at `/api/v1` (issue 6).
    pub fn api_router(&self) -> Router {
        Router::new()
            .nest("/api/v1", api::routes())
            .with_state(self.state.clone())
    }

    /// Registers (or re-registers) one of the portal's own clients. Its secret is derived
    /// from the master key, so every node and restart agrees on it without storing it.
    /// `post_logout_redirect_uri` is where RP-initiated logout may send the browser back.
    /// `backchannel_logout_uri` receives logout tokens, so a deactivation or a sign-out
    /// elsewhere ends the client's session within seconds (SPEC O6).
    /// With `refresh`, the client may also use refresh tokens (scope `offline_access`):
    /// the shell does, to call the admin API for as long as its session lasts.
    pub async fn register_own_client(
        &self,
        client_id: &str,
        name: &str,
        redirect_uri: &str,
        post_logout_redirect_uri: &str,
        backchannel_logout_uri: &str,
        refresh: bool,
    ) -> Result<String, StartError> {
        let secret = self
            .master
            .derive_secret(&format!("client-secret:{client_id}"))?;
        let now = self.state.now();
        let stored = clients::upsert(
            &self.state.db,
            &Client {
                client_id: client_id.to_owned(),
                name: name.to_owned(),
                secret_hash: Some(crypto::token_hash(&secret)),
                redirect_uris: vec![redirect_uri.to_owned()],
                post_logout_redirect_uris: vec![post_logout_redirect_uri.to_owned()],
                backchannel_logout_uri: Some(backchannel_logout_uri.to_owned()),
                require_pkce: true,
                grant_types: if refresh {
                    vec!["authorization_code".into(), "refresh_token".into()]
                } else {
                    vec!["authorization_code".into()]
                },
                jwks: None,
                id_token_alg: "RS256".into(),
                access_token_alg: "RS256".into(),
                require_pushed_authorization_requests: false,
                dpop_bound_access_tokens: false,
            },
            now,
        )
        .await;
        // Seen at once by this process, whatever the database (an in-memory one has no stamp).
        self.state.clients.changed();
        stored?;
        Ok(secret)
    }

    /// Gives `client_id` an event stream (issue 10): from now on the rights events of users
    /// it holds live grants for are pushed to `endpoint` as signed security events.
    pub async fn set_event_stream(
        &self,
        client_id: &str,
        endpoint: &str,
    ) -> Result<(), StartError> {
        store::event_streams::set(&self.state.db, client_id, endpoint, self.state.now()).await?;
        Ok(())
    }

    /// Re-reads the signing keys every minute, so a rotation on any node reaches this one.
    pub fn spawn_key_refresh(&self) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = state.keys.reload(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "signing keys not reloaded");
                }
            }
        })
    }

    /// On PostgreSQL, listens for client changes of other processes, so that registrations
    /// can be served from memory (store::client_cache); elsewhere nothing to do.
    pub fn spawn_client_watch(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.state.clients.clone();
        let db = self.state.db.clone();
        tokio::spawn(cache.watch(db))
    }

    /// Every hour, forgets throttle counters whose window ended long ago, so the table
    /// holds only what a limit can still use (SECURITY AV-06), expired sign-in steps and
    /// e-mail changes, e-mails that left the outbox more than a week ago, and audit
    /// entries older than `PORTAL_AUDIT_RETENTION_DAYS`.
    pub fn spawn_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let before = state.now() - time::Duration::days(1);
                if let Err(e) = store::throttle::purge(&state.db, before).await {
                    tracing::warn!(error = %e, "throttle counters not purged");
                }
                if let Err(e) = store::steps::purge(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "expired sign-in steps not purged");
                }
                let done_before = state.now() - store::outbox::KEEP_DONE;
                if let Err(e) = store::outbox::purge(&state.db, done_before).await {
                    tracing::warn!(error = %e, "sent e-mails not purged");
                }
                if let Err(e) = store::email_changes::purge(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "expired e-mail changes not purged");
                }
                // Issue 10, AD-03: entries past the retention leave the audit log.
                let days = state.settings.audit_retention_days;
                if let Err(e) = store::audit::purge(&state.db, days, state.now()).await {
                    tracing::warn!(error = %e, "old audit entries not purged");
                }
                // RFC 9126, RFC 9449: used-up pushed requests and stale DPoP proofs.
                if let Err(e) = store::pushed::purge(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "expired pushed requests not purged");
                }
                if let Err(e) = store::pushed::purge_proofs(&state.db, state.now()).await {
                    tracing::warn!(error = %e, "stale DPoP proofs not purged");
                }
                // Issue 10: the 14- and 3-day 2FA reminders, once each per user and date.
                if let Err(e) = mfa_policy::queue_reminders(&state, state.now()).await {
                    tracing::warn!(error = %e, "2FA reminders not queued");
                }
            }
        })
    }

    /// Every half minute, takes over bulk imports whose node died mid-import (issue 6):
    /// they go on with the rows not yet applied.
    pub fn spawn_import_resume(&self) -> tokio::task::JoinHandle<()> {
        imports::spawn_resume(self.state.clone())
    }

    /// O7: the products' answers to "does this office hold quotes?", one per product.
    /// Replaces the checks in use; with none (the default), nothing stops a deletion.
    pub fn set_quote_checks(&self, checks: Vec<Arc<dyn quotes::QuoteCheck>>) {
        self.state.set_quote_checks(checks);
    }

    /// The master key's sealer for signing keys (`keys rotate`).
    pub fn key_sealer(&self) -> Result<crypto::Sealer, crypto::CryptoError> {
        self.master.sealer("signing-keys")
    }
}

#[cfg(test)]
mod tests {
    use web_kit::headers::check_route_table;

    /// The route tables the header test walks (SECURITY HD-02) are the routers' own: a
    /// route added to a router but not to its table fails here.
    #[test]
    fn the_route_tables_list_every_route() {
        let idp = [crate::oidc::ROUTES, crate::login::ROUTES].concat();
        assert_eq!(check_route_table(&super::routes(), &idp), Ok(()));
        assert_eq!(
            check_route_table(&crate::api::routes(), crate::api::ROUTES),
            Ok(())
        );
    }
}
