//! Start-up and operations: the one-time set-up link, the demo data, mail while the SMTP
//! server is down, and key rotation.

use std::time::Duration;

use serde_json::Value;
use testkit::{SmtpSink, TestDatabase};

use crate::support::{Browser, Portal};

const PASSWORD: &str = "blauwe tulpen in de lente";

fn printed_link(output: &str, marker: &str) -> Option<String> {
    output
        .split_whitespace()
        .find(|w| w.contains(marker))
        .map(str::to_owned)
}

async fn wait_for_output(portal: &Portal, needle: &str) -> String {
    for _ in 0..100 {
        let out = portal.output();
        if out.contains(needle) {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve never printed {needle:?}: {}", portal.output());
}

testkit::both_databases! {
    /// AU-06: no default accounts; an empty portal prints a one-time link for the first
    /// insurer admin, which works once and is not offered again.
    async fn the_setup_link_creates_the_first_insurer_admin_once(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = wait_for_output(&portal, "listens on").await;
        let link = printed_link(&out, "/idp/setup/").expect("a set-up link on an empty database");
        let browser = Browser::new(&portal.base);
        let form = browser.get(&link).await;
        assert_eq!(form.status, 200);
        assert!(form.body.contains("Eerste beheerder aanmaken"));
        let fields = [("name", "Salesdesk Leven"), ("email", "salesdesk@verzekeraar.nl"), ("password", PASSWORD), ("password_repeat", PASSWORD)];
        let done = browser.post(&link, &fields).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let again = browser.post(&link, &fields).await;
        assert_eq!(again.status, 410);

        portal.start().await;
        let out = wait_for_output(&portal, "listens on").await;
        assert!(printed_link(&out, "/idp/setup/").is_none(), "no set-up link once an insurer admin exists");
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, "salesdesk@verzekeraar.nl", PASSWORD).await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("Welkom, Salesdesk Leven"), "{}", home.body);
    }

    /// `serve --demo` seeds offices and users and prints working logins; O4 shows: the
    /// sub-office's users never get ORV.
    async fn demo_data_signs_in_and_sub_offices_have_no_orv(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start_with(&["--demo"]).await;
        let out = wait_for_output(&portal, "listens on").await;
        let password = out
            .lines()
            .find_map(|l| l.split("the password: ").nth(1))
            .expect("the demo password is printed")
            .trim()
            .to_owned();
        assert!(out.contains("zuid@onderbemiddeling.nl"));

        let browser = Browser::new(&portal.base);
        let login = browser.get("/").await;
        let home = browser.sign_in(&login, "zuid@onderbemiddeling.nl", &password).await;
        assert_eq!(home.status, 200, "{}", home.body);
        assert!(home.body.contains("Direct Ingaand Pensioen"));
        assert!(home.body.contains("Direct Ingaande Lijfrente"));
        assert!(!home.body.contains("Overlijdensrisicoverzekering"));
        assert_eq!(browser.get("/orv").await.status, 403);
        let dip = browser.get("/dip").await;
        assert!(dip.body.contains("Onderbemiddeling Zuid"), "the sub-office's own name: {}", dip.body);

        // Seeding again keeps the data and gives a new password.
        portal.start_with(&["--demo"]).await;
        let out = wait_for_output(&portal, "listens on").await;
        let second = out.lines().find_map(|l| l.split("the password: ").nth(1)).unwrap().trim().to_owned();
        let db = portal.db().await;
        let offices: i64 = idp::with_db!(&db, |pool| sqlx::query_scalar("SELECT COUNT(*) FROM offices").fetch_one(pool).await).unwrap();
        assert_eq!(offices, 3);
        let other = Browser::new(&portal.base);
        let login = other.get("/").await;
        let home = other.sign_in(&login, "67890", &second).await;
        assert!(home.body.contains("Direct Ingaande Lijfrente"), "{}", home.body);
        assert!(!home.body.contains("Direct Ingaand Pensioen"));
    }

    /// The outbox: with the SMTP server down the activation mail waits; once the server is
    /// up it arrives, once.
    async fn mail_waits_while_smtp_is_down_and_arrives_once(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        let port = testkit::free_port();
        portal.smtp_url = format!("smtp://127.0.0.1:{port}");
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP"]);
        assert!(out.status.success(), "a change is stored even while mail cannot go out");
        let db = portal.db().await;
        let (attempts, sent): (i32, Option<time::OffsetDateTime>) = idp::with_db!(&db, |pool| sqlx::query_as(
            "SELECT attempts, sent_at FROM outbox"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert!(attempts >= 1, "the CLI tried once and failed");
        assert_eq!(sent, None);

        let sink = SmtpSink::start_on(port);
        let mail = sink
            .wait_for(|m| m.to.iter().any(|t| t == "info@voorbeeld.nl"), Duration::from_secs(60))
            .await
            .expect("the mail arrives once SMTP is back");
        assert!(mail.data.contains("Activeer uw account"));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(sink.messages().len(), 1, "delivered once");
        let (sent, payload): (Option<time::OffsetDateTime>, Option<Vec<u8>>) = idp::with_db!(&db, |pool| sqlx::query_as(
            "SELECT sent_at, payload FROM outbox"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert!(sent.is_some());
        assert_eq!(payload, None, "the sealed content is erased once delivered");
    }
}

/// `keys rotate`: the new key is published next to the old one, and signing in still works.
#[tokio::test]
async fn keys_rotate_publishes_a_new_key_beside_the_old() {
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let mut portal = Portal::new(&db);
    portal.start().await;
    let jwks = |base: String| async move {
        reqwest::get(format!("{base}/idp/jwks"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let before = jwks(portal.base.clone()).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    assert!(
        before["keys"][0].get("d").is_none(),
        "no private part is published"
    );
    let out = portal.cli(&["keys", "rotate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    portal.start().await;
    let after = jwks(portal.base.clone()).await;
    let kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&before["keys"][0]["kid"].as_str().unwrap()));
}
