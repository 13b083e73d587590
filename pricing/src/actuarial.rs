//! Life contingencies on a yearly grid: survival curves, annuities, insurances and pure
//! endowments at a fixed interest rate. This module knows no products, tariffs or money; the
//! product modules build their cash flows from these values.
//!
//! Notation follows the textbooks (Dickson, Hardy & Waters, *Actuarial Mathematics for Life
//! Contingent Risks*): v = 1/(1 + i), d = 1 − v, ₖpₓ the probability that the status still holds
//! at time k, äₓ = Σ vᵏ·ₖpₓ (annuity-due), Aₓ = Σ vᵏ⁺¹·(ₖpₓ − ₖ₊₁pₓ) (death benefit at the end of
//! the year of death), ₙEₓ = vⁿ·ₙpₓ.
//!
//! ```
//! use pricing::actuarial::{annuity_due, insurance, Survival};
//! // A life aged ω − 2 with q = 0.1, 0.5, 1 and 25 % interest: ä = 1 + 0.8·0.9 + 0.64·0.45.
//! let life = Survival::from_q(&[0.1, 0.5, 1.0]);
//! assert!((annuity_due(&life, 0.25) - 2.008).abs() < 1e-12);
//! assert!((insurance(&life, 0.25) - 0.5984).abs() < 1e-12);
//! ```

/// The probability, for each whole year k from the start, that a status holds at time k: a single
/// life, two joint lives, a last survivor, or "the second alive and the first dead" (the
/// reversionary status of a partner pension, which starts at 0). Beyond the stored years the
/// probability is 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Survival {
    p: Vec<f64>,
}

impl Survival {
    /// The survival curve of a life with yearly death probabilities `q[0]`, `q[1]`, …: ₀p = 1 and
    /// ₖ₊₁p = ₖp·(1 − q[k]). After the last q the life has died whatever that q says, so a table
    /// should end with q = 1 (at ω). Probabilities are clamped into [0, 1].
    pub fn from_q(q: &[f64]) -> Survival {
        let mut p = Vec::with_capacity(q.len() + 1);
        let mut alive = 1.0;
        p.push(alive);
        for &qk in q {
            alive *= 1.0 - qk.clamp(0.0, 1.0);
            p.push(alive);
        }
        Survival { p }
    }

    /// A status that holds for certain at times 0, 1, …, `years` and not after: valued as a life,
    /// it gives the annuity-certain.
    pub fn certain(years: u32) -> Survival {
        Survival {
            p: vec![1.0; years as usize + 1],
        }
    }

    /// ₖp: the probability that the status holds at time `k` (0 beyond the table).
    pub fn p(&self, k: usize) -> f64 {
        self.p.get(k).copied().unwrap_or(0.0)
    }

    /// The number of stored times; from this index on the probability is 0.
    pub fn horizon(&self) -> usize {
        self.p.len()
    }

    /// Joint-life status of two independent lives: both alive, ₖpₓᵧ = ₖpₓ·ₖpᵧ.
    pub fn joint(&self, other: &Survival) -> Survival {
        Survival {
            p: self.p.iter().zip(&other.p).map(|(a, b)| a * b).collect(),
        }
    }

    /// Last-survivor status of two independent lives: at least one alive,
    /// ₖp₍ₓᵧ‾₎ = ₖpₓ + ₖpᵧ − ₖpₓ·ₖpᵧ.
    pub fn last_survivor(&self, other: &Survival) -> Survival {
        let n = self.horizon().max(other.horizon());
        Survival {
            p: (0..n)
                .map(|k| {
                    let (a, b) = (self.p(k), other.p(k));
                    a + b - a * b
                })
                .collect(),
        }
    }

    /// Reversionary status: `second` alive and `first` dead, ₖpᵧ − ₖpₓᵧ for independent lives.
    /// Its annuity is the partner pension that starts at the death of the insured.
    pub fn reversionary(first: &Survival, second: &Survival) -> Survival {
        Survival {
            p: (0..second.horizon())
                .map(|k| second.p(k) * (1.0 - first.p(k)))
                .collect(),
        }
    }
}

/// The discount factor v = 1/(1 + i).
pub fn discount(interest: f64) -> f64 {
    1.0 / (1.0 + interest)
}

