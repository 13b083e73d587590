//! OIDC clients, registered by an insurer admin (`portal client add`) or by the
//! all-in-one portal for its own parts. Secrets are kept as SHA-256 hashes: they are
//! 256-bit random values, so a fast hash suffices and the token endpoint stays fast
//! (PERFORMANCE.md, "Nothing slow on the hot path").

use time::OffsetDateTime;

use super::audit::{AuditRecord, insert_audit};
use super::client_cache;
use super::{Db, StoreError, at, with_db};

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub client_id: String,
    /// A human name.
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<Vec<u8>>,
    /// Redirect URIs, matched byte for byte (OP-02).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Whether PKCE is required (default: yes, SPEC §4).
    pub require_pkce: bool,
    /// The grant types the client may use (RFC 7591 `grant_types`): `authorization_code`,
    /// `refresh_token` (scope `offline_access`), `client_credentials`.
    pub grant_types: Vec<String>,
    /// Public keys (a JWKS document) for `private_key_jwt` (RFC 7523).
    pub jwks: Option<String>,
    /// The ID-token signing algorithm: `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_alg: String,
    /// The access-token signing algorithm: `RS256` (default), `ES256` or `EdDSA`.
    pub access_token_alg: String,
    /// RFC 9126 §5 `require_pushed_authorization_requests`: a plain authorization request
    /// (without a pushed `request_uri`) is refused.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP
    /// proof, so every access token is bound to the client's key.
    pub dpop_bound_access_tokens: bool,
}

impl Client {
    /// Whether the registration allows `grant_type`.
    pub fn allows(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<String>,
    require_pkce: bool,
    grant_types: String,
    jwks: Option<String>,
    id_token_alg: String,
    access_token_alg: String,
    require_pushed_authorization_requests: bool,
    dpop_bound_access_tokens: bool,
}

/// The `INSERT` of a registration (a macro, so that `concat!` keeps the SQL static).
macro_rules! insert_client {
    () => {
        "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
            backchannel_logout_uri, require_pkce, grant_types, jwks, id_token_alg,
            access_token_alg, require_pushed_authorization_requests, dpop_bound_access_tokens,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $14, $12, $12)"
    };
}

/// What a registration does to a client id that is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Replace the registration (the CLI, the portal's own clients).
    Replace,
    /// Refuse with [`StoreError::Conflict`] (the admin API: a registration never
    /// overwrites another client, the portal's own included).
    Refuse,
}

/// Registers a client or replaces its registration.
pub async fn upsert(db: &Db, c: &Client, now: OffsetDateTime) -> Result<(), StoreError> {
    register(db, c, Taken::Replace, None, now).await
}

/// Registers a client with its audit entry, in one transaction.
pub async fn register(
    db: &Db,
    c: &Client,
    taken: Taken,
    audit: Option<&AuditRecord>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let redirect =
        serde_json::to_string(&c.redirect_uris).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let post_logout = serde_json::to_string(&c.post_logout_redirect_uris)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sql = match taken {
        Taken::Replace => concat!(
            insert_client!(),
            " ON CONFLICT (client_id) DO UPDATE SET name = excluded.name,
                secret_hash = excluded.secret_hash, redirect_uris = excluded.redirect_uris,
                post_logout_redirect_uris = excluded.post_logout_redirect_uris,
                backchannel_logout_uri = excluded.backchannel_logout_uri,
                require_pkce = excluded.require_pkce, grant_types = excluded.grant_types,
                jwks = excluded.jwks, id_token_alg = excluded.id_token_alg,
                access_token_alg = excluded.access_token_alg,
                require_pushed_authorization_requests = excluded.require_pushed_authorization_requests,
                dpop_bound_access_tokens = excluded.dpop_bound_access_tokens,
                updated_at = excluded.updated_at"
        ),
        Taken::Refuse => insert_client!(),
    };
    let now = at(now);
    // On a SQLite file, the stamp that tells other processes (client_cache) is opened first:
    // if it cannot be written, nothing is changed.
    let stamp = match db {
        Db::Sqlite(pool) => match client_cache::stamp_path(pool) {
            Some(path) => Some((
                client_cache::open_stamp(&path).map_err(|e| signal_failed(&path, &e))?,
                path,
            )),
            None => None,
        },
        Db::Postgres(_) => None,
    };
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(sql)
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(c.secret_hash.as_deref())
            .bind(&redirect)
            .bind(&post_logout)
            .bind(c.backchannel_logout_uri.as_deref())
            .bind(c.require_pkce)
            .bind(c.grant_types.join(" "))
            .bind(c.jwks.as_deref())
            .bind(&c.id_token_alg)
            .bind(&c.access_token_alg)
            .bind(now)
            .bind(c.require_pushed_authorization_requests)
            .bind(c.dpop_bound_access_tokens)
            .execute(&mut *tx)
            .await?;
        if let Some(audit) = audit {
            insert_audit!(&mut *tx, audit, now)?;
        }
        // Other processes drop their cached registrations (client_cache): on PostgreSQL
        // the notification is delivered at commit.
        if matches!(db, Db::Postgres(_)) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(client_cache::CHANNEL)
                .bind(&c.client_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<(), StoreError>(())
    })?;
    // The stamp is written after the commit (before it, a reader could take the signal and
    // still read the old row).
    if let Some((file, path)) = stamp {
        client_cache::touch_stamp(&file).map_err(|e| signal_failed(&path, &e))?;
    }
    Ok(())
}

