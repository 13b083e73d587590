//! Signing in to a product portal: the redirect to the idp, the callback, the session, and
//! everything the callback must refuse.

use relying_party::test_op::{Browser, Tamper, TestUser};

use crate::spawn;

#[tokio::test]
async fn a_signed_out_visitor_signs_in_and_lands_on_the_page_asked_for() {
    let app = spawn(Some(TestUser::employee(&["DIP", "DIL"]))).await;
    let browser = Browser::new(&app.url);

    let start = browser.get("/dip/?tab=offertes").await;
    assert_eq!(start.status, 303);
    let authorize = start.location.clone().unwrap();
    assert!(
        authorize.starts_with(&format!("{}/authorize?", app.op.issuer)),
        "{authorize}"
    );
    let login_cookie = start
        .set_cookies
        .iter()
        .find(|c| c.starts_with("dip_sessie_login="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/dip", "Max-Age=600"] {
        assert!(login_cookie.contains(attr), "{login_cookie}");
    }
    assert_eq!(start.cache_control.as_deref(), Some("no-store"));

    let at_op = browser.get(&authorize).await;
    let sent = app.op.last_authorize();
    assert_eq!(sent["client_id"], "dip");
    assert_eq!(sent["response_type"], "code");
    assert_eq!(sent["scope"], "openid portal offline_access");
    assert_eq!(sent["code_challenge_method"], "S256");
    assert_eq!(
        sent["redirect_uri"],
        format!("{}/dip/auth/callback", app.url)
    );
    assert!(
        sent["state"].len() >= 22 && sent["nonce"].len() >= 22,
        "≥128-bit state and nonce"
    );

    let callback = browser.get(at_op.location.as_deref().unwrap()).await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    assert_eq!(
        callback.location.as_deref(),
        Some(format!("{}/dip/?tab=offertes", app.url).as_str())
    );
    let session = callback
        .set_cookies
        .iter()
        .find(|c| c.starts_with("dip_sessie="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/dip"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "a development address turned Secure off"
    );
    assert!(!session.contains("eyJ"), "no token in the browser");

    let page = browser.get(callback.location.as_deref().unwrap()).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.cache_control.as_deref(), Some("no-store"));
    for text in [
        "Welkom, Ilse de Vries",
        "Direct Ingaand Pensioen",
        "Voorbeeld Advies (12345)",
    ] {
        assert!(
            page.body.contains(text),
            "{text} missing from {}",
            page.body
        );
    }

    // The session holds: no new trip to the idp, with or without the trailing slash.
    for path in ["/dip", "/dip/"] {
        let again = browser.get(path).await;
        assert_eq!(again.status, 200, "{path}");
    }
    assert_eq!(app.op.token_requests(), 1);
    assert_eq!(app.op.discoveries(), 1, "discovery is cached");
}

#[tokio::test]
async fn each_portal_has_its_own_session_and_signs_in_silently() {
    let app = spawn(Some(TestUser::employee(&["DIP", "DIL"]))).await;
    let browser = Browser::new(&app.url);
    assert_eq!(browser.visit("/dip/").await.last().unwrap().status, 200);
    let hops = browser.visit("/dil/").await;
    assert_eq!(hops.len(), 4, "dil → idp → callback → page: {hops:#?}");
    assert!(
        hops[2]
            .set_cookies
            .iter()
            .any(|c| c.starts_with("dil_sessie=") && c.contains("Path=/dil"))
    );
    let page = hops.last().unwrap();
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Direct Ingaande Lijfrente"));
}

/// SECURITY RP-01: a callback carrying another browser's code and state is refused.
#[tokio::test]
async fn a_callback_from_another_browser_is_refused() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let victim = Browser::new(&app.url);
    let attacker = Browser::new(&app.url);

    let start = attacker.get("/dip/").await;
    let at_op = attacker.get(start.location.as_deref().unwrap()).await;
    let attackers_callback = at_op.location.unwrap();

    // The victim has a sign-in of its own going, so it does carry a binding cookie.
    let own = victim.get("/dip/").await;
    assert_eq!(own.status, 303);
    let refused = victim.get(&attackers_callback).await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .body
            .contains("Uw inlogpoging is verlopen of ongeldig"),
        "{}",
        refused.body
    );
    assert!(
        !refused
            .set_cookies
            .iter()
            .any(|c| c.starts_with("dip_sessie="))
    );
    assert_eq!(app.op.token_requests(), 0, "the code was never redeemed");

    // Nor does a browser without any sign-in going get anywhere.
    let stranger = Browser::new(&app.url);
    assert_eq!(stranger.get(&attackers_callback).await.status, 400);
}

