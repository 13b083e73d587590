//! The durable outbox of e-mails: leases, delivery, retries and order.

use idp::store::Db;
use idp::store::audit::AuditRecord;
use idp::store::outbox::{self, NewMail};
use idp::store::tokens::{self, Purpose};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{LINK_TTL, T0, head_office, link, open, store, user_id};

/// A user to send mail to.
async fn recipient(db: &Db) -> Uuid {
    let account = head_office("12345", "info@een.nl", "DIP");
    store(db, &account).await;
    user_id(&account)
}

/// Queues a mail with row id `id` at `now`, the way a change queues it: with its link and
/// audit entry, in one transaction.
async fn queue(db: &Db, user: Uuid, id: Uuid, now: OffsetDateTime) {
    queue_kind(db, user, id, now, "activation").await;
}

/// Queues a row of `kind` (a mail, or a back-channel delivery) with row id `id` at `now`.
async fn queue_kind(db: &Db, user: Uuid, id: Uuid, now: OffsetDateTime, kind: &'static str) {
    let mail = NewMail {
        id,
        kind,
        recipient: "info@een.nl".to_owned(),
        payload: format!("sealed mail {id}").into_bytes(),
    };
    let token = format!("tok-{id}");
    tokens::issue(
        db,
        &link(user, Purpose::Activation, &token, now + LINK_TTL),
        &mail,
        &AuditRecord::new("user.link_sent"),
        now,
    )
    .await
    .unwrap();
}

