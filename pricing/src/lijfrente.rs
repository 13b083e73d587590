//! DIL: Direct Ingaande Lijfrente. A purchase sum less costs buys a level benefit, paid in
//! advance m times a year, for a fixed term or for life, with or without refund on death; the
//! benefit is the net purchase sum over the matching annuity factor (SPEC §7).

use crate::actuarial::{Survival, annuity_due_mthly, discount};
use crate::money::{format_decimal, format_euro, format_rate, round_cents};
use crate::rules::{FieldError, check_amount, check_insured, check_product, check_years};
use crate::{Cents, Frequency, Product, Tariff};
use serde::{Deserialize, Serialize};
use time::Date;

/// How long a lijfrente pays.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(tag = "kind", content = "years", rename_all = "snake_case")]
pub enum LijfrenteTerm {
    /// A fixed number of years, within the tariff's `min_term_years..=max_term_years` (5–30).
    Years(u32),
    /// For life.
    Lifelong,
}

/// A DIL quote request, as the form sends it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LijfrenteRequest {
    /// The purchase sum (koopsom).
    pub purchase_sum: Cents,
    /// The insured's birth date.
    pub birth_date: Date,
    /// The first payment date.
    pub start_date: Date,
    /// How often the benefit is paid.
    pub frequency: Frequency,
    /// Fixed term or lifelong.
    pub term: LijfrenteTerm,
    /// Fixed term: payments continue to the heirs until the term ends. Lifelong: at death the
    /// purchase sum less the benefits already paid is paid out, if positive.
    pub refund_on_death: bool,
}

/// A DIL quote: the figures and the Dutch notes to print with them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LijfrenteQuote {
    /// The tariff version used.
    pub tariff_version: String,
    /// The insured's age nearest birthday on the start date.
    pub age: u32,
    /// Costs taken from the purchase sum.
    pub costs: Cents,
    /// Purchase sum less costs.
    pub net_purchase_sum: Cents,
    /// Net purchase sum per euro of yearly benefit (for lifelong with refund: including the value
    /// of the refund).
    pub annuity_factor: f64,
    /// The yearly benefit.
    pub yearly_benefit: Cents,
    /// The benefit per payment: yearly benefit / payments a year.
    pub per_payment: Cents,
    /// Dutch sentences for the quote: table source, interest, age rule, the form chosen.
    pub notes: Vec<String>,
}

/// Prices a DIL request with tariff `t`, or returns every broken rule. `today` bounds the start
/// date. Pure: no clock, no I/O.
pub fn quote_lijfrente(
    t: &Tariff,
    r: &LijfrenteRequest,
    today: Date,
) -> Result<LijfrenteQuote, Vec<FieldError>> {
    check_product(t, Product::Dil)?;
    let l = t.limits();
    let mut errors = Vec::new();
    check_amount(
        &mut errors,
        "purchase_sum",
        "De koopsom",
        r.purchase_sum,
        l.min_purchase_sum,
        l.max_purchase_sum,
    );
    let age = check_insured(&mut errors, l, r.birth_date, r.start_date, today);
    if let LijfrenteTerm::Years(years) = r.term {
        check_years(
            &mut errors,
            "term",
            "De looptijd",
            years,
            l.min_term_years,
            l.max_term_years,
        );
    }
    let Some(age) = age else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }

    let costs =
        round_cents(t.costs().fixed as f64 + t.costs().percent / 100.0 * r.purchase_sum as f64);
    let net = r.purchase_sum - costs;
    let life = t.survival(age, r.birth_date.year(), 1.0);
    let m = r.frequency.per_year();
    let i = t.interest();
    let (yearly, form) = match (r.term, r.refund_on_death) {
        (LijfrenteTerm::Years(n), false) => (
            net as f64 / annuity_due_mthly(&life, i, m, Some(n)),
            format!(
                "Tijdelijke lijfrente van {n} jaar: de uitkering stopt bij overlijden, uiterlijk na {n} jaar."
            ),
        ),
        (LijfrenteTerm::Years(n), true) => (
            net as f64 / annuity_due_mthly(&Survival::certain(n), i, m, Some(n)),
            format!(
                "Lijfrente van {n} jaar met doorbetaling: bij overlijden lopen de termijnen door aan de erfgenamen tot het einde van de looptijd, dus de sterfte speelt geen rol (annuïteit)."
            ),
        ),
        (LijfrenteTerm::Lifelong, false) => (
            net as f64 / annuity_due_mthly(&life, i, m, None),
            "Levenslange lijfrente: de uitkering stopt bij overlijden.".to_string(),
        ),
        (LijfrenteTerm::Lifelong, true) => {
            let Some(yearly) = lifelong_with_refund(&life, i, m, r.purchase_sum as f64, net as f64)
            else {
                return Err(vec![FieldError::new(
                    "term",
                    "Een levenslange lijfrente met restitutie is met deze koopsom en leeftijd niet mogelijk.",
                )]);
            };
            (
                yearly,
                format!(
                    "Levenslange lijfrente met restitutie: bij overlijden wordt de koopsom ({}) min de al betaalde uitkeringen uitgekeerd, als dat positief is, aan het einde van het jaar van overlijden. De uitkering is zo bepaald dat de contante waarde van uitkeringen en restitutie gelijk is aan de netto koopsom.",
                    format_euro(r.purchase_sum)
                ),
            )
        }
    };
    let notes = vec![
        format!(
            "Tarief {}: sterftetafel {}; rekenrente {} % per jaar.",
            t.version(),
            t.source(),
            format_rate(t.interest())
        ),
        "De leeftijd is de leeftijd op de dichtstbijzijnde verjaardag op de ingangsdatum."
            .to_string(),
        format!(
            "Kosten: {} vast plus {} % van de koopsom, samen {}.",
            format_euro(t.costs().fixed),
            format_decimal(t.costs().percent, 4),
            format_euro(costs)
        ),
        format!(
            "De uitkering wordt {} vooraf betaald ({m} termijnen per jaar; contante waarde met de benadering van Woolhouse).",
            r.frequency.label()
        ),
        form,
    ];
    Ok(LijfrenteQuote {
        tariff_version: t.version().to_string(),
        age,
        costs,
        net_purchase_sum: net,
        annuity_factor: net as f64 / yearly,
        yearly_benefit: round_cents(yearly),
        per_payment: round_cents(yearly / f64::from(m)),
        notes,
    })
}

