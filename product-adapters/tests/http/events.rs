//! Rights events pushed by the idp (issue 10): a signed Security Event Token (RFC 8417) at
//! `…/auth/events` (RFC 8935) takes rights from a live product session at once and makes it
//! read its rights again from the idp (userinfo) at the next request, or ends it; everything
//! that is not exactly such an event from our idp, for us, once, is refused.

use relying_party::test_op::{Browser, TestUser};
use serde_json::{Value, json};

use crate::{App, spawn};

const CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
const REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const SET: &str = "application/secevent+jwt";

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The claims of an event about `sub` for client `aud`, as the idp makes them.
fn set(app: &App, aud: &str, sub: &str, events: Value) -> Value {
    json!({
        "iss": app.op.issuer,
        "aud": aud,
        "iat": now(),
        "exp": now() + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub_id": {"format": "iss_sub", "iss": app.op.issuer, "sub": sub},
        "events": events,
    })
}

fn rights_now(rights: &[&str], at: i64) -> Value {
    json!({ CLAIMS_CHANGE: {
        "event_timestamp": at,
        "initiating_entity": "admin",
        "claims": {"rights": rights, "role": "employee"},
    }})
}

async fn push(app: &App, token: &str, content_type: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(format!("{}/dip/auth/events", app.url))
        .header("content-type", content_type)
        .body(token.to_owned())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A signed-in DIP session of an employee holding DIP.
async fn signed_in() -> (App, Browser, TestUser) {
    let user = TestUser::employee(&["DIP"]);
    let app = spawn(Some(user.clone())).await;
    let browser = Browser::new(&app.url);
    let page = browser.visit("/dip/").await.pop().unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    (app, browser, user)
}

#[tokio::test]
async fn a_rights_event_applies_to_the_live_session_without_a_new_sign_in() {
    let (app, browser, user) = signed_in().await;
    let signed = app.op.token_requests();

    // The idp takes DIP away and says so.
    app.op.sign_in_as(Some(TestUser::employee(&[])));
    let token = app.op.sign_jwt(
        "secevent+jwt",
        &set(&app, "dip", &user.sub, rights_now(&[], now())),
    );
    assert_eq!(push(&app, &token, SET).await.0, 202);
    let page = browser.get("/dip/").await;
    assert_eq!(page.status, 403, "the right is gone at once: {}", page.body);
    assert!(page.location.is_none(), "no sign-in on the way");
    assert_eq!(
        app.op.token_requests(),
        signed,
        "no new sign-in, no new token"
    );
    assert_eq!(
        app.op.userinfo_requests(),
        1,
        "the rights were read again once"
    );
    assert_eq!(browser.get("/dip/").await.status, 403);
    assert_eq!(app.op.userinfo_requests(), 1, "and not on every request");

    // The same event again (its acknowledgement lost): acknowledged, nothing done again.
    assert_eq!(push(&app, &token, SET).await.0, 202);
    assert_eq!(browser.get("/dip/").await.status, 403);
    assert_eq!(
        app.op.userinfo_requests(),
        1,
        "the duplicate did not mark the session"
    );

    // A right given back: the event only marks the session; the right comes from the idp.
    app.op.sign_in_as(Some(TestUser::employee(&["DIP"])));
    let token = app.op.sign_jwt(
        "secevent+jwt",
        &set(&app, "dip", &user.sub, rights_now(&["DIP"], now())),
    );
    assert_eq!(push(&app, &token, SET).await.0, 202);
    assert_eq!(browser.get("/dip/").await.status, 200);
    assert_eq!(app.op.userinfo_requests(), 2);
}

/// An event that arrives late (or is replayed under a new id) carrying a right that was
/// taken away since cannot give it back: events only narrow, and what the user holds is
/// what the idp says at the next request.
#[tokio::test]
async fn a_late_event_cannot_give_a_right_back() {
    let (app, browser, user) = signed_in().await;
    app.op.sign_in_as(Some(TestUser::employee(&[])));
    let taken = app.op.sign_jwt(
        "secevent+jwt",
        &set(&app, "dip", &user.sub, rights_now(&[], now())),
    );
    assert_eq!(push(&app, &taken, SET).await.0, 202);
    assert_eq!(browser.get("/dip/").await.status, 403);

    let late = rights_now(&["DIP"], now() - 5);
    let late = app
        .op
        .sign_jwt("secevent+jwt", &set(&app, "dip", &user.sub, late));
    assert_eq!(push(&app, &late, SET).await.0, 202, "accepted");
    assert_eq!(
        browser.get("/dip/").await.status,
        403,
        "and it gave nothing back"
    );
}

/// With the idp's userinfo down, a right taken by an event stays taken (and one given
/// waits): the session is read again once the idp answers.
#[tokio::test]
async fn while_the_idp_cannot_be_asked_an_event_still_takes_the_right() {
    let (app, browser, user) = signed_in().await;
    app.op.userinfo_down(true);
    let taken = app.op.sign_jwt(
        "secevent+jwt",
        &set(&app, "dip", &user.sub, rights_now(&[], now())),
    );
    assert_eq!(push(&app, &taken, SET).await.0, 202);
    assert_eq!(browser.get("/dip/").await.status, 403);
    let given = app.op.sign_jwt(
        "secevent+jwt",
        &set(&app, "dip", &user.sub, rights_now(&["DIP"], now())),
    );
    assert_eq!(push(&app, &given, SET).await.0, 202);
    assert_eq!(
        browser.get("/dip/").await.status,
        403,
        "not from the event itself"
    );
    assert!(
        app.op.userinfo_requests() >= 2,
        "asked each request while stale"
    );

    app.op.userinfo_down(false);
    assert_eq!(
        browser.get("/dip/").await.status,
        200,
        "read again once the idp answers"
    );
}

#[tokio::test]
async fn a_session_revoked_event_ends_the_session() {
    let (app, browser, user) = signed_in().await;
    let token = app.op.sign_jwt(
        "secevent+jwt",
        &set(
            &app,
            "dip",
            &user.sub,
            json!({ REVOKED: {"event_timestamp": now()} }),
        ),
    );
    assert_eq!(push(&app, &token, SET).await.0, 202);
    let page = browser.get("/dip/").await;
    assert_eq!(page.status, 303, "signed out: to the idp");
    assert!(
        page.location
            .as_deref()
            .is_some_and(|l| l.starts_with(&format!("{}/authorize?", app.op.issuer))),
        "{:?}",
        page.location
    );
}

#[tokio::test]
async fn anything_but_a_well_formed_event_for_us_is_refused() {
    let (app, browser, user) = signed_in().await;
    let taken = rights_now(&[], now());
    let sign = |claims: &Value| app.op.sign_jwt("secevent+jwt", claims);

    let good = set(&app, "dip", &user.sub, taken.clone());
    let (status, body) = push(&app, &sign(&good), "application/x-www-form-urlencoded").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"err":"invalid_request"}"#)
    );

    let refused = |why: &str, claims: Value| (why.to_owned(), claims);
    let mut cases = vec![
        refused("another client", set(&app, "dil", &user.sub, taken.clone())),
        refused("a nonce", {
            let mut c = good.clone();
            c["nonce"] = json!("n");
            c
        }),
        refused("another issuer's subject", {
            let mut c = good.clone();
            c["sub_id"]["iss"] = json!("https://elders.example/idp");
            c
        }),
        refused("a bare sub instead of sub_id", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("sub_id");
            c["sub"] = json!(user.sub);
            c
        }),
        refused("expired", {
            let mut c = good.clone();
            c["exp"] = json!(now() - 600);
            c
        }),
        refused("no jti", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("jti");
            c
        }),
    ];
    for (why, claims) in cases.drain(..) {
        let (status, body) = push(&app, &sign(&claims), SET).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(
            body, r#"{"err":"authentication_failed"}"#,
            "{why}: no detail"
        );
    }
    // A logout token is not an event, even with the right claims.
    let as_logout = app.op.sign_jwt("logout+jwt", &good);
    assert_eq!(push(&app, &as_logout, SET).await.0, 400, "typ");

    assert_eq!(browser.get("/dip/").await.status, 200, "nothing changed");
}
