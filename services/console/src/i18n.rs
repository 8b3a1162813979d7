//! The console's languages and its message catalogue: every string a page shows comes from
//! `messages/<language>.toml`, compiled into the binary. Simplified Chinese is the default;
//! English is chosen by the switch on every page (a cookie) or by the browser's
//! Accept-Language.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "custodian_lang";

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "zh-CN" | "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The switch's cookie first, then the first of the browser's languages that the console
    /// has, then Chinese.
    pub fn of_request(headers: &HeaderMap) -> Self {
        if let Some(lang) = crate::session::cookie(headers, LANG_COOKIE).and_then(Self::from_code) {
            return lang;
        }
        let accepted = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        accepted
            .split(',')
            .map(|part| {
                part.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .find_map(|tag| {
                if tag.starts_with("zh") {
                    Some(Self::Zh)
                } else if tag.starts_with("en") {
                    Some(Self::En)
                } else {
                    None
                }
            })
            .unwrap_or(Self::Zh)
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    pub fn messages(self) -> &'static Messages {
        static ZH: OnceLock<Messages> = OnceLock::new();
        static EN: OnceLock<Messages> = OnceLock::new();
        match self {
            Self::Zh => ZH.get_or_init(|| Messages::parse(include_str!("../messages/zh-CN.toml"))),
            Self::En => EN.get_or_init(|| Messages::parse(include_str!("../messages/en.toml"))),
        }
    }
}

/// One language's strings, by key.
pub struct Messages {
    strings: HashMap<String, String>,
}

impl Messages {
    fn parse(text: &str) -> Self {
        // The catalogues are part of the source; a test parses both, so this cannot fail in
        // a build that passed its tests.
        let strings: HashMap<String, String> = toml::from_str(text).unwrap_or_default();
        Self { strings }
    }

    /// The string for `key`, or the key itself where the catalogue lacks it (a test makes
    /// sure none is missing).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map(String::as_str).unwrap_or(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let strings: HashMap<String, String> = toml::from_str(text).expect("a valid catalogue");
        let mut keys: Vec<String> = strings.into_keys().collect();
        keys.sort();
        keys
    }

    #[test]
    fn both_catalogues_say_the_same_things() {
        let zh = keys(include_str!("../messages/zh-CN.toml"));
        let en = keys(include_str!("../messages/en.toml"));
        assert!(!zh.is_empty());
        assert_eq!(zh, en, "the catalogues differ in their keys");
    }

    #[test]
    fn every_key_the_templates_and_code_use_is_in_the_catalogue() {
        let zh = keys(include_str!("../messages/zh-CN.toml"));
        let sources = [
            include_str!("../templates/base.html"),
            include_str!("../templates/login.html"),
            include_str!("../templates/work.html"),
            include_str!("../templates/search.html"),
            include_str!("../templates/clip.html"),
            include_str!("../templates/cases.html"),
            include_str!("../templates/devices.html"),
            include_str!("../templates/supervision.html"),
            include_str!("../templates/problem.html"),
            include_str!("views.rs"),
            include_str!("pages.rs"),
        ];
        let used = regex_free_keys(&sources.concat());
        let missing: Vec<&String> = used.iter().filter(|k| !zh.contains(k)).collect();
        assert!(missing.is_empty(), "keys without a string: {missing:?}");
    }

    /// Every `.t("key")`/`t.get("key")` in the sources.
    fn regex_free_keys(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["t.get(\"", ".t(\""] {
            let mut rest = text;
            while let Some(start) = rest.find(marker) {
                rest = &rest[start + marker.len()..];
                if let Some(end) = rest.find('"') {
                    found.push(rest[..end].to_owned());
                }
            }
        }
        found
    }

    #[test]
    fn the_switch_wins_over_the_browser_and_chinese_is_the_default() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of_request(&headers), Lang::Zh);
        headers.insert(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::of_request(&headers), Lang::En);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "fr,zh-CN;q=0.8,en;q=0.5".parse().unwrap(),
        );
        assert_eq!(Lang::of_request(&headers), Lang::Zh);
        headers.insert(header::COOKIE, "custodian_lang=en".parse().unwrap());
        assert_eq!(Lang::of_request(&headers), Lang::En);
    }
}
