//! Direct Ingaande Lijfrente, right `DIL`: an immediate annuity bought with a lijfrente
//! capital, for a fixed term (5–30 years, from the tariff) or lifelong, with or without a
//! refund on death (SPEC §7).

use pricing::{LijfrenteQuote, LijfrenteRequest, LijfrenteTerm};
use time::Date;

use crate::adapter::{Context, DashboardRow, Described, Priced, ProductAdapter, stored};
use crate::dip::{FREQUENCIES, FREQUENCY_OPTIONS, frequency_text, json, next_month};
use crate::forms::{Field, FieldErrors, Fields, FormBuilder, Reader, date_nl, euro};
use crate::hints;
use crate::store::quotes::StoredQuote;

/// The DIL adapter.
pub(crate) struct Dil;

const TERMS: [(&str, bool); 2] = [("years", false), ("lifelong", true)];

#[async_trait::async_trait]
impl ProductAdapter for Dil {
    fn code(&self) -> &'static str {
        "DIL"
    }

    fn form_defaults(&self, today: Date) -> Fields {
        Fields::default()
            .with("term_kind", "years")
            .with("term_years", "20")
            .with("frequency", "monthly")
            .with("start_date", &next_month(today).to_string())
    }

    fn demo_form(&self, today: Date) -> Option<Fields> {
        Some(
            self.form_defaults(today)
                .set("client_name", "A. (Anne) Demo")
                .set("purchase_sum", "64.500")
                .set("birth_date", "1958-11-03"),
        )
    }

    fn quote_form(&self, ctx: &Context, values: &Fields, errors: &FieldErrors) -> Vec<Field> {
        let tariff = &ctx.tariffs.dil;
        FormBuilder::new(values, errors, ctx.texts(), "dil")
            .field("client_name", "text", &[], None)
            .field(
                "purchase_sum",
                "money",
                &[],
                hints::purchase_sum(ctx, tariff),
            )
            .field("birth_date", "date", &[], hints::age(ctx, tariff))
            .field("start_date", "date", &[], hints::start(ctx, tariff))
            .field("frequency", "select", &FREQUENCY_OPTIONS, None)
            .field(
                "term_kind",
                "radio",
                &[
                    ("years", "term_years_option"),
                    ("lifelong", "term_lifelong"),
                ],
                None,
            )
            .field("term_years", "number", &[], hints::term(ctx, tariff))
            .field(
                "refund_on_death",
                "checkbox",
                &[],
                Some(ctx.texts().text("dil.refund_hint")),
            )
            .build()
    }

    fn price(&self, ctx: &Context, values: &Fields, today: Date) -> Result<Priced, FieldErrors> {
        let mut r = Reader::new(values, ctx.texts());
        let client_name = r.text("client_name");
        let purchase_sum = r.money("purchase_sum");
        let birth_date = r.date("birth_date");
        let start_date = r.date("start_date");
        let frequency = r.choice("frequency", &FREQUENCIES);
        let lifelong = r.choice("term_kind", &TERMS);
        let term = match lifelong {
            Some(true) => Some(LijfrenteTerm::Lifelong),
            Some(false) => r.number("term_years").map(LijfrenteTerm::Years),
            None => None,
        };
        let refund_on_death = r.ticked("refund_on_death");
        let (
            Some(client_name),
            Some(purchase_sum),
            Some(birth_date),
            Some(start_date),
            Some(frequency),
            Some(term),
            true,
        ) = (
            client_name,
            purchase_sum,
            birth_date,
            start_date,
            frequency,
            term,
            r.errors.is_empty(),
        )
        else {
            return Err(r.errors);
        };
        let request = LijfrenteRequest {
            purchase_sum,
            birth_date,
            start_date,
            frequency,
            term,
            refund_on_death,
        };
        let quote =
            pricing::quote_lijfrente(&ctx.tariffs.dil, &request, today).map_err(|list| {
                // The engine speaks of the term; the form asks it as a number of years.
                let mut errors = FieldErrors::default();
                for e in list {
                    let field = if e.field == "term" {
                        "term_years"
                    } else {
                        e.field
                    };
                    errors.add(field, e.message);
                }
                errors
            })?;
        Ok(Priced {
            variant: "DIL",
            client_name,
            tariff_version: quote.tariff_version.clone(),
            amount_cents: quote.yearly_benefit,
            request: json(&request)?,
            result: json(&quote)?,
        })
    }

    fn describe(&self, ctx: &Context, quote: &StoredQuote) -> Described {
        let t = |k: &str| ctx.texts().text(k);
        let Some((req, res)) = stored::<LijfrenteRequest, LijfrenteQuote>(quote) else {
            return Described::unreadable(ctx, quote);
        };
        let term = match req.term {
            LijfrenteTerm::Years(n) => format!("{n} {}", t("quote.years")),
            LijfrenteTerm::Lifelong => t("dil.term_lifelong"),
        };
        let refund = if req.refund_on_death {
            t("quote.yes")
        } else {
            t("quote.no")
        };
        let input = vec![
            (t("dil.client_name"), quote.client_name.clone()),
            (t("dil.birth_date"), date_nl(req.birth_date)),
            (t("dil.start_date"), date_nl(req.start_date)),
            (t("dil.purchase_sum"), euro(req.purchase_sum)),
            (t("dil.frequency"), frequency_text(ctx, req.frequency)),
            (t("dil.term"), term),
            (t("dil.refund_on_death"), refund),
        ];
        let result = vec![
            (t("quote.age"), format!("{} {}", res.age, t("quote.years"))),
            (t("quote.costs"), euro(res.costs)),
            (t("quote.net_purchase_sum"), euro(res.net_purchase_sum)),
            (
                t("quote.annuity_factor"),
                format!("{:.4}", res.annuity_factor).replace('.', ","),
            ),
            (t("quote.yearly_benefit"), euro(res.yearly_benefit)),
            (
                format!(
                    "{} ({})",
                    t("quote.per_payment"),
                    frequency_text(ctx, req.frequency).to_lowercase()
                ),
                euro(res.per_payment),
            ),
        ];
        Described::inputs_and_result(
            ctx,
            format!("{} {}", t("quote.title"), t("dil.variant_dil")),
            input,
            result,
            res.notes,
        )
    }

    fn dashboard(&self) -> &'static str {
        "DIL/DIP"
    }

    fn dashboard_row(&self, ctx: &Context, quote: &StoredQuote) -> DashboardRow {
        DashboardRow::amount(
            ctx,
            ctx.texts().text("dil.variant_dil"),
            quote.amount_cents,
            "quote.per_year",
        )
    }
}
