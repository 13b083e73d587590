//! The admin API's users (issue 6; SPEC U1–U5, A4, O6), through the real binary on both
//! databases with the demo offices: head office Voorbeeld Advies (DIP, DIL, ORV) with an
//! employee and the sub-office Onderbemiddeling Zuid (DIP, DIL), and head office
//! Pensioenhuis Noord (DIL). Every refusal is checked to have changed nothing.

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{
    ADMIN, Answer, EMPLOYEE, MAIN, REDIRECT, SECRET, STRANGER, SUB_EMPLOYEE, SUB_MAIN, call, demo,
    token_for, user_id,
};
use crate::oidc::{pkce, query_param, url_form};
use crate::support::{Browser, Portal, attribute};

const NOORD_MAIN: &str = "info@pensioenhuisnoord.nl";
const NEW_PASSWORD: &str = "groene appels op de markt";
const STALE: &str =
    "Deze gebruiker is intussen door iemand anders gewijzigd. Laad de gegevens opnieuw.";

/// A user's row as stored, to show that a refusal changed nothing.
async fn row(
    portal: &Portal,
    email: &str,
) -> Option<(String, String, bool, i64, Option<uuid::Uuid>)> {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_as::<
        _,
        (String, String, bool, i64, Option<uuid::Uuid>),
    >(
        "SELECT name, rights, active, version, office_id FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_optional(pool)
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

/// Everything a refusal must leave as it was: users, audit entries, queued mails.
async fn totals(portal: &Portal) -> (i64, i64, i64) {
    (
        count(portal, "SELECT COUNT(*) FROM users").await,
        count(portal, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'user.%' OR action = 'activation.sent'").await,
        count(portal, "SELECT COUNT(*) FROM outbox").await,
    )
}

fn emails(list: &Answer) -> Vec<String> {
    list.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn office_of(portal: &Portal, email: &'static str) -> String {
    let (.., office) = row(portal, email).await.unwrap();
    office.unwrap().to_string()
}

testkit::both_databases! {
    /// U2: each administrator sees exactly its office tree; U1/U3/A2: a new employee gets
    /// its activation mail, activates and signs in; a duplicate e-mail is 409 with the
    /// manual's text and stores nothing.
    async fn a_main_user_lists_its_tree_and_creates_a_user_who_signs_in(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;

        let list = call(&portal, "GET", "/users", &main, None, None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        // By office (the head office, then its sub-office), then by name.
        assert_eq!(emails(&list), [EMPLOYEE, MAIN, SUB_MAIN, SUB_EMPLOYEE]);
        let ilse = &list.body["users"][0];
        assert_eq!(ilse["name"], "Ilse de Vries");
        assert_eq!(ilse["role"], "employee");
        assert_eq!(ilse["active"], true);
        assert_eq!(ilse["activated"], true);
        assert_eq!(ilse["rights"], json!(["DIP", "DIL"]));
        assert_eq!(ilse["office"]["number"], "12345");
        assert_eq!(ilse["office"]["name"], "Voorbeeld Advies");
        assert_eq!(ilse["office"]["kind"], "head_office");
        assert_eq!(ilse["version"], 1);
        assert_eq!(list.body["users"][2]["role"], "main_user");
        assert_eq!(list.body["users"][2]["office"]["kind"], "sub_office");
        let text = list.body.to_string();
        for secret in ["password", "totp", "secret", "hash"] {
            assert!(!text.contains(secret), "AC-07: {secret} in {text}");
        }

        let sub = token_for(&portal, SUB_MAIN, &password).await;
        let list = call(&portal, "GET", "/users", &sub, None, None).await;
        assert_eq!(emails(&list), [SUB_MAIN, SUB_EMPLOYEE]);
        let noord = token_for(&portal, NOORD_MAIN, &password).await;
        let list = call(&portal, "GET", "/users?q=voorbeeld", &noord, None, None).await;
        assert_eq!(emails(&list), Vec::<String>::new(), "AC-02: no search into another tree");

        // The insurer admin sees everyone, and can filter.
        let admin = token_for(&portal, ADMIN, &password).await;
        let all = call(&portal, "GET", "/users", &admin, None, None).await;
        assert_eq!(all.body["users"].as_array().unwrap().len(), 7);
        let found = call(&portal, "GET", "/users?q=DE%20vRIES", &admin, None, None).await;
        assert_eq!(emails(&found), [EMPLOYEE]);
        let noord_office = office_of(&portal, NOORD_MAIN).await;
        let found = call(&portal, "GET", &format!("/users?office_id={noord_office}"), &admin, None, None).await;
        assert_eq!(emails(&found), [NOORD_MAIN, STRANGER]);
        let found = call(&portal, "GET", "/users?q=%25", &admin, None, None).await;
        assert_eq!(emails(&found), Vec::<String>::new(), "a % is a character, not a wildcard");

        // One user, with its version as ETag.
        let ilse_id = user_id(&portal, EMPLOYEE).await;
        let one = call(&portal, "GET", &format!("/users/{ilse_id}"), &main, None, None).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(one.body["id"], ilse_id.as_str());

        // Nieuwe gebruiker.
        let before = totals(&portal).await;
        let created = call(&portal, "POST", "/users", &main,
            Some(json!({"name": " Piet Pieters ", "email": "Piet@VoorbeeldAdvies.nl", "rights": ["DIL", "DIP"]})), None).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.header("location"), Some(format!("/api/v1/users/{id}")));
        assert_eq!(created.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(created.body["name"], "Piet Pieters");
        assert_eq!(created.body["email"], "piet@voorbeeldadvies.nl");
        assert_eq!(created.body["role"], "employee");
        assert_eq!(created.body["rights"], json!(["DIP", "DIL"]), "registry order");
        assert_eq!(created.body["activated"], false);
        assert_eq!(created.body["office"]["number"], "12345");
        let after = totals(&portal).await;
        assert_eq!((after.0, after.1, after.2), (before.0 + 1, before.1 + 1, before.2 + 1), "user, audit, mail together");

        // U3: the same address in another case, even in another office: 409, nothing stored.
        for (token, office) in [(&main, None), (&admin, Some(noord_office.clone()))] {
            let mut body = json!({"name": "Tweede Piet", "email": "PIET@voorbeeldadvies.nl", "rights": []});
            if let Some(o) = office {
                body["office_id"] = json!(o);
            }
            let dup = call(&portal, "POST", "/users", token, Some(body), None).await;
            assert_eq!(dup.status, 409, "{}", dup.body);
            assert_eq!(dup.detail(), "Dit e-mailadres is al in gebruik");
            assert_eq!(totals(&portal).await, after);
        }

        // The activation mail arrives; the user activates and signs in.
        let link = portal.activation_link("piet@voorbeeldadvies.nl").await;
        let browser = Browser::new(&portal.base);
        let done = browser.post(&link, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert!(done.body.contains("Uw account is geactiveerd"), "{}", done.body);
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, "piet@voorbeeldadvies.nl", NEW_PASSWORD).await;
        assert!(home.body.contains("Welkom, Piet Pieters"), "{}", home.body);
        let audit = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'user.created' AND actor_id IS NOT NULL AND ip IS NOT NULL").await;
        assert_eq!(audit, 1);
    }

    /// U4/O4 and input checks on creation: 422 naming the field, nothing stored.
    async fn creation_is_refused_outside_the_rules(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let sub_office = office_of(&portal, SUB_MAIN).await;
        let head_office = office_of(&portal, MAIN).await;
        let noord_office = office_of(&portal, NOORD_MAIN).await;
        let before = totals(&portal).await;
        let new = |email: &str, rights: Value| json!({"name": "Nieuw", "email": email, "rights": rights});
        let with = |mut v: Value, key: &str, value: Value| {
            v[key] = value;
            v
        };
        let cases = [
            (with(new("a@x.nl", json!(["ORV"])), "office_id", json!(sub_office)), 422, "rights"),
            (new("geen-adres", json!([])), 422, "email"),
            (json!({"name": "  ", "email": "b@x.nl", "rights": []}), 422, "name"),
            (json!({"email": "c@x.nl", "rights": []}), 422, "name"),
            (new("d@x.nl", json!(["XYZ"])), 422, "rights"),
            (with(new("e@x.nl", json!([])), "office_id", json!(noord_office)), 422, "office_id"),
            (with(new("f@x.nl", json!([])), "role", json!("main_user")), 400, ""),
        ];
        for (i, (body, status, field)) in cases.into_iter().enumerate() {
            let a = call(&portal, "POST", "/users", &main, Some(body), None).await;
            assert_eq!(a.status, status, "case {i}: {}", a.body);
            if !field.is_empty() {
                assert_eq!(a.body["field"], field, "case {i}: {}", a.body);
            }
            assert!(!a.detail().is_empty());
        }
        let orv = call(&portal, "POST", "/users", &main,
            Some(json!({"name": "N", "email": "g@x.nl", "rights": ["ORV"], "office_id": sub_office})), None).await;
        assert_eq!(orv.detail(), "Rechten: Dit recht is niet beschikbaar voor subkantoren. (ORV)");
        let missing = call(&portal, "POST", "/users", &main, Some(json!({"email": "m@x.nl", "rights": []})), None).await;
        assert_eq!(missing.detail(), "Naam: Vul dit veld in.");
        let bad = call(&portal, "POST", "/users", &main, Some(new("geen-adres", json!([]))), None).await;
        assert_eq!(bad.detail(), "E-mailadres: Vul een geldig e-mailadres in.");
        // A head office whose appointment lacks DIP cannot grant it.
        let noord = token_for(&portal, NOORD_MAIN, &password).await;
        let a = call(&portal, "POST", "/users", &noord, Some(new("h@x.nl", json!(["DIP"]))), None).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("rights")), "{}", a.body);
        // A sub-office's main user cannot create in its head office.
        let sub = token_for(&portal, SUB_MAIN, &password).await;
        let a = call(&portal, "POST", "/users", &sub,
            Some(json!({"name": "N", "email": "i@x.nl", "rights": [], "office_id": head_office})), None).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("office_id")));
        // An insurer admin must name the office.
        let admin = token_for(&portal, ADMIN, &password).await;
        let a = call(&portal, "POST", "/users", &admin, Some(new("j@x.nl", json!([]))), None).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("office_id")));
        // Not JSON.
        let res = reqwest::Client::new().post(format!("{}/api/v1/users", portal.base)).bearer_auth(&main)
            .form(&[("name", "N")]).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 415);
        assert_eq!(totals(&portal).await, before, "nothing stored");

        // The allowed cases: the head office's main user in its sub-office, with DIP.
        let a = call(&portal, "POST", "/users", &main,
            Some(json!({"name": "Sub Nieuw", "email": "k@x.nl", "rights": ["DIP"], "office_id": sub_office})), None).await;
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(a.body["office"]["kind"], "sub_office");
        let a = call(&portal, "POST", "/users", &admin,
            Some(json!({"name": "Noord Nieuw", "email": "l@x.nl", "rights": ["DIL"], "office_id": noord_office})), None).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }

    /// AC-01: another office's user is 404 for every act, and nothing changes; an employee
    /// gets 403; U5, U4, AC-06 refusals change nothing; If-Match is required and checked.
    async fn refusals_change_nothing(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let sub = token_for(&portal, SUB_MAIN, &password).await;
        let employee = token_for(&portal, EMPLOYEE, &password).await;
        let before = totals(&portal).await;
        let stranger = user_id(&portal, STRANGER).await;
        let ilse = user_id(&portal, EMPLOYEE).await;
        let stranger_row = row(&portal, STRANGER).await;
        let ilse_row = row(&portal, EMPLOYEE).await;
        let change = json!({"name": "Overgenomen", "active": false});
        for (token, target) in [(&main, &stranger), (&sub, &ilse), (&main, &user_id(&portal, ADMIN).await)] {
            let get = call(&portal, "GET", &format!("/users/{target}"), token, None, None).await;
            assert_eq!(get.status, 404, "{}", get.body);
            assert_eq!(get.detail(), "Deze gebruiker bestaat niet of valt niet onder uw beheer.");
            let patch = call(&portal, "PATCH", &format!("/users/{target}"), token, Some(change.clone()), Some("\"1\"")).await;
            assert_eq!(patch.status, 404, "{}", patch.body);
            let act = call(&portal, "POST", &format!("/users/{target}/activation"), token, None, None).await;
            assert_eq!(act.status, 404, "{}", act.body);
        }
        let unknown = uuid::Uuid::new_v4();
        assert_eq!(call(&portal, "GET", &format!("/users/{unknown}"), &main, None, None).await.status, 404);
        assert_eq!(call(&portal, "GET", "/users/geen-uuid", &main, None, None).await.status, 404);
        for (method, path) in [("GET", "/users".to_owned()), ("GET", format!("/users/{ilse}")), ("POST", format!("/users/{ilse}/activation"))] {
            let a = call(&portal, method, &path, &employee, None, None).await;
            assert_eq!(a.status, 403, "{method} {path}: {}", a.body);
        }
        let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &employee, Some(json!({"name": "x"})), Some("\"1\"")).await;
        assert_eq!(a.status, 403);
        let a = call(&portal, "POST", "/users", &employee, Some(json!({"name": "x", "email": "x@x.nl", "rights": []})), None).await;
        assert_eq!(a.status, 403);

        // U5: no self-deactivation, no removing its own rights.
        let me = user_id(&portal, MAIN).await;
        let main_row = row(&portal, MAIN).await;
        let a = call(&portal, "PATCH", &format!("/users/{me}"), &main, Some(json!({"active": false})), Some("\"1\"")).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("active")), "{}", a.body);
        assert_eq!(a.detail(), "U kunt uw eigen account niet deactiveren.");
        let a = call(&portal, "PATCH", &format!("/users/{me}"), &main, Some(json!({"rights": ["DIP"]})), Some("\"1\"")).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("rights")), "{}", a.body);
        // Nor another main user's rights (the sub-office's), nor a right its office lacks.
        let sanne = user_id(&portal, SUB_MAIN).await;
        let a = call(&portal, "PATCH", &format!("/users/{sanne}"), &main, Some(json!({"rights": ["DIP"]})), Some("\"1\"")).await;
        assert_eq!(a.status, 422, "{}", a.body);
        let tim = user_id(&portal, SUB_EMPLOYEE).await;
        let a = call(&portal, "PATCH", &format!("/users/{tim}"), &main, Some(json!({"rights": ["DIP", "ORV"]})), Some("\"1\"")).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("rights")), "{}", a.body);
        // A right the office lacks (Pensioenhuis Noord holds only DIL).
        let noord = token_for(&portal, NOORD_MAIN, &password).await;
        let joost = user_id(&portal, STRANGER).await;
        let a = call(&portal, "PATCH", &format!("/users/{joost}"), &noord, Some(json!({"rights": ["DIL", "DIP"]})), Some("\"1\"")).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some("rights")), "{}", a.body);
        assert_eq!(a.detail(), "Rechten: Dit recht gaat verder dan de rechten van het kantoor. (DIP)");
        // AC-06: mass assignment.
        for body in [json!({"role": "main_user"}), json!({"office_id": stranger}), json!({"password_hash": "x"}),
                     json!({"totp_secret": "x"}), json!({"name": "Ilse", "email_verified": true})] {
            let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &main, Some(body.clone()), Some("\"1\"")).await;
            assert_eq!(a.status, 400, "{body}: {}", a.body);
        }
        // If-Match: required, and a stale one is refused.
        let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &main, Some(json!({"name": "Ilse"})), None).await;
        assert_eq!(a.status, 428, "{}", a.body);
        for tag in ["\"7\"", "W/\"1\"", "1"] {
            let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &main, Some(json!({"name": "Ilse Nieuw"})), Some(tag)).await;
            assert_eq!(a.status, 412, "{tag}: {}", a.body);
            assert_eq!(a.detail(), STALE);
        }
        // A4: the head office resends to its sub-office's main user, not to its employees;
        // an activated account needs no activation mail.
        let a = call(&portal, "POST", &format!("/users/{tim}/activation"), &main, None, None).await;
        assert_eq!(a.status, 403, "{}", a.body);
        let a = call(&portal, "POST", &format!("/users/{ilse}/activation"), &main, None, None).await;
        assert_eq!(a.status, 422, "{}", a.body);

        assert_eq!(totals(&portal).await, before, "nothing stored");
        let db = portal.db().await;
        let denials: Vec<(String, Option<String>)> = idp::with_db!(&db, |pool| sqlx::query_as(
            "SELECT detail, ip FROM audit_log WHERE action = 'admin.denied' AND actor_id = $1 AND target_user_id = $2"
        ).bind(uuid::Uuid::parse_str(&me).unwrap()).bind(uuid::Uuid::parse_str(&stranger).unwrap()).fetch_all(pool).await.unwrap());
        assert_eq!(denials.len(), 3, "AC-01: each refused act on another office's user is audited: {denials:?}");
        assert!(denials.iter().all(|(detail, ip)| detail.contains("not_found") && ip.is_some()));
        assert_eq!(row(&portal, STRANGER).await, stranger_row);
        assert_eq!(row(&portal, EMPLOYEE).await, ilse_row);
        assert_eq!(row(&portal, MAIN).await, main_row);
    }

    /// Optimistic concurrency: a change bumps the version; of two changes from the same
    /// version exactly one wins; an e-mail change is audited and noticed at the old address.
    async fn changes_are_versioned_and_audited(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let ilse = user_id(&portal, EMPLOYEE).await;
        let path = format!("/users/{ilse}");
        let a = call(&portal, "PATCH", &path, &main, Some(json!({"rights": ["DIP"], "name": "Ilse de Vries-Smit"})), Some("\"1\"")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("etag").as_deref(), Some("\"2\""));
        assert_eq!((a.body["version"].as_i64(), a.body["rights"].clone()), (Some(2), json!(["DIP"])));
        // The same change again changes nothing and keeps the version.
        let a = call(&portal, "PATCH", &path, &main, Some(json!({"rights": ["DIP"]})), Some("\"2\"")).await;
        assert_eq!((a.status, a.body["version"].as_i64()), (200, Some(2)));

        // Two administrators at once, from the same version: one 200, one 412.
        let one = call(&portal, "PATCH", &path, &main, Some(json!({"name": "Eerste"})), Some("\"2\""));
        let two = call(&portal, "PATCH", &path, &main, Some(json!({"name": "Tweede"})), Some("\"2\""));
        let (one, two) = tokio::join!(one, two);
        let mut statuses = [one.status, two.status];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "{} / {}", one.body, two.body);
        let winner = if one.status == 200 { "Eerste" } else { "Tweede" };
        let stored = row(&portal, EMPLOYEE).await.unwrap();
        assert_eq!((stored.0.as_str(), stored.3), (winner, 3));

        // A new e-mail (AC-10): it waits for the new address to confirm it. The old
        // address gets a notice, the new one the link; the audit says before and after.
        const NEW: &str = "ilse.smit@voorbeeldadvies.nl";
        let a = call(&portal, "PATCH", &path, &main, Some(json!({"email": NEW})), Some("\"3\"")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!((a.body["email"].as_str(), a.body["email_pending"].as_str()), (Some(EMPLOYEE), Some(NEW)), "{}", a.body);
        let link = portal.nth_link(NEW, "/idp/email/", 1).await;
        for _ in 0..200 {
            if portal.mails_to(EMPLOYEE) > 0 { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(portal.mails_to(EMPLOYEE), 1, "ML-05: a notice to the old address");
        assert_eq!(portal.mails_to(NEW), 1, "the confirmation link, nothing else");
        let db = portal.db().await;
        let details: Vec<String> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'user.updated' ORDER BY id"
        ).fetch_all(pool).await.unwrap());
        assert_eq!(details.len(), 3, "one entry per change that changed something: {details:?}");
        let last: Value = serde_json::from_str(&details[2]).unwrap();
        assert_eq!(last["before"]["email"], EMPLOYEE);
        assert_eq!(last["after"]["email_pending"], NEW);
        // Until it is confirmed the old address is the login, and a forgotten password
        // sends its link to the old address only.
        let signs_in = |login: &'static str| {
            let base = portal.base.clone();
            let password = password.clone();
            async move {
                let browser = Browser::new(&base);
                let page = browser.get("/").await;
                browser.sign_in(&page, login, &password).await.body.contains("Welkom")
            }
        };
        assert!(!signs_in(NEW).await, "the new address is no login yet");
        assert!(signs_in(EMPLOYEE).await);
        Browser::new(&portal.base).post("/idp/forgot", &[("email", NEW)]).await;
        Browser::new(&portal.base).post("/idp/forgot", &[("email", EMPLOYEE)]).await;
        portal.nth_link(EMPLOYEE, "/idp/reset/", 1).await;
        assert_eq!(portal.mails_to(NEW), 1, "no reset link to the unconfirmed address");
        // Opening the link changes nothing (ML-02); confirming it makes it the login.
        let page = Browser::new(&portal.base).get(&link).await;
        assert!(page.body.contains(NEW), "{}", page.body);
        assert_eq!(row(&portal, EMPLOYEE).await.map(|r| r.3), Some(4), "the request was version 4");
        let confirm = attribute(&page.body, "<form", "action").unwrap();
        // The account's password is asked too: someone holding only the new mailbox (the
        // administrator who typed it, say) cannot take the account over with it.
        let refused = Browser::new(&portal.base).post(&confirm, &[("password", "niet het wachtwoord van ilse")]).await;
        assert_eq!(refused.status, 422, "{}", refused.body);
        assert!(refused.body.contains("Het wachtwoord klopt niet."), "{}", refused.body);
        assert!(!signs_in(NEW).await, "a wrong password changes nothing");
        let done = Browser::new(&portal.base).post(&confirm, &[("password", password.as_str())]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw e-mailadres is gewijzigd."), "{}", done.body);
        assert!(signs_in(NEW).await, "the new address is the login now");
        assert!(!signs_in(EMPLOYEE).await);
        assert!(row(&portal, NEW).await.is_some_and(|r| r.3 == 5), "a new version");
        let again = Browser::new(&portal.base).post(&confirm, &[("password", password.as_str())]).await;
        assert_eq!(again.status, 404, "the link works once");
        let confirmed: i64 = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.email_confirmed'"
        ).fetch_one(pool).await.unwrap());
        assert_eq!(confirmed, 1);

        // A4: a not yet activated user gets a new link; the older one stops working.
        let created = call(&portal, "POST", "/users", &main,
            Some(json!({"name": "Nog Niet", "email": "nog@voorbeeldadvies.nl", "rights": []})), None).await;
        let id = created.body["id"].as_str().unwrap().to_owned();
        let first = portal.nth_link("nog@voorbeeldadvies.nl", "/idp/activate/", 1).await;
        let a = call(&portal, "POST", &format!("/users/{id}/activation"), &main, None, None).await;
        assert_eq!(a.status, 202, "{}", a.body);
        let second = portal.nth_link("nog@voorbeeldadvies.nl", "/idp/activate/", 2).await;
        assert_ne!(first, second);
        let old = Browser::new(&portal.base).get(&first).await;
        assert!(!old.body.contains("Stel uw wachtwoord in"), "the older link is void");
        let new = Browser::new(&portal.base).get(&second).await;
        assert!(new.body.contains("Stel uw wachtwoord in"), "{}", new.body);
    }

    /// O6, SE-05: deactivating a user ends its sessions and grants at once; its refresh
    /// token stops working and its browser is sent to sign in. Re-activating lets it in.
    /// (The portal's own relying-party sessions end through back-channel logout:
    /// `gebruikers::deactivating_a_user_signs_it_out_of_the_portal_within_seconds`.)
    async fn deactivation_ends_the_users_sessions_and_tokens(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let out = portal.cli(&["client", "add", "--id", "rp-refresh", "--secret", SECRET, "--redirect-uri", REDIRECT,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let main = token_for(&portal, MAIN, &password).await;

        // The employee signs in in its browser and a client holds its refresh token.
        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, EMPLOYEE, &password).await;
        assert!(home.body.contains("Welkom, Ilse de Vries"), "{}", home.body);
        let (access, refresh) = refresh_grant(&portal, &browser).await;
        assert_eq!(userinfo(&portal, &access).await, 200);

        let ilse = user_id(&portal, EMPLOYEE).await;
        let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &main, Some(json!({"active": false})), Some("\"1\"")).await;
        assert_eq!((a.status, a.body["active"].as_bool()), (200, Some(false)), "{}", a.body);

        assert_eq!(refresh_status(&portal, &refresh).await, 400, "the refresh token died with the grant");
        assert_eq!(userinfo(&portal, &access).await, 401, "and the access token");
        let db = portal.db().await;
        let live: i64 = idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM idp_sessions s JOIN users u ON u.id = s.user_id WHERE u.email = $1 AND s.revoked_at IS NULL"
        ).bind(EMPLOYEE).fetch_one(pool).await.unwrap());
        assert_eq!(live, 0, "every idp session of the user ended");
        // Its browser, asking the idp again, is sent to sign in, and cannot.
        let page = browser.get(&authorize_url(&portal)).await;
        assert!(page.body.contains("name=\"username\""), "{}", page.body);
        let refused = browser.sign_in(&page, EMPLOYEE, &password).await;
        assert!(refused.body.contains("niet actief"), "{}", refused.body);

        // Re-activated (from the version the deactivation left): it signs in again.
        let a = call(&portal, "PATCH", &format!("/users/{ilse}"), &main, Some(json!({"active": true})), Some("\"2\"")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let again = Browser::new(&portal.base);
        let login = again.get("/").await;
        let home = again.sign_in(&login, EMPLOYEE, &password).await;
        assert!(home.body.contains("Welkom, Ilse de Vries"), "{}", home.body);
    }

    /// The OpenAPI document is public and describes the routes.
    async fn the_openapi_document_lists_the_user_routes(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let res = reqwest::get(format!("{}/api/v1/openapi.json", portal.base)).await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in ["/api/v1/users", "/api/v1/users/{id}", "/api/v1/users/{id}/activation", "/api/v1/users/{id}/second-factors/reset", "/api/v1/users/{id}/sessions/end"] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        assert!(doc["paths"]["/api/v1/users/{id}"]["patch"]["responses"]["412"].is_object());
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}

fn authorize_url(portal: &Portal) -> String {
    let (_, challenge) = pkce();
    let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", portal.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "rp-refresh")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal offline_access")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// An access and a refresh token of `rp-refresh` for the user signed in in `browser`.
async fn refresh_grant(portal: &Portal, browser: &Browser) -> (String, String) {
    let (verifier, challenge) = pkce();
    let mut url = reqwest::Url::parse(&format!("{}/idp/authorize", portal.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "rp-refresh")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal offline_access")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let page = browser.get(url.as_str()).await;
    assert!(page.url.starts_with(REDIRECT), "{} {}", page.url, page.body);
    let code = query_param(&page.url, "code").unwrap();
    let tokens: Value = token_request(
        portal,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned(),
    )
}

async fn token_request(portal: &Portal, form: &[(&str, &str)]) -> reqwest::Response {
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("rp-refresh:{}", url_form(SECRET)),
    );
    reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .header("authorization", format!("Basic {basic}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn refresh_status(portal: &Portal, refresh: &str) -> u16 {
    token_request(
        portal,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await
    .status()
    .as_u16()
}

async fn userinfo(portal: &Portal, access: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/idp/userinfo", portal.base))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
