//! Activation and reset links (SPEC A2, SECURITY ML-01, ML-02, KS-01): looked at without
//! being used, used once, expiring, voided by a newer link, and stored only as hashes.

use idp::crypto;
use idp::mail::MailContent;
use idp::store::Db;
use idp::store::audit::AuditRecord;
use idp::store::tokens::{self, LinkState, Purpose};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{
    LINK_TTL, MASTER_KEY, T0, audit_count, contains, dump, exec, head_office, hex, link, link_used,
    mail, open, password_hash, sealer, store, user_id, with_link,
};

/// A head office whose main user has an unused activation link for `token`; the user's id.
async fn user_with_link(db: &Db, advisor_number: &str, token: &str) -> Uuid {
    let account = with_link(
        head_office(advisor_number, &format!("info@{advisor_number}.nl"), "DIP"),
        token,
    );
    store(db, &account).await;
    user_id(&account)
}

async fn peek(db: &Db, token: &str, now: OffsetDateTime) -> LinkState {
    tokens::peek(db, &crypto::token_hash(token), Purpose::Activation, now)
        .await
        .unwrap()
}

async fn consume(db: &Db, token: &str, phc: &str, now: OffsetDateTime) -> LinkState {
    tokens::consume_and_set_password(
        db,
        &crypto::token_hash(token),
        Purpose::Activation,
        phc,
        &AuditRecord::new("user.activated"),
        &[],
        now,
    )
    .await
    .unwrap()
}

/// Sends `user_id` a new link of `purpose` at `now`, as "opnieuw versturen" does.
async fn issue(db: &Db, user_id: Uuid, purpose: Purpose, token: &str, now: OffsetDateTime) {
    tokens::issue(
        db,
        &link(user_id, purpose, token, now + LINK_TTL),
        &mail("info@example.nl", b"sealed"),
        &AuditRecord::new("user.link_sent"),
        now,
    )
    .await
    .unwrap();
}

