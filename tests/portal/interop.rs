//! Interoperability with a client nobody here wrote (SPEC §4): panva's `openid-client`, a
//! certified relying-party library, runs under Node against the real portal
//! (`tests/interop/rp.mjs`), with a real headless Chromium doing the person's part:
//! discovery, code + PKCE, ID-token validation, the portal claims, userinfo, refresh with
//! rotation and reuse detection, introspection, revocation and RP-initiated logout.
//!
//! Needs `npm ci --prefix tests/interop` and Debian's `chromium`. Without them the test
//! says SKIPPED and passes, except under `CI=true`, where it fails.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::TestDatabase;

use crate::oidc::PASSWORD;
use crate::support::{Browser, CHROMIUM, Portal, browser_available, interop_dir};

/// Characters that RFC 6749 §2.3.1 makes a client form-urlencode before Basic encoding.
const SECRET: &str = "interop-client-secret:with%odd+characters-0123456789";
const LOGIN: &str = "info@voorbeeld.nl";

/// Runs `rp.mjs` against the portal and returns its JSON line; panics with its output when
/// it does not print one.
async fn run_relying_party(portal: &Portal, port: u16) -> Value {
    run_script(portal, "rp.mjs", "interop", port).await
}

/// Runs one of the interop scripts as client `client_id` (secret [`SECRET`]).
async fn run_script(portal: &Portal, script: &str, client_id: &str, port: u16) -> Value {
    let stdout = portal.data_dir.join(format!("{script}.out"));
    let stderr = portal.data_dir.join(format!("{script}.err"));
    let issuer = format!("{}/idp", portal.base);
    let port = port.to_string();
    let mut child = tokio::process::Command::new("node")
        .arg(interop_dir().join(script))
        .args(["--issuer", &issuer])
        .args(["--client-id", client_id])
        .args(["--client-secret", SECRET])
        .args(["--username", LOGIN])
        .args(["--password", PASSWORD])
        .args(["--port", &port])
        .args(["--chromium", CHROMIUM])
        .current_dir(&portal.data_dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let status = match tokio::time::timeout(Duration::from_secs(240), child.wait()).await {
        Ok(status) => Some(status.unwrap()),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let line = out.lines().rev().find(|l| l.starts_with('{'));
    let report: Value = match line.map(serde_json::from_str) {
        Some(Ok(v)) => v,
        _ => panic!("the relying party printed no JSON ({status:?}):\n{out}\n{err}"),
    };
    println!("interop result: {report}");
    assert!(
        status.is_some_and(|s| s.success()) && report["ok"] == true,
        "the relying party failed ({status:?}): {report:#}\n{err}"
    );
    report
}

testkit::both_databases! {
    async fn a_certified_relying_party_in_a_real_browser_gets_through(db: &TestDatabase) {
        if !browser_available("interop test (openid-client + Chromium)", &["openid-client", "playwright-core"]) {
            return;
        }
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", LOGIN, "--rights", "DIP,DIL"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let port = testkit::free_port();
        let callback = format!("http://127.0.0.1:{port}/cb");
        let after = format!("http://127.0.0.1:{port}/bye");
        let out = portal.cli(&[
            "client", "add", "--id", "interop", "--secret", SECRET,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--redirect-uri", &callback, "--post-logout-redirect-uri", &after,
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link(LOGIN).await;
        Browser::new(&portal.base).post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;

        let report = run_relying_party(&portal, port).await;
        let steps = &report["steps"];
        for step in ["discovery", "authorize", "code_exchange", "id_token", "claims", "userinfo", "refresh", "refresh_reuse", "sso", "introspection", "revocation", "logout"] {
            assert_eq!(steps[step]["ok"], true, "{step}: {report:#}");
        }
        assert_eq!(steps["discovery"]["issuer"], format!("{}/idp", portal.base));
        assert_eq!(steps["authorize"]["sign_in_form"], true);
        assert_eq!(steps["authorize"]["callback_params"], json!(["code", "iss", "state"]));
        assert_eq!(steps["code_exchange"]["scope"], "openid portal offline_access");
        assert_eq!(steps["id_token"]["alg"], "RS256");
        assert_eq!(steps["id_token"]["aud"], "interop");
        assert_eq!(steps["id_token"]["at_hash"], true);
        assert_eq!(steps["claims"]["role"], "main_user");
        assert_eq!(steps["claims"]["rights"], json!(["DIP", "DIL"]));
        assert_eq!(steps["claims"]["email"], LOGIN);
        assert_eq!(steps["claims"]["office_kind"], "head_office");
        assert_eq!(steps["claims"]["amr"], json!(["pwd"]));
        assert_eq!(steps["userinfo"]["sub"], steps["claims"]["sub"]);
        assert_eq!(steps["userinfo"]["rights"], json!(["DIP", "DIL"]));
        assert_eq!(steps["refresh"]["rotated"], true);
        assert_eq!(steps["refresh"]["new_access_token_works"], true);
        assert_eq!(steps["refresh_reuse"]["replay"], "invalid_grant");
        assert_eq!(steps["refresh_reuse"]["newest"], "invalid_grant", "reuse revokes the whole family");
        assert_eq!(steps["refresh_reuse"]["newest_access_token"], "invalid_token");
        assert_eq!(steps["sso"]["sign_in_form"], false);
        assert_eq!(steps["introspection"]["access_token"]["active"], true);
        assert_eq!(steps["introspection"]["access_token"]["client_id"], "interop");
        assert_eq!(steps["introspection"]["refresh_token"]["active"], true);
        assert_eq!(steps["revocation"]["refresh_token_active"], false);
        assert_eq!(steps["revocation"]["access_token_active"], false);
        assert_eq!(steps["revocation"]["refresh"], "invalid_grant");
        assert_eq!(steps["logout"]["landed"], after);
        assert_eq!(steps["logout"]["state_returned"], true);
        assert_eq!(steps["logout"]["prompt_none_after"], "login_required");
        // The browser really went through the client's own endpoints.
        let hits = report["client_hits"].as_array().unwrap();
        assert!(hits.contains(&json!("/cb")) && hits.contains(&json!("/bye")), "{hits:?}");
    }
}

testkit::both_databases! {
    /// RFC 9126 and RFC 9449 with a client nobody here wrote: openid-client pushes its
    /// request with a DPoP proof, Chromium signs in through the pushed request, and the
    /// DPoP-bound token works at userinfo only with proofs (tests/interop/dpop_par.mjs).
    async fn openid_client_signs_in_with_par_and_dpop(db: &TestDatabase) {
        if !browser_available("PAR + DPoP interop test (openid-client + Chromium)", &["openid-client", "playwright-core"]) {
            return;
        }
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", LOGIN, "--rights", "DIP,DIL"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let port = testkit::free_port();
        let callback = format!("http://127.0.0.1:{port}/cb");
        let out = portal.cli(&[
            "client", "add", "--id", "interop-dpop", "--secret", SECRET,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token",
            "--redirect-uri", &callback, "--require-par", "--dpop",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link(LOGIN).await;
        Browser::new(&portal.base).post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;

        let report = run_script(&portal, "dpop_par.mjs", "interop-dpop", port).await;
        let steps = &report["steps"];
        for step in ["discovery", "plain_refused", "par_authorize", "par_reuse", "dpop_token", "userinfo", "bearer_refused", "introspection", "refresh"] {
            assert_eq!(steps[step]["ok"], true, "{step}: {report:#}");
        }
        assert_eq!(steps["discovery"]["par_endpoint"], format!("{}/idp/par", portal.base));
        assert_eq!(steps["plain_refused"]["error"], "invalid_request");
        assert_eq!(steps["par_authorize"]["authorize_params"], json!(["client_id", "request_uri"]));
        assert_eq!(steps["par_authorize"]["sign_in_form"], true);
        assert_eq!(steps["par_authorize"]["callback_params"], json!(["code", "iss", "state"]));
        assert_eq!(steps["par_reuse"]["status"], 400);
        assert_eq!(steps["dpop_token"]["token_type"], "dpop");
        assert_eq!(steps["dpop_token"]["cnf_jkt_matches"], true);
        assert_eq!(steps["userinfo"]["rights"], json!(["DIP", "DIL"]));
        assert_eq!(steps["bearer_refused"]["challenge"], "bearer invalid_token");
        assert_eq!(steps["introspection"]["cnf_jkt_matches"], true);
        assert_eq!(steps["refresh"]["cnf_jkt_matches"], true);
        assert_eq!(steps["refresh"]["new_access_token_works"], true);
    }
}

/// SECURITY HD-01 keeps forms to ourselves, but a sign-in for an authorization request
/// ends, through 303s, at the client: the sign-in page allows that one origin in
/// `form-action` (browsers check a form's redirects too; without it Chromium stops the
/// way back), and only for a registered client and redirect URI. Needs no browser.
#[tokio::test]
async fn the_sign_in_page_lets_its_form_return_to_a_registered_client_only() {
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let mut portal = Portal::new(&db);
    portal.start().await;
    let out = portal.cli(&[
        "client",
        "add",
        "--id",
        "interop",
        "--secret",
        SECRET,
        "--redirect-uri",
        "http://127.0.0.1:4555/cb",
    ]);
    assert!(out.status.success());
    let csp_of = |return_to: &str| {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/idp/login", portal.base),
            &[("return_to", return_to)],
        )
        .unwrap();
        async move {
            let res = reqwest::get(url).await.unwrap();
            assert_eq!(res.status(), 200);
            res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned()
        }
    };
    let authorize = |client: &str, redirect: &str| {
        let mut url = reqwest::Url::parse("http://x/idp/authorize").unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code");
        format!("/idp/authorize?{}", url.query().unwrap())
    };
    let registered = csp_of(&authorize("interop", "http://127.0.0.1:4555/cb")).await;
    assert!(
        registered.contains("form-action 'self' http://127.0.0.1:4555;"),
        "{registered}"
    );
    assert!(
        registered.contains("frame-ancestors 'none'"),
        "{registered}"
    );
    for (what, return_to) in [
        (
            "unregistered redirect",
            authorize("interop", "http://evil.example:4555/cb"),
        ),
        (
            "unknown client",
            authorize("nobody", "http://127.0.0.1:4555/cb"),
        ),
        ("not an authorization request", "/".to_owned()),
    ] {
        let csp = csp_of(&return_to).await;
        assert!(csp.contains("form-action 'self';"), "{what}: {csp}");
    }
}
