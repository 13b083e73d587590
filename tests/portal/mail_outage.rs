//! Issue 9, an SMTP outage of minutes, through the real binary on both databases: nothing
//! is lost, the mails go out once the server is back, in the order they were queued, each
//! exactly once, and the insurer admin sees the backlog meanwhile, through the admin API
//! (`GET /api/v1/outbox`) and in the block "E-mail" of the console's Zoeken page. Main
//! users and employees get no backlog.

use std::time::Duration;

use serde_json::Value;
use testkit::{SmtpSink, TestDatabase};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::admin_api::{ADMIN, EMPLOYEE, MAIN, call, demo, token_for};
use crate::support::{Browser, Portal};

/// The head offices added during the outage, in the order they are added.
const OFFICES: [(&str, &str, &str); 5] = [
    ("31001", "Storing Een Advies", "een@storingadvies.nl"),
    ("31002", "Storing Twee Advies", "twee@storingadvies.nl"),
    ("31003", "Storing Drie Advies", "drie@storingadvies.nl"),
    ("31004", "Storing Vier Advies", "vier@storingadvies.nl"),
    ("31005", "Storing Vijf Advies", "vijf@storingadvies.nl"),
];

/// How long the mail server stays away at least: long enough for several retries
/// (the back-off is 5, 10, 20, 40 s, then 60 s).
const OUTAGE: Duration = Duration::from_secs(30);

/// How long the mails may take once the server is back: the longest back-off (60 s) and
/// room for a slow, shared machine.
const ARRIVAL: Duration = Duration::from_secs(180);

async fn signed_in(portal: &Portal, login: &str, password: &str) -> Browser {
    let browser = Browser::new(&portal.base);
    let page = browser.get("/").await;
    let home = browser.sign_in(&page, login, password).await;
    assert!(home.body.contains("Welkom"), "{}", home.body);
    browser
}

