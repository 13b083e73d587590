//! The manual's own steps for a main user, in a real headless Chromium (issue 6):
//! `tests/interop/beheer.mjs` signs in as the demo head office's main user, opens
//! Gebruikers, clicks "Nieuwe gebruiker", fills in Naam and E-mailadres, ticks DIP and
//! clicks "Opslaan"; then opens Subkantoren, clicks "nieuw subkantoor", fills in every
//! field of "Nieuw subkantoor aanmaken" with "Zend e-mail met activatielink naar
//! subkantoor." ticked and clicks "Opslaan". The new user's activation mail and the
//! sub-office's arrive in the SMTP sink; the browser then follows the sub-office's link,
//! sets its password, signs in with the office e-mail and sees Gebruikers of its own
//! office. Every screen is saved as a PNG under `target/tmp/screenshots/beheer/`.
//!
//! Needs `npm ci --prefix tests/interop` and Debian's `chromium`. Without them the test
//! says SKIPPED and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::admin_api::{MAIN, demo};
use crate::support::{CHROMIUM, Portal, browser_available, interop_dir, quoted_printable};

const NEW_USER: &str = "Pieter Smit";
const NEW_USER_EMAIL: &str = "pieter@voorbeeldadvies.nl";
const SUB_NAME: &str = "Onderbemiddeling Oost";
const SUB_EMAIL: &str = "oost@onderbemiddeling.nl";
const SUB_NUMBER: &str = "O02";
const SUB_PASSWORD: &str = "zeilboten varen langs de kust van friesland";

/// Where the screenshots go: a test artifact beside the build, kept after the run.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots/beheer")
}

/// Runs `beheer.mjs` with `args` and returns its JSON report; panics with its output when
/// a step failed.
async fn run_browser(portal: &Portal, phase: &str, args: &[&str]) -> Value {
    let stdout = portal.data_dir.join(format!("beheer-{phase}.out"));
    let stderr = portal.data_dir.join(format!("beheer-{phase}.err"));
    let shots = screenshot_dir();
    let mut child = tokio::process::Command::new("node")
        .arg(interop_dir().join("beheer.mjs"))
        .args([
            "--phase",
            phase,
            "--base",
            &portal.base,
            "--chromium",
            CHROMIUM,
        ])
        .arg("--shots")
        .arg(&shots)
        .args(args)
        .current_dir(&portal.data_dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let status = match tokio::time::timeout(Duration::from_secs(180), child.wait()).await {
        Ok(status) => Some(status.unwrap()),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let report: Value = match out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(serde_json::from_str)
    {
        Some(Ok(v)) => v,
        _ => panic!(
            "beheer.mjs printed no JSON ({status:?}):\n{out}\n{err}\nportal:\n{}",
            portal.output()
        ),
    };
    println!("browser beheer {phase}: {report}");
    assert!(
        status.is_some_and(|s| s.success()) && report["ok"] == true,
        "beheer.mjs {phase} failed ({status:?}): {report:#}\n{err}\nportal:\n{}",
        portal.output()
    );
    report
}

#[tokio::test]
async fn a_main_user_follows_the_manual_in_a_real_browser() {
    if !browser_available("browser beheer test", &["playwright-core"]) {
        return;
    }
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let _ = std::fs::remove_dir_all(screenshot_dir());
    let (portal, password) = demo(&db, false).await;

    let report = run_browser(
        &portal,
        "beheer",
        &[
            "--username",
            MAIN,
            // One argument: the generated password may start with `-` (node's parseArgs).
            &format!("--password={password}"),
            "--user-name",
            NEW_USER,
            "--user-email",
            NEW_USER_EMAIL,
            "--sub-name",
            SUB_NAME,
            "--sub-email",
            SUB_EMAIL,
            "--sub-number",
            SUB_NUMBER,
        ],
    )
    .await;
    let steps = &report["steps"];
    // The manual's menu and columns, the registry's products.
    let menu: Vec<&str> = steps["sign_in"]["menu"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        menu.contains(&"Gebruikers") && menu.contains(&"Subkantoren"),
        "{menu:?}"
    );
    let columns: Vec<&str> = steps["nieuwe_gebruiker"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in ["Naam", "E-mail", "Rol", "Actief", "DIP", "DIL", "ORV"] {
        assert!(columns.contains(&c), "{c}: {columns:?}");
    }
    assert_eq!(steps["nieuwe_gebruiker"]["email_hint"], true);
    assert_eq!(steps["nieuw_subkantoor"]["email_hint"], true);
    assert_eq!(steps["nieuw_subkantoor"]["number_hint"], true);
    // O4: a sub-office is never offered ORV.
    let rights = steps["nieuw_subkantoor"]["rights"].to_string();
    assert!(
        rights.contains("Pensioenrechten (Zeker pensioen / Keuze pensioen)"),
        "{rights}"
    );
    assert!(
        !rights.contains("ORV") && !rights.contains("Overlijdensrisico"),
        "{rights}"
    );

    // "De nieuwe gebruiker ontvangt nu een activatielink."
    let user_link = portal.activation_link(NEW_USER_EMAIL).await;
    assert!(user_link.contains("/idp/activate/"), "{user_link}");

    // The sub-office's main user activates, signs in with the office e-mail and manages
    // its own employees.
    let sub_link = portal.activation_link(SUB_EMAIL).await;
    let sub = run_browser(
        &portal,
        "subkantoor",
        &[
            "--link",
            &sub_link,
            "--username",
            SUB_EMAIL,
            "--password",
            SUB_PASSWORD,
        ],
    )
    .await;
    let sub_steps = &sub["steps"];
    let greeting = sub_steps["sign_in"]["greeting"].as_str().unwrap();
    assert!(greeting.contains(SUB_NAME), "{greeting}");
    let sub_menu = sub_steps["sign_in"]["menu"].to_string();
    assert!(sub_menu.contains("Gebruikers"), "{sub_menu}");
    assert!(
        !sub_menu.contains("Subkantoren"),
        "O5: no sub-offices of a sub-office: {sub_menu}"
    );
    let users: Vec<&str> = sub_steps["gebruikers"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(users, [SUB_EMAIL], "only its own office's users");

    // Every screen was saved.
    let shots: Vec<String> = report["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .chain(sub["screenshots"].as_array().unwrap())
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    assert!(shots.len() >= 12, "{shots:?}");
    for s in &shots {
        let bytes = std::fs::read(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert!(bytes.starts_with(b"\x89PNG"), "{s} is no PNG");
    }
    // No other mail than the two activation mails went to these addresses.
    let to_sub = portal
        .smtp
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == SUB_EMAIL))
        .count();
    assert_eq!(to_sub, 1);
    let text = portal
        .smtp
        .messages()
        .iter()
        .find(|m| m.to.iter().any(|t| t == SUB_EMAIL))
        .map(|m| quoted_printable(&m.data))
        .unwrap();
    assert!(text.contains("Subject: Activeer uw account"), "{text}");
    println!("screenshots: {}", screenshot_dir().display());
}
