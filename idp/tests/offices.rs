//! O7 against a real database (SQLite and PostgreSQL): the idp's deletion of a sub-office
//! asks every product's `QuoteCheck`; one that holds quotes refuses it (409), one that
//! cannot answer refuses it too (fail closed, 503), and only when every check says "no"
//! are the office and its users removed. The checks are small real implementations of the
//! plug-in trait; the database and the flow are the real ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use idp::Idp;
use idp::config::{RawSettings, Settings};
use idp::domain::Email;
use idp::manage::ManageError;
use idp::quotes::{QuoteCheck, QuoteCheckError};
use idp::store::accounts;
use product_registry::Registry;
use testkit::TestDatabase;
use uuid::Uuid;

/// A product whose answer is fixed: `Some(yes)` or `None` for "cannot say".
struct Product(&'static str, Option<bool>);

#[async_trait::async_trait]
impl QuoteCheck for Product {
    fn product(&self) -> &str {
        self.0
    }
    async fn has_quotes(&self, _office_id: Uuid) -> Result<bool, QuoteCheckError> {
        self.1.ok_or_else(|| QuoteCheckError {
            product: self.0.into(),
            reason: "the product's database is unreachable".into(),
        })
    }
}

fn checks(list: Vec<Product>) -> Vec<Arc<dyn QuoteCheck>> {
    list.into_iter()
        .map(|p| Arc::new(p) as Arc<dyn QuoteCheck>)
        .collect()
}

async fn open(db: &TestDatabase) -> (Idp, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("idp-offices-{}", Uuid::new_v4().simple()));
    let settings = Settings::from_raw(RawSettings {
        database_url: db.url.clone(),
        data_dir: dir.display().to_string(),
        master_key: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ..RawSettings::default()
    })
    .unwrap();
    let idp = Idp::open(settings, Registry::builtin().unwrap())
        .await
        .unwrap();
    idp::demo::seed(&idp.state, idp.state.now()).await.unwrap();
    (idp, dir)
}

async fn count(idp: &Idp, sql: &'static str) -> i64 {
    idp::with_db!(&idp.state.db, |pool| sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

testkit::both_databases! {
    async fn o7_deletion_asks_every_product_and_fails_closed(db: &TestDatabase) {
        let (idp, dir) = open(db).await;
        let core = &idp.state;
        let main = accounts::user_by_email(&core.db, &Email::parse("info@voorbeeldadvies.nl").unwrap(), &core.registry)
            .await.unwrap().unwrap();
        let caller = accounts::principal(&core.db, main.id, &core.registry).await.unwrap().unwrap();
        let zuid: Uuid = idp::with_db!(&core.db, |pool| sqlx::query_scalar("SELECT id FROM offices WHERE number = 'Z01'")
            .fetch_one(pool).await.unwrap());
        let before = (count(&idp, "SELECT COUNT(*) FROM offices").await, count(&idp, "SELECT COUNT(*) FROM users").await);

        idp.set_quote_checks(checks(vec![Product("DIP", Some(false)), Product("DIL", None)]));
        let e = idp::offices::delete(core, &caller, zuid, 1, None, core.now()).await.unwrap_err();
        assert!(matches!(e, ManageError::QuotesUnknown(ref p) if p == &["DIL"]), "{e:?}");
        let p = idp::api::problem::Problem::of(core, e);
        assert_eq!(p.status.as_u16(), 503);
        assert!(p.detail.contains("niet worden nagegaan"), "{}", p.detail);

        idp.set_quote_checks(checks(vec![Product("DIP", Some(true)), Product("DIL", None)]));
        let e = idp::offices::delete(core, &caller, zuid, 1, None, core.now()).await.unwrap_err();
        assert!(matches!(e, ManageError::HasQuotes(ref p) if p == &["DIP"]), "{e:?}");
        let p = idp::api::problem::Problem::of(core, e);
        assert_eq!(p.status.as_u16(), 409);
        assert!(p.detail.contains("offertes") && p.detail.contains("DIP"), "{}", p.detail);
        let after = (count(&idp, "SELECT COUNT(*) FROM offices").await, count(&idp, "SELECT COUNT(*) FROM users").await);
        assert_eq!(after, before, "nothing deleted");
        assert_eq!(count(&idp, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.deleted'").await, 0);

        idp.set_quote_checks(checks(vec![Product("DIP", Some(false)), Product("DIL", Some(false))]));
        idp::offices::delete(core, &caller, zuid, 1, None, core.now()).await.unwrap();
        let after = (count(&idp, "SELECT COUNT(*) FROM offices").await, count(&idp, "SELECT COUNT(*) FROM users").await);
        assert_eq!(after, (before.0 - 1, before.1 - 2));
        assert_eq!(count(&idp, "SELECT COUNT(*) FROM audit_log WHERE action = 'office.deleted'").await, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
