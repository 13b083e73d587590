//! Applying the throttle rules of `domain::throttle` to the counters in the store: one
//! decision over several counters, and one event added to several counters.

use time::OffsetDateTime;

use crate::domain::throttle::{Counter, Decision, stricter};
use crate::state::AppState;
use crate::store::{StoreError, throttle};

/// Whether an attempt may go ahead under every one of `counters` (kind, subject).
pub async fn check(
    app: &AppState,
    counters: &[(Counter, &str)],
    now: OffsetDateTime,
) -> Result<Decision, StoreError> {
    let mut decision = Decision::Allowed;
    for (counter, subject) in counters {
        let limit = counter.limit();
        let count = throttle::current(&app.db, *counter, subject, limit.current_since(now)).await?;
        decision = stricter(decision, limit.decide(count, now));
    }
    Ok(decision)
}

/// Adds one event to each of `counters`; returns whether any of them has now gone past
/// its limit (the event itself was one too many).
pub async fn hit(
    app: &AppState,
    counters: &[(Counter, &str)],
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let mut over = false;
    for (counter, subject) in counters {
        let limit = counter.limit();
        let count =
            throttle::hit(&app.db, *counter, subject, limit.current_since(now), now).await?;
        over |= count.hits > limit.max;
    }
    Ok(over)
}

/// The account subject of a login name that matched no user: failures against unknown
/// names are counted too, so a lock tells nothing about whether an account exists.
pub fn unknown_login_subject(raw: &str) -> String {
    let name: String = raw.trim().to_lowercase().chars().take(200).collect();
    format!("name:{name}")
}