/// Woolhouse's two-term correction (m − 1)/(2m) for m payments a year in advance.
pub fn woolhouse_alpha(per_year: u32) -> f64 {
    let m = f64::from(per_year.max(1));
    (m - 1.0) / (2.0 * m)
}

/// Whole-life annuity-due äₓ = Σₖ vᵏ·ₖpₓ, one payment a year.
pub fn annuity_due(status: &Survival, interest: f64) -> f64 {
    temporary_annuity_due(status, interest, u32::MAX)
}

/// Temporary annuity-due äₓ:ₙ = Σₖ₌₀ⁿ⁻¹ vᵏ·ₖpₓ, one payment a year.
pub fn temporary_annuity_due(status: &Survival, interest: f64, years: u32) -> f64 {
    let v = discount(interest);
    let mut vk = 1.0;
    let mut sum = 0.0;
    for k in 0..status.horizon().min(years as usize) {
        sum += vk * status.p(k);
        vk *= v;
    }
    sum
}

/// Pure endowment ₙEₓ = vⁿ·ₙpₓ.
pub fn pure_endowment(status: &Survival, interest: f64, years: u32) -> f64 {
    discount(interest).powf(f64::from(years)) * status.p(years as usize)
}

/// Whole-life insurance Aₓ = Σₖ vᵏ⁺¹·(ₖpₓ − ₖ₊₁pₓ), paid at the end of the year of death.
pub fn insurance(status: &Survival, interest: f64) -> f64 {
    term_insurance(status, interest, u32::MAX)
}

/// Term insurance A¹ₓ:ₙ: as [`insurance`] for deaths in the first `years` years.
pub fn term_insurance(status: &Survival, interest: f64, years: u32) -> f64 {
    let v = discount(interest);
    let mut vk1 = v;
    let mut sum = 0.0;
    for k in 0..status.horizon().min(years as usize) {
        sum += vk1 * (status.p(k) - status.p(k + 1));
        vk1 *= v;
    }
    sum
}

/// Annuity-certain-due äₙ = (1 − vⁿ)/d (n when i = 0).
pub fn annuity_certain_due(interest: f64, years: u32) -> f64 {
    let v = discount(interest);
    let d = 1.0 - v;
    if d.abs() < 1e-15 {
        f64::from(years)
    } else {
        (1.0 - v.powf(f64::from(years))) / d
    }
}

/// Annuity-due with `per_year` payments of 1/m a year, for `years` years (`None`: for life):
/// ä⁽ᵐ⁾ = ä − (m − 1)/(2m)·(1 − ₙEₓ) (Woolhouse, two terms).
pub fn annuity_due_mthly(
    status: &Survival,
    interest: f64,
    per_year: u32,
    years: Option<u32>,
) -> f64 {
    stepped_annuity_due(status, interest, per_year, years, |_| 1.0)
}

