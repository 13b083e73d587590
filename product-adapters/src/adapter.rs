//! The plugin contract every product implements ([`ProductAdapter`]) and what an adapter
//! gets to work with ([`Context`]).

use std::sync::Arc;

use axum::Router;
use pricing::Tariffs;
use quote_pdf::Section;
use serde::Serialize;
use time::Date;
use tokio::sync::Notify;
use uuid::Uuid;
use web_kit::Templates;
use web_kit::texts::Texts;

use crate::forms::{Field, FieldErrors, Fields};
use crate::letterhead::Letterheads;
use crate::portal::ProductPortal;
use crate::store::ProductDb;
use crate::store::quotes::{self, StoredQuote};

/// What every adapter works with: the products' store, the tariffs, the idp's letterhead
/// route, the templates and the mail worker's wake-up call.
pub struct Context {
    /// Quotes, applications, product mail.
    pub db: ProductDb,
    /// The tariffs in force (loaded at start; a quote records the version it used).
    pub tariffs: Tariffs,
    /// The idp's `me/office` route.
    pub letterheads: Letterheads,
    /// Pages, mails, Dutch texts.
    pub templates: Templates,
    /// Wakes the product mail worker after a mail is queued.
    pub mail_waker: Arc<Notify>,
}

impl Context {
    /// The Dutch texts.
    pub fn texts(&self) -> &Texts {
        self.templates.texts()
    }
}

/// A priced quote, ready to store.
#[derive(Debug, Clone)]
pub struct Priced {
    /// What was quoted within the product (`DIZP`, `DIKP`, `DIL`, ...).
    pub variant: &'static str,
    /// The insured's name.
    pub client_name: String,
    /// The tariff version that priced it.
    pub tariff_version: String,
    /// The priced request (JSON).
    pub request: serde_json::Value,
    /// The engine's answer (JSON).
    pub result: serde_json::Value,
    /// The headline figure in cents (benefit a year, premium a month).
    pub amount_cents: i64,
}

/// A quote as people read it: on its page, in its PDF and in its mail.
#[derive(Debug, Clone, Default)]
pub struct Described {
    /// The title: "Offerte Direct Ingaand Zeker Pensioen".
    pub title: String,
    /// Inputs and results, by section.
    pub sections: Vec<Section>,
    /// The engine's notes (table source, assumptions), printed as footnotes.
    pub notes: Vec<String>,
}

/// One row of a dashboard, beside the columns every row has (number, date, office,
/// advisor, insured, status).
#[derive(Debug, Clone, Serialize)]
pub struct DashboardRow {
    /// What was quoted: "Zeker Pensioen".
    pub product: String,
    /// The headline figure: "€ 12.345,67 per jaar".
    pub figure: String,
}

impl DashboardRow {
    /// A row of `product` showing `cents` followed by the text `per` ("per jaar").
    pub fn amount(ctx: &Context, product: String, cents: i64, per: &str) -> Self {
        Self {
            product,
            figure: format!("{} {}", crate::forms::euro(cents), ctx.texts().text(per)),
        }
    }
}

/// A stored quote's request and result, as the adapter's own types; `None` when they no
/// longer read (see [`Described::unreadable`]).
pub fn stored<Req, Res>(quote: &StoredQuote) -> Option<(Req, Res)>
where
    Req: serde::de::DeserializeOwned,
    Res: serde::de::DeserializeOwned,
{
    let req = serde_json::from_value(quote.request.clone()).ok()?;
    let res = serde_json::from_value(quote.result.clone()).ok()?;
    Some((req, res))
}

/// A product could not say whether an office holds quotes.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QuoteLookupError(pub String);

