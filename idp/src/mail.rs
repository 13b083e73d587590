//! E-mail: composing Dutch mails from templates, queueing them sealed in the outbox, and
//! the worker that delivers them.
//!
//! A mail is queued in the same transaction as the change that causes it (the store's
//! use-case functions take a `NewMail`), so a change never commits without its mail and a
//! mail never leaves for a change that rolled back. The worker sends through SMTP when
//! `PORTAL_SMTP_URL` is set, else writes `.eml` files, and retries with exponential
//! back-off while the server is unreachable. Nothing of a mail's content is logged.
//!
//! The same durable outbox carries back-channel logout deliveries (OIDC Back-Channel
//! Logout 1.0 §2.7): a row of kind `backchannel_logout` holds the sealed URI and logout
//! token, and the worker POSTs it with a timeout and without following redirects. A
//! failing client does not hold up other rows, and a delivery is abandoned once its token
//! has expired (it could only be refused by then).

use std::sync::Arc;

use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;
use web_kit::Templates;

use crate::crypto::{CryptoError, Sealer};
use crate::store::audit::{self, AuditRecord};
use crate::store::outbox::{self, NewMail};
use crate::store::{Db, StoreError};

/// Why a mail could not be composed, queued or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template did not render.
    #[error(transparent)]
    Template(#[from] web_kit::TemplateError),
    /// An address is malformed.
    #[error("address: {0}")]
    Address(#[from] lettre::address::AddressError),
    /// The message could not be built.
    #[error("message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The payload could not be sealed or opened.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The payload is not what was sealed.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The transport refused the configuration.
    #[error(transparent)]
    Transport(#[from] mail_transport::TransportError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A security event could not be signed.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
}

/// A composed mail, as sealed into the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailContent {
    /// Recipient (`Naam <adres>` or an address).
    pub to: String,
    /// Copies (P3: the head office of a sub-office or employee, for product mails only).
    pub cc: Vec<String>,
    /// Subject, one line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// Renders `mail/<name>.{subject.txt,txt,html}` with `ctx`.
pub fn compose(
    templates: &Templates,
    name: &str,
    to: Mailbox,
    ctx: impl Serialize,
) -> Result<MailContent, MailError> {
    let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
    let subject = templates.render(&format!("mail/{name}.subject.txt"), &ctx)?;
    Ok(MailContent {
        to: to.to_string(),
        cc: Vec::new(),
        // A subject is one line: CR/LF never reach a header (SECURITY IO-05).
        subject: subject.lines().map(str::trim).collect::<Vec<_>>().join(" "),
        text: templates.render(&format!("mail/{name}.txt"), &ctx)?,
        html: templates.render(&format!("mail/{name}.html"), &ctx)?,
    })
}

/// Seals a composed mail into an outbox row.
pub fn seal(
    sealer: &Sealer,
    kind: &'static str,
    content: &MailContent,
) -> Result<NewMail, MailError> {
    let id = Uuid::now_v7();
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(content)?);
    Ok(NewMail {
        id,
        kind,
        recipient: content.to.clone(),
        payload: sealer.seal(id.as_bytes(), &plain)?,
    })
}

/// The outbox kind of a back-channel logout delivery.
pub const BACKCHANNEL_KIND: &str = "backchannel_logout";

/// How long the worker waits for a client's back-channel endpoint.
const BACKCHANNEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The outbox kind of a signed security event (issue 10, `crate::events`).
pub const SECURITY_EVENT_KIND: &str = "security_event";

/// How a delivery is posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryFormat {
    /// Back-Channel Logout 1.0 §2.5: form field `logout_token`; 200 means done.
    #[default]
    LogoutToken,
    /// RFC 8935 §2: the Security Event Token as the body, `application/secevent+jwt`;
    /// 202 (any 2xx here) means done.
    SecurityEvent,
}

impl DeliveryFormat {
    /// The audit actions of its outcomes: delivered, failed (will retry), abandoned.
    fn actions(self) -> [&'static str; 3] {
        match self {
            Self::LogoutToken => [
                "logout.delivered",
                "logout.delivery_failed",
                "logout.delivery_abandoned",
            ],
            Self::SecurityEvent => [
                "event.delivered",
                "event.delivery_failed",
                "event.delivery_abandoned",
            ],
        }
    }
}

/// A back-channel logout or security event delivery, as sealed into the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackchannelDelivery {
    /// The client's registered `backchannel_logout_uri`, or its event stream's endpoint.
    pub uri: String,
    /// The signed logout token.
    pub token: String,
    /// The token's `exp` (Unix time): after it the delivery is abandoned.
    pub expires_at: i64,
    /// The client told, for the audit log (absent in rows queued before it was kept).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The user whose session ended, for the audit log.
    #[serde(default)]
    pub user_id: Option<Uuid>,
    /// How it is posted (absent in rows queued before events existed: a logout token).
    #[serde(default)]
    pub format: DeliveryFormat,
}

