//! Quotes and applications as the product portals store them.
//!
//! Request and result are real: a pool of requests per product and month is priced by the
//! `pricing` engine with the shipped tariffs, on that month's date, and stored exactly as
//! `product_adapters::store::quotes::create` stores them (the request and the engine's
//! answer as JSON values, written out by `serde_json`), so every page and PDF of the
//! portal reads them. Each quote draws one of its month's priced requests and gets an
//! insured's name of its own; quotes are made in time order, so the per-product numbers
//! (`seq`) rise with `created_at` as in production.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use pricing::{
    Cover, Frequency, LijfrenteRequest, LijfrenteTerm, PensionKind, PensionRequest, Tariffs,
    TermLifeRequest,
};
use time::{Date, Duration, Month, OffsetDateTime};
use uuid::Uuid;

use super::model::{DIL, DIP, ORV, Plan, uuid_v7};
use super::names;
use super::rng::Rng;

/// Priced requests per product and month.
const PER_MONTH: usize = 16;
/// Share of quotes that become an application.
const APPLIED: f64 = 0.18;
/// Relative popularity of the products among advisors who hold the right.
const POPULARITY: [(u8, f64); 3] = [(DIP, 0.45), (DIL, 0.35), (ORV, 0.20)];

/// A priced request, ready to store.
#[derive(Debug, Clone)]
pub struct Template {
    /// DIZP, DIKP, DIL or ORV.
    pub variant: &'static str,
    /// The tariff version that priced it.
    pub tariff_version: String,
    /// The request as stored.
    pub request: Arc<str>,
    /// The result as stored.
    pub result: Arc<str>,
    /// The headline figure.
    pub amount_cents: i64,
}

/// The pools: `[product][month]`.
pub struct Templates {
    pools: [Vec<Vec<Template>>; 3],
    start: OffsetDateTime,
}

/// Slot of a right bit in the pools.
fn slot(product: u8) -> usize {
    match product {
        DIP => 0,
        DIL => 1,
        _ => 2,
    }
}

/// The right code of a bit.
pub fn code(product: u8) -> &'static str {
    match product {
        DIP => "DIP",
        DIL => "DIL",
        _ => "ORV",
    }
}

/// A 30-day "month" bucket of the quote span.
const MONTH: i64 = 30 * 86_400;

fn first_of_next_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(d)
}

fn months_later(d: Date, n: u32) -> Date {
    pricing::add_months(d, n)
}

/// A birth date giving an age from `lo` to `hi` on `on`.
fn born(rng: &mut Rng, on: Date, lo: i64, hi: i64) -> Date {
    let age = rng.range(lo, hi);
    on - Duration::days(age * 365 + rng.range(-150, 150))
}

/// Whole euros between `lo` and `hi`, rounded to `step`, in cents.
fn euros(rng: &mut Rng, lo: i64, hi: i64, step: i64) -> i64 {
    rng.range(lo / step, hi / step) * step * 100
}

fn frequency(rng: &mut Rng) -> Frequency {
    match rng.unit() {
        x if x < 0.70 => Frequency::Monthly,
        x if x < 0.82 => Frequency::Quarterly,
        x if x < 0.88 => Frequency::HalfYearly,
        _ => Frequency::Yearly,
    }
}

/// `value` as the products' store writes it: a JSON value, then its text.
fn stored(value: &impl serde::Serialize) -> Result<Arc<str>> {
    let v = serde_json::to_value(value)?;
    Ok(serde_json::to_string(&v)?.into())
}