testkit::both_databases! {
    /// ML-02: opening the link (the GET) changes nothing; only the POST consumes it.
    async fn ml02_peek_does_not_consume(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-peek").await;
        for _ in 0..2 {
            assert_eq!(
                peek(&db, "tok-peek", T0).await,
                LinkState::Valid { user_id: user }
            );
        }
        assert!(!link_used(&db, "tok-peek").await);
        assert_eq!(password_hash(&db, user).await, None);

        assert_eq!(
            consume(&db, "tok-peek", "phc-1", T0).await,
            LinkState::Valid { user_id: user }
        );
        assert!(link_used(&db, "tok-peek").await);
    }

    /// A2: a link sets the password once; a second use changes nothing.
    async fn a2_a_link_sets_the_password_once(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-once").await;

        assert_eq!(
            consume(&db, "tok-once", "phc-first", T0).await,
            LinkState::Valid { user_id: user }
        );
        assert_eq!(password_hash(&db, user).await.as_deref(), Some("phc-first"));
        assert_eq!(audit_count(&db, user, "user.activated").await, 1);

        let later = T0 + Duration::minutes(5);
        assert_eq!(
            consume(&db, "tok-once", "phc-second", later).await,
            LinkState::Used
        );
        assert_eq!(peek(&db, "tok-once", later).await, LinkState::Used);
        assert_eq!(password_hash(&db, user).await.as_deref(), Some("phc-first"));
        assert_eq!(audit_count(&db, user, "user.activated").await, 1);
    }

    /// A2: a link expires (default 7 days); an expired link changes nothing.
    async fn a2_an_expired_link_changes_nothing(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-old").await;
        let end = T0 + LINK_TTL;

        assert_eq!(
            peek(&db, "tok-old", end - Duration::seconds(1)).await,
            LinkState::Valid { user_id: user }
        );
        assert_eq!(peek(&db, "tok-old", end).await, LinkState::Expired);
        assert_eq!(
            consume(&db, "tok-old", "phc", end + Duration::days(1)).await,
            LinkState::Expired
        );

        assert_eq!(password_hash(&db, user).await, None);
        assert!(!link_used(&db, "tok-old").await);
        assert_eq!(audit_count(&db, user, "user.activated").await, 0);
    }

    /// A2/ML-01: a newly sent link voids the older one of that user and purpose, and only
    /// that one.
    async fn ml01_a_new_link_voids_the_older_one(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-first").await;
        let other = user_with_link(&db, "67890", "tok-other").await;
        let resent = T0 + Duration::hours(1);

        issue(&db, user, Purpose::Activation, "tok-second", resent).await;
        assert_eq!(peek(&db, "tok-first", resent).await, LinkState::Expired);
        assert_eq!(
            consume(&db, "tok-first", "phc-old", resent).await,
            LinkState::Expired
        );
        assert_eq!(password_hash(&db, user).await, None);

        // Another user's link, and this user's link of another purpose, are untouched.
        assert_eq!(
            peek(&db, "tok-other", resent).await,
            LinkState::Valid { user_id: other }
        );
        issue(&db, user, Purpose::Reset, "tok-reset", resent).await;
        assert_eq!(
            peek(&db, "tok-second", resent).await,
            LinkState::Valid { user_id: user }
        );

        assert_eq!(
            consume(&db, "tok-second", "phc-new", resent).await,
            LinkState::Valid { user_id: user }
        );
        assert_eq!(password_hash(&db, user).await.as_deref(), Some("phc-new"));
    }

    /// ML-01: a link is bound to its purpose: an activation link is no reset link.
    async fn ml01_a_link_is_bound_to_its_purpose(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-act").await;
        let hash = crypto::token_hash("tok-act");

        assert_eq!(
            tokens::peek(&db, &hash, Purpose::Reset, T0).await.unwrap(),
            LinkState::Unknown
        );
        let as_reset = tokens::consume_and_set_password(
            &db,
            &hash,
            Purpose::Reset,
            "phc",
            &AuditRecord::new("user.password_reset"),
            &[],
            T0,
        )
        .await
        .unwrap();
        assert_eq!(as_reset, LinkState::Unknown);
        assert_eq!(password_hash(&db, user).await, None);
        assert_eq!(
            peek(&db, "tok-act", T0).await,
            LinkState::Valid { user_id: user }
        );
    }

    /// A2: the link of an inactive account is unknown and changes nothing.
    async fn a2_a_link_of_an_inactive_user_is_unknown(db: &TestDatabase) {
        let db = open(db).await;
        let user = user_with_link(&db, "12345", "tok-gone").await;
        let changed = exec(&db, "UPDATE users SET active = FALSE WHERE id = $1", user)
            .await
            .unwrap();
        assert_eq!(changed, 1);

        assert_eq!(peek(&db, "tok-gone", T0).await, LinkState::Unknown);
        assert_eq!(
            consume(&db, "tok-gone", "phc", T0).await,
            LinkState::Unknown
        );
        assert_eq!(password_hash(&db, user).await, None);
        assert!(!link_used(&db, "tok-gone").await);
    }

    /// A2: two concurrent submissions of one link (a double click) set the password once.
    async fn a2_concurrent_submissions_of_one_link_succeed_once(db: &TestDatabase) {
        let db = open(db).await;
        for round in 0..5 {
            let token = format!("tok-race-{round}");
            let user = user_with_link(&db, &format!("5000{round}"), &token).await;
            let hash = crypto::token_hash(&token);
            let submit = |db: Db, phc: &'static str| {
                let hash = hash.clone();
                tokio::spawn(async move {
                    tokens::consume_and_set_password(
                        &db,
                        &hash,
                        Purpose::Activation,
                        phc,
                        &AuditRecord::new("user.activated"),
                        &[],
                        T0,
                    )
                    .await
                })
            };
            let a = submit(db.clone(), "phc-a");
            let b = submit(db.clone(), "phc-b");
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            let valid = LinkState::Valid { user_id: user };
            let winners = [&a, &b]
                .iter()
                .filter(|r| matches!(r, Ok(s) if *s == valid))
                .count();
            assert_eq!(winners, 1, "round {round}: {a:?} / {b:?}");
            // The other submission learns the link was used; it does not fail.
            let losers = [&a, &b]
                .iter()
                .filter(|r| matches!(r, Ok(LinkState::Used)))
                .count();
            assert_eq!(losers, 1, "round {round}: {a:?} / {b:?}");
            let expected = if matches!(&a, Ok(s) if *s == valid) {
                "phc-a"
            } else {
                "phc-b"
            };
            assert_eq!(password_hash(&db, user).await.as_deref(), Some(expected));
            assert_eq!(audit_count(&db, user, "user.activated").await, 1);
        }
    }

    /// KS-01: after a whole activation (link stored, mail queued sealed, password set) no
    /// table holds the token, in any encoding; the link's row holds its SHA-256.
    async fn ks01_no_table_holds_the_raw_token(test_db: &TestDatabase) {
        let db = open(test_db).await;
        let token = crypto::random_token().unwrap();
        let outbox = sealer(MASTER_KEY, "outbox");
        let content = MailContent {
            to: "info@12345.nl".to_owned(),
            cc: Vec::new(),
            subject: "Activeer uw account".to_owned(),
            text: format!("https://portal.example/idp/activate/{token}"),
            html: format!("<a href=\"https://portal.example/idp/activate/{token}\">Activeer</a>"),
        };
        let mut account = head_office("12345", "info@12345.nl", "DIP");
        account.token = Some(link(
            account.user.id,
            Purpose::Activation,
            &token,
            T0 + LINK_TTL,
        ));
        account.mail = Some(idp::mail::seal(&outbox, "activation", &content).unwrap());
        store(&db, &account).await;
        assert_eq!(
            consume(&db, &token, "$argon2id$v=19$stub", T0).await,
            LinkState::Valid {
                user_id: account.user.id
            }
        );

        let dumped = dump(&db, test_db).await;
        let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &token)
            .unwrap();
        // The token as text, and as the hex PostgreSQL shows for a `bytea` holding that
        // text (an unsealed mail); its decoded bytes, raw and as hex.
        let needles = [
            ("the token", token.as_bytes().to_vec()),
            ("the token as hex", hex(token.as_bytes()).into_bytes()),
            ("the token's bytes", raw.clone()),
            ("the token's bytes as hex", hex(&raw).into_bytes()),
        ];
        for (what, needle) in &needles {
            assert!(!contains(&dumped, needle), "{what} is stored");
        }
        let sha = crypto::token_hash(&token);
        assert!(
            contains(&dumped, hex(&sha).as_bytes()),
            "the SHA-256 is what is stored"
        );

        let stored: Vec<u8> = idp::with_db!(&db, |pool| sqlx::query_scalar(
            "SELECT token_hash FROM user_tokens WHERE user_id = $1"
        )
        .bind(account.user.id)
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(stored, sha);
    }
}
