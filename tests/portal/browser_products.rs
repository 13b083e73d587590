//! An advisor's day in the product portals, in a real headless Chromium (SPEC P1–P5, §7):
//! `tests/interop/products.mjs` signs in as Tim, the sub-office's employee, at the
//! Offerte Portaal, clicks "Direct Ingaand Pensioen" and "Nieuwe offerte", fills in the
//! DIZP form without a koopsom and sees "Vul dit veld in." under that field with the rest
//! kept, then with "150.000" gets the quote of Onderbemiddeling Zuid (Z01) with its
//! figures, opens "Offerte als PDF", and makes the application ("Aanvraag indienen",
//! IBAN, postcode, the declaration) until "De aanvraag is ontvangen op". The head office's
//! main user then finds the quote as "Aangevraagd" on the "DIL/DIP Dashboard" and filters
//! it by the sub-office. The quote mail reaches the SMTP sink with a CC to the head office.
//! Every screen is saved as a PNG under `target/tmp/screenshots/products/<database>/`.
//!
//! Needs `npm ci --prefix tests/interop` and Debian's `chromium`. Without them the test
//! says SKIPPED and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::{Backend, TestDatabase};

use crate::admin_api::{MAIN, SUB_EMPLOYEE, demo};
use crate::support::{CHROMIUM, Portal, browser_available, interop_dir, quoted_printable};

const CLIENT: &str = "Henk de Vries";
const OFFICE: &str = "Onderbemiddeling Zuid (Z01)";

/// Where the screenshots go: a test artifact beside the build, kept after the run, one
/// directory per database (the two halves run at the same time).
fn screenshot_dir(db: &TestDatabase) -> PathBuf {
    let backend = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("screenshots/products/{backend}"))
}

/// A start date about two months ahead, as a date field takes it.
fn start_date() -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(60)).to_string()
}

/// Runs `products.mjs` and returns its JSON report; panics with its output when a step
/// failed.
async fn run_browser(portal: &Portal, password: &str, shots: &Path) -> Value {
    let stdout = portal.data_dir.join("products.out");
    let stderr = portal.data_dir.join("products.err");
    let mut child = tokio::process::Command::new("node")
        .arg(interop_dir().join("products.mjs"))
        .args(["--base", &portal.base, "--chromium", CHROMIUM])
        .arg("--shots")
        .arg(shots)
        // `--password=…`: a generated password may start with `-`, which node's parseArgs
        // would take for an option when given as a separate argument.
        .arg(format!("--password={password}"))
        .args(["--advisor", SUB_EMPLOYEE, "--main", MAIN])
        .args(["--client", CLIENT, "--purchase-sum", "150.000"])
        .args(["--birth-date", "1960-05-17"])
        .args(["--partner-birth-date", "1962-08-01"])
        .args(["--start-date", &start_date(), "--office", OFFICE])
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
    let report: Value = match out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(serde_json::from_str)
    {
        Some(Ok(v)) => v,
        _ => panic!(
            "products.mjs printed no JSON ({status:?}):\n{out}\n{err}\nportal:\n{}",
            portal.output()
        ),
    };
    println!("browser products: {report}");
    assert!(
        status.is_some_and(|s| s.success()) && report["ok"] == true,
        "products.mjs failed ({status:?}): {report:#}\n{err}\nportal:\n{}",
        portal.output()
    );
    report
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The value of the figure `label` on the quote page, in any section.
fn figure<'a>(steps: &'a Value, label: &str) -> Option<&'a str> {
    steps["quote"]["figures"]
        .as_array()?
        .iter()
        .flat_map(|s| s["rows"].as_array().into_iter().flatten())
        .find(|r| r[0] == label)
        .and_then(|r| r[1].as_str())
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