/// One priced request of `product` made on `today`; `None` when the engine refuses the
/// drawn input (the caller draws again).
fn price(tariffs: &Tariffs, product: u8, today: Date, rng: &mut Rng) -> Result<Option<Template>> {
    let start = months_later(first_of_next_month(today), rng.range(0, 3) as u32);
    Ok(match product {
        DIP => {
            let kind = if rng.chance(0.6) {
                PensionKind::Zeker
            } else {
                PensionKind::Keuze
            };
            let partner_percent = *rng.pick(&[0, 0, 50, 70, 70, 100]);
            let keuze = kind == PensionKind::Keuze;
            let r = PensionRequest {
                kind,
                purchase_sum: euros(rng, 25_000, 900_000, 500),
                birth_date: born(rng, start, 60, 74),
                partner_birth_date: (partner_percent > 0).then(|| born(rng, start, 55, 78)),
                partner_percent,
                start_date: start,
                frequency: frequency(rng),
                high_low_years: (keuze && rng.chance(0.35)).then(|| rng.range(5, 20) as u32),
                indexation_percent: if keuze { rng.range(0, 3) as u32 } else { 0 },
            };
            match pricing::quote_pension(&tariffs.dip, &r, today) {
                Ok(q) => Some(Template {
                    variant: if keuze { "DIKP" } else { "DIZP" },
                    tariff_version: q.tariff_version.clone(),
                    amount_cents: q.yearly_benefit,
                    request: stored(&r)?,
                    result: stored(&q)?,
                }),
                Err(_) => None,
            }
        }
        DIL => {
            let r = LijfrenteRequest {
                purchase_sum: euros(rng, 5_000, 600_000, 250),
                birth_date: born(rng, start, 50, 82),
                start_date: start,
                frequency: frequency(rng),
                term: if rng.chance(0.3) {
                    LijfrenteTerm::Lifelong
                } else {
                    LijfrenteTerm::Years(rng.range(5, 30) as u32)
                },
                refund_on_death: rng.chance(0.4),
            };
            match pricing::quote_lijfrente(&tariffs.dil, &r, today) {
                Ok(q) => Some(Template {
                    variant: "DIL",
                    tariff_version: q.tariff_version.clone(),
                    amount_cents: q.yearly_benefit,
                    request: stored(&r)?,
                    result: stored(&q)?,
                }),
                Err(_) => None,
            }
        }
        _ => {
            let age = rng.range(22, 60);
            let r = TermLifeRequest {
                sum_insured: euros(rng, 25_000, 750_000, 5_000),
                birth_date: born(rng, start, age, age),
                start_date: start,
                term_years: rng.range(5, (79 - age).min(35)) as u32,
                cover: match rng.unit() {
                    x if x < 0.5 => Cover::Level,
                    x if x < 0.7 => Cover::LinearDecreasing,
                    _ => Cover::AnnuityDecreasing,
                },
                smoker: rng.chance(0.15),
            };
            match pricing::quote_term_life(&tariffs.orv, &r, today) {
                Ok(q) => Some(Template {
                    variant: "ORV",
                    tariff_version: q.tariff_version.clone(),
                    amount_cents: q.monthly_premium,
                    request: stored(&r)?,
                    result: stored(&q)?,
                }),
                Err(_) => None,
            }
        }
    })
}

