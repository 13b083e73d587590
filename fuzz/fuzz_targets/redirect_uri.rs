//! Redirect URIs: registration (`idp::oidc_clients::check_client_uri`, SECURITY OP-04), the
//! exact comparison at the authorization endpoint (`idp::oidc::authorize::check`, OP-03),
//! building the answer on a registered URI (`idp::oidc::authorize::with_query`), and the
//! relying party's `return_to` (`web_kit::paths::safe_return_to`, IO-03).
//!
//! Structured input: registered URIs (raw text, or assembled from parts so that most pass
//! registration), and a presented URI that is one of them, a near miss made by one edit,
//! or raw text. An input starting with `#text` is read as lines instead (`registered URI`,
//! `presented URI`, `pair NAME=VALUE`, `return_to PATH`), so seeds can be written by hand.
//!
//! Must hold: the comparison is reflexive for every URI that registration accepts (the
//! request is granted and answered at exactly that URI) and refuses with a page, never a
//! redirect, anything that differs by a byte; an answer built on a registered URI keeps its
//! scheme, host, port, path and query, adds no fragment, and carries the parameters
//! intact; `safe_return_to` yields either the fallback or the candidate unchanged, and
//! either resolves on the portal's own host.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use idp::oidc::authorize::{AuthorizeParams, Refusal, check, with_query};
use idp::oidc_clients::check_client_uri;
use idp::store::clients::Client;
use libfuzzer_sys::fuzz_target;
use url::Url;

