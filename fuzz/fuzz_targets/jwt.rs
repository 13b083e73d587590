//! Every JWT the portal accepts from outside, each checked by the code that checks it in
//! production, against fixed keys:
//!
//! - the relying party (a portal in front of the test OP, whose JWKS holds
//!   `OP_KEY_PEM`'s public key): logout tokens (`RelyingParty::backchannel_logout`), ID
//!   tokens with the portal claims (`RelyingParty::check_id_token`, the callback's check),
//!   and the idp's O7 question (`RelyingParty::verify_idp_jwt`);
//! - the identity provider, through its routes: the `id_token_hint` of
//!   `GET /idp/end_session`, an access token at `GET /idp/userinfo`, and a
//!   `private_key_jwt` client assertion at `POST /idp/token` (the client's JWKS holds
//!   `CLIENT_KEY_PEM`'s public key); and a JWKS an admin registers (`check_client_jwks`).
//!
//! Structured input: header, claims and signer are chosen separately, so that a token can
//! be validly signed by the key a consumer trusts and still be wrong in any one claim,
//! and the parsers behind the signature check are reached. Times are offsets from now.
//! An input starting with `eyJ` is taken as the token itself (the seeds are such tokens).
//!
//! Must hold: no panic and no 5xx; and no consumer accepts a token whose signature the
//! key it trusts does not verify (`alg: none`, an HMAC keyed with the public JWKS, another
//! key, a forged signature): a logout, ID token or question only with the OP's key, a
//! post-logout redirect or userinfo answer only with the provider's key, a client
//! assertion only with the client's key.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use libfuzzer_sys::fuzz_target;
use portal_fuzz::{
    CLIENT_KEY_PEM, KEY_CLIENT, OP_KEY_PEM, OP_KID, RP_CLIENT, WEB_AFTER_LOGOUT, WEB_CLIENT,
    block_on, provider, relying_side, trace,
};
use serde_json::{Map, Value, json};

/// The nonce the relying party expects in an ID token.
const NONCE: &str = "n-0S6_WzA2Mj";

#[derive(Debug, Arbitrary, Clone, Copy, PartialEq)]
enum Signer {
    /// The test OP's key: the relying party trusts it.
    Op,
    /// The identity provider's own signer (header as it writes it).
    Idp,
    /// `KEY_CLIENT`'s key: the provider trusts it for that client's assertions.
    Client,
    /// HS256 keyed with the published JWKS text (algorithm confusion).
    HmacWithPublicJwks,
    /// No signature at all.
    Unsigned,
    /// Bytes that are not a signature by anyone.
    Forged,
}

#[derive(Debug, Arbitrary)]
enum Text {
    Known(u8),
    Raw(String),
}

