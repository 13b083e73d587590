//! A product portal on its own (SPEC §1; issue 7): `portal serve --only DIP` in a second
//! process, against its own database, signing in at the all-in-one portal's idp, which
//! finds it through the registry's `url` and asks it O7 over its internal endpoint. On both
//! databases for the idp's side; the DIP process keeps its quotes in its own SQLite file.

use std::time::Duration;

use product_adapters::store::ProductDb;
use reqwest::StatusCode;
use testkit::TestDatabase;

use crate::admin_api::{CLIENT, MAIN, REDIRECT, SUB_EMPLOYEE, call, token_for, user_id};
use crate::support::{Browser, Portal, unescape};

const SECRET: &str = "een-lang-geheim-van-de-dip-portal-1234567890";

/// Follows redirects across both processes (the support browser stops at the portal's own
/// address); returns the status, final URL and body.
async fn go(
    browser: &Browser,
    method: &str,
    url: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut res = if method == "POST" {
        browser.http.post(url).form(form).send().await.unwrap()
    } else {
        browser.http.get(url).send().await.unwrap()
    };
    for _ in 0..15 {
        if !res.status().is_redirection() {
            break;
        }
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let next = res.url().join(&location).unwrap();
        res = browser.http.get(next).send().await.unwrap();
    }
    let status = res.status();
    let url = res.url().to_string();
    (status, url, res.text().await.unwrap())
}

async fn quotes_in(url: &str) -> i64 {
    let db = ProductDb::connect(url).await.unwrap();
    let n = match &db {
        ProductDb::Sqlite(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM quotes WHERE product = 'DIP'")
                .fetch_one(p)
                .await
                .unwrap()
        }
        ProductDb::Postgres(p) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM quotes WHERE product = 'DIP'")
                .fetch_one(p)
                .await
                .unwrap()
        }
    };
    db.close().await;
    n
}

