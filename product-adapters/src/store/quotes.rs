//! Quotes and the applications made from them (SPEC P2, P4, P5, O7).
//!
//! Every read is given a [`Scope`] and filters on it in SQL, so a quote outside the
//! reader's office tree is never loaded, not merely hidden (SECURITY AC-03).

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::outbox::{self, NewProductMail};
use super::{ProductDb, StoreError, at, with_db};
use crate::scope::Scope;

/// The office a quote is made for, as printed on it (P2) and mailed (P3), taken from the
/// idp when the quote is made and kept with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OfficeSnapshot {
    /// The office's id (the token's `office.id`).
    pub id: Uuid,
    /// Its head office (itself for a head office).
    pub head_office_id: Uuid,
    /// `head_office` or `sub_office`.
    pub kind: String,
    /// Kantoornummer / adviseursnummer.
    pub number: String,
    /// Naam.
    pub name: String,
    /// Adres.
    pub address: String,
    /// Postcode.
    pub postcode: String,
    /// Plaats.
    pub city: String,
    /// The office e-mail: where quotes go (P2).
    pub email: String,
    /// The head office's e-mail: the CC of product mail (P3).
    pub head_office_email: String,
}

/// Who made a quote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Advisor {
    /// The user's `sub`.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// `main_user` or `employee`.
    pub role: String,
}

/// A priced quote to store.
#[derive(Debug, Clone)]
pub struct NewQuote {
    /// Its id (UUIDv7).
    pub id: Uuid,
    /// The product's right code.
    pub product: String,
    /// What was quoted within the product (DIZP, DIKP, ...).
    pub variant: String,
    /// The office, as printed.
    pub office: OfficeSnapshot,
    /// The advisor.
    pub advisor: Advisor,
    /// The insured's name.
    pub client_name: String,
    /// The tariff version that priced it (P5).
    pub tariff_version: String,
    /// The priced request.
    pub request: serde_json::Value,
    /// The engine's answer.
    pub result: serde_json::Value,
    /// The headline figure in cents.
    pub amount_cents: i64,
}

/// A stored quote, with its application if one was made.
#[derive(Debug, Clone, Serialize)]
pub struct StoredQuote {
    /// Id.
    pub id: Uuid,
    /// Right code.
    pub product: String,
    /// Variant.
    pub variant: String,
    /// The quote number's running part (per product).
    pub seq: i64,
    /// The office, as printed.
    pub office: OfficeSnapshot,
    /// The advisor.
    pub advisor: Advisor,
    /// The insured.
    pub client_name: String,
    /// Tariff version.
    pub tariff_version: String,
    /// Request JSON.
    pub request: serde_json::Value,
    /// Result JSON.
    pub result: serde_json::Value,
    /// Headline figure in cents.
    pub amount_cents: i64,
    /// When.
    pub created_at: OffsetDateTime,
    /// The application made from it.
    pub application: Option<StoredApplication>,
}

impl StoredQuote {
    /// The quote number shown to people: `DIP-0000042`.
    pub fn number(&self) -> String {
        quote_number(&self.product, self.seq)
    }
}

/// The quote number shown to people for a product's `seq`.
pub fn quote_number(product: &str, seq: i64) -> String {
    format!("{product}-{seq:07}")
}

/// An application as stored.
#[derive(Debug, Clone, Serialize)]
pub struct StoredApplication {
    /// Id.
    pub id: Uuid,
    /// Verzekeringnemer.
    pub applicant_name: String,
    /// Adres.
    pub applicant_address: String,
    /// Postcode.
    pub applicant_postcode: String,
    /// Woonplaats.
    pub applicant_city: String,
    /// IBAN.
    pub applicant_iban: String,
    /// The figures applied for: the quote's, unchanged (P5).
    pub result: serde_json::Value,
    /// Who applied.
    pub user_name: String,
    /// When.
    pub created_at: OffsetDateTime,
}

/// An application to store.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Id.
    pub id: Uuid,
    /// The quote it is made from.
    pub quote_id: Uuid,
    /// The quote's product.
    pub product: String,
    /// Verzekeringnemer.
    pub applicant_name: String,
    /// Adres.
    pub applicant_address: String,
    /// Postcode.
    pub applicant_postcode: String,
    /// Woonplaats.
    pub applicant_city: String,
    /// IBAN (normalised).
    pub applicant_iban: String,
    /// The quote's figures.
    pub result: serde_json::Value,
    /// The advisor applying.
    pub user_id: Uuid,
    /// Name.
    pub user_name: String,
}

