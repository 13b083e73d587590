//! The MFA mandate (issue 10) as the portal's pages call it: the signed-in user's own
//! standing for the home page's banner, the 2FA-status list, "Herinnering sturen", and a
//! head office's 2FA policy (insurer admins).

use reqwest::Method;
use serde::Deserialize;

use super::{Api, ApiError, seg};

/// `GET /me/mfa`.
#[derive(Debug, Clone, Deserialize)]
pub struct MyMfa {
    /// `YYYY-MM-DD`.
    pub required_from: String,
    /// Whether the user has a second factor.
    pub has_second_factor: bool,
    /// Days until the date, while it lies ahead.
    pub days_left: Option<i64>,
    /// Password-only sign-ins left after the date.
    pub grace_left: Option<u32>,
    /// No grace left: the next sign-in must set up a second factor.
    #[serde(default)]
    pub required_now: bool,
}

/// One user without a second factor.
#[derive(Debug, Clone, Deserialize)]
pub struct WithoutFactor {
    /// Id.
    pub id: String,
    /// Naam.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// The office's name.
    pub office_name: Option<String>,
    /// The office's number.
    pub office_number: Option<String>,
    /// `YYYY-MM-DD`.
    pub required_from: String,
    /// Whether the date has come.
    pub required_now: bool,
    /// Grace sign-ins left.
    pub grace_left: Option<u32>,
    /// The last manual reminder, RFC 3339.
    pub reminded_at: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    users: Vec<WithoutFactor>,
}

/// A head office's 2FA policy.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct MfaPolicy {
    /// Its own date, `YYYY-MM-DD`, or none (the portal's setting).
    pub required_from: Option<String>,
    /// The date in force.
    pub effective_from: String,
    /// Grace sign-ins after the date.
    pub grace_logins: u32,
}

impl Api {
    /// The caller's own 2FA standing.
    pub async fn my_mfa(&self, token: &str) -> Result<MyMfa, ApiError> {
        let res = self.send(token, Method::GET, "/me/mfa", None, None).await?;
        Self::json(res).await
    }

    /// Who has no second factor yet, in `office_id`'s tree or in the caller's scope.
    pub async fn mfa_status(
        &self,
        token: &str,
        office_id: Option<&str>,
    ) -> Result<Vec<WithoutFactor>, ApiError> {
        let path = match office_id {
            Some(id) => format!("/mfa/status?office_id={}", seg(id)),
            None => "/mfa/status".to_owned(),
        };
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Ok(Self::json::<Status>(res).await?.users)
    }

    /// "Herinnering sturen".
    pub async fn mfa_remind(&self, token: &str, user_id: &str) -> Result<(), ApiError> {
        let path = format!("/users/{}/mfa-reminder", seg(user_id));
        self.send(token, Method::POST, &path, None, None).await?;
        Ok(())
    }

    /// A head office's 2FA policy.
    pub async fn mfa_policy(&self, token: &str, office_id: &str) -> Result<MfaPolicy, ApiError> {
        let path = format!("/offices/{}/mfa-policy", seg(office_id));
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Self::json(res).await
    }

    /// Sets a head office's 2FA policy.
    pub async fn set_mfa_policy(
        &self,
        token: &str,
        office_id: &str,
        required_from: Option<&str>,
        grace_logins: u32,
    ) -> Result<MfaPolicy, ApiError> {
        let path = format!("/offices/{}/mfa-policy", seg(office_id));
        let body =
            serde_json::json!({ "required_from": required_from, "grace_logins": grace_logins });
        let res = self
            .send(token, Method::PATCH, &path, None, Some(body))
            .await?;
        Self::json(res).await
    }
}