testkit::both_databases! {
    async fn a_product_portal_runs_on_its_own(db: &TestDatabase) {
        // The DIP process: its own address, data directory, SMTP sink and database.
        let mut dip = Portal::new(db);
        let dip_db = format!("sqlite://{}/dip.db", dip.data_dir.display());
        dip.db_url = dip_db.clone();

        // The all-in-one portal, whose registry says DIP runs at the DIP process.
        let mut portal = Portal::new(db);
        let shipped = include_str!("../../config/products.toml");
        let registry = shipped.replacen(
            "client_id = \"dip\"",
            &format!("client_id = \"dip\"\nurl = \"{}/dip\"", dip.base),
            1,
        );
        assert_ne!(registry, shipped);
        let file = portal.data_dir.join("products.toml");
        std::fs::write(&file, &registry).unwrap();
        portal.set_env("PORTAL_PRODUCTS_FILE", file.to_str().unwrap());
        portal.set_env("PORTAL_ADMIN_CLIENTS", &format!("offerteportaal,{CLIENT}"));
        portal.start_with(&["--demo"]).await;
        let out = portal.cli(&[
            "client", "add", "--id", CLIENT, "--secret", crate::admin_api::SECRET, "--redirect-uri", REDIRECT,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut password = None;
        for _ in 0..100 {
            password = portal.output().lines().find_map(|l| l.split("the password: ").nth(1)).map(|p| p.trim().to_owned());
            if password.is_some() { break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let password = password.expect("the demo password is printed");
        assert!(!portal.output().contains("DIP-"), "no DIP demo quotes where DIP does not run");
        let out = portal.cli(&[
            "client", "add", "--id", "dip", "--secret", SECRET, "--name", "Direct Ingaand Pensioen",
            "--redirect-uri", &format!("{}/dip/auth/callback", dip.base),
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--post-logout-redirect-uri", &format!("{}/", portal.base),
            "--backchannel-logout-uri", &format!("{}/dip/auth/backchannel-logout", dip.base),
            "--events-uri", &format!("{}/dip/auth/events", dip.base),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        dip.set_env("PORTAL_PRODUCTS_FILE", file.to_str().unwrap());
        dip.set_env("PORTAL_ISSUER", &format!("{}/idp", portal.base));
        dip.set_env("PORTAL_CLIENT_SECRET", SECRET);
        dip.start_with(&["--only", "DIP"]).await;
        assert!(dip.output().contains("Direct Ingaand Pensioen listens on"), "{}", dip.output());

        // Tim signs in once, at the portal, and the shell links to DIP where it runs.
        let tim = crate::products::signed_in(&portal, SUB_EMPLOYEE, &password).await;
        let home = tim.get("/").await;
        assert!(unescape(&home.body).contains(&format!("{}/dip", dip.base)), "{}", home.body);
        assert_eq!(tim.get("/dip/").await.status, StatusCode::NOT_FOUND, "not served here");

        let (status, url, body) = go(&tim, "GET", &format!("{}/dip/offertes/nieuw", dip.base), &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        assert!(body.contains("Koopsom (pensioenkapitaal)"), "{body}");
        let start = (time::OffsetDateTime::now_utc().date() + time::Duration::days(30)).to_string();
        let (status, url, body) = go(&tim, "POST", &format!("{}/dip/offertes/nieuw", dip.base), &[
            ("kind", "zeker"), ("client_name", "Klant Elders"), ("purchase_sum", "120.000"),
            ("birth_date", "1961-02-03"), ("start_date", &start), ("frequency", "monthly"),
            ("partner_percent", "0"),
        ]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(url.starts_with(&format!("{}/dip/offertes/", dip.base)), "{url}");
        assert!(body.contains("Onderbemiddeling Zuid (Z01)"), "P2 from the idp's me/office: {body}");

        // The quote is in the DIP process's own database, not the portal's.
        assert_eq!(quotes_in(&dip_db).await, 1);
        assert_eq!(quotes_in(&portal.db_url).await, 0);
        // Its mail went through the DIP process's own SMTP setting.
        let mail = dip
            .smtp
            .wait_for(|m| m.data.contains("Subject: Offerte DIP-"), Duration::from_secs(20))
            .await
            .expect("the quote mail");
        assert!(mail.to.contains(&"info@voorbeeldadvies.nl".to_owned()), "P3: {:?}", mail.to);

        // Issue 10: a right taken at the idp reaches the DIP process's live session as a
        // rights event: the next request is refused at once, with no trip to the idp.
        let token = token_for(&portal, MAIN, &password).await;
        let path = format!("/users/{}", user_id(&portal, SUB_EMPLOYEE).await);
        let etag = call(&portal, "GET", &path, &token, None, None).await.header("etag").unwrap();
        let r = call(&portal, "PATCH", &path, &token, Some(serde_json::json!({"rights": []})), Some(&etag)).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let form = format!("{}/dip/offertes/nieuw", dip.base);
        let mut refused = false;
        for _ in 0..100 {
            if tim.http.get(&form).send().await.unwrap().status() == StatusCode::FORBIDDEN {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(refused, "the DIP process still serves Tim 10 s after his right was taken");

        // O7 over the internal endpoint: the idp asks the DIP process, which says yes.
        let offices = call(&portal, "GET", "/offices", &token, None, None).await;
        let zuid = offices.body["offices"].as_array().unwrap().iter()
            .find(|o| o["number"] == "Z01").unwrap()["id"].as_str().unwrap().to_owned();
        let etag = call(&portal, "GET", &format!("/offices/{zuid}"), &token, None, None).await.header("etag").unwrap();
        let refused = call(&portal, "DELETE", &format!("/offices/{zuid}"), &token, None, Some(&etag)).await;
        assert_eq!(refused.status, 409, "{:?}", refused.body);
        assert!(refused.detail().contains("DIP"), "the DIP process said yes: {}", refused.detail());

        // The endpoint answers only the idp's signed question.
        let http = reqwest::Client::new();
        let ask = format!("{}/dip/internal/quotes?office={zuid}", dip.base);
        assert_eq!(http.get(&ask).send().await.unwrap().status(), 401);
        assert_eq!(http.get(&ask).bearer_auth("eyJhbGciOiJub25lIn0.e30.").send().await.unwrap().status(), 401);
        assert_eq!(http.get(&ask).bearer_auth(&token).send().await.unwrap().status(), 401, "an access token is no O7 question");

        // With the DIP process down, the idp cannot know: the deletion is refused (fail closed).
        // (The demo's DIL quotes of Z01, kept here, are removed first so DIP's is the only
        // answer that matters.)
        dip.stop();
        let here = ProductDb::connect(&portal.db_url).await.unwrap();
        let zuid_id = uuid::Uuid::parse_str(&zuid).unwrap();
        match &here {
            ProductDb::Sqlite(p) => sqlx::query("DELETE FROM quotes WHERE office_id = $1").bind(zuid_id).execute(p).await.map(|_| ()).unwrap(),
            ProductDb::Postgres(p) => sqlx::query("DELETE FROM quotes WHERE office_id = $1").bind(zuid_id).execute(p).await.map(|_| ()).unwrap(),
        };
        here.close().await;
        let unknown = call(&portal, "DELETE", &format!("/offices/{zuid}"), &token, None, Some(&etag)).await;
        assert_eq!(unknown.status, 503, "{:?}", unknown.body);
        let still = call(&portal, "GET", &format!("/offices/{zuid}"), &token, None, None).await;
        assert_eq!(still.status, 200);
    }
}
