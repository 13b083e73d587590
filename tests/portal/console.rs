//! The insurer's console (issue 6), through the real binary on both databases with the demo
//! offices: paging of the admin API's lists (every row exactly once, never outside the
//! caller's office tree), **Zoeken** across all offices and users, resending an
//! activation mail to a user of any office from the search, and **OIDC-clients**
//! (register through the API and the page; the secret is shown once and then really
//! works). A main user gets 403 on every part of it, and nothing changes.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{ADMIN, MAIN, SUB_MAIN, call, demo, token_for};
use crate::support::{Browser, Portal, attribute, unescape};

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    browser
}

/// Every page of `path` (a list answering `key`) with `limit` rows a page: the ids in
/// order, and how many pages there were.
async fn all_pages(
    portal: &Portal,
    token: &str,
    path: &str,
    key: &str,
    limit: u32,
) -> (Vec<String>, u32) {
    let mut ids = Vec::new();
    let mut page: u32 = 1;
    let mut pages: u32 = 0;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let answer = call(
            portal,
            "GET",
            &format!("{path}{sep}page={page}&limit={limit}"),
            token,
            None,
            None,
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["page"], page);
        assert_eq!(answer.body["limit"], limit);
        let rows = answer.body[key].as_array().unwrap();
        assert!(rows.len() <= limit as usize);
        ids.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match answer.body["next"].as_u64() {
            Some(next) => {
                assert_eq!(next, u64::from(page) + 1);
                assert_eq!(rows.len(), limit as usize, "only the last page is short");
                page += 1;
            }
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    (ids, pages)
}

async fn ids_in_db(portal: &Portal, sql: &'static str) -> BTreeSet<String> {
    let db = portal.db().await;
    let ids: Vec<uuid::Uuid> = idp::with_db!(&db, |pool| sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap());
    ids.into_iter().map(|i| i.to_string()).collect()
}

/// A client registration through the API.
fn new_client(id: &str, redirect: &str) -> Value {
    json!({
        "client_id": id, "name": "CRM-koppeling",
        "redirect_uris": [redirect],
        "post_logout_redirect_uris": ["https://crm.example.nl/uitgelogd"],
        "backchannel_logout_uri": "https://crm.example.nl/backchannel",
        "grant_types": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic"
    })
}

async fn client_credentials(portal: &Portal, id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

testkit::both_databases! {
    /// Paging (issue 6): the insurer admin walks every user and office in pages of two and
    /// meets each exactly once; a main user's pages hold only its office tree.
    async fn lists_are_paged_with_each_row_exactly_once(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        // A few more users in another office, so there are several pages.
        let noord = ids_in_db(&portal, "SELECT id FROM offices WHERE number = '67890'").await;
        let noord = noord.iter().next().unwrap().clone();
        for i in 0..5 {
            let body = json!({"name": format!("Medewerker {i}"), "email": format!("m{i}@pensioenhuisnoord.nl"),
                              "rights": ["DIL"], "office_id": noord});
            assert_eq!(call(&portal, "POST", "/users", &admin, Some(body), None).await.status, 201);
        }

        let everyone = ids_in_db(&portal, "SELECT id FROM users").await;
        let (ids, pages) = all_pages(&portal, &admin, "/users", "users", 2).await;
        assert_eq!(ids.len(), everyone.len(), "no user twice: {ids:?}");
        assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), everyone, "every user once");
        assert_eq!(pages as usize, everyone.len().div_ceil(2));
        // The default page is the first 50, in the same order.
        let first = call(&portal, "GET", "/users", &admin, None, None).await;
        assert_eq!(first.body["limit"], 50);
        assert_eq!(first.body["next"], Value::Null);
        let listed: Vec<&str> = first.body["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>(), "a stable order");

        let offices = ids_in_db(&portal, "SELECT id FROM offices").await;
        let (office_ids, _) = all_pages(&portal, &admin, "/offices", "offices", 1).await;
        assert_eq!(office_ids.len(), offices.len());
        assert_eq!(office_ids.into_iter().collect::<BTreeSet<_>>(), offices);

        // AC-03: a main user's pages never hold another office's users or offices.
        let main = token_for(&portal, MAIN, &password).await;
        let tree = ids_in_db(&portal,
            "SELECT u.id FROM users u JOIN offices o ON o.id = u.office_id
             WHERE o.number = '12345' OR o.parent_id IN (SELECT id FROM offices WHERE number = '12345')").await;
        let (ids, pages) = all_pages(&portal, &main, "/users", "users", 1).await;
        assert_eq!(pages as usize, tree.len());
        assert_eq!(ids.len(), tree.len());
        assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), tree, "its office tree, nothing else");
        let own_offices = ids_in_db(&portal,
            "SELECT id FROM offices WHERE number = '12345' OR parent_id IN (SELECT id FROM offices WHERE number = '12345')").await;
        let (office_ids, _) = all_pages(&portal, &main, "/offices", "offices", 1).await;
        assert_eq!(office_ids.into_iter().collect::<BTreeSet<_>>(), own_offices);
        // A filter asking for another office's users finds none of them.
        let stranger = call(&portal, "GET", &format!("/users?office_id={noord}&limit=200"), &main, None, None).await;
        assert_eq!(stranger.body["users"], json!([]));

        // Out of range: 400, in Dutch.
        for bad in ["/users?limit=0", "/users?limit=201", "/users?page=0", "/offices?limit=500", "/users?page=x"] {
            let answer = call(&portal, "GET", bad, &admin, None, None).await;
            assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        }

        // The Gebruikers page pages too: "Volgende" and "Vorige".
        let browser = signed_in(&portal, ADMIN, &password).await;
        let list = browser.get("/gebruikers").await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert!(!list.body.contains(">Volgende</a>"), "fewer than 50 users: one page");
        assert!(!list.body.contains(">Vorige</a>"));
        let beyond = browser.get("/gebruikers?pagina=2").await;
        assert!(beyond.body.contains(">Vorige</a>"), "{}", beyond.body);
        assert!(beyond.body.contains("href=\"/gebruikers?pagina=1\""));
        assert!(!beyond.body.contains("Ilse de Vries"), "page 2 of one page is empty");
        let junk = browser.get("/gebruikers?pagina=abc").await;
        assert_eq!(junk.status, 200);
        assert!(junk.body.contains("Ilse de Vries"), "a bad page number is page 1");
    }

    /// Zoeken: an office by its advisor number, a user by part of the e-mail in another
    /// case; the API's filters are case-insensitive on both databases; the insurer resends
    /// an activation mail to a user of another office from the search result.
    async fn the_insurer_searches_all_offices_and_users(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        // The API's filters: number and e-mail, any case.
        let found = call(&portal, "GET", "/offices?q=67890", &admin, None, None).await;
        let names: Vec<&str> = found.body["offices"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Pensioenhuis Noord"]);
        let found = call(&portal, "GET", "/offices?q=PENSIOENHUISNOORD.NL", &admin, None, None).await;
        assert_eq!(found.body["offices"].as_array().unwrap().len(), 1, "{}", found.body);
        let found = call(&portal, "GET", "/users?q=OnderBemiddeling", &admin, None, None).await;
        let mut emails: Vec<&str> = found.body["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
        emails.sort_unstable();
        assert_eq!(emails, ["tim@onderbemiddeling.nl", "zuid@onderbemiddeling.nl"]);

        // A new user of Pensioenhuis Noord, who has not activated yet.
        let noord = ids_in_db(&portal, "SELECT id FROM offices WHERE number = '67890'").await;
        let body = json!({"name": "Sanne Bakker", "email": "sanne@pensioenhuisnoord.nl", "rights": ["DIL"],
                          "office_id": noord.iter().next().unwrap()});
        let created = call(&portal, "POST", "/users", &admin, Some(body), None).await;
        assert_eq!(created.status, 201, "{}", created.body);
        portal.activation_link("sanne@pensioenhuisnoord.nl").await;

        let browser = signed_in(&portal, ADMIN, &password).await;
        let home = browser.get("/").await;
        assert!(home.body.contains("href=\"/beheer/zoeken\""), "the menu has Zoeken");
        assert!(home.body.contains("href=\"/beheer/clients\""), "the menu has OIDC-clients");
        let empty = browser.get("/beheer/zoeken").await;
        assert_eq!(empty.status, 200);
        assert!(empty.body.contains("<label for=\"q\">Zoek op naam, e-mailadres, adviseursnummer of kantoornummer</label>"), "{}", empty.body);

        let by_number = browser.get("/beheer/zoeken?q=67890").await;
        assert_eq!(by_number.status, 200, "{}", by_number.body);
        let kantoren = &by_number.body[by_number.body.find("<h2>Kantoren</h2>").unwrap()..by_number.body.find("<h2>Gebruikers</h2>").unwrap()];
        assert!(kantoren.contains("Pensioenhuis Noord") && kantoren.contains("Hoofdkantoor"), "{kantoren}");
        assert!(!kantoren.contains("Voorbeeld Advies"));
        let head = ids_in_db(&portal, "SELECT id FROM offices WHERE number = '67890'").await;
        assert!(unescape(kantoren).contains(&format!("href=\"/beheer/hoofdkantoren/{}\"", head.iter().next().unwrap())), "{kantoren}");

        let by_mail = browser.get("/beheer/zoeken?q=SANNE%40PENSIOENHUIS").await;
        let gebruikers = &by_mail.body[by_mail.body.find("<h2>Gebruikers</h2>").unwrap()..];
        assert!(gebruikers.contains("sanne@pensioenhuisnoord.nl"), "{gebruikers}");
        assert!(gebruikers.contains("Pensioenhuis Noord (67890)"), "{gebruikers}");
        let href = attribute(gebruikers, "<a href=\"/gebruikers/", "href").unwrap();

        // A4: the insurer admin resends the activation mail for a user of any office.
        let sent_before = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'activation.sent'").await;
        let user_page = browser.get(&href).await;
        assert_eq!(user_page.status, 200, "{}", user_page.body);
        assert!(user_page.body.contains("Activatie e-mail opnieuw versturen"), "{}", user_page.body);
        let sent = browser.post(&format!("{href}/activatiemail"), &[]).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent.body.contains("De activatie e-mail is opnieuw verstuurd."), "{}", sent.body);
        portal.nth_link("sanne@pensioenhuisnoord.nl", "/idp/activate/", 2).await;
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'activation.sent'").await, sent_before + 1);

        // Short queries ask for more; nothing found says so.
        let short = browser.get("/beheer/zoeken?q=a").await;
        assert!(short.body.contains("Vul minstens twee tekens in"), "{}", short.body);
        let none = browser.get("/beheer/zoeken?q=bestaatnietxyz").await;
        assert!(none.body.contains("Geen kantoren gevonden.") && none.body.contains("Geen gebruikers gevonden."));
    }

    /// OIDC clients through the API: the secret comes once and works; the list never
    /// shows it; a bad redirect URI is 422 with nothing stored; the id cannot be taken over.
    async fn the_insurer_registers_a_client_whose_secret_works(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let before = count(&portal, "SELECT COUNT(*) FROM clients").await;

        let done = call(&portal, "POST", "/clients", &admin, Some(new_client("crm", "https://crm.example.nl/cb")), None).await;
        assert_eq!(done.status, 201, "{}", done.body);
        assert_eq!(done.header("cache-control").as_deref(), Some("no-store"));
        let secret = done.body["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(secret.len(), 43, "256 bits, base64url");
        assert_eq!(done.body["client"]["client_id"], "crm");
        assert_eq!(done.body["client"]["require_pkce"], true);
        // Stored only as its hash.
        let db = portal.db().await;
        let stored: Option<Vec<u8>> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT secret_hash FROM clients WHERE client_id = 'crm'").fetch_one(pool).await.unwrap());
        assert_eq!(stored.unwrap(), idp::crypto::token_hash(&secret));
        // Audited, without the secret.
        let detail: String = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT CAST(detail AS TEXT) FROM audit_log WHERE action = 'client.registered' AND actor_id IS NOT NULL").fetch_one(pool).await.unwrap());
        assert!(detail.contains("\"crm\"") && !detail.contains(&secret), "{detail}");

        // The client really gets a token with that secret, and not with another.
        let res = client_credentials(&portal, "crm", &secret).await;
        assert_eq!(res.status(), 200);
        let tokens: Value = res.json().await.unwrap();
        assert!(tokens["access_token"].is_string());
        assert_eq!(client_credentials(&portal, "crm", "een-ander-geheim-van-voldoende-lengte-123").await.status(), 401);

        // The list shows the registration, never the secret.
        let list = call(&portal, "GET", "/clients", &admin, None, None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        let text = list.body.to_string();
        assert!(!text.contains(&secret) && !text.contains("secret_hash") && !text.contains("client_secret\""), "{text}");
        let crm = list.body["clients"].as_array().unwrap().iter().find(|c| c["client_id"] == "crm").unwrap().clone();
        assert_eq!(crm["redirect_uris"], json!(["https://crm.example.nl/cb"]));
        assert_eq!(crm["post_logout_redirect_uris"], json!(["https://crm.example.nl/uitgelogd"]));
        assert_eq!(crm["backchannel_logout_uri"], "https://crm.example.nl/backchannel");
        assert_eq!(crm["grant_types"], json!(["authorization_code", "client_credentials"]));
        assert_eq!(crm["token_endpoint_auth_methods"], json!(["client_secret_basic", "client_secret_post"]));
        assert!(crm["created_at"].as_str().unwrap().len() >= 20);

        // OP-04: bad URIs are 422 naming the field, and nothing is stored.
        let clients = count(&portal, "SELECT COUNT(*) FROM clients").await;
        let audits = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'client.registered'").await;
        for (id, bad) in [("a1", "http://crm.example.nl/cb"), ("a2", "https://crm.example.nl/cb#frag"),
                          ("a3", "javascript:alert(1)"), ("a4", "/cb"), ("a5", "https://*.example.nl/cb")] {
            let answer = call(&portal, "POST", "/clients", &admin, Some(new_client(id, bad)), None).await;
            assert_eq!(answer.status, 422, "{bad}: {}", answer.body);
            assert_eq!(answer.body["field"], "redirect_uris");
        }
        let mut body = new_client("a6", "https://crm.example.nl/cb");
        body["post_logout_redirect_uris"] = json!(["http://evil.example/uit"]);
        let answer = call(&portal, "POST", "/clients", &admin, Some(body), None).await;
        assert_eq!((answer.status, answer.body["field"].as_str()), (422, Some("post_logout_redirect_uris")));
        // Taking over an existing id (the portal's own) is refused; a UUID id too.
        let answer = call(&portal, "POST", "/clients", &admin, Some(new_client("offerteportaal", "https://evil.example/cb")), None).await;
        assert_eq!(answer.status, 409, "{}", answer.body);
        let answer = call(&portal, "POST", "/clients", &admin, Some(new_client(&uuid::Uuid::new_v4().to_string(), "https://crm.example.nl/cb")), None).await;
        assert_eq!(answer.status, 422);
        let mut body = new_client("a7", "https://crm.example.nl/cb");
        body["client_secret"] = json!("zelfgekozen-geheim-0123456789-0123456789");
        assert_eq!(call(&portal, "POST", "/clients", &admin, Some(body), None).await.status, 400, "the idp makes the secret");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM clients").await, clients, "nothing stored");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'client.registered'").await, audits);
        let portal_redirects: String = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT redirect_uris FROM clients WHERE client_id = 'offerteportaal'").fetch_one(pool).await.unwrap());
        assert!(!portal_redirects.contains("evil"), "the portal's own client is untouched");
        assert_eq!(clients, before + 1);
    }

    /// OIDC-clients page: the form registers a client and shows the secret once, with the
    /// warning; reloading the page does not show it again.
    async fn the_clients_page_shows_the_secret_once(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let browser = signed_in(&portal, ADMIN, &password).await;
        let page = browser.get("/beheer/clients").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h1>OIDC-clients</h1>") && page.body.contains("Nieuwe client"));
        assert!(page.body.contains("<code>offerteportaal</code>"), "{}", page.body);
        for label in ["for=\"client_id\"", "for=\"redirect_uris\"", "for=\"post_logout_redirect_uris\"", "for=\"backchannel_logout_uri\""] {
            assert!(page.body.contains(label), "{label}");
        }
        let done = browser.post("/beheer/clients", &[
            ("client_id", "dienst-x"), ("name", "Dienst X"), ("redirect_uris", ""),
            ("post_logout_redirect_uris", ""), ("backchannel_logout_uri", ""),
            ("grant_types", "client_credentials"), ("auth_method", "client_secret_post"),
        ]).await;
        assert_eq!(done.status, 201, "{}", done.body);
        assert!(done.body.contains("wordt maar één keer getoond"), "{}", done.body);
        let secret = attribute(&done.body, "id=\"client-secret\"", "value").unwrap();
        assert_eq!(secret.len(), 43);
        let res = reqwest::Client::new()
            .post(format!("{}/idp/token", portal.base))
            .form(&[("grant_type", "client_credentials"), ("client_id", "dienst-x"), ("client_secret", secret.as_str())])
            .send().await.unwrap();
        assert_eq!(res.status(), 200);
        let again = browser.get("/beheer/clients").await;
        assert!(again.body.contains("<code>dienst-x</code>"));
        assert!(!again.body.contains(&secret), "never shown again");

        // Issue 10: PAR and DPoP are required per client from the form.
        let hardened = browser.post("/beheer/clients", &[
            ("client_id", "web-z"), ("redirect_uris", "https://web-z.example.nl/cb"),
            ("grant_types", "authorization_code"), ("auth_method", "client_secret_basic"),
            ("require_par", "ja"), ("dpop", "ja"),
        ]).await;
        assert_eq!(hardened.status, 201, "{}", hardened.body);
        assert_eq!(
            count(&portal, "SELECT COUNT(*) FROM clients WHERE client_id = 'web-z'
                AND require_pushed_authorization_requests AND dpop_bound_access_tokens").await,
            1
        );
        assert_eq!(
            count(&portal, "SELECT COUNT(*) FROM clients WHERE client_id = 'dienst-x'
                AND (require_pushed_authorization_requests OR dpop_bound_access_tokens)").await,
            0,
            "unticked: neither"
        );

        // A refused registration keeps the input and shows the Dutch reason.
        let bad = browser.post("/beheer/clients", &[
            ("client_id", "web-y"), ("redirect_uris", "http://web-y.example.nl/cb"),
            ("grant_types", "authorization_code"), ("auth_method", "client_secret_basic"),
        ]).await;
        assert_eq!(bad.status, 422, "{}", bad.body);
        assert!(bad.body.contains("Alleen https-adressen zijn toegestaan"), "{}", bad.body);
        assert!(unescape(&bad.body).contains("http://web-y.example.nl/cb"), "the input is kept");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM clients WHERE client_id = 'web-y'").await, 0);
    }

    /// A main user: 403 on the console's pages and the clients API, nothing stored.
    async fn a_main_user_gets_no_console(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let clients = count(&portal, "SELECT COUNT(*) FROM clients").await;
        let audits = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'client.registered'").await;
        for login in [MAIN, SUB_MAIN] {
            let main = token_for(&portal, login, &password).await;
            let list = call(&portal, "GET", "/clients", &main, None, None).await;
            assert_eq!(list.status, 403, "{}", list.body);
            let answer = call(&portal, "POST", "/clients", &main, Some(new_client("van-main", "https://crm.example.nl/cb")), None).await;
            assert_eq!(answer.status, 403, "{}", answer.body);
            assert_eq!(answer.detail(), "Alleen beheerders van de verzekeraar kunnen OIDC-clients beheren.");

            let browser = signed_in(&portal, login, &password).await;
            let home = browser.get("/").await;
            assert!(!home.body.contains("/beheer/zoeken") && !home.body.contains("/beheer/clients"), "no menu links");
            for path in ["/beheer/zoeken", "/beheer/zoeken?q=67890", "/beheer/clients"] {
                let page = browser.get(path).await;
                assert_eq!(page.status, 403, "{path}: {}", page.body);
                assert!(!page.body.contains("Pensioenhuis Noord"), "{path}");
            }
            let post = browser.post("/beheer/clients", &[("client_id", "van-main-ui"), ("grant_types", "client_credentials")]).await;
            assert_eq!(post.status, 403);
        }
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM clients").await, clients, "nothing stored");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'client.registered'").await, audits);
    }
}
