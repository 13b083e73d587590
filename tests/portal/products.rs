//! The product portals end to end (SPEC P1–P5, O7, §7), on the real binary with the demo
//! offices, on both databases: head office Voorbeeld Advies 12345 (DIP, DIL, ORV; main user
//! info@, employee Ilse with DIP+DIL), its sub-office Onderbemiddeling Zuid Z01 (DIP, DIL;
//! main user zuid@, employee Tim with DIP) and head office Pensioenhuis Noord 67890 (DIL).

use std::time::Duration;

use reqwest::StatusCode;
use testkit::TestDatabase;

use crate::admin_api::{MAIN, SUB_EMPLOYEE, SUB_MAIN, call, demo, token_for};
use crate::support::{Browser, Page, Portal, attribute, quoted_printable, unescape};

const EMPLOYEE: &str = "ilse@voorbeeldadvies.nl";
const NOORD: &str = "info@pensioenhuisnoord.nl";

/// A browser signed in to the portal as `login`.
pub(crate) async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    browser
}

/// A start date two months ahead, as a date field sends it.
fn start_date() -> String {
    let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
    d.to_string()
}

/// A valid DIZP quote form.
fn dip_form(client: &str, start: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "zeker".into()),
        ("client_name", client.into()),
        ("purchase_sum", "150.000".into()),
        ("birth_date", "1960-05-17".into()),
        ("start_date", start.into()),
        ("frequency", "monthly".into()),
        ("partner_percent", "70".into()),
        ("partner_birth_date", "1962-08-01".into()),
        ("high_low_years", String::new()),
        ("indexation_percent", "0".into()),
    ]
}

fn borrowed<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Submits a quote form; returns the quote page it leads to.
async fn quote(browser: &Browser, product: &str, form: &[(&'static str, String)]) -> Page {
    // As a person would: the form first (which also signs in to the product portal).
    let empty = browser.get(&format!("/{product}/offertes/nieuw")).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    let page = browser
        .post(&format!("/{product}/offertes/nieuw"), &borrowed(form))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.url.contains(&format!("/{product}/offertes/")),
        "{}",
        page.url
    );
    page
}

/// The quote number a quote page shows.
fn number_of(page: &Page) -> String {
    let needle = "id=\"quote-number\">";
    let at = page.body.find(needle).expect("a quote page") + needle.len();
    page.body[at..].split('<').next().unwrap().to_owned()
}

async fn quote_count(portal: &Portal) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM quotes"
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// The mails whose subject starts with `subject`.
async fn mails(portal: &Portal, subject: &str, n: usize) -> Vec<testkit::ReceivedMail> {
    let needle = format!("Subject: {subject}");
    for _ in 0..400 {
        let found: Vec<_> = portal
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.data.contains(&needle))
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} mails with subject {subject}");
}

/// The text of every page of a PDF.
fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).unwrap();
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).unwrap()
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

