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

/// The audit view (SPEC L1, SECURITY AC-02/AC-03): a world of two head offices, one with a
/// sub-office, an insurer admin, and entries of every shape the writers make.
mod view {
    use idp::domain::manage::Scope;
    use idp::store::Db;
    use idp::store::audit::{self, AuditEntry, AuditQuery, AuditRecord};
    use idp::store::offices::{self, Outcome};
    use std::collections::HashSet;
    use testkit::TestDatabase;
    use time::{Duration, OffsetDateTime};
    use uuid::Uuid;

    use crate::support::{
        T0, count, employee, head_office, insurer_admin, office_id, open, registry, store,
        sub_office, user_id,
    };

    /// Who is who, and the entries written about them (besides the accounts' own).
    pub(super) struct World {
        pub h: Uuid,
        pub s: Uuid,
        pub b: Uuid,
        pub main_h: Uuid,
        pub emp_h: Uuid,
        pub main_s: Uuid,
        pub main_b: Uuid,
        pub emp_b: Uuid,
        pub admin: Uuid,
        /// eH signs in (actor and target eH, office H), day 1.
        pub e_login_h: Uuid,
        /// A wrong password for eB (office B, an address), day 2.
        pub e_failed_b: Uuid,
        /// mH changes mS (office S), day 3.
        pub e_update_s: Uuid,
        /// A wrong password for mS (office S), day 3.
        pub e_failed_s: Uuid,
        /// mB is refused H's employee (no office): B's own business, day 4.
        pub e_probe_by_b: Uuid,
        /// mH is refused office B: H's own business, day 4.
        pub e_probe_by_h: Uuid,
        /// The insurer creates a user in B, day 5.
        pub e_insurer_b: Uuid,
        /// A failed passkey sign-in of eH: a user, no office (joined through users), day 5.
        pub e_no_office_h: Uuid,
    }

    fn day(n: i64) -> OffsetDateTime {
        T0 + Duration::days(n)
    }

    async fn write(db: &Db, rec: AuditRecord, at: OffsetDateTime) -> Uuid {
        audit::record(db, &rec, at).await.unwrap();
        rec.id
    }

    pub(super) async fn world(db: &Db) -> World {
        let head_h = head_office("11111", "info@hoofd.nl", "DIP,DIL");
        let h = office_id(&head_h);
        let sub = sub_office(h, "Z01", "zuid@hoofd.nl", "DIP");
        let emp = employee(h, "ilse@hoofd.nl", "DIP");
        let head_b = head_office("22222", "info@ander.nl", "DIL");
        let b = office_id(&head_b);
        let emp_b = employee(b, "joost@ander.nl", "DIL");
        let admin = insurer_admin("beheer@verzekeraar.nl");
        for a in [&head_h, &sub, &emp, &head_b, &emp_b, &admin] {
            store(db, a).await;
        }
        let (main_h, emp_h, main_s, main_b, emp_bid, admin_id) = (
            user_id(&head_h),
            user_id(&emp),
            user_id(&sub),
            user_id(&head_b),
            user_id(&emp_b),
            user_id(&admin),
        );
        let s = office_id(&sub);
        let rec = |action: &'static str,
                   actor: Option<Uuid>,
                   user: Option<Uuid>,
                   office: Option<Uuid>| AuditRecord {
            actor_id: actor,
            target_user_id: user,
            target_office_id: office,
            ip: Some("192.0.2.7".into()),
            ..AuditRecord::new(action)
        };
        World {
            e_login_h: write(
                db,
                rec("login.succeeded", Some(emp_h), Some(emp_h), Some(h)),
                day(1),
            )
            .await,
            e_failed_b: write(
                db,
                rec("login.failed", None, Some(emp_bid), Some(b)),
                day(2),
            )
            .await,
            e_update_s: write(
                db,
                rec("user.updated", Some(main_h), Some(main_s), Some(s)),
                day(3),
            )
            .await,
            e_failed_s: write(db, rec("login.failed", None, Some(main_s), Some(s)), day(3)).await,
            e_probe_by_b: write(
                db,
                rec("admin.denied", Some(main_b), Some(emp_h), None),
                day(4),
            )
            .await,
            e_probe_by_h: write(db, rec("admin.denied", Some(main_h), None, Some(b)), day(4)).await,
            e_insurer_b: write(
                db,
                rec("user.created", Some(admin_id), Some(emp_bid), Some(b)),
                day(5),
            )
            .await,
            e_no_office_h: write(db, rec("login.failed", None, Some(emp_h), None), day(5)).await,
            h,
            s,
            b,
            main_h,
            emp_h,
            main_s,
            main_b,
            emp_b: emp_bid,
            admin: admin_id,
        }
    }

