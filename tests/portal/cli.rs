//! The command line: settings errors, O1/U3 uniqueness through `office add-head`, and the
//! all-or-nothing `office import` with its `--dry-run` (issue 10).

use testkit::TestDatabase;

use crate::support::Portal;

async fn count(portal: &Portal, table: &str) -> i64 {
    let db = portal.db().await;
    let sql = match table {
        "offices" => "SELECT COUNT(*) FROM offices",
        "users" => "SELECT COUNT(*) FROM users",
        "outbox" => "SELECT COUNT(*) FROM outbox",
        _ => panic!("unknown table {table}"),
    };
    idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await)
    .unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

testkit::both_databases! {
    /// O1 (advisor number unique), U3/O3 (e-mail unique, case-insensitive): refused with the
    /// manual's words and nothing stored.
    async fn add_head_refuses_duplicates_and_stores_nothing(db: &TestDatabase) {
        let portal = Portal::new(db);
        let ok = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Een", "--email", "een@x.nl", "--rights", "DIP"]);
        assert!(ok.status.success(), "{}", stderr(&ok));
        let (offices, users, mails) = (count(&portal, "offices").await, count(&portal, "users").await, count(&portal, "outbox").await);
        assert_eq!((offices, users, mails), (1, 1, 1));

        let same_number = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Twee", "--email", "twee@x.nl", "--rights", "DIP"]);
        assert_eq!(same_number.status.code(), Some(2));
        assert!(stderr(&same_number).contains("Dit adviseursnummer is al in gebruik"), "{}", stderr(&same_number));
        let same_email = portal.cli(&["office", "add-head", "--number", "67890", "--name", "Twee", "--email", " EEN@X.nl", "--rights", "DIP"]);
        assert_eq!(same_email.status.code(), Some(2));
        assert!(stderr(&same_email).contains("al in gebruik"), "{}", stderr(&same_email));
        let bad_right = portal.cli(&["office", "add-head", "--number", "67890", "--name", "Twee", "--email", "twee@x.nl", "--rights", "DIP,XYZ"]);
        assert_eq!(bad_right.status.code(), Some(2));
        assert!(stderr(&bad_right).contains("Dit recht bestaat niet"));
        assert_eq!((count(&portal, "offices").await, count(&portal, "users").await, count(&portal, "outbox").await), (offices, users, mails));
    }

    /// `office import` is all-or-nothing: a bad row is reported with its line number and
    /// reason, a row that clashes with the database too, and nothing of the file is stored.
    async fn office_import_is_all_or_nothing(db: &TestDatabase) {
        let portal = Portal::new(db);
        let file = portal.data_dir.join("register.csv");
        std::fs::write(&file, "advisor_number,name,email,rights,allow_sub_offices\n\
            100,Kantoor Een,een@x.nl,\"DIP,DIL\",ja\n\
            200,Kantoor Twee,twee@x.nl,ORV,nee\n\
            300,Kantoor Drie,geen-adres,DIP,nee\n").unwrap();
        let out = portal.cli(&["office", "import", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("register.csv:4: Vul een geldig e-mailadres in."), "{}", stderr(&out));
        assert!(stderr(&out).contains("nothing was imported"));
        assert_eq!(count(&portal, "offices").await, 0);

        // A new office's e-mail the database holds: still nothing.
        let ok = portal.cli(&["office", "add-head", "--number", "200", "--name", "Bestaand", "--email", "bestaand@x.nl", "--rights", "ORV"]);
        assert!(ok.status.success());
        std::fs::write(&file, "advisor_number;name;email;rights\n\
            100;Kantoor Een;een@x.nl;DIP DIL\n\
            400;Kantoor Vier;Bestaand@x.nl;ORV\n").unwrap();
        let out = portal.cli(&["office", "import", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("register.csv:3: Dit e-mailadres is al in gebruik"), "{}", stderr(&out));
        assert_eq!(count(&portal, "offices").await, 1);
        assert_eq!(count(&portal, "users").await, 1);
        assert_eq!(count(&portal, "outbox").await, 1);

        // A good file is stored whole, with an activation mail per main user.
        std::fs::write(&file, "advisor_number,name,email,rights\n100,Kantoor Een,een@x.nl,DIP\n300,Kantoor Drie,drie@x.nl,DIL\n").unwrap();
        let out = portal.cli(&["office", "import", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(count(&portal, "offices").await, 3);
        for to in ["een@x.nl", "drie@x.nl"] {
            assert!(portal.smtp.wait_for(|m| m.to.iter().any(|t| t == to), std::time::Duration::from_secs(10)).await.is_some(), "no mail to {to}");
        }
    }

    /// Issue 10: `--dry-run` prints per row what would happen, with the counts, and
    /// changes nothing (no row, version, mail, link, audit entry or job); the import then
    /// creates and changes as planned (the e-mail of an existing office never), and the
    /// same file again is all unchanged.
    async fn office_import_dry_run_changes_nothing_and_twice_is_unchanged(db: &TestDatabase) {
        let portal = Portal::new(db);
        let ok = portal.cli(&["office", "add-head", "--number", "200", "--name", "Bestaand", "--email", "bestaand@x.nl", "--rights", "ORV"]);
        assert!(ok.status.success(), "{}", stderr(&ok));
        let file = portal.data_dir.join("register.csv");
        std::fs::write(&file, "advisor_number;name;email;rights;allow_sub_offices\n\
            100;Kantoor Een;een@x.nl;DIP DIL;ja\n\
            200;Kantoor Twee;twee@x.nl;ORV DIP;nee\n").unwrap();
        let state = || async {
            let store = portal.db().await;
            idp::with_db!(&store, |pool| {
                let offices: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT number, name, email, version FROM offices ORDER BY number").fetch_all(pool).await.unwrap();
                let mut counts = Vec::new();
                for sql in ["SELECT COUNT(*) FROM users", "SELECT COUNT(*) FROM outbox", "SELECT COUNT(*) FROM user_tokens",
                            "SELECT COUNT(*) FROM audit_log", "SELECT COUNT(*) FROM import_jobs"] {
                    counts.push(sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.unwrap());
                }
                (offices, counts)
            })
        };
        let before = state().await;
        let dry = portal.cli(&["office", "import", "--dry-run", file.to_str().unwrap()]);
        assert!(dry.status.success(), "{}", stderr(&dry));
        let out = String::from_utf8_lossy(&dry.stdout).into_owned();
        assert!(out.contains("register.csv:2: 100 Kantoor Een: new head office"), "{out}");
        assert!(out.contains("register.csv:3: 200 Kantoor Twee: change name 'Bestaand' -> 'Kantoor Twee', rights 'ORV' -> 'DIP,ORV'"), "{out}");
        assert!(out.contains("(e-mail twee@x.nl not applied: the office keeps bestaand@x.nl)"), "{out}");
        assert!(out.contains("1 new, 1 changed, 0 unchanged"), "{out}");
        assert!(out.contains("dry run: nothing was changed"), "{out}");
        assert_eq!(state().await, before, "a dry run changes nothing");
        assert!(portal.smtp.wait_for(|m| m.to.iter().any(|t| t == "een@x.nl"), std::time::Duration::from_millis(300)).await.is_none());

        let applied = portal.cli(&["office", "import", file.to_str().unwrap()]);
        assert!(applied.status.success(), "{}", stderr(&applied));
        assert!(String::from_utf8_lossy(&applied.stdout).contains("1 new, 1 changed, 0 unchanged"));
        let (offices, _) = state().await;
        assert_eq!(offices, [
            ("100".to_owned(), "Kantoor Een".to_owned(), "een@x.nl".to_owned(), 1),
            ("200".to_owned(), "Kantoor Twee".to_owned(), "bestaand@x.nl".to_owned(), 2),
        ]);
        assert!(portal.smtp.wait_for(|m| m.to.iter().any(|t| t == "een@x.nl"), std::time::Duration::from_secs(10)).await.is_some());

        let after = state().await;
        let again = portal.cli(&["office", "import", file.to_str().unwrap()]);
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(String::from_utf8_lossy(&again.stdout).contains("0 new, 0 changed, 2 unchanged"), "{}", String::from_utf8_lossy(&again.stdout));
        let twice = state().await;
        assert_eq!(twice.0, after.0, "no office changed the second time");
        assert_eq!(twice.1[..3], after.1[..3], "no user, mail or link more");
    }
}

#[test]
fn a_bad_setting_stops_start_up_and_names_the_setting() {
    for (var, value) in [
        ("PORTAL_LISTEN", "nergens"),
        ("PORTAL_DATABASE_URL", "mysql://x"),
        ("PORTAL_MFA_REQUIRED_FROM", "1 juli"),
        ("PORTAL_SESSION_HOURS", "veel"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
            .env(var, value)
            .arg("migrate")
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}={value} was accepted");
        assert!(stderr(&out).contains(var), "{var}: {}", stderr(&out));
    }
}

#[test]
fn a_bad_value_in_the_settings_file_names_the_setting() {
    let dir = std::env::temp_dir().join(format!("portal-conf-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("portal.toml");
    std::fs::write(&file, "listen = \"nergens\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PORTAL_LISTEN"), "{}", stderr(&out));
    std::fs::write(&file, "session_hours = \"lang\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("PORTAL_SESSION_HOURS"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 4: client secrets are random: without `--secret` the portal makes one, prints it
/// once, stores only its hash, and the client can use it.
#[tokio::test]
async fn client_add_without_a_secret_makes_a_random_one() {
    let Some(db) = testkit::fresh_database(testkit::Backend::Sqlite).await else {
        return;
    };
    let mut portal = Portal::new(&db);
    portal.start().await;
    let out = portal.cli(&[
        "client",
        "add",
        "--id",
        "dienst",
        "--grant-type",
        "client_credentials",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = printed
        .lines()
        .find_map(|l| l.split("store it in the client now): ").nth(1))
        .expect("the secret is printed")
        .trim()
        .to_owned();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    let db = portal.db().await;
    let stored: Option<Vec<u8>> = idp::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT secret_hash FROM clients WHERE client_id = 'dienst'"
    )
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(stored.unwrap(), idp::crypto::token_hash(&secret));
    let res = reqwest::Client::new()
        .post(format!("{}/idp/token", portal.base))
        .basic_auth("dienst", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn migrate_prepares_the_idp_and_the_product_portals_and_can_run_twice() {
    let dir =
        std::env::temp_dir().join(format!("portal-migrate-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/portal.db", dir.display());
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
            .env("PORTAL_DATABASE_URL", &url)
            .env("PORTAL_DATA_DIR", &dir)
            .arg("migrate")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            said.contains("product portals' database migrated"),
            "{said}"
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n: i64 = rt.block_on(async {
        let db = product_adapters::store::ProductDb::connect(&url)
            .await
            .unwrap();
        let product_adapters::store::ProductDb::Sqlite(pool) = &db else {
            unreachable!()
        };
        sqlx::query_scalar("SELECT COUNT(*) FROM _product_migrations")
            .fetch_one(pool)
            .await
            .unwrap()
    });
    assert!(
        n >= 1,
        "the products' migrations are recorded apart from the idp's"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_tariff_file_stops_start_up_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("portal-tariff-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("tariffs")).unwrap();
    std::fs::write(
        dir.join("tariffs/dip.toml"),
        "product = \"DIP\"\nversion = \n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .env(
            "PORTAL_DATABASE_URL",
            format!("sqlite://{}/portal.db", dir.display()),
        )
        .env("PORTAL_DATA_DIR", &dir)
        .env("PORTAL_TARIFF_DIR", dir.join("tariffs"))
        .env("PORTAL_LISTEN", "127.0.0.1:0")
        .arg("serve")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken tariff was accepted");
    assert!(stderr(&out).contains("dip.toml"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
