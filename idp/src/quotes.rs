//! O7: "has this office ever made a quote?", asked of every product before a sub-office is
//! deleted. The idp holds no quotes; the products do (issue 7). Each registered product
//! contributes one [`QuoteCheck`]; the portal wires them at start
//! ([`crate::Idp::set_quote_checks`]). A deletion goes ahead only when every check answers
//! "no"; a check that cannot answer refuses it (fail closed).

use std::sync::Arc;

use uuid::Uuid;

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
