//! Registering OIDC clients (issue 6; SPEC §4, SECURITY OP-04, OP-10, OP-28): the one path
//! by which a client comes to exist, whether an operator runs `portal client add` or an
//! insurer admin uses the console (`POST /api/v1/clients`). [`prepare`] checks a request
//! and makes the secret when none is given (256 random bits, shown once, stored only as its
//! SHA-256 hash); [`store`] writes the registration with its audit entry
//! (`client.registered`) in one transaction. Who may register is decided here as well:
//! an insurer admin, or the operator at the command line (no caller). No HTTP here.

use serde_json::json;
use time::OffsetDateTime;

use crate::crypto::{self, CryptoError};
use crate::domain::Role;
use crate::oidc::client_auth::check_client_jwks;
use crate::state::Core;
use crate::store::accounts::Principal;
use crate::store::audit::AuditRecord;
use crate::store::clients::{self, Client, Registered, Taken};
use crate::store::{StoreError, audit};

/// The grant types a client may be registered for (RFC 7591 `grant_types`).
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// The ID-token signing algorithms a client may choose (SPEC §4).
pub const ID_TOKEN_ALGS: [&str; 3] = ["RS256", "ES256", "EdDSA"];

/// The shortest secret an operator may choose; generated ones are 43 characters.
pub const MIN_SECRET_LEN: usize = 32;

/// A registration as asked for.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest {
    /// The client id (admin-assigned, OP-28).
    pub client_id: String,
    /// A name shown to people; the client id when absent.
    pub name: Option<String>,
    /// The operator's own secret (CLI only); `None` with no `jwks`: one is made.
    pub secret: Option<String>,
    /// A JWKS document for `private_key_jwt` (RFC 7523); such a client gets no secret.
    pub jwks: Option<String>,
    /// Redirect URIs, matched byte for byte (OP-02).
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Grant types; `authorization_code` when empty.
    pub grant_types: Vec<String>,
    /// PKCE required (SPEC §4: the default; relaxed only for a confidential client that
    /// uses `nonce`).
    pub require_pkce: bool,
    /// `RS256`, `ES256` or `EdDSA`.
    pub id_token_alg: String,
    /// The access tokens' algorithm, from the same three; `RS256` when `None`.
    pub access_token_alg: Option<String>,
    /// RFC 9126 §5: only pushed authorization requests (PAR) are accepted from the client.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: every token request of the client carries a DPoP proof.
    pub dpop_bound_access_tokens: bool,
}

/// Which URI field of a request a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriField {
    /// `redirect_uris`.
    Redirect,
    /// `post_logout_redirect_uris`.
    PostLogout,
    /// `backchannel_logout_uri`.
    Backchannel,
}

impl UriField {
    /// The name in the API's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redirect => "redirect_uris",
            Self::PostLogout => "post_logout_redirect_uris",
            Self::Backchannel => "backchannel_logout_uri",
        }
    }
}

/// Why a URI cannot be registered (SECURITY OP-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriRefused {
    /// Not an absolute URL.
    #[error("not an absolute URL")]
    NotAbsolute,
    /// It carries a fragment.
    #[error("a fragment is not allowed")]
    Fragment,
    /// It carries a wildcard.
    #[error("a wildcard is not allowed")]
    Wildcard,
    /// Not https, nor http on a loopback address.
    #[error("only https (or http on 127.0.0.1, [::1] or localhost) is allowed")]
    Scheme,
}

impl UriRefused {
    /// The Dutch text's key.
    pub fn text_key(self) -> &'static str {
        match self {
            Self::NotAbsolute => "oidc_clients.uri_not_absolute",
            Self::Fragment => "oidc_clients.uri_fragment",
            Self::Wildcard => "oidc_clients.uri_wildcard",
            Self::Scheme => "oidc_clients.uri_scheme",
        }
    }
}

