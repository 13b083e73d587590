//! ORV: Overlijdensrisicoverzekering. A death benefit over a term of years, level, linearly
//! decreasing or decreasing like an annuity mortgage, for a monthly premium in advance fixed by
//! the equivalence principle with the tariff's mortality, interest and loadings (SPEC §7).

use crate::actuarial::{annuity_due_mthly, discount, temporary_annuity_due};
use crate::money::{format_decimal, format_euro, format_rate, round_cents};
use crate::rules::{FieldError, check_amount, check_insured, check_product, check_years};
use crate::{Cents, Product, Tariff};
use serde::{Deserialize, Serialize};
use time::Date;

/// How the sum insured runs over the term.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Cover {
    /// The same sum insured every year.
    Level,
    /// Falling by the same amount each year, to nothing at the end of the term: S·(n − k)/n in
    /// policy year k.
    LinearDecreasing,
    /// Following the outstanding balance of an annuity mortgage of S over the term, monthly
    /// payments at the tariff's `annuity_rate`/12.
    AnnuityDecreasing,
}

/// An ORV quote request, as the form sends it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TermLifeRequest {
    /// The sum insured at the start.
    pub sum_insured: Cents,
    /// The insured's birth date.
    pub birth_date: Date,
    /// The start date of the cover.
    pub start_date: Date,
    /// The term in whole years.
    pub term_years: u32,
    /// Level or decreasing cover.
    pub cover: Cover,
    /// Whether the insured smokes (the tariff's smoker or non-smoker factor on qₓ).
    pub smoker: bool,
}

/// An ORV quote: the premium and the cover per year, with the Dutch notes to print.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TermLifeQuote {
    /// The tariff version used.
    pub tariff_version: String,
    /// The insured's age nearest birthday on the start date.
    pub age: u32,
    /// The gross monthly premium, in advance, over the whole term while the insured lives.
    pub monthly_premium: Cents,
    /// 12 × the monthly premium.
    pub yearly_premium: Cents,
    /// The premiums over the whole term if the insured survives it: 12 × term × monthly.
    pub total_premium: Cents,
    /// The sum insured at the start of each policy year (paid at the end of the year of death).
    pub cover_by_year: Vec<Cents>,
    /// Dutch sentences for the quote: table source, interest, age rule, cover, loadings.
    pub notes: Vec<String>,
}

/// Prices an ORV request with tariff `t`, or returns every broken rule. `today` bounds the start
/// date. Pure: no clock, no I/O.
pub fn quote_term_life(
    t: &Tariff,
    r: &TermLifeRequest,
    today: Date,
) -> Result<TermLifeQuote, Vec<FieldError>> {
    check_product(t, Product::Orv)?;
    let l = t.limits();
    let mut errors = Vec::new();
    check_amount(
        &mut errors,
        "sum_insured",
        "Het verzekerd bedrag",
        r.sum_insured,
        l.min_sum_insured,
        l.max_sum_insured,
    );
    let age = check_insured(&mut errors, l, r.birth_date, r.start_date, today);
    check_years(
        &mut errors,
        "term_years",
        "De looptijd",
        r.term_years,
        l.min_term_years,
        l.max_term_years,
    );
    if let (Some(age), Some(max_end)) = (age, l.max_end_age) {
        let end = age.saturating_add(r.term_years);
        if end > max_end {
            errors.push(FieldError::new(
                "term_years",
                format!("De verzekering loopt tot de leeftijd van {end} jaar; de maximale eindleeftijd is {max_end} jaar."),
            ));
        }
    }
    let Some(age) = age else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let pricing = price(t, age, r.birth_date.year(), r);
    let monthly = round_cents(pricing.monthly_premium);
    let term = i64::from(r.term_years);
    Ok(TermLifeQuote {
        tariff_version: t.version().to_string(),
        age,
        monthly_premium: monthly,
        yearly_premium: 12 * monthly,
        total_premium: 12 * term * monthly,
        notes: notes(t, r),
        cover_by_year: pricing.cover_by_year,
    })
}

/// The unrounded result of the equivalence principle.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TermLifePricing {
    /// The gross monthly premium in (fractional) cents.
    pub monthly_premium: f64,
    pub cover_by_year: Vec<Cents>,
}

