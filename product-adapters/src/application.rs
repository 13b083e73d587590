//! An application ("aanvraag") made from a quote (SPEC P5): the policyholder's details are
//! asked, the quote's figures are kept unchanged, and a confirmation goes out as product
//! mail (P2, P3). One application per quote; not once the quote's start date has passed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::forms::{Field, FieldErrors, Fields, FormBuilder, Reader};
use crate::mail;
use crate::pages::{load_quote, today};
use crate::portal::{PortalUser, ProductPortal};
use crate::store::StoreError;
use crate::store::quotes::{NewApplication, StoredQuote};

/// Whether an application can still be made from `quote` on `today`: its start date has
/// not passed.
pub fn start_open(quote: &StoredQuote, today: Date) -> bool {
    quote
        .request
        .get("start_date")
        .and_then(|v| serde_json::from_value::<Date>(v.clone()).ok())
        .is_some_and(|start| start >= today)
}

#[derive(Serialize)]
struct ApplicationPage<'a> {
    number: String,
    quote_href: String,
    client: &'a str,
    fields: Vec<Field>,
    form_error: Option<String>,
}

fn fields(portal: &ProductPortal, values: &Fields, errors: &FieldErrors) -> Vec<Field> {
    FormBuilder::new(values, errors, portal.context().texts(), "application")
        .field("applicant_name", "text", &[], None)
        .field("applicant_address", "text", &[], None)
        .field("applicant_postcode", "text", &[], None)
        .field("applicant_city", "text", &[], None)
        .field("applicant_iban", "text", &[], None)
        .field("declaration", "checkbox", &[], None)
        .build()
}

fn page(
    portal: &ProductPortal,
    user: &relying_party::SignedInUser,
    quote: &StoredQuote,
    status: StatusCode,
    values: &Fields,
    errors: &FieldErrors,
    form_error: Option<String>,
) -> Response {
    portal.render(
        status,
        "portal/application_form.html",
        user,
        ApplicationPage {
            number: quote.number(),
            quote_href: format!("{}/offertes/{}", portal.product().path, quote.id),
            client: &quote.client_name,
            fields: fields(portal, values, errors),
            form_error,
        },
    )
}

/// Refuses an application that cannot be made: one exists, or the start date passed.
fn closed(
    portal: &ProductPortal,
    user: &relying_party::SignedInUser,
    quote: &StoredQuote,
) -> Option<Response> {
    if quote.application.is_some() || !start_open(quote, today()) {
        let href = format!("{}/offertes/{}", portal.product().path, quote.id);
        return Some(portal.render(
            StatusCode::CONFLICT,
            "portal/application_closed.html",
            user,
            ApplicationClosed {
                quote_href: href,
                applied: quote.application.is_some(),
            },
        ));
    }
    None
}

#[derive(Serialize)]
struct ApplicationClosed {
    quote_href: String,
    applied: bool,
}

/// `GET offertes/{id}/aanvraag`.
pub(crate) async fn form(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    Path(id): Path<String>,
) -> Response {
    let quote = match load_quote(&portal, &user, &id).await {
        Ok(q) => q,
        Err(page) => return page,
    };
    if let Some(refused) = closed(&portal, &user, &quote) {
        return refused;
    }
    let values = Fields::default().with("applicant_name", &quote.client_name);
    page(
        &portal,
        &user,
        &quote,
        StatusCode::OK,
        &values,
        &FieldErrors::default(),
        None,
    )
}

