//! Mortality: the yearly death probability qₓ of a life, from Makeham's law or from a CSV table of
//! qₓ by age (and optionally sex and calendar year). Reading and checking the CSV lives here;
//! which table a product uses is the tariff's business.

use crate::actuarial::Survival;
use crate::tariff::TariffError;

/// Where a tariff's death probabilities come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Mortality {
    /// Makeham's law μₓ = a + b·cˣ: qₓ = 1 − exp(−a − b·cˣ·(c − 1)/ln c) below `omega`, 1 at `omega`.
    Makeham {
        /// The age-independent force a (A).
        a: f64,
        /// The scale b (B) of the age-dependent force.
        b: f64,
        /// The growth c of the age-dependent force per year of age.
        c: f64,
        /// The closing age ω, where q = 1.
        omega: u32,
    },
    /// A table of qₓ read from CSV.
    Table(Table),
}

impl Mortality {
    /// qₓ at `age` for a life born in `birth_year` (the birth year matters only for a generation
    /// table). At and above ω it is 1.
    pub fn q(&self, age: u32, birth_year: i32) -> f64 {
        match self {
            Mortality::Makeham { a, b, c, omega } => {
                if age >= *omega {
                    1.0
                } else {
                    let integrated = a + b * c.powf(f64::from(age)) * (c - 1.0) / c.ln();
                    1.0 - (-integrated).exp()
                }
            }
            Mortality::Table(table) => table.q(age, birth_year),
        }
    }

    /// The closing age ω, where q = 1.
    pub fn omega(&self) -> u32 {
        match self {
            Mortality::Makeham { omega, .. } => *omega,
            Mortality::Table(table) => table.omega(),
        }
    }

    /// The lowest age with a rate (0 for Makeham).
    pub fn first_age(&self) -> u32 {
        match self {
            Mortality::Makeham { .. } => 0,
            Mortality::Table(table) => table.first_age,
        }
    }

    /// The survival curve of a life aged `age` now, born in `birth_year`, with every q multiplied
    /// by `factor` (a smoker or non-smoker loading) and capped at 1; q stays 1 at ω whatever the
    /// factor.
    pub fn survival(&self, age: u32, birth_year: i32, factor: f64) -> Survival {
        let omega = self.omega().max(age);
        let q: Vec<f64> = (age..=omega)
            .map(|x| {
                if x >= omega {
                    1.0
                } else {
                    (self.q(x, birth_year) * factor).min(1.0)
                }
            })
            .collect();
        Survival::from_q(&q)
    }
}

/// A table of qₓ by age, either one column of rates or a generation table with a column per
/// calendar year (rows `year, age, qx` in the CSV). Ages run without gaps from the first age to ω;
/// the rate at ω is taken as 1 whatever the file says.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    first_age: u32,
    /// The first calendar year of a generation table (`None`: one rate per age).
    first_year: Option<i32>,
    /// Rates by year (index year − first_year; one entry without years), each by age − first_age.
    rates: Vec<Vec<f64>>,
}

impl Table {
    /// The closing age: the table's last age.
    pub fn omega(&self) -> u32 {
        let ages = self.rates.first().map_or(1, Vec::len);
        self.first_age + u32::try_from(ages.max(1) - 1).unwrap_or(0)
    }

    /// The first age with a rate.
    pub fn first_age(&self) -> u32 {
        self.first_age
    }

    /// The calendar years of a generation table, first and last.
    pub fn years(&self) -> Option<(i32, i32)> {
        let first = self.first_year?;
        let count = i32::try_from(self.rates.len()).unwrap_or(1);
        Some((first, first + count - 1))
    }

    /// qₓ at `age` for a life born in `birth_year`. In a generation table the rate is that of
    /// calendar year `birth_year + age`, clamped to the table's years. Ages below the table take
    /// its first rate (tariffs are checked not to allow such ages); at and above ω it is 1.
    pub fn q(&self, age: u32, birth_year: i32) -> f64 {
        if age >= self.omega() {
            return 1.0;
        }
        let row = match self.first_year {
            None => self.rates.first(),
            Some(first) => {
                let last = self.rates.len().saturating_sub(1);
                let offset = i64::from(birth_year) + i64::from(age) - i64::from(first);
                let index = usize::try_from(offset.max(0)).unwrap_or(last).min(last);
                self.rates.get(index)
            }
        };
        let index = age.saturating_sub(self.first_age) as usize;
        row.and_then(|r| r.get(index)).copied().unwrap_or(1.0)
    }