#[derive(sqlx::FromRow)]
struct QuoteRow {
    id: Uuid,
    product: String,
    variant: String,
    seq: i64,
    office_id: Uuid,
    head_office_id: Uuid,
    office_kind: String,
    office_number: String,
    office_name: String,
    office_address: String,
    office_postcode: String,
    office_city: String,
    office_email: String,
    head_office_email: String,
    user_id: Uuid,
    user_name: String,
    user_email: String,
    user_role: String,
    client_name: String,
    tariff_version: String,
    request: String,
    result: String,
    amount_cents: i64,
    created_at: OffsetDateTime,
    a_id: Option<Uuid>,
    a_name: Option<String>,
    a_address: Option<String>,
    a_postcode: Option<String>,
    a_city: Option<String>,
    a_iban: Option<String>,
    a_result: Option<String>,
    a_user_name: Option<String>,
    a_created_at: Option<OffsetDateTime>,
}

/// The columns of a quote with its application, as one literal for `concat!`.
macro_rules! quote_select {
    () => {
        "SELECT q.id, q.product, q.variant, q.seq, q.office_id, q.head_office_id, q.office_kind,
            q.office_number, q.office_name, q.office_address, q.office_postcode, q.office_city,
            q.office_email, q.head_office_email, q.user_id, q.user_name, q.user_email, q.user_role,
            q.client_name, q.tariff_version, q.request, q.result, q.amount_cents, q.created_at,
            a.id AS a_id, a.applicant_name AS a_name, a.applicant_address AS a_address,
            a.applicant_postcode AS a_postcode, a.applicant_city AS a_city, a.applicant_iban AS a_iban,
            a.result AS a_result, a.user_name AS a_user_name, a.created_at AS a_created_at
       FROM quotes q LEFT JOIN applications a ON a.quote_id = q.id"
    };
}

/// The scope condition (P4, SECURITY AC-03) on `$1` (a head office: its whole tree) and
/// `$2` (one office), exactly one of which is bound; see [`Scope::binds`]. All SQL here is
/// fixed text with bound values (SECURITY IO-01).
macro_rules! in_scope {
    () => {
        "(q.head_office_id = $1 OR q.office_id = $2)"
    };
}

/// A dashboard page (see [`list`]): `$1` the scope, `$2` (and `$10`…`$16`) the products,
/// `$3` applied or not, `$4`/`$5` a quote number, `$6` part of the insured's name, `$7` one
/// office, `$8`/`$9` limit and offset; the rest is [`cond!`].
macro_rules! list_sql {
    ($scope:ident, $number:ident, $office:ident, $products:ident) => {
        concat!(
            quote_select!(),
            " WHERE ",
            cond!($scope),
            " AND ",
            cond!($products),
            " AND ($3 IS NULL OR (a.id IS NOT NULL) = $3) AND ",
            cond!($number),
            " AND ($6 IS NULL OR LOWER(q.client_name) LIKE $6 ESCAPE '\\') AND ",
            cond!($office),
            " ORDER BY q.created_at DESC, q.id DESC LIMIT $8 OFFSET $9"
        )
    };
}

/// The conditions that differ between the SQL texts of [`list_sql!`] and [`offices_sql!`].
/// The scope is on `$1` alone, one text per kind of scope, so that each is answered from
/// the index on its column (`a = $1 OR b = $2` with one of them NULL is not, and
/// PostgreSQL's generic plan for it reads a whole tree and sorts it). A quote number or an
/// office that is given is looked up by its index; "any, unless given" otherwise.
macro_rules! cond {
    (tree) => {
        "q.head_office_id = $1"
    };
    (office) => {
        "q.office_id = $1"
    };
    (any_number) => {
        "($4 IS NULL OR (q.product = $4 AND q.seq = $5))"
    };
    (the_number) => {
        "q.product = $4 AND q.seq = $5"
    };
    (any_office) => {
        "($7 IS NULL OR q.office_id = $7)"
    };
    (the_office) => {
        "q.office_id = $7"
    };
    // The products as a list of [`PRODUCT_SLOTS`] values (unused ones NULL), which
    // PostgreSQL estimates from its statistics; matching one code in a text of codes with
    // `LIKE` it takes for rare, and then reads a whole tree rather than its newest rows.
    (products) => {
        "q.product IN ($2, $10, $11, $12, $13, $14, $15, $16)"
    };
    (office_products) => {
        "q.product IN ($2, $3, $4, $5, $6, $7, $8, $9)"
    };
    // More products than slots: `$2` holds them all, comma-separated right codes (letters
    // and digits only).
    (many_products) => {
        "(',' || $2 || ',') LIKE ('%,' || q.product || ',%')"
    };
}

