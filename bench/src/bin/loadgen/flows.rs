//! The HTTP conversations of a person and of a client, done the way a browser and an RP
//! library do them: the code flow with PKCE through the sign-in page, the code exchange,
//! refresh with rotation, and signing in to a portal page. Every answer is checked; a
//! wrong one is an `Err` with what was wrong.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, Response, StatusCode, Url};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The cookies of one browser: name → value, sent back on every request (one host).
#[derive(Default, Clone)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    fn absorb(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(header::SET_COOKIE) {
            let Some((pair, _attributes)) = set
                .to_str()
                .ok()
                .map(|s| s.split_once(';').unwrap_or((s, "")))
            else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
            self.0.retain(|(n, _)| *n != name);
            let expired = set
                .to_str()
                .is_ok_and(|s| s.to_ascii_lowercase().contains("max-age=0"));
            if !expired && !value.is_empty() {
                self.0.push((name, value));
            }
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        if self.0.is_empty() {
            return None;
        }
        let joined = self
            .0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        HeaderValue::from_str(&joined).ok()
    }
}

/// A page after its redirects: where it ended and what it said.
pub struct Landed {
    pub url: Url,
    pub status: StatusCode,
    pub body: String,
}

/// One browser: a client that does not follow redirects itself, and its cookies.
#[derive(Clone)]
pub struct Browser {
    http: Client,
    pub cookies: Cookies,
}

fn err(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

impl Browser {
    pub fn new(http: Client) -> Self {
        Self {
            http,
            cookies: Cookies::default(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Result<Response, String> {
        let req = match self.cookies.header() {
            Some(c) => req.header(header::COOKIE, c),
            None => req,
        };
        let res = req.send().await.map_err(|e| err("request", e))?;
        self.cookies.absorb(res.headers());
        Ok(res)
    }

    /// Follows redirects from `res` until a page answers, or until a redirect leaves the
    /// origin `stay_on` (then that address is where it "landed", with no body).
    async fn follow(&mut self, mut res: Response, stay_on: &Url) -> Result<Landed, String> {
        for _ in 0..12 {
            if !res.status().is_redirection() {
                let (url, status) = (res.url().clone(), res.status());
                let body = res.text().await.map_err(|e| err("body", e))?;
                return Ok(Landed { url, status, body });
            }
            let location = res
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or("a redirect without Location")?;
            let next = res.url().join(location).map_err(|e| err("Location", e))?;
            if next.origin() != stay_on.origin() {
                return Ok(Landed {
                    url: next,
                    status: res.status(),
                    body: String::new(),
                });
            }
            res = self.send(self.http.get(next)).await?;
        }
        Err("more than 12 redirects".into())
    }

    pub async fn get(&mut self, url: &Url) -> Result<Landed, String> {
        let res = self.send(self.http.get(url.clone())).await?;
        self.follow(res, url).await
    }

    /// Fills in the sign-in page `page` and follows where it leads.
    pub async fn sign_in(
        &mut self,
        page: &Landed,
        login: &str,
        password: &str,
    ) -> Result<Landed, String> {
        if page.status != StatusCode::OK || !page.body.contains("name=\"username\"") {
            return Err(format!(
                "not the sign-in page ({}): {}",
                page.status, page.url
            ));
        }
        let action = attribute(&page.body, "<form", "action").ok_or("no form action")?;
        let return_to =
            attribute(&page.body, "name=\"return_to\"", "value").ok_or("no return_to")?;
        let action = page
            .url
            .join(&html_unescape(&action))
            .map_err(|e| err("action", e))?;
        let form = [
            ("username", login),
            ("password", password),
            ("return_to", &html_unescape(&return_to)),
        ];
        let res = self
            .send(self.http.post(action.clone()).form(&form))
            .await?;
        self.follow(res, &action).await
    }
}

/// The value of `name="…"` in the first tag after `marker`.
fn attribute(html: &str, marker: &str, name: &str) -> Option<String> {
    let from = html.find(marker)?;
    let tag_end = html[from..].find('>')? + from;
    let tag = &html[from..tag_end];
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].to_owned())
}

/// Undoes minijinja's HTML escaping of attribute values.
fn html_unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A registered OIDC client of the idp.
#[derive(Clone)]
pub struct Rp {
    pub issuer: Url,
    pub client_id: String,
    pub secret: String,
    pub redirect_uri: String,
}

#[derive(Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

impl Rp {
    fn endpoint(&self, path: &str) -> Result<Url, String> {
        Url::parse(&format!(
            "{}/{path}",
            self.issuer.as_str().trim_end_matches('/')
        ))
        .map_err(|e| err("endpoint", e))
    }

    fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.client_id, self.secret))
        )
    }

    /// The whole sign-in of a person who has no session: authorize → sign-in page →
    /// password → code → token. Checks `state`, and that the answer holds JWTs.
    pub async fn sign_in(
        &self,
        browser: &mut Browser,
        login: &str,
        password: &str,
        scope: &str,
    ) -> Result<Tokens, String> {
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_token();
        let mut authorize = self.endpoint("authorize")?;
        authorize
            .query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &random_token())
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let page = browser.get(&authorize).await?;
        let landed = browser.sign_in(&page, login, password).await?;
        if !landed.url.as_str().starts_with(&self.redirect_uri) {
            return Err(format!(
                "sign-in ended at {} ({})",
                landed.url, landed.status
            ));
        }
        let param = |name: &str| {
            landed
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").as_deref() != Some(state.as_str()) {
            return Err("state differs".into());
        }
        let code = param("code").ok_or("no code")?;
        let tokens = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &self.redirect_uri),
                    ("code_verifier", &verifier),
                ],
                &browser.http,
            )
            .await?;
        if tokens.id_token.as_deref().is_none_or(|t| !is_jwt(t)) {
            return Err("no ID token".into());
        }
        Ok(tokens)
    }

    /// One refresh with rotation: the new refresh token must differ from the old one.
    pub async fn refresh(&self, http: &Client, refresh_token: &str) -> Result<Tokens, String> {
        let tokens = self
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
                http,
            )
            .await?;
        match tokens.refresh_token.as_deref() {
            Some(next) if next != refresh_token => Ok(tokens),
            _ => Err("the refresh token was not rotated".into()),
        }
    }

    async fn token(&self, form: &[(&str, &str)], http: &Client) -> Result<Tokens, String> {
        let res = http
            .post(self.endpoint("token")?)
            .header(header::AUTHORIZATION, self.basic())
            .form(form)
            .send()
            .await
            .map_err(|e| err("token request", e))?;
        let status = res.status();
        let body = res.text().await.map_err(|e| err("token body", e))?;
        if status != StatusCode::OK {
            return Err(format!("token endpoint {status}: {body}"));
        }
        let tokens: Tokens = serde_json::from_str(&body).map_err(|e| err("token JSON", e))?;
        if !is_jwt(&tokens.access_token) {
            return Err("the access token is not a JWT".into());
        }
        Ok(tokens)
    }
}

/// Three base64url parts separated by dots.
pub fn is_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && URL_SAFE_NO_PAD.decode(p).is_ok())
}

/// 32 random bytes, base64url (PKCE verifiers, state, nonce), from two v4 UUIDs (the
/// OS generator; 244 random bits, plenty for a benchmark's flows).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}