    /// Every entry `scope` gets for `q`, page after page (`limit` a page), checking that
    /// each page is newest first and that the cursor moves on.
    pub(super) async fn all(db: &Db, scope: Scope, q: &AuditQuery, limit: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        let mut before = None;
        for _ in 0..1000 {
            let page = audit::search(
                db,
                scope,
                &AuditQuery {
                    before,
                    limit,
                    ..q.clone()
                },
            )
            .await
            .unwrap();
            assert!(page.entries.len() as i64 <= limit);
            out.extend(page.entries);
            match page.next {
                Some(n) => {
                    assert_eq!(Some(n), out.last().map(|e| e.id));
                    before = Some(n);
                }
                None => return out,
            }
        }
        panic!("paging never ended");
    }

    fn ids(entries: &[AuditEntry]) -> HashSet<Uuid> {
        entries.iter().map(|e| e.id).collect()
    }

    fn q() -> AuditQuery {
        AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        }
    }

    testkit::both_databases! {
        /// AC-02/AC-03: a main user gets its tree's entries and never another tree's: not
        /// B's sign-ins, not the insurer's acts in B, not B's probe of H's user. Its own
        /// probe of B stays its own, without B's name.
        async fn l1_a_main_user_sees_only_its_office_tree(db: &TestDatabase) {
            let db = open(db).await;
            let w = world(&db).await;
            let seen = all(&db, Scope::OfficeTree(w.h), &q(), 100).await;
            let got = ids(&seen);
            for e in [w.e_login_h, w.e_update_s, w.e_failed_s, w.e_probe_by_h, w.e_no_office_h] {
                assert!(got.contains(&e), "{e} missing");
            }
            for e in [w.e_failed_b, w.e_probe_by_b, w.e_insurer_b] {
                assert!(!got.contains(&e), "{e} of another tree leaked");
            }
            let b_users = [w.main_b, w.emp_b];
            for e in &seen {
                assert!(!e.actor.as_ref().is_some_and(|a| b_users.contains(&a.id)), "{e:?}");
                assert!(!e.target_user.as_ref().is_some_and(|u| b_users.contains(&u.id)), "{e:?}");
                if let Some(o) = e.target_office.as_ref().filter(|o| o.id == w.b) {
                    assert_eq!(e.id, w.e_probe_by_h);
                    assert_eq!((o.name.as_deref(), o.number.as_deref()), (None, None), "B's name leaked");
                }
            }
            // The head office's view of its own entries carries the names.
            let update = seen.iter().find(|e| e.id == w.e_update_s).unwrap();
            assert_eq!(update.actor.as_ref().unwrap().name.as_deref(), Some("Gebruiker info@hoofd.nl"));
            assert_eq!(update.target_office.as_ref().unwrap().number.as_deref(), Some("Z01"));
            assert_eq!(update.ip.as_deref(), Some("192.0.2.7"));

            // B sees its own entries, and its probe of H's user names no one of H.
            let seen_b = all(&db, Scope::OfficeTree(w.b), &q(), 100).await;
            let got_b = ids(&seen_b);
            for e in [w.e_failed_b, w.e_probe_by_b, w.e_insurer_b] {
                assert!(got_b.contains(&e), "{e} missing for B");
            }
            for e in [w.e_login_h, w.e_update_s, w.e_failed_s, w.e_probe_by_h, w.e_no_office_h] {
                assert!(!got_b.contains(&e), "{e} of H leaked to B");
            }
            let probe = seen_b.iter().find(|e| e.id == w.e_probe_by_b).unwrap();
            let target = probe.target_user.as_ref().unwrap();
            assert_eq!((target.id, target.name.as_deref(), target.email.as_deref()), (w.emp_h, None, None));
            // The insurer's admin is named to the office it acted on.
            let by_insurer = seen_b.iter().find(|e| e.id == w.e_insurer_b).unwrap();
            assert_eq!(by_insurer.actor.as_ref().unwrap().name.as_deref(), Some("Gebruiker beheer@verzekeraar.nl"));
        }

        /// A head office sees its sub-office's entries; the sub-office sees its own, not
        /// the head office's, and the head office's main user acting on it by name. An
        /// employee's scope sees nothing; the insurer sees every entry.
        async fn l1_a_head_office_sees_its_sub_office_and_the_insurer_all(db: &TestDatabase) {
            let db = open(db).await;
            let w = world(&db).await;
            let seen_s = all(&db, Scope::OfficeTree(w.s), &q(), 100).await;
            let got_s = ids(&seen_s);
            assert!(got_s.contains(&w.e_update_s) && got_s.contains(&w.e_failed_s));
            assert!(seen_s.iter().any(|e| e.target_user.as_ref().map(|u| u.id) == Some(w.main_s)));
            for e in [w.e_login_h, w.e_probe_by_h, w.e_no_office_h, w.e_failed_b] {
                assert!(!got_s.contains(&e), "{e} leaked to the sub-office");
            }
            let update = seen_s.iter().find(|e| e.id == w.e_update_s).unwrap();
            assert_eq!(update.actor.as_ref().unwrap().id, w.main_h);
            assert!(update.actor.as_ref().unwrap().name.is_some());

            assert!(all(&db, Scope::Nobody, &q(), 100).await.is_empty());
            let everything = all(&db, Scope::Everyone, &q(), 100).await;
            assert_eq!(everything.len() as i64, count(&db, "audit_log").await);
            let probe = everything.iter().find(|e| e.id == w.e_probe_by_b).unwrap();
            assert!(probe.target_user.as_ref().unwrap().name.is_some(), "the insurer sees names");
        }

        /// O7 deletes a sub-office and its users; the entries about it stay in the head
        /// office's log (through the deletion's own entry), and only there.
        async fn l1_a_deleted_sub_offices_entries_stay_with_its_head_office(db: &TestDatabase) {
            let db = open(db).await;
            let w = world(&db).await;
            let s = offices::get(&db, Scope::Everyone, w.s, &registry()).await.unwrap().unwrap();
            let deleted = AuditRecord {
                actor_id: Some(w.main_h),
                target_office_id: Some(w.s),
                detail: serde_json::json!({ "before": { "parent_id": w.h, "name": "Kantoor Z01" } }),
                ..AuditRecord::new("office.deleted")
            };
            let outcome = offices::delete_sub_office(&db, w.s, s.version, &[], &deleted, day(6)).await.unwrap();
            assert_eq!(outcome, Outcome::Done);

            let got = ids(&all(&db, Scope::OfficeTree(w.h), &q(), 100).await);
            for e in [w.e_update_s, w.e_failed_s, deleted.id] {
                assert!(got.contains(&e), "{e} lost with the sub-office");
            }
            let got_b = ids(&all(&db, Scope::OfficeTree(w.b), &q(), 100).await);
            for e in [w.e_update_s, w.e_failed_s, deleted.id] {
                assert!(!got_b.contains(&e), "{e} leaked to B");
            }
            // The office filter on the head office holds them too.
            let filtered = AuditQuery { office_id: Some(w.h), ..q() };
            let got = ids(&all(&db, Scope::Everyone, &filtered, 100).await);
            assert!(got.contains(&w.e_failed_s) && !got.contains(&w.e_failed_b));
        }

        /// Each filter, alone, within the reader's scope.
        async fn l1_each_filter_narrows_the_log(db: &TestDatabase) {
            let db = open(db).await;
            let w = world(&db).await;
            let h = Scope::OfficeTree(w.h);

            // Office: a head office's tree includes its sub-office; a sub-office is its own.
            let of_h = ids(&all(&db, Scope::Everyone, &AuditQuery { office_id: Some(w.h), ..q() }, 100).await);
            assert!(of_h.contains(&w.e_login_h) && of_h.contains(&w.e_failed_s));
            assert!(!of_h.contains(&w.e_failed_b) && !of_h.contains(&w.e_insurer_b));
            let of_s = ids(&all(&db, h, &AuditQuery { office_id: Some(w.s), ..q() }, 100).await);
            assert!(of_s.contains(&w.e_update_s) && of_s.contains(&w.e_failed_s));
            assert!(!of_s.contains(&w.e_login_h) && !of_s.contains(&w.e_no_office_h));
            // Another tree's office through a main user's scope: nothing.
            assert!(all(&db, h, &AuditQuery { office_id: Some(w.b), ..q() }, 100).await.is_empty());

            // User: as actor or as target.
            let of_main_h = all(&db, h, &AuditQuery { user_id: Some(w.main_h), ..q() }, 100).await;
            assert!(of_main_h.iter().all(|e| e.actor.as_ref().map(|a| a.id) == Some(w.main_h)
                || e.target_user.as_ref().map(|u| u.id) == Some(w.main_h)));
            let got = ids(&of_main_h);
            assert!(got.contains(&w.e_update_s) && got.contains(&w.e_probe_by_h));
            assert!(!got.contains(&w.e_login_h));
            let of_emp_h = ids(&all(&db, h, &AuditQuery { user_id: Some(w.emp_h), ..q() }, 100).await);
            assert!(of_emp_h.contains(&w.e_login_h) && of_emp_h.contains(&w.e_no_office_h));
            assert!(!of_emp_h.contains(&w.e_probe_by_b), "B's probe stays B's");

            // Kind: one action, or a prefix.
            let failed = all(&db, Scope::Everyone, &AuditQuery { action: Some("login.failed".into()), ..q() }, 100).await;
            assert_eq!(ids(&failed), HashSet::from([w.e_failed_b, w.e_failed_s, w.e_no_office_h]));
            let login = all(&db, h, &AuditQuery { action: Some("login.".into()), ..q() }, 100).await;
            assert_eq!(ids(&login), HashSet::from([w.e_login_h, w.e_failed_s, w.e_no_office_h]));
            let admin = all(&db, Scope::Everyone, &AuditQuery { action: Some("admin.".into()), ..q() }, 100).await;
            assert_eq!(ids(&admin), HashSet::from([w.e_probe_by_b, w.e_probe_by_h]));
            // A prefix is not a pattern: `_` and `%` match only themselves.
            let none = all(&db, Scope::Everyone, &AuditQuery { action: Some("lo_in.".into()), ..q() }, 100).await;
            assert!(none.is_empty());

            // Period: from (inclusive) and until (exclusive).
            let period = AuditQuery { from: Some(day(3)), until: Some(day(4)), ..q() };
            let got = all(&db, Scope::Everyone, &period, 100).await;
            assert_eq!(ids(&got), HashSet::from([w.e_update_s, w.e_failed_s]));
            assert!(got.iter().all(|e| e.at >= day(3) && e.at < day(4)));
            let admin_id = w.admin;
            let from5 = all(&db, Scope::Everyone, &AuditQuery { from: Some(day(5)), ..q() }, 100).await;
            assert_eq!(ids(&from5), HashSet::from([w.e_insurer_b, w.e_no_office_h]));
            assert!(from5.iter().any(|e| e.actor.as_ref().map(|a| a.id) == Some(admin_id)));
        }

        /// Paging by the id cursor returns every entry exactly once, newest first, also in
        /// a main user's scope and with a filter.
        async fn l1_paging_returns_every_entry_exactly_once(db: &TestDatabase) {
            let db = open(db).await;
            let w = world(&db).await;
            for (scope, query) in [
                (Scope::Everyone, q()),
                (Scope::OfficeTree(w.h), q()),
                (Scope::Everyone, AuditQuery { action: Some("login.".into()), ..q() }),
            ] {
                let whole = all(&db, scope, &query, 100).await;
                for limit in [1, 2, 3] {
                    let paged = all(&db, scope, &query, limit).await;
                    let paged_ids: Vec<Uuid> = paged.iter().map(|e| e.id).collect();
                    let whole_ids: Vec<Uuid> = whole.iter().map(|e| e.id).collect();
                    assert_eq!(paged_ids, whole_ids, "limit {limit}");
                    assert_eq!(ids(&paged).len(), paged.len(), "an entry twice");
                    assert!(paged_ids.windows(2).all(|p| p[0] > p[1]), "newest first");
                }
            }
            // A page of exactly the rest has no next.
            let n = all(&db, Scope::Everyone, &q(), 100).await.len() as i64;
            let page = audit::search(&db, Scope::Everyone, &AuditQuery { limit: n, ..q() }).await.unwrap();
            assert_eq!((page.entries.len() as i64, page.next), (n, None));
            // Over the maximum is clamped.
            let big = audit::search(&db, Scope::Everyone, &AuditQuery { limit: 10_000, ..q() }).await.unwrap();
            assert!(big.entries.len() as i64 <= audit::MAX_PAGE);
        }
    }
}

