//! Two-factor authentication in a real browser (SPEC F1–F4): headless Chromium, driven by
//! `tests/interop/twofactor.mjs` with playwright-core, follows the visible Dutch labels
//! through forced enrolment of the authenticator app (the TOTP codes computed in Node from
//! the key on the page), the 2FA page, a replayed code, a recovery code, and passkeys
//! through Chromium's virtual authenticator: registration under Profiel → Beveiliging,
//! passwordless "Inloggen met passkey", and a passkey as the second factor.
//!
//! Passkeys need the issuer's host to be a domain name, so the portal listens on
//! 127.0.0.1 and calls itself `http://localhost:PORT`; the browser uses that address.
//!
//! Needs `npm ci --prefix tests/interop` and Debian's `chromium`. Without them the test
//! says SKIPPED and passes, except under `CI=true`, where it fails.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::oidc::PASSWORD;
use crate::support::{Browser, CHROMIUM, Portal, browser_available, interop_dir};

const LOGIN: &str = "info@voorbeeld.nl";
const OFFICE: &str = "Voorbeeld Advies";

/// The activation link in the mail to `to`, under `public` (the portal's public URL, not
/// the address it listens on, so `Portal::activation_link` does not apply).
async fn activation_link(portal: &Portal, public: &str, to: &str) -> String {
    let mail = portal
        .smtp
        .wait_for(|m| m.to.iter().any(|t| t == to), Duration::from_secs(20))
        .await
        .unwrap_or_else(|| panic!("no mail to {to}"));
    let text = mail
        .data
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text
        .find(&format!("{public}/idp/activate/"))
        .unwrap_or_else(|| panic!("no activation link in the mail: {text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

/// Runs `twofactor.mjs` and returns its JSON line; panics with its output when it does not
/// print one or reports a failed step.
async fn run_browser(portal: &Portal, public: &str) -> Value {
    let stdout = portal.data_dir.join("twofactor.out");
    let stderr = portal.data_dir.join("twofactor.err");
    let mut child = tokio::process::Command::new("node")
        .arg(interop_dir().join("twofactor.mjs"))
        .args(["--base", public])
        .args(["--username", LOGIN])
        .args(["--password", PASSWORD])
        .args(["--name", OFFICE])
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
        _ => panic!(
            "the browser script printed no JSON ({status:?}):\n{out}\n{err}\nportal:\n{}",
            portal.output()
        ),
    };
    println!("browser 2fa result: {report}");
    assert!(
        status.is_some_and(|s| s.success()) && report["ok"] == true,
        "the browser script failed ({status:?}): {report:#}\n{err}\nportal:\n{}",
        portal.output()
    );
    report
}

/// Rows of one query of text columns, for checking what the portal stored.
async fn rows(portal: &Portal, sql: &'static str) -> Vec<(String, String)> {
    let db = portal.db().await;
    let rows = idp::with_db!(&db, |pool| sqlx::query_as::<_, (String, String)>(sql)
        .fetch_all(pool)
        .await)
    .unwrap();
    db.close().await;
    rows
}

async fn number(portal: &Portal, sql: &'static str) -> i64 {
    let db = portal.db().await;
    let n = idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .unwrap();
    db.close().await;
    n
}

#[tokio::test]
async fn two_factor_sign_in_and_passkeys_work_in_a_real_browser() {
    if !browser_available("browser 2FA test", &["playwright-core"]) {
        return;
    }
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let started = Instant::now();
    let mut portal = Portal::new(&db);
    let port = portal.base.rsplit(':').next().unwrap().to_owned();
    let public = format!("http://localhost:{port}");
    portal.set_env("PORTAL_PUBLIC_URL", &public);
    // 2FA is mandatory (the default date; the harness moves it away for other tests).
    portal.set_env("PORTAL_MFA_REQUIRED_FROM", "2025-07-01");
    portal.start().await;
    let discovery: Value = reqwest::get(format!(
        "{}/idp/.well-known/openid-configuration",
        portal.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(discovery["issuer"], format!("{public}/idp"));

    let out = portal.cli(&[
        "office", "add-head", "--number", "12345", "--name", OFFICE, "--email", LOGIN, "--rights",
        "DIP,DIL",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = activation_link(&portal, &public, LOGIN).await;
    let activated = Browser::new(&public)
        .post(
            &link,
            &[("password", PASSWORD), ("password_repeat", PASSWORD)],
        )
        .await;
    assert_eq!(activated.status, 200, "{}", activated.body);

    let report = run_browser(&portal, &public).await;
    let steps = &report["steps"];
    for step in [
        "totp_self_test",
        "enrol",
        "totp_sign_in",
        "totp_replay",
        "recovery_sign_in",
        "virtual_authenticator",
        "passkey_register",
        "passkey_sign_in",
        "passkey_second_factor",
    ] {
        assert_eq!(steps[step]["ok"], true, "{step}: {report:#}");
    }
    let greeting = format!("Welkom, {OFFICE}");

    // 1. Forced enrolment: no session until the code confirms the app.
    let enrol = &steps["enrol"];
    assert_eq!(enrol["landed"], "/idp/2fa/instellen");
    assert_eq!(enrol["mandatory_notice"], true);
    assert_eq!(enrol["qr_svg"], true);
    assert_eq!(enrol["root_without_session"], "/idp/login");
    assert_eq!(enrol["account_without_session"], "/idp/login");
    assert_eq!(enrol["key_bytes"], 20);
    assert_eq!(enrol["key_groups"], json!([4, 4, 4, 4, 4, 4, 4, 4]));
    assert_eq!(enrol["recovery_codes"], 10);
    assert_eq!(enrol["recovery_codes_distinct"], 10);
    assert_eq!(enrol["greeting"], greeting);

    // 2. The 2FA page; the enrolment's code is used up; the next step's code signs in.
    let totp = &steps["totp_sign_in"];
    assert_eq!(totp["landed"], "/idp/2fa");
    assert_eq!(totp["intro_shown"], true);
    assert_eq!(totp["root_without_session"], "/idp/login");
    assert_eq!(totp["after_enrolment_code"], "/idp/2fa");
    assert_eq!(
        totp["enrolment_code_error"],
        "Deze code is onjuist of verlopen. Vul de code in die de app nu laat zien."
    );
    assert_eq!(totp["greeting"], greeting);
    let accepted = totp["step"].as_i64().unwrap();
    assert!(accepted > enrol["step"].as_i64().unwrap());

    // A code accepted once is refused again, as a replay (audited as such), with the
    // ordinary Dutch message.
    let replay = &steps["totp_replay"];
    assert_eq!(replay["after"], "/idp/2fa");
    assert_eq!(
        replay["error"],
        "Deze code is onjuist of verlopen. Vul de code in die de app nu laat zien."
    );
    assert_eq!(steps["recovery_sign_in"]["greeting"], greeting);

    // 3. Passkeys.
    let register = &steps["passkey_register"];
    assert_eq!(register["none_before"], true);
    assert_eq!(register["listed"], json!(["Testsleutel"]));
    assert_eq!(register["credentials"], 1);
    assert_eq!(register["resident"], true);
    assert_eq!(register["rp_id"], "localhost");
    let passwordless = &steps["passkey_sign_in"];
    assert_eq!(passwordless["password_field_empty"], true);
    assert_eq!(passwordless["greeting"], greeting);
    assert_eq!(steps["passkey_second_factor"]["landed"], "/idp/2fa");
    assert_eq!(steps["passkey_second_factor"]["greeting"], greeting);

    // What the portal stored and audited agrees with what the browser saw.
    let last_step = number(&portal, "SELECT last_step FROM totp_factors").await;
    assert_eq!(last_step, accepted, "the replay did not move the last step");
    let used = number(
        &portal,
        "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NOT NULL",
    )
    .await;
    assert_eq!(used, 1);
    let unused = number(
        &portal,
        "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL",
    )
    .await;
    assert_eq!(unused, 9);
    let passkeys = rows(
        &portal,
        "SELECT name, COALESCE(last_used_at, '') FROM passkeys",
    )
    .await;
    assert_eq!(passkeys.len(), 1, "{passkeys:?}");
    assert_eq!(passkeys[0].0, "Testsleutel");
    assert!(!passkeys[0].1.is_empty(), "the passkey's last use is kept");

    let mut amrs: Vec<String> = rows(
        &portal,
        "SELECT amr, created_at FROM idp_sessions ORDER BY created_at",
    )
    .await
    .into_iter()
    .map(|(amr, _)| amr)
    .collect();
    amrs.sort();
    let mut expected = vec![
        "pwd,otp,mfa",      // enrolment
        "pwd,otp,mfa",      // app code
        "pwd,otp,mfa",      // recovery code
        "swk,user,mfa",     // passwordless passkey
        "pwd,swk,user,mfa", // password + passkey
    ];
    expected.sort_unstable();
    assert_eq!(
        amrs, expected,
        "one session per completed sign-in, none before"
    );

    let audit = rows(&portal, "SELECT action, detail FROM audit_log ORDER BY id").await;
    let methods: Vec<Value> = audit
        .iter()
        .filter(|(action, _)| action == "login.second_factor")
        .map(|(_, detail)| serde_json::from_str::<Value>(detail).unwrap()["method"].clone())
        .collect();
    assert_eq!(
        methods,
        json!(["totp_enrolment", "totp", "recovery_code", "passkey"])
            .as_array()
            .unwrap()
            .clone(),
        "{audit:#?}"
    );
    let replays: Vec<Value> = audit
        .iter()
        .filter(|(action, _)| action == "totp.replayed")
        .map(|(_, detail)| serde_json::from_str::<Value>(detail).unwrap()["step"].clone())
        .collect();
    assert!(
        replays.contains(&json!(accepted)),
        "the accepted code offered again is audited as a replay: {audit:#?}"
    );
    assert!(
        audit
            .iter()
            .any(|(action, detail)| action == "login.succeeded" && detail.contains("\"passkey\"")),
        "{audit:#?}"
    );
    assert!(
        audit
            .iter()
            .any(|(action, _)| action == "mfa.passkey_added"),
        "{audit:#?}"
    );
    println!(
        "browser 2FA test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
