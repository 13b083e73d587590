//! The audit log (SPEC L1) through the real binary on both databases: `GET /api/v1/audit`
//! with the demo offices (Voorbeeld Advies with its sub-office Onderbemiddeling Zuid, and
//! Pensioenhuis Noord), and the **Auditlog** page of the management UI. An employee is
//! refused, another tree's office or user is "not found", the insurer reads everything, a
//! main user only its tree, and a real change appears with who did it and to whom.
//! Issue 10: each entry reads as a Dutch sentence, and the CSV export
//! (`GET /api/v1/audit.csv`, "Exporteren als CSV") holds the same part of the log.

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{ADMIN, EMPLOYEE, MAIN, STRANGER, SUB_MAIN, call, demo, token_for, user_id};
use crate::support::{Browser, Page, Portal, attribute, unescape};

const NOORD_MAIN: &str = "info@pensioenhuisnoord.nl";

async fn office_id(portal: &Portal, number: &'static str) -> String {
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

async fn audit_rows(portal: &Portal) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_log"
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

/// Every entry the token gets for `query`, following `next`.
async fn every_entry(portal: &Portal, token: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut before = String::new();
    loop {
        let a = call(
            portal,
            "GET",
            &format!("/audit?limit=7&{query}{before}"),
            token,
            None,
            None,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("cache-control").as_deref(), Some("no-store"));
        out.extend(a.body["entries"].as_array().unwrap().iter().cloned());
        match a.body["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => return out,
        }
    }
}

/// `GET /api/v1/audit.csv?{query}`: status, content type and the file as text.
async fn csv_of(portal: &Portal, token: &str, query: &str) -> (u16, String, String) {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/audit.csv?{query}", portal.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = res.bytes().await.unwrap();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

/// Whether an entry names `id` as actor or target user.
fn names_user(e: &Value, id: &str) -> bool {
    e["actor"]["id"] == id || e["target_user"]["id"] == id
}

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
    /// L1 + AC-01/AC-02: who may read which part of the log.
    async fn l1_the_audit_api_answers_each_reader_its_own_part(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        // A sign-in in another tree, before anything else is read.
        let noord = token_for(&portal, NOORD_MAIN, &password).await;
        let stranger = token_for(&portal, STRANGER, &password).await;
        let employee = token_for(&portal, EMPLOYEE, &password).await;
        let admin = token_for(&portal, ADMIN, &password).await;

        // An employee: 403, as on every admin route.
        let refused = call(&portal, "GET", "/audit", &employee, None, None).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(!refused.body.to_string().contains("entries"));

        // The main user: its tree, never Pensioenhuis Noord.
        let noord_office = office_id(&portal, "67890").await;
        let noord_users = [user_id(&portal, NOORD_MAIN).await, user_id(&portal, STRANGER).await];
        let mine = every_entry(&portal, &main, "").await;
        assert!(!mine.is_empty());
        for e in &mine {
            for u in &noord_users {
                assert!(!names_user(e, u), "another tree's entry: {e}");
            }
            assert_ne!(e["target_office"]["id"], noord_office.as_str(), "{e}");
        }
        let main_id = user_id(&portal, MAIN).await;
        assert!(mine.iter().any(|e| e["action"] == "login.succeeded" && e["actor"]["id"] == main_id.as_str()));
        let sub_main = user_id(&portal, SUB_MAIN).await;
        assert!(mine.iter().any(|e| names_user(e, &sub_main)), "the sub-office's entries too");

        // Issue 10: the CSV export holds the same entries, as sentences, and nothing of
        // Pensioenhuis Noord.
        let (status, ctype, file) = csv_of(&portal, &main, "").await;
        assert_eq!((status, ctype.as_str()), (200, "text/csv; charset=utf-8"), "{file}");
        let file = file.strip_prefix('\u{feff}').expect("UTF-8 with a byte order mark");
        let mut lines = file.lines();
        assert_eq!(lines.next(), Some("tijdstip;wie;wat;actie;gebruiker;kantoor;ip"));
        assert_eq!(lines.count(), mine.len(), "one row per entry of the list");
        assert!(file.contains(";Nick Jansen;Nick Jansen meldde zich aan;login.succeeded;"), "{file}");
        for theirs in ["Pensioenhuis Noord", "67890", "Joost Visser", NOORD_MAIN, STRANGER] {
            assert!(!file.contains(theirs), "{theirs} in the main user's export: {file}");
        }

        // Another tree's office or user in the filter: 404 with the routes' own text, and
        // the denial is in the log of the one who asked (AC-01).
        let before_rows = audit_rows(&portal).await;
        let a = call(&portal, "GET", &format!("/audit?office_id={noord_office}"), &main, None, None).await;
        assert_eq!(a.status, 404, "{}", a.body);
        assert_eq!(a.detail(), "Dit kantoor bestaat niet of valt niet onder uw beheer.");
        let a = call(&portal, "GET", &format!("/audit?user_id={}", noord_users[1]), &main, None, None).await;
        assert_eq!(a.status, 404, "{}", a.body);
        assert_eq!(a.detail(), "Deze gebruiker bestaat niet of valt niet onder uw beheer.");
        assert_eq!(audit_rows(&portal).await, before_rows + 2, "both refusals audited");
        let denied = every_entry(&portal, &main, "action=admin.denied").await;
        assert_eq!(denied.len(), 2, "{denied:?}");
        for e in &denied {
            assert_eq!(e["actor"]["id"], main_id.as_str());
            assert_eq!(e["target_user"]["name"], Value::Null, "no name of another tree: {e}");
            assert_eq!(e["target_office"]["name"], Value::Null, "no name of another tree: {e}");
        }
        // …and Pensioenhuis Noord is not told who probed it.
        let theirs = every_entry(&portal, &noord, "").await;
        assert!(theirs.iter().all(|e| e["actor"]["id"] != main_id.as_str()), "{theirs:?}");
        assert!(theirs.iter().any(|e| names_user(e, &noord_users[1])));

        // The insurer: every entry, both trees.
        let all = every_entry(&portal, &admin, "").await;
        assert_eq!(all.len() as i64, audit_rows(&portal).await);
        assert!(all.iter().any(|e| names_user(e, &noord_users[0])) && all.iter().any(|e| names_user(e, &main_id)));
        let of_noord = every_entry(&portal, &admin, &format!("office_id={noord_office}")).await;
        assert!(!of_noord.is_empty() && of_noord.iter().all(|e| !names_user(e, &main_id)));
        let (status, _, everything) = csv_of(&portal, &admin, "").await;
        assert_eq!(status, 200);
        assert!(everything.contains("Joost Visser meldde zich aan") && everything.contains("Nick Jansen meldde zich aan"));
        // Another tree's office in the export's filter: 404, as for the list.
        let (status, ctype, refused) = csv_of(&portal, &main, &format!("office_id={noord_office}")).await;
        assert_eq!((status, ctype.as_str()), (404, "application/problem+json"), "{refused}");
        assert!(!refused.contains("Pensioenhuis Noord"));
        drop(stranger);
    }

    /// Nonsense in a filter: 400 with Dutch text naming the parameter; nothing is read.
    async fn l1_bad_filters_get_400(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        for (query, field, detail) in [
            ("from=2026-13-01", "from", "Vul een datum in als JJJJ-MM-DD, bijvoorbeeld 2026-01-31."),
            ("to=31-01-2026", "to", "Vul een datum in als JJJJ-MM-DD, bijvoorbeeld 2026-01-31."),
            ("from=2026-02-01&to=2026-01-01", "from", "De datum 'Van' ligt na de datum 'Tot en met'."),
            ("limit=101", "limit", "Het aantal regels per pagina moet tussen 1 en 100 liggen."),
            ("action=login%25", "action", "Deze soort gebeurtenis bestaat niet."),
            ("office_id=12345", "office_id", "Kies een kantoor uit de lijst."),
            ("before=oud", "before", "Deze pagina van het auditlog bestaat niet. Begin opnieuw bij de nieuwste regels."),
        ] {
            let a = call(&portal, "GET", &format!("/audit?{query}"), &main, None, None).await;
            assert_eq!(a.status, 400, "{query}: {}", a.body);
            assert_eq!(a.body["field"], field, "{query}");
            assert_eq!(a.detail(), detail, "{query}");
        }
        // A repeated parameter is malformed too.
        let a = call(&portal, "GET", "/audit?from=2026-01-01&from=2026-01-02", &main, None, None).await;
        assert_eq!(a.status, 400);
        // The period filter itself works: today (UTC) holds the demo's sign-ins.
        let today = time::OffsetDateTime::now_utc().date();
        let a = call(&portal, "GET", &format!("/audit?from={today}&to={today}&action=login."), &main, None, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert!(!a.body["entries"].as_array().unwrap().is_empty());
        let a = call(&portal, "GET", "/audit?to=2000-01-01", &main, None, None).await;
        assert_eq!(a.body["entries"], json!([]));
    }

    /// A user created through the API appears with who created it and whom, newest first.
    async fn l1_a_real_change_appears_with_actor_and_target(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let created = call(&portal, "POST", "/users", &main,
            Some(json!({ "name": "Pieter Smit", "email": "pieter@voorbeeldadvies.nl", "rights": ["DIP"] })), None).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let new_id = created.body["id"].as_str().unwrap().to_owned();

        let a = call(&portal, "GET", "/audit?limit=1", &main, None, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let e = &a.body["entries"][0];
        assert_eq!(e["action"], "user.created", "newest first: {e}");
        assert_eq!(e["text"], "Nick Jansen maakte gebruiker Pieter Smit aan bij Voorbeeld Advies (12345) met het recht DIP");
        assert_eq!(e["actor"], json!({ "id": user_id(&portal, MAIN).await, "name": "Nick Jansen" }));
        assert_eq!(e["target_user"], json!({ "id": new_id, "name": "Pieter Smit", "email": "pieter@voorbeeldadvies.nl" }));
        assert_eq!(e["target_office"], json!({ "id": office_id(&portal, "12345").await, "name": "Voorbeeld Advies", "number": "12345" }));
        assert_eq!(e["ip"], "127.0.0.1");
        assert!(time::OffsetDateTime::parse(e["at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).is_ok());
        assert!(e["detail"].is_object());
        assert!(a.body["next"].is_string(), "older entries follow");
        // The user filter finds it, as target; the kind filter too.
        let by_user = every_entry(&portal, &main, &format!("user_id={new_id}")).await;
        assert_eq!(by_user.len(), 1);
        let by_kind = every_entry(&portal, &main, "action=user.").await;
        assert!(by_kind.iter().any(|x| x["id"] == e["id"]));
        assert!(by_kind.iter().all(|x| x["action"].as_str().unwrap().starts_with("user.")));
        // Issue 10: a right given reads as the issue says.
        let given = call(&portal, "PATCH", &format!("/users/{new_id}"), &main,
            Some(json!({ "rights": ["DIP", "DIL"] })), Some("\"1\"")).await;
        assert_eq!(given.status, 200, "{}", given.body);
        let a2 = call(&portal, "GET", "/audit?limit=1", &main, None, None).await;
        assert_eq!(a2.body["entries"][0]["text"], "Nick Jansen gaf Pieter Smit het recht DIL");
        let text = a.body.to_string();
        for secret in ["password_hash", "secret", "seed"] {
            assert!(!text.contains(secret), "AC-07: {secret} in {text}");
        }
    }

    /// The page: a main user opens Auditlog from the menu and reads, in Dutch, the change
    /// it just made; another office's sign-in is not there. An employee has no Auditlog.
    async fn l1_a_main_user_reads_its_change_in_the_auditlog_page(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        // Another office signs in first: its line must not show.
        signed_in(&portal, STRANGER, &password).await;
        let browser = signed_in(&portal, MAIN, &password).await;
        let done = browser
            .post("/gebruikers/nieuw", &[("name", "Pieter Smit"), ("email", "pieter@voorbeeldadvies.nl"), ("rechten", "DIP")])
            .await;
        assert!(done.body.contains("De gebruiker is aangemaakt"), "{}", done.body);

        let home = browser.get("/").await;
        let page = browser.get(&link(&home, "Auditlog")).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for label in ["<label for=\"kantoor\">Kantoor</label>", "<label for=\"gebruiker\">Gebruiker</label>",
                      "<label for=\"soort\">Soort</label>", "<label for=\"van\">Van</label>", "<label for=\"tot\">"] {
            assert!(page.body.contains(label), "{label}");
        }
        for heading in ["Wanneer", "Wat", "IP-adres"] {
            assert!(unescape(&page.body).contains(&format!(">{heading}</th>")), "{heading}");
        }
        // Issue 10: the entry as a sentence, the rest under Details.
        let body = unescape(&page.body);
        let sentence = "Nick Jansen maakte gebruiker Pieter Smit aan bij Voorbeeld Advies (12345) met het recht DIP";
        let row_at = body.find(sentence).unwrap_or_else(|| panic!("{body}"));
        let row = &body[body[..row_at].rfind("<tr>").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("<details>") && row.contains("Gebruiker aangemaakt (<code>user.created</code>)"), "{row}");
        assert!(row.contains("Pieter Smit (pieter@voorbeeldadvies.nl)") && row.contains("127.0.0.1"), "{row}");
        assert!(row.contains("\"rights\": [") && row.contains("\"DIP\""), "the stored detail: {row}");
        assert!(page.body.contains("Onderbemiddeling Zuid (Z01)"), "its sub-office is a choice");
        assert!(!page.body.contains("Joost Visser") && !page.body.contains("Pensioenhuis Noord"), "another office's");

        // The filter form: only sign-ins, and a bad date is said in Dutch.
        let logins = browser.get("/auditlog?soort=login.&kantoor=&gebruiker=&van=&tot=").await;
        assert_eq!(logins.status, 200);
        assert!(logins.body.contains("Nick Jansen meldde zich aan") && !logins.body.contains("Gebruiker aangemaakt"));
        assert!(logins.body.contains("value=\"login.\" selected"));
        // "Exporteren als CSV" downloads what this filter selects: the sign-ins only.
        let file = browser.get(&link(&logins, "Exporteren als CSV")).await;
        assert_eq!(file.status, 200);
        let heading = file.body.trim_start_matches('\u{feff}');
        assert!(heading.starts_with("tijdstip;wie;wat;actie;gebruiker;kantoor;ip"), "{}", file.body);
        assert!(file.body.contains("Nick Jansen meldde zich aan") && !file.body.contains("user.created"), "{}", file.body);
        assert!(!file.body.contains("Joost Visser"), "another office's sign-in");
        let bad = browser.get("/auditlog?van=gisteren").await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("Vul een datum in als JJJJ-MM-DD"), "{}", bad.body);

        let employee = signed_in(&portal, EMPLOYEE, &password).await;
        assert!(!employee.get("/").await.body.contains(">Auditlog</a>"));
        assert_eq!(employee.get("/auditlog").await.status, 403);
    }
}
