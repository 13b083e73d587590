//! The quoting office's letterhead (SPEC P2) and mail addresses (P3), asked of the idp's
//! `GET /api/v1/me/office` with the advisor's own access token: the portal learns only what
//! the idp tells that person about their own office, and nothing of the idp's database.

use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;

use crate::store::quotes::OfficeSnapshot;

/// How long the portal waits for the idp.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the letterhead could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LetterheadError {
    /// The access token was refused: the session must sign in again.
    #[error("the idp refused the access token")]
    Refused,
    /// The idp could not be reached or answered something else.
    #[error("the idp did not answer: {0}")]
    Unavailable(String),
}

#[derive(Debug, Deserialize)]
struct MeOffice {
    office: OfficeJson,
    head_office: HeadJson,
}

#[derive(Debug, Deserialize)]
struct OfficeJson {
    id: Uuid,
    kind: String,
    number: String,
    name: String,
    address: String,
    postcode: String,
    city: String,
    email: String,
}

#[derive(Debug, Deserialize)]
struct HeadJson {
    id: Uuid,
    email: String,
}

/// A client of the idp's `me/office` route.
#[derive(Clone, Debug)]
pub struct Letterheads {
    url: String,
    http: reqwest::Client,
}

impl Letterheads {
    /// A client for the admin API at `api_url` (`https://…/api/v1`).
    pub fn new(api_url: &str) -> Result<Self, LetterheadError> {
        // SECURITY OP-25: a timeout, and redirects are never followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| LetterheadError::Unavailable(e.to_string()))?;
        Ok(Self {
            url: format!("{}/me/office", api_url.trim_end_matches('/')),
            http,
        })
    }

    /// The office of the holder of `access_token`, as printed on a quote.
    pub async fn office(&self, access_token: &str) -> Result<OfficeSnapshot, LetterheadError> {
        let res = self
            .http
            .get(&self.url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| LetterheadError::Unavailable(e.without_url().to_string()))?;
        match res.status().as_u16() {
            200 => {}
            401 | 403 => return Err(LetterheadError::Refused),
            other => return Err(LetterheadError::Unavailable(format!("answered {other}"))),
        }
        let me: MeOffice = res
            .json()
            .await
            .map_err(|e| LetterheadError::Unavailable(e.without_url().to_string()))?;
        Ok(OfficeSnapshot {
            id: me.office.id,
            head_office_id: me.head_office.id,
            kind: me.office.kind,
            number: me.office.number,
            name: me.office.name,
            address: me.office.address,
            postcode: me.office.postcode,
            city: me.office.city,
            email: me.office.email,
            head_office_email: me.head_office.email,
        })
    }
}
