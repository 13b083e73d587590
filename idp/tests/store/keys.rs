//! Signing keys at rest (SECURITY KS-01, KS-02): sealed under the master key, bound to their
//! row, and unusable under another key or in another row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp::keys::{self, KeyError, Keys};
use idp::store::Db;
use idp::store::keys::{self as key_store, KeyRow};
use testkit::TestDatabase;

use crate::support::{MASTER_KEY, OTHER_MASTER_KEY, T0, contains, count, open, sealer};

async fn load(db: &Db, master_key: &str) -> Result<Keys, KeyError> {
    Keys::load(db, sealer(master_key, "signing-keys"), T0).await
}

async fn stored_keys(db: &Db) -> Vec<KeyRow> {
    key_store::published(db, T0).await.unwrap()
}

/// Stores `private_key` as the sealed key of `kid`.
async fn set_private_key(db: &Db, kid: &str, private_key: &[u8]) {
    let changed = idp::with_db!(db, |pool| sqlx::query(
        "UPDATE signing_keys SET private_key = $1 WHERE kid = $2"
    )
    .bind(private_key)
    .bind(kid)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    assert_eq!(changed, 1);
}

testkit::both_databases! {
    /// KS-01/KS-02: the first key, made on an empty database, is stored sealed: no PEM, no
    /// private key bytes, not even the public modulus the PKCS#8 would show; it opens
    /// only with the signing-keys sealer of the right master key, for its own kid.
    async fn ks02_a_new_signing_key_is_sealed_at_rest(db: &TestDatabase) {
        let db = open(db).await;
        assert_eq!(count(&db, "signing_keys").await, 0);
        load(&db, MASTER_KEY).await.unwrap();
        let rows = stored_keys(&db).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];

        for marker in [&b"PRIVATE KEY"[..], b"-----BEGIN"] {
            assert!(
                !contains(&row.private_key, marker),
                "{} in the stored key",
                String::from_utf8_lossy(marker)
            );
        }
        let right = sealer(MASTER_KEY, "signing-keys");
        let der = right.open(row.kid.as_bytes(), &row.private_key).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).unwrap();
        let modulus = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert!(
            contains(&der, &modulus),
            "the sealed value is the PKCS#8 key"
        );
        assert!(
            !contains(&row.private_key, &modulus),
            "the modulus is readable at rest"
        );
        assert!(
            !contains(&row.private_key, &der[der.len() - 64..]),
            "private key bytes at rest"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{private} in the public JWK");
        }

        assert!(
            sealer(OTHER_MASTER_KEY, "signing-keys")
                .open(row.kid.as_bytes(), &row.private_key)
                .is_err()
        );
        assert!(
            sealer(MASTER_KEY, "outbox")
                .open(row.kid.as_bytes(), &row.private_key)
                .is_err()
        );
        assert!(right.open(b"another-kid", &row.private_key).is_err());

        // Loading again uses the stored key; under another master key it does not load.
        load(&db, MASTER_KEY).await.unwrap();
        assert_eq!(count(&db, "signing_keys").await, 1);
        assert!(matches!(
            load(&db, OTHER_MASTER_KEY).await,
            Err(KeyError::Unusable { kid, .. }) if kid == row.kid
        ));
    }

    /// KS-02: swapping two sealed keys between rows makes them fail to load (AAD = kid).
    async fn ks02_a_sealed_key_moved_to_another_kid_fails_to_load(db: &TestDatabase) {
        let db = open(db).await;
        load(&db, MASTER_KEY).await.unwrap();
        let new_kid = keys::rotate(&db, &sealer(MASTER_KEY, "signing-keys"), T0)
            .await
            .unwrap();
        let rows = stored_keys(&db).await;
        assert_eq!(rows.len(), 2);
        load(&db, MASTER_KEY).await.unwrap();

        let (a, b) = (&rows[0], &rows[1]);
        assert!(a.kid == new_kid || b.kid == new_kid);
        set_private_key(&db, &a.kid, &b.private_key).await;
        set_private_key(&db, &b.kid, &a.private_key).await;
        assert!(matches!(
            load(&db, MASTER_KEY).await,
            Err(KeyError::Unusable { kid, .. }) if kid == a.kid || kid == b.kid
        ));

        // Put back, they load again: the failure was the swap.
        set_private_key(&db, &a.kid, &a.private_key).await;
        set_private_key(&db, &b.kid, &b.private_key).await;
        load(&db, MASTER_KEY).await.unwrap();
    }
}