/// The contract every product implements to plug into the portal (SPEC §1, "Products are
/// plugins").
///
/// An adapter is found by its registry code; the registry entry supplies name, path and
/// OIDC client. The portal gives every adapter the same pages, all behind the rights
/// guard (P1): start page, quote form (`offertes/nieuw`), quote page and its PDF, the
/// application form (`offertes/{id}/aanvraag`) and the dashboard of its group (P4), plus
/// the relying party's sign-in, callback, logout and **back-channel logout** receiver
/// (`auth/backchannel-logout`, SECURITY RP-03), and the O7 endpoint for an idp in another
/// process (`internal/quotes`).
///
/// **Rights events** reach every adapter through that same receiver: when the idp takes a
/// right from a person or an office, or deactivates either, it sends the person's portals
/// a logout token; the portal ends those sessions, and the next request signs in again
/// (silently while the idp session lasts) with the new rights, which the guard checks
/// (P1, O6). Should a delivery be lost, the guard's periodic re-check with the idp ends the
/// session once its access token expires. What differs per product is below.
#[async_trait::async_trait]
pub trait ProductAdapter: Send + Sync + 'static {
    /// The right code of the registry entry this adapter serves, e.g. `DIP`.
    fn code(&self) -> &'static str;

    /// Pages beyond the standard ones, relative to the product's path; behind the guard.
    fn routes(&self) -> Router<ProductPortal> {
        Router::new()
    }

    /// The quote form's fields, filled with `values` and `errors`.
    fn quote_form(&self, ctx: &Context, values: &Fields, errors: &FieldErrors) -> Vec<Field>;

    /// Values the empty quote form starts with.
    fn form_defaults(&self, today: Date) -> Fields {
        let _ = today;
        Fields::default()
    }

    /// A filled-in quote form for the demo data (`portal serve --demo`), if the product
    /// has one.
    fn demo_form(&self, today: Date) -> Option<Fields> {
        let _ = today;
        None
    }

    /// Prices a submitted quote form with the tariff in force. Every problem is reported
    /// at once, each under its field, in Dutch; nothing is stored then.
    fn price(&self, ctx: &Context, values: &Fields, today: Date) -> Result<Priced, FieldErrors>;

    /// The quote for people: its page, PDF and mail.
    fn describe(&self, ctx: &Context, quote: &StoredQuote) -> Described;

    /// The dashboard that lists this product's quotes: products sharing one are listed
    /// together (DIL and DIP: "DIL/DIP Dashboard"); ORV has its own (SPEC P4).
    fn dashboard(&self) -> &'static str;

    /// Its dashboard row.
    fn dashboard_row(&self, ctx: &Context, quote: &StoredQuote) -> DashboardRow;

    /// **Quote existence (SPEC O7)**: whether `office_id` (or one of its users) ever made
    /// a quote in this product, asked by the idp before it deletes a sub-office. `Err`
    /// means "cannot say" and refuses the deletion (fail closed). The default asks the
    /// shared quote store; an adapter that keeps its quotes elsewhere overrides it.
    async fn has_quotes(&self, ctx: &Context, office_id: Uuid) -> Result<bool, QuoteLookupError> {
        quotes::office_has_quotes(&ctx.db, self.code(), office_id)
            .await
            .map_err(|e| QuoteLookupError(e.to_string()))
    }
}

impl Described {
    /// The usual reading of a quote: "Uw gegevens" (the inputs) and "Uitkomst" (the
    /// figures), with the engine's notes.
    pub fn inputs_and_result(
        ctx: &Context,
        title: String,
        input: Vec<(String, String)>,
        result: Vec<(String, String)>,
        notes: Vec<String>,
    ) -> Self {
        Self {
            title,
            sections: vec![
                Section {
                    heading: ctx.texts().text("quote.input"),
                    rows: input,
                },
                Section {
                    heading: ctx.texts().text("quote.result"),
                    rows: result,
                },
            ],
            notes,
        }
    }

    /// What a quote whose stored JSON no longer reads (a bug, or a tariff format changed
    /// without a migration) shows instead of failing the page.
    pub fn unreadable(ctx: &Context, quote: &StoredQuote) -> Self {
        tracing::error!(quote = %quote.id, "a stored quote could not be read back");
        Self {
            title: ctx.texts().text("quote.title"),
            sections: Vec::new(),
            notes: vec![ctx.texts().text("quote.unreadable")],
        }
    }
}
