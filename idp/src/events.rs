//! Rights events (issue 10): a change of a user's or an office's rights, or a deactivation,
//! reaches the portals at once as a signed Security Event Token (RFC 8417), pushed to each
//! portal's stream endpoint (RFC 8935) in the style of the OpenID Shared Signals Framework
//! and CAEP: `token-claims-change` with the user's new `rights` and `role`, or
//! `session-revoked` when the user may no longer sign in at all.
//!
//! Delivery is in two steps, both through the durable outbox:
//!
//! 1. The change queues one `rights_event` row naming whom it concerns (a user, or an
//!    office and its tree), in the transaction that commits the change (`queue`).
//! 2. The outbox worker turns that row into one signed `security_event` row per portal and
//!    user with a live session there (`Expander`), reading the claims *then*, in one
//!    transaction; those rows are posted with retries like back-channel logout tokens.
//!
//! Reading the claims in step 2 means every event carries the state of the database when it
//! was signed, never a value computed before a concurrent change committed; a portal keeps
//! the newest by `event_timestamp` (`relying_party`), so late or repeated deliveries cannot
//! restore a right that was taken away.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::crypto::Sealer;
use crate::keys::Keys;
use crate::mail::{self, BackchannelDelivery, DeliveryFormat, MailError};
use crate::oidc::claims::{may_sign_in, rights_of};
use crate::store::event_streams::{self, EventTarget};
use crate::store::outbox::{self, DueMail, NewMail};
use crate::store::{Db, accounts};
use product_registry::Registry;

/// The outbox kind of step 1: "the rights of these users changed".
pub const RIGHTS_EVENT_KIND: &str = "rights_event";

/// CAEP 1.0 §3.2: the claims of a token changed; the new values are in `claims`.
pub const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";

/// CAEP 1.0 §3.1: the user's sessions are revoked.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

/// The JWT `typ` of a Security Event Token (RFC 8417 §2.3).
pub const SET_TYP: &str = "secevent+jwt";

/// How long a signed event is worth delivering (its `exp`): the worker retries until then,
/// then gives up and audits it. Long enough to outlast a portal's restart or a short outage.
pub const EVENT_TTL: Duration = Duration::hours(1);

/// Whom a rights event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// One user.
    User(Uuid),
    /// Every user of an office and of its sub-offices.
    Office(Uuid),
}

/// Step 1's row, as sealed into the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RightsEvent {
    subject: Subject,
    /// When the change committed (Unix time): sessions ended by the change itself still
    /// count as live for it, so a deactivation reaches the portals as `session-revoked`.
    at: i64,
}

/// The outbox row that announces a change of `subject`'s rights, to be queued in the
/// transaction of the change.
pub fn queue(sealer: &Sealer, subject: Subject, now: OffsetDateTime) -> Result<NewMail, MailError> {
    let id = Uuid::now_v7();
    let event = RightsEvent {
        subject,
        at: crate::store::at(now).unix_timestamp(),
    };
    let recipient = match subject {
        Subject::User(u) => format!("user:{u}"),
        Subject::Office(o) => format!("office:{o}"),
    };
    Ok(NewMail {
        id,
        kind: RIGHTS_EVENT_KIND,
        recipient,
        payload: sealer.seal(id.as_bytes(), &serde_json::to_vec(&event)?)?,
    })
}

/// The claims of one Security Event Token.
#[derive(Serialize)]
struct SetClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: String,
    /// SSF 1.0 §3: the subject as issuer and subject identifier.
    sub_id: serde_json::Value,
    events: serde_json::Value,
}

/// Step 2: turns due `rights_event` rows into signed `security_event` deliveries.
#[derive(Clone)]
pub struct Expander {
    db: Db,
    registry: Registry,
    keys: Keys,
    issuer: String,
    sealer: Arc<Sealer>,
}

impl Expander {
    /// An expander signing as `issuer` with `keys`.
    pub fn new(
        db: Db,
        registry: Registry,
        keys: Keys,
        issuer: String,
        sealer: Arc<Sealer>,
    ) -> Self {
        Self {
            db,
            registry,
            keys,
            issuer,
            sealer,
        }
    }

