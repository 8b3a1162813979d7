//! The console's stylesheet and script, built into the binary (a bureau intranet has no CDN)
//! and served under names that carry a hash of their content, so a browser may keep them for
//! a year and still never uses a stale one after an upgrade.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        stem: "console",
        extension: "css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/console.css"),
    },
    Asset {
        stem: "console",
        extension: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/console.js"),
    },
];

/// Each asset's served name, e.g. `console.3f2a9c1d.css`.
fn names() -> &'static [String; 2] {
    static NAMES: OnceLock<[String; 2]> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS.each_ref().map(|asset| {
            let hash = Sha256::digest(asset.body.as_bytes());
            format!(
                "{}.{}.{}",
                asset.stem,
                hex::encode(&hash[..4]),
                asset.extension
            )
        })
    })
}

/// Where the pages link the stylesheet.
pub fn stylesheet() -> String {
    format!("/assets/{}", names()[0])
}

/// Where the pages load the script.
pub fn script() -> String {
    format!("/assets/{}", names()[1])
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match names().iter().position(|served| *served == name) {
        Some(index) => (
            [
                (header::CONTENT_TYPE, ASSETS[index].content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            ASSETS[index].body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
