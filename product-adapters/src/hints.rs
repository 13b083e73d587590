//! The hints under the quote forms' fields, made from the tariff's limits, so the form
//! says what the engine will check ("Minimaal € 25.000,00").

use pricing::{Cents, Tariff};

use crate::adapter::Context;
use crate::forms::euro;

fn range(ctx: &Context, min: Option<String>, max: Option<String>) -> Option<String> {
    let t = |k: &str| ctx.texts().text(k);
    match (min, max) {
        (Some(a), Some(b)) => Some(format!("{} {a} {} {b}", t("hint.from"), t("hint.to"))),
        (Some(a), None) => Some(format!("{} {a}", t("hint.min"))),
        (None, Some(b)) => Some(format!("{} {b}", t("hint.max"))),
        (None, None) => None,
    }
}

fn money(c: Option<Cents>) -> Option<String> {
    c.map(euro)
}

/// The purchase sum's bounds.
pub fn purchase_sum(ctx: &Context, tariff: &Tariff) -> Option<String> {
    let l = tariff.limits();
    range(ctx, money(l.min_purchase_sum), money(l.max_purchase_sum))
}

/// The sum insured's bounds.
pub fn sum_insured(ctx: &Context, tariff: &Tariff) -> Option<String> {
    let l = tariff.limits();
    range(ctx, money(l.min_sum_insured), money(l.max_sum_insured))
}

/// The ages allowed on the start date.
pub fn age(ctx: &Context, tariff: &Tariff) -> Option<String> {
    let l = tariff.limits();
    let t = |k: &str| ctx.texts().text(k);
    let mut hint = format!(
        "{} {} {} {} {}",
        t("hint.age"),
        l.min_age,
        t("hint.to"),
        l.max_age,
        t("quote.years")
    );
    if let Some(end) = l.max_end_age {
        hint.push_str(&format!(
            "; {} {end} {}",
            t("hint.end_age"),
            t("quote.years")
        ));
    }
    Some(hint)
}

/// How far ahead the start date may lie.
pub fn start(ctx: &Context, tariff: &Tariff) -> Option<String> {
    Some(format!(
        "{} {} {}",
        ctx.texts().text("hint.start"),
        tariff.limits().max_start_months,
        ctx.texts().text("hint.months")
    ))
}

/// The term's bounds in years.
pub fn term(ctx: &Context, tariff: &Tariff) -> Option<String> {
    let l = tariff.limits();
    let years = |n: Option<u32>| n.map(|n| format!("{n} {}", ctx.texts().text("quote.years")));
    range(ctx, years(l.min_term_years), years(l.max_term_years))
}