impl Templates {
    /// Prices the pools for quotes made from `start` to `end`.
    pub fn price(start: OffsetDateTime, end: OffsetDateTime, seed: u64) -> Result<Self> {
        let tariffs = Tariffs::builtin();
        let mut rng = Rng::fork(seed, 2);
        let months = ((end - start).whole_seconds() / MONTH + 1).max(1) as usize;
        let mut pools: [Vec<Vec<Template>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
        for (product, _) in POPULARITY {
            for m in 0..months {
                // Priced on the last day of the bucket: every quote of the bucket is made
                // on or before it, so the start dates lie ahead of each quote's date.
                let today = (start + Duration::seconds((m as i64 + 1) * MONTH - 1)).date();
                let mut pool = Vec::with_capacity(PER_MONTH);
                let mut tries = 0;
                while pool.len() < PER_MONTH {
                    tries += 1;
                    if tries > PER_MONTH * 50 {
                        anyhow::bail!(
                            "the tariff of {} refuses every drawn request",
                            code(product)
                        );
                    }
                    if let Some(t) = price(&tariffs, product, today, &mut rng)
                        .with_context(|| format!("pricing a {} quote", code(product)))?
                    {
                        pool.push(t);
                    }
                }
                pools[slot(product)].push(pool);
            }
        }
        Ok(Self { pools, start })
    }

    fn pick(&self, product: u8, at: OffsetDateTime, rng: &mut Rng) -> &Template {
        let months = &self.pools[slot(product)];
        let m = ((at - self.start).whole_seconds() / MONTH).max(0) as usize;
        let pool = &months[m.min(months.len().saturating_sub(1))];
        rng.pick(pool)
    }

    /// How many requests were priced.
    pub fn len(&self) -> usize {
        self.pools.iter().flatten().map(Vec::len).sum()
    }

    /// The average length of a stored request plus result, for the summary.
    pub fn mean_payload(&self) -> usize {
        let all: Vec<&Template> = self.pools.iter().flatten().flatten().collect();
        let total: usize = all.iter().map(|t| t.request.len() + t.result.len()).sum();
        total / all.len().max(1)
    }
}

/// A quote row.
#[derive(Debug, Clone)]
pub struct Quote {
    /// Id (UUIDv7 of its time).
    pub id: Uuid,
    /// Right bit.
    pub product: u8,
    /// Per-product number.
    pub seq: i64,
    /// Index of the advisor in [`Plan::users`].
    pub user: usize,
    /// The insured.
    pub client_name: String,
    /// What was priced.
    pub template: Template,
    /// When.
    pub created_at: OffsetDateTime,
}

/// An application made from a quote, kept small until the quotes are written.
#[derive(Debug, Clone)]
pub struct Application {
    /// Id.
    pub id: Uuid,
    /// The quote.
    pub quote_id: Uuid,
    /// Its product.
    pub product: u8,
    /// The insured (the quote's).
    pub applicant_name: String,
    /// The quote's result.
    pub result: Arc<str>,
    /// The advisor (the quote's).
    pub user: usize,
    /// When.
    pub created_at: OffsetDateTime,
}

/// Draws the quotes one by one, in time order, collecting their applications.
pub struct QuoteStream<'a> {
    plan: &'a Plan,
    templates: &'a Templates,
    rng: Rng,
    /// Cumulative quote weights of the users (0 for users without a right to quote).
    cumulative: Vec<f64>,
    start: OffsetDateTime,
    span: i64,
    total: usize,
    made: usize,
    now: OffsetDateTime,
    /// The last number drawn per product (DIP, DIL, ORV).
    pub last: [i64; 3],
    /// The applications of the quotes drawn so far.
    pub applications: Vec<Application>,
}

impl<'a> QuoteStream<'a> {
    /// `total` quotes from `start` to `now`, numbered after `last` (the products' counters
    /// as found in `quote_numbers`).
    pub fn new(
        plan: &'a Plan,
        templates: &'a Templates,
        total: usize,
        start: OffsetDateTime,
        now: OffsetDateTime,
        last: [i64; 3],
        seed: u64,
    ) -> Self {
        let mut rng = Rng::fork(seed, 3);
        let mut acc = 0.0;
        let cumulative = plan
            .users
            .iter()
            .map(|u| {
                if u.effective != 0 {
                    acc += if u.main { 1.0 } else { 0.2 + 1.6 * rng.unit() };
                }
                acc
            })
            .collect();
        Self {
            plan,
            templates,
            rng,
            cumulative,
            start,
            span: (now - start).whole_seconds().max(1),
            total,
            made: 0,
            now,
            last,
            applications: Vec::with_capacity((total as f64 * APPLIED * 1.05) as usize),
        }
    }

    /// Whether anyone can quote at all.
    pub fn anyone_quotes(&self) -> bool {
        self.cumulative.last().is_some_and(|&w| w > 0.0)
    }