/// SECURITY OP-04: an absolute https URL (http only on a loopback host, for native apps
/// and development), no fragment, no wildcard; `javascript:` and `data:` are no https.
/// The URI is stored and compared as given, so it must be one as written: a space or a
/// control character (which the URL parser would drop or encode, and a NUL PostgreSQL
/// cannot store) makes it none (RFC 3986 §2).
pub fn check_client_uri(uri: &str) -> Result<(), UriRefused> {
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UriRefused::NotAbsolute);
    }
    let url = url::Url::parse(uri).map_err(|_| UriRefused::NotAbsolute)?;
    if url.fragment().is_some() {
        return Err(UriRefused::Fragment);
    }
    if uri.contains('*') {
        return Err(UriRefused::Wildcard);
    }
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("127.0.0.1" | "[::1]" | "localhost")) => Ok(()),
        _ => Err(UriRefused::Scheme),
    }
}

/// Why a registration is refused; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientRefused {
    /// The client id is empty, too long, or holds characters other than letters, digits,
    /// `.`, `_` and `-`.
    #[error("a client id is 1 to 100 letters, digits, '.', '_' or '-'")]
    BadClientId,
    /// SECURITY OP-28: a client id never looks like a user's `sub` (a UUID).
    #[error("a client id must not be a UUID")]
    ClientIdIsUuid,
    /// The id is registered already (the admin API never replaces a registration).
    #[error("this client id is registered already")]
    ClientIdTaken,
    /// An operator's secret is too short.
    #[error("the client secret must be at least {MIN_SECRET_LEN} characters")]
    SecretTooShort,
    /// The JWKS document is unusable.
    #[error("the JWKS: {0}")]
    BadJwks(String),
    /// Not one of [`GRANT_TYPES`].
    #[error("unknown grant type {0}")]
    UnknownGrant(String),
    /// The code flow needs a redirect URI.
    #[error("the authorization_code grant needs at least one redirect URI")]
    RedirectRequired,
    /// Refresh tokens come only with the code flow.
    #[error("refresh_token comes only with authorization_code")]
    RefreshWithoutCode,
    /// Not one of [`ID_TOKEN_ALGS`].
    #[error("the ID-token algorithm must be RS256, ES256 or EdDSA")]
    UnknownAlg,
    /// The access-token algorithm is not one of [`ID_TOKEN_ALGS`].
    #[error("the access-token algorithm must be RS256, ES256 or EdDSA")]
    UnknownAccessTokenAlg,
    /// A URI breaks OP-04.
    #[error("{uri}: {reason}")]
    Uri {
        /// Which field.
        field: UriField,
        /// The URI as given.
        uri: String,
        /// Why.
        reason: UriRefused,
    },
}

impl ClientRefused {
    /// The Dutch text's key.
    pub fn text_key(&self) -> &'static str {
        match self {
            Self::BadClientId => "oidc_clients.bad_client_id",
            Self::ClientIdIsUuid => "oidc_clients.client_id_uuid",
            Self::ClientIdTaken => "oidc_clients.client_id_taken",
            Self::SecretTooShort => "oidc_clients.secret_too_short",
            Self::BadJwks(_) => "oidc_clients.bad_jwks",
            Self::UnknownGrant(_) => "oidc_clients.unknown_grant",
            Self::RedirectRequired => "oidc_clients.redirect_required",
            Self::RefreshWithoutCode => "oidc_clients.refresh_without_code",
            Self::UnknownAlg => "oidc_clients.unknown_alg",
            Self::UnknownAccessTokenAlg => "oidc_clients.unknown_access_token_alg",
            Self::Uri { reason, .. } => reason.text_key(),
        }
    }

    /// The request field it is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::BadClientId | Self::ClientIdIsUuid | Self::ClientIdTaken => "client_id",
            Self::SecretTooShort => "secret",
            Self::BadJwks(_) => "jwks",
            Self::UnknownGrant(_) | Self::RefreshWithoutCode => "grant_types",
            Self::RedirectRequired => "redirect_uris",
            Self::UnknownAlg => "id_token_alg",
            Self::UnknownAccessTokenAlg => "access_token_alg",
            Self::Uri { field, .. } => field.as_str(),
        }
    }
}

