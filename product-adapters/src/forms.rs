//! Reading the portals' forms: Dutch amounts ("250.000", "€ 250.000,50"), dates
//! (`2026-12-03` from a date field, or `3-12-2026` typed), choices and texts, each with a
//! Dutch message naming what is wrong; and the field descriptions the generic form page
//! renders. Rules of the tariff (limits) are not checked here but by the pricing engine.

use std::collections::BTreeMap;

use pricing::Cents;
use serde::Serialize;
use time::Date;
use web_kit::texts::Texts;

/// A submitted form: field name → value (the last one wins).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Fields(pub BTreeMap<String, String>);

impl Fields {
    /// Decodes an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The trimmed value of `name`, empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(|v| v.trim()).unwrap_or("")
    }

    /// Sets `name` to `value`.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Sets a default for a field not given.
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0
            .entry(name.to_owned())
            .or_insert_with(|| value.to_owned());
        self
    }
}

/// What is wrong with a form: field name → Dutch message.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    /// Records `message` for `field` (the first message of a field is kept).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_insert_with(|| message.into());
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message of `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }
}

impl From<Vec<pricing::FieldError>> for FieldErrors {
    fn from(list: Vec<pricing::FieldError>) -> Self {
        let mut errors = Self::default();
        for e in list {
            errors.add(e.field, e.message);
        }
        errors
    }
}

/// Reads fields, collecting every problem at once.
pub struct Reader<'a> {
    fields: &'a Fields,
    texts: &'a Texts,
    /// What was wrong so far.
    pub errors: FieldErrors,
}

/// The longest free text a form field takes.
pub const MAX_TEXT: usize = 200;

impl<'a> Reader<'a> {
    /// A reader of `fields` with messages from `texts`.
    pub fn new(fields: &'a Fields, texts: &'a Texts) -> Self {
        Self {
            fields,
            texts,
            errors: FieldErrors::default(),
        }
    }

    fn fail<T>(&mut self, field: &str, key: &str) -> Option<T> {
        self.errors.add(field, self.texts.text(key));
        None
    }

    /// A required text of at most [`MAX_TEXT`] characters, without control characters.
    pub fn text(&mut self, field: &str) -> Option<String> {
        let v = self.fields.get(field);
        if v.is_empty() {
            return self.fail(field, "form.required");
        }
        if v.chars().count() > MAX_TEXT || v.chars().any(|c| c.is_control() || is_invisible(c)) {
            return self.fail(field, "form.text");
        }
        Some(v.to_owned())
    }

    /// A required amount in euro: `250000`, `250.000`, `250.000,50`, `€ 250.000`.
    pub fn money(&mut self, field: &str) -> Option<Cents> {
        let v = self.fields.get(field);
        if v.is_empty() {
            return self.fail(field, "form.required");
        }
        match parse_euro(v) {
            Some(c) => Some(c),
            None => self.fail(field, "form.money"),
        }
    }

    /// A required date: `2026-12-03` or `3-12-2026`.
    pub fn date(&mut self, field: &str) -> Option<Date> {
        let v = self.fields.get(field);
        if v.is_empty() {
            return self.fail(field, "form.required");
        }
        match parse_date(v) {
            Some(d) => Some(d),
            None => self.fail(field, "form.date"),
        }
    }

    /// An optional date: empty is `None` without a message.
    pub fn optional_date(&mut self, field: &str) -> Option<Date> {
        if self.fields.get(field).is_empty() {
            None
        } else {
            self.date(field)
        }
    }

    /// A required whole number.
    pub fn number(&mut self, field: &str) -> Option<u32> {
        let v = self.fields.get(field);
        if v.is_empty() {
            return self.fail(field, "form.required");
        }
        match v.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => self.fail(field, "form.number"),
        }
    }

    /// One of `options` (value → what it means).
    pub fn choice<T: Copy>(&mut self, field: &str, options: &[(&str, T)]) -> Option<T> {
        let v = self.fields.get(field);
        match options.iter().find(|(value, _)| *value == v) {
            Some((_, t)) => Some(*t),
            None if v.is_empty() => self.fail(field, "form.required"),
            None => self.fail(field, "form.choice"),
        }
    }

    /// A checkbox: ticked when present with any value.
    pub fn ticked(&self, field: &str) -> bool {
        !self.fields.get(field).is_empty()
    }
}

/// Invisible format characters and line or paragraph separators (Unicode Cf, Zl, Zp) that
/// could reorder or hide text on a quote, in a PDF or in a mail (SECURITY IO-05).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// `250000`, `250.000`, `250.000,50`, `€ 250.000,-` → cents. Dots group thousands; a comma
/// separates at most two decimals. At most a billion euro.
pub fn parse_euro(text: &str) -> Option<Cents> {
    let t = text
        .trim()
        .trim_start_matches('€')
        .trim()
        .trim_end_matches(",-")
        .replace(' ', "");
    let (whole, cents) = match t.split_once(',') {
        Some((w, c)) => (w.to_owned(), c.to_owned()),
        None => (t.clone(), String::new()),
    };
    if whole.is_empty() || cents.len() > 2 || !cents.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Dots must group by three: 250.000 yes, 25.00 no.
    let groups: Vec<&str> = whole.split('.').collect();
    let grouped = groups.len() == 1
        || (groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3));
    let digits: String = groups.concat();
    if !grouped || digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let euros: i64 = digits.parse().ok().filter(|e| *e <= 1_000_000_000)?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().ok()? * 10,
        _ => cents.parse().ok()?,
    };
    Some(euros * 100 + cents)
}

/// `2026-12-03` (a date field) or `3-12-2026` / `03-12-2026` (typed).
pub fn parse_date(text: &str) -> Option<Date> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let (y, m, d) = if a.len() == 4 { (a, b, c) } else { (c, b, a) };
    if y.len() != 4 || m.is_empty() || m.len() > 2 || d.is_empty() || d.len() > 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// `€ 1.234,56`.
pub fn euro(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(ch);
    }
    format!("{sign}€ {grouped},{:02}", c % 100)
}

/// `3 december 2026`.
pub fn date_nl(d: Date) -> String {
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    let m = MONTHS[usize::from(u8::from(d.month())) - 1];
    format!("{} {m} {}", d.day(), d.year())
}

/// One field of a quote or application form, as the generic form page renders it.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// Form name.
    pub name: &'static str,
    /// Dutch label.
    pub label: String,
    /// `text`, `money`, `date`, `select`, `radio` or `checkbox`.
    pub kind: &'static str,
    /// Choices of a select or radio: (value, label).
    pub options: Vec<(String, String)>,
    /// A hint under the field (the tariff's limits).
    pub hint: Option<String>,
    /// The current value.
    pub value: String,
    /// What is wrong with it.
    pub error: Option<String>,
}

/// Builds [`Field`]s from a form's values and errors.
pub struct FormBuilder<'a> {
    values: &'a Fields,
    errors: &'a FieldErrors,
    texts: &'a Texts,
    prefix: &'static str,
    /// The fields so far.
    pub fields: Vec<Field>,
}

impl<'a> FormBuilder<'a> {
    /// Labels come from `texts` under `prefix` (`dip` → `dip.purchase_sum`).
    pub fn new(
        values: &'a Fields,
        errors: &'a FieldErrors,
        texts: &'a Texts,
        prefix: &'static str,
    ) -> Self {
        Self {
            values,
            errors,
            texts,
            prefix,
            fields: Vec::new(),
        }
    }

    /// Adds a field labelled by the text `{prefix}.{name}`; `options` are (value, text key:
    /// under the prefix, or a full key with a dot).
    pub fn field(
        mut self,
        name: &'static str,
        kind: &'static str,
        options: &[(&str, &str)],
        hint: Option<String>,
    ) -> Self {
        let label = self.label(name);
        let options = options
            .iter()
            .map(|(v, key)| ((*v).to_owned(), self.label(key)))
            .collect();
        self.fields.push(Field {
            name,
            label,
            kind,
            options,
            hint,
            value: self.values.get(name).to_owned(),
            error: self.errors.get(name).map(str::to_owned),
        });
        self
    }

    /// The text of `key`: a full key when it has a dot, else one under the prefix.
    fn label(&self, key: &str) -> String {
        if key.contains('.') {
            self.texts.text(key)
        } else {
            self.texts.text(&format!("{}.{key}", self.prefix))
        }
    }

    /// The fields.
    pub fn build(self) -> Vec<Field> {
        self.fields
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dutch_amounts() {
        assert_eq!(parse_euro("250000"), Some(25_000_000));
        assert_eq!(parse_euro("250.000"), Some(25_000_000));
        assert_eq!(parse_euro("€ 250.000,50"), Some(25_000_050));
        assert_eq!(parse_euro("1.234,5"), Some(123_450));
        assert_eq!(parse_euro("100.000,-"), Some(10_000_000));
        for bad in [
            "",
            "abc",
            "25.00",
            "1,234",
            "1.2345",
            "-5",
            "12,345",
            "1..000",
            "2.000.000.000.000",
        ] {
            assert_eq!(parse_euro(bad), None, "{bad}");
        }
    }

    #[test]
    fn texts_refuse_control_and_invisible_characters() {
        let texts = Texts::load().unwrap();
        for bad in ["a\nb", "a\u{202E}b", "a\u{200B}b", "a\u{2028}b", "\u{FEFF}"] {
            let fields = Fields::default().set("n", bad);
            let mut r = Reader::new(&fields, &texts);
            assert_eq!(r.text("n"), None, "{bad:?}");
        }
        let fields = Fields::default().set("n", "Émile Zoë d'Ancona");
        assert!(Reader::new(&fields, &texts).text("n").is_some());
    }

    #[test]
    fn dates_from_a_date_field_or_typed() {
        let d = Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
        assert_eq!(parse_date("2026-12-03"), Some(d));
        assert_eq!(parse_date("3-12-2026"), Some(d));
        assert_eq!(parse_date("03-12-2026"), Some(d));
        for bad in [
            "",
            "2026-13-01",
            "31-02-2026",
            "3/12/2026",
            "26-12-03",
            "x-y-z",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn euro_is_printed_dutch_style() {
        assert_eq!(euro(0), "€ 0,00");
        assert_eq!(euro(123_456), "€ 1.234,56");
        assert_eq!(euro(25_000_000), "€ 250.000,00");
        assert_eq!(euro(-5), "-€ 0,05");
        assert_eq!(
            date_nl(Date::from_calendar_date(2026, time::Month::March, 1).unwrap()),
            "1 maart 2026"
        );
    }
}
