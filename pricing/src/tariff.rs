//! Tariffs: one product's mortality, interest, costs or loadings and validation limits, read from
//! a versioned TOML file (and the CSV table it may name) and checked once, on loading, so a
//! quote never meets a bad tariff. The format is described in `docs/PRICING.md` and in the
//! comments of the shipped files in `config/tariffs/`.

use crate::actuarial::Survival;
use crate::money::round_cents;
use crate::mortality::{Mortality, Table};
use crate::{Cents, Product};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A tariff file or its mortality table cannot be used. Every message names the file and, where
/// it can, the line.
#[derive(thiserror::Error, Debug)]
pub enum TariffError {
    /// The file cannot be read.
    #[error("cannot read tariff file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the tariff's shape (unknown or mistyped field).
    #[error("tariff file {file}{}: {message}", at_line(*line))]
    Syntax {
        /// The file.
        file: String,
        /// The line, from 1.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A field has a value the engine cannot use, or is missing or not used by this product.
    #[error("tariff file {file}{}: `{field}` {problem}", at_line(*line))]
    Invalid {
        /// The file.
        file: String,
        /// The line, from 1, when the field (or its section) is in the file.
        line: Option<usize>,
        /// The field, `section.key`.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The CSV mortality table is wrong.
    #[error("mortality table {file}{}: {problem}", at_line(line.and_then(|l| usize::try_from(l).ok())))]
    Table {
        /// The CSV file.
        file: String,
        /// The line, from 1.
        line: Option<u64>,
        /// What is wrong.
        problem: String,
    },
    /// A tariff directory's file holds another product's tariff.
    #[error("tariff file {file} is for product {found}, but {expected} was expected there")]
    WrongProduct {
        /// The file.
        file: String,
        /// The product the file's name stands for.
        expected: Product,
        /// The product the file names.
        found: Product,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// The costs taken from a DIP or DIL purchase sum: `fixed` plus `percent` % of the sum.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Costs {
    /// Fixed costs per contract.
    pub fixed: Cents,
    /// Percentage of the purchase sum (1.0 = 1 %).
    pub percent: f64,
}

/// The ORV loadings in the equivalence principle.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Loadings {
    /// Acquisition costs α, once at the start, per mille of the sum insured.
    pub alpha_per_mille: f64,
    /// Administration costs γ, per mille of the (initial) sum insured a year, yearly in advance
    /// over the term while the insured lives.
    pub gamma_per_mille: f64,
    /// Collection costs β, a fraction of each gross premium.
    pub beta: f64,
    /// Policy fee added to each monthly premium (itself subject to β).
    pub policy_fee: Cents,
}

/// A product's validation limits, for the checks and for the forms' hints. A limit a product does
/// not have is `None` (or an empty list).
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Limits {
    /// DIP, DIL: the least purchase sum.
    pub min_purchase_sum: Option<Cents>,
    /// DIP, DIL: the largest purchase sum, if any.
    pub max_purchase_sum: Option<Cents>,
    /// ORV: the least sum insured.
    pub min_sum_insured: Option<Cents>,
    /// ORV: the largest sum insured.
    pub max_sum_insured: Option<Cents>,
    /// The least age of the insured on the start date (age nearest birthday).
    pub min_age: u32,
    /// The highest age of the insured on the start date.
    pub max_age: u32,
    /// DIP: the least age of the partner on the start date.
    pub min_partner_age: Option<u32>,
    /// DIP: the highest age of the partner on the start date.
    pub max_partner_age: Option<u32>,
    /// DIP: the partner pension percentages one may choose (e.g. 0, 50, 70, 100).
    pub partner_percents: Vec<u32>,
    /// The start date lies at most this many months after today.
    pub max_start_months: u32,
    /// DIL, ORV: the shortest term in years.
    pub min_term_years: Option<u32>,
    /// DIL, ORV: the longest term in years.
    pub max_term_years: Option<u32>,
    /// ORV: the highest age at the end of the term (age at start + term).
    pub max_end_age: Option<u32>,
    /// DIP (Keuze): the highest yearly indexation in whole percent.
    pub max_indexation_percent: Option<u32>,
    /// DIP (Keuze): the shortest high period of a high/low pension, in years.
    pub min_high_years: Option<u32>,
    /// DIP (Keuze): the longest high period, in years.
    pub max_high_years: Option<u32>,
    /// DIP (Keuze): the low benefit as a percentage of the high one (75 for 100:75).
    pub high_low_percent: Option<u32>,
}

/// One product's tariff: mortality, interest, costs or loadings, and limits. Build it with
/// [`Tariff::load`], [`Tariff::parse`] or [`Tariff::builtin`]; it is checked on construction.
#[derive(Clone, Debug, PartialEq)]
pub struct Tariff {
    product: Product,
    version: String,
    source: String,
    interest: f64,
    mortality: Mortality,
    smoker_factor: f64,
    non_smoker_factor: f64,
    costs: Costs,
    loadings: Loadings,
    annuity_rate: f64,
    limits: Limits,
}

/// The tariffs of all three products, as the product adapters hold them.
#[derive(Clone, Debug, PartialEq)]
pub struct Tariffs {
    /// The Direct Ingaand Pensioen tariff.
    pub dip: Tariff,
    /// The Direct Ingaande Lijfrente tariff.
    pub dil: Tariff,
    /// The Overlijdensrisicoverzekering tariff.
    pub orv: Tariff,
}

impl Tariffs {
    /// Loads `dip.toml`, `dil.toml` and `orv.toml` from `dir`. A missing file means the built-in
    /// tariff for that product; a file that exists but is wrong (or holds another product) is an
    /// error naming the file and, where it can, the line.
    pub fn load_dir(dir: &Path) -> Result<Tariffs, TariffError> {
        let one = |product: Product| -> Result<Tariff, TariffError> {
            let path = dir.join(product.file_name());
            if !path.exists() {
                return Ok(Tariff::builtin(product));
            }
            let tariff = Tariff::load(&path)?;
            if tariff.product != product {
                return Err(TariffError::WrongProduct {
                    file: path.display().to_string(),
                    expected: product,
                    found: tariff.product,
                });
            }
            Ok(tariff)
        };
        Ok(Tariffs {
            dip: one(Product::Dip)?,
            dil: one(Product::Dil)?,
            orv: one(Product::Orv)?,
        })
    }

    /// The shipped tariffs of `config/tariffs/`, compiled in.
    pub fn builtin() -> Tariffs {
        Tariffs {
            dip: Tariff::builtin(Product::Dip),
            dil: Tariff::builtin(Product::Dil),
            orv: Tariff::builtin(Product::Orv),
        }
    }

    /// The tariff of `product`.
    pub fn get(&self, product: Product) -> &Tariff {
        match product {
            Product::Dip => &self.dip,
            Product::Dil => &self.dil,
            Product::Orv => &self.orv,
        }
    }
}

const BUILTIN_DIP: &str = include_str!("../../config/tariffs/dip.toml");
const BUILTIN_DIL: &str = include_str!("../../config/tariffs/dil.toml");
const BUILTIN_ORV: &str = include_str!("../../config/tariffs/orv.toml");

impl Tariff {
    /// Parses a tariff from TOML text; `dir` is where a CSV table named by the tariff is looked
    /// up. Errors name the file as `<tariff>`; [`Tariff::load`] names the real file.
    pub fn parse(text: &str, dir: &Path) -> Result<Tariff, TariffError> {
        parse_named(text, dir, "<tariff>")
    }

    /// Reads and parses a tariff file; a CSV table it names is read relative to the file's
    /// directory.
    pub fn load(path: &Path) -> Result<Tariff, TariffError> {
        let text = std::fs::read_to_string(path).map_err(|source| TariffError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        parse_named(&text, dir, &path.display().to_string())
    }

    /// The shipped tariff of `product` (`config/tariffs/*.toml`, compiled in). Never fails: the
    /// shipped files are parsed in a unit test, which also checks that they equal the hard-coded
    /// copy used here should parsing ever fail.
    pub fn builtin(product: Product) -> Tariff {
        let text = match product {
            Product::Dip => BUILTIN_DIP,
            Product::Dil => BUILTIN_DIL,
            Product::Orv => BUILTIN_ORV,
        };
        // The shipped files use Makeham, so no CSV is read and the directory does not matter.
        parse_named(text, Path::new("config/tariffs"), product.file_name())
            .unwrap_or_else(|_| fallback(product))
    }

    /// The product this tariff prices.
    pub fn product(&self) -> Product {
        self.product
    }

    /// The tariff version stored on every quote, e.g. "DIP-2026.1".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The mortality table's source, as printed on quotes.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The technical interest rate a year (0.05 = 5 %).
    pub fn interest(&self) -> f64 {
        self.interest
    }

    /// The validation limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The mortality table.
    pub fn mortality(&self) -> &Mortality {
        &self.mortality
    }

    /// DIP and DIL: the costs taken from the purchase sum (zero for ORV).
    pub fn costs(&self) -> &Costs {
        &self.costs
    }

    /// ORV: the loadings (zero for DIP and DIL).
    pub fn loadings(&self) -> &Loadings {
        &self.loadings
    }

    /// ORV: the yearly interest of the annuity mortgage that annuity-decreasing cover follows.
    pub fn annuity_rate(&self) -> f64 {
        self.annuity_rate
    }

    /// ORV: the multiplier on qₓ for smokers (1 when the tariff sets none).
    pub fn smoker_factor(&self) -> f64 {
        self.smoker_factor
    }

    /// ORV: the multiplier on qₓ for non-smokers (1 when the tariff sets none).
    pub fn non_smoker_factor(&self) -> f64 {
        self.non_smoker_factor
    }

    /// The survival curve of a life aged `age` (age nearest birthday) born in `birth_year`, with
    /// the death probabilities multiplied by `factor` (1 for DIP and DIL).
    pub fn survival(&self, age: u32, birth_year: i32, factor: f64) -> Survival {
        self.mortality.survival(age, birth_year, factor)
    }
}

#[cfg(test)]
impl Tariff {
    /// Tests vary the interest of a shipped tariff.
    pub(crate) fn set_interest_for_test(&mut self, interest: f64) {
        self.interest = interest;
    }
}

// ---------------------------------------------------------------------------------------------
// The file format. Every section denies unknown fields, so a misspelt key is an error, not a
// silently ignored setting.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTariff {
    product: String,
    version: String,
    interest: f64,
    annuity_rate: Option<f64>,
    mortality: RawMortality,
    costs: Option<RawCosts>,
    loadings: Option<RawLoadings>,
    limits: RawLimits,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMortality {
    kind: String,
    source: String,
    a: Option<f64>,
    b: Option<f64>,
    c: Option<f64>,
    omega: Option<u32>,
    file: Option<String>,
    sex: Option<String>,
    smoker_factor: Option<f64>,
    non_smoker_factor: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCosts {
    fixed: f64,
    percent: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoadings {
    alpha_per_mille: f64,
    gamma_per_mille: f64,
    beta: f64,
    policy_fee: f64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    min_purchase_sum: Option<f64>,
    max_purchase_sum: Option<f64>,
    min_sum_insured: Option<f64>,
    max_sum_insured: Option<f64>,
    min_age: Option<u32>,
    max_age: Option<u32>,
    min_partner_age: Option<u32>,
    max_partner_age: Option<u32>,
    partner_percents: Option<Vec<u32>>,
    max_start_months: Option<u32>,
    min_term_years: Option<u32>,
    max_term_years: Option<u32>,
    max_end_age: Option<u32>,
    max_indexation_percent: Option<u32>,
    min_high_years: Option<u32>,
    max_high_years: Option<u32>,
    high_low_percent: Option<u32>,
}

impl RawLimits {
    /// The keys present in the file.
    fn present(&self) -> Vec<&'static str> {
        let keys = [
            ("min_purchase_sum", self.min_purchase_sum.is_some()),
            ("max_purchase_sum", self.max_purchase_sum.is_some()),
            ("min_sum_insured", self.min_sum_insured.is_some()),
            ("max_sum_insured", self.max_sum_insured.is_some()),
            ("min_age", self.min_age.is_some()),
            ("max_age", self.max_age.is_some()),
            ("min_partner_age", self.min_partner_age.is_some()),
            ("max_partner_age", self.max_partner_age.is_some()),
            ("partner_percents", self.partner_percents.is_some()),
            ("max_start_months", self.max_start_months.is_some()),
            ("min_term_years", self.min_term_years.is_some()),
            ("max_term_years", self.max_term_years.is_some()),
            ("max_end_age", self.max_end_age.is_some()),
            (
                "max_indexation_percent",
                self.max_indexation_percent.is_some(),
            ),
            ("min_high_years", self.min_high_years.is_some()),
            ("max_high_years", self.max_high_years.is_some()),
            ("high_low_percent", self.high_low_percent.is_some()),
        ];
        keys.into_iter()
            .filter(|(_, present)| *present)
            .map(|(key, _)| key)
            .collect()
    }
}

/// The `[limits]` keys each product requires, and those it may have besides.
fn limit_keys(product: Product) -> (&'static [&'static str], &'static [&'static str]) {
    const COMMON: [&str; 3] = ["min_age", "max_age", "max_start_months"];
    match product {
        Product::Dip => (
            &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "min_purchase_sum",
                "min_partner_age",
                "max_partner_age",
                "partner_percents",
                "max_indexation_percent",
                "min_high_years",
                "max_high_years",
                "high_low_percent",
            ],
            &["max_purchase_sum"],
        ),
        Product::Dil => (
            &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "min_purchase_sum",
                "min_term_years",
                "max_term_years",
            ],
            &["max_purchase_sum"],
        ),
        Product::Orv => (
            &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                "min_sum_insured",
                "max_sum_insured",
                "min_term_years",
                "max_term_years",
                "max_end_age",
            ],
            &[],
        ),
    }
}

