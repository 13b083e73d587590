//! The offices routes of the admin API (SPEC O1–O7) as the Subkantoren and Hoofdkantoren
//! pages call them. Like the rest of [`super::Api`], every call carries the signed-in
//! user's token and the API alone decides what that user may see and change (AC-03).

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{Api, ApiError, User, seg};

/// An office as `GET /api/v1/offices/{id}` returns it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OfficeDetail {
    /// Id.
    pub id: String,
    /// `head_office` or `sub_office`.
    pub kind: String,
    /// The head office of a sub-office.
    pub parent_id: Option<String>,
    /// Adviseursnummer (head office) or Nummer (sub-office).
    pub number: String,
    /// Naam.
    pub name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// Telefoon.
    pub phone: String,
    /// Office e-mail.
    pub email: String,
    /// Right codes, in registry order.
    pub rights: Vec<String>,
    /// O2.
    pub allow_sub_offices: bool,
    /// O6.
    pub active: bool,
    /// For `If-Match`.
    pub version: i64,
}

impl OfficeDetail {
    /// Whether this is a head office.
    pub fn is_head_office(&self) -> bool {
        self.kind == "head_office"
    }

    /// Whether this is a sub-office.
    pub fn is_sub_office(&self) -> bool {
        self.kind == "sub_office"
    }
}

/// O3 "Nieuw subkantoor aanmaken"; the Hoofdkantoor goes in the path.
#[derive(Debug, Serialize)]
pub struct NewSubOffice<'a> {
    /// Naam.
    pub name: &'a str,
    /// Adres.
    pub address: &'a str,
    /// Postcode.
    pub postcode: &'a str,
    /// Plaats.
    pub city: &'a str,
    /// Telefoon.
    pub phone: &'a str,
    /// E-mailadres.
    pub email: &'a str,
    /// Nummer.
    pub number: &'a str,
    /// Rechten.
    pub rights: &'a [String],
    /// "Zend e-mail met activatielink naar subkantoor".
    pub send_activation: bool,
}

/// O1: a new head office (insurer admins).
#[derive(Debug, Serialize)]
pub struct NewHeadOffice<'a> {
    /// Adviseursnummer.
    pub advisor_number: &'a str,
    /// Naam.
    pub name: &'a str,
    /// E-mailadres.
    pub email: &'a str,
    /// The appointment.
    pub rights: &'a [String],
    /// "Mag werken met subkantoren" (O2).
    pub allow_sub_offices: bool,
}

/// A change to an office; absent fields stay as they are.
#[derive(Debug, Default, Serialize)]
pub struct OfficeChange<'a> {
    /// Naam.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Adres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<&'a str>,
    /// Postcode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postcode: Option<&'a str>,
    /// Plaats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<&'a str>,
    /// Telefoon.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
    /// Rechten (the whole new set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<&'a [String]>,
    /// O2 (insurer admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_sub_offices: Option<bool>,
    /// Actief.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

fn body(value: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Unavailable(e.to_string()))
}

/// `?key=value&…`, each value form-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut url = match reqwest::Url::parse("http://query.invalid/") {
        Ok(u) => u,
        Err(_) => return String::new(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.query().map(|q| format!("?{q}")).unwrap_or_default()
}

impl Api {
    /// The offices the caller manages, optionally only one `kind` and/or matching `q`.
    pub async fn offices(
        &self,
        token: &str,
        kind: Option<&str>,
        q: Option<&str>,
    ) -> Result<Vec<OfficeDetail>, ApiError> {
        let mut pairs = Vec::new();
        if let Some(kind) = kind {
            pairs.push(("kind", kind));
        }
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            pairs.push(("q", q));
        }
        let path = format!("/offices{}", query(&pairs));
        self.all_pages(token, &path).await
    }

    /// One office the caller manages.
    pub async fn office(&self, token: &str, id: &str) -> Result<OfficeDetail, ApiError> {
        let path = format!("/offices/{}", seg(id));
        let res = self.send(token, Method::GET, &path, None, None).await?;
        Self::json(res).await
    }

    /// O3: a sub-office under `head_office`, with its main user (and, if asked, the
    /// activation mail).
    pub async fn create_sub_office(
        &self,
        token: &str,
        head_office: &str,
        new: &NewSubOffice<'_>,
    ) -> Result<OfficeDetail, ApiError> {
        let path = format!("/offices/{}/sub-offices", seg(head_office));
        let res = self
            .send(token, Method::POST, &path, None, Some(body(new)?))
            .await?;
        Self::json(res).await
    }

    /// O1: a head office with its main user, who gets the activation mail.
    pub async fn create_head_office(
        &self,
        token: &str,
        new: &NewHeadOffice<'_>,
    ) -> Result<OfficeDetail, ApiError> {
        let res = self
            .send(token, Method::POST, "/offices", None, Some(body(new)?))
            .await?;
        Self::json(res).await
    }

    /// Changes an office, if it is still at `version`.
    pub async fn update_office(
        &self,
        token: &str,
        id: &str,
        version: i64,
        change: &OfficeChange<'_>,
    ) -> Result<OfficeDetail, ApiError> {
        let path = format!("/offices/{}", seg(id));
        let res = self
            .send(
                token,
                Method::PATCH,
                &path,
                Some(version),
                Some(body(change)?),
            )
            .await?;
        // Four-eyes (issue 10): a listed change waits for a second admin.
        let res = super::approvals::waiting(res).await?;
        Self::json(res).await
    }

    /// O7: deletes a sub-office, if it is still at `version` and made no quotes.
    pub async fn delete_office(&self, token: &str, id: &str, version: i64) -> Result<(), ApiError> {
        let path = format!("/offices/{}", seg(id));
        self.send(token, Method::DELETE, &path, Some(version), None)
            .await
            .map(|_| ())
    }

    /// The users of one office the caller manages.
    pub async fn users_of_office(
        &self,
        token: &str,
        office_id: &str,
    ) -> Result<Vec<User>, ApiError> {
        let path = format!("/users{}", query(&[("office_id", &seg(office_id))]));
        self.all_pages(token, &path).await
    }
}