#[derive(Debug, Arbitrary)]
enum Host {
    Name,
    Sub,
    Loopback4,
    Loopback6,
    Localhost,
    Idn,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Uri {
    Raw(String),
    Parts {
        https: bool,
        host: Host,
        port: Option<u16>,
        path: String,
        query: Option<String>,
    },
}

impl Uri {
    fn text(&self) -> String {
        match self {
            Uri::Raw(s) => s.clone(),
            Uri::Parts {
                https,
                host,
                port,
                path,
                query,
            } => {
                let host = match host {
                    Host::Name => "rp.example",
                    Host::Sub => "portaal.rp.example",
                    Host::Loopback4 => "127.0.0.1",
                    Host::Loopback6 => "[::1]",
                    Host::Localhost => "localhost",
                    Host::Idn => "bücher.example",
                    Host::Raw(h) => h,
                };
                let scheme = if *https { "https" } else { "http" };
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let query = query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
                format!("{scheme}://{host}{port}/{path}{query}")
            }
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Edit {
    AppendSlash,
    DropLast,
    Upper,
    Insert(u8, char),
    Replace(u8, char),
    Suffix(String),
    Prefix(String),
    PercentEncode(u8),
}

#[derive(Debug, Arbitrary)]
enum Presented {
    Missing,
    Registered(u8),
    NearMiss(u8, Edit),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    registered: Vec<Uri>,
    presented: Presented,
    pairs: Vec<(String, String)>,
    return_to: Option<String>,
}

fn edit(uri: &str, e: &Edit) -> String {
    let mut chars: Vec<char> = uri.chars().collect();
    let at = |i: u8, len: usize| usize::from(i) % (len + 1);
    match e {
        Edit::AppendSlash => chars.push('/'),
        Edit::DropLast => {
            chars.pop();
        }
        Edit::Upper => return uri.to_uppercase(),
        Edit::Insert(i, c) => chars.insert(at(*i, chars.len()), *c),
        Edit::Replace(i, c) => {
            if !chars.is_empty() {
                let i = usize::from(*i) % chars.len();
                chars[i] = *c;
            }
        }
        Edit::Suffix(s) => return format!("{uri}{s}"),
        Edit::Prefix(s) => return format!("{s}{uri}"),
        Edit::PercentEncode(i) => {
            if !chars.is_empty() {
                let i = usize::from(*i) % chars.len();
                let mut buf = [0u8; 4];
                let encoded: String = chars[i]
                    .encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect();
                let mut out: String = chars[..i].iter().collect();
                out.push_str(&encoded);
                out.extend(&chars[i + 1..]);
                return out;
            }
        }
    }
    chars.into_iter().collect()
}

fn params(redirect_uri: Option<String>) -> AuthorizeParams {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", "rp")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid portal")
        .append_pair("state", "s")
        .append_pair("code_challenge", &"E".repeat(43))
        .append_pair("code_challenge_method", "S256");
    if let Some(uri) = &redirect_uri {
        query.append_pair("redirect_uri", uri);
    }
    idp::extract::decode(query.finish().as_bytes()).expect("a well-formed request")
}

/// The `#text` form of an input.
fn from_text(text: &str) -> Input {
    let mut input = Input {
        registered: vec![],
        presented: Presented::Missing,
        pairs: vec![],
        return_to: None,
    };
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "registered" => input.registered.push(Uri::Raw(value.to_owned())),
            "presented" => input.presented = Presented::Raw(value.to_owned()),
            "return_to" => input.return_to = Some(value.to_owned()),
            "pair" => {
                let (k, v) = value.split_once('=').unwrap_or((value, ""));
                input.pairs.push((k.to_owned(), v.to_owned()));
            }
            _ => {}
        }
    }
    input
}

fuzz_target!(|data: &[u8]| {
    let input = match data.strip_prefix(b"#text\n") {
        Some(text) => from_text(&String::from_utf8_lossy(text)),
        None => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    // Registration refuses what OP-04 forbids; only what it accepts can be compared against.
    let registered: Vec<String> = input
        .registered
        .iter()
        .take(4)
        .map(Uri::text)
        .filter(|u| check_client_uri(u).is_ok())
        .collect();
    if let Some(r) = registered.first() {
        let parsed = Url::parse(r).expect("registration parsed it");
        assert!(parsed.fragment().is_none() && !r.contains('*'));
        assert!(parsed.scheme() == "https" || parsed.host_str().is_some());
    }
    if !registered.is_empty() {
        let client = Client {
            client_id: "rp".into(),
            name: "rp".into(),
            secret_hash: None,
            redirect_uris: registered.clone(),
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            require_pkce: true,
            grant_types: vec!["authorization_code".into()],
            jwks: None,
            id_token_alg: "RS256".into(),
            access_token_alg: "RS256".into(),
            require_pushed_authorization_requests: false,
            dpop_bound_access_tokens: false,
        };
        let pick = |i: u8| registered[usize::from(i) % registered.len()].clone();
        let presented = match &input.presented {
            Presented::Missing => None,
            Presented::Registered(i) => Some(pick(*i)),
            Presented::NearMiss(i, e) => Some(edit(&pick(*i), e)),
            Presented::Raw(s) => Some(s.clone()),
        };
        let result = check(&params(presented.clone()), &client);
        match &presented {
            Some(uri) if registered.contains(uri) => match result {
                Ok(v) => assert_eq!(&v.redirect_uri, uri, "answered at another URI"),
                other => panic!("registered {uri:?} refused: {other:?}"),
            },
            Some(uri) => assert_eq!(
                result,
                Err(Refusal::Page("authorize.bad_redirect_uri")),
                "unregistered {uri:?} (registered: {registered:?})"
            ),
            None if registered.len() == 1 => {
                assert_eq!(result.map(|v| v.redirect_uri), Ok(registered[0].clone()));
            }
            None => assert!(matches!(result, Err(Refusal::Page(_)))),
        }

        // The answer (code or error) is built on the registered URI.
        let pairs: Vec<(&str, &str)> = input
            .pairs
            .iter()
            .take(4)
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for r in &registered {
            let base = Url::parse(r).expect("registered");
            let built = with_query(r, &pairs);
            let url = Url::parse(&built).expect("the answer is a URL");
            assert_eq!(url.scheme(), base.scheme());
            assert_eq!(url.host(), base.host(), "{built}");
            assert_eq!(url.port_or_known_default(), base.port_or_known_default());
            assert_eq!(url.path(), base.path());
            assert!(url.fragment().is_none());
            let kept: Vec<_> = base.query_pairs().collect();
            let all: Vec<_> = url.query_pairs().collect();
            assert!(all.len() >= pairs.len(), "{built}");
            let (own, added) = all.split_at(all.len() - pairs.len());
            assert_eq!(
                own,
                kept.as_slice(),
                "the client's own query changed: {built}"
            );
            for ((k, v), (ak, av)) in pairs.iter().zip(added) {
                assert_eq!((*k, *v), (ak.as_ref(), av.as_ref()), "{built}");
            }
        }
    }

    // IO-03: the place a sign-in returns to.
    let fallback = "/dip";
    let chosen = web_kit::paths::safe_return_to(input.return_to.as_deref(), fallback);
    assert!(chosen == fallback || Some(chosen) == input.return_to.as_deref());
    let home = Url::parse("https://portaal.example/dip/").expect("a URL");
    match home.join(chosen) {
        Ok(target) => assert_eq!(target.host_str(), Some("portaal.example"), "{chosen:?}"),
        Err(e) => panic!("{chosen:?} does not resolve: {e}"),
    }
});
