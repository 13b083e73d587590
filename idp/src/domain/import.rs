//! The CSV export of the appointment register (SPEC O1, issue 6): head offices in bulk.
//! One parser for every way in (the console's upload through the admin API and
//! `portal office import` on the command line), so both accept and refuse the same files.
//!
//! A file is checked whole before anything is stored: every bad row is reported with its
//! line number and the reason, including an advisor number or e-mail address that appears
//! twice in the file, or a new head office's e-mail address already taken in the database.
//! A row whose advisor number exists is an update of that head office (issue 10; what it
//! changes is planned by `crate::imports::plan`). Pure: the caller passes the
//! registry and what the database holds ([`Taken`]); rendering reasons in Dutch is the
//! caller's (each [`RowProblem`] names its text key).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use product_registry::Registry;

use super::{NewHeadOffice, RuleError};

/// The register's columns, in their usual order. `allow_sub_offices` may be left out
/// (then no office may work with sub-offices).
pub const COLUMNS: [&str; 5] = [
    "advisor_number",
    "name",
    "email",
    "rights",
    "allow_sub_offices",
];

/// Dutch headings accepted for the same columns, as a person might write them.
const DUTCH: [&str; 5] = [
    "adviseursnummer",
    "naam",
    "e-mailadres",
    "rechten",
    "subkantoren",
];

/// A checked row of the file: a head office to create, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The 1-based line of the file where the row starts.
    pub line: u64,
    /// The head office.
    pub office: NewHeadOffice,
}

/// Why a row, or the file as a whole (line 1), was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// A value breaks a rule of SPEC §3 (also: taken in the database, O1/U3).
    Rule(RuleError),
    /// The heading lacks a column.
    MissingColumn(&'static str),
    /// The row cannot be read as CSV (a wrong number of fields, an open quote).
    Malformed,
    /// The file holds a heading but no rows.
    NoRows,
    /// `allow_sub_offices` is not yes or no.
    NotYesOrNo(String),
    /// The advisor number appears earlier in the file, on `first_line`.
    RepeatedAdvisorNumber {
        /// Where it appeared first.
        first_line: u64,
    },
    /// The e-mail address appears earlier in the file, on `first_line`.
    RepeatedEmail {
        /// Where it appeared first.
        first_line: u64,
    },
    /// The row would change its head office in a way the insurer's four-eyes setting
    /// (`PORTAL_FOUR_EYES`) lets only a second admin approve: the listed kinds it holds.
    NeedsApproval(String),
}

impl RowProblem {
    /// The key of the Dutch text in `templates/nl.toml`; `{column}`, `{value}` and
    /// `{line}` in it stand for [`RowProblem::detail`].
    pub fn text_key(&self) -> &'static str {
        match self {
            Self::Rule(e) => e.text_key(),
            Self::MissingColumn(_) => "import.missing_column",
            Self::Malformed => "import.malformed",
            Self::NoRows => "import.no_rows",
            Self::NotYesOrNo(_) => "import.not_yes_or_no",
            Self::RepeatedAdvisorNumber { .. } => "import.repeated_advisor_number",
            Self::RepeatedEmail { .. } => "import.repeated_email",
            Self::NeedsApproval(_) => "import.needs_approval",
        }
    }

    /// The value the text is about, if any: a column, a value, a right code, a line.
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Rule(
                RuleError::UnknownRight(code)
                | RuleError::RightNotForSubOffices(code)
                | RuleError::RightExceedsOffice(code),
            ) => Some(code.clone()),
            Self::MissingColumn(c) => Some((*c).to_owned()),
            Self::NotYesOrNo(v) | Self::NeedsApproval(v) => Some(v.clone()),
            Self::RepeatedAdvisorNumber { first_line } | Self::RepeatedEmail { first_line } => {
                Some(first_line.to_string())
            }
            Self::Rule(_) | Self::Malformed | Self::NoRows => None,
        }
    }
}

/// One refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file (1 for the file as a whole).
    pub line: u64,
    /// Why.
    pub problem: RowProblem,
}

/// The advisor numbers and e-mail addresses (normalised) already in the database: of
/// offices and of users, since a head office's e-mail becomes its main user's login.
#[derive(Debug, Clone, Default)]
pub struct Taken {
    /// Advisor numbers of existing head offices.
    pub advisor_numbers: HashSet<String>,
    /// E-mail addresses of existing offices and users.
    pub emails: HashSet<String>,
}

/// The file's text: UTF-8 (with or without byte-order mark), or else Windows-1252, which
/// Dutch spreadsheet programs write by default.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|b| windows_1252(*b)).collect()),
    }
}

