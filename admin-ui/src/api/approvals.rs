//! Four-eyes (issue 10) as the console calls it: the changes waiting for a second insurer
//! admin, approving and rejecting them, and the 202 a listed change gets when it is asked
//! for (`waiting`), which the pages show as the API's Dutch notice.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{Api, ApiError, ProblemBody, seg};

/// Who asked (the sentence names them).
#[derive(Debug, Clone, Deserialize)]
pub struct Person {
    /// User id.
    pub id: String,
}

/// A change waiting for a second approver.
#[derive(Debug, Clone, Deserialize)]
pub struct Approval {
    /// Its id.
    pub id: String,
    /// The change in Dutch ("Nick Jansen wil Voorbeeld Advies (12345) subkantoren toestaan").
    pub text: String,
    /// Who asked.
    pub requested_by: Person,
    /// When, RFC 3339.
    pub requested_at: String,
}

#[derive(Deserialize)]
struct List {
    items: Vec<Approval>,
}

/// A 202 of a change: it waits for a second approver and nothing was changed. To the
/// pages it is a refusal with status 202 and the API's Dutch notice, so no page takes it
/// for a saved change.
pub(crate) async fn waiting(res: reqwest::Response) -> Result<reqwest::Response, ApiError> {
    if res.status() != StatusCode::ACCEPTED {
        return Ok(res);
    }
    let detail = res
        .json::<ProblemBody>()
        .await
        .ok()
        .and_then(|p| p.detail)
        .unwrap_or_default();
    Err(ApiError::Refused {
        status: StatusCode::ACCEPTED,
        detail,
    })
}

impl Api {
    /// The changes waiting for a second approver (insurer admins).
    pub async fn approvals(&self, token: &str) -> Result<Vec<Approval>, ApiError> {
        let res = self
            .send(token, Method::GET, "/approvals", None, None)
            .await?;
        Ok(Self::json::<List>(res).await?.items)
    }

    /// Approves (`approve`) or rejects a waiting change.
    pub async fn decide(&self, token: &str, id: &str, approve: bool) -> Result<(), ApiError> {
        let act = if approve { "approve" } else { "reject" };
        let path = format!("/approvals/{}/{act}", seg(id));
        self.send(token, Method::POST, &path, None, None).await?;
        Ok(())
    }
}
