//! Input rules shared by the products: amounts, ages and start dates against a tariff's limits,
//! each broken rule reported as a [`FieldError`] with a Dutch sentence for the advisor. The
//! product modules collect all of them before refusing a request.

use crate::calendar::{add_months, age_nearest_birthday};
use crate::money::{format_date, format_euro};
use crate::{Cents, Limits, Product, Tariff};
use serde::Serialize;
use time::Date;

/// A rule of the tariff broken by an input: which request field, and a Dutch sentence for the
/// advisor built from the tariff's limits, e.g. "De koopsom is minimaal € 25.000,00." or "De
/// verzekerde is op de ingangsdatum 17 jaar; de minimumleeftijd is 55 jaar."
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The request field, named as in the request struct ("purchase_sum", "birth_date", …).
    pub field: &'static str,
    /// The Dutch message.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            message: message.into(),
        }
    }
}

/// The tariff must be the product's own; a mismatch is a wiring mistake, reported on the pseudo
/// field "tariff" rather than by panicking.
pub(crate) fn check_product(tariff: &Tariff, product: Product) -> Result<(), Vec<FieldError>> {
    if tariff.product() == product {
        Ok(())
    } else {
        Err(vec![FieldError::new(
            "tariff",
            format!(
                "Het tarief {} hoort niet bij product {}.",
                tariff.version(),
                product.code()
            ),
        )])
    }
}

/// `amount` within `[min, max]`; `noun` starts the sentence ("De koopsom").
pub(crate) fn check_amount(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    noun: &str,
    amount: Cents,
    min: Option<Cents>,
    max: Option<Cents>,
) {
    if let Some(min) = min
        && amount < min
    {
        errors.push(FieldError::new(
            field,
            format!("{noun} is minimaal {}.", format_euro(min)),
        ));
    }
    if let Some(max) = max
        && amount > max
    {
        errors.push(FieldError::new(
            field,
            format!("{noun} is maximaal {}.", format_euro(max)),
        ));
    }
}

/// The start date lies from `today` to `max_months` months after it.
pub(crate) fn check_start_date(
    errors: &mut Vec<FieldError>,
    start: Date,
    today: Date,
    max_months: u32,
) {
    if start < today {
        errors.push(FieldError::new(
            "start_date",
            "De ingangsdatum mag niet in het verleden liggen.",
        ));
    }
    let latest = add_months(today, max_months);
    if start > latest {
        errors.push(FieldError::new(
            "start_date",
            format!(
                "De ingangsdatum ligt hoogstens {max_months} maanden na vandaag, dus uiterlijk op {}.",
                format_date(latest)
            ),
        ));
    }
}

/// The age nearest birthday on the start date, checked against `[min, max]`. `who` is "De
/// verzekerde" or "De partner". Returns the age when it is usable for pricing (even out of
/// bounds, so other rules can still be checked), `None` when the birth date follows the start
/// date.
pub(crate) fn check_age(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    who: &str,
    birth: Date,
    start: Date,
    min: u32,
    max: u32,
) -> Option<u32> {
    if birth > start {
        errors.push(FieldError::new(
            field,
            format!("{who} is op de ingangsdatum nog niet geboren."),
        ));
        return None;
    }
    let age = u32::try_from(age_nearest_birthday(birth, start)).unwrap_or(0);
    if age < min {
        errors.push(FieldError::new(
            field,
            format!("{who} is op de ingangsdatum {age} jaar; de minimumleeftijd is {min} jaar."),
        ));
    }
    if age > max {
        errors.push(FieldError::new(
            field,
            format!("{who} is op de ingangsdatum {age} jaar; de maximumleeftijd is {max} jaar."),
        ));
    }
    Some(age)
}

/// What every product checks of the insured the same way: the age nearest birthday on the
/// start date within the tariff's ages (under `birth_date`), and the start date's window.
/// Returns the age as [`check_age`] does.
pub(crate) fn check_insured(
    errors: &mut Vec<FieldError>,
    limits: &Limits,
    birth: Date,
    start: Date,
    today: Date,
) -> Option<u32> {
    let age = check_age(
        errors,
        "birth_date",
        "De verzekerde",
        birth,
        start,
        limits.min_age,
        limits.max_age,
    );
    check_start_date(errors, start, today, limits.max_start_months);
    age
}

/// A whole number of years within `[min, max]`; `noun` starts the sentence ("De looptijd").
pub(crate) fn check_years(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    noun: &str,
    years: u32,
    min: Option<u32>,
    max: Option<u32>,
) {
    if let Some(min) = min
        && years < min
    {
        errors.push(FieldError::new(
            field,
            format!("{noun} is minimaal {min} jaar."),
        ));
    }
    if let Some(max) = max
        && years > max
    {
        errors.push(FieldError::new(
            field,
            format!("{noun} is maximaal {max} jaar."),
        ));
    }
}