/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request breaks a rule.
    #[error(transparent)]
    Refused(#[from] ClientRefused),
    /// Only insurer admins register clients (main users: 403).
    #[error("only insurer admins manage clients")]
    Forbidden,
    /// No secret could be made.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::Refused(ClientRefused::ClientIdTaken),
            other => Self::Store(other),
        }
    }
}

/// A checked registration, ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What is stored (the secret only as its hash).
    pub client: Client,
    /// The secret the portal made, to show once; `None` when the operator gave one or
    /// the client authenticates with keys.
    pub generated_secret: Option<String>,
}

/// Checks `req` and makes the secret when none is given. Pure but for the random secret.
pub fn prepare(req: &ClientRequest) -> Result<Prepared, ClientError> {
    let id = req.client_id.trim();
    let id_ok = (1..=100).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !id_ok {
        return Err(ClientRefused::BadClientId.into());
    }
    if uuid::Uuid::parse_str(id).is_ok() {
        return Err(ClientRefused::ClientIdIsUuid.into());
    }
    if req
        .secret
        .as_ref()
        .is_some_and(|s| s.len() < MIN_SECRET_LEN)
    {
        return Err(ClientRefused::SecretTooShort.into());
    }
    if let Some(jwks) = &req.jwks {
        check_client_jwks(jwks).map_err(|reason| ClientRefused::BadJwks(reason.to_string()))?;
    }
    if !ID_TOKEN_ALGS.contains(&req.id_token_alg.as_str()) {
        return Err(ClientRefused::UnknownAlg.into());
    }
    let access_token_alg = req.access_token_alg.as_deref().unwrap_or("RS256");
    if !ID_TOKEN_ALGS.contains(&access_token_alg) {
        return Err(ClientRefused::UnknownAccessTokenAlg.into());
    }
    let mut grant_types: Vec<String> = req.grant_types.iter().map(|g| g.trim().into()).collect();
    if grant_types.is_empty() {
        grant_types.push("authorization_code".into());
    }
    grant_types.sort();
    grant_types.dedup();
    if let Some(bad) = grant_types
        .iter()
        .find(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(ClientRefused::UnknownGrant(bad.clone()).into());
    }
    let code_flow = grant_types.iter().any(|g| g == "authorization_code");
    if code_flow && req.redirect_uris.is_empty() {
        return Err(ClientRefused::RedirectRequired.into());
    }
    if !code_flow && grant_types.iter().any(|g| g == "refresh_token") {
        return Err(ClientRefused::RefreshWithoutCode.into());
    }
    let uris = req
        .redirect_uris
        .iter()
        .map(|u| (UriField::Redirect, u))
        .chain(
            req.post_logout_redirect_uris
                .iter()
                .map(|u| (UriField::PostLogout, u)),
        )
        .chain(
            req.backchannel_logout_uri
                .iter()
                .map(|u| (UriField::Backchannel, u)),
        );
    for (field, uri) in uris {
        check_client_uri(uri).map_err(|reason| ClientRefused::Uri {
            field,
            uri: uri.clone(),
            reason,
        })?;
    }
    // Without a secret or keys, the portal makes the secret: 256 random bits, shown once.
    let generated_secret = match (&req.secret, &req.jwks) {
        (None, None) => Some(crypto::random_token()?),
        _ => None,
    };
    let secret = req.secret.as_ref().or(generated_secret.as_ref());
    // Only shown, so control characters (a line break, a NUL that PostgreSQL cannot
    // store) are dropped rather than refused.
    let name: String = req
        .name
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let name = Some(name.trim()).filter(|n| !n.is_empty()).unwrap_or(id);
    Ok(Prepared {
        client: Client {
            client_id: id.to_owned(),
            name: name.chars().take(200).collect(),
            secret_hash: secret.map(|s| crypto::token_hash(s)),
            redirect_uris: req.redirect_uris.clone(),
            post_logout_redirect_uris: req.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: req.backchannel_logout_uri.clone(),
            require_pkce: req.require_pkce,
            grant_types,
            jwks: req.jwks.clone(),
            id_token_alg: req.id_token_alg.clone(),
            access_token_alg: access_token_alg.to_owned(),
            require_pushed_authorization_requests: req.require_pushed_authorization_requests,
            dpop_bound_access_tokens: req.dpop_bound_access_tokens,
        },
        generated_secret,
    })
}