fn signal_failed(path: &std::path::Path, e: &std::io::Error) -> StoreError {
    StoreError::SignalFailed {
        path: path.display().to_string(),
        error: e.to_string(),
    }
}

/// A registered client and when it was registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The registration.
    pub client: Client,
    /// When it was first registered.
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ListedRow {
    #[sqlx(flatten)]
    client: ClientRow,
    created_at: OffsetDateTime,
}

/// Every registered client, by client id.
pub async fn list(db: &Db) -> Result<Vec<Registered>, StoreError> {
    let rows = with_db!(db, |pool| {
        sqlx::query_as::<_, ListedRow>(
            "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
                backchannel_logout_uri, require_pkce, grant_types, jwks, id_token_alg, access_token_alg,
                require_pushed_authorization_requests, dpop_bound_access_tokens, created_at
             FROM clients ORDER BY client_id",
        )
        .fetch_all(pool)
        .await
    })?;
    rows.into_iter()
        .map(|r| {
            Ok(Registered {
                client: r.client.into_client()?,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// The client with this id.
pub async fn get(db: &Db, client_id: &str) -> Result<Option<Client>, StoreError> {
    let row = with_db!(db, |pool| {
        sqlx::query_as::<_, ClientRow>(
            "SELECT client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris,
                backchannel_logout_uri, require_pkce, grant_types, jwks, id_token_alg,
                access_token_alg, require_pushed_authorization_requests, dpop_bound_access_tokens
             FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(pool)
        .await
    })?;
    row.map(ClientRow::into_client).transpose()
}

impl ClientRow {
    fn into_client(self) -> Result<Client, StoreError> {
        let list = |s: &str| {
            serde_json::from_str::<Vec<String>>(s).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        Ok(Client {
            redirect_uris: list(&self.redirect_uris)?,
            post_logout_redirect_uris: list(&self.post_logout_redirect_uris)?,
            client_id: self.client_id,
            name: self.name,
            secret_hash: self.secret_hash,
            backchannel_logout_uri: self.backchannel_logout_uri,
            require_pkce: self.require_pkce,
            jwks: self.jwks,
            id_token_alg: self.id_token_alg,
            access_token_alg: self.access_token_alg,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            grant_types: self
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// Records the `jti` of a client assertion until `expires_at`; `false` when it was seen
/// before (a replay, RFC 7523 §3). Expired records are swept on the way.
pub async fn remember_assertion(
    db: &Db,
    client_id: &str,
    jti: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let n = with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM client_assertions WHERE expires_at <= $1")
            .bind(at(now))
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query(
            "INSERT INTO client_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(at(expires_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok::<u64, StoreError>(n)
    })?;
    Ok(n == 1)
}
