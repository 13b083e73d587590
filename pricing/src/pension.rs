//! DIP: Direct Ingaand Zeker Pensioen (DIZP) and Keuze Pensioen (DIKP). A purchase sum less
//! costs buys a lifelong benefit, paid in advance m times a year, optionally with a partner
//! pension after the insured's death, and (Keuze only) a high/low pattern and a fixed yearly
//! indexation: yearly benefit = net purchase sum / annuity factor (SPEC §7).

use crate::actuarial::{Survival, stepped_annuity_due};
use crate::money::{format_decimal, format_euro, format_rate, round_cents};
use crate::rules::{
    FieldError, check_age, check_amount, check_insured, check_product, check_years,
};
use crate::{Cents, Frequency, Product, Tariff};
use serde::{Deserialize, Serialize};
use time::Date;

/// Zeker (level, lifelong) or Keuze (with high/low and indexation choices).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PensionKind {
    /// Direct Ingaand Zeker Pensioen: level lifelong benefit.
    Zeker,
    /// Direct Ingaand Keuze Pensioen: may be high/low and indexed.
    Keuze,
}

/// A DIP quote request, as the form sends it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PensionRequest {
    /// Zeker or Keuze.
    pub kind: PensionKind,
    /// The purchase sum (koopsom).
    pub purchase_sum: Cents,
    /// The insured's birth date.
    pub birth_date: Date,
    /// The partner's birth date; required when `partner_percent` > 0.
    pub partner_birth_date: Option<Date>,
    /// Partner pension as a percentage of the insured's (low) benefit: one of the tariff's
    /// `partner_percents` (0, 50, 70 or 100).
    pub partner_percent: u32,
    /// The first payment date.
    pub start_date: Date,
    /// How often the benefit is paid.
    pub frequency: Frequency,
    /// Keuze only: the years of the high period of a high/low pension (low = the tariff's
    /// `high_low_percent`, 75 %, of high afterwards).
    pub high_low_years: Option<u32>,
    /// Keuze only: fixed yearly indexation in whole percent, 0 up to the tariff's maximum.
    pub indexation_percent: u32,
}

/// A DIP quote: the figures and the Dutch notes to print with them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PensionQuote {
    /// The tariff version used.
    pub tariff_version: String,
    /// The insured's age nearest birthday on the start date.
    pub age: u32,
    /// The partner's age nearest birthday on the start date, when a partner pension is chosen.
    pub partner_age: Option<u32>,
    /// Costs taken from the purchase sum.
    pub costs: Cents,
    /// Purchase sum less costs.
    pub net_purchase_sum: Cents,
    /// Present value of the whole benefit (insured and partner) per euro of the first-year yearly
    /// benefit.
    pub annuity_factor: f64,
    /// The first year's yearly benefit (the high one for high/low).
    pub yearly_benefit: Cents,
    /// The first year's benefit per payment: yearly benefit / payments a year.
    pub per_payment: Cents,
    /// High/low: the yearly benefit after the high period (before indexation).
    pub low_yearly_benefit: Option<Cents>,
    /// The partner's first-year yearly benefit, lifelong after the insured's death:
    /// `partner_percent` of the (low) benefit, indexed like it.
    pub partner_yearly_benefit: Option<Cents>,
    /// Dutch sentences for the quote: table source, interest, age rule, independence of lives,
    /// indexation, high/low.
    pub notes: Vec<String>,
}

