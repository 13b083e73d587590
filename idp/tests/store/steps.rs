//! Pending sign-in and enrolment steps (SECURITY AU-08, MF-03, MF-08): found only while
//! unexpired, wrong codes counted without loss and the step ended at the limit, a WebAuthn
//! challenge state taken once, and housekeeping that removes only what has ended.

use idp::crypto;
use idp::store::Db;
use idp::store::steps::{self, StepKind};
use testkit::TestDatabase;
use time::Duration;

use crate::support::{T0, count, open, some_user, step_of};

/// How long a step lives (SPEC: five minutes at most).
const TTL: Duration = Duration::minutes(5);

/// Whether a step with this cookie value is stored at all, expired or not.
async fn stored(db: &Db, cookie: &str) -> bool {
    let n: i64 = idp::with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM pending_steps WHERE id_hash = $1"
    )
    .bind(crypto::token_hash(cookie))
    .fetch_one(pool)
    .await)
    .unwrap();
    n == 1
}

testkit::both_databases! {
    /// A stored step is found by its id hash with everything it was stored with, until it
    /// ends; an unknown hash, or the cookie value itself, finds nothing.
    async fn steps_create_then_find_until_expiry(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let mut new = step_of(StepKind::TotpSetup, Some(user), "step-a", T0 + TTL);
        new.secret = Some(b"sealed seed".to_vec());
        new.ceremony = Some(b"sealed ceremony".to_vec());
        steps::create(&db, &new, T0).await.unwrap();

        let found = steps::find(&db, &new.id_hash, T0).await.unwrap().unwrap();
        assert_eq!(found.id_hash, new.id_hash);
        assert_eq!(found.kind, StepKind::TotpSetup);
        assert_eq!(found.user_id, Some(user));
        assert_eq!(found.amr, new.amr);
        assert_eq!(found.return_to, new.return_to);
        assert_eq!(found.secret.as_deref(), Some(&b"sealed seed"[..]));
        assert_eq!(found.ceremony.as_deref(), Some(&b"sealed ceremony"[..]));
        assert_eq!(found.failures, 0);
        assert_eq!(found.expires_at, T0 + TTL);

        // Still there one second before its end; gone (to find) at its end and after,
        // though the row stays until it is purged.
        assert!(
            steps::find(&db, &new.id_hash, T0 + TTL - Duration::seconds(1))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            steps::find(&db, &new.id_hash, T0 + TTL)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            steps::find(&db, &new.id_hash, T0 + TTL + Duration::hours(1))
                .await
                .unwrap()
                .is_none()
        );
        assert!(stored(&db, "step-a").await);

        assert!(
            steps::find(&db, &crypto::token_hash("unknown"), T0)
                .await
                .unwrap()
                .is_none()
        );
        assert!(steps::find(&db, b"step-a", T0).await.unwrap().is_none());
    }

    /// A passkey sign-in step has no user yet; every kind reads back as itself.
    async fn steps_every_kind_round_trips(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let kinds = [
            (StepKind::SecondFactor, Some(user)),
            (StepKind::Enrol, Some(user)),
            (StepKind::PasskeyLogin, None),
            (StepKind::TotpSetup, Some(user)),
            (StepKind::PasskeyRegister, Some(user)),
        ];
        for (i, (kind, owner)) in kinds.into_iter().enumerate() {
            let new = step_of(kind, owner, &format!("kind-{i}"), T0 + TTL);
            steps::create(&db, &new, T0).await.unwrap();
            let found = steps::find(&db, &new.id_hash, T0).await.unwrap().unwrap();
            assert_eq!(
                (found.kind, found.user_id),
                (kind, owner),
                "{}",
                kind.as_str()
            );
        }
    }

    /// MF-03: attempts are counted before a code is looked at; a step allows `max` of
    /// them and refuses the next, and counts nothing on another step or after expiry.
    async fn mf03_attempts_are_counted_and_stop_at_the_limit(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let new = step_of(StepKind::SecondFactor, Some(user), "step-f", T0 + TTL);
        steps::create(&db, &new, T0).await.unwrap();
        let other = step_of(StepKind::SecondFactor, Some(user), "step-other", T0 + TTL);
        steps::create(&db, &other, T0).await.unwrap();

        for expected in 1..=5 {
            assert_eq!(
                steps::attempt(&db, &new.id_hash, 5, T0).await.unwrap(),
                Some(expected)
            );
            let found = steps::find(&db, &new.id_hash, T0).await.unwrap().unwrap();
            assert_eq!(found.failures, expected);
        }
        assert_eq!(steps::attempt(&db, &new.id_hash, 5, T0).await.unwrap(), None);
        let found = steps::find(&db, &new.id_hash, T0).await.unwrap().unwrap();
        assert_eq!(found.failures, 5, "a refused attempt counts nothing");
        // An expired step takes no attempt at all.
        assert_eq!(steps::attempt(&db, &other.id_hash, 5, T0 + TTL).await.unwrap(), None);
        // The other step of the same user counted nothing.
        let untouched = steps::find(&db, &other.id_hash, T0).await.unwrap().unwrap();
        assert_eq!(untouched.failures, 0);
    }

    /// MF-03: of 20 attempts at once on a step that allows 5, exactly 5 go ahead, numbered
    /// 1 to 5: parallel guesses cannot outrun the limit.
    async fn mf03_parallel_attempts_cannot_outrun_the_limit(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        const MAX: i64 = 5;
        for round in 0..3 {
            let cookie = format!("step-par-{round}");
            let new = step_of(StepKind::SecondFactor, Some(user), &cookie, T0 + TTL);
            steps::create(&db, &new, T0).await.unwrap();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..20 {
                let db = db.clone();
                let hash = new.id_hash.clone();
                tasks.spawn(async move { steps::attempt(&db, &hash, MAX, T0).await });
            }
            let mut admitted = Vec::new();
            while let Some(r) = tasks.join_next().await {
                if let Some(n) = r.unwrap().unwrap() {
                    admitted.push(n);
                }
            }
            admitted.sort_unstable();
            assert_eq!(admitted, (1..=MAX).collect::<Vec<_>>(), "round {round}");
            assert!(stored(&db, &cookie).await, "round {round}: the caller discards it");
        }
    }

    /// MF-08: a WebAuthn challenge state is taken once; the step itself stays. A new
    /// challenge can be put on it and is taken once too; an ended step gives nothing.
    async fn mf08_a_ceremony_is_taken_once(db: &TestDatabase) {
        let db = open(db).await;
        let mut new = step_of(StepKind::PasskeyLogin, None, "step-c", T0 + TTL);
        new.ceremony = Some(b"challenge one".to_vec());
        steps::create(&db, &new, T0).await.unwrap();

        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"challenge one"[..])
        );
        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0).await.unwrap(),
            None
        );
        let left = steps::find(&db, &new.id_hash, T0).await.unwrap().unwrap();
        assert_eq!(left.ceremony, None);

        assert!(
            steps::set_ceremony(&db, &new.id_hash, b"challenge two", T0)
                .await
                .unwrap()
        );
        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"challenge two"[..])
        );
        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0).await.unwrap(),
            None
        );

        // At its end the step neither takes a new challenge nor gives one up.
        assert!(
            steps::set_ceremony(&db, &new.id_hash, b"late", T0)
                .await
                .unwrap()
        );
        assert!(
            !steps::set_ceremony(&db, &new.id_hash, b"later", T0 + TTL)
                .await
                .unwrap()
        );
        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0 + TTL)
                .await
                .unwrap(),
            None
        );
        // ... and the refused set did not overwrite the state.
        assert_eq!(
            steps::take_ceremony(&db, &new.id_hash, T0)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"late"[..])
        );

        assert_eq!(
            steps::take_ceremony(&db, &crypto::token_hash("unknown"), T0)
                .await
                .unwrap(),
            None
        );
        assert!(
            !steps::set_ceremony(&db, &crypto::token_hash("unknown"), b"x", T0)
                .await
                .unwrap()
        );
    }

    /// MF-08: of two parallel answers to one challenge exactly one gets the state.
    async fn mf08_of_two_parallel_takes_one_gets_the_ceremony(db: &TestDatabase) {
        let db = open(db).await;
        for round in 0..10 {
            let mut new = step_of(
                StepKind::PasskeyLogin,
                None,
                &format!("step-race-{round}"),
                T0 + TTL,
            );
            new.ceremony = Some(format!("challenge {round}").into_bytes());
            steps::create(&db, &new, T0).await.unwrap();

            let (a, b) = tokio::join!(
                steps::take_ceremony(&db, &new.id_hash, T0),
                steps::take_ceremony(&db, &new.id_hash, T0),
            );
            let (a, b) = (a.unwrap(), b.unwrap());
            let got: Vec<_> = [&a, &b].into_iter().flatten().collect();
            assert_eq!(got.len(), 1, "round {round}: {a:?} / {b:?}");
            assert_eq!(got[0], &new.ceremony.clone().unwrap());
        }
    }

    /// A discarded step is gone; others are not.
    async fn steps_discard_removes_only_that_step(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let a = step_of(StepKind::SecondFactor, Some(user), "step-d1", T0 + TTL);
        let b = step_of(StepKind::SecondFactor, Some(user), "step-d2", T0 + TTL);
        steps::create(&db, &a, T0).await.unwrap();
        steps::create(&db, &b, T0).await.unwrap();

        steps::discard(&db, &a.id_hash).await.unwrap();
        assert!(!stored(&db, "step-d1").await);
        assert!(steps::find(&db, &b.id_hash, T0).await.unwrap().is_some());
        // Discarding what is gone is no error.
        steps::discard(&db, &a.id_hash).await.unwrap();
        assert_eq!(count(&db, "pending_steps").await, 1);
    }

    /// Housekeeping removes the steps that ended before the given time and no others.
    async fn steps_purge_removes_only_expired_steps(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let ends = [
            ("step-p1", T0 - Duration::minutes(10)),
            ("step-p2", T0 - Duration::seconds(1)),
            ("step-p3", T0 + Duration::seconds(1)),
            ("step-p4", T0 + TTL),
        ];
        for (cookie, end) in ends {
            steps::create(
                &db,
                &step_of(StepKind::SecondFactor, Some(user), cookie, end),
                T0 - TTL,
            )
            .await
            .unwrap();
        }
        assert_eq!(steps::purge(&db, T0).await.unwrap(), 2);
        let left: Vec<bool> = {
            let mut v = Vec::new();
            for (cookie, _) in ends {
                v.push(stored(&db, cookie).await);
            }
            v
        };
        assert_eq!(left, [false, false, true, true]);
        assert_eq!(steps::purge(&db, T0).await.unwrap(), 0);
    }
}
