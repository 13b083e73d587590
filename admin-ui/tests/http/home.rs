//! The home page: sign-in for a visitor, the user's products for a signed-in user.

use relying_party::test_op::{Browser, TestUser};

use crate::spawn;

#[tokio::test]
async fn a_visitor_signs_in_and_sees_the_products_of_its_rights_in_registry_order() {
    let app = spawn(Some(TestUser::employee(&["ORV", "DIP"]))).await;
    let browser = Browser::new(&app.url);

    let start = browser.get("/").await;
    assert_eq!(start.status, 303);
    assert!(
        start
            .location
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/authorize?", app.op.issuer))
    );
    let hops = browser.visit(start.location.as_deref().unwrap()).await;
    let callback = &hops[1];
    assert_eq!(
        callback.location.as_deref(),
        Some(format!("{}/", app.url).as_str())
    );
    let cookie = callback
        .set_cookies
        .iter()
        .find(|c| c.starts_with("portaal_sessie="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert_eq!(app.op.last_authorize()["client_id"], "offerteportaal");
    assert_eq!(
        app.op.last_authorize()["redirect_uri"],
        format!("{}/auth/callback", app.url)
    );

    let page = hops.last().unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.cache_control.as_deref(), Some("no-store"));
    assert!(page.body.contains("Welkom, Ilse de Vries"));
    let dip = page.body.find("href=\"&#x2f;dip\"").expect("DIP listed");
    let orv = page.body.find("href=\"&#x2f;orv\"").expect("ORV listed");
    assert!(dip < orv, "registry order");
    assert!(
        !page.body.contains("href=\"&#x2f;dil\""),
        "no DIL right, no DIL link"
    );
    assert!(
        page.body.contains("Direct Ingaand Zeker Pensioen (DIZP)"),
        "description shown"
    );
    assert!(page.body.contains("action=\"&#x2f;auth&#x2f;logout\""));
}

#[tokio::test]
async fn a_user_without_rights_is_told_how_to_get_them() {
    let app = spawn(Some(TestUser::employee(&[]))).await;
    let page = Browser::new(&app.url).visit("/").await.pop().unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("U heeft nog geen rechten voor een product"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("class=\"products\""));
}

#[tokio::test]
async fn signing_out_returns_to_the_idp_and_ends_the_session() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let browser = Browser::new(&app.url);
    assert_eq!(browser.visit("/").await.pop().unwrap().status, 200);
    let out = browser.post("/auth/logout").await;
    assert_eq!(out.status, 303);
    let location = out.location.unwrap();
    assert!(
        location.starts_with(&format!("{}/end_session?", app.op.issuer)),
        "{location}"
    );
    assert!(location.contains("client_id=offerteportaal"));
    assert_eq!(browser.get("/").await.status, 303, "signed out");
}