/// The text being parsed, to point errors at a line.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    /// An error about `key` in `section` (`None`: the top level), pointing at its line, or at the
    /// section's header when the key is missing.
    fn invalid(&self, section: Option<&str>, key: &str, problem: impl Into<String>) -> TariffError {
        TariffError::Invalid {
            file: self.file.to_string(),
            line: line_of(self.text, section, key),
            field: section.map_or_else(|| key.to_string(), |s| format!("{s}.{key}")),
            problem: problem.into(),
        }
    }

    /// A euro amount from the file as cents: finite, not negative, at most two decimals.
    fn amount(&self, section: &str, key: &str, euro: f64) -> Result<Cents, TariffError> {
        let cents = euro * 100.0;
        if !cents.is_finite() || !(0.0..=1e15).contains(&cents) {
            return Err(self.invalid(
                Some(section),
                key,
                "must be an amount in euro of zero or more",
            ));
        }
        if (cents - cents.round()).abs() > 1e-6 {
            return Err(self.invalid(Some(section), key, "has more than two decimals"));
        }
        Ok(round_cents(cents))
    }
}

/// The 1-based line of `key = …` inside `[section]` (or before any section), else of the
/// section's header.
fn line_of(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<&str> = None;
    let mut header = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.split(']').next().unwrap_or("").trim();
            current = Some(name);
            if Some(name) == section {
                header = Some(index + 1);
            }
            continue;
        }
        if current == section
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(index + 1);
        }
    }
    header
}

