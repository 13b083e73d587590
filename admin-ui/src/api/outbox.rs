//! The e-mail backlog (issue 9), `GET /api/v1/outbox`, as the insurer's console shows it.

use reqwest::Method;
use serde::Deserialize;

use super::{Api, ApiError};

/// What waits in the idp's outbox.
#[derive(Debug, Clone, Deserialize)]
pub struct Backlog {
    /// E-mails not yet delivered.
    pub waiting: i64,
    /// When the oldest of them was queued (RFC 3339).
    pub oldest_queued_at: Option<String>,
    /// How often sending the oldest has failed.
    pub attempts: i32,
    /// The mail server's last answer for the oldest (outside text: never trusted as HTML).
    pub last_error: Option<String>,
    /// When the oldest is tried again (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// E-mails the server refused for good.
    pub given_up: i64,
    /// Back-channel logout deliveries not yet accepted.
    pub deliveries_waiting: i64,
}

impl Api {
    /// The outbox's backlog (insurer admins only).
    pub async fn outbox(&self, token: &str) -> Result<Backlog, ApiError> {
        let res = self.send(token, Method::GET, "/outbox", None, None).await?;
        Self::json(res).await
    }
}