/// The expected number of yearly benefits paid by the end of year k of a life dying in year k,
/// with m payments in advance and deaths spread evenly over the year: k + (m + 1)/(2m) (k + 1 for
/// yearly payments).
fn paid_by_death(k: usize, per_year: u32) -> f64 {
    let m = f64::from(per_year.max(1));
    k as f64 + (m + 1.0) / (2.0 * m)
}

/// Present value of the refund max(0, P − B·paid) at the end of the year of death.
fn refund_value(
    life: &Survival,
    interest: f64,
    per_year: u32,
    purchase_sum: f64,
    yearly: f64,
) -> f64 {
    let v = discount(interest);
    let mut vk1 = v;
    let mut sum = 0.0;
    for k in 0..life.horizon() {
        let refund = purchase_sum - yearly * paid_by_death(k, per_year);
        if refund <= 0.0 {
            break; // the refund only falls as k grows
        }
        sum += vk1 * (life.p(k) - life.p(k + 1)) * refund;
        vk1 *= v;
    }
    sum
}

/// Solves B·ä⁽ᵐ⁾ₓ + PV(refund(B)) = net by bisection. The left side grows with B (a higher benefit
/// lowers the refund by less than it adds in benefits), is at least `net` at B = net/ä⁽ᵐ⁾ₓ, and is
/// below `net` at B = 0 unless the refund alone is worth the net sum (then `None`).
fn lifelong_with_refund(
    life: &Survival,
    interest: f64,
    per_year: u32,
    purchase_sum: f64,
    net: f64,
) -> Option<f64> {
    let annuity = annuity_due_mthly(life, interest, per_year, None);
    let excess =
        |b: f64| b * annuity + refund_value(life, interest, per_year, purchase_sum, b) - net;
    if excess(0.0) >= 0.0 || annuity <= 0.0 {
        return None;
    }
    let (mut lo, mut hi) = (0.0, net / annuity);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if excess(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-9 {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::actuarial::{annuity_certain_due, insurance, temporary_annuity_due};
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 01);

    fn request(term: LijfrenteTerm, refund: bool) -> LijfrenteRequest {
        LijfrenteRequest {
            purchase_sum: 5_000_000,
            birth_date: date!(1958 - 10 - 20),
            start_date: date!(2026 - 04 - 01),
            frequency: Frequency::Monthly,
            term,
            refund_on_death: refund,
        }
    }

    fn dil() -> Tariff {
        Tariff::builtin(Product::Dil)
    }

    #[test]
    fn the_four_forms() {
        let t = dil();
        let life = t.survival(67, 1958, 1.0); // 67 years 5 months → 67
        // costs € 150 + 1 % of € 50.000 = € 650; net € 49.350
        let q = quote_lijfrente(&t, &request(LijfrenteTerm::Years(10), false), TODAY).unwrap();
        assert_eq!(
            (q.age, q.costs, q.net_purchase_sum),
            (67, 65_000, 4_935_000)
        );
        let temp = temporary_annuity_due(&life, 0.05, 10)
            - 11.0 / 24.0 * (1.0 - crate::actuarial::pure_endowment(&life, 0.05, 10));
        assert!((q.annuity_factor - temp).abs() < 1e-9);

        // fixed term with refund: annuity-certain, ä₁₀ − 11/24·(1 − v¹⁰)
        let certain = quote_lijfrente(&t, &request(LijfrenteTerm::Years(10), true), TODAY).unwrap();
        let by_hand = annuity_certain_due(0.05, 10) - 11.0 / 24.0 * (1.0 - 1.05f64.powi(-10));
        assert!((certain.annuity_factor - by_hand).abs() < 1e-9);
        assert!(certain.yearly_benefit < q.yearly_benefit);

        let life_only =
            quote_lijfrente(&t, &request(LijfrenteTerm::Lifelong, false), TODAY).unwrap();
        assert!((life_only.annuity_factor - annuity_due_mthly(&life, 0.05, 12, None)).abs() < 1e-9);

        let refund = quote_lijfrente(&t, &request(LijfrenteTerm::Lifelong, true), TODAY).unwrap();
        assert!(refund.yearly_benefit < life_only.yearly_benefit);
        assert!(refund.notes.iter().any(|n| n.contains("restitutie")));
        assert_eq!(
            refund.per_payment,
            round_cents(refund.net_purchase_sum as f64 / refund.annuity_factor / 12.0)
        );
    }

    #[test]
    fn refund_benefit_satisfies_the_equivalence_equation() {
        let t = dil();
        for (age, m) in [(18, 12), (50, 4), (67, 1), (90, 12)] {
            let life = t.survival(age, 2026 - age as i32, 1.0);
            let (p, net) = (5_000_000.0, 4_935_000.0);
            let b = lifelong_with_refund(&life, 0.05, m, p, net).unwrap();
            // By hand, death by death: refund max(0, P − B·(k + (m+1)/(2m))) at k + 1.
            let mut refund = 0.0;
            for k in 0..life.horizon() {
                let paid = k as f64 + (f64::from(m) + 1.0) / (2.0 * f64::from(m));
                refund += 1.05f64.powi(-(k as i32 + 1))
                    * (life.p(k) - life.p(k + 1))
                    * (p - b * paid).max(0.0);
            }
            let benefits = b * annuity_due_mthly(&life, 0.05, m, None);
            assert!(
                (benefits + refund - net).abs() < 0.01,
                "age {age}: {benefits} + {refund} vs {net}"
            );
        }
        // A life sure to die within the year: the refund (P·v = 95.24) is worth more than a net
        // sum of 90, so no benefit solves the equation.
        let doomed = Survival::from_q(&[1.0]);
        assert!(insurance(&doomed, 0.05) > 0.9);
        assert_eq!(lifelong_with_refund(&doomed, 0.05, 12, 100.0, 90.0), None);
    }

    #[test]
    fn term_and_age_rules() {
        let mut r = request(LijfrenteTerm::Years(31), false);
        r.birth_date = date!(1930 - 01 - 01);
        r.purchase_sum = 400_000;
        let errors = quote_lijfrente(&dil(), &r, TODAY).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("purchase_sum", "De koopsom is minimaal € 5.000,00."),
                (
                    "birth_date",
                    "De verzekerde is op de ingangsdatum 96 jaar; de maximumleeftijd is 90 jaar."
                ),
                ("term", "De looptijd is maximaal 30 jaar."),
            ]
        );
        let errors =
            quote_lijfrente(&dil(), &request(LijfrenteTerm::Years(4), true), TODAY).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new("term", "De looptijd is minimaal 5 jaar.")]
        );
    }

    #[test]
    fn term_serializes_as_kind_and_years() {
        let years = toml::Value::try_from(LijfrenteTerm::Years(10)).unwrap();
        assert_eq!(years.get("kind").and_then(|v| v.as_str()), Some("years"));
        assert_eq!(years.get("years").and_then(|v| v.as_integer()), Some(10));
    }

    proptest! {
        #[test]
        fn older_gives_a_smaller_factor(age in 18u32..89, years in 5u32..=30, refund: bool, lifelong: bool) {
            let term = if lifelong { LijfrenteTerm::Lifelong } else { LijfrenteTerm::Years(years) };
            let mut young = request(term, refund);
            young.birth_date = date!(2026 - 04 - 01).replace_year(2026 - age as i32).unwrap();
            let mut old = young.clone();
            old.birth_date = young.birth_date.replace_year(young.birth_date.year() - 1).unwrap();
            let (qy, qo) = (quote_lijfrente(&dil(), &young, TODAY).unwrap(), quote_lijfrente(&dil(), &old, TODAY).unwrap());
            match (lifelong, refund) {
                // annuity-certain: age plays no part
                (false, true) => prop_assert_eq!(qy.annuity_factor, qo.annuity_factor),
                // A refund returns the purchase sum without interest, so an early death is no loss
                // to the insurer and the benefit need not rise with age: only the refund's own
                // bounds hold (it costs something, and the refund is never negative).
                (true, true) => {
                    let plain = quote_lijfrente(&dil(), &LijfrenteRequest { refund_on_death: false, ..young.clone() }, TODAY).unwrap();
                    prop_assert!(qy.yearly_benefit < plain.yearly_benefit);
                    prop_assert!(qy.yearly_benefit > 0);
                }
                _ => prop_assert!(qo.annuity_factor < qy.annuity_factor),
            }
        }
    }
}
