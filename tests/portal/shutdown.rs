//! Graceful shutdown (issue 9): on SIGTERM the portal stops taking connections, answers
//! the requests under way, lets its outbox workers finish the mail they are handing to the
//! SMTP server, and exits 0, on both databases.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use testkit::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::oidc::PASSWORD;
use crate::support::{Browser, Portal};

const SECRET: &str = "dienst-geheim-0123456789-abcdefghijklmnop";

/// Registers the client-credentials client `dienst`.
fn add_service_client(portal: &Portal) {
    let out = portal.cli(&[
        "client",
        "add",
        "--id",
        "dienst",
        "--secret",
        SECRET,
        "--grant-type",
        "client_credentials",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn address(portal: &Portal) -> String {
    portal.base.trim_start_matches("http://").to_owned()
}

testkit::both_databases! {
    async fn sigterm_lets_a_request_under_way_finish(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_service_client(&portal);

        // A token request whose headers have arrived but whose body has not.
        let body = "grant_type=client_credentials";
        let basic = STANDARD.encode(format!("dienst:{SECRET}"));
        let head = format!(
            "POST /idp/token HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            address(&portal),
            body.len()
        );
        let mut conn = tokio::net::TcpStream::connect(address(&portal)).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&body.as_bytes()[..5]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        portal.signal("TERM");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(portal.exited().is_none(), "the portal ended with a request under way");
        // It takes no new connection meanwhile.
        let refused = tokio::net::TcpStream::connect(address(&portal)).await;
        assert!(refused.is_err(), "a new connection was accepted after SIGTERM");

        conn.write_all(&body.as_bytes()[5..]).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer))
            .await
            .expect("the request under way was not answered")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(json["token_type"], "Bearer");
        assert!(json["access_token"].as_str().is_some_and(|t| t.split('.').count() == 3));

        let status = portal.wait_exit(Duration::from_secs(20)).await.expect("the portal did not stop");
        assert!(status.success(), "exit status {status}");
    }

    async fn sigterm_lets_the_outbox_worker_finish_the_mail_it_is_sending(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&[
            "office", "add-head", "--number", "24680", "--name", "Stop Advies",
            "--email", "info@stop.nl", "--rights", "DIL",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link("info@stop.nl").await;
        let browser = Browser::new(&portal.base);
        let done = browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);

        // From now on the SMTP server takes three seconds to accept a message; the server
        // process (not the CLI) queues a reset mail and its worker starts handing it over.
        portal.smtp.delay_replies(Duration::from_secs(3));
        let before = portal.smtp.started();
        browser.post(&format!("{}/idp/forgot", portal.base), &[("email", "info@stop.nl")]).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while portal.smtp.started() == before {
            assert!(tokio::time::Instant::now() < deadline, "no mail was sent");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        portal.signal("TERM");
        let status = portal.wait_exit(Duration::from_secs(40)).await.expect("the portal did not stop");
        assert!(status.success(), "exit status {status}");

        // The mail arrived once, and the outbox knows it went: nothing is left claimed, to
        // go out a second time after a restart.
        assert_eq!(portal.mails_to("info@stop.nl"), 2, "activation and reset");
        let db = portal.db().await;
        assert_eq!(idp::store::outbox::pending(&db).await.unwrap(), 0, "the mail was left unsent in the outbox");
    }
}
