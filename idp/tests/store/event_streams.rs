//! Event streams (issue 10): which portals hear of a user's rights change. Only clients
//! with a stream, only users with a session there that is live or ended by the change
//! itself, and for an office its whole tree.

use idp::crypto;
use idp::store::Db;
use idp::store::event_streams::{self, EventTarget};
use idp::store::sessions::{self, NewSession};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{T0, employee, head_office, office_id, open, store, sub_office, user_id};

async fn client(db: &Db, id: &str) {
    idp::with_db!(db, |pool| sqlx::query(
        "INSERT INTO clients (client_id, name, redirect_uris, created_at, updated_at)
         VALUES ($1, $1, '[]', $2, $2)"
    )
    .bind(id)
    .bind(T0)
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
}

/// A session of `user` with a grant to each of `clients`, ended at `revoked` if given.
async fn session(db: &Db, user: Uuid, clients: &[&str], revoked: Option<OffsetDateTime>) {
    let hash = crypto::token_hash(&crypto::random_token().unwrap());
    let s = NewSession {
        id_hash: hash.clone(),
        user_id: user,
        auth_time: T0 - Duration::hours(2),
        amr: "pwd,otp".to_owned(),
        expires_at: T0 + Duration::hours(8),
    };
    sessions::create(db, &s, T0 - Duration::hours(2))
        .await
        .unwrap();
    if let Some(at) = revoked {
        idp::with_db!(db, |pool| sqlx::query(
            "UPDATE idp_sessions SET revoked_at = $1 WHERE id_hash = $2"
        )
        .bind(at)
        .bind(&hash)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
    }
    for c in clients {
        idp::with_db!(db, |pool| {
            sqlx::query(
            "INSERT INTO grants (id, client_id, user_id, session_hash, sid, scope, auth_time, amr, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, 'openid portal', $6, 'pwd,otp', $6, $7)"
        )
        .bind(Uuid::now_v7())
        .bind(*c)
        .bind(user)
        .bind(&hash)
        .bind(Uuid::now_v7().to_string())
        .bind(T0 - Duration::hours(2))
        .bind(T0 + Duration::hours(8))
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap()
        });
    }
}

fn target(client: &str, user: Uuid) -> EventTarget {
    EventTarget {
        client_id: client.into(),
        endpoint: format!("https://portaal.example/{client}/auth/events"),
        user_id: user,
    }
}

fn sorted(mut v: Vec<EventTarget>) -> Vec<EventTarget> {
    v.sort_by(|a, b| (&a.client_id, a.user_id).cmp(&(&b.client_id, b.user_id)));
    v
}

testkit::both_databases! {
    /// A change at T0 reaches: the clients with a stream (not `legacy`) where the user has a
    /// live session, or one that ended at or after T0 (by the change itself); not one that
    /// ended before. An office's event reaches its sub-offices' people too; a sub-office's
    /// stays in the sub-office.
    async fn events_reach_streamed_clients_of_live_sessions_in_the_office_tree(db: &TestDatabase) {
        let db = open(db).await;
        let head = head_office("12345", "info@een.nl", "DIP,DIL");
        store(&db, &head).await;
        let sub = sub_office(office_id(&head), "Z01", "zuid@een.nl", "DIP,DIL");
        store(&db, &sub).await;
        let tim = employee(office_id(&sub), "tim@een.nl", "DIP");
        store(&db, &tim).await;
        let (main, tim_id) = (user_id(&head), user_id(&tim));
        for c in ["dip", "dil", "legacy"] {
            client(&db, c).await;
        }
        for c in ["dip", "dil"] {
            let endpoint = format!("https://portaal.example/{c}/auth/events");
            event_streams::set(&db, c, "https://elders.example/", T0).await.unwrap();
            event_streams::set(&db, c, &endpoint, T0).await.unwrap();
        }
        session(&db, main, &["dip", "legacy"], None).await;
        session(&db, tim_id, &["dil"], Some(T0 - Duration::seconds(1))).await;
        session(&db, tim_id, &["dip"], Some(T0)).await;

        assert_eq!(
            event_streams::targets_of_user(&db, main, T0).await.unwrap(),
            vec![target("dip", main)],
            "a stream's endpoint is the last one set; a client without a stream hears nothing"
        );
        assert_eq!(
            event_streams::targets_of_user(&db, tim_id, T0).await.unwrap(),
            vec![target("dip", tim_id)],
            "the session ended at T0 counts, the one ended before does not"
        );
        assert!(
            event_streams::targets_of_user(&db, tim_id, T0 + Duration::seconds(1))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            sorted(event_streams::targets_of_office(&db, office_id(&head), T0).await.unwrap()),
            sorted(vec![target("dip", main), target("dip", tim_id)])
        );
        assert_eq!(
            event_streams::targets_of_office(&db, office_id(&sub), T0).await.unwrap(),
            vec![target("dip", tim_id)]
        );

        assert!(event_streams::remove(&db, "dil").await.unwrap());
        assert!(!event_streams::remove(&db, "dil").await.unwrap());
        assert_eq!(event_streams::clients(&db).await.unwrap(), vec!["dip".to_owned()]);
    }
}
