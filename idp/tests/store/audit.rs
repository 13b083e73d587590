//! The audit log (SPEC L1, SECURITY AD-03): the database itself refuses to change or remove
//! an entry, on both kinds.

use idp::store::audit::{self, AuditRecord};
use testkit::TestDatabase;
use uuid::Uuid;

use crate::support::{T0, count, exec, head_office, open, store, user_id};

testkit::both_databases! {
    /// AD-03: UPDATE and DELETE on audit_log fail; the entry stays as written.
    async fn ad03_the_audit_log_is_append_only(db: &TestDatabase) {
        let db = open(db).await;
        let account = head_office("12345", "info@een.nl", "DIP");
        store(&db, &account).await;
        let user = user_id(&account);
        let entry = AuditRecord {
            actor_id: Some(user),
            target_user_id: Some(user),
            ..AuditRecord::new("login.succeeded")
        };
        audit::record(&db, &entry, T0).await.unwrap();
        let before = count(&db, "audit_log").await;
        assert_eq!(before, 2, "office.created and login.succeeded");

        // The same path changes other tables: the refusals below are the audit log's own.
        assert_eq!(
            exec(&db, "UPDATE users SET name = 'Nieuw' WHERE id = $1", user)
                .await
                .unwrap(),
            1
        );

        let refused: [&'static str; 4] = [
            "UPDATE audit_log SET action = 'nothing.happened' WHERE id = $1",
            "UPDATE audit_log SET actor_id = NULL WHERE action <> '' OR id = $1",
            "DELETE FROM audit_log WHERE id = $1",
            "DELETE FROM audit_log WHERE action <> '' OR id = $1",
        ];
        for sql in refused {
            let result = exec(&db, sql, entry.id).await;
            assert!(result.is_err(), "{sql} was allowed: {result:?}");
        }

        // Row triggers do not see TRUNCATE; PostgreSQL refuses it with a statement trigger
        // (SQLite has no TRUNCATE).
        if let idp::store::Db::Postgres(pool) = &db {
            let truncated = sqlx::query("TRUNCATE audit_log").execute(pool).await;
            assert!(truncated.is_err(), "TRUNCATE audit_log was allowed");
        }

        assert_eq!(count(&db, "audit_log").await, before);
        let rows = audit::for_user(&db, user, 10).await.unwrap();
        let kept = rows.iter().find(|r| r.id == entry.id).unwrap();
        assert_eq!(
            (kept.action.as_str(), kept.actor_id, kept.at),
            ("login.succeeded", Some(user), T0)
        );
    }

    /// AD-03: detail is stored as JSON, so a line break in a value cannot forge a line of
    /// its own in an export or a log of the table.
    async fn ad03_detail_is_stored_encoded(db: &TestDatabase) {
        let db = open(db).await;
        let target = Uuid::now_v7();
        let entry = AuditRecord {
            target_user_id: Some(target),
            detail: serde_json::json!({ "name": "a\nFAKE login.succeeded" }),
            ..AuditRecord::new("user.renamed")
        };
        audit::record(&db, &entry, T0).await.unwrap();

        let rows = audit::for_user(&db, target, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(
            !rows[0].detail.contains('\n'),
            "raw line break stored: {:?}",
            rows[0].detail
        );
        let back: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!(back, entry.detail);
    }
}
