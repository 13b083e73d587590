//! The throttle counters in the store on both databases (SECURITY AV-01, AV-02): parallel
//! failures each count once, a window that is over starts again, and clearing one counter
//! leaves the others alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idp::domain::throttle::{Counter, Decision};
use idp::store::{Db, throttle};
use testkit::TestDatabase;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-03-01 10:00 UTC);

async fn open(db: &TestDatabase) -> Db {
    let db = Db::connect(&db.url).await.unwrap();
    db.migrate().await.unwrap();
    db
}

testkit::both_databases! {
    /// AV-02: 20 concurrent failures for one account add exactly 20.
    async fn parallel_failures_are_counted_exactly(db: &TestDatabase) {
        let db = open(db).await;
        let limit = Counter::LoginAccount.limit();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let db = db.clone();
            set.spawn(async move {
                throttle::hit(&db, Counter::LoginAccount, "user-1", limit.current_since(NOW), NOW)
                    .await
                    .unwrap()
                    .hits
            });
        }
        let mut seen: Vec<i64> = set.join_all().await;
        seen.sort_unstable();
        assert_eq!(seen, (1..=20).collect::<Vec<_>>(), "each failure saw its own count");
        let count = throttle::current(&db, Counter::LoginAccount, "user-1", limit.current_since(NOW))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(count.hits, 20);
        assert!(matches!(limit.decide(Some(count), NOW), Decision::Blocked { retry_after_minutes: 15 }));
        db.close().await;
    }

    /// A window that is over starts again at one; clearing an account leaves the address
    /// counter and other accounts alone.
    async fn windows_restart_and_clearing_is_per_counter(db: &TestDatabase) {
        let db = open(db).await;
        let limit = Counter::LoginAccount.limit();
        for _ in 0..5 {
            throttle::hit(&db, Counter::LoginAccount, "user-1", limit.current_since(NOW), NOW).await.unwrap();
        }
        throttle::hit(&db, Counter::LoginIp, "10.0.0.1", NOW - Duration::minutes(15), NOW).await.unwrap();
        throttle::hit(&db, Counter::LoginAccount, "user-2", limit.current_since(NOW), NOW).await.unwrap();

        let later = NOW + Duration::minutes(16);
        assert_eq!(
            throttle::current(&db, Counter::LoginAccount, "user-1", limit.current_since(later)).await.unwrap(),
            None,
            "the window is over"
        );
        let again = throttle::hit(&db, Counter::LoginAccount, "user-1", limit.current_since(later), later).await.unwrap();
        assert_eq!(again.hits, 1);
        assert_eq!(again.window_start, later);

        throttle::clear(&db, Counter::LoginAccount, "user-1").await.unwrap();
        assert_eq!(throttle::current(&db, Counter::LoginAccount, "user-1", NOW - Duration::days(1)).await.unwrap(), None);
        assert!(throttle::current(&db, Counter::LoginAccount, "user-2", NOW - Duration::days(1)).await.unwrap().is_some());
        assert!(throttle::current(&db, Counter::LoginIp, "10.0.0.1", NOW - Duration::days(1)).await.unwrap().is_some());

        assert_eq!(throttle::purge(&db, later).await.unwrap(), 2, "old windows are purged");
        db.close().await;
    }
}