    /// Reads a table from CSV text (`file` names it in errors). Columns, in any order, with a
    /// header row: `age`, `qx`, optionally `sex` (M or V) and `year`. Lines starting with `#` are
    /// comments. With a `sex` column, `sex` picks the rows (and is required); without one it must
    /// be `None`.
    pub fn from_csv(text: &str, file: &str, sex: Option<&str>) -> Result<Table, TariffError> {
        let problem = |line: Option<u64>, problem: String| TariffError::Table {
            file: file.to_string(),
            line,
            problem,
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| problem(Some(1), format!("cannot read the header row: {e}")))?
            .clone();
        let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let header_line = reader.position().line();
        let (Some(age_col), Some(q_col)) = (column("age"), column("qx")) else {
            return Err(problem(
                Some(header_line),
                "the header must name the columns `age` and `qx`".to_string(),
            ));
        };
        for h in headers.iter() {
            if !["age", "qx", "sex", "year"]
                .iter()
                .any(|known| h.eq_ignore_ascii_case(known))
            {
                return Err(problem(
                    Some(header_line),
                    format!("unknown column `{h}`; expected age, qx, sex, year"),
                ));
            }
        }
        let sex_col = column("sex");
        let year_col = column("year");
        match (sex_col, sex) {
            (Some(_), None) => {
                return Err(problem(
                    None,
                    "the table has a `sex` column: set `sex = \"M\"` or `\"V\"` in [mortality]"
                        .to_string(),
                ));
            }
            (None, Some(s)) => {
                return Err(problem(
                    None,
                    format!("the tariff asks for sex {s:?} but the table has no `sex` column"),
                ));
            }
            _ => {}
        }

        // year (0 when the table has no years) → age → (q, line)
        let mut rows: std::collections::BTreeMap<i32, std::collections::BTreeMap<u32, f64>> =
            Default::default();
        for record in reader.records() {
            let record =
                record.map_err(|e| problem(e.position().map(|p| p.line()), e.to_string()))?;
            let line = record.position().map(|p| p.line());
            let field = |col: usize, name: &str| {
                record
                    .get(col)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| problem(line, format!("`{name}` is empty")))
            };
            if let (Some(col), Some(wanted)) = (sex_col, sex) {
                let value = field(col, "sex")?;
                if value != "M" && value != "V" {
                    return Err(problem(line, format!("sex {value:?} is neither M nor V")));
                }
                if value != wanted {
                    continue;
                }
            }
            let age_text = field(age_col, "age")?;
            let age: u32 = age_text
                .parse()
                .map_err(|_| problem(line, format!("age {age_text:?} is not a whole number")))?;
            if age > 150 {
                return Err(problem(line, format!("age {age} is above 150")));
            }
            let q_text = field(q_col, "qx")?;
            let q: f64 = q_text
                .parse()
                .map_err(|_| problem(line, format!("qx {q_text:?} is not a number")))?;
            if !(0.0..=1.0).contains(&q) {
                return Err(problem(line, format!("qx {q_text} is not between 0 and 1")));
            }
            let year = match year_col {
                None => 0,
                Some(col) => {
                    let text = field(col, "year")?;
                    text.parse::<i32>()
                        .ok()
                        .filter(|y| (1800..=2300).contains(y))
                        .ok_or_else(|| {
                            problem(line, format!("year {text:?} is not a calendar year"))
                        })?
                }
            };
            if rows.entry(year).or_default().insert(age, q).is_some() {
                let which = if year_col.is_some() {
                    format!("age {age} in year {year}")
                } else {
                    format!("age {age}")
                };
                return Err(problem(line, format!("{which} appears twice")));
            }
        }

