//! Issue 3's end-to-end path: the CLI adds a head office, the activation mail arrives over
//! SMTP, its link sets a password, one sign-in with the advisor number reaches the home
//! page and the DIP portal, and ORV refuses. Then the ways it must fail.

use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};

use crate::support::{Browser, Portal};

const PASSWORD: &str = "blauwe tulpen in de lente";

async fn password_hash(portal: &Portal, email: &str) -> Option<String> {
    let db = portal.db().await;
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, Option<String>>(
        "SELECT password_hash FROM users WHERE email = $1"
    )
    .bind(email)
    .fetch_one(pool)
    .await)
    .unwrap()
}

fn add_head(portal: &Portal, number: &str, name: &str, email: &str, rights: &str) {
    let out = portal.cli(&[
        "office", "add-head", "--number", number, "--name", name, "--email", email, "--rights",
        rights,
    ]);
    assert!(
        out.status.success(),
        "add-head failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

testkit::both_databases! {
    /// See: issue 3, "The test that proves it".
    async fn head_office_activates_signs_in_once_and_reaches_a_portal(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_head(&portal, "12345", "Voorbeeld Advies", "Info@Voorbeeld.nl", "DIP,DIL");

        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        // Opening the link (twice, as a mail scanner might) only shows the form (SECURITY ML-02).
        for _ in 0..2 {
            let form = browser.get(&link).await;
            assert_eq!(form.status, 200);
            assert!(form.body.contains("Stel uw wachtwoord in"), "{}", form.body);
            assert!(form.body.contains(">Wachtwoord instellen</button>"), "{}", form.body);
        }
        assert_eq!(password_hash(&portal, "info@voorbeeld.nl").await, None);
        let done = browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Uw account is geactiveerd"));
        let hash = password_hash(&portal, "info@voorbeeld.nl").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "stored as argon2id, never as the password");

        // A signed-out visitor of the home page is sent to the idp's sign-in page.
        let login = browser.get("/").await;
        assert!(login.url.contains("/idp/login"), "{}", login.url);
        // A1: the main user signs in with the advisor number.
        let home = browser.sign_in(&login, "12345", PASSWORD).await;
        assert_eq!(home.status, 200, "{}", home.body);
        assert_eq!(home.url, format!("{}/", portal.base));
        assert!(home.body.contains("Welkom, Voorbeeld Advies"), "{}", home.body);
        assert!(home.body.contains("Direct Ingaand Pensioen"));
        assert!(home.body.contains("Direct Ingaande Lijfrente"));
        assert!(!home.body.contains("Overlijdensrisicoverzekering"), "ORV is not in the appointment");

        // SSO: the DIP portal greets the user without a second sign-in.
        let dip = browser.get("/dip").await;
        assert_eq!(dip.status, 200, "{}", dip.body);
        assert!(dip.body.contains("Welkom, Voorbeeld Advies"));
        assert!(dip.body.contains("Direct Ingaand Pensioen"));
        assert!(dip.hops.iter().any(|h| h.contains("/idp/authorize")), "DIP signed in through the idp: {:?}", dip.hops);
        assert!(!dip.hops.iter().any(|h| h.contains("/idp/login")), "no second sign-in: {:?}", dip.hops);

        // P1: ORV refuses with a clear page and a way back.
        let orv = browser.get("/orv").await;
        assert_eq!(orv.status, 403);
        assert!(orv.body.contains("Geen toegang"));
        assert!(orv.body.contains("Overlijdensrisicoverzekering"));
        assert!(orv.body.contains("Terug naar het Offerte Portaal"));
        assert!(!orv.hops.iter().any(|h| h.contains("/idp/login")));
    }

    /// See: issue 3, "A second run with a wrong password, a reused activation link and an
    /// expired link each gets its clear Dutch error and changes nothing."
    async fn wrong_password_reused_link_and_expired_link_change_nothing(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        add_head(&portal, "11111", "Eerste Kantoor", "een@kantoor.nl", "DIP");
        add_head(&portal, "22222", "Tweede Kantoor", "twee@kantoor.nl", "DIL");
        let first = portal.activation_link("een@kantoor.nl").await;
        let second = portal.activation_link("twee@kantoor.nl").await;
        let browser = Browser::new(&portal.base);
        let done = browser.post(&first, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert!(done.body.contains("Uw account is geactiveerd"));
        let hash = password_hash(&portal, "een@kantoor.nl").await;

        // A reused link: refused, and the password stays what it was.
        let other = "rode rozen in de zomerzon";
        let reused = browser.post(&first, &[("password", other), ("password_repeat", other)]).await;
        assert_eq!(reused.status, 410);
        assert!(reused.body.contains("Deze activatielink is al gebruikt"), "{}", reused.body);
        assert_eq!(password_hash(&portal, "een@kantoor.nl").await, hash);
        let reopened = browser.get(&first).await;
        assert_eq!(reopened.status, 410);

        // A wrong password: the same clear text, and no session.
        let stranger = Browser::new(&portal.base);
        let login = stranger.get("/").await;
        let failed = stranger.sign_in(&login, "11111", "dit is niet het wachtwoord").await;
        assert_eq!(failed.status, 200);
        assert!(failed.url.contains("/idp/login"));
        assert!(failed.body.contains("De combinatie van adviseursnummer of e-mailadres en wachtwoord is onbekend"));
        let still_out = stranger.get("/").await;
        assert!(still_out.url.contains("/idp/login"), "no session after a wrong password");
        // The same answer for a login that does not exist (no account enumeration).
        let unknown = stranger.sign_in(&still_out, "99999", PASSWORD).await;
        assert!(unknown.body.contains("De combinatie van adviseursnummer of e-mailadres en wachtwoord is onbekend"));
        // A not yet activated account answers the same too.
        let inactive = stranger.sign_in(&still_out, "twee@kantoor.nl", PASSWORD).await;
        assert!(inactive.body.contains("De combinatie van adviseursnummer of e-mailadres en wachtwoord is onbekend"));
        // The right password still works after all that.
        let home = stranger.sign_in(&still_out, "een@kantoor.nl", PASSWORD).await;
        assert!(home.body.contains("Welkom, Eerste Kantoor"), "{}", home.body);

        // An expired link: refused on GET and POST, and the account stays unactivated.
        let db = portal.db().await;
        let past = idp::store::at(OffsetDateTime::now_utc() - Duration::days(1));
        idp::with_db!(&db, |pool| sqlx::query(
            "UPDATE user_tokens SET expires_at = $1 WHERE user_id = (SELECT id FROM users WHERE email = $2)"
        )
        .bind(past)
        .bind("twee@kantoor.nl")
        .execute(pool)
        .await
        .map(|_| ()))
        .unwrap();
        let expired = browser.get(&second).await;
        assert_eq!(expired.status, 410);
        assert!(expired.body.contains("Deze activatielink is verlopen"), "{}", expired.body);
        let posted = browser.post(&second, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;
        assert_eq!(posted.status, 410);
        assert!(posted.body.contains("Deze activatielink is verlopen"));
        assert_eq!(password_hash(&portal, "twee@kantoor.nl").await, None);
        let activated: Option<OffsetDateTime> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT activated_at FROM users WHERE email = $1"
        )
        .bind("twee@kantoor.nl")
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(activated, None);
    }
}