/// Seals a back-channel or security event delivery into an outbox row.
pub fn seal_backchannel(sealer: &Sealer, d: &BackchannelDelivery) -> Result<NewMail, MailError> {
    let id = Uuid::now_v7();
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(d)?);
    Ok(NewMail {
        id,
        kind: match d.format {
            DeliveryFormat::LogoutToken => BACKCHANNEL_KIND,
            DeliveryFormat::SecurityEvent => SECURITY_EVENT_KIND,
        },
        recipient: d.uri.clone(),
        payload: sealer.seal(id.as_bytes(), &plain)?,
    })
}

pub use mail_transport::{SendError, Transport, backoff};

/// Delivers due mails from the outbox.
#[derive(Clone)]
pub struct Mailer {
    db: Db,
    sealer: Arc<Sealer>,
    transport: Transport,
    from: Mailbox,
    wake: Arc<Notify>,
    http: reqwest::Client,
    events: Option<crate::events::Expander>,
}

impl Mailer {
    /// A mailer over the outbox of `db`.
    pub fn new(
        db: Db,
        sealer: Arc<Sealer>,
        transport: Transport,
        from: Mailbox,
    ) -> Result<Self, MailError> {
        // SECURITY OP-25: a timeout, and redirects are never followed.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(BACKCHANNEL_TIMEOUT)
            .build()
            .map_err(|e| MailError::Transport(mail_transport::TransportError(e.to_string())))?;
        Ok(Self {
            db,
            sealer,
            transport,
            from,
            wake: Arc::new(Notify::new()),
            http,
            events: None,
        })
    }

    /// The same mailer, also turning rights events into signed security events (issue 10)
    /// before each pass.
    pub fn with_events(mut self, events: crate::events::Expander) -> Self {
        self.events = Some(events);
        self
    }

