//! OIDC clients in the admin API (issue 6; SPEC §4): the insurer's console lists and
//! registers the clients of this provider. Insurer admins only (a main user gets 403). A
//! registration goes through `crate::oidc_clients`, the same path as `portal client add`; the
//! generated secret is in the answer once and is stored only as its hash, so no list or
//! later answer can show it (SECURITY OP-10).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::problem::{Problem, ProblemSchema};
use super::{ApiJson, Caller, text};
use crate::login::client::ClientIp;
use crate::oidc_clients::{self as clients, ClientError, ClientRequest};
use crate::state::AppState;
use crate::store::clients::Client;

/// A registered client as the console shows it. Never its secret nor the secret's hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OidcClient)]
pub struct ClientJson {
    /// The client id.
    #[schema(example = "crm-koppeling")]
    pub client_id: String,
    /// A name shown to people (the client id when none was given).
    pub name: String,
    /// Redirect URIs, matched byte for byte.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Grant types.
    #[schema(example = json!(["authorization_code", "refresh_token"]))]
    pub grant_types: Vec<String>,
    /// How the client may authenticate at the token endpoint: a client with a secret may
    /// use `client_secret_basic` and `client_secret_post`; one with keys `private_key_jwt`.
    pub token_endpoint_auth_methods: Vec<String>,
    /// Whether PKCE is required.
    pub require_pkce: bool,
    /// The ID-token signing algorithm.
    pub id_token_alg: String,
    /// The access-token signing algorithm.
    pub access_token_alg: String,
    /// RFC 9126 §5: only pushed authorization requests are accepted from the client.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: every token request carries a DPoP proof; every access token is bound.
    pub dpop_bound_access_tokens: bool,
    /// When it was registered (RFC 3339).
    pub created_at: String,
}

impl ClientJson {
    fn of(c: &Client, created_at: OffsetDateTime) -> Self {
        let mut methods = Vec::new();
        if c.secret_hash.is_some() {
            methods.extend([
                "client_secret_basic".to_owned(),
                "client_secret_post".into(),
            ]);
        }
        if c.jwks.is_some() {
            methods.push("private_key_jwt".into());
        }
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            grant_types: c.grant_types.clone(),
            token_endpoint_auth_methods: methods,
            require_pkce: c.require_pkce,
            id_token_alg: c.id_token_alg.clone(),
            access_token_alg: c.access_token_alg.clone(),
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            created_at: created_at.format(&Rfc3339).unwrap_or_default(),
        }
    }
}

/// `GET /api/v1/clients`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = OidcClientList)]
pub struct ClientListJson {
    /// By client id.
    pub clients: Vec<ClientJson>,
}

/// How a new client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = TokenEndpointAuthMethod)]
pub enum AuthMethodJson {
    /// A generated secret in the `Authorization: Basic` header (the default).
    #[default]
    ClientSecretBasic,
    /// A generated secret in the form body. (The provider accepts either secret method
    /// from a client with a secret.)
    ClientSecretPost,
    /// A signed assertion (RFC 7523) with a key from `jwks`; no secret is made.
    PrivateKeyJwt,
}

/// "Nieuwe client".
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewOidcClient)]
pub struct NewClientJson {
    /// The client id: 1–100 letters, digits, `.`, `_`, `-`; never a UUID (OP-28).
    #[schema(example = "crm-koppeling")]
    pub client_id: String,
    /// A name shown to people.
    #[serde(default)]
    pub name: Option<String>,
    /// Absolute https URIs (http only on 127.0.0.1, [::1] or localhost), no fragment
    /// (OP-04); at least one for `authorization_code`.
    #[serde(default)]
    #[schema(example = json!(["https://crm.example.nl/oidc/callback"]))]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, same rules.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI, same rules.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// `authorization_code` (default), `refresh_token`, `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// Default `client_secret_basic`.
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethodJson,
    /// The client's public keys (a JWKS object), for `private_key_jwt` only.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Default `true` (SPEC §4); `false` only for a confidential client that uses `nonce`.
    #[serde(default)]
    pub require_pkce: Option<bool>,
    /// RFC 9126 §5, default `false`: when `true`, a plain authorization request is refused
    /// and the client must push its requests to `/par` first.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2, default `false`: when `true`, every token request must carry a DPoP
    /// proof (sender-constrained access tokens).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
}

