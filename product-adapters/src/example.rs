//! **The example of a fourth product**: a minimal adapter for an uitvaartverzekering
//! (funeral insurance, right `UVZ`), to copy when the insurer adds a product. It is
//! compiled into the portal but mounted only when the registry names `UVZ`
//! (`PORTAL_PRODUCTS_FILE`); the README walks through adding it.
//!
//! All a product must say is here: its code, its quote form, how it prices a form, how a
//! quote reads, and which dashboard lists it. Everything else — sign-in, the rights guard,
//! the quote page and PDF, applications, product mail with the head office's copy, the
//! dashboard, O7 — the portal gives every adapter. It prices with the actuarial engine on
//! the ORV tariff's mortality table and interest: a single premium S·Aₓ for a whole-life
//! sum insured S.

use pricing::actuarial;
use quote_pdf::Section;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::adapter::{Context, DashboardRow, Described, Priced, ProductAdapter, stored};
use crate::dip::json;
use crate::forms::{Field, FieldErrors, Fields, FormBuilder, Reader, date_nl, euro};
use crate::store::quotes::StoredQuote;

/// The example adapter.
pub struct Uitvaart;

/// The youngest and oldest insured, and the sum insured's bounds in cents.
const AGES: (i32, i32) = (18, 80);
const SUMS: (i64, i64) = (1_000 * 100, 25_000 * 100);

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    sum_insured: i64,
    birth_date: Date,
    start_date: Date,
}

#[derive(Debug, Serialize, Deserialize)]
struct Result {
    tariff_version: String,
    age: i32,
    single_premium: i64,
}

#[async_trait::async_trait]
impl ProductAdapter for Uitvaart {
    fn code(&self) -> &'static str {
        "UVZ"
    }

    fn form_defaults(&self, today: Date) -> Fields {
        Fields::default().with("start_date", &crate::dip::next_month(today).to_string())
    }

    fn quote_form(&self, ctx: &Context, values: &Fields, errors: &FieldErrors) -> Vec<Field> {
        FormBuilder::new(values, errors, ctx.texts(), "uvz")
            .field("client_name", "text", &[], None)
            .field(
                "sum_insured",
                "money",
                &[],
                Some(ctx.texts().text("uvz.sum_hint")),
            )
            .field("birth_date", "date", &[], None)
            .field("start_date", "date", &[], None)
            .build()
    }

    fn price(
        &self,
        ctx: &Context,
        values: &Fields,
        today: Date,
    ) -> std::result::Result<Priced, FieldErrors> {
        let mut r = Reader::new(values, ctx.texts());
        let (client_name, sum, birth, start) = (
            r.text("client_name"),
            r.money("sum_insured"),
            r.date("birth_date"),
            r.date("start_date"),
        );
        let mut errors = r.errors;
        let (Some(client_name), Some(sum_insured), Some(birth_date), Some(start_date)) =
            (client_name, sum, birth, start)
        else {
            return Err(errors);
        };
        let age = pricing::age_nearest_birthday(birth_date, start_date);
        if !(SUMS.0..=SUMS.1).contains(&sum_insured) {
            errors.add("sum_insured", ctx.texts().text("uvz.sum_hint"));
        }
        if !(AGES.0..=AGES.1).contains(&age) {
            errors.add("birth_date", ctx.texts().text("uvz.age_rule"));
        }
        if start_date < today {
            errors.add("start_date", ctx.texts().text("uvz.start_rule"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Single premium for a whole-life cover: S·Aₓ on the ORV tariff's table and interest.
        let tariff = &ctx.tariffs.orv;
        let status = tariff.survival(age.unsigned_abs(), birth_date.year(), 1.0);
        let a_x = actuarial::insurance(&status, tariff.interest());
        let single_premium = pricing::round_cents(sum_insured as f64 * a_x);
        let request = Request {
            sum_insured,
            birth_date,
            start_date,
        };
        let result = Result {
            tariff_version: tariff.version().to_owned(),
            age,
            single_premium,
        };
        Ok(Priced {
            variant: "UVZ",
            client_name,
            tariff_version: result.tariff_version.clone(),
            amount_cents: single_premium,
            request: json(&request)?,
            result: json(&result)?,
        })
    }

    fn describe(&self, ctx: &Context, quote: &StoredQuote) -> Described {
        let t = |k: &str| ctx.texts().text(k);
        let Some((req, res)) = stored::<Request, Result>(quote) else {
            return Described::unreadable(ctx, quote);
        };
        Described {
            title: format!("{} {}", t("quote.title"), t("uvz.name")),
            sections: vec![Section {
                heading: t("quote.result"),
                rows: vec![
                    (t("uvz.client_name"), quote.client_name.clone()),
                    (t("uvz.birth_date"), date_nl(req.birth_date)),
                    (t("uvz.start_date"), date_nl(req.start_date)),
                    (t("uvz.sum_insured"), euro(req.sum_insured)),
                    (t("quote.age"), format!("{} {}", res.age, t("quote.years"))),
                    (t("uvz.single_premium"), euro(res.single_premium)),
                ],
            }],
            notes: vec![t("uvz.note")],
        }
    }

    fn dashboard(&self) -> &'static str {
        "UVZ"
    }

    fn dashboard_row(&self, ctx: &Context, quote: &StoredQuote) -> DashboardRow {
        DashboardRow::amount(
            ctx,
            ctx.texts().text("uvz.name"),
            quote.amount_cents,
            "uvz.once",
        )
    }
}
