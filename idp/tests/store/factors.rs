//! Second factors (SPEC F1–F4; SECURITY MF-02, MF-05, MF-07, MF-09, SE-05, AU-08): a proof
//! is accepted once, in the one transaction that also uses up the pending step, starts
//! the session, ends other sessions and writes the audit entries and notices; a refused
//! proof writes nothing.

use idp::crypto;
use idp::store::Db;
use idp::store::audit::AuditRecord;
use idp::store::clients::{self, Client};
use idp::store::codes::{self, CodeGrant, Redeemed};
use idp::store::factors::{self, Completion, EndSessions, NewPasskey, Proof, Refused, Removal};
use idp::store::grants;
use idp::store::outbox::NewMail;
use idp::store::sessions::{self, NewSession};
use idp::store::steps::{self, StepKind};
use testkit::TestDatabase;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::support::{T0, audit_count, count, mail, open, session_of, some_user, step_of};

/// The sealed seed of the first authenticator app (opaque at this layer).
const SEED_ONE: &[u8] = b"sealed seed one";
/// The sealed seed of a replacing authenticator app.
const SEED_TWO: &[u8] = b"sealed seed two";
/// The step a first enrolment is confirmed with.
const ENROLLED_AT: i64 = 100;
/// How long a pending step lives.
const TTL: Duration = Duration::minutes(5);
/// The audit action the completions of these tests write.
const ACTION: &str = "login.second_factor";

/// Ten recovery-code hashes, distinct per `tag`.
fn recovery_set(tag: &str) -> Vec<Vec<u8>> {
    (0..10)
        .map(|i| crypto::token_hash(&format!("{tag}-code-{i}")))
        .collect()
}

/// A completion of `proof` for `user_id` with nothing else attached.
fn bare(user_id: Uuid, proof: Proof<'_>) -> Completion<'_> {
    Completion {
        user_id,
        step: None,
        proof,
        session: None,
        end_sessions: EndSessions::None,
        audit: &[],
        mails: &[],
    }
}

/// What a sign-in writes besides the proof: a session, an audit entry, a notice.
struct SignIn {
    session: NewSession,
    audit: [AuditRecord; 1],
    mails: [NewMail; 1],
}

impl SignIn {
    fn new(user_id: Uuid, cookie: &str) -> Self {
        Self {
            session: session_of(user_id, cookie),
            audit: [AuditRecord {
                target_user_id: Some(user_id),
                ..AuditRecord::new(ACTION)
            }],
            mails: [mail("info@example.nl", b"sealed notice")],
        }
    }

    /// A completion of `proof` that, when accepted, writes all of it.
    fn with<'a>(&'a self, proof: Proof<'a>, step: Option<&'a [u8]>) -> Completion<'a> {
        Completion {
            user_id: self.session.user_id,
            step,
            proof,
            session: Some(&self.session),
            end_sessions: EndSessions::None,
            audit: &self.audit,
            mails: &self.mails,
        }
    }
}

async fn complete(db: &Db, c: &Completion<'_>) -> Result<(), Refused> {
    factors::complete(db, c, T0).await.unwrap()
}

/// Sets up an authenticator app for `user_id` confirmed at `step`, with `recovery`.
async fn enrol(db: &Db, user_id: Uuid, seed: &[u8], step: i64, recovery: &[Vec<u8>]) {
    let proof = Proof::EnrolTotp {
        first_only: false,
        secret: seed,
        step,
        recovery,
    };
    assert_eq!(complete(db, &bare(user_id, proof)).await, Ok(()));
}

async fn last_step(db: &Db, user_id: Uuid) -> i64 {
    factors::totp(db, user_id).await.unwrap().unwrap().last_step
}

async fn recovery_left(db: &Db, user_id: Uuid) -> i64 {
    factors::summary(db, user_id).await.unwrap().recovery_left
}

fn use_code(code_hash: &[u8]) -> Proof<'_> {
    Proof::Recovery { code_hash }
}

fn passkey(credential_id: &str, name: &str) -> NewPasskey {
    NewPasskey {
        id: Uuid::now_v7(),
        credential_id: credential_id.as_bytes().to_vec(),
        name: name.to_owned(),
        credential: format!("sealed passkey {name}").into_bytes(),
        backup_eligible: true,
    }
}

/// Registers `p` for `user_id` at `now` with no recovery codes; the outcome.
async fn register(
    db: &Db,
    user_id: Uuid,
    p: &NewPasskey,
    now: OffsetDateTime,
) -> Result<(), Refused> {
    let proof = Proof::RegisterPasskey {
        first_only: false,
        passkey: p,
        recovery: &[],
    };
    factors::complete(db, &bare(user_id, proof), now)
        .await
        .unwrap()
}