async fn due_ids(db: &Db, now: OffsetDateTime, limit: i64) -> Vec<Uuid> {
    outbox::due(db, now, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

testkit::both_databases! {
    /// A claim holds a mail for one worker until its lease ends.
    async fn outbox_claim_is_exclusive_until_the_lease_ends(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let id = Uuid::now_v7();
        queue(&db, user, id, T0).await;
        let until = T0 + Duration::minutes(2);

        assert!(outbox::claim(&db, id, T0, until).await.unwrap());
        let during = T0 + Duration::minutes(1);
        assert!(
            !outbox::claim(&db, id, during, during + Duration::minutes(2))
                .await
                .unwrap()
        );
        assert!(
            due_ids(&db, during, 10).await.is_empty(),
            "a leased mail is not due"
        );

        assert!(
            outbox::claim(&db, id, until, until + Duration::minutes(2))
                .await
                .unwrap()
        );
    }

    /// A sent mail loses its content and is never due again.
    async fn outbox_mark_sent_erases_the_payload(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let id = Uuid::now_v7();
        queue(&db, user, id, T0).await;
        let due = outbox::due(&db, T0, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            due[0].payload.as_deref(),
            Some(format!("sealed mail {id}").as_bytes())
        );
        assert_eq!(outbox::pending(&db).await.unwrap(), 1);

        assert!(
            outbox::claim(&db, id, T0, T0 + Duration::minutes(2))
                .await
                .unwrap()
        );
        outbox::mark_sent(&db, id, T0 + Duration::seconds(1))
            .await
            .unwrap();

        let payload: Option<Vec<u8>> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT payload FROM outbox WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(payload, None);
        assert!(due_ids(&db, T0 + Duration::days(1), 10).await.is_empty());
        assert_eq!(outbox::pending(&db).await.unwrap(), 0);
        assert!(
            !outbox::claim(&db, id, T0 + Duration::days(1), T0 + Duration::days(2))
                .await
                .unwrap()
        );
    }

    /// Housekeeping forgets what left the queue (sent or given up) before the cut-off, and
    /// never a mail that still waits; the backlog's `given_up` then counts only the recent.
    async fn outbox_purge_forgets_only_what_left_the_queue_long_ago(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let (sent, abandoned, waiting, recent) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for id in [sent, abandoned, waiting, recent] {
            queue(&db, user, id, T0).await;
        }
        outbox::mark_sent(&db, sent, T0).await.unwrap();
        outbox::abandon(&db, abandoned, T0, "550 no such user").await.unwrap();
        let later = T0 + outbox::KEEP_DONE;
        outbox::abandon(&db, recent, later, "550 no such user").await.unwrap();
        assert_eq!(outbox::backlog(&db).await.unwrap().given_up, 2);

        let gone = outbox::purge(&db, later).await.unwrap();
        assert_eq!(gone, 2, "the sent and the early abandoned one");
        let left: Vec<Uuid> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT id FROM outbox ORDER BY id"
        )
        .fetch_all(pool)
        .await)
        .unwrap();
        let mut want = vec![waiting, recent];
        want.sort();
        assert_eq!(left, want);
        let backlog = outbox::backlog(&db).await.unwrap();
        assert_eq!((backlog.waiting, backlog.given_up), (1, 1));
        // Even far in the future a waiting mail stays.
        outbox::purge(&db, T0 + Duration::days(3650)).await.unwrap();
        assert_eq!(outbox::pending(&db).await.unwrap(), 1);
    }

    /// A failed attempt releases the lease, counts, and waits until the next attempt.
    async fn outbox_mark_failed_pushes_the_next_attempt(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let id = Uuid::now_v7();
        queue(&db, user, id, T0).await;
        assert!(
            outbox::claim(&db, id, T0, T0 + Duration::minutes(2))
                .await
                .unwrap()
        );

        let next = T0 + Duration::minutes(5);
        outbox::mark_failed(&db, id, next, "smtp: connection refused")
            .await
            .unwrap();

        assert!(
            due_ids(&db, next - Duration::seconds(1), 10)
                .await
                .is_empty()
        );
        let due = outbox::due(&db, next, 10).await.unwrap();
        assert_eq!(
            due.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
            vec![(id, 1)]
        );
        assert!(
            outbox::claim(&db, id, next, next + Duration::minutes(2))
                .await
                .unwrap()
        );
        assert_eq!(outbox::pending(&db).await.unwrap(), 1);
    }

    /// Delivery keeps the order in which mails were queued, not the order of their ids.
    async fn outbox_due_returns_mails_in_creation_order(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let (first, second, third) = (Uuid::from_u128(3), Uuid::from_u128(1), Uuid::from_u128(2));
        queue(&db, user, third, T0 + Duration::seconds(2)).await;
        queue(&db, user, first, T0).await;
        queue(&db, user, second, T0 + Duration::seconds(1)).await;

        let later = T0 + Duration::hours(1);
        assert_eq!(due_ids(&db, later, 10).await, vec![first, second, third]);
        assert_eq!(due_ids(&db, later, 2).await, vec![first, second]);
        // A mail is due from the moment it is queued, not before.
        assert_eq!(
            due_ids(&db, T0 + Duration::seconds(1), 10).await,
            vec![first, second]
        );
    }

    /// A mail waiting for its retry, or held by another worker, holds back the mails
    /// queued after it, so they arrive in order; a back-channel delivery does not wait.
    async fn outbox_a_waiting_mail_holds_back_the_later_ones(db: &TestDatabase) {
        let db = open(db).await;
        let user = recipient(&db).await;
        let (first, second, logout) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        queue(&db, user, first, T0).await;
        queue(&db, user, second, T0 + Duration::seconds(1)).await;
        queue_kind(&db, user, logout, T0 + Duration::seconds(2), idp::mail::BACKCHANNEL_KIND).await;
        let now = T0 + Duration::seconds(3);
        assert_eq!(due_ids(&db, now, 10).await, vec![logout, first, second]);

        // The first mail failed and waits five minutes: the second waits with it.
        assert!(outbox::claim(&db, first, now, now + Duration::minutes(2)).await.unwrap());
        let retry = T0 + Duration::minutes(5);
        outbox::mark_failed(&db, first, retry, "smtp: connection refused").await.unwrap();
        assert_eq!(due_ids(&db, T0 + Duration::minutes(1), 10).await, vec![logout]);
        assert_eq!(due_ids(&db, retry, 10).await, vec![logout, first, second]);

        // Another worker holds the first one: again the second waits.
        assert!(outbox::claim(&db, first, retry, retry + Duration::minutes(2)).await.unwrap());
        assert_eq!(due_ids(&db, retry, 10).await, vec![logout]);
        outbox::mark_sent(&db, first, retry).await.unwrap();
        assert_eq!(due_ids(&db, retry, 10).await, vec![logout, second]);
    }
}
