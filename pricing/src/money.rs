//! The engine's single rounding rule and the Dutch way of writing amounts, rates and dates in
//! advisor messages and quote notes. Pure formatting: no rules about what is valid.

use crate::Cents;
use time::{Date, Month};

/// Rounds an amount in (fractional) cents to whole cents, half away from zero. The engine rounds
/// once, at the end of a calculation; a non-finite input (which valid tariffs cannot produce)
/// gives 0.
pub fn round_cents(cents: f64) -> Cents {
    if cents.is_finite() {
        // `f64::round` rounds half away from zero; `as` saturates far outside any real amount.
        cents.round() as Cents
    } else {
        0
    }
}

/// An amount written the Dutch way: `€ 25.000,00` (a minus sign after the euro sign).
pub fn format_euro(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let euros = (abs / 100).to_string();
    let mut grouped = String::with_capacity(euros.len() + euros.len() / 3);
    for (i, ch) in euros.chars().enumerate() {
        if i > 0 && (euros.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("€ {sign}{grouped},{:02}", abs % 100)
}

/// A number with a decimal comma and at most `max_decimals` decimals, trailing zeros dropped:
/// `3.50` → `3,5`, `5.0` → `5`.
pub(crate) fn format_decimal(value: f64, max_decimals: usize) -> String {
    let text = format!("{value:.max_decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text.as_str()
    };
    let text = if text == "-0" { "0" } else { text };
    text.replace('.', ",")
}

/// A rate given as a fraction written as a Dutch percentage without the sign: `0.05` → `5`,
/// `0.035` → `3,5`.
pub fn format_rate(fraction: f64) -> String {
    format_decimal(fraction * 100.0, 4)
}

/// A date written the Dutch way: `1 juli 2026`.
pub fn format_date(date: Date) -> String {
    let month = match date.month() {
        Month::January => "januari",
        Month::February => "februari",
        Month::March => "maart",
        Month::April => "april",
        Month::May => "mei",
        Month::June => "juni",
        Month::July => "juli",
        Month::August => "augustus",
        Month::September => "september",
        Month::October => "oktober",
        Month::November => "november",
        Month::December => "december",
    };
    format!("{} {month} {}", date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_cents(0.5), 1);
        assert_eq!(round_cents(1.4999), 1);
        assert_eq!(round_cents(-0.5), -1);
        assert_eq!(round_cents(2.5), 3);
        assert_eq!(round_cents(f64::NAN), 0);
    }

    #[test]
    fn writes_euro_the_dutch_way() {
        assert_eq!(format_euro(2_500_000), "€ 25.000,00");
        assert_eq!(format_euro(500_000_000), "€ 5.000.000,00");
        assert_eq!(format_euro(5), "€ 0,05");
        assert_eq!(format_euro(99_999), "€ 999,99");
        assert_eq!(format_euro(-123_456), "€ -1.234,56");
    }

    #[test]
    fn writes_rates_and_dates_the_dutch_way() {
        assert_eq!(format_rate(0.05), "5");
        assert_eq!(format_rate(0.035), "3,5");
        assert_eq!(format_decimal(0.25, 4), "0,25");
        assert_eq!(format_date(date!(2026 - 07 - 01)), "1 juli 2026");
    }
}