/// How many products [`cond!`]`(products)` holds; a dashboard of more uses `many_products`.
const PRODUCT_SLOTS: usize = 8;

/// The SQL text of a dashboard page: by scope (`tree` or one office), a quote number asked
/// for, an office asked for, and whether the products fit the slots.
fn list_text(tree: bool, by_number: bool, by_office: bool, slots: bool) -> &'static str {
    macro_rules! pick {
        ($products:ident) => {
            match (tree, by_number, by_office) {
                (true, true, _) => list_sql!(tree, the_number, any_office, $products),
                (true, false, true) => list_sql!(tree, any_number, the_office, $products),
                (true, false, false) => list_sql!(tree, any_number, any_office, $products),
                (false, true, _) => list_sql!(office, the_number, any_office, $products),
                (false, false, true) => list_sql!(office, any_number, the_office, $products),
                (false, false, false) => list_sql!(office, any_number, any_office, $products),
            }
        };
    }
    if slots {
        pick!(products)
    } else {
        pick!(many_products)
    }
}

/// The products as `$2` and the further slots: the first code and up to seven more (NULL
/// when unused), or, beyond [`PRODUCT_SLOTS`], all codes in `$2` and no slots.
fn product_binds(products: &[String]) -> (bool, String, Vec<Option<String>>) {
    if products.len() <= PRODUCT_SLOTS {
        let first = products.first().cloned().unwrap_or_default();
        let rest = (1..PRODUCT_SLOTS)
            .map(|i| products.get(i).cloned())
            .collect();
        (true, first, rest)
    } else {
        (false, products.join(","), Vec::new())
    }
}

impl TryFrom<QuoteRow> for StoredQuote {
    type Error = StoreError;

    fn try_from(r: QuoteRow) -> Result<Self, StoreError> {
        let application = match (r.a_id, r.a_created_at) {
            (Some(id), Some(created_at)) => Some(StoredApplication {
                id,
                applicant_name: r.a_name.unwrap_or_default(),
                applicant_address: r.a_address.unwrap_or_default(),
                applicant_postcode: r.a_postcode.unwrap_or_default(),
                applicant_city: r.a_city.unwrap_or_default(),
                applicant_iban: r.a_iban.unwrap_or_default(),
                result: serde_json::from_str(r.a_result.as_deref().unwrap_or("null"))?,
                user_name: r.a_user_name.unwrap_or_default(),
                created_at,
            }),
            _ => None,
        };
        Ok(Self {
            id: r.id,
            product: r.product,
            variant: r.variant,
            seq: r.seq,
            office: OfficeSnapshot {
                id: r.office_id,
                head_office_id: r.head_office_id,
                kind: r.office_kind,
                number: r.office_number,
                name: r.office_name,
                address: r.office_address,
                postcode: r.office_postcode,
                city: r.office_city,
                email: r.office_email,
                head_office_email: r.head_office_email,
            },
            advisor: Advisor {
                id: r.user_id,
                name: r.user_name,
                email: r.user_email,
                role: r.user_role,
            },
            client_name: r.client_name,
            tariff_version: r.tariff_version,
            request: serde_json::from_str(&r.request)?,
            result: serde_json::from_str(&r.result)?,
            amount_cents: r.amount_cents,
            created_at: r.created_at,
            application,
        })
    }
}

/// Draws the next quote number of `product`: one statement on a counter row, so two quotes
/// made at the same moment (two nodes, two tabs) never draw the same number and nobody
/// waits for another's PDF to render. A quote that then fails to store leaves a gap in the
/// numbers, never a duplicate.
pub async fn next_number(db: &ProductDb, product: &str) -> Result<i64, StoreError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "INSERT INTO quote_numbers (product, last) VALUES ($1, 1)
         ON CONFLICT (product) DO UPDATE SET last = quote_numbers.last + 1
         RETURNING last"
    )
    .bind(product)
    .fetch_one(pool)
    .await)?)
}

