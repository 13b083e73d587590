//! Dutch-looking names, places and addresses for the generated offices, people and
//! insured. Invented combinations; any likeness to a real person or office is chance.

use super::rng::Rng;

pub const FIRST_NAMES: [&str; 60] = [
    "Jan", "Piet", "Kees", "Henk", "Willem", "Johan", "Gerrit", "Hans", "Peter", "Marco", "Dennis",
    "Sander", "Bas", "Thijs", "Daan", "Sem", "Lucas", "Lars", "Ruben", "Bram", "Jeroen", "Martijn",
    "Erik", "Joost", "Frank", "Ronald", "Arjen", "Wouter", "Niels", "Tim", "Anna", "Maria", "Els",
    "Ingrid", "Monique", "Sandra", "Linda", "Petra", "Marieke", "Anouk", "Eva", "Sophie", "Julia",
    "Lotte", "Fleur", "Sanne", "Lisa", "Emma", "Noor", "Iris", "Femke", "Esther", "Karin", "Wilma",
    "Ilse", "Nicole", "Marloes", "Annemiek", "Judith", "Roos",
];

pub const SURNAMES: [&str; 80] = [
    "de Jong",
    "Jansen",
    "de Vries",
    "van den Berg",
    "van Dijk",
    "Bakker",
    "Janssen",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "van der Linden",
    "Kok",
    "Jacobs",
    "de Haan",
    "Vermeulen",
    "van den Heuvel",
    "van der Veen",
    "van den Broek",
    "de Bruijn",
    "de Bruin",
    "van der Heijden",
    "Schouten",
    "van Beek",
    "Willems",
    "van Vliet",
    "van de Ven",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "van Dam",
    "van der Wal",
    "Prins",
    "Blom",
    "Huisman",
    "Peeters",
    "de Koning",
    "van Wijk",
    "Kuipers",
    "Postma",
    "Post",
    "Kramer",
    "van den Bosch",
    "Wouters",
    "Martens",
    "Vink",
    "Timmermans",
    "Groen",
    "Boer",
    "Gerritsen",
    "Jonker",
    "van Loon",
    "Veenstra",
    "Scholten",
    "Evers",
    "Wolters",
    "Hoogland",
    "Sluiter",
    "Molenaar",
    "Brink",
    "Bosman",
    "Verbeek",
    "Dam",
    "Lambers",
    "Zijlstra",
];

/// Cities with the first two digits of their postcodes and their area code.
pub const CITIES: [(&str, u16, &str); 40] = [
    ("Amsterdam", 10, "020"),
    ("Rotterdam", 30, "010"),
    ("Den Haag", 25, "070"),
    ("Utrecht", 35, "030"),
    ("Eindhoven", 56, "040"),
    ("Groningen", 97, "050"),
    ("Tilburg", 50, "013"),
    ("Almere", 13, "036"),
    ("Breda", 48, "076"),
    ("Nijmegen", 65, "024"),
    ("Apeldoorn", 73, "055"),
    ("Haarlem", 20, "023"),
    ("Arnhem", 68, "026"),
    ("Enschede", 75, "053"),
    ("Amersfoort", 38, "033"),
    ("Zaandam", 15, "075"),
    ("Den Bosch", 52, "073"),
    ("Zwolle", 80, "038"),
    ("Leiden", 23, "071"),
    ("Maastricht", 62, "043"),
    ("Dordrecht", 33, "078"),
    ("Zoetermeer", 27, "079"),
    ("Ede", 67, "0318"),
    ("Leeuwarden", 89, "058"),
    ("Alkmaar", 18, "072"),
    ("Emmen", 78, "0591"),
    ("Delft", 26, "015"),
    ("Venlo", 59, "077"),
    ("Deventer", 74, "0570"),
    ("Helmond", 57, "0492"),
    ("Oss", 53, "0412"),
    ("Hilversum", 12, "035"),
    ("Hengelo", 75, "074"),
    ("Roosendaal", 47, "0165"),
    ("Purmerend", 14, "0299"),
    ("Schiedam", 31, "010"),
    ("Lelystad", 82, "0320"),
    ("Gouda", 28, "0182"),
    ("Assen", 94, "0592"),
    ("Middelburg", 43, "0118"),
];

