//! O7: "has this office ever made a quote?", asked of every product before a sub-office is
//! deleted. The idp holds no quotes; the products do. Each registered product contributes
//! one [`QuoteCheck`]; the portal wires them at start ([`crate::Idp::set_quote_checks`]):
//! an adapter in the same process is asked directly, one running on its own
//! (`portal serve --only dip`) over its internal endpoint ([`HttpQuoteCheck`]). A deletion
//! goes ahead only when every check answers "no"; a check that cannot answer refuses it
//! (fail closed).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::keys::Keys;

/// A product could not say whether an office holds quotes.
#[derive(Debug, Clone, thiserror::Error)]
#[error("quote check {product}: {reason}")]
pub struct QuoteCheckError {
    /// The product's right code (or another name of the check).
    pub product: String,
    /// Why, for the log; never shown to the person.
    pub reason: String,
}

/// One product's answer to O7.
#[async_trait::async_trait]
pub trait QuoteCheck: Send + Sync + 'static {
    /// The product it speaks for (its right code), for logs and audit.
    fn product(&self) -> &str;

    /// Whether any quote was ever made by `office_id` (or one of its users) in this
    /// product. An error means "cannot say" and refuses the deletion.
    async fn has_quotes(&self, office_id: Uuid) -> Result<bool, QuoteCheckError>;
}

/// The checks in use, shared by every request.
pub type QuoteChecks = Arc<[Arc<dyn QuoteCheck>]>;

/// The JWT `typ` of a quote-existence question, so no other token of the idp (an ID token,
/// a logout token, an access token) can stand in for one.
pub const QUOTE_CHECK_TYP: &str = "quote-check+jwt";

/// How long a question is valid: long enough for one request, too short to replay.
const QUOTE_CHECK_LIFETIME: i64 = 60;

/// How long the idp waits for a product's answer.
const QUOTE_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The claims of a quote-existence question, signed by the idp for one product.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteCheckClaims {
    /// The idp's issuer.
    pub iss: String,
    /// The product's OIDC client id: only that product accepts it.
    pub aud: String,
    /// Issued at (Unix time).
    pub iat: i64,
    /// Expires (Unix time).
    pub exp: i64,
    /// A unique id.
    pub jti: String,
    /// The office asked about.
    pub office_id: Uuid,
}

/// A product's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuoteCheckAnswer {
    /// Whether the office ever quoted in the product.
    pub has_quotes: bool,
}

/// O7 over HTTP: asks a product running in another process,
/// `GET {url}/internal/quotes?office={id}` with a bearer JWT the idp signed for the
/// product's client (`typ` [`QUOTE_CHECK_TYP`], 60 s, RS256 with the published keys, which
/// the product already trusts for its sign-ins). No redirect is followed; anything but a
/// well-formed 200 is "cannot say".
pub struct HttpQuoteCheck {
    product: String,
    client_id: String,
    url: String,
    issuer: String,
    keys: Keys,
    http: reqwest::Client,
}

impl HttpQuoteCheck {
    /// A check of `product` (right code) served at `url` (its public base, e.g.
    /// `https://dip.example.nl/dip`) under OIDC client `client_id`.
    pub fn new(
        product: &str,
        client_id: &str,
        url: &str,
        issuer: &str,
        keys: Keys,
    ) -> Result<Self, QuoteCheckError> {
        // SECURITY OP-25: a timeout, and redirects are never followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(QUOTE_CHECK_TIMEOUT)
            .build()
            .map_err(|e| QuoteCheckError {
                product: product.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            product: product.to_owned(),
            client_id: client_id.to_owned(),
            url: format!("{}/internal/quotes", url.trim_end_matches('/')),
            issuer: issuer.to_owned(),
            keys,
            http,
        })
    }