/// Prices a DIP request with tariff `t`, or returns every broken rule. `today` bounds the start
/// date. Pure: no clock, no I/O.
pub fn quote_pension(
    t: &Tariff,
    r: &PensionRequest,
    today: Date,
) -> Result<PensionQuote, Vec<FieldError>> {
    check_product(t, Product::Dip)?;
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

    if !l.partner_percents.contains(&r.partner_percent) {
        errors.push(FieldError::new(
            "partner_percent",
            format!(
                "Het partnerpensioen is {} procent van het ouderdomspensioen.",
                join_or(&l.partner_percents)
            ),
        ));
    }
    let partner_age = if r.partner_percent > 0 {
        match r.partner_birth_date {
            None => {
                errors.push(FieldError::new(
                    "partner_birth_date",
                    "Vul de geboortedatum van de partner in; die is nodig voor een partnerpensioen.",
                ));
                None
            }
            Some(birth) => check_age(
                &mut errors,
                "partner_birth_date",
                "De partner",
                birth,
                r.start_date,
                l.min_partner_age.unwrap_or(0),
                l.max_partner_age.unwrap_or(u32::MAX),
            ),
        }
    } else {
        None
    };

    match r.kind {
        PensionKind::Zeker => {
            if r.high_low_years.is_some() {
                errors.push(FieldError::new(
                    "high_low_years",
                    "Hoog/laag kan alleen bij het Keuze Pensioen.",
                ));
            }
            if r.indexation_percent > 0 {
                errors.push(FieldError::new(
                    "indexation_percent",
                    "Indexatie kan alleen bij het Keuze Pensioen.",
                ));
            }
        }
        PensionKind::Keuze => {
            if let Some(years) = r.high_low_years {
                check_years(
                    &mut errors,
                    "high_low_years",
                    "De hoge periode",
                    years,
                    l.min_high_years,
                    l.max_high_years,
                );
            }
            let max = l.max_indexation_percent.unwrap_or(0);
            if r.indexation_percent > max {
                errors.push(FieldError::new(
                    "indexation_percent",
                    format!("De indexatie is maximaal {max} procent per jaar."),
                ));
            }
        }
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
    let low_ratio = match r.high_low_years {
        Some(_) => f64::from(l.high_low_percent.unwrap_or(100)) / 100.0,
        None => 1.0,
    };
    let partner = match (partner_age, r.partner_birth_date) {
        (Some(p_age), Some(birth)) => Some(Partner {
            age: p_age,
            birth_year: birth.year(),
            share: f64::from(r.partner_percent) / 100.0,
        }),
        _ => None,
    };
    let plan = Plan {
        age,
        birth_year: r.birth_date.year(),
        partner,
        per_year: r.frequency.per_year(),
        high_years: r.high_low_years,
        low_ratio,
        growth: f64::from(r.indexation_percent) / 100.0,
    };
    let factor = plan.factor(t);
    let yearly = net as f64 / factor;
    let low = r.high_low_years.map(|_| round_cents(yearly * low_ratio));
    let partner_yearly = plan
        .partner
        .as_ref()
        .map(|p| round_cents(yearly * low_ratio * p.share));

    let notes = notes(t, r, &plan, costs, l.high_low_percent.unwrap_or(100));
    Ok(PensionQuote {
        tariff_version: t.version().to_string(),
        age,
        partner_age: plan.partner.as_ref().map(|p| p.age),
        costs,
        net_purchase_sum: net,
        annuity_factor: factor,
        yearly_benefit: round_cents(yearly),
        per_payment: round_cents(yearly / f64::from(plan.per_year)),
        low_yearly_benefit: low,
        partner_yearly_benefit: partner_yearly,
        notes,
    })
}

/// The partner in a pension plan.
#[derive(Debug, Clone, PartialEq)]
struct Partner {
    age: u32,
    birth_year: i32,
    /// The partner pension as a fraction of the insured's (low) benefit.
    share: f64,
}

/// The shape of a DIP benefit per euro of first-year benefit.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    age: u32,
    birth_year: i32,
    partner: Option<Partner>,
    per_year: u32,
    /// High/low: the years at the high level.
    high_years: Option<u32>,
    /// The low level as a fraction of the high one (1 without high/low).
    low_ratio: f64,
    /// The yearly indexation g.
    growth: f64,
}