impl Text {
    fn value(&self, known: &[&str]) -> String {
        match self {
            Text::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

const ALGS: [&str; 8] = [
    "RS256", "PS256", "ES256", "EdDSA", "HS256", "none", "RS512", "None",
];
const TYPS: [&str; 6] = [
    "JWT",
    "logout+jwt",
    "at+jwt",
    "quote-check+jwt",
    "Logout+JWT",
    "",
];

#[derive(Debug, Arbitrary)]
struct Head {
    alg: Option<Text>,
    typ: Option<Text>,
    kid: Option<Text>,
    extra: Option<(String, Json)>,
}

#[derive(Debug, Arbitrary)]
enum Json {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<String>),
    Object(Vec<(String, String)>),
}

impl Json {
    fn value(&self) -> Value {
        match self {
            Json::Str(s) => json!(s),
            Json::Int(i) => json!(i),
            Json::Float(f) => json!(f),
            Json::Bool(b) => json!(b),
            Json::Null => Value::Null,
            Json::List(l) => json!(l),
            Json::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Time {
    /// Seconds from now.
    Offset(i32),
    Raw(Json),
}

#[derive(Debug, Arbitrary)]
enum Aud {
    One(Text),
    Many(Vec<Text>),
    Raw(Json),
}

/// Claim names the consumers read, for extra claims of any shape.
const NAMES: [&str; 16] = [
    "role",
    "rights",
    "office",
    "head_office",
    "sid",
    "name",
    "email",
    "email_verified",
    "amr",
    "acr",
    "azp",
    "auth_time",
    "nonce",
    "events",
    "scope",
    "grant_id",
];

#[derive(Debug, Arbitrary)]
struct Claims {
    iss: Option<Text>,
    aud: Option<Aud>,
    sub: Option<Text>,
    sid: Option<String>,
    jti: Option<String>,
    exp: Option<Time>,
    iat: Option<Time>,
    nbf: Option<Time>,
    nonce: Option<Text>,
    backchannel_event: Option<bool>,
    role: Option<Text>,
    rights: Option<Vec<Text>>,
    extra: Vec<(Text, Json)>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    head: Head,
    claims: Claims,
    signer: Signer,
    /// A JWKS document as an admin might register it.
    jwks: Option<String>,
}

struct Fixed {
    op_key: EncodingKey,
    client_key: EncodingKey,
    /// What each consumer trusts, to judge its answers by.
    op_public: DecodingKey,
    client_public: DecodingKey,
    idp_public: Vec<DecodingKey>,
    op_jwks: String,
    issuers: Vec<String>,
    auds: Vec<String>,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let p = provider();
        let side = relying_side();
        let op_key = EncodingKey::from_rsa_pem(OP_KEY_PEM.as_bytes()).expect("PEM");
        let mut jwk =
            jsonwebtoken::jwk::Jwk::from_encoding_key(&op_key, Algorithm::RS256).expect("a JWK");
        jwk.common.key_id = Some(OP_KID.into());
        let client_key = EncodingKey::from_rsa_pem(CLIENT_KEY_PEM.as_bytes()).expect("PEM");
        let client_jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&client_key, Algorithm::RS256)
            .expect("a JWK");
        let idp_jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_slice(&p.idp.state.keys.current().jwks()).expect("the JWKS");
        Fixed {
            op_public: DecodingKey::from_jwk(&jwk).expect("a key"),
            client_public: DecodingKey::from_jwk(&client_jwk).expect("a key"),
            idp_public: idp_jwks
                .keys
                .iter()
                .map(|k| DecodingKey::from_jwk(k).expect("a key"))
                .collect(),
            client_key,
            op_key,
            op_jwks: json!({ "keys": [jwk] }).to_string(),
            issuers: vec![side.op.issuer.clone(), p.issuer.clone(), KEY_CLIENT.into()],
            auds: vec![
                RP_CLIENT.into(),
                WEB_CLIENT.into(),
                format!("{}/token", p.issuer),
                p.issuer.clone(),
                side.op.issuer.clone(),
            ],
        }
    })
}

fn time(t: &Time, now: i64) -> Value {
    match t {
        Time::Offset(s) => json!(now + i64::from(*s)),
        Time::Raw(j) => j.value(),
    }
}

fn claims(c: &Claims, f: &Fixed, now: i64) -> Map<String, Value> {
    let issuers: Vec<&str> = f.issuers.iter().map(String::as_str).collect();
    let auds: Vec<&str> = f.auds.iter().map(String::as_str).collect();
    let mut m = Map::new();
    // Extra claims first, so that the chosen ones below win.
    for (name, value) in c.extra.iter().take(6) {
        m.insert(name.value(&NAMES), value.value());
    }
    if let Some(iss) = &c.iss {
        m.insert("iss".into(), json!(iss.value(&issuers)));
    }
    match &c.aud {
        Some(Aud::One(a)) => {
            m.insert("aud".into(), json!(a.value(&auds)));
        }
        Some(Aud::Many(list)) => {
            let list: Vec<String> = list.iter().take(4).map(|a| a.value(&auds)).collect();
            m.insert("aud".into(), json!(list));
        }
        Some(Aud::Raw(j)) => {
            m.insert("aud".into(), j.value());
        }
        None => {}
    }
    if let Some(sub) = &c.sub {
        m.insert(
            "sub".into(),
            json!(sub.value(&["7d1b0c5e-2f3a-4b6c-8d9e-0a1b2c3d4e5f", KEY_CLIENT])),
        );
    }
    if let Some(sid) = &c.sid {
        m.insert("sid".into(), json!(sid));
    }
    if let Some(jti) = &c.jti {
        m.insert("jti".into(), json!(jti));
    }
    for (name, t) in [("exp", &c.exp), ("iat", &c.iat), ("nbf", &c.nbf)] {
        if let Some(t) = t {
            m.insert(name.into(), time(t, now));
        }
    }
    if let Some(nonce) = &c.nonce {
        m.insert("nonce".into(), json!(nonce.value(&[NONCE])));
    }
    if let Some(as_object) = c.backchannel_event {
        let event = if as_object { json!({}) } else { json!("yes") };
        m.insert(
            "events".into(),
            json!({ "http://schemas.openid.net/event/backchannel-logout": event }),
        );
    }
    if let Some(role) = &c.role {
        m.insert(
            "role".into(),
            json!(role.value(&["employee", "main_user", "insurer_admin", "office_admin"])),
        );
    }
    if let Some(rights) = &c.rights {
        let rights: Vec<String> = rights
            .iter()
            .take(4)
            .map(|r| r.value(&["DIP", "DIL", "ORV"]))
            .collect();
        m.insert("rights".into(), json!(rights));
    }
    m
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The token `input` describes, signed as it says.
fn token(input: &Input, f: &Fixed) -> String {
    let now = time::OffsetDateTime::now_utc();
    let body = Value::Object(claims(&input.claims, f, now.unix_timestamp()));
    let typ = input.head.typ.as_ref().map(|t| t.value(&TYPS));
    if input.signer == Signer::Idp {
        let keys = provider().idp.state.keys.current();
        return keys
            .sign(typ.as_deref().unwrap_or("JWT"), &body, now)
            .expect("the provider signs");
    }
    let mut head = Map::new();
    let alg = match input.signer {
        Signer::HmacWithPublicJwks => "HS256".to_owned(),
        Signer::Unsigned => "none".to_owned(),
        _ => input
            .head
            .alg
            .as_ref()
            .map_or("RS256".to_owned(), |a| a.value(&ALGS)),
    };
    head.insert("alg".into(), json!(alg));
    if let Some(typ) = typ {
        head.insert("typ".into(), json!(typ));
    }
    if let Some(kid) = &input.head.kid {
        head.insert("kid".into(), json!(kid.value(&[OP_KID, "unknown"])));
    }
    if let Some((name, value)) = &input.head.extra {
        head.entry(name.clone()).or_insert(value.value());
    }
    let message = format!(
        "{}.{}",
        b64(Value::Object(head).to_string().as_bytes()),
        b64(body.to_string().as_bytes())
    );
    let rsa = |key: &EncodingKey| {
        // The key signs with the algorithm the header names when it can, else RS256.
        let alg = match alg.as_str() {
            "PS256" => Algorithm::PS256,
            "RS512" => Algorithm::RS512,
            _ => Algorithm::RS256,
        };
        jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("RSA signs")
    };
    let signature = match input.signer {
        Signer::Op => rsa(&f.op_key),
        Signer::Client => rsa(&f.client_key),
        Signer::HmacWithPublicJwks => jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(f.op_jwks.as_bytes()),
            Algorithm::HS256,
        )
        .expect("HMAC signs"),
        Signer::Unsigned => String::new(),
        Signer::Forged | Signer::Idp => b64(message.as_bytes()).chars().rev().take(342).collect(),
    };
    format!("{message}.{signature}")
}

/// Whether `key` verifies the token's signature with an RSA algorithm (the only kind of
/// key here), whatever its header claims.
fn verifies(token: &str, key: &DecodingKey) -> bool {
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ]
    .into_iter()
    .any(|alg| {
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg).unwrap_or(false)
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let raw = if data.starts_with(b"eyJ") {
        String::from_utf8_lossy(data).into_owned()
    } else {
        let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
            return;
        };
        if let Some(jwks) = &input.jwks {
            let _ = idp::oidc::client_auth::check_client_jwks(jwks);
        }
        token(&input, f)
    };
    let signed_by = |s: Signer| match s {
        Signer::Op => verifies(&raw, &f.op_public),
        Signer::Client => verifies(&raw, &f.client_public),
        Signer::Idp => f.idp_public.iter().any(|k| verifies(&raw, k)),
        _ => false,
    };

    // The relying party.
    let rp = &relying_side().rp;
    let logout = block_on(rp.backchannel_logout(&raw));
    trace(format_args!("rp logout: {logout:?}"));
    if logout.is_ok() {
        assert!(signed_by(Signer::Op), "logout token accepted: {raw}");
    }
    let id_token = block_on(rp.check_id_token(&raw, NONCE));
    trace(format_args!(
        "rp id token: {:?}",
        id_token.as_ref().map(|u| &u.subject)
    ));
    if id_token.is_ok() {
        assert!(signed_by(Signer::Op), "ID token accepted: {raw}");
    }
    let question = block_on(rp.verify_idp_jwt::<Value>(&raw, "quote-check+jwt"));
    trace(format_args!("rp question: {question:?}"));
    if question.is_ok() {
        assert!(signed_by(Signer::Op), "question accepted: {raw}");
    }

    // The identity provider.
    let p = provider();
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", &raw)
        .append_pair("post_logout_redirect_uri", WEB_AFTER_LOGOUT)
        .append_pair("state", "s")
        .finish();
    let (response, _) = p.call(
        Request::get(format!("{}?{query}", p.route("/end_session")))
            .body(Body::empty())
            .expect("a request"),
    );
    assert!(
        !response.status().is_server_error(),
        "end_session: {}",
        response.status()
    );
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default();
    trace(format_args!(
        "idp end_session: {} {location}",
        response.status()
    ));
    if location.starts_with(WEB_AFTER_LOGOUT) {
        assert!(signed_by(Signer::Idp), "post-logout redirect on hint {raw}");
    }

    if let Ok(request) = Request::get(p.route("/userinfo"))
        .header(header::AUTHORIZATION, format!("Bearer {raw}"))
        .body(Body::empty())
    {
        let (response, _) = p.call(request);
        trace(format_args!("idp userinfo: {}", response.status()));
        assert!(
            !response.status().is_server_error(),
            "userinfo: {}",
            response.status()
        );
        if response.status() == StatusCode::OK {
            assert!(signed_by(Signer::Idp), "userinfo on {raw}");
        }
    }

    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_assertion_type", idp::oidc::client_auth::JWT_BEARER)
        .append_pair("client_assertion", &raw)
        .finish();
    let (response, answer) = p.call(
        Request::post(p.route("/token"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .expect("a request"),
    );
    trace(format_args!(
        "idp assertion: {} {}",
        response.status(),
        String::from_utf8_lossy(&answer)
    ));
    assert!(
        !response.status().is_server_error(),
        "token: {} {}",
        response.status(),
        String::from_utf8_lossy(&answer)
    );
    if response.status() == StatusCode::OK {
        assert!(
            signed_by(Signer::Client),
            "client assertion accepted: {raw}"
        );
    }
});
