//! Overlijdensrisicoverzekering, right `ORV`: term life cover, level, linearly decreasing
//! or annuity-decreasing, with a monthly premium by the equivalence principle (SPEC §7).
//! Only head offices and their people hold it (O4), and it has its own quote list (P4).

use pricing::{Cover, TermLifeQuote, TermLifeRequest};
use time::Date;

use crate::adapter::{Context, DashboardRow, Described, Priced, ProductAdapter, stored};
use crate::dip::{json, next_month};
use crate::forms::{Field, FieldErrors, Fields, FormBuilder, Reader, date_nl, euro};
use crate::hints;
use crate::store::quotes::StoredQuote;

/// The ORV adapter.
pub(crate) struct Orv;

const COVERS: [(&str, Cover); 3] = [
    ("level", Cover::Level),
    ("linear", Cover::LinearDecreasing),
    ("annuity", Cover::AnnuityDecreasing),
];
const SMOKER: [(&str, bool); 2] = [("nee", false), ("ja", true)];

#[async_trait::async_trait]
impl ProductAdapter for Orv {
    fn code(&self) -> &'static str {
        "ORV"
    }

    fn form_defaults(&self, today: Date) -> Fields {
        Fields::default()
            .with("cover", "level")
            .with("smoker", "nee")
            .with("term_years", "20")
            .with("start_date", &next_month(today).to_string())
    }

    fn demo_form(&self, today: Date) -> Option<Fields> {
        Some(
            self.form_defaults(today)
                .set("client_name", "K. (Kees) Proef")
                .set("sum_insured", "300.000")
                .set("birth_date", "1988-02-14")
                .set("cover", "annuity"),
        )
    }

    fn quote_form(&self, ctx: &Context, values: &Fields, errors: &FieldErrors) -> Vec<Field> {
        let tariff = &ctx.tariffs.orv;
        FormBuilder::new(values, errors, ctx.texts(), "orv")
            .field("client_name", "text", &[], None)
            .field("sum_insured", "money", &[], hints::sum_insured(ctx, tariff))
            .field("birth_date", "date", &[], hints::age(ctx, tariff))
            .field(
                "smoker",
                "radio",
                &[("nee", "quote.no"), ("ja", "quote.yes")],
                None,
            )
            .field("start_date", "date", &[], hints::start(ctx, tariff))
            .field("term_years", "number", &[], hints::term(ctx, tariff))
            .field(
                "cover",
                "radio",
                &[
                    ("level", "cover_level"),
                    ("linear", "cover_linear"),
                    ("annuity", "cover_annuity"),
                ],
                None,
            )
            .build()
    }

    fn price(&self, ctx: &Context, values: &Fields, today: Date) -> Result<Priced, FieldErrors> {
        let mut r = Reader::new(values, ctx.texts());
        let client_name = r.text("client_name");
        let sum_insured = r.money("sum_insured");
        let birth_date = r.date("birth_date");
        let smoker = r.choice("smoker", &SMOKER);
        let start_date = r.date("start_date");
        let term_years = r.number("term_years");
        let cover = r.choice("cover", &COVERS);
        let (
            Some(client_name),
            Some(sum_insured),
            Some(birth_date),
            Some(smoker),
            Some(start_date),
            Some(term_years),
            Some(cover),
            true,
        ) = (
            client_name,
            sum_insured,
            birth_date,
            smoker,
            start_date,
            term_years,
            cover,
            r.errors.is_empty(),
        )
        else {
            return Err(r.errors);
        };
        let request = TermLifeRequest {
            sum_insured,
            birth_date,
            start_date,
            term_years,
            cover,
            smoker,
        };
        let quote = pricing::quote_term_life(&ctx.tariffs.orv, &request, today)?;
        Ok(Priced {
            variant: "ORV",
            client_name,
            tariff_version: quote.tariff_version.clone(),
            amount_cents: quote.monthly_premium,
            request: json(&request)?,
            result: json(&quote)?,
        })
    }

    fn describe(&self, ctx: &Context, quote: &StoredQuote) -> Described {
        let t = |k: &str| ctx.texts().text(k);
        let Some((req, res)) = stored::<TermLifeRequest, TermLifeQuote>(quote) else {
            return Described::unreadable(ctx, quote);
        };
        let cover = match req.cover {
            Cover::Level => t("orv.cover_level"),
            Cover::LinearDecreasing => t("orv.cover_linear"),
            Cover::AnnuityDecreasing => t("orv.cover_annuity"),
        };
        let input = vec![
            (t("orv.client_name"), quote.client_name.clone()),
            (t("orv.birth_date"), date_nl(req.birth_date)),
            (
                t("orv.smoker"),
                if req.smoker {
                    t("quote.yes")
                } else {
                    t("quote.no")
                },
            ),
            (t("orv.start_date"), date_nl(req.start_date)),
            (
                t("orv.term_years"),
                format!("{} {}", req.term_years, t("quote.years")),
            ),
            (t("orv.sum_insured"), euro(req.sum_insured)),
            (t("orv.cover"), cover),
        ];
        let mut result = vec![
            (t("quote.age"), format!("{} {}", res.age, t("quote.years"))),
            (t("orv.monthly_premium"), euro(res.monthly_premium)),
            (t("orv.yearly_premium"), euro(res.yearly_premium)),
            (t("orv.total_premium"), euro(res.total_premium)),
        ];
        if req.cover != Cover::Level {
            for (year, cents) in res.cover_by_year.iter().enumerate() {
                result.push((
                    format!("{} {}", t("orv.cover_in_year"), year + 1),
                    euro(*cents),
                ));
            }
        }
        Described::inputs_and_result(
            ctx,
            format!("{} {}", t("quote.title"), t("orv.variant_orv")),
            input,
            result,
            res.notes,
        )
    }

    fn dashboard(&self) -> &'static str {
        "ORV"
    }

    fn dashboard_row(&self, ctx: &Context, quote: &StoredQuote) -> DashboardRow {
        DashboardRow::amount(
            ctx,
            ctx.texts().text("orv.variant_orv"),
            quote.amount_cents,
            "quote.per_month",
        )
    }
}