impl Plan {
    /// Present value of the insured's benefit (1 in year 0, then `low_ratio` after the high
    /// period, times (1 + g)ᵏ) plus the reversionary partner benefit (share × low_ratio ×
    /// (1 + g)ᵏ in year k while the partner lives and the insured has died), each paid m times a
    /// year in advance (Woolhouse per year). Lives are independent.
    fn factor(&self, t: &Tariff) -> f64 {
        let i = t.interest();
        let insured = t.survival(self.age, self.birth_year, 1.0);
        let index = |k: u32| (1.0 + self.growth).powf(f64::from(k));
        let own = |k: u32| {
            let level = match self.high_years {
                Some(high) if k >= high => self.low_ratio,
                _ => 1.0,
            };
            level * index(k)
        };
        let mut factor = stepped_annuity_due(&insured, i, self.per_year, None, own);
        if let Some(p) = &self.partner {
            let partner = t.survival(p.age, p.birth_year, 1.0);
            let after_death = Survival::reversionary(&insured, &partner);
            factor += stepped_annuity_due(&after_death, i, self.per_year, None, |k| {
                p.share * self.low_ratio * index(k)
            });
        }
        factor
    }
}

fn notes(
    t: &Tariff,
    r: &PensionRequest,
    plan: &Plan,
    costs: Cents,
    high_low_percent: u32,
) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Tarief {}: sterftetafel {}; rekenrente {} % per jaar.",
            t.version(),
            t.source(),
            format_rate(t.interest())
        ),
        "De leeftijden zijn de leeftijden op de dichtstbijzijnde verjaardag op de ingangsdatum."
            .to_string(),
        format!(
            "Kosten: {} vast plus {} % van de koopsom, samen {}.",
            format_euro(t.costs().fixed),
            format_decimal(t.costs().percent, 4),
            format_euro(costs)
        ),
        format!(
            "De uitkering is levenslang en wordt {} vooraf betaald ({} termijnen per jaar; contante waarde met de benadering van Woolhouse).",
            r.frequency.label(),
            plan.per_year
        ),
    ];
    if let Some(high) = plan.high_years {
        notes.push(format!(
            "Hoog/laag: de eerste {high} jaar geldt de hoge uitkering, daarna {high_low_percent} % daarvan."
        ));
    }
    if let Some(p) = &plan.partner {
        let of = if plan.high_years.is_some() {
            "de lage uitkering"
        } else {
            "de uitkering"
        };
        notes.push(format!(
            "Na het overlijden van de verzekerde ontvangt de partner levenslang {} % van {of}.",
            format_decimal(p.share * 100.0, 2)
        ));
        notes.push("De berekening met twee levens gaat uit van onafhankelijke sterfte van verzekerde en partner.".to_string());
    }
    if r.indexation_percent > 0 {
        let partner = if plan.partner.is_some() {
            ", ook het partnerpensioen"
        } else {
            ""
        };
        notes.push(format!(
            "De uitkering stijgt elk jaar met {} % (vaste indexatie){partner}.",
            r.indexation_percent
        ));
    }
    notes
}

