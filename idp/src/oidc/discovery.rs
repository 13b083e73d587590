//! Discovery and JWKS: documents served as pre-built bytes.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

/// The discovery document. Advertises only what is implemented (SECURITY OP-01): the
/// code flow, refresh tokens, client credentials, PKCE S256, the two client-secret
/// methods and private_key_jwt, introspection, revocation, RP-initiated and back-channel logout, ID tokens in RS256
/// (default), ES256 or EdDSA, pushed authorization requests (RFC 9126) and DPoP (RFC 9449).
pub fn build(issuer: &str) -> String {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        "end_session_endpoint": format!("{issuer}/end_session"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "portal", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "sid",
            "name", "email", "email_verified", "role", "rights", "office", "head_office"],
        "prompt_values_supported": ["none", "login"],
        "acr_values_supported": crate::domain::factor::ACR_VALUES,
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "ui_locales_supported": ["nl"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        // RFC 9126 §5: required per client (its registration), not for all.
        "require_pushed_authorization_requests": false,
        "dpop_signing_alg_values_supported": super::dpop::ALG_NAMES,
    })
    .to_string()
}

/// `GET /.well-known/openid-configuration`.
pub async fn document(State(app): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        app.discovery.clone(),
    )
}

/// `GET /jwks`.
pub async fn jwks(State(app): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        app.keys.current().jwks(),
    )
}