/// Stores a quote under number `seq` (from [`next_number`]) with its mail (a demo quote
/// has none), in one transaction.
pub async fn create(
    db: &ProductDb,
    q: &NewQuote,
    seq: i64,
    mail: Option<&NewProductMail>,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    let request = serde_json::to_string(&q.request)?;
    let result = serde_json::to_string(&q.result)?;
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO quotes (id, product, variant, seq, office_id, head_office_id, office_kind,
                office_number, office_name, office_address, office_postcode, office_city, office_email,
                head_office_email, user_id, user_name, user_email, user_role, client_name,
                tariff_version, request, result, amount_cents, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20, $21, $22, $23, $24)",
        )
        .bind(q.id)
        .bind(&q.product)
        .bind(&q.variant)
        .bind(seq)
        .bind(q.office.id)
        .bind(q.office.head_office_id)
        .bind(&q.office.kind)
        .bind(&q.office.number)
        .bind(&q.office.name)
        .bind(&q.office.address)
        .bind(&q.office.postcode)
        .bind(&q.office.city)
        .bind(&q.office.email)
        .bind(&q.office.head_office_email)
        .bind(q.advisor.id)
        .bind(&q.advisor.name)
        .bind(&q.advisor.email)
        .bind(&q.advisor.role)
        .bind(&q.client_name)
        .bind(&q.tariff_version)
        .bind(&request)
        .bind(&result)
        .bind(q.amount_cents)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(mail) = mail {
            outbox::insert_mail!(&mut *tx, mail, now)?;
        }
        tx.commit().await?;
        Ok(())
    })
}

/// The quote `id` of `product`, if the scope may see it.
pub async fn get(
    db: &ProductDb,
    product: &str,
    id: Uuid,
    scope: &Scope,
) -> Result<Option<StoredQuote>, StoreError> {
    let (tree, office) = scope.binds();
    let row = with_db!(db, |pool| sqlx::query_as::<_, QuoteRow>(concat!(
        quote_select!(),
        " WHERE ",
        in_scope!(),
        " AND q.id = $3 AND q.product = $4"
    ))
    .bind(tree)
    .bind(office)
    .bind(id)
    .bind(product)
    .fetch_optional(pool)
    .await)?;
    row.map(StoredQuote::try_from).transpose()
}

/// What a dashboard asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// The products shown (the dashboard's, that the reader holds a right for).
    pub products: Vec<String>,
    /// Only quotes with an application (`Some(true)`), only without (`Some(false)`), or all.
    pub applied: Option<bool>,
    /// Part of the insured's name or the quote number (case-insensitive).
    pub search: Option<String>,
    /// Only this office of the reader's tree.
    pub office_id: Option<Uuid>,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub limit: u32,
}

/// One page of a dashboard, newest first.
#[derive(Debug, Clone)]
pub struct QuotePage {
    /// The quotes.
    pub quotes: Vec<StoredQuote>,
    /// Whether another page follows.
    pub more: bool,
}

/// The longest search text used; the rest is ignored.
const MAX_SEARCH: usize = 100;

/// A page of the quotes `scope` may see.
pub async fn list(
    db: &ProductDb,
    filter: &ListFilter,
    scope: &Scope,
) -> Result<QuotePage, StoreError> {
    if filter.products.is_empty() {
        return Ok(QuotePage {
            quotes: Vec::new(),
            more: false,
        });
    }
    let search: Option<String> = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(MAX_SEARCH).collect());
    // A NUL finds no one: no insured's name holds a control character (the form refuses
    // them), and PostgreSQL refuses a NUL in a text parameter.
    if search.as_deref().is_some_and(|s| s.contains('\0')) {
        return Ok(QuotePage {
            quotes: Vec::new(),
            more: false,
        });
    }
    // A quote number (`DIP-0000042`, `dip-42`) finds that quote; anything else is part of
    // the insured's name.
    let number = search.as_deref().and_then(parse_quote_number);
    let name = match (&search, &number) {
        (Some(s), None) => Some(contains_pattern(s)),
        _ => None,
    };
    let limit = filter.limit.clamp(1, 200);
    let offset = i64::from(filter.page.max(1) - 1) * i64::from(limit);
    let (tree, scope_id) = match scope {
        Scope::Tree(id) => (true, *id),
        Scope::Office(id) => (false, *id),
    };
    let (slots, products, more_products) = product_binds(&filter.products);
    let sql = list_text(tree, number.is_some(), filter.office_id.is_some(), slots);
    // Planned for its values every time (not persistent): PostgreSQL's generic plan of a
    // cached statement is made for an average office tree and reads the whole of a big
    // one, sorting tens of thousands of quotes for 25 rows.
    let rows = with_db!(db, |pool| {
        let mut q = sqlx::query_as::<_, QuoteRow>(sql)
            .persistent(false)
            .bind(scope_id)
            .bind(products.clone())
            .bind(filter.applied)
            .bind(number.as_ref().map(|(p, _)| p.clone()))
            .bind(number.as_ref().map(|(_, n)| *n))
            .bind(name.clone())
            .bind(filter.office_id)
            .bind(i64::from(limit) + 1)
            .bind(offset);
        for p in &more_products {
            q = q.bind(p.clone());
        }
        q.fetch_all(pool).await
    })?;
    let more = rows.len() > limit as usize;
    let quotes = rows
        .into_iter()
        .take(limit as usize)
        .map(StoredQuote::try_from)
        .collect::<Result<_, _>>()?;
    Ok(QuotePage { quotes, more })
}

