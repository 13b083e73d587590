//! The appointment-register import (SPEC O1, issue 6): the bytes of an uploaded file, as
//! the console and `portal office import` pass them, through `idp::domain::import::decode`
//! (UTF-8 with or without BOM, else Windows-1252) and `check` with the built-in product
//! registry and one advisor number and one e-mail address already taken.
//!
//! Must hold: no panic; an accepted file yields at least one row, every row from a line
//! after the heading, in file order, with advisor numbers and e-mail addresses that are
//! unique, each already in its normal form, and a new head office's e-mail address not
//! taken (a taken advisor number updates its head office, issue 10, and that row's e-mail
//! is never applied); a refused file names at least one problem, every one on a line of
//! the file, sorted by line.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use idp::domain::import::{Taken, check, decode};
use idp::domain::{AdvisorNumber, Email};
use libfuzzer_sys::fuzz_target;
use product_registry::Registry;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::builtin().expect("the built-in registry"))
}

fn taken() -> &'static Taken {
    static T: OnceLock<Taken> = OnceLock::new();
    T.get_or_init(|| Taken {
        advisor_numbers: HashSet::from(["12345".to_owned()]),
        emails: HashSet::from(["bezet@voorbeeld.nl".to_owned()]),
    })
}

fuzz_target!(|data: &[u8]| {
    let text = decode(data);
    match check(&text, registry(), taken()) {
        Ok(rows) => {
            assert!(!rows.is_empty(), "an accepted file without rows");
            let mut numbers = HashSet::new();
            let mut emails = HashSet::new();
            let mut last = 1;
            for row in &rows {
                assert!(
                    row.line > last,
                    "row on line {} after line {last}: {rows:?}",
                    row.line
                );
                last = row.line;
                let number = row.office.advisor_number.as_str();
                let email = row.office.email.as_str();
                assert!(numbers.insert(number), "advisor number {number} twice");
                assert!(emails.insert(email), "e-mail {email} twice");
                if !taken().advisor_numbers.contains(number) {
                    assert!(
                        !taken().emails.contains(email),
                        "a new office with a taken e-mail"
                    );
                }
                assert_eq!(
                    AdvisorNumber::parse(number).as_ref(),
                    Ok(&row.office.advisor_number)
                );
                assert_eq!(
                    Email::parse(email).as_ref(),
                    Ok(&row.office.email),
                    "not normal"
                );
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "a refusal without a reason");
            assert!(errors.iter().all(|e| e.line >= 1));
            assert!(
                errors.windows(2).all(|w| w[0].line <= w[1].line),
                "unsorted"
            );
        }
    }
});
