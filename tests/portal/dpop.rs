//! Pushed authorization requests (RFC 9126) and DPoP (RFC 9449) as a client registered with
//! `portal client add --require-par --dpop` sees them over HTTP, on both databases: the
//! proofs are made here with a real P-256 key, and every refusal the RFCs ask for is tried
//! (SECURITY OP-18 for PAR).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::TestDatabase;

use crate::oidc::{PASSWORD, pkce, query_param, url_form};
use crate::support::{Browser, Portal};

const SECRET: &str = "a-par-client-secret:with%odd+characters-0123";
const OTHER_SECRET: &str = "another-client-secret-0123456789-abcdef";
const REDIRECT: &str = "https://rp.example.nl/cb";
const LOGIN: &str = "info@voorbeeld.nl";

/// A client's DPoP key pair (P-256, made with openssl for these tests).
struct Key {
    pem: &'static str,
    x: &'static str,
    y: &'static str,
}

const KEY: Key = Key {
    pem: "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxD2lk+23A+esTlxW
t3hVJAAB3PQ5d5kTfLr76g4iu8OhRANCAAQdtyRLZ7yXgfNk/6nvM0GnYxhdy1xg
G3P0c916TDKIe8Dnohua3VRqkrQODOh+0sTMyHBRTKcvzbG9Z8EbnMIv
-----END PRIVATE KEY-----
",
    x: "HbckS2e8l4HzZP-p7zNBp2MYXctcYBtz9HPdekwyiHs",
    y: "wOeiG5rdVGqStA4M6H7SxMzIcFFMpy_Nsb1nwRucwi8",
};

const OTHER_KEY: Key = Key {
    pem: "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi2NHW/9XbFJR6xNd
jMawouHqJSnGSluJzfTmATtQusehRANCAARiWhYWV/a2KFPw/eH8+72CVUHidm6Q
pOtoceyAOb2hnH05izSoUCsw/cuHq0/SYFmfGWj3CInt1VKb50J8o9fT
-----END PRIVATE KEY-----
",
    x: "YloWFlf2tihT8P3h_Pu9glVB4nZukKTraHHsgDm9oZw",
    y: "fTmLNKhQKzD9y4erT9JgWZ8ZaPcIie3VUpvnQnyj19M",
};

impl Key {
    /// RFC 7638: the SHA-256 thumbprint of the public key.
    fn jkt(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A DPoP proof for `htm` `htu`, made `age` seconds ago, with `ath` for `token`.
    fn proof(&self, htm: &str, htu: &str, token: Option<&str>, age: i64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(
            serde_json::from_value(json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y}))
                .unwrap(),
        );
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": now - age,
        });
        if let Some(t) = token {
            claims["ath"] = URL_SAFE_NO_PAD.encode(Sha256::digest(t.as_bytes())).into();
        }
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", url_form(id), url_form(secret)))
    )
}