    fn draw_user(&mut self) -> usize {
        let top = self.cumulative.last().copied().unwrap_or(0.0);
        let x = self.rng.unit() * top;
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

impl Iterator for QuoteStream<'_> {
    type Item = Quote;

    fn next(&mut self) -> Option<Quote> {
        if self.made >= self.total || !self.anyone_quotes() {
            return None;
        }
        let offset = (self.made as i128 * i128::from(self.span) / self.total as i128) as i64;
        let created_at = self.start + Duration::seconds(offset);
        self.made += 1;
        let user = self.draw_user();
        let held = self.plan.users[user].effective;
        let choices: Vec<(u8, f64)> = POPULARITY
            .iter()
            .copied()
            .filter(|(p, _)| held & p != 0)
            .collect();
        let sum: f64 = choices.iter().map(|(_, w)| w).sum();
        let mut x = self.rng.unit() * sum;
        let mut product = choices.first().map_or(DIP, |c| c.0);
        for (p, w) in &choices {
            if x < *w {
                product = *p;
                break;
            }
            x -= w;
        }
        let s = slot(product);
        self.last[s] += 1;
        let template = self
            .templates
            .pick(product, created_at, &mut self.rng)
            .clone();
        let id = uuid_v7(created_at, &mut self.rng);
        let client_name = names::insured(&mut self.rng);
        if self.rng.chance(APPLIED) {
            let later = created_at + Duration::seconds(self.rng.range(600, 14 * 86_400));
            let applied_at = if later < self.now { later } else { self.now };
            self.applications.push(Application {
                id: uuid_v7(applied_at, &mut self.rng),
                quote_id: id,
                product,
                applicant_name: client_name.clone(),
                result: template.result.clone(),
                user,
                created_at: applied_at,
            });
        }
        Some(Quote {
            id,
            product,
            seq: self.last[s],
            user,
            client_name,
            template,
            created_at,
        })
    }
}

/// The address part of an application: (street, postcode, city, IBAN), drawn per row.
pub fn applicant_details(rng: &mut Rng) -> (String, String, String, String) {
    let (city, pp, _) = names::city(rng);
    let iban = names::iban(rng);
    let printed = product_adapters::application::normalise_iban(&iban).unwrap_or(iban);
    (
        names::address(rng),
        names::postcode(rng, pp),
        city.to_owned(),
        printed,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::fill::model::{Sizes, plan};

    #[test]
    fn every_pool_prices_and_the_stored_json_reads_back() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let start = now - Duration::days(730);
        let t = Templates::price(start, now, 9).unwrap();
        for pool in t.pools.iter().flatten() {
            assert_eq!(pool.len(), PER_MONTH);
        }
        let dip = t.pick(DIP, start, &mut Rng::new(1));
        let _: pricing::PensionRequest = serde_json::from_str(&dip.request).unwrap();
        let _: pricing::PensionQuote = serde_json::from_str(&dip.result).unwrap();
        let orv = t.pick(ORV, now, &mut Rng::new(1));
        let _: pricing::TermLifeQuote = serde_json::from_str(&orv.result).unwrap();
    }

    #[test]
    fn quotes_rise_in_time_and_number_and_respect_rights() {
        let now = OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
        let start = now - Duration::days(730);
        let sizes = Sizes {
            users: 300,
            offices: 40,
            head_offices: 10,
            quotes: 2000,
            clients: 0,
        };
        let p = plan(&sizes, start - Duration::days(400), 5).unwrap();
        let t = Templates::price(start, now, 5).unwrap();
        let mut s = QuoteStream::new(&p, &t, 2000, start, now, [10, 0, 0], 5);
        let quotes: Vec<Quote> = s.by_ref().collect();
        assert_eq!(quotes.len(), 2000);
        let mut last_seq = [10i64, 0, 0];
        let mut last_at = start;
        for q in &quotes {
            assert!(q.created_at >= last_at && q.created_at < now);
            last_at = q.created_at;
            assert_eq!(q.seq, last_seq[slot(q.product)] + 1);
            last_seq[slot(q.product)] = q.seq;
            let u = &p.users[q.user];
            assert_ne!(
                u.effective & q.product,
                0,
                "U4/P1: only what the advisor holds"
            );
            if !p.offices[u.office].head {
                assert_ne!(q.product, ORV, "O4");
            }
        }
        assert_eq!(s.last, last_seq);
        assert!(!s.applications.is_empty());
        assert!(s.applications.iter().all(|a| a.created_at <= now));
    }
}
