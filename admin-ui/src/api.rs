//! The admin API of the idp as the management UI calls it: over HTTP with the signed-in
//! user's bearer token, never around it (issue 6: the UI changes data only through the
//! API, so the API's permission rules are the only ones). Refusals come back as RFC 9457
//! problems whose Dutch `detail` the pages show as they are.

pub(crate) mod import;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A user as the API returns it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct User {
    /// Id.
    pub id: String,
    /// Naam.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// `main_user`, `employee` or `insurer_admin`.
    pub role: String,
    /// Actief.
    pub active: bool,
    /// Whether the user has set a password through the activation link.
    pub activated: bool,
    /// The user's own rights (right codes).
    pub rights: Vec<String>,
    /// The user's office.
    pub office: Option<Office>,
    /// For `If-Match`.
    pub version: i64,
}

/// An office as the API returns it inside a user.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Office {
    /// Id.
    pub id: String,
    /// Number.
    pub number: String,
    /// Name.
    pub name: String,
    /// `head_office` or `sub_office`.
    pub kind: String,
}

#[derive(Deserialize)]
struct UserList {
    users: Vec<User>,
}

/// A new user.
#[derive(Debug, Serialize)]
pub struct NewUser<'a> {
    /// Naam.
    pub name: &'a str,
    /// E-mailadres.
    pub email: &'a str,
    /// Rechten.
    pub rights: &'a [String],
}

/// A change to a user; absent fields stay as they are.
#[derive(Debug, Default, Serialize)]
pub struct UserChange<'a> {
    /// Naam.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// E-mailadres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    /// Rechten.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<&'a [String]>,
    /// Actief.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

#[derive(Deserialize)]
struct ProblemBody {
    detail: Option<String>,
}

/// A call that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API refused it; `detail` is the Dutch reason to show.
    #[error("{status}: {detail}")]
    Refused {
        /// HTTP status.
        status: StatusCode,
        /// Dutch text.
        detail: String,
    },
    /// The token is no longer accepted: sign in again.
    #[error("not signed in")]
    SignedOut,
    /// The API could not be reached or answered nonsense.
    #[error("admin API unavailable: {0}")]
    Unavailable(String),
}

/// The admin API at `base` (`…/api/v1`).
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// A client for the API at `base`.
    pub fn new(base: &str) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(
        &self,
        token: &str,
        method: Method,
        path: &str,
        if_match: Option<i64>,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, ApiError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(v) = if_match {
            req = req.header("if-match", format!("\"{v}\""));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::SignedOut);
        }
        let detail = res
            .json::<ProblemBody>()
            .await
            .ok()
            .and_then(|p| p.detail)
            .unwrap_or_else(|| status.to_string());
        Err(ApiError::Refused { status, detail })
    }

    async fn json<T: DeserializeOwned>(res: reqwest::Response) -> Result<T, ApiError> {
        res.json()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }

    /// The users the caller manages.
    pub async fn users(&self, token: &str) -> Result<Vec<User>, ApiError> {
        let res = self.send(token, Method::GET, "/users", None, None).await?;
        Ok(Self::json::<UserList>(res).await?.users)
    }

    /// One user.
    pub async fn user(&self, token: &str, id: &str) -> Result<User, ApiError> {
        let res = self
            .send(
                token,
                Method::GET,
                &format!("/users/{}", seg(id)),
                None,
                None,
            )
            .await?;
        Self::json(res).await
    }

    /// Creates a user (an employee of the caller's office), which gets its activation mail.
    pub async fn create_user(&self, token: &str, new: &NewUser<'_>) -> Result<User, ApiError> {
        let body = serde_json::to_value(new).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let res = self
            .send(token, Method::POST, "/users", None, Some(body))
            .await?;
        Self::json(res).await
    }

    /// Changes a user, if it is still at `version`.
    pub async fn update_user(
        &self,
        token: &str,
        id: &str,
        version: i64,
        change: &UserChange<'_>,
    ) -> Result<User, ApiError> {
        let body =
            serde_json::to_value(change).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let res = self
            .send(
                token,
                Method::PATCH,
                &format!("/users/{}", seg(id)),
                Some(version),
                Some(body),
            )
            .await?;
        Self::json(res).await
    }

    /// Sends a new activation mail.
    pub async fn resend_activation(&self, token: &str, id: &str) -> Result<(), ApiError> {
        self.send(
            token,
            Method::POST,
            &format!("/users/{}/activation", seg(id)),
            None,
            None,
        )
        .await
        .map(|_| ())
    }

    /// Resets the user's two-factor authentication.
    pub async fn reset_second_factors(&self, token: &str, id: &str) -> Result<(), ApiError> {
        self.send(
            token,
            Method::POST,
            &format!("/users/{}/second-factors/reset", seg(id)),
            None,
            None,
        )
        .await
        .map(|_| ())
    }
}

/// A path segment: an id from a URL is never allowed to add path parts of its own.
pub(crate) fn seg(id: &str) -> String {
    uuid::Uuid::parse_str(id).map_or_else(|_| "-".to_owned(), |u| u.to_string())
}
