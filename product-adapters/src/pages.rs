//! The pages every product portal has, the same for every adapter (SPEC P1–P5): the quote
//! form, the quote page and its PDF, the application form and the dashboard. They reach
//! the user only through the rights guard ([`PortalUser`]) and the quotes only through a
//! [`Scope`] taken from the same session (P4, SECURITY AC-03).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::CookieJar;
use relying_party::{Role, SignedInUser};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::adapter::Described;
use crate::application;
use crate::document;
use crate::forms::{Field, FieldErrors, Fields, date_nl};
use crate::letterhead::LetterheadError;
use crate::mail;
use crate::portal::{PortalUser, ProductPortal};
use crate::scope::Scope;
use crate::store::quotes::{self, Advisor, ListFilter, NewQuote, StoredQuote};

/// The standard pages, relative to a product's path.
pub(crate) fn routes() -> Router<ProductPortal> {
    Router::new()
        .route("/", get(crate::portal::home))
        .route("/offertes/nieuw", get(new_quote).post(create_quote))
        .route("/offertes/{id}", get(show_quote))
        .route("/offertes/{id}/pdf", get(quote_pdf))
        .route(
            "/offertes/{id}/aanvraag",
            get(application::form).post(application::submit),
        )
        .route("/dashboard", get(dashboard))
}

/// At most this many quotes per advisor in [`QUOTE_WINDOW`].
pub(crate) const QUOTE_LIMIT: i64 = 30;

/// The window of [`QUOTE_LIMIT`].
pub(crate) const QUOTE_WINDOW: time::Duration = time::Duration::minutes(10);

/// Today in the Netherlands, for start dates and ages.
pub(crate) fn today() -> time::Date {
    let now = OffsetDateTime::now_utc();
    // CET/CEST differ from UTC by at most two hours; a date is what matters here.
    (now + time::Duration::hours(1)).date()
}

#[derive(Serialize)]
struct FormPage<'a> {
    fields: Vec<Field>,
    form_error: Option<&'a str>,
}

/// The user's scope, or the page telling someone without an office that quotes are made
/// by offices.
// A refusal is a whole page; boxing it would buy nothing on this path.
#[allow(clippy::result_large_err)]
pub(crate) fn scope_of(portal: &ProductPortal, user: &SignedInUser) -> Result<Scope, Response> {
    Scope::of(user).ok_or_else(|| portal.page(StatusCode::FORBIDDEN, "portal/no_office.html", user))
}

async fn new_quote(State(portal): State<ProductPortal>, PortalUser(user): PortalUser) -> Response {
    if let Err(page) = scope_of(&portal, &user) {
        return page;
    }
    let ctx = portal.context();
    let values = portal.adapter().form_defaults(today());
    let fields = portal
        .adapter()
        .quote_form(ctx, &values, &FieldErrors::default());
    portal.render(
        StatusCode::OK,
        "portal/quote_form.html",
        &user,
        FormPage {
            fields,
            form_error: None,
        },
    )
}

