//! The actuarial engine of the product portals (SPEC §7): premiums and benefits of the Direct
//! Ingaand Pensioen (DIP), the Direct Ingaande Lijfrente (DIL) and the
//! Overlijdensrisicoverzekering (ORV) from a mortality table and an interest rate held in
//! versioned tariff files, which the insurer can replace without a code change. Every quote
//! carries the version of the tariff it used.
//!
//! This crate owns the calculation and the tariff rules only: it does no I/O except reading tariff
//! files (and the CSV table one names), and reads no clock — `today` is an argument.
//!
//! # Conventions
//! - **Age** is the age nearest birthday on the start date: the completed years six months after
//!   the start date (a half year rounds up). Someone born on 29 February has a birthday on 1 March
//!   in common years.
//! - **Mortality** is either Makeham's law μₓ = A + B·cˣ (the shipped default uses the SOA Standard
//!   Ultimate Life Table parameters A = 0.00022, B = 2.7·10⁻⁶, c = 1.124, so
//!   qₓ = 1 − exp(−A − B·cˣ·(c − 1)/ln c)), or a CSV of qₓ by age (optionally by sex, and by
//!   calendar year for a generation table). The table ends at the age ω where q = 1.
//! - **Benefits and premiums are paid in advance**, m times a year, valued with Woolhouse's
//!   two-term approximation ä⁽ᵐ⁾ = ä − (m − 1)/(2m)·(1 − ₙEₓ), applied year by year so that stepped
//!   amounts (indexation, high/low) get the same correction. Death benefits are paid at the end of
//!   the year of death.
//! - **Two lives** (partner pension) are independent: ₖp₍ₓᵧ₎ = ₖpₓ·ₖpᵧ.
//! - **Indexation** is exact: year k's amount is multiplied by (1 + g)ᵏ and summed.
//! - **Amounts** are euro cents ([`Cents`]); the calculation runs in `f64` and rounds half away from
//!   zero to whole cents once, at the end.
//!
//! The full description, with the tariff and CSV formats and a worked example per product, is
//! `docs/PRICING.md`.
//!
//! ```
//! use pricing::{quote_pension, Frequency, PensionKind, PensionRequest, Product, Tariff};
//! use time::macros::date;
//!
//! let tariff = Tariff::builtin(Product::Dip);
//! let request = PensionRequest {
//!     kind: PensionKind::Zeker,
//!     purchase_sum: 10_000_000, // € 100.000,00
//!     birth_date: date!(1961 - 03 - 15),
//!     partner_birth_date: None,
//!     partner_percent: 0,
//!     start_date: date!(2026 - 04 - 01),
//!     frequency: Frequency::Monthly,
//!     high_low_years: None,
//!     indexation_percent: 0,
//! };
//! let quote = quote_pension(&tariff, &request, date!(2026 - 03 - 01)).expect("valid request");
//! assert_eq!(quote.age, 65);
//! assert_eq!(quote.tariff_version, "DIP-2026.1");
//! assert!(quote.yearly_benefit > 0);
//! ```
#![warn(missing_docs)]

pub mod actuarial;
mod calendar;
mod lijfrente;
mod money;
mod mortality;
mod pension;
mod rules;
mod tariff;
mod term_life;
#[cfg(test)]
mod worked_examples;

use serde::{Deserialize, Serialize};

pub use calendar::{add_months, age_nearest_birthday, completed_years};
pub use lijfrente::{LijfrenteQuote, LijfrenteRequest, LijfrenteTerm, quote_lijfrente};
pub use money::{format_date, format_euro, format_rate, round_cents};
pub use mortality::{Mortality, Table};
pub use pension::{PensionKind, PensionQuote, PensionRequest, quote_pension};
pub use rules::FieldError;
pub use tariff::{Costs, Limits, Loadings, Tariff, TariffError, Tariffs};
pub use term_life::{Cover, TermLifeQuote, TermLifeRequest, quote_term_life};

/// An amount in euro cents. All money in requests, quotes and tariffs is held this way.
pub type Cents = i64;

/// The three products this engine prices.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Product {
    /// Direct Ingaand Pensioen: Zeker Pensioen (DIZP) and Keuze Pensioen (DIKP).
    Dip,
    /// Direct Ingaande Lijfrente.
    Dil,
    /// Overlijdensrisicoverzekering.
    Orv,
}

impl Product {
    /// All products, in the order of the portal.
    pub const ALL: [Product; 3] = [Product::Dip, Product::Dil, Product::Orv];

    /// The product code used in rights, tariff files and tariff versions: "DIP", "DIL", "ORV".
    pub fn code(self) -> &'static str {
        match self {
            Product::Dip => "DIP",
            Product::Dil => "DIL",
            Product::Orv => "ORV",
        }
    }

    /// The product for a code, as written in a tariff file's `product` field.
    pub fn from_code(code: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The name of this product's tariff file in a tariff directory: "dip.toml" etc.
    pub fn file_name(self) -> &'static str {
        match self {
            Product::Dip => "dip.toml",
            Product::Dil => "dil.toml",
            Product::Orv => "orv.toml",
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// How often a benefit is paid (or, for ORV, the premium is always monthly).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Twelve payments a year.
    Monthly,
    /// Four payments a year.
    Quarterly,
    /// Two payments a year.
    HalfYearly,
    /// One payment a year.
    Yearly,
}

impl Frequency {
    /// Payments a year: 12, 4, 2 or 1.
    pub fn per_year(self) -> u32 {
        match self {
            Frequency::Monthly => 12,
            Frequency::Quarterly => 4,
            Frequency::HalfYearly => 2,
            Frequency::Yearly => 1,
        }
    }

    /// The Dutch label shown to advisors: "per maand", "per kwartaal", "per halfjaar", "per jaar".
    pub fn label(self) -> &'static str {
        match self {
            Frequency::Monthly => "per maand",
            Frequency::Quarterly => "per kwartaal",
            Frequency::HalfYearly => "per halfjaar",
            Frequency::Yearly => "per jaar",
        }
    }
}