/// Present value of a yearly amount `amount(k)` in year k (k = 0, 1, …), paid in `per_year`
/// equal instalments in advance while the status holds, for `years` years (`None`: as long as the
/// status can hold).
///
/// Each year is valued with Woolhouse's two-term approximation, vᵏ·ₖp − (m − 1)/(2m)·(vᵏ·ₖp −
/// vᵏ⁺¹·ₖ₊₁p): summed over level years this telescopes to exactly ä − (m − 1)/(2m)·(1 − ₙEₓ), and
/// it values stepped amounts (indexation, high/low) the same way. For m = 1 it is the plain
/// annuity-due.
pub fn stepped_annuity_due(
    status: &Survival,
    interest: f64,
    per_year: u32,
    years: Option<u32>,
    amount: impl Fn(u32) -> f64,
) -> f64 {
    let v = discount(interest);
    let alpha = woolhouse_alpha(per_year);
    let last = years.map_or(status.horizon(), |n| status.horizon().min(n as usize));
    let mut vk = 1.0;
    let mut sum = 0.0;
    for k in 0..last {
        let now = vk * status.p(k);
        let next = vk * v * status.p(k + 1);
        let year = u32::try_from(k).unwrap_or(u32::MAX);
        sum += amount(year) * (now - alpha * (now - next));
        vk *= v;
    }
    sum
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::Mortality;
    use proptest::prelude::*;

    /// The shipped default: Makeham with the SOA Standard Ultimate Life Table parameters.
    fn sult() -> Mortality {
        Mortality::Makeham {
            a: 0.00022,
            b: 2.7e-6,
            c: 1.124,
            omega: 120,
        }
    }

    fn sult_life(age: u32) -> Survival {
        sult().survival(age, 2000 - age as i32, 1.0)
    }

    fn round_to(x: f64, decimals: i32) -> f64 {
        let f = 10f64.powi(decimals);
        (x * f).round() / f
    }

    // The engine's first test (SPEC §7): the values the Society of Actuaries publishes for its
    // Standard Ultimate Life Table at 5 %.
    #[test]
    fn soa_standard_ultimate_life_table_at_5_percent() {
        assert_eq!(round_to(annuity_due(&sult_life(20), 0.05), 4), 19.9664);
        assert_eq!(round_to(annuity_due(&sult_life(45), 0.05), 4), 17.8162);
        assert_eq!(round_to(annuity_due(&sult_life(65), 0.05), 4), 13.5498);
        assert_eq!(round_to(annuity_due(&sult_life(80), 0.05), 4), 8.5484);
        assert_eq!(round_to(1000.0 * sult().q(65, 1960), 3), 5.915);
    }

    #[test]
    fn annuity_certain_by_hand() {
        // i = 5 %, n = 3: v = 1/1.05, ä₃ = 1 + v + v² = 1 + 0.952381 + 0.907029 = 2.859410;
        // (1 − v³)/d = (1 − 0.863838)/(0.05/1.05) = 0.136162/0.047619 = 2.859410.
        assert!((annuity_certain_due(0.05, 3) - 2.859_410).abs() < 1e-6);
        // i = 0: n payments of 1.
        assert_eq!(annuity_certain_due(0.0, 7), 7.0);
        // The certain status valued as a life gives the same.
        assert!((temporary_annuity_due(&Survival::certain(3), 0.05, 3) - 2.859_410).abs() < 1e-6);
        assert!(
            (annuity_certain_due(0.05, 20) - (1.0 - 1.05f64.powi(-20)) / (0.05 / 1.05)).abs()
                < 1e-12
        );
    }

    /// A hand-made table: ages 97, 98, 99 = ω with q = 0.1, 0.5, 1 at i = 25 % (v = 0.8, d = 0.2).
    ///   ₀p = 1, ₁p = 0.9, ₂p = 0.9·0.5 = 0.45, ₃p = 0.
    ///   ä₉₇ = 1 + 0.8·0.9 + 0.64·0.45 = 1 + 0.72 + 0.288 = 2.008
    ///   A₉₇ = 0.8·0.1 + 0.64·0.45 + 0.512·0.45 = 0.08 + 0.288 + 0.2304 = 0.5984
    ///   check (1 − A)/d = 0.4016/0.2 = 2.008
    ///   ä₉₇:₂ = 1.72, ₂E₉₇ = 0.64·0.45 = 0.288, ä₉₉ = 1 → 1.72 + 0.288·1 = 2.008
    ///   A¹₉₇:₂ = 0.08 + 0.288 = 0.368
    ///   monthly: ä⁽¹²⁾₉₇ = 2.008 − 11/24 = 1.549833…
    ///   two such lives: ₖpₓᵧ = 1, 0.81, 0.2025 → äₓᵧ = 1 + 0.648 + 0.1296 = 1.7776,
    ///   last survivor 2.008 + 2.008 − 1.7776 = 2.2384, reversionary 2.008 − 1.7776 = 0.2304.
    #[test]
    fn three_age_table_by_hand() {
        let life = Survival::from_q(&[0.1, 0.5, 1.0]);
        let i = 0.25;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(annuity_due(&life, i), 2.008));
        assert!(close(insurance(&life, i), 0.5984));
        assert!(close(temporary_annuity_due(&life, i, 2), 1.72));
        assert!(close(pure_endowment(&life, i, 2), 0.288));
        assert!(close(term_insurance(&life, i, 2), 0.368));
        assert!(close(
            annuity_due_mthly(&life, i, 12, None),
            2.008 - 11.0 / 24.0
        ));
        let joint = life.joint(&life);
        assert!(close(annuity_due(&joint, i), 1.7776));
        assert!(close(annuity_due(&life.last_survivor(&life), i), 2.2384));
        assert!(close(
            annuity_due(&Survival::reversionary(&life, &life), i),
            0.2304
        ));
    }

    #[test]
    fn identities_on_the_default_table() {
        let i = 0.05;
        let d = 1.0 - discount(i);
        for age in [20, 45, 65, 80, 100] {
            let x = sult_life(age);
            // äₓ = (1 − Aₓ)/d
            assert!(
                (annuity_due(&x, i) - (1.0 - insurance(&x, i)) / d).abs() < 1e-10,
                "age {age}"
            );
            // äₓ = äₓ:ₙ + ₙEₓ·äₓ₊ₙ
            for n in [1, 10, 20] {
                let split = temporary_annuity_due(&x, i, n)
                    + pure_endowment(&x, i, n) * annuity_due(&sult_life(age + n), i);
                assert!(
                    (annuity_due(&x, i) - split).abs() < 1e-10,
                    "age {age}, n {n}"
                );
            }
            // Woolhouse: ä⁽ᵐ⁾ₓ:ₙ = äₓ:ₙ − (m − 1)/(2m)·(1 − ₙEₓ)
            let wool =
                temporary_annuity_due(&x, i, 10) - 11.0 / 24.0 * (1.0 - pure_endowment(&x, i, 10));
            assert!((annuity_due_mthly(&x, i, 12, Some(10)) - wool).abs() < 1e-10);
        }
        for (ax, ay) in [(65, 62), (70, 75), (30, 90)] {
            let (x, y) = (sult_life(ax), sult_life(ay));
            let joint = annuity_due(&x.joint(&y), i);
            // joint ≤ min single
            assert!(joint <= annuity_due(&x, i).min(annuity_due(&y, i)));
            // last survivor: ä(xy‾) = äₓ + äᵧ − äₓᵧ
            let last = annuity_due(&x.last_survivor(&y), i);
            assert!((last - (annuity_due(&x, i) + annuity_due(&y, i) - joint)).abs() < 1e-10);
            // reversionary: äₓ|ᵧ = äᵧ − äₓᵧ, and its monthly value equals the yearly one
            let rev = Survival::reversionary(&x, &y);
            assert!((annuity_due(&rev, i) - (annuity_due(&y, i) - joint)).abs() < 1e-10);
            assert!((annuity_due_mthly(&rev, i, 12, None) - annuity_due(&rev, i)).abs() < 1e-10);
        }
    }

    #[test]
    fn no_mortality_gives_the_annuity_certain() {
        let immortal = Survival::from_q(&[0.0; 40]);
        for (i, n) in [(0.05, 10), (0.03, 25), (0.0, 7), (0.08, 40)] {
            assert!(
                (temporary_annuity_due(&immortal, i, n) - annuity_certain_due(i, n)).abs() < 1e-10
            );
        }
    }

    proptest! {
        #[test]
        fn older_gives_a_smaller_annuity(age in 20u32..110, i in 0.0f64..0.10) {
            prop_assert!(annuity_due(&sult_life(age + 1), i) < annuity_due(&sult_life(age), i));
            prop_assert!(
                annuity_due_mthly(&sult_life(age + 1), i, 12, None)
                    < annuity_due_mthly(&sult_life(age), i, 12, None)
            );
        }

        #[test]
        fn more_interest_gives_a_smaller_annuity(age in 20u32..110, i in 0.0f64..0.10, step in 0.001f64..0.05) {
            let x = sult_life(age);
            prop_assert!(annuity_due(&x, i + step) < annuity_due(&x, i));
            prop_assert!(temporary_annuity_due(&x, i + step, 10) < temporary_annuity_due(&x, i, 10));
        }

        #[test]
        fn joint_is_at_most_the_smaller_single(ax in 20u32..110, ay in 20u32..110, i in 0.0f64..0.10) {
            let (x, y) = (sult_life(ax), sult_life(ay));
            let joint = annuity_due(&x.joint(&y), i);
            prop_assert!(joint <= annuity_due(&x, i).min(annuity_due(&y, i)) + 1e-12);
        }
    }
}
