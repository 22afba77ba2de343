//! Who is signed in, and whether a form post really comes from the portal.
//!
//! The `user-key` lives in a session cookie only (no expiry, so the browser forgets it when
//! the session ends; `HttpOnly`, so scripts cannot read it; `SameSite=Strict`, so other sites
//! cannot send it). The server keeps nothing. Every form that changes something carries a
//! token derived from the key, which another site cannot know, and is refused when the
//! browser says it comes from another origin.

use axum::http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the session cookie.
pub const COOKIE: &str = "hookstream_portal";

/// A signed-in browser: the key its cookie holds.
#[derive(Clone)]
pub struct Session {
    key: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session { key: <hidden> }")
    }
}

impl Session {
    pub fn new(key: String) -> Session {
        Session { key }
    }

    /// The session of the request's cookie, if it holds one.
    pub fn from_headers(headers: &HeaderMap) -> Option<Session> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == COOKIE)
            .and_then(|(_, value)| hex::decode(value).ok())
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|key| !key.is_empty())
            .map(Session::new)
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// The anti-forgery token of this session's forms.
    pub fn csrf(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"hookstream portal form token\0")
            .chain_update(self.key.as_bytes())
            .finalize();
        hex::encode(&digest[..16])
    }

    /// Whether `token` is this session's form token (compared in constant time).
    pub fn accepts(&self, token: &str) -> bool {
        self.csrf().as_bytes().ct_eq(token.as_bytes()).into()
    }

    /// The `Set-Cookie` that signs this session in.
    pub fn cookie(&self, secure: bool) -> HeaderValue {
        cookie(&hex::encode(self.key.as_bytes()), secure, false)
    }
}

/// The `Set-Cookie` that signs out.
pub fn sign_out_cookie(secure: bool) -> HeaderValue {
    cookie("", secure, true)
}

fn cookie(value: &str, secure: bool, expired: bool) -> HeaderValue {
    let mut text = format!("{COOKIE}={value}; Path=/portal; HttpOnly; SameSite=Strict");
    if secure {
        text.push_str("; Secure");
    }
    if expired {
        text.push_str("; Max-Age=0");
    }
    // Hex and fixed attributes only: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether the browser says this request comes from a page of this origin (or says nothing,
/// as browsers without Fetch Metadata and non-browser clients do).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn the_cookie_round_trips_and_other_cookies_are_ignored() {
        let session = Session::new("key-alice-pro".into());
        let set = session.cookie(true);
        let set = set.to_str().expect("text");
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure")
        );
        assert!(
            !set.contains("Max-Age") && !set.contains("Expires"),
            "a session cookie: {set}"
        );
        let value = set.split(';').next().expect("pair");
        let read = Session::from_headers(&headers(&[("cookie", &format!("other=1; {value}"))]))
            .expect("signed in");
        assert_eq!(read.key(), "key-alice-pro");
        assert!(Session::from_headers(&headers(&[("cookie", "hookstream_portal=zz")])).is_none());
        assert!(Session::from_headers(&headers(&[("cookie", "hookstream_portal=")])).is_none());
        assert!(Session::from_headers(&HeaderMap::new()).is_none());
        assert!(sign_out_cookie(false)
            .to_str()
            .expect("text")
            .contains("Max-Age=0"));
    }

    #[test]
    fn form_tokens_belong_to_their_key() {
        let alice = Session::new("key-alice-pro".into());
        let bob = Session::new("key-bob-ultra".into());
        assert!(alice.accepts(&alice.csrf()));
        assert!(!alice.accepts(&bob.csrf()));
        assert!(!alice.accepts(""));
        assert!(!alice.csrf().contains("alice"));
    }

    #[test]
    fn cross_origin_posts_are_refused() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[host])), "no origin given");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "https://evil.example")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(
            !same_origin(&headers(&[("origin", "http://127.0.0.1:8080")])),
            "no host"
        );
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-site")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("sec-fetch-site", "same-origin")
        ])));
    }
}
