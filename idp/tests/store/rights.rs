//! Effective rights as a token carries them (SPEC U4, O4, O6), from rows the store reads:
//! user ∩ office ∩ head office ∩ {rights sub-offices may hold}, and nothing when anything
//! above the user is inactive.

use testkit::TestDatabase;

use crate::support::{
    access, employee, exec, head_office, office_id, open, store, sub_office, user_id,
};

testkit::both_databases! {
    /// U4 + O4: a sub-office user's rights follow the head office's appointment (also
    /// after it loses a right) and never include ORV, even when ORV is stored on the user
    /// and the sub-office.
    async fn u4_o4_sub_office_rights_are_capped_and_never_orv(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@hoofd.nl", "DIP,DIL,ORV");
        store(&db, &head).await;
        let head_id = office_id(&head);
        let head_employee = employee(head_id, "mw@hoofd.nl", "DIP,DIL,ORV");
        // ORV stored on purpose, bypassing the domain checks, to see the cap at read time.
        let sub = sub_office(head_id, "S-1", "info@sub.nl", "DIP,DIL,ORV");
        let narrow_sub = sub_office(head_id, "S-2", "info@sub2.nl", "DIP,ORV");
        store(&db, &head_employee).await;
        store(&db, &sub).await;
        store(&db, &narrow_sub).await;
        let all = employee(office_id(&sub), "alles@sub.nl", "DIP,DIL,ORV");
        let dil_only = employee(office_id(&sub), "dil@sub.nl", "DIL");
        let narrow = employee(office_id(&narrow_sub), "alles@sub2.nl", "DIP,DIL,ORV");
        for account in [&all, &dil_only, &narrow] {
            store(&db, account).await;
        }

        let rights = |v: &[&str]| -> (bool, Vec<String>) {
            (true, v.iter().map(|s| (*s).to_owned()).collect())
        };
        // Head-office users may hold ORV; sub-office users never.
        assert_eq!(
            access(&db, user_id(&head_employee)).await,
            rights(&["DIP", "DIL", "ORV"])
        );
        assert_eq!(access(&db, user_id(&all)).await, rights(&["DIP", "DIL"]));
        assert_eq!(access(&db, user_id(&dil_only)).await, rights(&["DIL"]));
        assert_eq!(
            access(&db, user_id(&sub)).await,
            rights(&["DIP", "DIL"]),
            "main user"
        );
        assert_eq!(access(&db, user_id(&narrow)).await, rights(&["DIP"]));

        // The head office loses DIP: every sub-office user loses it at once.
        let changed = exec(
            &db,
            "UPDATE offices SET rights = 'DIL,ORV' WHERE id = $1",
            head_id,
        )
        .await
        .unwrap();
        assert_eq!(changed, 1);
        assert_eq!(
            access(&db, user_id(&head_employee)).await,
            rights(&["DIL", "ORV"])
        );
        assert_eq!(access(&db, user_id(&all)).await, rights(&["DIL"]));
        assert_eq!(access(&db, user_id(&dil_only)).await, rights(&["DIL"]));
        assert_eq!(
            access(&db, user_id(&sub)).await,
            rights(&["DIL"]),
            "main user"
        );
        assert_eq!(access(&db, user_id(&narrow)).await, rights(&[]));
    }

    /// O6 + U4: when a head office is deactivated, its users and its sub-offices' users
    /// may not sign in and hold no rights.
    async fn o6_an_inactive_head_office_takes_its_sub_offices_with_it(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@hoofd.nl", "DIP,DIL,ORV");
        store(&db, &head).await;
        let sub = sub_office(office_id(&head), "S-1", "info@sub.nl", "DIP,DIL");
        store(&db, &sub).await;
        let sub_employee = employee(office_id(&sub), "mw@sub.nl", "DIP,DIL");
        let head_employee = employee(office_id(&head), "mw@hoofd.nl", "DIP");
        store(&db, &sub_employee).await;
        store(&db, &head_employee).await;
        let users = [
            user_id(&head),
            user_id(&head_employee),
            user_id(&sub),
            user_id(&sub_employee),
        ];
        for id in users {
            let (may, rights) = access(&db, id).await;
            assert!(may && !rights.is_empty(), "active: {id}");
        }

        let changed = exec(
            &db,
            "UPDATE offices SET active = FALSE WHERE id = $1",
            office_id(&head),
        )
        .await
        .unwrap();
        assert_eq!(changed, 1);
        for id in users {
            assert_eq!(
                access(&db, id).await,
                (false, Vec::new()),
                "inactive head: {id}"
            );
        }
    }

    /// O6 + U4: an inactive sub-office or an inactive user has no access either, while the
    /// rest of the tree keeps it.
    async fn o6_an_inactive_sub_office_or_user_has_no_access(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@hoofd.nl", "DIP,DIL");
        store(&db, &head).await;
        let sub = sub_office(office_id(&head), "S-1", "info@sub.nl", "DIP,DIL");
        store(&db, &sub).await;
        let sub_employee = employee(office_id(&sub), "mw@sub.nl", "DIP");
        let head_employee = employee(office_id(&head), "mw@hoofd.nl", "DIP");
        store(&db, &sub_employee).await;
        store(&db, &head_employee).await;

        exec(
            &db,
            "UPDATE offices SET active = FALSE WHERE id = $1",
            office_id(&sub),
        )
        .await
        .unwrap();
        assert_eq!(
            access(&db, user_id(&sub_employee)).await,
            (false, Vec::new())
        );
        assert_eq!(access(&db, user_id(&sub)).await, (false, Vec::new()));
        assert_eq!(
            access(&db, user_id(&head_employee)).await,
            (true, vec!["DIP".to_owned()])
        );

        exec(
            &db,
            "UPDATE users SET active = FALSE WHERE id = $1",
            user_id(&head_employee),
        )
        .await
        .unwrap();
        assert_eq!(
            access(&db, user_id(&head_employee)).await,
            (false, Vec::new())
        );
        assert_eq!(
            access(&db, user_id(&head)).await,
            (true, vec!["DIP".to_owned(), "DIL".to_owned()])
        );
    }
}