    /// A handle to wake the worker after queueing a mail.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One pass: delivers the due back-channel deliveries, then sends the due mails in
    /// the order they were queued. Returns how many went out.
    ///
    /// A mail the server may still take (it is down, or answered 4xx) waits for its retry
    /// and holds the mails after it, so they arrive in order; one it refused for good
    /// (5xx, or a mail that cannot be opened) is given up, with the reason kept on its
    /// row, and the line moves on.
    pub async fn deliver_due(&self, now: OffsetDateTime) -> Result<usize, MailError> {
        let mut sent = 0;
        // A failure here (the database, a key) must not hold up the mails and logouts.
        if let Some(events) = &self.events
            && let Err(e) = events.expand_due(now).await
        {
            tracing::warn!(error = %e, "rights events not expanded this pass");
        }
        for mail in outbox::due(&self.db, now, 50).await? {
            let backchannel = mail.kind == BACKCHANNEL_KIND || mail.kind == SECURITY_EVENT_KIND;
            if !outbox::claim(&self.db, mail.id, now, now + mail_transport::CLAIM_LEASE).await? {
                if backchannel {
                    continue;
                }
                // Another worker is sending this mail: the ones after it wait for it.
                break;
            }
            if backchannel {
                if self.deliver_backchannel(&mail).await? {
                    sent += 1;
                }
                continue;
            }
            match self.send_one(&mail).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, mail.id, OffsetDateTime::now_utc()).await?;
                    tracing::info!(mail = %mail.id, kind = %mail.kind, "mail delivered");
                    sent += 1;
                }
                Err(error) if error.permanent => {
                    tracing::warn!(mail = %mail.id, kind = %mail.kind, %error, "mail refused for good; given up");
                    outbox::abandon(&self.db, mail.id, OffsetDateTime::now_utc(), &error.message)
                        .await?;
                }
                Err(error) => {
                    let next = OffsetDateTime::now_utc() + backoff(mail.attempts);
                    tracing::warn!(mail = %mail.id, kind = %mail.kind, attempts = mail.attempts + 1, %error, "mail not delivered; will retry");
                    outbox::mark_failed(&self.db, mail.id, next, &error.message).await?;
                    // Keep the order: a later mail waits while an earlier one cannot go.
                    break;
                }
            }
        }
        Ok(sent)
    }

    /// One back-channel delivery: `true` when the client accepted it. A failure is
    /// retried with back-off until the token expires, then abandoned. Each attempt's
    /// outcome is in the audit log, so an admin can see that a portal was told, or why
    /// it was not.
    async fn deliver_backchannel(&self, row: &outbox::DueMail) -> Result<bool, MailError> {
        let now = OffsetDateTime::now_utc();
        let attempt = row.attempts + 1;
        let delivery = match self.open_backchannel(row) {
            Ok(d) => d,
            Err(e) => {
                outbox::abandon(&self.db, row.id, now, &e).await?;
                let abandoned = if row.kind == SECURITY_EVENT_KIND {
                    DeliveryFormat::SecurityEvent
                } else {
                    DeliveryFormat::LogoutToken
                }
                .actions()[2];
                self.audit_delivery(row, None, abandoned, json!({ "reason": e }))
                    .await?;
                return Ok(false);
            }
        };
        let [delivered, failed, abandoned] = delivery.format.actions();
        if delivery.expires_at <= now.unix_timestamp() {
            outbox::abandon(&self.db, row.id, now, "token expired").await?;
            tracing::warn!(delivery = %row.id, kind = %row.kind, uri = %row.recipient, "delivery abandoned: token expired");
            let detail = json!({ "reason": "token expired", "attempts": row.attempts });
            self.audit_delivery(row, Some(&delivery), abandoned, detail)
                .await?;
            return Ok(false);
        }
        match self.post_backchannel(&delivery).await {
            Ok(()) => {
                outbox::mark_sent(&self.db, row.id, now).await?;
                tracing::info!(delivery = %row.id, kind = %row.kind, uri = %row.recipient, "delivered");
                let detail = json!({ "attempt": attempt });
                self.audit_delivery(row, Some(&delivery), delivered, detail)
                    .await?;
                Ok(true)
            }
            Err(error) => {
                let next = now + backoff(row.attempts);
                tracing::warn!(delivery = %row.id, kind = %row.kind, uri = %row.recipient, attempts = attempt, %error, "delivery failed; will retry");
                outbox::mark_failed(&self.db, row.id, next, &error).await?;
                let detail = json!({
                    "attempt": attempt,
                    "error": error,
                    "next_attempt_at": next.unix_timestamp(),
                });
                self.audit_delivery(row, Some(&delivery), failed, detail)
                    .await?;
                Ok(false)
            }
        }
    }

    /// Records the outcome of a back-channel delivery: which client, at which address,
    /// for whose session. The logout token itself is never recorded.
    async fn audit_delivery(
        &self,
        row: &outbox::DueMail,
        delivery: Option<&BackchannelDelivery>,
        action: &'static str,
        mut detail: serde_json::Value,
    ) -> Result<(), MailError> {
        let mut entry = AuditRecord::new(action);
        entry.target_user_id = delivery.and_then(|d| d.user_id);
        detail["uri"] = json!(row.recipient);
        if let Some(client) = delivery.and_then(|d| d.client_id.as_deref()) {
            detail["client_id"] = json!(client);
        }
        entry.detail = detail;
        audit::record(&self.db, &entry, OffsetDateTime::now_utc()).await?;
        Ok(())
    }

    fn open_backchannel(&self, row: &outbox::DueMail) -> Result<BackchannelDelivery, String> {
        let payload = row.payload.as_deref().ok_or("payload missing")?;
        let plain = self
            .sealer
            .open(row.id.as_bytes(), payload)
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&plain).map_err(|e| e.to_string())
    }

    /// OIDC Back-Channel Logout 1.0 §2.5, §2.8: `logout_token` form-posted; 200 (any
    /// 2xx here) means done.
    /// RFC 8935 §2.1: a security event is the body itself, as `application/secevent+jwt`;
    /// 202 (any 2xx here) means accepted.
    async fn post_backchannel(&self, d: &BackchannelDelivery) -> Result<(), String> {
        let request = self.http.post(&d.uri);
        let request = match d.format {
            DeliveryFormat::LogoutToken => request.form(&[("logout_token", d.token.as_str())]),
            DeliveryFormat::SecurityEvent => request
                .header(reqwest::header::CONTENT_TYPE, "application/secevent+jwt")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(d.token.clone()),
        };
        let res = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", res.status()))
        }
    }

    /// Opens and sends one mail; a mail that cannot be opened or built never will be.
    async fn send_one(&self, mail: &outbox::DueMail) -> Result<(), SendError> {
        let payload = mail
            .payload
            .as_deref()
            .ok_or_else(|| SendError::permanent("payload missing"))?;
        let plain = self
            .sealer
            .open(mail.id.as_bytes(), payload)
            .map_err(|e| SendError::permanent(e.to_string()))?;
        let content: MailContent =
            serde_json::from_slice(&plain).map_err(|e| SendError::permanent(e.to_string()))?;
        let message =
            build(&self.from, &content).map_err(|e| SendError::permanent(e.to_string()))?;
        self.transport.send(message).await
    }

    /// Runs a pass when woken and at least every second, until `stop` turns `true`; the
    /// pass under way then finishes, so nothing is left claimed (see
    /// `mail_transport::run_worker`). Await the handle to know it has stopped.
    pub fn spawn(self, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let wake = self.wake.clone();
        tokio::spawn(async move {
            mail_transport::run_worker(wake, stop, || async {
                if let Err(e) = self.deliver_due(OffsetDateTime::now_utc()).await {
                    tracing::warn!(error = %e, "mail worker pass failed");
                }
            })
            .await;
        })
    }
}

fn build(from: &Mailbox, c: &MailContent) -> Result<Message, MailError> {
    let mut b = Message::builder()
        .from(from.clone())
        .to(c.to.parse()?)
        .subject(c.subject.clone());
    for cc in &c.cc {
        b = b.cc(cc.parse()?);
    }
    Ok(b.multipart(MultiPart::alternative_plain_html(
        c.text.clone(),
        c.html.clone(),
    ))?)
}