#[tokio::test]
async fn a_callback_is_single_use() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let browser = Browser::new(&app.url);
    let start = browser.get("/dip/").await;
    let at_op = browser.get(start.location.as_deref().unwrap()).await;
    let callback = at_op.location.unwrap();
    assert_eq!(browser.get(&callback).await.status, 303);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400);
    assert_eq!(app.op.token_requests(), 1);
}

#[tokio::test]
async fn a_wrong_iss_or_a_missing_state_is_refused() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let browser = Browser::new(&app.url);
    let start = browser.get("/dip/").await;
    let at_op = browser.get(start.location.as_deref().unwrap()).await;
    let callback = at_op.location.unwrap();

    let mix_up = callback.replace("iss=http", "iss=https");
    assert_eq!(browser.get(&mix_up).await.status, 400);
    let no_state = format!("{}/dip/auth/callback?code=x", app.url);
    assert_eq!(browser.get(&no_state).await.status, 400);
    // The attempt survives a forged callback, so the real one still works.
    assert_eq!(browser.get(&callback).await.status, 303);
}

/// SECURITY RP-02: signature (alg allowlist, key), iss, aud, exp and nonce are all checked.
#[tokio::test]
async fn a_bad_id_token_never_makes_a_session() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    for tamper in [
        Tamper::WrongNonce,
        Tamper::WrongAudience,
        Tamper::WrongIssuer,
        Tamper::Expired,
        Tamper::Unsigned,
        Tamper::ForeignKey,
    ] {
        app.op.tamper(tamper);
        let browser = Browser::new(&app.url);
        let hops = browser.visit("/dip/").await;
        let last = hops.last().unwrap();
        assert_eq!(last.status, 502, "{tamper:?}: {}", last.body);
        assert!(
            last.body
                .contains("Uw aanmelding kon niet worden gecontroleerd"),
            "{tamper:?}: {}",
            last.body
        );
        assert!(
            !last.body.contains("nonce") && !last.body.contains("Invalid"),
            "no cause shown"
        );
        assert!(
            !hops
                .iter()
                .flat_map(|h| &h.set_cookies)
                .any(|c| c.starts_with("dip_sessie=")),
            "{tamper:?} made a session"
        );
    }
    app.op.tamper(Tamper::None);
    let browser = Browser::new(&app.url);
    assert_eq!(browser.visit("/dip/").await.last().unwrap().status, 200);
}

#[tokio::test]
async fn a_refusal_by_the_idp_shows_a_dutch_page() {
    let app = spawn(None).await;
    let browser = Browser::new(&app.url);
    let last = browser.visit("/dip/").await.pop().unwrap();
    assert_eq!(last.status, 403);
    assert!(
        last.body.contains("Inloggen is afgebroken of geweigerd"),
        "{}",
        last.body
    );
    assert!(
        last.body.contains("href=\"&#x2f;dip\""),
        "offers to try again"
    );
}

