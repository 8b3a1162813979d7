//! The web console: the pages through which officers classify their footage, archivists and
//! leaders work the bureau's backlog, and everyone watches what they may watch. It renders
//! HTML on the server (Askama templates compiled into the binary, a little CSS and script
//! embedded beside them) and holds no rights of its own: every page and every action is a
//! request to the HTTP API on behalf of the signed-in person, carrying their session token, so
//! the API's authentication, bureau scoping, roles and audit trail apply exactly as they do to
//! any other client. The session token lives in an HttpOnly, SameSite=Strict cookie, and every
//! form that changes something carries a CSRF token derived from it.
//!
//! Simplified Chinese is the default language, English the alternative (`i18n`); times are
//! shown in China Standard Time.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

mod api;
mod assets;
mod i18n;
mod pages;
mod session;
mod views;

pub use api::{Api, InProcessApi};

/// How the console is served.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// Mark the session cookie `Secure`: the console is served over TLS.
    pub secure_cookies: bool,
}

/// The console's state: the API it speaks to and how it is served.
pub struct Console {
    api: Arc<dyn Api>,
    config: ConsoleConfig,
}

impl Console {
    pub fn new(api: Arc<dyn Api>, config: ConsoleConfig) -> Arc<Self> {
        Arc::new(Self { api, config })
    }

    /// The console's routes: pages at `/`, `/login`, `/clips`…, the media of a clip relayed
    /// from the API, and the embedded assets under names that change with their content.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(pages::work))
            .route("/login", get(pages::login_form).post(pages::login))
            .route("/logout", post(pages::logout))
            .route("/language/{code}", get(pages::language))
            .route("/classification", post(pages::classify_many))
            .route("/copy-requests/{id}/{decision}", post(pages::decide_copy))
            .route("/cases", get(pages::cases).post(pages::case_action))
            .route("/cases/{id}/close", post(pages::case_action))
            .route("/cases/{id}/file", post(pages::case_action))
            .route("/devices", get(pages::devices))
            .route("/supervision", get(pages::supervision::page))
            .route("/supervision/import", post(pages::supervision::import))
            .route("/clips", get(pages::search))
            .route("/clips/{id}", get(pages::clip))
            .route("/clips/{id}/classification", post(pages::classify))
            .route("/clips/{id}/view", get(pages::relay_media))
            .route("/clips/{id}/poster", get(pages::relay_media))
            .route("/clips/{id}/subtitles", get(pages::relay_media))
            .route("/clips/{id}/findings.vtt", get(pages::findings_track))
            .route("/assets/{name}", get(assets::serve))
            .with_state(self)
    }
}
