//! Sign-in sessions at the identity provider, found by the hash of their id.

use idp::crypto;
use idp::store::sessions::{self, NewSession};
use testkit::TestDatabase;
use time::Duration;

use crate::support::{T0, head_office, open, store, user_id};

testkit::both_databases! {
    /// A stored session is found by its id hash with what it was stored with; an unknown
    /// hash finds nothing, and neither does the cookie value itself.
    async fn sessions_create_then_find(db: &TestDatabase) {
        let db = open(db).await;
        let account = head_office("12345", "info@een.nl", "DIP");
        store(&db, &account).await;
        let cookie = crypto::random_token().unwrap();
        let session = NewSession {
            id_hash: crypto::token_hash(&cookie),
            user_id: user_id(&account),
            auth_time: T0 - Duration::seconds(30),
            amr: "pwd,otp".to_owned(),
            expires_at: T0 + Duration::hours(8),
        };
        sessions::create(&db, &session, T0).await.unwrap();

        let found = sessions::find(&db, &session.id_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                found.user_id,
                found.auth_time,
                found.amr.as_str(),
                found.expires_at
            ),
            (
                session.user_id,
                session.auth_time,
                "pwd,otp",
                session.expires_at
            )
        );
        assert_eq!((found.last_seen_at, found.revoked_at), (T0, None));

        assert!(
            sessions::find(&db, &crypto::token_hash("unknown"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            sessions::find(&db, cookie.as_bytes())
                .await
                .unwrap()
                .is_none()
        );

        let later = T0 + Duration::minutes(10);
        sessions::touch(&db, &session.id_hash, later).await.unwrap();
        let touched = sessions::find(&db, &session.id_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(touched.last_seen_at, later);
    }
}