#[tokio::test]
async fn an_unreachable_idp_gives_a_dutch_page_and_discovery_waits_for_first_use() {
    // Reserve a port for the OP but start nothing there yet: building the router must not
    // need the idp (the all-in-one process serves it from the same, not yet listening, server).
    let op_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let op_url = format!("http://{}", op_listener.local_addr().unwrap());
    drop(op_listener);
    let registry = product_registry::Registry::builtin().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = crate::router(
        &crate::settings(&url, &format!("{op_url}/idp"), &registry),
        &registry,
    )
    .await
    .unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let browser = Browser::new(&url);
    let down = browser.get("/orv/").await;
    assert_eq!(down.status, 502);
    assert!(
        down.body
            .contains("De inlogdienst is op dit moment niet bereikbaar"),
        "{}",
        down.body
    );

    // Once the idp is up, the same portal discovers it.
    let op_listener = tokio::net::TcpListener::bind(op_url.trim_start_matches("http://"))
        .await
        .unwrap();
    let op = relying_party::test_op::TestOp::start_on(op_listener, op_url).await;
    op.register_client("orv", "geheim-orv", &format!("{url}/orv/auth/callback"));
    let mut head_office_user = TestUser::employee(&["ORV"]);
    head_office_user.name = "Jan Jansen".into();
    op.sign_in_as(Some(head_office_user));
    let page = browser.visit("/orv/").await.pop().unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Welkom, Jan Jansen"));
    server.abort();
}

#[tokio::test]
async fn signing_out_ends_the_session_and_the_idp_session() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let browser = Browser::new(&app.url);
    assert_eq!(browser.visit("/dip/").await.last().unwrap().status, 200);

    let out = browser.post("/dip/auth/logout").await;
    assert_eq!(out.status, 303);
    let to = url::Url::parse(out.location.as_deref().unwrap()).unwrap();
    assert_eq!(
        to.as_str().split('?').next().unwrap(),
        format!("{}/end_session", app.op.issuer)
    );
    let q: std::collections::HashMap<_, _> = to.query_pairs().into_owned().collect();
    assert!(q["id_token_hint"].starts_with("eyJ"));
    assert_eq!(q["client_id"], "dip");
    assert_eq!(q["post_logout_redirect_uri"], format!("{}/", app.url));
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("dip_sessie=;") && c.contains("Path=/dip"))
    );

    // The old session is gone: the portal sends the browser to sign in again.
    assert_eq!(browser.get("/dip/").await.status, 303);
    // Signing out is POST only.
    assert_eq!(browser.get("/dip/auth/logout").await.status, 405);
}

#[tokio::test]
async fn a_key_rotation_at_the_idp_is_picked_up_at_once() {
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    assert_eq!(
        Browser::new(&app.url)
            .visit("/dip/")
            .await
            .pop()
            .unwrap()
            .status,
        200
    );
    assert_eq!(app.op.discoveries(), 1);
    app.op.rotate_key();
    let page = Browser::new(&app.url).visit("/dip/").await.pop().unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        app.op.discoveries(),
        2,
        "the unknown kid made one fresh discovery"
    );
}

/// Logout tokens are POSTed by anyone who can reach the portal. One with a `kid` the
/// portal does not know must not make it ask the idp for its keys each time (an
/// amplification): within ten seconds of the last fetch it is refused from the copy held.
#[tokio::test]
async fn logout_tokens_with_unknown_keys_do_not_make_the_portal_fetch_the_keys_each_time() {
    use base64::Engine as _;
    let app = spawn(Some(TestUser::employee(&["DIP"]))).await;
    let signed_in = Browser::new(&app.url).visit("/dip/").await.pop().unwrap();
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(app.op.discoveries(), 1);
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let http = reqwest::Client::new();
    for n in 0..20 {
        let header = b64(
            serde_json::json!({"alg": "RS256", "typ": "logout+jwt", "kid": format!("onbekend-{n}")}),
        );
        let claims = b64(serde_json::json!({"iss": app.op.issuer, "aud": "dip", "sub": "x"}));
        let token = format!("{header}.{claims}.AAAA");
        let res = http
            .post(format!("{}/dip/auth/backchannel-logout", app.url))
            .form(&[("logout_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "an unknown key is refused");
    }
    assert_eq!(app.op.discoveries(), 1, "no fetch for a stranger's kid");
}