/// Only an insurer admin (or the operator at the command line, `None`) manages clients.
pub fn may_manage(caller: Option<&Principal>) -> Result<(), ClientError> {
    match caller {
        None => Ok(()),
        Some(p) if p.user.role == Role::InsurerAdmin => Ok(()),
        Some(_) => Err(ClientError::Forbidden),
    }
}

/// Stores a prepared registration with its audit entry. `caller` is the insurer admin
/// (the console), or `None` for the operator at the command line; `taken` says whether an
/// existing registration of the id is replaced (CLI) or refused (console).
pub async fn store(
    core: &Core,
    caller: Option<&Principal>,
    prepared: &Prepared,
    taken: Taken,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<(), ClientError> {
    may_manage(caller)?;
    let c = &prepared.client;
    let mut entry = AuditRecord::new("client.registered");
    entry.actor_id = caller.map(|p| p.user.id);
    entry.ip = ip;
    // Never the secret nor its hash.
    entry.detail = json!({
        "client_id": c.client_id, "name": c.name, "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "backchannel_logout_uri": c.backchannel_logout_uri, "grant_types": c.grant_types,
        "require_pkce": c.require_pkce, "private_key_jwt": c.jwks.is_some(),
        "id_token_alg": c.id_token_alg, "access_token_alg": c.access_token_alg,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
    });
    let stored = clients::register(&core.db, c, taken, Some(&entry), now).await;
    // This process drops its cached registrations at once (others by the change signal),
    // also when the signal failed after the commit.
    core.clients.changed();
    stored?;
    Ok(())
}

/// The console's registration: checked, stored (never replacing another client) and
/// audited; the answer carries the generated secret, which is not kept.
pub async fn register(
    core: &Core,
    caller: &Principal,
    req: &ClientRequest,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Prepared, ClientError> {
    may_manage(Some(caller))?;
    let prepared = prepare(req)?;
    store(core, Some(caller), &prepared, Taken::Refuse, ip, now).await?;
    Ok(prepared)
}

/// Every registered client, for an insurer admin. A refusal is audited like the users'
/// (AC-01).
pub async fn list(
    core: &Core,
    caller: &Principal,
    ip: Option<String>,
    now: OffsetDateTime,
) -> Result<Vec<Registered>, ClientError> {
    if let Err(e) = may_manage(Some(caller)) {
        let mut entry = AuditRecord::new("admin.denied");
        entry.actor_id = Some(caller.user.id);
        entry.ip = ip;
        entry.detail = json!({ "act": "list_clients", "answer": "forbidden" });
        audit::record(&core.db, &entry, now).await?;
        return Err(e);
    }
    Ok(clients::list(&core.db).await?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn request() -> ClientRequest {
        ClientRequest {
            client_id: "crm".into(),
            redirect_uris: vec!["https://crm.example.nl/cb".into()],
            require_pkce: true,
            id_token_alg: "RS256".into(),
            ..ClientRequest::default()
        }
    }

    #[test]
    fn client_uris_follow_op_04() {
        assert!(check_client_uri("https://rp.example.nl/cb").is_ok());
        assert!(check_client_uri("http://127.0.0.1:9000/cb").is_ok());
        assert!(check_client_uri("http://[::1]:9000/cb").is_ok());
        assert!(check_client_uri("http://localhost/cb").is_ok());
        for (bad, why) in [
            ("http://rp.nl/cb", UriRefused::Scheme),
            ("https://rp.nl/cb#x", UriRefused::Fragment),
            ("https://*.rp.nl/cb", UriRefused::Wildcard),
            ("javascript:alert(1)", UriRefused::Scheme),
            ("JavaScript:x", UriRefused::Scheme),
            ("data:text/html,x", UriRefused::Scheme),
            ("/cb", UriRefused::NotAbsolute),
            // Stored and compared as given: what the parser would clean up is refused.
            ("https://rp.nl/cb\0", UriRefused::NotAbsolute),
            (
                "https://rp.nl/cb\r\nSet-Cookie: x=1",
                UriRefused::NotAbsolute,
            ),
            ("https://rp.nl/de Vries", UriRefused::NotAbsolute),
            (" https://rp.nl/cb", UriRefused::NotAbsolute),
        ] {
            assert_eq!(check_client_uri(bad), Err(why), "{bad:?}");
        }
    }

    #[test]
    fn a_name_loses_its_control_characters() {
        let named = |name: &str| {
            let r = ClientRequest {
                name: Some(name.into()),
                ..request()
            };
            prepare(&r).unwrap().client.name
        };
        assert_eq!(named(" Acme\0\r\n CRM\t"), "Acme CRM");
        assert_eq!(named("\0\n"), "crm", "nothing left: the client id");
        assert_eq!(named("O'Brien \u{202E}CRM"), "O'Brien \u{202E}CRM");
    }

    #[test]
    fn a_registration_without_secret_gets_one_stored_as_its_hash() {
        let p = prepare(&request()).unwrap();
        let secret = p.generated_secret.unwrap();
        assert_eq!(secret.len(), 43, "256 bits, base64url");
        assert_eq!(p.client.secret_hash, Some(crypto::token_hash(&secret)));
        assert_eq!(p.client.name, "crm");
        assert_eq!(p.client.grant_types, ["authorization_code"]);
        let own = ClientRequest {
            secret: Some("s".repeat(40)),
            ..request()
        };
        assert_eq!(prepare(&own).unwrap().generated_secret, None);
    }

    #[test]
    fn refusals_name_their_rule() {
        let refused = |r: ClientRequest| match prepare(&r) {
            Err(ClientError::Refused(why)) => why,
            other => panic!("{other:?}"),
        };
        let uuid = "0196f1c2-7d3a-7c2e-9a4b-1f2e3d4c5b6a".to_owned();
        assert_eq!(
            refused(ClientRequest {
                client_id: uuid,
                ..request()
            }),
            ClientRefused::ClientIdIsUuid
        );
        for id in ["", "met spatie", "a/b", &"x".repeat(101)] {
            let r = ClientRequest {
                client_id: id.into(),
                ..request()
            };
            assert_eq!(refused(r), ClientRefused::BadClientId, "{id}");
        }
        let r = ClientRequest {
            redirect_uris: vec![],
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::RedirectRequired);
        let r = ClientRequest {
            grant_types: vec!["password".into()],
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::UnknownGrant("password".into()));
        let r = ClientRequest {
            grant_types: vec!["client_credentials".into(), "refresh_token".into()],
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::RefreshWithoutCode);
        let r = ClientRequest {
            post_logout_redirect_uris: vec!["https://crm.example.nl/uit#weg".into()],
            ..request()
        };
        let why = refused(r);
        assert_eq!(why.field(), "post_logout_redirect_uris");
        assert_eq!(why.text_key(), "oidc_clients.uri_fragment");
        let r = ClientRequest {
            secret: Some("kort".into()),
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::SecretTooShort);
        let r = ClientRequest {
            id_token_alg: "HS256".into(),
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::UnknownAlg);
        let r = ClientRequest {
            access_token_alg: Some("none".into()),
            ..request()
        };
        assert_eq!(refused(r), ClientRefused::UnknownAccessTokenAlg);
        let ok = prepare(&request()).unwrap();
        assert_eq!(ok.client.access_token_alg, "RS256");
        let es = ClientRequest {
            access_token_alg: Some("ES256".into()),
            ..request()
        };
        assert_eq!(prepare(&es).unwrap().client.access_token_alg, "ES256");
    }
}