fn parse_named(text: &str, dir: &Path, file: &str) -> Result<Tariff, TariffError> {
    let raw: RawTariff = toml::from_str(text).map_err(|e| TariffError::Syntax {
        file: file.to_string(),
        line: e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
        message: e.message().trim().to_string(),
    })?;
    let src = Source { text, file };

    let product = Product::from_code(&raw.product).ok_or_else(|| {
        src.invalid(
            None,
            "product",
            format!("is {:?}; expected \"DIP\", \"DIL\" or \"ORV\"", raw.product),
        )
    })?;
    let version = raw.version.trim().to_string();
    if version.is_empty() || version.chars().any(char::is_control) {
        return Err(src.invalid(None, "version", "must be a non-empty line of text"));
    }
    if !raw.interest.is_finite() || !(-0.05..=0.25).contains(&raw.interest) {
        return Err(src.invalid(
            None,
            "interest",
            "must be a yearly rate between -0.05 and 0.25 (0.05 = 5 %)",
        ));
    }

    // [mortality]
    let m = &raw.mortality;
    let section = Some("mortality");
    let source = m.source.trim().to_string();
    if source.is_empty() {
        return Err(src.invalid(section, "source", "must state where the table comes from"));
    }
    let mortality = match m.kind.as_str() {
        "makeham" => {
            for (key, present) in [("file", m.file.is_some()), ("sex", m.sex.is_some())] {
                if present {
                    return Err(src.invalid(section, key, "is only used with kind = \"csv\""));
                }
            }
            let need = |key: &str, value: Option<f64>| {
                value
                    .ok_or_else(|| src.invalid(section, key, "is required with kind = \"makeham\""))
            };
            let (a, b, c) = (need("a", m.a)?, need("b", m.b)?, need("c", m.c)?);
            let omega = m.omega.ok_or_else(|| {
                src.invalid(section, "omega", "is required with kind = \"makeham\"")
            })?;
            if !(a.is_finite() && (0.0..1.0).contains(&a)) {
                return Err(src.invalid(section, "a", "must be at least 0 and below 1"));
            }
            if !(b.is_finite() && b > 0.0 && b < 1.0) {
                return Err(src.invalid(section, "b", "must be above 0 and below 1"));
            }
            if !(c.is_finite() && c > 1.0 && c < 2.0) {
                return Err(src.invalid(section, "c", "must be above 1 and below 2"));
            }
            if !(60..=130).contains(&omega) {
                return Err(src.invalid(section, "omega", "must be an age from 60 to 130"));
            }
            Mortality::Makeham { a, b, c, omega }
        }
        "csv" => {
            for (key, present) in [
                ("a", m.a.is_some()),
                ("b", m.b.is_some()),
                ("c", m.c.is_some()),
                ("omega", m.omega.is_some()),
            ] {
                if present {
                    return Err(src.invalid(
                        section,
                        key,
                        "is only used with kind = \"makeham\" (a CSV table ends at its last age)",
                    ));
                }
            }
            let name = m
                .file
                .as_deref()
                .ok_or_else(|| src.invalid(section, "file", "is required with kind = \"csv\""))?;
            let sex = match m.sex.as_deref() {
                None => None,
                Some(s @ ("M" | "V")) => Some(s),
                Some(_) => return Err(src.invalid(section, "sex", "must be \"M\" or \"V\"")),
            };
            let path = dir.join(name);
            let csv = std::fs::read_to_string(&path).map_err(|source| TariffError::Read {
                path: path.clone(),
                source,
            })?;
            Mortality::Table(Table::from_csv(&csv, &path.display().to_string(), sex)?)
        }
        other => {
            return Err(src.invalid(
                section,
                "kind",
                format!("is {other:?}; expected \"makeham\" or \"csv\""),
            ));
        }
    };
    let factor = |key: &str, value: Option<f64>| -> Result<f64, TariffError> {
        match value {
            None => Ok(1.0),
            Some(_) if product != Product::Orv => {
                Err(src.invalid(section, key, "is only used by ORV"))
            }
            Some(f) if f.is_finite() && f > 0.0 && f <= 10.0 => Ok(f),
            Some(_) => {
                Err(src.invalid(section, key, "must be a multiplier above 0 and at most 10"))
            }
        }
    };
    let smoker_factor = factor("smoker_factor", m.smoker_factor)?;
    let non_smoker_factor = factor("non_smoker_factor", m.non_smoker_factor)?;

    // [costs] (DIP, DIL) or [loadings] and annuity_rate (ORV)
    let zero_costs = Costs {
        fixed: 0,
        percent: 0.0,
    };
    let zero_loadings = Loadings {
        alpha_per_mille: 0.0,
        gamma_per_mille: 0.0,
        beta: 0.0,
        policy_fee: 0,
    };
    let (costs, loadings, annuity_rate) = if product == Product::Orv {
        if raw.costs.is_some() {
            return Err(src.invalid(
                None,
                "costs",
                "is not used by ORV; its costs are the [loadings]",
            ));
        }
        let l = raw
            .loadings
            .as_ref()
            .ok_or_else(|| src.invalid(None, "loadings", "section is required for ORV"))?;
        let section = Some("loadings");
        if !(l.alpha_per_mille.is_finite() && (0.0..=1000.0).contains(&l.alpha_per_mille)) {
            return Err(src.invalid(
                section,
                "alpha_per_mille",
                "must be from 0 to 1000 (per mille)",
            ));
        }
        if !(l.gamma_per_mille.is_finite() && (0.0..=1000.0).contains(&l.gamma_per_mille)) {
            return Err(src.invalid(
                section,
                "gamma_per_mille",
                "must be from 0 to 1000 (per mille)",
            ));
        }
        if !(l.beta.is_finite() && (0.0..0.9).contains(&l.beta)) {
            return Err(src.invalid(section, "beta", "must be a fraction from 0 to below 0.9"));
        }
        let policy_fee = src.amount("loadings", "policy_fee", l.policy_fee)?;
        let rate = raw
            .annuity_rate
            .ok_or_else(|| src.invalid(None, "annuity_rate", "is required for ORV"))?;
        if !(rate.is_finite() && (0.0..=0.25).contains(&rate)) {
            return Err(src.invalid(None, "annuity_rate", "must be a yearly rate from 0 to 0.25"));
        }
        let loadings = Loadings {
            alpha_per_mille: l.alpha_per_mille,
            gamma_per_mille: l.gamma_per_mille,
            beta: l.beta,
            policy_fee,
        };
        (zero_costs, loadings, rate)
    } else {
        if raw.loadings.is_some() {
            return Err(src.invalid(None, "loadings", "are only used by ORV; use [costs]"));
        }
        if raw.annuity_rate.is_some() {
            return Err(src.invalid(None, "annuity_rate", "is only used by ORV"));
        }
        let c = raw
            .costs
            .as_ref()
            .ok_or_else(|| src.invalid(None, "costs", "section is required"))?;
        let fixed = src.amount("costs", "fixed", c.fixed)?;
        if !(c.percent.is_finite() && (0.0..50.0).contains(&c.percent)) {
            return Err(src.invalid(
                Some("costs"),
                "percent",
                "must be a percentage from 0 to below 50",
            ));
        }
        (
            Costs {
                fixed,
                percent: c.percent,
            },
            zero_loadings,
            0.0,
        )
    };

    let limits = check_limits(&src, product, &raw.limits, &mortality, &costs)?;
    Ok(Tariff {
        product,
        version,
        source,
        interest: raw.interest,
        mortality,
        smoker_factor,
        non_smoker_factor,
        costs,
        loadings,
        annuity_rate,
        limits,
    })
}