        let Some((&first_key, first_ages)) = rows.iter().next() else {
            let whose = sex.map(|s| format!(" for sex {s}")).unwrap_or_default();
            return Err(problem(None, format!("the table has no rates{whose}")));
        };
        let ages: Vec<u32> = first_ages.keys().copied().collect();
        let (Some(&first_age), Some(&last_age)) = (ages.first(), ages.last()) else {
            return Err(problem(None, "the table has no rates".to_string()));
        };
        if last_age - first_age + 1 != u32::try_from(ages.len()).unwrap_or(0) {
            return Err(problem(
                None,
                format!("ages must run from {first_age} to {last_age} without gaps"),
            ));
        }
        if last_age - first_age < 1 {
            return Err(problem(
                None,
                "the table needs at least two ages".to_string(),
            ));
        }
        let mut rates = Vec::with_capacity(rows.len());
        for (expected_year, (year, by_age)) in (first_key..).zip(&rows) {
            if *year != expected_year {
                return Err(problem(
                    None,
                    format!("years must run without gaps; {expected_year} is missing"),
                ));
            }
            if by_age.keys().ne(ages.iter()) {
                return Err(problem(
                    None,
                    format!(
                        "year {year} does not have the ages {first_age} to {last_age} of year {first_key}"
                    ),
                ));
            }
            let mut row: Vec<f64> = by_age.values().copied().collect();
            // The table ends at ω, its last age, where every life dies.
            if let Some(last) = row.last_mut() {
                *last = 1.0;
            }
            rates.push(row);
        }
        Ok(Table {
            first_age,
            first_year: year_col.map(|_| first_key),
            rates,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn reads_a_plain_table_and_closes_it_at_omega() {
        let csv = "# a test table\nage,qx\n97,0.1\n98,0.5\n99,0.9\n";
        let table = Table::from_csv(csv, "t.csv", None).unwrap();
        assert_eq!((table.first_age(), table.omega()), (97, 99));
        assert_eq!(table.q(97, 1900), 0.1);
        assert_eq!(table.q(98, 1900), 0.5);
        assert_eq!(table.q(99, 1900), 1.0); // ω
        let m = Mortality::Table(table);
        assert_eq!(
            m.survival(97, 1929, 1.0),
            Survival::from_q(&[0.1, 0.5, 1.0])
        );
        // a factor is capped at q = 1 and leaves ω at 1
        assert_eq!(
            m.survival(97, 1929, 3.0),
            Survival::from_q(&[0.3, 1.0, 1.0])
        );
    }

    #[test]
    fn picks_the_sex_and_the_generation_year() {
        let csv = "year,sex,age,qx\n\
                   2020,M,60,0.010\n2020,M,61,0.011\n2020,M,62,1\n\
                   2021,M,60,0.009\n2021,M,61,0.010\n2021,M,62,1\n\
                   2020,V,60,0.008\n2020,V,61,0.009\n2020,V,62,1\n\
                   2021,V,60,0.007\n2021,V,61,0.008\n2021,V,62,1\n";
        let men = Table::from_csv(csv, "g.csv", Some("M")).unwrap();
        let women = Table::from_csv(csv, "g.csv", Some("V")).unwrap();
        assert_eq!(men.years(), Some((2020, 2021)));
        // born 1960: age 60 in 2020, age 61 in 2021
        assert_eq!(men.q(60, 1960), 0.010);
        assert_eq!(men.q(61, 1960), 0.010);
        assert_eq!(women.q(61, 1960), 0.008);
        // born 1961: age 60 in 2021; born 1950: 2010/2011, clamped to 2020; born 1980: clamped to 2021
        assert_eq!(men.q(60, 1961), 0.009);
        assert_eq!(men.q(60, 1950), 0.010);
        assert_eq!(men.q(61, 1980), 0.010);
    }

    #[test]
    fn rejects_bad_tables_naming_the_line() {
        let err = |csv: &str, sex: Option<&str>| {
            Table::from_csv(csv, "t.csv", sex).unwrap_err().to_string()
        };
        assert_eq!(
            err("age,qx\n60,0.01\n61,1.5\n", None),
            "mortality table t.csv, line 3: qx 1.5 is not between 0 and 1"
        );
        assert_eq!(
            err("age,qx\n60,0.01\n60,0.02\n", None),
            "mortality table t.csv, line 3: age 60 appears twice"
        );
        assert!(err("age,qx\n60,0.01\n62,1\n", None).contains("without gaps"));
        assert!(err("age,q\n60,0.01\n", None).contains("`age` and `qx`"));
        assert!(err("age,qx,sex\n60,0.01,M\n61,1,M\n", None).contains("set `sex"));
        assert!(err("age,qx\n60,0.01\n61,1\n", Some("M")).contains("no `sex` column"));
        assert!(err("age,qx\n60,x\n", None).contains("line 2: qx \"x\" is not a number"));
        assert!(
            err(
                "year,age,qx\n2020,60,0.01\n2020,61,1\n2022,60,0.01\n2022,61,1\n",
                None
            )
            .contains("2021 is missing")
        );
    }

    #[test]
    fn makeham_q65_of_the_default_table() {
        let m = Mortality::Makeham {
            a: 0.00022,
            b: 2.7e-6,
            c: 1.124,
            omega: 120,
        };
        assert!((m.q(65, 1961) - 0.005_915).abs() < 5e-7);
        assert_eq!(m.q(120, 1900), 1.0);
    }
}
