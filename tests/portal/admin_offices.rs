//! The admin API's offices (issue 6; SPEC O1–O7), through the real binary on both
//! databases with the demo offices: head office Voorbeeld Advies 12345 (DIP, DIL, ORV;
//! allowed sub-offices) with sub-office Onderbemiddeling Zuid (DIP, DIL), and head office
//! Pensioenhuis Noord 67890 (DIL; not allowed sub-offices). Every refusal is checked to
//! have changed nothing.

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::admin_api::{
    ADMIN, Answer, EMPLOYEE, MAIN, SUB_EMPLOYEE, SUB_MAIN, call, demo, token_for,
};
use crate::support::{Browser, Portal};

const NOORD_MAIN: &str = "info@pensioenhuisnoord.nl";
const NEW_PASSWORD: &str = "groene appels op de markt";

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Offices, users, office audit entries, queued mails: what a refusal must leave alone.
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

async fn denials(portal: &Portal) -> i64 {
    count(
        portal,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.denied'",
    )
    .await
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

/// Live grants and sessions of the users of one office.
async fn live_of_office(portal: &Portal, number: &'static str) -> (i64, i64) {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| {
        let grants: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM grants g JOIN users u ON u.id = g.user_id
             JOIN offices o ON o.id = u.office_id WHERE o.number = $1 AND g.revoked_at IS NULL",
        )
        .bind(number)
        .fetch_one(pool)
        .await
        .unwrap();
        let sessions: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM idp_sessions s JOIN users u ON u.id = s.user_id
             JOIN offices o ON o.id = u.office_id WHERE o.number = $1 AND s.revoked_at IS NULL",
        )
        .bind(number)
        .fetch_one(pool)
        .await
        .unwrap();
        (grants, sessions)
    })
}

