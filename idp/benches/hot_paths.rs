//! Micro-benchmarks of the provider's hot primitives (issue 8, PERFORMANCE.md):
//! signing and verifying an access token, checking a client secret, hashing and verifying a
//! password, a user's effective rights in a three-level office tree, the sign-in page.
//!
//! Only the crate's public API is used. Where the real function is crate-private (the
//! access-token claims, `verify_access_token`, client authentication, the sign-in page's
//! context), the bench runs the same public calls with the same inputs; see docs/BENCHMARKS.md.
//!
//! Run: `cargo bench -p idp -- --warm-up-time 1 --measurement-time 3`.

// Set-up failures in a bench should stop it loudly; there is no caller to return an error to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use idp::crypto::{self, MasterKey};
use idp::domain::rights::{OfficeRights, Rights, effective_rights, parse_rights};
use idp::hasher::{Hasher, Verdict};
use idp::keys::{self, KeySet, Keys};
use idp::store::{self, Db};
use jsonwebtoken::Algorithm;
use product_registry::Registry;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const ISSUER: &str = "https://portaal.example.nl/idp";

/// The claims of a user's access token, as `oidc::token::AccessClaims` (crate-private)
/// serialises them: RFC 9068 plus the portal's role, rights and offices.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    client_id: &'a str,
    exp: i64,
    iat: i64,
    auth_time: Option<i64>,
    jti: String,
    scope: &'a str,
    sid: Option<&'a str>,
    grant_id: Option<String>,
    role: Option<&'static str>,
    rights: Option<Vec<String>>,
    office: Option<IdOnly>,
    head_office: Option<IdOnly>,
}

#[derive(Serialize)]
struct IdOnly {
    id: String,
}

/// What `oidc::userinfo::verify_access_token` (crate-private) reads back.
#[derive(Deserialize)]
#[allow(dead_code)]
struct AccessToken {
    sub: String,
    scope: String,
    client_id: String,
    exp: i64,
    iat: i64,
    jti: String,
    grant_id: Option<String>,
    #[serde(default)]
    auth_time: Option<i64>,
}

fn access_claims(now: OffsetDateTime) -> AccessClaims<'static> {
    AccessClaims {
        iss: ISSUER,
        sub: uuid::Uuid::now_v7().to_string(),
        aud: "offerte-portaal",
        client_id: "offerte-portaal",
        exp: (now + time::Duration::minutes(5)).unix_timestamp(),
        iat: now.unix_timestamp(),
        auth_time: Some(now.unix_timestamp()),
        jti: uuid::Uuid::new_v4().to_string(),
        scope: "openid portal offline_access",
        sid: Some("Qk3d9vJx0pX2cF8aYb1LwA"),
        grant_id: Some(uuid::Uuid::now_v7().to_string()),
        role: Some("employee"),
        rights: Some(vec!["DIP".into(), "DIL".into()]),
        office: Some(IdOnly {
            id: uuid::Uuid::now_v7().to_string(),
        }),
        head_office: Some(IdOnly {
            id: uuid::Uuid::now_v7().to_string(),
        }),
    }
}

/// `verify_access_token`'s checks: our `kid` and its algorithm, signature, issuer, expiry
/// without leeway, required claims, and `typ: at+jwt`.
fn verify_access_token(keys: &KeySet, token: &str) -> Option<AccessToken> {
    let (header, claims) = keys.verify::<AccessToken>(token, ISSUER, |v| {
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
    })?;
    let typ_ok = header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("at+jwt"));
    typ_ok.then_some(claims)
}

/// A key set with an RS256, an ES256 and an EdDSA key, made the way the provider makes
/// them (aws-lc-rs, sealed in a SQLite database, loaded by `Keys`).
fn key_set(rt: &tokio::runtime::Runtime, now: OffsetDateTime) -> std::sync::Arc<KeySet> {
    let dir = std::env::temp_dir().join(format!("idp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite:{}", dir.join("keys.db").display());
    let set = rt.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let master = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let keys = Keys::load(&db, master.sealer("signing-keys").unwrap(), now)
            .await
            .unwrap();
        let sealer = master.sealer("signing-keys").unwrap();
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            keys::ensure_alg(&db, &sealer, alg, now).await.unwrap();
        }
        keys.reload(&db, now).await.unwrap();
        keys.current()
    });
    let _ = std::fs::remove_dir_all(&dir);
    set
}

