//! Bulk import of head offices (issue 6, SPEC O1): through the admin API and the console's
//! Importeren page, on both databases, with the demo portal (head offices 12345 and 67890
//! exist). A good file becomes a job that creates every office with its main user and
//! activation mail; a file with one bad row is refused whole and changes nothing; only
//! insurer admins may import; a job left behind by a dead node is finished by another.
//! Issue 10: the console shows a preview (new, changed with old → new, unchanged) that
//! "Importeren" applies as shown, refuses when the database changed meanwhile, and
//! "Annuleren" forgets.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;
use testkit::TestDatabase;

use crate::admin_api::{ADMIN, EMPLOYEE, MAIN, demo, token_for};
use crate::support::{Browser, Page, Portal, attribute};

const GOOD: &str = "advisor_number;name;email;rights;allow_sub_offices\n\
    70001;Advies Een;een@import.nl;DIP DIL;ja\n\
    70002;Advies Twee;Twee@Import.nl;ORV;nee\n\
    70003;=Advies Drie;drie@import.nl;DIP;\n";

async fn count(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Offices, users, queued mails, import jobs: what a refusal must leave alone.
async fn totals(portal: &Portal) -> (i64, i64, i64, i64) {
    (
        count(portal, "SELECT COUNT(*) FROM offices").await,
        count(portal, "SELECT COUNT(*) FROM users").await,
        count(portal, "SELECT COUNT(*) FROM outbox").await,
        count(portal, "SELECT COUNT(*) FROM import_jobs").await,
    )
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.unwrap();
    Answer {
        status: res.status().as_u16(),
        headers: res.headers().clone(),
        text: res.text().await.unwrap(),
    }
}

async fn upload(portal: &Portal, token: &str, csv: impl Into<reqwest::Body>) -> Answer {
    send(
        reqwest::Client::new()
            .post(format!("{}/api/v1/imports", portal.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await
}

async fn get(portal: &Portal, token: &str, path: &str) -> Answer {
    send(
        reqwest::Client::new()
            .get(format!("{}{path}", portal.base))
            .bearer_auth(token),
    )
    .await
}

/// Announces a CSV one byte over the import limit with `Expect: 100-continue` and
/// returns the raw answer, without sending the body.
async fn declare_large_upload(portal: &Portal, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = portal.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/imports HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\
         Connection: close\r\n\r\n",
        web_kit::limits::IMPORT_LIMIT + 1
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Polls the import until it is done.
async fn finished(portal: &Portal, token: &str, location: &str) -> Value {
    for _ in 0..400 {
        let job = get(portal, token, location).await;
        assert_eq!(job.status, 200, "{}", job.text);
        let body = job.json();
        if body["state"] == "done" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = get(portal, token, location).await;
    panic!("the import did not finish: {}", last.text);
}

fn reasons(answer: &Answer) -> Vec<(u64, String)> {
    answer.json()["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.text))
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn signed_in(portal: &Portal, login: &str, password: &str) -> (Browser, Page) {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    (browser, home)
}

/// Posts a file as the Importeren form does (multipart/form-data, field `bestand`).
async fn post_file(browser: &Browser, portal: &Portal, csv: &str) -> reqwest::Response {
    let boundary = "----importgrens7MA4YWxkTrZu0gW";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"bestand\"; filename=\"register.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    browser
        .http
        .post(format!("{}/beheer/import", portal.base))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

testkit::both_databases! {
    /// O1 in bulk: 202 with Location, the job runs in the background to done; three head
    /// offices with their main users (office e-mail as login) exist, three activation
    /// mails arrive, each creation is audited with the admin as actor, and the report
    /// lists every row (a formula-like name neutralised, IO-05).
    async fn an_insurer_admin_imports_head_offices(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let (offices, users, _, _) = totals(&portal).await;

        let started = upload(&portal, &admin, GOOD).await;
        assert_eq!(started.status, 202, "{}", started.text);
        let location = started.headers["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/api/v1/imports/"), "{location}");
        assert_eq!(started.json()["total"], 3);

        let job = finished(&portal, &admin, &location).await;
        assert_eq!((job["total"].as_i64(), job["done"].as_i64(), job["created"].as_i64(), job["refused"].as_i64()),
            (Some(3), Some(3), Some(3), Some(0)), "{job}");
        let rows = job["rows"].as_array().unwrap();
        assert_eq!(rows.iter().map(|r| r["line"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(rows.iter().all(|r| r["result"] == "created" && r["office_id"].is_string()), "{job}");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices").await, offices + 3);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM users").await, users + 3);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM users u JOIN offices o ON o.id = u.office_id
            WHERE u.role = 'main_user' AND u.email = o.email AND o.advisor_number IN ('70001', '70002', '70003')").await, 3);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE advisor_number = '70001'
            AND rights = 'DIP,DIL' AND allow_sub_offices = TRUE").await, 1);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log a JOIN users u ON u.id = a.actor_id
            WHERE a.action = 'office.created' AND u.role = 'insurer_admin'").await, 3);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action IN ('import.started', 'import.finished')").await, 2);
        for to in ["een@import.nl", "twee@import.nl", "drie@import.nl"] {
            let link = portal.activation_link(to).await;
            assert!(link.contains("/idp/activate/"), "{link}");
        }

        let report = get(&portal, &admin, &format!("{location}/report.csv")).await;
        assert_eq!(report.status, 200);
        assert!(report.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        let lines: Vec<&str> = report.text.lines().collect();
        assert_eq!(lines[0], "regel,adviseursnummer,naam,e-mailadres,resultaat");
        assert_eq!(lines[1], "2,70001,Advies Een,een@import.nl,Aangemaakt");
        assert_eq!(lines[2], "3,70002,Advies Twee,twee@import.nl,Aangemaakt");
        assert_eq!(lines[3], "4,70003,'=Advies Drie,drie@import.nl,Aangemaakt");
        assert_eq!(lines.len(), 4);
    }

    /// All or nothing: a file with bad rows gets 422 naming every line and its Dutch
    /// reason, within the file and against the database (O1 advisor number, U3 e-mail),
    /// and nothing at all is stored.
    async fn a_file_with_bad_rows_is_refused_whole(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let before = totals(&portal).await;

        let bad_email = upload(&portal, &admin, "advisor_number,name,email,rights\n\
            70001,Advies Een,een@import.nl,DIP\n\
            70002,Advies Twee,geen-adres,DIP\n\
            70003,Advies Drie,drie@import.nl,DIP\n").await;
        assert_eq!(bad_email.status, 422, "{}", bad_email.text);
        assert_eq!(bad_email.headers["content-type"], "application/problem+json");
        assert!(bad_email.json()["detail"].as_str().unwrap().contains("niets geïmporteerd"));
        assert_eq!(reasons(&bad_email), [(3, "Vul een geldig e-mailadres in.".to_owned())]);
        assert_eq!(totals(&portal).await, before);

        // U3: an e-mail the database holds (another case) for a new office; one advisor
        // number repeated within the file. An advisor number the database holds (12345)
        // is an update of its office (issue 10), not a refusal.
        let taken = upload(&portal, &admin, "advisor_number,name,email,rights\n\
            12345,Advies Een,een@import.nl,DIP\n\
            70002,Advies Twee,ILSE@voorbeeldadvies.nl,DIP\n\
            70003,Advies Drie,drie@import.nl,DIP\n\
            70003,Advies Vier,vier@import.nl,DIP\n\
            70005,Advies Vijf,vijf@import.nl,XYZ\n").await;
        assert_eq!(taken.status, 422, "{}", taken.text);
        assert_eq!(reasons(&taken), [
            (3, "Dit e-mailadres is al in gebruik".to_owned()),
            (5, "Dit adviseursnummer staat ook al op regel 4 van het bestand.".to_owned()),
            (6, "Dit recht bestaat niet. (XYZ)".to_owned()),
        ]);
        let no_column = upload(&portal, &admin, "advisor_number,name,rights\n70001,Een,DIP\n").await;
        assert_eq!(no_column.status, 422);
        assert_eq!(reasons(&no_column)[0].0, 1);
        assert!(reasons(&no_column)[0].1.contains("'email'"), "{}", no_column.text);
        assert_eq!(totals(&portal).await, before);
    }

    /// O1, AC-05: only insurer admins import; a main user and an employee get 403 and
    /// nothing changes (the main user's attempt is audited); a body over 5 MiB gets 413,
    /// a body that is not CSV 415.
    async fn only_insurer_admins_import_within_the_limit(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let main = token_for(&portal, MAIN, &password).await;
        let employee = token_for(&portal, EMPLOYEE, &password).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let before = totals(&portal).await;
        let denied = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.denied'").await;

        let by_main = upload(&portal, &main, GOOD).await;
        assert_eq!(by_main.status, 403, "{}", by_main.text);
        assert!(by_main.json()["detail"].as_str().unwrap().contains("verzekeraar"));
        let by_employee = upload(&portal, &employee, GOOD).await;
        assert_eq!(by_employee.status, 403, "{}", by_employee.text);
        assert_eq!(totals(&portal).await, before);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.denied'").await, denied + 1);

        // Over the import's own limit (and far over the portal's general 64 KiB): refused on
        // the declared length, before the body is asked for. The client waits for "100
        // Continue" as curl does for large files (a client that sends 5 MiB regardless may
        // see its connection closed under it before it reads the 413).
        let too_large = declare_large_upload(&portal, &admin).await;
        assert!(too_large.starts_with("HTTP/1.1 413 "), "{too_large}");
        assert!(!too_large.contains("100 Continue"), "{too_large}");
        assert!(too_large.to_ascii_lowercase().contains("content-type: application/problem+json"), "{too_large}");
        // Above the general limit but within the import's: read and checked (422, a
        // repeated advisor number), not refused for its size.
        let mut medium = String::from("advisor_number,name,email,rights\n");
        while medium.len() <= 100 * 1024 {
            medium.push_str("70001,Advies Een,een@import.nl,DIP\n");
        }
        assert_eq!(upload(&portal, &admin, medium).await.status, 422);
        let json = send(reqwest::Client::new().post(format!("{}/api/v1/imports", portal.base))
            .bearer_auth(&admin).header("content-type", "application/json").body("{}")).await;
        assert_eq!(json.status, 415, "{}", json.text);
        assert_eq!(totals(&portal).await, before);

        // A main user cannot read an import either; an unknown id is 404.
        let started = upload(&portal, &admin, GOOD).await;
        let location = started.headers["location"].to_str().unwrap().to_owned();
        assert_eq!(get(&portal, &main, &location).await.status, 403);
        assert_eq!(get(&portal, &main, &format!("{location}/report.csv")).await.status, 403);
        let unknown = format!("/api/v1/imports/{}", uuid::Uuid::now_v7());
        assert_eq!(get(&portal, &admin, &unknown).await.status, 404);
        finished(&portal, &admin, &location).await;
    }

    /// The console: Importeren in the menu for insurer admins only; the form explains the
    /// columns; a file with an error shows each line's reason and that nothing was
    /// imported; a good file leads to the status page, which shows the progress until done
    /// and then "Rapport downloaden", a CSV attachment.
    async fn an_insurer_admin_imports_in_the_console(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (main, main_home) = signed_in(&portal, MAIN, &password).await;
        assert!(!main_home.body.contains("/beheer/import"), "no menu link for a main user");
        assert_eq!(main.get("/beheer/import").await.status, 403);

        let (browser, home) = signed_in(&portal, ADMIN, &password).await;
        assert!(home.body.contains("<a href=\"/beheer/import\">Importeren</a>"), "{}", home.body);
        let form = browser.get("/beheer/import").await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("enctype=\"multipart/form-data\""));
        assert!(form.body.contains("<label for=\"bestand\">CSV-bestand</label>"), "{}", form.body);
        for column in ["advisor_number", "name", "email", "rights", "allow_sub_offices"] {
            assert!(form.body.contains(&format!("<code>{column}</code>")), "{column}");
        }

        let before = totals(&portal).await;
        let refused = post_file(&browser, &portal, "advisor_number,name,email,rights\n\
            70001,Advies Een,een@import.nl,DIP\n70002,Advies Twee,geen-adres,DIP\n").await;
        assert_eq!(refused.status(), 422);
        let body = refused.text().await.unwrap();
        assert!(body.contains("Er is niets geïmporteerd"), "{body}");
        assert!(body.contains("<td>3</td><td>Vul een geldig e-mailadres in.</td>"), "{body}");
        assert_eq!(totals(&portal).await, before);

        // Issue 10: the upload is a preview; nothing changes until "Importeren".
        let file = format!("{GOOD}12345;Voorbeeld Advies Groep;info@voorbeeldadvies.nl;DIP DIL ORV;ja\n\
            67890;Pensioenhuis Noord;info@pensioenhuisnoord.nl;DIL;nee\n");
        let started = post_file(&browser, &portal, &file).await;
        assert_eq!(started.status(), 303, "{}", started.text().await.unwrap());
        let status_url = started.headers()["location"].to_str().unwrap().to_owned();
        assert!(status_url.starts_with("/beheer/import/"), "{status_url}");
        let preview = browser.get(&status_url).await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        assert!(preview.body.contains("Controle van het bestand"), "{}", preview.body);
        assert!(preview.body.contains("3 nieuw, 1 gewijzigd, 1 ongewijzigd"), "{}", preview.body);
        assert!(preview.body.contains("<td>2</td><td>70001</td><td>Advies Een</td><td>Nieuw hoofdkantoor"), "{}", preview.body);
        assert!(preview.body.contains("<td>5</td><td>12345</td><td>Voorbeeld Advies Groep</td><td>Gewijzigd<ul><li>naam: Voorbeeld Advies → Voorbeeld Advies Groep</li></ul>"), "{}", preview.body);
        assert!(preview.body.contains("<td>6</td><td>67890</td><td>Pensioenhuis Noord</td><td>Ongewijzigd"), "{}", preview.body);
        assert_eq!(totals(&portal).await.0, before.0, "a preview creates nothing");
        assert_eq!(totals(&portal).await.2, before.2, "a preview sends nothing");
        let fingerprint = attribute(&preview.body, "name=\"fingerprint\"", "value").unwrap();
        let confirm = format!("{status_url}/importeren");
        assert!(preview.body.contains(&format!("<form method=\"post\" action=\"{confirm}\">")), "{}", preview.body);
        let mut page = browser.post(&confirm, &[("fingerprint", &fingerprint)]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        for _ in 0..200 {
            if page.body.contains("Rapport downloaden") {
                break;
            }
            assert!(page.body.contains("<meta http-equiv=\"refresh\" content=\"1\">"), "{}", page.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
            page = browser.get(&status_url).await;
        }
        assert!(page.body.contains("Import klaar"), "{}", page.body);
        assert!(page.body.contains("<progress id=\"voortgang\" value=\"5\" max=\"5\">"), "{}", page.body);
        assert!(page.body.contains("5 van 5 verwerkt"), "{}", page.body);
        assert!(page.body.contains("3 kantoren aangemaakt, 0 niet aangemaakt"), "{}", page.body);
        assert!(page.body.contains("1 kantoren gewijzigd, 1 ongewijzigd"), "{}", page.body);
        // Confirmed once: the same confirmation again finds no preview.
        assert_eq!(browser.post(&confirm, &[("fingerprint", &fingerprint)]).await.status, 404);
        assert!(!page.body.contains("http-equiv=\"refresh\""), "a finished import stops refreshing");

        let download = format!("{status_url}/rapport.csv");
        assert!(page.body.contains(&format!("<a class=\"button\" href=\"{download}\" download>Rapport downloaden</a>")), "{}", page.body);
        let res = browser.http.get(format!("{}{download}", portal.base)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let id = status_url.rsplit('/').next().unwrap();
        assert_eq!(res.headers()["content-disposition"], format!("attachment; filename=\"importrapport-{id}.csv\"").as_str());
        let csv = res.text().await.unwrap();
        assert!(csv.starts_with("regel,adviseursnummer,naam,e-mailadres,resultaat\n"), "{csv}");
        assert!(csv.contains("2,70001,Advies Een,een@import.nl,Aangemaakt"), "{csv}");
        assert!(csv.contains("5,12345,Voorbeeld Advies Groep,info@voorbeeldadvies.nl,Gewijzigd: naam: Voorbeeld Advies → Voorbeeld Advies Groep\n"), "{csv}");
        assert!(csv.contains("6,67890,Pensioenhuis Noord,info@pensioenhuisnoord.nl,Ongewijzigd\n"), "{csv}");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE advisor_number LIKE '7000%'").await, 3);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE name = 'Voorbeeld Advies Groep'").await, 1);

        // A preview whose office changes before "Importeren": refused and told, nothing
        // applied; then "Annuleren" forgets it.
        let again = post_file(&browser, &portal, "advisor_number,name,email,rights\n\
            67890,Pensioenhuis Noord B.V.,info@pensioenhuisnoord.nl,DIL\n").await;
        assert_eq!(again.status(), 303);
        let url = again.headers()["location"].to_str().unwrap().to_owned();
        let preview = browser.get(&url).await;
        assert!(preview.body.contains("0 nieuw, 1 gewijzigd, 0 ongewijzigd"), "{}", preview.body);
        let fingerprint = attribute(&preview.body, "name=\"fingerprint\"", "value").unwrap();
        let store = portal.db().await;
        idp::with_db!(&store, |pool| sqlx::query("UPDATE offices SET phone = '050 999', version = version + 1 WHERE number = '67890'")
            .execute(pool).await.unwrap().rows_affected());
        let refused = browser.post(&format!("{url}/importeren"), &[("fingerprint", &fingerprint)]).await;
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(refused.body.contains("Sinds de controle zijn er kantoren gewijzigd"), "{}", refused.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE name = 'Pensioenhuis Noord B.V.'").await, 0);
        let cancelled = browser.post(&format!("{url}/annuleren"), &[]).await;
        assert_eq!(cancelled.status, 200, "{}", cancelled.body);
        assert!(cancelled.body.contains("De import is geannuleerd"), "{}", cancelled.body);
        assert_eq!(browser.get(&url).await.status, 404);
    }

    /// A job whose node died mid-import (left `running`, its lease run out) is finished by
    /// the node asked about it: the rows not yet applied are created, none twice. While
    /// another worker still holds the lease, the page shows it running and refreshing.
    async fn an_import_left_by_a_dead_node_is_finished(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let admin = token_for(&portal, ADMIN, &password).await;
        let id = uuid::Uuid::now_v7();
        let now = idp::store::at(time::OffsetDateTime::now_utc());
        let store = portal.db().await;
        idp::with_db!(&store, |pool| {
            sqlx::query("INSERT INTO import_jobs (id, actor_id, ip, state, total, done, lease_until, created_at, updated_at)
                         VALUES ($1, (SELECT id FROM users WHERE email = $2), NULL, 'running', 2, 0, $3, $4, $4)")
                .bind(id).bind(ADMIN).bind(now + time::Duration::hours(1)).bind(now)
                .execute(pool).await.unwrap();
            for (position, number, email) in [(0_i64, "70101", "oud1@import.nl"), (1, "70102", "oud2@import.nl")] {
                sqlx::query("INSERT INTO import_rows (job_id, position, line, advisor_number, name, email, rights, allow_sub_offices)
                             VALUES ($1, $2, $3, $4, 'Achtergebleven', $5, 'DIP', FALSE)")
                    .bind(id).bind(position).bind(position + 2).bind(number).bind(email)
                    .execute(pool).await.unwrap();
            }
        });
        let (browser, _) = signed_in(&portal, ADMIN, &password).await;
        let page = browser.get(&format!("/beheer/import/{id}")).await;
        assert!(page.body.contains("<meta http-equiv=\"refresh\" content=\"1\">"), "{}", page.body);
        assert!(page.body.contains("<progress id=\"voortgang\" value=\"0\" max=\"2\">"), "{}", page.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE advisor_number LIKE '701%'").await, 0);

        // The worker's node died: its lease runs out.
        idp::with_db!(&store, |pool| sqlx::query("UPDATE import_jobs SET lease_until = $1 WHERE id = $2")
            .bind(now - time::Duration::minutes(1)).bind(id).execute(pool).await.unwrap().rows_affected());
        let job = finished(&portal, &admin, &format!("/api/v1/imports/{id}")).await;
        assert_eq!(job["created"], 2, "{job}");
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM offices WHERE advisor_number LIKE '701%'").await, 2);
        portal.activation_link("oud2@import.nl").await;
    }
}
