//! Direct Ingaand Pensioen, right `DIP`: Direct Ingaand Zeker Pensioen (DIZP, a level
//! lifelong benefit) and Direct Ingaand Keuze Pensioen (DIKP: with the choices hoog/laag
//! and a fixed yearly indexation), bought with a pension capital (SPEC §7).

use pricing::{Frequency, PensionKind, PensionQuote, PensionRequest};
use time::Date;

use crate::adapter::{Context, DashboardRow, Described, Priced, ProductAdapter, stored};
use crate::forms::{Field, FieldErrors, Fields, FormBuilder, Reader, date_nl, euro};
use crate::hints;
use crate::store::quotes::StoredQuote;

/// The DIP adapter.
pub(crate) struct Dip;

const KINDS: [(&str, PensionKind); 2] =
    [("zeker", PensionKind::Zeker), ("keuze", PensionKind::Keuze)];
const PARTNER: [(&str, u32); 4] = [("0", 0), ("50", 50), ("70", 70), ("100", 100)];

/// The payment frequencies every product offers, as form values.
pub(crate) const FREQUENCIES: [(&str, Frequency); 4] = [
    ("monthly", Frequency::Monthly),
    ("quarterly", Frequency::Quarterly),
    ("half_yearly", Frequency::HalfYearly),
    ("yearly", Frequency::Yearly),
];

/// The frequency options' texts.
pub(crate) const FREQUENCY_OPTIONS: [(&str, &str); 4] = [
    ("monthly", "quote.monthly"),
    ("quarterly", "quote.quarterly"),
    ("half_yearly", "quote.half_yearly"),
    ("yearly", "quote.yearly"),
];

/// "per maand", ... for a frequency.
pub(crate) fn frequency_text(ctx: &Context, f: Frequency) -> String {
    let key = FREQUENCIES
        .iter()
        .zip(FREQUENCY_OPTIONS)
        .find(|((_, freq), _)| *freq == f)
        .map(|(_, (_, key))| key)
        .unwrap_or("quote.yearly");
    ctx.texts().text(key)
}

