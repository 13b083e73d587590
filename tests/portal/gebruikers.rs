//! **Gebruikers** in the management UI (issue 6), through the real binary on both
//! databases, following the manual: the main user opens Gebruikers, clicks "Nieuwe
//! gebruiker", fills in Naam and E-mailadres, ticks the rights, clicks "Opslaan"; the new
//! user receives the activation link. Every change goes through the admin API, so its
//! refusals (a duplicate e-mail, an employee) reach the page in Dutch.

use testkit::TestDatabase;

use crate::admin_api::demo;
use crate::support::{Browser, Page, Portal, attribute};

const MAIN: &str = "info@voorbeeldadvies.nl";
const EMPLOYEE: &str = "ilse@voorbeeldadvies.nl";
const NEW: &str = "pieter@voorbeeldadvies.nl";

async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    browser
}

/// The `href` of the link whose text is exactly `text`.
fn link(page: &Page, text: &str) -> String {
    let at = page
        .body
        .find(&format!(">{text}</a>"))
        .unwrap_or_else(|| panic!("no link {text:?}: {}", page.body));
    let start = page.body[..at].rfind("<a ").unwrap();
    attribute(&page.body[start..], "<a", "href").unwrap()
}

testkit::both_databases! {
    async fn a_main_user_adds_a_user_who_receives_the_activation_mail(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, MAIN, &password).await;
        let home = browser.get("/").await;
        let list = browser.get(&link(&home, "Gebruikers")).await;
        assert_eq!(list.status, 200, "{}", list.body);
        // U2: Naam, E-mail, Rol, Actief and one column per product, from the registry.
        for heading in ["Naam", "E-mail", "Rol", "Actief", ">DIP<", ">DIL<", ">ORV<"] {
            assert!(list.body.contains(heading), "{heading}: {}", list.body);
        }
        assert!(list.body.contains("Ilse de Vries") && list.body.contains("Medewerker"));
        assert!(list.body.contains("Hoofdgebruiker"));
        assert!(list.body.contains("Onderbemiddeling Zuid"), "the sub-office's users too");
        assert!(!list.body.contains("Pensioenhuis Noord"), "never another office's");

        let form = browser.get(&link(&list, "Nieuwe gebruiker")).await;
        assert!(form.body.contains("Uniek e-mailadres, deze wordt gebruikt om in te loggen"));
        assert!(form.body.contains(">Terug</a>") && form.body.contains(">Opslaan</button>"));
        let done = browser
            .post("/gebruikers/nieuw", &[("name", "Pieter Smit"), ("email", NEW), ("rechten", "DIP"), ("rechten", "DIL")])
            .await;
        assert!(done.body.contains("De gebruiker is aangemaakt"), "{}", done.body);
        assert!(done.body.contains("Pieter Smit"));
        let link = portal.activation_link(NEW).await;
        assert!(link.contains("/idp/activate/"));

        // U3: the same address again is refused in Dutch, with the input kept.
        let again = browser
            .post("/gebruikers/nieuw", &[("name", "Pieter Twee"), ("email", NEW), ("rechten", "DIP")])
            .await;
        assert_eq!(again.status, 422, "{}", again.body);
        assert!(again.body.contains("Dit e-mailadres is al in gebruik"), "{}", again.body);
        assert!(again.body.contains("Pieter Twee"));
    }

    async fn a_main_user_edits_a_user_by_clicking_the_name(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, MAIN, &password).await;
        let list = browser.get("/gebruikers").await;
        let edit = browser.get(&link(&list, "Ilse de Vries")).await;
        assert!(edit.body.contains("dit is dan ook het e-mailadres waar die gebruiker voortaan mee moet inloggen")
            || edit.body.contains("Dit is dan ook het e-mailadres waar die gebruiker voortaan mee moet inloggen"));
        // The first form in <main> (the header holds the sign-out form).
        let main = &edit.body[edit.body.find("<main>").unwrap()..];
        let action = attribute(main, "<form", "action").unwrap();
        let version = attribute(&edit.body, "name=\"version\"", "value").unwrap();
        let saved = browser
            .post(&action, &[("version", &version), ("name", "Ilse de Vries-Jansen"), ("email", EMPLOYEE), ("rechten", "DIP")])
            .await;
        assert!(saved.body.contains("De wijzigingen zijn opgeslagen."), "{}", saved.body);
        assert!(saved.body.contains("Ilse de Vries-Jansen"));
        // The same old version again: someone else changed it meanwhile.
        let stale = browser
            .post(&action, &[("version", &version), ("name", "Ilse"), ("email", EMPLOYEE)])
            .await;
        assert!(stale.body.contains("intussen door iemand anders gewijzigd"), "{}", stale.body);
    }

    async fn an_employee_has_no_gebruikers(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, EMPLOYEE, &password).await;
        let home = browser.get("/").await;
        assert!(!home.body.contains(">Gebruikers</a>"));
        let page = browser.get("/gebruikers").await;
        assert_eq!(page.status, 403);
        assert!(page.body.contains("Alleen de hoofdgebruiker van een kantoor kan gebruikers beheren."));
        let post = browser
            .post("/gebruikers/nieuw", &[("name", "X"), ("email", "x@voorbeeldadvies.nl")])
            .await;
        assert_eq!(post.status, 403);
    }

    /// O6: deactivating a user ends its session in the Offerte Portaal within seconds: the
    /// idp posts a logout token to the shell's back-channel endpoint, which ends it.
    async fn deactivating_a_user_signs_it_out_of_the_portal_within_seconds(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let ilse = signed_in(&portal, EMPLOYEE, &password).await;
        let main = signed_in(&portal, MAIN, &password).await;
        let list = main.get("/gebruikers").await;
        let edit = main.get(&link(&list, "Ilse de Vries")).await;
        let form_at = edit.body.find("/deactiveren").expect("a Deactiveren form");
        let action = attribute(&edit.body[edit.body[..form_at].rfind("<form").unwrap()..], "<form", "action").unwrap();
        let version = attribute(&edit.body[form_at..], "name=\"version\"", "value").unwrap();
        let done = main.post(&action, &[("version", &version)]).await;
        assert!(done.body.contains("De wijzigingen zijn opgeslagen."), "{}", done.body);
        let mut signed_out = false;
        for _ in 0..100 {
            let page = ilse.get("/").await;
            if page.body.contains("name=\"username\"") {
                signed_out = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(signed_out, "the deactivated user still sees the portal after 10 s");
        // The main user's own session is untouched.
        assert!(main.get("/").await.body.contains("Welkom"));
    }

    /// A malformed form post (no fields, a version that is no number) gets the Dutch
    /// problem page, never axum's English plain text, and changes nothing.
    async fn a_malformed_form_gets_a_dutch_page(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = signed_in(&portal, MAIN, &password).await;
        let before = main.get("/gebruikers").await.body.matches("<tr>").count();
        let empty = main.post("/gebruikers/nieuw", &[]).await;
        assert!(empty.status.is_client_error(), "{}", empty.status);
        assert!(empty.body.contains("Dit verzoek is onvolledig of onjuist opgebouwd."), "{}", empty.body);
        assert!(empty.body.contains("<html"), "a page, not plain text: {}", empty.body);
        let list = main.get("/gebruikers").await;
        let edit = main.get(&link(&list, "Ilse de Vries")).await;
        let form_at = edit.body.find("/deactiveren").expect("a Deactiveren form");
        let action = attribute(&edit.body[edit.body[..form_at].rfind("<form").unwrap()..], "<form", "action").unwrap();
        let bad = main.post(&action, &[("version", "zeven")]).await;
        assert!(bad.status.is_client_error(), "{}", bad.status);
        assert!(bad.body.contains("Dit verzoek is onvolledig of onjuist opgebouwd."), "{}", bad.body);
        let after = main.get("/gebruikers").await;
        assert_eq!(after.body.matches("<tr>").count(), before);
        assert!(!after.body.contains("Pieter"));
        let ilse = main.get(&link(&after, "Ilse de Vries")).await;
        assert!(ilse.body.contains("/deactiveren"), "Ilse is still active");
    }
}
