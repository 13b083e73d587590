//! Bad input on every field of every product's quote form gives a Dutch message under that
//! very field (from the form reader, or from the tariff's limits), and the engine is not
//! asked to price it. Pure: the forms are priced without storage, HTTP or mail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pricing::Tariffs;
use product_adapters::forms::{FieldErrors, Fields};
use product_adapters::letterhead::Letterheads;
use product_adapters::store::ProductDb;
use product_adapters::{Context, builtin_adapters};

async fn context() -> Context {
    Context {
        db: ProductDb::connect("sqlite::memory:").await.unwrap(),
        tariffs: Tariffs::builtin(),
        letterheads: Letterheads::new("http://127.0.0.1:9/api/v1").unwrap(),
        templates: web_kit::Templates::load().unwrap(),
        mail_waker: Arc::new(tokio::sync::Notify::new()),
    }
}

fn today() -> time::Date {
    time::Date::from_calendar_date(2026, time::Month::December, 3).unwrap()
}

/// What is wrong with `form`, or `None` when it prices.
fn errors(ctx: &Context, code: &str, form: &Fields) -> Option<FieldErrors> {
    let adapter = builtin_adapters()
        .into_iter()
        .find(|a| a.code() == code)
        .unwrap();
    adapter.price(ctx, form, today()).err()
}

fn demo(code: &str) -> Fields {
    let adapter = builtin_adapters()
        .into_iter()
        .find(|a| a.code() == code)
        .unwrap();
    adapter.demo_form(today()).expect("a demo form")
}

fn with(form: &Fields, name: &str, value: &str) -> Fields {
    form.clone().set(name, value)
}

#[tokio::test]
async fn every_field_of_every_form_refuses_bad_input_under_its_own_name() {
    let ctx = context().await;
    for code in ["DIP", "DIL", "ORV"] {
        let good = demo(code);
        assert_eq!(
            errors(&ctx, code, &good),
            None,
            "{code}: the demo form prices"
        );
        let adapter = builtin_adapters()
            .into_iter()
            .find(|a| a.code() == code)
            .unwrap();
        let fields = adapter.quote_form(&ctx, &good, &FieldErrors::default());
        assert!(fields.len() >= 5, "{code}");
        for field in &fields {
            let garbage = match field.kind {
                "checkbox" => continue,
                "money" => "veel geld",
                "date" => "31-02-2026",
                "number" => "twintig",
                "select" | "radio" => "iets-anders",
                _ => "\u{0007}belletje",
            };
            let e = errors(&ctx, code, &with(&good, field.name, garbage))
                .unwrap_or_else(|| panic!("{code}.{}: '{garbage}' was priced", field.name));
            let message = e.get(field.name).unwrap_or_else(|| {
                panic!("{code}.{}: no message under the field: {e:?}", field.name)
            });
            assert!(
                message.ends_with('.'),
                "{code}.{}: a Dutch sentence: {message}",
                field.name
            );
        }
    }
}

#[tokio::test]
async fn the_tariffs_limits_give_dutch_messages() {
    let ctx = context().await;
    let cases: [(&str, &str, &str, &str); 8] = [
        (
            "DIP",
            "purchase_sum",
            "1.000",
            "De koopsom is minimaal € 25.000,00.",
        ),
        (
            "DIP",
            "birth_date",
            "2000-01-01",
            "minimumleeftijd is 55 jaar",
        ),
        ("DIP", "start_date", "2020-01-01", "ingangsdatum"),
        ("DIL", "purchase_sum", "100", "koopsom"),
        ("DIL", "term_years", "3", "5"),
        ("ORV", "sum_insured", "500", "verzekerd bedrag"),
        ("ORV", "term_years", "60", "jaar"),
        ("ORV", "birth_date", "1940-01-01", "jaar"),
    ];
    for (code, field, value, expected) in cases {
        let e = errors(&ctx, code, &with(&demo(code), field, value))
            .unwrap_or_else(|| panic!("{code}.{field}={value} was priced"));
        let message = e
            .get(field)
            .unwrap_or_else(|| panic!("{code}.{field}: {e:?}"));
        assert!(
            message.to_lowercase().contains(&expected.to_lowercase()),
            "{code}.{field}={value}: {message}"
        );
    }
}

#[tokio::test]
async fn keuze_fields_are_refused_for_zeker_and_a_partner_needs_a_birth_date() {
    let ctx = context().await;
    let zeker_with_high_low = with(&demo("DIP"), "high_low_years", "10");
    let e = errors(&ctx, "DIP", &zeker_with_high_low).expect("refused");
    assert!(e.get("high_low_years").is_some(), "{e:?}");
    let no_partner_date = with(&demo("DIP"), "partner_birth_date", "");
    let e = errors(&ctx, "DIP", &no_partner_date).expect("refused");
    assert!(e.get("partner_birth_date").is_some(), "{e:?}");
}
