//! **Subkantoren** and the insurer's **Hoofdkantoren** in the management UI (issue 6; SPEC
//! O1–O7), through the real binary on both databases, following the manual: the main user
//! of a head office the insurer allowed sub-offices clicks "Subkantoren", "nieuw
//! subkantoor", fills in the form "Nieuw subkantoor aanmaken", ticks "Zend e-mail met
//! activatielink naar subkantoor" and clicks "Opslaan"; the sub-office's main user
//! activates, signs in and manages its own office only. Every change goes through the
//! admin API, so each refusal reaches the page in Dutch, and each refusal is checked to
//! have changed nothing.

use testkit::TestDatabase;

use crate::admin_api::{ADMIN, EMPLOYEE, MAIN, SUB_EMPLOYEE, SUB_MAIN, demo};
use crate::support::{Browser, Page, Portal, attribute, unescape};

const NOORD_MAIN: &str = "info@pensioenhuisnoord.nl";
const NEW_PASSWORD: &str = "groene appels op de markt";
const OOST: &str = "oost@onderbemiddeling.nl";

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

fn has_link(page: &Page, text: &str) -> bool {
    page.body.contains(&format!(">{text}</a>"))
}

/// The `action` of the form that posts to a path ending in `ends`, and the `version` in it.
fn button(page: &Page, ends: &str) -> (String, Option<String>) {
    let at = page
        .body
        .find(&format!("{ends}\""))
        .unwrap_or_else(|| panic!("no form for {ends}: {}", page.body));
    let form = &page.body[page.body[..at].rfind("<form").unwrap()..];
    let form = &form[..form.find("</form>").unwrap()];
    (
        attribute(form, "<form", "action").unwrap(),
        attribute(form, "name=\"version\"", "value"),
    )
}

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Offices, users, office audit entries and queued mails: what a refusal leaves alone.
async fn totals(portal: &Portal) -> (i64, i64, i64, i64) {
    (
        count(portal, "SELECT COUNT(*) FROM offices").await,
        count(portal, "SELECT COUNT(*) FROM users").await,
        count(
            portal,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'office.%'",
        )
        .await,
        count(portal, "SELECT COUNT(*) FROM outbox").await,
    )
}

/// The id of the office with this number.
async fn office(portal: &Portal, number: &'static str) -> String {
    let db = portal.db().await;
    let id: uuid::Uuid = idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT id FROM offices WHERE number = $1"
    )
    .bind(number)
    .fetch_one(pool)
    .await
    .unwrap());
    id.to_string()
}

/// (name, active, version) of the office with this number.
async fn office_state(portal: &Portal, number: &'static str) -> (String, bool, i64) {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_as::<_, (String, bool, i64)>(
        "SELECT name, active, version FROM offices WHERE number = $1"
    )
    .bind(number)
    .fetch_one(pool)
    .await
    .unwrap())
}

/// The form "Nieuw subkantoor aanmaken" filled in as the manual shows it.
fn oost<'a>(head: &'a str, email: &'a str, number: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("head_office", head),
        ("name", "Onderbemiddeling Oost"),
        ("address", "Oude Markt 12"),
        ("postcode", "7511 GB"),
        ("city", "Enschede"),
        ("phone", "053 123 45 67"),
        ("email", email),
        ("number", number),
        ("rechten", "DIP"),
        ("rechten", "DIL"),
    ]
}

/// The details of Onderbemiddeling Zuid as its page posts them, with a new name.
fn zuid<'a>(name: &'a str, version: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("version", version),
        ("name", name),
        ("address", "Markt 5"),
        ("postcode", "5611 EB"),
        ("city", "Eindhoven"),
        ("phone", "040 765 43 21"),
        ("rechten", "DIP"),
    ]
}

