//! Product mail (SPEC P2, P3): a quote or application confirmation goes to the quoting
//! office's e-mail (and to the advisor who made it, when that is another address), with a
//! copy to the head office when the office is a sub-office or the advisor an employee.
//! Security mail is the idp's and is never copied. The mail is queued in the same
//! transaction as the quote or application, and [`ProductMailer`] delivers it through SMTP
//! (or as `.eml` files when no SMTP server is set), retrying with back-off; nothing of a
//! mail's content is logged.

use std::sync::Arc;

use base64::Engine;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::adapter::Described;
use crate::document;
use crate::forms::date_nl;
use crate::pages::is_employee;
use crate::portal::ProductPortal;
use crate::store::outbox::{self, NewProductMail, ProductMail};
use crate::store::quotes::{self, Advisor, NewApplication, NewQuote, OfficeSnapshot, StoredQuote};
use crate::store::{ProductDb, StoreError};

/// Why product mail could not be composed or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template did not render.
    #[error(transparent)]
    Template(#[from] web_kit::TemplateError),
    /// The transport refused its configuration.
    #[error(transparent)]
    Transport(#[from] mail_transport::TransportError),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// P2, P3: who receives a product mail about a quote of `office` made by `advisor`.
pub fn recipients(office: &OfficeSnapshot, advisor: &Advisor) -> (Vec<String>, Vec<String>) {
    let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    let mut to = vec![office.email.clone()];
    if !advisor.email.is_empty() && !same(&advisor.email, &office.email) {
        to.push(advisor.email.clone());
    }
    let copied = office.kind == "sub_office" || is_employee(&advisor.role);
    let cc = if copied && !to.iter().any(|t| same(t, &office.head_office_email)) {
        vec![office.head_office_email.clone()]
    } else {
        Vec::new()
    };
    (to, cc)
}

#[derive(Serialize)]
struct MailContext<'a> {
    product: &'a str,
    number: &'a str,
    title: &'a str,
    client: &'a str,
    office: &'a OfficeSnapshot,
    advisor: &'a str,
    date: String,
    url: String,
    sections: Vec<(String, Vec<(String, String)>)>,
    notes: &'a [String],
}

fn compose(
    portal: &ProductPortal,
    template: &str,
    quote: &StoredQuote,
    described: &Described,
    attach: bool,
) -> Result<ProductMail, StoreError> {
    let ctx = portal.context();
    let number = quote.number();
    let mctx = MailContext {
        product: &portal.product().name,
        number: &number,
        title: &described.title,
        client: &quote.client_name,
        office: &quote.office,
        advisor: &quote.advisor.name,
        date: date_nl(quote.created_at.date()),
        url: format!("{}/offertes/{}", portal.public_base(), quote.id),
        sections: described
            .sections
            .iter()
            .map(|s| (s.heading.clone(), s.rows.clone()))
            .collect(),
        notes: &described.notes,
    };
    let render = |name: &str| {
        ctx.templates
            .render(&format!("mail/{template}.{name}"), &mctx)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let (to, cc) = recipients(&quote.office, &quote.advisor);
    let attachment = if attach {
        let pdf = document::render(ctx.texts(), quote, described.clone())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Some(base64::engine::general_purpose::STANDARD.encode(pdf))
    } else {
        None
    };
    Ok(ProductMail {
        to,
        cc,
        // A subject is one line: CR/LF never reach a header (SECURITY IO-05).
        subject: render("subject.txt")?
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" "),
        text: render("txt")?,
        html: render("html")?,
        attachment_name: attachment.as_ref().map(|_| format!("offerte-{number}.pdf")),
        attachment,
    })
}

/// Stores a new quote with its mail (the PDF attached) in one transaction; returns its id.
/// The number is drawn first, and the mail and PDF are rendered off the async runtime and
/// outside the transaction.
pub async fn store_quote(
    portal: &ProductPortal,
    quote: &NewQuote,
    now: OffsetDateTime,
) -> Result<Uuid, StoreError> {
    let ctx = portal.context();
    let seq = quotes::next_number(&ctx.db, &quote.product).await?;
    let stored = StoredQuote {
        id: quote.id,
        product: quote.product.clone(),
        variant: quote.variant.clone(),
        seq,
        office: quote.office.clone(),
        advisor: quote.advisor.clone(),
        client_name: quote.client_name.clone(),
        tariff_version: quote.tariff_version.clone(),
        request: quote.request.clone(),
        result: quote.result.clone(),
        amount_cents: quote.amount_cents,
        created_at: crate::store::at(now),
        application: None,
    };
    let rendering = portal.clone();
    let mail = tokio::task::spawn_blocking(move || {
        let described = rendering.adapter().describe(rendering.context(), &stored);
        compose(&rendering, "quote", &stored, &described, true)
    })
    .await
    .map_err(|e| StoreError::Corrupt(e.to_string()))??;
    let row = NewProductMail {
        id: Uuid::now_v7(),
        kind: "quote",
        mail,
    };
    quotes::create(&ctx.db, quote, seq, Some(&row), now).await?;
    Ok(quote.id)
}

/// Stores an application with its confirmation mail in one transaction.
pub async fn store_application(
    portal: &ProductPortal,
    quote: &StoredQuote,
    application: &NewApplication,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let ctx = portal.context();
    let described = portal.adapter().describe(ctx, quote);
    let mail = NewProductMail {
        id: Uuid::now_v7(),
        kind: "application",
        mail: compose(portal, "application", quote, &described, false)?,
    };
    quotes::apply(&ctx.db, application, &mail, now).await
}

pub use mail_transport::{SendError, Transport, backoff};

/// Delivers due product mail.
#[derive(Clone)]
pub struct ProductMailer {
    db: ProductDb,
    transport: Transport,
    from: Mailbox,
    wake: Arc<Notify>,
}

impl ProductMailer {
    /// A mailer over the product outbox of `db`, woken by `wake`.
    pub fn new(db: ProductDb, transport: Transport, from: Mailbox, wake: Arc<Notify>) -> Self {
        Self {
            db,
            transport,
            from,
            wake,
        }
    }

    /// One pass: sends the due mails in the order they were queued; returns how many
    /// went. A mail the server may still take waits for its retry and holds the ones
    /// after it; one refused for good is given up (the reason stays on its row).
    pub async fn deliver_due(&self, now: OffsetDateTime) -> Result<usize, MailError> {
        let mut sent = 0;
        for row in outbox::due(&self.db, now, 50).await? {
            if !outbox::claim(&self.db, row.id, now, now + mail_transport::CLAIM_LEASE).await? {
                // Another worker is sending this one: the ones after it wait for it.
                break;
            }
            match self.send_one(&row).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, row.id, OffsetDateTime::now_utc()).await?;
                    tracing::info!(mail = %row.id, kind = %row.kind, "product mail delivered");
                    sent += 1;
                }
                Err(error) if error.permanent => {
                    tracing::warn!(mail = %row.id, kind = %row.kind, %error, "product mail refused for good; given up");
                    outbox::abandon(&self.db, row.id, OffsetDateTime::now_utc(), &error.message)
                        .await?;
                }
                Err(error) => {
                    let next = OffsetDateTime::now_utc() + backoff(row.attempts);
                    tracing::warn!(mail = %row.id, kind = %row.kind, attempts = row.attempts + 1, %error, "product mail not delivered; will retry");
                    outbox::mark_failed(&self.db, row.id, next, &error.message).await?;
                    break;
                }
            }
        }
        Ok(sent)
    }

    /// Sends one mail; one that cannot be read or built never will be.
    async fn send_one(&self, row: &outbox::DueMail) -> Result<(), SendError> {
        let payload = row
            .payload
            .as_deref()
            .ok_or_else(|| SendError::permanent("payload missing"))?;
        let mail: ProductMail =
            serde_json::from_str(payload).map_err(|e| SendError::permanent(e.to_string()))?;
        let message = build(&self.from, &mail).map_err(SendError::permanent)?;
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
                    tracing::warn!(error = %e, "product mail worker pass failed");
                }
            })
            .await;
        })
    }
}

fn build(from: &Mailbox, m: &ProductMail) -> Result<Message, String> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(m.subject.clone());
    for to in &m.to {
        b = b.to(to.parse::<Mailbox>().map_err(|e| e.to_string())?);
    }
    for cc in &m.cc {
        b = b.cc(cc.parse::<Mailbox>().map_err(|e| e.to_string())?);
    }
    let body = MultiPart::alternative_plain_html(m.text.clone(), m.html.clone());
    let message = match (&m.attachment, &m.attachment_name) {
        (Some(data), Some(name)) => {
            let pdf = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| e.to_string())?;
            let part: SinglePart = Attachment::new(name.clone()).body(
                pdf,
                ContentType::parse("application/pdf").map_err(|e| e.to_string())?,
            );
            b.multipart(MultiPart::mixed().multipart(body).singlepart(part))
        }
        _ => b.multipart(body),
    };
    message.map_err(|e| e.to_string())
}