fn names(list: &Answer) -> Vec<String> {
    list.body["offices"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", list.body))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

fn new_sub(email: &str, number: &str, rights: Value) -> Value {
    json!({
        "name": "Onderbemiddeling Oost", "address": "Oude Markt 12", "postcode": "7511gb",
        "city": "Enschede", "phone": "053 123 45 67", "email": email, "number": number,
        "rights": rights, "send_activation": true
    })
}

testkit::both_databases! {
    /// O3, O5: each administrator sees its office tree; a head office's main user creates a
    /// sub-office with exactly the manual's fields, whose main user gets the activation mail,
    /// activates and signs in, and then sees its own office only.
    async fn a_main_user_creates_a_sub_office_whose_main_user_signs_in(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let head = office(&portal, "12345").await;

        let list = call(&portal, "GET", "/offices", &main, None, None).await;
        assert_eq!(list.status, 200, "{}", list.body);
        assert_eq!(names(&list), ["Voorbeeld Advies", "Onderbemiddeling Zuid"]);
        let zuid = &list.body["offices"][1];
        assert_eq!(zuid["kind"], "sub_office");
        assert_eq!(zuid["parent_id"], head.as_str());
        assert_eq!(zuid["number"], "Z01");
        assert_eq!(zuid["postcode"], "5611 EB");
        assert_eq!(zuid["rights"], json!(["DIP", "DIL"]));
        assert_eq!(zuid["allow_sub_offices"], false);
        assert_eq!(zuid["active"], true);
        assert_eq!(zuid["version"], 1);
        let one = call(&portal, "GET", &format!("/offices/{head}"), &main, None, None).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(one.body["kind"], "head_office");
        assert_eq!(one.body["parent_id"], Value::Null);
        assert_eq!(one.body["allow_sub_offices"], true);

        let admin = token_for(&portal, ADMIN, &password).await;
        let all = call(&portal, "GET", "/offices", &admin, None, None).await;
        assert_eq!(names(&all), ["Pensioenhuis Noord", "Voorbeeld Advies", "Onderbemiddeling Zuid"]);
        let subs = call(&portal, "GET", "/offices?kind=sub_office", &admin, None, None).await;
        assert_eq!(names(&subs), ["Onderbemiddeling Zuid"]);
        let found = call(&portal, "GET", "/offices?q=groningen", &admin, None, None).await;
        assert_eq!(names(&found), ["Pensioenhuis Noord"]);
        let bad = call(&portal, "GET", "/offices?kind=kantoor", &admin, None, None).await;
        assert_eq!(bad.status, 400);
        let noord = token_for(&portal, NOORD_MAIN, &password).await;
        let found = call(&portal, "GET", "/offices?q=voorbeeld", &noord, None, None).await;
        assert_eq!(names(&found), Vec::<String>::new(), "AC-02: no search into another tree");

        // Nieuw subkantoor aanmaken.
        let before = totals(&portal).await;
        let created = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main,
            Some(new_sub("Oost@Onderbemiddeling.nl", "o02", json!(["DIP"]))), None).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.header("location"), Some(format!("/api/v1/offices/{id}")));
        assert_eq!(created.header("etag").as_deref(), Some("\"1\""));
        assert_eq!(created.body["kind"], "sub_office");
        assert_eq!(created.body["parent_id"], head.as_str());
        assert_eq!(created.body["number"], "O02");
        assert_eq!(created.body["postcode"], "7511 GB");
        assert_eq!(created.body["email"], "oost@onderbemiddeling.nl");
        assert_eq!(created.body["rights"], json!(["DIP"]));
        assert_eq!(created.body["allow_sub_offices"], false);
        let after = totals(&portal).await;
        assert_eq!(after, (before.0 + 1, before.1 + 1, before.2 + 1, before.3 + 1),
            "office, main user, audit and mail together");
        let role = count(&portal, "SELECT COUNT(*) FROM users WHERE email = 'oost@onderbemiddeling.nl' AND role = 'main_user'").await;
        assert_eq!(role, 1, "O5: the office e-mail is its main user's login");

        // O3: the number is unique within the head office; the office e-mail everywhere.
        let dup = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main,
            Some(new_sub("west@onderbemiddeling.nl", "O02", json!([]))), None).await;
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.body["field"], "number");
        let dup = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main,
            Some(new_sub("ilse@voorbeeldadvies.nl", "W03", json!([]))), None).await;
        assert_eq!(dup.status, 409, "{}", dup.body);
        assert_eq!(dup.body["field"], "email");
        assert_eq!(totals(&portal).await, after);

        // The activation mail arrives; the sub-office's main user activates and signs in.
        let link = portal.activation_link("oost@onderbemiddeling.nl").await;
        let browser = Browser::new(&portal.base);
        let done = browser.post(&link, &[("password", NEW_PASSWORD), ("password_repeat", NEW_PASSWORD)]).await;
        assert!(done.body.contains("Uw account is geactiveerd"), "{}", done.body);
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, "oost@onderbemiddeling.nl", NEW_PASSWORD).await;
        assert!(home.body.contains("Welkom"), "{}", home.body);
        let oost = token_for(&portal, "oost@onderbemiddeling.nl", NEW_PASSWORD).await;
        let own = call(&portal, "GET", "/offices", &oost, None, None).await;
        assert_eq!(names(&own), ["Onderbemiddeling Oost"]);
        let audit = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.created' AND actor_id IS NOT NULL AND ip IS NOT NULL").await;
        assert_eq!(audit, 1);
    }

    /// O2, O4, O5, AC-01: every way to a sub-office that the rules close: 403/404/422 and
    /// nothing stored; refusals on another office are audited.
    async fn sub_offices_only_where_the_rules_allow(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let sub_main = token_for(&portal, SUB_MAIN, &password).await;
        let noord_main = token_for(&portal, NOORD_MAIN, &password).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let head = office(&portal, "12345").await;
        let zuid = office(&portal, "Z01").await;
        let noord = office(&portal, "67890").await;
        let before = totals(&portal).await;

        // O2: a head office the insurer has not allowed sub-offices.
        let r = call(&portal, "POST", &format!("/offices/{noord}/sub-offices"), &noord_main,
            Some(new_sub("a@oost.nl", "A1", json!(["DIL"]))), None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.detail().contains("Salesdesk Leven"), "{}", r.detail());
        // O5: no sub-office under a sub-office, not by its own main user, nor by anyone.
        for token in [&sub_main, &main, &admin] {
            let r = call(&portal, "POST", &format!("/offices/{zuid}/sub-offices"), token,
                Some(new_sub("b@oost.nl", "B1", json!(["DIP"]))), None).await;
            assert!(r.status == 422 || r.status == 403, "{} {}", r.status, r.body);
        }
        // O4: never ORV, never a right the head office lacks.
        let r = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main,
            Some(new_sub("c@oost.nl", "C1", json!(["DIP", "ORV"]))), None).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(r.body["field"], "rights");
        assert!(r.detail().contains("ORV"), "{}", r.detail());
        // Bad fields of the form: 422 naming the field.
        for (key, value) in [("postcode", "123"), ("phone", "bel me"), ("email", "geen"), ("number", "Z 1"), ("address", " ")] {
            let mut body = new_sub("d@oost.nl", "D1", json!([]));
            body[key] = json!(value);
            let r = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main, Some(body), None).await;
            assert_eq!(r.status, 422, "{key}: {}", r.body);
            assert_eq!(r.body["field"], key);
        }
        // AC-06: a field the form does not have.
        let mut body = new_sub("e@oost.nl", "E1", json!([]));
        body["allow_sub_offices"] = json!(true);
        let r = call(&portal, "POST", &format!("/offices/{head}/sub-offices"), &main, Some(body), None).await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert_eq!(totals(&portal).await, before, "no refusal stored anything");

        // IDOR: another tree's office is 404 for every act, audited.
        let denied = denials(&portal).await;
        let other = [
            ("GET", format!("/offices/{noord}"), None),
            ("PATCH", format!("/offices/{noord}"), Some(json!({"name": "Overgenomen"}))),
            ("DELETE", format!("/offices/{zuid}"), None),
            ("POST", format!("/offices/{noord}/sub-offices"), Some(new_sub("f@oost.nl", "F1", json!([])))),
        ];
        for (i, (method, path, body)) in other.into_iter().enumerate() {
            let token = if method == "DELETE" { &noord_main } else { &main };
            let r = call(&portal, method, &path, token, body, Some("\"1\"")).await;
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
            assert_eq!(denials(&portal).await, denied + i as i64 + 1, "audited");
        }
        let r = call(&portal, "GET", &format!("/offices/{head}"), &sub_main, None, None).await;
        assert_eq!(r.status, 404, "a sub-office does not see its head office");
        // O1: only the insurer creates head offices; an employee administers nothing.
        let r = call(&portal, "POST", "/offices", &main,
            Some(json!({"advisor_number": "24680", "name": "West", "email": "info@west.nl", "rights": ["DIP"]})), None).await;
        assert_eq!(r.status, 403, "{}", r.body);
        let employee = token_for(&portal, EMPLOYEE, &password).await;
        for (method, path) in [("GET", "/offices".to_owned()), ("GET", format!("/offices/{head}"))] {
            let r = call(&portal, method, &path, &employee, None, None).await;
            assert_eq!(r.status, 403, "{}", r.body);
        }
        assert_eq!(totals(&portal).await, before);

        // The insurer allows Noord sub-offices (O2); Noord (DIL only) still cannot give DIP.
        let r = call(&portal, "PATCH", &format!("/offices/{noord}"), &noord_main,
            Some(json!({"allow_sub_offices": true})), Some("\"1\"")).await;
        assert_eq!(r.status, 403, "only the insurer allows sub-offices: {}", r.body);
        let r = call(&portal, "PATCH", &format!("/offices/{noord}"), &admin,
            Some(json!({"allow_sub_offices": true})), Some("\"1\"")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
        let r = call(&portal, "POST", &format!("/offices/{noord}/sub-offices"), &noord_main,
            Some(new_sub("g@oost.nl", "G1", json!(["DIP"]))), None).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.detail().contains("DIP"), "{}", r.detail());
        let r = call(&portal, "POST", &format!("/offices/{noord}/sub-offices"), &noord_main,
            Some(json!({"name": "Noord Sub", "address": "Vismarkt 1", "postcode": "9712 CA", "city": "Groningen",
                        "phone": "050 222 33 44", "email": "sub@pensioenhuisnoord.nl", "number": "N1",
                        "rights": ["DIL"], "send_activation": false})), None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(portal.mails_to("sub@pensioenhuisnoord.nl"), 0, "no activation mail unless asked");
    }

    /// O6: deactivating a sub-office ends its users' sessions and grants (refresh tokens)
    /// at once and leaves the head office's alone; If-Match is required and must be
    /// current; a main user cannot deactivate its own office.
    async fn deactivating_a_sub_office_ends_its_users_sessions(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let sub_main = token_for(&portal, SUB_MAIN, &password).await;
        let _sub_employee = token_for(&portal, SUB_EMPLOYEE, &password).await;
        let head = office(&portal, "12345").await;
        let zuid = office(&portal, "Z01").await;
        assert_eq!(live_of_office(&portal, "Z01").await, (2, 2));
        let before = totals(&portal).await;

        let path = format!("/offices/{zuid}");
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"active": false})), None).await;
        assert_eq!(r.status, 428, "{}", r.body);
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"active": false})), Some("\"7\"")).await;
        assert_eq!(r.status, 412, "{}", r.body);
        assert!(r.detail().contains("kantoor"), "{}", r.detail());
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"number": "X"})), Some("\"1\"")).await;
        assert_eq!(r.status, 400, "AC-06: {}", r.body);
        let r = call(&portal, "PATCH", &path, &sub_main, Some(json!({"active": false})), Some("\"1\"")).await;
        assert_eq!(r.status, 422, "no lock-out of one's own office: {}", r.body);
        assert_eq!(r.body["field"], "active");
        let r = call(&portal, "PATCH", &format!("/offices/{head}"), &main, Some(json!({"active": false})), Some("\"1\"")).await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = call(&portal, "PATCH", &format!("/offices/{head}"), &main, Some(json!({"rights": ["DIP"]})), Some("\"1\"")).await;
        assert_eq!(r.status, 403, "the appointment is the insurer's: {}", r.body);
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"rights": ["DIP", "ORV"]})), Some("\"1\"")).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(totals(&portal).await, before);
        assert_eq!(live_of_office(&portal, "Z01").await, (2, 2));

        let r = call(&portal, "PATCH", &path, &main,
            Some(json!({"active": false, "phone": "040 000 00 00"})), Some("\"1\"")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["active"], false);
        assert_eq!(r.body["phone"], "040 000 00 00");
        assert_eq!(r.header("etag").as_deref(), Some("\"2\""));
        assert_eq!(live_of_office(&portal, "Z01").await, (0, 0), "sessions and grants ended");
        assert_eq!(live_of_office(&portal, "12345").await.0, 1, "the head office's stay");
        let r = call(&portal, "GET", "/offices", &sub_main, None, None).await;
        assert_eq!(r.status, 401, "the sub-office's token is dead: {}", r.body);
        let r = call(&portal, "GET", "/offices", &main, None, None).await;
        assert_eq!(r.status, 200);
        let audit = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.updated'").await;
        assert_eq!(audit, 1);
        // Nobody of it signs in while it is inactive.
        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let page = browser.sign_in(&login, SUB_EMPLOYEE, &password).await;
        assert!(!page.body.contains("Welkom"), "{}", page.body);
        // Stale after the change.
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"active": true})), Some("\"1\"")).await;
        assert_eq!(r.status, 412);
        let r = call(&portal, "PATCH", &path, &main, Some(json!({"active": true})), Some("\"2\"")).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// O7: a sub-office is deleted with its users when no product holds a quote of it (its
    /// demo quotes are removed first; a refusal with quotes is in `products.rs`); a head
    /// office is never deleted; audit entries stay.
    async fn a_sub_office_is_deleted_with_its_users(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        portal.forget_quotes_of("Z01").await;
        let main = token_for(&portal, MAIN, &password).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let _sub = token_for(&portal, SUB_EMPLOYEE, &password).await;
        let head = office(&portal, "12345").await;
        let zuid = office(&portal, "Z01").await;
        let path = format!("/offices/{zuid}");

        let r = call(&portal, "DELETE", &format!("/offices/{head}"), &admin, None, Some("\"1\"")).await;
        assert_eq!(r.status, 422, "{}", r.body);
        let r = call(&portal, "DELETE", &path, &main, None, None).await;
        assert_eq!(r.status, 428);
        let r = call(&portal, "DELETE", &path, &main, None, Some("\"5\"")).await;
        assert_eq!(r.status, 412);
        let (offices, users, ..) = totals(&portal).await;
        let audit_before = count(&portal, "SELECT COUNT(*) FROM audit_log").await;

        let r = call(&portal, "DELETE", &path, &main, None, Some("\"1\"")).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let (offices_after, users_after, ..) = totals(&portal).await;
        assert_eq!((offices_after, users_after), (offices - 1, users - 2));
        let r = call(&portal, "GET", &path, &main, None, None).await;
        assert_eq!(r.status, 404);
        let audit = count(&portal, "SELECT COUNT(*) FROM audit_log").await;
        assert!(audit > audit_before, "audit entries stay, and the deletion is one");
        let deleted = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.deleted'").await;
        assert_eq!(deleted, 1);
        let left = count(&portal, "SELECT COUNT(*) FROM grants g LEFT JOIN users u ON u.id = g.user_id WHERE u.id IS NULL").await;
        assert_eq!(left, 0);
        let list = call(&portal, "GET", "/offices", &main, None, None).await;
        assert_eq!(names(&list), ["Voorbeeld Advies"]);
    }

    /// O1: the insurer creates a head office; its main user gets the activation mail; a
    /// taken advisor number is 409.
    async fn the_insurer_creates_a_head_office(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let r = call(&portal, "POST", "/offices", &admin,
            Some(json!({"advisor_number": "24680", "name": "Advieshuis West", "email": "Info@West.nl",
                        "rights": ["DIP", "ORV"], "allow_sub_offices": true})), None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["kind"], "head_office");
        assert_eq!(r.body["number"], "24680");
        assert_eq!(r.body["rights"], json!(["DIP", "ORV"]));
        assert_eq!(r.body["allow_sub_offices"], true);
        let link = portal.activation_link("info@west.nl").await;
        assert!(link.contains("/idp/activate/"));
        let before = totals(&portal).await;
        let r = call(&portal, "POST", "/offices", &admin,
            Some(json!({"advisor_number": "12345", "name": "Dubbel", "email": "info@dubbel.nl", "rights": []})), None).await;
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.body["field"], "advisor_number");
        let r = call(&portal, "POST", "/offices", &admin,
            Some(json!({"advisor_number": "13579", "name": "Fout", "email": "info@fout.nl", "rights": ["XYZ"]})), None).await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(totals(&portal).await, before);
    }
}
