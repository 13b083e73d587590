//! The admin API's paged lists, the insurer's search over them, and OIDC clients (issue 6),
//! as the console calls them.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Api, ApiError, User};

/// One page of users.
#[derive(Debug, Clone, Deserialize)]
pub struct UserPage {
    /// The users on it.
    pub users: Vec<User>,
    /// The next page's number; `None` on the last.
    pub next: Option<u32>,
}

/// An office as the offices list returns it (the fields the console shows).
#[derive(Debug, Clone, Deserialize)]
pub struct OfficeRow {
    /// Id.
    pub id: String,
    /// `head_office` or `sub_office`.
    pub kind: String,
    /// Advisor number or the sub-office's number.
    pub number: String,
    /// Naam.
    pub name: String,
    /// Plaats.
    pub city: String,
    /// Actief.
    pub active: bool,
}

/// One page of offices.
#[derive(Debug, Clone, Deserialize)]
pub struct OfficePage {
    /// The offices on it.
    pub offices: Vec<OfficeRow>,
    /// The next page's number; `None` on the last.
    pub next: Option<u32>,
}

/// A registered OIDC client.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OidcClient {
    /// Client id.
    pub client_id: String,
    /// Naam.
    pub name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Grant types.
    pub grant_types: Vec<String>,
    /// Token endpoint authentication methods it may use.
    pub token_endpoint_auth_methods: Vec<String>,
    /// PKCE required.
    pub require_pkce: bool,
    /// RFC 9126: only pushed authorization requests.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449: DPoP-bound access tokens only.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Deserialize)]
struct ClientList {
    clients: Vec<OidcClient>,
}

/// "Nieuwe client".
#[derive(Debug, Serialize)]
pub struct NewClient<'a> {
    /// Client id.
    pub client_id: &'a str,
    /// Naam.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Redirect URIs.
    pub redirect_uris: &'a [String],
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: &'a [String],
    /// Back-channel logout URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<&'a str>,
    /// Grant types.
    pub grant_types: &'a [String],
    /// `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: &'a str,
    /// RFC 9126: only pushed authorization requests.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449: every token request with a DPoP proof.
    pub dpop_bound_access_tokens: bool,
}

/// The answer to a registration.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredClient {
    /// As stored.
    pub client: OidcClient,
    /// Shown once.
    pub client_secret: Option<String>,
}

/// `path?k=v&…` with the values encoded; empty values are left out.
fn with_query(path: &str, pairs: &[(&str, String)]) -> String {
    let mut url = match reqwest::Url::parse("http://api.invalid/") {
        Ok(u) => u,
        Err(_) => return path.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
    }
    match url.query() {
        Some(query) if !query.is_empty() => format!("{path}?{query}"),
        _ => path.to_owned(),
    }
}

impl Api {
    /// Page `page` of the users the caller manages whose name or e-mail contains `q`.
    pub async fn users_page(
        &self,
        token: &str,
        q: &str,
        page: u32,
        limit: u32,
    ) -> Result<UserPage, ApiError> {
        let path = with_query(
            "/users",
            &[
                ("q", q.to_owned()),
                ("page", page.to_string()),
                ("limit", limit.to_string()),
            ],
        );
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Self::json(res).await
    }

    /// Page `page` of the offices the caller manages whose name, number, e-mail or city
    /// contains `q`.
    pub async fn offices_page(
        &self,
        token: &str,
        q: &str,
        page: u32,
        limit: u32,
    ) -> Result<OfficePage, ApiError> {
        let path = with_query(
            "/offices",
            &[
                ("q", q.to_owned()),
                ("page", page.to_string()),
                ("limit", limit.to_string()),
            ],
        );
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Self::json(res).await
    }

    /// The registered OIDC clients.
    pub async fn clients(&self, token: &str) -> Result<Vec<OidcClient>, ApiError> {
        let res = self
            .send(token, Method::GET, "/clients", None, None)
            .await?;
        Ok(Self::json::<ClientList>(res).await?.clients)
    }

    /// Registers a client; the answer holds its secret, once.
    pub async fn register_client(
        &self,
        token: &str,
        new: &NewClient<'_>,
    ) -> Result<RegisteredClient, ApiError> {
        let body = serde_json::to_value(new).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let res = self
            .send(token, Method::POST, "/clients", None, Some(body))
            .await?;
        Self::json(res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_and_empty_values_left_out() {
        assert_eq!(
            with_query("/users", &[("q", "a&b c".into()), ("page", "2".into())]),
            "/users?q=a%26b+c&page=2"
        );
        assert_eq!(with_query("/users", &[("q", String::new())]), "/users");
    }
}