fn check_limits(
    src: &Source<'_>,
    product: Product,
    raw: &RawLimits,
    mortality: &Mortality,
    costs: &Costs,
) -> Result<Limits, TariffError> {
    let section = Some("limits");
    let (required, optional) = limit_keys(product);
    let present = raw.present();
    for key in required {
        if !present.contains(key) {
            return Err(src.invalid(section, key, format!("is required for {product}")));
        }
    }
    for key in &present {
        if !required.contains(key) && !optional.contains(key) {
            return Err(src.invalid(section, key, format!("is not used by {product}")));
        }
    }
    let amount =
        |key: &str, value: Option<f64>| value.map(|v| src.amount("limits", key, v)).transpose();
    let limits = Limits {
        min_purchase_sum: amount("min_purchase_sum", raw.min_purchase_sum)?,
        max_purchase_sum: amount("max_purchase_sum", raw.max_purchase_sum)?,
        min_sum_insured: amount("min_sum_insured", raw.min_sum_insured)?,
        max_sum_insured: amount("max_sum_insured", raw.max_sum_insured)?,
        min_age: raw.min_age.unwrap_or(0),
        max_age: raw.max_age.unwrap_or(0),
        min_partner_age: raw.min_partner_age,
        max_partner_age: raw.max_partner_age,
        partner_percents: raw.partner_percents.clone().unwrap_or_default(),
        max_start_months: raw.max_start_months.unwrap_or(0),
        min_term_years: raw.min_term_years,
        max_term_years: raw.max_term_years,
        max_end_age: raw.max_end_age,
        max_indexation_percent: raw.max_indexation_percent,
        min_high_years: raw.min_high_years,
        max_high_years: raw.max_high_years,
        high_low_percent: raw.high_low_percent,
    };
    let ordered = |min_key: &str,
                   min: Option<i64>,
                   max_key: &str,
                   max: Option<i64>|
     -> Result<(), TariffError> {
        match (min, max) {
            (Some(lo), Some(hi)) if lo > hi => {
                Err(src.invalid(section, min_key, format!("must not exceed {max_key}")))
            }
            _ => Ok(()),
        }
    };
    let wide = |v: Option<u32>| v.map(i64::from);
    ordered(
        "min_purchase_sum",
        limits.min_purchase_sum,
        "max_purchase_sum",
        limits.max_purchase_sum,
    )?;
    ordered(
        "min_sum_insured",
        limits.min_sum_insured,
        "max_sum_insured",
        limits.max_sum_insured,
    )?;
    ordered(
        "min_age",
        Some(limits.min_age.into()),
        "max_age",
        Some(limits.max_age.into()),
    )?;
    ordered(
        "min_partner_age",
        wide(limits.min_partner_age),
        "max_partner_age",
        wide(limits.max_partner_age),
    )?;
    ordered(
        "min_term_years",
        wide(limits.min_term_years),
        "max_term_years",
        wide(limits.max_term_years),
    )?;
    ordered(
        "min_high_years",
        wide(limits.min_high_years),
        "max_high_years",
        wide(limits.max_high_years),
    )?;

    // Every allowed age must lie inside the mortality table, below ω.
    let omega = mortality.omega();
    let first = mortality.first_age();
    let ages = [
        ("min_age", Some(limits.min_age)),
        ("max_age", Some(limits.max_age)),
        ("min_partner_age", limits.min_partner_age),
        ("max_partner_age", limits.max_partner_age),
    ];
    for (key, age) in ages {
        if let Some(age) = age
            && (age < first || age >= omega)
        {
            return Err(src.invalid(
                section,
                key,
                format!("must be an age the mortality table covers: from {first} to below {omega}"),
            ));
        }
    }
    if let Some(end) = limits.max_end_age
        && (end > omega || end <= limits.min_age)
    {
        return Err(src.invalid(
            section,
            "max_end_age",
            format!("must lie above min_age and not above ω = {omega}"),
        ));
    }
    if limits.min_term_years == Some(0) {
        return Err(src.invalid(section, "min_term_years", "must be at least 1"));
    }
    if limits.max_term_years.is_some_and(|t| t > 100) {
        return Err(src.invalid(section, "max_term_years", "must be at most 100"));
    }
    if limits.max_start_months > 120 {
        return Err(src.invalid(section, "max_start_months", "must be at most 120"));
    }
    if product == Product::Dip {
        if limits.partner_percents.is_empty() || limits.partner_percents.iter().any(|p| *p > 100) {
            return Err(src.invalid(
                section,
                "partner_percents",
                "must list percentages from 0 to 100",
            ));
        }
        if limits.max_indexation_percent.is_some_and(|p| p > 20) {
            return Err(src.invalid(section, "max_indexation_percent", "must be at most 20"));
        }
        if limits.min_high_years == Some(0) {
            return Err(src.invalid(section, "min_high_years", "must be at least 1"));
        }
        if limits.high_low_percent.is_some_and(|p| p == 0 || p > 100) {
            return Err(src.invalid(section, "high_low_percent", "must be from 1 to 100"));
        }
    }
    if let Some(min) = limits.min_purchase_sum {
        // The net purchase sum grows with the purchase sum, so positive at the minimum means
        // positive everywhere.
        let net = min as f64 * (1.0 - costs.percent / 100.0) - costs.fixed as f64;
        if net < 100.0 {
            return Err(src.invalid(
                section,
                "min_purchase_sum",
                "must leave at least € 1 after [costs]",
            ));
        }
    }
    if limits.min_sum_insured.is_some_and(|s| s < 100) {
        return Err(src.invalid(section, "min_sum_insured", "must be at least € 1"));
    }
    Ok(limits)
}

