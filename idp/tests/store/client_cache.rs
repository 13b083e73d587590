//! Client registrations served from memory (store::client_cache) never outlive a change:
//! a registration replaced by another process (a second pool on the same database, as the
//! CLI or another node has) is read again, on SQLite by the first lookup after the commit,
//! on PostgreSQL once the notification arrives; unknown ids are never kept.

use std::sync::Arc;
use std::time::Duration;

use idp::crypto;
use idp::store::Db;
use idp::store::client_cache::ClientCache;
use idp::store::clients::{self, Client};
use testkit::{Backend, TestDatabase};

use crate::support::{T0, open};

fn service(secret: &str) -> Client {
    Client {
        client_id: "dienst".to_owned(),
        name: "Dienst".to_owned(),
        secret_hash: Some(crypto::token_hash(secret)),
        redirect_uris: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        require_pkce: true,
        grant_types: vec!["client_credentials".to_owned()],
        jwks: None,
        id_token_alg: "RS256".to_owned(),
        access_token_alg: "RS256".to_owned(),
        require_pushed_authorization_requests: false,
        dpop_bound_access_tokens: false,
    }
}

async fn secret_hash(cache: &ClientCache, db: &Db) -> Vec<u8> {
    let client = cache.get(db, "dienst").await.unwrap().expect("registered");
    client.secret_hash.clone().expect("a secret")
}

/// Waits (at most 10 s) until `cache` serves `secret`'s hash: on PostgreSQL a change of
/// another process arrives as a notification, after the commit.
async fn until_served(cache: &ClientCache, db: &Db, secret: &str) {
    let wanted = crypto::token_hash(secret);
    for _ in 0..200 {
        if secret_hash(cache, db).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the cache still serves the replaced registration after 10 s");
}

testkit::both_databases! {
    async fn a_cached_registration_never_outlives_its_replacement(db: &TestDatabase) {
        let store = open(db).await;
        let cache = Arc::new(ClientCache::new(&store));
        let watch = tokio::spawn(cache.clone().watch(store.clone()));
        for _ in 0..200 {
            if cache.is_live() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cache.is_live(), "the change listener did not connect");
        clients::upsert(&store, &service("eerste-geheim"), T0).await.unwrap();

        // Read from the database, then from memory (on PostgreSQL once the notification of
        // the registration itself has come back, which drops what was read before it).
        let mut from_memory = false;
        for _ in 0..200 {
            let hits = cache.hits();
            assert_eq!(secret_hash(&cache, &store).await, crypto::token_hash("eerste-geheim"));
            if cache.hits() == hits + 1 {
                from_memory = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(from_memory, "lookups are served from memory");

        // A burst on an entry not in memory reads the database once; the others wait for
        // that read (single flight) instead of each taking a connection.
        cache.changed();
        let hits = cache.hits();
        let burst: Vec<_> = (0..20)
            .map(|_| {
                let (cache, store) = (cache.clone(), store.clone());
                tokio::spawn(async move { secret_hash(&cache, &store).await })
            })
            .collect();
        for lookup in burst {
            assert_eq!(lookup.await.unwrap(), crypto::token_hash("eerste-geheim"));
        }
        assert_eq!(cache.hits(), hits + 19, "one read from the database, 19 from memory");

        // Another process (its own pool) replaces the secret.
        let other = Db::connect(&db.url).await.unwrap();
        clients::upsert(&other, &service("tweede-geheim"), T0).await.unwrap();
        if db.backend == Backend::Sqlite {
            // The stamp is written before upsert returns: the very next lookup sees it.
            assert_eq!(secret_hash(&cache, &store).await, crypto::token_hash("tweede-geheim"));
        } else {
            until_served(&cache, &store, "tweede-geheim").await;
        }

        // This process's own change, signalled in-process, is seen at once on both.
        assert_eq!(secret_hash(&cache, &store).await, crypto::token_hash("tweede-geheim"));
        clients::upsert(&store, &service("derde-geheim"), T0).await.unwrap();
        cache.changed();
        assert_eq!(secret_hash(&cache, &store).await, crypto::token_hash("derde-geheim"));

        // Unknown ids are read every time, never kept.
        let hits = cache.hits();
        for _ in 0..3 {
            assert!(cache.get(&store, "onbekend").await.unwrap().is_none());
        }
        assert_eq!(cache.hits(), hits);
        watch.abort();
        other.close().await;
    }

    /// A change whose signal cannot be written is refused before anything is stored (a
    /// committed but unannounced change would let running servers keep the old one).
    async fn an_unwritable_stamp_refuses_the_change(db: &TestDatabase) {
        let store = open(db).await;
        let Db::Sqlite(pool) = &store else {
            return; // PostgreSQL signals inside the transaction.
        };
        let stamp = idp::store::client_cache::stamp_path(pool).expect("a file database has a stamp");
        std::fs::create_dir(&stamp).unwrap();
        let refused = clients::upsert(&store, &service("geheim"), T0).await;
        assert!(matches!(refused, Err(idp::store::StoreError::SignalFailed { .. })), "{refused:?}");
        assert!(clients::get(&store, "dienst").await.unwrap().is_none(), "nothing was stored");
        std::fs::remove_dir(&stamp).unwrap();
        clients::upsert(&store, &service("geheim"), T0).await.unwrap();
        assert!(clients::get(&store, "dienst").await.unwrap().is_some());
    }
}
