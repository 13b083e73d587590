//! The worked examples of `docs/PRICING.md`, pinned: if a change moves a figure, the document
//! must change with it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::*;
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2026 - 03 - 01);

#[test]
fn dip_examples() {
    let t = Tariff::builtin(Product::Dip);
    let zeker = PensionRequest {
        kind: PensionKind::Zeker,
        purchase_sum: 10_000_000,
        birth_date: date!(1961 - 03 - 15),
        partner_birth_date: Some(date!(1963 - 08 - 10)),
        partner_percent: 70,
        start_date: date!(2026 - 04 - 01),
        frequency: Frequency::Monthly,
        high_low_years: None,
        indexation_percent: 0,
    };
    let q = quote_pension(&t, &zeker, TODAY).unwrap();
    assert_eq!(
        (q.age, q.partner_age, q.costs, q.net_purchase_sum),
        (65, Some(63), 125_000, 9_875_000)
    );
    assert_eq!(format!("{:.6}", q.annuity_factor), "14.578673");
    assert_eq!(
        (q.yearly_benefit, q.per_payment, q.partner_yearly_benefit),
        (677_359, 56_447, Some(474_152))
    );

    let alone = PensionRequest {
        partner_birth_date: None,
        partner_percent: 0,
        ..zeker.clone()
    };
    let q = quote_pension(&t, &alone, TODAY).unwrap();
    assert_eq!(format!("{:.6}", q.annuity_factor), "13.091457");
    assert_eq!((q.yearly_benefit, q.per_payment), (754_309, 62_859));

    let keuze = PensionRequest {
        kind: PensionKind::Keuze,
        high_low_years: Some(10),
        indexation_percent: 2,
        ..zeker
    };
    let q = quote_pension(&t, &keuze, TODAY).unwrap();
    assert_eq!(format!("{:.6}", q.annuity_factor), "15.684555");
    assert_eq!(
        (
            q.yearly_benefit,
            q.per_payment,
            q.low_yearly_benefit,
            q.partner_yearly_benefit
        ),
        (629_600, 52_467, Some(472_200), Some(330_540))
    );
}

#[test]
fn dil_examples() {
    let t = Tariff::builtin(Product::Dil);
    let expected = [
        (
            LijfrenteTerm::Years(20),
            false,
            "11.261301",
            438_226,
            36_519,
        ),
        (LijfrenteTerm::Years(20), true, "12.799729", 385_555, 32_130),
        (LijfrenteTerm::Lifelong, false, "12.495871", 394_930, 32_911),
        (LijfrenteTerm::Lifelong, true, "13.296139", 371_160, 30_930),
    ];
    for (term, refund, factor, yearly, per_payment) in expected {
        let r = LijfrenteRequest {
            purchase_sum: 5_000_000,
            birth_date: date!(1958 - 10 - 20),
            start_date: date!(2026 - 04 - 01),
            frequency: Frequency::Monthly,
            term,
            refund_on_death: refund,
        };
        let q = quote_lijfrente(&t, &r, TODAY).unwrap();
        assert_eq!(
            (q.age, q.costs, q.net_purchase_sum),
            (67, 65_000, 4_935_000)
        );
        assert_eq!(
            format!("{:.6}", q.annuity_factor),
            factor,
            "{term:?} {refund}"
        );
        assert_eq!(
            (q.yearly_benefit, q.per_payment),
            (yearly, per_payment),
            "{term:?} {refund}"
        );
    }
}

#[test]
fn orv_examples() {
    let t = Tariff::builtin(Product::Orv);
    let expected = [
        (Cover::Level, false, 3_561),
        (Cover::Level, true, 5_856),
        (Cover::LinearDecreasing, false, 2_228),
        (Cover::LinearDecreasing, true, 3_204),
        (Cover::AnnuityDecreasing, false, 2_381),
        (Cover::AnnuityDecreasing, true, 3_510),
    ];
    for (cover, smoker, monthly) in expected {
        let r = TermLifeRequest {
            sum_insured: 25_000_000,
            birth_date: date!(1986 - 05 - 20),
            start_date: date!(2026 - 04 - 01),
            term_years: 20,
            cover,
            smoker,
        };
        let q = quote_term_life(&t, &r, TODAY).unwrap();
        assert_eq!(q.age, 40);
        assert_eq!(q.monthly_premium, monthly, "{cover:?} smoker {smoker}");
        assert_eq!(
            (q.yearly_premium, q.total_premium),
            (12 * monthly, 240 * monthly)
        );
        if cover == Cover::AnnuityDecreasing {
            assert_eq!(q.cover_by_year[..3], [25_000_000, 24_166_896, 23_299_849]);
            assert_eq!(q.cover_by_year[19], 1_779_157);
        }
    }
}
