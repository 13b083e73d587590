//! SPEC O6 for the product portals, on the real binary with the demo offices, on both
//! databases: when a user, or its whole sub-office, is deactivated, that user's session in a
//! product portal (its own relying party, its own cookie) ends within seconds, through the
//! idp's back-channel logout, and a quote posted with the old cookie stores nothing. The
//! head office's main user, who did the deactivating, keeps its own product session.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use testkit::TestDatabase;

use crate::admin_api::{MAIN, SUB_EMPLOYEE, call, demo, token_for, user_id};
use crate::products::signed_in;
use crate::support::{Browser, Page, Portal};

const DASHBOARD: &str = "/dip/dashboard";

/// The home page's link to the DIL portal (the template escapes `/`).
const DIL_LINK: &str = "href=\"&#x2f;dil\"";

/// A valid DIZP quote form (as `products::dip_form`), starting two months ahead.
fn dip_form(client: &str) -> Vec<(&'static str, String)> {
    let start = (time::OffsetDateTime::now_utc().date() + time::Duration::days(60)).to_string();
    vec![
        ("kind", "zeker".into()),
        ("client_name", client.into()),
        ("purchase_sum", "150.000".into()),
        ("birth_date", "1960-05-17".into()),
        ("start_date", start),
        ("frequency", "monthly".into()),
        ("partner_percent", "70".into()),
        ("partner_birth_date", "1962-08-01".into()),
        ("high_low_years", String::new()),
        ("indexation_percent", "0".into()),
    ]
}

async fn post_quote(browser: &Browser, client: &str) -> Page {
    let form = dip_form(client);
    let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post("/dip/offertes/nieuw", &borrowed).await
}

