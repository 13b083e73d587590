//! Authorization codes (SECURITY OP-07, OP-08): stored by hash, redeemed once, and of many
//! concurrent redemptions exactly one wins.

use idp::crypto;
use idp::store::Db;
use idp::store::clients::{self, Client};
use idp::store::codes::{self, CodeGrant, Redeemed};
use testkit::TestDatabase;
use time::Duration;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::support::{T0, head_office, open, store, user_id};

/// A client and a user to bind codes to; the grant of a fresh code.
async fn grant(db: &Db) -> CodeGrant {
    clients::upsert(
        db,
        &Client {
            client_id: "dip".to_owned(),
            name: "Direct Ingaand Pensioen".to_owned(),
            secret_hash: Some(crypto::token_hash("client-secret")),
            redirect_uris: vec!["https://portal.example/dip/callback".to_owned()],
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            require_pkce: true,
            grant_types: vec!["authorization_code".to_owned()],
            jwks: None,
            id_token_alg: "RS256".to_owned(),
            access_token_alg: "RS256".to_owned(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        },
        T0,
    )
    .await
    .unwrap();
    let account = head_office("12345", "info@een.nl", "DIP");
    store(db, &account).await;
    CodeGrant {
        client_id: "dip".to_owned(),
        user_id: user_id(&account),
        session_hash: crypto::token_hash("session"),
        redirect_uri: "https://portal.example/dip/callback".to_owned(),
        scope: "openid portal".to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        auth_time: T0 - Duration::minutes(1),
        amr: "pwd,otp".to_owned(),
        expires_at: T0 + Duration::seconds(60),
        dpop_jkt: None,
    }
}

testkit::both_databases! {
    /// OP-07: a code gives its grant, with everything it is bound to, once.
    async fn op07_a_code_is_redeemed_once(db: &TestDatabase) {
        let db = open(db).await;
        let g = grant(&db).await;
        let code = crypto::random_token().unwrap();
        let hash = crypto::token_hash(&code);
        codes::insert(&db, &hash, &g, T0).await.unwrap();

        let grant_ends = T0 + Duration::hours(1);
        let Redeemed::Fresh(got) = codes::redeem(&db, &hash, Uuid::now_v7(), grant_ends, T0 + Duration::seconds(5))
            .await
            .unwrap()
        else {
            panic!("the first redemption is fresh");
        };
        assert_eq!(
            (
                &got.client_id,
                got.user_id,
                &got.session_hash,
                &got.redirect_uri,
                &got.scope
            ),
            (
                &g.client_id,
                g.user_id,
                &g.session_hash,
                &g.redirect_uri,
                &g.scope
            )
        );
        assert_eq!(
            (&got.nonce, &got.code_challenge, &got.amr),
            (&g.nonce, &g.code_challenge, &g.amr)
        );
        assert_eq!((got.auth_time, got.expires_at), (g.auth_time, g.expires_at));

        assert!(matches!(
            codes::redeem(&db, &hash, Uuid::now_v7(), grant_ends, T0 + Duration::seconds(6)).await.unwrap(),
            Redeemed::Reused { .. }
        ));
        let unknown = crypto::token_hash("no such code");
        assert!(matches!(
            codes::redeem(&db, &unknown, Uuid::now_v7(), grant_ends, T0).await.unwrap(),
            Redeemed::Unknown
        ));
        // The code itself is not a key: only its hash finds the row.
        assert!(matches!(
            codes::redeem(&db, code.as_bytes(), Uuid::now_v7(), grant_ends, T0).await.unwrap(),
            Redeemed::Unknown
        ));
    }

    /// OP-08: 20 parallel redemptions of one code yield exactly one grant, and none fails.
    async fn op08_concurrent_redemptions_yield_one_grant(db: &TestDatabase) {
        let db = open(db).await;
        let g = grant(&db).await;
        let hash = crypto::token_hash(&crypto::random_token().unwrap());
        codes::insert(&db, &hash, &g, T0).await.unwrap();

        let mut tasks = JoinSet::new();
        for _ in 0..20 {
            let (db, hash) = (db.clone(), hash.clone());
            tasks.spawn(async move {
                codes::redeem(&db, &hash, Uuid::now_v7(), T0 + Duration::hours(1), T0).await
            });
        }
        let mut grants: Vec<Uuid> = Vec::new();
        let mut misses = 0;
        while let Some(joined) = tasks.join_next().await {
            match joined.unwrap().unwrap() {
                Redeemed::Fresh(got) => grants.push(got.user_id),
                Redeemed::Reused { .. } => misses += 1,
                Redeemed::Unknown => panic!("the code exists"),
            }
        }
        assert_eq!(grants, vec![g.user_id]);
        assert_eq!(misses, 19);
    }
}