    fn question(&self, office_id: Uuid, now: OffsetDateTime) -> Result<String, String> {
        let claims = QuoteCheckClaims {
            iss: self.issuer.clone(),
            aud: self.client_id.clone(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + QUOTE_CHECK_LIFETIME,
            jti: Uuid::new_v4().to_string(),
            office_id,
        };
        self.keys
            .current()
            .sign(QUOTE_CHECK_TYP, &claims, now)
            .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl QuoteCheck for HttpQuoteCheck {
    fn product(&self) -> &str {
        &self.product
    }

    async fn has_quotes(&self, office_id: Uuid) -> Result<bool, QuoteCheckError> {
        let error = |reason: String| QuoteCheckError {
            product: self.product.clone(),
            reason,
        };
        let token = self
            .question(office_id, OffsetDateTime::now_utc())
            .map_err(error)?;
        let res = self
            .http
            .get(&self.url)
            .query(&[("office", office_id.to_string())])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| error(e.without_url().to_string()))?;
        if !res.status().is_success() {
            return Err(error(format!("answered {}", res.status())));
        }
        let answer: QuoteCheckAnswer = res
            .json()
            .await
            .map_err(|e| error(e.without_url().to_string()))?;
        Ok(answer.has_quotes)
    }
}

/// What the products said about an office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteAnswer {
    /// No product holds a quote of it.
    None,
    /// These products hold quotes of it.
    Held(Vec<String>),
    /// These products could not answer (and none said yes).
    Unknown(Vec<String>),
}

/// Asks every check, all at once. "Yes" from any product wins over "cannot say" from
/// another (the deletion is refused either way; the reason shown is the certain one).
pub async fn ask(checks: &[Arc<dyn QuoteCheck>], office_id: Uuid) -> QuoteAnswer {
    let mut held = Vec::new();
    let mut unknown = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    for check in checks {
        let check = check.clone();
        set.spawn(async move {
            let product = check.product().to_owned();
            (product, check.has_quotes(office_id).await)
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((product, Ok(true))) => held.push(product),
            Ok((_, Ok(false))) => {}
            Ok((product, Err(e))) => {
                tracing::warn!(error = %e, %office_id, "a product could not say whether an office holds quotes");
                unknown.push(product);
            }
            Err(e) => {
                tracing::warn!(error = %e, %office_id, "a quote check failed");
                unknown.push("?".to_owned());
            }
        }
    }
    held.sort();
    unknown.sort();
    if !held.is_empty() {
        QuoteAnswer::Held(held)
    } else if !unknown.is_empty() {
        QuoteAnswer::Unknown(unknown)
    } else {
        QuoteAnswer::None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Fixed(&'static str, Result<bool, ()>);

    #[async_trait::async_trait]
    impl QuoteCheck for Fixed {
        fn product(&self) -> &str {
            self.0
        }
        async fn has_quotes(&self, _office_id: Uuid) -> Result<bool, QuoteCheckError> {
            self.1.map_err(|()| QuoteCheckError {
                product: self.0.into(),
                reason: "down".into(),
            })
        }
    }

    fn checks(list: Vec<Fixed>) -> Vec<Arc<dyn QuoteCheck>> {
        list.into_iter()
            .map(|c| Arc::new(c) as Arc<dyn QuoteCheck>)
            .collect()
    }

    #[tokio::test]
    async fn o7_every_product_must_say_no() {
        let id = Uuid::now_v7();
        assert_eq!(ask(&[], id).await, QuoteAnswer::None);
        let no = checks(vec![Fixed("DIP", Ok(false)), Fixed("DIL", Ok(false))]);
        assert_eq!(ask(&no, id).await, QuoteAnswer::None);
        let yes = checks(vec![Fixed("DIP", Ok(false)), Fixed("DIL", Ok(true))]);
        assert_eq!(ask(&yes, id).await, QuoteAnswer::Held(vec!["DIL".into()]));
        let down = checks(vec![Fixed("DIP", Ok(false)), Fixed("ORV", Err(()))]);
        assert_eq!(
            ask(&down, id).await,
            QuoteAnswer::Unknown(vec!["ORV".into()]),
            "fail closed"
        );
        let both = checks(vec![Fixed("DIP", Ok(true)), Fixed("ORV", Err(()))]);
        assert_eq!(ask(&both, id).await, QuoteAnswer::Held(vec!["DIP".into()]));
    }
}
