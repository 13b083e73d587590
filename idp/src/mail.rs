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
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use uuid::Uuid;
use web_kit::Templates;

use crate::crypto::{CryptoError, Sealer};
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

/// A back-channel logout delivery, as sealed into the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackchannelDelivery {
    /// The client's registered `backchannel_logout_uri`.
    pub uri: String,
    /// The signed logout token.
    pub token: String,
    /// The token's `exp` (Unix time): after it the delivery is abandoned.
    pub expires_at: i64,
}

/// Seals a back-channel delivery into an outbox row.
pub fn seal_backchannel(sealer: &Sealer, d: &BackchannelDelivery) -> Result<NewMail, MailError> {
    let id = Uuid::now_v7();
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(d)?);
    Ok(NewMail {
        id,
        kind: BACKCHANNEL_KIND,
        recipient: d.uri.clone(),
        payload: sealer.seal(id.as_bytes(), &plain)?,
    })
}

pub use mail_transport::{Transport, backoff};

/// Delivers due mails from the outbox.
#[derive(Clone)]
pub struct Mailer {
    db: Db,
    sealer: Arc<Sealer>,
    transport: Transport,
    from: Mailbox,
    wake: Arc<Notify>,
    http: reqwest::Client,
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
        })
    }

    /// A handle to wake the worker after queueing a mail.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// One pass: claims and sends every due mail in order. Returns how many were sent.
    pub async fn deliver_due(&self, now: OffsetDateTime) -> Result<usize, MailError> {
        let mut sent = 0;
        for mail in outbox::due(&self.db, now, 50).await? {
            if !outbox::claim(&self.db, mail.id, now, now + Duration::minutes(2)).await? {
                continue;
            }
            if mail.kind == BACKCHANNEL_KIND {
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
                Err(error) => {
                    let next = OffsetDateTime::now_utc() + backoff(mail.attempts);
                    tracing::warn!(mail = %mail.id, kind = %mail.kind, attempts = mail.attempts + 1, %error, "mail not delivered; will retry");
                    outbox::mark_failed(&self.db, mail.id, next, &error).await?;
                    // Keep the order: a later mail waits while an earlier one cannot go.
                    break;
                }
            }
        }
        Ok(sent)
    }

    /// One back-channel delivery: `true` when the client accepted it. A failure is
    /// retried with back-off until the token expires, then abandoned.
    async fn deliver_backchannel(&self, row: &outbox::DueMail) -> Result<bool, MailError> {
        let now = OffsetDateTime::now_utc();
        let delivery = self.open_backchannel(row);
        let error = match &delivery {
            Ok(d) if d.expires_at <= now.unix_timestamp() => {
                outbox::abandon(&self.db, row.id, now, "logout token expired").await?;
                tracing::warn!(delivery = %row.id, uri = %row.recipient, "back-channel logout abandoned: token expired");
                return Ok(false);
            }
            Ok(d) => match self.post_backchannel(d).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, row.id, now).await?;
                    tracing::info!(delivery = %row.id, uri = %row.recipient, "back-channel logout delivered");
                    return Ok(true);
                }
                Err(e) => e,
            },
            Err(e) => {
                outbox::abandon(&self.db, row.id, now, e).await?;
                return Ok(false);
            }
        };
        tracing::warn!(delivery = %row.id, uri = %row.recipient, attempts = row.attempts + 1, %error, "back-channel logout not delivered; will retry");
        outbox::mark_failed(&self.db, row.id, now + backoff(row.attempts), &error).await?;
        Ok(false)
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
    async fn post_backchannel(&self, d: &BackchannelDelivery) -> Result<(), String> {
        let res = self
            .http
            .post(&d.uri)
            .form(&[("logout_token", d.token.as_str())])
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", res.status()))
        }
    }

    async fn send_one(&self, mail: &outbox::DueMail) -> Result<(), String> {
        let payload = mail.payload.as_deref().ok_or("payload missing")?;
        let plain = self
            .sealer
            .open(mail.id.as_bytes(), payload)
            .map_err(|e| e.to_string())?;
        let content: MailContent = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        let message = build(&self.from, &content).map_err(|e| e.to_string())?;
        self.transport.send(message).await
    }

    /// Runs until the process ends: a pass when woken, and at least every second.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.deliver_due(OffsetDateTime::now_utc()).await {
                    tracing::warn!(error = %e, "mail worker pass failed");
                }
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(1), self.wake.notified())
                        .await;
            }
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