/// Windows-1252: Latin-1 with printable characters in 0x80–0x9F.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// Parses and checks a whole file: the head offices with their lines, or every problem
/// (sorted by line). Either `,` or `;` separates the columns (the one the heading uses
/// more); the heading names the columns in any order.
pub fn check(
    text: &str,
    registry: &Registry,
    taken: &Taken,
) -> Result<Vec<ImportRow>, Vec<RowError>> {
    let (rows, mut errors) = parse(text, registry);
    errors.extend(duplicates(&rows, taken));
    if errors.is_empty() && rows.is_empty() {
        errors.push(RowError {
            line: 1,
            problem: RowProblem::NoRows,
        });
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

/// Each row read on its own: the good ones and the problems.
fn parse(text: &str, registry: &Registry) -> (Vec<ImportRow>, Vec<RowError>) {
    // The csv reader counts lines by `\n` and puts a record that follows `\r\n` on the line
    // before it (every record of a `\r`-only file on line 1), while spreadsheets on Windows
    // write `\r\n`: line ends are made `\n` first, so reported lines are the file's (found
    // by the `csv_import` fuzz target, SECURITY IO-06).
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let file_error = |problem| (Vec::new(), vec![RowError { line: 1, problem }]);
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').to_lowercase())
            .collect(),
        Err(_) => return file_error(RowProblem::Malformed),
    };
    let mut index = [usize::MAX; 5];
    for (i, col) in COLUMNS.iter().enumerate() {
        match header.iter().position(|h| h == col || h == DUTCH[i]) {
            Some(p) => index[i] = p,
            None if *col == "allow_sub_offices" => {}
            None => return file_error(RowProblem::MissingColumn(col)),
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(1, |p| p.line());
                errors.push(RowError {
                    line,
                    problem: RowProblem::Malformed,
                });
                continue;
            }
        };
        let line = record.position().map_or(1, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue; // an empty line at the end, as spreadsheets write them
        }
        let field = |i: usize| record.get(index[i]).unwrap_or("");
        let allow = match field(4).to_lowercase().as_str() {
            "" | "0" | "nee" | "no" | "false" | "n" => Ok(false),
            "1" | "ja" | "yes" | "true" | "j" | "y" => Ok(true),
            other => Err(RowProblem::NotYesOrNo(other.chars().take(40).collect())),
        };
        let rights = field(3).replace([';', ' ', '/', '|'], ",");
        let parsed = allow.and_then(|allow| {
            NewHeadOffice::parse(field(0), field(1), field(2), &rights, allow, registry)
                .map_err(RowProblem::Rule)
        });
        match parsed {
            Ok(office) => rows.push(ImportRow { line, office }),
            Err(problem) => errors.push(RowError { line, problem }),
        }
    }
    (rows, errors)
}

