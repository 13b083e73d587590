//! The rights guard (SPEC P1, SECURITY RP-04) and the plugin wiring from the registry.

use product_registry::Registry;
use relying_party::Role;
use relying_party::test_op::{Browser, TestUser};

use crate::{settings, spawn, spawn_with};

#[tokio::test]
async fn a_user_without_the_right_gets_a_clear_403_with_a_way_back() {
    let app = spawn(Some(TestUser::employee(&["DIP", "DIL"]))).await;
    let browser = Browser::new(&app.url);
    let page = browser.visit("/orv/").await.pop().unwrap();
    assert_eq!(page.status, 403);
    assert_eq!(page.cache_control.as_deref(), Some("no-store"));
    for text in [
        "Geen toegang",
        "U heeft geen rechten voor het product <strong>Overlijdensrisicoverzekering</strong>",
        "Vraag de hoofdgebruiker (beheerder) van uw kantoor",
        "href=\"/\"",
        "Terug naar het Offerte Portaal",
    ] {
        assert!(
            page.body.contains(text),
            "{text} missing from {}",
            page.body
        );
    }
    // Checked on every request, not only at sign-in.
    assert_eq!(browser.get("/orv/").await.status, 403);
    assert_eq!(browser.get("/orv").await.status, 403);
}

#[tokio::test]
async fn a_main_user_without_the_right_is_told_the_office_lacks_it() {
    let mut user = TestUser::employee(&["DIP"]);
    user.role = Role::MainUser;
    let app = spawn(Some(user)).await;
    let page = Browser::new(&app.url).visit("/dil/").await.pop().unwrap();
    assert_eq!(page.status, 403);
    assert!(
        page.body
            .contains("Uw kantoor heeft geen aanstelling voor dit product"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_sub_office_user_sees_its_office_and_head_office() {
    let mut user = TestUser::employee(&["DIL"]);
    let office = user.office.as_mut().unwrap();
    office.kind = relying_party::OfficeKind::SubOffice;
    office.name = "Subkantoor Noord".into();
    office.number = "77".into();
    let app = spawn(Some(user)).await;
    let page = Browser::new(&app.url).visit("/dil/").await.pop().unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Subkantoor Noord (77)"), "{}", page.body);
    assert!(
        page.body.contains("Hoofdkantoor: Voorbeeld Advies (12345)"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn names_are_escaped() {
    let mut user = TestUser::employee(&["DIP"]);
    user.name = "<img src=x onerror=alert(1)>".into();
    let app = spawn(Some(user)).await;
    let page = Browser::new(&app.url).visit("/dip/").await.pop().unwrap();
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
}

#[tokio::test]
async fn only_registered_products_with_an_adapter_are_mounted() {
    let text = format!(
        "{}\n[[product]]\ncode = \"UTV\"\nname = \"Uitvaart\"\ndescription = \"x\"\npath = \"/utv\"\nclient_id = \"utv\"\nsub_offices = true\nlabel = \"x\"\n",
        product_registry::DEFAULT_REGISTRY
    );
    let registry = Registry::parse(&text).unwrap();
    let app = spawn_with(registry, Some(TestUser::employee(&["UTV", "DIP"]))).await;
    let browser = Browser::new(&app.url);
    assert_eq!(
        browser.get("/utv/").await.status,
        404,
        "no adapter, not mounted"
    );
    assert_eq!(browser.get("/dip/").await.status, 303);
    assert_eq!(browser.get("/dip/nope").await.status, 404);

    // A registry without ORV mounts no ORV portal even though its adapter ships.
    let without_orv = product_registry::DEFAULT_REGISTRY
        .split("[[product]]")
        .filter(|entry| !entry.contains("\"ORV\""))
        .collect::<Vec<_>>()
        .join("[[product]]");
    let app = spawn_with(Registry::parse(&without_orv).unwrap(), None).await;
    assert_eq!(Browser::new(&app.url).get("/orv/").await.status, 404);
}

#[tokio::test]
async fn a_missing_client_secret_stops_start_up() {
    let registry = Registry::builtin().unwrap();
    let mut s = settings(
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/idp",
        &registry,
    );
    s.client_secrets.remove("orv");
    let err = crate::router(&s, &registry).await.unwrap_err();
    assert!(
        matches!(err, product_adapters::PortalError::MissingSecret(ref c) if c == "orv"),
        "{err}"
    );
}