/// A POST to the idp as client `id`, with a DPoP proof when given.
async fn post(
    portal: &Portal,
    path: &str,
    id: &str,
    secret: &str,
    dpop: Option<String>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/idp{path}", portal.base))
        .header("authorization", basic(id, secret))
        .form(form);
    if let Some(p) = dpop {
        req = req.header("dpop", p);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The userinfo answer's status and `WWW-Authenticate`.
async fn userinfo(portal: &Portal, authorization: &str, dpop: Option<String>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .get(format!("{}/idp/userinfo", portal.base))
        .header("authorization", authorization);
    if let Some(p) = dpop {
        req = req.header("dpop", p);
    }
    let res = req.send().await.unwrap();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (res.status().as_u16(), challenge)
}

fn claims_of(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

testkit::both_databases! {
    async fn a_par_and_dpop_client_gets_sender_constrained_tokens_and_every_misuse_is_refused(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let issuer = format!("{}/idp", portal.base);
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", LOGIN, "--rights", "DIP,DIL"]);
        assert!(out.status.success());
        let out = portal.cli(&["client", "add", "--id", "strikt", "--secret", SECRET, "--redirect-uri", REDIRECT,
            "--grant-type", "authorization_code", "--grant-type", "refresh_token", "--require-par", "--dpop"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = portal.cli(&["client", "add", "--id", "ander", "--secret", OTHER_SECRET, "--redirect-uri", REDIRECT]);
        assert!(out.status.success());
        let link = portal.activation_link(LOGIN).await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;

        let d: Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
        assert_eq!(d["pushed_authorization_request_endpoint"], format!("{issuer}/par"));
        assert_eq!(d["require_pushed_authorization_requests"], false);
        assert_eq!(d["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA", "RS256"]));

        // RFC 9126 §5: the client registered for PAR cannot send a plain request.
        let (verifier, challenge) = pkce();
        let mut plain = reqwest::Url::parse(&format!("{issuer}/authorize")).unwrap();
        plain.query_pairs_mut().append_pair("client_id", "strikt").append_pair("redirect_uri", REDIRECT)
            .append_pair("response_type", "code").append_pair("scope", "openid").append_pair("state", "s0")
            .append_pair("code_challenge", &challenge).append_pair("code_challenge_method", "S256");
        let refused = browser.get(plain.as_str()).await;
        assert!(refused.url.starts_with(REDIRECT), "{}", refused.url);
        assert_eq!(query_param(&refused.url, "error").as_deref(), Some("invalid_request"));
        assert!(query_param(&refused.url, "error_description").unwrap().contains("pushed authorization requests"));
        assert_eq!(query_param(&refused.url, "code"), None);

        // The push: authenticated like /token; with a DPoP proof, the code is bound to its key.
        let par = format!("{issuer}/par");
        let request = [("client_id", "strikt"), ("redirect_uri", REDIRECT), ("response_type", "code"),
            ("scope", "openid portal offline_access"), ("state", "st-par"), ("nonce", "n-par"),
            ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
        let (status, body) = post(&portal, "/par", "strikt", "wrong-secret-0123456789-0123456789", None, &request).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
        let mut nested = request.to_vec();
        nested.push(("request_uri", "urn:ietf:params:oauth:request_uri:x"));
        let (status, body) = post(&portal, "/par", "strikt", SECRET, None, &nested).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "OP-18: no nested request_uri");
        let mut no_pkce = request.to_vec();
        no_pkce.retain(|(k, _)| !k.starts_with("code_challenge"));
        let (status, body) = post(&portal, "/par", "strikt", SECRET, None, &no_pkce).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "judged as /authorize judges");
        let (status, pushed) = post(&portal, "/par", "strikt", SECRET, Some(KEY.proof("POST", &par, None, 0)), &request).await;
        assert_eq!(status, 201, "{pushed}");
        assert_eq!(pushed["expires_in"], 60);
        let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:") && request_uri.len() >= 34 + 43);

        let authorize = |client: &str, uri: &str| {
            let mut url = reqwest::Url::parse(&format!("{issuer}/authorize")).unwrap();
            // RFC 9126 §4: anything beside client_id and request_uri is ignored.
            url.query_pairs_mut().append_pair("client_id", client).append_pair("request_uri", uri)
                .append_pair("state", "not-the-pushed-one").append_pair("scope", "openid");
            url.to_string()
        };
        // Another client cannot use it (OP-18: bound to the client).
        let stolen = browser.get(&authorize("ander", &request_uri)).await;
        assert_eq!(stolen.status, 400);
        assert!(stolen.body.contains("verlopen, al gebruikt of niet van deze toepassing"), "{}", stolen.body);
        // The person signs in; the pushed parameters come back.
        let start = browser.get(&authorize("strikt", &request_uri)).await;
        assert!(start.url.contains("/idp/login"), "{}", start.url);
        let back = browser.sign_in(&start, LOGIN, PASSWORD).await;
        assert!(back.url.starts_with(REDIRECT), "{}", back.url);
        assert_eq!(query_param(&back.url, "state").as_deref(), Some("st-par"));
        let code = query_param(&back.url, "code").unwrap();
        // Single use (RFC 9126 §4).
        let again = browser.get(&authorize("strikt", &request_uri)).await;
        assert_eq!(again.status, 400, "a request_uri is used once");

        // The token request: the client must prove its key (RFC 9449 §5.2), the right one
        // for this request, freshly, once. None of these touch the code.
        let token_url = format!("{issuer}/token");
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()),
            ("redirect_uri", REDIRECT), ("code_verifier", verifier.as_str())];
        for (what, proof) in [
            ("no proof", None),
            ("wrong htu", Some(KEY.proof("POST", &format!("{issuer}/userinfo"), None, 0))),
            ("wrong htm", Some(KEY.proof("GET", &token_url, None, 0))),
            ("stale iat", Some(KEY.proof("POST", &token_url, None, 300))),
            ("not a JWT", Some("x.y.z".to_owned())),
        ] {
            let (status, body) = post(&portal, "/token", "strikt", SECRET, proof, &exchange).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "{what}: {body}");
        }
        let proof = KEY.proof("POST", &token_url, None, 0);
        let (status, tokens) = post(&portal, "/token", "strikt", SECRET, Some(proof.clone()), &exchange).await;
        assert_eq!(status, 200, "{tokens}");
        assert_eq!(tokens["token_type"], "DPoP");
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims_of(&access)["cnf"]["jkt"], KEY.jkt());
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        // The same proof again is a replay (jti once).
        let refresh_form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        let (status, body) = post(&portal, "/token", "strikt", SECRET, Some(proof), &refresh_form).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")), "replayed jti: {body}");

        // Userinfo: only `DPoP <token>` with a proof of the bound key, for this request.
        let userinfo_url = format!("{issuer}/userinfo");
        let (status, challenge) = userinfo(&portal, &format!("Bearer {access}"), None).await;
        assert_eq!(status, 401, "a bound token is no Bearer token");
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
        let dpop = format!("DPoP {access}");
        for (what, proof) in [
            ("no proof", None),
            ("no ath", Some(KEY.proof("GET", &userinfo_url, None, 0))),
            ("another key", Some(OTHER_KEY.proof("GET", &userinfo_url, Some(&access), 0))),
            ("wrong htu", Some(KEY.proof("GET", &token_url, Some(&access), 0))),
        ] {
            let (status, challenge) = userinfo(&portal, &dpop, proof).await;
            assert_eq!(status, 401, "{what}");
            assert!(challenge.starts_with("DPoP error=\"invalid_dpop_proof\""), "{what}: {challenge}");
        }
        let good = KEY.proof("GET", &userinfo_url, Some(&access), 0);
        assert_eq!(userinfo(&portal, &dpop, Some(good.clone())).await.0, 200);
        assert_eq!(userinfo(&portal, &dpop, Some(good)).await.0, 401, "a proof is used once");
        // The admin API, another Bearer resource, refuses it too.
        let api = reqwest::Client::new().get(format!("{}/api/v1/me/office", portal.base))
            .header("authorization", format!("Bearer {access}")).send().await.unwrap();
        assert_eq!(api.status(), 401);

        // Introspection (RFC 9449 §6.2) names the key.
        let (status, info) = post(&portal, "/introspect", "strikt", SECRET, None, &[("token", access.as_str())]).await;
        assert_eq!(status, 200);
        assert_eq!((info["active"].as_bool(), info["cnf"]["jkt"].as_str()), (Some(true), Some(KEY.jkt().as_str())));

        // A refresh needs a proof too; the new token is bound to it.
        let (status, body) = post(&portal, "/token", "strikt", SECRET, None, &refresh_form).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_dpop_proof")));
        let (status, renewed) = post(&portal, "/token", "strikt", SECRET, Some(KEY.proof("POST", &token_url, None, 0)), &refresh_form).await;
        assert_eq!(status, 200, "{renewed}");
        assert_eq!(renewed["token_type"], "DPoP");
        assert_eq!(claims_of(renewed["access_token"].as_str().unwrap())["cnf"]["jkt"], KEY.jkt());

        // RFC 9449 §10: a code bound to a key (here by the proof sent with the push) is not
        // redeemed with a proof of another key.
        let (verifier, challenge) = pkce();
        let mut second = request.to_vec();
        second.retain(|(k, _)| *k != "code_challenge");
        second.push(("code_challenge", challenge.as_str()));
        let (status, pushed) = post(&portal, "/par", "strikt", SECRET, Some(KEY.proof("POST", &par, None, 0)), &second).await;
        assert_eq!(status, 201);
        let sso = browser.get(&authorize("strikt", pushed["request_uri"].as_str().unwrap())).await;
        let code = query_param(&sso.url, "code").expect("signed in: a code at once");
        let exchange = [("grant_type", "authorization_code"), ("code", code.as_str()),
            ("redirect_uri", REDIRECT), ("code_verifier", verifier.as_str())];
        let (status, body) = post(&portal, "/token", "strikt", SECRET, Some(OTHER_KEY.proof("POST", &token_url, None, 0)), &exchange).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

        // A client without PAR or DPoP goes on as before: Bearer tokens, plain requests.
        let (status, pushed) = post(&portal, "/par", "ander", OTHER_SECRET, None, &[("client_id", "ander"), ("response_type", "code"), ("scope", "openid"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]).await;
        assert_eq!(status, 201, "PAR is optional for others: {pushed}");
    }
}