/// The built-in tariffs as Rust values, used only if a shipped file failed to parse (which a unit
/// test rules out: it checks these equal the parsed files).
fn fallback(product: Product) -> Tariff {
    let sult = Mortality::Makeham {
        a: 0.00022,
        b: 2.7e-6,
        c: 1.124,
        omega: 120,
    };
    let source = "Society of Actuaries, Standard Ultimate Life Table (wet van Makeham met A = 0,00022, B = 0,0000027 en c = 1,124)".to_string();
    let no_costs = Costs {
        fixed: 0,
        percent: 0.0,
    };
    let no_loadings = Loadings {
        alpha_per_mille: 0.0,
        gamma_per_mille: 0.0,
        beta: 0.0,
        policy_fee: 0,
    };
    let no_limits = Limits {
        min_purchase_sum: None,
        max_purchase_sum: None,
        min_sum_insured: None,
        max_sum_insured: None,
        min_age: 0,
        max_age: 0,
        min_partner_age: None,
        max_partner_age: None,
        partner_percents: Vec::new(),
        max_start_months: 6,
        min_term_years: None,
        max_term_years: None,
        max_end_age: None,
        max_indexation_percent: None,
        min_high_years: None,
        max_high_years: None,
        high_low_percent: None,
    };
    match product {
        Product::Dip => Tariff {
            product,
            version: "DIP-2026.1".to_string(),
            source,
            interest: 0.05,
            mortality: sult,
            smoker_factor: 1.0,
            non_smoker_factor: 1.0,
            costs: Costs {
                fixed: 25_000,
                percent: 1.0,
            },
            loadings: no_loadings,
            annuity_rate: 0.0,
            limits: Limits {
                min_purchase_sum: Some(2_500_000),
                max_purchase_sum: Some(500_000_000),
                min_age: 55,
                max_age: 85,
                min_partner_age: Some(18),
                max_partner_age: Some(95),
                partner_percents: vec![0, 50, 70, 100],
                max_indexation_percent: Some(3),
                min_high_years: Some(5),
                max_high_years: Some(20),
                high_low_percent: Some(75),
                ..no_limits
            },
        },
        Product::Dil => Tariff {
            product,
            version: "DIL-2026.1".to_string(),
            source,
            interest: 0.05,
            mortality: sult,
            smoker_factor: 1.0,
            non_smoker_factor: 1.0,
            costs: Costs {
                fixed: 15_000,
                percent: 1.0,
            },
            loadings: no_loadings,
            annuity_rate: 0.0,
            limits: Limits {
                min_purchase_sum: Some(500_000),
                max_purchase_sum: Some(250_000_000),
                min_age: 18,
                max_age: 90,
                min_term_years: Some(5),
                max_term_years: Some(30),
                ..no_limits
            },
        },
        Product::Orv => Tariff {
            product,
            version: "ORV-2026.1".to_string(),
            source,
            interest: 0.03,
            mortality: sult,
            smoker_factor: 1.7,
            non_smoker_factor: 0.85,
            costs: no_costs,
            loadings: Loadings {
                alpha_per_mille: 3.0,
                gamma_per_mille: 0.25,
                beta: 0.05,
                policy_fee: 250,
            },
            annuity_rate: 0.04,
            limits: Limits {
                min_sum_insured: Some(1_000_000),
                max_sum_insured: Some(200_000_000),
                min_age: 18,
                max_age: 70,
                min_term_years: Some(5),
                max_term_years: Some(40),
                max_end_age: Some(80),
                ..no_limits
            },
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn shipped_files_parse_and_equal_the_fallback() {
        for (product, text) in [
            (Product::Dip, BUILTIN_DIP),
            (Product::Dil, BUILTIN_DIL),
            (Product::Orv, BUILTIN_ORV),
        ] {
            let parsed = parse_named(text, Path::new("."), product.file_name()).unwrap();
            assert_eq!(parsed, fallback(product), "{product}");
            assert_eq!(parsed.product(), product);
            assert_eq!(Tariff::builtin(product), parsed);
            assert!(parsed.version().starts_with(product.code()));
        }
        let t = Tariffs::builtin();
        assert_eq!(t.dip.interest(), 0.05);
        assert!(t.dip.source().contains("Standard Ultimate Life Table"));
    }

    fn dil_with(replace: &str, by: &str) -> String {
        assert!(BUILTIN_DIL.contains(replace), "{replace}");
        BUILTIN_DIL.replacen(replace, by, 1)
    }

    fn err(text: &str) -> String {
        Tariff::parse(text, Path::new(".")).unwrap_err().to_string()
    }

    fn line_containing(text: &str, needle: &str) -> usize {
        text.lines().position(|l| l.contains(needle)).unwrap() + 1
    }

    #[test]
    fn bad_files_are_refused_naming_file_line_and_field() {
        let text = dil_with("min_age = 18", "min_age = 95");
        let line = line_containing(&text, "min_age = 95");
        assert_eq!(
            err(&text),
            format!("tariff file <tariff>, line {line}: `limits.min_age` must not exceed max_age")
        );

        let text = dil_with("interest = 0.05", "intrest = 0.05");
        let e = err(&text);
        assert!(
            e.starts_with(&format!(
                "tariff file <tariff>, line {}: unknown field `intrest`",
                line_containing(&text, "intrest")
            )),
            "{e}"
        );

        let text = dil_with("source = \"", "#source = \"");
        assert!(err(&text).contains("missing field `source`"));

        let text = dil_with("kind = \"makeham\"", "kind = \"gompertz\"");
        assert!(err(&text).contains("`mortality.kind` is \"gompertz\""));

        let text = dil_with("[limits]", "[limits]\nmax_end_age = 80");
        assert!(err(&text).contains("`limits.max_end_age` is not used by DIL"));

        let text: String = BUILTIN_DIL
            .lines()
            .filter(|l| !l.starts_with("min_term_years"))
            .map(|l| format!("{l}\n"))
            .collect();
        let e = err(&text);
        assert!(
            e.contains(&format!(
                "line {}: `limits.min_term_years` is required for DIL",
                line_containing(&text, "[limits]")
            )),
            "{e}"
        );

        let text = dil_with("fixed = 150.00", "fixed = 150.001");
        assert!(err(&text).contains("`costs.fixed` has more than two decimals"));

        let text = dil_with("omega = 120", "omega = 80");
        assert!(err(&text).contains("`limits.max_age` must be an age the mortality table covers"));

        let text = dil_with("[limits]", "[mortality2]\n[limits]");
        assert!(err(&text).contains("unknown field `mortality2`"));

        let text = BUILTIN_ORV.replacen("beta = 0.05", "beta = 1.5", 1);
        assert!(err(&text).contains("`loadings.beta` must be a fraction"));
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pricing-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_csv_table_is_read_relative_to_the_tariff_file() {
        let dir = temp_dir("csv");
        std::fs::create_dir_all(dir.join("tables")).unwrap();
        let mut csv = String::from("# test table\nage,sex,qx\n");
        for age in 0..=100 {
            for sex in ["M", "V"] {
                let q = if sex == "M" {
                    0.001 * f64::from(age) / 10.0
                } else {
                    0.0005
                };
                csv.push_str(&format!("{age},{sex},{q}\n"));
            }
        }
        std::fs::write(dir.join("tables/t.csv"), csv).unwrap();
        let text: String = BUILTIN_DIL
            .lines()
            .filter(|l| {
                !["a = ", "b = ", "c = ", "omega = "]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            .replacen(
                "kind = \"makeham\"",
                "kind = \"csv\"\nfile = \"tables/t.csv\"\nsex = \"V\"",
                1,
            )
            .replacen("max_age = 90", "max_age = 99", 1);
        std::fs::write(dir.join("dil.toml"), &text).unwrap();
        let t = Tariff::load(&dir.join("dil.toml")).unwrap();
        assert_eq!(t.mortality().omega(), 100);
        assert_eq!(t.mortality().q(60, 1966), 0.0005);
        assert_eq!(t.mortality().q(100, 1900), 1.0);

        // a missing file names the CSV path
        std::fs::write(
            dir.join("dil.toml"),
            text.replace("tables/t.csv", "tables/none.csv"),
        )
        .unwrap();
        let e = Tariff::load(&dir.join("dil.toml")).unwrap_err().to_string();
        assert!(e.contains("none.csv"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_dir_falls_back_per_file_and_refuses_a_wrong_product() {
        let dir = temp_dir("dir");
        let custom =
            BUILTIN_DIL.replacen("version = \"DIL-2026.1\"", "version = \"DIL-2027.1\"", 1);
        std::fs::write(dir.join("dil.toml"), custom).unwrap();
        let t = Tariffs::load_dir(&dir).unwrap();
        assert_eq!(t.dil.version(), "DIL-2027.1");
        assert_eq!(t.dip, Tariff::builtin(Product::Dip));
        assert_eq!(t.get(Product::Orv).version(), "ORV-2026.1");

        std::fs::write(dir.join("orv.toml"), BUILTIN_DIP).unwrap();
        let e = Tariffs::load_dir(&dir).unwrap_err().to_string();
        assert!(
            e.contains("orv.toml is for product DIP, but ORV was expected"),
            "{e}"
        );

        std::fs::write(dir.join("orv.toml"), "product = \"ORV\"\nversion = 3\n").unwrap();
        let e = Tariffs::load_dir(&dir).unwrap_err().to_string();
        assert!(e.contains("orv.toml, line 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loads_the_shipped_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tariffs");
        assert_eq!(Tariffs::load_dir(&dir).unwrap(), Tariffs::builtin());
    }
}