/// Issue 10, SECURITY AD-03: the retention purge (migration 0012) removes what is past the
/// retention and says so; nothing else can delete, a recent row never, UPDATE never.
mod retention {
    use idp::domain::manage::Scope;
    use idp::store::Db;
    use idp::store::audit::{self, AuditQuery, AuditRecord};
    use testkit::TestDatabase;
    use time::format_description::well_known::Rfc3339;
    use time::{Duration, OffsetDateTime};
    use uuid::Uuid;

    use crate::support::{T0, count, exec, open};

    /// An entry written `days` before T0.
    async fn written(db: &Db, days: i64) -> Uuid {
        let rec = AuditRecord::new("login.succeeded");
        audit::record(db, &rec, T0 - Duration::days(days))
            .await
            .unwrap();
        rec.id
    }

    async fn exists(db: &Db, id: Uuid) -> bool {
        idp::with_db!(db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM audit_log WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap())
            == 1
    }

    /// Runs `sql` on `id` in a transaction that sets the purge's cutoff the way
    /// `audit::purge` does, then rolls back: whether the database let it through.
    async fn with_cutoff(
        db: &Db,
        cutoff: OffsetDateTime,
        sql: &'static str,
        id: Uuid,
    ) -> Result<u64, sqlx::Error> {
        match db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO audit_purge (id, before) VALUES (1, $1)")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.rollback().await?;
                Ok(n)
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT set_config('portal.audit_purge_before', $1, true)")
                    .bind(cutoff.format(&Rfc3339).unwrap())
                    .execute(&mut *tx)
                    .await?;
                let n = sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.rollback().await?;
                Ok(n)
            }
        }
    }

    const DELETE: &str = "DELETE FROM audit_log WHERE id = $1";

    testkit::both_databases! {
        /// The purge removes the entries older than the retention, keeps the rest, and
        /// writes one entry saying how many and which retention; with nothing to remove it
        /// writes nothing.
        async fn retention_purge_removes_only_what_is_past_it_and_says_so(db: &TestDatabase) {
            let db = open(db).await;
            let old = [written(&db, 800).await, written(&db, 731).await];
            let kept = [written(&db, 729).await, written(&db, 0).await];
            assert_eq!(audit::purge(&db, 730, T0).await.unwrap(), 2);
            for id in old {
                assert!(!exists(&db, id).await, "{id} past the retention stayed");
            }
            for id in kept {
                assert!(exists(&db, id).await, "{id} within the retention went");
            }
            let query = AuditQuery { action: Some(audit::PURGED.into()), limit: 10, ..AuditQuery::default() };
            let said = audit::search(&db, Scope::Everyone, &query).await.unwrap().entries;
            assert_eq!(said.len(), 1);
            let detail: serde_json::Value = serde_json::from_str(&said[0].detail).unwrap();
            assert_eq!((detail["rows"].as_i64(), detail["days"].as_i64()), (Some(2), Some(730)));
            assert_eq!((said[0].at, said[0].actor.is_none()), (T0, true));

            assert_eq!(audit::purge(&db, 730, T0).await.unwrap(), 0);
            assert_eq!(count(&db, "audit_log").await, 3, "two kept and the purge's own");
            if let Db::Sqlite(_) = db {
                assert_eq!(count(&db, "audit_purge").await, 0, "the cutoff outlived the purge");
            }
            // After a purge the log is append-only as before.
            assert!(exec(&db, DELETE, kept[0]).await.is_err());
        }

        /// A DELETE without the purge's cutoff is refused, however old the row; with it, only
        /// rows older than the cutoff may go; a cutoff within the last 30 days is refused;
        /// UPDATE is refused even with a cutoff.
        async fn ad03_only_the_purge_deletes_and_never_the_last_month(db: &TestDatabase) {
            let db = open(db).await;
            let old = written(&db, 800).await;
            let edge = written(&db, 730).await;
            let recent = written(&db, 0).await;
            let cutoff = T0 - Duration::days(730);

            assert!(exec(&db, DELETE, old).await.is_err(), "deleted without a cutoff");
            assert_eq!(with_cutoff(&db, cutoff, DELETE, old).await.unwrap(), 1);
            for id in [edge, recent] {
                assert!(with_cutoff(&db, cutoff, DELETE, id).await.is_err(), "{id} at or after the cutoff deleted");
            }
            // The database's own floor: no cutoff in the last 30 days, even for an old row.
            let too_recent = OffsetDateTime::now_utc() - Duration::days(1);
            assert!(with_cutoff(&db, too_recent, DELETE, old).await.is_err(), "a recent cutoff was accepted");
            for sql in [
                "UPDATE audit_log SET action = 'nothing.happened' WHERE id = $1",
                "UPDATE audit_log SET detail = '{}' WHERE id = $1",
            ] {
                assert!(with_cutoff(&db, cutoff, sql, old).await.is_err(), "{sql} allowed with a cutoff");
            }
            for id in [old, edge, recent] {
                assert!(exists(&db, id).await);
            }
            // The purge's own refusal: a retention under the floor removes nothing.
            assert!(audit::purge(&db, 1, OffsetDateTime::now_utc()).await.is_err());
            assert!(exists(&db, recent).await);
        }
    }
}