/// Every value a completion, a removal or a reset can change, summed over all users:
/// rows per table and the rows in each changeable state. Equal before and after means
/// nothing was written.
async fn fingerprint(db: &Db) -> Vec<(&'static str, i64)> {
    const PROBES: [&str; 13] = [
        "SELECT COUNT(*) FROM totp_factors",
        "SELECT COALESCE(MAX(last_step), 0) FROM totp_factors",
        "SELECT COUNT(*) FROM recovery_codes",
        "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL",
        "SELECT COUNT(*) FROM passkeys",
        "SELECT COUNT(*) FROM passkeys WHERE last_used_at IS NULL",
        "SELECT COUNT(*) FROM pending_steps",
        "SELECT COUNT(*) FROM idp_sessions",
        "SELECT COUNT(*) FROM idp_sessions WHERE revoked_at IS NULL",
        "SELECT COUNT(*) FROM grants",
        "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL",
        "SELECT COUNT(*) FROM audit_log",
        "SELECT COUNT(*) FROM outbox",
    ];
    let mut all = Vec::new();
    for sql in PROBES {
        let n: i64 = idp::with_db!(db, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        all.push((sql, n));
    }
    all
}

/// Whether a pending step with this id hash is stored, expired or not.
async fn step_stored(db: &Db, id_hash: &[u8]) -> bool {
    let n: i64 = idp::with_db!(db, |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM pending_steps WHERE id_hash = $1"
    )
    .bind(id_hash)
    .fetch_one(pool)
    .await)
    .unwrap();
    n == 1
}

/// A live pending sign-in step of `user_id`; its id hash.
async fn pending(db: &Db, user_id: Uuid, cookie: &str) -> Vec<u8> {
    let s = step_of(StepKind::SecondFactor, Some(user_id), cookie, T0 + TTL);
    steps::create(db, &s, T0 - Duration::seconds(10))
        .await
        .unwrap();
    s.id_hash
}

/// Stores `s` as a live session.
async fn start(db: &Db, s: &NewSession) {
    sessions::create(db, s, T0 - Duration::minutes(30))
        .await
        .unwrap();
}

async fn revoked(db: &Db, s: &NewSession) -> bool {
    sessions::find(db, &s.id_hash)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some()
}

/// A grant of `user_id` made in session `session_hash`, through the code flow (an
/// authorization code stored and redeemed); its id.
async fn grant_in(db: &Db, user_id: Uuid, session_hash: &[u8]) -> Uuid {
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
    let code = crypto::token_hash(&crypto::random_token().unwrap());
    let g = CodeGrant {
        client_id: "dip".to_owned(),
        user_id,
        session_hash: session_hash.to_vec(),
        redirect_uri: "https://portal.example/dip/callback".to_owned(),
        scope: "openid portal".to_owned(),
        nonce: None,
        code_challenge: None,
        auth_time: T0 - Duration::minutes(30),
        amr: "pwd,otp".to_owned(),
        expires_at: T0 + Duration::seconds(60),
        dpop_jkt: None,
    };
    codes::insert(db, &code, &g, T0 - Duration::minutes(30))
        .await
        .unwrap();
    let id = Uuid::now_v7();
    let redeemed = codes::redeem(
        db,
        &code,
        id,
        T0 + Duration::hours(8),
        T0 - Duration::minutes(29),
    )
    .await
    .unwrap();
    assert!(matches!(redeemed, Redeemed::Fresh(_)));
    id
}

async fn grant_revoked(db: &Db, id: Uuid) -> bool {
    grants::get(db, id)
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some()
}

