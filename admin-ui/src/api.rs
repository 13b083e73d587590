//! The admin API of the idp as the management UI calls it: over HTTP with the signed-in
//! user's bearer token, never around it (issue 6: the UI changes data only through the
//! API, so the API's permission rules are the only ones). Refusals come back as RFC 9457
//! problems whose Dutch `detail` the pages show as they are.

pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod import;
pub(crate) mod mfa;
pub(crate) mod outbox;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub(crate) mod offices;

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
    /// A new e-mail waiting for its owner's confirmation (AC-10); only on a single user.
    #[serde(default)]
    pub email_pending: Option<String>,
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

/// One page of a list answer (`users` or `offices`) and the number of the next page.
#[derive(Deserialize)]
struct Paged<T> {
    #[serde(alias = "users", alias = "offices")]
    items: Vec<T>,
    next: Option<u32>,
}

/// At most this many pages of 200 are read for a choice list (40,000 rows): a bound, not
/// a figure anyone should reach; a form that needs more asks the API with `q` instead.
const MAX_PAGES: u32 = 200;

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
    /// The act needs a sign-in within the last minutes (RFC 9470
    /// `insufficient_user_authentication`, SECURITY AC-08): sign in again, then repeat.
    #[error("a recent sign-in is required")]
    StepUp,
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
            let step_up = res
                .headers()
                .get_all(reqwest::header::WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains("error=\"insufficient_user_authentication\""));
            return Err(if step_up {
                ApiError::StepUp
            } else {
                ApiError::SignedOut
            });
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

    /// Every item of a paged list at `path` (which may carry a query), following `next`:
    /// for the choices of a form and the lists a page filters itself.
    pub(crate) async fn all_pages<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
    ) -> Result<Vec<T>, ApiError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let url = format!("{path}{sep}limit=200&page={page}");
            let res = self.send(token, Method::GET, &url, None, None).await?;
            let answer: Paged<T> = Self::json(res).await?;
            items.extend(answer.items);
            match answer.next {
                Some(next) if next > page && next <= MAX_PAGES => page = next,
                _ => return Ok(items),
            }
        }
    }

    /// Every user the caller manages.
    pub async fn users(&self, token: &str) -> Result<Vec<User>, ApiError> {
        self.all_pages(token, "/users").await
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
        // Four-eyes (issue 10): a listed change (ORV) waits for a second admin.
        let res = approvals::waiting(res).await?;
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

    /// `POST /users/{id}/sessions/end`: the user is signed out everywhere (SE-06).
    pub async fn end_sessions(&self, token: &str, id: &str) -> Result<(), ApiError> {
        self.send(
            token,
            Method::POST,
            &format!("/users/{}/sessions/end", seg(id)),
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
