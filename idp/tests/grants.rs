//! Storage contract of grants, refresh tokens and session ends (SECURITY OP-07, OP-08,
//! OP-19), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idp::store::clients::{self, Client};
use idp::store::codes::{self, CodeGrant, Redeemed};
use idp::store::grants::{self, Rotation};
use idp::store::outbox::{self, NewMail};
use idp::store::sessions::{self, NewSession};
use idp::store::{Db, at};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn now() -> OffsetDateTime {
    at(OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap())
}

/// A migrated database with an insurer admin (the user), the clients `a` (with a
/// back-channel URI) and `b`, and a session of the user.
async fn setup(db: &TestDatabase) -> (Db, Uuid, Vec<u8>) {
    let store = Db::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let user = Uuid::new_v4();
    idp::with_db!(&store, |pool| sqlx::query(
        "INSERT INTO users (id, office_id, role, name, email, rights, active, created_at, updated_at)
         VALUES ($1, NULL, 'insurer_admin', 'Ilse', 'ilse@example.nl', '', TRUE, $2, $2)"
    )
    .bind(user)
    .bind(now())
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    for (id, backchannel) in [("a", Some("https://a.example.nl/bc")), ("b", None)] {
        let client = Client {
            client_id: id.into(),
            name: id.into(),
            secret_hash: Some(vec![0; 32]),
            redirect_uris: vec![format!("https://{id}.example.nl/cb")],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: backchannel.map(str::to_owned),
            require_pkce: true,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            jwks: None,
            id_token_alg: "RS256".into(),
            access_token_alg: "RS256".into(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        };
        clients::upsert(&store, &client, now()).await.unwrap();
    }
    let session = vec![7u8; 32];
    sessions::create(
        &store,
        &NewSession {
            id_hash: session.clone(),
            user_id: user,
            auth_time: now(),
            amr: "pwd".into(),
            expires_at: now() + Duration::hours(10),
        },
        now(),
    )
    .await
    .unwrap();
    (store, user, session)
}

/// Stores a code for client `a` and redeems it into a new grant.
async fn grant(store: &Db, user: Uuid, session: &[u8], code: &[u8]) -> Uuid {
    codes::insert(
        store,
        code,
        &CodeGrant {
            client_id: "a".into(),
            user_id: user,
            session_hash: session.to_vec(),
            redirect_uri: "https://a.example.nl/cb".into(),
            scope: "openid offline_access".into(),
            nonce: None,
            code_challenge: None,
            auth_time: now(),
            amr: "pwd".into(),
            expires_at: now() + Duration::seconds(60),
            dpop_jkt: None,
        },
        now(),
    )
    .await
    .unwrap();
    let id = Uuid::new_v4();
    let redeemed = codes::redeem(store, code, id, now() + Duration::days(14), now())
        .await
        .unwrap();
    assert!(matches!(redeemed, Redeemed::Fresh(_)));
    id
}

async fn live(store: &Db, id: Uuid) -> bool {
    grants::get(store, id).await.unwrap().unwrap().live()
}

testkit::both_databases! {
    async fn a_second_redemption_revokes_the_first_grant(db: &TestDatabase) {
        let (store, user, session) = setup(db).await;
        let id = grant(&store, user, &session, &[1; 32]).await;
        let g = grants::get(&store, id).await.unwrap().unwrap();
        assert_eq!(g.sid, grants::sid_of(&session));
        assert_eq!(g.client_id, "a");
        assert!(g.live());
        let again = codes::redeem(&store, &[1; 32], Uuid::new_v4(), now(), now()).await.unwrap();
        assert!(matches!(again, Redeemed::Reused { .. }));
        assert!(!live(&store, id).await);
        let unknown = codes::redeem(&store, &[2; 32], Uuid::new_v4(), now(), now()).await.unwrap();
        assert!(matches!(unknown, Redeemed::Unknown));
    }

    async fn parallel_redemptions_give_one_grant(db: &TestDatabase) {
        let (store, user, session) = setup(db).await;
        grant(&store, user, &session, &[3; 32]).await;
        codes::insert(&store, &[4; 32], &CodeGrant {
            client_id: "a".into(), user_id: user, session_hash: session.clone(),
            redirect_uri: "https://a.example.nl/cb".into(), scope: "openid".into(), nonce: None,
            code_challenge: None, auth_time: now(), amr: "pwd".into(),
            expires_at: now() + Duration::seconds(60), dpop_jkt: None,
        }, now()).await.unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    codes::redeem(&store, &[4; 32], Uuid::new_v4(), now() + Duration::days(1), now()).await
                })
            })
            .collect();
        let mut fresh = 0;
        for t in tasks {
            if matches!(t.await.unwrap().unwrap(), Redeemed::Fresh(_)) {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "OP-08");
    }

    async fn refresh_tokens_rotate_and_a_replay_revokes_the_family(db: &TestDatabase) {
        let (store, user, session) = setup(db).await;
        let id = grant(&store, user, &session, &[5; 32]).await;
        let idle = Duration::hours(24);
        grants::issue_refresh(&store, &[10; 32], id, "a", now() + idle, now()).await.unwrap();
        // Another client's attempt changes nothing.
        let other = grants::rotate_refresh(&store, &[10; 32], &[11; 32], "b", idle, now()).await.unwrap();
        assert!(matches!(other, Rotation::Refused));
        let first = grants::rotate_refresh(&store, &[10; 32], &[12; 32], "a", idle, now()).await.unwrap();
        assert!(matches!(first, Rotation::Rotated(ref g) if g.id == id));
        let stored = grants::find_refresh(&store, &[12; 32]).await.unwrap().unwrap();
        assert_eq!(stored.grant_id, id);
        assert!(stored.used_at.is_none());
        assert!(grants::find_refresh(&store, &[10; 32]).await.unwrap().unwrap().used_at.is_some());
        // The replay of the rotated token revokes the grant; the newest token dies with it.
        let replay = grants::rotate_refresh(&store, &[10; 32], &[13; 32], "a", idle, now()).await.unwrap();
        assert!(matches!(replay, Rotation::Reused { .. }));
        assert!(!live(&store, id).await);
        let newest = grants::rotate_refresh(&store, &[12; 32], &[14; 32], "a", idle, now()).await.unwrap();
        assert!(matches!(newest, Rotation::Refused));
        assert!(grants::find_refresh(&store, &[13; 32]).await.unwrap().is_none());
    }

    async fn refresh_tokens_expire_when_idle(db: &TestDatabase) {
        let (store, user, session) = setup(db).await;
        let id = grant(&store, user, &session, &[6; 32]).await;
        let idle = Duration::hours(1);
        grants::issue_refresh(&store, &[20; 32], id, "a", now() + idle, now()).await.unwrap();
        let late = now() + Duration::hours(2);
        let r = grants::rotate_refresh(&store, &[20; 32], &[21; 32], "a", idle, late).await.unwrap();
        assert!(matches!(r, Rotation::Refused));
        assert!(live(&store, id).await, "expiry is not a replay");
    }

    async fn ending_a_session_revokes_its_grants_and_queues_deliveries(db: &TestDatabase) {
        let (store, user, session) = setup(db).await;
        let id = grant(&store, user, &session, &[8; 32]).await;
        let targets = grants::logout_targets(&store, &session).await.unwrap();
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].client_id, "a");
        assert_eq!(targets[0].backchannel_logout_uri, "https://a.example.nl/bc");
        assert_eq!(targets[0].sid, grants::sid_of(&session));
        assert_eq!(grants::session_of_sid(&store, &targets[0].sid).await.unwrap(), Some(session.clone()));
        let delivery = NewMail {
            id: Uuid::now_v7(),
            kind: idp::mail::BACKCHANNEL_KIND,
            recipient: "https://a.example.nl/bc".into(),
            payload: vec![1, 2, 3],
        };
        assert!(sessions::end(&store, &session, &[delivery], now()).await.unwrap());
        assert!(!sessions::end(&store, &session, &[], now()).await.unwrap(), "once");
        assert!(!live(&store, id).await);
        assert!(sessions::find(&store, &session).await.unwrap().unwrap().revoked_at.is_some());
        assert_eq!(outbox::pending(&store).await.unwrap(), 1);
    }
}
