//! The browser's side of a session: the cookie that carries the API session token, the CSRF
//! token derived from it, and where to send a person after signing in.

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

/// The cookie holding the session token the API issued at sign-in.
pub const SESSION_COOKIE: &str = "custodian_session";

/// The cookie tying a sign-in form to the browser it was served to, so another site cannot
/// sign a person in as someone else (login CSRF): its page can neither read this cookie nor
/// make the browser send it (SameSite=Strict).
pub const LOGIN_COOKIE: &str = "custodian_login";

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The session cookie for `token`, ending with the session. HttpOnly (no script reads it),
/// SameSite=Strict (no other site's page sends it), Secure when served over TLS.
pub fn session_cookie(token: &str, max_age_seconds: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age_seconds.max(0)
    )
}

/// The header that ends the session cookie.
pub fn cleared_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The CSRF token of a session: a hash of its token, so a page of another origin, which can
/// neither read the cookie nor this page, cannot forge it, and nothing has to be stored.
pub fn csrf_token(session: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"custodian-console-csrf\0")
        .chain_update(session.as_bytes())
        .finalize();
    hex::encode(&digest[..16])
}

/// Whether `offered` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &str, offered: &str) -> bool {
    same(&csrf_token(session), offered)
}

/// Two secrets compared in constant time.
fn same(expected: &str, offered: &str) -> bool {
    expected.len() == offered.len()
        && expected
            .bytes()
            .zip(offered.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A fresh sign-in form token (122 random bits), for the login cookie and the form's field.
pub fn login_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The login cookie for `token`: sent only to `/login`, only by this site's own pages, for
/// an hour.
pub fn login_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}")
}

/// Whether a sign-in form was posted from a page this console served to this browser.
pub fn login_matches(headers: &HeaderMap, offered: &str) -> bool {
    cookie(headers, LOGIN_COOKIE).is_some_and(|expected| same(expected, offered))
}

/// Where to go after signing in: a path of this console only, never another site
/// (`//evil.example`, `https://…`, or a backslash some browsers read as a slash).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login")
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_form_is_accepted_only_with_its_own_cookie() {
        let token = login_token();
        assert_eq!(token.len(), 32);
        assert_ne!(token, login_token(), "random");
        let mut headers = HeaderMap::new();
        assert!(
            !login_matches(&headers, &token),
            "no cookie: another site's form"
        );
        headers.insert(
            header::COOKIE,
            format!("{LOGIN_COOKIE}={token}").parse().unwrap(),
        );
        assert!(login_matches(&headers, &token));
        assert!(!login_matches(&headers, &login_token()));
        assert!(!login_matches(&headers, ""));
        assert!(login_cookie(&token, true).contains("SameSite=Strict; Max-Age=3600; Secure"));
    }

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; custodian_session=abc; custodian_lang=en"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "custodian_lang"), Some("en"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        let token = csrf_token("session-1");
        assert!(csrf_matches("session-1", &token));
        assert!(!csrf_matches("session-2", &token));
        assert!(!csrf_matches("session-1", ""));
        assert!(!csrf_matches("session-1", &token[1..]));
    }

    #[test]
    fn sign_in_sends_nowhere_but_this_console() {
        assert_eq!(safe_next(Some("/clips?q=x")), "/clips?q=x");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "clips",
            "/login",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_session_cookie_is_out_of_scripts_reach() {
        let cookie = session_cookie("t", 3600, true);
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Path=/",
            "Max-Age=3600",
        ] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!session_cookie("t", 10, false).contains("Secure"));
    }
}
