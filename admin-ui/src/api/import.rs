//! The admin API's bulk import of head offices (issue 6, SPEC O1), as the console's
//! Importeren page calls it: the file goes to the API as `text/csv` for a preview (issue
//! 10), which is confirmed with its fingerprint or cancelled; the job is polled, the report
//! fetched.

use reqwest::{Method, StatusCode, header};
use serde::Deserialize;

use super::{ApiError, ProblemBody, seg};

/// A row of an import as the API returns it.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ImportRow {
    /// The line in the file.
    pub line: i64,
    /// Adviseursnummer.
    pub advisor_number: String,
    /// Naam.
    pub name: String,
    /// E-mailadres.
    pub email: String,
    /// `create`, `change` or `unchanged`.
    #[serde(default)]
    pub action: String,
    /// What a change changes.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
    /// The office's e-mail when the file holds another (not applied).
    #[serde(default)]
    pub email_notice: Option<String>,
    /// `pending`, `created`, `changed`, `unchanged` or `refused`.
    pub result: String,
    /// Why not, in Dutch.
    pub reason: Option<String>,
}

/// A field a row changes.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct FieldChange {
    /// `name`, `rights` or `allow_sub_offices`.
    pub field: String,
    /// Now.
    pub before: String,
    /// The file's.
    pub after: String,
}

/// What the plan does, counted.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Planned {
    /// New head offices.
    pub create: i64,
    /// Changed.
    pub change: i64,
    /// Left alone.
    pub unchanged: i64,
}

/// An import's progress.
#[derive(Debug, Clone, Deserialize)]
pub struct Import {
    /// Id.
    pub id: String,
    /// `preview`, `running` or `done`.
    pub state: String,
    /// Rows in the file.
    pub total: i64,
    /// Rows with a result.
    pub done: i64,
    /// Head offices created.
    pub created: i64,
    /// Head offices changed.
    #[serde(default)]
    pub changed: i64,
    /// Head offices that already matched.
    #[serde(default)]
    pub unchanged: i64,
    /// What the plan does.
    #[serde(default)]
    pub planned: Planned,
    /// A preview's fingerprint, for its confirmation.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// Rows not created.
    pub refused: i64,
    /// Every row.
    pub rows: Vec<ImportRow>,
}

/// A refused row of a file.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct RowError {
    /// The line in the file.
    pub line: u64,
    /// Why, in Dutch.
    pub reason: String,
}

#[derive(Deserialize)]
struct Refused {
    detail: String,
    errors: Vec<RowError>,
}

/// The API's answer to an upload.
#[derive(Debug)]
pub enum Upload {
    /// The import runs.
    Started(Import),
    /// Rows are bad; nothing was imported. `detail` says so in Dutch.
    Refused {
        /// Dutch text.
        detail: String,
        /// Every bad row.
        errors: Vec<RowError>,
    },
}

impl super::Api {
    /// Sends a CSV file to plan as a preview (issue 10; nothing is applied until
    /// [`Self::confirm_import`]). A file with bad rows comes back as [`Upload::Refused`];
    /// any other refusal (403, 413) as [`ApiError::Refused`].
    pub async fn start_import(&self, token: &str, csv: Vec<u8>) -> Result<Upload, ApiError> {
        let res = self
            .http
            .post(format!("{}/imports?preview=true", self.base))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "text/csv")
            .body(csv)
            // A large file is checked whole and stored before the answer.
            .timeout(std::time::Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let status = res.status();
        if status == StatusCode::CREATED || status == StatusCode::ACCEPTED {
            return Self::json(res).await.map(Upload::Started);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ApiError::SignedOut);
        }
        let body = res
            .bytes()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        if status == StatusCode::UNPROCESSABLE_ENTITY
            && let Ok(r) = serde_json::from_slice::<Refused>(&body)
        {
            return Ok(Upload::Refused {
                detail: r.detail,
                errors: r.errors,
            });
        }
        let detail = serde_json::from_slice::<ProblemBody>(&body)
            .ok()
            .and_then(|p| p.detail)
            .unwrap_or_else(|| status.to_string());
        Err(ApiError::Refused { status, detail })
    }

    /// An import's progress and rows.
    pub async fn import(&self, token: &str, id: &str) -> Result<Import, ApiError> {
        let res = self
            .send(
                token,
                Method::GET,
                &format!("/imports/{}", seg(id)),
                None,
                None,
            )
            .await?;
        Self::json(res).await
    }

    /// Applies a preview as it was shown: `fingerprint` is the preview's. A plan that
    /// changed since comes back as [`ApiError::Refused`] with 409.
    pub async fn confirm_import(
        &self,
        token: &str,
        id: &str,
        fingerprint: &str,
    ) -> Result<(), ApiError> {
        self.send(
            token,
            Method::POST,
            &format!("/imports/{}/confirm", seg(id)),
            None,
            Some(serde_json::json!({ "fingerprint": fingerprint })),
        )
        .await?;
        Ok(())
    }

    /// Forgets a preview.
    pub async fn cancel_import(&self, token: &str, id: &str) -> Result<(), ApiError> {
        self.send(
            token,
            Method::POST,
            &format!("/imports/{}/cancel", seg(id)),
            None,
            None,
        )
        .await?;
        Ok(())
    }

    /// An import's report (CSV).
    pub async fn import_report(&self, token: &str, id: &str) -> Result<Vec<u8>, ApiError> {
        let res = self
            .send(
                token,
                Method::GET,
                &format!("/imports/{}/report.csv", seg(id)),
                None,
                None,
            )
            .await?;
        res.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }
}
