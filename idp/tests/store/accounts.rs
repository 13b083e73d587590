//! Offices and users (SPEC O1, O3, U1, U3): the uniqueness rules the database backs, the
//! shapes it refuses, and batches that store everything or nothing.

use idp::domain::Role;
use idp::domain::identifier::LoginName;
use idp::store::Constraint;
use idp::store::accounts;
use testkit::TestDatabase;

use crate::support::{
    T0, conflict, count, counts, employee, head_office, insurer_admin, is_check_violation,
    office_id, open, registry, store, sub_office, try_store, user_id, user_in, with_link,
};

testkit::both_databases! {
    /// O1: an advisor number belongs to one head office; the second is refused whole.
    async fn o1_advisor_number_is_unique(db: &TestDatabase) {
        let db = open(db).await;
        let reg = registry();
        let first = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &first).await;
        let before = counts(&db).await;

        let second = with_link(head_office("12345", "info@twee.nl", "DIP"), "second-link");
        assert_eq!(
            conflict(try_store(&db, &second).await),
            (0, Constraint::AdvisorNumber)
        );

        assert_eq!(
            counts(&db).await,
            before,
            "nothing of the refused office is stored"
        );
        assert!(
            accounts::office(&db, office_id(&second), &reg)
                .await
                .unwrap()
                .is_none()
        );
        let found = accounts::head_office_by_number(&db, "12345", &reg)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, office_id(&first));
    }

    /// O3: the office e-mail is unique among all offices, head and sub alike, whatever
    /// its spelling.
    async fn o3_office_email_is_unique_among_all_offices(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;
        let head_id = office_id(&head);

        let other_head = head_office("67890", " INFO@Een.nl", "DIP");
        assert_eq!(
            conflict(try_store(&db, &other_head).await),
            (0, Constraint::OfficeEmail)
        );

        let sub = sub_office(head_id, "S-1", "Info@een.nl", "DIP");
        assert_eq!(
            conflict(try_store(&db, &sub).await),
            (0, Constraint::OfficeEmail)
        );
        assert_eq!(count(&db, "offices").await, 1);

        // A distinct address is fine: the refusals above were about the e-mail.
        store(&db, &sub_office(head_id, "S-1", "sub@een.nl", "DIP")).await;
        assert_eq!(count(&db, "offices").await, 2);
    }

    /// O3: a sub-office number is unique within its head office, not across head offices.
    async fn o3_office_number_is_unique_within_its_head_office(db: &TestDatabase) {
        let db = open(db).await;
        let a = head_office("10001", "a@kantoor.nl", "DIP,DIL");
        let b = head_office("10002", "b@kantoor.nl", "DIP,DIL");
        store(&db, &a).await;
        store(&db, &b).await;

        store(
            &db,
            &sub_office(office_id(&a), "S-1", "a1@kantoor.nl", "DIP"),
        )
        .await;
        let again = sub_office(office_id(&a), "S-1", "a2@kantoor.nl", "DIP");
        assert_eq!(
            conflict(try_store(&db, &again).await),
            (0, Constraint::OfficeNumber)
        );

        let under_b = sub_office(office_id(&b), "S-1", "b1@kantoor.nl", "DIP");
        store(&db, &under_b).await;
        let reg = registry();
        let stored = accounts::office(&db, office_id(&under_b), &reg)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.number.as_str(), stored.parent_id),
            ("S-1", Some(office_id(&b)))
        );
        assert_eq!(count(&db, "offices").await, 4);
    }

    /// U1: one main user per office; employees may be many.
    async fn u1_one_main_user_per_office(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;
        let id = office_id(&head);

        let second_main = user_in(Some(id), Role::MainUser, "baas2@een.nl");
        assert_eq!(
            conflict(try_store(&db, &second_main).await),
            (0, Constraint::MainUser)
        );

        store(&db, &employee(id, "piet@een.nl", "DIP")).await;
        store(&db, &employee(id, "klaas@een.nl", "DIL")).await;
        assert_eq!(count(&db, "users").await, 3);
    }

    /// U1: an insurer admin belongs to no office, and the schema refuses an insurer admin
    /// in an office, and a main user or employee without one.
    async fn u1_only_insurer_admins_have_no_office(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;
        let admin = insurer_admin("beheer@verzekeraar.nl");
        store(&db, &admin).await;

        let reg = registry();
        let p = accounts::principal(&db, user_id(&admin), &reg)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.user.role, Role::InsurerAdmin);
        assert!(p.user.office_id.is_none() && p.office.is_none() && p.head_office.is_none());
        assert!(idp::oidc::claims::rights_of(&p, &reg).is_empty());

        let before = count(&db, "users").await;
        let refused = [
            user_in(
                Some(office_id(&head)),
                Role::InsurerAdmin,
                "admin2@verzekeraar.nl",
            ),
            user_in(None, Role::MainUser, "baas@nergens.nl"),
            user_in(None, Role::Employee, "mw@nergens.nl"),
        ];
        for account in &refused {
            let result = try_store(&db, account).await;
            assert!(
                is_check_violation(&result),
                "{:?} with office {:?}: {result:?}",
                account.user.role,
                account.user.office_id
            );
        }
        assert_eq!(count(&db, "users").await, before);
    }

    /// O1/O3: the schema ties kind and parent: a head office has no parent, a sub-office has one.
    async fn head_offices_have_no_parent_and_sub_offices_have_one(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;

        let mut head_under_head = head_office("67890", "info@twee.nl", "DIP");
        head_under_head.office.as_mut().unwrap().parent_id = Some(office_id(&head));
        assert!(is_check_violation(&try_store(&db, &head_under_head).await));

        let mut orphan = sub_office(office_id(&head), "S-1", "sub@een.nl", "DIP");
        orphan.office.as_mut().unwrap().parent_id = None;
        assert!(is_check_violation(&try_store(&db, &orphan).await));

        assert_eq!(count(&db, "offices").await, 1);
        assert_eq!(count(&db, "users").await, 1);
    }

    /// U3: user e-mails are unique case-insensitively, because every write stores them
    /// through `Email::parse`; sign-in finds the user by any spelling.
    async fn u3_user_email_is_unique_case_insensitively(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;
        let id = office_id(&head);

        let jan = employee(id, "Jan@X.nl ", "DIP");
        assert_eq!(jan.user.email, "jan@x.nl");
        store(&db, &jan).await;

        let again = employee(id, "jan@x.nl", "DIL");
        assert_eq!(
            conflict(try_store(&db, &again).await),
            (0, Constraint::UserEmail)
        );
        // An employee cannot take the login of an office's main user either.
        let main_login = employee(id, "INFO@een.nl", "DIL");
        assert_eq!(
            conflict(try_store(&db, &main_login).await),
            (0, Constraint::UserEmail)
        );
        assert_eq!(count(&db, "users").await, 2);

        let reg = registry();
        let login = LoginName::parse(" JAN@x.NL").unwrap();
        let (found, _) = accounts::find_login(&db, &login, &reg)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, user_id(&jan));
    }

    /// A batch (the appointment-register import) is one transaction: when its third
    /// account conflicts, the first two, their links, mails and audit entries are gone too.
    async fn a_batch_is_all_or_nothing(db: &TestDatabase) {
        let db = open(db).await;
        store(
            &db,
            &with_link(head_office("99999", "al@daar.nl", "DIP"), "existing"),
        )
        .await;
        let before = counts(&db).await;

        let batch = [
            with_link(head_office("20001", "een@import.nl", "DIP"), "link-1"),
            with_link(head_office("20002", "twee@import.nl", "DIL"), "link-2"),
            with_link(head_office("20001", "drie@import.nl", "DIP,DIL"), "link-3"),
        ];
        let result = accounts::provision(&db, &batch, T0).await;
        assert_eq!(conflict(result), (2, Constraint::AdvisorNumber));
        assert_eq!(counts(&db).await, before, "nothing of the batch is stored");

        // Without the conflicting account the same batch goes in whole.
        accounts::provision(&db, &batch[..2], T0).await.unwrap();
        let after: Vec<i64> = counts(&db).await.into_iter().map(|(_, n)| n).collect();
        let expected: Vec<i64> = before.iter().map(|(_, n)| n + 2).collect();
        assert_eq!(after, expected);
    }
}