async fn create_quote(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    jar: CookieJar,
    body: Bytes,
) -> Response {
    if let Err(page) = scope_of(&portal, &user) {
        return page;
    }
    let ctx = portal.context();
    let adapter = portal.adapter();
    let values = Fields::parse(&body);
    let Ok(user_id) = Uuid::parse_str(&user.subject) else {
        return portal.page(StatusCode::FORBIDDEN, "portal/no_office.html", &user);
    };
    // Each quote renders a PDF and mails up to three addresses: an advisor gets at most
    // QUOTE_LIMIT quotes per QUOTE_WINDOW, in every product, on every node (SECURITY AV).
    let now = OffsetDateTime::now_utc();
    match quotes::made_since(&ctx.db, user_id, now - QUOTE_WINDOW).await {
        Ok(n) if n >= QUOTE_LIMIT => {
            tracing::warn!(sub = %user.subject, "quote limit reached");
            let fields = adapter.quote_form(ctx, &values, &FieldErrors::default());
            let text = ctx.texts().text("quote.limit");
            let mut page = portal.render(
                StatusCode::TOO_MANY_REQUESTS,
                "portal/quote_form.html",
                &user,
                FormPage {
                    fields,
                    form_error: Some(&text),
                },
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("600"));
            return page;
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "the quote limit could not be read");
            return portal.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "portal/unavailable.html",
                &user,
            );
        }
    }
    let priced = match adapter.price(ctx, &values, today()) {
        Ok(p) => p,
        Err(errors) => {
            let fields = adapter.quote_form(ctx, &values, &errors);
            // A rule about no single field (or one the form does not show) is said above
            // the form, so no message is ever lost.
            let mut form_error = ctx.texts().text("form.fix");
            for (field, message) in &errors.0 {
                if !fields.iter().any(|f| f.name == field) {
                    form_error.push(' ');
                    form_error.push_str(message);
                }
            }
            return portal.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                "portal/quote_form.html",
                &user,
                FormPage {
                    fields,
                    form_error: Some(&form_error),
                },
            );
        }
    };
    let unavailable = |values: &Fields| {
        let fields = adapter.quote_form(ctx, values, &FieldErrors::default());
        let text = ctx.texts().text("quote.unavailable");
        portal.render(
            StatusCode::SERVICE_UNAVAILABLE,
            "portal/quote_form.html",
            &user,
            FormPage {
                fields,
                form_error: Some(&text),
            },
        )
    };
    // P2: the office as the idp knows it now, asked with this person's own token.
    let rp = portal.relying_party();
    let token = match rp.access_token(&jar).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            return rp
                .sign_in_again(jar, &format!("{}/offertes/nieuw", portal.product().path))
                .await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "no access token for the letterhead");
            return unavailable(&values);
        }
    };
    let office = match ctx.letterheads.office(&token).await {
        Ok(o) => o,
        Err(LetterheadError::Refused) => {
            return rp
                .sign_in_again(jar, &format!("{}/offertes/nieuw", portal.product().path))
                .await;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the idp did not give the office's letterhead");
            return unavailable(&values);
        }
    };
    let quote = NewQuote {
        id: Uuid::now_v7(),
        product: portal.product().code.to_string(),
        variant: priced.variant.to_owned(),
        office,
        advisor: Advisor {
            id: user_id,
            name: user.name.clone(),
            email: user.email.clone().unwrap_or_default(),
            role: user.role.as_str().to_owned(),
        },
        client_name: priced.client_name,
        tariff_version: priced.tariff_version,
        request: priced.request,
        result: priced.result,
        amount_cents: priced.amount_cents,
    };
    match mail::store_quote(&portal, &quote, now).await {
        Ok(id) => {
            ctx.mail_waker.notify_one();
            Redirect::to(&format!("{}/offertes/{id}", portal.product().path)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "a quote could not be stored");
            unavailable(&values)
        }
    }
}

#[derive(Serialize)]
struct QuotePage<'a> {
    quote: &'a StoredQuote,
    number: String,
    created: String,
    title: &'a str,
    sections: Vec<(String, Vec<(String, String)>)>,
    notes: &'a [String],
    applied: Option<String>,
    can_apply: bool,
}

/// The quote `id` of this product, if the user's scope may see it (404 otherwise: a quote
/// of another office is indistinguishable from none).
pub(crate) async fn load_quote(
    portal: &ProductPortal,
    user: &SignedInUser,
    id: &str,
) -> Result<StoredQuote, Response> {
    let scope = scope_of(portal, user)?;
    let not_found = || portal.page(StatusCode::NOT_FOUND, "portal/not_found.html", user);
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(not_found());
    };
    match quotes::get(
        &portal.context().db,
        portal.product().code.as_str(),
        id,
        &scope,
    )
    .await
    {
        Ok(Some(q)) => Ok(q),
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "a quote could not be read");
            Err(portal.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "portal/unavailable.html",
                user,
            ))
        }
    }
}

async fn show_quote(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    Path(id): Path<String>,
) -> Response {
    let quote = match load_quote(&portal, &user, &id).await {
        Ok(q) => q,
        Err(page) => return page,
    };
    let described = portal.adapter().describe(portal.context(), &quote);
    portal.render(
        StatusCode::OK,
        "portal/quote.html",
        &user,
        quote_page(&quote, &described),
    )
}

fn quote_page<'a>(quote: &'a StoredQuote, d: &'a Described) -> QuotePage<'a> {
    QuotePage {
        quote,
        number: quote.number(),
        created: date_nl(quote.created_at.date()),
        title: &d.title,
        sections: d
            .sections
            .iter()
            .map(|s| (s.heading.clone(), s.rows.clone()))
            .collect(),
        notes: &d.notes,
        applied: quote
            .application
            .as_ref()
            .map(|a| date_nl(a.created_at.date())),
        can_apply: quote.application.is_none() && application::start_open(quote, today()),
    }
}