/// The offices' list on `$1` (the scope) and `$2`…`$9` (the products, [`cond!`]).
macro_rules! offices_sql {
    ($scope:ident, $products:ident) => {
        concat!(
            "SELECT DISTINCT q.office_id, q.office_name, q.office_number FROM quotes q WHERE ",
            cond!($scope),
            " AND ",
            cond!($products),
            " ORDER BY q.office_name, q.office_number"
        )
    };
}

/// The offices whose quotes `scope` may see in `products`, by name: (id, "Naam (nummer)").
pub async fn offices(
    db: &ProductDb,
    products: &[String],
    scope: &Scope,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    if products.is_empty() {
        return Ok(Vec::new());
    }
    // A tree's offices come from the covering index (head office, office name, number,
    // id, product) in the order asked for; planned for their values, as a page is.
    let (slots, first, more_products) = product_binds(products);
    let (sql, id) = match (scope, slots) {
        (Scope::Tree(id), true) => (offices_sql!(tree, office_products), *id),
        (Scope::Tree(id), false) => (offices_sql!(tree, many_products), *id),
        (Scope::Office(id), true) => (offices_sql!(office, office_products), *id),
        (Scope::Office(id), false) => (offices_sql!(office, many_products), *id),
    };
    let rows: Vec<(Uuid, String, String)> = with_db!(db, |pool| {
        let mut q = sqlx::query_as(sql)
            .persistent(false)
            .bind(id)
            .bind(first.clone());
        for p in &more_products {
            q = q.bind(p.clone());
        }
        q.fetch_all(pool).await
    })?;
    let mut out: Vec<(Uuid, String)> = Vec::new();
    for (id, name, number) in rows {
        // An office renamed between quotes is listed once.
        if !out.iter().any(|(o, _)| *o == id) {
            out.push((id, format!("{name} ({number})")));
        }
    }
    Ok(out)
}

/// A `LIKE` pattern for "contains `text`" in lower case; `%`, `_` and `\` are escaped with
/// `\` (the query's `ESCAPE`), so each matches only itself on both databases.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `DIP-0000042` → (`DIP`, 42).
fn parse_quote_number(s: &str) -> Option<(String, i64)> {
    let (product, digits) = s.split_once('-')?;
    let ok = !product.is_empty() && product.chars().all(|c| c.is_ascii_alphanumeric());
    let seq = digits.parse::<i64>().ok().filter(|n| *n > 0)?;
    ok.then(|| (product.to_ascii_uppercase(), seq))
}

/// How many quotes `user_id` made since `since`, in every product (the quote limit).
pub async fn made_since(
    db: &ProductDb,
    user_id: Uuid,
    since: OffsetDateTime,
) -> Result<i64, StoreError> {
    Ok(with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM quotes WHERE user_id = $1 AND created_at > $2"
    )
    .bind(user_id)
    .bind(at(since))
    .fetch_one(pool)
    .await)?)
}

/// O7: whether `office_id` (or one of its users) ever made a quote in `product`.
pub async fn office_has_quotes(
    db: &ProductDb,
    product: &str,
    office_id: Uuid,
) -> Result<bool, StoreError> {
    let n: i64 = with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM quotes WHERE product = $1 AND office_id = $2"
    )
    .bind(product)
    .bind(office_id)
    .fetch_one(pool)
    .await)?;
    Ok(n > 0)
}

/// Stores an application with its confirmation mail. A second application for the same
/// quote is a [`StoreError::Conflict`] and writes nothing.
pub async fn apply(
    db: &ProductDb,
    a: &NewApplication,
    mail: &NewProductMail,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let now = at(now);
    let result = serde_json::to_string(&a.result)?;
    with_db!(db, |pool| {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO applications (id, quote_id, product, applicant_name, applicant_address,
                applicant_postcode, applicant_city, applicant_iban, result, user_id, user_name,
                created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(a.id)
        .bind(a.quote_id)
        .bind(&a.product)
        .bind(&a.applicant_name)
        .bind(&a.applicant_address)
        .bind(&a.applicant_postcode)
        .bind(&a.applicant_city)
        .bind(&a.applicant_iban)
        .bind(&result)
        .bind(a.user_id)
        .bind(&a.user_name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        outbox::insert_mail!(&mut *tx, mail, now)?;
        tx.commit().await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_the_wildcards() {
        assert_eq!(contains_pattern("Jan"), "%jan%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
