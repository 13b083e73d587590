//! Calendar rules of the tariffs: adding months to a date and the age used for pricing (age
//! nearest birthday on the start date). Pure functions of their arguments; no clock.

use time::{Date, Month};

/// `date` plus `months` calendar months, the day clamped to the end of a shorter month
/// (31 August + 6 months = 28 or 29 February). Saturates at [`Date::MAX`].
pub fn add_months(date: Date, months: u32) -> Date {
    let index =
        i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + i64::from(months);
    let year = i32::try_from(index.div_euclid(12)).unwrap_or(i32::MAX);
    let month_number = u8::try_from(index.rem_euclid(12) + 1).unwrap_or(12);
    let Ok(month) = Month::try_from(month_number) else {
        return Date::MAX;
    };
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MAX)
}

/// Completed years of age on `on` for someone born on `birth` (negative when `on` is before the
/// birth). A 29 February birthday falls on 1 March in common years.
pub fn completed_years(birth: Date, on: Date) -> i32 {
    let years = on.year() - birth.year();
    let before_birthday = (u8::from(on.month()), on.day()) < (u8::from(birth.month()), birth.day());
    if before_birthday { years - 1 } else { years }
}

/// Age nearest birthday on `on`: the completed years six months later, so a half year rounds up.
pub fn age_nearest_birthday(birth: Date, on: Date) -> i32 {
    completed_years(birth, add_months(on, 6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn adds_months_clamping_the_day() {
        assert_eq!(add_months(date!(2026 - 01 - 15), 6), date!(2026 - 07 - 15));
        assert_eq!(add_months(date!(2025 - 08 - 31), 6), date!(2026 - 02 - 28));
        assert_eq!(add_months(date!(2027 - 08 - 31), 6), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 11 - 30), 3), date!(2027 - 02 - 28));
        assert_eq!(add_months(date!(2026 - 03 - 01), 0), date!(2026 - 03 - 01));
    }

    #[test]
    fn counts_completed_years() {
        assert_eq!(
            completed_years(date!(1960 - 05 - 10), date!(2026 - 05 - 09)),
            65
        );
        assert_eq!(
            completed_years(date!(1960 - 05 - 10), date!(2026 - 05 - 10)),
            66
        );
        assert_eq!(
            completed_years(date!(1960 - 02 - 29), date!(2027 - 02 - 28)),
            66
        );
        assert_eq!(
            completed_years(date!(1960 - 02 - 29), date!(2027 - 03 - 01)),
            67
        );
        assert_eq!(
            completed_years(date!(2030 - 01 - 01), date!(2026 - 01 - 01)),
            -4
        );
    }

    #[test]
    fn age_nearest_birthday_rounds_half_years_up() {
        let birth = date!(1960 - 01 - 01);
        assert_eq!(age_nearest_birthday(birth, date!(2026 - 06 - 30)), 66); // 66 y 5 m 29 d
        assert_eq!(age_nearest_birthday(birth, date!(2026 - 07 - 01)), 67); // exactly 66½
        assert_eq!(age_nearest_birthday(birth, date!(2026 - 01 - 01)), 66);
        assert_eq!(age_nearest_birthday(birth, date!(2025 - 12 - 31)), 66);
    }
}
