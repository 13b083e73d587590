//! The audit log (SPEC L1) as the management UI reads it: `GET /api/v1/audit`, its CSV
//! export `GET /api/v1/audit.csv` (issue 10), and the offices the signed-in manager may
//! filter on, `GET /api/v1/offices`.

use reqwest::Method;
use serde::Deserialize;

use super::{Api, ApiError};

/// A user named in an entry; no name when the API may not say it.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditUser {
    /// Naam.
    pub name: Option<String>,
    /// E-mailadres (of the user acted upon).
    #[serde(default)]
    pub email: Option<String>,
}

/// An office named in an entry.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditOffice {
    /// Naam.
    pub name: Option<String>,
    /// Number.
    pub number: Option<String>,
}

/// One entry.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339.
    pub at: String,
    /// What happened (`user.created`).
    pub action: String,
    /// The entry as one plain Dutch sentence (issue 10).
    #[serde(default)]
    pub text: String,
    /// The detail as stored (before/after values, a reason), for the page's Details.
    #[serde(default)]
    pub detail: serde_json::Value,
    /// Who.
    pub actor: Option<AuditUser>,
    /// On whom.
    pub target_user: Option<AuditUser>,
    /// On which office.
    pub target_office: Option<AuditOffice>,
    /// From where.
    pub ip: Option<String>,
}

/// One page, newest first.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditEntry>,
    /// The cursor of the next, older page.
    pub next: Option<String>,
}

/// An office the manager may choose in the filter.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditOfficeChoice {
    /// Id.
    pub id: String,
    /// Naam.
    pub name: String,
    /// Number.
    pub number: String,
}

/// The audit view's filters, as the API names them; empty values are left out.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `office_id`.
    pub office_id: Option<String>,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `action`.
    pub action: Option<String>,
    /// `from`, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// `to`, `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `before`.
    pub before: Option<String>,
}

impl AuditFilter {
    /// The query string (so nothing typed can add a parameter of its own).
    pub fn query(&self) -> String {
        query_string(&[
            ("office_id", self.office_id.as_deref()),
            ("user_id", self.user_id.as_deref()),
            ("action", self.action.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("before", self.before.as_deref()),
        ])
    }
}

/// `a=1&b=x%20y`: the pairs with a non-empty value, each percent-encoded.
pub(crate) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| format!("{}={}", encode(name), encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986 §2.3).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    /// One page of the audit log the caller may read.
    pub async fn audit_log(
        &self,
        token: &str,
        filter: &AuditFilter,
    ) -> Result<AuditPage, ApiError> {
        let path = format!("/audit?{}", filter.query());
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Self::json(res).await
    }

    /// Issue 10: every entry the filter selects as the API's CSV file (`before` is not
    /// sent: the export is not one page).
    pub async fn audit_csv(&self, token: &str, filter: &AuditFilter) -> Result<Vec<u8>, ApiError> {
        let whole = AuditFilter {
            before: None,
            ..filter.clone()
        };
        let path = format!("/audit.csv?{}", whole.query());
        let res = self.send(token, Method::GET, &path, None, None).await?;
        res.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }

    /// The offices the caller manages, for the audit view's Kantoor choice.
    pub async fn audit_offices(&self, token: &str) -> Result<Vec<AuditOfficeChoice>, ApiError> {
        self.all_pages(token, "/offices").await
    }
}