fn tokens(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let now = store::at(OffsetDateTime::now_utc());
    let set = key_set(&rt, now);
    let claims = access_claims(now);
    for (alg, name) in [
        (Algorithm::RS256, "RS256"),
        (Algorithm::ES256, "ES256"),
        (Algorithm::EdDSA, "EdDSA"),
    ] {
        assert!(set.can_sign(alg, now), "no {name} key");
        c.bench_function(&format!("access_token/sign/{name}"), |b| {
            b.iter(|| {
                set.sign_with(alg, "at+jwt", black_box(&claims), now)
                    .unwrap()
            })
        });
        let token = set.sign_with(alg, "at+jwt", &claims, now).unwrap();
        assert!(verify_access_token(&set, &token).is_some());
        c.bench_function(&format!("access_token/verify/{name}"), |b| {
            b.iter(|| verify_access_token(&set, black_box(&token)).unwrap())
        });
    }
}

fn client_secret(c: &mut Criterion) {
    // As `oidc::client_auth::authenticate` (crate-private) does after the client's row is
    // read: SHA-256 of the presented secret, compared in constant time with the stored hash.
    let secret = crypto::random_token().unwrap();
    let stored = crypto::token_hash(&secret);
    let presented = secret.clone();
    assert!(crypto::same(&stored, &crypto::token_hash(&presented)));
    c.bench_function("client_secret/check", |b| {
        b.iter(|| {
            let hash = crypto::token_hash(black_box(&presented));
            crypto::same(black_box(&stored), &hash)
        })
    });
}

fn passwords(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hasher = Hasher::new(2).unwrap();
    let password = "correct horse battery staple";
    let phc = rt
        .block_on(hasher.hash(SecretString::from(password.to_owned())))
        .unwrap();
    let mut group = c.benchmark_group("password");
    // One argon2id hash is ~15 ms: ten samples keep the run short.
    group.sample_size(10);
    group.bench_function("hash", |b| {
        b.iter(|| {
            rt.block_on(hasher.hash(SecretString::from(black_box(password).to_owned())))
                .unwrap()
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| {
            let verdict = rt
                .block_on(hasher.verify(
                    SecretString::from(black_box(password).to_owned()),
                    Some(phc.clone()),
                ))
                .unwrap();
            assert_eq!(verdict, Verdict::Right);
        })
    });
    group.finish();
}

fn rights(c: &mut Criterion) {
    // Three levels: head office (its appointment) → sub-office (what the head gave it) →
    // employee (the rights stored on the user).
    let registry = Registry::builtin().unwrap();
    let head: Rights = parse_rights("DIP,DIL,ORV", &registry).unwrap();
    let sub: Rights = parse_rights("DIP,DIL", &registry).unwrap();
    let user: Rights = parse_rights("DIP,DIL,ORV", &registry).unwrap();
    let head_office = OfficeRights {
        rights: &head,
        active: true,
    };
    let sub_office = OfficeRights {
        rights: &sub,
        active: true,
    };
    let got = effective_rights(
        &user,
        true,
        false,
        &sub_office,
        Some(&head_office),
        &registry,
    );
    assert_eq!(got.len(), 2);
    c.bench_function("effective_rights/sub_office_employee", |b| {
        b.iter(|| {
            effective_rights(
                black_box(&user),
                true,
                false,
                black_box(&sub_office),
                Some(black_box(&head_office)),
                &registry,
            )
        })
    });
}

/// The sign-in page's context, as `login::signin` (crate-private `Ctx`) builds it.
#[derive(Serialize)]
struct LoginCtx<'a> {
    action: &'a str,
    activate_url: &'a str,
    forgot_url: &'a str,
    return_to: &'a str,
    username: &'a str,
    error_key: Option<&'static str>,
    retry_minutes: Option<i64>,
    passkey_start: Option<&'a str>,
    passkey_finish: Option<&'a str>,
}

fn sign_in_page(c: &mut Criterion) {
    let templates = web_kit::Templates::load().unwrap();
    let ctx = LoginCtx {
        action: "/idp/login",
        activate_url: "/idp/activate",
        forgot_url: "/idp/forgot",
        return_to: "/idp/authorize?client_id=offerte-portaal&response_type=code&state=x",
        username: "",
        error_key: None,
        retry_minutes: None,
        passkey_start: Some("/idp/passkey/login/start"),
        passkey_finish: Some("/idp/passkey/login/finish"),
    };
    let html = templates.render("idp/login.html", &ctx).unwrap();
    assert!(html.contains("name=\"password\""));
    c.bench_function("sign_in_page/render", |b| {
        b.iter(|| templates.render("idp/login.html", black_box(&ctx)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = tokens, client_secret, passwords, rights, sign_in_page
}
criterion_main!(benches);