async fn quote_pdf(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    Path(id): Path<String>,
) -> Response {
    let quote = match load_quote(&portal, &user, &id).await {
        Ok(q) => q,
        Err(page) => return page,
    };
    // A PDF is CPU work: off the async runtime.
    let rendering = portal.clone();
    let number = quote.number();
    let rendered = tokio::task::spawn_blocking(move || document::quote_pdf(&rendering, &quote))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match rendered {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("inline; filename=\"offerte-{number}.pdf\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a quote PDF could not be rendered");
            portal.page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "portal/unavailable.html",
                &user,
            )
        }
    }
}

/// The dashboard's query: `soort` (offertes, aanvragen), `zoek`, `kantoor`, `pagina`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DashboardQuery {
    #[serde(default)]
    soort: String,
    #[serde(default)]
    zoek: String,
    #[serde(default)]
    kantoor: String,
    #[serde(default)]
    pagina: String,
}

/// Rows a dashboard page shows.
const DASHBOARD_PAGE: u32 = 25;

#[derive(Serialize)]
struct DashboardLine {
    number: String,
    href: String,
    created: String,
    office: String,
    advisor: String,
    client: String,
    product: String,
    figure: String,
    applied: bool,
}

#[derive(Serialize)]
struct DashboardPage {
    rows: Vec<DashboardLine>,
    soort: String,
    zoek: String,
    kantoor: String,
    offices: Vec<(String, String)>,
    page: u32,
    prev: Option<String>,
    next: Option<String>,
    sees_tree: bool,
}

async fn dashboard(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    Query(q): Query<DashboardQuery>,
) -> Response {
    let scope = match scope_of(&portal, &user) {
        Ok(s) => s,
        Err(page) => return page,
    };
    let ctx = portal.context();
    // P1 and P4: the dashboard's products that this person holds a right for.
    let products: Vec<_> = portal
        .dashboard_products()
        .iter()
        .filter(|(p, _)| user.has_right(&p.code))
        .collect();
    let page = q.pagina.parse::<u32>().unwrap_or(1).clamp(1, 10_000);
    let applied = match q.soort.as_str() {
        "offertes" => Some(false),
        "aanvragen" => Some(true),
        _ => None,
    };
    let office_id = Uuid::parse_str(q.kantoor.trim()).ok();
    let filter = ListFilter {
        products: products.iter().map(|(p, _)| p.code.to_string()).collect(),
        applied,
        search: Some(q.zoek.clone()),
        office_id,
        page,
        limit: DASHBOARD_PAGE,
    };
    let listed = match quotes::list(&ctx.db, &filter, &scope).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "a dashboard could not be read");
            return portal.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "portal/unavailable.html",
                &user,
            );
        }
    };
    let rows = listed
        .quotes
        .iter()
        .filter_map(|quote| {
            let (product, adapter) = products
                .iter()
                .find(|(p, _)| p.code.as_str() == quote.product)?;
            let row = adapter.dashboard_row(ctx, quote);
            let path = &product.path;
            Some(DashboardLine {
                number: quote.number(),
                href: format!("{path}/offertes/{}", quote.id),
                created: date_nl(quote.created_at.date()),
                office: format!("{} ({})", quote.office.name, quote.office.number),
                advisor: quote.advisor.name.clone(),
                client: quote.client_name.clone(),
                product: row.product,
                figure: row.figure,
                applied: quote.application.is_some(),
            })
        })
        .collect();
    let link = |p: u32| {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("soort", &q.soort)
            .append_pair("zoek", &q.zoek)
            .append_pair("kantoor", &q.kantoor)
            .append_pair("pagina", &p.to_string())
            .finish();
        format!("{}/dashboard?{query}", portal.product().path)
    };
    let sees_tree = matches!(scope, Scope::Tree(_));
    let offices = if sees_tree {
        quotes::offices(&ctx.db, &filter.products, &scope)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect()
    } else {
        Vec::new()
    };
    portal.render(
        StatusCode::OK,
        "portal/dashboard.html",
        &user,
        DashboardPage {
            rows,
            soort: q.soort.clone(),
            zoek: q.zoek.clone(),
            kantoor: q.kantoor.clone(),
            offices,
            page,
            prev: (page > 1).then(|| link(page - 1)),
            next: listed.more.then(|| link(page + 1)),
            sees_tree,
        },
    )
}

/// Whether `role` is an employee (P3: their product mail is copied to the head office).
pub(crate) fn is_employee(role: &str) -> bool {
    role == Role::Employee.as_str()
}