/// The first day of next month: the earliest usual start date.
pub(crate) fn next_month(today: Date) -> Date {
    let (y, m) = match today.month() {
        time::Month::December => (today.year() + 1, time::Month::January),
        m => (today.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(today)
}

#[async_trait::async_trait]
impl ProductAdapter for Dip {
    fn code(&self) -> &'static str {
        "DIP"
    }

    fn form_defaults(&self, today: Date) -> Fields {
        Fields::default()
            .with("kind", "zeker")
            .with("partner_percent", "0")
            .with("frequency", "monthly")
            .with("indexation_percent", "0")
            .with("start_date", &next_month(today).to_string())
    }

    fn demo_form(&self, today: Date) -> Option<Fields> {
        Some(
            self.form_defaults(today)
                .set("client_name", "J. (Jan) Voorbeeld")
                .set("purchase_sum", "185.000")
                .set("birth_date", "1960-04-12")
                .set("partner_percent", "70")
                .set("partner_birth_date", "1963-09-30"),
        )
    }

    fn quote_form(&self, ctx: &Context, values: &Fields, errors: &FieldErrors) -> Vec<Field> {
        let tariff = &ctx.tariffs.dip;
        FormBuilder::new(values, errors, ctx.texts(), "dip")
            .field(
                "kind",
                "radio",
                &[("zeker", "zeker"), ("keuze", "keuze")],
                None,
            )
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
                "partner_percent",
                "select",
                &[
                    ("0", "partner_0"),
                    ("50", "partner_50"),
                    ("70", "partner_70"),
                    ("100", "partner_100"),
                ],
                None,
            )
            .field(
                "partner_birth_date",
                "date",
                &[],
                Some(ctx.texts().text("dip.partner_hint")),
            )
            .field(
                "high_low_years",
                "number",
                &[],
                Some(ctx.texts().text("dip.high_low_hint")),
            )
            .field(
                "indexation_percent",
                "number",
                &[],
                Some(ctx.texts().text("dip.indexation_hint")),
            )
            .build()
    }

    fn price(&self, ctx: &Context, values: &Fields, today: Date) -> Result<Priced, FieldErrors> {
        let mut r = Reader::new(values, ctx.texts());
        let kind = r.choice("kind", &KINDS);
        let client_name = r.text("client_name");
        let purchase_sum = r.money("purchase_sum");
        let birth_date = r.date("birth_date");
        let start_date = r.date("start_date");
        let frequency = r.choice("frequency", &FREQUENCIES);
        let partner_percent = r.choice("partner_percent", &PARTNER);
        let partner_birth_date = r.optional_date("partner_birth_date");
        let high_low_years = if values.get("high_low_years").is_empty() {
            None
        } else {
            r.number("high_low_years")
        };
        let indexation_percent = if values.get("indexation_percent").is_empty() {
            Some(0)
        } else {
            r.number("indexation_percent")
        };
        let (
            Some(kind),
            Some(client_name),
            Some(purchase_sum),
            Some(birth_date),
            Some(start_date),
            Some(frequency),
            Some(partner_percent),
            Some(indexation_percent),
            true,
        ) = (
            kind,
            client_name,
            purchase_sum,
            birth_date,
            start_date,
            frequency,
            partner_percent,
            indexation_percent,
            r.errors.is_empty(),
        )
        else {
            return Err(r.errors);
        };
        let request = PensionRequest {
            kind,
            purchase_sum,
            birth_date,
            partner_birth_date,
            partner_percent,
            start_date,
            frequency,
            high_low_years,
            indexation_percent,
        };
        let quote = pricing::quote_pension(&ctx.tariffs.dip, &request, today)?;
        Ok(Priced {
            variant: match kind {
                PensionKind::Zeker => "DIZP",
                PensionKind::Keuze => "DIKP",
            },
            client_name,
            tariff_version: quote.tariff_version.clone(),
            amount_cents: quote.yearly_benefit,
            request: json(&request)?,
            result: json(&quote)?,
        })
    }

    fn describe(&self, ctx: &Context, quote: &StoredQuote) -> Described {
        let t = |k: &str| ctx.texts().text(k);
        let Some((req, res)) = stored::<PensionRequest, PensionQuote>(quote) else {
            return Described::unreadable(ctx, quote);
        };
        let variant = variant_name(ctx, &quote.variant);
        let mut input = vec![
            (t("dip.kind"), variant.clone()),
            (t("dip.client_name"), quote.client_name.clone()),
            (t("dip.birth_date"), date_nl(req.birth_date)),
            (t("dip.start_date"), date_nl(req.start_date)),
            (t("dip.purchase_sum"), euro(req.purchase_sum)),
            (t("dip.frequency"), frequency_text(ctx, req.frequency)),
            (
                t("dip.partner_percent"),
                format!("{} %", req.partner_percent),
            ),
        ];
        if let Some(d) = req.partner_birth_date {
            input.push((t("dip.partner_birth_date"), date_nl(d)));
        }
        if let Some(n) = req.high_low_years {
            input.push((t("dip.high_low_years"), format!("{n}")));
        }
        if req.kind == PensionKind::Keuze {
            input.push((
                t("dip.indexation_percent"),
                format!("{} %", req.indexation_percent),
            ));
        }
        let mut result = vec![(t("quote.age"), format!("{} {}", res.age, t("quote.years")))];
        if let Some(a) = res.partner_age {
            result.push((t("quote.partner_age"), format!("{a} {}", t("quote.years"))));
        }
        result.extend([
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
        ]);
        if let Some(low) = res.low_yearly_benefit {
            result.push((t("quote.low_yearly_benefit"), euro(low)));
        }
        if let Some(p) = res.partner_yearly_benefit {
            result.push((t("quote.partner_yearly_benefit"), euro(p)));
        }
        Described::inputs_and_result(
            ctx,
            format!("{} {variant}", t("quote.title")),
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
            variant_name(ctx, &quote.variant),
            quote.amount_cents,
            "quote.per_year",
        )
    }
}

/// "Direct Ingaand Zeker Pensioen" for `DIZP`.
fn variant_name(ctx: &Context, variant: &str) -> String {
    ctx.texts()
        .text(&format!("dip.variant_{}", variant.to_ascii_lowercase()))
}

/// A request or result as stored JSON; failing is a bug, reported as a form error rather
/// than a panic.
pub(crate) fn json(value: &impl serde::Serialize) -> Result<serde_json::Value, FieldErrors> {
    serde_json::to_value(value).map_err(|e| {
        tracing::error!(error = %e, "a quote could not be stored as JSON");
        let mut errors = FieldErrors::default();
        errors.add("form", "De offerte kon niet worden opgeslagen.");
        errors
    })
}