testkit::both_databases! {
    /// MF-02: a TOTP code is accepted only for a step after the last accepted one; the
    /// same step again, or an older one, is a replay and writes nothing (no session, no
    /// audit entry, no notice).
    async fn mf02_a_totp_step_is_accepted_only_after_the_last_one(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &recovery_set("u")).await;
        enrol(&db, other, SEED_ONE, 50, &recovery_set("o")).await;

        // The step that confirmed the enrolment is used up too.
        for (i, step) in [ENROLLED_AT, ENROLLED_AT - 1, 0].into_iter().enumerate() {
            let sign_in = SignIn::new(user, &format!("replay-{i}"));
            let before = fingerprint(&db).await;
            assert_eq!(
                complete(&db, &sign_in.with(Proof::Totp { step }, None)).await,
                Err(Refused::Replay),
                "step {step}"
            );
            assert_eq!(fingerprint(&db).await, before, "step {step}");
            assert!(
                sessions::find(&db, &sign_in.session.id_hash)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert_eq!(last_step(&db, user).await, ENROLLED_AT);
        assert_eq!(audit_count(&db, user, ACTION).await, 0);

        let before = count(&db, "outbox").await;
        let sign_in = SignIn::new(user, "accepted");
        let next = ENROLLED_AT + 1;
        assert_eq!(
            complete(&db, &sign_in.with(Proof::Totp { step: next }, None)).await,
            Ok(())
        );
        assert_eq!(last_step(&db, user).await, next);
        assert!(
            sessions::find(&db, &sign_in.session.id_hash)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(audit_count(&db, user, ACTION).await, 1);
        assert_eq!(count(&db, "outbox").await, before + 1);

        // Once accepted, that step is a replay as well; a later one (skipping some) is not.
        let again = SignIn::new(user, "again");
        assert_eq!(
            complete(&db, &again.with(Proof::Totp { step: next }, None)).await,
            Err(Refused::Replay)
        );
        assert!(
            sessions::find(&db, &again.session.id_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            complete(&db, &bare(user, Proof::Totp { step: next + 5 })).await,
            Ok(())
        );
        assert_eq!(last_step(&db, user).await, next + 5);

        // Each user has their own last step.
        assert_eq!(last_step(&db, other).await, 50);
        assert_eq!(
            complete(&db, &bare(other, Proof::Totp { step: 51 })).await,
            Ok(())
        );

        // Without an authenticator app no TOTP step is accepted.
        let none = some_user(&db, 3).await;
        assert_eq!(
            complete(&db, &bare(none, Proof::Totp { step: 1 })).await,
            Err(Refused::Replay)
        );
        assert!(factors::totp(&db, none).await.unwrap().is_none());
    }

    /// MF-02: of two parallel completions with one TOTP step, with or without (different)
    /// pending steps, exactly one is accepted and only its session exists.
    async fn mf02_two_parallel_uses_of_one_totp_step_succeed_once(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &recovery_set("u")).await;

        for round in 0..10_i64 {
            let step = ENROLLED_AT + 1 + round;
            let with_steps = round % 2 == 1;
            let (step_a, step_b) = if with_steps {
                (
                    Some(pending(&db, user, &format!("step-a-{round}")).await),
                    Some(pending(&db, user, &format!("step-b-{round}")).await),
                )
            } else {
                (None, None)
            };
            let a = SignIn::new(user, &format!("a-{round}"));
            let b = SignIn::new(user, &format!("b-{round}"));
            let ca = a.with(Proof::Totp { step }, step_a.as_deref());
            let cb = b.with(Proof::Totp { step }, step_b.as_deref());

            let (ra, rb) = tokio::join!(
                factors::complete(&db, &ca, T0),
                factors::complete(&db, &cb, T0),
            );
            let (ra, rb) = (ra.unwrap(), rb.unwrap());
            let outcomes = [ra, rb];
            assert_eq!(
                outcomes.iter().filter(|r| r.is_ok()).count(),
                1,
                "round {round}: {outcomes:?}"
            );
            assert!(
                outcomes.contains(&Err(Refused::Replay)),
                "round {round}: {outcomes:?}"
            );

            let a_won = ra.is_ok();
            assert_eq!(
                sessions::find(&db, &a.session.id_hash)
                    .await
                    .unwrap()
                    .is_some(),
                a_won
            );
            assert_eq!(
                sessions::find(&db, &b.session.id_hash)
                    .await
                    .unwrap()
                    .is_some(),
                !a_won
            );
            assert_eq!(last_step(&db, user).await, step);
            assert_eq!(audit_count(&db, user, ACTION).await, round as usize + 1);
            if let (Some(sa), Some(sb)) = (&step_a, &step_b) {
                // The winner's step is used up; the loser's is left as it was.
                assert_eq!(step_stored(&db, sa).await, !a_won, "round {round}");
                assert_eq!(step_stored(&db, sb).await, a_won, "round {round}");
            }
        }
    }

    /// MF-05: an unused recovery code is accepted once; a used one, an unknown one and
    /// another user's are refused and write nothing.
    async fn mf05_a_recovery_code_works_once_and_only_for_its_owner(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let mine = recovery_set("mine");
        let theirs = recovery_set("theirs");
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &mine).await;
        enrol(&db, other, SEED_ONE, ENROLLED_AT, &theirs).await;

        let first = SignIn::new(user, "first");
        assert_eq!(
            complete(&db, &first.with(use_code(&mine[0]), None)).await,
            Ok(())
        );
        assert_eq!(recovery_left(&db, user).await, 9);
        assert!(
            sessions::find(&db, &first.session.id_hash)
                .await
                .unwrap()
                .is_some()
        );

        let unknown = crypto::token_hash("no such code");
        for (what, code) in [
            ("used", &mine[0]),
            ("another user's", &theirs[0]),
            ("unknown", &unknown),
        ] {
            let sign_in = SignIn::new(user, &format!("refused-{what}"));
            let before = fingerprint(&db).await;
            assert_eq!(
                complete(&db, &sign_in.with(use_code(code), None)).await,
                Err(Refused::UnknownRecoveryCode),
                "{what}"
            );
            assert_eq!(fingerprint(&db).await, before, "{what}");
        }
        assert_eq!(audit_count(&db, user, ACTION).await, 1);

        // The other user's code is still theirs to use, once.
        assert_eq!(recovery_left(&db, other).await, 10);
        assert_eq!(
            complete(&db, &bare(other, use_code(&theirs[0]))).await,
            Ok(())
        );
        assert_eq!(
            complete(&db, &bare(other, use_code(&theirs[0]))).await,
            Err(Refused::UnknownRecoveryCode)
        );

        // Two parallel uses of one code: one is accepted.
        let (a, b) = (SignIn::new(user, "par-a"), SignIn::new(user, "par-b"));
        let (ca, cb) = (
            a.with(use_code(&mine[1]), None),
            b.with(use_code(&mine[1]), None),
        );
        let (ra, rb) = tokio::join!(
            factors::complete(&db, &ca, T0),
            factors::complete(&db, &cb, T0)
        );
        let outcomes = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            outcomes.iter().filter(|r| r.is_ok()).count(),
            1,
            "{outcomes:?}"
        );
        assert!(
            outcomes.contains(&Err(Refused::UnknownRecoveryCode)),
            "{outcomes:?}"
        );
        assert_eq!(recovery_left(&db, user).await, 8);
    }

    /// F1/MF-02: setting up an authenticator app again replaces the earlier one (seed and
    /// last step) and the whole set of recovery codes, used ones included.
    async fn f1_enrolling_again_replaces_the_app_and_the_recovery_set(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let old = recovery_set("old");
        let new = recovery_set("new");
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &old).await;
        assert_eq!(complete(&db, &bare(user, use_code(&old[0]))).await, Ok(()));
        let s = factors::summary(&db, user).await.unwrap();
        assert_eq!((s.totp, s.recovery_left, s.passkeys.len()), (true, 9, 0));

        // The new app's clock may be behind the old one's last step: a new seed starts anew.
        let restep = 40;
        enrol(&db, user, SEED_TWO, restep, &new).await;
        let totp = factors::totp(&db, user).await.unwrap().unwrap();
        assert_eq!((totp.secret.as_slice(), totp.last_step), (SEED_TWO, restep));
        assert_eq!(count(&db, "totp_factors").await, 1);
        assert_eq!(count(&db, "recovery_codes").await, 10);
        let s = factors::summary(&db, user).await.unwrap();
        assert!(s.totp && s.any());
        assert_eq!(s.recovery_left, 10);

        for code in &old {
            assert_eq!(
                complete(&db, &bare(user, use_code(code))).await,
                Err(Refused::UnknownRecoveryCode)
            );
        }
        assert_eq!(complete(&db, &bare(user, use_code(&new[0]))).await, Ok(()));
        assert_eq!(recovery_left(&db, user).await, 9);

        // The confirming step of the new app is used up; the next one is accepted.
        assert_eq!(
            complete(&db, &bare(user, Proof::Totp { step: restep })).await,
            Err(Refused::Replay)
        );
        assert_eq!(
            complete(&db, &bare(user, Proof::Totp { step: restep + 1 })).await,
            Ok(())
        );
    }

    /// MF-05: a new set of recovery codes voids the old set, used and unused; the
    /// authenticator app is untouched.
    async fn mf05_new_recovery_codes_void_the_old_set(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let old = recovery_set("old");
        let new = recovery_set("new");
        let theirs = recovery_set("theirs");
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &old).await;
        enrol(&db, other, SEED_ONE, ENROLLED_AT, &theirs).await;
        assert_eq!(complete(&db, &bare(user, use_code(&old[0]))).await, Ok(()));

        let proof = Proof::NewRecoveryCodes { recovery: &new };
        assert_eq!(complete(&db, &bare(user, proof)).await, Ok(()));
        assert_eq!(recovery_left(&db, user).await, 10);
        for code in &old {
            assert_eq!(
                complete(&db, &bare(user, use_code(code))).await,
                Err(Refused::UnknownRecoveryCode)
            );
        }
        assert_eq!(complete(&db, &bare(user, use_code(&new[3]))).await, Ok(()));
        let totp = factors::totp(&db, user).await.unwrap().unwrap();
        assert_eq!(
            (totp.secret.as_slice(), totp.last_step),
            (SEED_ONE, ENROLLED_AT)
        );

        // Another user's set is not touched.
        assert_eq!(recovery_left(&db, other).await, 10);
        assert_eq!(
            complete(&db, &bare(other, use_code(&theirs[0]))).await,
            Ok(())
        );
    }

    /// MF-09: a credential id is registered once over all users; a second registration,
    /// by anyone, is refused and writes nothing (no passkey, no recovery codes, the step
    /// kept, no session, audit entry or notice).
    async fn mf09_a_credential_id_is_registered_once(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let first = passkey("cred-1", "Telefoon");
        let codes = recovery_set("first");
        let proof = Proof::RegisterPasskey {
            first_only: false,
            passkey: &first,
            recovery: &codes,
        };
        assert_eq!(complete(&db, &bare(user, proof)).await, Ok(()));
        let s = factors::summary(&db, user).await.unwrap();
        assert_eq!((s.totp, s.passkeys.len(), s.recovery_left), (false, 1, 10));
        assert!(s.any());

        let their_step = pending(&db, other, "their-step").await;
        let their_codes = recovery_set("theirs");
        let copy = passkey("cred-1", "Kopie");
        let sign_in = SignIn::new(other, "theirs");
        let before = fingerprint(&db).await;
        let proof = Proof::RegisterPasskey {
            first_only: false,
            passkey: &copy,
            recovery: &their_codes,
        };
        assert_eq!(
            complete(&db, &sign_in.with(proof, Some(&their_step))).await,
            Err(Refused::DuplicatePasskey)
        );
        assert_eq!(fingerprint(&db).await, before);
        assert!(step_stored(&db, &their_step).await);
        let s = factors::summary(&db, other).await.unwrap();
        assert_eq!((s.passkeys.len(), s.recovery_left), (0, 0));

        // Nor may the owner register it twice; the stored one is unchanged.
        let again = passkey("cred-1", "Nogmaals");
        assert_eq!(
            register(&db, user, &again, T0).await,
            Err(Refused::DuplicatePasskey)
        );
        let stored = factors::passkey_by_credential(&db, b"cred-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (stored.id, stored.user_id, stored.name.as_str()),
            (first.id, user, "Telefoon")
        );
        assert_eq!(factors::passkeys(&db, user).await.unwrap().len(), 1);
    }

    /// F4: a user's passkeys are listed oldest first (by registration, not by id); a
    /// credential id finds its owner; registering without recovery codes keeps the set.
    async fn f4_passkeys_list_oldest_first_and_a_credential_finds_its_owner(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &recovery_set("u")).await;

        // Made (ids) in the order c, a, b; registered in the order a, b, c.
        let c = passkey("cred-c", "c");
        let a = passkey("cred-a", "a");
        let mut b = passkey("cred-b", "b");
        b.backup_eligible = false;
        assert_eq!(
            register(&db, user, &c, T0 + Duration::seconds(20)).await,
            Ok(())
        );
        assert_eq!(register(&db, user, &a, T0).await, Ok(()));
        assert_eq!(
            register(&db, user, &b, T0 + Duration::seconds(10)).await,
            Ok(())
        );
        assert_eq!(
            register(&db, other, &passkey("cred-d", "d"), T0).await,
            Ok(())
        );

        let names: Vec<String> = factors::passkeys(&db, user)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        let summary = factors::summary(&db, user).await.unwrap();
        let names: Vec<&str> = summary.passkeys.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(summary.recovery_left, 10);
        let theirs: Vec<String> = factors::passkeys(&db, other)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(theirs, ["d"]);

        let found = factors::passkey_by_credential(&db, b"cred-b")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                found.id,
                found.user_id,
                found.credential_id.as_slice(),
                found.name.as_str(),
                found.credential.as_slice(),
                found.backup_eligible,
                found.created_at,
                found.last_used_at,
            ),
            (
                b.id,
                user,
                &b"cred-b"[..],
                "b",
                b.credential.as_slice(),
                false,
                T0 + Duration::seconds(10),
                None,
            )
        );
        let found = factors::passkey_by_credential(&db, b"cred-d")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.user_id, other);
        assert!(
            factors::passkey_by_credential(&db, b"cred-x")
                .await
                .unwrap()
                .is_none()
        );
    }

    /// F4: a passkey sign-in stores the updated credential and when it was used; only its
    /// owner's passkey is accepted, and a refusal writes nothing.
    async fn f4_a_passkey_sign_in_updates_only_the_owners_passkey(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let p = passkey("cred-1", "Telefoon");
        assert_eq!(register(&db, user, &p, T0).await, Ok(()));

        for (who, id) in [(other, p.id), (user, Uuid::now_v7())] {
            let sign_in = SignIn::new(who, "refused");
            let before = fingerprint(&db).await;
            let proof = Proof::Passkey {
                id,
                credential: b"counter 9",
            };
            assert_eq!(
                complete(&db, &sign_in.with(proof, None)).await,
                Err(Refused::UnknownPasskey)
            );
            assert_eq!(fingerprint(&db).await, before);
        }

        let sign_in = SignIn::new(user, "accepted");
        let proof = Proof::Passkey {
            id: p.id,
            credential: b"counter 2",
        };
        let used = T0 + Duration::minutes(1);
        assert_eq!(
            factors::complete(&db, &sign_in.with(proof, None), used)
                .await
                .unwrap(),
            Ok(())
        );
        let stored = factors::passkey_by_credential(&db, b"cred-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                stored.credential.as_slice(),
                stored.last_used_at,
                stored.created_at
            ),
            (&b"counter 2"[..], Some(used), T0)
        );
        assert!(
            sessions::find(&db, &sign_in.session.id_hash)
                .await
                .unwrap()
                .is_some()
        );
    }

    /// F4: a user removes their own passkey, with its audit entry and notice; another
    /// user's passkey id removes nothing and writes nothing.
    async fn f4_a_user_removes_only_their_own_passkey(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let p = passkey("cred-1", "Telefoon");
        let q = passkey("cred-2", "Sleutel");
        assert_eq!(register(&db, user, &p, T0).await, Ok(()));
        assert_eq!(register(&db, user, &q, T0).await, Ok(()));
        let removal = |who: Uuid| AuditRecord {
            actor_id: Some(who),
            target_user_id: Some(who),
            ..AuditRecord::new("mfa.passkey_removed")
        };
        let notice = [mail("info@example.nl", b"sealed notice")];

        let before = fingerprint(&db).await;
        assert!(
            factors::remove_passkey(&db, other, p.id, b"none", false, &removal(other), &notice, T0)
                .await
                .unwrap()
                == Removal::NotFound
        );
        assert_eq!(fingerprint(&db).await, before);
        assert!(
            factors::passkey_by_credential(&db, b"cred-1")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(audit_count(&db, other, "mfa.passkey_removed").await, 0);

        let mails = count(&db, "outbox").await;
        // SE-05: removing a factor ends the user's other sessions, not the one acting.
        let acting = session_of(user, "acting-session");
        let elsewhere = session_of(user, "other-device");
        sessions::create(&db, &acting, T0).await.unwrap();
        sessions::create(&db, &elsewhere, T0).await.unwrap();
        assert!(
            factors::remove_passkey(&db, user, p.id, &acting.id_hash, true, &removal(user), &notice, T0)
                .await
                .unwrap()
                == Removal::Removed
        );
        assert!(
            factors::passkey_by_credential(&db, b"cred-1")
                .await
                .unwrap()
                .is_none()
        );
        let left: Vec<Uuid> = factors::passkeys(&db, user)
            .await
            .unwrap()
            .iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(left, [q.id]);
        assert_eq!(audit_count(&db, user, "mfa.passkey_removed").await, 1);
        assert_eq!(count(&db, "outbox").await, mails + 1);
        let acting_row = sessions::find(&db, &acting.id_hash).await.unwrap().unwrap();
        let elsewhere_row = sessions::find(&db, &elsewhere.id_hash).await.unwrap().unwrap();
        assert!(acting_row.revoked_at.is_none(), "the acting session stays");
        assert!(elsewhere_row.revoked_at.is_some(), "the other device is signed out");

        // Removing it again finds nothing and records nothing.
        assert!(
            factors::remove_passkey(&db, user, p.id, &acting.id_hash, true, &removal(user), &notice, T0)
                .await
                .unwrap()
                == Removal::NotFound
        );
        assert_eq!(audit_count(&db, user, "mfa.passkey_removed").await, 1);
        assert_eq!(count(&db, "outbox").await, mails + 1);
    }

    /// AU-08: a completion for a pending step needs that step to exist, to be the user's
    /// and to be live; otherwise it is refused before the proof is looked at, and nothing
    /// is written. An accepted completion uses the step up and starts the session; a
    /// refused proof leaves the step as it was.
    async fn au08_a_completion_needs_a_live_step_of_that_user(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &recovery_set("u")).await;
        let mine = pending(&db, user, "mine").await;
        let theirs = pending(&db, other, "theirs").await;
        let ended = step_of(StepKind::SecondFactor, Some(user), "ended", T0);
        steps::create(&db, &ended, T0 - TTL).await.unwrap();
        let unknown = crypto::token_hash("unknown");
        let next = ENROLLED_AT + 1;

        for (what, step) in [
            ("unknown", &unknown),
            ("another user's", &theirs),
            ("expired", &ended.id_hash),
        ] {
            let sign_in = SignIn::new(user, &format!("refused-{what}"));
            let before = fingerprint(&db).await;
            assert_eq!(
                complete(&db, &sign_in.with(Proof::Totp { step: next }, Some(step))).await,
                Err(Refused::StepGone),
                "{what}"
            );
            assert_eq!(fingerprint(&db).await, before, "{what}");
        }
        assert!(step_stored(&db, &theirs).await);
        assert!(step_stored(&db, &ended.id_hash).await);
        assert_eq!(last_step(&db, user).await, ENROLLED_AT);

        // A refused proof rolls the step's deletion back.
        let replay = SignIn::new(user, "replay");
        let before = fingerprint(&db).await;
        assert_eq!(
            complete(
                &db,
                &replay.with(Proof::Totp { step: ENROLLED_AT }, Some(&mine))
            )
            .await,
            Err(Refused::Replay)
        );
        assert_eq!(fingerprint(&db).await, before);
        assert!(steps::find(&db, &mine, T0).await.unwrap().is_some());

        let sign_in = SignIn::new(user, "accepted");
        assert_eq!(
            complete(&db, &sign_in.with(Proof::Totp { step: next }, Some(&mine))).await,
            Ok(())
        );
        assert!(!step_stored(&db, &mine).await);
        let session = sessions::find(&db, &sign_in.session.id_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                session.user_id,
                session.amr.as_str(),
                session.auth_time,
                session.expires_at,
                session.revoked_at
            ),
            (user, "pwd,otp", T0, T0 + Duration::hours(8), None)
        );
        assert_eq!(audit_count(&db, user, ACTION).await, 1);

        // The step completes once.
        let again = SignIn::new(user, "again");
        assert_eq!(
            complete(
                &db,
                &again.with(Proof::Totp { step: next + 1 }, Some(&mine))
            )
            .await,
            Err(Refused::StepGone)
        );
        assert!(
            sessions::find(&db, &again.session.id_hash)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(last_step(&db, user).await, next);
    }

    /// SE-05: a 2FA change ends the user's other sessions and the grants made in them; the
    /// session making the change, a session the change starts, and other users' sessions
    /// and grants live on. A refused change ends nothing.
    async fn se05_a_change_ends_the_users_other_sessions(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        enrol(&db, user, SEED_ONE, ENROLLED_AT, &recovery_set("u")).await;
        let (s1, s2, s3) = (
            session_of(user, "s1"),
            session_of(user, "s2"),
            session_of(user, "s3"),
        );
        let theirs = session_of(other, "theirs");
        for s in [&s1, &s2, &s3, &theirs] {
            start(&db, s).await;
        }
        let g1 = grant_in(&db, user, &s1.id_hash).await;
        let g2 = grant_in(&db, user, &s2.id_hash).await;
        let g3 = grant_in(&db, user, &s3.id_hash).await;
        let gt = grant_in(&db, other, &theirs.id_hash).await;

        let new = recovery_set("new");
        let refused = Completion {
            end_sessions: EndSessions::AllBut(&s1.id_hash),
            ..bare(user, use_code(b"not a code"))
        };
        let before = fingerprint(&db).await;
        assert_eq!(
            complete(&db, &refused).await,
            Err(Refused::UnknownRecoveryCode)
        );
        assert_eq!(fingerprint(&db).await, before);

        let started = session_of(user, "started");
        let change = Completion {
            end_sessions: EndSessions::AllBut(&s1.id_hash),
            session: Some(&started),
            ..bare(user, Proof::NewRecoveryCodes { recovery: &new })
        };
        let ended_at = T0 + Duration::minutes(1);
        assert_eq!(
            factors::complete(&db, &change, ended_at).await.unwrap(),
            Ok(())
        );

        assert!(!revoked(&db, &s1).await);
        assert!(!grant_revoked(&db, g1).await);
        for (s, g) in [(&s2, g2), (&s3, g3)] {
            let found = sessions::find(&db, &s.id_hash).await.unwrap().unwrap();
            assert_eq!(found.revoked_at, Some(ended_at));
            assert_eq!(
                grants::get(&db, g).await.unwrap().unwrap().revoked_at,
                Some(ended_at)
            );
        }
        assert!(!revoked(&db, &started).await);
        assert!(!revoked(&db, &theirs).await);
        assert!(!grant_revoked(&db, gt).await);

        // With EndSessions::None nothing ends.
        let quiet = bare(
            user,
            Proof::Totp {
                step: ENROLLED_AT + 1,
            },
        );
        assert_eq!(complete(&db, &quiet).await, Ok(()));
        assert!(!revoked(&db, &s1).await);
        assert!(!grant_revoked(&db, g1).await);
    }

    /// MF-07: an admin's 2FA reset removes the user's app, recovery codes (used ones too),
    /// passkeys and pending steps, ends all their sessions and grants, and writes the
    /// audit entry and the notice; another user keeps everything.
    async fn mf07_a_reset_removes_every_factor_of_that_user_only(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        let other = some_user(&db, 2).await;
        let mut kept = Vec::new();
        for (n, who) in [(0, user), (1, other)] {
            let codes = recovery_set(&format!("set-{n}"));
            enrol(&db, who, SEED_ONE, ENROLLED_AT, &codes).await;
            assert_eq!(complete(&db, &bare(who, use_code(&codes[0]))).await, Ok(()));
            for k in 0..2 {
                let p = passkey(&format!("cred-{n}-{k}"), "Telefoon");
                assert_eq!(register(&db, who, &p, T0).await, Ok(()));
            }
            let step_a = pending(&db, who, &format!("step-{n}-a")).await;
            let step_b = pending(&db, who, &format!("step-{n}-b")).await;
            let mut live = Vec::new();
            for k in 0..2 {
                let s = session_of(who, &format!("session-{n}-{k}"));
                start(&db, &s).await;
                let g = grant_in(&db, who, &s.id_hash).await;
                live.push((s, g));
            }
            kept.push((who, [step_a, step_b], live));
        }
        let audit = AuditRecord {
            target_user_id: Some(user),
            ..AuditRecord::new("mfa.reset")
        };
        let mails = count(&db, "outbox").await;
        let at = T0 + Duration::minutes(1);
        factors::reset(
            &db,
            user,
            &audit,
            &[mail("info@1.nl", b"sealed notice")],
            at,
        )
        .await
        .unwrap();

        let recovery_rows = |who: Uuid| {
            let db = db.clone();
            async move {
                idp::with_db!(&db, |pool| sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1"
                )
                .bind(who)
                .fetch_one(pool)
                .await)
                .unwrap()
            }
        };

        let (_, user_steps, user_live) = &kept[0];
        assert!(factors::totp(&db, user).await.unwrap().is_none());
        let s = factors::summary(&db, user).await.unwrap();
        assert!(!s.any());
        assert_eq!((s.totp, s.passkeys.len(), s.recovery_left), (false, 0, 0));
        assert_eq!(recovery_rows(user).await, 0);
        assert!(
            factors::passkey_by_credential(&db, b"cred-0-0")
                .await
                .unwrap()
                .is_none()
        );
        for step in user_steps {
            assert!(!step_stored(&db, step).await);
        }
        for (session, g) in user_live {
            let found = sessions::find(&db, &session.id_hash)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.revoked_at, Some(at));
            assert_eq!(
                grants::get(&db, *g).await.unwrap().unwrap().revoked_at,
                Some(at)
            );
        }
        assert_eq!(audit_count(&db, user, "mfa.reset").await, 1);
        assert_eq!(count(&db, "outbox").await, mails + 1);

        let (_, other_steps, other_live) = &kept[1];
        assert_eq!(last_step(&db, other).await, ENROLLED_AT);
        let s = factors::summary(&db, other).await.unwrap();
        assert_eq!((s.totp, s.passkeys.len(), s.recovery_left), (true, 2, 9));
        assert_eq!(recovery_rows(other).await, 10);
        for step in other_steps {
            assert!(steps::find(&db, step, T0).await.unwrap().is_some());
        }
        for (session, g) in other_live {
            assert!(!revoked(&db, session).await);
            assert!(!grant_revoked(&db, *g).await);
        }
        assert_eq!(audit_count(&db, other, "mfa.reset").await, 0);

        // The user can set up a factor anew.
        enrol(&db, user, SEED_TWO, 7, &recovery_set("again")).await;
        assert_eq!(recovery_left(&db, user).await, 10);
    }

    /// F2 with `first_only`: a forced-enrolment step made before the user set up a factor
    /// elsewhere cannot replace that factor (nor add one); nothing is written. A user
    /// without any factor enrols.
    async fn f2_a_forced_enrolment_never_replaces_a_factor_set_up_meanwhile(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        assert_eq!(register(&db, user, &passkey("cred-x", "Telefoon"), T0).await, Ok(()));
        let before = fingerprint(&db).await;
        let codes = recovery_set("late");
        let proof = Proof::EnrolTotp {
            first_only: true,
            secret: b"a seed of somebody else",
            step: 100,
            recovery: &codes,
        };
        assert_eq!(complete(&db, &bare(user, proof)).await, Err(Refused::StepGone));
        let other_key = passkey("cred-y", "Vreemd");
        let proof = Proof::RegisterPasskey {
            first_only: true,
            passkey: &other_key,
            recovery: &codes,
        };
        assert_eq!(complete(&db, &bare(user, proof)).await, Err(Refused::StepGone));
        assert_eq!(fingerprint(&db).await, before);

        let fresh = some_user(&db, 2).await;
        let proof = Proof::EnrolTotp {
            first_only: true,
            secret: b"a seed of its own",
            step: 100,
            recovery: &codes,
        };
        assert_eq!(complete(&db, &bare(fresh, proof)).await, Ok(()));
        assert_eq!(recovery_left(&db, fresh).await, 10);
    }

    /// MF-06: the last factor is never removed, even when the only two are removed at
    /// once: one removal goes through, the other is refused, one passkey remains.
    async fn mf06_the_last_factor_stays_under_parallel_removals(db: &TestDatabase) {
        let db = open(db).await;
        let user = some_user(&db, 1).await;
        for _ in 0..3 {
            let a = passkey(&format!("cred-a-{}", Uuid::now_v7()), "A");
            let b = passkey(&format!("cred-b-{}", Uuid::now_v7()), "B");
            for p in factors::passkeys(&db, user).await.unwrap() {
                let _ = factors::remove_passkey(&db, user, p.id, b"k", false, &AuditRecord::new("x"), &[], T0).await;
            }
            assert_eq!(register(&db, user, &a, T0).await, Ok(()));
            assert_eq!(register(&db, user, &b, T0).await, Ok(()));
            let audit = AuditRecord::new("mfa.passkey_removed");
            let (ra, rb) = tokio::join!(
                factors::remove_passkey(&db, user, a.id, b"k", true, &audit, &[], T0),
                factors::remove_passkey(&db, user, b.id, b"k", true, &audit, &[], T0),
            );
            let mut outcomes = [ra.unwrap(), rb.unwrap()].map(|r| format!("{r:?}"));
            outcomes.sort();
            assert_eq!(outcomes, ["LastFactor", "Removed"]);
            assert_eq!(factors::passkeys(&db, user).await.unwrap().len(), 1);
        }
    }
}