testkit::both_databases! {
    /// P1–P5 as an advisor and the head office see them, by the visible Dutch labels.
    async fn an_advisor_quotes_and_applies_in_a_real_browser(db: &TestDatabase) {
        if !browser_available("browser products test", &["playwright-core"]) {
            return;
        }
        let shots = screenshot_dir(db);
        let _ = std::fs::remove_dir_all(&shots);
        let (portal, password) = demo(db, false).await;
        let report = run_browser(&portal, &password, &shots).await;
        let steps = &report["steps"];

        // P1: Tim holds DIP only.
        assert_eq!(strings(&steps["sign_in"]["products"]), ["Direct Ingaand Pensioen"]);
        let dip_home = steps["product"]["text"].as_str().unwrap();
        assert!(dip_home.contains("Onderbemiddeling Zuid (Z01)"), "{dip_home}");
        assert!(dip_home.contains("Hoofdkantoor: Voorbeeld Advies"), "{dip_home}");
        assert_eq!(
            strings(&steps["product"]["menu"]),
            ["Direct Ingaand Pensioen", "Nieuwe offerte", "DIL/DIP Dashboard"]
        );

        // §7: the empty koopsom is refused under its own field, the rest is kept.
        let refused = &steps["form_error"];
        assert_eq!(refused["status"], 422);
        assert!(
            refused["purchase_sum_hint"].as_str().unwrap().contains("€ 25.000,00"),
            "{refused}"
        );
        assert_eq!(
            refused["alert"],
            "Niet alle gegevens zijn juist ingevuld. Pas de gemarkeerde velden aan."
        );
        assert_eq!(refused["field_error"], "Vul dit veld in.");
        assert_eq!(strings(&refused["errors"]), ["Vul dit veld in."], "only the koopsom");
        assert_eq!(refused["field_class"], "field invalid");
        assert_eq!(refused["aria_invalid"], "true");
        assert_eq!(refused["error_below_field"], true);
        let kept = &refused["kept"];
        assert_eq!(kept["kind"], true);
        assert_eq!(kept["client"], CLIENT);
        assert_eq!(kept["birth_date"], "1960-05-17");
        assert_eq!(kept["start_date"], start_date());
        assert_eq!(kept["frequency"], "monthly");
        assert_eq!(kept["partner_percent"], "70");
        assert_eq!(kept["partner_birth_date"], "1962-08-01");

        // P2: the quote of the sub-office, with its figures.
        let quote = &steps["quote"];
        let number = quote["number"].as_str().unwrap();
        assert!(number.starts_with("DIP-"), "{number}");
        assert_eq!(quote["title"], "Offerte Direct Ingaand Zeker Pensioen");
        let text = quote["text"].as_str().unwrap();
        assert!(
            text.contains("Kantoor: Onderbemiddeling Zuid (Z01), Markt 5"),
            "P2: {text}"
        );
        assert!(text.contains("Adviseur: "), "{text}");
        assert!(text.contains("Tarief DIP-"), "the tariff version: {text}");
        assert_eq!(figure(steps, "Naam verzekerde"), Some(CLIENT));
        assert_eq!(figure(steps, "Koopsom (pensioenkapitaal)"), Some("€ 150.000,00"));
        for label in [
            "Bruto uitkering per jaar",
            "Partnerpensioen per jaar",
            "Bruto uitkering per termijn (per maand)",
        ] {
            let value = figure(steps, label).unwrap_or_else(|| panic!("{label}: {quote}"));
            assert!(value.starts_with("€ ") && value != "€ 0,00", "{label}: {value}");
        }
        assert_eq!(
            strings(&quote["buttons"]),
            ["Offerte als PDF", "Aanvraag indienen"]
        );
        assert_eq!(quote["overflows"], json!([]), "the quote fits 1280 px");

        // The PDF, as the browser gets it.
        let pdf = &steps["pdf"];
        assert_eq!(pdf["status"], 200);
        assert_eq!(pdf["content_type"], "application/pdf");
        assert_eq!(pdf["magic"], "%PDF-");
        assert!(pdf["bytes"].as_u64().unwrap() > 1000, "{pdf}");
        assert_eq!(pdf["back_on_quote"], true, "the advisor returns to the quote");
        if let Some(name) = pdf["filename"].as_str() {
            assert_eq!(name, format!("offerte-{number}.pdf"));
        }

        // P5: the application.
        let applied = &steps["application"];
        assert_eq!(applied["title"], format!("Aanvraag {number}"));
        assert_eq!(applied["prefilled_name"], CLIENT);
        assert_eq!(applied["alert"], Value::Null);
        let received = applied["notice"].as_str().unwrap();
        assert!(received.starts_with("De aanvraag is ontvangen op "), "{received}");
        assert_eq!(applied["can_apply_again"], false);

        // P4: the head office sees it, applied for, and filters on the sub-office.
        let dashboard = &steps["dashboard"];
        assert_eq!(dashboard["title"], "DIL/DIP Dashboard");
        assert!(
            strings(&dashboard["offices"]).contains(&OFFICE),
            "{}",
            dashboard["offices"]
        );
        let row = &dashboard["row"];
        assert_eq!(row["Status"], "Aangevraagd", "{dashboard}");
        assert_eq!(row["Kantoor"], OFFICE);
        assert_eq!(row["Verzekerde"], CLIENT);
        let filtered = &steps["filter"];
        assert_eq!(filtered["selected"], OFFICE);
        assert_eq!(strings(&filtered["row_offices"]), [OFFICE], "{filtered}");
        assert_eq!(filtered["row"]["Status"], "Aangevraagd");
        assert!(
            filtered["rows"].as_u64() < dashboard["rows"].as_u64(),
            "the head office's own quotes are filtered out: {filtered}"
        );

        let table = json!({"table": true, "rowheader": false, "columnheader": true, "cell": true});
        assert_eq!(dashboard["roles"], table, "{dashboard}");
        assert_eq!(dashboard["overflows"], json!([]), "the dashboard fits 1280 px");
        assert_eq!(steps["tablet"]["dashboard_overflows"], json!([]), "and 800 px");

        // At 390 px nothing sticks out of the screen but the dashboard's table, which
        // scrolls sideways in its own box and stays a table for a screen reader; the quote's
        // figures stack label over value and stay rows with a header each.
        let phone = &steps["phone"];
        assert_eq!(phone["form_overflows"], json!([]), "{phone}");
        assert_eq!(phone["quote_overflows"], json!([]), "{phone}");
        assert_eq!(phone["dashboard_overflows"], json!([]), "{phone}");
        assert_eq!(phone["dashboard_scrolls"], true, "{phone}");
        assert_eq!(phone["dashboard_roles"], table, "{phone}");
        assert_eq!(
            phone["figures_roles"],
            json!({"table": true, "rowheader": true, "columnheader": false, "cell": true}),
            "{phone}"
        );

        // P2, P3: the quote mail to the sub-office and Tim, a CC to the head office.
        let subject = format!("Subject: Offerte {number}");
        let mail = portal
            .smtp
            .wait_for(|m| m.data.contains(&subject), Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no quote mail {number}"));
        assert!(mail.to.iter().any(|t| t == MAIN), "{:?}", mail.to);
        assert!(mail.to.iter().any(|t| t == SUB_EMPLOYEE), "{:?}", mail.to);
        assert_eq!(header(&mail.data, "Cc"), Some(MAIN), "{}", mail.data);
        assert!(mail.data.contains(&format!("offerte-{number}.pdf")));
        let confirmation = format!("Subject: Bevestiging aanvraag {number}");
        let mail = portal
            .smtp
            .wait_for(|m| m.data.contains(&confirmation), Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("no confirmation of {number}"));
        assert_eq!(header(&mail.data, "Cc"), Some(MAIN));
        assert!(quoted_printable(&mail.data).contains(CLIENT));

        // Every screen was saved.
        let files = strings(&report["screenshots"]);
        assert!(files.len() >= 14, "{files:?}");
        for s in &files {
            let bytes = std::fs::read(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(bytes.starts_with(b"\x89PNG"), "{s} is no PNG");
        }
        println!("screenshots: {}", shots.display());
    }
}