testkit::both_databases! {
    /// O2, O3, O5: the manual's path from the menu to a signed-in sub-office, and the
    /// sub-office's main user sees Gebruikers of its own office only and no Subkantoren.
    async fn a_main_user_creates_a_sub_office_that_signs_in(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let head = office(&portal, "12345").await;
        let main = signed_in(&portal, MAIN, &password).await;
        let home = main.get("/").await;
        let list = main.get(&link(&home, "Subkantoren")).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(list.body.contains("een overzicht van de ingevoerde kantoren"), "{}", list.body);
        for column in ["Naam", "Nummer", "Plaats", "E-mailadres", "Rechten", "Actief"] {
            assert!(list.body.contains(&format!(">{column}</th>")), "{column}: {}", list.body);
        }
        assert!(has_link(&list, "Onderbemiddeling Zuid") && list.body.contains("Z01"));
        assert!(!list.body.contains("Pensioenhuis Noord"), "never another office's");

        let form = main.get(&link(&list, "nieuw subkantoor")).await;
        assert_eq!(form.status, 200, "{}", form.body);
        for text in [
            "Nieuw subkantoor aanmaken", ">Hoofdkantoor<", ">Naam<", ">Adres<", ">Postcode<",
            ">Plaats<", ">Telefoon<", ">E-mailadres<", ">Nummer<", ">Rechten<",
            "Uniek kantoor e-mailadres. Naar dit e-mailadres worden de offertes verzonden.",
            "Uniek kantoornummer. Als een subkantoor een offerte maakt dan wordt dit nummer gebruikt in de offerte. In offertes gemaakt door het hoofdkantoor worden de hoofdkantoor gegevens gebruikt.",
            "Pensioenrechten (Zeker pensioen / Keuze pensioen)",
            "Vermogenrechten (Direct ingaande lijfrente)",
            ">Informeel subkantoor<", "Zend e-mail met activatielink naar subkantoor.",
            ">Terug</a>", ">Opslaan</button>",
        ] {
            assert!(unescape(&form.body).contains(text), "{text}: {}", form.body);
        }
        // O4: ORV is never offered to a sub-office, though the head office holds it.
        assert!(!form.body.contains("value=\"ORV\"") && !form.body.contains("Overlijdensrisico"));
        // Hoofdkantoor: the head offices this user manages, i.e. its own.
        assert!(form.body.contains(&format!("<option value=\"{head}\" selected>Voorbeeld Advies (12345)")), "{}", form.body);
        let action = attribute(&form.body[form.body.find("<main>").unwrap()..], "<form", "action").unwrap();

        // A forged right: refused in Dutch, nothing created.
        let before = totals(&portal).await;
        let mut forged = oost(&head, OOST, "O02");
        forged.push(("rechten", "ORV"));
        forged.push(("send_activation", "ja"));
        let r = main.post(&action, &forged).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("Dit recht is niet beschikbaar voor subkantoren. (ORV)"), "{}", r.body);
        assert_eq!(totals(&portal).await, before);

        // Opslaan with "Zend e-mail met activatielink" ticked.
        let mut fields = oost(&head, OOST, "O02");
        fields.push(("send_activation", "ja"));
        let done = main.post(&action, &fields).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.url.ends_with("/subkantoren?melding=aangemaakt-mail"), "{}", done.url);
        assert!(done.body.contains("ontvangt nu een e-mail met een activatielink"), "{}", done.body);
        assert!(has_link(&done, "Onderbemiddeling Oost") && done.body.contains("O02"));
        assert!(done.body.contains(OOST) && done.body.contains("DIP, DIL"));

        // A duplicate office e-mail: refused in Dutch, the input kept, nothing stored.
        let before = totals(&portal).await;
        let mut dup = oost(&head, OOST, "O03");
        dup[1] = ("name", "Onderbemiddeling Tweede");
        let again = main.post(&action, &dup).await;
        assert_eq!(again.status, 422, "{}", again.body);
        assert!(again.body.contains("Dit kantoor e-mailadres is al in gebruik"), "{}", again.body);
        assert!(again.body.contains("value=\"Onderbemiddeling Tweede\"") && again.body.contains("value=\"O03\""));
        assert!(again.body.contains("value=\"DIL\" checked"), "{}", again.body);
        assert_eq!(totals(&portal).await, before);

        // The sub-office's main user activates, signs in with e-mail + password.
        let activation = portal.activation_link(OOST).await;
        let browser = Browser::new(&portal.base);
        let set = browser.post(&activation, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert!(set.body.contains("Uw account is geactiveerd"), "{}", set.body);
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, OOST, NEW_PASSWORD).await;
        assert!(home.body.contains("Welkom") && home.body.contains("Onderbemiddeling Oost"), "{}", home.body);
        assert!(!has_link(&home, "Subkantoren"), "O5: no sub-offices of its own");
        let users = browser.get(&link(&home, "Gebruikers")).await;
        assert_eq!(users.status, 200, "{}", users.body);
        assert!(users.body.contains(OOST));
        for other in [MAIN, EMPLOYEE, SUB_MAIN, SUB_EMPLOYEE] {
            assert!(!users.body.contains(other), "{other} is not of this office");
        }
        assert!(!has_link(&users, "Subkantoren"));
        let refused = browser.get("/subkantoren").await;
        assert_eq!(refused.status, 403);
        assert!(refused.body.contains("Alleen de hoofdgebruiker van een hoofdkantoor kan subkantoren beheren."), "{}", refused.body);
    }

    /// O2 and the other roles: no menu item and a Dutch refusal on the URL, for the main
    /// user of a head office not allowed sub-offices, an employee, a sub-office's main user
    /// and an insurer admin; a forged post creates nothing.
    async fn only_an_allowed_head_office_has_subkantoren(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let noord = office(&portal, "67890").await;
        let before = totals(&portal).await;

        let browser = signed_in(&portal, NOORD_MAIN, &password).await;
        let home = browser.get("/").await;
        assert!(has_link(&home, "Gebruikers"), "{}", home.body);
        assert!(!has_link(&home, "Subkantoren"), "O2: not allowed, no menu item");
        assert!(!has_link(&browser.get("/gebruikers").await, "Subkantoren"));
        for url in ["/subkantoren", "/subkantoren/nieuw"] {
            let page = browser.get(url).await;
            assert_eq!(page.status, 403, "{url}: {}", page.body);
            assert!(page.body.contains("Uw kantoor is niet geautoriseerd om met subkantoren te werken"), "{}", page.body);
            assert!(page.body.contains("Salesdesk Leven"));
        }
        let mut fields = oost(&noord, "a@noord.nl", "A1");
        fields.push(("send_activation", "ja"));
        let r = browser.post("/subkantoren/nieuw", &fields).await;
        assert_eq!(r.status, 403, "{}", r.body);

        for (login, text) in [
            (EMPLOYEE, "Alleen de hoofdgebruiker van een hoofdkantoor kan subkantoren beheren."),
            (SUB_MAIN, "Alleen de hoofdgebruiker van een hoofdkantoor kan subkantoren beheren."),
            (ADMIN, "Alleen de hoofdgebruiker van een hoofdkantoor kan subkantoren beheren."),
        ] {
            let browser = signed_in(&portal, login, &password).await;
            let home = browser.get("/").await;
            assert!(!has_link(&home, "Subkantoren"), "{login}: {}", home.body);
            let page = browser.get("/subkantoren").await;
            assert_eq!(page.status, 403, "{login}: {}", page.body);
            assert!(page.body.contains(text), "{login}: {}", page.body);
            let zuid = office(&portal, "Z01").await;
            let r = browser.post(&format!("/subkantoren/{zuid}/deactiveren"), &[("version", "1")]).await;
            assert_eq!(r.status, 403, "{login}: {}", r.body);
        }
        assert_eq!(totals(&portal).await, before, "no refusal stored anything");
        assert!(office_state(&portal, "Z01").await.1, "still active");
    }

    /// "U kunt de gegevens aanpassen, het kantoor deactiveren of verwijderen": save with
    /// If-Match (a stale version shows the API's text with the input kept), deactivate
    /// (its users cannot sign in), re-activate, resend the activation mail, delete (no
    /// quotes); a forged id of another office is refused and changes nothing.
    async fn a_main_user_edits_deactivates_and_deletes_a_sub_office(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let head = office(&portal, "12345").await;
        let noord = office(&portal, "67890").await;
        let main = signed_in(&portal, MAIN, &password).await;
        let list = main.get("/subkantoren").await;
        let edit = main.get(&link(&list, "Onderbemiddeling Zuid")).await;
        assert_eq!(edit.status, 200, "{}", edit.body);
        for text in ["Subkantoor wijzigen", "zuid@onderbemiddeling.nl", "Z01", ">Deactiveren</button>", ">Verwijderen</button>",
                     "Verwijderen kan alleen als er geen offertes door het kantoor zijn gemaakt."] {
            assert!(edit.body.contains(text), "{text}: {}", edit.body);
        }
        let main_form = &edit.body[edit.body.find("<main>").unwrap()..];
        let action = attribute(main_form, "<form", "action").unwrap();
        let version = attribute(main_form, "name=\"version\"", "value").unwrap();
        let saved = main.post(&action, &zuid("Onderbemiddeling Zuid-Oost", &version)).await;
        assert!(saved.body.contains("De wijzigingen zijn opgeslagen."), "{}", saved.body);
        assert!(has_link(&saved, "Onderbemiddeling Zuid-Oost"));
        let (name, _, v2) = office_state(&portal, "Z01").await;
        assert_eq!((name.as_str(), v2), ("Onderbemiddeling Zuid-Oost", 2));
        // The same old version again: the API's 412 text, the input kept, nothing changed.
        let stale = main.post(&action, &zuid("Zuid Verouderd", &version)).await;
        assert_eq!(stale.status, 422, "{}", stale.body);
        assert!(stale.body.contains("Dit kantoor is intussen door iemand anders gewijzigd."), "{}", stale.body);
        assert!(stale.body.contains("value=\"Zuid Verouderd\""));
        assert_eq!(office_state(&portal, "Z01").await.0, "Onderbemiddeling Zuid-Oost");

        // Deactivate: the sub-office's users cannot sign in (O6).
        let edit = main.get(&action).await;
        let (deactivate, v) = button(&edit, "/deactiveren");
        let done = main.post(&deactivate, &[("version", &v.unwrap())]).await;
        assert!(done.body.contains("Het kantoor is gedeactiveerd"), "{}", done.body);
        assert!(!office_state(&portal, "Z01").await.1);
        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let page = browser.sign_in(&login, SUB_EMPLOYEE, &password).await;
        assert!(!page.body.contains("Welkom"), "{}", page.body);
        let edit = main.get(&action).await;
        assert!(edit.body.contains("Dit kantoor is niet actief"), "{}", edit.body);
        let (reactivate, v) = button(&edit, "/activeren");
        let done = main.post(&reactivate, &[("version", &v.unwrap())]).await;
        assert!(done.body.contains("Het kantoor is weer actief."), "{}", done.body);
        signed_in(&portal, SUB_EMPLOYEE, &password).await;

        // Forged posts to another office's id: refused, nothing changed.
        let before = totals(&portal).await;
        let noord_before = office_state(&portal, "67890").await;
        for (path, form) in [
            (format!("/subkantoren/{noord}"), vec![("version", "1"), ("name", "Overgenomen"), ("address", "x"), ("postcode", "1234 AB"), ("city", "x"), ("phone", "010 123 45 67")]),
            (format!("/subkantoren/{noord}/deactiveren"), vec![("version", "1")]),
            (format!("/subkantoren/{noord}/verwijderen"), vec![("version", "1")]),
            (format!("/subkantoren/{noord}/activatiemail"), vec![]),
            (format!("/subkantoren/{head}/deactiveren"), vec![("version", "1")]),
        ] {
            let r = main.post(&path, &form).await;
            assert_eq!(r.status, 404, "{path}: {}", r.body);
            assert!(r.body.contains("Dit kantoor bestaat niet of valt niet onder uw beheer."), "{path}: {}", r.body);
        }
        let r = main.get(&format!("/subkantoren/{noord}")).await;
        assert_eq!(r.status, 404);
        let mut fields = oost(&noord, "a@noord.nl", "A1");
        fields.push(("send_activation", "ja"));
        let r = main.post("/subkantoren/nieuw", &fields).await;
        assert_eq!(r.status, 404, "a sub-office under another head office: {}", r.body);
        assert_eq!(office_state(&portal, "67890").await, noord_before);
        assert!(office_state(&portal, "12345").await.1);
        assert_eq!(totals(&portal).await, before);

        // Without "Zend e-mail met activatielink": no mail until "opnieuw versturen".
        let fields = oost(&head, OOST, "O02");
        let done = main.post("/subkantoren/nieuw", &fields).await;
        assert!(done.body.contains("Het subkantoor is aangemaakt."), "{}", done.body);
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(portal.mails_to(OOST), 0, "no activation mail unless asked");
        let edit = main.get(&link(&done, "Onderbemiddeling Oost")).await;
        assert!(edit.body.contains("nog niet geactiveerd"), "{}", edit.body);
        let (resend, _) = button(&edit, "/activatiemail");
        let sent = main.post(&resend, &[]).await;
        assert!(sent.body.contains("De activatie e-mail is opnieuw verstuurd."), "{}", sent.body);
        assert!(portal.activation_link(OOST).await.contains("/idp/activate/"));

        // Delete: with the demo's quotes of it, it stays (O7); without, it goes, with its users.
        let list = main.get("/subkantoren").await;
        let edit = main.get(&link(&list, "Onderbemiddeling Zuid-Oost")).await;
        let (delete, v) = button(&edit, "/verwijderen");
        let kept = main.post(&delete, &[("version", &v.unwrap())]).await;
        assert!(kept.body.contains("offertes heeft gemaakt"), "{}", kept.body);
        portal.forget_quotes_of("Z01").await;
        let list = main.get("/subkantoren").await;
        let edit = main.get(&link(&list, "Onderbemiddeling Zuid-Oost")).await;
        let (delete, v) = button(&edit, "/verwijderen");
        let (offices, users, ..) = totals(&portal).await;
        let done = main.post(&delete, &[("version", &v.unwrap())]).await;
        assert!(done.body.contains("Het kantoor is verwijderd."), "{}", done.body);
        assert!(!done.body.contains("Onderbemiddeling Zuid-Oost"));
        let (offices_after, users_after, ..) = totals(&portal).await;
        assert_eq!((offices_after, users_after), (offices - 1, users - 2));
    }

    /// O1, O2: the insurer's console: search, "Nieuw hoofdkantoor" (its main user gets the
    /// activation mail), a head office's page with its sub-offices, allowing sub-offices;
    /// nobody else has it.
    async fn the_insurer_manages_head_offices_in_the_console(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = signed_in(&portal, ADMIN, &password).await;
        let home = admin.get("/").await;
        let list = admin.get(&link(&home, "Hoofdkantoren")).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(has_link(&list, "Voorbeeld Advies") && has_link(&list, "Pensioenhuis Noord"));
        assert!(!list.body.contains("Onderbemiddeling Zuid"), "head offices only");
        let found = admin.get("/beheer/hoofdkantoren?q=groningen").await;
        assert!(has_link(&found, "Pensioenhuis Noord") && !has_link(&found, "Voorbeeld Advies"), "{}", found.body);

        let form = admin.get(&link(&list, "Nieuw hoofdkantoor")).await;
        for text in [">Adviseursnummer<", ">Naam<", ">E-mailadres<", ">Rechten<", "Mag werken met subkantoren",
                     "value=\"DIP\"", "value=\"DIL\"", "value=\"ORV\""] {
            assert!(form.body.contains(text), "{text}: {}", form.body);
        }
        let done = admin
            .post("/beheer/hoofdkantoren/nieuw", &[("advisor_number", "24680"), ("name", "Advieshuis West"),
                  ("email", "info@west.nl"), ("rechten", "DIP"), ("rechten", "ORV"), ("allow_sub_offices", "ja")])
            .await;
        assert!(done.body.contains("Het hoofdkantoor is aangemaakt"), "{}", done.body);
        assert!(has_link(&done, "Advieshuis West"));
        assert!(portal.activation_link("info@west.nl").await.contains("/idp/activate/"));
        // A taken advisor number: Dutch, input kept, nothing stored.
        let before = totals(&portal).await;
        let dup = admin
            .post("/beheer/hoofdkantoren/nieuw", &[("advisor_number", "12345"), ("name", "Dubbel Advies"),
                  ("email", "info@dubbel.nl"), ("rechten", "DIL")])
            .await;
        assert_eq!(dup.status, 422, "{}", dup.body);
        assert!(dup.body.contains("value=\"Dubbel Advies\""), "{}", dup.body);
        assert_eq!(totals(&portal).await, before);

        // Voorbeeld Advies: its sub-office listed; Noord is allowed sub-offices (O2).
        let edit = admin.get(&link(&list, "Voorbeeld Advies")).await;
        assert!(edit.body.contains("Onderbemiddeling Zuid") && edit.body.contains("Z01"), "{}", edit.body);
        let edit = admin.get(&link(&list, "Pensioenhuis Noord")).await;
        assert!(edit.body.contains("Dit hoofdkantoor heeft geen subkantoren."));
        let main_form = &edit.body[edit.body.find("<main>").unwrap()..];
        let action = attribute(main_form, "<form", "action").unwrap();
        let version = attribute(main_form, "name=\"version\"", "value").unwrap();
        let value = |name: &str| attribute(main_form, &format!("name=\"{name}\""), "value").unwrap();
        let (address, postcode, city, phone) = (value("address"), value("postcode"), value("city"), value("phone"));
        let saved = admin
            .post(&action, &[("version", version.as_str()), ("name", "Pensioenhuis Noord"), ("address", &address),
                  ("postcode", &postcode), ("city", &city), ("phone", &phone), ("rechten", "DIL"), ("allow_sub_offices", "ja")])
            .await;
        assert!(saved.body.contains("De wijzigingen zijn opgeslagen."), "{}", saved.body);
        let noord = signed_in(&portal, NOORD_MAIN, &password).await;
        let home = noord.get("/").await;
        assert!(has_link(&home, "Subkantoren"), "O2 at once, without signing in again: {}", home.body);
        let form = noord.get("/subkantoren/nieuw").await;
        assert!(form.body.contains("Vermogenrechten (Direct ingaande lijfrente)"));
        assert!(!form.body.contains("Pensioenrechten"), "only what the head office holds");

        // Nobody else has the console.
        let before = totals(&portal).await;
        for login in [MAIN, EMPLOYEE] {
            let browser = signed_in(&portal, login, &password).await;
            assert!(!has_link(&browser.get("/").await, "Hoofdkantoren"));
            let page = browser.get("/beheer/hoofdkantoren").await;
            assert_eq!(page.status, 403, "{login}: {}", page.body);
            assert!(page.body.contains("Alleen beheerders van de verzekeraar"), "{}", page.body);
            let r = browser
                .post("/beheer/hoofdkantoren/nieuw", &[("advisor_number", "11111"), ("name", "X"), ("email", "x@x.nl")])
                .await;
            assert_eq!(r.status, 403);
        }
        assert_eq!(totals(&portal).await, before);
    }
}
