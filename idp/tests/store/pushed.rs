//! Pushed authorization requests (RFC 9126, SECURITY OP-18) and DPoP proof replay records
//! (RFC 9449 §11.1): bound to their client, used once, gone after their expiry.

use idp::crypto;
use idp::store::clients::{self, Client};
use idp::store::pushed::{self, Pushed};
use testkit::TestDatabase;
use time::Duration;

use crate::support::{T0, open};

fn client(id: &str) -> Client {
    Client {
        client_id: id.to_owned(),
        name: id.to_owned(),
        secret_hash: Some(crypto::token_hash("client-secret")),
        redirect_uris: vec!["https://rp.example/cb".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        require_pkce: true,
        grant_types: vec!["authorization_code".to_owned()],
        jwks: None,
        id_token_alg: "RS256".to_owned(),
        access_token_alg: "RS256".to_owned(),
        require_pushed_authorization_requests: true,
        dpop_bound_access_tokens: true,
    }
}

testkit::both_databases! {
    /// OP-18: a pushed request is found only by its own client, taken once, and not after
    /// its expiry; the hourly purge removes it. The client's two flags are stored.
    async fn op18_a_pushed_request_is_its_clients_and_used_once(db: &TestDatabase) {
        let db = open(db).await;
        for id in ["strikt", "ander"] {
            clients::upsert(&db, &client(id), T0).await.unwrap();
        }
        let stored = clients::get(&db, "strikt").await.unwrap().unwrap();
        assert!(stored.require_pushed_authorization_requests && stored.dpop_bound_access_tokens);
        let hash = crypto::token_hash("urn:ietf:params:oauth:request_uri:abc");
        let p = Pushed {
            client_id: "strikt".to_owned(),
            params: r#"{"client_id":"strikt"}"#.to_owned(),
            created_at: T0,
            expires_at: T0 + Duration::seconds(60),
        };
        pushed::insert(&db, &hash, &p).await.unwrap();
        assert_eq!(pushed::find(&db, &hash, "strikt", T0).await.unwrap(), Some(p.clone()));
        assert_eq!(pushed::find(&db, &hash, "ander", T0).await.unwrap(), None, "another client's");
        assert!(!pushed::take(&db, &hash, "ander", T0).await.unwrap());
        assert_eq!(pushed::find(&db, &hash, "strikt", T0 + Duration::seconds(60)).await.unwrap(), None, "expired");
        assert!(!pushed::take(&db, &hash, "strikt", T0 + Duration::seconds(60)).await.unwrap());
        assert!(pushed::take(&db, &hash, "strikt", T0).await.unwrap());
        assert!(!pushed::take(&db, &hash, "strikt", T0).await.unwrap(), "once");
        assert_eq!(pushed::find(&db, &hash, "strikt", T0).await.unwrap(), None);

        let other = crypto::token_hash("urn:ietf:params:oauth:request_uri:def");
        pushed::insert(&db, &other, &p).await.unwrap();
        assert_eq!(pushed::purge(&db, T0 + Duration::seconds(59)).await.unwrap(), 0);
        assert_eq!(pushed::purge(&db, T0 + Duration::seconds(60)).await.unwrap(), 1);
    }

    /// RFC 9449 §11.1: a proof's record refuses it a second time, on any node, until purged.
    async fn a_dpop_proof_is_remembered_until_it_is_stale(db: &TestDatabase) {
        let db = open(db).await;
        let proof = crypto::token_hash("jkt jti-1");
        let until = T0 + Duration::seconds(61);
        assert!(pushed::remember_proof(&db, &proof, until).await.unwrap());
        assert!(!pushed::remember_proof(&db, &proof, until).await.unwrap(), "a replay");
        assert!(pushed::remember_proof(&db, &crypto::token_hash("jkt jti-2"), until).await.unwrap());
        assert_eq!(pushed::purge_proofs(&db, T0 + Duration::seconds(60)).await.unwrap(), 0);
        assert_eq!(pushed::purge_proofs(&db, until).await.unwrap(), 2);
    }
}