/// "0, 50, 70 of 100".
fn join_or(values: &[u32]) -> String {
    match values.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => {
            let head: Vec<String> = rest.iter().map(u32::to_string).collect();
            format!("{} of {last}", head.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::actuarial::{annuity_due, annuity_due_mthly};
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 03 - 01);

    fn zeker() -> PensionRequest {
        PensionRequest {
            kind: PensionKind::Zeker,
            purchase_sum: 10_000_000,
            birth_date: date!(1961 - 03 - 15),
            partner_birth_date: None,
            partner_percent: 0,
            start_date: date!(2026 - 04 - 01),
            frequency: Frequency::Monthly,
            high_low_years: None,
            indexation_percent: 0,
        }
    }

    fn dip() -> Tariff {
        Tariff::builtin(Product::Dip)
    }

    #[test]
    fn zeker_is_net_sum_over_the_monthly_whole_life_annuity() {
        let q = quote_pension(&dip(), &zeker(), TODAY).unwrap();
        assert_eq!(q.age, 65);
        // costs: € 250 + 1 % of € 100.000 = € 1.250
        assert_eq!(q.costs, 125_000);
        assert_eq!(q.net_purchase_sum, 9_875_000);
        // ä⁽¹²⁾₆₅ = ä₆₅ − 11/24 = 13.5498… − 0.4583… = 13.0915…
        let life = dip().survival(65, 1961, 1.0);
        let expected = annuity_due(&life, 0.05) - 11.0 / 24.0;
        assert!((q.annuity_factor - expected).abs() < 1e-12);
        assert!((q.annuity_factor - 13.0915).abs() < 1e-4);
        assert_eq!(q.yearly_benefit, round_cents(9_875_000.0 / expected));
        assert_eq!(q.per_payment, round_cents(9_875_000.0 / expected / 12.0));
        assert_eq!(q.low_yearly_benefit, None);
        assert_eq!(q.partner_yearly_benefit, None);
        assert_eq!(q.tariff_version, "DIP-2026.1");
        assert!(
            q.notes[0].contains("Standard Ultimate Life Table")
                && q.notes[0].contains("rekenrente 5 %")
        );
    }

    #[test]
    fn full_partner_pension_is_the_last_survivor_annuity() {
        let mut r = zeker();
        r.partner_percent = 100;
        r.partner_birth_date = Some(date!(1964 - 09 - 01)); // 61 years 7 months → 62
        r.frequency = Frequency::Yearly;
        let q = quote_pension(&dip(), &r, TODAY).unwrap();
        assert_eq!(q.partner_age, Some(62));
        let (x, y) = (dip().survival(65, 1961, 1.0), dip().survival(62, 1964, 1.0));
        let last = annuity_due(&x, 0.05) + annuity_due(&y, 0.05) - annuity_due(&x.joint(&y), 0.05);
        assert!((q.annuity_factor - last).abs() < 1e-10);
        assert_eq!(q.partner_yearly_benefit, Some(q.yearly_benefit));
        assert!(q.notes.iter().any(|n| n.contains("onafhankelijke sterfte")));
    }

    #[test]
    fn keuze_high_low_and_indexation() {
        let mut r = zeker();
        r.kind = PensionKind::Keuze;
        r.high_low_years = Some(10);
        r.partner_percent = 70;
        r.partner_birth_date = Some(date!(1963 - 01 - 01));
        let q = quote_pension(&dip(), &r, TODAY).unwrap();
        let low = q.low_yearly_benefit.unwrap();
        assert!((low as f64 - 0.75 * q.yearly_benefit as f64).abs() <= 1.0);
        let partner = q.partner_yearly_benefit.unwrap();
        assert!((partner as f64 - 0.70 * low as f64).abs() <= 1.0);

        // The factor by hand: ä⁽¹²⁾ of the high years + 0.75·₁₀E₆₅·ä⁽¹²⁾₇₅-shaped tail + partner.
        let x = dip().survival(65, 1961, 1.0);
        let y = dip().survival(63, 1963, 1.0);
        let own = annuity_due_mthly(&x, 0.05, 12, Some(10))
            + 0.75
                * (annuity_due_mthly(&x, 0.05, 12, None)
                    - annuity_due_mthly(&x, 0.05, 12, Some(10)));
        let partner_part = 0.70 * 0.75 * (annuity_due(&y, 0.05) - annuity_due(&x.joint(&y), 0.05));
        assert!((q.annuity_factor - (own + partner_part)).abs() < 1e-10);

        // Indexation raises the factor and lowers the first benefit.
        let mut indexed = r.clone();
        indexed.indexation_percent = 2;
        let qi = quote_pension(&dip(), &indexed, TODAY).unwrap();
        assert!(qi.annuity_factor > q.annuity_factor);
        assert!(qi.yearly_benefit < q.yearly_benefit);
        assert!(
            qi.notes
                .iter()
                .any(|n| n.contains("stijgt elk jaar met 2 %"))
        );
    }

    #[test]
    fn indexation_is_summed_exactly() {
        let mut r = zeker();
        r.kind = PensionKind::Keuze;
        r.indexation_percent = 3;
        r.frequency = Frequency::Yearly;
        let q = quote_pension(&dip(), &r, TODAY).unwrap();
        let x = dip().survival(65, 1961, 1.0);
        let by_hand: f64 = (0..=60)
            .map(|k| 1.03f64.powi(k) * 1.05f64.powi(-k) * x.p(k as usize))
            .sum();
        assert!((q.annuity_factor - by_hand).abs() < 1e-10);
    }

    #[test]
    fn all_broken_rules_at_once_in_dutch() {
        let r = PensionRequest {
            kind: PensionKind::Zeker,
            purchase_sum: 1_000_000,
            birth_date: date!(2008 - 06 - 01),
            partner_birth_date: None,
            partner_percent: 60,
            start_date: date!(2026 - 02 - 01),
            frequency: Frequency::Monthly,
            high_low_years: Some(5),
            indexation_percent: 2,
        };
        let errors = quote_pension(&dip(), &r, TODAY).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("purchase_sum", "De koopsom is minimaal € 25.000,00."),
                (
                    "birth_date",
                    "De verzekerde is op de ingangsdatum 18 jaar; de minimumleeftijd is 55 jaar."
                ),
                (
                    "start_date",
                    "De ingangsdatum mag niet in het verleden liggen."
                ),
                (
                    "partner_percent",
                    "Het partnerpensioen is 0, 50, 70 of 100 procent van het ouderdomspensioen."
                ),
                (
                    "partner_birth_date",
                    "Vul de geboortedatum van de partner in; die is nodig voor een partnerpensioen."
                ),
                (
                    "high_low_years",
                    "Hoog/laag kan alleen bij het Keuze Pensioen."
                ),
                (
                    "indexation_percent",
                    "Indexatie kan alleen bij het Keuze Pensioen."
                ),
            ]
        );
    }

    #[test]
    fn keuze_limits_partner_age_and_late_start() {
        let mut r = zeker();
        r.kind = PensionKind::Keuze;
        r.high_low_years = Some(3);
        r.indexation_percent = 4;
        r.partner_percent = 50;
        r.partner_birth_date = Some(date!(2010 - 01 - 01));
        r.start_date = date!(2026 - 09 - 02);
        r.purchase_sum = 600_000_000;
        let errors = quote_pension(&dip(), &r, TODAY).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("purchase_sum", "De koopsom is maximaal € 5.000.000,00."),
                (
                    "start_date",
                    "De ingangsdatum ligt hoogstens 6 maanden na vandaag, dus uiterlijk op 1 september 2026."
                ),
                (
                    "partner_birth_date",
                    "De partner is op de ingangsdatum 17 jaar; de minimumleeftijd is 18 jaar."
                ),
                ("high_low_years", "De hoge periode is minimaal 5 jaar."),
                (
                    "indexation_percent",
                    "De indexatie is maximaal 3 procent per jaar."
                ),
            ]
        );
    }

    #[test]
    fn a_wrong_tariff_is_refused_not_panicked() {
        let errors = quote_pension(&Tariff::builtin(Product::Orv), &zeker(), TODAY).unwrap_err();
        assert_eq!(errors[0].field, "tariff");
    }

    proptest! {
        #[test]
        fn older_or_more_interest_gives_a_smaller_factor(
            age in 55u32..85, partner in proptest::option::of(18u32..95), per_year in prop::sample::select(vec![1u32, 2, 4, 12]),
            high in proptest::option::of(5u32..20), growth in 0u32..=3, i in 0.0f64..0.08,
        ) {
            let plan = |age: u32| Plan {
                age, birth_year: 2026 - age as i32,
                partner: partner.map(|p| Partner { age: p, birth_year: 2026 - p as i32, share: 0.7 }),
                per_year, high_years: high, low_ratio: if high.is_some() { 0.75 } else { 1.0 }, growth: f64::from(growth) / 100.0,
            };
            let t = dip();
            prop_assert!(plan(age + 1).factor(&t) < plan(age).factor(&t));
            let mut richer = t.clone();
            richer.set_interest_for_test(i + 0.01);
            let mut poorer = t.clone();
            poorer.set_interest_for_test(i);
            prop_assert!(plan(age).factor(&richer) < plan(age).factor(&poorer));
        }
    }
}