/// The answer to a registration: the client, and its secret this once.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = RegisteredOidcClient)]
pub struct RegisteredJson {
    /// The registration as stored.
    pub client: ClientJson,
    /// The generated secret. Shown only in this answer: the provider keeps its hash.
    /// `null` for a `private_key_jwt` client.
    pub client_secret: Option<String>,
}

fn problem(app: &AppState, e: ClientError) -> Problem {
    match e {
        ClientError::Forbidden => Problem::forbidden(text(app, "oidc_clients.insurer_only")),
        ClientError::Refused(why) => {
            let detail = text(app, why.text_key());
            if why == clients::ClientRefused::ClientIdTaken {
                let mut p = Problem::conflict(detail);
                p.field = Some(why.field());
                p
            } else {
                Problem::unprocessable(detail, Some(why.field()))
            }
        }
        e @ (ClientError::Crypto(_) | ClientError::Store(_)) => Problem::failed(app, e),
    }
}

/// The registered clients.
#[utoipa::path(
    get, path = "/api/v1/clients", tag = "clients",
    responses(
        (status = 200, description = "Every registered client, by client id; never a secret", body = ClientListJson),
        (status = 401, description = "No valid access token", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
) -> Result<Json<ClientListJson>, Problem> {
    let found = clients::list(&app, &caller.principal, ip.text(), app.now())
        .await
        .map_err(|e| problem(&app, e))?;
    let clients = found
        .iter()
        .map(|r| ClientJson::of(&r.client, r.created_at))
        .collect();
    Ok(Json(ClientListJson { clients }))
}

/// Registers a client; audited as `client.registered`.
#[utoipa::path(
    post, path = "/api/v1/clients", tag = "clients", request_body = NewClientJson,
    responses(
        (status = 201, description = "Registered; `client_secret` is shown this once", body = RegisteredJson,
         headers(("Cache-Control" = String, description = "no-store: the answer holds a secret"))),
        (status = 400, description = "Malformed, or a field that does not exist", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token; or, with an RFC 9470 `insufficient_user_authentication` challenge, a sign-in older than 5 minutes (AC-08)", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 403, description = "Not an insurer admin", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 409, description = "The client id is registered already", body = ProblemSchema, content_type = "application/problem+json"),
        (status = 422, description = "A value breaks a rule (a redirect URI that is not https, has a fragment, …); `field` names it; nothing is stored", body = ProblemSchema, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ip: ClientIp,
    ApiJson(body): ApiJson<NewClientJson>,
) -> Result<Response, Problem> {
    clients::may_manage(Some(&caller.principal)).map_err(|e| problem(&app, e))?;
    // AC-08: registering a client needs a recent sign-in.
    caller.require_recent_sign_in(&app)?;
    let keys = body.token_endpoint_auth_method == AuthMethodJson::PrivateKeyJwt;
    let jwks = match (keys, &body.jwks) {
        (true, Some(v)) => Some(v.to_string()),
        (true, None) => {
            return Err(Problem::unprocessable(
                text(&app, "oidc_clients.jwks_required"),
                Some("jwks"),
            ));
        }
        (false, Some(_)) => {
            return Err(Problem::unprocessable(
                text(&app, "oidc_clients.jwks_only_for_keys"),
                Some("jwks"),
            ));
        }
        (false, None) => None,
    };
    let request = ClientRequest {
        client_id: body.client_id,
        name: body.name,
        secret: None,
        jwks,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        backchannel_logout_uri: body.backchannel_logout_uri,
        grant_types: body.grant_types,
        require_pkce: body.require_pkce.unwrap_or(true),
        id_token_alg: "RS256".into(),
        access_token_alg: None,
        require_pushed_authorization_requests: body.require_pushed_authorization_requests,
        dpop_bound_access_tokens: body.dpop_bound_access_tokens,
    };
    let now = app.now();
    let prepared = clients::register(&app, &caller.principal, &request, ip.text(), now)
        .await
        .map_err(|e| problem(&app, e))?;
    let answer = RegisteredJson {
        client: ClientJson::of(&prepared.client, now),
        client_secret: prepared.generated_secret,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(answer),
    )
        .into_response())
}