async fn quote_count(portal: &Portal) -> i64 {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM quotes"
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

/// Whether the DIP dashboard itself was shown (200 at its own URL, after any redirects).
fn is_dashboard(portal: &Portal, page: &Page) -> bool {
    page.status == StatusCode::OK && page.url == format!("{}{DASHBOARD}", portal.base)
}

/// Tim, signed in to the portal and to the DIP portal, with one quote made (so the form
/// used later is known to be a valid one); the head office's main user on its dashboard;
/// and the main user's admin-API token.
async fn tim_at_work(portal: &Portal, password: &str) -> (Browser, Browser, String) {
    let tim = signed_in(portal, SUB_EMPLOYEE, password).await;
    let page = tim.get(DASHBOARD).await;
    assert!(
        is_dashboard(portal, &page),
        "{} {} {}",
        page.status,
        page.url,
        page.body
    );
    let before = quote_count(portal).await;
    let made = post_quote(&tim, "Klant Voor").await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert!(
        made.url.contains("/dip/offertes/"),
        "a quote page: {}",
        made.url
    );
    assert_eq!(
        quote_count(portal).await,
        before + 1,
        "the form is a valid one"
    );

    let main = signed_in(portal, MAIN, password).await;
    let page = main.get(DASHBOARD).await;
    assert!(is_dashboard(portal, &page), "{} {}", page.status, page.url);
    let token = token_for(portal, MAIN, password).await;
    (tim, main, token)
}

/// Polls Tim's dashboard every 100 ms for at most 10 s until it is no longer shown; then
/// a valid quote posted with the same cookies stores nothing. The main user's product
/// session is untouched.
async fn tims_product_session_has_ended(portal: &Portal, tim: &Browser, main: &Browser) {
    let mut last = None;
    for _ in 0..100 {
        let page = tim.get(DASHBOARD).await;
        if !is_dashboard(portal, &page) {
            last = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(page) = last else {
        panic!("O6: the deactivated user still sees the DIP dashboard after 10 s");
    };
    // What the portal does: no session → to the idp, whose session ended too → sign in.
    assert!(
        page.body.contains("name=\"username\"") || page.status.is_client_error(),
        "sent to sign in, or refused: {} {} {}",
        page.status,
        page.url,
        page.body
    );
    assert!(
        !page.body.contains("Klant Voor"),
        "nothing of the dashboard: {}",
        page.body
    );

    let before = quote_count(portal).await;
    let refused = post_quote(tim, "Klant Na").await;
    assert!(
        !refused.url.contains("/dip/offertes/"),
        "no quote page after deactivation: {} {}",
        refused.url,
        refused.body
    );
    assert!(!refused.body.contains("Klant Na"), "{}", refused.body);
    assert_eq!(quote_count(portal).await, before, "O6: nothing stored");

    let page = main.get(DASHBOARD).await;
    assert!(
        is_dashboard(portal, &page),
        "the main user stays: {} {}",
        page.status,
        page.url
    );
}

/// Issue 10: the page came straight from the portal's live session, not through a sign-in
/// at the idp (which a back-channel logout would have forced).
fn assert_no_new_sign_in(page: &Page) {
    assert_eq!(
        page.hops.len(),
        1,
        "no redirect, no new sign-in: {:?}",
        page.hops
    );
    assert!(
        !page.hops.iter().any(|h| h.contains("/authorize")),
        "{:?}",
        page.hops
    );
}

testkit::both_databases! {
    /// O6: the head office's main user deactivates Tim through the admin API; Tim's DIP
    /// session ends within seconds and a quote he posts afterwards stores nothing.
    async fn a_deactivated_users_product_session_ends_within_seconds(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (tim, main, token) = tim_at_work(&portal, &password).await;

        let path = format!("/users/{}", user_id(&portal, SUB_EMPLOYEE).await);
        let etag = call(&portal, "GET", &path, &token, None, None)
            .await
            .header("etag")
            .expect("a user's ETag");
        let a = call(&portal, "PATCH", &path, &token, Some(json!({"active": false})), Some(&etag)).await;
        assert_eq!((a.status, a.body["active"].as_bool()), (200, Some(false)), "{}", a.body);

        tims_product_session_has_ended(&portal, &tim, &main).await;
    }

    /// O6: deactivating the whole sub-office Z01 ends its employee Tim's DIP session the
    /// same way; the head office's own product session stays.
    async fn a_deactivated_sub_offices_product_sessions_end_within_seconds(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (tim, main, token) = tim_at_work(&portal, &password).await;

        let offices = call(&portal, "GET", "/offices", &token, None, None).await;
        assert_eq!(offices.status, 200, "{}", offices.body);
        let zuid = offices.body["offices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["number"] == "Z01")
            .expect("the sub-office Z01")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/offices/{zuid}");
        let etag = call(&portal, "GET", &path, &token, None, None)
            .await
            .header("etag")
            .expect("an office's ETag");
        let r = call(&portal, "PATCH", &path, &token, Some(json!({"active": false})), Some(&etag)).await;
        assert_eq!((r.status, r.body["active"].as_bool()), (200, Some(false)), "{}", r.body);

        tims_product_session_has_ended(&portal, &tim, &main).await;
    }

    /// P1 with the rights event (issue 10): the main user takes the DIP right from Tim; the
    /// idp pushes a signed `token-claims-change` event to the DIP portal, which applies it to
    /// Tim's live session: within seconds the dashboard answers the 403 page at once, with
    /// no new sign-in on the way (no hop through the idp), and a quote stores nothing.
    async fn a_right_taken_away_reaches_the_product_session_within_seconds(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (tim, _main, token) = tim_at_work(&portal, &password).await;

        let path = format!("/users/{}", user_id(&portal, SUB_EMPLOYEE).await);
        let etag = call(&portal, "GET", &path, &token, None, None)
            .await
            .header("etag")
            .expect("a user's ETag");
        let r = call(&portal, "PATCH", &path, &token, Some(json!({"rights": []})), Some(&etag)).await;
        assert_eq!(r.status, 200, "{}", r.body);

        let mut refused = None;
        for _ in 0..100 {
            let page = tim.get(DASHBOARD).await;
            if page.status == StatusCode::FORBIDDEN {
                refused = Some(page);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = refused.expect("P1: the DIP dashboard is still shown 10 s after the right was taken");
        assert!(page.body.contains("U heeft geen rechten voor het product"), "{}", page.body);
        assert_no_new_sign_in(&page);
        let before = quote_count(&portal).await;
        let posted = post_quote(&tim, "Klant Zonder Recht").await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN);
        assert_eq!(quote_count(&portal).await, before, "nothing stored");
    }

    /// The same for a right taken from the office: the main user takes DIP from the
    /// sub-office Z01, and its employee Tim is refused in DIP within seconds.
    async fn a_right_taken_from_the_office_reaches_its_peoples_sessions(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (tim, main, token) = tim_at_work(&portal, &password).await;
        let offices = call(&portal, "GET", "/offices", &token, None, None).await;
        let zuid = offices.body["offices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["number"] == "Z01")
            .expect("the sub-office Z01")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/offices/{zuid}");
        let etag = call(&portal, "GET", &path, &token, None, None)
            .await
            .header("etag")
            .expect("an office's ETag");
        let r = call(&portal, "PATCH", &path, &token, Some(json!({"rights": ["DIL"]})), Some(&etag)).await;
        assert_eq!(r.status, 200, "{}", r.body);

        let mut refused = None;
        for _ in 0..100 {
            let page = tim.get(DASHBOARD).await;
            if page.status == StatusCode::FORBIDDEN {
                refused = Some(page);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = refused.expect("P1: Tim still sees DIP 10 s after his office lost it");
        assert_no_new_sign_in(&page);
        assert!(is_dashboard(&portal, &main.get(DASHBOARD).await), "the head office keeps DIP");
    }
    /// Issue 10, a right given: the main user gives Tim DIL (his sub-office holds it); the
    /// portal home of his open shell session lists DIL within seconds, without a new
    /// sign-in. The idp's audit log shows the events delivered to the portals.
    async fn a_right_given_reaches_the_shell_session_within_seconds(db: &TestDatabase) {
        let (portal, password) = demo(db, false).await;
        let (tim, _main, token) = tim_at_work(&portal, &password).await;
        let home = tim.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(!home.body.contains(DIL_LINK), "Tim holds no DIL yet: {}", home.body);

        let path = format!("/users/{}", user_id(&portal, SUB_EMPLOYEE).await);
        let etag = call(&portal, "GET", &path, &token, None, None)
            .await
            .header("etag")
            .expect("a user's ETag");
        let r = call(&portal, "PATCH", &path, &token, Some(json!({"rights": ["DIP", "DIL"]})), Some(&etag)).await;
        assert_eq!(r.status, 200, "{}", r.body);

        let mut shown = None;
        for _ in 0..100 {
            let page = tim.get("/").await;
            if page.body.contains(DIL_LINK) {
                shown = Some(page);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let page = shown.expect("issue 10: the shell does not list DIL 10 s after it was given");
        assert_no_new_sign_in(&page);
        assert!(is_dashboard(&portal, &tim.get(DASHBOARD).await), "DIP stays");

        let db = portal.db().await;
        let delivered: Vec<String> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'event.delivered'"
        )
        .fetch_all(pool)
        .await
        .unwrap());
        for client in ["offerteportaal", "dip"] {
            assert!(
                delivered.iter().any(|d| d.contains(&format!("\"client_id\":\"{client}\""))),
                "an event delivered to {client}: {delivered:?}"
            );
        }
    }
}