    /// One pass over the due rights events; returns how many deliveries were queued.
    pub async fn expand_due(&self, now: OffsetDateTime) -> Result<usize, MailError> {
        let mut queued = 0;
        for row in outbox::due_of_kind(&self.db, RIGHTS_EVENT_KIND, now, 50).await? {
            let lease = now + mail_transport::CLAIM_LEASE;
            if !outbox::claim(&self.db, row.id, now, lease).await? {
                continue;
            }
            let event = match self.open(&row) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(event = %row.id, error = %e, "rights event cannot be opened; given up");
                    outbox::abandon(&self.db, row.id, now, &e.to_string()).await?;
                    continue;
                }
            };
            match self.deliveries(&event, now).await {
                Ok(rows) => {
                    outbox::expand(&self.db, row.id, &rows, now).await?;
                    queued += rows.len();
                }
                Err(e) => {
                    let next = now + mail_transport::backoff(row.attempts);
                    tracing::warn!(event = %row.id, error = %e, "rights event not expanded; will retry");
                    outbox::mark_failed(&self.db, row.id, next, &e.to_string()).await?;
                }
            }
        }
        Ok(queued)
    }

    fn open(&self, row: &DueMail) -> Result<RightsEvent, MailError> {
        let payload = row
            .payload
            .as_deref()
            .ok_or_else(|| MailError::Payload(serde::de::Error::custom("payload missing")))?;
        let plain = self.sealer.open(row.id.as_bytes(), payload)?;
        Ok(serde_json::from_slice(&plain)?)
    }

    /// One signed event per portal and user the change concerns, with the claims as they
    /// are now.
    async fn deliveries(
        &self,
        event: &RightsEvent,
        now: OffsetDateTime,
    ) -> Result<Vec<NewMail>, MailError> {
        let since = OffsetDateTime::from_unix_timestamp(event.at)
            .map_err(|e| MailError::Payload(serde::de::Error::custom(e)))?;
        let targets = match event.subject {
            Subject::User(u) => event_streams::targets_of_user(&self.db, u, since).await?,
            Subject::Office(o) => event_streams::targets_of_office(&self.db, o, since).await?,
        };
        let keys = self.keys.current();
        let mut rows = Vec::with_capacity(targets.len());
        for t in &targets {
            let body = self.event_for(t, now).await?;
            let exp = now + EVENT_TTL;
            let claims = SetClaims {
                iss: &self.issuer,
                aud: &t.client_id,
                iat: now.unix_timestamp(),
                exp: exp.unix_timestamp(),
                jti: Uuid::new_v4().to_string(),
                sub_id: json!({ "format": "iss_sub", "iss": self.issuer, "sub": t.user_id }),
                events: body,
            };
            let token = keys.sign(SET_TYP, &claims, now)?;
            rows.push(mail::seal_backchannel(
                &self.sealer,
                &BackchannelDelivery {
                    uri: t.endpoint.clone(),
                    token,
                    expires_at: exp.unix_timestamp(),
                    client_id: Some(t.client_id.clone()),
                    user_id: Some(t.user_id),
                    format: DeliveryFormat::SecurityEvent,
                },
            )?);
        }
        Ok(rows)
    }

    /// `token-claims-change` with the user's rights and role now, or `session-revoked`
    /// when the user (or an office above) is inactive or gone.
    async fn event_for(
        &self,
        t: &EventTarget,
        now: OffsetDateTime,
    ) -> Result<serde_json::Value, MailError> {
        let principal = accounts::principal(&self.db, t.user_id, &self.registry).await?;
        let at = now.unix_timestamp();
        Ok(match principal.filter(may_sign_in) {
            Some(p) => json!({ TOKEN_CLAIMS_CHANGE: {
                "event_timestamp": at,
                "initiating_entity": "admin",
                "claims": { "rights": rights_of(&p, &self.registry), "role": p.user.role.as_str() },
            }}),
            None => json!({ SESSION_REVOKED: {
                "event_timestamp": at,
                "initiating_entity": "admin",
            }}),
        })
    }
}

/// The targets of a back-channel logout that have no event stream: a right taken away
/// reaches those portals the old way, by ending their session (the next request signs in
/// again, silently, with the narrowed rights); portals with a stream get the event instead
/// and keep the session.
pub async fn without_streams(
    db: &Db,
    targets: Vec<crate::store::grants::LogoutTarget>,
) -> Result<Vec<crate::store::grants::LogoutTarget>, crate::store::StoreError> {
    if targets.is_empty() {
        return Ok(targets);
    }
    let streams = event_streams::clients(db).await?;
    Ok(targets
        .into_iter()
        .filter(|t| !streams.contains(&t.client_id))
        .collect())
}
