//! Products are data (SPEC §1, issue 6): a product added to the registry file, with no
//! change to the idp or the management UI, appears in the appointment of a head office, on
//! the home page, as a column of Gebruikers and a right of "Nieuwe gebruiker", and — when
//! sub-offices may hold it — on "Nieuw subkantoor aanmaken"; one that sub-offices may not
//! hold stays off that form. On both databases, through the real binary.

use testkit::TestDatabase;

use crate::support::{Browser, Portal, unescape};

const LOGIN: &str = "info@uitvaartadvies.nl";
const PASSWORD: &str = "de wind waait over het water";

/// The shipped registry plus two products: UVZ (sub-offices may hold it) and AOV (not).
fn registry_file(portal: &Portal) -> String {
    let shipped = include_str!("../../config/products.toml");
    let extra = r#"
[[product]]
code = "UVZ"
name = "Uitvaartverzekering"
description = "Uitvaartverzekering in natura en kapitaal"
path = "/uvz"
client_id = "uvz"
sub_offices = true
label = "Uitvaartrechten (Uitvaartverzekering)"

[[product]]
code = "AOV"
name = "Arbeidsongeschiktheidsverzekering"
description = "Arbeidsongeschiktheidsverzekering voor zelfstandigen"
path = "/aov"
client_id = "aov"
sub_offices = false
label = "Arbeidsongeschiktheidsrechten"
"#;
    let path = portal.data_dir.join("products.toml");
    std::fs::create_dir_all(&portal.data_dir).unwrap();
    std::fs::write(&path, format!("{shipped}{extra}")).unwrap();
    path.to_string_lossy().into_owned()
}

testkit::both_databases! {
    async fn a_product_added_to_the_registry_appears_everywhere(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        let file = registry_file(&portal);
        portal.set_env("PORTAL_PRODUCTS_FILE", &file);
        portal.start().await;
        let out = portal.cli(&[
            "office", "add-head", "--number", "55555", "--name", "Uitvaart Advies", "--email", LOGIN,
            "--rights", "DIP,UVZ,AOV", "--allow-sub-offices",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link(LOGIN).await;
        let browser = Browser::new(&portal.base);
        let done = browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);

        let home = browser.sign_in(&browser.get("/").await, LOGIN, PASSWORD).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        for name in ["Uitvaartverzekering", "Arbeidsongeschiktheidsverzekering", "Direct Ingaand Pensioen"] {
            assert!(home.body.contains(name), "home page lacks {name}: {}", home.body);
        }
        assert!(!home.body.contains("Direct Ingaande Lijfrente"), "not in the appointment");

        let users = browser.get("/gebruikers").await;
        for column in [">DIP<", ">UVZ<", ">AOV<"] {
            assert!(users.body.contains(column), "Gebruikers lacks {column}: {}", users.body);
        }
        let new_user = browser.get("/gebruikers/nieuw").await;
        assert!(new_user.body.contains("value=\"UVZ\"") && new_user.body.contains("value=\"AOV\""), "{}", new_user.body);

        let form = browser.get("/subkantoren/nieuw").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let text = unescape(&form.body);
        assert!(text.contains("Uitvaartrechten (Uitvaartverzekering)"), "{}", form.body);
        assert!(!text.contains("Arbeidsongeschiktheidsrechten") && !form.body.contains("value=\"AOV\""),
            "a product sub-offices may not hold is not offered: {}", form.body);

        // UVZ has an adapter (the example of a fourth product, product-adapters/src/example.rs):
        // the portal gives it a quote form, pricing, the quote page, mail and a dashboard.
        let uvz = browser.get("/uvz/offertes/nieuw").await;
        assert_eq!(uvz.status, 200, "{}", uvz.body);
        assert!(uvz.body.contains("Verzekerd bedrag"), "{}", uvz.body);
        let start = (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
        let refused = browser.post("/uvz/offertes/nieuw", &[
            ("client_name", "Mevrouw Klaassen"), ("sum_insured", "50.000"),
            ("birth_date", "1950-01-01"), ("start_date", &start),
        ]).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(unescape(&refused.body).contains("Van € 1.000,00 tot en met € 25.000,00."), "{}", refused.body);
        let quote = browser.post("/uvz/offertes/nieuw", &[
            ("client_name", "Mevrouw Klaassen"), ("sum_insured", "8.500"),
            ("birth_date", "1950-01-01"), ("start_date", &start),
        ]).await;
        assert_eq!(quote.status, 200, "{}", quote.body);
        assert!(quote.url.contains("/uvz/offertes/"), "{}", quote.url);
        assert!(quote.body.contains("Koopsom (eenmalige premie)") && quote.body.contains("UVZ-0000001"), "{}", quote.body);
        assert!(unescape(&quote.body).contains("Uitvaart Advies (55555)"), "P2: {}", quote.body);
        let list = browser.get("/uvz/dashboard").await;
        assert!(list.body.contains("Mevrouw Klaassen") && list.body.contains("eenmalig"), "{}", list.body);
        // AOV has no adapter here: not mounted.
        assert_eq!(browser.get("/aov/").await.status, 404);
    }
}
