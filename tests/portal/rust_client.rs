//! The same protocol walk as `interop.rs`, with the Rust `openidconnect` crate (the
//! library the product portals are built on) as the client: discovery, code + PKCE,
//! ID-token verification, refresh with rotation, reuse detection, introspection, and the
//! effect of a revocation. The browser's part is done by the test's cookie-keeping HTTP
//! client.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use serde_json::Value;
use testkit::TestDatabase;

use crate::oidc::{PASSWORD, query_param};
use crate::support::{Browser, Portal};

const SECRET: &str = "rust-client-secret-0123456789-0123456789";
const REDIRECT: &str = "https://rp.example.nl/rust/cb";

testkit::both_databases! {
    async fn the_openidconnect_crate_gets_through_refresh_introspection_and_revocation(db: &TestDatabase) {
        let mut portal = Portal::new(db);
        portal.start().await;
        let out = portal.cli(&["office", "add-head", "--number", "12345", "--name", "Voorbeeld Advies", "--email", "info@voorbeeld.nl", "--rights", "DIP,DIL"]);
        assert!(out.status.success());
        let out = portal.cli(&["client", "add", "--id", "rust", "--secret", SECRET, "--redirect-uri", REDIRECT, "--grant-type", "authorization_code", "--grant-type", "refresh_token"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let link = portal.activation_link("info@voorbeeld.nl").await;
        let browser = Browser::new(&portal.base);
        browser.post(&link, &[("password", PASSWORD), ("password_repeat", PASSWORD)]).await;

        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let issuer = format!("{}/idp", portal.base);
        let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
        let raw: Value = reqwest::get(format!("{issuer}/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new("rust".into()),
            Some(ClientSecret::new(SECRET.into())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
        .set_introspection_url(IntrospectionUrl::new(raw["introspection_endpoint"].as_str().unwrap().into()).unwrap())
        .set_revocation_url(RevocationUrl::new(raw["revocation_endpoint"].as_str().unwrap().into()).unwrap());

        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("portal".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        let login = browser.get(url.as_str()).await;
        let back = browser.sign_in(&login, "12345", PASSWORD).await;
        assert!(back.url.starts_with(REDIRECT), "{}", back.url);
        assert_eq!(query_param(&back.url, "state").as_deref(), Some(state.secret().as_str()));
        let code = query_param(&back.url, "code").unwrap();

        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        let id_token = tokens.id_token().expect("an ID token");
        let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("the ID token verifies");
        assert_eq!(claims.issuer().as_str(), issuer);
        let first_refresh = tokens.refresh_token().expect("a refresh token for offline_access").clone();

        // Rotation: a new refresh token, and a working access token.
        let refreshed = client
            .exchange_refresh_token(&first_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .unwrap();
        let second_refresh = refreshed.refresh_token().expect("rotated").clone();
        assert_ne!(second_refresh.secret(), first_refresh.secret());
        let active = client.introspect(refreshed.access_token()).request_async(&http).await.unwrap();
        assert!(active.active());

        // Reuse of the rotated token revokes the family, the newest token included (OP-19).
        assert!(client.exchange_refresh_token(&first_refresh).unwrap().request_async(&http).await.is_err());
        assert!(client.exchange_refresh_token(&second_refresh).unwrap().request_async(&http).await.is_err());
        let after = client.introspect(refreshed.access_token()).request_async(&http).await.unwrap();
        assert!(!after.active(), "the family's access token is revoked too");

        // A fresh grant, revoked by the client (RFC 7009).
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        let back = browser.get(url.as_str()).await;
        assert!(back.url.starts_with(REDIRECT), "SSO: {:?}", back.hops);
        let tokens = client
            .exchange_code(AuthorizationCode::new(query_param(&back.url, "code").unwrap()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .unwrap();
        tokens.id_token().unwrap().claims(&client.id_token_verifier(), &nonce).unwrap();
        let refresh = tokens.refresh_token().unwrap().clone();
        // The oauth2 crate refuses a revocation endpoint on plain http (RFC 7009 §2 requires
        // TLS), and this test portal runs on http://127.0.0.1: revoke with the same client
        // credentials by hand, then let the crate see the result.
        assert!(matches!(
            client.revoke_token(refresh.clone().into()),
            Err(openidconnect::ConfigurationError::InsecureUrl("revocation"))
        ));
        let revoked = reqwest::Client::new()
            .post(raw["revocation_endpoint"].as_str().unwrap())
            .basic_auth("rust", Some(SECRET))
            .form(&[("token", refresh.secret().as_str()), ("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), 200);
        assert!(client.exchange_refresh_token(&refresh).unwrap().request_async(&http).await.is_err());
        let gone = client.introspect(tokens.access_token()).request_async(&http).await.unwrap();
        assert!(!gone.active());
    }
}