testkit::both_databases! {
    /// P2, P3, P5, §7: a sub-office's employee makes a quote; bad input is refused field by
    /// field in Dutch and stores nothing; the quote carries the sub-office's number, name and
    /// address, is priced with the tariff version recorded, mailed to the office and the
    /// advisor with a CC to the head office and the PDF attached; the application keeps its
    /// figures, is confirmed the same way, and cannot be made twice.
    async fn a_sub_office_employee_quotes_and_applies(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let tim = signed_in(&portal, SUB_EMPLOYEE, &password).await;
        let quotes_before = quote_count(&portal).await;
        let mails_before = count(&portal, "SELECT COUNT(*) FROM product_outbox").await;

        let form = tim.get("/dip/offertes/nieuw").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("Koopsom (pensioenkapitaal)"), "{}", form.body);
        assert!(form.body.contains("€ 25.000,00"), "the tariff's limit as a hint: {}", form.body);

        // Bad input, every field at once: Dutch messages, nothing stored.
        let mut bad = dip_form("", "2001-01-01");
        bad[2].1 = "veel".into();
        bad[3].1 = "17-05".into();
        let refused = tim.post("/dip/offertes/nieuw", &borrowed(&bad)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&refused.body);
        for text in [
            "Niet alle gegevens zijn juist ingevuld",
            "Vul dit veld in.",
            "Vul een bedrag in euro in",
            "Vul een datum in als dd-mm-jjjj",
        ] {
            assert!(body.contains(text), "{text}: {body}");
        }
        assert!(body.contains("value=\"veel\""), "input kept: {body}");
        // The tariff's own rules: a purchase sum below its minimum, a 20-year-old.
        let mut low = dip_form("Jan Jansen", &start_date());
        low[2].1 = "1.000".into();
        low[3].1 = "2006-01-01".into();
        let refused = tim.post("/dip/offertes/nieuw", &borrowed(&low)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&refused.body);
        assert!(body.contains("De koopsom is minimaal € 25.000,00"), "{body}");
        assert!(body.contains("minimumleeftijd"), "{body}");
        assert_eq!(quote_count(&portal).await, quotes_before, "nothing stored");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM product_outbox").await, mails_before);

        let page = quote(&tim, "dip", &dip_form("Jan Jansen", &start_date())).await;
        let body = unescape(&page.body);
        let number = number_of(&page);
        assert!(number.starts_with("DIP-"), "{number}");
        assert!(body.contains("Onderbemiddeling Zuid (Z01)"), "P2: {body}");
        assert!(body.contains("Markt 5"), "P2, the address: {body}");
        assert!(body.contains("Direct Ingaand Zeker Pensioen"), "{body}");
        assert!(body.contains("Partnerpensioen per jaar"), "{body}");
        assert!(body.contains("DIP-2026"), "the tariff version: {body}");
        let version: String = {
            let db = portal.db().await;
            idp::with_db!(&db, |pool| sqlx::query_scalar("SELECT tariff_version FROM quotes WHERE client_name = 'Jan Jansen'")
                .fetch_one(pool)
                .await
                .unwrap())
        };
        assert!(version.starts_with("DIP-"), "{version}");

        // P2, P3: to the sub-office and Tim, a CC to the head office, the PDF attached.
        let mail = &mails(&portal, &format!("Offerte {number}"), 1).await[0];
        let mut rcpt = mail.to.clone();
        rcpt.sort();
        assert_eq!(
            rcpt,
            vec!["info@voorbeeldadvies.nl", "tim@onderbemiddeling.nl", "zuid@onderbemiddeling.nl"]
        );
        assert_eq!(header(&mail.data, "Cc"), Some("info@voorbeeldadvies.nl"), "{}", mail.data);
        assert!(mail.data.contains("application/pdf"), "{}", mail.data);
        assert!(mail.data.contains(&format!("offerte-{number}.pdf")), "{}", mail.data);

        // The PDF carries the sub-office's letterhead.
        let pdf_url = format!("{}/pdf", page.url);
        let pdf = tim.http.get(&pdf_url).send().await.unwrap();
        assert_eq!(pdf.status(), StatusCode::OK);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let bytes = pdf.bytes().await.unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let text = pdf_text(&bytes);
        for expected in ["Kantoor Z01", "Onderbemiddeling Zuid", "Markt 5", number.as_str()] {
            assert!(text.contains(expected), "{expected} in the PDF: {text}");
        }

        // The application: bad details refused, then made, keeping the quote's figures.
        let apply = attribute(&page.body, "Aanvraag indienen", "href")
            .map(|_| format!("{}/aanvraag", page.url))
            .unwrap_or_else(|| format!("{}/aanvraag", page.url));
        let form = tim.get(&apply).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        assert!(form.body.contains("Naam verzekeringnemer"), "{}", form.body);
        let bad = tim
            .post(&apply, &[
                ("applicant_name", "Jan Jansen"),
                ("applicant_address", "Kerkstraat 1"),
                ("applicant_postcode", "12345"),
                ("applicant_city", "Utrecht"),
                ("applicant_iban", "NL91ABNA0417164301"),
            ])
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = unescape(&bad.body);
        for text in ["Nederlandse postcode", "Dit IBAN klopt niet", "Bevestig dat de gegevens"] {
            assert!(body.contains(text), "{text}: {body}");
        }
        let applications = count(&portal, "SELECT COUNT(*) FROM applications").await;
        let good = [
            ("applicant_name", "Jan Jansen"),
            ("applicant_address", "Kerkstraat 1"),
            ("applicant_postcode", "3511 ab"),
            ("applicant_city", "Utrecht"),
            ("applicant_iban", "NL91 ABNA 0417 1643 00"),
            ("declaration", "ja"),
        ];
        let done = tim.post(&apply, &good).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("De aanvraag is ontvangen op"), "{}", done.body);
        let kept = count(
            &portal,
            "SELECT COUNT(*) FROM applications a JOIN quotes q ON q.id = a.quote_id WHERE a.result = q.result",
        )
        .await;
        assert_eq!(kept, 1, "P5: the application keeps the quote's figures");
        let mail = &mails(&portal, &format!("Bevestiging aanvraag {number}"), 1).await[0];
        assert_eq!(header(&mail.data, "Cc"), Some("info@voorbeeldadvies.nl"));
        assert!(quoted_printable(&mail.data).contains("Jan Jansen"));

        let again = tim.post(&apply, &good).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(again.body.contains("al een aanvraag"), "{}", again.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM applications").await, applications + 1);
    }

    /// P3: a head office's main user, whose login is the office e-mail, gets the quote mail
    /// once and no CC; security mail is never copied.
    async fn a_head_office_quote_is_not_copied_to_itself(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = signed_in(&portal, MAIN, &password).await;
        let mut form = dip_form("Piet de Boer", &start_date());
        form[0].1 = "keuze".into();
        form[8].1 = "10".into();
        form[9].1 = "2".into();
        let page = quote(&main, "dip", &form).await;
        assert!(unescape(&page.body).contains("Direct Ingaand Keuze Pensioen"), "{}", page.body);
        assert!(page.body.contains("na de hoge periode"), "hoog/laag: {}", page.body);
        let mail = &mails(&portal, &format!("Offerte {}", number_of(&page)), 1).await[0];
        assert_eq!(mail.to, vec!["info@voorbeeldadvies.nl"]);
        assert_eq!(header(&mail.data, "Cc"), None);
        assert!(
            portal
                .smtp
                .messages()
                .iter()
                .filter(|m| m.data.contains("Subject: Activeer") || m.data.contains("wachtwoord"))
                .all(|m| header(&m.data, "Cc").is_none()),
            "security mail is never copied"
        );
    }

    /// P4: the DIL/DIP dashboard shows a head-office user its own office's quotes and those
    /// of its sub-offices; a sub-office user only its own office's; another office nothing;
    /// a quote outside one's scope is not found. ORV has its own list.
    async fn the_dashboards_show_each_office_its_own_tree(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let ilse = signed_in(&portal, EMPLOYEE, &password).await;
        let tim = signed_in(&portal, SUB_EMPLOYEE, &password).await;
        let main = signed_in(&portal, MAIN, &password).await;
        let zuid = signed_in(&portal, SUB_MAIN, &password).await;
        let noord = signed_in(&portal, NOORD, &password).await;

        let dil = [
            ("client_name", "Klant Van Ilse".to_owned()),
            ("purchase_sum", "80.000".into()),
            ("birth_date", "1958-03-02".into()),
            ("start_date", start_date()),
            ("frequency", "quarterly".into()),
            ("term_kind", "years".into()),
            ("term_years", "15".into()),
        ];
        let ilse_quote = quote(&ilse, "dil", &dil).await;
        quote(&tim, "dip", &dip_form("Klant Van Tim", &start_date())).await;
        let orv = [
            ("client_name", "Klant Orv".to_owned()),
            ("sum_insured", "250.000".into()),
            ("birth_date", "1986-04-04".into()),
            ("smoker", "nee".into()),
            ("start_date", start_date()),
            ("term_years", "20".into()),
            ("cover", "annuity".into()),
        ];
        let orv_page = quote(&main, "orv", &orv).await;
        assert!(orv_page.body.contains("Premie per maand"), "{}", orv_page.body);
        assert!(orv_page.body.contains("Verzekerd bedrag in jaar 20"), "{}", orv_page.body);

        let head = main.get("/dip/dashboard").await;
        assert_eq!(head.status, StatusCode::OK);
        for seen in ["Klant Van Ilse", "Klant Van Tim", "Onderbemiddeling Zuid (Z01)"] {
            assert!(head.body.contains(seen), "{seen}: {}", head.body);
        }
        assert!(!head.body.contains("Klant Orv"), "ORV has its own list");
        // The same dashboard from the DIL side, and filters.
        let dil_side = main.get("/dil/dashboard?zoek=tim").await;
        assert!(dil_side.body.contains("Klant Van Tim") && !dil_side.body.contains("Klant Van Ilse"));
        let by_number = main
            .get(&format!("/dip/dashboard?zoek={}", number_of(&ilse_quote)))
            .await;
        assert!(by_number.body.contains("Klant Van Ilse") && !by_number.body.contains("Klant Van Tim"));
        let applied_only = main.get("/dip/dashboard?soort=aanvragen").await;
        assert!(applied_only.body.contains("Er zijn geen offertes"), "{}", applied_only.body);
        // The demo quotes (`serve --demo`) are there too, each office's in its own tree.
        assert!(head.body.contains("J. (Jan) Voorbeeld") && head.body.contains("A. (Anne) Demo"));

        let sub = zuid.get("/dip/dashboard").await;
        assert!(sub.body.contains("Klant Van Tim"), "{}", sub.body);
        assert!(!sub.body.contains("Klant Van Ilse"), "P4: not the head office's");
        let tims = tim.get("/dip/dashboard").await;
        assert!(tims.body.contains("Klant Van Tim") && !tims.body.contains("Klant Van Ilse"));

        let other = noord.get("/dil/dashboard").await;
        assert!(!other.body.contains("Klant Van"), "{}", other.body);
        assert!(other.body.contains("Pensioenhuis Noord"), "its own demo quote: {}", other.body);
        assert!(!other.body.contains("Voorbeeld Advies"), "{}", other.body);

        // A quote outside one's scope is not found, not shown.
        let path = ilse_quote.url.trim_start_matches(&portal.base).to_owned();
        assert_eq!(zuid.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(noord.get(&path).await.status, StatusCode::NOT_FOUND);
        assert_eq!(noord.get(&format!("{path}/pdf")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(main.get(&path).await.status, StatusCode::OK, "the head office sees it");

        let orv_list = main.get("/orv/dashboard").await;
        assert!(orv_list.body.contains("Klant Orv") && !orv_list.body.contains("Klant Van Tim"));
        // P1: Tim has no DIL right; his session is refused there, whatever the URL.
        assert_eq!(tim.get("/dil/dashboard").await.status, StatusCode::FORBIDDEN);
        assert_eq!(tim.get(&path).await.status, StatusCode::FORBIDDEN);
    }

    /// O7: a sub-office whose employee made a quote cannot be deleted; the products' answer
    /// comes from their own store.
    async fn a_sub_office_with_quotes_is_not_deleted(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let token = token_for(&portal, MAIN, &password).await;
        let offices = call(&portal, "GET", "/offices", &token, None, None).await;
        let zuid = offices.body["offices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["number"] == "Z01")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let tim = signed_in(&portal, SUB_EMPLOYEE, &password).await;
        quote(&tim, "dip", &dip_form("Klant", &start_date())).await;
        let etag = call(&portal, "GET", &format!("/offices/{zuid}"), &token, None, None)
            .await
            .header("etag")
            .unwrap();
        let refused =
            call(&portal, "DELETE", &format!("/offices/{zuid}"), &token, None, Some(&etag)).await;
        assert_eq!(refused.status, 409, "{:?}", refused.body);
        assert!(refused.detail().contains("offertes heeft gemaakt"), "{}", refused.detail());
        let still = call(&portal, "GET", &format!("/offices/{zuid}"), &token, None, None).await;
        assert_eq!(still.status, 200);
    }

    /// An advisor makes at most 30 quotes in ten minutes (each renders a PDF and mails up to
    /// three addresses): the next is refused with 429 and a Dutch message, keeps the input and
    /// stores nothing.
    async fn an_advisor_is_limited_to_thirty_quotes_in_ten_minutes(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let tim = signed_in(&portal, SUB_EMPLOYEE, &password).await;
        let by_tim = "SELECT COUNT(*) FROM quotes WHERE user_email = 'tim@onderbemiddeling.nl'";
        let form = dip_form("Reeks", &start_date());
        assert_eq!(tim.get("/dip/offertes/nieuw").await.status, StatusCode::OK);
        let mut refused = None;
        for _ in 0..40 {
            let page = tim.post("/dip/offertes/nieuw", &borrowed(&form)).await;
            if page.status == StatusCode::TOO_MANY_REQUESTS {
                refused = Some(page);
                break;
            }
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        }
        let refused = refused.expect("the limit was reached");
        assert!(refused.body.contains("veel offertes gemaakt"), "{}", refused.body);
        assert!(refused.body.contains("value=\"Reeks\""), "the input is kept");
        assert_eq!(count(&portal, by_tim).await, 30, "exactly the limit was stored");
        // Another advisor is not held up by Tim's limit.
        let zuid = signed_in(&portal, SUB_MAIN, &password).await;
        quote(&zuid, "dip", &dip_form("Ander", &start_date())).await;

        // Paging: 25 rows a page, newest first, the rest on the next page.
        let total = count(
            &portal,
            "SELECT COUNT(*) FROM quotes WHERE office_number = 'Z01' AND product = 'DIP'",
        )
        .await;
        assert!(total > 25, "{total}");
        let rows = |page: &Page| page.body.matches("<tr><td><a href=").count() as i64;
        let first = tim.get("/dip/dashboard").await;
        assert_eq!(rows(&first), 25);
        assert!(first.body.contains("Volgende") && !first.body.contains("Vorige"));
        assert!(first.body.find("Ander").unwrap() < first.body.find("Reeks").unwrap(), "newest first");
        let second = tim.get("/dip/dashboard?pagina=2").await;
        assert_eq!(rows(&second), total - 25);
        assert!(second.body.contains("Vorige") && !second.body.contains("Volgende"));
    }
}