/// The sum insured at the start of each policy year.
pub(crate) fn cover_by_year(sum: Cents, years: u32, cover: Cover, annuity_rate: f64) -> Vec<Cents> {
    let s = sum as f64;
    let n = f64::from(years.max(1));
    (0..years)
        .map(|k| {
            let k = f64::from(k);
            match cover {
                Cover::Level => sum,
                Cover::LinearDecreasing => round_cents(s * (n - k) / n),
                Cover::AnnuityDecreasing => {
                    // Outstanding balance after 12k monthly payments of an annuity loan of S over
                    // 12n months at j = rate/12: S·((1+j)^N − (1+j)^t)/((1+j)^N − 1).
                    let j = annuity_rate / 12.0;
                    let (total, done) = (12.0 * n, 12.0 * k);
                    if j <= 0.0 {
                        round_cents(s * (total - done) / total)
                    } else {
                        let grow = |t: f64| (1.0 + j).powf(t);
                        round_cents(s * (grow(total) - grow(done)) / (grow(total) - 1.0))
                    }
                }
            }
        })
        .collect()
}

/// The equivalence principle, in cents:
///   12·P·ä⁽¹²⁾ₓ:ₙ = Σₖ Sₖ·vᵏ⁺¹·ₖpₓ·qₓ₊ₖ + α·S + γ·S·äₓ:ₙ + β·12·P·ä⁽¹²⁾ₓ:ₙ + 12·fee·ä⁽¹²⁾ₓ:ₙ
/// so P = (benefits + α·S + γ·S·äₓ:ₙ + 12·fee·ä⁽¹²⁾ₓ:ₙ) / ((1 − β)·12·ä⁽¹²⁾ₓ:ₙ), with α, γ per mille
/// of the initial sum insured S and qₓ times the smoker or non-smoker factor.
pub(crate) fn price(t: &Tariff, age: u32, birth_year: i32, r: &TermLifeRequest) -> TermLifePricing {
    let factor = if r.smoker {
        t.smoker_factor()
    } else {
        t.non_smoker_factor()
    };
    let life = t.survival(age, birth_year, factor);
    let i = t.interest();
    let v = discount(i);
    let n = r.term_years;
    let cover = cover_by_year(r.sum_insured, n, r.cover, t.annuity_rate());
    let mut benefits = 0.0;
    let mut vk1 = v;
    for (k, sum) in cover.iter().enumerate() {
        benefits += *sum as f64 * vk1 * (life.p(k) - life.p(k + 1));
        vk1 *= v;
    }
    let s = r.sum_insured as f64;
    let lo = t.loadings();
    let yearly = temporary_annuity_due(&life, i, n);
    let monthly = annuity_due_mthly(&life, i, 12, Some(n));
    let costs = lo.alpha_per_mille / 1000.0 * s
        + lo.gamma_per_mille / 1000.0 * s * yearly
        + 12.0 * lo.policy_fee as f64 * monthly;
    let monthly_premium = (benefits + costs) / ((1.0 - lo.beta) * 12.0 * monthly);
    TermLifePricing {
        monthly_premium,
        cover_by_year: cover,
    }
}