async fn backlog(portal: &Portal, token: &str) -> Value {
    let answer = call(portal, "GET", "/outbox", token, None, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

/// The block "E-mail" of the console's Zoeken page.
async fn mail_block(browser: &Browser) -> String {
    let page = browser.get("/beheer/zoeken").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page
        .body
        .find("<h2 id=\"mail-backlog\">E-mail</h2>")
        .unwrap_or_else(|| panic!("no block E-mail: {}", page.body));
    let end = page.body[start..].find("</section>").unwrap() + start;
    page.body[start..end].to_owned()
}

async fn queued_at(portal: &Portal, email: &str) -> OffsetDateTime {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT created_at FROM outbox WHERE recipient LIKE $1"
    )
    .bind(format!("%{email}%"))
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

testkit::both_databases! {
    /// The mail server goes down. The first head office is added; its activation mail is
    /// tried and fails again and again (5, 10, 20 s apart) until its next try is 40 s away.
    /// Only then are four more added, a second apart: fresh mails that, sent on their own
    /// schedule, would overtake the first. The insurer admin sees five e-mails waiting since
    /// the first, with the server's error. The server comes back after at least 30 s, and
    /// the five activation mails arrive once each, in the order the offices were added;
    /// then nothing waits.
    async fn mails_wait_out_an_outage_and_arrive_in_order_once(db: &TestDatabase) {
        let (mut portal, password) = demo(db, false).await;
        // From here on, mail goes to a port with nothing behind it (server and CLI).
        let port = testkit::free_port();
        portal.smtp_url = format!("smtp://127.0.0.1:{port}");
        portal.start().await;
        let down_since = tokio::time::Instant::now();
        let admin = token_for(&portal, ADMIN, &password).await;
        let browser = signed_in(&portal, ADMIN, &password).await;
        assert!(mail_block(&browser).await.contains("Alle e-mails zijn verzonden."), "nothing waits yet");

        let add = |(number, name, email): (&str, &str, &str)| {
            let out = portal.cli(&["office", "add-head", "--number", number, "--name", name, "--email", email, "--rights", "DIP"]);
            assert!(out.status.success(), "a change is stored while mail cannot go out: {}", String::from_utf8_lossy(&out.stderr));
        };
        add(OFFICES[0]);
        let first = queued_at(&portal, OFFICES[0].2).await;

        // The server stays away for at least 30 s, and meanwhile the first mail is tried
        // four times, the last failure 40 s before the next try; nothing goes anywhere.
        let retried = tokio::time::Instant::now() + ARRIVAL;
        loop {
            let seen = backlog(&portal, &admin).await;
            assert_eq!(seen["waiting"], 1, "nothing is lost or sent during the outage: {seen}");
            if seen["attempts"].as_i64().unwrap() >= 4 && down_since.elapsed() >= OUTAGE {
                break;
            }
            assert!(tokio::time::Instant::now() < retried, "the first mail is not retried: {seen}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        for office in &OFFICES[1..] {
            tokio::time::sleep(Duration::from_secs(1)).await;
            add(*office);
        }
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").await, 5, "each office queued its activation mail");

        // The backlog, through the API: five waiting since the first, with the error.
        let seen = backlog(&portal, &admin).await;
        assert_eq!(seen["waiting"], 5, "{seen}");
        assert!(seen["attempts"].as_i64().unwrap() >= 4, "the first mail was tried again and again: {seen}");
        let error = seen["last_error"].as_str().unwrap_or_default().to_owned();
        assert!(!error.is_empty(), "the server's error is kept: {seen}");
        let oldest = OffsetDateTime::parse(seen["oldest_queued_at"].as_str().unwrap(), &Rfc3339).unwrap();
        assert_eq!(oldest, first, "the oldest is the first office's mail");
        assert!(seen["next_attempt_at"].is_string(), "{seen}");
        assert_eq!(seen["given_up"], 0);
        assert_eq!(seen["deliveries_waiting"], 0);

        // The same on the console, in Dutch, times as the audit log shows them.
        let since = first
            .format(time::macros::format_description!("[day]-[month]-[year] [hour]:[minute]:[second]"))
            .unwrap();
        let block = mail_block(&browser).await;
        assert!(block.contains(&format!("Er wachten 5 e-mails op verzending, de oudste sinds {since} UTC.")), "{block}");
        assert!(block.contains("Laatste fout: ") && block.contains("Volgende poging: "), "{block}");
        assert!(!block.contains("Alle e-mails zijn verzonden."), "{block}");

        // The server is back: every mail arrives, once, in order.
        let sink = SmtpSink::start_on(port);
        let deadline = tokio::time::Instant::now() + ARRIVAL;
        // A fresh token: access tokens live five minutes, longer than the wait.
        let admin = token_for(&portal, ADMIN, &password).await;
        while backlog(&portal, &admin).await["waiting"] != 0 {
            assert!(tokio::time::Instant::now() < deadline, "the mails did not go out: {} arrived", sink.messages().len());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Every row is marked sent, so no mail can go out again: the inbox is final.
        let recipients: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.to).collect();
        let expected: Vec<Vec<String>> = OFFICES.iter().map(|o| vec![o.2.to_owned()]).collect();
        assert_eq!(recipients, expected, "each activation mail once, in the order the offices were added");
        for mail in sink.messages() {
            assert!(mail.data.contains("Activeer uw account"), "{}", mail.data);
        }

        // Nothing waits any more, through the API and on the console.
        let seen = backlog(&portal, &admin).await;
        assert_eq!(seen["waiting"], 0, "{seen}");
        assert!(seen["oldest_queued_at"].is_null() && seen["last_error"].is_null(), "{seen}");
        assert_eq!(seen["given_up"], 0, "{seen}");
        let block = mail_block(&browser).await;
        assert!(block.contains("Alle e-mails zijn verzonden."), "{block}");
        assert!(!block.contains("Er wachten"), "{block}");
    }

    /// The backlog is the insurer's: a main user and an employee get 403 (the main user's
    /// refusal is audited, AC-01), a call without a token 401; the insurer admin reads an
    /// empty outbox.
    async fn only_an_insurer_admin_reads_the_backlog(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let denied = count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.denied'").await;
        let main = token_for(&portal, MAIN, &password).await;
        let answer = call(&portal, "GET", "/outbox", &main, None, None).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(answer.detail(), "Alleen beheerders van de verzekeraar kunnen de wachtrij van e-mails inzien.");
        assert!(answer.body.get("waiting").is_none(), "{}", answer.body);
        assert_eq!(count(&portal, "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.denied'").await, denied + 1, "the refusal is audited");

        let employee = token_for(&portal, EMPLOYEE, &password).await;
        let answer = call(&portal, "GET", "/outbox", &employee, None, None).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert!(answer.body.get("waiting").is_none(), "{}", answer.body);

        let anonymous = reqwest::get(format!("{}/api/v1/outbox", portal.base)).await.unwrap();
        assert_eq!(anonymous.status(), 401);

        let admin = token_for(&portal, ADMIN, &password).await;
        let seen = backlog(&portal, &admin).await;
        assert_eq!(seen["waiting"], 0, "the demo queues no mail: {seen}");
        assert_eq!(seen["given_up"], 0, "{seen}");
    }
}
