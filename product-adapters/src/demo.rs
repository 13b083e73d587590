//! Demo quotes for `portal serve --demo`: every demo advisor quotes each product it holds
//! once, priced by the engine like any quote, stored without mail. Seeded only into an
//! empty products' store, so a restart adds nothing.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::Portals;
use crate::store::quotes::{self, Advisor, NewQuote, OfficeSnapshot};
use crate::store::{StoreError, with_db};

/// A demo person with the office its quotes print.
#[derive(Debug, Clone)]
pub struct DemoAdvisor {
    /// The advisor.
    pub advisor: Advisor,
    /// The office.
    pub office: OfficeSnapshot,
    /// The right codes it holds.
    pub rights: Vec<String>,
}

/// Seeds the demo quotes; returns how many were made (0 when the store had quotes).
pub async fn seed(portals: &Portals, advisors: &[DemoAdvisor]) -> Result<usize, StoreError> {
    let ctx = portals.context();
    let existing: i64 = with_db!(&ctx.db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM quotes"
    )
    .fetch_one(pool)
    .await)?;
    if existing > 0 {
        return Ok(0);
    }
    let today = crate::pages::today();
    let mut made = 0;
    for a in advisors {
        for code in &a.rights {
            let Some(adapter) = portals.adapter(code) else {
                continue;
            };
            let Some(form) = adapter.demo_form(today) else {
                continue;
            };
            let priced = match adapter.price(ctx, &form, today) {
                Ok(p) => p,
                Err(errors) => {
                    tracing::warn!(product = %code, ?errors, "a demo quote does not price; skipped");
                    continue;
                }
            };
            let quote = NewQuote {
                id: Uuid::now_v7(),
                product: code.clone(),
                variant: priced.variant.to_owned(),
                office: a.office.clone(),
                advisor: a.advisor.clone(),
                client_name: priced.client_name,
                tariff_version: priced.tariff_version,
                request: priced.request,
                result: priced.result,
                amount_cents: priced.amount_cents,
            };
            let seq = quotes::next_number(&ctx.db, code).await?;
            quotes::create(&ctx.db, &quote, seq, None, OffsetDateTime::now_utc()).await?;
            made += 1;
        }
    }
    Ok(made)
}