/// `POST offertes/{id}/aanvraag`.
pub(crate) async fn submit(
    State(portal): State<ProductPortal>,
    PortalUser(user): PortalUser,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let quote = match load_quote(&portal, &user, &id).await {
        Ok(q) => q,
        Err(page) => return page,
    };
    if let Some(refused) = closed(&portal, &user, &quote) {
        return refused;
    }
    let ctx = portal.context();
    let values = Fields::parse(&body);
    let mut r = Reader::new(&values, ctx.texts());
    let name = r.text("applicant_name");
    let address = r.text("applicant_address");
    let postcode = r.text("applicant_postcode").and_then(|p| {
        let p = normalise_postcode(&p);
        if p.is_none() {
            r.errors
                .add("applicant_postcode", ctx.texts().text("form.postcode"));
        }
        p
    });
    let city = r.text("applicant_city");
    let iban = r.text("applicant_iban").and_then(|i| {
        let i = normalise_iban(&i);
        if i.is_none() {
            r.errors
                .add("applicant_iban", ctx.texts().text("form.iban"));
        }
        i
    });
    if !r.ticked("declaration") {
        r.errors.add(
            "declaration",
            ctx.texts().text("application.declaration_required"),
        );
    }
    let (Some(name), Some(address), Some(postcode), Some(city), Some(iban), true) =
        (name, address, postcode, city, iban, r.errors.is_empty())
    else {
        let errors = r.errors;
        return page(
            &portal,
            &user,
            &quote,
            StatusCode::UNPROCESSABLE_ENTITY,
            &values,
            &errors,
            Some(ctx.texts().text("form.fix")),
        );
    };
    let Ok(user_id) = Uuid::parse_str(&user.subject) else {
        return portal.page(StatusCode::FORBIDDEN, "portal/no_office.html", &user);
    };
    let application = NewApplication {
        id: Uuid::now_v7(),
        quote_id: quote.id,
        product: quote.product.clone(),
        applicant_name: name,
        applicant_address: address,
        applicant_postcode: postcode,
        applicant_city: city,
        applicant_iban: iban,
        // P5: the quote's figures, as quoted.
        result: quote.result.clone(),
        user_id,
        user_name: user.name.clone(),
    };
    match mail::store_application(&portal, &quote, &application, OffsetDateTime::now_utc()).await {
        Ok(()) => {
            ctx.mail_waker.notify_one();
            Redirect::to(&format!("{}/offertes/{}", portal.product().path, quote.id))
                .into_response()
        }
        // Applied for at the same moment in another tab: nothing of this one was stored.
        Err(StoreError::Conflict(_)) => closed(
            &portal,
            &user,
            &StoredQuote {
                application: None,
                ..quote.clone()
            },
        )
        .unwrap_or_else(|| {
            portal.page(
                StatusCode::CONFLICT,
                "portal/application_closed.html",
                &user,
            )
        }),
        Err(e) => {
            tracing::error!(error = %e, "an application could not be stored");
            page(
                &portal,
                &user,
                &quote,
                StatusCode::SERVICE_UNAVAILABLE,
                &values,
                &FieldErrors::default(),
                Some(ctx.texts().text("quote.unavailable")),
            )
        }
    }
}

/// `1234ab` / `1234 AB` → `1234 AB`; `None` when it is no Dutch postcode.
pub fn normalise_postcode(text: &str) -> Option<String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (digits, letters) = t.split_at_checked(4)?;
    let ok = digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
        && letters.len() == 2
        && letters.chars().all(|c| c.is_ascii_alphabetic());
    ok.then(|| format!("{digits} {}", letters.to_ascii_uppercase()))
}

/// An IBAN with a valid ISO 13616 check (mod 97), printed in groups of four; `None`
/// otherwise.
pub fn normalise_iban(text: &str) -> Option<String> {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&t.len())
        || !t.chars().all(|c| c.is_ascii_alphanumeric())
        || !t[..2].chars().all(|c| c.is_ascii_alphabetic())
        || !t[2..4].chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let rearranged = format!("{}{}", &t[4..], &t[..4]);
    let mut rest: u32 = 0;
    for c in rearranged.chars() {
        let v = c.to_digit(36)?;
        rest = if v >= 10 {
            (rest * 100 + v) % 97
        } else {
            (rest * 10 + v) % 97
        };
    }
    if rest != 1 {
        return None;
    }
    let groups: Vec<String> = t
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Some(groups.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_postcodes() {
        assert_eq!(normalise_postcode("1234ab").as_deref(), Some("1234 AB"));
        assert_eq!(normalise_postcode(" 5611 eb ").as_deref(), Some("5611 EB"));
        for bad in [
            "", "0123 AB", "123 AB", "1234 A", "1234 ABC", "ABCD EF", "1234 1B",
        ] {
            assert_eq!(normalise_postcode(bad), None, "{bad}");
        }
    }

    #[test]
    fn ibans_with_their_check_digits() {
        assert_eq!(
            normalise_iban("nl91abna0417164300").as_deref(),
            Some("NL91 ABNA 0417 1643 00")
        );
        assert_eq!(
            normalise_iban("NL91 ABNA 0417 1643 01"),
            None,
            "check digits"
        );
        assert_eq!(normalise_iban("NL91"), None);
        assert_eq!(normalise_iban("NL91 ABNA 0417 1643 0!"), None);
    }
}