/// O1, U3: an advisor number or e-mail address that repeats one earlier in the file, or an
/// e-mail address the database already holds for a new head office. An advisor number the
/// database holds is no problem: that row updates its head office (issue 10, an upsert by
/// advisor number), and its e-mail address is never applied, so it is not checked here.
fn duplicates(rows: &[ImportRow], taken: &Taken) -> Vec<RowError> {
    let mut numbers: HashMap<&str, u64> = HashMap::new();
    let mut emails: HashMap<&str, u64> = HashMap::new();
    let mut errors = Vec::new();
    for row in rows {
        let number = row.office.advisor_number.as_str();
        let email = row.office.email.as_str();
        let exists = taken.advisor_numbers.contains(number);
        let problem = if let Some(first) = numbers.get(number) {
            Some(RowProblem::RepeatedAdvisorNumber { first_line: *first })
        } else if !exists && taken.emails.contains(email) {
            Some(RowProblem::Rule(RuleError::EmailInUse))
        } else {
            emails
                .get(email)
                .map(|first| RowProblem::RepeatedEmail { first_line: *first })
        };
        numbers.entry(number).or_insert(row.line);
        emails.entry(email).or_insert(row.line);
        if let Some(problem) = problem {
            errors.push(RowError {
                line: row.line,
                problem,
            });
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reg() -> Registry {
        Registry::builtin().unwrap()
    }

    fn lines(errors: &[RowError]) -> Vec<(u64, RowProblem)> {
        errors.iter().map(|e| (e.line, e.problem.clone())).collect()
    }

    #[test]
    fn a_good_file_parses_with_line_numbers_either_delimiter() {
        let csv = "advisor_number,name,email,rights,allow_sub_offices\n111,Een,een@x.nl,\"DIP,DIL\",ja\n222,Twee,twee@x.nl,ORV,\n";
        let rows = check(csv, &reg(), &Taken::default()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert!(rows[0].office.allow_sub_offices);
        assert_eq!(rows[1].office.rights.len(), 1);
        let semi = "\u{feff}advisor_number;name;email;rights\n333;Drie;drie@x.nl;DIP DIL\n\n";
        let rows = check(semi, &reg(), &Taken::default()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].office.rights.len(), 2);
        let dutch =
            "Naam;Adviseursnummer;E-mailadres;Rechten;Subkantoren\nVier;444;vier@x.nl;DIL;nee\n";
        let rows = check(dutch, &reg(), &Taken::default()).unwrap();
        assert_eq!(rows[0].office.advisor_number.as_str(), "444");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let csv = "advisor_number,name,email,rights\n111,Een,een@x.nl,DIP\n222,Twee,not-an-email,DIP\n333,,drie@x.nl,DIP\n444,Vier,vier@x.nl,XYZ\n";
        let errors = check(csv, &reg(), &Taken::default()).unwrap_err();
        assert_eq!(
            lines(&errors),
            vec![
                (3, RowProblem::Rule(RuleError::InvalidEmail)),
                (4, RowProblem::Rule(RuleError::InvalidName)),
                (5, RowProblem::Rule(RuleError::UnknownRight("XYZ".into()))),
            ]
        );
        let errors = check("name,email\n", &reg(), &Taken::default()).unwrap_err();
        assert_eq!(
            lines(&errors),
            vec![(1, RowProblem::MissingColumn("advisor_number"))]
        );
        let errors = check(
            "advisor_number,name,email,rights\n",
            &reg(),
            &Taken::default(),
        )
        .unwrap_err();
        assert_eq!(lines(&errors), vec![(1, RowProblem::NoRows)]);
        let errors = check(
            "advisor_number,name,email,rights,allow_sub_offices\n1,A,a@x.nl,DIP,misschien\n2,B,b@x.nl\n",
            &reg(),
            &Taken::default(),
        )
        .unwrap_err();
        assert_eq!(
            lines(&errors),
            vec![
                (2, RowProblem::NotYesOrNo("misschien".into())),
                (3, RowProblem::Malformed)
            ]
        );
    }

    #[test]
    fn windows_and_old_mac_line_ends_report_the_lines_of_the_file() {
        for end in ["\r\n", "\r"] {
            let csv = [
                "advisor_number,name,email,rights",
                "111,Een,een@x.nl,DIP",
                "222,Twee,twee@x.nl,DIP",
                "",
            ]
            .join(end);
            let rows = check(&csv, &reg(), &Taken::default()).unwrap();
            assert_eq!(
                rows.iter().map(|r| r.line).collect::<Vec<_>>(),
                vec![2, 3],
                "{end:?}"
            );
            let bad = [
                "advisor_number,name,email,rights",
                "111,Een,een@x.nl,DIP",
                "222,Twee,nee,DIP",
                "3,B",
                "",
            ]
            .join(end);
            let errors = check(&bad, &reg(), &Taken::default()).unwrap_err();
            assert_eq!(
                lines(&errors),
                vec![
                    (3, RowProblem::Rule(RuleError::InvalidEmail)),
                    (4, RowProblem::Malformed)
                ],
                "{end:?}"
            );
        }
    }

    #[test]
    fn o1_u3_repeats_in_the_file_and_in_the_database_are_refused() {
        let csv = "advisor_number,name,email,rights\n111,Een,een@x.nl,DIP\n111,Twee,twee@x.nl,DIP\n333,Drie,EEN@x.nl,DIP\n444,Vier,vier@x.nl,DIP\n555,Vijf,bestaand@x.nl,DIP\n";
        let mut taken = Taken::default();
        taken.advisor_numbers.insert("444".into());
        taken.emails.insert("bestaand@x.nl".into());
        let errors = check(csv, &reg(), &taken).unwrap_err();
        // 444 exists: that row is an update of its head office, not a problem.
        assert_eq!(
            lines(&errors),
            vec![
                (3, RowProblem::RepeatedAdvisorNumber { first_line: 2 }),
                (4, RowProblem::RepeatedEmail { first_line: 2 }),
                (6, RowProblem::Rule(RuleError::EmailInUse)),
            ]
        );
        // An existing advisor number's row is not checked against the database's e-mails
        // (its e-mail is never applied), but still against the file's.
        let existing = "advisor_number,name,email,rights\n444,Vier,bestaand@x.nl,DIP\n";
        assert!(check(existing, &reg(), &taken).is_ok());
        // Without the clashes the same offices pass.
        let ok = "advisor_number,name,email,rights\n111,Een,een@x.nl,DIP\n";
        assert!(check(ok, &reg(), &Taken::default()).is_ok());
    }

    #[test]
    fn windows_1252_files_are_read() {
        assert_eq!(decode(b"Caf\xe9 \x80"), "Café €");
        assert_eq!(decode("Café".as_bytes()), "Café");
        assert_eq!(decode(b"\xEF\xBB\xBFa"), "a");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn cell() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<String>(),
                "[a-zA-Z0-9@.;, \"\\n\\r-]{0,12}",
                Just("DIP,DIL".to_owned()),
                Just("ja".to_owned()),
            ]
        }

        proptest! {
            // IO-06: whatever a spreadsheet exports, the import answers rows or errors,
            // and an error always names a line of the file.
            #[test]
            fn parsing_never_panics(
                bytes in any::<Vec<u8>>(),
                rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..7), 0..6),
                semicolon in any::<bool>(),
            ) {
                let reg = Registry::builtin().unwrap();
                let _ = check(&decode(&bytes), &reg, &Taken::default());
                let sep = if semicolon { ";" } else { "," };
                let mut file = COLUMNS.join(sep);
                for r in rows {
                    file.push('\n');
                    file.push_str(&r.join(sep));
                }
                if let Err(errors) = check(&file, &reg, &Taken::default()) {
                    prop_assert!(!errors.is_empty());
                    prop_assert!(errors.iter().all(|e| e.line >= 1));
                }
            }
        }
    }
}