pub const STREETS: [&str; 24] = [
    "Kerkstraat",
    "Dorpsstraat",
    "Stationsweg",
    "Schoolstraat",
    "Molenweg",
    "Marktplein",
    "Julianastraat",
    "Beatrixlaan",
    "Wilhelminastraat",
    "Nieuwstraat",
    "Hoofdstraat",
    "Parallelweg",
    "Industrieweg",
    "Kastanjelaan",
    "Eikenlaan",
    "Lindelaan",
    "Vijverlaan",
    "Havenstraat",
    "Oranjestraat",
    "Prinsengracht",
    "Burgemeester de Withstraat",
    "Zuidwal",
    "Noordsingel",
    "Oostvest",
];

const OFFICE_FORMS: [&str; 8] = [
    "{s} Advies",
    "Adviesgroep {s}",
    "{s} Financiële Planning",
    "Pensioenhuis {c}",
    "{s} & {t} Assurantiën",
    "Hypotheek- en Pensioenwinkel {c}",
    "{s} Verzekeringen",
    "Financieel Adviesbureau {s}",
];

const BANKS: [&str; 8] = [
    "INGB", "RABO", "ABNA", "TRIO", "SNSB", "ASNB", "KNAB", "BUNQ",
];

/// "Jan de Vries".
pub fn person(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&SURNAMES))
}

/// "J. (Jan) de Vries": how the insured are written in the quote forms.
pub fn insured(rng: &mut Rng) -> String {
    let first = rng.pick(&FIRST_NAMES);
    let initial = first.chars().next().unwrap_or('A');
    format!("{initial}. ({first}) {}", capitalised(surname(rng)))
}

/// A surname.
fn surname(rng: &mut Rng) -> &'static str {
    SURNAMES[rng.index(SURNAMES.len())]
}

/// "de Vries" → "De Vries" (a surname that starts a name keeps its prefix capitalised).
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A head office's name in `city`.
pub fn office(rng: &mut Rng, city: &str) -> String {
    let form = rng.pick(&OFFICE_FORMS);
    form.replace("{s}", &capitalised(surname(rng)))
        .replace("{t}", &capitalised(surname(rng)))
        .replace("{c}", city)
}

/// A city: (name, postcode prefix, area code).
pub fn city(rng: &mut Rng) -> (&'static str, u16, &'static str) {
    *rng.pick(&CITIES)
}

/// "Kerkstraat 12".
pub fn address(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(&STREETS), rng.range(1, 240))
}

/// A postcode in a city with prefix `pp`: "3512 AB" (O3's normal form).
pub fn postcode(rng: &mut Rng, pp: u16) -> String {
    let letter = |rng: &mut Rng| char::from(b'A' + rng.below(26) as u8);
    format!("{}{:02} {}{}", pp, rng.below(100), letter(rng), letter(rng))
}

/// "030 123 4567" (ten digits with the area code).
pub fn phone(rng: &mut Rng, area: &str) -> String {
    let rest = 10 - area.len();
    let n = rng.below(10u64.pow(rest as u32));
    let digits = format!("{n:0rest$}");
    let (a, b) = digits.split_at(rest - 4);
    format!("{area} {a} {b}")
}

/// A Dutch IBAN with valid check digits (ISO 13616 mod 97), compact: "NL91ABNA0417164300".
pub fn iban(rng: &mut Rng) -> String {
    let bank = rng.pick(&BANKS);
    let account = format!("{:010}", rng.below(10_000_000_000));
    // The check: the BBAN, then "NL00", as digits (A = 10 … Z = 35), mod 97.
    let mut rem: u64 = 0;
    for c in format!("{bank}{account}NL00").chars() {
        let v = c.to_digit(36).map_or(0, u64::from);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("NL{:02}{bank}{account}", 98 - rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_pass_the_portal_check_and_postcodes_and_phones_have_their_form() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let i = iban(&mut rng);
            assert!(
                product_adapters::application::normalise_iban(&i).is_some(),
                "{i}"
            );
            let p = postcode(&mut rng, 35);
            assert!(idp::domain::office::parse_postcode(&p).is_ok(), "{p}");
            let t = phone(&mut rng, "0318");
            assert!(idp::domain::office::parse_phone(&t).is_ok(), "{t}");
        }
        assert_eq!(insured(&mut Rng::new(1)).chars().nth(1), Some('.'));
    }
}