fn notes(t: &Tariff, r: &TermLifeRequest) -> Vec<String> {
    let lo = t.loadings();
    let cover = match r.cover {
        Cover::Level => "Gelijkblijvend verzekerd bedrag.".to_string(),
        Cover::LinearDecreasing => "Lineair dalend verzekerd bedrag: elk jaar daalt het met hetzelfde bedrag, tot nul aan het einde van de looptijd.".to_string(),
        Cover::AnnuityDecreasing => format!(
            "Annuïtair dalend verzekerd bedrag: het volgt de restschuld van een annuïteitenhypotheek met {} % rente per jaar.",
            format_rate(t.annuity_rate())
        ),
    };
    let (who, factor) = if r.smoker {
        ("rokers", t.smoker_factor())
    } else {
        ("niet-rokers", t.non_smoker_factor())
    };
    let mut notes = vec![
        format!(
            "Tarief {}: sterftetafel {}; rekenrente {} % per jaar.",
            t.version(),
            t.source(),
            format_rate(t.interest())
        ),
        "De leeftijd is de leeftijd op de dichtstbijzijnde verjaardag op de ingangsdatum."
            .to_string(),
        format!(
            "De premie wordt maandelijks vooraf betaald gedurende de looptijd van {} jaar, zolang de verzekerde leeft; bij overlijden wordt het verzekerd bedrag van dat verzekeringsjaar uitgekeerd aan het einde van dat jaar.",
            r.term_years
        ),
        cover,
    ];
    if (factor - 1.0).abs() > f64::EPSILON {
        notes.push(format!(
            "Tarief voor {who}: de sterftekansen zijn vermenigvuldigd met {}.",
            format_decimal(factor, 4)
        ));
    }
    notes.push(format!(
        "Kostenopslagen: eerste kosten {} ‰ van het verzekerd bedrag, beheerkosten {} ‰ per jaar, {} % van elke premie en {} poliskosten per maand.",
        format_decimal(lo.alpha_per_mille, 4),
        format_decimal(lo.gamma_per_mille, 4),
        format_rate(lo.beta),
        format_euro(lo.policy_fee)
    ));
    notes
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::actuarial::woolhouse_alpha;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 01);

    fn orv() -> Tariff {
        Tariff::builtin(Product::Orv)
    }

    fn request(cover: Cover) -> TermLifeRequest {
        TermLifeRequest {
            sum_insured: 25_000_000,
            birth_date: date!(1986 - 05 - 20),
            start_date: date!(2026 - 04 - 01),
            term_years: 20,
            cover,
            smoker: false,
        }
    }

    #[test]
    fn cover_patterns() {
        assert_eq!(
            cover_by_year(100_000, 4, Cover::Level, 0.04),
            vec![100_000; 4]
        );
        assert_eq!(
            cover_by_year(100_000, 4, Cover::LinearDecreasing, 0.04),
            vec![100_000, 75_000, 50_000, 25_000]
        );
        assert_eq!(
            cover_by_year(100_000, 4, Cover::AnnuityDecreasing, 0.0),
            vec![100_000, 75_000, 50_000, 25_000]
        );
        // € 1.000 over 2 years at 12 %/12 = 1 % a month: after 12 payments the balance is
        // 1000·(1.01²⁴ − 1.01¹²)/(1.01²⁴ − 1) = 1000·(1.269735 − 1.126825)/0.269735 = 529.82
        assert_eq!(
            cover_by_year(100_000, 2, Cover::AnnuityDecreasing, 0.12),
            vec![100_000, 52_982]
        );
    }

    #[test]
    fn level_cover_quote() {
        let q = quote_term_life(&orv(), &request(Cover::Level), TODAY).unwrap();
        assert_eq!(q.age, 40); // 39 years 10 months
        assert_eq!(q.cover_by_year.len(), 20);
        assert_eq!(q.yearly_premium, 12 * q.monthly_premium);
        assert_eq!(q.total_premium, 240 * q.monthly_premium);
        assert!(
            q.notes
                .iter()
                .any(|n| n.contains("niet-rokers") && n.contains("0,85"))
        );
        // decreasing cover costs less; smokers pay more
        let lin = quote_term_life(&orv(), &request(Cover::LinearDecreasing), TODAY).unwrap();
        let ann = quote_term_life(&orv(), &request(Cover::AnnuityDecreasing), TODAY).unwrap();
        assert!(
            lin.monthly_premium < ann.monthly_premium && ann.monthly_premium < q.monthly_premium
        );
        let smoker = quote_term_life(
            &orv(),
            &TermLifeRequest {
                smoker: true,
                ..request(Cover::Level)
            },
            TODAY,
        )
        .unwrap();
        assert!(smoker.monthly_premium > q.monthly_premium);
    }

    #[test]
    fn end_age_and_bounds() {
        let r = TermLifeRequest {
            sum_insured: 500_000,
            birth_date: date!(1956 - 01 - 01),
            start_date: date!(2026 - 04 - 01),
            term_years: 41,
            cover: Cover::Level,
            smoker: true,
        };
        let errors = quote_term_life(&orv(), &r, TODAY).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "sum_insured",
                    "Het verzekerd bedrag is minimaal € 10.000,00."
                ),
                ("term_years", "De looptijd is maximaal 40 jaar."),
                (
                    "term_years",
                    "De verzekering loopt tot de leeftijd van 111 jaar; de maximale eindleeftijd is 80 jaar."
                ),
            ]
        );
    }

    /// The equivalence principle, checked by projecting the expected cash flows year by year
    /// independently of `price`: PV(gross premiums) = PV(death benefits) + PV(loadings).
    fn check_equivalence(t: &Tariff, r: &TermLifeRequest, age: u32) -> Result<(), TestCaseError> {
        let pricing = price(t, age, r.birth_date.year(), r);
        let p = pricing.monthly_premium;
        let factor = if r.smoker {
            t.smoker_factor()
        } else {
            t.non_smoker_factor()
        };
        let (i, lo, s) = (t.interest(), t.loadings(), r.sum_insured as f64);
        let alpha = woolhouse_alpha(12);
        let (mut premiums, mut benefits, mut loadings) =
            (0.0, lo.alpha_per_mille / 1000.0 * s, 0.0);
        let mut alive = 1.0;
        for k in 0..r.term_years {
            let x = age + k;
            let q = if x >= t.mortality().omega() {
                1.0
            } else {
                (t.mortality().q(x, r.birth_date.year()) * factor).min(1.0)
            };
            let v_k = (1.0 + i).powi(-(k as i32));
            let next = alive * (1.0 - q);
            // this year's m-thly premiums (Woolhouse): 12P·(vᵏ·ₖp − α·(vᵏ·ₖp − vᵏ⁺¹·ₖ₊₁p))
            let year_annuity = v_k * alive - alpha * (v_k * alive - v_k / (1.0 + i) * next);
            premiums += 12.0 * p * year_annuity;
            loadings +=
                lo.beta * 12.0 * p * year_annuity + 12.0 * lo.policy_fee as f64 * year_annuity;
            loadings += lo.gamma_per_mille / 1000.0 * s * v_k * alive;
            benefits += pricing.cover_by_year[k as usize] as f64 * v_k / (1.0 + i) * alive * q;
            alive = next;
        }
        prop_assert!(
            (premiums - (benefits + loadings)).abs() < 1.0,
            "{premiums} vs {benefits} + {loadings}"
        );
        Ok(())
    }

    #[test]
    fn equivalence_principle_on_the_example() {
        check_equivalence(&orv(), &request(Cover::AnnuityDecreasing), 40).unwrap();
    }

    proptest! {
        #[test]
        fn equivalence_principle_to_the_cent(
            sum in 1_000_000i64..=200_000_000, age in 18u32..=70, term in 5u32..=40,
            cover in prop::sample::select(vec![Cover::Level, Cover::LinearDecreasing, Cover::AnnuityDecreasing]),
            smoker: bool,
        ) {
            let term = term.min(80 - age).max(1);
            let r = TermLifeRequest {
                sum_insured: sum,
                birth_date: date!(2026 - 04 - 01).replace_year(2026 - age as i32).unwrap(),
                start_date: date!(2026 - 04 - 01),
                term_years: term,
                cover,
                smoker,
            };
            check_equivalence(&orv(), &r, age)?;
            // the quoted premium is that premium rounded to the cent
            if term >= 5 {
                let q = quote_term_life(&orv(), &r, TODAY).unwrap();
                prop_assert!((q.monthly_premium as f64 - price(&orv(), age, 2026 - age as i32, &r).monthly_premium).abs() <= 0.5);
            }
        }

        /// Older costs more. (Interest has no fixed direction here: a higher rate lowers the
        /// value of the death benefits but spreads the acquisition costs α over a smaller
        /// premium annuity.)
        #[test]
        fn older_costs_more(age in 18u32..70, term in 5u32..=20, cover in prop::sample::select(vec![Cover::Level, Cover::LinearDecreasing, Cover::AnnuityDecreasing]), smoker: bool) {
            let r = TermLifeRequest {
                sum_insured: 25_000_000, birth_date: date!(2000 - 01 - 01), start_date: date!(2026 - 04 - 01),
                term_years: term, cover, smoker,
            };
            let t = orv();
            prop_assert!(price(&t, age + 1, 2000, &r).monthly_premium > price(&t, age, 2000, &r).monthly_premium);
        }
    }
}
